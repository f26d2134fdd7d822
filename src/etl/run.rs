//! The ETL executor: carries out [`StagePlan`]s in *waves* — the stage
//! plans of many PVs at once — in six steps that leave a state reconcile
//! repairs if the process dies after any of them (`docs/etl-design.md`
//! §4.2–4.3). The steps and the wave are in `run/wave.rs`; this file holds
//! the destination writer (`DestFiles`) and the per-file append.
//!
//! 1. **Intent**: destination partitions without a record get a durable
//!    write intent before their file is created (one index batch per wave).
//! 2. **Append**: each source's sample lines are appended to the destination
//!    partitions (the destination's own boundaries; samples at or before
//!    the destination's newest one are skipped), verbatim for PlainPB
//!    lines, or the `reducedata` operator's output. Before each file the
//!    destination's free space is checked (`[etl] out_of_space`).
//! 3. **Sync**: every destination file written is made durable (always: the
//!    sources are deleted afterwards) — one sync point per wave.
//! 4. **Record**: under the source tiers' write locks, one index batch for
//!    the wave records the destinations and, for each source that still has
//!    the size and last sample of its plan, removes its record and stores a
//!    pending delete; a source that changed keeps its record.
//! 5. **Delete** the sources.
//! 6. **Clear** the pending deletes (one batch).
//!
//! A failure in steps 1–2 of one PV rolls its destination files back to
//! their length before the wave and retries its files one at a time, so the
//! files before the failing one still move; the rest waits for the next run.
//! A failing reducer keeps the source.

mod wave;

pub use wave::{Failed, WaveItem};

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::plan::{FileMove, MoveAction, OutOfSpace, StagePlan};
use crate::index::entry::{to_ts, ts as entry_ts};
use crate::index::{IndexError, PartitionEntry};
use crate::plainpb::{
    encode_sample_at, escape_into, unescape_into, AppendTarget, Appender, PbFile, SampleStream,
};
use crate::storage::{PlainPbStore, PostProcessor, Source, StoreError, TieredStore};
use crate::types::{ArchDbType, Timestamp};

/// Builds the `reducedata` post-processor named by a spec for a source
/// file spanning `[first, last]` (retrieval's registry, handed in because
/// retrieval sits above ETL).
pub type Reducer =
    Arc<dyn Fn(&str, Timestamp, Timestamp) -> Result<Box<dyn PostProcessor>, String> + Send + Sync>;

/// A write intent `(pv, tier, partition start)`.
type Intent = (String, u8, i64);

/// Bytes buffered before a destination write.
const WRITE_CHUNK: usize = 1 << 20;

/// A step of one file's move (crash-test hook points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write intents stored.
    Intent,
    /// Destination appended, not synced.
    Append,
    /// Destination synced.
    Sync,
    /// Index batch applied (destination recorded, source removed, pending delete).
    Record,
    /// Source file deleted.
    Delete,
    /// Pending delete cleared.
    Clear,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 6] = [
        Step::Intent,
        Step::Append,
        Step::Sync,
        Step::Record,
        Step::Delete,
        Step::Clear,
    ];
}

/// Where to stop a run, as a crash would (tests). Files are numbered
/// through the wave (the first PV's moves, then the next PV's, …).
/// [`Step::Append`] and [`Step::Delete`] are per file: the stop comes right
/// after that file's. The other steps are done once for the whole wave and
/// stop it when `file` is one of its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtlStop {
    /// Index of the file move in the wave.
    pub file: usize,
    /// Stop right after this step.
    pub after: Step,
}

