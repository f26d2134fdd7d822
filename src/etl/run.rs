//! The ETL executor: carries out a [`StagePlan`] for one PV, one file at a
//! time, in six steps that leave a state reconcile repairs if the process
//! dies after any of them (`docs/etl-design.md` §4.2–4.3):
//!
//! 1. **Intent**: destination partitions without a record get a durable
//!    write intent before their file is created.
//! 2. **Append**: the source's sample lines are appended to the destination
//!    partitions (the destination's own boundaries; samples at or before
//!    the destination's newest one are skipped), verbatim for PlainPB
//!    lines, or the `reducedata` operator's output.
//! 3. **Sync**: every destination file written is synced (always: the
//!    source is deleted afterwards), with its folder when it was created.
//! 4. **Record**: under the source tier's write lock, if the source still
//!    has the size and last sample of the plan, one index batch records the
//!    destination, removes the source's record and stores a pending delete;
//!    otherwise only the destination is recorded and the source stays.
//! 5. **Delete** the source file.
//! 6. **Clear** the pending delete.
//!
//! A failure in steps 1–3 stops the stage for the PV (the rest waits for
//! the next run); a failing reducer keeps the source.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dest::{BulkError, DestFiles};
use super::plan::{FileMove, MoveAction, StagePlan};
use crate::index::entry::{to_ts, ts as entry_ts};
use crate::index::{Change, IndexError, PendingDelete};
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

/// Where to stop a run, as a crash would (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtlStop {
    /// Index of the file move in the plan.
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
}

/// Runs plans against a [`TieredStore`].
pub struct Executor<'a> {
    store: &'a TieredStore,
    reducer: Option<&'a Reducer>,
    stop: Option<EtlStop>,
    /// Form of new destination partitions (`None`: the tier's).
    dest_form: Option<Option<ZstOptions>>,
}

impl<'a> Executor<'a> {
    /// An executor over `store`.
    pub fn new(store: &'a TieredStore) -> Self {
        Executor {
            store,
            reducer: None,
            stop: None,
            dest_form: None,
        }
    }

    /// The form of new destination partitions from the chain's store URL
    /// (`Some(None)`: plain, `Some(Some(o))`: zstd; `None`: the tier's).
    pub fn dest_form(mut self, form: Option<Option<ZstOptions>>) -> Self {
        self.dest_form = form;
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

    /// Carries out `plan` for `pv`, file by file, stopping at the first failure.
    #[tracing::instrument(skip_all, fields(pv = %pv, source = target.source, dest = ?target.dest))]
    pub fn run(&self, pv: &str, target: StageTarget, plan: &StagePlan) -> Result<StageOutcome, EtlError> {
        let mut out = StageOutcome::default();
        for (i, fm) in plan.moves.iter().enumerate() {
            self.move_file(pv, target, i, fm, &mut out)?;
        }
        if out.moved + out.deleted > 0 {
            tracing::info!(
                moved = out.moved,
                deleted = out.deleted,
                bytes = out.bytes,
                "ETL stage ran"
            );
        }
        Ok(out)
    }

    fn move_file(
        &self,
        pv: &str,
        target: StageTarget,
        i: usize,
        fm: &FileMove,
        out: &mut StageOutcome,
    ) -> Result<(), EtlError> {
        let src = self.tier(pv, target.source)?;
        let mut written = Vec::new();
        let mut intents = Vec::new();
        let stores = !matches!(fm.action, MoveAction::Discard(_) | MoveAction::AlreadyThere);
        if let (true, Some(d)) = (stores, target.dest) {
            let dest = self.tier(pv, d)?;
            let key = self.dest_key(pv, target.source, d)?;
            let planned: Vec<i64> = match &fm.action {
                MoveAction::Bulk { dest_start } => vec![*dest_start],
                MoveAction::PerSample { dest_starts, .. } => dest_starts.clone(),
                _ => Vec::new(),
            };
            let mut files = DestFiles::new(pv, dest, key).with_form(self.dest_form);
            files.intents(&planned)?;
            self.hook(i, Step::Intent)?;
            self.append(src, fm, &mut files)?;
            let (w, its) = files.finish()?;
            self.hook(i, Step::Append)?;
            for f in &w {
                f.sync(pv)?;
            }
            self.hook(i, Step::Sync)?;
            written = w;
            intents = its;
        }
        let mut changes = Vec::new();
        if let Some(d) = target.dest {
            let key = self.dest_key(pv, target.source, d)?;
            for f in &written {
                let recorded = f.changes(pv, d, &key)?;
                if !recorded.is_empty() {
                    out.bytes += f.bytes;
                    out.samples += f.written;
                    changes.extend(recorded);
                }
            }
        }
        self.record_and_delete(pv, src, i, fm, changes, &intents, stores, out)
    }

    /// Steps 4–6 under the source tier's write lock.
    #[allow(clippy::too_many_arguments)]
    fn record_and_delete(
        &self,
        pv: &str,
        src: &PlainPbStore,
        i: usize,
        fm: &FileMove,
        mut changes: Vec<Change>,
        intents: &[(String, u8, i64)],
        stores: bool,
        out: &mut StageOutcome,
    ) -> Result<(), EtlError> {
        let index = self.store.index();
        let path = src.root().join(&fm.path);
        let _writes = src.lock_writes();
        let state = source_state(pv, &path, fm)?;
        let pending = PendingDelete {
            path: fm.path.clone(),
            bytes: fm.bytes,
            last: to_ts(fm.last),
        };
        if state != SourceState::Changed {
            changes.push(Change::Remove {
                pv: pv.to_string(),
                tier: src.tier(),
                start: fm.start,
            });
        }
        let d = (state == SourceState::Unchanged).then_some((pv, src.tier(), fm.start, &pending));
        index.apply_move(&changes, d, intents)?;
        index.flush()?;
        self.hook(i, Step::Record)?;
        if state == SourceState::Changed {
            tracing::warn!(path = %path.display(), "ETL source changed after planning; kept for the next run");
            out.changed += 1;
            return Ok(());
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(EtlError::Io {
                    pv: pv.to_string(),
                    op: "delete",
                    path,
                    source: e,
                })
            }
        }
        self.hook(i, Step::Delete)?;
        index.clear_pending_deletes(&[(pv.to_string(), src.tier(), fm.start)])?;
        self.hook(i, Step::Clear)?;
        if stores {
            out.moved += 1;
        } else {
            out.deleted += 1;
        }
        Ok(())
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
