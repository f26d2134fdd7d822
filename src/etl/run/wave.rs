//! Waves: the stage plans of many PVs carried out together, so that a
//! wave costs one intent batch, one sync point and one record batch
//! (plus one flush of the index) however many files it moves — instead of
//! an index flush, an `fdatasync` and a folder `fsync` per file.
//!
//! The crash contract is the one of a single move (`docs/etl-design.md`
//! §4.3), for every file of the wave at once: intents are durable before a
//! destination is created; sources are recorded as moved only after every
//! destination written by the wave is durable; sources are deleted only
//! after that record; pending deletes name what a crash may leave behind.
//!
//! A PV whose append fails (out of space, a type change, a failing
//! reducer, an I/O error) has its destination files cut back to their
//! length before the wave and takes no part in the record step; the wave
//! then moves its files one at a time (a wave of one file each) until one
//! fails, so the files before the failing one still move.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{source_state, EtlError, Executor, SourceState, StageOutcome, StageTarget, Step, SyncMode};
use crate::etl::dest::{DestFiles, Intent};
use crate::etl::plan::{space_action, FileMove, MoveAction, SpaceAction, StagePlan};
use crate::index::entry::to_ts;
use crate::index::{Change, PendingDelete};
use crate::plainpb::ZstOptions;

/// One PV's stage plan in a wave (a PV appears at most once per wave).
#[derive(Debug, Clone)]
pub struct WaveItem {
    /// PV.
    pub pv: String,
    /// Stage and tiers.
    pub target: StageTarget,
    /// What moves.
    pub plan: StagePlan,
    /// Form of new destination partitions (`Some(None)`: plain,
    /// `Some(Some(o))`: zstd; `None`: the destination tier's).
    pub dest_form: Option<Option<ZstOptions>>,
}

/// A PV's stage that failed in a wave: what it still moved (the files
/// before the failing one) and why it stopped.
#[derive(Debug)]
pub struct Failed {
    /// What was moved before the failure.
    pub done: StageOutcome,
    /// The failure.
    pub error: EtlError,
}

/// One file of a job as it will be carried out.
struct Planned<'p> {
    fm: &'p FileMove,
    /// Number in the wave (stop hooks).
    no: usize,
    /// Deleted without copying: the destination is out of space.
    out_of_space: bool,
}

impl Planned<'_> {
    /// The file's samples go into a destination.
    fn stores(&self, target: StageTarget) -> bool {
        target.dest.is_some()
            && !self.out_of_space
            && !matches!(self.fm.action, MoveAction::Discard(_) | MoveAction::AlreadyThere)
    }
}

/// A destination partition written by a wave (its file closed).
struct Written {
    path: PathBuf,
    created: bool,
    /// Its record (and frame keys, when compressed); empty: nothing in it.
    changes: Vec<Change>,
    bytes: u64,
    samples: u64,
}

/// One PV's part of a wave.
struct Job<'p> {
    item: &'p WaveItem,
    files: Vec<Planned<'p>>,
    /// Storage key of the PV in the destination.
    key: String,
    dest: Option<DestFiles<'p>>,
    /// Destination files opened and their length before the wave (`None`:
    /// created by it): what a rollback restores.
    undo: Vec<(PathBuf, Option<u64>)>,
    written: Vec<Written>,
    intents: Vec<Intent>,
    error: Option<EtlError>,
    /// The error came before the sync point: nothing of this job was
    /// recorded, so its files can be retried one at a time.
    retry: bool,
    out: StageOutcome,
}

impl Job<'_> {
    fn fail(&mut self, e: EtlError, retry: bool) {
        if self.error.is_none() {
            self.error = Some(e);
            self.retry = retry;
        }
    }

    fn storing(&self) -> bool {
        self.error.is_none() && self.files.iter().any(|p| p.stores(self.item.target))
    }
}

