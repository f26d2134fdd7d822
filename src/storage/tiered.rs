//! `TieredStore`: the STS → MTS → LTS chain over one partition index.
//!
//! Ingest appends go to the first tier; reads return the tiers' sources
//! oldest tier first (LTS, MTS, STS) for the merge step; per-PV and
//! appliance summaries are index look-ups per tier.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::blocking;
use super::config::StorageConfig;
use super::deadline::DeadlineError;
use super::error::StoreError;
use super::read::LastBefore;
use super::reconcile::ReconcileReport;
use super::source::Source;
use super::store::{KeyOverrides, PlainPbStore, WriteLimits};
use super::write::FlushOutcome;
use crate::index::{Index, KvStore};
use crate::types::{ArchiverSample, Timestamp};

/// A read over the tiers with the tiers that did not answer in time.
#[derive(Debug)]
pub struct Partial<T> {
    /// What the answering tiers (and index and buffers) gave.
    pub value: T,
    /// One error per tier whose files did not answer.
    pub missed: Vec<DeadlineError>,
}

impl<T> Partial<T> {
    /// Names of the tiers that did not answer.
    pub fn missed_tiers(&self) -> Vec<String> {
        self.missed.iter().map(|d| d.tier().to_string()).collect()
    }
}

/// The tier chain. Cheap to clone.
#[derive(Clone)]
pub struct TieredStore {
    tiers: Arc<Vec<PlainPbStore>>,
    index: Arc<Index>,
    keys: KeyOverrides,
}

impl TieredStore {
    /// Opens the chain described by `cfg` on `kv`: runs index migrations,
    /// finishes interrupted renames and reconciles the index with the files.
    pub fn open(cfg: &StorageConfig, kv: &dyn KvStore) -> Result<(Self, ReconcileReport), StoreError> {
        let index = Arc::new(Index::open(kv)?);
        let store = Self::with_index(cfg, index);
        for t in store.tiers.iter() {
            std::fs::create_dir_all(t.root()).map_err(|e| StoreError::io("create", t.root(), e))?;
        }
        super::rename::recover(&store)?;
        super::retype::recover(&store)?;
        let total: u64 = (0..store.tiers.len())
            .map(|t| store.index.totals(t as u8).map(|x| x.files).unwrap_or(0))
            .sum();
        let all = total <= cfg.reconcile_all_below;
        let mut report = ReconcileReport::default();
        for t in store.tiers.iter() {
            report.merge(t.reconcile(all)?);
        }
        if !report.is_clean() {
            tracing::warn!(
                rescanned = report.rescanned.len(),
                missing = report.missing.len(),
                trimmed = report.trimmed.len(),
                recovered = report.recovered.len(),
                unreadable = report.unreadable.len(),
                "index reconciled with files"
            );
        }
        Ok((store, report))
    }

    /// A chain over an already open index (no reconcile).
    pub fn with_index(cfg: &StorageConfig, index: Arc<Index>) -> Self {
        let keys: KeyOverrides = Arc::new(RwLock::new(HashMap::new()));
        let limits = WriteLimits {
            pv_bytes: cfg.pv_buffer_bytes,
            total_bytes: cfg.total_buffer_bytes,
            fsync: cfg.fsync,
            read_deadline: std::time::Duration::from_millis(cfg.tier_deadline_ms),
        };
        let tiers = cfg
            .tiers
            .iter()
            .enumerate()
            .map(|(i, t)| PlainPbStore::new(t, i as u8, index.clone(), limits, keys.clone()))
            .collect();
        TieredStore {
            tiers: Arc::new(tiers),
            index,
            keys,
        }
    }

    /// The tiers, first (ingest) tier first.
    pub fn tiers(&self) -> &[PlainPbStore] {
        &self.tiers
    }

