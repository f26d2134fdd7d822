//! `lttb[_N]` (strata addition): Largest-Triangle-Three-Buckets
//! down-sampling to about `N` points.
//!
//! The first and the last input sample are always kept. `[from, to]` is cut
//! into `N - 2` buckets of equal duration; a sample belongs to bucket
//! `floor((t - from) / width)`, clamped to the valid buckets (so the
//! continuity sample before `from` is simply the first point). For each
//! non-empty bucket, the sample forming the largest triangle with the
//! previously selected point and the average point of the next non-empty
//! bucket (or the last sample) is selected. Empty buckets are skipped, so
//! sparse data gives fewer than `N` points.
//!
//! Streaming: a bucket is decided once the next non-empty bucket is
//! complete, so at most two buckets are buffered (the one being decided and
//! the next), plus one held-back sample, the candidate for "last sample".
//!
//! Points: x = seconds since `from` (f64), y = the value (element 0 of
//! waveforms). A sample whose y is not finite gets area NaN and is chosen
//! only when nothing in its bucket has a finite area (then the bucket's
//! first sample); bucket averages use finite y only, falling back to the
//! previously selected y (or 0). Output samples are the input samples,
//! unchanged (type, fields).

use std::collections::VecDeque;

use crate::types::{ArchiverSample, Timestamp};

use super::bins;
use super::pump::{scratch, Flow, Operator, Out};

/// One buffered bucket: its samples with their `(x, y)`.
#[derive(Default)]
struct Bucket {
    index: i64,
    samples: Vec<ArchiverSample>,
    points: Vec<(f64, f64)>,
}

impl Bucket {
    fn clear(&mut self) {
        self.samples.clear();
        self.points.clear();
    }

    fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Average point; y over finite values only (`fallback_y` if none).
    fn average(&self, fallback_y: f64) -> (f64, f64) {
        let n = self.points.len() as f64;
        let sx: f64 = self.points.iter().map(|p| p.0).sum();
        let (mut sy, mut ny) = (0.0, 0.0);
        for p in &self.points {
            if p.1.is_finite() {
                sy += p.1;
                ny += 1.0;
            }
        }
        (sx / n, if ny > 0.0 { sy / ny } else { fallback_y })
    }
}

/// The `lttb` stream.
pub(crate) struct Lttb {
    name: String,
    from: Timestamp,
    buckets: i64,
    width_ns: f64,
    /// The last sample read, held back in case it is the input's last one.
    held: Option<(ArchiverSample, f64, f64)>,
    /// The previously selected point.
    prev: Option<(f64, f64)>,
    /// Bucket being decided (`a`) and the next non-empty one (`b`).
    a: Bucket,
    b: Bucket,
    started: bool,
}

impl Lttb {
    pub(crate) fn new(name: String, n: u32, from: Timestamp, to: Timestamp) -> Self {
        let buckets = i64::from(n.max(3) - 2);
        let span_ns = (to.secs - from.secs) as f64 * 1e9 + (f64::from(to.nanos) - f64::from(from.nanos));
        Lttb {
            name,
            from,
            buckets,
            width_ns: (span_ns / buckets as f64).max(1.0),
            held: None,
            prev: None,
            a: Bucket::default(),
            b: Bucket::default(),
            started: false,
        }
    }

    fn x_of(&self, ts: Timestamp) -> f64 {
        (ts.secs - self.from.secs) as f64 + (f64::from(ts.nanos) - f64::from(self.from.nanos)) * 1e-9
    }

    fn bucket_of(&self, x: f64) -> i64 {
        ((x * 1e9 / self.width_ns).floor() as i64).clamp(0, self.buckets - 1)
    }

    /// Selects from bucket `a` against the next point `next`, queues the
    /// selection and makes it the previous point.
    fn decide_a(&mut self, next: (f64, f64), queue: &mut VecDeque<ArchiverSample>) {
        let Some((px, py)) = self.prev else {
            return;
        };
        let mut best: Option<(usize, f64)> = None;
        for (i, &(x, y)) in self.a.points.iter().enumerate() {
            let area = ((px - next.0) * (y - py) - (px - x) * (next.1 - py)).abs();
            if area.is_finite() && best.is_none_or(|(_, ba)| area > ba) {
                best = Some((i, area));
            }
        }
        let i = best.map_or(0, |(i, _)| i);
        if let Some(s) = self.a.samples.get(i) {
            queue.push_back(s.clone());
            let (_, y) = self.a.points[i];
            self.prev = Some((self.a.points[i].0, if y.is_finite() { y } else { py }));
        }
        self.a.clear();
    }

    /// Adds a sample (not the first, not known to be the last) to the buckets.
    fn add(&mut self, s: ArchiverSample, x: f64, y: f64, queue: &mut VecDeque<ArchiverSample>) {
        let k = self.bucket_of(x);
        if self.b.is_empty() || self.b.index == k {
            if self.b.is_empty() {
                self.b.index = k;
            }
            self.b.samples.push(s);
            self.b.points.push((x, y));
            return;
        }
        // A new bucket starts: `b` is complete; decide `a` against it.
        if !self.a.is_empty() {
            let fallback = self.prev.map_or(0.0, |p| p.1);
            let next = self.b.average(fallback);
            self.decide_a(next, queue);
        }
        std::mem::swap(&mut self.a, &mut self.b);
        self.b.clear();
        self.b.index = k;
        self.b.samples.push(s);
        self.b.points.push((x, y));
    }

