//! What ETL moves, when: pure functions of a PV's store chain, its partition
//! records and a time (etl.md §2–4). No I/O, no clock, no sled; the executor
//! (`run.rs`) carries the plans out.
//!
//! Times are Unix seconds (`i64`) where the spec works in whole seconds
//! (schedules, partition names) and [`Timestamp`]s where it compares with
//! sample times (hold/gather).

use crate::index::entry::ts as entry_ts;
use crate::index::PartitionEntry;
use crate::storage::Compression;
use crate::types::{PartitionGranularity, Timestamp};

/// A stage runs this long after each multiple of its delay (Java: 5 minutes).
pub const RUN_OFFSET_SECS: i64 = 300;
/// Longest delay between two runs of a stage (Java: one 8-hour shift).
pub const MAX_DELAY_SECS: i64 = 8 * 3600;
/// Consolidation (on shutdown, pause, `consolidateDataForPV`) plans as if
/// it were this much later, which makes every partition eligible.
pub const CONSOLIDATE_AHEAD_SECS: i64 = 365 * 86_400;
/// Free space kept on a destination beyond the file being moved (Java: 1 MiB).
pub const FREE_SPACE_RESERVE: u64 = 1024 * 1024;

/// Timing of one stage: runs at `first + k·delay` for k = 0, 1, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSchedule {
    /// Seconds between runs.
    pub delay: i64,
    /// First run time (Unix seconds).
    pub first: i64,
}

impl StageSchedule {
    /// The first run at or after `t` (never before `first`).
    pub fn run_at_or_after(&self, t: i64) -> i64 {
        if t <= self.first {
            return self.first;
        }
        let k = (t - self.first + self.delay - 1).div_euclid(self.delay);
        self.first + k * self.delay
    }

    /// The first run strictly after `t` (what Java shows as "next job runs at"
    /// once a run at `t` has started).
    pub fn run_after(&self, t: i64) -> i64 {
        self.run_at_or_after(t.saturating_add(1))
    }
}

/// Delays of the stages whose sources have these granularities (stage *i*
/// moves out of store *i*): `min(approx seconds, 8 h)`, raised to the
/// largest delay of any earlier stage.
pub fn stage_delays(sources: &[PartitionGranularity]) -> Vec<i64> {
    let mut out = Vec::with_capacity(sources.len());
    let mut floor = 0;
    for g in sources {
        let d = g.approx_seconds().min(MAX_DELAY_SECS).max(floor);
        floor = d;
        out.push(d);
    }
    out
}

/// First run of a stage scheduled at `now`: the next multiple of `delay`
/// strictly after `now`, plus [`RUN_OFFSET_SECS`].
pub fn first_run(now: i64, delay: i64) -> i64 {
    (now + delay).div_euclid(delay) * delay + RUN_OFFSET_SECS
}

/// Schedules of every stage, as set up at `now`.
pub fn schedules(sources: &[PartitionGranularity], now: i64) -> Vec<StageSchedule> {
    stage_delays(sources)
        .into_iter()
        .map(|delay| StageSchedule {
            delay,
            first: first_run(now, delay),
        })
        .collect()
}

/// Java `getPreviousPartitionLastSecond`: the last second of the partition
/// before the one containing `t`. For the minute granularities Java keeps the
/// nanoseconds of `t`; for the others they are zero.
pub fn previous_partition_last_second(g: PartitionGranularity, t: Timestamp) -> Timestamp {
    let secs = g.partition_start(t.secs) - 1;
    let nanos = match g {
        PartitionGranularity::FiveMin
        | PartitionGranularity::FifteenMin
        | PartitionGranularity::ThirtyMin => t.nanos,
        _ => 0,
    };
    Timestamp::new(secs, nanos)
}

/// `hold`/`gather` of a source store (in partitions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldGather {
    /// Partitions held back before anything moves.
    pub hold: u32,
    /// Partitions moved together once the hold is met.
    pub gather: u32,
}

impl HoldGather {
    fn skipped(self) -> bool {
        self.hold == 0 && self.gather == 0
    }

    fn hold_time(self, g: PartitionGranularity, t: Timestamp) -> Timestamp {
        let back = g.approx_seconds() * i64::from(self.hold);
        previous_partition_last_second(g, Timestamp::new(t.secs - back, t.nanos))
    }

