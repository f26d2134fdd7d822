//! Per-tier deadlines for the blocking file reads of retrieval.
//!
//! A tier whose file system stops answering (a dead NFS mount) blocks
//! `open`/`read` in the kernel; no thread can be interrupted there. So every
//! read of a tier's files runs as a job on that tier's own small pool of
//! worker threads, and the caller waits for it at most until a deadline. A
//! job still running at its deadline is *abandoned*: its worker may stay
//! blocked, and until it returns the tier counts as stuck, so later jobs
//! fail at once instead of queueing behind it or taking more threads. The
//! pool is bounded ([`MAX_WORKERS`] per tier), so stuck threads can never
//! exhaust anything shared; other tiers have their own pools.
//!
//! Index look-ups (sled) and write buffers are not tier I/O and never pass
//! through here.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::plainpb::ReadAt;

/// Worker threads per tier at most.
pub const MAX_WORKERS: usize = 4;
/// An idle worker exits after this long.
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// A tier did not answer in time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeadlineError {
    /// The job did not finish within the deadline; it was abandoned.
    #[error("tier {tier} did not answer within {ms} ms")]
    Expired {
        /// Tier name.
        tier: String,
        /// The deadline (ms).
        ms: u64,
    },
    /// An earlier job of this tier is still blocked past its deadline:
    /// failed at once.
    #[error("tier {tier} is not answering (a read has been blocked for {secs} s)")]
    Stuck {
        /// Tier name.
        tier: String,
        /// Since when the oldest abandoned job has been blocked (s).
        secs: u64,
    },
    /// No worker thread could be started.
    #[error("tier {tier}: cannot start a reader thread: {source}")]
    Spawn {
        /// Tier name.
        tier: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The job panicked.
    #[error("tier {tier}: a read job panicked")]
    Panicked {
        /// Tier name.
        tier: String,
    },
}

impl DeadlineError {
    /// The tier that did not answer.
    pub fn tier(&self) -> &str {
        match self {
            DeadlineError::Expired { tier, .. }
            | DeadlineError::Stuck { tier, .. }
            | DeadlineError::Spawn { tier, .. }
            | DeadlineError::Panicked { tier } => tier,
        }
    }

    /// True when the tier did not answer (expired or stuck), as opposed to
    /// a failure of the job machinery.
    pub fn is_not_answering(&self) -> bool {
        matches!(self, DeadlineError::Expired { .. } | DeadlineError::Stuck { .. })
    }

    /// The error as an `io::Error` of kind `TimedOut` carrying `self`, for
    /// readers behind `io::Read`; see [`DeadlineError::from_io`].
    pub fn into_io(self) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, self)
    }

    /// The [`DeadlineError`] inside an error chain, if any (also inside an
    /// `io::Error` made by [`DeadlineError::into_io`]).
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a DeadlineError> {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(d) = err.downcast_ref::<DeadlineError>() {
                return Some(d);
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if let Some(d) = io.get_ref().and_then(|i| i.downcast_ref::<DeadlineError>()) {
                    return Some(d);
                }
            }
            cur = err.source();
        }
        None
    }
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CANCELLED: u8 = 3;
const ABANDONED: u8 = 4;

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    queue: VecDeque<(Arc<AtomicU8>, Job)>,
    workers: usize,
    idle: usize,
    /// Jobs abandoned by their waiter and still running.
    abandoned: usize,
    /// When the first of the current abandoned jobs was abandoned.
    stuck_since: Option<Instant>,
    closed: bool,
}

