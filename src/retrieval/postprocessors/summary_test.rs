//! Summary-framework tests. Expected values are hand-computed or come from
//! the naive two-pass formulas below, never from the estimators under test.

use crate::retrieval::postprocessors::testutil::{
    assert_f64s, dbl, dbl_ns, run_spec, run_spec_file, severities, t, triples, try_run_spec, values,
};
use crate::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

/// Naive reference statistics (two-pass).
fn naive_mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn naive_var(v: &[f64], pop: bool) -> f64 {
    let m = naive_mean(v);
    let ss: f64 = v.iter().map(|x| (x - m) * (x - m)).sum();
    ss / (v.len() as f64 - if pop { 0.0 } else { 1.0 })
}

#[track_caller]
fn close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

#[test]
fn bins_are_epoch_aligned_with_middle_timestamps_even_interval() {
    // Bins of 600 s: [1200, 1800) and [1800, 2400).
    let input = vec![dbl(1300, 1.0), dbl(1700, 3.0), dbl(1800, 10.0), dbl(2399, 20.0)];
    let out = run_spec("meanSample_600", input, t(1200), t(2400));
    assert_eq!(triples(&out), vec![(1500, 0, 2.0), (2100, 0, 15.0)]);
    assert_eq!(out[0].status, 0);
}

#[test]
fn odd_interval_middle_has_half_second() {
    let input = vec![dbl(700, 1.0), dbl(703, 2.0), dbl(708, 4.0)];
    let out = run_spec("meanSample_7", input, t(700), t(710));
    // 7 s bins: [700, 707) middle 703.5, [707, 714) middle 710.5.
    assert_eq!(
        triples(&out),
        vec![(703, 500_000_000, 1.5), (710, 500_000_000, 4.0)]
    );
}

#[test]
fn fill_repeats_previous_bin_up_to_the_bin_of_to() {
    let input = vec![
        dbl(1005, 2.0).with_alarm(2, 1),
        dbl(1006, 4.0).with_field("cnxregainedepsecs", "1"),
        dbl(1031, 7.0),
    ];
    let fill = run_spec("mean_10", input.clone(), t(1000), t(1055));
    assert_eq!(
        triples(&fill),
        vec![
            (1005, 0, 3.0),
            (1015, 0, 3.0),
            (1025, 0, 3.0),
            (1035, 0, 7.0),
            (1045, 0, 7.0),
            (1055, 0, 7.0),
        ]
    );
    assert_eq!(severities(&fill), vec![2, 2, 2, 0, 0, 0]);
    let cc: Vec<bool> = fill
        .iter()
        .map(|s| s.field("connectionChange") == Some("true"))
        .collect();
    assert_eq!(cc, vec![true, true, true, false, false, false]);
    let nofill = run_spec("meanSample_10", input, t(1000), t(1055));
    assert_eq!(triples(&nofill), vec![(1005, 0, 3.0), (1035, 0, 7.0)]);
}

#[test]
fn count_fills_with_zero_and_severity_zero() {
    let input = vec![dbl(1001, 5.0).with_alarm(1, 1), dbl(1002, 6.0), dbl(1021, 1.0)];
    let out = run_spec("count_10", input, t(1000), t(1035));
    assert_eq!(values(&out), vec![2.0, 0.0, 1.0, 0.0]);
    assert_eq!(severities(&out), vec![1, 0, 0, 0]);
}

#[test]
fn nan_values_are_skipped_but_count_for_severity() {
    let input = vec![
        dbl(1001, 1.0),
        dbl(1002, f64::NAN).with_alarm(3, 17),
        dbl(1003, 3.0),
        dbl(1011, f64::NAN),
    ];
    let mean = run_spec("meanSample_10", input.clone(), t(1000), t(1019));
    assert_f64s(&values(&mean), &[2.0, f64::NAN]);
    assert_eq!(severities(&mean), vec![3, 0]);
    let count = run_spec("countSample_10", input.clone(), t(1000), t(1019));
    assert_f64s(&values(&count), &[2.0, 0.0]);
    let max = run_spec("maxSample_10", input, t(1000), t(1019));
    assert_f64s(&values(&max), &[3.0, f64::NAN]);
}

