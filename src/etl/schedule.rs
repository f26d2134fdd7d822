//! The ETL scheduler: Java's per-stage run times (etl.md §2) without
//! polling every PV. Each PV with an ETL chain has one due time — the first
//! stage run time at which one of its sources has an eligible partition
//! (`plan::due`, from the index summaries: no file or directory access) —
//! in a queue ordered by due time, so a tick with nothing due is one look
//! at the queue's head whatever the number of PVs.
//!
//! Time comes from the caller (`tick(now)`): tests drive it with any clock;
//! the appliance's loop ([`spawn`]) reads its injected [`Clock`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::plan::{self, HoldGather, StageSchedule};
use super::run::StageOutcome;
use super::service::{Etl, StageJob, StageRun};
use super::stats::EtlStats;
use crate::index::entry::ts as entry_ts;
use crate::registry::Registry;
use crate::storage::{Chain, TierConfig};
use crate::types::{PartitionGranularity, Timestamp};

/// Unix seconds now.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock, shifted by `offset` seconds (a test hook).
pub fn system_clock(offset: i64) -> Clock {
    Arc::new(move || Timestamp::now().secs + offset)
}

/// Back-off after a failed stage: first and longest wait (s).
const RETRY_MIN_SECS: i64 = 60;
const RETRY_MAX_SECS: i64 = 3600;

/// One queued PV.
struct Entry {
    due: i64,
    seq: u64,
    chain: Arc<Chain>,
    /// Source granularity per stage.
    grans: Vec<PartitionGranularity>,
    scheds: Vec<StageSchedule>,
    /// Java's `nextETLStart` per stage.
    next_start: Vec<i64>,
    /// Consecutive failed ticks (back-off).
    failures: u32,
    /// Registry modification time the chain was read at.
    modified_ms: i64,
}

#[derive(Default)]
struct State {
    queue: BTreeMap<(i64, u64), String>,
    pvs: HashMap<String, Entry>,
    /// PVs without ETL (one store, paused, bad chain), by modification time.
    idle: HashMap<String, i64>,
    seq: u64,
    chains: HashMap<Vec<String>, Arc<Chain>>,
}

/// Counters of the scheduler since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Stage runs that moved or deleted something.
    pub runs: AtomicU64,
    /// Source partitions moved.
    pub moved: AtomicU64,
    /// Source partitions deleted without storing.
    pub deleted: AtomicU64,
    /// Bytes written into destinations.
    pub bytes: AtomicU64,
    /// Failed stage runs.
    pub failures: AtomicU64,
    /// Chains rejected.
    pub bad_chains: AtomicU64,
    /// Time spent in stage runs (ms).
    pub millis: AtomicU64,
    /// Source partitions deleted without copying: destination out of space.
    pub out_of_space_deleted: AtomicU64,
    /// Last tick (Unix s).
    pub last_tick: AtomicU64,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// PVs whose stages were evaluated.
    pub pvs: usize,
    /// Source partitions moved.
    pub moved: u64,
    /// Source partitions deleted without storing.
    pub deleted: u64,
    /// Failed stage runs.
    pub failures: u64,
    /// Source partitions deleted without copying (destination out of space).
    pub out_of_space_deleted: u64,
}

/// The scheduler.
pub struct Scheduler {
    etl: Arc<Etl>,
    registry: Arc<Registry>,
    tiers: Vec<TierConfig>,
    state: Mutex<State>,
    /// Counters.
    pub counters: Counters,
    /// Per-stage and per-PV statistics.
    stats: Arc<EtlStats>,
    /// The clock of management notifications ([`Scheduler::notify`]).
    clock: Clock,
    /// Wakes the loop ([`spawn`]) when a notification queues a PV.
    waker: Mutex<Option<std::sync::mpsc::Sender<Signal>>>,
}

impl Scheduler {
    /// A scheduler with an empty queue.
    pub fn new(etl: Arc<Etl>, registry: Arc<Registry>, tiers: Vec<TierConfig>) -> Self {
        Scheduler {
            etl,
            registry,
            tiers,
            state: Mutex::new(State::default()),
            counters: Counters::default(),
            stats: Arc::new(EtlStats::memory(Timestamp::now().secs)),
            clock: system_clock(0),
            waker: Mutex::new(None),
        }
    }

