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

use crate::storage::EventStream;
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

use super::bins::{self, BinGrid};

fn scratch() -> ArchiverSample {
    ArchiverSample::at(0, 0, SampleValue::Double(0.0))
}

/// Variant-B continuity candidate.
struct Candidate {
    sample: Option<ArchiverSample>,
    used: bool,
}

impl Candidate {
    fn new() -> Self {
        Candidate {
            sample: None,
            used: false,
        }
    }

    /// Offers a sample with `bin < first`.
    fn offer(&mut self, s: &ArchiverSample) {
        if self.used {
            return;
        }
        match &mut self.sample {
            Some(c) if s.ts().secs < c.ts().secs => {}
            Some(c) => c.clone_from(s),
            None => self.sample = Some(s.clone()),
        }
    }

    /// Takes the candidate for use (once).
    fn take(&mut self) -> Option<ArchiverSample> {
        if self.used {
            return None;
        }
        self.used = true;
        self.sample.take()
    }
}

/// `firstSample[_I]`: the first sample of each bin, whole (fields kept), plus
/// the continuity candidate before the first one. No fill, no guard.
pub(crate) struct FirstSample {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    grid: BinGrid,
    cur: ArchiverSample,
    cand: Candidate,
    prev_bin: Option<i64>,
    pending: VecDeque<ArchiverSample>,
    done: bool,
}

impl FirstSample {
    pub(crate) fn new(input: Box<dyn EventStream>, name: String, grid: BinGrid) -> Self {
        let d = input.description();
        let desc = bins::out_desc(d, &name, d.db_type, None, None);
        FirstSample {
            input,
            desc,
            grid,
            cur: scratch(),
            cand: Candidate::new(),
            prev_bin: None,
            pending: VecDeque::with_capacity(1),
            done: false,
        }
    }
}

impl EventStream for FirstSample {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        if let Some(p) = self.pending.pop_front() {
            *out = p;
            return Ok(true);
        }
        while !self.done {
            if !self.input.next_event_into(&mut self.cur)? {
                self.done = true;
                break;
            }
            let b = self.grid.bin(self.cur.ts().secs);
            if b < self.grid.first {
                self.cand.offer(&self.cur);
                continue;
            }
            if b > self.grid.last || self.prev_bin == Some(b) {
                continue;
            }
            self.prev_bin = Some(b);
            if let Some(c) = self.cand.take() {
                self.pending.push_back(self.cur.clone());
                *out = c;
            } else {
                std::mem::swap(out, &mut self.cur);
            }
            return Ok(true);
        }
        // Java's after-all-streams hook: an unused candidate is emitted last.
        if let Some(c) = self.cand.take() {
            *out = c;
            return Ok(true);
        }
        Ok(false)
    }
}

/// `lastSample[_I]`: the last sample of each bin at its own timestamp,
/// rebuilt without fields (Java's rebuild drops them; kept), plus the
/// continuity candidate in bin `first - 1`. No fill, no guard.
pub(crate) struct LastSample {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    grid: BinGrid,
    cur: ArchiverSample,
    cand: Candidate,
    /// Last sample of the open bin (fields already stripped) and its bin.
    held: Option<(i64, ArchiverSample)>,
    done: bool,
}

impl LastSample {
    pub(crate) fn new(input: Box<dyn EventStream>, name: String, grid: BinGrid) -> Self {
        let d = input.description();
        let desc = bins::out_desc(d, &name, d.db_type, None, None);
        LastSample {
            input,
            desc,
            grid,
            cur: scratch(),
            cand: Candidate::new(),
            held: None,
            done: false,
        }
    }
}