struct Shared {
    tier: String,
    deadline: Duration,
    pool: Mutex<Pool>,
    work: Condvar,
    timeouts: AtomicU64,
    skipped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Deadline figures of one tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlineStats {
    /// Jobs abandoned at their deadline since start.
    pub timeouts: u64,
    /// Jobs refused at once because the tier was stuck.
    pub skipped: u64,
    /// Abandoned jobs still blocked now (the tier is stuck while > 0).
    pub blocked: usize,
}

/// The deadline and worker pool of one tier. Dropping it lets idle workers
/// exit; blocked ones exit when their call returns.
pub struct TierGuard {
    shared: Arc<Shared>,
}

/// A submitted job; [`Pending::wait`] for its result.
pub struct Pending<T> {
    rx: mpsc::Receiver<T>,
    state: Arc<AtomicU8>,
    shared: Arc<Shared>,
}

impl TierGuard {
    /// A guard for tier `tier` whose jobs must finish within `deadline`.
    pub fn new(tier: &str, deadline: Duration) -> Self {
        TierGuard {
            shared: Arc::new(Shared {
                tier: tier.to_string(),
                deadline,
                pool: Mutex::new(Pool {
                    queue: VecDeque::new(),
                    workers: 0,
                    idle: 0,
                    abandoned: 0,
                    stuck_since: None,
                    closed: false,
                }),
                work: Condvar::new(),
                timeouts: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
            }),
        }
    }

    /// The deadline of one job.
    pub fn deadline(&self) -> Duration {
        self.shared.deadline
    }

    /// Figures since start.
    pub fn stats(&self) -> DeadlineStats {
        let blocked = self.shared.lock().abandoned;
        DeadlineStats {
            timeouts: self.shared.timeouts.load(Ordering::Relaxed),
            skipped: self.shared.skipped.load(Ordering::Relaxed),
            blocked,
        }
    }

    /// Runs `f` on the tier's pool and waits for it until the deadline.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, DeadlineError> {
        let until = Instant::now() + self.shared.deadline;
        self.submit(f)?.wait(until)
    }

    /// Queues `f` on the tier's pool; fails at once when the tier is stuck.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Pending<T>, DeadlineError> {
        submit(&self.shared, f)
    }

    /// A handle for readers that outlive one job (open partition files).
    pub fn reader(&self) -> TierReader {
        TierReader {
            shared: self.shared.clone(),
        }
    }
}

/// Queues `f` on `sh`'s pool; fails at once when the tier is stuck.
fn submit<T: Send + 'static>(
    sh: &Arc<Shared>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<Pending<T>, DeadlineError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let state = Arc::new(AtomicU8::new(QUEUED));
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    let mut pool = sh.lock();
    if pool.abandoned > 0 {
        sh.skipped.fetch_add(1, Ordering::Relaxed);
        let secs = pool.stuck_since.map(|s| s.elapsed().as_secs()).unwrap_or(0);
        return Err(DeadlineError::Stuck {
            tier: sh.tier.clone(),
            secs,
        });
    }
    pool.queue.push_back((state.clone(), job));
    if pool.queue.len() > pool.idle && pool.workers < MAX_WORKERS {
        let worker = sh.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("strata-tier-{}", sh.tier))
            .spawn(move || work(worker));
        match spawned {
            Ok(_) => pool.workers += 1,
            Err(source) if pool.workers == 0 => {
                pool.queue.pop_back();
                return Err(DeadlineError::Spawn {
                    tier: sh.tier.clone(),
                    source,
                });
            }
            // The running workers will get to it.
            Err(e) => tracing::warn!(tier = %sh.tier, error = %e, "cannot start another reader thread"),
        }
    }
    drop(pool);
    sh.work.notify_one();
    Ok(Pending {
        rx,
        state,
        shared: sh.clone(),
    })
}

impl Drop for TierGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

