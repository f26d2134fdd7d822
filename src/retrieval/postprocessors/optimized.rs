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
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

use super::bins::{self, BinGrid};
use super::estimators::{BinValue, Moments, Stat};
use super::summary;

fn scratch() -> ArchiverSample {
    ArchiverSample::at(0, 0, SampleValue::Double(0.0))
}

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

/// Buffered samples replayed before the rest of the input.
struct Replay {
    buf: VecDeque<ArchiverSample>,
    input: Box<dyn EventStream>,
}

impl EventStream for Replay {
    fn description(&self) -> &EventStreamDesc {
        self.input.description()
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        match self.buf.pop_front() {
            Some(s) => Ok(Some(s)),
            None => self.input.next_event(),
        }
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        match self.buf.pop_front() {
            Some(s) => {
                *out = s;
                Ok(true)
            }
            None => self.input.next_event_into(out),
        }
    }
}

/// A stream that fails once with the read-ahead error, then ends.
struct Failed {
    desc: EventStreamDesc,
    err: Option<anyhow::Error>,
}

impl EventStream for Failed {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        match self.err.take() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

/// Raw output: the samples that entered bins, in order, unchanged.
struct Raw {
    desc: EventStreamDesc,
    samples: VecDeque<ArchiverSample>,
}

impl EventStream for Raw {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
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
            Decision::Done(Box::new(Failed { desc, err: Some(err) }))
        }
        Ok(true) => Decision::Binned(Box::new(Replay { buf, input })),
        Ok(false) => {
            if past_end {
                buf.pop_back();
            }
            if has_cand && suppress {
                buf.pop_front();
            }
            let desc = bins::out_desc(&in_desc, name, in_desc.db_type, None, None);
            Decision::Done(Box::new(Raw { desc, samples: buf }))
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
        Decision::Binned(replay) => Box::new(OptimLast::new(replay, name, grid, from.year(), fill)),
    }
}

/// A committed `optimLastSample` bin.
#[derive(Debug, Clone, Copy)]
struct Saved {
    bin: i64,
    value: BinValue,
    severity: i32,
    cnx: bool,
}

/// The binned side of `optimLastSample`.
struct OptimLast {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    name: String,
    grid: BinGrid,
    fill: bool,
    cur: ArchiverSample,
    prev_ts: Option<Timestamp>,
    cand: Option<(Timestamp, f64)>,
    cand_used: bool,
    /// Open bin: number, moments, max severity, connection flag.
    open: Option<(i64, Moments, i32, bool)>,
    last_value: f64,
    ready: Option<Saved>,
    last_saved: Option<Saved>,
    fill_next: i64,
    done: bool,
}

impl OptimLast {
    fn new(input: Box<dyn EventStream>, name: String, grid: BinGrid, year: i32, fill: bool) -> Self {
        let desc = bins::out_desc(
            input.description(),
            &name,
            ArchDbType::WaveformDouble,
            Some(6),
            Some(year),
        );
        OptimLast {
            input,
            desc,
            name,
            grid,
            fill,
            cur: scratch(),
            prev_ts: None,
            cand: None,
            cand_used: false,
            open: None,
            last_value: 0.0,
            ready: None,
            last_saved: None,
            fill_next: 0,
            done: false,
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
            self.ready = Some(Saved {
                bin,
                value: BinValue::vector(&[s[0], s[1], s[2], s[3], s[4], self.last_value]),
                severity,
                cnx,
            });
        }
    }

    fn pump(&mut self) -> anyhow::Result<()> {
        while self.ready.is_none() && !self.done {
            if !self.input.next_event_into(&mut self.cur)? {
                self.done = true;
                self.commit();
                break;
            }
            let ts = self.cur.ts();
            if self.prev_ts.is_some_and(|p| ts <= p) {
                continue;
            }
            self.prev_ts = Some(ts);
            let v = bins::value_f64(&self.name, &self.cur)?;
            let b = self.grid.bin(ts.secs);
            if b < self.grid.first {
                if !self.cand_used && self.cand.is_none_or(|(c, _)| ts.secs >= c.secs) {
                    self.cand = Some((ts, v));
                }
                continue;
            }
            if b > self.grid.last {
                continue;
            }
            if !self.cand_used {
                self.cand_used = true;
                if let Some((_, cv)) = self.cand {
                    self.open = Some((self.grid.first - 1, Moments::default(), 0, false));
                    self.add(cv);
                }
            }
            if self.open.is_none_or(|o| o.0 != b) {
                self.commit();
                self.open = Some((b, Moments::default(), 0, false));
            }
            self.add(v);
            let reconnect = bins::has_reconnect(&self.cur);
            if let Some((_, _, sev, cnx)) = self.open.as_mut() {
                *sev = (*sev).max(self.cur.severity);
                *cnx |= reconnect;
            }
        }
        Ok(())
    }

    fn write(&self, out: &mut ArchiverSample, s: &Saved) {
        bins::reset_synthetic(out, self.grid.middle(s.bin), s.severity);
        bins::set_vector(out, s.value.values());
        if s.cnx {
            out.set_field("connectionChange", "true");
        }
    }

    /// The filler for `bin` after saved bin `p`.
    fn filler(p: &Saved, bin: i64) -> Saved {
        let l = p.value.vals[5];
        Saved {
            bin,
            value: BinValue::vector(&[l, 0.0, l, l, 0.0, l]),
            severity: p.severity,
            cnx: false,
        }
    }
}

impl EventStream for OptimLast {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        loop {
            if let Some(r) = self.ready {
                if let (true, Some(p)) = (self.fill, self.last_saved) {
                    if self.fill_next < r.bin {
                        let f = Self::filler(&p, self.fill_next);
                        self.write(out, &f);
                        self.fill_next += 1;
                        return Ok(true);
                    }
                }
                self.write(out, &r);
                self.last_saved = Some(r);
                self.fill_next = r.bin + 1;
                self.ready = None;
                return Ok(true);
            }
            if self.done {
                if let (true, Some(p)) = (self.fill, self.last_saved) {
                    if self.fill_next <= self.grid.last {
                        let f = Self::filler(&p, self.fill_next);
                        self.write(out, &f);
                        self.fill_next += 1;
                        return Ok(true);
                    }
                }
                return Ok(false);
            }
            self.pump()?;
        }
    }
}

#[cfg(test)]
#[path = "optimized_test.rs"]
mod tests;
