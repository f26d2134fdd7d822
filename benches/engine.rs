//! Sustained ingest: 1,000 PVs updating at 100 Hz from a server in a child
//! process (this bench binary in `ioc` / `pva-server` mode), archived by the
//! engine into real files, over Channel Access and over pvAccess. Prints
//! `bench ca_ingest_sustained <events/s>`, `bench ca_ingest_dropped <count>`,
//! `bench ca_ingest_cpu <percent> %` (CPU of the archiving process only) and
//! the same three `pva_ingest_*` figures. Arguments `ca` / `pva` select one.
//! Loopback-only environment; the pvAccess server binds one TCP port of
//! 127.0.0.1 and is searched as a TCP name server.
//!
//! The pvAccess server posts pre-encoded updates (changed value and time
//! stamp, one encoding per tick shared by every PV) through the crate's
//! raw monitor path, so that the server's cost per post does not limit what
//! the client is measured at.

use std::sync::Arc;
use std::time::{Duration, Instant};

use epics_base_rs::server::snapshot::Snapshot;
use epics_base_rs::types::{EpicsValue, WallTime};
use strata::engine::ArchiveEngine;
use strata::registry::PvTypeInfo;
use strata::storage::{StorageConfig, StoragePlugin};
use strata::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

const NPV: usize = 1000;
const HZ: u64 = 100;
const SECS: u64 = 10;

fn ca_env() {
    for (k, v) in strata::engine::LOOPBACK_CA_ENV
        .into_iter()
        .chain(strata::engine::LOOPBACK_PVA_ENV)
        .chain([
            ("EPICS_CAS_DRAIN_GRACE_SECS", "0"),
            // A deeper per-channel event queue in the test IOC, so that bursts
            // on the shared 2-core machine are not coalesced before strata
            // sees them (the default 36 is EPICS's).
            ("EPICS_CAS_MAX_EVENTS_PER_CHAN", "400"),
        ])
    {
        std::env::set_var(k, v);
    }
}

