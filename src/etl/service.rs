//! The ETL service: plans and runs a PV's stages against the store under
//! the PV's ETL lock, with the named flags and the `reducedata` registry.
//!
//! Lock order: a PV's ETL lock, then a tier's write lock (inside the
//! executor's record step), then the PV's buffer lock (flushes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::plan::{self, Dest, HoldGather, StagePlan};
use super::run::{EtlError, EtlStop, Executor, Reducer, StageOutcome, StageTarget};
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

/// Runs ETL stages. Cheap to share (`Arc`).
pub struct Etl {
    store: TieredStore,
    flags: Arc<NamedFlags>,
    reducer: Option<Reducer>,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
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
        }
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
            source: src_tier,
            dest: dst.tier,
        };
        Ok((target, plan::plan_stage(&eligible, g, &dest)))
    }

    /// Runs stage `stage` of `chain` for `pv` as if at `t`, under the PV's
    /// ETL lock. `ignore_skip`: run even if `SKIP_<dest>_FOR_ETL` is set
    /// (consolidation).
    pub fn run_stage(
        &self,
        pv: &str,
        chain: &Chain,
        stage: usize,
        t: Timestamp,
        ignore_skip: bool,
        stop: Option<EtlStop>,
    ) -> Result<StageRun, EtlError> {
        let (Some(src), Some(dst)) = (chain.stores.get(stage), chain.stores.get(stage + 1)) else {
            return Ok(StageRun::Ran(StageOutcome::default()));
        };
        let skip = plan::skip_etl_flag(&dst.name);
        if !ignore_skip && self.flags.get(&skip) {
            return Ok(StageRun::Skipped(Skipped::SkipFlag(skip)));
        }
        if let Some(f) = &src.options.etl_outof_store_if {
            if !self.flags.get(f) {
                return Ok(StageRun::Skipped(Skipped::OutOfStoreBlocked(f.clone())));
            }
        }
        let lock = self.pv_lock(pv);
        let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (target, plan) = self.plan(pv, chain, stage, t)?;
        if plan.moves.is_empty() {
            return Ok(StageRun::Ran(StageOutcome::default()));
        }
        let out = Executor::new(&self.store)
            .reducer(self.reducer.as_ref())
            .dest_form(self.dest_form(dst))
            .stop(stop)
            .run(pv, target, &plan)?;
        Ok(StageRun::Ran(out))
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
