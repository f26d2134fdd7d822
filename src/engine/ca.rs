//! The Channel Access engine: one monitor per archived PV feeding a bounded
//! buffer; a write loop that moves buffers into storage every write period
//! and commits per-PV "last event" times only for bytes that reached disk.
//!
//! Connection events are recorded as Java does: the first sample after
//! start-up carries `cnxlostepsecs`, `cnxregainedepsecs` and `startup`; the
//! first sample after a reconnect carries the two `cnx…` fields.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use epics_base_rs::server::snapshot::DbrClass;
use epics_ca_rs::client::{CaClient, ConnectionEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::convert;
use super::{ArchiveEngine, ChannelStatus, EngineConfig, EngineMetrics};
use crate::mgmt::ProbeResult;
use crate::registry::{ArchiveRequest, PvTypeInfo, SamplingMethod};
use crate::storage::{AppendMeta, StoragePlugin, TieredStore};
use crate::types::{ArchiverSample, Timestamp};

fn now_secs() -> i64 {
    Timestamp::now().secs
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Mutable state of one archived PV.
struct PvState {
    buffer: VecDeque<ArchiverSample>,
    capacity: usize,
    status: ChannelStatus,
    /// Fields for the next stored sample (startup / reconnect).
    pending_fields: Vec<(String, String)>,
    started: bool,
    /// SCAN: newest value and whether it arrived since the last tick.
    latest: Option<ArchiverSample>,
    latest_new: bool,
    meta: AppendMeta,
    metadata: BTreeMap<String, String>,
    /// Time of the newest sample handed to storage, not yet acknowledged.
    pending_commit: Option<Timestamp>,
    events: u64,
    bytes: u64,
    type_warned: bool,
    /// Newest sample time accepted (or stored before start): later samples
    /// must be newer, or they are dropped as Java drops them.
    newest: Option<Timestamp>,
}

struct PvChan {
    info: PvTypeInfo,
    state: Mutex<PvState>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl PvChan {
    fn abort(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

struct Inner {
    client: CaClient,
    store: TieredStore,
    cfg: EngineConfig,
    pvs: Mutex<HashMap<String, Arc<PvChan>>>,
    probes: Mutex<HashMap<String, JoinHandle<()>>>,
    probe_tx: mpsc::UnboundedSender<ProbeResult>,
    skipped_cycles: AtomicU64,
    write_nanos: AtomicU64,
    rates: Mutex<(f64, f64)>,
    writing: AtomicBool,
    initial_sampling: Duration,
}

/// The CA engine. Cheap to clone.
#[derive(Clone)]
pub struct CaEngine {
    inner: Arc<Inner>,
}

/// Parses a CA address list (`host[:port]`, space or comma separated).
pub fn parse_addr_list(list: &str, default_port: u16) -> Vec<SocketAddr> {
    list.split([' ', ','])
        .filter(|s| !s.is_empty())
        .filter_map(|a| {
            if let Ok(sa) = a.parse::<SocketAddr>() {
                return Some(sa);
            }
            let ip: std::net::IpAddr = a.parse().ok()?;
            Some(SocketAddr::new(ip, default_port))
        })
        .collect()
}

impl CaEngine {
    /// Starts the CA client. Completed archive-workflow probes are sent on
    /// `probe_tx`. `extra_addrs` are added to the search list (the demo server).
    pub async fn start(
        cfg: EngineConfig,
        store: TieredStore,
        probe_tx: mpsc::UnboundedSender<ProbeResult>,
        extra_addrs: Vec<SocketAddr>,
    ) -> anyhow::Result<Self> {
        let client = CaClient::new()
            .await
            .map_err(|e| anyhow::anyhow!("starting the CA client: {e:?}"))?;
        let port = cfg
            .ca_server_port
            .or_else(|| {
                std::env::var("EPICS_CA_SERVER_PORT")
                    .ok()
                    .and_then(|p| p.parse().ok())
            })
            .unwrap_or(5064);
        let list = cfg
            .ca_addr_list
            .clone()
            .or_else(|| std::env::var("EPICS_CA_ADDR_LIST").ok())
            .unwrap_or_default();
        let mut addrs = parse_addr_list(&list, port);
        addrs.extend(extra_addrs);
        if !addrs.is_empty() || cfg.ca_addr_list.is_some() {
            client.set_address_list(addrs.clone());
        }
        client
            .set_exception_handler(|e| tracing::warn!(kind = ?e.kind, message = %e.message, "CA exception"));
        tracing::info!(addresses = ?addrs, "Channel Access client started");
        let initial_sampling = Duration::from_secs_f64(cfg.initial_sampling_secs.max(0.1));
        let engine = CaEngine {
            inner: Arc::new(Inner {
                client,
                store,
                cfg,
                pvs: Mutex::new(HashMap::new()),
                probes: Mutex::new(HashMap::new()),
                probe_tx,
                skipped_cycles: AtomicU64::new(0),
                write_nanos: AtomicU64::new(0),
                rates: Mutex::new((0.0, 0.0)),
                writing: AtomicBool::new(false),
                initial_sampling,
            }),
        };
        engine.spawn_write_loop();
        Ok(engine)
    }

    fn spawn_write_loop(&self) {
        let inner = self.inner.clone();
        let period = Duration::from_secs_f64(inner.cfg.write_period);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut last = Instant::now();
            loop {
                tick.tick().await;
                let dt = last.elapsed().as_secs_f64().max(1e-3);
                last = Instant::now();
                if inner.writing.swap(true, Ordering::AcqRel) {
                    inner.skipped_cycles.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let t = Instant::now();
                write_cycle(&inner, dt).await;
                inner
                    .write_nanos
                    .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                inner.writing.store(false, Ordering::Release);
            }
        });
    }

    /// Writes every buffer now and waits for the flush (tests, shutdown).
    pub async fn flush_now(&self) {
        while self.inner.writing.swap(true, Ordering::AcqRel) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        write_cycle(&self.inner, 1.0).await;
        self.inner.writing.store(false, Ordering::Release);
    }

    /// Time of the newest sample of `pv` acknowledged on disk by a completed
    /// flush cycle.
    pub fn last_committed(&self, pv: &str) -> Option<Timestamp> {
        let pvs = lock(&self.inner.pvs);
        let chan = pvs.get(pv)?;
        let st = lock(&chan.state);
        (st.status.last_event > 0).then(|| Timestamp::new(st.status.last_event, 0))
    }
}

/// One write cycle: buffers → storage → ingest flush → commit times.
async fn write_cycle(inner: &Inner, dt: f64) {
    let chans: Vec<(String, Arc<PvChan>)> = lock(&inner.pvs)
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut committed: Vec<(String, Arc<PvChan>)> = Vec::new();
    let (mut events, mut bytes) = (0u64, 0u64);
    for (pv, chan) in chans {
        let (samples, meta) = {
            let mut st = lock(&chan.state);
            let s: Vec<ArchiverSample> = st.buffer.drain(..).collect();
            // Rates over the cycle (per PV and total).
            let (e, b) = (std::mem::take(&mut st.events), std::mem::take(&mut st.bytes));
            st.status.event_rate = e as f64 / dt;
            st.status.storage_rate = b as f64 / dt;
            events += e;
            bytes += b;
            (s, st.meta.clone())
        };
        if samples.is_empty() {
            if lock(&chan.state).pending_commit.is_some() {
                committed.push((pv, chan));
            }
            continue;
        }
        let mut newest = None;
        for s in &samples {
            match inner
                .store
                .append_event_with_meta(&pv, chan.info.dbr_type, s, &meta)
                .await
            {
                Ok(()) => newest = Some(s.ts()),
                Err(e) => {
                    let mut st = lock(&chan.state);
                    if e.downcast_ref::<crate::storage::StoreError>()
                        .is_some_and(|x| matches!(x, crate::storage::StoreError::TypeChange { .. }))
                    {
                        st.status.dropped_type_change += 1;
                    }
                    tracing::warn!(pv = %pv, error = %e, "sample not stored");
                }
            }
        }
        if let Some(n) = newest {
            lock(&chan.state).pending_commit = Some(n);
        }
        committed.push((pv, chan));
    }
    *lock(&inner.rates) = (events as f64 / dt, bytes as f64 / dt);
    let result = match inner.store.flush_ingest_writes().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "ingest flush failed; nothing committed this cycle");
            return;
        }
    };
    for (pv, chan) in committed {
        let mut st = lock(&chan.state);
        if result.failed.contains(&pv) {
            // The bytes were lost: never claim them.
            st.pending_commit = None;
            continue;
        }
        if result.deferred.contains(&pv) {
            // Still buffered: commit on a later cycle.
            continue;
        }
        if let Some(t) = st.pending_commit.take() {
            st.status.last_event = st.status.last_event.max(t.secs);
        }
    }
}

impl Inner {
    /// Handles one monitor update of `chan`.
    fn on_sample(&self, chan: &PvChan, snap: &epics_base_rs::server::snapshot::Snapshot) {
        let mut st = lock(&chan.state);
        let now = now_secs();
        let secs = snap.timestamp.unix_secs() as i64;
        if secs <= crate::types::EPICS_EPOCH_OFFSET
            || secs > now + self.cfg.future_tolerance_secs as i64
            || secs < now - self.cfg.past_tolerance_secs as i64
        {
            st.status.dropped_timestamp += 1;
            return;
        }
        let ts = Timestamp::new(secs, snap.timestamp.subsec_nanos());
        if st.newest.is_some_and(|n| ts <= n) {
            // Not after the newest sample: storage would drop it; keep any
            // pending connection fields for the next one.
            st.status.dropped_timestamp += 1;
            return;
        }
        let Some(mut sample) = convert::sample_of(snap, chan.info.dbr_type) else {
            st.status.dropped_type_change += 1;
            if !st.type_warned {
                st.type_warned = true;
                tracing::warn!(pv = %chan.info.pv_name, expected = %chan.info.dbr_type, "dropped events: type change");
            }
            return;
        };
        if !st.started {
            st.started = true;
            let lost = st.status.lost_at;
            let mut f = vec![
                ("cnxlostepsecs".to_string(), lost.to_string()),
                ("cnxregainedepsecs".to_string(), now.to_string()),
                ("startup".to_string(), "true".to_string()),
            ];
            f.append(&mut st.pending_fields);
            st.pending_fields = f;
        }
        if !st.pending_fields.is_empty() {
            let fields = std::mem::take(&mut st.pending_fields);
            sample.set_field_values(fields);
        }
        st.newest = Some(ts);
        st.events += 1;
        st.bytes += approx_bytes(&sample);
        st.status.last_event_received = secs;
        match chan.info.sampling_method {
            SamplingMethod::Scan => {
                // Keep fields of a replaced value for the next stored one.
                if let Some(prev) = st.latest.take() {
                    if st.latest_new && prev.has_fields() && !sample.has_fields() {
                        sample.set_field_values(prev.field_values().to_vec());
                    }
                }
                st.latest = Some(sample);
                st.latest_new = true;
            }
            _ => {
                st.buffer.push_back(sample);
                if st.buffer.len() > st.capacity {
                    st.buffer.pop_front();
                    st.status.dropped_buffer += 1;
                }
            }
        }
    }

    fn on_connection(&self, chan: &PvChan, ev: &ConnectionEvent) {
        let mut st = lock(&chan.state);
        let now = now_secs();
        match ev {
            ConnectionEvent::Connected => {
                st.status.connected = true;
                if st.status.first_connected == 0 {
                    st.status.first_connected = now;
                } else {
                    st.status.last_reconnected = now;
                }
                if st.status.lost_at > 0 {
                    st.status.loss_count += 1;
                    let lost = st.status.lost_at;
                    st.pending_fields = vec![
                        ("cnxlostepsecs".into(), lost.to_string()),
                        ("cnxregainedepsecs".into(), now.to_string()),
                    ];
                    st.status.lost_at = 0;
                }
            }
            ConnectionEvent::Disconnected if st.status.connected => {
                st.status.connected = false;
                st.status.lost_at = now;
            }
            _ => {}
        }
    }
}

fn approx_bytes(s: &ArchiverSample) -> u64 {
    // Timestamps, tags and newline (~12 bytes) plus the value.
    let v = match &s.value {
        crate::types::SampleValue::String(x) => x.len() + 2,
        crate::types::SampleValue::VString(x) => x.iter().map(|e| e.len() + 2).sum(),
        crate::types::SampleValue::VDouble(x) => x.len() * 8 + 3,
        crate::types::SampleValue::Double(_) => 9,
        crate::types::SampleValue::VByte(x) | crate::types::SampleValue::V4Generic(x) => x.len() + 3,
        other => other.element_count() * 4 + 3,
    };
    (12 + v) as u64
}

impl CaEngine {
    fn spawn_channel(&self, info: &PvTypeInfo) -> Arc<PvChan> {
        let write_period = self.inner.cfg.write_period;
        let period = f64::from(info.sampling_period).max(0.001);
        let capacity = ((write_period / period).ceil() as usize * 2).max(self.inner.cfg.min_buffer_samples);
        let chan = Arc::new(PvChan {
            info: info.clone(),
            state: Mutex::new(PvState {
                buffer: VecDeque::new(),
                capacity,
                status: ChannelStatus::default(),
                pending_fields: Vec::new(),
                started: false,
                latest: None,
                latest_new: false,
                meta: AppendMeta {
                    element_count: (info.element_count > 1).then_some(info.element_count),
                    headers: Vec::new(),
                },
                metadata: BTreeMap::new(),
                pending_commit: None,
                events: 0,
                bytes: 0,
                type_warned: false,
                newest: self
                    .inner
                    .store
                    .last_known_blocking(&info.pv_name)
                    .ok()
                    .flatten()
                    .map(|s| s.ts()),
            }),
            tasks: Mutex::new(Vec::new()),
        });
        let ch = self.inner.client.create_channel(&info.pv_name);
        let mut conn = ch.connection_events();
        let mut tasks = Vec::new();
        // Connection events.
        {
            let (inner, chan) = (self.inner.clone(), chan.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    match conn.recv().await {
                        Ok(ev) => inner.on_connection(&chan, &ev),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            }));
        }
        // Metadata, then the DBR_TIME monitor.
        {
            let (inner, chan) = (self.inner.clone(), chan.clone());
            tasks.push(tokio::spawn(async move {
                while ch.wait_connected(Duration::from_secs(30)).await.is_err() {}
                if let Ok(ctrl) = ch.get_with_metadata(DbrClass::Ctrl).await {
                    let md = convert::metadata(&ctrl);
                    let mut st = lock(&chan.state);
                    st.meta.headers = md
                        .iter()
                        .filter(|(k, _)| k == "EGU" || k == "PREC")
                        .cloned()
                        .collect();
                    st.metadata = md.into_iter().collect();
                }
                if let Ok(info) = ch.info().await {
                    let now = convert::arch_type(info.native_type, info.element_count);
                    if now.is_some_and(|t| t != chan.info.dbr_type) {
                        tracing::warn!(pv = %chan.info.pv_name, archived = %chan.info.dbr_type, ioc = ?now,
                            "the IOC serves another type; its events are dropped (type change)");
                    }
                }
                let mut mon = match ch.subscribe().await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(pv = %chan.info.pv_name, error = ?e, "subscribe failed");
                        return;
                    }
                };
                while let Some(item) = mon.recv().await {
                    match item {
                        Ok(snap) => inner.on_sample(&chan, &snap),
                        Err(_) => continue, // disconnect: the monitor resumes by itself
                    }
                }
            }));
        }
        // SCAN: store the newest value once per period.
        if info.sampling_method == SamplingMethod::Scan {
            let chan2 = chan.clone();
            let period = Duration::from_secs_f64(period);
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let mut st = lock(&chan2.state);
                    if st.latest_new {
                        st.latest_new = false;
                        if let Some(s) = st.latest.clone() {
                            st.buffer.push_back(s);
                            if st.buffer.len() > st.capacity {
                                st.buffer.pop_front();
                                st.status.dropped_buffer += 1;
                            }
                        }
                        if let Some(l) = st.latest.as_mut() {
                            l.clear_fields();
                        }
                    }
                }
            }));
        }
        *lock(&chan.tasks) = tasks;
        chan
    }

    /// The archive workflow for a new PV: connect, learn type, count and
    /// metadata, measure the event rate, then report.
    fn spawn_probe(&self, req: &ArchiveRequest) -> JoinHandle<()> {
        let inner = self.inner.clone();
        let pv = req.pv.clone();
        tokio::spawn(async move {
            let ch = inner.client.create_channel(&pv);
            while ch.wait_connected(Duration::from_secs(30)).await.is_err() {
                tracing::debug!(pv = %pv, "archive request: still not connected");
            }
            let Ok(info) = ch.info().await else { return };
            let Some(dbr_type) = convert::arch_type(info.native_type, info.element_count) else {
                tracing::error!(pv = %pv, native = ?info.native_type, "type not archivable over CA");
                return;
            };
            let ctrl = ch.get_with_metadata(DbrClass::Ctrl).await.ok();
            let host = Some(info.server_addr.ip().to_string());
            let (mut events, mut bytes) = (0u64, 0u64);
            let t = Instant::now();
            if let Ok(mut mon) = ch.subscribe().await {
                let deadline = tokio::time::Instant::now() + inner.initial_sampling;
                loop {
                    match tokio::time::timeout_at(deadline, mon.recv()).await {
                        Ok(Some(Ok(snap))) => {
                            events += 1;
                            if let Some(s) = convert::sample_of(&snap, dbr_type) {
                                bytes += approx_bytes(&s);
                            }
                        }
                        Ok(Some(Err(_))) => continue,
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            let secs = t.elapsed().as_secs_f64().max(1e-3);
            let md = ctrl.as_ref().map(convert::metadata).unwrap_or_default();
            let get = |k: &str| md.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
            let num = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
            let mut limits = Vec::new();
            for (java, epics) in crate::registry::typeinfo::LIMIT_EPICS_FIELDS {
                if let Some(v) = num(epics) {
                    limits.push((java.to_string(), v));
                }
            }
            let probe = ProbeResult {
                pv: pv.clone(),
                dbr_type,
                element_count: i32::try_from(info.element_count).unwrap_or(1).max(1),
                event_rate: events as f64 / secs,
                storage_rate: bytes as f64 / secs,
                units: get("EGU"),
                precision: num("PREC"),
                limits,
                host,
                extra_fields: Vec::new(),
            };
            drop(ch);
            tracing::info!(pv = %pv, dbr = %dbr_type, count = info.element_count, rate = probe.event_rate, "archive request sampled");
            let _ = inner.probe_tx.send(probe);
            lock(&inner.probes).remove(&pv);
        })
    }

    /// Flushes what `pv` has buffered into storage and to disk.
    async fn drain(&self, chan: &PvChan) {
        let (samples, meta) = {
            let mut st = lock(&chan.state);
            if let Some(s) = st.latest.take().filter(|_| st.latest_new) {
                st.buffer.push_back(s);
            }
            (st.buffer.drain(..).collect::<Vec<_>>(), st.meta.clone())
        };
        for s in &samples {
            if let Err(e) = self
                .inner
                .store
                .append_event_with_meta(&chan.info.pv_name, chan.info.dbr_type, s, &meta)
                .await
            {
                tracing::warn!(pv = %chan.info.pv_name, error = %e, "sample not stored");
            }
        }
        if let Err(e) = self.inner.store.flush_pv(&chan.info.pv_name).await {
            tracing::error!(pv = %chan.info.pv_name, error = %e, "flush on stop failed");
        }
    }
}

#[async_trait]
impl ArchiveEngine for CaEngine {
    async fn start(&self, info: &PvTypeInfo) -> anyhow::Result<()> {
        if info.paused || info.sampling_method == SamplingMethod::DontArchive {
            return Ok(());
        }
        if lock(&self.inner.pvs).contains_key(&info.pv_name) {
            return Ok(());
        }
        if let Some(k) = &info.chunk_key {
            // Files keep the key recorded when the PV was first archived.
            self.inner.store.set_chunk_key(&info.pv_name, k);
        }
        let chan = self.spawn_channel(info);
        if let Some(old) = lock(&self.inner.pvs).insert(info.pv_name.clone(), chan) {
            old.abort();
        }
        tracing::debug!(pv = %info.pv_name, "channel started");
        Ok(())
    }

    async fn stop(&self, pv: &str) -> anyhow::Result<()> {
        let chan = lock(&self.inner.pvs).remove(pv);
        if let Some(chan) = chan {
            chan.abort();
            self.drain(&chan).await;
            tracing::debug!(pv, "channel stopped");
        }
        Ok(())
    }

    async fn request(&self, req: &ArchiveRequest) -> anyhow::Result<()> {
        let mut probes = lock(&self.inner.probes);
        if !probes.contains_key(&req.pv) {
            probes.insert(req.pv.clone(), self.spawn_probe(req));
        }
        Ok(())
    }

    async fn abort(&self, pv: &str) -> anyhow::Result<()> {
        if let Some(h) = lock(&self.inner.probes).remove(pv) {
            h.abort();
        }
        Ok(())
    }

    fn status(&self, pv: &str) -> Option<ChannelStatus> {
        let chan = lock(&self.inner.pvs).get(pv).cloned()?;
        let st = lock(&chan.state);
        Some(st.status.clone())
    }

    fn metadata(&self, pv: &str) -> BTreeMap<String, String> {
        let Some(chan) = lock(&self.inner.pvs).get(pv).cloned() else {
            return BTreeMap::new();
        };
        let st = lock(&chan.state);
        st.metadata.clone()
    }

    fn metrics(&self) -> EngineMetrics {
        let chans: Vec<Arc<PvChan>> = lock(&self.inner.pvs).values().cloned().collect();
        let connected = chans.iter().filter(|c| lock(&c.state).status.connected).count() as u64;
        let (event_rate, data_rate) = *lock(&self.inner.rates);
        EngineMetrics {
            channels: chans.len() as u64,
            connected,
            event_rate,
            data_rate,
            skipped_write_cycles: self.inner.skipped_cycles.load(Ordering::Relaxed),
            write_seconds: self.inner.write_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }

    fn running(&self) -> bool {
        true
    }

    fn buffered(&self, pv: &str) -> Vec<ArchiverSample> {
        let Some(chan) = lock(&self.inner.pvs).get(pv).cloned() else {
            return Vec::new();
        };
        let st = lock(&chan.state);
        let mut out: Vec<ArchiverSample> = st.buffer.iter().cloned().collect();
        if st.latest_new {
            out.extend(st.latest.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists() {
        let a = parse_addr_list("127.0.0.1 127.0.0.2:6000,10.0.0.1", 5064);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].port(), 5064);
        assert_eq!(a[1].port(), 6000);
        assert!(parse_addr_list("not-an-ip", 1).is_empty());
    }
}