impl EventStream for LastSample {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        while !self.done {
            if !self.input.next_event_into(&mut self.cur)? {
                self.done = true;
                break;
            }
            let b = self.grid.bin(self.cur.ts().secs);
            if b < self.grid.first {
                self.cand.offer(&self.cur);
                continue;
            }
            if b > self.grid.last {
                continue;
            }
            bins::strip(&mut self.cur);
            if let Some(mut c) = self.cand.take() {
                // The candidate's bin `first - 1` precedes every in-range bin.
                bins::strip(&mut c);
                self.held = Some((b, std::mem::replace(&mut self.cur, c)));
                std::mem::swap(out, &mut self.cur);
                return Ok(true);
            }
            match &mut self.held {
                Some((hb, h)) if *hb == b => {
                    // Inside a bin a sample replaces the entry only if strictly later.
                    if self.cur.timestamp > h.timestamp {
                        std::mem::swap(h, &mut self.cur);
                    }
                }
                Some((hb, h)) => {
                    *hb = b;
                    std::mem::swap(h, &mut self.cur);
                    std::mem::swap(out, &mut self.cur);
                    return Ok(true);
                }
                None => self.held = Some((b, self.cur.clone())),
            }
        }
        if let Some(mut c) = self.cand.take() {
            bins::strip(&mut c);
            *out = c;
            return Ok(true);
        }
        if let Some((_, h)) = self.held.take() {
            *out = h;
            return Ok(true);
        }
        Ok(false)
    }
}

/// `firstFill[_I]` / `lastFill[_I]`: one sample per bin at the bin middle
/// (whole second), with the value, status, severity and type of the bin's
/// first / last sample; every bin from the first with data up to the bin of
/// `to` is emitted, empty ones repeating the previous bin. Fields dropped.
pub(crate) struct FillSelect {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    grid: BinGrid,
    last_wins: bool,
    cur: ArchiverSample,
    cand: Candidate,
    /// The selection of the open bin.
    sel: Option<(i64, ArchiverSample)>,
    /// A closed bin waiting to be emitted.
    ready: Option<(i64, ArchiverSample)>,
    /// The last emitted sample (the fill template) and the next bin to emit.
    template: Option<ArchiverSample>,
    next_bin: i64,
    done: bool,
}

impl FillSelect {
    pub(crate) fn new(input: Box<dyn EventStream>, name: String, grid: BinGrid, last_wins: bool) -> Self {
        let d = input.description();
        let desc = bins::out_desc(d, &name, d.db_type, None, None);
        FillSelect {
            input,
            desc,
            grid,
            last_wins,
            cur: scratch(),
            cand: Candidate::new(),
            sel: None,
            ready: None,
            template: None,
            next_bin: 0,
            done: false,
        }
    }

    /// Starts bin `b` with the sample in `cur`, closing the previous selection.
    fn start_bin(&mut self, b: i64) {
        bins::strip(&mut self.cur);
        let s = std::mem::replace(&mut self.cur, scratch());
        self.ready = self.sel.replace((b, s));
    }

    fn pump(&mut self) -> anyhow::Result<()> {
        while self.ready.is_none() && !self.done {
            if !self.input.next_event_into(&mut self.cur)? {
                self.done = true;
                if self.sel.is_none() {
                    if let Some(mut c) = self.cand.take() {
                        bins::strip(&mut c);
                        self.sel = Some((self.grid.first - 1, c));
                    }
                }
                self.ready = self.sel.take();
                break;
            }
            let b = self.grid.bin(self.cur.ts().secs);
            if b < self.grid.first {
                self.cand.offer(&self.cur);
                continue;
            }
            if b > self.grid.last {
                continue;
            }
            if let Some(mut c) = self.cand.take() {
                bins::strip(&mut c);
                self.sel = Some((self.grid.first - 1, c));
            }
            match &mut self.sel {
                Some((sb, s)) if *sb == b => {
                    let replace = if self.last_wins {
                        self.cur.timestamp > s.timestamp
                    } else {
                        self.cur.timestamp < s.timestamp
                    };
                    if replace {
                        bins::strip(&mut self.cur);
                        std::mem::swap(s, &mut self.cur);
                    }
                }
                _ => self.start_bin(b),
            }
        }
        Ok(())
    }

    fn emit(&self, out: &mut ArchiverSample, src: &ArchiverSample, bin: i64) {
        bins::copy_stripped(out, src);
        out.timestamp = self.grid.middle_whole(bin).to_system_time();
    }
}