#[test]
fn continuity_sample_goes_alone_into_the_bin_before_first() {
    // from = 1002 is in the first half of bin [1000, 1010): the continuity
    // bin's middle (995) and the first bin's middle (1005 > from) both survive.
    let input = vec![dbl(990, 7.0).with_alarm(2, 3), dbl(1003, 1.0), dbl(1004, 3.0)];
    let out = run_spec("meanSample_10", input, t(1002), t(1019));
    assert_eq!(triples(&out), vec![(995, 0, 7.0), (1005, 0, 2.0)]);
    // Java adds the continuity sample to the collector only: severity 0.
    assert_eq!(severities(&out), vec![0, 0]);
    // from = 1007 is in the second half: bin 100's middle (1005) <= from
    // replaces the continuity bin under the merge rule.
    let input = vec![dbl(990, 7.0), dbl(1008, 1.0), dbl(1009, 3.0)];
    let out = run_spec("meanSample_10", input, t(1007), t(1019));
    assert_eq!(triples(&out), vec![(1005, 0, 2.0)]);
}

#[test]
fn continuity_only_is_one_bin_and_fill_repeats_it() {
    let out = run_spec("meanSample_10", vec![dbl(990, 7.0)], t(1002), t(1030));
    assert_eq!(triples(&out), vec![(995, 0, 7.0)]);
    let out = run_spec("mean_10", vec![dbl(990, 7.0)], t(1002), t(1030));
    assert_eq!(
        triples(&out),
        vec![
            (995, 0, 7.0),
            (1005, 0, 7.0),
            (1015, 0, 7.0),
            (1025, 0, 7.0),
            (1035, 0, 7.0)
        ]
    );
}

#[test]
fn sample_exactly_at_from_suppresses_continuity_and_keeps_last_bin() {
    // Java would lose the last data bin here and emit the continuity sample
    // anyway; strata keeps every data bin and no continuity bin.
    let input = vec![dbl(990, 7.0), dbl(1000, 1.0), dbl(1015, 5.0)];
    let out = run_spec("meanSample_10", input, t(1000), t(1019));
    assert_eq!(triples(&out), vec![(1005, 0, 1.0), (1015, 0, 5.0)]);
}

#[test]
fn empty_input_and_one_sample() {
    assert!(run_spec("mean_10", vec![], t(1000), t(1100)).is_empty());
    assert!(run_spec("countSample_10", vec![], t(1000), t(1100)).is_empty());
    let out = run_spec("stdSample_10", vec![dbl(1042, 4.0)], t(1000), t(1100));
    assert_eq!(triples(&out), vec![(1045, 0, 0.0)]);
}

#[test]
fn samples_after_to_and_duplicates_are_ignored() {
    let input = vec![dbl(1001, 1.0), dbl(1001, 100.0), dbl(1002, 3.0), dbl(1020, 50.0)];
    let out = run_spec("meanSample_10", input, t(1000), t(1019));
    assert_eq!(triples(&out), vec![(1005, 0, 2.0)]);
}

