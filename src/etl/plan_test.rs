use proptest::prelude::*;

use super::*;
use crate::index::entry::to_ts;
use crate::types::days_from_civil;
use PartitionGranularity::*;

/// Unix seconds of a UTC civil time.
fn utc(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
    days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
}

fn t(secs: i64) -> Timestamp {
    Timestamp::new(secs, 0)
}

/// A partition record of granularity `g` starting at `start` whose samples
/// run from `first` to `last`.
fn entry(g: PartitionGranularity, start: i64, first: i64, last: i64) -> PartitionEntry {
    PartitionEntry {
        path: format!("A/pv:{}.pb", g.partition_name(start)),
        start,
        year: crate::types::year_of(start),
        db_type: 6,
        first: (first, 0),
        last: (last, 0),
        samples: 10,
        samples_exact: true,
        bytes: 1000,
        last_sample: Vec::new(),
        compressed: false,
    }
}

/// Daily partitions from `from` (inclusive) through `to` (exclusive), each
/// with its first sample at midnight.
fn days(from: (i64, u32, u32), n: usize) -> Vec<PartitionEntry> {
    let start = utc(from.0, from.1, from.2, 0, 0, 0);
    (0..n)
        .map(|i| {
            let s = start + i as i64 * 86_400;
            entry(Day, s, s, s + 86_399)
        })
        .collect()
}

fn names(es: &[&PartitionEntry]) -> Vec<String> {
    es.iter().map(|e| e.path.clone()).collect()
}

#[test]
fn previous_partition_last_second_for_every_granularity() {
    let at = Timestamp::new(utc(2024, 3, 15, 9, 37, 12), 250_000_000);
    let cases = [
        (FiveMin, utc(2024, 3, 15, 9, 34, 59), 250_000_000),
        (FifteenMin, utc(2024, 3, 15, 9, 29, 59), 250_000_000),
        (ThirtyMin, utc(2024, 3, 15, 9, 29, 59), 250_000_000),
        (Hour, utc(2024, 3, 15, 8, 59, 59), 0),
        (Day, utc(2024, 3, 14, 23, 59, 59), 0),
        (Month, utc(2024, 2, 29, 23, 59, 59), 0),
        (Year, utc(2023, 12, 31, 23, 59, 59), 0),
    ];
    for (g, secs, nanos) in cases {
        assert_eq!(
            previous_partition_last_second(g, at),
            Timestamp::new(secs, nanos),
            "{g}"
        );
    }
    // January: the previous month is December of the previous year.
    let jan = t(utc(2024, 1, 10, 0, 0, 0));
    assert_eq!(
        previous_partition_last_second(Month, jan),
        t(utc(2023, 12, 31, 23, 59, 59))
    );
    // At a partition's first second the previous partition is the one just ended.
    let edge = t(utc(2024, 3, 15, 10, 0, 0));
    assert_eq!(
        previous_partition_last_second(Hour, edge),
        t(utc(2024, 3, 15, 9, 59, 59))
    );
}

#[test]
fn delays_follow_the_sources_and_never_shrink() {
    assert_eq!(stage_delays(&[Hour, Day]), vec![3600, 28_800]);
    assert_eq!(stage_delays(&[Hour, Day, Year]), vec![3600, 28_800, 28_800]);
    assert_eq!(stage_delays(&[Day, Hour]), vec![28_800, 28_800]);
    assert_eq!(stage_delays(&[FiveMin, Hour]), vec![300, 3600]);
    assert_eq!(stage_delays(&[Month]), vec![28_800]);
}

#[test]
fn runs_are_aligned_to_multiples_plus_five_minutes() {
    // An hourly stage set up at 09:37 first runs at 10:05, then every hour.
    let now = utc(2024, 3, 15, 9, 37, 0);
    assert_eq!(first_run(now, 3600), utc(2024, 3, 15, 10, 5, 0));
    // Exactly on a multiple: the next one (Java adds the delay first).
    assert_eq!(
        first_run(utc(2024, 3, 15, 10, 0, 0), 3600),
        utc(2024, 3, 15, 11, 5, 0)
    );
    // A daily-source stage (delay 8 h) runs at 00:05, 08:05 and 16:05 UTC.
    let s = schedules(&[Hour, Day], now);
    assert_eq!(s[1].first, utc(2024, 3, 15, 16, 5, 0));
    assert_eq!(s[1].run_after(s[1].first), utc(2024, 3, 16, 0, 5, 0));
    assert_eq!(
        s[1].run_at_or_after(utc(2024, 3, 16, 0, 5, 0)),
        utc(2024, 3, 16, 0, 5, 0)
    );
    assert_eq!(
        s[1].run_at_or_after(utc(2024, 3, 16, 0, 5, 1)),
        utc(2024, 3, 16, 8, 5, 0)
    );
    assert_eq!(s[0].run_at_or_after(0), s[0].first);
}

