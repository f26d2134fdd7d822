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

use std::time::SystemTime;

use crate::storage::EventStream;
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

use super::bins::{self, BinCursor, BinGrid};
use super::estimators::{BinStat, BinValue, Linear, LinearAt, Loess, Stat, Stored, Storeless};

/// A closed bin ready to be emitted (or used as the fill template).
#[derive(Debug, Clone, Copy)]
struct Committed {
    bin: i64,
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
    match stat {
        Stat::Median | Stat::Kurtosis | Stat::Skewness => Box::new(Summary::new(
            input,
            name,
            Stored {
                stat,
                vals: Vec::new(),
            },
            grid,
            from,
            to,
            fill,
        )),
        Stat::Linear => Box::new(Summary::new(
            input,
            name,
            Linear(LinearAt::default()),
            grid,
            from,
            to,
            fill,
        )),
        Stat::Loess => Box::new(Summary::new(
            input,
            name,
            Loess {
                xm: 0.0,
                xs: Vec::new(),
                ys: Vec::new(),
            },
            grid,
            from,
            to,
            fill,
        )),
        _ => Box::new(Summary::new(
            input,
            name,
            Storeless {
                stat,
                m: Default::default(),
            },
            grid,
            from,
            to,
            fill,
        )),
    }
}

/// The summary stream over collector `C`.
pub(crate) struct Summary<C: BinStat> {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    name: String,
    stat: C,
    grid: BinGrid,
    cursor: BinCursor,
    // Range bounds and the guard as `SystemTime`: comparisons stay inlined on
    // the per-sample path (no conversion to Unix seconds per sample).
    from: SystemTime,
    to: SystemTime,
    fill: bool,
    zero_fill: bool,
    cur: ArchiverSample,
    prev_ts: Option<SystemTime>,
    cand: Option<(SystemTime, f64)>,
    suppress_cont: bool,
    cont_added: bool,
    open: Option<Open>,
    ready: Option<Committed>,
    last_out: Option<Committed>,
    fill_next: i64,
    input_done: bool,
}

impl<C: BinStat> Summary<C> {
    pub(crate) fn new(
        input: Box<dyn EventStream>,
        name: String,
        stat: C,
        grid: BinGrid,
        from: Timestamp,
        to: Timestamp,
        fill: bool,
    ) -> Self {
        let kind = stat.stat();
        let (db_type, count) = if kind == Stat::Stats {
            (ArchDbType::WaveformDouble, Some(5))
        } else {
            (ArchDbType::ScalarDouble, None)
        };
        let desc = bins::out_desc(input.description(), &name, db_type, count, Some(from.year()));
        Summary {
            input,
            desc,
            name,
            stat,
            grid,
            cursor: BinCursor::new(),
            from: from.to_system_time(),
            to: to.to_system_time(),
            fill,
            zero_fill: kind == Stat::Count,
            cur: ArchiverSample::at(0, 0, SampleValue::Double(0.0)),
            prev_ts: None,
            cand: None,
            suppress_cont: false,
            cont_added: false,
            open: None,
            ready: None,
            last_out: None,
            fill_next: 0,
            input_done: false,
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

    /// Closes the open bin into `ready`. Invariant: `ready` is empty here.
    fn commit_open(&mut self) {
        if let Some(o) = self.open.take() {
            self.ready = Some(Committed {
                bin: o.bin,
                value: self.stat.result(),
                severity: o.severity,
                cnx: o.cnx,
            });
        }
    }

    fn finish_input(&mut self) {
        self.input_done = true;
        if self.open.is_some() {
            self.commit_open();
        } else if let (Some((ts, v)), false, false) = (self.cand, self.suppress_cont, self.cont_added) {
            self.open_bin(self.grid.first - 1);
            self.stat.add(ts, v);
            self.cont_added = true;
            self.commit_open();
        }
    }

    /// Reads input until a bin is committed or the input ends.
    fn pump(&mut self) -> anyhow::Result<()> {
        while self.ready.is_none() && !self.input_done {
            if !self.input.next_event_into(&mut self.cur)? {
                self.finish_input();
                break;
            }
            let ts = self.cur.timestamp;
            if self.prev_ts.is_some_and(|p| ts <= p) {
                continue;
            }
            self.prev_ts = Some(ts);
            if ts < self.from {
                self.cand = Some((ts, bins::value_f64(&self.name, &self.cur)?));
                continue;
            }
            if ts == self.from {
                self.suppress_cont = true;
            }
            if ts > self.to {
                self.finish_input();
                break;
            }
            if !self.cont_added && !self.suppress_cont {
                if let Some((cts, cv)) = self.cand {
                    self.open_bin(self.grid.first - 1);
                    self.stat.add(cts, cv);
                    self.cont_added = true;
                }
            }
            let v = bins::value_f64(&self.name, &self.cur)?;
            let b = self.cursor.bin(&self.grid, ts);
            if self.open.is_none_or(|o| o.bin != b) {
                self.commit_open();
                self.open_bin(b);
            }
            self.stat.add(ts, v);
            if let Some(o) = self.open.as_mut() {
                o.severity = o.severity.max(self.cur.severity);
                if bins::has_reconnect(&self.cur) {
                    o.cnx = true;
                }
            }
        }
        Ok(())
    }

    fn write(&self, out: &mut ArchiverSample, bin: i64, c: &Committed) {
        bins::reset_synthetic(out, self.grid.middle(bin), c.severity);
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

    /// The sample for empty bin `bin` after `t`.
    fn filler(&self, t: &Committed) -> Committed {
        if self.zero_fill {
            Committed {
                bin: t.bin,
                value: BinValue::scalar(0.0),
                severity: 0,
                cnx: false,
            }
        } else {
            *t
        }
    }
}

impl<C: BinStat> EventStream for Summary<C> {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        loop {
            if let Some(r) = self.ready {
                if let (true, Some(t)) = (self.fill, self.last_out) {
                    if self.fill_next < r.bin {
                        let f = self.filler(&t);
                        self.write(out, self.fill_next, &f);
                        self.last_out = Some(f);
                        self.fill_next += 1;
                        return Ok(true);
                    }
                }
                self.write(out, r.bin, &r);
                self.last_out = Some(r);
                self.fill_next = r.bin + 1;
                self.ready = None;
                return Ok(true);
            }
            if self.input_done {
                if let (true, Some(t)) = (self.fill, self.last_out) {
                    if self.fill_next <= self.grid.last {
                        let f = self.filler(&t);
                        self.write(out, self.fill_next, &f);
                        self.last_out = Some(f);
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
#[path = "summary_test.rs"]
mod tests;
