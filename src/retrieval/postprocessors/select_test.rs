//! Tests of `firstSample`, `lastSample`, `firstFill`, `lastFill`, `nth`, `ncount`.

use crate::retrieval::postprocessors::testutil::{
    dbl, dbl_ns, run_spec, run_spec_file, severities, t, triples, values,
};
use crate::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

#[test]
fn first_sample_per_bin_keeps_fields_and_continuity() {
    let input = vec![
        dbl(985, 9.0),
        dbl(990, 7.0),
        dbl(1003, 1.0).with_field("cnxlostepsecs", "5"),
        dbl(1004, 2.0),
        dbl(1025, 3.0).with_alarm(2, 7),
        dbl(1029, 4.0),
    ];
    let out = run_spec("firstSample_10", input, t(1002), t(1030));
    assert_eq!(triples(&out), vec![(990, 0, 7.0), (1003, 0, 1.0), (1025, 0, 3.0)]);
    assert_eq!(out[1].field("cnxlostepsecs"), Some("5"));
    assert_eq!(severities(&out), vec![0, 0, 2]);
}

#[test]
fn first_sample_in_bin_of_from_before_from_replaces_continuity() {
    // 1001 is before `from` but in the bin of `from` (variant B): it is the
    // bin's first sample, and the merge rule keeps it instead of 990.
    let input = vec![dbl(990, 7.0), dbl(1001, 1.0), dbl(1004, 2.0)];
    let out = run_spec("firstSample_10", input, t(1002), t(1030));
    assert_eq!(triples(&out), vec![(1001, 0, 1.0)]);
}

#[test]
fn first_sample_only_continuity_and_empty() {
    let out = run_spec("firstSample_10", vec![dbl(990, 7.0)], t(1002), t(1030));
    assert_eq!(triples(&out), vec![(990, 0, 7.0)]);
    assert!(run_spec("firstSample_10", vec![], t(1002), t(1030)).is_empty());
}

#[test]
fn last_sample_per_bin_drops_fields() {
    let input = vec![
        dbl(990, 7.0).with_field("x", "1"),
        dbl(1003, 1.0),
        dbl(1004, 2.0).with_field("cnxlostepsecs", "5").with_alarm(1, 3),
        dbl(1025, 3.0),
        dbl(1029, 4.0),
    ];
    let out = run_spec("lastSample_10", input, t(1002), t(1030));
    assert_eq!(triples(&out), vec![(990, 0, 7.0), (1004, 0, 2.0), (1029, 0, 4.0)]);
    assert!(out.iter().all(|s| !s.has_fields()));
    assert_eq!((out[1].severity, out[1].status), (1, 3));
}

#[test]
fn last_sample_keeps_waveforms_whole() {
    let w = |s, v: Vec<i32>| ArchiverSample::at(s, 0, SampleValue::VInt(v));
    let input = vec![w(1001, vec![1, 2]), w(1002, vec![3, 4, 5])];
    let out = run_spec("lastSample_10", input, t(1000), t(1009));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, SampleValue::VInt(vec![3, 4, 5]));
}

#[test]
fn first_and_last_fill_move_to_whole_second_middles_and_fill() {
    let input = vec![
        dbl(990, 7.0),
        dbl(1003, 1.0).with_alarm(1, 1),
        dbl(1004, 2.0),
        dbl(1031, 3.0).with_field("a", "b"),
    ];
    let first = run_spec("firstFill_10", input.clone(), t(1002), t(1045));
    assert_eq!(
        triples(&first),
        vec![
            (995, 0, 7.0),
            (1005, 0, 1.0),
            (1015, 0, 1.0),
            (1025, 0, 1.0),
            (1035, 0, 3.0),
            (1045, 0, 3.0)
        ]
    );
    assert_eq!(severities(&first), vec![0, 1, 1, 1, 0, 0]);
    assert!(first.iter().all(|s| !s.has_fields()));
    let last = run_spec("lastFill_10", input.clone(), t(1002), t(1045));
    assert_eq!(values(&last), vec![7.0, 2.0, 2.0, 2.0, 3.0, 3.0]);
    let odd = run_spec("lastFill_7", input, t(1002), t(1010));
    // I = 7: bin 142 [994, 1001) holds the continuity sample, 143 [1001, 1008)
    // the data, 144 (bin of `to`) is filled; middles +3 s with nanos 0.
    assert_eq!(triples(&odd), vec![(997, 0, 7.0), (1004, 0, 2.0), (1011, 0, 2.0)]);
}

#[test]
fn fill_operators_with_only_continuity_and_empty() {
    let out = run_spec("firstFill_10", vec![dbl(990, 7.0)], t(1002), t(1025));
    assert_eq!(
        triples(&out),
        vec![(995, 0, 7.0), (1005, 0, 7.0), (1015, 0, 7.0), (1025, 0, 7.0)]
    );
    assert!(run_spec("lastFill_10", vec![], t(1002), t(1025)).is_empty());
}

