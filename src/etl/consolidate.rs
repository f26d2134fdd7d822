//! Consolidation when a PV's ETL is cancelled (etl.md §5): a stage whose
//! source store has `consolidateOnShutdown=true` runs once more, as if a
//! year ahead (every partition of the source eligible, hold and gather
//! included), when the PV is paused or deleted without its data, and at
//! appliance shutdown. Only those stages run; a stage of the chain whose
//! source lacks the flag does not (no cascade), as in Java.

use std::time::{Duration, Instant};

use super::plan::CONSOLIDATE_AHEAD_SECS;
use super::run::{EtlError, StageOutcome};
use super::schedule::Scheduler;
use super::service::StageRun;
use crate::storage::Chain;
use crate::types::Timestamp;

/// True if a stage of `chain` consolidates on shutdown.
pub fn has_consolidating_stage(chain: &Chain) -> bool {
    chain.stages().any(|(_, s, _)| s.options.consolidate_on_shutdown)
}

/// Runs `pv`'s consolidating stages in chain order as if at the
/// scheduler's now + 365 days (named flags honoured as in a scheduled run).
/// Stops at the first failure (the data stays where it is).
pub fn consolidate_pv(sched: &Scheduler, pv: &str, chain: &Chain) -> Result<StageOutcome, EtlError> {
    let now = sched.now();
    let t = Timestamp::new(now + CONSOLIDATE_AHEAD_SECS, 0);
    let mut total = StageOutcome::default();
    for (i, src, _) in chain.stages() {
        if !src.options.consolidate_on_shutdown {
            continue;
        }
        let began = Instant::now();
        let r = sched.etl().run_stage(pv, chain, i, t, false, None);
        sched.stats().record(pv, chain, i, now, began.elapsed(), &r);
        if let StageRun::Ran(o) = r? {
            total.moved += o.moved;
            total.deleted += o.deleted;
            total.changed += o.changed;
            total.bytes += o.bytes;
            total.samples += o.samples;
        }
    }
    Ok(total)
}

/// What the shutdown consolidation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// PVs with a consolidating stage.
    pub pvs: usize,
    /// PVs consolidated.
    pub done: usize,
    /// Source partitions moved or deleted.
    pub moved: u64,
    /// PVs whose consolidation failed (data left in place).
    pub failures: usize,
    /// PVs not reached before the deadline (due at once after the next
    /// start).
    pub unfinished: usize,
}

/// Consolidates every queued (archived, not paused) PV whose chain has a
/// consolidating stage, until `budget` has passed. Blocking.
pub fn consolidate_on_shutdown(sched: &Scheduler, budget: Duration) -> ShutdownReport {
    let started = Instant::now();
    let pvs = sched.queued_chains(has_consolidating_stage);
    let mut report = ShutdownReport {
        pvs: pvs.len(),
        ..ShutdownReport::default()
    };
    for (pv, chain) in &pvs {
        if started.elapsed() >= budget {
            report.unfinished = report.pvs - report.done - report.failures;
            break;
        }
        match consolidate_pv(sched, pv, chain) {
            Ok(o) => {
                report.done += 1;
                report.moved += o.moved + o.deleted;
            }
            Err(e) => {
                report.failures += 1;
                tracing::warn!(pv = %pv, error = %e, "consolidation at shutdown failed; data stays");
            }
        }
    }
    if report.pvs > 0 {
        tracing::info!(
            pvs = report.pvs,
            done = report.done,
            moved = report.moved,
            failures = report.failures,
            unfinished = report.unfinished,
            secs = started.elapsed().as_secs_f64(),
            "consolidation at shutdown"
        );
    }
    report
}