impl<T> Pending<T> {
    /// The job's result, or an error once `until` has passed (the job is
    /// then abandoned, or dropped if it has not started).
    pub fn wait(self, until: Instant) -> Result<T, DeadlineError> {
        let sh = &self.shared;
        let left = until.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(v) => return Ok(v),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(DeadlineError::Panicked {
                    tier: sh.tier.clone(),
                })
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        {
            let mut pool = sh.lock();
            match self.state.load(Ordering::Acquire) {
                QUEUED => self.state.store(CANCELLED, Ordering::Release),
                RUNNING => {
                    self.state.store(ABANDONED, Ordering::Release);
                    if pool.abandoned == 0 {
                        pool.stuck_since = Some(Instant::now());
                    }
                    pool.abandoned += 1;
                }
                _ => {}
            }
        }
        // It may have finished meanwhile: a late answer is still an answer
        // (the worker clears the abandoned mark itself).
        if let Ok(v) = self.rx.try_recv() {
            return Ok(v);
        }
        sh.timeouts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(tier = %sh.tier, deadline_ms = sh.deadline.as_millis() as u64, "tier did not answer in time; read abandoned");
        Err(DeadlineError::Expired {
            tier: sh.tier.clone(),
            ms: sh.deadline.as_millis() as u64,
        })
    }
}

/// Runs jobs of one tier for a reader that lives longer than one job.
#[derive(Clone)]
pub struct TierReader {
    shared: Arc<Shared>,
}

impl TierReader {
    /// Runs `f` on the tier's pool within the deadline.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, DeadlineError> {
        let until = Instant::now() + self.shared.deadline;
        submit(&self.shared, f)?.wait(until)
    }

    /// `file` read through the tier's pool from its current position.
    pub fn file(&self, file: File) -> TierFile {
        TierFile {
            file: Arc::new(file),
            reader: self.clone(),
            pos: None,
            ahead: None,
            held: Vec::new(),
            held_len: 0,
            held_pos: 0,
            spare: RefCell::new(Vec::new()),
        }
    }
}

/// What a read job gives back: its buffer and how many bytes it read.
type ReadDone = (Vec<u8>, io::Result<usize>);

/// A read of the next bytes started before the caller asked for them.
struct ReadAhead {
    at: u64,
    len: usize,
    pending: Pending<ReadDone>,
}

/// An open file of a tier whose reads run on the tier's pool, each within
/// the deadline; a read that misses it fails with `TimedOut` carrying a
/// [`DeadlineError`] (see [`DeadlineError::find`]).
///
/// Reads are positional (the file's own offset is read once, then this
/// handle keeps the position) in chunks of at least [`READ_CHUNK`]; a
/// sequential reader gets the next chunk read ahead, so the hop to the
/// pool overlaps the caller's work on the current one.
pub struct TierFile {
    file: Arc<File>,
    reader: TierReader,
    /// Offset after the bytes held (`None`: the file's offset, not read
    /// yet).
    pos: Option<u64>,
    ahead: Option<ReadAhead>,
    /// The last chunk read; `held[held_pos..held_len]` not yet given out.
    held: Vec<u8>,
    held_len: usize,
    held_pos: usize,
    /// Buffer lent to the read jobs.
    spare: RefCell<Vec<u8>>,
}

impl TierFile {
    /// Starts reading `len` bytes at `at` on the pool with `op`.
    fn start(
        &self,
        len: usize,
        op: impl FnOnce(&File, &mut [u8]) -> io::Result<usize> + Send + 'static,
    ) -> Result<Pending<ReadDone>, DeadlineError> {
        let mut buf = self.spare.take();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let file = self.file.clone();
        submit(&self.reader.shared, move || {
            let n = op(&file, &mut buf[..len]);
            (buf, n)
        })
    }

    /// Waits for a read started by [`TierFile::start`] within the deadline.
    fn finish(&self, p: Pending<ReadDone>) -> io::Result<(Vec<u8>, usize)> {
        let (buf, n) = p
            .wait(Instant::now() + self.reader.shared.deadline)
            .map_err(DeadlineError::into_io)?;
        match n {
            Ok(n) => Ok((buf, n)),
            Err(e) => {
                self.spare.replace(buf);
                Err(e)
            }
        }
    }

