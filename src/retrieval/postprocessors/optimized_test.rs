//! Tests of `optimized` and `optimLastSample`.

use crate::retrieval::postprocessors::testutil::{
    collect, dbl, severities, t, triples, try_run_spec, VecStream,
};
use crate::retrieval::postprocessors::PpSpec;
use crate::types::{ArchDbType, ArchiverSample, SampleValue};

fn apply(
    spec: &str,
    input: Vec<ArchiverSample>,
    from: i64,
    to: i64,
) -> (ArchDbType, Option<i32>, Vec<ArchiverSample>) {
    let pp = PpSpec::parse(spec).unwrap().unwrap();
    let mut s = pp.apply(Box::new(VecStream::new(input)), t(from), t(to));
    let (ty, n) = (s.description().db_type, s.description().element_count);
    (ty, n, collect(s.as_mut()).unwrap())
}

fn vectors(v: &[ArchiverSample]) -> Vec<Vec<f64>> {
    v.iter()
        .map(|s| match &s.value {
            SampleValue::VDouble(v) => v.clone(),
            other => panic!("not a vector: {other:?}"),
        })
        .collect()
}

#[track_caller]
fn close_vecs(got: &[Vec<f64>], want: &[Vec<f64>]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len(), "{g:?} vs {w:?}");
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{g:?} vs {w:?}");
        }
    }
}

fn ints() -> Vec<ArchiverSample> {
    let i = |s, v| ArchiverSample::at(s, 0, SampleValue::Int(v));
    vec![
        i(990, 4),
        i(1001, 1).with_field("f", "v"),
        i(1002, 3),
        i(1060, 10),
    ]
}

#[test]
fn optimized_returns_raw_samples_when_few() {
    let (ty, _, out) = apply("optimized_5", ints(), 1000, 1100);
    assert_eq!(ty, ArchDbType::ScalarInt);
    assert_eq!(out, ints());
    assert_eq!(out[1].field("f"), Some("v"));
}

#[test]
fn optimized_bins_stats_vectors_when_many() {
    // n = 2 over 100 s → 50 s bins; continuity + 3 samples = 4 > 2.
    let (ty, count, out) = apply("optimized_2", ints(), 1000, 1100);
    assert_eq!((ty, count), (ArchDbType::WaveformDouble, Some(5)));
    let ts: Vec<i64> = triples(&out).iter().map(|t| t.0).collect();
    assert_eq!(ts, vec![975, 1025, 1075, 1125]);
    let s2 = 2f64.sqrt();
    close_vecs(
        &vectors(&out),
        &[
            vec![4.0, 0.0, 4.0, 4.0, 1.0],
            vec![2.0, s2, 1.0, 3.0, 2.0],
            vec![10.0, 0.0, 10.0, 10.0, 1.0],
            vec![10.0, 0.0, 10.0, 10.0, 1.0],
        ],
    );
    let (_, _, nofill) = apply("optimizedSample_2", ints(), 1000, 1100);
    assert_eq!(nofill.len(), 3);
}

#[test]
fn optimized_exact_from_sample_drops_continuity_and_empty_input() {
    let input = vec![dbl(990, 4.0), dbl(1000, 1.0), dbl(1001, 2.0)];
    let (_, _, out) = apply("optimized_5", input, 1000, 1100);
    assert_eq!(triples(&out), vec![(1000, 0, 1.0), (1001, 0, 2.0)]);
    let (_, _, out) = apply("optimized", vec![], 1000, 1100);
    assert!(out.is_empty());
    let (_, _, out) = apply("optimized_5", vec![dbl(990, 4.0)], 1000, 1100);
    assert_eq!(triples(&out), vec![(990, 0, 4.0)]);
}

#[test]
fn optimized_rejects_strings() {
    let s = ArchiverSample::at(1001, 0, SampleValue::String("a".into()));
    assert!(try_run_spec("optimized_5", vec![s], t(1000), t(1100)).is_err());
}

