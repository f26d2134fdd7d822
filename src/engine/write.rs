//! The protocol-neutral half of an ingest engine: one [`Channel`] per
//! archived PV with its bounded buffer and connection fields, and the write
//! cycle that moves the buffers into a [`StoragePlugin`].
//!
//! Commit contract: a PV's `last_event` advances only to the newest sample
//! whose bytes a completed ingest flush acknowledged. PVs the flush reports
//! `failed` lost their bytes and never commit them; `deferred` PVs commit on
//! a later cycle. A front end (Channel Access, pvAccess) feeds events with
//! [`Ingest::on_event`] and connection changes with [`Channel::connected`]
//! and [`Channel::disconnected`].
//!
//! Connection fields are recorded as Java does: the first sample after
//! start-up carries `cnxlostepsecs`, `cnxregainedepsecs` and `startup`; the
//! first sample after a reconnect carries the two `cnx…` fields. Archived
//! fields go into the newest sample of a write cycle ([`super::fields`]).
//!
//! A PV whose controlling PV is zero is switched off: its front end is
//! stopped and events that still arrive are ignored (Java stops the
//! channel); switched on again, its first sample carries the start-up fields.
//!
//! Lock order: the channel table before a channel's state; no lock is held
//! across an `await`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::fields::FieldValues;
use super::{BufferedSamples, ChannelStatus, EngineConfig, EngineMetrics};
use crate::registry::{PvTypeInfo, SamplingMethod};
use crate::storage::{AppendMeta, StoragePlugin, StoreError};
use crate::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_secs() -> i64 {
    Timestamp::now().secs
}

/// Mutable state of one archived PV.
struct ChannelState {
    buffer: VecDeque<ArchiverSample>,
    /// Samples the buffer holds at most; older ones are dropped first.
    capacity: usize,
    status: ChannelStatus,
    /// Fields for the next stored sample (startup / reconnect).
    pending_fields: Vec<(String, String)>,
    /// A sample was accepted since start (the startup fields were set).
    started: bool,
    /// SCAN: newest value and whether it arrived since the last tick.
    latest: Option<ArchiverSample>,
    latest_new: bool,
    /// PayloadInfo header fields for new files.
    meta: AppendMeta,
    /// Metadata served by `getMetadata` (EGU, PREC, limits, …).
    metadata: BTreeMap<String, String>,
    /// Time of the newest sample handed to storage, not yet acknowledged.
    pending_commit: Option<Timestamp>,
    /// Events and approximate bytes since the last write cycle.
    events: u64,
    bytes: u64,
    type_warned: bool,
    timestamp_warned: bool,
    /// Archived, runtime and structure field values.
    fields: FieldValues,
    /// Newest sample time accepted (or stored before start): later samples
    /// must be newer, or they are dropped as Java drops them.
    newest: Option<Timestamp>,
}

impl ChannelState {
    /// Buffers `sample`, dropping the oldest one when full.
    fn push(&mut self, sample: ArchiverSample) {
        self.buffer.push_back(sample);
        if self.buffer.len() > self.capacity {
            self.buffer.pop_front();
            self.status.dropped_buffer += 1;
        }
    }
}