    /// Reads `len` bytes on the pool with `op`; returns the filled buffer.
    fn job(
        &self,
        len: usize,
        op: impl FnOnce(&File, &mut [u8]) -> io::Result<usize> + Send + 'static,
    ) -> io::Result<(Vec<u8>, usize)> {
        let p = self.start(len, op).map_err(DeadlineError::into_io)?;
        self.finish(p)
    }

    /// The position of the next `read`.
    fn position(&mut self) -> io::Result<u64> {
        if let Some(p) = self.pos {
            return Ok(p);
        }
        let file = self.file.clone();
        let p = match self
            .reader
            .run(move || (&*file).stream_position())
            .map_err(DeadlineError::into_io)?
        {
            // A pipe has no position: it is read from where it is.
            Err(e) if e.raw_os_error() == Some(libc::ESPIPE) => 0,
            r => r?,
        };
        self.pos = Some(p);
        Ok(p)
    }
}

/// Reads at `at`; a file without positions (a pipe) is read from where
/// it is.
fn read_at(mut f: &File, b: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match FileExt::read_at(f, b, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::ESPIPE) => return f.read(b),
            r => return r,
        }
    }
}

/// Smallest read a [`TierFile`] asks the pool for.
pub const READ_CHUNK: usize = 256 * 1024;

impl Read for TierFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.held_pos == self.held_len {
            let at = self.position()?;
            if self.ahead.is_none() {
                if let Some(n) = cached_read(&self.file, out, at) {
                    self.pos = Some(at + n as u64);
                    (self.held_len, self.held_pos) = (0, 0);
                    return Ok(n);
                }
            }
            let len = READ_CHUNK.max(out.len());
            let (buf, n) = match self.ahead.take() {
                Some(a) if a.at == at && a.len == len => self.finish(a.pending)?,
                // Not what is asked for now: left to finish on its own.
                _ => self.job(len, move |f, b| read_at(f, b, at))?,
            };
            let old = std::mem::replace(&mut self.held, buf);
            if self.spare.borrow().is_empty() {
                self.spare.replace(old);
            }
            (self.held_len, self.held_pos) = (n, 0);
            let next = at + n as u64;
            self.pos = Some(next);
            if n == len {
                // A stuck tier refuses at once; the next read reports it.
                if let Ok(pending) = self.start(len, move |f, b| read_at(f, b, next)) {
                    self.ahead = Some(ReadAhead {
                        at: next,
                        len,
                        pending,
                    });
                }
            }
            if n == 0 {
                return Ok(0);
            }
        }
        let k = out.len().min(self.held_len - self.held_pos);
        out[..k].copy_from_slice(&self.held[self.held_pos..self.held_pos + k]);
        self.held_pos += k;
        Ok(k)
    }
}

impl Seek for TierFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        // Within the chunk held: no read (frame after frame of a compressed
        // partition is such a seek), and the read ahead stays.
        if let (SeekFrom::Start(p), Some(end)) = (pos, self.pos) {
            let start = end - self.held_len as u64;
            if (start..=end).contains(&p) {
                self.held_pos = (p - start) as usize;
                return Ok(p);
            }
        }
        self.ahead = None;
        let unread = (self.held_len - self.held_pos) as u64;
        (self.held_len, self.held_pos) = (0, 0);
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => (self.position()? - unread).checked_add_signed(d),
            SeekFrom::End(d) => {
                // The size comes from the file system (a hung NFS mount
                // can block there): on the pool.
                let file = self.file.clone();
                let len = self
                    .reader
                    .run(move || file.metadata().map(|m| m.len()))
                    .map_err(DeadlineError::into_io)??;
                len.checked_add_signed(d)
            }
        };
        let new = new.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the file")
        })?;
        self.pos = Some(new);
        Ok(new)
    }
}

