//! Per-bin estimators, bit-compatible with the Apache Commons-Math 3 classes
//! the Java operators call: the storeless moment recurrence
//! (`SummaryStatistics`), the legacy median, two-pass kurtosis and skewness,
//! and linear interpolation at the bin middle. LOESS lives in `loess.rs`.

use std::time::SystemTime;

use crate::types::Timestamp;

use super::bins::BinGrid;
use super::loess;

/// The statistic of a summary operator (`mean`, `std`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stat {
    /// Incremental mean.
    Mean,
    /// Smallest non-NaN value.
    Min,
    /// Largest non-NaN value.
    Max,
    /// Number of non-NaN values; empty filled bins are 0.0.
    Count,
    /// Sample standard deviation (n − 1).
    Std,
    /// Sample variance (n − 1).
    Variance,
    /// Population variance (n).
    PopVariance,
    /// std / mean.
    Jitter,
    /// Legacy 50th percentile.
    Median,
    /// Bias-corrected excess kurtosis.
    Kurtosis,
    /// Bias-corrected skewness.
    Skewness,
    /// Root mean square (strata; Java has the class but does not register it).
    Rms,
    /// Sum of values (strata addition).
    Sum,
    /// Linear interpolation at the bin middle.
    Linear,
    /// LOESS smoothing + cubic spline at the bin middle.
    Loess,
    /// Mean with field `stdz` = standard deviation.
    Errorbar,
    /// Vector `[mean, std, min, max, N]`.
    Stats,
}

/// Commons-Math storeless statistics over the values added so far.
///
/// Invariant: `n` counts every added value; callers filter NaN where the
/// operator wants that. `min`/`max` start as NaN and follow Commons' rule
/// "replace if smaller/larger or if the current one is NaN".
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moments {
    pub n: u64,
    m1: f64,
    m2: f64,
    pub min: f64,
    pub max: f64,
    sum: f64,
    sumsq: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            n: 0,
            m1: 0.0,
            m2: 0.0,
            min: f64::NAN,
            max: f64::NAN,
            sum: 0.0,
            sumsq: 0.0,
        }
    }
}

impl Moments {
    /// Adds one value (`FirstMoment`/`SecondMoment.increment`, `Min`, `Max`,
    /// `Sum`, `SumOfSquares`), in Commons' operation order.
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let n = self.n as f64;
        let dev = x - self.m1;
        let n_dev = dev / n;
        self.m1 += n_dev;
        self.m2 += (n - 1.0) * dev * n_dev;
        if x < self.min || self.min.is_nan() {
            self.min = x;
        }
        if x > self.max || self.max.is_nan() {
            self.max = x;
        }
        self.sum += x;
        self.sumsq += x * x;
    }

    /// Incremental mean; NaN when empty.
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.m1
        }
    }

    /// `m2 / (n - 1)`; 0 for one value, NaN when empty.
    pub fn variance(&self) -> f64 {
        match self.n {
            0 => f64::NAN,
            1 => 0.0,
            n => self.m2 / (n as f64 - 1.0),
        }
    }

    /// `m2 / n`; 0 for one value, NaN when empty.
    pub fn pop_variance(&self) -> f64 {
        match self.n {
            0 => f64::NAN,
            1 => 0.0,
            n => self.m2 / n as f64,
        }
    }

    /// Sample standard deviation; 0 for one value, NaN when empty.
    pub fn std(&self) -> f64 {
        match self.n {
            0 => f64::NAN,
            1 => 0.0,
            _ => self.variance().sqrt(),
        }
    }

    /// `sqrt(Σx² / n)`, NaN when empty (Java's `RMS` class).
    pub fn rms(&self) -> f64 {
        (self.sumsq / self.n as f64).sqrt()
    }

    /// Σx; NaN when empty (a bin of only NaN samples has no sum).
    pub fn sum(&self) -> f64 {
        if self.n == 0 {
            f64::NAN
        } else {
            self.sum
        }
    }

    /// `[mean, std, min, max, N]`.
    pub fn stats(&self) -> [f64; 5] {
        [self.mean(), self.std(), self.min, self.max, self.n as f64]
    }
}

/// Commons `Percentile(50)` with the legacy estimator over `v` (sorted in place).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = 0.5 * (n as f64 + 1.0);
    let fpos = pos.floor();
    if pos < 1.0 {
        return v[0];
    }
    if pos >= n as f64 {
        return v[n - 1];
    }
    let i = fpos as usize;
    let (lo, hi) = (v[i - 1], v[i]);
    lo + (pos - fpos) * (hi - lo)
}

