//! Test helpers: in-memory and PlainPB-file input streams, sample builders,
//! and the Java test files.

use std::path::PathBuf;

use crate::plainpb::{PbFile, SampleStream};
use crate::storage::EventStream;
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

/// A stream over a vector of samples.
pub(crate) struct VecStream {
    desc: EventStreamDesc,
    items: std::vec::IntoIter<ArchiverSample>,
}

impl VecStream {
    /// Scalar-double stream of `items`.
    pub fn new(items: Vec<ArchiverSample>) -> Self {
        let ty = items
            .first()
            .map_or(ArchDbType::ScalarDouble, |s| s.value.db_type());
        Self::typed(items, ty)
    }

    /// Stream of `items` described as type `ty`.
    pub fn typed(items: Vec<ArchiverSample>, ty: ArchDbType) -> Self {
        VecStream {
            desc: EventStreamDesc::new("TEST:PV", ty, 2024),
            items: items.into_iter(),
        }
    }
}

impl EventStream for VecStream {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        Ok(self.items.next())
    }
}

/// Adapter from a PlainPB [`SampleStream`] to [`EventStream`] (the storage
/// layer provides the real one).
pub(crate) struct PbStream(pub SampleStream);

impl EventStream for PbStream {
    fn description(&self) -> &EventStreamDesc {
        self.0.desc()
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        Ok(self.0.next_sample()?)
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        Ok(self.0.next_sample_into(out)?)
    }
}

/// Path of a Java test file: the shared folder next to the checkout, else
/// the byte-identical copy under `tests/testdata/java`.
pub(crate) fn java_file(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/testdata/java").join(name);
    if shared.exists() {
        return shared;
    }
    root.join("tests/testdata/java").join(name)
}

/// The whole file as an input stream.
pub(crate) fn pb_stream(name: &str) -> PbStream {
    let f = PbFile::open(&java_file(name)).expect("open test file");
    PbStream(f.stream(None, None).expect("stream"))
}

/// All samples of a file.
pub(crate) fn pb_samples(name: &str) -> Vec<ArchiverSample> {
    let mut s = pb_stream(name);
    collect(&mut s).expect("read file")
}

/// Drains a stream through `next_event_into` (the path the operators use).
pub(crate) fn collect(s: &mut dyn EventStream) -> anyhow::Result<Vec<ArchiverSample>> {
    let mut out = Vec::new();
    let mut cur = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
    while s.next_event_into(&mut cur)? {
        out.push(cur.clone());
    }
    Ok(out)
}

/// A scalar double at whole second `secs`.
pub(crate) fn dbl(secs: i64, v: f64) -> ArchiverSample {
    ArchiverSample::at(secs, 0, SampleValue::Double(v))
}

/// A scalar double at `secs` + `nanos`.
pub(crate) fn dbl_ns(secs: i64, nanos: u32, v: f64) -> ArchiverSample {
    ArchiverSample::at(secs, nanos, SampleValue::Double(v))
}

/// `Timestamp` shorthand.
pub(crate) fn t(secs: i64) -> Timestamp {
    Timestamp::new(secs, 0)
}

/// `(secs, nanos, value)` of scalar outputs; NaN compared by bits through `to_bits`.
pub(crate) fn triples(v: &[ArchiverSample]) -> Vec<(i64, u32, f64)> {
    v.iter()
        .map(|s| {
            let ts = s.ts();
            (ts.secs, ts.nanos, s.value.as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// Asserts two f64 lists equal, NaN equal to NaN.
#[track_caller]
pub(crate) fn assert_f64s(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "length: got {got:?}, want {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (g.is_nan() && w.is_nan()),
            "element {i}: got {g}, want {w} ({got:?})"
        );
    }
}

/// Parses `spec`, applies it to `input` for `[from, to]` and collects the output.
pub(crate) fn run_spec(
    spec: &str,
    input: Vec<ArchiverSample>,
    from: Timestamp,
    to: Timestamp,
) -> Vec<ArchiverSample> {
    try_run_spec(spec, input, from, to).expect("stream")
}

/// Like [`run_spec`] but returns the stream error.
pub(crate) fn try_run_spec(
    spec: &str,
    input: Vec<ArchiverSample>,
    from: Timestamp,
    to: Timestamp,
) -> anyhow::Result<Vec<ArchiverSample>> {
    let pp = super::PpSpec::parse(spec)
        .expect("valid spec")
        .expect("known operator");
    let mut s = pp.apply(Box::new(VecStream::new(input)), from, to);
    collect(s.as_mut())
}

/// Applies `spec` to a Java test file for `[from, to]`.
pub(crate) fn run_spec_file(spec: &str, file: &str, from: Timestamp, to: Timestamp) -> Vec<ArchiverSample> {
    let pp = super::PpSpec::parse(spec)
        .expect("valid spec")
        .expect("known operator");
    let mut s = pp.apply(Box::new(pb_stream(file)), from, to);
    collect(s.as_mut()).expect("stream")
}

/// Values of scalar outputs.
pub(crate) fn values(v: &[ArchiverSample]) -> Vec<f64> {
    v.iter().map(|s| s.value.as_f64().unwrap_or(f64::NAN)).collect()
}

/// Severities of outputs.
pub(crate) fn severities(v: &[ArchiverSample]) -> Vec<i32> {
    v.iter().map(|s| s.severity).collect()
}