    fn gather_time(self, g: PartitionGranularity, t: Timestamp) -> Timestamp {
        let n = i64::from(self.hold) - (i64::from(self.gather) - 1);
        let back = g.approx_seconds() * n;
        previous_partition_last_second(g, Timestamp::new(t.secs - back, t.nanos))
    }
}

/// What eligibility needs to know of one source partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Partition start (from the file name).
    pub start: i64,
    /// First sample (`None`: unreadable, skipped).
    pub first: Option<Timestamp>,
}

impl From<&PartitionEntry> for Candidate {
    fn from(e: &PartitionEntry) -> Self {
        Candidate {
            start: e.start,
            first: Some(entry_ts(e.first)),
        }
    }
}

/// Indices of the partitions of `parts` (oldest first, granularity `g`)
/// that a stage run at `t` moves (etl.md §3): partitions before the one
/// containing `t`, then the hold/gather walk on first samples.
pub fn eligible(parts: &[Candidate], g: PartitionGranularity, hg: HoldGather, t: Timestamp) -> Vec<usize> {
    let current = g.partition_start(t.secs);
    let mut out = Vec::new();
    if hg.skipped() {
        out.extend(
            parts
                .iter()
                .enumerate()
                .filter(|(_, p)| p.start < current)
                .map(|(i, _)| i),
        );
        return out;
    }
    let (hold_time, gather_time) = (hg.hold_time(g, t), hg.gather_time(g, t));
    let mut hold_ok = false;
    for (i, p) in parts.iter().enumerate() {
        if p.start >= current {
            break;
        }
        let Some(first) = p.first else { continue };
        if !hold_ok {
            if first > hold_time {
                return out;
            }
            hold_ok = true;
        }
        if first <= gather_time {
            out.push(i);
        }
    }
    out
}

/// [`eligible`] over index records.
pub fn eligible_entries(
    entries: &[PartitionEntry],
    g: PartitionGranularity,
    hg: HoldGather,
    t: Timestamp,
) -> Vec<&PartitionEntry> {
    let cands: Vec<Candidate> = entries.iter().map(Candidate::from).collect();
    eligible(&cands, g, hg, t)
        .into_iter()
        .map(|i| &entries[i])
        .collect()
}

/// Smallest partition start `>= secs`.
fn ceil_partition(g: PartitionGranularity, secs: i64) -> i64 {
    let s = g.partition_start(secs);
    if s == secs {
        s
    } else {
        g.next_partition_start(secs)
    }
}

/// Smallest whole second `X` with `first <= previous_partition_last_second(X)`.
fn earliest_covering(g: PartitionGranularity, first: Timestamp) -> i64 {
    // prevPLS(X) = (ps(X) - 1 s, 0 ns) for whole-second X, so the partition
    // start of X must reach the second after `first` (two after it when
    // `first` has nanoseconds: Java compares with 0 ns).
    let need = first.secs + 1 + i64::from(first.nanos > 0);
    ceil_partition(g, need)
}

/// The earliest whole second at which a run would move the oldest
/// partition (start `oldest_start`, first sample `oldest_first`); nothing
/// is eligible at any earlier time. Eligibility only grows with time.
pub fn earliest_eligible(
    g: PartitionGranularity,
    hg: HoldGather,
    oldest_start: i64,
    oldest_first: Timestamp,
) -> i64 {
    let candidate = g.next_partition_start(oldest_start);
    if hg.skipped() {
        return candidate;
    }
    let cover = earliest_covering(g, oldest_first);
    let a = g.approx_seconds();
    let by_hold = cover + a * i64::from(hg.hold);
    let by_gather = cover + a * (i64::from(hg.hold) - (i64::from(hg.gather) - 1));
    candidate.max(by_hold).max(by_gather)
}

/// When a stage with schedule `sched` next has work for a source whose
/// oldest partition is `oldest` (`(start, first sample)`): its first run at
/// or after both `not_before` and the oldest partition's eligibility.
pub fn due(
    sched: &StageSchedule,
    g: PartitionGranularity,
    hg: HoldGather,
    oldest: (i64, Timestamp),
    not_before: i64,
) -> i64 {
    let t = earliest_eligible(g, hg, oldest.0, oldest.1).max(not_before);
    sched.run_at_or_after(t)
}

