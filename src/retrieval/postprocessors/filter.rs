//! Operators that pass a subset of the input samples through unchanged
//! (type, timestamp and fields kept): `deadBand`, `ignoreflyers`, `flyers`.
//! No time filtering and no ordering guard, as in Java: the continuity
//! sample takes part like any other.

use std::collections::VecDeque;

use crate::storage::EventStream;
use crate::types::{ArchiverSample, EventStreamDesc, SampleValue};

use super::bins::{self, BinCursor, BinGrid};
use super::estimators::Moments;

fn scratch() -> ArchiverSample {
    ArchiverSample::at(0, 0, SampleValue::Double(0.0))
}

/// What `deadBand` remembers of the last emitted sample.
#[derive(Debug, Clone, Copy)]
struct Emitted {
    value: f64,
    severity: i32,
    cnx_lost: bool,
}

/// `deadBand[_adel]`: ADEL emulation. The first sample is emitted; later a
/// sample is emitted if its value or the last emitted value is NaN/±Inf, the
/// severity differs, presence of field `cnxlostepsecs` differs, or
/// `|value - last| > adel` (strictly). Status changes alone do not count.
/// Java reads no value for the very first sample; strata rejects a
/// non-numeric stream at its first sample instead of at its second.
pub(crate) struct DeadBand {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    name: String,
    adel: f64,
    last: Option<Emitted>,
}

impl DeadBand {
    pub(crate) fn new(input: Box<dyn EventStream>, name: String, adel: f64) -> Self {
        let d = input.description();
        let desc = bins::out_desc(d, &name, d.db_type, None, None);
        DeadBand {
            input,
            desc,
            name,
            adel,
            last: None,
        }
    }
}

impl EventStream for DeadBand {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        while self.input.next_event_into(out)? {
            let e = Emitted {
                value: bins::value_f64(&self.name, out)?,
                severity: out.severity,
                cnx_lost: out.extra.is_some() && out.field("cnxlostepsecs").is_some(),
            };
            let emit = match self.last {
                None => true,
                Some(l) => {
                    !e.value.is_finite()
                        || !l.value.is_finite()
                        || e.severity != l.severity
                        || e.cnx_lost != l.cnx_lost
                        || (e.value - l.value).abs() > self.adel
                }
            };
            if emit {
                self.last = Some(e);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// `ignoreflyers[_I[_k]]` / `flyers[_I[_k]]`: per bin, mean and sample std
/// of the non-NaN values; `ignoreflyers` keeps samples with
/// `|v - mean| <= k*std`, `flyers` those with `|v - mean| > k*std`. A bin
/// without non-NaN values is dropped; NaN samples never pass.
///
/// The bin being read is buffered (bounded by one bin). Java restarts bins
/// at each tier's stream; the merged input has one stream, so a bin that
/// spans two tiers is judged once.
pub(crate) struct Flyers {
    input: Box<dyn EventStream>,
    desc: EventStreamDesc,
    name: String,
    grid: BinGrid,
    cursor: BinCursor,
    k: f64,
    keep_outliers: bool,
    cur: ArchiverSample,
    /// Samples of the open bin and their values.
    bin: Option<i64>,
    buf: Vec<ArchiverSample>,
    vals: Vec<f64>,
    /// Judged samples waiting to be emitted.
    out_q: VecDeque<ArchiverSample>,
    done: bool,
}

impl Flyers {
    pub(crate) fn new(
        input: Box<dyn EventStream>,
        name: String,
        interval: u32,
        k: f32,
        keep_outliers: bool,
    ) -> Self {
        let d = input.description();
        let desc = bins::out_desc(d, &name, d.db_type, None, None);
        let zero = crate::types::Timestamp::new(0, 0);
        Flyers {
            input,
            desc,
            name,
            grid: BinGrid::new(interval, zero, zero),
            cursor: BinCursor::new(),
            // Java parses k as a float and widens it (2.1 → 2.0999999046325684).
            k: f64::from(k),
            keep_outliers,
            cur: scratch(),
            bin: None,
            buf: Vec::new(),
            vals: Vec::new(),
            out_q: VecDeque::new(),
            done: false,
        }
    }

    /// Judges the buffered bin into `out_q`.
    fn close_bin(&mut self) {
        let mut m = Moments::default();
        for &v in &self.vals {
            if !v.is_nan() {
                m.add(v);
            }
        }
        if m.n > 0 {
            let (mean, cut) = (m.mean(), self.k * m.std());
            for (s, &v) in self.buf.drain(..).zip(&self.vals) {
                let dev = (v - mean).abs();
                let keep = if self.keep_outliers { dev > cut } else { dev <= cut };
                if keep {
                    self.out_q.push_back(s);
                }
            }
        }
        self.buf.clear();
        self.vals.clear();
        self.bin = None;
    }
}

impl EventStream for Flyers {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        loop {
            if let Some(s) = self.out_q.pop_front() {
                *out = s;
                return Ok(true);
            }
            if self.done {
                return Ok(false);
            }
            if !self.input.next_event_into(&mut self.cur)? {
                self.done = true;
                self.close_bin();
                continue;
            }
            let v = bins::value_f64(&self.name, &self.cur)?;
            let b = self.cursor.bin(&self.grid, self.cur.timestamp);
            if self.bin.is_some_and(|ob| ob != b) {
                self.close_bin();
            }
            self.bin = Some(b);
            self.buf.push(self.cur.clone());
            self.vals.push(v);
        }
    }
}

#[cfg(test)]
#[path = "filter_test.rs"]
mod tests;