    /// Records statistics into `stats` (persisted ones, from the database).
    pub fn with_stats(mut self, stats: Arc<EtlStats>) -> Self {
        self.stats = stats;
        self
    }

    /// Reads time for [`Scheduler::notify`] from `clock` (the loop's clock).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The statistics.
    pub fn stats(&self) -> &Arc<EtlStats> {
        &self.stats
    }

    /// The scheduler's clock (Unix s).
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// A management action changed `pv` (archived, resumed, paused,
    /// deleted, chain changed): its queue entry is recomputed from its
    /// record now, instead of at the next registry sync.
    pub fn notify(&self, pv: &str) {
        let now = self.now();
        if !self.registry.contains(pv) {
            self.remove(pv);
            return;
        }
        self.add(pv, now);
        if self.due_of(pv).is_some() {
            let w = self.waker.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(w) = w.as_ref() {
                let _ = w.send(Signal::Wake);
            }
        }
    }

    /// The ETL service.
    pub fn etl(&self) -> &Arc<Etl> {
        &self.etl
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues every PV of the registry not queued yet, and re-reads those
    /// whose record changed since (pause, chain change). O(PVs) in memory.
    pub fn sync(&self, now: i64) {
        let mut todo = Vec::new();
        {
            let st = self.state();
            self.registry.for_each_name(|name, rec| {
                let known = st
                    .pvs
                    .get(name)
                    .map(|e| e.modified_ms)
                    .or_else(|| st.idle.get(name).copied());
                if known != Some(rec.modified_ms) {
                    todo.push(name.to_string());
                }
                true
            });
            for pv in st.pvs.keys().chain(st.idle.keys()) {
                if !self.registry.contains(pv) {
                    todo.push(pv.clone());
                }
            }
        }
        for pv in todo {
            self.add(&pv, now);
        }
    }

    /// (Re)computes `pv`'s due time from its record and summaries.
    pub fn add(&self, pv: &str, now: i64) {
        let prev = self.take(pv);
        let Some(e) = self.compute(pv, now, prev) else {
            return;
        };
        self.put(pv, e);
    }

    /// Removes `pv` from the queue.
    pub fn remove(&self, pv: &str) {
        self.take(pv);
        self.state().idle.remove(pv);
    }

    fn take(&self, pv: &str) -> Option<Entry> {
        let mut st = self.state();
        let e = st.pvs.remove(pv)?;
        st.queue.remove(&(e.due, e.seq));
        Some(e)
    }

    fn put(&self, pv: &str, mut e: Entry) {
        let mut st = self.state();
        st.seq += 1;
        e.seq = st.seq;
        st.queue.insert((e.due, e.seq), pv.to_string());
        st.idle.remove(pv);
        // A notification may have queued the PV while a tick ran it.
        if let Some(old) = st.pvs.insert(pv.to_string(), e) {
            st.queue.remove(&(old.due, old.seq));
        }
    }

    /// `urls` (PVTypeInfo `dataStores`) resolved against the tiers, cached.
    pub fn chain(&self, urls: &[String]) -> Result<Arc<Chain>, crate::storage::ChainError> {
        if let Some(c) = self.state().chains.get(urls) {
            return Ok(c.clone());
        }
        let c = Arc::new(Chain::resolve(urls, &self.tiers)?);
        self.state().chains.insert(urls.to_vec(), c.clone());
        Ok(c)
    }

    /// The entry of `pv` at `now` (`None`: no ETL for it).
    fn compute(&self, pv: &str, now: i64, prev: Option<Entry>) -> Option<Entry> {
        let idle = |ms: i64| {
            self.state().idle.insert(pv.to_string(), ms);
            None
        };
        let info = match self.registry.get(pv) {
            Ok(Some(i)) => i,
            _ => return None,
        };
        let modified_ms = info.modification_time.map_or(0, |t| t.timestamp_millis());
        if info.paused || info.data_stores.len() < 2 {
            return idle(modified_ms);
        }
        let chain = match self.chain(&info.data_stores) {
            Ok(c) => c,
            Err(e) => {
                self.counters.bad_chains.fetch_add(1, Ordering::Relaxed);
                tracing::error!(pv, error = %e, "store chain rejected; no ETL for this PV");
                return idle(modified_ms);
            }
        };
        if !chain.has_etl() {
            return idle(modified_ms);
        }
        let grans: Vec<PartitionGranularity> = chain
            .stages()
            .filter_map(|(_, s, _)| {
                s.tier
                    .and_then(|t| self.tiers.get(t as usize))
                    .map(|t| t.granularity)
            })
            .collect();
        let (scheds, next_start, failures) = match prev {
            Some(p) if p.chain == chain => (p.scheds, p.next_start, p.failures),
            _ => {
                let s = plan::schedules(&grans, now);
                let n = s.iter().map(|x| x.first).collect();
                (s, n, 0)
            }
        };
        let mut e = Entry {
            due: 0,
            seq: 0,
            chain,
            grans,
            scheds,
            next_start,
            failures,
            modified_ms,
        };
        e.due = self.due(pv, &e, now);
        Some(e)
    }

    /// The earliest stage run at which something of `pv` is eligible; with
    /// nothing stored, the first stage's next run (a cheap re-check).
    fn due(&self, pv: &str, e: &Entry, now: i64) -> i64 {
        let index = self.etl.store().index();
        let mut best: Option<i64> = None;
        for (i, src, _) in e.chain.stages() {
            let (Some(tier), Some(g), Some(sched)) = (src.tier, e.grans.get(i), e.scheds.get(i)) else {
                continue;
            };
            let Ok(Some(sum)) = index.summary(pv, tier) else {
                continue;
            };
            let Some(first) = sum.first.map(entry_ts) else {
                continue;
            };
            let hg = HoldGather {
                hold: src.options.hold,
                gather: src.options.gather,
            };
            let not_before = e.next_start.get(i).copied().unwrap_or(now);
            let d = plan::due(sched, *g, hg, (g.partition_start(first.secs), first), not_before);
            best = Some(best.map_or(d, |b| b.min(d)));
        }
        best.unwrap_or_else(|| {
            let s0 = e.next_start.first().copied().unwrap_or(now);
            match e.scheds.first() {
                Some(s) if s0 <= now => s.run_after(now),
                _ => s0,
            }
        })
    }

    /// The earliest due time, if any PV is queued.
    pub fn next_due(&self) -> Option<i64> {
        self.state().queue.first_key_value().map(|((d, _), _)| *d)
    }

    /// Number of PVs queued.
    pub fn queued(&self) -> usize {
        self.state().pvs.len()
    }

    /// PVs due at or before `now` (the backlog).
    pub fn backlog(&self, now: i64) -> usize {
        self.state().queue.range(..(now + 1, 0)).count()
    }

    /// The due time of `pv`, if queued.
    pub fn due_of(&self, pv: &str) -> Option<i64> {
        self.state().pvs.get(pv).map(|e| e.due)
    }

    /// Runs every PV due at or before `now`: each stage whose run time has
    /// come, in chain order, with processing time `now`. The due PVs' stage
    /// 0 runs as waves (many PVs per intent batch, sync and index batch),
    /// then their stage 1, and so on; a PV whose stage failed runs no later
    /// stage this tick.
    pub fn tick(&self, now: i64) -> TickReport {
        let mut report = TickReport::default();
        self.counters
            .last_tick
            .store(now.max(0) as u64, Ordering::Relaxed);
        let mut due: Vec<(String, Entry)> = Vec::new();
        {
            let mut st = self.state();
            while let Some(((d, _), _)) = st.queue.first_key_value() {
                if *d > now {
                    break;
                }
                let Some((_, pv)) = st.queue.pop_first() else {
                    break;
                };
                if let Some(e) = st.pvs.remove(&pv) {
                    due.push((pv, e));
                }
            }
        }
        report.pvs = due.len();
        let mut failed = vec![false; due.len()];
        let stages = due
            .iter()
            .map(|(_, e)| e.chain.stages().count())
            .max()
            .unwrap_or(0);
        for i in 0..stages {
            self.run_stage_wave(&mut due, &mut failed, i, now, &mut report);
        }
        for ((pv, e), failed) in due.into_iter().zip(failed) {
            let Some(mut fresh) = self.compute(&pv, now, Some(e)) else {
                continue;
            };
            if failed {
                fresh.failures += 1;
                let wait = (RETRY_MIN_SECS << fresh.failures.min(6).saturating_sub(1)).min(RETRY_MAX_SECS);
                fresh.due = fresh.due.max(now + wait);
            } else {
                fresh.failures = 0;
            }
            if fresh.due <= now {
                // Cannot make progress at this time (e.g. a skipped stage).
                fresh.due = now + 1;
            }
            self.put(&pv, fresh);
        }
        report
    }

    /// Runs stage `i` of every due PV whose stage `i` has come and whose
    /// earlier stages did not fail, as waves; advances their `nextETLStart`.
    fn run_stage_wave(
        &self,
        due: &mut [(String, Entry)],
        failed: &mut [bool],
        i: usize,
        now: i64,
        report: &mut TickReport,
    ) {
        let idx: Vec<usize> = (0..due.len())
            .filter(|&k| {
                let e = &due[k].1;
                !failed[k] && i < e.chain.stages().count() && e.next_start.get(i).is_some_and(|s| now >= *s)
            })
            .collect();
        if idx.is_empty() {
            return;
        }
        let chains: Vec<Arc<Chain>> = idx.iter().map(|&k| due[k].1.chain.clone()).collect();
        let jobs: Vec<StageJob<'_>> = idx
            .iter()
            .zip(&chains)
            .map(|(&k, chain)| StageJob {
                pv: &due[k].0,
                chain,
                stage: i,
            })
            .collect();
        let began = std::time::Instant::now();
        let results = self.etl.run_stages(&jobs, Timestamp::new(now, 0), false, None);
        drop(jobs);
        self.counters
            .millis
            .fetch_add(began.elapsed().as_millis() as u64, Ordering::Relaxed);
        let results = match results {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(stage = i, pvs = idx.len(), error = %err, "ETL wave failed; data stays, retried later");
                self.counters
                    .failures
                    .fetch_add(idx.len() as u64, Ordering::Relaxed);
                report.failures += idx.len() as u64;
                let took = began.elapsed();
                for k in idx {
                    let (pv, e) = &due[k];
                    let none = StageOutcome::default();
                    self.stats
                        .record_outcome(pv, &e.chain, i, now, took, &none, Some(err.to_string()));
                    failed[k] = true;
                }
                return;
            }
        };
        for (k, r) in idx.into_iter().zip(results) {
            let (pv, e) = &mut due[k];
            match r {
                Ok(StageRun::Ran(o)) => self.stage_done(pv, &e.chain, i, now, &o, None, report),
                Ok(StageRun::Skipped(_)) => {}
                Err(f) => {
                    self.stage_done(pv, &e.chain, i, now, &f.done, Some(f.error.to_string()), report);
                    self.counters.failures.fetch_add(1, Ordering::Relaxed);
                    report.failures += 1;
                    tracing::warn!(pv = %pv, stage = i, error = %f.error, "ETL stage failed; data stays, retried later");
                    failed[k] = true;
                    continue;
                }
            }
            if let (Some(sched), Some(next)) = (e.scheds.get(i), e.next_start.get_mut(i)) {
                *next = sched.run_after(now);
            }
        }
    }