/// What the plan needs to know of a destination store.
#[derive(Debug, Clone, PartialEq)]
pub enum Dest {
    /// `blackhole://`: everything is discarded.
    Blackhole,
    /// A PlainPB tier.
    Store {
        /// Partition granularity.
        granularity: PartitionGranularity,
        /// Newest sample stored for the PV (its summary).
        last: Option<Timestamp>,
        /// Form of new partitions.
        kind: Compression,
        /// `reducedata=` post-processor.
        reduce: Option<String>,
        /// `etlIntoStoreIf=` flag is false: drop, report success (Java).
        into_blocked: bool,
    },
}

/// Why a source file is deleted without its samples being stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardReason {
    /// The destination is a black hole (retention).
    Blackhole,
    /// The destination's `etlIntoStoreIf` flag is false.
    IntoStoreBlocked,
    /// Out of space on the first destination (Java's default handling).
    OutOfSpace,
}

/// The action for one source partition file.
#[derive(Debug, Clone, PartialEq)]
pub enum MoveAction {
    /// Every sample is already stored in the destination (`last <=` its
    /// newest): delete the source only.
    AlreadyThere,
    /// Delete the source without storing its samples.
    Discard(DiscardReason),
    /// Copy the sample lines verbatim into one destination partition.
    Bulk {
        /// Destination partition start.
        dest_start: i64,
    },
    /// Decode and append samples newer than `after` into these destination
    /// partitions (files switch at partition boundaries).
    PerSample {
        /// Samples at or before this are already stored and skipped.
        after: Option<Timestamp>,
        /// Destination partitions that may receive samples, oldest first.
        dest_starts: Vec<i64>,
    },
    /// Pass the file's samples through `reducedata` and append the output
    /// (samples newer than `after`) per sample; a failing reducer keeps the
    /// source (strata's deliberate difference from Java).
    Reduce {
        /// Post-processor spec.
        spec: String,
        /// Samples at or before this are skipped.
        after: Option<Timestamp>,
    },
}

/// One source partition as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMove {
    /// Source partition start.
    pub start: i64,
    /// Path relative to the source root.
    pub path: String,
    /// Size when planned; the source is deleted only if it still has it.
    pub bytes: u64,
    /// Newest sample when planned (with `bytes`, the "tail" guard).
    pub last: Timestamp,
    /// What to do.
    pub action: MoveAction,
}

/// The moves of one stage run for one PV, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StagePlan {
    /// Files to move, oldest first.
    pub moves: Vec<FileMove>,
    /// The destination's newest sample once every move has succeeded.
    pub dest_last: Option<Timestamp>,
}

/// Destination partitions holding samples in `(after, last]` when the
/// source spans `[first, last]`.
fn dest_partitions(
    g: PartitionGranularity,
    first: Timestamp,
    last: Timestamp,
    after: Option<Timestamp>,
) -> Vec<i64> {
    let lo = match after {
        Some(a) if a >= first => a.secs,
        _ => first.secs,
    };
    let end = g.partition_start(last.secs);
    let mut out = Vec::new();
    let mut s = g.partition_start(lo);
    while s <= end {
        out.push(s);
        s = g.next_partition_start(s);
    }
    out
}

/// The action for one source file of granularity `src_g` (etl.md §4 step 2).
pub fn plan_file(src: &PartitionEntry, src_g: PartitionGranularity, dest: &Dest) -> MoveAction {
    let Dest::Store {
        granularity,
        last,
        reduce,
        into_blocked,
        ..
    } = dest
    else {
        return MoveAction::Discard(DiscardReason::Blackhole);
    };
    if *into_blocked {
        return MoveAction::Discard(DiscardReason::IntoStoreBlocked);
    }
    let (first, src_last) = (entry_ts(src.first), entry_ts(src.last));
    if last.is_some_and(|l| src_last <= l) {
        return MoveAction::AlreadyThere;
    }
    if let Some(spec) = reduce {
        return MoveAction::Reduce {
            spec: spec.clone(),
            after: *last,
        };
    }
    let coarser = granularity.approx_seconds() > src_g.approx_seconds();
    if coarser && last.is_none_or(|l| first > l) {
        return MoveAction::Bulk {
            dest_start: granularity.partition_start(first.secs),
        };
    }
    MoveAction::PerSample {
        after: *last,
        dest_starts: dest_partitions(*granularity, first, src_last, *last),
    }
}