/// Commons `Kurtosis.evaluate`: NaN below 4 values; constant data gives NaN.
pub(crate) fn kurtosis(v: &[f64]) -> f64 {
    let n = v.len();
    if n < 4 {
        return f64::NAN;
    }
    let mut m = Moments::default();
    for &x in v {
        m.add(x);
    }
    let mean = m.m1;
    let sd = m.variance().sqrt();
    let mut acc = 0.0;
    for &x in v {
        acc += (x - mean).powf(4.0);
    }
    acc /= sd.powf(4.0);
    let n0 = n as f64;
    let c1 = (n0 * (n0 + 1.0)) / ((n0 - 1.0) * (n0 - 2.0) * (n0 - 3.0));
    let t2 = (3.0 * (n0 - 1.0).powf(2.0)) / ((n0 - 2.0) * (n0 - 3.0));
    c1 * acc - t2
}

/// Commons `Skewness.evaluate`: NaN below 3 values; constant data gives NaN.
pub(crate) fn skewness(v: &[f64]) -> f64 {
    let n = v.len();
    if n < 3 {
        return f64::NAN;
    }
    let n0 = n as f64;
    // Commons `Mean.evaluate`: sum/n plus a correction pass.
    let mut sum = 0.0;
    for &x in v {
        sum += x;
    }
    let xbar = sum / n0;
    let mut corr = 0.0;
    for &x in v {
        corr += x - xbar;
    }
    let m = xbar + corr / n0;
    let (mut a, mut b) = (0.0, 0.0);
    for &x in v {
        let d = x - m;
        a += d * d;
        b += d;
    }
    let var = (a - (b * b / n0)) / (n0 - 1.0);
    let mut c = 0.0;
    for &x in v {
        let d = x - m;
        c += d * d * d;
    }
    c /= var * var.sqrt();
    (n0 / ((n0 - 1.0) * (n0 - 2.0))) * c
}

/// Linear interpolation of a bin's points at `xm`, streaming: Commons
/// `LinearInterpolator` + `PolynomialSplineFunction.value`, falling back to
/// the first y on any failure (fewer than 2 points, x not strictly
/// increasing, `xm` outside the points).
///
/// Invariant: `lo`/`lo_prev` are the last two points with `x <= xm`, `hi` the
/// first point with `x > xm`; that is all the spline evaluation needs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinearAt {
    xm: f64,
    n: u64,
    y0: f64,
    last_x: f64,
    increasing: bool,
    lo_prev: Option<(f64, f64)>,
    lo: Option<(f64, f64)>,
    hi: Option<(f64, f64)>,
}

impl LinearAt {
    /// Starts a bin evaluated at `xm`.
    pub fn reset(&mut self, xm: f64) {
        *self = LinearAt {
            xm,
            increasing: true,
            ..Default::default()
        };
    }

    /// Adds point `(x, y)` (NaN y included, as Java does).
    pub fn add(&mut self, x: f64, y: f64) {
        if self.n == 0 {
            self.y0 = y;
        } else if x <= self.last_x {
            self.increasing = false;
        }
        self.n += 1;
        self.last_x = x;
        if x <= self.xm {
            self.lo_prev = self.lo;
            self.lo = Some((x, y));
        } else if self.hi.is_none() {
            self.hi = Some((x, y));
        }
    }

    /// The interpolated value, or the first y (NaN when no point was added).
    pub fn value(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        if self.n < 2 || !self.increasing {
            return self.y0;
        }
        // Segment i with x[i] <= xm < x[i+1]; xm equal to the last knot uses
        // the last segment (Commons: `if i >= polynomials.length: i--`).
        let seg = match (self.lo, self.hi) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            (Some(lo), None) if lo.0 == self.xm => self.lo_prev.map(|p| (p, lo)),
            _ => None,
        };
        match seg {
            Some(((x0, y0), (x1, y1))) => {
                let slope = (y1 - y0) / (x1 - x0);
                (self.xm - x0) * slope + y0
            }
            None => self.y0,
        }
    }
}

/// A bin's result: a scalar (`len == 1`) or a vector, plus errorbar's `stdz`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BinValue {
    pub vals: [f64; 6],
    pub len: u8,
    pub stdz: Option<f64>,
}

