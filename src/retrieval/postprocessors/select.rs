//! Operators that select input samples rather than compute statistics:
//! `firstSample`, `lastSample`, `firstFill`, `lastFill`, `nth` and `ncount`.
//! They read no values, so they work for every type (waveforms stay whole).
//!
//! Continuity "variant B" (Java's `firstSample`, `lastSample`, `*Fill`):
//! "before start" means `bin < first`, "in range" `first <= bin <= last`
//! (so a sample early in the bin of `from` is in range); the candidate is
//! replaced by a later arrival with `secs >= secs(candidate)` until it is
//! used; it is used when the first in-range sample arrives, or at the end.

use std::collections::VecDeque;

use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

use super::bins::{self, BinGrid, Candidate, Guard};
use super::pump::{scratch, BinOutput, Flow, Operator, Out};

/// Where a sample stands for the variant-B operators: the bin of `sample`
/// if in range; a sample before the first bin is offered to `cand` and one
/// after the last bin is skipped (`None`).
fn in_range_bin(
    grid: &BinGrid,
    cand: &mut Candidate<ArchiverSample>,
    sample: &ArchiverSample,
) -> Option<i64> {
    let secs = sample.ts().secs;
    let b = grid.bin(secs);
    if b < grid.first {
        if cand.wants(secs) {
            cand.put(secs, sample.clone());
        }
        return None;
    }
    (b <= grid.last).then_some(b)
}

/// `firstSample[_I]`: the first sample of each bin, whole (fields kept), plus
/// the continuity candidate before the first one. No fill, no guard.
pub(crate) struct FirstSample {
    grid: BinGrid,
    cand: Candidate<ArchiverSample>,
    prev_bin: Option<i64>,
}

impl FirstSample {
    pub(crate) fn new(grid: BinGrid) -> Self {
        FirstSample {
            grid,
            cand: Candidate::new(),
            prev_bin: None,
        }
    }
}

impl Operator for FirstSample {
    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let Some(b) = in_range_bin(&self.grid, &mut self.cand, sample) else {
            return Ok(Flow::More);
        };
        if self.prev_bin == Some(b) {
            return Ok(Flow::More);
        }
        self.prev_bin = Some(b);
        match self.cand.take() {
            Some(c) => {
                // The candidate first, then this sample.
                out.queue.push_back(sample.clone());
                *out.sample = c;
            }
            None => std::mem::swap(out.sample, sample),
        }
        Ok(Flow::Emitted)
    }

    fn finish(&mut self, queue: &mut VecDeque<ArchiverSample>) {
        // Java's after-all-streams hook: an unused candidate is emitted last.
        queue.extend(self.cand.take());
    }
}

/// `lastSample[_I]`: the last sample of each bin at its own timestamp,
/// rebuilt without fields (Java's rebuild drops them; kept), plus the
/// continuity candidate in bin `first - 1`. No fill, no guard.
pub(crate) struct LastSample {
    grid: BinGrid,
    cand: Candidate<ArchiverSample>,
    /// Last sample of the open bin (fields already stripped) and its bin.
    held: Option<(i64, ArchiverSample)>,
}

impl LastSample {
    pub(crate) fn new(grid: BinGrid) -> Self {
        LastSample {
            grid,
            cand: Candidate::new(),
            held: None,
        }
    }
}

impl Operator for LastSample {
    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let Some(b) = in_range_bin(&self.grid, &mut self.cand, sample) else {
            return Ok(Flow::More);
        };
        bins::strip(sample);
        if let Some(mut c) = self.cand.take() {
            // The candidate's bin `first - 1` precedes every in-range bin.
            bins::strip(&mut c);
            self.held = Some((b, std::mem::replace(sample, c)));
            std::mem::swap(out.sample, sample);
            return Ok(Flow::Emitted);
        }
        match &mut self.held {
            Some((hb, h)) if *hb == b => {
                // Inside a bin a sample replaces the entry only if strictly later.
                if sample.timestamp > h.timestamp {
                    std::mem::swap(h, sample);
                }
                Ok(Flow::More)
            }
            Some((hb, h)) => {
                *hb = b;
                std::mem::swap(h, sample);
                std::mem::swap(out.sample, sample);
                Ok(Flow::Emitted)
            }
            None => {
                self.held = Some((b, sample.clone()));
                Ok(Flow::More)
            }
        }
    }

    fn finish(&mut self, queue: &mut VecDeque<ArchiverSample>) {
        if let Some(mut c) = self.cand.take() {
            bins::strip(&mut c);
            queue.push_back(c);
        }
        queue.extend(self.held.take().map(|(_, h)| h));
    }
}

/// `firstFill[_I]` / `lastFill[_I]`: one sample per bin at the bin middle
/// (whole second), with the value, status, severity and type of the bin's
/// first / last sample; every bin from the first with data up to the bin of
/// `to` is emitted, empty ones repeating the previous bin. Fields dropped.
pub(crate) struct FillSelect {
    grid: BinGrid,
    last_wins: bool,
    cand: Candidate<ArchiverSample>,
    /// The selection of the open bin.
    sel: Option<(i64, ArchiverSample)>,
    /// Closed bins; every bin is filled (a filler repeats the previous one).
    output: BinOutput<ArchiverSample>,
}