    /// Counts what stage `stage` of `pv` did (failed runs included: what
    /// they moved before failing, and why they failed).
    #[allow(clippy::too_many_arguments)]
    fn stage_done(
        &self,
        pv: &str,
        chain: &Chain,
        stage: usize,
        now: i64,
        o: &StageOutcome,
        error: Option<String>,
        report: &mut TickReport,
    ) {
        self.stats
            .record_outcome(pv, chain, stage, now, o.elapsed, o, error);
        if o.moved + o.deleted > 0 {
            self.counters.runs.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.moved.fetch_add(o.moved, Ordering::Relaxed);
        self.counters.deleted.fetch_add(o.deleted, Ordering::Relaxed);
        self.counters.bytes.fetch_add(o.bytes, Ordering::Relaxed);
        self.counters
            .out_of_space_deleted
            .fetch_add(o.out_of_space_deleted, Ordering::Relaxed);
        report.moved += o.moved;
        report.deleted += o.deleted;
        report.out_of_space_deleted += o.out_of_space_deleted;
    }
}

/// One stage as the queue sees it (for statistics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageView {
    /// Source store name.
    pub source: String,
    /// Destination store name.
    pub dest: String,
    /// Earliest next nominal run of the stage over the queued PVs (Unix s).
    pub next_run: Option<i64>,
    /// Queued PVs due now whose run time of this stage has come.
    pub backlog: u64,
}