#[test]
fn every_storeless_statistic_matches_naive_formulas() {
    let vals = [3.0, 1.5, 8.25, -2.0, 4.0, 4.0, 10.5];
    let input: Vec<ArchiverSample> = vals
        .iter()
        .enumerate()
        .map(|(i, v)| dbl(1000 + i as i64, *v))
        .collect();
    let one = |spec: &str| {
        let out = run_spec(spec, input.clone(), t(1000), t(1009));
        assert_eq!(out.len(), 1, "{spec}");
        assert_eq!(out[0].ts(), Timestamp::new(1005, 0));
        out[0].value.as_f64().unwrap()
    };
    let mean = naive_mean(&vals);
    let var = naive_var(&vals, false);
    close(one("meanSample_10"), mean);
    close(one("varianceSample_10"), var);
    close(one("popvarianceSample_10"), naive_var(&vals, true));
    close(one("stdSample_10"), var.sqrt());
    close(one("jitterSample_10"), var.sqrt() / mean);
    assert_eq!(one("minSample_10"), -2.0);
    assert_eq!(one("maxSample_10"), 10.5);
    assert_eq!(one("countSample_10"), 7.0);
    assert_eq!(one("sumSample_10"), 29.25);
    let sumsq: f64 = vals.iter().map(|x| x * x).sum();
    close(one("rmsSample_10"), (sumsq / 7.0).sqrt());
    // sorted: -2, 1.5, 3, 4, 4, 8.25, 10.5 → middle 4
    assert_eq!(one("medianSample_10"), 4.0);
    // Joanes & Gill G1/G2 evaluated independently (Python) for these values.
    close(one("skewnessSample_10"), 0.20685112601510364);
    close(one("kurtosisSample_10"), -0.07897214784787376);
}

#[test]
fn median_of_even_count_and_stored_stats_skip_nan() {
    let input = vec![
        dbl(1000, 4.0),
        dbl(1001, f64::NAN),
        dbl(1002, 1.0),
        dbl(1003, 2.0),
        dbl(1004, 10.0),
    ];
    let out = run_spec("medianSample_10", input.clone(), t(1000), t(1009));
    assert_eq!(values(&out), vec![3.0]);
    let out = run_spec("skewnessSample_10", input[..3].to_vec(), t(1000), t(1009));
    assert_f64s(&values(&out), &[f64::NAN]);
}

#[test]
fn errorbar_has_stdz_field_in_java_format() {
    let input = vec![
        dbl(1000, 1.0),
        dbl(1001, 3.0),
        dbl(1011, 5.0),
        dbl(1020, 1.0),
        dbl(1021, 1.00001),
    ];
    let out = run_spec("errorbarSample_10", input, t(1000), t(1029));
    assert_eq!(values(&out)[..2], [2.0, 5.0]);
    let stdz: Vec<&str> = out.iter().map(|s| s.field("stdz").unwrap()).collect();
    // std of {1, 3} = sqrt(2); one value → 0.0.
    assert_eq!(stdz[..2], ["1.4142135623730951", "0.0"]);
    close(
        stdz[2].parse::<f64>().unwrap(),
        naive_var(&[1.0, 1.00001], false).sqrt(),
    );
    assert!(stdz[2].contains('E'), "{}", stdz[2]);
}

