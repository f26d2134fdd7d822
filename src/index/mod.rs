//! The partition index: per (PV, tier), every partition file with its time
//! span, size, sample count and last sample; per-(PV, tier) summaries and
//! per-tier totals kept in step in the same atomic batch, so "last event",
//! per-PV store summaries and appliance metrics are look-ups, not scans.
//!
//! The index is rebuildable from the files and is never ahead of them:
//! callers store a record only after the bytes it describes are on disk.
//! Knows nothing of file formats beyond the records it holds.

pub mod entry;
mod frames;
pub mod keys;
pub mod kv;
mod migrate;

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};

pub use entry::{FrameRecord, PartitionEntry, PendingDelete, PvSummary, TierTotals};
pub use frames::{frame_keys, FrameKey, FrameWindow};
pub use kv::{Batch, KvError, KvStore, KvTree, MemKv, SledKv};
pub use migrate::{INDEX_SCHEMA_VERSION, SCHEMA_KEY};

use crate::types::Timestamp;
use entry::{decode, encode};

const TREE: &str = "partitions";
const META: &str = "meta";

/// An index operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The key-value store failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The database was written by a newer strata.
    #[error("index schema version {found} is newer than this strata supports ({supported})")]
    TooNew {
        /// Version on disk.
        found: u32,
        /// Newest version known.
        supported: u32,
    },
    /// A migration step failed.
    #[error("index migration to version {to} failed: {message}")]
    Migration {
        /// Target version.
        to: u32,
        /// Why.
        message: String,
    },
}

/// A change to one partition record.
#[derive(Debug, Clone)]
pub enum Change {
    /// Insert or replace the record of `entry.start`; `key` is the PV's storage key.
    Upsert {
        /// PV name.
        pv: String,
        /// Tier number.
        tier: u8,
        /// Storage key of the PV's files.
        key: String,
        /// The record.
        entry: PartitionEntry,
    },
    /// Remove the record of partition `start`.
    Remove {
        /// PV name.
        pv: String,
        /// Tier number.
        tier: u8,
        /// Partition start.
        start: i64,
    },
    /// The zstd frames of compressed partition `start` (with its `Upsert`
    /// in the same batch). Every `Upsert` and `Remove` of a compressed
    /// partition drops its frame keys unless this gives new ones.
    Frames {
        /// PV name.
        pv: String,
        /// Tier number.
        tier: u8,
        /// Partition start.
        start: i64,
        /// `(first sample, record)` per frame, oldest first.
        frames: Vec<FrameKey>,
    },
}

type SummaryKey = (String, u8);

/// The partition index over a [`KvStore`].
pub struct Index {
    tree: Arc<dyn KvTree>,
    meta: Arc<dyn KvTree>,
    /// Serialises read-modify-write of summaries and totals.
    write: Mutex<()>,
}

impl Index {
    /// Opens the index in `store`, running pending migrations.
    pub fn open(store: &dyn KvStore) -> Result<Self, IndexError> {
        let index = Index {
            tree: store.tree(TREE)?,
            meta: store.tree(META)?,
            write: Mutex::new(()),
        };
        migrate::run(&index)?;
        Ok(index)
    }

    pub(crate) fn tree(&self) -> &dyn KvTree {
        self.tree.as_ref()
    }