impl<'a> Executor<'a> {
    /// Carries out `items` (each PV at most once) as one wave, then moves
    /// the files of each PV that failed before the sync point one at a
    /// time until one fails. `Err`: the wave as a whole failed or was
    /// stopped; what was recorded before stays recorded, the rest of the
    /// sources stay (a state reconcile and the next run converge from).
    #[tracing::instrument(skip_all, fields(pvs = items.len()))]
    pub fn run_wave(&self, items: &[WaveItem]) -> Result<Vec<Result<StageOutcome, Box<Failed>>>, EtlError> {
        let results = self.wave(items)?;
        let mut out = Vec::with_capacity(results.len());
        for (item, (r, retry)) in items.iter().zip(results) {
            let mut f = match r {
                Ok(o) => {
                    out.push(Ok(o));
                    continue;
                }
                Err(f) => f,
            };
            if retry && item.plan.moves.len() > 1 {
                tracing::warn!(pv = %item.pv, error = %f.error, "ETL wave: moving this PV's files one at a time");
                for fm in &item.plan.moves {
                    let one = WaveItem {
                        pv: item.pv.clone(),
                        target: item.target,
                        plan: StagePlan {
                            moves: vec![fm.clone()],
                            dest_last: None,
                        },
                        dest_form: item.dest_form,
                    };
                    match self.wave(std::slice::from_ref(&one))?.pop() {
                        Some((Ok(o), _)) => {
                            f.done.add(&o);
                            if o.out_of_space_stopped {
                                break;
                            }
                        }
                        Some((Err(e), _)) => {
                            f.done.add(&e.done);
                            f.error = e.error;
                            break;
                        }
                        None => break,
                    }
                }
            }
            out.push(Err(f));
        }
        Ok(out)
    }

    /// One wave: steps 1–6 for every file of `items`.
    #[allow(clippy::type_complexity)]
    fn wave(&self, items: &[WaveItem]) -> Result<Vec<(Result<StageOutcome, Box<Failed>>, bool)>, EtlError> {
        let began = Instant::now();
        let mut jobs = self.prepare(items);
        let total: usize = jobs.iter().map(|j| j.files.len()).sum();
        let storing = jobs.iter().any(Job::storing);
        self.intents(&mut jobs)?;
        if storing {
            self.hook_wave(total, Step::Intent)?;
        }
        self.append_all(&mut jobs)?;
        if let Err(e) = self.sync(&jobs) {
            for j in &jobs {
                rollback(&j.item.pv, &j.undo);
            }
            return Err(e);
        }
        if storing {
            self.hook_wave(total, Step::Sync)?;
        }
        self.record(&mut jobs, total)?;
        let el = began.elapsed();
        let mut out = Vec::with_capacity(jobs.len());
        let (mut moved, mut deleted, mut bytes) = (0, 0, 0);
        for mut j in jobs {
            j.out.elapsed = el.mul_f64(j.files.len() as f64 / total.max(1) as f64);
            moved += j.out.moved;
            deleted += j.out.deleted;
            bytes += j.out.bytes;
            out.push(match j.error {
                None => (Ok(j.out), false),
                Some(error) => (Err(Box::new(Failed { done: j.out, error })), j.retry),
            });
        }
        if moved + deleted > 0 {
            tracing::info!(
                pvs = items.len(),
                moved,
                deleted,
                bytes,
                ms = el.as_millis() as u64,
                "ETL wave ran"
            );
        }
        Ok(out)
    }

    fn hook_wave(&self, total: usize, step: Step) -> Result<(), EtlError> {
        match self.stop {
            Some(s) if s.after == step && s.file < total => Err(EtlError::Stopped { file: s.file, step }),
            _ => Ok(()),
        }
    }