impl FillSelect {
    pub(crate) fn new(grid: BinGrid, last_wins: bool) -> Self {
        FillSelect {
            grid,
            last_wins,
            cand: Candidate::new(),
            sel: None,
            output: BinOutput::new(true),
        }
    }

    /// Moves the candidate into bin `first - 1` as the open selection.
    fn select_candidate(&mut self) {
        if let Some(mut c) = self.cand.take() {
            bins::strip(&mut c);
            self.sel = Some((self.grid.first - 1, c));
        }
    }
}

impl Operator for FillSelect {
    fn push(&mut self, sample: &mut ArchiverSample, _out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let Some(b) = in_range_bin(&self.grid, &mut self.cand, sample) else {
            return Ok(Flow::More);
        };
        self.select_candidate();
        match &mut self.sel {
            Some((sb, s)) if *sb == b => {
                let replace = if self.last_wins {
                    sample.timestamp > s.timestamp
                } else {
                    sample.timestamp < s.timestamp
                };
                if replace {
                    bins::strip(sample);
                    std::mem::swap(s, sample);
                }
                Ok(Flow::More)
            }
            _ => {
                // Bin `b` starts with this sample; the previous one is closed.
                bins::strip(sample);
                let s = std::mem::replace(sample, scratch());
                if let Some((closed, sel)) = self.sel.replace((b, s)) {
                    self.output.commit(closed, sel);
                }
                Ok(self.output.flow())
            }
        }
    }

    fn finish(&mut self, _queue: &mut VecDeque<ArchiverSample>) {
        if self.sel.is_none() {
            self.select_candidate();
        }
        if let Some((bin, sel)) = self.sel.take() {
            self.output.commit(bin, sel);
        }
    }

    fn emit(&mut self, out: &mut ArchiverSample, input_ended: bool) -> bool {
        let Some((bin, src)) = self.output.next(input_ended, self.grid.last, |_| {}) else {
            return false;
        };
        bins::copy_stripped(out, src);
        out.timestamp = self.grid.middle_whole(bin).to_system_time();
        true
    }
}

/// `nth[_n]`: the 1st, (n+1)th, … sample with `ms(from) <= ms(ts) <= ms(to)`
/// after the ordering guard, rebuilt without fields. No continuity sample.
/// Java stops at 2 147 483 samples (a memory cap of its consolidated list);
/// strata streams and has no cap.
pub(crate) struct Nth {
    n: u64,
    from_ms: i64,
    to_ms: i64,
    i: u64,
    guard: Guard,
}

impl Nth {
    pub(crate) fn new(n: u32, from: Timestamp, to: Timestamp) -> Self {
        Nth {
            n: u64::from(n.max(1)),
            from_ms: from.millis(),
            to_ms: to.millis(),
            i: 0,
            guard: Guard::default(),
        }
    }
}

impl Operator for Nth {
    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let ts = sample.ts();
        if !self.guard.admit(ts) {
            return Ok(Flow::More);
        }
        let ms = ts.millis();
        if ms < self.from_ms || ms > self.to_ms {
            return Ok(Flow::More);
        }
        let keep = self.i % self.n == 0;
        self.i += 1;
        if !keep {
            return Ok(Flow::More);
        }
        bins::strip(sample);
        std::mem::swap(out.sample, sample);
        Ok(Flow::Emitted)
    }
}

/// `ncount`: one SCALAR_INT sample at `from` (truncated to milliseconds)
/// holding the number of samples with `ms(from) <= ms(ts) <= ms(to)` after
/// the ordering guard; emitted even when the count is 0. The input is one
/// merged stream, so tier overlap is not double counted as in Java.
pub(crate) struct NCount {
    from: Timestamp,
    from_ms: i64,
    to_ms: i64,
    count: u64,
    guard: Guard,
    /// The count was emitted.
    emitted: bool,
}

impl NCount {
    pub(crate) fn new(from: Timestamp, to: Timestamp) -> Self {
        NCount {
            from,
            from_ms: from.millis(),
            to_ms: to.millis(),
            count: 0,
            guard: Guard::default(),
            emitted: false,
        }
    }
}

impl Operator for NCount {
    fn describe(&self, input: &EventStreamDesc, name: &str) -> EventStreamDesc {
        bins::out_desc(input, name, ArchDbType::ScalarInt, None, Some(self.from.year()))
    }

    fn push(&mut self, sample: &mut ArchiverSample, _out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let ts = sample.ts();
        if !self.guard.admit(ts) {
            return Ok(Flow::More);
        }
        let ms = ts.millis();
        if ms >= self.from_ms && ms <= self.to_ms {
            self.count += 1;
        }
        Ok(Flow::More)
    }

    fn emit(&mut self, out: &mut ArchiverSample, input_ended: bool) -> bool {
        if !input_ended || self.emitted {
            return false;
        }
        self.emitted = true;
        let at = Timestamp::new(self.from.secs, self.from.nanos - self.from.nanos % 1_000_000);
        bins::reset_synthetic(out, at, 0);
        out.value = SampleValue::Int(i32::try_from(self.count).unwrap_or(i32::MAX));
        true
    }
}

#[cfg(test)]
#[path = "select_test.rs"]
mod tests;
