//! The ETL service: plans and runs PVs' stages against the store under
//! the PVs' ETL locks, in waves, with the named flags and the `reducedata`
//! registry.
//!
//! Lock order: PVs' ETL locks (a wave holds those of its PVs; anything
//! else holds at most one), then the tiers' write locks in tier order
//! (inside the executor's record step), then a PV's buffer lock (flushes).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::plan::{self, Dest, HoldGather, StagePlan};
use super::run::{
    EtlError, EtlStop, Executor, Failed, Reducer, StageOutcome, StageTarget, WaveItem, WaveOptions,
};
use crate::index::entry::ts as entry_ts;
use crate::plainpb::ZstOptions;
use crate::registry::NamedFlags;
use crate::storage::{Chain, ChainStore, Compression, TieredStore};
use crate::types::Timestamp;

/// Why a stage did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// `SKIP_<dest>_FOR_ETL` is true.
    SkipFlag(String),
    /// The source's `etlOutofStoreIf` flag is false.
    OutOfStoreBlocked(String),
}

/// The result of one stage run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRun {
    /// The stage ran (possibly with nothing eligible).
    Ran(StageOutcome),
    /// The stage was skipped by a flag.
    Skipped(Skipped),
}

/// One PV's stage to run ([`Etl::run_stages`]).
#[derive(Clone, Copy)]
pub struct StageJob<'a> {
    /// PV.
    pub pv: &'a str,
    /// Its chain.
    pub chain: &'a Chain,
    /// Stage number in the chain.
    pub stage: usize,
}

/// How much one wave carries at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveLimits {
    /// Source files (and PVs).
    pub files: usize,
    /// Source bytes.
    pub bytes: u64,
}

impl Default for WaveLimits {
    fn default() -> Self {
        WaveLimits {
            files: 4096,
            bytes: 1 << 30,
        }
    }
}

/// Runs ETL stages. Cheap to share (`Arc`).
pub struct Etl {
    store: TieredStore,
    flags: Arc<NamedFlags>,
    reducer: Option<Reducer>,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    options: WaveOptions,
    limits: WaveLimits,
}

impl Etl {
    /// A service over `store` reading `flags`; `reducer` builds `reducedata`
    /// operators (none: such stages fail and keep their sources).
    pub fn new(store: TieredStore, flags: Arc<NamedFlags>, reducer: Option<Reducer>) -> Self {
        Etl {
            store,
            flags,
            reducer,
            locks: Mutex::new(HashMap::new()),
            options: WaveOptions::default(),
            limits: WaveLimits::default(),
        }
    }

    /// Uses these out-of-space, sync and wave settings.
    pub fn with_waves(mut self, options: WaveOptions, limits: WaveLimits) -> Self {
        self.options = options;
        self.limits = WaveLimits {
            files: limits.files.max(1),
            bytes: limits.bytes.max(1),
        };
        self
    }

    /// The store.
    pub fn store(&self) -> &TieredStore {
        &self.store
    }

    /// The named flags.
    pub fn flags(&self) -> &Arc<NamedFlags> {
        &self.flags
    }

    /// The `reducedata` operators, if any.
    pub fn reducer(&self) -> Option<&Reducer> {
        self.reducer.as_ref()
    }

    /// The ETL lock of `pv` (held by stage runs, consolidation, deletes).
    pub fn pv_lock(&self, pv: &str) -> Arc<Mutex<()>> {
        let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(pv.to_string()).or_default().clone()
    }

    /// Drops the lock entry of a PV that left ETL.
    pub fn forget(&self, pv: &str) {
        let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if m.get(pv).is_some_and(|l| Arc::strong_count(l) == 1) {
            m.remove(pv);
        }
    }

