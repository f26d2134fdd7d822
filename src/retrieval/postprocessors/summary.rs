//! The summary framework shared by `mean`, `min`, `max`, `count`, `std`,
//! `variance`, `popvariance`, `jitter`, `median`, `kurtosis`, `skewness`,
//! `rms`, `sum`, `linear`, `loess`, `errorbar` and `stats` (and the binned
//! side of `optimized`): epoch-aligned bins, one value per bin at the bin
//! middle, max severity, `connectionChange`, fill / no-fill.
//!
//! Streaming: a bin is emitted as soon as a sample of a later bin (or the end
//! of the input) arrives; fill bins are generated lazily. State is one open
//! bin, one committed bin waiting to be emitted and the last emitted bin
//! (the fill template).
//!
//! Rules (Java's `SummaryStatsPostProcessor`, continuity "variant T"):
//! - Ordering guard: a sample is used only if strictly later than the last
//!   used one (equal timestamps from overlapping tiers are skipped).
//! - Samples before `from` only update the continuity candidate. When the
//!   first sample at or after `from` arrives, the candidate goes alone into
//!   bin `first - 1`, with severity 0 and no connection flag (Java adds it to
//!   the collector only; kept). Without later data it is still emitted.
//! - A sample exactly at `from` suppresses the continuity bin. Java then
//!   re-adds the candidate at consolidation without committing the open bin,
//!   losing the last data bin; strata keeps the last bin and never emits the
//!   suppressed candidate (fixed quirk).
//! - Samples in `[from, to]` are binned; the first one after `to` ends the
//!   input (the guard would reject every later sample anyway).
//! - Fill: every bin from the first emitted one up to and including the bin
//!   of `to` is emitted; an empty bin repeats the previous bin (value,
//!   severity, connection flag, `stdz`), except `count`, whose empty bins are
//!   0.0 with severity 0. No-fill: only bins that received samples.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::storage::EventStream;
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

use super::bins::{self, BinCursor, BinGrid};
use super::estimators::{BinStat, BinValue, Linear, LinearAt, Loess, Stat, Stored, Storeless};
use super::pump::{BinOutput, Flow, Operator, Out, Pumped};

/// A closed bin's output (or the fill template).
#[derive(Debug, Clone, Copy)]
struct Committed {
    value: BinValue,
    severity: i32,
    cnx: bool,
}

/// The bin being accumulated.
#[derive(Debug, Clone, Copy)]
struct Open {
    bin: i64,
    severity: i32,
    cnx: bool,
}

/// Builds the stream for `stat` with the collector type that computes it.
pub(crate) fn summary_stream(
    input: Box<dyn EventStream>,
    name: String,
    stat: Stat,
    grid: BinGrid,
    from: Timestamp,
    to: Timestamp,
    fill: bool,
) -> Box<dyn EventStream> {
    fn over<C: BinStat + 'static>(
        input: Box<dyn EventStream>,
        name: String,
        collector: C,
        (grid, from, to, fill): (BinGrid, Timestamp, Timestamp, bool),
    ) -> Box<dyn EventStream> {
        let summary = Summary::new(name.clone(), collector, grid, from, to, fill);
        Pumped::boxed(input, &name, summary)
    }
    let bins = (grid, from, to, fill);
    match stat {
        Stat::Median | Stat::Kurtosis | Stat::Skewness => {
            let vals = Vec::new();
            over(input, name, Stored { stat, vals }, bins)
        }
        Stat::Linear => over(input, name, Linear(LinearAt::default()), bins),
        Stat::Loess => {
            let (xs, ys) = (Vec::new(), Vec::new());
            over(input, name, Loess { xm: 0.0, xs, ys }, bins)
        }
        _ => over(
            input,
            name,
            Storeless {
                stat,
                m: Default::default(),
            },
            bins,
        ),
    }
}

/// The summary stream over collector `C`.
pub(crate) struct Summary<C: BinStat> {
    name: String,
    stat: C,
    grid: BinGrid,
    cursor: BinCursor,
    // Range bounds and the guard as `SystemTime`: comparisons stay inlined on
    // the per-sample path (no conversion to Unix seconds per sample).
    from: SystemTime,
    to: SystemTime,
    /// Year of `from`, for the output description.
    year: i32,
    /// `count`: empty bins are 0.0 with severity 0 instead of repeats.
    zero_fill: bool,
    prev_ts: Option<SystemTime>,
    cand: Option<(SystemTime, f64)>,
    suppress_cont: bool,
    cont_added: bool,
    open: Option<Open>,
    output: BinOutput<Committed>,
}

