//! `optimized[_n]` and `optimLastSample[_n]`: raw samples when the range
//! holds at most `n` of them, else binned vectors.
//!
//! The decision needs to know whether more than `n` samples would enter a
//! bin, so [`optimized`] and [`optim_last`] read ahead up to `n + 1` such
//! samples (plus the continuity candidate) before returning; the output
//! description therefore has the final type from the start (the input type
//! for raw output, WAVEFORM_DOUBLE for vectors). After the decision the
//! buffered samples are replayed in front of the rest of the input.
//!
//! `optimized`: `I = clamp((secs(to) - secs(from)) / n, 1, i32::MAX)`; the
//! binned output is `stats_I` (summary framework, fill or no-fill).
//! `optimLastSample`: `I = max(1, (ms(to) - ms(from)) / (1000 n))` (Java has
//! no lower bound and fails on short ranges; fixed), own binning with the
//! guard and continuity variant B, 6-element vectors
//! `[mean, std, min, max, N, last]` where `last` is the last non-NaN value
//! seen so far (0.0 before any). Empty bins between and after data bins, up
//! to the bin of `to`, become `[L, 0, L, L, 0, L]` with `L` from the
//! previous bin. Fixed Java quirks: fillers take the previous bin's severity
//! and no connection flag (Java gave them those of the bin being committed);
//! `optimLastSampleSample` emits no fillers (Java ignored the flag); a lone
//! continuity sample is returned raw (Java returned nothing).

use std::collections::VecDeque;

use crate::storage::EventStream;
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, Timestamp};

use super::bins::{self, BinGrid, Candidate, Guard};
use super::estimators::{BinValue, Moments, Stat};
use super::pump::{scratch, BinOutput, Flow, Operator, Out, Pumped};
use super::summary;

/// `optimized`'s bin interval for `[from, to]`.
pub(crate) fn optimized_interval(n: u32, from: Timestamp, to: Timestamp) -> u32 {
    let span = to.secs.saturating_sub(from.secs) / i64::from(n.max(1));
    span.clamp(1, i64::from(i32::MAX)) as u32
}

/// `optimLastSample`'s bin interval for `[from, to]` (at least 1 s).
pub(crate) fn optim_last_interval(n: u32, from: Timestamp, to: Timestamp) -> u32 {
    let span = to.millis().saturating_sub(from.millis()) / (1000 * i64::from(n.max(1)));
    span.clamp(1, i64::from(i32::MAX)) as u32
}

/// Passes the input through: after the read-ahead, replays what was read
/// (queued in front) and then the rest of the input.
struct Replay;

impl Operator for Replay {
    fn describe(&self, input: &EventStreamDesc, _name: &str) -> EventStreamDesc {
        input.clone()
    }

    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        std::mem::swap(out.sample, sample);
        Ok(Flow::Emitted)
    }
}

/// The final stream when the read-ahead decided for raw output (the samples
/// that entered bins, in order, unchanged) or failed (its error, once).
struct Decided {
    desc: EventStreamDesc,
    samples: VecDeque<ArchiverSample>,
    err: Option<anyhow::Error>,
}

impl EventStream for Decided {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        if let Some(e) = self.err.take() {
            return Err(e);
        }
        Ok(self.samples.pop_front())
    }
}

/// Which samples enter bins: continuity variant T (summary framework) or B.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    T,
    B(BinGrid),
}

/// Outcome of the read-ahead.
enum Decision {
    /// Raw samples, or the read-ahead error: the final stream.
    Done(Box<dyn EventStream>),
    /// More than `n` samples: the input with the read-ahead replayed in front.
    Binned(Box<dyn EventStream>),
}

/// Reads until more than `n` samples would enter bins or the input ends.
/// Values are checked numerically here, so a string input fails early.
///
/// Invariant of `buf`: the continuity candidate (if any) first, then the
/// in-range samples in order, then possibly the first sample past the range.
fn decide(
    mut input: Box<dyn EventStream>,
    name: &str,
    n: u32,
    variant: Variant,
    from: Timestamp,
    to: Timestamp,
    vector_len: i32,
) -> Decision {
    let in_desc = input.description().clone();
    let mut buf: VecDeque<ArchiverSample> = VecDeque::new();
    let mut in_range = 0usize;
    let mut has_cand = false;
    let mut suppress = false;
    let mut past_end = false;
    let mut prev: Option<Timestamp> = None;
    let mut cur = scratch();
    let res: anyhow::Result<bool> = (|| {
        while input.next_event_into(&mut cur)? {
            let ts = cur.ts();
            if prev.is_some_and(|p| ts <= p) {
                continue;
            }
            prev = Some(ts);
            bins::value_f64(name, &cur)?;
            let (before, after) = match variant {
                Variant::T => (ts < from, ts > to),
                Variant::B(g) => {
                    let b = g.bin(ts.secs);
                    (b < g.first, b > g.last)
                }
            };
            if before {
                // The guard makes every earlier buffered sample an older
                // candidate (for variant B also with `secs >=`): replace it.
                buf.clear();
                buf.push_back(cur.clone());
                has_cand = true;
                continue;
            }
            buf.push_back(cur.clone());
            if after {
                // Variant T: the guard rejects everything after this sample;
                // variant B: the time-ordered input has left the range.
                past_end = true;
                return Ok(false);
            }
            if variant == Variant::T && ts == from {
                suppress = true;
            }
            in_range += 1;
            if in_range + usize::from(has_cand && !suppress) > n as usize {
                return Ok(true);
            }
        }
        Ok(false)
    })();
    match res {
        Err(err) => {
            let desc = bins::out_desc(
                &in_desc,
                name,
                ArchDbType::WaveformDouble,
                Some(vector_len),
                Some(from.year()),
            );
            Decision::Done(Box::new(Decided {
                desc,
                samples: VecDeque::new(),
                err: Some(err),
            }))
        }
        Ok(true) => Decision::Binned(Box::new(Pumped::with_queue(input, name, Replay, buf))),
        Ok(false) => {
            if past_end {
                buf.pop_back();
            }
            if has_cand && suppress {
                buf.pop_front();
            }
            let desc = bins::out_desc(&in_desc, name, in_desc.db_type, None, None);
            Decision::Done(Box::new(Decided {
                desc,
                samples: buf,
                err: None,
            }))
        }
    }
}

