//! Finding samples by time in one PlainPB file (plainpb.md §7): binary
//! search over byte offsets, the newest sample at or before a time, and an
//! index-guided shortcut for regularly spaced samples.

use std::os::unix::fs::FileExt;

use super::file::{Bytes, PbFile, MAX_BACKTRACK};
use super::{Error, NEWLINE};
use crate::types::{ArchiverSample, Timestamp};

/// The latest time `< t`, at nanosecond resolution: searching `<=` it
/// finds what is strictly before `t`.
fn just_before(t: Timestamp) -> Timestamp {
    if t.nanos > 0 {
        Timestamp::new(t.secs, t.nanos - 1)
    } else {
        Timestamp::new(t.secs - 1, 999_999_999)
    }
}

impl PbFile {
    /// Start offset and timestamp of the first decodable line starting at or
    /// after byte `p` (a line starts at `data_start` or after a newline).
    fn probe(&self, bytes: &Bytes<'_>, p: u64, limit: u64) -> Result<Option<(u64, Timestamp)>, Error> {
        let io = |e| Error::io("read", &self.path, e);
        let mut start = if p <= self.data_start {
            self.data_start
        } else {
            match bytes.newline_after(p - 1).map_err(io)? {
                Some(nl) => nl + 1,
                None => return Ok(None),
            }
        };
        while start < limit {
            let Some(nl) = bytes.newline_after(start).map_err(io)? else {
                return Ok(None);
            };
            if nl >= limit {
                return Ok(None);
            }
            let line = bytes.read(start, nl).map_err(io)?;
            match self.ts_of(&line, start) {
                Ok(ts) => return Ok(Some((start, ts))),
                Err(_) => start = nl + 1,
            }
        }
        Ok(None)
    }

    /// Binary search (plainpb.md §7.2): returns `(first_after, at_or_before)`,
    /// the start offset of the first line with time `> t` (file end if none)
    /// and the start offset of the line before it (`None` if `t` precedes
    /// every sample). O(log size) block reads.
    pub fn search(&self, t: Timestamp) -> Result<(u64, Option<u64>), Error> {
        let bytes = self.bytes()?;
        self.search_in(&bytes, t)
    }

    fn search_in(&self, bytes: &Bytes<'_>, t: Timestamp) -> Result<(u64, Option<u64>), Error> {
        let limit = self.len;
        let (mut lo, mut hi) = (self.data_start, limit);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.probe(bytes, mid, limit)? {
                Some((_, ts)) if ts <= t => lo = mid + 1,
                _ => hi = mid,
            }
        }
        let first_after = match self.probe(bytes, lo, limit)? {
            Some((start, _)) => start,
            None => limit,
        };
        let before = if lo > self.data_start { Some(lo - 1) } else { None };
        // A damaged line between `before` and `first_after` can break the
        // adjacency argument; confirm `before` is a line start with ts <= t.
        let before = match before {
            Some(b) => match self.probe(bytes, b, limit)? {
                Some((s, ts)) if s == b && ts <= t => Some(b),
                _ => self.scan_back_for(bytes, first_after, t)?,
            },
            None => None,
        };
        Ok((first_after, before))
    }

    /// Slow path: walk back line by line from `from` to a line with ts <= t.
    fn scan_back_for(&self, bytes: &Bytes<'_>, from: u64, t: Timestamp) -> Result<Option<u64>, Error> {
        let io = |e| Error::io("read", &self.path, e);
        let mut end = from;
        for _ in 0..MAX_BACKTRACK {
            if end <= self.data_start {
                return Ok(None);
            }
            let nl = end - 1;
            let start = match bytes.newline_before(nl, self.data_start).map_err(io)? {
                Some(p) => p + 1,
                None => self.data_start,
            };
            let line = bytes.read(start, nl).map_err(io)?;
            if let Ok(ts) = self.ts_of(&line, start) {
                if ts <= t {
                    return Ok(Some(start));
                }
            }
            end = start;
        }
        Ok(None)
    }

    /// The newest sample with time `<= t` (or `< t` when `strict`), by binary search.
    pub fn last_at_or_before(&self, t: Timestamp, strict: bool) -> Result<Option<ArchiverSample>, Error> {
        let target = if strict { just_before(t) } else { t };
        let bytes = self.bytes()?;
        let (_, before) = self.search_in(&bytes, target)?;
        let Some(start) = before else { return Ok(None) };
        let io = |e| Error::io("read", &self.path, e);
        let Some(nl) = bytes.newline_after(start).map_err(io)? else {
            return Ok(None);
        };
        let line = bytes.read(start, nl).map_err(io)?;
        self.decode_at(&line, start).map(Some)
    }

    /// As [`PbFile::last_at_or_before`], guided by the file's first and last
    /// sample times (from an index): reads one small window at the
    /// interpolated position, which holds the answer for regularly spaced
    /// samples; otherwise falls back to the binary search.
    pub fn last_at_or_before_guided(
        &self,
        t: Timestamp,
        strict: bool,
        first: Timestamp,
        last: Timestamp,
    ) -> Result<Option<ArchiverSample>, Error> {
        const WINDOW: u64 = 2048;
        let target = if strict { just_before(t) } else { t };
        let span = last.as_f64() - first.as_f64();
        if target < first || target >= last || span <= 0.0 || self.len <= self.data_start {
            return self.last_at_or_before(t, strict);
        }
        let frac = ((target.as_f64() - first.as_f64()) / span).clamp(0.0, 1.0);
        let body = self.len - self.data_start;
        let pos = self.data_start + (frac * body as f64) as u64;
        let a = pos.saturating_sub(WINDOW / 2).max(self.data_start);
        let b = (a + WINDOW).min(self.len);
        let mut buf = vec![0u8; (b - a) as usize];
        self.file
            .read_exact_at(&mut buf, a)
            .map_err(|e| Error::io("read", &self.path, e))?;
        let mut at = if a == self.data_start {
            0
        } else {
            match memchr::memchr(NEWLINE, &buf) {
                Some(i) => i + 1,
                None => return self.last_at_or_before(t, strict),
            }
        };
        let mut cand: Option<(usize, usize)> = None;
        let mut saw_after = false;
        while let Some(i) = memchr::memchr(NEWLINE, &buf[at..]) {
            let line = &buf[at..at + i];
            if let Ok(ts) = self.ts_of(line, a + at as u64) {
                if ts <= target {
                    cand = Some((at, at + i));
                } else {
                    saw_after = true;
                    break;
                }
            }
            at += i + 1;
        }
        match cand {
            Some((x, y)) if saw_after => self.decode_at(&buf[x..y], a + x as u64).map(Some),
            _ => self.last_at_or_before(t, strict),
        }
    }
}
