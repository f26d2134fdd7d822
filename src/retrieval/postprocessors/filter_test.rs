//! Tests of `deadBand`, `ignoreflyers`, `flyers`.

use crate::retrieval::postprocessors::testutil::{
    dbl, pb_samples, run_spec, run_spec_file, t, triples, try_run_spec, values,
};
use crate::types::{ArchiverSample, SampleValue};

#[test]
fn dead_band_2_reproduces_the_java_adel_signal() {
    let out = run_spec_file(
        "deadBand_2.0",
        "sig1-wo-adel.pb",
        t(1_418_238_600),
        t(1_418_238_955),
    );
    let want = pb_samples("sig2-w-adel.pb");
    assert_eq!(want.len(), 23);
    assert_eq!(out.len(), want.len());
    for (i, (g, w)) in out.iter().zip(&want).enumerate() {
        assert_eq!(g.timestamp, w.timestamp, "sample {i}");
        let (gv, wv) = (g.value.as_f64().unwrap(), w.value.as_f64().unwrap());
        assert_eq!(gv.to_bits(), wv.to_bits(), "sample {i}");
        assert_eq!((g.severity, g.status), (w.severity, w.status), "sample {i}");
        assert_eq!(g.field_values(), w.field_values(), "sample {i}");
    }
    assert_eq!(
        out[22].field_values(),
        [
            ("cnxlostepsecs".to_string(), "1418238772".to_string()),
            ("cnxregainedepsecs".to_string(), "1418238776".to_string())
        ]
    );
}

#[test]
fn dead_band_rules() {
    let input = vec![
        dbl(1, 0.0),
        dbl(2, 1.0),                                   // |1| <= 1: no
        dbl(3, 1.5),                                   // 1.5 > 1: yes
        dbl(4, 2.5),                                   // exactly 1.0 away: no (strict)
        dbl(5, 2.0).with_alarm(1, 3),                  // severity change: yes
        dbl(6, 2.0).with_alarm(1, 4),                  // status change only: no
        dbl(7, f64::NAN),                              // NaN: yes
        dbl(8, 2.0),                                   // last emitted is NaN: yes
        dbl(9, 2.1).with_field("cnxlostepsecs", "1"),  // cnxlost presence differs: yes
        dbl(10, 2.2).with_field("cnxlostepsecs", "1"), // same presence, small change: no
        dbl(11, f64::INFINITY),                        // Inf: yes
    ];
    let out = run_spec("deadBand", input.clone(), t(0), t(20));
    assert_eq!(
        triples(&out).iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![1, 3, 5, 7, 8, 9, 11]
    );
    // Negative ADEL emits everything; NaN ADEL only the special rules.
    assert_eq!(
        run_spec("deadBand_-1", input.clone(), t(0), t(20)).len(),
        input.len()
    );
    let nan = run_spec("deadBand_NaN", input, t(0), t(20));
    assert_eq!(
        triples(&nan).iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![1, 5, 7, 8, 9, 11]
    );
}

#[test]
fn dead_band_rejects_strings_and_keeps_waveforms_whole() {
    let s = ArchiverSample::at(1, 0, SampleValue::String("a".into()));
    assert!(try_run_spec("deadBand", vec![s], t(0), t(9)).is_err());
    let w = |secs, v: Vec<f64>| ArchiverSample::at(secs, 0, SampleValue::VDouble(v));
    let out = run_spec(
        "deadBand_2",
        vec![w(1, vec![0.0, 9.0]), w(2, vec![1.0, 0.0]), w(3, vec![5.0, 0.0])],
        t(0),
        t(9),
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].value, SampleValue::VDouble(vec![5.0, 0.0]));
}

/// Independent reference: per bin, two-pass mean and sample std over non-NaN
/// values, then the keep rule.
fn reference(vals: &[(i64, f64)], interval: i64, k: f64, outliers: bool) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < vals.len() {
        let b = vals[i].0.div_euclid(interval);
        let mut j = i;
        while j < vals.len() && vals[j].0.div_euclid(interval) == b {
            j += 1;
        }
        let good: Vec<f64> = vals[i..j].iter().map(|p| p.1).filter(|v| !v.is_nan()).collect();
        if !good.is_empty() {
            let n = good.len() as f64;
            let mean = good.iter().sum::<f64>() / n;
            let std = if good.len() == 1 {
                0.0
            } else {
                (good.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt()
            };
            for p in &vals[i..j] {
                let d = (p.1 - mean).abs();
                if (outliers && d > k * std) || (!outliers && d <= k * std) {
                    out.push(*p);
                }
            }
        }
        i = j;
    }
    out
}

#[test]
fn flyers_and_ignoreflyers_split_each_bin() {
    let vals: Vec<(i64, f64)> = vec![
        (100, 1.0),
        (101, 1.2),
        (102, 0.9),
        (103, 1.1),
        (104, 50.0),
        (105, 1.0),
        (106, f64::NAN),
        (107, 0.95),
        (110, 3.0),      // bin of one: ignoreflyers keeps it, flyers drops it
        (120, f64::NAN), // bin of only NaN: dropped by both
    ];
    let input: Vec<ArchiverSample> = vals.iter().map(|(s, v)| dbl(*s, *v)).collect();
    let k = f64::from(1.5f32);
    let keep = run_spec("ignoreflyers_10_1.5", input.clone(), t(100), t(130));
    let fly = run_spec("flyers_10_1.5", input, t(100), t(130));
    let pairs = |v: &[ArchiverSample]| -> Vec<(i64, f64)> { triples(v).iter().map(|t| (t.0, t.2)).collect() };
    assert_eq!(pairs(&keep), reference(&vals, 10, k, false));
    assert_eq!(pairs(&fly), reference(&vals, 10, k, true));
    assert_eq!(pairs(&fly), vec![(104, 50.0)]);
    assert_eq!(values(&keep).len(), 7);
}