    pub(crate) fn meta(&self) -> &dyn KvTree {
        self.meta.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Summary of `(pv, tier)`.
    pub fn summary(&self, pv: &str, tier: u8) -> Result<Option<PvSummary>, IndexError> {
        match self.tree.get(&keys::summary(pv, tier))? {
            Some(v) => Ok(Some(decode(TREE, &v)?)),
            None => Ok(None),
        }
    }

    /// Totals of `tier`.
    pub fn totals(&self, tier: u8) -> Result<TierTotals, IndexError> {
        match self.tree.get(&keys::totals(tier))? {
            Some(v) => Ok(decode(TREE, &v)?),
            None => Ok(TierTotals::default()),
        }
    }

    /// Record of one partition.
    pub fn partition(&self, pv: &str, tier: u8, start: i64) -> Result<Option<PartitionEntry>, IndexError> {
        match self.tree.get(&keys::partition(pv, tier, start))? {
            Some(v) => Ok(Some(decode(TREE, &v)?)),
            None => Ok(None),
        }
    }

    /// All partitions of `(pv, tier)`, oldest first.
    pub fn partitions(&self, pv: &str, tier: u8) -> Result<Vec<PartitionEntry>, IndexError> {
        self.tree
            .scan_prefix(&keys::partition_prefix(pv, tier))
            .map(|r| Ok(decode(TREE, &r?.1)?))
            .collect()
    }

    /// Partitions of `(pv, tier)` holding samples in `[from, to]`, oldest
    /// first, and the newest partition entirely before `from` (the
    /// "previous partition" whose last sample provides continuity).
    pub fn overlapping(
        &self,
        pv: &str,
        tier: u8,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Option<PartitionEntry>, Vec<PartitionEntry>), IndexError> {
        let lo = keys::partition_prefix(pv, tier);
        let hi = keys::partition(pv, tier, to.secs);
        let mut hits = Vec::new();
        let mut previous = None;
        for item in self.tree.range(Bound::Included(&lo), Bound::Included(&hi), true) {
            let e: PartitionEntry = decode(TREE, &item?.1)?;
            if entry::ts(e.last) < from {
                previous = Some(e);
                break;
            }
            if entry::ts(e.first) <= to {
                hits.push(e);
            }
        }
        hits.reverse();
        Ok((previous, hits))
    }

    /// Newest partitions of `(pv, tier)` starting at or before `t`, newest first.
    pub fn at_or_before(&self, pv: &str, tier: u8, t: Timestamp) -> PartitionIter<'_> {
        let lo = keys::partition_prefix(pv, tier);
        let hi = keys::partition(pv, tier, t.secs);
        PartitionIter {
            inner: self.tree.range(Bound::Included(&lo), Bound::Included(&hi), true),
        }
    }

