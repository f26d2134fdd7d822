//! Shared pieces of the operators: the epoch-aligned bin grid, reading a
//! sample as a number, writing synthetic output samples, and the output
//! stream description.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::types::{
    epoch_secs_to_system_time, ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp,
};

use super::PpError;

/// Bins of `interval` seconds aligned to the Unix epoch, with the bins of a
/// query range.
///
/// Invariants: `interval >= 1`; `first = bin(secs(from))`,
/// `last = bin(secs(to))`. Bin numbers use floor division (Java truncates,
/// which is the same for the non-negative times that occur in practice).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BinGrid {
    /// Bin width in seconds.
    pub interval: i64,
    /// Bin of `from`.
    pub first: i64,
    /// Bin of `to`.
    pub last: i64,
}

impl BinGrid {
    /// The grid for `[from, to]`; an interval of 0 is treated as 1 (parsing rejects it).
    pub fn new(interval: u32, from: Timestamp, to: Timestamp) -> Self {
        let interval = i64::from(interval.max(1));
        BinGrid {
            interval,
            first: from.secs.div_euclid(interval),
            last: to.secs.div_euclid(interval),
        }
    }

    /// Bin of Unix second `secs`.
    #[inline]
    pub fn bin(&self, secs: i64) -> i64 {
        secs.div_euclid(self.interval)
    }

    /// First second of `bin`.
    #[inline]
    pub fn start(&self, bin: i64) -> i64 {
        bin.saturating_mul(self.interval)
    }

    /// Java's summary timestamp: second `bin*I + I/2`, plus 0.5 s when `I` is
    /// odd, so it is the exact middle of the bin.
    pub fn middle(&self, bin: i64) -> Timestamp {
        let nanos = if self.interval % 2 == 0 { 0 } else { 500_000_000 };
        Timestamp::new(self.start(bin).saturating_add(self.interval / 2), nanos)
    }

    /// `firstFill`/`lastFill` timestamp: second `bin*I + I/2`, nanoseconds 0
    /// even for odd intervals (as Java does).
    pub fn middle_whole(&self, bin: i64) -> Timestamp {
        Timestamp::new(self.start(bin).saturating_add(self.interval / 2), 0)
    }
}

/// Caches the bounds of the last bin looked up as `SystemTime`s, so samples
/// of the same bin cost two inlined comparisons instead of a conversion to
/// Unix seconds (`duration_since` is not inlined) and a division.
///
/// Invariant: `start <= t < end` ⟺ `bin(secs(t)) == bin` (bins start at whole
/// seconds, so comparing full instants equals comparing whole seconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BinCursor {
    bin: i64,
    start: SystemTime,
    end: SystemTime,
}

impl BinCursor {
    pub fn new() -> Self {
        BinCursor {
            bin: 0,
            start: UNIX_EPOCH,
            end: UNIX_EPOCH,
        }
    }

    /// Bin of instant `t` on `grid`.
    #[inline]
    pub fn bin(&mut self, grid: &BinGrid, t: SystemTime) -> i64 {
        if t >= self.start && t < self.end {
            return self.bin;
        }
        self.locate(grid, t)
    }

    #[cold]
    fn locate(&mut self, grid: &BinGrid, t: SystemTime) -> i64 {
        let b = grid.bin(Timestamp::from_system_time(t).secs);
        let start = grid.start(b);
        self.bin = b;
        self.start = epoch_secs_to_system_time(start, 0);
        self.end = epoch_secs_to_system_time(start.saturating_add(grid.interval), 0);
        b
    }
}

/// Types whose values can be read as a number (element 0 for waveforms).
pub(crate) fn is_numeric_type(t: ArchDbType) -> bool {
    !matches!(
        t,
        ArchDbType::ScalarString | ArchDbType::WaveformString | ArchDbType::V4GenericBytes
    )
}

/// Java's `getSampleValue().getValue().doubleValue()`: scalars widened
/// exactly, numeric waveforms by element 0. Strings (even numeric-looking
/// ones), V4 bytes and empty waveforms are errors.
#[inline]
pub(crate) fn value_f64(op: &str, s: &ArchiverSample) -> Result<f64, PpError> {
    if let SampleValue::Double(v) = s.value {
        return Ok(v);
    }
    slow_value_f64(op, s)
}

fn slow_value_f64(op: &str, s: &ArchiverSample) -> Result<f64, PpError> {
    let v = match &s.value {
        SampleValue::String(_) | SampleValue::VString(_) | SampleValue::V4Generic(_) => {
            return Err(PpError::NonNumeric {
                op: op.to_string(),
                db_type: s.value.db_type(),
            })
        }
        SampleValue::VShort(v) | SampleValue::VEnum(v) => v.first().map(|x| f64::from(*x)),
        SampleValue::VFloat(v) => v.first().map(|x| f64::from(*x)),
        SampleValue::VByte(v) => v.first().map(|x| f64::from(*x as i8)),
        SampleValue::VInt(v) => v.first().map(|x| f64::from(*x)),
        SampleValue::VDouble(v) => v.first().copied(),
        scalar => scalar.as_f64(),
    };
    v.ok_or_else(|| {
        let ts = s.ts();
        PpError::EmptyWaveform {
            op: op.to_string(),
            secs: ts.secs,
            nanos: ts.nanos,
        }
    })
}

/// True if the sample carries field `cnxregainedepsecs` (a reconnect).
#[inline]
pub(crate) fn has_reconnect(s: &ArchiverSample) -> bool {
    s.extra.is_some() && s.field("cnxregainedepsecs").is_some()
}