impl BinValue {
    pub fn scalar(v: f64) -> Self {
        BinValue {
            vals: [v, 0.0, 0.0, 0.0, 0.0, 0.0],
            len: 1,
            stdz: None,
        }
    }

    pub fn vector(v: &[f64]) -> Self {
        let mut vals = [0.0; 6];
        let len = v.len().min(6);
        vals[..len].copy_from_slice(&v[..len]);
        BinValue {
            vals,
            len: len as u8,
            stdz: None,
        }
    }

    pub fn values(&self) -> &[f64] {
        &self.vals[..usize::from(self.len)]
    }
}

/// One bin's accumulator for a summary statistic.
pub(crate) trait BinStat: Send + 'static {
    /// Starts bin `bin` (linear/loess need its middle).
    fn reset(&mut self, grid: &BinGrid, bin: i64);
    /// Adds a value; NaN handling is the statistic's business.
    fn add(&mut self, ts: SystemTime, v: f64);
    /// The bin's result.
    fn result(&mut self) -> BinValue;
    /// The statistic computed (output shape, fill rule).
    fn stat(&self) -> Stat;
}

/// The `SummaryStatistics`-based statistics. NaN values are skipped.
pub(crate) struct Storeless {
    pub stat: Stat,
    pub m: Moments,
}

impl BinStat for Storeless {
    fn reset(&mut self, _grid: &BinGrid, _bin: i64) {
        self.m = Moments::default();
    }

    #[inline]
    fn add(&mut self, _ts: SystemTime, v: f64) {
        if !v.is_nan() {
            self.m.add(v);
        }
    }

    fn result(&mut self) -> BinValue {
        let m = &self.m;
        match self.stat {
            Stat::Mean => BinValue::scalar(m.mean()),
            Stat::Min => BinValue::scalar(m.min),
            Stat::Max => BinValue::scalar(m.max),
            Stat::Count => BinValue::scalar(m.n as f64),
            Stat::Std => BinValue::scalar(m.std()),
            Stat::Variance => BinValue::scalar(m.variance()),
            Stat::PopVariance => BinValue::scalar(m.pop_variance()),
            Stat::Jitter => BinValue::scalar(m.std() / m.mean()),
            Stat::Rms => BinValue::scalar(m.rms()),
            Stat::Sum => BinValue::scalar(m.sum()),
            Stat::Errorbar => BinValue {
                stdz: Some(m.std()),
                ..BinValue::scalar(m.mean())
            },
            Stat::Stats => BinValue::vector(&m.stats()),
            // Not storeless; summary_stream never pairs these with Storeless.
            Stat::Median | Stat::Kurtosis | Stat::Skewness | Stat::Linear | Stat::Loess => {
                BinValue::scalar(f64::NAN)
            }
        }
    }

    fn stat(&self) -> Stat {
        self.stat
    }
}

/// Median, kurtosis, skewness: keep the bin's non-NaN values.
pub(crate) struct Stored {
    pub stat: Stat,
    pub vals: Vec<f64>,
}

impl BinStat for Stored {
    fn reset(&mut self, _grid: &BinGrid, _bin: i64) {
        self.vals.clear();
    }

    fn add(&mut self, _ts: SystemTime, v: f64) {
        if !v.is_nan() {
            self.vals.push(v);
        }
    }

    fn result(&mut self) -> BinValue {
        BinValue::scalar(match self.stat {
            Stat::Median => median(&mut self.vals),
            Stat::Kurtosis => kurtosis(&self.vals),
            _ => skewness(&self.vals),
        })
    }

    fn stat(&self) -> Stat {
        self.stat
    }
}

/// Java's x coordinate of a sample: `secs + nanos / 1e9` as a double.
#[inline]
pub(crate) fn epoch_x(ts: Timestamp) -> f64 {
    ts.secs as f64 + f64::from(ts.nanos) / 1e9
}

/// Java's evaluation point: second `b*I + I/2` with integer division, so for
/// odd `I` it is half a second before the output timestamp (kept: clients
/// see Java's values).
fn eval_point(grid: &BinGrid, bin: i64) -> f64 {
    (grid.start(bin) + grid.interval / 2) as f64
}

/// `linear`: streaming interpolation at the bin middle.
pub(crate) struct Linear(pub LinearAt);

impl BinStat for Linear {
    fn reset(&mut self, grid: &BinGrid, bin: i64) {
        self.0.reset(eval_point(grid, bin));
    }