    /// Every `(pv, tier, summary)`.
    pub fn summaries(&self) -> impl Iterator<Item = Result<(String, u8, PvSummary), IndexError>> + '_ {
        self.tree.scan_prefix(&[keys::SUMMARY]).map(|r| {
            let (k, v) = r?;
            let (pv, tier) = keys::parse_summary(&k).ok_or_else(|| KvError::Corrupt {
                tree: TREE.into(),
                message: "bad summary key".into(),
            })?;
            Ok((pv.to_string(), tier, decode(TREE, &v)?))
        })
    }

    /// Every `(pv, tier, partition)`.
    pub fn all_partitions(
        &self,
    ) -> impl Iterator<Item = Result<(String, u8, PartitionEntry), IndexError>> + '_ {
        self.tree.scan_prefix(&[keys::PARTITION]).map(|r| {
            let (k, v) = r?;
            let (pv, tier, _) = keys::parse_partition(&k).ok_or_else(|| KvError::Corrupt {
                tree: TREE.into(),
                message: "bad partition key".into(),
            })?;
            Ok((pv.to_string(), tier, decode(TREE, &v)?))
        })
    }

    /// Applies `changes` and the matching summary/total updates in one atomic batch.
    pub fn apply(&self, changes: &[Change]) -> Result<(), IndexError> {
        self.apply_with(changes, Batch::new())
    }

    /// Applies an ETL wave's records in one atomic batch: `changes` (the
    /// destinations' records and the sources' removals), the sources'
    /// pending deletes `(pv, tier, start, record)`, and the removal of
    /// intents left by the moves.
    pub fn apply_move(
        &self,
        changes: &[Change],
        pending: &[(String, u8, i64, PendingDelete)],
        clear_intents: &[(String, u8, i64)],
    ) -> Result<(), IndexError> {
        let mut extra = Batch::new();
        for (pv, tier, start, d) in pending {
            extra.put(keys::pending_delete(pv, *tier, *start), encode(d));
        }
        for (pv, tier, start) in clear_intents {
            extra.delete(keys::intent(pv, *tier, *start));
        }
        self.apply_with(changes, extra)
    }

    /// Pending deletes `(pv, tier, start, record)` left by ETL moves.
    pub fn pending_deletes(&self) -> Result<Vec<(String, u8, i64, PendingDelete)>, IndexError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(&[keys::PENDING_DELETE]) {
            let (k, v) = item?;
            if let Some((pv, tier, start)) = keys::parse_pending_delete(&k) {
                out.push((pv.to_string(), tier, start, decode(TREE, &v)?));
            }
        }
        Ok(out)
    }

    /// Drops pending deletes (the file was deleted or recorded again). Not
    /// flushed: a pending delete that survives a crash names a file that is
    /// gone (or recorded) and is cleared by the next reconcile.
    pub fn clear_pending_deletes(&self, done: &[(String, u8, i64)]) -> Result<(), IndexError> {
        if done.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for (pv, tier, start) in done {
            batch.delete(keys::pending_delete(pv, *tier, *start));
        }
        self.tree.apply_batch(&batch)?;
        Ok(())
    }

    /// `changes` plus the operations already in `batch`, atomically.
    fn apply_with(&self, changes: &[Change], mut batch: Batch) -> Result<(), IndexError> {
        if changes.is_empty() {
            if !batch.is_empty() {
                self.tree.apply_batch(&batch)?;
            }
            return Ok(());
        }
        let _guard = self.lock();
        let mut pending: BTreeMap<(String, u8, i64), Option<PartitionEntry>> = BTreeMap::new();
        let mut summaries: HashMap<SummaryKey, (PvSummary, bool)> = HashMap::new();
        let mut totals: HashMap<u8, TierTotals> = HashMap::new();
        let mut new_frames: BTreeMap<(String, u8, i64), &[FrameKey]> = BTreeMap::new();
        // Partitions whose stored record is compressed: their frame keys go
        // (frame keys exist only beside a compressed record).
        let mut had_frames: Vec<(String, u8, i64)> = Vec::new();
        for ch in changes {
            let (pv, tier, start) = match ch {
                Change::Upsert { pv, tier, entry, .. } => (pv, *tier, entry.start),
                Change::Remove { pv, tier, start } => (pv, *tier, *start),
                Change::Frames {
                    pv,
                    tier,
                    start,
                    frames,
                } => {
                    new_frames.insert((pv.clone(), *tier, *start), frames);
                    continue;
                }
            };
            let pk = (pv.clone(), tier, start);
            let old = match pending.get(&pk) {
                Some(o) => o.clone(),
                None => {
                    let o = self.partition(pv, tier, start)?;
                    if o.as_ref().is_some_and(|o| o.compressed) {
                        had_frames.push(pk.clone());
                    }
                    o
                }
            };
            let sk = (pv.clone(), tier);
            if !summaries.contains_key(&sk) {
                let s = self.summary(pv, tier)?.unwrap_or_default();
                summaries.insert(sk.clone(), (s, false));
            }
            if let std::collections::hash_map::Entry::Vacant(v) = totals.entry(tier) {
                v.insert(self.totals(tier)?);
            }
            let (sum, recompute) = summaries.get_mut(&sk).ok_or_else(|| KvError::Corrupt {
                tree: TREE.into(),
                message: "summary vanished".into(),
            })?;
            let tot = totals.entry(tier).or_default();
            if let Some(o) = &old {
                sum.files = sum.files.saturating_sub(1);
                sum.bytes = sum.bytes.saturating_sub(o.bytes);
                sum.samples = sum.samples.saturating_sub(o.samples);
                tot.files = tot.files.saturating_sub(1);
                tot.bytes = tot.bytes.saturating_sub(o.bytes);
                if o.start >= sum.newest_start || sum.first == Some(o.first) {
                    *recompute = true;
                }
            }
            match ch {
                Change::Upsert { key, entry, .. } => {
                    sum.files += 1;
                    sum.bytes += entry.bytes;
                    sum.samples += entry.samples;
                    tot.files += 1;
                    tot.bytes += entry.bytes;
                    sum.key.clone_from(key);
                    if sum.first.is_none_or(|f| entry.first < f) {
                        sum.first = Some(entry.first);
                    }
                    if sum.last.is_none() || entry.start >= sum.newest_start {
                        sum.newest_start = entry.start;
                        sum.last = Some(entry.last);
                        sum.last_year = entry.year;
                        sum.db_type = entry.db_type;
                        sum.last_sample.clone_from(&entry.last_sample);
                    }
                    pending.insert(pk, Some(entry.clone()));
                }
                Change::Remove { .. } => {
                    pending.insert(pk, None);
                }
                Change::Frames { .. } => {}
            }
        }
        self.frame_ops(had_frames.iter(), &new_frames, &mut batch)?;
        for ((pv, tier, start), e) in &pending {
            let k = keys::partition(pv, *tier, *start);
            match e {
                Some(e) => batch.put(k, encode(e)),
                None => batch.delete(k),
            }
            batch.delete(keys::intent(pv, *tier, *start));
        }
        for ((pv, tier), (mut sum, recompute)) in summaries {
            if recompute {
                sum = self.recompute_summary(&pv, tier, &sum.key, &pending)?;
            }
            let k = keys::summary(&pv, tier);
            if sum.files == 0 {
                batch.delete(k);
            } else {
                batch.put(k, encode(&sum));
            }
        }
        for (tier, t) in totals {
            batch.put(keys::totals(tier).to_vec(), encode(&t));
        }
        self.tree.apply_batch(&batch)?;
        Ok(())
    }

    /// Summary of `(pv, tier)` from its partition records overlaid with `pending`.
    fn recompute_summary(
        &self,
        pv: &str,
        tier: u8,
        key: &str,
        pending: &BTreeMap<(String, u8, i64), Option<PartitionEntry>>,
    ) -> Result<PvSummary, IndexError> {
        let mut all: BTreeMap<i64, PartitionEntry> = BTreeMap::new();
        for e in self.partitions(pv, tier)? {
            all.insert(e.start, e);
        }
        for ((p, t, start), e) in
            pending.range((pv.to_string(), tier, i64::MIN)..=(pv.to_string(), tier, i64::MAX))
        {
            debug_assert!(p == pv && *t == tier);
            match e {
                Some(e) => all.insert(*start, e.clone()),
                None => all.remove(start),
            };
        }
        Ok(summarize(key, all.values()))
    }

    /// Replaces the whole index with `parts` `(pv, tier, key, record)`,
    /// computing summaries and totals in memory (rebuilds). Only the
    /// differences are written, so re-running a rebuild over an unchanged
    /// tree writes nothing. Journals and intents are dropped (the files are
    /// the truth). Partitions of one `(pv, tier)` must not repeat a start.
    pub fn load_fresh(&self, parts: &[(String, u8, String, PartitionEntry)]) -> Result<(), IndexError> {
        self.load_fresh_with(parts, &[])
    }

    /// [`Index::load_fresh`] with the frame keys of compressed partitions
    /// `(pv, tier, partition start, frames)`.
    pub fn load_fresh_with(
        &self,
        parts: &[(String, u8, String, PartitionEntry)],
        frames: &[(String, u8, i64, Vec<FrameKey>)],
    ) -> Result<(), IndexError> {
        let _guard = self.lock();
        let mut groups: BTreeMap<(&str, u8), (&str, Vec<&PartitionEntry>)> = BTreeMap::new();
        for (pv, tier, key, e) in parts {
            groups
                .entry((pv.as_str(), *tier))
                .or_insert_with(|| (key.as_str(), Vec::new()))
                .1
                .push(e);
        }
        let mut desired: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut totals: HashMap<u8, TierTotals> = HashMap::new();
        for ((pv, tier), (key, mut es)) in groups {
            es.sort_by_key(|e| e.start);
            for e in &es {
                desired.insert(keys::partition(pv, tier, e.start), encode(*e));
            }
            let sum = summarize(key, es.iter().copied());
            let t = totals.entry(tier).or_default();
            t.files += sum.files;
            t.bytes += sum.bytes;
            desired.insert(keys::summary(pv, tier), encode(&sum));
        }
        for (tier, t) in totals {
            desired.insert(keys::totals(tier).to_vec(), encode(&t));
        }
        for (pv, tier, start, fs) in frames {
            for (first, rec) in fs {
                desired.insert(keys::frame(pv, *tier, *start, *first), encode(rec));
            }
        }
        // Merge-join the current tree (key order) with the desired content.
        let mut batch = Batch::new();
        let mut want = desired.iter().peekable();
        for item in self.tree.scan_prefix(b"") {
            let (k, v) = item?;
            while let Some((dk, dv)) = want.peek() {
                if dk.as_slice() < k.as_slice() {
                    batch.put((*dk).clone(), (*dv).clone());
                    want.next();
                } else {
                    break;
                }
            }
            match want.peek() {
                Some((dk, dv)) if dk.as_slice() == k.as_slice() => {
                    if dv.as_slice() != v.as_slice() {
                        batch.put(k, (*dv).clone());
                    }
                    want.next();
                }
                _ => batch.delete(k),
            }
            if batch.len() >= 50_000 {
                self.tree.apply_batch(&batch)?;
                batch = Batch::new();
            }
        }
        for (dk, dv) in want {
            batch.put(dk.clone(), dv.clone());
            if batch.len() >= 50_000 {
                self.tree.apply_batch(&batch)?;
                batch = Batch::new();
            }
        }
        self.tree.apply_batch(&batch)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Removes everything (used before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        let _guard = self.lock();
        self.tree.clear()?;
        Ok(())
    }

    /// Stores a rename journal record (the commit point of a rename).
    pub fn put_journal(&self, from: &str, record: &[u8]) -> Result<(), IndexError> {
        self.tree.insert(&keys::journal(from), record)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Removes a rename journal record.
    pub fn remove_journal(&self, from: &str) -> Result<(), IndexError> {
        self.tree.remove(&keys::journal(from))?;
        self.tree.flush()?;
        Ok(())
    }

    /// All rename journal records `(from, record)`.
    pub fn journals(&self) -> Result<Vec<(String, Vec<u8>)>, IndexError> {
        self.tree
            .scan_prefix(&[keys::JOURNAL])
            .map(|r| {
                let (k, v) = r?;
                Ok((String::from_utf8_lossy(&k[1..]).into_owned(), v))
            })
            .collect()
    }

    /// Records, durably, that new partition files are about to be created,
    /// so that a crash between writing them and recording them is repaired
    /// on the next open. Cleared by [`Index::apply`] for the same partitions.
    pub fn put_intents(&self, intents: &[(String, u8, i64)]) -> Result<(), IndexError> {
        if intents.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for (pv, tier, start) in intents {
            batch.put(keys::intent(pv, *tier, *start), Vec::new());
        }
        self.tree.apply_batch(&batch)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Pending write intents `(pv, tier, start)`.
    pub fn intents(&self) -> Result<Vec<(String, u8, i64)>, IndexError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(&[keys::INTENT]) {
            let (k, _) = item?;
            if let Some((pv, tier, start)) = keys::parse_intent(&k) {
                out.push((pv.to_string(), tier, start));
            }
        }
        Ok(out)
    }

    /// Drops intents (after reconciling them).
    pub fn clear_intents(&self, intents: &[(String, u8, i64)]) -> Result<(), IndexError> {
        let mut batch = Batch::new();
        for (pv, tier, start) in intents {
            batch.delete(keys::intent(pv, *tier, *start));
        }
        self.tree.apply_batch(&batch)?;
        Ok(())
    }

    /// Persists all index writes.
    pub fn flush(&self) -> Result<(), IndexError> {
        self.tree.flush()?;
        Ok(())
    }
}

/// Builds a summary from partitions given oldest first.
pub fn summarize<'a>(key: &str, parts: impl Iterator<Item = &'a PartitionEntry>) -> PvSummary {
    let mut s = PvSummary {
        key: key.to_string(),
        ..Default::default()
    };
    for e in parts {
        s.files += 1;
        s.bytes += e.bytes;
        s.samples += e.samples;
        if s.first.is_none_or(|f| e.first < f) {
            s.first = Some(e.first);
        }
        if s.last.is_none() || e.start >= s.newest_start {
            s.newest_start = e.start;
            s.last = Some(e.last);
            s.last_year = e.year;
            s.db_type = e.db_type;
            s.last_sample.clone_from(&e.last_sample);
        }
    }
    s
}

/// Iterator over partition records, newest first.
pub struct PartitionIter<'a> {
    inner: kv::KvIter<'a>,
}

impl Iterator for PartitionIter<'_> {
    type Item = Result<PartitionEntry, IndexError>;
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        Some(
            item.map_err(IndexError::from)
                .and_then(|(_, v)| Ok(decode(TREE, &v)?)),
        )
    }
}

#[cfg(test)]
#[path = "index_test.rs"]
mod index_test;
