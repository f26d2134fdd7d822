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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dest::{BulkError, DestFiles};
use super::plan::{FileMove, MoveAction, OutOfSpace, StagePlan};
use crate::index::entry::ts as entry_ts;
use crate::index::IndexError;
use crate::plainpb::{
    encode_sample_at, escape_into, is_compressed_path, last_sample_time, PbFile, ZstOptions, ZstReader,
};
use crate::storage::{PlainPbStore, PostProcessor, Source, StoreError, TieredStore};
use crate::types::{ArchDbType, Timestamp};

/// Builds the `reducedata` post-processor named by a spec for a source
/// file spanning `[first, last]` (retrieval's registry, handed in because
/// retrieval sits above ETL).
pub type Reducer =
    Arc<dyn Fn(&str, Timestamp, Timestamp) -> Result<Box<dyn PostProcessor>, String> + Send + Sync>;

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
    /// Form of new destination partitions (`None`: the tier's).
    dest_form: Option<Option<ZstOptions>>,
    options: WaveOptions,
}

impl<'a> Executor<'a> {
    /// An executor over `store`.
    pub fn new(store: &'a TieredStore) -> Self {
        Executor {
            store,
            reducer: None,
            stop: None,
            dest_form: None,
            options: WaveOptions::default(),
        }
    }

    /// The form of new destination partitions from the chain's store URL
    /// (`Some(None)`: plain, `Some(Some(o))`: zstd; `None`: the tier's).
    pub fn dest_form(mut self, form: Option<Option<ZstOptions>>) -> Self {
        self.dest_form = form;
        self
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
            dest_form: self.dest_form,
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
        if is_compressed_path(&fm.path) {
            return self.append_compressed(src, fm, files);
        }
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
                let stream = pb.stream(None, None).map_err(file_err)?;
                self.reduce(src, fm, spec, *after, Source::File(Box::new(stream)), files)
            }
            MoveAction::Discard(_) | MoveAction::AlreadyThere => Ok(()),
        }
    }

    /// Step 2 for a compressed source file (a zstd tier that is itself a
    /// stage's source): its lines, decompressed frame by frame, are
    /// appended per sample (never a byte copy).
    fn append_compressed(
        &self,
        src: &PlainPbStore,
        fm: &FileMove,
        files: &mut DestFiles<'_>,
    ) -> Result<(), EtlError> {
        let pv = files.pv.to_string();
        let path = src.root().join(&fm.path);
        let file_err = |e| EtlError::File {
            pv: pv.clone(),
            path: path.clone(),
            source: e,
        };
        let file = std::fs::File::open(&path).map_err(|e| EtlError::Io {
            pv: pv.clone(),
            op: "open",
            path: path.clone(),
            source: e,
        })?;
        let reader = ZstReader::open(file, fm.bytes, &path).map_err(file_err)?;
        let header = reader.header().clone();
        files.set_header(
            ArchDbType::from_i32(header.r#type).unwrap_or(ArchDbType::ScalarDouble),
            header.element_count,
            header
                .headers
                .iter()
                .map(|f| (f.name.clone(), f.val.clone()))
                .collect(),
        );
        let stream = reader.stream(None, None).map_err(file_err)?;
        match &fm.action {
            MoveAction::Bulk { .. } => files.lines(stream, None).map_err(|e| e.or_file(&pv, &path)),
            MoveAction::PerSample { after, .. } => {
                files.lines(stream, *after).map_err(|e| e.or_file(&pv, &path))
            }
            MoveAction::Reduce { spec, after } => self.reduce(
                src,
                fm,
                spec,
                *after,
                Source::Compressed(Box::new(
                    stream.map_reader(|fr| fr.map_inner(|f| src.reader().file(f))),
                )),
                files,
            ),
            MoveAction::Discard(_) | MoveAction::AlreadyThere => Ok(()),
        }
    }

    /// Step 2 of a `reducedata` move: the reducer's output over `source`.
    fn reduce(
        &self,
        src: &PlainPbStore,
        fm: &FileMove,
        spec: &str,
        after: Option<Timestamp>,
        source: Source,
        files: &mut DestFiles<'_>,
    ) -> Result<(), EtlError> {
        let pv = files.pv.to_string();
        let reduce_err = |message: String| EtlError::Reduce {
            pv: pv.clone(),
            spec: spec.to_string(),
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
        let mut reduced = pp.process(Box::new(source));
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
    let last = last_sample_time(path).map_err(|e| EtlError::File {
        pv: pv.to_string(),
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(if last == Some(fm.last) {
        SourceState::Unchanged
    } else {
        SourceState::Changed
    })
}
