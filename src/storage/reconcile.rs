//! Reconciling the index with the files (the files are the truth).
//!
//! On open: for every (PV, tier) the newest partition (or every partition
//! when the index is small) is compared with its file: a missing file drops
//! its record (and triggers a check of all of that PV's files), a length
//! change rescans the file's head and tail, a damaged tail is cut off.
//! Write intents left by an interrupted flush are resolved the same way.
//!
//! Compressed partitions (`.pb.zst`) are read through their frames: a
//! partial last frame or a missing table (a crash during an ETL append) is
//! cut back to the last complete frame and a fresh table is written; the
//! record and its frame keys are stored in one batch. A tier holding both
//! forms of one partition (never written by strata; copied in by hand) keeps
//! the plain `.pb` as the partition, as `strata-rebuild-index` does, and
//! leaves the `.pb.zst` on disk untouched (rebuild lists it as a problem).

use std::collections::BTreeSet;

use super::error::StoreError;
use super::store::{Inner, PlainPbStore};
use crate::index::entry::to_ts;
use crate::index::{Change, FrameKey, PartitionEntry};
use crate::plainpb::{
    compressed_path, examine_zst, is_compressed_path, last_sample_time, PbFile, PB_EXTENSION,
};

/// What a reconcile pass found and repaired.
#[derive(Debug, Default, Clone)]
pub struct ReconcileReport {
    /// Files compared with their records.
    pub checked: u64,
    /// Records whose file changed length and was rescanned.
    pub rescanned: Vec<String>,
    /// Records dropped because their file is gone.
    pub missing: Vec<String>,
    /// Files cut back to their last complete sample.
    pub trimmed: Vec<(String, u64)>,
    /// Files found through write intents and recorded.
    pub recovered: Vec<String>,
    /// Files that could not be read (left as they are, reported).
    pub unreadable: Vec<(String, String)>,
    /// ETL sources whose move was recorded before a crash, now deleted.
    pub moved_deleted: Vec<String>,
}

impl ReconcileReport {
    /// True if nothing needed repair.
    pub fn is_clean(&self) -> bool {
        self.rescanned.is_empty()
            && self.missing.is_empty()
            && self.trimmed.is_empty()
            && self.recovered.is_empty()
            && self.unreadable.is_empty()
            && self.moved_deleted.is_empty()
    }

    pub(crate) fn merge(&mut self, o: ReconcileReport) {
        self.checked += o.checked;
        self.rescanned.extend(o.rescanned);
        self.missing.extend(o.missing);
        self.trimmed.extend(o.trimmed);
        self.recovered.extend(o.recovered);
        self.unreadable.extend(o.unreadable);
        self.moved_deleted.extend(o.moved_deleted);
    }
}

/// The changes recording `entry` (and, for a compressed partition, its
/// frame keys) in one batch.
pub(crate) fn upsert(
    pv: &str,
    tier: u8,
    key: &str,
    entry: PartitionEntry,
    frames: Option<Vec<FrameKey>>,
) -> Vec<Change> {
    let start = entry.start;
    let mut out = vec![Change::Upsert {
        pv: pv.to_string(),
        tier,
        key: key.to_string(),
        entry,
    }];
    if let Some(frames) = frames {
        out.push(Change::Frames {
            pv: pv.to_string(),
            tier,
            start,
            frames,
        });
    }
    out
}

/// A partition record read from its file, with the frame keys of a
/// compressed one.
pub(crate) type FileRecord = (PartitionEntry, Option<Vec<FrameKey>>);

/// Builds a record for a partition file of either form (by its name),
/// cutting a damaged tail; a compressed one comes with its frame keys.
pub(crate) fn file_record(
    path: &std::path::Path,
    rel: &str,
    start: i64,
    report: &mut ReconcileReport,
) -> Result<Option<FileRecord>, StoreError> {
    if !is_compressed_path(rel) {
        return Ok(record_from_file(path, rel, start, report)?.map(|e| (e, None)));
    }
    let info = examine_zst(path, true)?;
    if info.trimmed > 0 {
        report
            .trimmed
            .push((path.display().to_string(), info.table.data_end));
    }
    let (Some(_), Some(_), Some(line)) = (info.first, &info.last, &info.last_line) else {
        return Ok(None);
    };
    let mut last_raw = Vec::new();
    crate::plainpb::unescape_into(line, &mut last_raw).map_err(|e| StoreError::Encode {
        pv: info.desc.pv_name.clone(),
        reason: e.to_string(),
    })?;
    let frames = crate::index::frame_keys(&info.table.frames);
    Ok(PartitionEntry::of_compressed(&info, rel.to_string(), start, last_raw).map(|e| (e, Some(frames))))
}