/// Plans moving `eligible` (oldest first) into `dest`, each decision
/// assuming the earlier moves succeeded.
pub fn plan_stage(eligible: &[&PartitionEntry], src_g: PartitionGranularity, dest: &Dest) -> StagePlan {
    let mut dest = dest.clone();
    let mut plan = StagePlan::default();
    for e in eligible {
        let action = plan_file(e, src_g, &dest);
        if let Dest::Store { last, .. } = &mut dest {
            let stores = matches!(
                action,
                MoveAction::Bulk { .. } | MoveAction::PerSample { .. } | MoveAction::Reduce { .. }
            );
            if stores {
                let l = entry_ts(e.last);
                *last = Some(last.map_or(l, |x| x.max(l)));
            }
        }
        plan.moves.push(FileMove {
            start: e.start,
            path: e.path.clone(),
            bytes: e.bytes,
            last: entry_ts(e.last),
            action,
        });
    }
    if let Dest::Store { last, .. } = dest {
        plan.dest_last = last;
    }
    plan
}

/// Java's `OutOfSpaceHandling` (property
/// `org.epics.archiverappliance.etl.common.OutOfSpaceHandling`). In the
/// configuration: `delete_src_if_first_dest`, `delete_src`, `skip_etl`, or
/// Java's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OutOfSpace {
    /// Stage 0 deletes the source without copying; later stages stop the run.
    #[default]
    #[serde(
        rename = "delete_src_if_first_dest",
        alias = "DELETE_SRC_STREAMS_IF_FIRST_DEST_WHEN_OUT_OF_SPACE"
    )]
    DeleteSrcIfFirstDest,
    /// Always delete the source.
    #[serde(rename = "delete_src", alias = "DELETE_SRC_STREAMS_WHEN_OUT_OF_SPACE")]
    DeleteSrc,
    /// Always stop the run.
    #[serde(rename = "skip_etl", alias = "SKIP_ETL_WHEN_OUT_OF_SPACE")]
    Skip,
}

/// What to do with one source file given the destination's free space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceAction {
    /// Enough space: move it.
    Proceed,
    /// Delete the source without copying (logged and counted).
    DeleteSource,
    /// Stop this stage run for the PV.
    StopRun,
}

/// Java's free-space check: `free < file size + 1 MiB` applies `policy`.
pub fn space_action(free: u64, file_bytes: u64, policy: OutOfSpace, stage: usize) -> SpaceAction {
    if file_bytes == 0 || free >= file_bytes.saturating_add(FREE_SPACE_RESERVE) {
        return SpaceAction::Proceed;
    }
    match policy {
        OutOfSpace::DeleteSrc => SpaceAction::DeleteSource,
        OutOfSpace::Skip => SpaceAction::StopRun,
        OutOfSpace::DeleteSrcIfFirstDest if stage == 0 => SpaceAction::DeleteSource,
        OutOfSpace::DeleteSrcIfFirstDest => SpaceAction::StopRun,
    }
}

impl std::str::FromStr for OutOfSpace {
    type Err = String;

    /// Java's enum names, case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DELETE_SRC_STREAMS_IF_FIRST_DEST_WHEN_OUT_OF_SPACE" | "DELETE_SRC_IF_FIRST_DEST" => {
                Ok(Self::DeleteSrcIfFirstDest)
            }
            "DELETE_SRC_STREAMS_WHEN_OUT_OF_SPACE" | "DELETE_SRC" => Ok(Self::DeleteSrc),
            "SKIP_ETL_WHEN_OUT_OF_SPACE" | "SKIP_ETL" => Ok(Self::Skip),
            other => Err(format!("unknown out-of-space handling {other:?}")),
        }
    }
}

/// Named flag that skips every stage into store `dest` (Java).
pub fn skip_etl_flag(dest: &str) -> String {
    format!("SKIP_{dest}_FOR_ETL")
}

#[cfg(test)]
#[path = "plan_test.rs"]
mod plan_test;