impl<C: BinStat> Summary<C> {
    pub(crate) fn new(
        name: String,
        stat: C,
        grid: BinGrid,
        from: Timestamp,
        to: Timestamp,
        fill: bool,
    ) -> Self {
        let kind = stat.stat();
        Summary {
            name,
            stat,
            grid,
            cursor: BinCursor::new(),
            year: from.year(),
            from: from.to_system_time(),
            to: to.to_system_time(),
            zero_fill: kind == Stat::Count,
            prev_ts: None,
            cand: None,
            suppress_cont: false,
            cont_added: false,
            open: None,
            output: BinOutput::new(fill),
        }
    }

    fn open_bin(&mut self, bin: i64) {
        self.stat.reset(&self.grid, bin);
        self.open = Some(Open {
            bin,
            severity: 0,
            cnx: false,
        });
    }

    /// Commits the open bin. Invariant: no committed bin waits.
    fn commit_open(&mut self) {
        if let Some(o) = self.open.take() {
            let c = Committed {
                value: self.stat.result(),
                severity: o.severity,
                cnx: o.cnx,
            };
            self.output.commit(o.bin, c);
        }
    }

    fn finish_input(&mut self) {
        if self.open.is_some() {
            self.commit_open();
        } else if let (Some((ts, v)), false, false) = (self.cand, self.suppress_cont, self.cont_added) {
            self.open_bin(self.grid.first - 1);
            self.stat.add(ts, v);
            self.cont_added = true;
            self.commit_open();
        }
    }

    fn write(out: &mut ArchiverSample, grid: &BinGrid, bin: i64, c: &Committed) {
        bins::reset_synthetic(out, grid.middle(bin), c.severity);
        if c.value.len == 1 {
            out.value = SampleValue::Double(c.value.vals[0]);
        } else {
            bins::set_vector(out, c.value.values());
        }
        if c.cnx {
            out.set_field("connectionChange", "true");
        }
        if let Some(s) = c.value.stdz {
            out.set_field("stdz", crate::types::java::double_to_string(s));
        }
    }
}

impl<C: BinStat> Operator for Summary<C> {
    fn describe(&self, input: &EventStreamDesc, name: &str) -> EventStreamDesc {
        let (db_type, count) = if self.stat.stat() == Stat::Stats {
            (ArchDbType::WaveformDouble, Some(5))
        } else {
            (ArchDbType::ScalarDouble, None)
        };
        bins::out_desc(input, name, db_type, count, Some(self.year))
    }

    fn emit(&mut self, out: &mut ArchiverSample, input_ended: bool) -> bool {
        let zero_fill = self.zero_fill;
        let filler = |t: &mut Committed| {
            if zero_fill {
                *t = Committed {
                    value: BinValue::scalar(0.0),
                    severity: 0,
                    cnx: false,
                };
            }
        };
        match self.output.next(input_ended, self.grid.last, filler) {
            Some((bin, c)) => {
                Self::write(out, &self.grid, bin, c);
                true
            }
            None => false,
        }
    }

    fn push(&mut self, sample: &mut ArchiverSample, _out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let ts = sample.timestamp;
        if self.prev_ts.is_some_and(|p| ts <= p) {
            return Ok(Flow::More);
        }
        self.prev_ts = Some(ts);
        if ts < self.from {
            self.cand = Some((ts, bins::value_f64(&self.name, sample)?));
            return Ok(Flow::More);
        }
        if ts == self.from {
            self.suppress_cont = true;
        }
        if ts > self.to {
            // The guard would reject every later sample.
            return Ok(Flow::Stop);
        }
        if !self.cont_added && !self.suppress_cont {
            if let Some((cts, cv)) = self.cand {
                self.open_bin(self.grid.first - 1);
                self.stat.add(cts, cv);
                self.cont_added = true;
            }
        }
        let v = bins::value_f64(&self.name, sample)?;
        let b = self.cursor.bin(&self.grid, ts);
        if self.open.is_none_or(|o| o.bin != b) {
            self.commit_open();
            self.open_bin(b);
        }
        self.stat.add(ts, v);
        if let Some(o) = self.open.as_mut() {
            o.severity = o.severity.max(sample.severity);
            if bins::has_reconnect(sample) {
                o.cnx = true;
            }
        }
        Ok(self.output.flow())
    }

    fn finish(&mut self, _queue: &mut VecDeque<ArchiverSample>) {
        self.finish_input();
    }
}

#[cfg(test)]
#[path = "summary_test.rs"]
mod tests;
