//! `changeStore`'s data move: every partition of a PV in one store of its
//! chain moves into the store that replaces it, with no hold, gather or
//! "current partition" rule (the PV is paused), through the executor — so
//! the new partitions are written, synced and recorded before the old ones
//! are removed, and a kill at any point converges like any ETL move. The
//! new store's `reducedata` applies; a black hole discards.
//!
//! Two stores on the same tier hold the same files: nothing moves.

use super::plan::{self, Dest, OutOfSpace};
use super::run::{EtlError, Executor, StageOutcome, StageTarget, WaveOptions};
use super::service::Etl;
use crate::index::entry::ts as entry_ts;
use crate::index::PartitionEntry;
use crate::storage::ChainStore;

/// Moves all of `pv`'s data in store `from` into store `to`, under the
/// PV's ETL lock. Blocking.
#[tracing::instrument(skip_all, fields(pv = %pv, from = %from.name, to = %to.name))]
pub fn move_store(etl: &Etl, pv: &str, from: &ChainStore, to: &ChainStore) -> Result<StageOutcome, EtlError> {
    let Some(src_tier) = from.tier else {
        return Ok(StageOutcome::default());
    };
    if to.tier == Some(src_tier) {
        return Ok(StageOutcome::default());
    }
    let lock = etl.pv_lock(pv);
    let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
    let store = etl.store();
    let index = store.index();
    let tier = |t: u8| {
        store.tiers().get(t as usize).ok_or(EtlError::NoTier {
            pv: pv.to_string(),
            tier: t,
        })
    };
    let g = tier(src_tier)?.granularity();
    let entries = index.partitions(pv, src_tier)?;
    let all: Vec<&PartitionEntry> = entries.iter().collect();
    let dest = match to.tier {
        None => Dest::Blackhole,
        Some(d) => Dest::Store {
            granularity: tier(d)?.granularity(),
            last: index.summary(pv, d)?.and_then(|s| s.last).map(entry_ts),
            kind: to.compression,
            reduce: to.options.reduce_data.clone(),
            into_blocked: false,
        },
    };
    let plan = plan::plan_stage(&all, g, &dest);
    if plan.moves.is_empty() {
        return Ok(StageOutcome::default());
    }
    // A requested move never gives data up for space: a full destination
    // stops it (the out-of-space policy is for ageing, not for this).
    let options = WaveOptions {
        out_of_space: OutOfSpace::Skip,
        ..WaveOptions::default()
    };
    let out = Executor::new(store).reducer(etl.reducer()).options(options).run(
        pv,
        StageTarget {
            stage: usize::from(src_tier),
            source: src_tier,
            dest: to.tier,
        },
        &plan,
    )?;
    tracing::info!(
        moved = out.moved,
        deleted = out.deleted,
        bytes = out.bytes,
        "store changed"
    );
    Ok(out)
}
