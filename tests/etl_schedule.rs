//! Issue 13: the ETL scheduler driven by an injected clock moves partitions
//! exactly when Java's rules say (etl.md §2–3) for hour, day and year
//! sources with hold/gather, and retrieval across the tiers returns the
//! same samples before, during (a move stopped after each step) and after
//! every move.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use strata::app::Stores;
use strata::etl::{Etl, EtlError, EtlStop, Scheduler, Step};
use strata::registry::{NamedFlags, PvTypeInfo};
use strata::storage::{StorageConfig, StoragePlugin, StoreUrl, TieredStore};
use strata::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

/// 2024-03-10 00:00:00 UTC.
const MAR10: i64 = 1_710_028_800;
const DAY: i64 = 86_400;
/// 2024-01-01 00:00:00 UTC.
const Y2024: i64 = 1_704_067_200;

struct Fixture {
    _dir: tempfile::TempDir,
    cfg: StorageConfig,
    stores: Stores,
    sched: Scheduler,
}

/// STS hour, MTS day (hold, gather), LTS year; `tail` appended to the chain.
fn fixture(hold: u32, gather: u32, tail: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StorageConfig::under(dir.path());
    cfg.tiers[1].hold = hold;
    cfg.tiers[1].gather = gather;
    let stores = Stores::open(&cfg).unwrap();
    let flags = Arc::new(NamedFlags::open(&stores.kv).unwrap());
    let etl = Arc::new(Etl::new(stores.store.clone(), flags, None));
    let sched = Scheduler::new(etl, stores.registry.clone(), cfg.tiers.clone());
    let mut urls: Vec<String> = cfg
        .tiers
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    if let Some(t) = tail {
        urls.push(t.to_string());
    }
    let mut info = PvTypeInfo::new("ETL:s", ArchDbType::ScalarDouble, 1);
    info.data_stores = urls;
    stores.registry.put(&info).unwrap();
    Fixture {
        _dir: dir,
        cfg,
        stores,
        sched,
    }
}

async fn write(store: &TieredStore, times: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut out = Vec::new();
    for t in times {
        let s = ArchiverSample::at(t, 0, SampleValue::Double(t as f64));
        store.tiers()[0]
            .append("ETL:s", ArchDbType::ScalarDouble, &s, None)
            .await
            .unwrap();
        out.push(t);
    }
    store.flush_all_blocking().unwrap();
    out
}

/// Partition starts of the PV in tier `t`.
fn parts(f: &Fixture, t: u8) -> Vec<i64> {
    f.stores
        .store
        .index()
        .partitions("ETL:s", t)
        .unwrap()
        .iter()
        .map(|e| e.start)
        .collect()
}