/// One archived PV: its record, its state and the front end's tasks.
pub(crate) struct Channel {
    pub(crate) info: PvTypeInfo,
    state: Mutex<ChannelState>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Channel {
    /// A channel for `info` whose buffer holds two write periods of samples
    /// (at least `min_buffer_samples`); `newest` is the newest stored
    /// sample's time, before which events are dropped.
    pub(crate) fn new(info: &PvTypeInfo, cfg: &EngineConfig, newest: Option<Timestamp>) -> Self {
        let period = f64::from(info.sampling_period).max(0.001);
        let capacity = ((cfg.write_period / period).ceil() as usize * 2).max(cfg.min_buffer_samples);
        Channel {
            info: info.clone(),
            state: Mutex::new(ChannelState {
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
                timestamp_warned: false,
                fields: FieldValues::new(info.use_pv_access),
                newest,
            }),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Sampling period in seconds (at least 1 ms).
    pub(crate) fn period(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.info.sampling_period).max(0.001))
    }

    /// Hands the front end's tasks to the channel (aborted with it).
    pub(crate) fn set_tasks(&self, tasks: Vec<JoinHandle<()>>) {
        *lock(&self.tasks) = tasks;
    }

    /// Aborts the front end's tasks.
    pub(crate) fn abort(&self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }

    /// Records the PV's metadata; EGU and PREC also go into new files' headers.
    pub(crate) fn set_metadata(&self, md: Vec<(String, String)>) {
        let mut st = lock(&self.state);
        st.meta.headers = md
            .iter()
            .filter(|(k, _)| k == "EGU" || k == "PREC")
            .cloned()
            .collect();
        st.metadata = md.into_iter().collect();
    }

    /// Records the IOC host of the connection.
    pub(crate) fn set_host(&self, host: String) {
        lock(&self.state).status.host = Some(host);
    }

    /// An archived field's channel delivered `value`.
    pub(crate) fn archived_field(&self, field: &str, value: String) {
        lock(&self.state).fields.archived(field, value);
    }

    /// A runtime field's channel delivered `value`.
    pub(crate) fn runtime_field(&self, field: &str, value: String) {
        lock(&self.state).fields.runtime(field, value);
    }

    /// Replaces (`all`) or updates the pvAccess structure leaves.
    pub(crate) fn structure_leaves(&self, leaves: Vec<(String, String)>, all: bool) {
        let mut st = lock(&self.state);
        if all {
            st.fields.set_leaves(leaves);
        } else {
            st.fields.update_leaves(leaves);
        }
    }

    /// Every field value of a complete snapshot (pvAccess: the first
    /// update of a connection carries it).
    pub(crate) fn field_snapshot(&self) -> Vec<(String, String)> {
        let st = lock(&self.state);
        st.fields.snapshot(&st.meta.headers)
    }

    /// Records that a complete field snapshot was stored at `now`.
    pub(crate) fn mark_fields_saved(&self, now: i64) {
        lock(&self.state).fields.mark_saved(now);
    }

    /// The server serves `served`, not the archived type (or again the
    /// archived type when `None`): events are dropped as type changes until
    /// it does.
    pub(crate) fn set_served_type(&self, served: Option<ArchDbType>) {
        let mut st = lock(&self.state);
        if served.is_some() && st.status.served_type != served {
            tracing::warn!(pv = %self.info.pv_name, archived = %self.info.dbr_type, served = ?served,
                "the server serves another type; its events are dropped (type change)");
        }
        st.status.served_type = served;
    }

    /// An update without a usable time stamp was dropped (Java stores
    /// nothing for a pvAccess structure without `timeStamp`).
    pub(crate) fn dropped_no_timestamp(&self) {
        let mut st = lock(&self.state);
        st.status.dropped_timestamp += 1;
        if !st.timestamp_warned {
            st.timestamp_warned = true;
            tracing::warn!(pv = %self.info.pv_name, "update without timeStamp dropped");
        }
    }

    /// Switches archiving off (`false`) or on for a controlling PV. Off:
    /// disconnected, events ignored; on again: the next sample carries the
    /// start-up fields. Returns whether the state changed.
    pub(crate) fn set_controlled_off(&self, off: bool) -> bool {
        let mut st = lock(&self.state);
        if st.status.controlled_off == off {
            return false;
        }
        st.status.controlled_off = off;
        if off {
            st.status.connected = false;
        } else {
            st.started = false;
            st.pending_fields.clear();
            st.status.lost_at = 0;
        }
        true
    }

    /// The channel connected (first time or again at `now`, Unix seconds).
    pub(crate) fn connected(&self, now: i64) {
        let mut st = lock(&self.state);
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

    /// The channel lost its connection at `now` (Unix seconds).
    pub(crate) fn disconnected(&self, now: i64) {
        let mut st = lock(&self.state);
        if st.status.connected {
            st.status.connected = false;
            st.status.lost_at = now;
        }
    }

    /// SCAN: buffers the newest value if one arrived since the last tick.
    pub(crate) fn scan_tick(&self) {
        let mut st = lock(&self.state);
        if st.latest_new {
            st.latest_new = false;
            if let Some(s) = st.latest.clone() {
                st.push(s);
            }
            if let Some(l) = st.latest.as_mut() {
                l.clear_fields();
            }
        }
    }

    /// Samples received but not yet handed to storage, oldest first.
    fn buffered(&self) -> Vec<ArchiverSample> {
        let st = lock(&self.state);
        let mut out: Vec<ArchiverSample> = st.buffer.iter().cloned().collect();
        if st.latest_new {
            out.extend(st.latest.clone());
        }
        out
    }
}

/// Approximate stored size of a sample: timestamps, tags and newline
/// (~12 bytes) plus the value.
pub(crate) fn approx_bytes(s: &ArchiverSample) -> u64 {
    let v = match &s.value {
        SampleValue::String(x) => x.len() + 2,
        SampleValue::VString(x) => x.iter().map(|e| e.len() + 2).sum(),
        SampleValue::VDouble(x) => x.len() * 8 + 3,
        SampleValue::Double(_) => 9,
        SampleValue::VByte(x) | SampleValue::V4Generic(x) => x.len() + 3,
        other => other.element_count() * 4 + 3,
    };
    (12 + v) as u64
}

/// The channels of an engine and their write cycle.
pub(crate) struct Ingest {
    cfg: EngineConfig,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    /// Set while a write cycle runs; a tick that finds it set is skipped.
    writing: AtomicBool,
    skipped_cycles: AtomicU64,
    write_nanos: AtomicU64,
    /// Events and bytes per second over the last cycle.
    rates: Mutex<(f64, f64)>,
}

impl Ingest {
    pub(crate) fn new(cfg: EngineConfig) -> Self {
        Ingest {
            cfg,
            channels: Mutex::new(HashMap::new()),
            writing: AtomicBool::new(false),
            skipped_cycles: AtomicU64::new(0),
            write_nanos: AtomicU64::new(0),
            rates: Mutex::new((0.0, 0.0)),
        }
    }

    pub(crate) fn cfg(&self) -> &EngineConfig {
        &self.cfg
    }

    pub(crate) fn channel(&self, pv: &str) -> Option<Arc<Channel>> {
        lock(&self.channels).get(pv).cloned()
    }

    pub(crate) fn contains(&self, pv: &str) -> bool {
        lock(&self.channels).contains_key(pv)
    }

    /// Adds `chan`, aborting a channel it replaces.
    pub(crate) fn insert(&self, chan: Arc<Channel>) {
        let pv = chan.info.pv_name.clone();
        if let Some(old) = lock(&self.channels).insert(pv, chan) {
            old.abort();
        }
    }

    pub(crate) fn remove(&self, pv: &str) -> Option<Arc<Channel>> {
        lock(&self.channels).remove(pv)
    }

    /// One event of `chan` with its source time. Events outside the time
    /// tolerances or not after the newest sample are dropped; `convert`
    /// makes the sample of the archived type (`None`: a type change; it
    /// runs under the channel's lock and must not call the channel).
    /// Returns whether the sample was accepted.
    pub(crate) fn on_event(
        &self,
        chan: &Channel,
        ts: Timestamp,
        convert: impl FnOnce() -> Option<ArchiverSample>,
    ) -> bool {
        let mut st = lock(&chan.state);
        if st.status.controlled_off {
            return false;
        }
        let now = now_secs();
        if ts.secs <= crate::types::EPICS_EPOCH_OFFSET
            || ts.secs > now + self.cfg.future_tolerance_secs as i64
            || ts.secs < now - self.cfg.past_tolerance_secs as i64
        {
            st.status.dropped_timestamp += 1;
            return false;
        }
        if st.newest.is_some_and(|n| ts <= n) {
            // Not after the newest sample: storage would drop it; keep any
            // pending connection fields for the next one.
            st.status.dropped_timestamp += 1;
            return false;
        }
        let Some(mut sample) = convert() else {
            st.status.dropped_type_change += 1;
            if !st.type_warned {
                st.type_warned = true;
                tracing::warn!(pv = %chan.info.pv_name, expected = %chan.info.dbr_type, "dropped events: type change");
            }
            return false;
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
            // Connection fields first, then what the front end attached.
            let mut fields = std::mem::take(&mut st.pending_fields);
            fields.extend(sample.field_values().iter().cloned());
            sample.set_field_values(fields);
        }
        st.newest = Some(ts);
        st.events += 1;
        st.status.event_count += 1;
        st.bytes += approx_bytes(&sample);
        st.status.last_event_received = ts.secs;
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
            _ => st.push(sample),
        }
        true
    }

    /// Runs write cycles every `period` until the runtime stops; a tick that
    /// finds the previous cycle still running is skipped and counted.
    pub(crate) fn spawn_write_loop(self: &Arc<Self>, store: Arc<dyn StoragePlugin>, period: Duration) {
        let ingest = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut last = Instant::now();
            loop {
                tick.tick().await;
                let dt = last.elapsed().as_secs_f64().max(1e-3);
                last = Instant::now();
                if ingest.writing.swap(true, Ordering::AcqRel) {
                    ingest.skipped_cycles.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let t = Instant::now();
                ingest.write_cycle(store.as_ref(), dt).await;
                ingest
                    .write_nanos
                    .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                ingest.writing.store(false, Ordering::Release);
            }
        });
    }

