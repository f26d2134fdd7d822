//! `PlainPbStore`: one tier of PlainPB partition files with its records in
//! the shared partition index.
//!
//! Reads choose partitions from the index (never by probing names on disk)
//! and seek inside files by binary search. Writes go through per-PV buffers
//! ([`super::buffer`]) and flush cycles that write files first and record
//! them in the index afterwards.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use async_trait::async_trait;

use super::blocking;
use super::buffer::{lock, Appended, Buffers, PvState, Segment};
use super::config::{FsyncPolicy, TierConfig};
use super::error::StoreError;
use super::source::{MemLines, Source};
use crate::index::entry::{to_ts, ts as entry_ts};
use crate::index::{Change, Index, PartitionEntry, PvSummary};
use crate::plainpb::{decode_sample, key_to_relative_dir, pv_key, AppendTarget, Appender, PbFile};
use crate::storage::partition::PartitionGranularity;
use crate::storage::{AppendMeta, EventStream, IngestFlushResult, StoragePlugin, StoreSummary};
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, Timestamp};

/// Storage keys that differ from the default rule (PVTypeInfo `chunkKey`).
pub type KeyOverrides = Arc<RwLock<HashMap<String, String>>>;

/// Result of one flush cycle of a tier.
#[derive(Debug, Default, Clone)]
pub struct FlushOutcome {
    /// PVs written and recorded.
    pub written: Vec<String>,
    /// PVs whose buffered bytes were lost (write error).
    pub failed: Vec<String>,
    /// PVs busy in an append; still buffered.
    pub deferred: Vec<String>,
    /// Samples written.
    pub samples: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Write statistics of one PV in one tier.
#[derive(Debug, Clone, Default)]
pub struct PvWriteStats {
    /// Bytes buffered, not yet written.
    pub buffered_bytes: usize,
    /// Samples dropped because their time was not after the newest stored one.
    pub dropped_time: u64,
    /// Samples dropped because of a type change.
    pub dropped_type: u64,
}

/// Guard returned by [`PlainPbStore::hold_pv_lock`].
#[doc(hidden)]
pub struct PvLockHold {
    release: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for PvLockHold {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) struct Inner {
    pub name: String,
    pub root: PathBuf,
    pub granularity: PartitionGranularity,
    pub tier: u8,
    pub index: Arc<Index>,
    pub buffers: Buffers,
    /// Held for a whole flush cycle and by every other index writer of this tier.
    pub flush_lock: Mutex<()>,
    pub fsync: FsyncPolicy,
    pub pv_limit: usize,
    pub total_limit: usize,
    pub keys: KeyOverrides,
}

/// One PlainPB tier. Cheap to clone (a handle).
#[derive(Clone)]
pub struct PlainPbStore {
    pub(crate) inner: Arc<Inner>,
}

/// Buffer limits and policy shared by the tiers of a chain.
#[derive(Debug, Clone, Copy)]
pub struct WriteLimits {
    /// Per-PV buffer limit (bytes).
    pub pv_bytes: usize,
    /// Store-wide buffer limit (bytes).
    pub total_bytes: usize,
    /// Fsync policy.
    pub fsync: FsyncPolicy,
}

impl PlainPbStore {
    /// A tier numbered `tier` (its position in the chain) over `index`.
    pub fn new(
        cfg: &TierConfig,
        tier: u8,
        index: Arc<Index>,
        limits: WriteLimits,
        keys: KeyOverrides,
    ) -> Self {
        PlainPbStore {
            inner: Arc::new(Inner {
                name: cfg.name.clone(),
                root: cfg.root.clone(),
                granularity: cfg.granularity,
                tier,
                index,
                buffers: Buffers::new(cfg.granularity),
                flush_lock: Mutex::new(()),
                fsync: limits.fsync,
                pv_limit: limits.pv_bytes,
                total_limit: limits.total_bytes,
                keys,
            }),
        }
    }

    /// Root folder.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Tier number.
    pub fn tier(&self) -> u8 {
        self.inner.tier
    }