    /// The plan of stage `stage` of `chain` for `pv` at processing time `t`.
    pub fn plan(
        &self,
        pv: &str,
        chain: &Chain,
        stage: usize,
        t: Timestamp,
    ) -> Result<(StageTarget, StagePlan), EtlError> {
        let (src, dst) = match (chain.stores.get(stage), chain.stores.get(stage + 1)) {
            (Some(s), Some(d)) => (s, d),
            _ => {
                return Ok((
                    StageTarget {
                        stage,
                        source: 0,
                        dest: None,
                    },
                    StagePlan::default(),
                ))
            }
        };
        let index = self.store.index();
        let Some(src_tier) = src.tier else {
            return Ok((
                StageTarget {
                    stage,
                    source: 0,
                    dest: None,
                },
                StagePlan::default(),
            ));
        };
        let src_store = self
            .store
            .tiers()
            .get(src_tier as usize)
            .ok_or(EtlError::NoTier {
                pv: pv.to_string(),
                tier: src_tier,
            })?;
        let g = src_store.granularity();
        let entries = index.partitions(pv, src_tier)?;
        let hg = HoldGather {
            hold: src.options.hold,
            gather: src.options.gather,
        };
        let eligible = plan::eligible_entries(&entries, g, hg, t);
        let dest = match dst.tier {
            None => Dest::Blackhole,
            Some(d) => {
                let dest_store = self.store.tiers().get(d as usize).ok_or(EtlError::NoTier {
                    pv: pv.to_string(),
                    tier: d,
                })?;
                Dest::Store {
                    granularity: dest_store.granularity(),
                    last: index.summary(pv, d)?.and_then(|s| s.last).map(entry_ts),
                    kind: dst.compression,
                    reduce: dst.options.reduce_data.clone(),
                    into_blocked: dst
                        .options
                        .etl_into_store_if
                        .as_ref()
                        .is_some_and(|f| !self.flags.get(f)),
                }
            }
        };
        let target = StageTarget {
            stage,
            source: src_tier,
            dest: dst.tier,
        };
        Ok((target, plan::plan_stage(&eligible, g, &dest)))
    }

    /// Runs stage `stage` of `chain` for `pv` as if at `t`, under the PV's
    /// ETL lock (a wave of one PV). `ignore_skip`: run even if
    /// `SKIP_<dest>_FOR_ETL` is set (consolidation).
    pub fn run_stage(
        &self,
        pv: &str,
        chain: &Chain,
        stage: usize,
        t: Timestamp,
        ignore_skip: bool,
        stop: Option<EtlStop>,
    ) -> Result<StageRun, EtlError> {
        let job = StageJob { pv, chain, stage };
        match self.run_stages(&[job], t, ignore_skip, stop)?.pop() {
            Some(Ok(r)) => Ok(r),
            Some(Err(f)) => Err(f.error),
            None => Ok(StageRun::Ran(StageOutcome::default())),
        }
    }

    /// Why `job` is skipped by a flag, if it is.
    fn skipped(&self, job: &StageJob<'_>, ignore_skip: bool) -> Option<Skipped> {
        let (Some(src), Some(dst)) = (
            job.chain.stores.get(job.stage),
            job.chain.stores.get(job.stage + 1),
        ) else {
            return None;
        };
        let skip = plan::skip_etl_flag(&dst.name);
        if !ignore_skip && self.flags.get(&skip) {
            return Some(Skipped::SkipFlag(skip));
        }
        match &src.options.etl_outof_store_if {
            Some(f) if !self.flags.get(f) => Some(Skipped::OutOfStoreBlocked(f.clone())),
            _ => None,
        }
    }