    /// End of input: decide the remaining buckets against the last sample.
    fn decide_rest(&mut self, queue: &mut VecDeque<ArchiverSample>) {
        let Some((last, lx, ly)) = self.held.take() else {
            return;
        };
        let last_pt = (
            lx,
            if ly.is_finite() {
                ly
            } else {
                self.prev.map_or(0.0, |p| p.1)
            },
        );
        if !self.a.is_empty() {
            let next = if self.b.is_empty() {
                last_pt
            } else {
                self.b.average(self.prev.map_or(0.0, |p| p.1))
            };
            self.decide_a(next, queue);
        }
        if !self.b.is_empty() {
            std::mem::swap(&mut self.a, &mut self.b);
            self.decide_a(last_pt, queue);
        }
        queue.push_back(last);
    }
}

impl Operator for Lttb {
    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        let y = bins::value_f64(&self.name, sample)?;
        let x = self.x_of(sample.ts());
        let s = std::mem::replace(sample, scratch());
        if !self.started {
            // The first sample is always kept.
            self.started = true;
            self.prev = Some((x, if y.is_finite() { y } else { 0.0 }));
            out.queue.push_back(s);
            return Ok(Flow::Ready);
        }
        if let Some((h, hx, hy)) = self.held.replace((s, x, y)) {
            self.add(h, hx, hy, out.queue);
        }
        Ok(if out.queue.is_empty() {
            Flow::More
        } else {
            Flow::Ready
        })
    }

    fn finish(&mut self, queue: &mut VecDeque<ArchiverSample>) {
        self.decide_rest(queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::postprocessors::pump::Pumped;
    use crate::retrieval::postprocessors::testutil::{collect, dbl, t, VecStream};
    use crate::storage::EventStream;
    use crate::types::SampleValue;

    fn run(input: Vec<ArchiverSample>, n: u32, from: i64, to: i64) -> Vec<(i64, f64)> {
        let op = Lttb::new("lttb".into(), n, t(from), t(to));
        let mut s = Pumped::new(Box::new(VecStream::new(input)), "lttb", op);
        collect(&mut s)
            .unwrap()
            .iter()
            .map(|s| (s.ts().secs, s.value.as_f64().unwrap()))
            .collect()
    }

    /// Reference LTTB over explicit buckets, written independently: for each
    /// bucket pick the point with the largest triangle area with the
    /// previous pick and the mean of the next bucket (or the last point).
    fn reference(points: &[(f64, f64)], buckets: &[Vec<usize>]) -> Vec<usize> {
        let mut picks = vec![0usize];
        let last = points.len() - 1;
        let nonempty: Vec<&Vec<usize>> = buckets.iter().filter(|b| !b.is_empty()).collect();
        for (bi, bucket) in nonempty.iter().enumerate() {
            let (ax, ay) = points[*picks.last().unwrap()];
            let (cx, cy) = match nonempty.get(bi + 1) {
                Some(nb) => {
                    let n = nb.len() as f64;
                    (
                        nb.iter().map(|&i| points[i].0).sum::<f64>() / n,
                        nb.iter().map(|&i| points[i].1).sum::<f64>() / n,
                    )
                }
                None => points[last],
            };
            let mut best = bucket[0];
            let mut best_area = -1.0;
            for &i in bucket.iter() {
                let (bx, by) = points[i];
                let area = 0.5 * ((ax - cx) * (by - ay) - (ax - bx) * (cy - ay)).abs();
                if area > best_area {
                    best_area = area;
                    best = i;
                }
            }
            picks.push(best);
        }
        picks.push(last);
        picks
    }

    #[test]
    fn matches_reference_on_a_sawtooth() {
        // from=0, to=100, N=7 → 5 buckets of 20 s; samples every 2 s at 1,3,..,99.
        let ys: Vec<f64> = (0..50).map(|i| f64::from((i * 7) % 11) - 5.0).collect();
        let input: Vec<ArchiverSample> = (0..50).map(|i| dbl(1 + 2 * i, ys[i as usize])).collect();
        let out = run(input, 7, 0, 100);
        let points: Vec<(f64, f64)> = (0..50).map(|i| ((1 + 2 * i) as f64, ys[i as usize])).collect();
        // Buckets over the samples strictly between the first and the last.
        let mut buckets = vec![Vec::new(); 5];
        for i in 1..49usize {
            buckets[(points[i].0 / 20.0).floor() as usize].push(i);
        }
        let want: Vec<(i64, f64)> = reference(&points, &buckets)
            .into_iter()
            .map(|i| (points[i].0 as i64, points[i].1))
            .collect();
        assert_eq!(out, want);
        assert_eq!(out.len(), 7);
    }

    #[test]
    fn keeps_first_and_last_and_small_inputs() {
        assert_eq!(run(vec![], 5, 0, 100), vec![]);
        assert_eq!(run(vec![dbl(10, 1.0)], 5, 0, 100), vec![(10, 1.0)]);
        assert_eq!(
            run(vec![dbl(10, 1.0), dbl(20, 2.0)], 5, 0, 100),
            vec![(10, 1.0), (20, 2.0)]
        );
        // Continuity sample before `from` is the first point.
        let out = run(vec![dbl(-5, 3.0), dbl(50, 1.0), dbl(90, 2.0)], 5, 0, 100);
        assert_eq!(out, vec![(-5, 3.0), (50, 1.0), (90, 2.0)]);
    }

    #[test]
    fn string_input_fails() {
        let s = ArchiverSample::at(1, 0, SampleValue::String("x".into()));
        let op = Lttb::new("lttb".into(), 5, t(0), t(10));
        let mut st = Pumped::new(Box::new(VecStream::new(vec![s])), "lttb", op);
        assert!(st.next_event().is_err());
    }
}