    /// Store URL in Java's form, for PVTypeInfo `dataStores`.
    pub fn url(&self) -> String {
        format!(
            "pb://localhost?name={}&rootFolder={}&partitionGranularity={}",
            self.inner.name,
            self.inner.root.display(),
            self.inner.granularity.java_name()
        )
    }

    /// Writes all buffers of this tier (blocking).
    pub fn flush_blocking(&self, try_lock: bool) -> Result<FlushOutcome, StoreError> {
        let pvs = self.inner.buffers.take_dirty(None);
        self.inner.flush(pvs, try_lock)
    }

    /// Write statistics of `pv` in this tier.
    pub fn write_stats(&self, pv: &str) -> PvWriteStats {
        match self.inner.buffers.existing(pv) {
            Some(st) => {
                let st = lock(&st);
                PvWriteStats {
                    buffered_bytes: st.buffered,
                    dropped_time: st.dropped_time,
                    dropped_type: st.dropped_type,
                }
            }
            None => PvWriteStats::default(),
        }
    }

    /// Holds `pv`'s buffer lock on a helper thread until the guard is
    /// dropped, as an in-flight append would (tests of deferred flushes).
    #[doc(hidden)]
    pub fn hold_pv_lock(&self, pv: &str) -> PvLockHold {
        let st = self.inner.buffers.state(pv);
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _g = lock(&st);
            let _ = locked_tx.send(());
            let _ = release_rx.recv();
        });
        let _ = locked_rx.recv();
        PvLockHold {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }

    /// Bytes buffered across all PVs of this tier.
    pub fn buffered_bytes(&self) -> usize {
        self.inner.buffers.total.load(Ordering::Relaxed)
    }

    /// Samples dropped as not later than the newest stored one, since start.
    pub fn dropped_time_total(&self) -> u64 {
        self.inner.buffers.dropped_time.load(Ordering::Relaxed)
    }

    /// Sources for `pv` in `[from, to]` (blocking): the previous partition's
    /// last sample when needed, partition files, then buffered samples.
    pub fn sources_blocking(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Source>, StoreError> {
        self.inner.sources(pv, from, to)
    }

    /// Newest sample strictly before `t` (blocking).
    pub fn last_before_blocking(&self, pv: &str, t: Timestamp) -> Result<Option<ArchiverSample>, StoreError> {
        self.inner.last_before(pv, t)
    }

    /// Newest sample (buffered or stored).
    pub fn last_known(&self, pv: &str) -> Result<Option<ArchiverSample>, StoreError> {
        self.inner.last_known(pv)
    }

    /// Deletes all files of `pv` in this tier and their records (blocking).
    pub fn delete_blocking(&self, pv: &str) -> Result<u64, StoreError> {
        self.inner.delete(pv)
    }

    /// The index summary of `pv` in this tier.
    pub fn summary(&self, pv: &str) -> Result<Option<PvSummary>, StoreError> {
        Ok(self.inner.index.summary(pv, self.inner.tier)?)
    }

    fn summary_for(&self, pv: Option<&str>) -> anyhow::Result<StoreSummary> {
        let inner = &self.inner;
        let mut s = StoreSummary {
            name: inner.name.clone(),
            root_folder: inner.root.clone(),
            granularity: inner.granularity,
            pv_file_count: None,
            pv_size_bytes: None,
            total_size_bytes: None,
            total_files: None,
        };
        match pv {
            Some(pv) => {
                let sum = inner.index.summary(pv, inner.tier)?.unwrap_or_default();
                s.pv_file_count = Some(sum.files);
                s.pv_size_bytes = Some(sum.bytes);
            }
            None => {
                let t = inner.index.totals(inner.tier)?;
                s.total_files = Some(t.files);
                s.total_size_bytes = Some(t.bytes);
            }
        }
        Ok(s)
    }

    /// Appends with optional header metadata; flushes when buffers are full.
    pub async fn append(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
        meta: Option<&AppendMeta>,
    ) -> Result<(), StoreError> {
        let appended = self.inner.append(pv, dbr_type, sample, meta)?;
        let Appended::Buffered(pv_bytes) = appended else {
            return Ok(());
        };
        let total = self.inner.buffers.total.load(Ordering::Relaxed);
        if pv_bytes >= self.inner.pv_limit {
            let inner = self.inner.clone();
            let pv = pv.to_string();
            blocking(move || inner.flush(vec![pv], false).map(|_| ())).await?;
        } else if total >= self.inner.total_limit {
            // Write the oldest buffers until a quarter of the limit is free.
            let inner = self.inner.clone();
            blocking(move || {
                let pvs = inner.buffers.take_dirty(Some(inner.total_limit / 4));
                inner.flush(pvs, false).map(|_| ())
            })
            .await?;
        }
        Ok(())
    }
}

impl Inner {
    fn key_for(&self, pv: &str, summary: Option<&PvSummary>) -> String {
        if let Some(k) = self.keys.read().ok().and_then(|m| m.get(pv).cloned()) {
            return k;
        }
        match summary {
            Some(s) if !s.key.is_empty() => s.key.clone(),
            _ => pv_key(pv),
        }
    }