    /// The wave's jobs, with the free-space check applied to each file
    /// (spec §4 step 1): one query per destination tier, then the
    /// estimate is lowered by each file let through.
    fn prepare<'p>(&self, items: &'p [WaveItem]) -> Vec<Job<'p>> {
        let mut free: HashMap<u8, Result<u64, String>> = HashMap::new();
        let mut no = 0;
        let mut jobs = Vec::with_capacity(items.len());
        for item in items {
            let mut job = Job {
                item,
                files: Vec::with_capacity(item.plan.moves.len()),
                key: String::new(),
                dest: None,
                undo: Vec::new(),
                written: Vec::new(),
                intents: Vec::new(),
                error: None,
                retry: true,
                out: StageOutcome::default(),
            };
            let t = item.target;
            for fm in &item.plan.moves {
                let mut p = Planned {
                    fm,
                    no,
                    out_of_space: false,
                };
                if let (true, Some(d)) = (p.stores(t), t.dest) {
                    let left = free.entry(d).or_insert_with(|| self.free_space(d));
                    let avail = match left {
                        Ok(n) => *n,
                        Err(e) => {
                            job.fail(
                                EtlError::Io {
                                    pv: item.pv.clone(),
                                    op: "statvfs",
                                    path: self
                                        .tier(&item.pv, d)
                                        .map(|s| s.root().to_path_buf())
                                        .unwrap_or_default(),
                                    source: std::io::Error::other(e.clone()),
                                },
                                false,
                            );
                            job.files.clear();
                            break;
                        }
                    };
                    match space_action(avail, fm.bytes, self.options.out_of_space, t.stage) {
                        SpaceAction::Proceed => {
                            if let Ok(n) = left {
                                *n = n.saturating_sub(fm.bytes);
                            }
                        }
                        SpaceAction::DeleteSource => p.out_of_space = true,
                        SpaceAction::StopRun => {
                            tracing::warn!(
                                pv = %item.pv,
                                stage = t.stage,
                                path = %fm.path,
                                free = avail,
                                bytes = fm.bytes,
                                "ETL destination out of space; this run stops here for the PV"
                            );
                            job.out.out_of_space_stopped = true;
                            break;
                        }
                    }
                }
                no += 1;
                job.files.push(p);
            }
            jobs.push(job);
        }
        jobs
    }

    /// Usable bytes on the file system of tier `d`'s root (its nearest
    /// existing ancestor while the root is not created yet).
    fn free_space(&self, d: u8) -> Result<u64, String> {
        let root = self.tier("", d).map_err(|e| e.to_string())?.root();
        let mut at: &Path = root;
        while !at.exists() {
            match at.parent() {
                Some(p) => at = p,
                None => break,
            }
        }
        (self.options.free_space)(at).map_err(|e| format!("{}: {e}", at.display()))
    }

    /// Step 1: the intents of every job in one durable batch.
    fn intents<'p>(&'p self, jobs: &mut [Job<'p>]) -> Result<(), EtlError>
    where
        'a: 'p,
    {
        let mut all = Vec::new();
        for job in jobs.iter_mut() {
            let t = job.item.target;
            let (Some(d), true) = (t.dest, job.storing()) else {
                continue;
            };
            let pv = job.item.pv.as_str();
            let planned: Vec<i64> = job
                .files
                .iter()
                .filter(|p| p.stores(t))
                .flat_map(|p| match &p.fm.action {
                    MoveAction::Bulk { dest_start } => vec![*dest_start],
                    MoveAction::PerSample { dest_starts, .. } => dest_starts.clone(),
                    _ => Vec::new(),
                })
                .collect();
            let r = self.tier(pv, d).and_then(|dest| {
                let key = self.dest_key(pv, t.source, d)?;
                let mut files = DestFiles::new(pv, dest, key.clone()).with_form(job.item.dest_form);
                let new = files.new_intents(&planned)?;
                Ok((files, key, new))
            });
            match r {
                Ok((files, key, new)) => {
                    job.dest = Some(files);
                    job.key = key;
                    all.extend(new);
                }
                Err(e) => job.fail(e, false),
            }
        }
        self.store.index().put_intents(&all)?;
        Ok(())
    }

    /// Step 2: every job's appends; a job that fails is rolled back.
    fn append_all(&self, jobs: &mut [Job<'_>]) -> Result<(), EtlError> {
        for job in jobs.iter_mut() {
            let Some(mut files) = job.dest.take() else {
                continue;
            };
            let pv = job.item.pv.as_str();
            let t = job.item.target;
            let mut failed = None;
            match self.tier(pv, t.source) {
                Err(e) => failed = Some(e),
                Ok(src) => {
                    for p in &job.files {
                        if !p.stores(t) {
                            continue;
                        }
                        let r = self
                            .append(src, p.fm, &mut files)
                            // This file's lines reach the destination file
                            // before the next source is read.
                            .and_then(|()| files.flush_current());
                        if let Err(e) = r {
                            failed = Some(e);
                            break;
                        }
                        self.hook(p.no, Step::Append)?;
                    }
                }
            }
            job.undo = std::mem::take(&mut files.opened);
            let done = match failed {
                Some(e) => {
                    drop(files);
                    Err(e)
                }
                None => match t.dest {
                    Some(d) => close(pv, d, &job.key, files),
                    None => Ok((Vec::new(), Vec::new())),
                },
            };
            match done {
                Ok((written, intents)) => {
                    job.written = written;
                    job.intents = intents;
                }
                Err(e) => {
                    tracing::warn!(pv, error = %e, "ETL append failed; destination rolled back, sources kept");
                    rollback(pv, &job.undo);
                    job.fail(e, true);
                }
            }
        }
        Ok(())
    }

    /// Step 3: makes every destination file written by the wave durable.
    fn sync(&self, jobs: &[Job<'_>]) -> Result<(), EtlError> {
        let files: Vec<(&str, &Written)> = jobs
            .iter()
            .filter(|j| j.error.is_none())
            .flat_map(|j| j.written.iter().map(move |w| (j.item.pv.as_str(), w)))
            .collect();
        if files.is_empty() {
            return Ok(());
        }
        match self.options.sync {
            SyncMode::Fs if cfg!(target_os = "linux") => sync_fs(&files),
            _ => sync_files(&files),
        }
    }

    /// Steps 4–6 under the source tiers' write locks (taken in tier order).
    fn record(&self, jobs: &mut [Job<'_>], total: usize) -> Result<(), EtlError> {
        let index = self.store.index();
        let tiers: BTreeSet<u8> = jobs
            .iter()
            .filter(|j| j.error.is_none() && !j.files.is_empty())
            .map(|j| j.item.target.source)
            .collect();
        if tiers.is_empty() {
            return Ok(());
        }
        let mut stores = Vec::with_capacity(tiers.len());
        for t in &tiers {
            stores.push(self.tier("", *t)?);
        }
        let _writes: Vec<_> = stores.iter().map(|s| s.lock_writes()).collect();
        let mut changes = Vec::new();
        let mut pending = Vec::new();
        let mut clear = Vec::new();
        let mut states: Vec<Vec<SourceState>> = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            let mut st = Vec::new();
            if job.error.is_some() || job.files.is_empty() {
                states.push(st);
                continue;
            }
            let pv = job.item.pv.clone();
            let t = job.item.target;
            if t.dest.is_some() {
                for w in &job.written {
                    if !w.changes.is_empty() {
                        job.out.bytes += w.bytes;
                        job.out.samples += w.samples;
                        changes.extend(w.changes.iter().cloned());
                    }
                }
            }
            clear.extend(job.intents.iter().cloned());
            let src = self.tier(&pv, t.source)?;
            let mut err = None;
            for p in &job.files {
                let path = src.root().join(&p.fm.path);
                let s = match source_state(&pv, &path, p.fm) {
                    Ok(s) => s,
                    Err(e) => {
                        err.get_or_insert(e);
                        SourceState::Changed
                    }
                };
                if s != SourceState::Changed {
                    changes.push(Change::Remove {
                        pv: pv.clone(),
                        tier: src.tier(),
                        start: p.fm.start,
                    });
                }
                if s == SourceState::Unchanged {
                    pending.push((
                        pv.clone(),
                        src.tier(),
                        p.fm.start,
                        PendingDelete {
                            path: p.fm.path.clone(),
                            bytes: p.fm.bytes,
                            last: to_ts(p.fm.last),
                        },
                    ));
                }
                st.push(s);
            }
            if let Some(e) = err {
                job.fail(e, false);
            }
            states.push(st);
        }
        index.apply_move(&changes, &pending, &clear)?;
        index.flush()?;
        self.hook_wave(total, Step::Record)?;
        let mut deleted = Vec::new();
        for (job, st) in jobs.iter_mut().zip(&states) {
            let pv = job.item.pv.clone();
            let t = job.item.target;
            let src = self.tier(&pv, t.source)?;
            let mut err = None;
            for (p, s) in job.files.iter().zip(st) {
                let path = src.root().join(&p.fm.path);
                if *s == SourceState::Changed {
                    tracing::warn!(pv = %pv, path = %path.display(), "ETL source changed after planning; kept for the next run");
                    job.out.changed += 1;
                    continue;
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        err.get_or_insert(EtlError::Io {
                            pv: pv.clone(),
                            op: "delete",
                            path,
                            source: e,
                        });
                        continue;
                    }
                }
                self.hook(p.no, Step::Delete)?;
                deleted.push((pv.clone(), src.tier(), p.fm.start));
                if p.out_of_space {
                    tracing::error!(
                        pv = %pv,
                        stage = t.stage,
                        path = %path.display(),
                        bytes = p.fm.bytes,
                        "ETL destination out of space: source partition deleted without copying"
                    );
                    job.out.out_of_space_deleted += 1;
                    job.out.deleted += 1;
                } else if p.stores(t) {
                    job.out.moved += 1;
                } else {
                    job.out.deleted += 1;
                }
            }
            if let Some(e) = err {
                job.fail(e, false);
            }
        }
        index.clear_pending_deletes(&deleted)?;
        self.hook_wave(total, Step::Clear)?;
        Ok(())
    }
}

/// Flushes `files` (destination tier `tier`, storage key `key`) and
/// describes what it wrote; the files are closed.
fn close(
    pv: &str,
    tier: u8,
    key: &str,
    files: DestFiles<'_>,
) -> Result<(Vec<Written>, Vec<Intent>), EtlError> {
    let (done, intents) = files.finish()?;
    let mut out = Vec::with_capacity(done.len());
    for w in done {
        out.push(Written {
            path: w.path().to_path_buf(),
            created: w.created(),
            changes: w.changes(pv, tier, key)?,
            bytes: w.bytes,
            samples: w.written,
        });
    }
    Ok((out, intents))
}

/// Cuts destination files back to their length before the wave (`None`:
/// created by it, removed). Failures are logged: the file is then longer
/// than its record, which the next append (it examines a file whose size
/// differs from its record) or reconcile repairs.
fn rollback(pv: &str, files: &[(PathBuf, Option<u64>)]) {
    for (path, len) in files.iter().rev() {
        let r = match len {
            Some(l) => std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(*l)),
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                r => r,
            },
        };
        if let Err(e) = r {
            tracing::error!(pv, path = %path.display(), error = %e, "ETL cannot roll back a destination file");
        }
    }
}