/// The `optimized` stream.
pub(crate) fn optimized(
    input: Box<dyn EventStream>,
    name: String,
    n: u32,
    from: Timestamp,
    to: Timestamp,
    fill: bool,
) -> Box<dyn EventStream> {
    match decide(input, &name, n, Variant::T, from, to, 5) {
        Decision::Done(done) => done,
        Decision::Binned(replay) => {
            let grid = BinGrid::new(optimized_interval(n, from, to), from, to);
            summary::summary_stream(replay, name, Stat::Stats, grid, from, to, fill)
        }
    }
}

/// The `optimLastSample` stream.
pub(crate) fn optim_last(
    input: Box<dyn EventStream>,
    name: String,
    n: u32,
    from: Timestamp,
    to: Timestamp,
    fill: bool,
) -> Box<dyn EventStream> {
    let grid = BinGrid::new(optim_last_interval(n, from, to), from, to);
    match decide(input, &name, n, Variant::B(grid), from, to, 6) {
        Decision::Done(done) => done,
        Decision::Binned(replay) => {
            let op = OptimLast::new(name.clone(), grid, from.year(), fill);
            Pumped::boxed(replay, &name, op)
        }
    }
}

/// A committed `optimLastSample` bin's output.
#[derive(Debug, Clone, Copy)]
struct Saved {
    value: BinValue,
    severity: i32,
    cnx: bool,
}

/// The binned side of `optimLastSample`.
struct OptimLast {
    name: String,
    grid: BinGrid,
    /// Year of `from`, for the output description.
    year: i32,
    guard: Guard,
    cand: Candidate<(Timestamp, f64)>,
    /// Open bin: number, moments, max severity, connection flag.
    open: Option<(i64, Moments, i32, bool)>,
    last_value: f64,
    output: BinOutput<Saved>,
}

impl OptimLast {
    fn new(name: String, grid: BinGrid, year: i32, fill: bool) -> Self {
        OptimLast {
            name,
            grid,
            year,
            guard: Guard::default(),
            cand: Candidate::new(),
            open: None,
            last_value: 0.0,
            output: BinOutput::new(fill),
        }
    }

    fn add(&mut self, v: f64) {
        if let Some((_, m, _, _)) = self.open.as_mut() {
            if !v.is_nan() {
                self.last_value = v;
                m.add(v);
            }
        }
    }

    fn commit(&mut self) {
        if let Some((bin, m, severity, cnx)) = self.open.take() {
            let s = m.stats();
            let saved = Saved {
                value: BinValue::vector(&[s[0], s[1], s[2], s[3], s[4], self.last_value]),
                severity,
                cnx,
            };
            self.output.commit(bin, saved);
        }
    }

    /// Turns the previous output into the filler of the next empty bin.
    fn to_filler(p: &mut Saved) {
        let l = p.value.vals[5];
        p.value = BinValue::vector(&[l, 0.0, l, l, 0.0, l]);
        p.cnx = false;
    }

    fn write(out: &mut ArchiverSample, grid: &BinGrid, bin: i64, s: &Saved) {
        bins::reset_synthetic(out, grid.middle(bin), s.severity);
        bins::set_vector(out, s.value.values());
        if s.cnx {
            out.set_field("connectionChange", "true");
        }
    }
}

impl Operator for OptimLast {
    fn describe(&self, input: &EventStreamDesc, name: &str) -> EventStreamDesc {
        bins::out_desc(input, name, ArchDbType::WaveformDouble, Some(6), Some(self.year))
    }

    fn emit(&mut self, out: &mut ArchiverSample, input_ended: bool) -> bool {
        match self.output.next(input_ended, self.grid.last, Self::to_filler) {
            Some((bin, s)) => {
                Self::write(out, &self.grid, bin, s);
                true
            }
            None => false,
        }
    }

    fn push(&mut self, sample: &mut ArchiverSample, _out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let ts = sample.ts();
        if !self.guard.admit(ts) {
            return Ok(Flow::More);
        }
        let v = bins::value_f64(&self.name, sample)?;
        let b = self.grid.bin(ts.secs);
        if b < self.grid.first {
            if self.cand.wants(ts.secs) {
                self.cand.put(ts.secs, (ts, v));
            }
            return Ok(Flow::More);
        }
        if b > self.grid.last {
            return Ok(Flow::More);
        }
        if let Some((_, cv)) = self.cand.take() {
            self.open = Some((self.grid.first - 1, Moments::default(), 0, false));
            self.add(cv);
        }
        if self.open.is_none_or(|o| o.0 != b) {
            self.commit();
            self.open = Some((b, Moments::default(), 0, false));
        }
        self.add(v);
        let reconnect = bins::has_reconnect(sample);
        if let Some((_, _, sev, cnx)) = self.open.as_mut() {
            *sev = (*sev).max(sample.severity);
            *cnx |= reconnect;
        }
        Ok(self.output.flow())
    }

    fn finish(&mut self, _queue: &mut VecDeque<ArchiverSample>) {
        self.commit();
    }
}

#[cfg(test)]
#[path = "optimized_test.rs"]
mod tests;