#[test]
fn nth_keeps_every_nth_in_range_at_ms_precision() {
    let input = vec![
        dbl(999, 0.0),
        dbl_ns(1000, 100, 1.0), // same millisecond as `from`: in range
        dbl(1001, 2.0),
        dbl(1001, 2.5), // duplicate time: skipped by the guard
        dbl(1002, 3.0),
        dbl(1003, 4.0).with_field("f", "v"),
        dbl(1004, 5.0),
        dbl_ns(1005, 400_000, 6.0), // 0.4 ms after `to`: same ms, in range
    ];
    let out = run_spec("nth_2", input.clone(), Timestamp::new(1000, 500), t(1005));
    assert_eq!(values(&out), vec![1.0, 3.0, 5.0]);
    let out = run_spec("nth_1", input, Timestamp::new(1000, 500), t(1005));
    assert_eq!(values(&out), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(!out[3].has_fields());
}

#[test]
fn ncount_counts_once_and_always_emits() {
    let input = vec![
        dbl(990, 0.0),
        dbl(1000, 1.0),
        dbl(1001, 2.0),
        dbl(1001, 2.0),
        dbl(1010, 3.0),
        dbl(1011, 4.0),
    ];
    let from = Timestamp::new(1000, 123_456_789);
    let out = run_spec("ncount", input, from, t(1010));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, SampleValue::Int(2));
    assert_eq!(out[0].ts(), Timestamp::new(1000, 123_000_000));
    let out = run_spec("ncount", vec![], from, t(1010));
    assert_eq!(out[0].value, SampleValue::Int(0));
    let pp = super::super::PpSpec::parse("ncount").unwrap().unwrap();
    assert_eq!(pp.output_type(ArchDbType::ScalarDouble), ArchDbType::ScalarInt);
}

#[test]
fn strings_pass_through_selectors() {
    let s = |secs, v: &str| ArchiverSample::at(secs, 0, SampleValue::String(v.into()));
    let input = vec![s(1001, "a"), s(1002, "b"), s(1011, "c")];
    let out = run_spec("firstSample_10", input.clone(), t(1000), t(1019));
    assert_eq!(out.len(), 2);
    let out = run_spec("lastFill_10", input.clone(), t(1000), t(1019));
    assert_eq!(out[0].value, SampleValue::String("b".into()));
    assert_eq!(run_spec("nth_2", input, t(1000), t(1019)).len(), 2);
}

// ---- Java test files ----

#[test]
fn lrm01_first_and_last_sample_7_return_the_raw_sample() {
    for spec in ["firstSample_7", "lastSample_7"] {
        let out = run_spec_file(spec, "lrm01_raw.pb", t(1_418_022_235), t(1_418_025_840));
        assert_eq!(triples(&out), vec![(1_418_019_667, 601_158_377, -0.09)], "{spec}");
        assert_eq!((out[0].severity, out[0].status), (0, 0));
        assert_eq!(out[0].value.db_type(), ArchDbType::ScalarDouble);
    }
}

fn sig(spec: &str) -> Vec<ArchiverSample> {
    run_spec_file(spec, "sig1-wo-adel.pb", t(1_418_238_600), t(1_418_238_955))
}

#[test]
fn sig1_first_sample_1() {
    let out = sig("firstSample_1");
    let ts: Vec<(i64, u32)> = triples(&out).iter().map(|t| (t.0 - 1_418_238_000, t.1)).collect();
    assert_eq!(
        ts,
        vec![
            (633, 256_370_038),
            (761, 107_055_503),
            (762, 109_267_929),
            (763, 117_734_862),
            (764, 122_497_958),
            (765, 124_675_346),
            (766, 129_570_633),
            (774, 829_288_223)
        ]
    );
    let v = values(&out);
    assert_eq!(v[..6], [1.0, 0.0, 1.0, 8.0, 5.0, 5.0]);
    assert!(v[6].is_nan() && out[6].severity == 3 && out[6].status == 17);
    assert_eq!(out[7].field("cnxregainedepsecs"), Some("1418238776"));
}

#[test]
fn sig1_last_sample_1() {
    let out = sig("lastSample_1");
    let ts: Vec<(i64, u32)> = triples(&out).iter().map(|t| (t.0 - 1_418_238_000, t.1)).collect();
    assert_eq!(
        ts,
        vec![
            (633, 256_370_038),
            (761, 107_055_503),
            (762, 116_681_844),
            (763, 121_323_344),
            (764, 123_479_086),
            (765, 128_453_352),
            (766, 137_870_521),
            (774, 829_288_223)
        ]
    );
    assert_eq!(values(&out), vec![1.0, 0.0, 9.0, 6.0, 5.0, 6.0, 1.0, 0.0]);
    assert_eq!((out[4].severity, out[4].status), (1, 7));
    assert!(!out[7].has_fields());
}