/// Builds a record for a plain file from its head and tail, cutting a damaged tail.
pub(crate) fn record_from_file(
    path: &std::path::Path,
    rel: &str,
    start: i64,
    report: &mut ReconcileReport,
) -> Result<Option<PartitionEntry>, StoreError> {
    let pb = PbFile::open(path)?;
    let info = pb.info()?;
    if let Some(at) = info.damaged_tail {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("open", path, e))?;
        f.set_len(at).map_err(|e| StoreError::io("truncate", path, e))?;
        tracing::warn!(path = %path.display(), offset = at, cut = info.len - at, "cut damaged tail");
        report.trimmed.push((path.display().to_string(), at));
    }
    let (Some(first), Some(last), Some(_)) = (&info.first, &info.last, &info.last_line) else {
        return Ok(None);
    };
    let samples = pb.count_lines(info.good_len)?;
    let mut last_raw = Vec::new();
    if let Some(l) = &info.last_line {
        crate::plainpb::unescape_into(l, &mut last_raw).map_err(|e| StoreError::Encode {
            pv: info.desc.pv_name.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(Some(PartitionEntry {
        path: rel.to_string(),
        start,
        year: info.desc.year,
        db_type: info.desc.db_type.as_i32(),
        first: to_ts(first.ts()),
        last: to_ts(last.ts()),
        samples,
        samples_exact: true,
        bytes: info.good_len,
        last_sample: last_raw,
        compressed: false,
    }))
}

impl Inner {
    /// Drops the cached write state of `pv` if nothing is buffered, so the
    /// next append reloads it from the (reconciled) index.
    pub(crate) fn forget_if_idle(&self, pv: &str) {
        let idle = self
            .buffers
            .existing(pv)
            .is_some_and(|st| super::buffer::lock(&st).segments.is_empty());
        if idle {
            self.buffers.evict(pv);
        }
    }

    /// Checks the records of `pv` in this tier (all of them, or the newest).
    pub(crate) fn reconcile_pv(&self, pv: &str, all: bool) -> Result<ReconcileReport, StoreError> {
        let mut report = ReconcileReport::default();
        let Some(sum) = self.index.summary(pv, self.tier)? else {
            return Ok(report);
        };
        let mut parts = if all {
            self.index.partitions(pv, self.tier)?
        } else {
            self.index
                .partition(pv, self.tier, sum.newest_start)?
                .into_iter()
                .collect()
        };
        let mut changes = Vec::new();
        let mut checked_all = all;
        let mut i = 0;
        while i < parts.len() {
            let e = parts[i].clone();
            i += 1;
            report.checked += 1;
            let path = self.root.join(&e.path);
            match std::fs::metadata(&path) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!(pv, path = %path.display(), "file deleted behind the index; dropping its record");
                    report.missing.push(path.display().to_string());
                    changes.push(Change::Remove {
                        pv: pv.to_string(),
                        tier: self.tier,
                        start: e.start,
                    });
                    if !checked_all {
                        checked_all = true;
                        parts.extend(
                            self.index
                                .partitions(pv, self.tier)?
                                .into_iter()
                                .filter(|p| p.start != e.start),
                        );
                    }
                }
                Err(err) => return Err(StoreError::io("stat", path, err)),
                Ok(md) if md.len() == e.bytes => {}
                Ok(_) => {
                    report.rescanned.push(path.display().to_string());
                    match file_record(&path, &e.path, e.start, &mut report) {
                        Ok(Some((new, frames))) => {
                            tracing::info!(pv, path = %path.display(), old_bytes = e.bytes, new_bytes = new.bytes, "record updated from file");
                            changes.extend(upsert(pv, self.tier, &sum.key, new, frames));
                        }
                        Ok(None) => changes.push(Change::Remove {
                            pv: pv.to_string(),
                            tier: self.tier,
                            start: e.start,
                        }),
                        Err(err) => report
                            .unreadable
                            .push((path.display().to_string(), err.to_string())),
                    }
                }
            }
        }
        self.index.apply(&changes)?;
        Ok(report)
    }

    /// Finishes ETL moves of this tier's sources that were recorded (the
    /// samples are in the destination's records) but whose file was not yet
    /// deleted: a file still as planned is deleted; one that changed since
    /// (a late sample) is recorded again so nothing is lost.
    pub(crate) fn reconcile_pending_deletes(&self) -> Result<ReconcileReport, StoreError> {
        let mut report = ReconcileReport::default();
        let mut done = Vec::new();
        for (pv, tier, start, d) in self.index.pending_deletes()? {
            if tier != self.tier {
                continue;
            }
            done.push((pv.clone(), tier, start));
            if self.index.partition(&pv, tier, start)?.is_some() {
                continue;
            }
            let path = self.root.join(&d.path);
            let md = match std::fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("stat", path, e)),
                Ok(md) => md,
            };
            let unchanged =
                md.len() == d.bytes && last_sample_time(&path).ok().flatten().map(to_ts) == Some(d.last);
            if unchanged {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("delete", path, e)),
                }
                tracing::info!(pv, path = %path.display(), "deleted an ETL source moved before a crash");
                report.moved_deleted.push(path.display().to_string());
                continue;
            }
            let key = self
                .index
                .summary(&pv, tier)?
                .map(|s| s.key)
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| crate::plainpb::pv_key(&pv));
            match file_record(&path, &d.path, start, &mut report) {
                Ok(Some((e, frames))) => {
                    tracing::warn!(pv, path = %path.display(), "ETL source changed after its move; recorded again");
                    report.recovered.push(path.display().to_string());
                    self.index.apply(&upsert(&pv, tier, &key, e, frames))?;
                }
                Ok(None) => {}
                Err(err) => report
                    .unreadable
                    .push((path.display().to_string(), err.to_string())),
            }
        }
        self.index.clear_pending_deletes(&done)?;
        Ok(report)
    }

    /// Resolves write intents of this tier: record the files they name.
    fn reconcile_intents(&self) -> Result<ReconcileReport, StoreError> {
        let mut report = ReconcileReport::default();
        let intents: Vec<_> = self
            .index
            .intents()?
            .into_iter()
            .filter(|(_, t, _)| *t == self.tier)
            .collect();
        let mut changes = Vec::new();
        for (pv, _, start) in &intents {
            if self.index.partition(pv, self.tier, *start)?.is_some() {
                continue;
            }
            let key = self
                .index
                .summary(pv, self.tier)?
                .map(|s| s.key)
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| crate::plainpb::pv_key(pv));
            let (dir, prefix) = crate::plainpb::key_to_relative_dir(&key);
            let rel = dir
                .join(format!(
                    "{prefix}{}{PB_EXTENSION}",
                    self.granularity.partition_name(*start)
                ))
                .to_string_lossy()
                .into_owned();
            // The plain form wins when both exist (see the module docs).
            let zrel = compressed_path(&rel);
            let rel = if self.root.join(&rel).exists() {
                rel
            } else if self.root.join(&zrel).exists() {
                zrel
            } else {
                continue;
            };
            let path = self.root.join(&rel);
            match file_record(&path, &rel, *start, &mut report) {
                Ok(Some((e, frames))) => {
                    tracing::warn!(pv, path = %path.display(), samples = e.samples, "recorded a file written before a crash");
                    report.recovered.push(path.display().to_string());
                    changes.extend(upsert(pv, self.tier, &key, e, frames));
                }
                Ok(None) => {}
                Err(err) => report
                    .unreadable
                    .push((path.display().to_string(), err.to_string())),
            }
        }
        self.index.apply(&changes)?;
        self.index.clear_intents(&intents)?;
        Ok(report)
    }
}

impl PlainPbStore {
    /// Reconciles one PV of this tier (all of its files).
    pub fn reconcile_pv(&self, pv: &str) -> Result<ReconcileReport, StoreError> {
        self.inner.flush(vec![pv.to_string()], false)?;
        let _cycle = self.inner.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.forget_if_idle(pv);
        self.inner.reconcile_pv(pv, true)
    }

    /// Reconciles every PV of this tier. `all_files`: check every file, not
    /// only each PV's newest.
    pub fn reconcile(&self, all_files: bool) -> Result<ReconcileReport, StoreError> {
        self.flush_blocking(false)?;
        let _cycle = self.inner.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut report = self.inner.reconcile_pending_deletes()?;
        report.merge(self.inner.reconcile_intents()?);
        let pvs: BTreeSet<String> = self
            .inner
            .index
            .summaries()
            .filter_map(|r| r.ok())
            .filter(|(_, t, _)| *t == self.inner.tier)
            .map(|(pv, _, _)| pv)
            .collect();
        for pv in pvs {
            self.inner.forget_if_idle(&pv);
            report.merge(self.inner.reconcile_pv(&pv, all_files)?);
        }
        Ok(report)
    }
}
