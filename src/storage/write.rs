//! The write path of one tier: appends into per-PV buffers, flush cycles
//! (durable intent → file writes → sync per policy → index records) and
//! deletes. A flush never records in the index what is not in the files.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::blocking;
use super::buffer::{lock, Appended, PvState, Segment};
use super::config::FsyncPolicy;
use super::error::StoreError;
use super::store::{Inner, PlainPbStore};
use crate::index::entry::{to_ts, ts as entry_ts};
use crate::index::{Change, PartitionEntry, PvSummary};
use crate::plainpb::{key_to_relative_dir, pv_key, AppendTarget, Appender, PbFile};
use crate::storage::AppendMeta;
use crate::types::{ArchDbType, ArchiverSample};

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

/// One PV's buffers taken by a flush cycle.
struct Taken {
    pv: String,
    state: Arc<Mutex<PvState>>,
    segments: Vec<Arc<Segment>>,
    /// Storage key for the PV's files.
    key: String,
    meta: Option<AppendMeta>,
}

/// What a flush cycle wrote for one PV.
struct Written {
    pv: String,
    state: Arc<Mutex<PvState>>,
    /// Index records of the segments written (also those before a failure).
    changes: Vec<Change>,
    samples: u64,
    bytes: u64,
    result: Result<(), StoreError>,
}

impl PlainPbStore {
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
    /// Deletes all files of `pv` in this tier and their records (blocking).
    pub fn delete_blocking(&self, pv: &str) -> Result<u64, StoreError> {
        self.inner.delete(pv)
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
        let taken = self.take_buffers(pvs, try_lock, &mut out.deferred);
        self.buffers.requeue(&out.deferred);
        if let Err(e) = self.put_intents(&taken) {
            // Nothing was written: the segments go back to their buffers
            // (no PV is reported written, so nothing is acknowledged).
            self.restore(taken);
            return Err(e);
        }
        let results = self.write_all(taken);
        let mut changes = Vec::new();
        let mut done = Vec::new();
        for written in results {
            out.samples += written.samples;
            out.bytes += written.bytes;
            // Files written before a failure stay recorded.
            changes.extend(written.changes);
            match written.result {
                Ok(()) => {
                    out.written.push(written.pv);
                    done.push(written.state);
                }
                Err(e) => {
                    // The rest of this PV's buffer is lost and reported.
                    tracing::error!(pv = %written.pv, tier = %self.name, error = %e, "write failed; buffered samples dropped");
                    lock(&written.state).inflight.clear();
                    self.buffers.evict(&written.pv);
                    out.failed.push(written.pv);
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

    /// Moves the buffered segments of `pvs` in flight (still visible to
    /// reads); with `try_lock`, PVs locked by an append go to `deferred`.
    fn take_buffers(&self, pvs: Vec<String>, try_lock: bool, deferred: &mut Vec<String>) -> Vec<Taken> {
        let mut taken = Vec::new();
        for pv in pvs {
            let Some(state) = self.buffers.existing(&pv) else {
                continue;
            };
            let mut st = if try_lock {
                match state.try_lock() {
                    Ok(g) => g,
                    Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => {
                        deferred.push(pv);
                        continue;
                    }
                }
            } else {
                lock(&state)
            };
            st.queued = false;
            if st.segments.is_empty() {
                continue;
            }
            let segments: Vec<Arc<Segment>> = std::mem::take(&mut st.segments)
                .into_iter()
                .map(Arc::new)
                .collect();
            st.inflight = segments.clone();
            let n = st.buffered;
            st.buffered = 0;
            self.buffers.total.fetch_sub(
                n.min(self.buffers.total.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            let key = st.key.clone();
            let meta = st.meta.clone();
            drop(st);
            taken.push(Taken {
                pv,
                state,
                segments,
                key,
                meta,
            });
        }
        taken
    }

    /// Returns taken segments to their PVs' buffers.
    fn restore(&self, taken: Vec<Taken>) {
        for t in taken {
            let mut st = lock(&t.state);
            let segs = t
                .segments
                .into_iter()
                .map(|s| Arc::try_unwrap(s).unwrap_or_else(|a| (*a).clone()))
                .collect();
            self.buffers.restore(&t.pv, &mut st, segs);
        }
    }

    /// Partitions without a record get a durable intent before their file
    /// is created, so that reconcile finds them after a crash.
    fn put_intents(&self, taken: &[Taken]) -> Result<(), StoreError> {
        let mut intents = Vec::new();
        for t in taken {
            for seg in &t.segments {
                if self.index.partition(&t.pv, self.tier, seg.start)?.is_none() {
                    intents.push((t.pv.clone(), self.tier, seg.start));
                }
            }
        }
        Ok(self.index.put_intents(&intents)?)
    }

    /// Writes the taken PVs, in parallel when there are many (file creation
    /// is kernel-bound); each PV's segments stay in order on one thread.
    fn write_all(&self, taken: Vec<Taken>) -> Vec<Written> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4);
        if taken.len() < 16 || threads == 1 {
            return taken.into_iter().map(|t| self.write_pv(t)).collect();
        }
        let mut chunks: Vec<Vec<Taken>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, t) in taken.into_iter().enumerate() {
            chunks[i % threads].push(t);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|c| scope.spawn(|| c.into_iter().map(|t| self.write_pv(t)).collect::<Vec<_>>()))
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
    }

    /// Writes one PV's segments in order, stopping at the first error.
    fn write_pv(&self, t: Taken) -> Written {
        let mut written = Written {
            pv: t.pv,
            state: t.state,
            changes: Vec::new(),
            samples: 0,
            bytes: 0,
            result: Ok(()),
        };
        for seg in &t.segments {
            match self.write_segment(&written.pv, &t.key, t.meta.as_ref(), seg) {
                Ok((entry, bytes)) => {
                    written.samples += seg.count();
                    written.bytes += bytes;
                    written.changes.push(Change::Upsert {
                        pv: written.pv.clone(),
                        tier: self.tier,
                        key: t.key.clone(),
                        entry,
                    });
                }
                Err(e) => {
                    written.result = Err(e);
                    break;
                }
            }
        }
        written
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
fn sync_fs(root: &Path) -> Result<(), StoreError> {
    use std::os::unix::io::AsRawFd;
    let dir = std::fs::File::open(root).map_err(|e| StoreError::io("open for syncfs", root, e))?;
    // SAFETY: `dir` is an open file descriptor for the duration of the call.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc != 0 {
        return Err(StoreError::io("syncfs", root, std::io::Error::last_os_error()));
    }
    Ok(())
}