#[test]
fn worked_example_hourly_sts() {
    // STS hour, hold = gather = 0, T = 2024-03-15 09:05: files up to _08 move.
    let parts: Vec<PartitionEntry> = (5..=9)
        .map(|h| {
            let s = utc(2024, 3, 15, h, 0, 0);
            entry(Hour, s, s + 1, s + 3599)
        })
        .collect();
    let at = t(utc(2024, 3, 15, 9, 5, 0));
    let moved = eligible_entries(&parts, Hour, HoldGather::default(), at);
    assert_eq!(
        names(&moved),
        vec![
            "A/pv:2024_03_15_05.pb",
            "A/pv:2024_03_15_06.pb",
            "A/pv:2024_03_15_07.pb",
            "A/pv:2024_03_15_08.pb"
        ]
    );
}

#[test]
fn worked_example_mts_hold_2_gather_1() {
    let parts = days((2024, 3, 9), 7); // 03_09 … 03_15
    let at = t(utc(2024, 3, 15, 8, 5, 0));
    let hg = HoldGather { hold: 2, gather: 1 };
    let moved = eligible_entries(&parts, Day, hg, at);
    assert_eq!(
        names(&moved),
        vec![
            "A/pv:2024_03_09.pb",
            "A/pv:2024_03_10.pb",
            "A/pv:2024_03_11.pb",
            "A/pv:2024_03_12.pb"
        ]
    );
}

#[test]
fn worked_example_mts_hold_4_gather_1() {
    let parts = days((2024, 3, 8), 8); // 03_08 … 03_15
    let at = t(utc(2024, 3, 15, 8, 5, 0));
    let hg = HoldGather { hold: 4, gather: 1 };
    let moved = eligible_entries(&parts, Day, hg, at);
    assert_eq!(
        names(&moved),
        vec!["A/pv:2024_03_08.pb", "A/pv:2024_03_09.pb", "A/pv:2024_03_10.pb"]
    );
}

#[test]
fn worked_example_hold_7_gather_5() {
    let at = t(utc(2024, 3, 15, 8, 5, 0));
    let hg = HoldGather { hold: 7, gather: 5 };
    // Oldest file starts 03-08: the hold is not met, nothing moves.
    let late = days((2024, 3, 8), 8);
    assert!(eligible_entries(&late, Day, hg, at).is_empty());
    // Oldest file starts 03-07: five daily files (03-07 … 03-11) move at once.
    let ready = days((2024, 3, 7), 9);
    let moved = eligible_entries(&ready, Day, hg, at);
    assert_eq!(
        names(&moved),
        vec![
            "A/pv:2024_03_07.pb",
            "A/pv:2024_03_08.pb",
            "A/pv:2024_03_09.pb",
            "A/pv:2024_03_10.pb",
            "A/pv:2024_03_11.pb"
        ]
    );
}

#[test]
fn hold_is_judged_on_first_samples_not_file_counts() {
    // A sparse PV: files 03-01 and 03-14 only. With hold=2 at 03-15 the
    // old file moves although only one newer file exists.
    let mut parts = days((2024, 3, 1), 1);
    parts.extend(days((2024, 3, 14), 2));
    let at = t(utc(2024, 3, 15, 8, 5, 0));
    let moved = eligible_entries(&parts, Day, HoldGather { hold: 2, gather: 1 }, at);
    assert_eq!(names(&moved), vec!["A/pv:2024_03_01.pb"]);
    // A file whose first sample is late in its day waits for it.
    let s = utc(2024, 3, 12, 0, 0, 0);
    let late_first = vec![entry(Day, s, utc(2024, 3, 12, 23, 59, 59), s + 86_399)];
    let cut = Timestamp::new(utc(2024, 3, 12, 23, 59, 59), 1);
    let mut nanos = late_first.clone();
    nanos[0].first = to_ts(cut);
    assert_eq!(
        eligible_entries(&late_first, Day, HoldGather { hold: 2, gather: 1 }, at).len(),
        1
    );
    // Java compares with 23:59:59.000: a first sample 1 ns later waits a day.
    assert!(eligible_entries(&nanos, Day, HoldGather { hold: 2, gather: 1 }, at).is_empty());
}