    fn load(&self, pv: &str, st: &mut PvState) -> Result<(), StoreError> {
        if st.loaded {
            return Ok(());
        }
        let summary = self.index.summary(pv, self.tier)?;
        st.key = self.key_for(pv, summary.as_ref());
        if let Some(s) = &summary {
            st.last_ts = s.last.map(entry_ts);
            st.db_type = ArchDbType::from_i32(s.db_type);
        }
        st.loaded = true;
        Ok(())
    }

    fn append(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
        meta: Option<&AppendMeta>,
    ) -> Result<Appended, StoreError> {
        let found = sample.value.db_type();
        if found != dbr_type {
            return Err(StoreError::ValueType {
                pv: pv.to_string(),
                declared: dbr_type,
                found,
            });
        }
        let st_arc = self.buffers.state(pv);
        let mut st = lock(&st_arc);
        self.load(pv, &mut st)?;
        match st.db_type {
            Some(stored) if stored != dbr_type => {
                st.dropped_type += 1;
                return Err(StoreError::TypeChange {
                    pv: pv.to_string(),
                    stored,
                    new: dbr_type,
                });
            }
            None => st.db_type = Some(dbr_type),
            _ => {}
        }
        if let Some(m) = meta {
            if !m.headers.is_empty() || m.element_count.is_some() {
                st.meta = Some(m.clone());
            }
        }
        let mut scratch = Vec::with_capacity(64);
        self.buffers
            .append_locked(pv, &mut st, sample, &mut scratch)
            .map_err(|reason| StoreError::Encode {
                pv: pv.to_string(),
                reason,
            })
    }

    pub(crate) fn relative_path(&self, key: &str, start: i64) -> String {
        let (dir, prefix) = key_to_relative_dir(key);
        let name = format!(
            "{prefix}{}{}",
            self.granularity.partition_name(start),
            crate::plainpb::PB_EXTENSION
        );
        dir.join(name).to_string_lossy().into_owned()
    }

