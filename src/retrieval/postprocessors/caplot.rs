//! `caplotbinning[_I]`: Channel-Archiver style plot binning (Java's
//! `CAPlotBinning`). Per bin: one sample → its value at its whole second;
//! two → both at their whole seconds; three or more → four samples at
//! `start`, `start + (int)(I/4)`, `start + (int)(I/2)`, `start + (int)(3I/4)`
//! with the first value, min, max and last value. SCALAR_DOUBLE, status 0,
//! max severity, `connectionChange` when a sample carried
//! `cnxregainedepsecs`. Empty bins give nothing.
//!
//! Continuity variant B with the ordering guard; the candidate goes into bin
//! `first - 1` (severity 0: Java does not count it) when the first in-range
//! sample arrives. Without in-range samples nothing at all is output (Java;
//! kept). NaN values count toward N and are passed to min/max, which skip
//! them unless every value is NaN (Commons' `Min`/`Max` rule).

use std::collections::VecDeque;

use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

use super::bins::{self, BinGrid, Candidate, Guard};
use super::estimators::Moments;
use super::pump::{Flow, Operator, Out};

/// One bin's plot data.
#[derive(Debug, Clone, Copy)]
struct PlotBin {
    bin: i64,
    first: (i64, f64),
    last: Option<(Timestamp, f64)>,
    m: Moments,
    severity: i32,
    cnx: bool,
}

impl PlotBin {
    fn new(bin: i64, ts: Timestamp, v: f64) -> Self {
        let mut m = Moments::default();
        m.add(v);
        PlotBin {
            bin,
            first: (ts.secs, v),
            last: None,
            m,
            severity: 0,
            cnx: false,
        }
    }

    fn add(&mut self, ts: Timestamp, v: f64) {
        // The second sample always becomes `last`; later ones only if strictly later.
        if self.last.is_none_or(|(lt, _)| ts > lt) {
            self.last = Some((ts, v));
            self.m.add(v);
        }
    }
}

/// The `caplotbinning` stream.
pub(crate) struct CaPlot {
    name: String,
    grid: BinGrid,
    guard: Guard,
    cand: Candidate<(Timestamp, f64)>,
    open: Option<PlotBin>,
    /// Output samples of a closed bin: `(secs, value)`, at most 4.
    queue: [(i64, f64); 4],
    queue_len: usize,
    queue_pos: usize,
    queue_sev: i32,
    queue_cnx: bool,
}

impl CaPlot {
    pub(crate) fn new(name: String, grid: BinGrid) -> Self {
        CaPlot {
            name,
            grid,
            guard: Guard::default(),
            cand: Candidate::new(),
            open: None,
            queue: [(0, 0.0); 4],
            queue_len: 0,
            queue_pos: 0,
            queue_sev: 0,
            queue_cnx: false,
        }
    }

    /// Turns the open bin into output samples.
    fn close(&mut self) {
        let Some(p) = self.open.take() else {
            return;
        };
        let start = self.grid.start(p.bin);
        let i = self.grid.interval as f64;
        self.queue_len = match p.last {
            None => {
                self.queue[0] = p.first;
                1
            }
            Some((lt, lv)) if p.m.n == 2 => {
                self.queue[0] = p.first;
                self.queue[1] = (lt.secs, lv);
                2
            }
            Some((_, lv)) => {
                self.queue = [
                    (start, p.first.1),
                    (start + (0.25 * i) as i64, p.m.min),
                    (start + (0.5 * i) as i64, p.m.max),
                    (start + (0.75 * i) as i64, lv),
                ];
                4
            }
        };
        self.queue_pos = 0;
        self.queue_sev = p.severity;
        self.queue_cnx = p.cnx;
    }
}

impl Operator for CaPlot {
    fn describe(&self, input: &EventStreamDesc, name: &str) -> EventStreamDesc {
        bins::out_desc(input, name, ArchDbType::ScalarDouble, None, None)
    }

    fn push(&mut self, sample: &mut ArchiverSample, _out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let ts = sample.ts();
        if !self.guard.admit(ts) {
            return Ok(Flow::More);
        }
        let b = self.grid.bin(ts.secs);
        if b < self.grid.first {
            if self.cand.wants(ts.secs) {
                self.cand.put(ts.secs, (ts, bins::value_f64(&self.name, sample)?));
            }
            return Ok(Flow::More);
        }
        if b > self.grid.last {
            return Ok(Flow::More);
        }
        let v = bins::value_f64(&self.name, sample)?;
        if let Some((cts, cv)) = self.cand.take() {
            self.open = Some(PlotBin::new(self.grid.first - 1, cts, cv));
        }
        let mut flow = Flow::More;
        match &mut self.open {
            Some(p) if p.bin == b => p.add(ts, v),
            _ => {
                self.close();
                flow = Flow::Ready;
                self.open = Some(PlotBin::new(b, ts, v));
            }
        }
        if let Some(p) = self.open.as_mut() {
            p.severity = p.severity.max(sample.severity);
            p.cnx |= bins::has_reconnect(sample);
        }
        Ok(flow)
    }