#[test]
fn stats_is_a_five_element_vector_and_fill_repeats_it() {
    let input = vec![dbl(1000, 2.0).with_alarm(1, 0), dbl(1001, 4.0), dbl(1021, 7.0)];
    let out = run_spec("stats_10", input, t(1000), t(1029));
    let vecs: Vec<Vec<f64>> = out
        .iter()
        .map(|s| match &s.value {
            SampleValue::VDouble(v) => v.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let s = 2f64.sqrt();
    assert_eq!(
        vecs,
        vec![
            vec![3.0, s, 2.0, 4.0, 2.0],
            vec![3.0, s, 2.0, 4.0, 2.0],
            vec![7.0, 0.0, 7.0, 7.0, 1.0]
        ]
    );
    assert_eq!(severities(&out), vec![1, 1, 0]);
    let pp = super::super::PpSpec::parse("stats_10").unwrap().unwrap();
    assert_eq!(pp.output_type(ArchDbType::ScalarInt), ArchDbType::WaveformDouble);
}

#[test]
fn linear_interpolates_at_bin_middle_else_first_value() {
    // Bin [1000, 1010), middle 1005: points (1002.5, 1) and (1007.5, 3) → 2.
    let input = vec![
        dbl_ns(1002, 500_000_000, 1.0),
        dbl_ns(1007, 500_000_000, 3.0),
        dbl(1011, 9.0),
        dbl(1012, 5.0),
    ];
    let out = run_spec("linearSample_10", input, t(1000), t(1019));
    // Second bin's points are both before its middle 1015: first value.
    assert_eq!(values(&out), vec![2.0, 9.0]);
    // Odd interval: evaluated at b*I + I/2 (integer), stamped half a second later.
    let input = vec![dbl(700, 0.0), dbl(704, 4.0)];
    let out = run_spec("linearSample_7", input, t(700), t(706));
    assert_eq!(triples(&out), vec![(703, 500_000_000, 3.0)]);
}

#[test]
fn loess_falls_back_to_first_value_with_few_points() {
    let input = vec![dbl(1001, 3.0), dbl(1004, 1.0), dbl(1008, 2.0)];
    let out = run_spec("loessSample_10", input, t(1000), t(1009));
    assert_eq!(values(&out), vec![3.0]);
    // Ten points on a line straddling the middle: the line's value at 1005.
    let input: Vec<ArchiverSample> = (0..10).map(|i| dbl(1000 + i, 2.0 * i as f64)).collect();
    let out = run_spec("loessSample_10", input, t(1000), t(1009));
    assert!((values(&out)[0] - 10.0).abs() < 1e-6, "{:?}", values(&out));
}

#[test]
fn non_numeric_input_fails_the_stream() {
    let input = vec![ArchiverSample::at(1001, 0, SampleValue::String("3".into()))];
    let err = try_run_spec("mean_10", input, t(1000), t(1010)).unwrap_err();
    assert!(matches!(
        err.downcast_ref::<super::super::PpError>(),
        Some(super::super::PpError::NonNumeric { .. })
    ));
}

#[test]
fn waveforms_use_element_zero() {
    let input = vec![
        ArchiverSample::at(1001, 0, SampleValue::VInt(vec![2, 100])),
        ArchiverSample::at(1002, 0, SampleValue::VInt(vec![4, 100])),
    ];
    let out = run_spec("meanSample_10", input, t(1000), t(1010));
    assert_eq!(values(&out), vec![3.0]);
}

// ---- Java test file expectations (EXPECTED.md and the research note §17) ----

const LRM_FROM: i64 = 1_418_022_235;
const LRM_TO: i64 = 1_418_025_840;

#[test]
fn lrm01_mean_sample_7_is_one_continuity_bin() {
    let out = run_spec_file("meanSample_7", "lrm01_raw.pb", t(LRM_FROM), t(LRM_TO));
    assert_eq!(triples(&out), vec![(1_418_022_231, 500_000_000, -0.09)]);
    assert_eq!((out[0].severity, out[0].status), (0, 0));
    assert_eq!(out[0].value.db_type(), ArchDbType::ScalarDouble);
}

#[test]
fn lrm01_mean_7_fills_517_bins_past_to() {
    let out = run_spec_file("mean_7", "lrm01_raw.pb", t(LRM_FROM), t(LRM_TO));
    assert_eq!(out.len(), 517);
    assert!(out.iter().all(|s| s.value.as_f64() == Some(-0.09)));
    let ts: Vec<Timestamp> = out.iter().map(|s| s.ts()).collect();
    assert_eq!(ts[0], Timestamp::new(1_418_022_231, 500_000_000));
    assert_eq!(ts[516], Timestamp::new(1_418_025_843, 500_000_000));
    assert!(ts.windows(2).all(|w| w[1].secs - w[0].secs == 7));
}

const SIG_FROM: i64 = 1_418_238_600;
const SIG_TO: i64 = 1_418_238_955;

fn sig(spec: &str) -> Vec<ArchiverSample> {
    run_spec_file(spec, "sig1-wo-adel.pb", t(SIG_FROM), t(SIG_TO))
}

fn cc(v: &[ArchiverSample]) -> Vec<bool> {
    v.iter()
        .map(|s| s.field("connectionChange") == Some("true"))
        .collect()
}

#[test]
fn sig1_one_second_bins() {
    let secs = [633, 761, 762, 763, 764, 765, 766, 774].map(|s| (1_418_238_000 + s, 500_000_000u32));
    let count = sig("countSample_1");
    let ts: Vec<(i64, u32)> = triples(&count).iter().map(|t| (t.0, t.1)).collect();
    assert_eq!(ts, secs.to_vec());
    assert_eq!(values(&count), vec![1.0, 1.0, 9.0, 6.0, 2.0, 5.0, 9.0, 1.0]);
    assert_eq!(severities(&count), vec![0, 0, 0, 0, 1, 3, 3, 0]);
    assert_eq!(
        cc(&count),
        vec![false, false, false, false, false, false, false, true]
    );
    assert_f64s(
        &values(&sig("meanSample_1")),
        &[1.0, 0.0, 5.0, 8.0, 5.0, 5.2, f64::NAN, 0.0],
    );
    let std = values(&sig("stdSample_1"));
    let want = [
        0.0,
        0.0,
        naive_var(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], false).sqrt(),
        naive_var(&[8., 9., 10., 8., 7., 6.], false).sqrt(),
        0.0,
        naive_var(&[5., 5., 5., 5., 6.], false).sqrt(),
    ];
    for (g, w) in std.iter().zip(want) {
        close(*g, w);
    }
    assert_eq!(std[2], 2.7386127875258306);
    assert_eq!(std[3], std::f64::consts::SQRT_2);
    assert_eq!(std[5], 0.4472135954999579);
    assert!(std[6].is_nan());
    assert_eq!(
        values(&sig("minSample_1")),
        vec![1.0, 0.0, 1.0, 6.0, 5.0, 5.0, f64::NEG_INFINITY, 0.0]
    );
    assert_eq!(
        values(&sig("maxSample_1")),
        vec![1.0, 0.0, 9.0, 10.0, 5.0, 6.0, f64::INFINITY, 0.0]
    );
}

#[test]
fn sig1_five_and_sixty_second_bins() {
    let mean5 = sig("meanSample_5");
    let ts: Vec<i64> = triples(&mean5).iter().map(|t| t.0).collect();
    assert_eq!(
        ts,
        vec![1_418_238_632, 1_418_238_762, 1_418_238_767, 1_418_238_772]
    );
    assert!(mean5.iter().all(|s| s.ts().nanos == 500_000_000));
    assert_f64s(&values(&mean5), &[1.0, 5.722222222222222, f64::NAN, 0.0]);
    assert_eq!(severities(&mean5), vec![0, 1, 3, 0]);
    assert_eq!(cc(&mean5), vec![false, false, false, true]);
    assert_eq!(values(&sig("countSample_5")), vec![1.0, 18.0, 14.0, 1.0]);
    let std5 = values(&sig("stdSample_5"));
    assert_eq!(std5[..2], [0.0, 2.8657317216818456]);
    let m60 = sig("meanSample_60");
    assert_eq!(triples(&m60)[0].0, 1_418_238_630);
    assert_f64s(&values(&m60), &[1.0, f64::NAN]);
    assert_eq!(values(&sig("countSample_60")), vec![1.0, 33.0]);
    let fill = sig("mean_60");
    let ts: Vec<i64> = triples(&fill).iter().map(|t| t.0).collect();
    assert_eq!(ts, (0..6).map(|i| 1_418_238_630 + 60 * i).collect::<Vec<_>>());
    assert_f64s(
        &values(&fill),
        &[1.0, 1.0, f64::NAN, f64::NAN, f64::NAN, f64::NAN],
    );
    assert_eq!(severities(&fill), vec![0, 0, 3, 3, 3, 3]);
    assert_eq!(cc(&fill), vec![false, false, true, true, true, true]);
}