    /// Runs the given stages as if at `t`, in waves: each wave takes the
    /// ETL locks of its PVs (distinct, at most [`WaveLimits::files`]),
    /// plans each PV's stage and carries the plans out together (sub-waves
    /// bounded by files and bytes). A PV listed twice runs in a later wave,
    /// after its earlier entry. Results are in the order of `jobs`; `Err`:
    /// a wave as a whole failed (or was stopped) — the jobs of waves before
    /// it ran, the rest did not.
    pub fn run_stages(
        &self,
        jobs: &[StageJob<'_>],
        t: Timestamp,
        ignore_skip: bool,
        stop: Option<EtlStop>,
    ) -> Result<Vec<Result<StageRun, Box<Failed>>>, EtlError> {
        let mut results: Vec<Option<Result<StageRun, Box<Failed>>>> = (0..jobs.len()).map(|_| None).collect();
        let mut todo = Vec::new();
        for (i, j) in jobs.iter().enumerate() {
            match self.skipped(j, ignore_skip) {
                Some(s) => results[i] = Some(Ok(StageRun::Skipped(s))),
                None => todo.push(i),
            }
        }
        let exec = Executor::new(&self.store)
            .reducer(self.reducer.as_ref())
            .stop(stop)
            .options(self.options.clone());
        let mut k = 0;
        while k < todo.len() {
            let mut chunk = Vec::new();
            let mut seen = HashSet::new();
            while k < todo.len() && chunk.len() < self.limits.files && seen.insert(jobs[todo[k]].pv) {
                chunk.push(todo[k]);
                k += 1;
            }
            self.run_chunk(&exec, jobs, &chunk, t, &mut results)?;
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Ok(StageRun::Ran(StageOutcome::default()))))
            .collect())
    }

    /// Plans and runs `chunk` (indices into `jobs`, distinct PVs) under
    /// their PVs' ETL locks.
    fn run_chunk(
        &self,
        exec: &Executor<'_>,
        jobs: &[StageJob<'_>],
        chunk: &[usize],
        t: Timestamp,
        results: &mut [Option<Result<StageRun, Box<Failed>>>],
    ) -> Result<(), EtlError> {
        let locks: Vec<Arc<Mutex<()>>> = chunk.iter().map(|&i| self.pv_lock(jobs[i].pv)).collect();
        let _held: Vec<_> = locks
            .iter()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let mut wave: Vec<(usize, WaveItem)> = Vec::new();
        let (mut files, mut bytes) = (0usize, 0u64);
        for &i in chunk {
            let j = &jobs[i];
            let (target, plan) = match self.plan(j.pv, j.chain, j.stage, t) {
                Ok(p) => p,
                Err(error) => {
                    results[i] = Some(Err(Box::new(Failed {
                        done: StageOutcome::default(),
                        error,
                    })));
                    continue;
                }
            };
            if plan.moves.is_empty() {
                results[i] = Some(Ok(StageRun::Ran(StageOutcome::default())));
                continue;
            }
            let n = plan.moves.len();
            let b: u64 = plan.moves.iter().map(|m| m.bytes).sum();
            if !wave.is_empty() && (files + n > self.limits.files || bytes + b > self.limits.bytes) {
                run_wave(exec, &mut wave, results)?;
                (files, bytes) = (0, 0);
            }
            files += n;
            bytes += b;
            wave.push((
                i,
                WaveItem {
                    pv: j.pv.to_string(),
                    target,
                    plan,
                    dest_form: j.chain.stores.get(j.stage + 1).and_then(|d| self.dest_form(d)),
                },
            ));
        }
        run_wave(exec, &mut wave, results)
    }

    /// The form of new partitions in `dst`: the store URL's `compress=` and
    /// `zstdLevel` (else the tier's), the tier's frame size.
    fn dest_form(&self, dst: &ChainStore) -> Option<Option<ZstOptions>> {
        let tier = self.store.tiers().get(dst.tier? as usize)?;
        Some(match dst.compression {
            Compression::None => None,
            Compression::Zstd => Some(ZstOptions {
                level: dst.zstd_level,
                frame_bytes: tier.zst_options().unwrap_or_default().frame_bytes,
            }),
        })
    }

    /// Runs every stage of `chain` for `pv` in order, as if at `t`.
    pub fn run_all(&self, pv: &str, chain: &Chain, t: Timestamp) -> Result<Vec<StageRun>, EtlError> {
        let mut out = Vec::new();
        for (i, _, _) in chain.stages() {
            out.push(self.run_stage(pv, chain, i, t, false, None)?);
        }
        Ok(out)
    }
}

/// Carries out `wave` (emptied) and stores its results.
fn run_wave(
    exec: &Executor<'_>,
    wave: &mut Vec<(usize, WaveItem)>,
    results: &mut [Option<Result<StageRun, Box<Failed>>>],
) -> Result<(), EtlError> {
    if wave.is_empty() {
        return Ok(());
    }
    let (idx, items): (Vec<usize>, Vec<WaveItem>) = std::mem::take(wave).into_iter().unzip();
    for (i, r) in idx.into_iter().zip(exec.run_wave(&items)?) {
        results[i] = Some(r.map(StageRun::Ran));
    }
    Ok(())
}
