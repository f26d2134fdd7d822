//! Operators that pass a subset of the input samples through unchanged
//! (type, timestamp and fields kept): `deadBand`, `ignoreflyers`, `flyers`.
//! No time filtering and no ordering guard, as in Java: the continuity
//! sample takes part like any other.

use std::collections::VecDeque;

use crate::types::{ArchiverSample, Timestamp};

use super::bins::{self, BinCursor, BinGrid};
use super::estimators::Moments;
use super::pump::{Flow, Operator, Out};

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
    name: String,
    adel: f64,
    last: Option<Emitted>,
}

impl DeadBand {
    pub(crate) fn new(name: String, adel: f64) -> Self {
        DeadBand {
            name,
            adel,
            last: None,
        }
    }
}

impl Operator for DeadBand {
    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let e = Emitted {
            value: bins::value_f64(&self.name, sample)?,
            severity: sample.severity,
            cnx_lost: sample.extra.is_some() && sample.field("cnxlostepsecs").is_some(),
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
        if !emit {
            return Ok(Flow::More);
        }
        self.last = Some(e);
        std::mem::swap(out.sample, sample);
        Ok(Flow::Emitted)
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
    name: String,
    grid: BinGrid,
    cursor: BinCursor,
    k: f64,
    keep_outliers: bool,
    /// Samples of the open bin and their values.
    bin: Option<i64>,
    buf: Vec<ArchiverSample>,
    vals: Vec<f64>,
}

impl Flyers {
    pub(crate) fn new(name: String, interval: u32, k: f32, keep_outliers: bool) -> Self {
        let zero = Timestamp::new(0, 0);
        Flyers {
            name,
            grid: BinGrid::new(interval, zero, zero),
            cursor: BinCursor::new(),
            // Java parses k as a float and widens it (2.1 → 2.0999999046325684).
            k: f64::from(k),
            keep_outliers,
            bin: None,
            buf: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// Judges the buffered bin: the samples that pass are queued.
    fn close_bin(&mut self, queue: &mut VecDeque<ArchiverSample>) {
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
                    queue.push_back(s);
                }
            }
        }
        self.buf.clear();
        self.vals.clear();
        self.bin = None;
    }
}

impl Operator for Flyers {
    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let v = bins::value_f64(&self.name, sample)?;
        let b = self.cursor.bin(&self.grid, sample.timestamp);
        let mut flow = Flow::More;
        if self.bin.is_some_and(|ob| ob != b) {
            self.close_bin(out.queue);
            flow = Flow::Ready;
        }
        self.bin = Some(b);
        self.buf.push(sample.clone());
        self.vals.push(v);
        Ok(flow)
    }

    fn finish(&mut self, queue: &mut VecDeque<ArchiverSample>) {
        self.close_bin(queue);
    }
}

#[cfg(test)]
#[path = "filter_test.rs"]
mod tests;