    /// Runs a write cycle now, after any running one (tests, shutdown).
    pub(crate) async fn flush_now(&self, store: &dyn StoragePlugin) {
        while self.writing.swap(true, Ordering::AcqRel) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.write_cycle(store, 1.0).await;
        self.writing.store(false, Ordering::Release);
    }

    /// One write cycle over `dt` seconds: buffers → storage → ingest flush →
    /// commit times (see the module's commit contract).
    pub(crate) async fn write_cycle(&self, store: &dyn StoragePlugin, dt: f64) {
        let channels: Vec<(String, Arc<Channel>)> = lock(&self.channels)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut to_commit: Vec<(String, Arc<Channel>)> = Vec::new();
        let (mut events, mut bytes) = (0u64, 0u64);
        let now = now_secs();
        for (pv, chan) in channels {
            let (samples, meta) = {
                let mut st = lock(&chan.state);
                let mut s: Vec<ArchiverSample> = st.buffer.drain(..).collect();
                if let Some(last) = s.last_mut() {
                    let st = &mut *st;
                    st.fields.about_to_write(last, &st.meta.headers, now);
                }
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
                    to_commit.push((pv, chan));
                }
                continue;
            }
            if let Some(newest) = append_all(store, &chan, &samples, &meta).await {
                lock(&chan.state).pending_commit = Some(newest);
            }
            to_commit.push((pv, chan));
        }
        *lock(&self.rates) = (events as f64 / dt, bytes as f64 / dt);
        let result = match store.flush_ingest_writes().await {
            Ok(r) => r,
            Err(e) => {
                // What this cycle handed over is not known to be on disk: a
                // later successful flush must not confirm it (a later
                // sample's commit covers it once written).
                tracing::error!(error = %e, "ingest flush failed; nothing committed this cycle");
                for (_, chan) in to_commit {
                    lock(&chan.state).pending_commit = None;
                }
                return;
            }
        };
        for (pv, chan) in to_commit {
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

    /// Hands what `chan` holds (buffer and an unstored SCAN value) to
    /// `store`, when the channel stops; the caller flushes the PV.
    pub(crate) async fn drain(&self, chan: &Channel, store: &dyn StoragePlugin) {
        let (samples, meta) = {
            let mut st = lock(&chan.state);
            if let Some(s) = st.latest.take().filter(|_| st.latest_new) {
                st.buffer.push_back(s);
            }
            (st.buffer.drain(..).collect::<Vec<_>>(), st.meta.clone())
        };
        for s in &samples {
            if let Err(e) = store
                .append_event_with_meta(&chan.info.pv_name, chan.info.dbr_type, s, &meta)
                .await
            {
                tracing::warn!(pv = %chan.info.pv_name, error = %e, "sample not stored");
            }
        }
    }

    /// Time of the newest sample of `pv` acknowledged on disk by a completed
    /// flush cycle.
    pub(crate) fn last_committed(&self, pv: &str) -> Option<Timestamp> {
        let chan = self.channel(pv)?;
        let st = lock(&chan.state);
        (st.status.last_event > 0).then(|| Timestamp::new(st.status.last_event, 0))
    }

    pub(crate) fn status(&self, pv: &str) -> Option<ChannelStatus> {
        let chan = self.channel(pv)?;
        let st = lock(&chan.state);
        Some(st.status.clone())
    }

    pub(crate) fn metadata(&self, pv: &str) -> BTreeMap<String, String> {
        match self.channel(pv) {
            Some(chan) => {
                let st = lock(&chan.state);
                let mut md = st.metadata.clone();
                md.extend(st.fields.current().map(|(k, v)| (k.clone(), v.clone())));
                md
            }
            None => BTreeMap::new(),
        }
    }

    pub(crate) fn metrics(&self) -> EngineMetrics {
        let channels: Vec<Arc<Channel>> = lock(&self.channels).values().cloned().collect();
        let connected = channels
            .iter()
            .filter(|c| lock(&c.state).status.connected)
            .count() as u64;

        let (event_rate, data_rate) = *lock(&self.rates);
        EngineMetrics {
            channels: channels.len() as u64,
            connected,
            event_rate,
            data_rate,
            skipped_write_cycles: self.skipped_cycles.load(Ordering::Relaxed),
            write_seconds: self.write_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }
}

impl BufferedSamples for Ingest {
    fn buffered(&self, pv: &str) -> Vec<ArchiverSample> {
        self.channel(pv).map(|c| c.buffered()).unwrap_or_default()
    }

    fn metadata(&self, pv: &str) -> BTreeMap<String, String> {
        Ingest::metadata(self, pv)
    }
}

/// Appends `samples` of `chan` in order; returns the newest time stored.
/// A sample storage refuses is logged and counted (type change).
async fn append_all(
    store: &dyn StoragePlugin,
    chan: &Channel,
    samples: &[ArchiverSample],
    meta: &AppendMeta,
) -> Option<Timestamp> {
    let pv = &chan.info.pv_name;
    let mut newest = None;
    for s in samples {
        match store
            .append_event_with_meta(pv, chan.info.dbr_type, s, meta)
            .await
        {
            Ok(()) => newest = Some(s.ts()),
            Err(e) => {
                if e.downcast_ref::<StoreError>()
                    .is_some_and(|x| matches!(x, StoreError::TypeChange { .. }))
                {
                    lock(&chan.state).status.dropped_type_change += 1;
                }
                tracing::warn!(pv = %pv, error = %e, "sample not stored");
            }
        }
    }
    newest
}

#[cfg(test)]
#[path = "write_test.rs"]
mod tests;
