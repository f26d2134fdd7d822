//! Parser, registry, function-call and binding tests, and the `mean_600`
//! throughput check (`cargo test --release --lib -- --ignored --nocapture mean_600_throughput`).

use super::spec::REGISTRY;
use super::testutil::{collect, dbl, t, VecStream};
use super::*;
use crate::storage::EventStream;
use crate::types::{ArchiverSample, EventStreamDesc, SampleValue};

fn p(s: &str) -> PpSpec {
    PpSpec::parse(s).expect("parses").expect("known")
}

#[test]
fn prefix_matching_and_defaults() {
    assert_eq!(p("mean_600").key(), "mean");
    assert_eq!(p("mean_600").interval_secs(), 600);
    assert_eq!(p("mean").interval_secs(), 900);
    // Junk after the key is accepted, as in Java.
    assert_eq!(p("mean600").name(), "mean");
    assert_eq!(p("meanXYZ_600").name(), "mean_600");
    // Pieces after the ones an operator reads are ignored.
    assert_eq!(p("mean_600_900").name(), "mean_600");
    assert_eq!(p("meanSample_600").key(), "meanSample");
    assert_eq!(p("firstFillSample_60").key(), "firstFill");
    assert_eq!(p("firstFillSample_60").interval_secs(), 60);
    assert_eq!(p("count_60").key(), "count");
    assert_eq!(p("ncount").key(), "ncount");
    assert_eq!(p("popvariance_5").key(), "popvariance");
    assert_eq!(p("optimLastSampleSample_5").key(), "optimLastSampleSample");
    assert_eq!(p("optimLastSample_5").key(), "optimLastSample");
    assert_eq!(p("optimizedSample").key(), "optimizedSample");
    assert_eq!(p("stdSample_5").key(), "stdSample");
    assert_eq!(p("rmsSample_60").key(), "rmsSample");
    assert_eq!(p("sum").key(), "sum");
    assert_eq!(p("lttb_500").name(), "lttb_500");
    assert_eq!(p("lttb").name(), "lttb");
    assert_eq!(p("nth").name(), "nth");
    assert_eq!(p("nth_5").name(), "nth_5");
    assert_eq!(p("ncount_5").name(), "ncount");
}

#[test]
fn unknown_operators_are_none() {
    for s in ["", "foo", "Mean_600", "MEAN", "avg_600", "twoweek", "raw"] {
        assert_eq!(PpSpec::parse(s), Ok(None), "{s}");
    }
}

#[test]
fn bad_arguments_are_errors() {
    for s in ["mean_", "firstSample_", "nth_", "deadBand_"] {
        assert!(
            matches!(PpSpec::parse(s), Err(PpError::MissingArgument { .. })),
            "{s}"
        );
    }
    for s in [
        "mean_0",
        "mean_-5",
        "mean_x",
        "mean_ 600",
        "mean__600",
        "mean_2147483648",
        "mean_1.5",
        "nth_0",
        "optimized_0",
        "optimized_2000000",
        "optimLastSample_-1",
        "lttb_2",
        "deadBand_abc",
        "deadBand_inf",
        "flyers_10_x",
        "caplotbinning_0",
    ] {
        assert!(
            matches!(PpSpec::parse(s), Err(PpError::BadArgument { .. })),
            "{s}"
        );
    }
}

#[test]
fn names_follow_java_extensions() {
    assert_eq!(p("meanSample_600").name(), "meanSample_600");
    assert_eq!(p("meanSample_600").java_extension(), "mean_600");
    assert_eq!(p("meanSample").java_extension(), "mean");
    assert_eq!(p("optimizedSample_10").java_extension(), "optimized_10");
    assert_eq!(p("firstSample_900").name(), "firstSample");
    assert_eq!(p("deadBand_2.0").name(), "deadBand_2.0");
    assert_eq!(p("deadBand_2").name(), "deadBand_2.0");
    assert_eq!(p("deadBand_1e-3").name(), "deadBand_0.001");
    assert_eq!(p("deadBand_1").name(), "deadBand");
    assert_eq!(p("deadBand_Infinity").name(), "deadBand_Infinity");
    assert_eq!(p("deadBand_ 2.5 ").name(), "deadBand_2.5");
    assert_eq!(p("ignoreflyers_600_2.5").name(), "ignoreflyers_600_2.5");
    assert_eq!(p("flyers_10_2.1").name(), "flyers_10_2.1");
    assert_eq!(p("ignoreflyers_900_3").name(), "ignoreflyers");
    assert_eq!(p("flyers_60").name(), "flyers_60_3.0");
}