#[test]
fn the_partition_being_written_never_moves() {
    let s = utc(2024, 3, 15, 9, 0, 0);
    let parts = vec![entry(Hour, s, s, s + 10)];
    for hg in [HoldGather::default(), HoldGather { hold: 1, gather: 1 }] {
        assert!(eligible_entries(&parts, Hour, hg, t(s + 3599)).is_empty());
        assert!(eligible_entries(&parts, Hour, hg, t(s + 3600 * 3)).len() == 1);
    }
    // Consolidation plans a year ahead: everything is eligible.
    let ahead = t(s + CONSOLIDATE_AHEAD_SECS);
    assert_eq!(
        eligible_entries(&parts, Hour, HoldGather { hold: 7, gather: 5 }, ahead).len(),
        1
    );
}

#[test]
fn unreadable_first_samples_are_skipped() {
    let s = utc(2024, 3, 10, 0, 0, 0);
    let cands = vec![
        Candidate {
            start: s,
            first: None,
        },
        Candidate {
            start: s + 86_400,
            first: Some(t(s + 86_400)),
        },
    ];
    let at = t(utc(2024, 3, 15, 8, 5, 0));
    assert_eq!(
        eligible(&cands, Day, HoldGather { hold: 2, gather: 1 }, at),
        vec![1]
    );
    assert_eq!(eligible(&cands, Day, HoldGather::default(), at), vec![0, 1]);
}

fn granularity() -> impl Strategy<Value = PartitionGranularity> {
    prop::sample::select(PartitionGranularity::ALL.to_vec())
}

proptest! {
    /// `earliest_eligible` is exactly the first whole second at which the
    /// oldest partition moves (eligibility is monotone in time).
    #[test]
    fn earliest_eligible_matches_the_walk(
        g in granularity(),
        secs in 1_500_000_000i64..1_900_000_000,
        offset_frac in prop_oneof![Just(0.0f64), Just(1.0f64), 0.0f64..1.0],
        nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
        hold in 0u32..5,
        gather_raw in 0u32..5,
    ) {
        let gather = gather_raw.min(hold);
        let hg = HoldGather { hold, gather };
        let start = g.partition_start(secs);
        let len = g.next_partition_start(start) - start;
        // Partition edges (first and last second) are where Java's rules bite.
        let first = Timestamp::new(start + ((len - 1) as f64 * offset_frac) as i64, nanos);
        let cands = [Candidate { start, first: Some(first) }];
        let te = earliest_eligible(g, hg, start, first);
        prop_assert_eq!(eligible(&cands, g, hg, t(te)), vec![0]);
        prop_assert!(eligible(&cands, g, hg, t(te - 1)).is_empty());
        prop_assert!(!eligible(&cands, g, hg, t(te + 12_345)).is_empty());
    }

    /// A stage's due time is a run time, never before `not_before`, and
    /// the source is eligible then.
    #[test]
    fn due_is_an_eligible_run(
        g in granularity(),
        now in 1_600_000_000i64..1_700_000_000,
        back in 0i64..100_000_000,
        hold in 0u32..4,
    ) {
        let hg = HoldGather { hold, gather: hold.min(1) };
        let sched = schedules(&[g], now)[0];
        let start = g.partition_start(now - back);
        let first = t(start);
        let d = due(&sched, g, hg, (start, first), now);
        prop_assert!(d >= sched.first && d >= now);
        prop_assert_eq!((d - sched.first) % sched.delay, 0);
        let cands = [Candidate { start, first: Some(first) }];
        prop_assert!(!eligible(&cands, g, hg, t(d)).is_empty());
        // The run before it (if it is one) had nothing to do or was too early.
        if d - sched.delay >= sched.first.max(now) {
            prop_assert!(eligible(&cands, g, hg, t(d - sched.delay)).is_empty());
        }
    }
}

fn store(g: PartitionGranularity, last: Option<i64>) -> Dest {
    Dest::Store {
        granularity: g,
        last: last.map(t),
        kind: Compression::None,
        reduce: None,
        into_blocked: false,
    }
}