    /// Writes one segment and returns its new index record.
    fn write_segment(
        &self,
        pv: &str,
        key: &str,
        meta: Option<&AppendMeta>,
        seg: &Segment,
    ) -> Result<(PartitionEntry, u64), StoreError> {
        let rel = self.relative_path(key, seg.start);
        let abs = self.root.join(&rel);
        let old = self.index.partition(pv, self.tier, seg.start)?;
        let target = AppendTarget {
            path: &abs,
            pv,
            db_type: seg.db_type,
            year: seg.year,
            header_extra: meta.map(|m| (m.element_count, m.headers.as_slice())),
        };
        let mut ap = Appender::open(&target, old.as_ref().map(|o| o.bytes))?;
        let trusted = old.as_ref().is_some_and(|o| o.bytes == ap.len) && ap.last.is_none();
        // When the file was examined (index behind or no record), keep only
        // samples after its newest one: strictly increasing within a file.
        let mut written = seg.count();
        let mut skip_to = 0usize;
        if let Some(last) = ap.last.as_ref().map(|s| s.ts()) {
            let keep = seg.partition_point(|t| t <= last);
            written -= keep as u64;
            skip_to = seg.offsets.get(keep).map_or(seg.lines.len(), |off| *off as usize);
        }
        let bytes = &seg.lines[skip_to..];
        ap.write_raw(bytes)?;
        if self.fsync == FsyncPolicy::File {
            ap.sync()?;
        }
        let (first, samples, exact) = if ap.created {
            (seg.first, written, true)
        } else if trusted {
            let o = old.as_ref().ok_or(StoreError::Task("record vanished".into()))?;
            (entry_ts(o.first), o.samples + written, o.samples_exact)
        } else {
            // The file was not what the index said: recount it.
            let pb = PbFile::open(&abs)?;
            let n = pb.count_lines(ap.len)?;
            let first = ap
                .first
                .as_ref()
                .map(|s| s.ts())
                .unwrap_or(seg.first)
                .min(seg.first);
            (first, n, true)
        };
        let last_sample = if written > 0 {
            seg.last_raw.clone()
        } else {
            old.as_ref().map(|o| o.last_sample.clone()).unwrap_or_default()
        };
        let last = if written > 0 {
            seg.last
        } else {
            ap.last.as_ref().map(|s| s.ts()).unwrap_or(seg.last)
        };
        Ok((
            PartitionEntry {
                path: rel,
                start: seg.start,
                year: seg.year,
                db_type: seg.db_type.as_i32(),
                first: to_ts(first),
                last: to_ts(last),
                samples,
                samples_exact: exact,
                bytes: ap.len,
                last_sample,
                compressed: false,
            },
            bytes.len() as u64,
        ))
    }