#[test]
fn every_registry_key_round_trips() {
    for (key, _) in REGISTRY {
        let spec = p(key);
        assert_eq!(spec.key(), *key);
        assert_eq!(p(&spec.name()), spec, "{key}");
        let with_arg = p(&format!("{key}_7"));
        assert_eq!(p(&with_arg.name()), with_arg, "{key}_7");
    }
}

#[test]
fn strata_keys_do_not_change_java_lookups() {
    let java_end = REGISTRY.iter().position(|(k, _)| *k == "errorbar").unwrap() + 1;
    let (java, added) = REGISTRY.split_at(java_end);
    for (a, _) in added {
        for (j, _) in java {
            assert!(!a.starts_with(j) && !j.starts_with(a), "{a} vs {j}");
        }
    }
}

#[test]
fn output_types() {
    use ArchDbType::*;
    for (s, want) in [
        ("firstSample", WaveformInt),
        ("lastSample", WaveformInt),
        ("firstFill", WaveformInt),
        ("lastFill", WaveformInt),
        ("nth", WaveformInt),
        ("deadBand", WaveformInt),
        ("flyers", WaveformInt),
        ("ignoreflyers", WaveformInt),
        ("lttb", WaveformInt),
        ("mean", ScalarDouble),
        ("countSample", ScalarDouble),
        ("errorbar", ScalarDouble),
        ("caplotbinning", ScalarDouble),
        ("stats", WaveformDouble),
        ("optimized", WaveformDouble),
        ("optimLastSample", WaveformDouble),
        ("ncount", ScalarInt),
    ] {
        assert_eq!(p(s).output_type(WaveformInt), want, "{s}");
    }
    assert!(matches!(
        p("mean").check_input_type(ScalarString),
        Err(PpError::NonNumeric { .. })
    ));
    assert!(p("deadBand").check_input_type(V4GenericBytes).is_err());
    assert!(p("mean").check_input_type(WaveformByte).is_ok());
    assert!(p("firstSample").check_input_type(ScalarString).is_ok());
    assert!(p("ncount").check_input_type(V4GenericBytes).is_ok());
}

#[test]
fn function_call_syntax() {
    let ok = |s: &str| split_function_call(s).unwrap().unwrap();
    assert_eq!(split_function_call("PV:NAME"), Ok(None));
    assert_eq!(ok("mean_600(PV)"), ("mean_600".into(), "PV".into()));
    assert_eq!(ok("mean(PV,600)"), ("mean_600".into(), "PV".into()));
    assert_eq!(
        ok("ignoreflyers(PV,600,2.5)"),
        ("ignoreflyers_600_2.5".into(), "PV".into())
    );
    assert_eq!(ok("mean_600(PV,900)"), ("mean_600_900".into(), "PV".into()));
    assert_eq!(ok("mean(PV, 600)"), ("mean_600".into(), "PV".into()));
    assert_eq!(
        ok("firstSample_7(LN-AM{RadMon:2}DoseRate-I)"),
        ("firstSample_7".into(), "LN-AM{RadMon:2}DoseRate-I".into())
    );
    // Unknown operator: the caller serves raw data of the PV.
    assert_eq!(ok("A(B)"), ("A".into(), "B".into()));
    assert_eq!(PpSpec::parse("A"), Ok(None));
    // Interior empty pieces are kept, so the spec is rejected later.
    assert_eq!(ok("mean(PV,,600)"), ("mean__600".into(), "PV".into()));
    assert!(PpSpec::parse("mean__600").is_err());
    for s in ["mean(PV", "mean(PV))", "mean)PV(", "mean((PV)"] {
        assert!(
            matches!(split_function_call(s), Err(PpError::UnbalancedParentheses(_))),
            "{s}"
        );
    }
    for s in ["mean()", "(PV)", "( , )"] {
        assert!(
            matches!(split_function_call(s), Err(PpError::EmptyCallPart(_))),
            "{s}"
        );
    }
}