impl Scheduler {
    /// Each stage of the queued PVs' chains: next run and backlog at `now`.
    /// O(queued PVs), for reports and `/metrics`.
    pub fn stage_views(&self, now: i64) -> Vec<StageView> {
        let st = self.state();
        let mut out: BTreeMap<(String, String), StageView> = BTreeMap::new();
        for e in st.pvs.values() {
            for (i, src, dst) in e.chain.stages() {
                let Some(next) = e.next_start.get(i).copied() else {
                    continue;
                };
                let v = out
                    .entry((src.name.clone(), dst.name.clone()))
                    .or_insert_with(|| StageView {
                        source: src.name.clone(),
                        dest: dst.name.clone(),
                        ..StageView::default()
                    });
                let nominal = match e.scheds.get(i) {
                    Some(s) if next <= now => s.run_at_or_after(now),
                    _ => next,
                };
                v.next_run = Some(v.next_run.map_or(nominal, |n| n.min(nominal)));
                if e.due <= now && next <= now {
                    v.backlog += 1;
                }
            }
        }
        out.into_values().collect()
    }

    /// Next nominal run of each stage of `pv` (Java's `nextETLStart`), if queued.
    pub fn next_starts(&self, pv: &str) -> Option<Vec<i64>> {
        self.state().pvs.get(pv).map(|e| e.next_start.clone())
    }

