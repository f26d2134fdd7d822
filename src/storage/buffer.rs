//! Per-PV write buffers of one tier.
//!
//! An append encodes the sample into its PV's buffer (no I/O). Buffers are
//! written by flush cycles: when a PV's buffer exceeds its limit, when the
//! total exceeds the store limit (oldest-dirtied PVs first, via a FIFO, so no
//! scan over PVs), or on request.
//!
//! Lock order: `Store::flush_lock` before any `PvState` lock; a `PvState`
//! lock is never held during I/O.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use dashmap::DashMap;

use crate::plainpb::{encode_sample_at, escape_into};
use crate::storage::AppendMeta;
use crate::types::{ArchDbType, ArchiverSample, PartitionGranularity, Timestamp};

/// Samples of one PV for one partition, escaped and newline-terminated.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub start: i64,
    pub year: i32,
    pub db_type: ArchDbType,
    pub lines: Vec<u8>,
    /// Offset of each line start in `lines`.
    pub offsets: Vec<u32>,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Unescaped message of the last sample.
    pub last_raw: Vec<u8>,
}

impl Segment {
    pub fn count(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// Line `i` without its newline.
    pub fn line(&self, i: usize) -> &[u8] {
        let a = self.offsets[i] as usize;
        let b = self.offsets.get(i + 1).map_or(self.lines.len(), |o| *o as usize);
        &self.lines[a..b - 1]
    }

    /// Time of line `i` (decoded from the line; buffers are read rarely).
    pub fn ts_at(&self, i: usize) -> Timestamp {
        let line = self.line(i);
        let mut raw = Vec::with_capacity(line.len());
        if crate::plainpb::unescape_into(line, &mut raw).is_err() {
            return self.last;
        }
        match crate::plainpb::decode_timestamp(&raw) {
            Ok((soy, nano)) => Timestamp::new(crate::types::year_start(self.year) + i64::from(soy), nano),
            Err(_) => self.last,
        }
    }

    /// Number of leading lines whose time satisfies `pred` (times increase).
    pub fn partition_point(&self, pred: impl Fn(Timestamp) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.offsets.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.ts_at(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Buffered state of one PV.
#[derive(Debug, Default)]
pub(crate) struct PvState {
    /// Initialised from the index on first use.
    pub loaded: bool,
    /// Storage key for new files.
    pub key: String,
    /// Type of the stored data (from the index or the first append).
    pub db_type: Option<ArchDbType>,
    /// Newest timestamp stored or buffered; appends must be later.
    pub last_ts: Option<Timestamp>,
    pub segments: Vec<Segment>,
    /// Segments taken by a running flush, still visible to reads.
    pub inflight: Vec<Arc<Segment>>,
    pub buffered: usize,
    pub queued: bool,
    /// Header fields for new files.
    pub meta: Option<AppendMeta>,
    /// Samples dropped because their time was not after the last one.
    pub dropped_time: u64,
    /// Samples dropped because of a type change.
    pub dropped_type: u64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Buffered; the PV now holds this many bytes.
    Buffered(usize),
    /// Dropped: not later than the newest stored sample.
    DroppedTime,
}

/// All buffers of one tier.
pub(crate) struct Buffers {
    pub map: DashMap<String, Arc<Mutex<PvState>>, ahash::RandomState>,
    pub dirty: Mutex<VecDeque<String>>,
    pub total: AtomicUsize,
    pub dropped_time: AtomicU64,
    pub granularity: PartitionGranularity,
}

pub(crate) fn lock(m: &Mutex<PvState>) -> MutexGuard<'_, PvState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Buffers {
    pub fn new(granularity: PartitionGranularity) -> Self {
        Buffers {
            map: DashMap::with_hasher(ahash::RandomState::new()),
            dirty: Mutex::new(VecDeque::new()),
            total: AtomicUsize::new(0),
            dropped_time: AtomicU64::new(0),
            granularity,
        }
    }

    pub fn state(&self, pv: &str) -> Arc<Mutex<PvState>> {
        if let Some(s) = self.map.get(pv) {
            return s.clone();
        }
        self.map.entry(pv.to_string()).or_default().clone()
    }

    pub fn existing(&self, pv: &str) -> Option<Arc<Mutex<PvState>>> {
        self.map.get(pv).map(|s| s.clone())
    }

    /// Encodes and buffers `sample` in the (loaded, locked) state of `pv`.
    pub fn append_locked(
        &self,
        pv: &str,
        st: &mut PvState,
        sample: &ArchiverSample,
        scratch: &mut Vec<u8>,
    ) -> Result<Appended, String> {
        let ts = sample.ts();
        if st.last_ts.is_some_and(|last| ts <= last) {
            st.dropped_time += 1;
            self.dropped_time.fetch_add(1, Ordering::Relaxed);
            return Ok(Appended::DroppedTime);
        }
        let db_type = sample.value.db_type();
        let start = self.granularity.partition_start(ts.secs);
        let year = ts.year();
        scratch.clear();
        encode_sample_at(sample, ts, year, scratch).map_err(|e| e.to_string())?;
        let needs_new = st.segments.last().is_none_or(|s| s.start != start);
        if needs_new {
            st.segments.push(Segment {
                start,
                year,
                db_type,
                lines: Vec::with_capacity(4096),
                offsets: Vec::with_capacity(256),
                first: ts,
                last: ts,
                last_raw: Vec::new(),
            });
        }
        let before;
        {
            let seg = st.segments.last_mut().ok_or("no segment")?;
            before = seg.lines.len();
            let offset = u32::try_from(before).map_err(|_| "segment too large")?;
            escape_into(scratch, &mut seg.lines);
            seg.lines.push(b'\n');
            seg.offsets.push(offset);
            seg.last = ts;
            seg.last_raw.clear();
            seg.last_raw.extend_from_slice(scratch);
            let added = seg.lines.len() - before;
            st.buffered += added;
            self.total.fetch_add(added, Ordering::Relaxed);
        }
        st.last_ts = Some(ts);
        if !st.queued {
            st.queued = true;
            self.dirty
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back(pv.to_string());
        }
        Ok(Appended::Buffered(st.buffered))
    }

    /// Takes up to `bytes` worth of the oldest dirty PVs' names off the queue
    /// (all of them when `bytes` is `None`).
    pub fn take_dirty(&self, bytes: Option<usize>) -> Vec<String> {
        let mut q = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        match bytes {
            None => q.drain(..).collect(),
            Some(limit) => {
                let mut out = Vec::new();
                let mut got = 0;
                while got < limit {
                    let Some(pv) = q.pop_front() else { break };
                    if let Some(st) = self.map.get(&pv) {
                        got += lock(&st).buffered;
                    }
                    out.push(pv);
                }
                out
            }
        }
    }

    /// Puts segments taken by a flush that wrote nothing back in front of
    /// what was buffered since, so the next flush writes them.
    pub fn restore(&self, pv: &str, st: &mut PvState, taken: Vec<Segment>) {
        let bytes: usize = taken.iter().map(|s| s.lines.len()).sum();
        let newer = std::mem::take(&mut st.segments);
        st.segments = taken;
        st.segments.extend(newer);
        st.inflight.clear();
        st.buffered += bytes;
        self.total.fetch_add(bytes, Ordering::Relaxed);
        if !st.queued {
            st.queued = true;
            self.dirty
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_front(pv.to_string());
        }
    }

    /// Puts names back at the front of the queue (deferred PVs).
    pub fn requeue(&self, pvs: &[String]) {
        let mut q = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        for pv in pvs.iter().rev() {
            q.push_front(pv.clone());
        }
    }

    /// Forgets a PV's state (after a failed flush, a delete or a rename).
    pub fn evict(&self, pv: &str) -> usize {
        let Some((_, st)) = self.map.remove(pv) else {
            return 0;
        };
        let st = lock(&st);
        let lost = st.buffered;
        self.total
            .fetch_sub(lost.min(self.total.load(Ordering::Relaxed)), Ordering::Relaxed);
        lost
    }
}