    /// One flush cycle over `pvs`: take their buffers, write files, sync per
    /// policy, then record in the index. `try_lock` defers busy PVs.
    pub(crate) fn flush(&self, pvs: Vec<String>, try_lock: bool) -> Result<FlushOutcome, StoreError> {
        let _cycle = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = FlushOutcome::default();
        let mut taken = Vec::new();
        for pv in pvs {
            let Some(st_arc) = self.buffers.existing(&pv) else {
                continue;
            };
            let mut st = if try_lock {
                match st_arc.try_lock() {
                    Ok(g) => g,
                    Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => {
                        out.deferred.push(pv);
                        continue;
                    }
                }
            } else {
                lock(&st_arc)
            };
            st.queued = false;
            if st.segments.is_empty() {
                continue;
            }
            let segs: Vec<Arc<Segment>> = std::mem::take(&mut st.segments)
                .into_iter()
                .map(Arc::new)
                .collect();
            st.inflight = segs.clone();
            let n = st.buffered;
            st.buffered = 0;
            self.buffers.total.fetch_sub(
                n.min(self.buffers.total.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            let key = st.key.clone();
            let meta = st.meta.clone();
            drop(st);
            taken.push((pv, st_arc, segs, key, meta));
        }
        self.buffers.requeue(&out.deferred);
        // Partitions without a record get a durable intent first.
        let mut intents = Vec::new();
        for (pv, _, segs, _, _) in &taken {
            for seg in segs {
                if self.index.partition(pv, self.tier, seg.start)?.is_none() {
                    intents.push((pv.clone(), self.tier, seg.start));
                }
            }
        }
        self.index.put_intents(&intents)?;
        // Write PVs in parallel (file creation is kernel-bound); each PV's
        // segments stay in order on one thread.
        type Taken = (
            String,
            Arc<Mutex<PvState>>,
            Vec<Arc<Segment>>,
            String,
            Option<AppendMeta>,
        );
        let write_pv = |(pv, st_arc, segs, key, meta): Taken| {
            let mut pv_changes = Vec::new();
            let (mut samples, mut bytes_out) = (0u64, 0u64);
            let mut result = Ok(());
            for seg in &segs {
                match self.write_segment(&pv, &key, meta.as_ref(), seg) {
                    Ok((entry, bytes)) => {
                        samples += seg.count();
                        bytes_out += bytes;
                        pv_changes.push(Change::Upsert {
                            pv: pv.clone(),
                            tier: self.tier,
                            key: key.clone(),
                            entry,
                        });
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            (pv, st_arc, pv_changes, samples, bytes_out, result)
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4);
        let results: Vec<_> = if taken.len() < 16 || threads == 1 {
            taken.into_iter().map(write_pv).collect()
        } else {
            let mut chunks: Vec<Vec<Taken>> = (0..threads).map(|_| Vec::new()).collect();
            for (i, t) in taken.into_iter().enumerate() {
                chunks[i % threads].push(t);
            }
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|c| scope.spawn(|| c.into_iter().map(write_pv).collect::<Vec<_>>()))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join().unwrap_or_else(|_| {
                            tracing::error!(tier = %self.name, "flush worker panicked; its PVs stay in flight");
                            Vec::new()
                        })
                    })
                    .collect()
            })
        };
        let mut changes = Vec::new();
        let mut done = Vec::new();
        for (pv, st_arc, pv_changes, samples, bytes, result) in results {
            out.samples += samples;
            out.bytes += bytes;
            match result {
                Ok(()) => {
                    changes.extend(pv_changes);
                    out.written.push(pv.clone());
                    done.push(st_arc);
                }
                Err(e) => {
                    // Files written before the failure stay recorded; the
                    // rest of this PV's buffer is lost and reported.
                    tracing::error!(pv = %pv, tier = %self.name, error = %e, "write failed; buffered samples dropped");
                    changes.extend(pv_changes);
                    lock(&st_arc).inflight.clear();
                    self.buffers.evict(&pv);
                    out.failed.push(pv);
                }
            }
        }
        if self.fsync == FsyncPolicy::Fs && !changes.is_empty() {
            sync_fs(&self.root)?;
        }
        self.index.apply(&changes)?;
        for st in done {
            lock(&st).inflight.clear();
        }
        if !out.written.is_empty() {
            tracing::debug!(tier = %self.name, pvs = out.written.len(), samples = out.samples, bytes = out.bytes, "flushed");
        }
        Ok(out)
    }

    fn desc_for(
        &self,
        pv: &str,
        db_type: ArchDbType,
        year: i32,
        meta: Option<&AppendMeta>,
    ) -> EventStreamDesc {
        let mut d = EventStreamDesc::new(pv, db_type, year);
        d.source = self.name.clone();
        if let Some(m) = meta {
            d.element_count = m.element_count;
            d.headers = m.headers.clone();
        }
        d
    }