fn io_err(pv: &str, op: &'static str, path: &Path, e: std::io::Error) -> EtlError {
    EtlError::Io {
        pv: pv.to_string(),
        op,
        path: path.to_path_buf(),
        source: e,
    }
}

/// `fdatasync` of each file and `fsync` of each folder in which one was
/// created. Write-back of every file is started first (`sync_file_range`),
/// so the file system allocates and writes all of them in one go and the
/// first `fdatasync`'s journal commit covers the others' metadata.
fn sync_files(files: &[(&str, &Written)]) -> Result<(), EtlError> {
    #[cfg(target_os = "linux")]
    for (_, w) in files {
        use std::os::fd::AsRawFd;
        if let Ok(f) = std::fs::File::open(&w.path) {
            // SAFETY: a valid descriptor; the call only starts write-back
            // (a hint: its result does not matter, fdatasync below decides).
            unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        }
    }
    let mut dirs = BTreeSet::new();
    for (pv, w) in files {
        std::fs::File::open(&w.path)
            .and_then(|f| f.sync_data())
            .map_err(|e| io_err(pv, "fsync", &w.path, e))?;
        if w.created {
            if let Some(d) = w.path.parent() {
                dirs.insert((d.to_path_buf(), *pv));
            }
        }
    }
    for (d, pv) in dirs {
        std::fs::File::open(&d)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_err(pv, "fsync folder", &d, e))?;
    }
    Ok(())
}

/// One `syncfs(2)` per file system holding a written file. `syncfs` writes
/// back and waits for every dirty page and inode of the file system and
/// commits its journal, which covers the files' data, their sizes and the
/// folder entries of created files (ext4, xfs, btrfs); since Linux 5.8 it
/// reports write-back errors of the file system (earlier kernels only
/// fail on a bad descriptor — use `sync = "files"` there). It also writes
/// back what other writers left dirty on that file system, which costs
/// time when the destination shares a busy disk.
#[cfg(target_os = "linux")]
fn sync_fs(files: &[(&str, &Written)]) -> Result<(), EtlError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let mut devs: HashMap<u64, (&str, &Path)> = HashMap::new();
    for (pv, w) in files {
        let md = std::fs::metadata(&w.path).map_err(|e| io_err(pv, "stat", &w.path, e))?;
        devs.entry(md.dev()).or_insert((pv, &w.path));
    }
    for (pv, path) in devs.into_values() {
        let f = std::fs::File::open(path).map_err(|e| io_err(pv, "open", path, e))?;
        // SAFETY: a valid descriptor of an open file.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(io_err(pv, "syncfs", path, std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn sync_fs(files: &[(&str, &Written)]) -> Result<(), EtlError> {
    sync_files(files)
}