    /// Queued PVs whose chain satisfies `f`, with their chains.
    pub fn queued_chains(&self, f: impl Fn(&Chain) -> bool) -> Vec<(String, Arc<Chain>)> {
        self.state()
            .pvs
            .iter()
            .filter(|(_, e)| f(&e.chain))
            .map(|(pv, e)| (pv.clone(), e.chain.clone()))
            .collect()
    }
}

/// A message to the scheduler's loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Recompute the next wake-up (a PV was queued).
    Wake,
    /// Leave the loop.
    Stop,
}

/// Handle of the scheduler's thread; stops it when dropped.
pub struct Running {
    stop: Option<std::sync::mpsc::Sender<Signal>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops the loop and waits for the tick in progress.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(Signal::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Runs `sched` on its own thread: syncs with the registry every
/// `sync_every`, ticks at each due time read from `clock`, and wakes early
/// when a notification queues a PV.
pub fn spawn(sched: Arc<Scheduler>, clock: Clock, sync_every: Duration) -> Running {
    let (tx, rx) = std::sync::mpsc::channel::<Signal>();
    *sched.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx.clone());
    let thread = std::thread::Builder::new()
        .name("strata-etl".into())
        .spawn(move || {
            let mut last_sync: Option<std::time::Instant> = None;
            loop {
                let now = clock();
                if last_sync.is_none_or(|l| l.elapsed() >= sync_every) {
                    sched.sync(now);
                    last_sync = Some(std::time::Instant::now());
                }
                sched.tick(now);
                let wait = sched
                    .next_due()
                    .map_or(sync_every.as_secs() as i64, |d| (d - clock()).max(0))
                    .clamp(0, sync_every.as_secs().max(1) as i64);
                match rx.recv_timeout(Duration::from_millis((wait as u64 * 1000).max(50))) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) | Ok(Signal::Wake) => {}
                    Ok(Signal::Stop) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        });
    match thread {
        Ok(t) => Running {
            stop: Some(tx),
            thread: Some(t),
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot start the ETL thread; data stays in the first tier");
            Running {
                stop: None,
                thread: None,
            }
        }
    }
}