/// Child: serve NPV doubles and post every PV at HZ for SECS after `start`.
fn ioc(port: u16, start_unix_ms: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let server = epics_ca_rs::server::CaServerBuilder::new()
            .port(port)
            .build()
            .await
            .expect("server");
        let db = server.database().clone();
        let mut pvs = Vec::new();
        for i in 0..NPV {
            let name = format!("bench:ca:{i:04}");
            db.add_pv(&name, EpicsValue::Double(0.0)).await.expect("pv");
            pvs.push(db.find_pv(&name).await.expect("find"));
        }
        let server = Arc::new(server);
        let s2 = server.clone();
        tokio::spawn(async move { s2.run().await });
        println!("ready");
        let wait = start_unix_ms.saturating_sub(Timestamp::now().millis() as u64);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / HZ));
        for n in 0..(HZ * SECS) {
            tick.tick().await;
            let t = start_unix_ms + n * (1000 / HZ);
            for pv in &pvs {
                let ts = WallTime::from_unix(t / 1000, ((t % 1000) * 1_000_000) as u32);
                pv.set_snapshot(Snapshot::new(EpicsValue::Double(n as f64), 0, 0, ts));
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
}

mod pva_server {
    //! The child-process pvAccess server of the bench.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use epics_pva_rs::nt::NTScalar;
    use epics_pva_rs::proto::{BitSet, ByteOrder};
    use epics_pva_rs::pvdata::encode::{
        default_value_for, encode_pv_field_with_bitset, marked_changed_bitset,
    };
    use epics_pva_rs::pvdata::{FieldDesc, PvField, ScalarType, ScalarValue};
    use epics_pva_rs::server_native::source::{ChannelSource, MonitorStream, OpError, RawMonitorEvent};
    use strata::engine::pva::server::{set, stamp, LoopbackServer};
    use strata::types::Timestamp;

    use super::{HZ, NPV, SECS};

    type Subs = Mutex<HashMap<String, Vec<tokio::sync::mpsc::Sender<RawMonitorEvent>>>>;

    pub struct Source {
        desc: FieldDesc,
        init: PvField,
        subs: Arc<Subs>,
    }

    pub fn name(i: usize) -> String {
        format!("bench:pva:{i:04}")
    }

    fn known(name: &str) -> bool {
        name.strip_prefix("bench:pva:")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < NPV)
    }

    impl ChannelSource for Source {
        async fn list_pvs(&self) -> Vec<String> {
            (0..NPV).map(name).collect()
        }
        async fn has_pv(&self, name: &str) -> bool {
            known(name)
        }
        async fn get_introspection(&self, name: &str) -> Option<FieldDesc> {
            known(name).then(|| self.desc.clone())
        }
        async fn get_value(&self, name: &str) -> Option<PvField> {
            known(name).then(|| self.init.clone())
        }
        async fn put_value(&self, _name: &str, _value: PvField) -> Result<(), OpError> {
            Err(OpError::failed("read-only"))
        }
        async fn is_writable(&self, _name: &str) -> bool {
            false
        }
        async fn subscribe(&self, _name: &str) -> Option<MonitorStream<PvField>> {
            None
        }
        async fn subscribe_raw(&self, name: &str) -> Option<MonitorStream<RawMonitorEvent>> {
            known(name).then(|| {
                let (tx, rx) = tokio::sync::mpsc::channel(256);
                super::lock(&self.subs)
                    .entry(name.to_string())
                    .or_default()
                    .push(tx);
                MonitorStream::Channel(rx)
            })
        }
    }

    /// Serves NPV NTScalar doubles; from `start_unix_ms` posts every PV at
    /// HZ for SECS (value = tick number, time stamp = tick time).
    pub fn run(start_unix_ms: u64) {
        let desc = NTScalar::new(ScalarType::Double).build();
        let mut init = default_value_for(&desc);
        let t = Timestamp::now();
        stamp(&mut init, t.secs, t.nanos, 0);
        let subs: Arc<Subs> = Arc::new(Mutex::new(HashMap::new()));
        let source = Arc::new(Source {
            desc: desc.clone(),
            init: init.clone(),
            subs: subs.clone(),
        });
        let changed = marked_changed_bitset(
            &desc,
            &[
                "value".into(),
                "timeStamp.secondsPastEpoch".into(),
                "timeStamp.nanoseconds".into(),
            ],
        );
        let server = LoopbackServer::start(source, 0, move || {
            tokio::spawn(post(desc, init, changed, subs, start_unix_ms));
        })
        .expect("pva server");
        println!("ready {}", server.addr());
        std::thread::sleep(Duration::from_millis(
            start_unix_ms.saturating_sub(Timestamp::now().millis() as u64) + SECS * 1000 + 3000,
        ));
        server.stop();
    }

    async fn post(desc: FieldDesc, mut v: PvField, changed: BitSet, subs: Arc<Subs>, start_unix_ms: u64) {
        let wait = start_unix_ms.saturating_sub(Timestamp::now().millis() as u64);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / HZ));
        let (mut sent, mut full) = (0u64, 0u64);
        let overrun = BitSet::new().encode(ByteOrder::Little);
        for n in 0..(HZ * SECS) {
            tick.tick().await;
            let t = start_unix_ms + n * (1000 / HZ);
            set(&mut v, "value", PvField::Scalar(ScalarValue::Double(n as f64)));
            stamp(&mut v, (t / 1000) as i64, ((t % 1000) * 1_000_000) as u32, 0);
            let mut body = changed.encode(ByteOrder::Little);
            encode_pv_field_with_bitset(&v, &desc, &changed, 0, ByteOrder::Little, &mut body);
            body.extend_from_slice(&overrun);
            let body = bytes::Bytes::from(body);
            let all: Vec<_> = super::lock(&subs).values().flatten().cloned().collect();
            for tx in all {
                let ev = RawMonitorEvent {
                    body_bytes: body.clone(),
                    byte_order: ByteOrder::Little,
                    type_changed: false,
                };
                match tx.try_send(ev) {
                    Ok(()) => sent += 1,
                    Err(_) => full += 1,
                }
            }
        }
        eprintln!("pva server: {sent} updates queued, {full} not queued (subscriber queue full)");
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Stored samples of `pv` from `start_ms` on.
async fn stored_since(store: &strata::storage::TieredStore, pv: &str, start_ms: u64) -> u64 {
    let (from, to) = (
        Timestamp::new((start_ms / 1000) as i64 - 1, 0),
        Timestamp::new((start_ms / 1000 + SECS) as i64 + 2, 0),
    );
    let first = Timestamp::new((start_ms / 1000) as i64, ((start_ms % 1000) * 1_000_000) as u32);
    let mut n = 0;
    let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
    for mut st in store
        .get_data(pv, from.to_system_time(), to.to_system_time())
        .await
        .expect("get")
    {
        while st.next_event_into(&mut s).expect("read") {
            if s.ts() >= first {
                n += 1;
            }
        }
    }
    n
}