/// Every sample time retrieval returns (tiers merged, boundary de-dup as
/// retrieval does), checked to be strictly increasing.
async fn read_all(store: &TieredStore) -> Vec<i64> {
    let from = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let to = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut out: Vec<i64> = Vec::new();
    for mut s in store.get_data("ETL:s", from, to).await.unwrap() {
        while let Some(e) = s.next_event().unwrap() {
            if out.last().is_some_and(|l| e.ts().secs <= *l) {
                continue;
            }
            out.push(e.ts().secs);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_sts_moves_at_five_past_the_next_hour() {
    let f = fixture(0, 0, None);
    let start = MAR10 + 9 * 3600;
    let all = write(&f.stores.store, (0..150).map(|i| start + i * 60)).await; // 09:00 … 11:29
    let now = MAR10 + 11 * 3600 + 1800; // 11:30
    f.sched.sync(now);
    // Java: the next multiple of 3600 after 11:30 is 12:00; plus 300 s.
    let due = MAR10 + 12 * 3600 + 300;
    assert_eq!(f.sched.next_due(), Some(due));
    assert_eq!(f.sched.tick(due - 1).moved, 0);
    assert_eq!(parts(&f, 0).len(), 3);
    let r = f.sched.tick(due);
    assert_eq!(r.moved, 3, "09, 10 and 11 move at 12:05");
    assert!(parts(&f, 0).is_empty());
    assert_eq!(parts(&f, 1), vec![MAR10], "one MTS day partition");
    assert_eq!(read_all(&f.stores.store).await, all);
    // Idle PV: nothing is due before new data makes it so.
    let r = f.sched.tick(due + 3600);
    assert_eq!(r.moved + r.deleted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_mts_with_hold_two_gather_one_follows_the_spec_example() {
    let f = fixture(2, 1, None);
    // 2024-03-10 00:00 … 03-14 23:50, every 10 minutes.
    let all = write(&f.stores.store, (0..5 * 144).map(|i| MAR10 + i * 600)).await;
    let mar15 = MAR10 + 5 * DAY;
    let now = mar15 + 30;
    f.sched.sync(now);
    assert_eq!(f.sched.next_due(), Some(mar15 + 3600 + 300), "STS stage at 01:05");
    let r = f.sched.tick(mar15 + 3600 + 300);
    assert_eq!(r.moved, 5 * 24, "every STS hour moves into MTS");
    assert_eq!(parts(&f, 1).len(), 5);
    assert!(
        parts(&f, 2).is_empty(),
        "MTS→LTS runs at 8 h multiples + 5 min only"
    );
    // etl.md §3: T = 03-15 08:05 → holdTime = gatherTime = 03-12 23:59:59.
    let t1 = mar15 + 8 * 3600 + 300;
    assert_eq!(f.sched.next_due(), Some(t1));
    assert_eq!(f.sched.tick(t1 - 1).moved, 0);
    let mts = |now: i64| {
        f.sched
            .stage_views(now)
            .into_iter()
            .find(|v| v.source == "MTS" && v.dest == "LTS")
            .unwrap()
    };
    assert_eq!(mts(t1 - 1).backlog, 0);
    assert_eq!(
        (mts(t1).backlog, mts(t1).next_run),
        (1, Some(t1)),
        "due, not yet run"
    );
    let r = f.sched.tick(t1);
    assert_eq!(r.moved, 3, "03_10, 03_11, 03_12 move");
    assert_eq!(mts(t1).backlog, 0);
    assert_eq!(parts(&f, 1), vec![MAR10 + 3 * DAY, MAR10 + 4 * DAY]);
    assert_eq!(parts(&f, 2), vec![Y2024]);
    assert_eq!(read_all(&f.stores.store).await, all);
    // 03_13 becomes eligible once prevPLS(T − 2 days) reaches 03-13: at
    // 03-16 00:00, i.e. at the run of 03-16 00:05.
    let t2 = mar15 + DAY + 300;
    assert_eq!(f.sched.next_due(), Some(t2));
    assert_eq!(f.sched.tick(t2 - 1).moved, 0);
    assert_eq!(f.sched.tick(t2).moved, 1);
    assert_eq!(parts(&f, 1), vec![MAR10 + 4 * DAY]);
    assert_eq!(read_all(&f.stores.store).await, all);
    // Per-stage statistics at the injected clock's times.
    let stages = f.sched.stats().stages();
    let st = |src: &str| stages.iter().find(|s| s.source == src).unwrap();
    let sts = st("STS");
    assert_eq!(
        (sts.runs, sts.moved, sts.last_run, sts.failures),
        (1, 120, mar15 + 3600 + 300, 0)
    );
    let m = st("MTS");
    assert_eq!((m.dest.as_str(), m.runs, m.moved, m.last_run), ("LTS", 2, 4, t2));
    assert_eq!(mts(t2).next_run, Some(t2 + 8 * 3600), "every 8 h");
    assert_eq!(f.sched.next_starts("ETL:s"), Some(vec![t2 + 3600, t2 + 8 * 3600]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn year_source_into_a_black_hole_cascades_in_one_tick_at_new_year() {
    let f = fixture(0, 0, Some("blackhole://localhost?name=GONE"));
    write(&f.stores.store, (0..24).map(|i| Y2024 - 7200 + i * 300)).await; // 2023-12-31 22:00 … 23:55
    let now = Y2024 - 60;
    f.sched.sync(now);
    let t = Y2024 + 300;
    assert_eq!(f.sched.next_due(), Some(t), "2024-01-01 00:05");
    assert_eq!(f.sched.tick(t - 1).moved, 0);
    let r = f.sched.tick(t);
    // STS → MTS (2 hours), MTS → LTS (the day), LTS → black hole (the year).
    assert_eq!(r.moved, 3);
    assert_eq!(r.deleted, 1);
    for t in 0..3 {
        assert!(parts(&f, t).is_empty(), "tier {t} empty");
    }
    assert!(read_all(&f.stores.store).await.is_empty());
    let _ = &f.cfg;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_flag_holds_a_stage_until_cleared() {
    let f = fixture(0, 0, None);
    write(&f.stores.store, (0..120).map(|i| MAR10 + i * 60)).await;
    f.sched.etl().flags().set("SKIP_MTS_FOR_ETL", true).unwrap();
    f.sched.sync(MAR10 + 7200);
    let due = MAR10 + 3 * 3600 + 300;
    assert_eq!(f.sched.tick(due).moved, 0);
    assert_eq!(parts(&f, 0).len(), 2);
    f.sched.etl().flags().set("SKIP_MTS_FOR_ETL", false).unwrap();
    let next = f.sched.next_due().unwrap();
    assert!(next > due);
    assert_eq!(f.sched.tick(next).moved, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_sees_every_sample_once_during_every_step_of_a_move() {
    for step in Step::ALL {
        let f = fixture(0, 0, None);
        let all = write(&f.stores.store, (0..200).map(|i| MAR10 + i * 47)).await;
        let etl = f.sched.etl().clone();
        let info = f.stores.registry.get("ETL:s").unwrap().unwrap();
        let chain = strata::storage::Chain::resolve(&info.data_stores, &f.cfg.tiers).unwrap();
        let t = Timestamp::new(MAR10 + DAY, 0);
        assert_eq!(etl.plan("ETL:s", &chain, 0, t).unwrap().1.moves.len(), 3);
        let r = etl.run_stage(
            "ETL:s",
            &chain,
            0,
            t,
            false,
            Some(EtlStop { file: 1, after: step }),
        );
        assert!(matches!(r, Err(EtlError::Stopped { .. })), "{step:?}: {r:?}");
        assert_eq!(read_all(&f.stores.store).await, all, "stopped after {step:?}");
        etl.run_stage("ETL:s", &chain, 0, t, false, None).unwrap();
        assert_eq!(read_all(&f.stores.store).await, all, "completed after {step:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_listed_before_a_move_streams_every_sample_after_it() {
    let f = fixture(0, 0, None);
    let all = write(&f.stores.store, (0..200).map(|i| MAR10 + i * 47)).await;
    let etl = f.sched.etl().clone();
    let info = f.stores.registry.get("ETL:s").unwrap().unwrap();
    let chain = strata::storage::Chain::resolve(&info.data_stores, &f.cfg.tiers).unwrap();
    let t = Timestamp::new(MAR10 + DAY, 0);
    let from = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let to = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let streams = f.stores.store.get_data("ETL:s", from, to).await.unwrap();
    etl.run_stage("ETL:s", &chain, 0, t, false, None).unwrap();
    assert!(parts(&f, 0).is_empty());
    let mut got: Vec<i64> = Vec::new();
    for mut s in streams {
        while let Some(e) = s.next_event().unwrap() {
            if got.last().is_some_and(|l| e.ts().secs <= *l) {
                continue;
            }
            got.push(e.ts().secs);
        }
    }
    assert_eq!(got, all);
    assert_eq!(read_all(&f.stores.store).await, all);
}