fn optim_last_input() -> Vec<ArchiverSample> {
    let mut v = vec![
        dbl(995, 9.0),
        dbl(1001, 1.0).with_alarm(2, 3),
        dbl(1002, 3.0),
        dbl(1003, f64::NAN),
        dbl(1031, 5.0).with_field("cnxregainedepsecs", "1031"),
    ];
    v.extend((0..7).map(|i| dbl(1032 + i, 6.0 + i as f64)));
    v
}

#[test]
fn optim_last_sample_vectors_and_fillers() {
    // n = 10 over 100 s → 10 s bins; continuity + 11 in range = 12 > 10.
    let (ty, count, out) = apply("optimLastSample_10", optim_last_input(), 1000, 1100);
    assert_eq!((ty, count), (ArchDbType::WaveformDouble, Some(6)));
    let ts: Vec<i64> = triples(&out).iter().map(|t| t.0).collect();
    assert_eq!(ts, (0..12).map(|i| 995 + 10 * i).collect::<Vec<_>>());
    let fill3 = vec![3.0, 0.0, 3.0, 3.0, 0.0, 3.0];
    let fill12 = vec![12.0, 0.0, 12.0, 12.0, 0.0, 12.0];
    let mut want = vec![
        vec![9.0, 0.0, 9.0, 9.0, 1.0, 9.0],
        vec![2.0, 2f64.sqrt(), 1.0, 3.0, 2.0, 3.0],
        fill3.clone(),
        fill3,
        // 5..=12: mean 8.5, sample variance 6.
        vec![8.5, 6f64.sqrt(), 5.0, 12.0, 8.0, 12.0],
    ];
    want.extend(std::iter::repeat_n(fill12, 7));
    close_vecs(&vectors(&out), &want);
    // Fillers take the previous bin's severity and no connection flag.
    assert_eq!(severities(&out), vec![0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    let cc: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, s)| s.field("connectionChange").is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(cc, vec![4]);
    let (_, _, nofill) = apply("optimLastSampleSample_10", optim_last_input(), 1000, 1100);
    assert_eq!(
        triples(&nofill).iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![995, 1005, 1035]
    );
}

#[test]
fn optim_last_sample_short_range_and_continuity_only() {
    let pp = PpSpec::parse("optimLastSample").unwrap().unwrap();
    // Java divides by zero here (100 s < 1000 points); strata uses 1 s bins.
    assert_eq!(pp.interval_for(t(1000), t(1100)), 1);
    let input: Vec<ArchiverSample> = (0..5).map(|i| dbl(1000 + 10 * i, f64::from(i as i32))).collect();
    let (ty, _, out) = apply("optimLastSample", input.clone(), 1000, 1100);
    assert_eq!(ty, ArchDbType::ScalarDouble);
    assert_eq!(out, input);
    // Binned with 1 s bins (3 s < 4 points): 6 samples > n = 4.
    let input: Vec<ArchiverSample> = (0..6)
        .map(|i| {
            crate::retrieval::postprocessors::testutil::dbl_ns(
                1000 + i / 2,
                (i as u32 % 2) * 500_000_000,
                1.0,
            )
        })
        .collect();
    let (_, _, out) = apply("optimLastSampleSample_4", input, 1000, 1003);
    let ts: Vec<(i64, u32)> = triples(&out).iter().map(|t| (t.0, t.1)).collect();
    assert_eq!(
        ts,
        vec![(1000, 500_000_000), (1001, 500_000_000), (1002, 500_000_000)]
    );
    let (_, _, out) = apply("optimLastSample_4", vec![dbl(990, 4.0)], 1000, 1100);
    assert_eq!(triples(&out), vec![(990, 0, 4.0)]);
}

#[test]
fn intervals() {
    let p = |s: &str| PpSpec::parse(s).unwrap().unwrap();
    assert_eq!(p("optimized_2").interval_for(t(1000), t(1100)), 50);
    assert_eq!(p("optimized").interval_for(t(1000), t(1100)), 1);
    assert_eq!(p("optimLastSample_10").interval_for(t(1000), t(1100)), 10);
    assert_eq!(p("optimized").interval_secs(), 0);
}