async fn archive_pva() {
    let dir = tempfile::tempdir().expect("tmp");
    let stores = strata::app::Stores::open(&StorageConfig::under(dir.path())).expect("open");
    let store = stores.store.clone();
    // Start 4 s from now: time to connect every channel.
    let start_ms = Timestamp::now().millis() as u64 + 4000;
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["pva-server", &start_ms.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pva server");
    let addr = {
        use std::io::BufRead;
        let mut line = String::new();
        let out = child.stdout.as_mut().expect("stdout");
        std::io::BufReader::new(out).read_line(&mut line).expect("ready");
        line.trim()
            .strip_prefix("ready ")
            .expect("ready line")
            .to_string()
    };
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let ecfg = strata::engine::EngineConfig {
        write_period: 1.0,
        ca_addr_list: Some(String::new()),
        pva_addr_list: Some(String::new()),
        pva_auto_addr_list: Some(false),
        pva_name_servers: Some(addr),
        ..Default::default()
    };
    let engine = strata::engine::epics::EpicsEngine::start(ecfg, store.clone(), tx, Default::default())
        .await
        .expect("engine");
    for i in 0..NPV {
        let mut info = PvTypeInfo::new(&pva_server::name(i), ArchDbType::ScalarDouble, 1);
        info.sampling_period = 0.01;
        info.use_pv_access = true;
        engine.start(&info).await.expect("start");
    }
    let wait = start_ms.saturating_sub(Timestamp::now().millis() as u64);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let connected = engine.metrics().connected;
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(SECS)).await;
    let el = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    engine.flush_now().await;
    let _ = child.wait();
    let (mut stored, mut engine_dropped) = (0u64, 0u64);
    for i in 0..NPV {
        let pv = pva_server::name(i);
        stored += stored_since(&store, &pv, start_ms).await;
        if let Some(c) = engine.status(&pv) {
            engine_dropped += c.dropped_buffer + c.dropped_timestamp + c.dropped_type_change;
        }
    }
    let posted = NPV as u64 * HZ * SECS;
    eprintln!(
        "pva: {connected} channels connected at start; posted {posted}, stored {stored}; \
         dropped by the engine (buffer/time/type) {engine_dropped}"
    );
    println!(
        "bench pva_ingest_sustained {:.0} events/s",
        stored as f64 / SECS as f64
    );
    println!("bench pva_ingest_dropped {} events", posted - stored.min(posted));
    println!("bench pva_ingest_cpu {:.1} %", cpu / el * 100.0);
}

async fn archive(port: u16) {
    let dir = tempfile::tempdir().expect("tmp");
    let stores = strata::app::Stores::open(&StorageConfig::under(dir.path())).expect("open");
    let store = stores.store.clone();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let ecfg = strata::engine::EngineConfig {
        write_period: 1.0,
        ca_addr_list: Some(format!("127.0.0.1:{port}")),
        pva_addr_list: Some(String::new()),
        pva_auto_addr_list: Some(false),
        // The bench IOC serves no DESC fields.
        runtime_fields: Vec::new(),
        ..Default::default()
    };
    let engine = strata::engine::epics::EpicsEngine::start(ecfg, store.clone(), tx, Default::default())
        .await
        .expect("engine");
    // Start 3 s from now: time to connect every channel.
    let start_ms = Timestamp::now().millis() as u64 + 3000;
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["ioc", &port.to_string(), &start_ms.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ioc");
    {
        use std::io::BufRead;
        let mut line = String::new();
        let out = child.stdout.as_mut().expect("stdout");
        std::io::BufReader::new(out).read_line(&mut line).expect("ready");
    }
    for i in 0..NPV {
        let mut info = PvTypeInfo::new(&format!("bench:ca:{i:04}"), ArchDbType::ScalarDouble, 1);
        info.sampling_period = 0.01;
        engine.start(&info).await.expect("start");
    }
    let wait = start_ms.saturating_sub(Timestamp::now().millis() as u64);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(SECS)).await;
    let el = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    engine.flush_now().await;
    let _ = child.wait();
    let mut stored = 0u64;
    let mut dropped = 0u64;
    let (from, to) = (
        Timestamp::new((start_ms / 1000) as i64 - 1, 0),
        Timestamp::new((start_ms / 1000 + SECS) as i64 + 2, 0),
    );
    for i in 0..NPV {
        let pv = format!("bench:ca:{i:04}");
        let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
        for mut st in store
            .get_data(&pv, from.to_system_time(), to.to_system_time())
            .await
            .expect("get")
        {
            while st.next_event_into(&mut s).expect("read") {
                if s.ts() >= Timestamp::new((start_ms / 1000) as i64, ((start_ms % 1000) * 1_000_000) as u32)
                {
                    stored += 1;
                }
            }
        }
        if let Some(c) = engine.status(&pv) {
            dropped += c.dropped_buffer + c.dropped_timestamp + c.dropped_type_change;
        }
    }
    let posted = NPV as u64 * HZ * SECS;
    eprintln!(
        "posted {posted}, stored {stored} ({:.2} % lost upstream or in strata)",
        (posted - stored.min(posted)) as f64 * 100.0 / posted as f64
    );
    println!(
        "bench ca_ingest_sustained {:.0} events/s",
        stored as f64 / SECS as f64
    );
    println!("bench ca_ingest_dropped {dropped} events");
    println!("bench ca_ingest_cpu {:.1} %", cpu / el * 100.0);
}

fn main() {
    ca_env();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("ioc") {
        let port = args[2].parse().expect("port");
        let start = args[3].parse().expect("start");
        ioc(port, start);
        return;
    }
    if args.get(1).map(String::as_str) == Some("pva-server") {
        pva_server::run(args[2].parse().expect("start"));
        return;
    }
    let wanted: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |w: &str| wanted.is_empty() || wanted.contains(&w);
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    if run("ca") {
        rt.block_on(archive(port));
    }
    if run("pva") {
        rt.block_on(archive_pva());
    }
}
