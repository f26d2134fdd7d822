//! Sustained Channel Access ingest: 1,000 PVs updating at 100 Hz from an IOC
//! in a child process (this bench binary in `ioc` mode), archived by the CA
//! engine into real files. Prints `bench ca_ingest_sustained <events/s>`,
//! `bench ca_ingest_dropped <count>` and `bench ca_ingest_cpu <percent> %`
//! (CPU of the archiving process only). Loopback-only CA environment.

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
    for (k, v) in strata::engine::LOOPBACK_CA_ENV.into_iter().chain([
        ("EPICS_CAS_DRAIN_GRACE_SECS", "0"),
        // A deeper per-channel event queue in the test IOC, so that bursts
        // on the shared 2-core machine are not coalesced before strata
        // sees them (the default 36 is EPICS's).
        ("EPICS_CAS_MAX_EVENTS_PER_CHAN", "400"),
    ]) {
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

fn cpu_secs() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

async fn archive(port: u16) {
    let dir = tempfile::tempdir().expect("tmp");
    let stores = strata::app::Stores::open(&StorageConfig::under(dir.path())).expect("open");
    let store = stores.store.clone();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let ecfg = strata::engine::EngineConfig {
        write_period: 1.0,
        ca_addr_list: Some(format!("127.0.0.1:{port}")),
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
    rt.block_on(archive(port));
}