    /// The tier named `name` (case-insensitive).
    pub fn tier_by_name(&self, name: &str) -> Option<&PlainPbStore> {
        self.tiers.iter().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The shared index.
    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    /// Sets the storage key of `pv` (PVTypeInfo `chunkKey`) for new files.
    pub fn set_chunk_key(&self, pv: &str, key: &str) {
        if let Ok(mut m) = self.keys.write() {
            if key == crate::plainpb::pv_key(pv) {
                m.remove(pv);
            } else {
                m.insert(pv.to_string(), key.to_string());
            }
        }
    }

    /// Storage key of `pv`: override, else the one its files use, else the default rule.
    pub fn chunk_key(&self, pv: &str) -> String {
        // Never empty: an empty override (a PVTypeInfo without chunkKey)
        // falls through to the files' key and the default rule.
        if let Some(k) = self.keys.read().ok().and_then(|m| m.get(pv).cloned()) {
            if !k.is_empty() {
                return k;
            }
        }
        for t in self.tiers.iter() {
            if let Ok(Some(s)) = t.summary(pv) {
                if !s.key.is_empty() {
                    return s.key;
                }
            }
        }
        crate::plainpb::pv_key(pv)
    }

    /// All sources for `pv` in `[from, to]`, oldest tier first (blocking);
    /// fails when a tier does not answer within its deadline.
    pub fn sources_blocking(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Source>, StoreError> {
        let got = self.sources_partial(pv, from, to)?;
        match got.missed.into_iter().next() {
            Some(d) => Err(d.into()),
            None => Ok(got.value),
        }
    }

    /// All sources for `pv` in `[from, to]`, oldest tier first (blocking),
    /// leaving out the files of tiers that do not answer within their
    /// deadline (their index and buffer parts are kept).
    ///
    /// Each file is opened as it is listed, so a source deleted by ETL
    /// after its listing still streams completely.
    pub fn sources_partial(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Partial<Vec<Source>>, StoreError> {
        // Listed from the ingest tier towards the oldest: ETL records a
        // move's destination before it removes the source, so a reader
        // that misses a source (moved meanwhile) finds it in a later tier.
        // Handed out oldest tier first for the merge.
        let mut per_tier = Vec::with_capacity(self.tiers.len());
        let mut missed = Vec::new();
        for t in self.tiers.iter() {
            let (sources, miss) = t
                .inner
                .sources_within(pv, from, to)
                .map_err(|e| tier_error(t, e))?;
            per_tier.push(sources);
            missed.extend(miss);
        }
        Ok(Partial {
            value: per_tier.into_iter().rev().flatten().collect(),
            missed,
        })
    }

    /// Sources on the blocking pool.
    pub async fn sources(&self, pv: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Source>, StoreError> {
        let me = self.clone();
        let pv = pv.to_string();
        blocking(move || me.sources_blocking(&pv, from, to)).await
    }

    /// Newest sample strictly before `t` over all tiers (blocking); fails
    /// when a tier whose files hold the answer does not answer in time.
    pub fn last_before_blocking(&self, pv: &str, t: Timestamp) -> Result<Option<ArchiverSample>, StoreError> {
        let got = self.last_before_partial(pv, t)?;
        match got.missed.into_iter().next() {
            Some(d) => Err(d.into()),
            None => Ok(got.value),
        }
    }

    /// Newest sample strictly before `t` over the tiers that answer within
    /// their deadline (blocking). The tiers' file reads run in parallel.
    pub fn last_before_partial(
        &self,
        pv: &str,
        t: Timestamp,
    ) -> Result<Partial<Option<ArchiverSample>>, StoreError> {
        let mut best: Option<ArchiverSample> = None;
        let mut missed = Vec::new();
        let mut pending = Vec::new();
        let mut offer = |s: Option<ArchiverSample>| {
            if let Some(s) = s {
                if best.as_ref().is_none_or(|b| s.timestamp > b.timestamp) {
                    best = Some(s);
                }
            }
        };
        let until = std::time::Instant::now() + self.deadline();
        for tier in self.tiers.iter() {
            match tier
                .inner
                .plan_last_before(pv, t)
                .map_err(|e| tier_error(tier, e))?
            {
                LastBefore::Known(s) => offer(s),
                LastBefore::InFile(e, w) => match tier.inner.read_last_before(pv, e, w, t) {
                    Ok(p) => pending.push((tier, p)),
                    Err(d) if d.is_not_answering() => missed.push(d),
                    Err(d) => return Err(d.into()),
                },
            }
        }
        for (tier, p) in pending {
            match p.wait(until) {
                Ok(s) => offer(s.map_err(|e| tier_error(tier, e))?),
                Err(d) if d.is_not_answering() => missed.push(d),
                Err(d) => return Err(d.into()),
            }
        }
        Ok(Partial { value: best, missed })
    }

    /// The read deadline of the tiers.
    pub fn deadline(&self) -> std::time::Duration {
        self.tiers
            .first()
            .map(|t| t.inner.guard.deadline())
            .unwrap_or_default()
    }

    /// Newest sample over all tiers.
    pub fn last_known_blocking(&self, pv: &str) -> Result<Option<ArchiverSample>, StoreError> {
        let mut best: Option<ArchiverSample> = None;
        for tier in self.tiers.iter() {
            if let Some(s) = tier.last_known(pv).map_err(|e| tier_error(tier, e))? {
                if best.as_ref().is_none_or(|b| s.timestamp > b.timestamp) {
                    best = Some(s);
                }
            }
        }
        Ok(best)
    }

    /// Newest sample time recorded in the index over all tiers (data on
    /// disk; write buffers excluded).
    pub fn indexed_last(&self, pv: &str) -> Option<Timestamp> {
        self.tiers
            .iter()
            .filter_map(|t| t.summary(pv).ok().flatten())
            .filter_map(|s| s.last.map(crate::index::entry::ts))
            .max()
    }

    /// True if any tier holds data or buffered samples for `pv`.
    pub fn has_data(&self, pv: &str) -> Result<bool, StoreError> {
        for t in self.tiers.iter() {
            if t.summary(pv)?.is_some() || t.write_stats(pv).buffered_bytes > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes every tier's buffers (blocking).
    pub fn flush_all_blocking(&self) -> Result<FlushOutcome, StoreError> {
        let mut total = FlushOutcome::default();
        for t in self.tiers.iter() {
            let o = t.flush_blocking(false).map_err(|e| tier_error(t, e))?;
            total.written.extend(o.written);
            total.failed.extend(o.failed);
            total.samples += o.samples;
            total.bytes += o.bytes;
        }
        Ok(total)
    }

    /// Writes `pv`'s buffered samples in every tier and syncs them.
    pub async fn flush_pv(&self, pv: &str) -> Result<(), StoreError> {
        let me = self.clone();
        let pv = pv.to_string();
        blocking(move || {
            for t in me.tiers.iter() {
                t.inner
                    .flush(vec![pv.clone()], false)
                    .map_err(|e| tier_error(t, e))?;
            }
            Ok(())
        })
        .await
    }

    /// Reconciles one PV in every tier (blocking).
    pub fn reconcile_pv(&self, pv: &str) -> Result<ReconcileReport, StoreError> {
        let mut r = ReconcileReport::default();
        for t in self.tiers.iter() {
            r.merge(t.reconcile_pv(pv).map_err(|e| tier_error(t, e))?);
        }
        Ok(r)
    }

    /// Reconciles all PVs in every tier, checking every file (blocking).
    pub fn reconcile_all(&self) -> Result<ReconcileReport, StoreError> {
        let mut r = ReconcileReport::default();
        for t in self.tiers.iter() {
            r.merge(t.reconcile(true).map_err(|e| tier_error(t, e))?);
        }
        Ok(r)
    }

    /// Renames on the blocking pool; see [`StoragePlugin::rename_pv`].
    pub async fn rename(&self, from: &str, to: &str) -> Result<u64, StoreError> {
        let me = self.clone();
        let (from, to) = (from.to_string(), to.to_string());
        blocking(move || super::rename::rename(&me, &from, &to, None)).await
    }

    /// Converts every stored sample of `pv` to payload type `to` in every
    /// tier (Java's `changeTypeForPV`; crash-safe, all files or none);
    /// returns the number of files rewritten.
    pub async fn retype(&self, pv: &str, to: crate::types::ArchDbType) -> Result<u64, StoreError> {
        let me = self.clone();
        let pv = pv.to_string();
        blocking(move || super::retype::retype(&me, &pv, to)).await
    }
}

/// `e`, met by an operation on tier `t`, as [`StoreError::Unavailable`]
/// when the tier's root folder cannot be listed.
pub(super) fn tier_error(t: &PlainPbStore, e: StoreError) -> StoreError {
    if matches!(e, StoreError::Unavailable { .. }) || std::fs::read_dir(t.root()).is_ok() {
        return e;
    }
    StoreError::Unavailable {
        tier: t.name().to_string(),
        root: t.root().to_path_buf(),
        source: Box::new(e),
    }
}