#[test]
fn bind_gives_the_seed_post_processor() {
    let input = vec![dbl(1001, 1.0), dbl(1002, 3.0), dbl(1601, 5.0)];
    let bound = p("mean_600").bind(t(1000), t(1700));
    assert_eq!((bound.name(), bound.interval_secs()), ("mean_600", 600));
    let mut s = bound.process(Box::new(VecStream::new(input.clone())));
    let a = collect(s.as_mut()).unwrap();
    let mut s = p("mean_600").apply(Box::new(VecStream::new(input)), t(1000), t(1700));
    assert_eq!(a, collect(s.as_mut()).unwrap());
    assert_eq!(a.len(), 2);
    assert_eq!(s.description().db_type, ArchDbType::ScalarDouble);
    assert_eq!(s.description().source, "mean_600");
    let opt = p("optimized_10").bind(t(1000), t(2000));
    assert_eq!(opt.interval_secs(), 100);
}

/// A synthetic 10 Hz scalar-double source that writes into the caller's sample.
struct Synth {
    desc: EventStreamDesc,
    i: u64,
    n: u64,
    start: i64,
}

impl EventStream for Synth {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        if self.i >= self.n {
            return Ok(false);
        }
        let (secs, tenth) = (self.start + (self.i / 10) as i64, (self.i % 10) as u32);
        out.timestamp = crate::types::epoch_secs_to_system_time(secs, tenth * 100_000_000);
        out.value = SampleValue::Double((self.i % 1000) as f64 * 0.5);
        out.severity = 0;
        out.status = 0;
        out.extra = None;
        self.i += 1;
        Ok(true)
    }
}

#[test]
#[ignore = "throughput check; run with --release -- --ignored --nocapture"]
fn mean_600_throughput() {
    let n: u64 = 50_000_000;
    let start = 1_700_000_000;
    let from = t(start);
    let to = t(start + (n / 10) as i64);
    // Cost of the source alone, to report the operator's share.
    let mut src = Synth {
        desc: EventStreamDesc::new("BENCH", ArchDbType::ScalarDouble, 2023),
        i: 0,
        n,
        start,
    };
    let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
    let t0 = std::time::Instant::now();
    let mut c = 0u64;
    while src.next_event_into(&mut s).unwrap() {
        c += 1;
    }
    let source_secs = t0.elapsed().as_secs_f64();
    assert_eq!(c, n);
    let input = Synth {
        desc: EventStreamDesc::new("BENCH", ArchDbType::ScalarDouble, 2023),
        i: 0,
        n,
        start,
    };
    let t0 = std::time::Instant::now();
    let mut out = p("mean_600").apply(Box::new(input), from, to);
    let mut bins = 0u64;
    while out.next_event_into(&mut s).unwrap() {
        bins += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(bins, n / 6000 + 1);
    println!(
        "mean_600: {n} samples in {secs:.3} s = {:.1} M samples/s (source alone {:.1} M/s)",
        n as f64 / secs / 1e6,
        n as f64 / source_secs / 1e6
    );
}

/// Expected output lengths for every registry key (interval/n/adel 10, range
/// [1000, 1019] = bins 100 and 101 of 10 s) for: no input, one sample at
/// 1001, and only a continuity sample at 990 (bin 99).
fn expected_lengths(key: &str) -> (usize, usize, usize) {
    let no_fill = key.ends_with("Sample") && !matches!(key, "firstSample" | "lastSample" | "optimLastSample");
    match key {
        "ncount" => (1, 1, 1),
        "nth" => (0, 1, 0),
        "firstSample" | "lastSample" | "deadBand" | "lttb" | "ignoreflyers" => (0, 1, 1),
        "flyers" => (0, 0, 0),
        "caplotbinning" => (0, 1, 0),
        "firstFill" | "lastFill" => (0, 2, 3),
        // Raw output: at most n samples.
        "optimized" | "optimizedSample" | "optimLastSample" | "optimLastSampleSample" => (0, 1, 1),
        _ if no_fill => (0, 1, 1),
        _ => (0, 2, 3),
    }
}

#[test]
fn every_operator_on_empty_one_sample_and_continuity_only_input() {
    for (key, _) in REGISTRY {
        let spec = format!("{key}_10");
        let (empty, one, cont) = expected_lengths(key);
        let run = |input: Vec<ArchiverSample>| {
            let mut s = p(&spec).apply(Box::new(VecStream::new(input)), t(1000), t(1019));
            collect(s.as_mut()).unwrap()
        };
        assert_eq!(run(vec![]).len(), empty, "{spec} empty");
        let out = run(vec![dbl(1001, 2.0)]);
        assert_eq!(out.len(), one, "{spec} one sample: {out:?}");
        let out = run(vec![dbl(990, 2.0)]);
        assert_eq!(out.len(), cont, "{spec} continuity only: {out:?}");
    }
}