#[test]
fn bulk_needs_a_coarser_destination_and_newer_samples() {
    let s = utc(2024, 3, 15, 8, 0, 0);
    let src = entry(Hour, s, s + 5, s + 3590);
    let day = utc(2024, 3, 15, 0, 0, 0);
    assert_eq!(
        plan_file(&src, Hour, &store(Day, None)),
        MoveAction::Bulk { dest_start: day }
    );
    assert_eq!(
        plan_file(&src, Hour, &store(Day, Some(s + 4))),
        MoveAction::Bulk { dest_start: day }
    );
    // A move interrupted after its append: the destination already has a prefix.
    assert_eq!(
        plan_file(&src, Hour, &store(Day, Some(s + 5))),
        MoveAction::PerSample {
            after: Some(t(s + 5)),
            dest_starts: vec![day]
        }
    );
    assert_eq!(
        plan_file(&src, Hour, &store(Day, Some(s + 3590))),
        MoveAction::AlreadyThere
    );
    // Same granularity: per sample.
    assert!(matches!(
        plan_file(&src, Hour, &store(Hour, None)),
        MoveAction::PerSample { .. }
    ));
    // Finer destination: one entry per destination partition touched.
    let MoveAction::PerSample { dest_starts, .. } = plan_file(&src, Hour, &store(FifteenMin, None)) else {
        panic!("per sample expected");
    };
    assert_eq!(dest_starts, vec![s, s + 900, s + 1800, s + 2700]);
}

#[test]
fn discards_and_reduction() {
    let s = utc(2024, 3, 15, 8, 0, 0);
    let src = entry(Hour, s, s, s + 3599);
    assert_eq!(
        plan_file(&src, Hour, &Dest::Blackhole),
        MoveAction::Discard(DiscardReason::Blackhole)
    );
    let blocked = Dest::Store {
        granularity: Day,
        last: None,
        kind: Compression::Zstd,
        reduce: None,
        into_blocked: true,
    };
    assert_eq!(
        plan_file(&src, Hour, &blocked),
        MoveAction::Discard(DiscardReason::IntoStoreBlocked)
    );
    let reduce = Dest::Store {
        granularity: Year,
        last: Some(t(s - 10)),
        kind: Compression::None,
        reduce: Some("firstSample_3600".into()),
        into_blocked: false,
    };
    assert_eq!(
        plan_file(&src, Hour, &reduce),
        MoveAction::Reduce {
            spec: "firstSample_3600".into(),
            after: Some(t(s - 10))
        }
    );
}

#[test]
fn a_stage_plans_each_file_after_the_previous_one() {
    let base = utc(2024, 3, 15, 5, 0, 0);
    let parts: Vec<PartitionEntry> = (0..3)
        .map(|i| {
            let s = base + i * 3600;
            entry(Hour, s, s, s + 3599)
        })
        .collect();
    let refs: Vec<&PartitionEntry> = parts.iter().collect();
    let day = utc(2024, 3, 15, 0, 0, 0);
    let plan = plan_stage(&refs, Hour, &store(Day, None));
    assert!(plan
        .moves
        .iter()
        .all(|m| m.action == MoveAction::Bulk { dest_start: day }));
    assert_eq!(plan.dest_last, Some(t(base + 3 * 3600 - 1)));
    // Crash recovery: the destination already holds the first file and
    // part of the second.
    let plan = plan_stage(&refs, Hour, &store(Day, Some(base + 3600 + 100)));
    assert_eq!(plan.moves[0].action, MoveAction::AlreadyThere);
    assert!(
        matches!(plan.moves[1].action, MoveAction::PerSample { after: Some(a), .. } if a == t(base + 3700))
    );
    assert_eq!(plan.moves[2].action, MoveAction::Bulk { dest_start: day });
    assert_eq!(plan.moves[2].bytes, 1000);
    assert_eq!(plan.moves[2].last, t(base + 3 * 3600 - 1));
}

#[test]
fn out_of_space_handling() {
    let mib = FREE_SPACE_RESERVE;
    assert_eq!(
        space_action(10 * mib, mib, OutOfSpace::default(), 1),
        SpaceAction::Proceed
    );
    assert_eq!(
        space_action(mib, mib, OutOfSpace::default(), 0),
        SpaceAction::DeleteSource
    );
    assert_eq!(
        space_action(mib, mib, OutOfSpace::default(), 1),
        SpaceAction::StopRun
    );
    assert_eq!(
        space_action(mib, mib, OutOfSpace::DeleteSrc, 1),
        SpaceAction::DeleteSource
    );
    assert_eq!(space_action(mib, mib, OutOfSpace::Skip, 0), SpaceAction::StopRun);
    assert_eq!(space_action(0, 0, OutOfSpace::Skip, 0), SpaceAction::Proceed);
    assert_eq!(
        "skip_etl_when_out_of_space".parse::<OutOfSpace>(),
        Ok(OutOfSpace::Skip)
    );
    assert!("nope".parse::<OutOfSpace>().is_err());
    assert_eq!(skip_etl_flag("MTS"), "SKIP_MTS_FOR_ETL");
}