/// An ETL run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtlError {
    /// Stopped by an [`EtlStop`] hook.
    #[error("ETL stopped after {step:?} of move {file}")]
    Stopped {
        /// Move index.
        file: usize,
        /// Step.
        step: Step,
    },
    /// A partition file could not be read or written.
    #[error("ETL of {pv}: {path}")]
    File {
        /// PV.
        pv: String,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: crate::plainpb::Error,
    },
    /// A file operation failed.
    #[error("ETL of {pv}: {op} {path}")]
    Io {
        /// PV.
        pv: String,
        /// Operation.
        op: &'static str,
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The `reducedata` operator failed (the source is kept).
    #[error("ETL of {pv}: reducedata {spec}: {message}")]
    Reduce {
        /// PV.
        pv: String,
        /// Post-processor spec.
        spec: String,
        /// Why.
        message: String,
    },
    /// A tier number that is not configured.
    #[error("ETL of {pv}: tier {tier} is not configured")]
    NoTier {
        /// PV.
        pv: String,
        /// Tier number.
        tier: u8,
    },
    /// A destination partition holds another payload type.
    #[error("ETL of {pv}: {path} holds type {found}, the moved samples are {moved}")]
    TypeMismatch {
        /// PV.
        pv: String,
        /// Destination file (relative).
        path: String,
        /// Type in the destination.
        found: i32,
        /// Type moved.
        moved: i32,
    },
}

/// Source and destination tier of a stage (`dest` `None`: a black hole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageTarget {
    /// Stage number in the PV's chain (0: out of the ingest tier; the
    /// out-of-space policy depends on it).
    pub stage: usize,
    /// Source tier.
    pub source: u8,
    /// Destination tier.
    pub dest: Option<u8>,
}

/// What one stage run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageOutcome {
    /// Source partitions whose samples were stored and which were deleted.
    pub moved: u64,
    /// Source partitions deleted without storing (black hole, blocked, already there).
    pub deleted: u64,
    /// Source partitions that changed after planning (kept; moved next run).
    pub changed: u64,
    /// Bytes appended to destination files.
    pub bytes: u64,
    /// Samples appended.
    pub samples: u64,
    /// Source partitions deleted without copying because the destination
    /// was out of space (`[etl] out_of_space`; data loss, logged at error).
    pub out_of_space_deleted: u64,
    /// The run stopped early because the destination was out of space.
    pub out_of_space_stopped: bool,
    /// This stage's share of the wall time of the waves it ran in (by
    /// files moved), so per-stage times add up to the time spent.
    pub elapsed: std::time::Duration,
}

impl StageOutcome {
    fn add(&mut self, o: &StageOutcome) {
        self.moved += o.moved;
        self.deleted += o.deleted;
        self.changed += o.changed;
        self.bytes += o.bytes;
        self.samples += o.samples;
        self.out_of_space_deleted += o.out_of_space_deleted;
        self.out_of_space_stopped |= o.out_of_space_stopped;
        self.elapsed += o.elapsed;
    }
}

/// How a wave makes its destination files durable before sources are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// `fdatasync` of each file written (after starting write-back of all of
    /// them), `fsync` of each folder in which a file was created.
    #[default]
    Files,
    /// One `syncfs(2)` per destination file system: one journal commit
    /// covers every file and folder of the wave, but also writes back
    /// whatever else is dirty on that file system.
    Fs,
}

/// Free space in bytes usable by this process on the file system holding a
/// path (`statvfs`: available blocks × fragment size).
pub type FreeSpace = Arc<dyn Fn(&Path) -> std::io::Result<u64> + Send + Sync>;

/// How the executor checks space and syncs.
#[derive(Clone)]
pub struct WaveOptions {
    /// What to do when a destination is short of space.
    pub out_of_space: OutOfSpace,
    /// The free-space query ([`statvfs_free`] outside tests).
    pub free_space: FreeSpace,
    /// Sync point of a wave.
    pub sync: SyncMode,
}

impl Default for WaveOptions {
    fn default() -> Self {
        WaveOptions {
            out_of_space: OutOfSpace::default(),
            free_space: Arc::new(statvfs_free),
            sync: SyncMode::default(),
        }
    }
}

impl std::fmt::Debug for WaveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaveOptions")
            .field("out_of_space", &self.out_of_space)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// Bytes usable by an unprivileged writer on the file system of `path`