    fn sample_from_record(db_type: i32, year: i32, raw: &[u8]) -> Result<Option<ArchiverSample>, StoreError> {
        let Some(ty) = ArchDbType::from_i32(db_type) else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Ok(None);
        }
        match decode_sample(ty, raw, year) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable last sample in index record");
                Ok(None)
            }
        }
    }

    pub(crate) fn sources(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Source>, StoreError> {
        let (previous, hits) = self.index.overlapping(pv, self.tier, from, to)?;
        let mut out = Vec::with_capacity(hits.len() + 2);
        let needs_previous = hits.first().is_none_or(|e| entry_ts(e.first) > from);
        if needs_previous {
            if let Some(p) = previous {
                if let Some(ty) = ArchDbType::from_i32(p.db_type) {
                    let mut m = MemLines::new(self.desc_for(pv, ty, p.year, None));
                    m.push_raw(entry_ts(p.last), &p.last_sample);
                    out.push(Source::Mem(m));
                }
            }
        }
        for e in hits {
            let path = self.root.join(&e.path);
            let file = match PbFile::open(&path) {
                Ok(f) => f,
                Err(crate::plainpb::Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    tracing::warn!(pv, path = %path.display(), "indexed file missing; skipped (reconcile will drop it)");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let start = (entry_ts(e.first) < from).then_some(from);
            let mut st = file.stream(start, Some(to))?;
            st.desc_mut().source = self.name.clone();
            st.set_bulk(e.bytes, entry_ts(e.last));
            out.push(Source::File(Box::new(st)));
        }
        // Samples not yet recorded: in a running flush, then in the buffer.
        if let Some(st_arc) = self.buffers.existing(pv) {
            let (inflight, segments, meta) = {
                let st = lock(&st_arc);
                (st.inflight.clone(), st.segments.clone(), st.meta.clone())
            };
            for seg in inflight.iter().map(|s| s.as_ref()).chain(segments.iter()) {
                if seg.first > to {
                    continue;
                }
                let lo = seg.partition_point(|t| t <= from).saturating_sub(1);
                let hi = seg.partition_point(|t| t <= to);
                if lo >= hi {
                    continue;
                }
                let mut m = MemLines::new(self.desc_for(pv, seg.db_type, seg.year, meta.as_ref()));
                for i in lo..hi {
                    m.push_escaped(seg.ts_at(i), seg.line(i));
                }
                out.push(Source::Mem(m));
            }
        }
        Ok(out)
    }

    fn buffered_before(&self, pv: &str, t: Timestamp) -> Result<Option<ArchiverSample>, StoreError> {
        let Some(st_arc) = self.buffers.existing(pv) else {
            return Ok(None);
        };
        let st = lock(&st_arc);
        for seg in st
            .segments
            .iter()
            .rev()
            .chain(st.inflight.iter().rev().map(|s| s.as_ref()))
        {
            let i = seg.partition_point(|ts| ts < t);
            if i == 0 {
                continue;
            }
            let mut raw = Vec::new();
            crate::plainpb::unescape_into(seg.line(i - 1), &mut raw).map_err(|e| StoreError::Encode {
                pv: pv.to_string(),
                reason: e.to_string(),
            })?;
            return Ok(decode_sample(seg.db_type, &raw, seg.year).ok());
        }
        Ok(None)
    }

    pub(crate) fn last_before(&self, pv: &str, t: Timestamp) -> Result<Option<ArchiverSample>, StoreError> {
        if let Some(s) = self.buffered_before(pv, t)? {
            return Ok(Some(s));
        }
        // The summary (one point look-up) settles a tier without this PV,
        // a `t` before all its data and a `t` after all of it.
        let Some(sum) = self.index.summary(pv, self.tier)? else {
            return Ok(None);
        };
        if sum.first.is_some_and(|f| entry_ts(f) >= t) {
            return Ok(None);
        }
        if sum.last.is_some_and(|l| entry_ts(l) < t) {
            return Self::sample_from_record(sum.db_type, sum.last_year, &sum.last_sample);
        }
        for e in self.index.at_or_before(pv, self.tier, t) {
            let e = e?;
            if entry_ts(e.first) >= t {
                continue;
            }
            if entry_ts(e.last) < t {
                return Self::sample_from_record(e.db_type, e.year, &e.last_sample);
            }
            let path = self.root.join(&e.path);
            let (first, last) = (entry_ts(e.first), entry_ts(e.last));
            // The answer lies in the indexed bytes (`t` <= the entry's last
            // time); a file that no longer matches its record is read whole.
            let quick = PbFile::open_prefix(&path, e.bytes)
                .and_then(|f| f.last_at_or_before_guided(t, true, first, last));
            return match quick {
                Ok(s) => Ok(s),
                Err(_) => Ok(PbFile::open(&path)?.last_at_or_before_guided(t, true, first, last)?),
            };
        }
        Ok(None)
    }

    pub(crate) fn last_known(&self, pv: &str) -> Result<Option<ArchiverSample>, StoreError> {
        if let Some(st_arc) = self.buffers.existing(pv) {
            let st = lock(&st_arc);
            if let Some(seg) = st.segments.last().or(st.inflight.last().map(|s| s.as_ref())) {
                return Ok(decode_sample(seg.db_type, &seg.last_raw, seg.year).ok());
            }
        }
        match self.index.summary(pv, self.tier)? {
            Some(s) => Self::sample_from_record(s.db_type, s.last_year, &s.last_sample),
            None => Ok(None),
        }
    }

    pub(crate) fn delete(&self, pv: &str) -> Result<u64, StoreError> {
        let _cycle = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.buffers.evict(pv);
        let parts = self.index.partitions(pv, self.tier)?;
        let mut changes = Vec::new();
        let mut deleted = 0;
        for e in &parts {
            let path = self.root.join(&e.path);
            match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    self.index.apply(&changes)?;
                    return Err(StoreError::io("delete", path, err));
                }
            }
            changes.push(Change::Remove {
                pv: pv.to_string(),
                tier: self.tier,
                start: e.start,
            });
        }
        self.index.apply(&changes)?;
        Ok(deleted)
    }
}

