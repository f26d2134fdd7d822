//! Issue 13: an ETL move stopped after every step (as a crash would), then
//! the store reopened (reconcile) and ETL run again: every sample exactly
//! once, and the index equal to what a fresh rebuild builds. Bulk,
//! per-sample, black-hole and reducedata moves, and waves of several PVs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use strata::app::Stores;
use strata::etl::{Etl, EtlError, EtlStop, Reducer, StageJob, StageRun, Step};
use strata::index::{Index, MemKv};
use strata::plainpb::PbFile;
use strata::registry::NamedFlags;
use strata::retrieval::postprocessors::PpSpec;
use strata::storage::{Chain, StorageConfig, StoreUrl, TierConfig, TieredStore};
use strata::types::{ArchDbType, ArchiverSample, PartitionGranularity, SampleValue, Timestamp};

/// 2024-03-15 00:00:00 UTC.
const DAY: i64 = 1_710_460_800;
const PV: &str = "ETL:crash:a";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// STS hour → MTS day: verbatim copy.
    Bulk,
    /// STS hour → MTS hour: per sample.
    PerSample,
    /// STS → black hole.
    Blackhole,
    /// STS hour → MTS day with reducedata=firstSample_600.
    Reduce,
}

fn config(dir: &Path, kind: Kind) -> StorageConfig {
    let mut cfg = StorageConfig::under(dir);
    let mts_g = if kind == Kind::PerSample {
        PartitionGranularity::Hour
    } else {
        PartitionGranularity::Day
    };
    cfg.tiers = vec![
        TierConfig::new("STS", dir.join("sts"), PartitionGranularity::Hour),
        TierConfig::new("MTS", dir.join("mts"), mts_g),
    ];
    cfg
}

fn chain(cfg: &StorageConfig, kind: Kind) -> Chain {
    let sts = StoreUrl::for_tier(&cfg.tiers[0]).to_string();
    let mts = StoreUrl::for_tier(&cfg.tiers[1]).to_string();
    let urls = match kind {
        Kind::Bulk | Kind::PerSample => vec![sts, mts],
        Kind::Blackhole => vec![sts, "blackhole://localhost?name=RETENTION".to_string()],
        Kind::Reduce => vec![sts, format!("{mts}&reducedata=firstSample_600")],
    };
    Chain::resolve(&urls, &cfg.tiers).unwrap()
}

fn reducer() -> Reducer {
    Arc::new(|spec: &str, from: Timestamp, to: Timestamp| {
        let pp = PpSpec::parse(spec)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{spec} is not a post-processor"))?;
        Ok(pp.bind(from, to))
    })
}

/// Sample times written: every 50 s over three hours and a bit of a fourth.
fn times() -> Vec<i64> {
    (0..(3 * 72 + 10)).map(|i| DAY + 7 + i * 50).collect()
}

async fn write(store: &TieredStore) {
    write_pvs(store, &[PV]).await;
}

async fn write_pvs(store: &TieredStore, pvs: &[&str]) {
    let sts = &store.tiers()[0];
    for pv in pvs {
        for (i, t) in times().into_iter().enumerate() {
            let s = ArchiverSample::at(t, 0, SampleValue::Double(i as f64));
            sts.append(pv, ArchDbType::ScalarDouble, &s, None).await.unwrap();
        }
    }
    store.flush_all_blocking().unwrap();
}