    fn add(&mut self, ts: SystemTime, v: f64) {
        self.0.add(epoch_x(Timestamp::from_system_time(ts)), v);
    }

    fn result(&mut self) -> BinValue {
        BinValue::scalar(self.0.value())
    }

    fn stat(&self) -> Stat {
        Stat::Linear
    }
}

/// `loess`: keeps the bin's points (NaN included) for the smoother.
pub(crate) struct Loess {
    pub xm: f64,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
}

impl BinStat for Loess {
    fn reset(&mut self, grid: &BinGrid, bin: i64) {
        self.xm = eval_point(grid, bin);
        self.xs.clear();
        self.ys.clear();
    }

    fn add(&mut self, ts: SystemTime, v: f64) {
        self.xs.push(epoch_x(Timestamp::from_system_time(ts)));
        self.ys.push(v);
    }

    fn result(&mut self) -> BinValue {
        let Some(&y0) = self.ys.first() else {
            return BinValue::scalar(f64::NAN);
        };
        BinValue::scalar(loess::loess_at(&self.xs, &self.ys, self.xm).unwrap_or(y0))
    }

    fn stat(&self) -> Stat {
        Stat::Loess
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_small_cases() {
        let mut m = Moments::default();
        assert!(m.mean().is_nan() && m.std().is_nan() && m.min.is_nan());
        m.add(2.0);
        assert_eq!(
            (m.mean(), m.std(), m.variance(), m.pop_variance()),
            (2.0, 0.0, 0.0, 0.0)
        );
        m.add(4.0);
        m.add(9.0);
        assert_eq!(m.mean(), 5.0);
        // Σ(x-5)² = 9 + 1 + 16 = 26
        assert_eq!(m.variance(), 13.0);
        assert_eq!(m.pop_variance(), 26.0 / 3.0);
        assert_eq!((m.min, m.max), (2.0, 9.0));
        assert_eq!(m.rms(), ((4.0 + 16.0 + 81.0) / 3.0f64).sqrt());
        assert_eq!(m.sum(), 15.0);
    }

    #[test]
    fn infinities_follow_the_recurrence() {
        let mut m = Moments::default();
        m.add(f64::INFINITY);
        assert_eq!(m.mean(), f64::INFINITY);
        m.add(1.0);
        assert!(m.mean().is_nan());
        assert_eq!((m.min, m.max), (1.0, f64::INFINITY));
    }

    #[test]
    fn legacy_median() {
        assert_eq!(median(&mut [3.0]), 3.0);
        assert_eq!(median(&mut [3.0, 1.0]), 2.0);
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn kurtosis_and_skewness_reference_values() {
        // Reference values computed with the textbook formulas for 1..5 and
        // for [1, 2, 3, 10] (G2 and G1 of Joanes & Gill, evaluated in Python).
        let k = kurtosis(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!((k - (-1.2)).abs() < 1e-12, "{k}");
        let s = skewness(&[1.0, 2.0, 3.0, 10.0]);
        assert!((s - 1.7636326148038877).abs() < 1e-12, "{s}");
        assert!(skewness(&[1.0, 2.0]).is_nan());
        assert!(kurtosis(&[1.0, 2.0, 3.0]).is_nan());
        assert!(kurtosis(&[2.0; 5]).is_nan());
        assert!(skewness(&[2.0; 5]).is_nan());
    }

    #[test]
    fn linear_interpolation_rules() {
        let mut l = LinearAt::default();
        l.reset(10.0);
        l.add(8.0, 1.0);
        l.add(12.0, 3.0);
        assert_eq!(l.value(), 2.0);
        // middle outside the points: first value
        l.reset(10.0);
        l.add(11.0, 5.0);
        l.add(12.0, 3.0);
        assert_eq!(l.value(), 5.0);
        // middle equal to the last knot: last segment evaluated at its end
        l.reset(10.0);
        l.add(6.0, 0.0);
        l.add(8.0, 2.0);
        l.add(10.0, 6.0);
        assert_eq!(l.value(), 6.0);
        // one point
        l.reset(10.0);
        l.add(9.0, 7.0);
        assert_eq!(l.value(), 7.0);
        // equal x: not strictly increasing
        l.reset(10.0);
        l.add(9.0, 7.0);
        l.add(9.0, 8.0);
        l.add(11.0, 9.0);
        assert_eq!(l.value(), 7.0);
    }
}