/// Flushes the file system holding `root` (Linux `syncfs`).
pub(crate) fn sync_fs(root: &Path) -> Result<(), StoreError> {
    use std::os::unix::io::AsRawFd;
    let dir = std::fs::File::open(root).map_err(|e| StoreError::io("open for syncfs", root, e))?;
    // SAFETY: `dir` is an open file descriptor for the duration of the call.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc != 0 {
        return Err(StoreError::io("syncfs", root, std::io::Error::last_os_error()));
    }
    Ok(())
}

#[async_trait]
impl StoragePlugin for PlainPbStore {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn partition_granularity(&self) -> PartitionGranularity {
        self.inner.granularity
    }

    async fn append_event(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
    ) -> anyhow::Result<()> {
        Ok(self.append(pv, dbr_type, sample, None).await?)
    }

    async fn append_event_with_meta(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
        meta: &AppendMeta,
    ) -> anyhow::Result<()> {
        Ok(self.append(pv, dbr_type, sample, Some(meta)).await?)
    }

    async fn get_data(
        &self,
        pv: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> anyhow::Result<Vec<Box<dyn EventStream>>> {
        let (from, to) = (Timestamp::from(start), Timestamp::from(end));
        let inner = self.inner.clone();
        let pv = pv.to_string();
        let sources = blocking(move || inner.sources(&pv, from, to)).await?;
        Ok(sources
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn EventStream>)
            .collect())
    }

    async fn get_last_known_event(&self, pv: &str) -> anyhow::Result<Option<ArchiverSample>> {
        Ok(self.last_known(pv)?)
    }

    async fn get_last_event_before(
        &self,
        pv: &str,
        target: SystemTime,
    ) -> anyhow::Result<Option<ArchiverSample>> {
        let inner = self.inner.clone();
        let pv = pv.to_string();
        let t = Timestamp::from(target);
        Ok(blocking(move || inner.last_before(&pv, t)).await?)
    }

    async fn delete_pv_data(&self, pv: &str) -> anyhow::Result<u64> {
        let inner = self.inner.clone();
        let pv = pv.to_string();
        Ok(blocking(move || inner.delete(&pv)).await?)
    }

    async fn flush_writes(&self) -> anyhow::Result<()> {
        let me = self.clone();
        blocking(move || me.flush_blocking(false)).await?;
        Ok(())
    }

    async fn flush_ingest_writes(&self) -> anyhow::Result<IngestFlushResult> {
        let me = self.clone();
        let out = blocking(move || me.flush_blocking(true)).await?;
        Ok(IngestFlushResult {
            failed: out.failed,
            deferred: out.deferred,
        })
    }

    fn stores_for_pv(&self, pv: &str) -> anyhow::Result<Vec<StoreSummary>> {
        Ok(vec![self.summary_for(Some(pv))?])
    }

    fn appliance_metrics(&self) -> anyhow::Result<Vec<StoreSummary>> {
        Ok(vec![self.summary_for(None)?])
    }
}