    fn finish(&mut self, _queue: &mut VecDeque<ArchiverSample>) {
        self.close();
    }

    fn emit(&mut self, out: &mut ArchiverSample, _input_ended: bool) -> bool {
        if self.queue_pos >= self.queue_len {
            return false;
        }
        let (secs, v) = self.queue[self.queue_pos];
        self.queue_pos += 1;
        bins::reset_synthetic(out, Timestamp::new(secs, 0), self.queue_sev);
        out.value = SampleValue::Double(v);
        if self.queue_cnx {
            out.set_field("connectionChange", "true");
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::postprocessors::pump::Pumped;
    use crate::retrieval::postprocessors::testutil::{
        collect, dbl, run_spec_file, severities, t, triples, values, VecStream,
    };

    fn run(input: Vec<ArchiverSample>, interval: u32, from: i64, to: i64) -> Vec<ArchiverSample> {
        let op = CaPlot::new("caplotbinning".into(), BinGrid::new(interval, t(from), t(to)));
        let mut s = Pumped::new(Box::new(VecStream::new(input)), "caplotbinning", op);
        collect(&mut s).unwrap()
    }

    #[test]
    fn one_two_and_many_samples_per_bin() {
        let input = vec![
            dbl(1001, 5.0), // bin 100: one sample
            dbl(1012, 1.0), // bin 101: two samples
            dbl(1013, 2.0),
            dbl(1021, 4.0), // bin 102: four samples
            dbl(1022, 9.0),
            dbl(1023, -1.0),
            dbl(1029, 3.0),
        ];
        let out = run(input, 10, 1000, 1030);
        assert_eq!(
            triples(&out),
            vec![
                (1001, 0, 5.0),
                (1012, 0, 1.0),
                (1013, 0, 2.0),
                (1020, 0, 4.0),
                (1022, 0, -1.0),
                (1025, 0, 9.0),
                (1027, 0, 3.0),
            ]
        );
    }

    #[test]
    fn continuity_severity_and_connection() {
        let input = vec![
            dbl(995, 7.0).with_alarm(2, 3), // before from: continuity, severity not counted
            dbl(1001, 1.0).with_alarm(1, 0),
            dbl(1002, 2.0).with_field("cnxregainedepsecs", "1"),
        ];
        let out = run(input, 10, 1000, 1010);
        assert_eq!(triples(&out), vec![(995, 0, 7.0), (1001, 0, 1.0), (1002, 0, 2.0)]);
        assert_eq!(out[0].severity, 0);
        assert_eq!(out[1].severity, 1);
        assert_eq!(out[1].field("connectionChange"), Some("true"));
        assert_eq!(out[0].field("connectionChange"), None);
    }

    #[test]
    fn only_continuity_or_empty_gives_nothing() {
        assert!(run(vec![dbl(995, 7.0)], 10, 1000, 1010).is_empty());
        assert!(run(vec![], 10, 1000, 1010).is_empty());
    }

    #[test]
    fn odd_interval_quarter_points_truncate() {
        // I = 7: offsets (int)1.75 = 1, (int)3.5 = 3, (int)5.25 = 5.
        let input = vec![dbl(700, 1.0), dbl(701, f64::NAN), dbl(702, 0.5), dbl(706, 2.0)];
        let out = run(input, 7, 700, 706);
        assert_eq!(
            triples(&out),
            vec![(700, 0, 1.0), (701, 0, 0.5), (703, 0, 2.0), (705, 0, 2.0)]
        );
    }

    #[test]
    fn sig1_caplotbinning_5() {
        // Research note §17.2 (re-simulated independently of this code).
        let out = run_spec_file(
            "caplotbinning_5",
            "sig1-wo-adel.pb",
            t(1_418_238_600),
            t(1_418_238_955),
        );
        let secs: Vec<i64> = triples(&out).iter().map(|t| t.0 - 1_418_238_000).collect();
        assert_eq!(secs, vec![633, 760, 761, 762, 763, 765, 766, 767, 768, 774]);
        assert!(out.iter().all(|s| s.ts().nanos == 0));
        assert_eq!(
            values(&out),
            vec![
                1.0,
                0.0,
                0.0,
                10.0,
                5.0,
                5.0,
                f64::NEG_INFINITY,
                f64::INFINITY,
                1.0,
                0.0
            ]
        );
        assert_eq!(severities(&out), vec![0, 1, 1, 1, 1, 3, 3, 3, 3, 0]);
        let cc: Vec<bool> = out
            .iter()
            .map(|s| s.field("connectionChange").is_some())
            .collect();
        assert_eq!(cc.iter().filter(|c| **c).count(), 1);
        assert!(cc[9]);
    }
}