/// (Java's `getUsableSpace`).
pub fn statvfs_free(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` points to writable
    // memory of the right type; statvfs fills it or fails.
    let r = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast, reason = "the field types differ between platforms")]
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Runs plans against a [`TieredStore`].
pub struct Executor<'a> {
    store: &'a TieredStore,
    reducer: Option<&'a Reducer>,
    stop: Option<EtlStop>,
    options: WaveOptions,
}

impl<'a> Executor<'a> {
    /// An executor over `store`.
    pub fn new(store: &'a TieredStore) -> Self {
        Executor {
            store,
            reducer: None,
            stop: None,
            options: WaveOptions::default(),
        }
    }

    /// Uses these space and sync settings.
    pub fn options(mut self, options: WaveOptions) -> Self {
        self.options = options;
        self
    }

    /// Uses `reducer` for `reducedata` destinations.
    pub fn reducer(mut self, reducer: Option<&'a Reducer>) -> Self {
        self.reducer = reducer;
        self
    }

    /// Stops (as a crash would) after the given step.
    pub fn stop(mut self, stop: Option<EtlStop>) -> Self {
        self.stop = stop;
        self
    }

    fn hook(&self, file: usize, step: Step) -> Result<(), EtlError> {
        match self.stop {
            Some(s) if s.file == file && s.after == step => Err(EtlError::Stopped { file, step }),
            _ => Ok(()),
        }
    }

    fn tier(&self, pv: &str, tier: u8) -> Result<&'a PlainPbStore, EtlError> {
        self.store.tiers().get(tier as usize).ok_or(EtlError::NoTier {
            pv: pv.to_string(),
            tier,
        })
    }

    /// Carries out `plan` for `pv`: a wave of one PV (see [`Executor::run_wave`]).
    pub fn run(&self, pv: &str, target: StageTarget, plan: &StagePlan) -> Result<StageOutcome, EtlError> {
        let item = WaveItem {
            pv: pv.to_string(),
            target,
            plan: plan.clone(),
        };
        match self.run_wave(std::slice::from_ref(&item))?.pop() {
            Some(Ok(o)) => Ok(o),
            Some(Err(f)) => Err(f.error),
            None => Ok(StageOutcome::default()),
        }
    }

    /// Storage key for `pv`'s files in `dest`: the one it uses there, else
    /// the source's, else the default rule.
    fn dest_key(&self, pv: &str, source: u8, dest: u8) -> Result<String, EtlError> {
        let index = self.store.index();
        for t in [dest, source] {
            if let Some(s) = index.summary(pv, t)? {
                if !s.key.is_empty() {
                    return Ok(s.key);
                }
            }
        }
        Ok(self.store.chunk_key(pv))
    }

    /// Step 2 for one file.
    fn append(&self, src: &PlainPbStore, fm: &FileMove, files: &mut DestFiles<'_>) -> Result<(), EtlError> {
        let pv = files.pv.to_string();
        let path = src.root().join(&fm.path);
        let file_err = |e| EtlError::File {
            pv: pv.clone(),
            path: path.clone(),
            source: e,
        };
        let pb = PbFile::open_prefix(&path, fm.bytes).map_err(file_err)?;
        let header = pb.header().clone();
        files.set_header(
            ArchDbType::from_i32(header.r#type).unwrap_or(ArchDbType::ScalarDouble),
            header.element_count,
            header
                .headers
                .iter()
                .map(|f| (f.name.clone(), f.val.clone()))
                .collect(),
        );
        match &fm.action {
            MoveAction::Bulk { dest_start } => {
                let record = self.store.index().partition(&pv, src.tier(), fm.start)?;
                match record {
                    Some(r) if r.bytes == fm.bytes && files.can_bulk(*dest_start, entry_ts(r.first))? => {
                        files.bulk(*dest_start, &pb, &r).map_err(|e| match e {
                            BulkError::Read(e) => file_err(e),
                            BulkError::Etl(e) => e,
                        })
                    }
                    _ => {
                        let stream = pb.stream(None, None).map_err(file_err)?;
                        files.lines(stream, None).map_err(|e| e.or_file(&pv, &path))
                    }
                }
            }
            MoveAction::PerSample { after, .. } => {
                let stream = pb.stream(None, None).map_err(file_err)?;
                files.lines(stream, *after).map_err(|e| e.or_file(&pv, &path))
            }
            MoveAction::Reduce { spec, after } => {
                let reduce_err = |message: String| EtlError::Reduce {
                    pv: pv.clone(),
                    spec: spec.clone(),
                    message,
                };
                let reducer = self
                    .reducer
                    .ok_or_else(|| reduce_err("no post-processor registry".into()))?;
                let record = self
                    .store
                    .index()
                    .partition(&pv, src.tier(), fm.start)?
                    .ok_or_else(|| reduce_err("source record vanished".into()))?;
                let pp = reducer(spec, entry_ts(record.first), fm.last).map_err(reduce_err)?;
                let stream = pb.stream(None, None).map_err(file_err)?;
                let mut reduced = pp.process(Box::new(Source::File(Box::new(stream))));
                let desc = reduced.description().clone();
                files.set_header(desc.db_type, desc.element_count, desc.headers.clone());
                let mut raw = Vec::new();
                let mut esc = Vec::new();
                while let Some(s) = reduced.next_event().map_err(|e| reduce_err(format!("{e:#}")))? {
                    let ts = Timestamp::from_system_time(s.timestamp);
                    if after.is_some_and(|a| ts <= a) {
                        continue;
                    }
                    raw.clear();
                    esc.clear();
                    encode_sample_at(&s, ts, ts.year(), &mut raw).map_err(|e| reduce_err(e.to_string()))?;
                    escape_into(&raw, &mut esc);
                    files.push(ts, &esc)?;
                }
                Ok(())
            }
            MoveAction::Discard(_) | MoveAction::AlreadyThere => Ok(()),
        }
    }
}

/// The source at the guard step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceState {
    /// Size and last sample as planned.
    Unchanged,
    /// Grew or changed (a late sample): keep it.
    Changed,
    /// Gone.
    Gone,
}

fn source_state(pv: &str, path: &Path, fm: &FileMove) -> Result<SourceState, EtlError> {
    let md = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SourceState::Gone),
        Err(e) => {
            return Err(EtlError::Io {
                pv: pv.to_string(),
                op: "stat",
                path: path.to_path_buf(),
                source: e,
            })
        }
        Ok(md) => md,
    };
    if md.len() != fm.bytes {
        return Ok(SourceState::Changed);
    }
    let last = PbFile::open(path)
        .and_then(|pb| pb.info())
        .map_err(|e| EtlError::File {
            pv: pv.to_string(),
            path: path.to_path_buf(),
            source: e,
        })?
        .last
        .map(|s| s.ts());
    Ok(if last == Some(fm.last) {
        SourceState::Unchanged
    } else {
        SourceState::Changed
    })
}

enum BulkError {
    Read(crate::plainpb::Error),
    Etl(EtlError),
}

/// Error of the line loop: reading the source or writing the destination.
enum LinesError {
    Read(crate::plainpb::Error),
    Etl(EtlError),
}

impl LinesError {
    fn or_file(self, pv: &str, path: &Path) -> EtlError {
        match self {
            LinesError::Read(e) => EtlError::File {
                pv: pv.to_string(),
                path: path.to_path_buf(),
                source: e,
            },
            LinesError::Etl(e) => e,
        }
    }
}

/// One destination partition written by a move.
pub(crate) struct DestWrite {
    start: i64,
    rel: String,
    ap: Appender,
    old: Option<PartitionEntry>,
    /// The record matched the file when opened (nothing was read).
    trusted: bool,
    db_type: ArchDbType,
    year: i32,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// Unescaped last written sample.
    last_raw: Vec<u8>,
    /// Escaped last written line (unescaped at the end).
    last_line: Vec<u8>,
    written: u64,
    exact: bool,
    bytes: u64,
    buf: Vec<u8>,
}

impl DestWrite {
    fn flush(&mut self, pv: &str) -> Result<(), EtlError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.ap.write_raw(&self.buf);
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        r.map_err(|e| EtlError::File {
            pv: pv.to_string(),
            path: self.ap.path().to_path_buf(),
            source: e,
        })
    }

    /// The partition's new record (`None`: nothing in it).
    fn entry(&self, pv: &str) -> Result<Option<PartitionEntry>, EtlError> {
        let old = self.old.as_ref();
        let (first, samples, exact) = if self.ap.created {
            (self.first, self.written, self.exact)
        } else if self.trusted {
            match old {
                Some(o) => (
                    Some(entry_ts(o.first)),
                    o.samples + self.written,
                    o.samples_exact && self.exact,
                ),
                None => (self.first, self.written, self.exact),
            }
        } else {
            let pb = PbFile::open(self.ap.path()).map_err(|e| EtlError::File {
                pv: pv.to_string(),
                path: self.ap.path().to_path_buf(),
                source: e,
            })?;
            let n = pb.count_lines(self.ap.len).map_err(|e| EtlError::File {
                pv: pv.to_string(),
                path: self.ap.path().to_path_buf(),
                source: e,
            })?;
            let examined = self.ap.first.as_ref().map(|s| s.ts());
            let first = match (examined, self.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            (first, n, true)
        };
        let (last, last_sample) = if self.written > 0 {
            (self.last, self.last_raw.clone())
        } else if let (false, Some(s)) = (self.trusted, self.ap.last.as_ref()) {
            // Nothing appended to a file that was examined (its size was
            // not the record's, e.g. an earlier wave appended and stopped
            // before recording): its own newest sample is the truth.
            let mut raw = Vec::new();
            encode_sample_at(s, s.ts(), self.year, &mut raw).map_err(|e| {
                EtlError::Store(StoreError::Encode {
                    pv: pv.to_string(),
                    reason: e.to_string(),
                })
            })?;
            (Some(s.ts()), raw)
        } else {
            match old {
                Some(o) => (Some(entry_ts(o.last)), o.last_sample.clone()),
                None => (None, Vec::new()),
            }
        };
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(None);
        };
        if samples == 0 {
            return Ok(None);
        }
        Ok(Some(PartitionEntry {
            path: self.rel.clone(),
            start: self.start,
            year: self.year,
            db_type: self.db_type.as_i32(),
            first: to_ts(first),
            last: to_ts(last),
            samples,
            samples_exact: exact,
            bytes: self.ap.len,
            last_sample,
            compressed: false,
        }))
    }
}

/// The destination partitions of one move, opened as samples reach them.
struct DestFiles<'a> {
    pv: &'a str,
    tier: &'a PlainPbStore,
    key: String,
    db_type: ArchDbType,
    element_count: Option<i32>,
    headers: Vec<(String, String)>,
    /// Samples at or before this are in the destination already.
    cutoff: Option<Timestamp>,
    cur: Option<DestWrite>,
    done: Vec<DestWrite>,
    intents: BTreeSet<i64>,
    /// Every partition opened: file and its length before this move
    /// (`None`: created by it) — what a rollback restores.
    opened: Vec<(PathBuf, Option<u64>)>,
}

impl<'a> DestFiles<'a> {
    fn new(pv: &'a str, tier: &'a PlainPbStore, key: String) -> Self {
        DestFiles {
            pv,
            tier,
            key,
            db_type: ArchDbType::ScalarDouble,
            element_count: None,
            headers: Vec::new(),
            cutoff: None,
            cur: None,
            done: Vec::new(),
            intents: BTreeSet::new(),
            opened: Vec::new(),
        }
    }

    fn set_header(
        &mut self,
        db_type: ArchDbType,
        element_count: Option<i32>,
        headers: Vec<(String, String)>,
    ) {
        self.db_type = db_type;
        self.element_count = element_count;
        self.headers = headers;
    }

    /// Durable intents for the partitions of `starts` that have no record.
    fn intents(&mut self, starts: &[i64]) -> Result<(), EtlError> {
        let new = self.new_intents(starts)?;
        self.tier.inner.index.put_intents(&new)?;
        Ok(())
    }

    /// The intents `starts` need (partitions without a record, not asked
    /// for yet), taken as this move's; the caller stores them.
    fn new_intents(&mut self, starts: &[i64]) -> Result<Vec<Intent>, EtlError> {
        let index = &self.tier.inner.index;
        let mut new = Vec::new();
        for s in starts {
            if !self.intents.contains(s) && index.partition(self.pv, self.tier.tier(), *s)?.is_none() {
                self.intents.insert(*s);
                new.push((self.pv.to_string(), self.tier.tier(), *s));
            }
        }
        Ok(new)
    }

    /// Opens destination partition `start` for appending.
    fn open(&mut self, start: i64) -> Result<(), EtlError> {
        if let Some(mut c) = self.cur.take() {
            c.flush(self.pv)?;
            self.done.push(c);
        }
        let tier_no = self.tier.tier();
        let old = self.tier.inner.index.partition(self.pv, tier_no, start)?;
        if old.is_none() {
            self.intents(&[start])?;
        }
        if let Some(o) = &old {
            if o.db_type != self.db_type.as_i32() {
                return Err(EtlError::TypeMismatch {
                    pv: self.pv.to_string(),
                    path: o.path.clone(),
                    found: o.db_type,
                    moved: self.db_type.as_i32(),
                });
            }
        }
        let rel = old
            .as_ref()
            .map_or_else(|| self.tier.partition_path(&self.key, start), |o| o.path.clone());
        let abs = self.tier.root().join(&rel);
        let year = crate::types::year_of(start);
        let target = AppendTarget {
            path: &abs,
            pv: self.pv,
            db_type: self.db_type,
            year,
            header_extra: Some((self.element_count, self.headers.as_slice())),
        };
        let ap = Appender::open(&target, old.as_ref().map(|o| o.bytes)).map_err(|e| EtlError::File {
            pv: self.pv.to_string(),
            path: abs.clone(),
            source: e,
        })?;
        self.opened.push((abs.clone(), (!ap.created).then_some(ap.len)));
        let trusted = old.as_ref().is_some_and(|o| o.bytes == ap.len) && ap.last.is_none();
        if let Some(l) = ap.last.as_ref().map(|s| s.ts()) {
            self.cutoff = Some(self.cutoff.map_or(l, |c| c.max(l)));
        }
        self.cur = Some(DestWrite {
            start,
            rel,
            ap,
            old,
            trusted,
            db_type: self.db_type,
            year,
            first: None,
            last: None,
            last_raw: Vec::new(),
            last_line: Vec::new(),
            written: 0,
            exact: true,
            bytes: 0,
            buf: Vec::with_capacity(WRITE_CHUNK + 4096),
        });
        Ok(())
    }

    /// True when the source (first sample `first`) can be copied verbatim
    /// into partition `start`: the destination holds nothing at or after it.
    fn can_bulk(&mut self, start: i64, first: Timestamp) -> Result<bool, EtlError> {
        if self.cur.as_ref().is_none_or(|c| c.start != start) {
            self.open(start)?;
        }
        Ok(self.cutoff.is_none_or(|c| first > c)
            && self.tier.granularity().partition_start(first.secs) == start)
    }

    /// Copies the sample bytes of `pb` (record `r`) into the open partition.
    fn bulk(&mut self, start: i64, pb: &PbFile, r: &PartitionEntry) -> Result<(), BulkError> {
        let pv = self.pv;
        let cur = match self.cur.as_mut() {
            Some(c) if c.start == start => c,
            _ => {
                return Err(BulkError::Etl(EtlError::Store(StoreError::Task(
                    "bulk destination not open".into(),
                ))))
            }
        };
        let file = std::fs::File::open(pb.path())
            .map_err(|e| BulkError::Read(crate::plainpb::Error::io("open", pb.path(), e)))?;
        let mut off = pb.data_start();
        while off < r.bytes {
            let n = ((r.bytes - off) as usize).min(WRITE_CHUNK);
            let at = cur.buf.len();
            cur.buf.resize(at + n, 0);
            file.read_exact_at(&mut cur.buf[at..], off)
                .map_err(|e| BulkError::Read(crate::plainpb::Error::io("read", pb.path(), e)))?;
            off += n as u64;
            cur.flush(pv).map_err(BulkError::Etl)?;
        }
        let (first, last) = (entry_ts(r.first), entry_ts(r.last));
        cur.first.get_or_insert(first);
        cur.last = Some(last);
        cur.last_raw.clone_from(&r.last_sample);
        cur.last_line.clear();
        cur.written += r.samples;
        cur.exact &= r.samples_exact;
        self.cutoff = Some(last);
        Ok(())
    }

    /// Appends every line of `stream` after `after` (and after what the
    /// destination holds).
    fn lines(&mut self, mut stream: SampleStream, after: Option<Timestamp>) -> Result<(), LinesError> {
        if let Some(a) = after {
            self.cutoff = Some(self.cutoff.map_or(a, |c| c.max(a)));
        }
        while let Some(line) = stream.next_raw().map_err(LinesError::Read)? {
            let ts = line.ts;
            self.push(ts, line.line).map_err(LinesError::Etl)?;
        }
        Ok(())
    }

    /// Appends one escaped line (no newline) of time `ts`.
    fn push(&mut self, ts: Timestamp, line: &[u8]) -> Result<(), EtlError> {
        if self.cutoff.is_some_and(|c| ts <= c) {
            return Ok(());
        }
        let start = self.tier.granularity().partition_start(ts.secs);
        if self.cur.as_ref().is_none_or(|c| c.start != start) {
            self.open(start)?;
            if self.cutoff.is_some_and(|c| ts <= c) {
                return Ok(());
            }
        }
        let pv = self.pv;
        let Some(cur) = self.cur.as_mut() else {
            return Ok(());
        };
        cur.buf.extend_from_slice(line);
        cur.buf.push(crate::plainpb::NEWLINE);
        cur.first.get_or_insert(ts);
        cur.last = Some(ts);
        cur.last_line.clear();
        cur.last_line.extend_from_slice(line);
        cur.written += 1;
        self.cutoff = Some(ts);
        if cur.buf.len() >= WRITE_CHUNK {
            cur.flush(pv)?;
        }
        Ok(())
    }

    /// Flushes the open partition; returns every partition written and the
    /// intents stored (cleared with the move's index batch). A partition
    /// created by this move that received no sample is removed again.
    fn finish(mut self) -> Result<(Vec<DestWrite>, Vec<Intent>), EtlError> {
        if let Some(mut c) = self.cur.take() {
            c.flush(self.pv)?;
            self.done.push(c);
        }
        let mut out = Vec::new();
        for mut w in self.done {
            if !w.last_line.is_empty() {
                w.last_raw.clear();
                unescape_into(&w.last_line, &mut w.last_raw).map_err(|e| {
                    EtlError::Store(StoreError::Encode {
                        pv: self.pv.to_string(),
                        reason: e.to_string(),
                    })
                })?;
            }
            if w.ap.created && w.written == 0 {
                let path = w.ap.path().to_path_buf();
                drop(w);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(EtlError::Io {
                            pv: self.pv.to_string(),
                            op: "delete",
                            path,
                            source: e,
                        })
                    }
                }
                continue;
            }
            out.push(w);
        }
        let tier = self.tier.tier();
        let intents = self
            .intents
            .iter()
            .map(|s| (self.pv.to_string(), tier, *s))
            .collect();
        Ok((out, intents))
    }
}