/// Output description: the input's PV and headers, with type, element count,
/// year hint and source replaced.
pub(crate) fn out_desc(
    input: &EventStreamDesc,
    name: &str,
    db_type: ArchDbType,
    element_count: Option<i32>,
    year: Option<i32>,
) -> EventStreamDesc {
    let mut d = input.clone();
    if d.db_type != db_type {
        d.element_count = None;
    }
    d.db_type = db_type;
    if element_count.is_some() {
        d.element_count = element_count;
    }
    if let Some(y) = year {
        d.year = y;
    }
    d.source = name.to_string();
    d
}

/// The output description of an operator whose samples keep the input type.
pub(crate) fn same_type_desc(input: &EventStreamDesc, name: &str) -> EventStreamDesc {
    out_desc(input, name, input.db_type, None, None)
}

/// Sets `out` to a synthetic sample: time, severity, status 0, no fields.
/// Reuses `out`'s allocations where possible.
pub(crate) fn reset_synthetic(out: &mut ArchiverSample, ts: Timestamp, severity: i32) {
    out.timestamp = ts.to_system_time();
    out.severity = severity;
    out.status = 0;
    out.extra = None;
}

/// Sets the value of `out` to the vector `vals`, reusing its buffer.
pub(crate) fn set_vector(out: &mut ArchiverSample, vals: &[f64]) {
    if let SampleValue::VDouble(v) = &mut out.value {
        v.clear();
        v.extend_from_slice(vals);
    } else {
        out.value = SampleValue::VDouble(vals.to_vec());
    }
}

/// Copies `src` into `out` without field values or the rare protobuf parts:
/// Java rebuilds such samples from type, time, value, status and severity.
pub(crate) fn copy_stripped(out: &mut ArchiverSample, src: &ArchiverSample) {
    out.timestamp = src.timestamp;
    out.value.clone_from(&src.value);
    out.severity = src.severity;
    out.status = src.status;
    out.extra = None;
}

/// Removes field values and rare protobuf parts from `s`.
pub(crate) fn strip(s: &mut ArchiverSample) {
    s.extra = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_middles_odd_and_even() {
        let g = BinGrid::new(
            7,
            Timestamp::new(1_418_022_235, 0),
            Timestamp::new(1_418_025_840, 0),
        );
        assert_eq!((g.first, g.last), (202_574_605, 202_575_120));
        assert_eq!(g.middle(g.first - 1), Timestamp::new(1_418_022_231, 500_000_000));
        assert_eq!(g.middle_whole(g.first - 1), Timestamp::new(1_418_022_231, 0));
        let g = BinGrid::new(600, Timestamp::new(1200, 0), Timestamp::new(1800, 0));
        assert_eq!(g.middle(2), Timestamp::new(1500, 0));
    }

    #[test]
    fn cursor_matches_division() {
        let g = BinGrid::new(600, Timestamp::new(0, 0), Timestamp::new(0, 0));
        let mut c = BinCursor::new();
        for (s, n) in [
            (0i64, 0u32),
            (1, 5),
            (599, 999_999_999),
            (600, 0),
            (601, 1),
            (5, 0),
            (1199, 3),
            (1200, 0),
            (-1, 0),
            (-1, 500),
            (-600, 0),
            (-601, 9),
            (7_000_000, 0),
        ] {
            let t = Timestamp::new(s, n).to_system_time();
            assert_eq!(c.bin(&g, t), s.div_euclid(600), "{s}.{n}");
        }
    }

    #[test]
    fn numeric_values_follow_java() {
        let s = |v| ArchiverSample::at(1, 0, v);
        assert_eq!(value_f64("x", &s(SampleValue::Int(-3))), Ok(-3.0));
        assert_eq!(value_f64("x", &s(SampleValue::VByte(vec![0xff, 2]))), Ok(-1.0));
        assert_eq!(value_f64("x", &s(SampleValue::VDouble(vec![2.5, 9.0]))), Ok(2.5));
        assert!(matches!(
            value_f64("x", &s(SampleValue::String("1.5".into()))),
            Err(PpError::NonNumeric { .. })
        ));
        assert!(matches!(
            value_f64("x", &s(SampleValue::VInt(vec![]))),
            Err(PpError::EmptyWaveform { .. })
        ));
    }
}

/// Continuity "variant B": the candidate is the latest value before the
/// first bin, a later arrival replacing it unless its whole second is
/// earlier; it is taken once, when the first in-range sample arrives or at
/// the end of the input.
pub(crate) struct Candidate<T> {
    value: Option<(i64, T)>,
    used: bool,
}

impl<T> Candidate<T> {
    pub fn new() -> Self {
        Candidate {
            value: None,
            used: false,
        }
    }

    /// True if a sample at Unix second `secs` before the first bin would
    /// become the candidate.
    pub fn wants(&self, secs: i64) -> bool {
        !self.used && self.value.as_ref().is_none_or(|(c, _)| secs >= *c)
    }

    /// Makes `value` (of a sample at `secs` that [`Candidate::wants`]) the candidate.
    pub fn put(&mut self, secs: i64, value: T) {
        self.value = Some((secs, value));
    }

    /// Takes the candidate for use (once).
    pub fn take(&mut self) -> Option<T> {
        if self.used {
            return None;
        }
        self.used = true;
        self.value.take().map(|(_, v)| v)
    }
}

/// The ordering guard: a sample is used only if strictly later than the
/// last one used (equal timestamps from overlapping tiers are skipped).
#[derive(Debug, Default)]
pub(crate) struct Guard(Option<Timestamp>);

impl Guard {
    /// True if a sample at `ts` is used (and remembered as the last one).
    pub fn admit(&mut self, ts: Timestamp) -> bool {
        if self.0.is_some_and(|p| ts <= p) {
            return false;
        }
        self.0 = Some(ts);
        true
    }
}