/// Opens `cfg` once earlier handles released the database (sled may finish
/// background writes just after a drop): a wait for a condition.
fn open(cfg: &StorageConfig) -> (Stores, Etl) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let stores = loop {
        match Stores::open(cfg) {
            Ok(s) => break s,
            Err(strata::app::AppError::Kv(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("opening: {e:?}"),
        }
    };
    let flags = Arc::new(NamedFlags::open(&stores.kv).unwrap());
    let etl = Etl::new(stores.store.clone(), flags, Some(reducer()));
    (stores, etl)
}

/// Every sample time in every file of every tier, with its count.
fn on_disk(cfg: &StorageConfig) -> BTreeMap<(usize, i64), u32> {
    on_disk_of(cfg, PV)
}

/// [`on_disk`] for the files of `pv` (by their header).
fn on_disk_of(cfg: &StorageConfig, pv: &str) -> BTreeMap<(usize, i64), u32> {
    let mut out = BTreeMap::new();
    for (i, t) in cfg.tiers.iter().enumerate() {
        if !t.root.exists() {
            continue;
        }
        for e in walkdir::WalkDir::new(&t.root).into_iter().flatten() {
            if !e.file_type().is_file() {
                continue;
            }
            let pb = PbFile::open(e.path()).unwrap();
            if pb.header().pvname != pv {
                continue;
            }
            let mut s = pb.stream(None, None).unwrap();
            while let Some(x) = s.next_sample().unwrap() {
                *out.entry((i, x.ts().secs)).or_insert(0) += 1;
            }
        }
    }
    out
}

/// The index's records and summaries equal a fresh rebuild's; no
/// intents or pending deletes remain.
fn assert_index_is_rebuild(cfg: &StorageConfig, index: &Index, what: &str) {
    let scan = strata::rebuild::scan(cfg, 1, &|_| {});
    assert!(scan.problems.is_empty(), "{what}: {:?}", scan.problems);
    let kv = MemKv::new();
    let fresh = Index::open(&kv).unwrap();
    let parts: Vec<_> = scan
        .found
        .iter()
        .map(|f| (f.pv.clone(), f.tier, f.key.clone(), f.entry.clone()))
        .collect();
    fresh.load_fresh(&parts).unwrap();
    let recs = |ix: &Index| ix.all_partitions().map(|r| r.unwrap()).collect::<Vec<_>>();
    let sums = |ix: &Index| ix.summaries().map(|r| r.unwrap()).collect::<Vec<_>>();
    assert_eq!(recs(index), recs(&fresh), "{what}: partition records");
    assert_eq!(sums(index), sums(&fresh), "{what}: summaries");
    for t in 0..cfg.tiers.len() as u8 {
        assert_eq!(
            index.totals(t).unwrap(),
            fresh.totals(t).unwrap(),
            "{what}: totals"
        );
    }
    assert!(index.intents().unwrap().is_empty(), "{what}: intents left");
    assert!(
        index.pending_deletes().unwrap().is_empty(),
        "{what}: pending deletes left"
    );
}

/// What the destination must hold once all three past hours moved.
fn expected(kind: Kind) -> (Vec<i64>, Vec<i64>) {
    let all = times();
    let current = DAY + 3 * 3600;
    let (moved, kept): (Vec<i64>, Vec<i64>) = all.into_iter().partition(|t| *t < current);
    let dest = match kind {
        Kind::Bulk | Kind::PerSample => moved,
        Kind::Blackhole => Vec::new(),
        Kind::Reduce => {
            let mut seen = std::collections::BTreeSet::new();
            moved.into_iter().filter(|t| seen.insert(t / 600)).collect()
        }
    };
    (dest, kept)
}

fn assert_exactly_once(cfg: &StorageConfig, kind: Kind, what: &str) {
    assert_exactly_once_of(cfg, kind, PV, what);
}

fn assert_exactly_once_of(cfg: &StorageConfig, kind: Kind, pv: &str, what: &str) {
    let disk = on_disk_of(cfg, pv);
    assert!(
        disk.values().all(|n| *n == 1),
        "{what}: a sample twice in one tier"
    );
    let (dest, kept) = expected(kind);
    let tier = |i: usize| -> Vec<i64> { disk.keys().filter(|(t, _)| *t == i).map(|(_, s)| *s).collect() };
    assert_eq!(tier(0), kept, "{what}: STS keeps the current hour only");
    let got_dest = if cfg.tiers.len() > 1 { tier(1) } else { Vec::new() };
    assert_eq!(got_dest, dest, "{what}: destination");
}

async fn crash_case(kind: Kind, file: usize, step: Step) {
    let what = format!("{kind:?} stopped after {step:?} of move {file}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), kind);
    let chain = chain(&cfg, kind);
    let t = Timestamp::new(DAY + 3 * 3600 + 300, 0);
    {
        let (stores, etl) = open(&cfg);
        write(&stores.store).await;
        let r = etl.run_stage(PV, &chain, 0, t, false, Some(EtlStop { file, after: step }));
        assert!(matches!(r, Err(EtlError::Stopped { .. })), "{what}: {r:?}");
    }
    // Reopen: reconcile converges to what a rebuild sees.
    let (stores, etl) = open(&cfg);
    assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, reopened"));
    // Run again to completion.
    let r = etl.run_stage(PV, &chain, 0, t, false, None).unwrap();
    assert!(matches!(r, StageRun::Ran(_)), "{what}");
    assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, rerun"));
    assert_exactly_once(&cfg, kind, &what);
    // Nothing is left to do.
    let again = etl.run_stage(PV, &chain, 0, t, false, None).unwrap();
    assert!(
        matches!(again, StageRun::Ran(ref o) if o.moved + o.deleted == 0),
        "{what}: {again:?}"
    );
}

async fn all_steps(kind: Kind) {
    for file in [0, 2] {
        for step in Step::ALL {
            // A black hole stores nothing: its moves have no intent, append or sync.
            if kind == Kind::Blackhole && matches!(step, Step::Intent | Step::Append | Step::Sync) {
                continue;
            }
            crash_case(kind, file, step).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_move_survives_a_stop_after_every_step() {
    all_steps(Kind::Bulk).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_sample_move_survives_a_stop_after_every_step() {
    all_steps(Kind::PerSample).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_survives_a_stop_after_every_step() {
    all_steps(Kind::Blackhole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reducedata_survives_a_stop_after_every_step() {
    all_steps(Kind::Reduce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninterrupted_moves_leave_each_sample_once() {
    for kind in [Kind::Bulk, Kind::PerSample, Kind::Blackhole, Kind::Reduce] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), kind);
        let chain = chain(&cfg, kind);
        let (stores, etl) = open(&cfg);
        write(&stores.store).await;
        // Before the first hour ends nothing moves.
        let early = etl
            .run_stage(PV, &chain, 0, Timestamp::new(DAY + 3599, 0), false, None)
            .unwrap();
        assert!(
            matches!(early, StageRun::Ran(ref o) if o.moved + o.deleted == 0),
            "{kind:?}"
        );
        let t = Timestamp::new(DAY + 3 * 3600 + 300, 0);
        let r = etl.run_stage(PV, &chain, 0, t, false, None).unwrap();
        let StageRun::Ran(o) = r else {
            panic!("{kind:?}: skipped")
        };
        assert_eq!(o.moved + o.deleted, 3, "{kind:?}");
        assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{kind:?}"));
        assert_exactly_once(&cfg, kind, &format!("{kind:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_grew_after_planning_is_kept_and_moved_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Kind::Bulk);
    let chain = chain(&cfg, Kind::Bulk);
    let (stores, etl) = open(&cfg);
    write(&stores.store).await;
    let t = Timestamp::new(DAY + 3 * 3600 + 300, 0);
    // Stop after the wave's sync (every file appended, nothing recorded),
    // then make the last planned source grow (a late sample in a past
    // partition, newer than anything the destination holds) before running
    // the same plan again.
    let r = etl.run_stage(
        PV,
        &chain,
        0,
        t,
        false,
        Some(EtlStop {
            file: 0,
            after: Step::Sync,
        }),
    );
    assert!(matches!(r, Err(EtlError::Stopped { .. })));
    let (target, plan) = etl.plan(PV, &chain, 0, t).unwrap();
    let grown = plan.moves[2].clone();
    let path = stores.store.tiers()[0].root().join(&grown.path);
    let late_at = DAY + 3 * 3600 - 1;
    let late = ArchiverSample::at(late_at, 0, SampleValue::Double(-1.0));
    let mut line = Vec::new();
    strata::plainpb::encode_sample(&late, 2024, &mut line).unwrap();
    let mut esc = Vec::new();
    strata::plainpb::escape_into(&line, &mut esc);
    esc.push(b'\n');
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&esc)
        .unwrap();
    let o = strata::etl::Executor::new(&stores.store)
        .run(PV, target, &plan)
        .unwrap();
    assert_eq!(o.changed, 1);
    assert!(path.exists(), "a changed source is kept");
    drop((stores, etl));
    let (stores, etl) = open(&cfg);
    etl.run_stage(PV, &chain, 0, t, false, None).unwrap();
    assert!(!path.exists());
    assert_index_is_rebuild(&cfg, stores.store.index(), "grown source");
    let disk = on_disk(&cfg);
    assert_eq!(disk.get(&(1, late_at)), Some(&1), "the late sample moved once");
    assert!(disk.values().all(|n| *n == 1));
}

const WAVE_PVS: [&str; 3] = ["ETL:wave:a", "ETL:wave:b", "ETL:wave:c"];

/// Runs stage 0 of every PV of [`WAVE_PVS`] as one wave.
fn run_wave(
    etl: &Etl,
    chain: &Chain,
    t: Timestamp,
    stop: Option<EtlStop>,
) -> Result<Vec<StageRun>, EtlError> {
    let jobs: Vec<StageJob<'_>> = WAVE_PVS
        .iter()
        .map(|pv| StageJob { pv, chain, stage: 0 })
        .collect();
    let rs = etl.run_stages(&jobs, t, false, stop)?;
    Ok(rs.into_iter().map(|r| r.unwrap()).collect())
}

async fn wave_case(kind: Kind, file: usize, step: Step) {
    let what = format!(
        "wave of {} PVs, {kind:?}, stopped after {step:?} of file {file}",
        WAVE_PVS.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), kind);
    let chain = chain(&cfg, kind);
    let t = Timestamp::new(DAY + 3 * 3600 + 300, 0);
    {
        let (stores, etl) = open(&cfg);
        write_pvs(&stores.store, &WAVE_PVS).await;
        let r = run_wave(&etl, &chain, t, Some(EtlStop { file, after: step }));
        assert!(matches!(r, Err(EtlError::Stopped { .. })), "{what}: {r:?}");
    }
    let (stores, etl) = open(&cfg);
    assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, reopened"));
    let rs = run_wave(&etl, &chain, t, None).unwrap();
    assert_eq!(rs.len(), WAVE_PVS.len(), "{what}");
    assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, rerun"));
    for pv in WAVE_PVS {
        assert_exactly_once_of(&cfg, kind, pv, &format!("{what}: {pv}"));
    }
    let again = run_wave(&etl, &chain, t, None).unwrap();
    assert!(
        again
            .iter()
            .all(|r| matches!(r, StageRun::Ran(o) if o.moved + o.deleted == 0)),
        "{what}: {again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wave_of_several_pvs_survives_a_stop_after_every_step() {
    // Files 0–2 are the first PV's, 3–5 the second's, 6–8 the third's.
    for kind in [Kind::Bulk, Kind::PerSample] {
        for file in [1, 4, 8] {
            for step in Step::ALL {
                wave_case(kind, file, step).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_wave_moves_every_pv_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Kind::Bulk);
    let chain = chain(&cfg, Kind::Bulk);
    let (stores, etl) = open(&cfg);
    write_pvs(&stores.store, &WAVE_PVS).await;
    let t = Timestamp::new(DAY + 3 * 3600 + 300, 0);
    let rs = run_wave(&etl, &chain, t, None).unwrap();
    for r in &rs {
        assert!(
            matches!(r, StageRun::Ran(o) if o.moved == 3 && o.bytes > 0),
            "{r:?}"
        );
    }
    assert_index_is_rebuild(&cfg, stores.store.index(), "one wave");
    for pv in WAVE_PVS {
        assert_exactly_once_of(&cfg, Kind::Bulk, pv, pv);
    }
}