impl ReadAt for TierFile {
    fn read_exact_at(&self, mut out: &mut [u8], mut at: u64) -> io::Result<()> {
        while !out.is_empty() {
            match cached_read(&self.file, out, at) {
                Some(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Some(n) => {
                    out = &mut out[n..];
                    at += n as u64;
                }
                None => break,
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        let (buf, n) = self.job(out.len(), move |f, b| {
            FileExt::read_exact_at(f, b, at).map(|()| b.len())
        })?;
        out.copy_from_slice(&buf[..n]);
        self.spare.replace(buf);
        Ok(())
    }
}

/// Reads at `at` on the calling thread only if it cannot block: the bytes
/// are in the page cache (`preadv2` with `RWF_NOWAIT`). `None`: they are
/// not (or the file system cannot tell, as NFS cannot) — the read goes to
/// the tier's pool. `Some(n)` may be short (only part was cached); `Some(0)`
/// is the end of the file.
#[cfg(target_os = "linux")]
fn cached_read(file: &File, buf: &mut [u8], at: u64) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let off = libc::off_t::try_from(at).ok()?;
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, which is valid for writes of its
    // length and outlives the call; the descriptor is `file`'s, open for
    // the duration of the call.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, off, libc::RWF_NOWAIT) };
    usize::try_from(n).ok()
}

#[cfg(not(target_os = "linux"))]
fn cached_read(_file: &File, _buf: &mut [u8], _at: u64) -> Option<usize> {
    None
}

/// A worker: runs queued jobs until closed or idle for [`IDLE_EXIT`].
fn work(sh: Arc<Shared>) {
    let mut pool = sh.lock();
    loop {
        let Some((state, job)) = pool.queue.pop_front() else {
            if pool.closed {
                break;
            }
            pool.idle += 1;
            let (p, timeout) = sh
                .work
                .wait_timeout(pool, IDLE_EXIT)
                .unwrap_or_else(|p| p.into_inner());
            pool = p;
            pool.idle -= 1;
            if timeout.timed_out() && pool.queue.is_empty() {
                break;
            }
            continue;
        };
        if state.load(Ordering::Acquire) == CANCELLED {
            continue;
        }
        state.store(RUNNING, Ordering::Release);
        drop(pool);
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_ok();
        pool = sh.lock();
        if state.swap(DONE, Ordering::AcqRel) == ABANDONED {
            pool.abandoned -= 1;
            if pool.abandoned == 0 {
                let secs = pool
                    .stuck_since
                    .take()
                    .map(|s| s.elapsed().as_secs())
                    .unwrap_or(0);
                tracing::info!(tier = %sh.tier, blocked_secs = secs, "tier answers again");
            }
        }
        if !ok {
            tracing::error!(tier = %sh.tier, "tier read job panicked");
        }
    }
    pool.workers -= 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn answers_within_the_deadline() {
        let g = TierGuard::new("T", Duration::from_secs(5));
        assert_eq!(g.run(|| 41 + 1).unwrap(), 42);
        assert_eq!(g.stats(), DeadlineStats::default());
    }

    #[test]
    fn a_blocked_job_is_abandoned_and_the_tier_fails_fast_until_it_returns() {
        let g = TierGuard::new("T", Duration::from_millis(50));
        let (release, blocked) = channel::<()>();
        let e = g.run(move || blocked.recv().is_ok()).unwrap_err();
        assert!(matches!(e, DeadlineError::Expired { .. }));
        let e = g.run(|| 1).unwrap_err();
        assert!(matches!(e, DeadlineError::Stuck { .. }));
        assert_eq!(
            g.stats(),
            DeadlineStats {
                timeouts: 1,
                skipped: 1,
                blocked: 1
            }
        );
        release.send(()).unwrap();
        // The blocked job returns; the tier answers again.
        let v = loop {
            match g.run(|| 7) {
                Ok(v) => break v,
                Err(DeadlineError::Stuck { .. }) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(v, 7);
        assert_eq!(g.stats().blocked, 0);
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_pool_goes_on() {
        let g = TierGuard::new("T", Duration::from_secs(5));
        let e = g.run(|| -> u8 { panic!("boom") }).unwrap_err();
        assert!(matches!(e, DeadlineError::Panicked { .. }));
        assert_eq!(g.run(|| 3).unwrap(), 3);
    }

    #[test]
    fn errors_are_found_through_io_and_chains() {
        let e = DeadlineError::Expired {
            tier: "MTS".into(),
            ms: 1,
        }
        .into_io();
        let any = anyhow::Error::new(e).context("reading");
        let found = DeadlineError::find(any.as_ref()).unwrap();
        assert_eq!(found.tier(), "MTS");
        assert!(found.is_not_answering());
    }

    /// Chunked reads with read-ahead, seeks inside and outside the chunk
    /// held, and positional reads give the file's bytes exactly.
    #[test]
    fn a_tier_file_reads_what_the_file_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.pb");
        let data: Vec<u8> = (0..3 * READ_CHUNK + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let g = TierGuard::new("T", Duration::from_secs(5));
        let mut file = File::open(&path).unwrap();
        file.seek(SeekFrom::Start(10)).unwrap();
        let mut f = g.reader().file(file);
        // From the file's own offset, in odd sizes, to the end.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 70_001];
        let mut sizes = [1usize, 100, 70_001, 4096, 65_536].iter().cycle();
        loop {
            let k = *sizes.next().unwrap();
            let n = f.read(&mut buf[..k]).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == data[10..], "sequential read differs");
        // Seeks: inside the chunk held, back to the start, relative, from the end.
        for (to, expect) in [
            (SeekFrom::Start(data.len() as u64 - 5), data.len() - 5),
            (SeekFrom::Start(3), 3),
            (SeekFrom::Start(READ_CHUNK as u64 + 1), READ_CHUNK + 1),
            (SeekFrom::Current(-1000), READ_CHUNK + 1 - 1000 + 7),
            (SeekFrom::End(-20), data.len() - 20),
        ] {
            let at = f.seek(to).unwrap() as usize;
            assert_eq!(at, expect, "{to:?}");
            let mut b = vec![0u8; 7.min(data.len() - at)];
            f.read_exact(&mut b).unwrap();
            assert_eq!(&b[..], &data[at..at + b.len()], "{to:?}");
        }
        let mut b = vec![0u8; 1000];
        f.read_exact_at(&mut b, 2 * READ_CHUNK as u64 - 300).unwrap();
        assert_eq!(&b[..], &data[2 * READ_CHUNK - 300..2 * READ_CHUNK + 700]);
    }

    #[test]
    fn a_read_that_stalls_mid_file_times_out_and_the_tier_recovers() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stalls.pb");
        let ok = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(ok.success());
        // The writer end opens once the reader does; it writes nothing yet.
        let p = path.clone();
        let writer = std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(p).unwrap());
        let file = File::open(&path).unwrap();
        let mut writer = writer.join().unwrap();
        let g = TierGuard::new("LTS", Duration::from_millis(50));
        let mut f = g.reader().file(file);
        let mut buf = [0u8; 16];
        let e = f.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let d = DeadlineError::find(&e).unwrap();
        assert!(matches!(d, DeadlineError::Expired { .. }));
        let e = f.read(&mut buf).unwrap_err();
        assert!(matches!(
            DeadlineError::find(&e),
            Some(DeadlineError::Stuck { .. })
        ));
        // Data arrives: the blocked read returns (its bytes go to the
        // abandoned job) and the tier answers again.
        writer.write_all(b"abc").unwrap();
        drop(writer);
        let n = loop {
            match f.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if matches!(DeadlineError::find(&e), Some(DeadlineError::Stuck { .. })) => {
                    std::thread::yield_now()
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(n, 0, "the abandoned read took the bytes; then end of pipe");
        assert_eq!(g.stats().blocked, 0);
    }
}