impl EventStream for FillSelect {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        loop {
            if let Some((rb, _)) = &self.ready {
                let rb = *rb;
                if let Some(t) = &self.template {
                    if self.next_bin < rb {
                        self.emit(out, t, self.next_bin);
                        self.next_bin += 1;
                        return Ok(true);
                    }
                }
                if let Some((_, r)) = self.ready.take() {
                    self.emit(out, &r, rb);
                    self.template = Some(r);
                    self.next_bin = rb + 1;
                    return Ok(true);
                }
            }
            if self.done {
                if let Some(t) = &self.template {
                    if self.next_bin <= self.grid.last {
                        self.emit(out, t, self.next_bin);
                        self.next_bin += 1;
                        return Ok(true);
                    }
                }
                return Ok(false);
            }
            self.pump()?;
        }
    }
}

/// `nth[_n]`: the 1st, (n+1)th, … sample with `ms(from) <= ms(ts) <= ms(to)`
/// after the ordering guard, rebuilt without fields. No continuity sample.
/// Java stops at 2 147 483 samples (a memory cap of its consolidated list);
/// strata streams and has no cap.
pub(crate) struct Nth {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    n: u64,
    from_ms: i64,
    to_ms: i64,
    i: u64,
    prev_ts: Option<Timestamp>,
}

impl Nth {
    pub(crate) fn new(
        input: Box<dyn EventStream>,
        name: String,
        n: u32,
        from: Timestamp,
        to: Timestamp,
    ) -> Self {
        let d = input.description();
        let desc = bins::out_desc(d, &name, d.db_type, None, None);
        Nth {
            input,
            desc,
            n: u64::from(n.max(1)),
            from_ms: from.millis(),
            to_ms: to.millis(),
            i: 0,
            prev_ts: None,
        }
    }
}

impl EventStream for Nth {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        while self.input.next_event_into(out)? {
            let ts = out.ts();
            if self.prev_ts.is_some_and(|p| ts <= p) {
                continue;
            }
            self.prev_ts = Some(ts);
            let ms = ts.millis();
            if ms < self.from_ms || ms > self.to_ms {
                continue;
            }
            let keep = self.i % self.n == 0;
            self.i += 1;
            if keep {
                bins::strip(out);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// `ncount`: one SCALAR_INT sample at `from` (truncated to milliseconds)
/// holding the number of samples with `ms(from) <= ms(ts) <= ms(to)` after
/// the ordering guard; emitted even when the count is 0. The input is one
/// merged stream, so tier overlap is not double counted as in Java.
pub(crate) struct NCount {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    from: Timestamp,
    from_ms: i64,
    to_ms: i64,
    done: bool,
}

impl NCount {
    pub(crate) fn new(input: Box<dyn EventStream>, name: String, from: Timestamp, to: Timestamp) -> Self {
        let desc = bins::out_desc(
            input.description(),
            &name,
            ArchDbType::ScalarInt,
            None,
            Some(from.year()),
        );
        NCount {
            input,
            desc,
            from,
            from_ms: from.millis(),
            to_ms: to.millis(),
            done: false,
        }
    }
}

impl EventStream for NCount {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        if self.done {
            return Ok(false);
        }
        let mut count: u64 = 0;
        let mut prev: Option<Timestamp> = None;
        while self.input.next_event_into(out)? {
            let ts = out.ts();
            if prev.is_some_and(|p| ts <= p) {
                continue;
            }
            prev = Some(ts);
            let ms = ts.millis();
            if ms >= self.from_ms && ms <= self.to_ms {
                count += 1;
            }
        }
        self.done = true;
        let at = Timestamp::new(self.from.secs, self.from.nanos - self.from.nanos % 1_000_000);
        bins::reset_synthetic(out, at, 0);
        out.value = SampleValue::Int(i32::try_from(count).unwrap_or(i32::MAX));
        Ok(true)
    }
}

#[cfg(test)]
#[path = "select_test.rs"]
mod tests;
