//! Issue 13: a long-term tier with `compression = "zstd"` filled by the
//! real ETL executor. The same samples moved into a plain tier and into a
//! compressed one read back byte-for-byte the same over HTTP (json, raw,
//! csv), last-before answers at frame boundaries, `strata-pbdump
//! --to-plain` gives back the plain partition, reads seek through the
//! frame keys, a rebuild indexes the tree exactly as the executor recorded
//! it (frame keys included), a move stopped after any step (or cut inside
//! a frame) converges on reopen, a compressed tier is a stage's source
//! too, and the store URL's `compress=` picks the form of new partitions.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::process::run_tool;
use common::server::TestServer;
use strata::app::Stores;
use strata::etl::{Etl, EtlError, EtlStop, StageRun, Step};
use strata::index::{Index, MemKv};
use strata::plainpb::{table_len, PbFile, ZstReader, ZST_EXTENSION};
use strata::registry::NamedFlags;
use strata::storage::{Chain, Compression, StorageConfig, StoreUrl, TierConfig, TieredStore};
use strata::types::{ArchDbType, ArchiverSample, PartitionGranularity, SampleValue, Timestamp};

/// 2024-03-15 00:00:00 UTC.
const DAY: i64 = 1_710_460_800;
const PV: &str = "ZST:etl:a";
/// Uncompressed bytes per frame: a few dozen lines, so a day has many frames.
const FRAME_BYTES: usize = 600;

fn tiers(dir: &Path, compressed: bool) -> Vec<TierConfig> {
    let mut lts = TierConfig::new("LTS", dir.join("lts"), PartitionGranularity::Day);
    if compressed {
        lts.compression = Compression::Zstd;
        lts.zstd_frame_bytes = FRAME_BYTES;
    }
    // MTS is configured (the default policy names it) but not in the chain.
    vec![
        TierConfig::new("STS", dir.join("sts"), PartitionGranularity::Hour),
        TierConfig::new("MTS", dir.join("mts"), PartitionGranularity::Day),
        lts,
    ]
}

/// Tier number of the LTS.
const LTS: u8 = 2;

/// STS → LTS.
fn chain(tiers: &[TierConfig]) -> Chain {
    let urls: Vec<String> = [&tiers[0], &tiers[LTS as usize]]
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    Chain::resolve(&urls, tiers).unwrap()
}

/// Sample `i`: every 10 s (with nanos), alarms now and then, fields, and
/// values whose encoding needs escaping.
fn sample(i: i64) -> ArchiverSample {
    let v = if i % 53 == 0 {
        f64::from_bits(0x0A1B_0D0A_1B0A_0D1B)
    } else {
        ((i as f64) * 0.01).sin().mul_add(100.0, 0.0).round() / 100.0
    };
    let mut s = ArchiverSample::at(DAY + 7 + i * 10, (i as u32 % 1000) * 1000, SampleValue::Double(v));
    if i % 17 == 0 {
        s = s.with_alarm(1, 3);
    }
    if i % 101 == 0 {
        s = s.with_field("cnxlostepsecs", "0");
    }
    s
}

/// Three hours and a bit of a fourth.
const N: i64 = 3 * 360 + 40;

async fn write(store: &TieredStore) {
    let sts = &store.tiers()[0];
    for i in 0..N {
        sts.append(PV, ArchDbType::ScalarDouble, &sample(i), None)
            .await
            .unwrap();
    }
    store.flush_all_blocking().unwrap();
}

/// Moves the first hour, then the next two (the second run appends to the
/// compressed partition the first one created).
fn move_in_two_runs(etl: &Etl, chain: &Chain) {
    for t in [DAY + 3600 + 300, DAY + 3 * 3600 + 300] {
        let r = etl
            .run_stage(PV, chain, 0, Timestamp::new(t, 0), false, None)
            .unwrap();
        assert!(matches!(r, StageRun::Ran(ref o) if o.moved > 0), "{r:?}");
    }
}

fn data_files(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}

fn open_zst(path: &Path) -> ZstReader<std::fs::File> {
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    ZstReader::open(f, len, path).unwrap()
}

/// Sample times (secs) in a partition file of either form.
fn times_in(path: &Path) -> Vec<i64> {
    let mut out = Vec::new();
    if path.to_string_lossy().ends_with(ZST_EXTENSION) {
        let mut s = open_zst(path).stream(None, None).unwrap();
        while let Some(x) = s.next_sample().unwrap() {
            out.push(x.ts().secs);
        }
    } else {
        let mut s = PbFile::open(path).unwrap().stream(None, None).unwrap();
        while let Some(x) = s.next_sample().unwrap() {
            out.push(x.ts().secs);
        }
    }
    out
}

fn iso(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t.secs, t.nanos)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

fn ns_before(t: Timestamp) -> Timestamp {
    if t.nanos > 0 {
        Timestamp::new(t.secs, t.nanos - 1)
    } else {
        Timestamp::new(t.secs - 1, 999_999_999)
    }
}

async fn body(srv: &TestServer, format: &str, from: Timestamp, to: Timestamp) -> Vec<u8> {
    let r = srv
        .get(&format!(
            "/retrieval/data/getData.{format}?pv={PV}&from={}&to={}",
            iso(from),
            iso(to)
        ))
        .await;
    assert_eq!(r.status().as_u16(), 200, "{format}");
    r.bytes().await.unwrap().to_vec()
}

async fn server(dir: &Path, compressed: bool) -> (TestServer, Chain) {
    let t = tiers(&dir.join("data"), compressed);
    let c = chain(&t);
    let srv = TestServer::start_with(dir, |cfg| {
        cfg.storage.tiers = t;
        cfg.etl.enabled = false;
    })
    .await;
    write(&srv.store).await;
    let etl = srv.state.mgmt.etl.etl().clone();
    let chain2 = c.clone();
    tokio::task::spawn_blocking(move || move_in_two_runs(&etl, &chain2))
        .await
        .unwrap();
    (srv, c)
}

/// The index's records, summaries, totals and frame keys equal a fresh
/// rebuild's; no intents or pending deletes remain; verify sees no drift.
fn assert_index_is_rebuild(cfg: &StorageConfig, index: &Index, what: &str) {
    let scan = strata::rebuild::scan(cfg, 1, &|_| {});
    assert!(scan.problems.is_empty(), "{what}: {:?}", scan.problems);
    let kv = MemKv::new();
    let fresh = Index::open(&kv).unwrap();
    let (parts, frames) = strata::rebuild::index_content(&scan);
    fresh.load_fresh_with(&parts, &frames).unwrap();
    let recs = |ix: &Index| ix.all_partitions().map(|r| r.unwrap()).collect::<Vec<_>>();
    let sums = |ix: &Index| ix.summaries().map(|r| r.unwrap()).collect::<Vec<_>>();
    assert_eq!(recs(index), recs(&fresh), "{what}: partition records");
    assert_eq!(sums(index), sums(&fresh), "{what}: summaries");
    assert_eq!(
        index.all_frames().unwrap(),
        fresh.all_frames().unwrap(),
        "{what}: frame keys"
    );
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
    let drift = strata::rebuild::verify(cfg, index, &scan).unwrap();
    assert!(drift.is_empty(), "{what}: {drift:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_lts_reads_back_like_plain_over_http() {
    let (dz, dp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (z, _) = server(dz.path(), true).await;
    let (p, _) = server(dp.path(), false).await;

    // The executor wrote one compressed day partition with many frames,
    // its frame keys in the index equal to the file's own table.
    let zfiles = data_files(&dz.path().join("data/lts"));
    assert_eq!(zfiles.len(), 1, "{zfiles:?}");
    assert!(zfiles[0].to_string_lossy().ends_with(".pb.zst"), "{zfiles:?}");
    let pfiles = data_files(&dp.path().join("data/lts"));
    assert!(
        pfiles[0].to_string_lossy().ends_with(":2024_03_15.pb"),
        "{pfiles:?}"
    );
    let table = open_zst(&zfiles[0]).table().clone();
    assert!(table.frames.len() > 20, "{} frames", table.frames.len());
    let index = z.store.index();
    let keyed = index.frames(PV, LTS, DAY).unwrap();
    assert_eq!(keyed.len(), table.frames.len());
    for ((first, rec), f) in keyed.iter().zip(&table.frames) {
        assert_eq!(
            (rec.offset, rec.samples, rec.raw_len),
            (f.offset, f.samples, f.raw_len)
        );
        assert_eq!(Timestamp::new(first.0, first.1), f.first);
    }
    let rec = index.partition(PV, LTS, DAY).unwrap().unwrap();
    assert!(rec.compressed);
    assert_eq!(rec.samples, 3 * 360);
    assert_eq!(rec.bytes, std::fs::metadata(&zfiles[0]).unwrap().len());
    assert_eq!(
        rec.bytes,
        table.data_end + table_len(table.frames.len()),
        "one table at the end"
    );
    assert!(rec.bytes < std::fs::metadata(&pfiles[0]).unwrap().len());

    // Ranges: everything, inside the compressed tier, across both tiers,
    // and starting exactly at, one ns before and one second before a
    // frame's first sample (the continuity sample comes from the frame
    // before).
    let end = Timestamp::new(DAY + 7 + N * 10, 0);
    let mut ranges = vec![
        (Timestamp::new(DAY - 60, 0), end),
        (Timestamp::new(DAY + 1000, 5), Timestamp::new(DAY + 5000, 0)),
        (Timestamp::new(DAY + 3 * 3600 - 200, 0), end),
    ];
    for k in [1, table.frames.len() / 2, table.frames.len() - 1] {
        let f = table.frames[k].first;
        let to = Timestamp::new(f.secs + 500, 0);
        ranges.push((f, to));
        ranges.push((ns_before(f), to));
        ranges.push((Timestamp::new(f.secs - 1, f.nanos), to));
    }
    for (from, to) in ranges {
        for format in ["json", "raw", "csv"] {
            let a = body(&z, format, from, to).await;
            let b = body(&p, format, from, to).await;
            assert!(!a.is_empty());
            assert!(
                a == b,
                "{format} {} .. {}: compressed and plain bodies differ",
                iso(from),
                iso(to)
            );
        }
    }
    // A range starting exactly at a frame's first sample starts with it; one
    // starting a nanosecond earlier starts with the previous frame's last
    // sample (the continuity sample, from another frame).
    let k = table.frames.len() / 2;
    let f = table.frames[k].first;
    let i = (f.secs - DAY - 7) / 10;
    for (from, want) in [(f, i), (ns_before(f), i - 1)] {
        let json: serde_json::Value =
            serde_json::from_slice(&body(&z, "json", from, Timestamp::new(f.secs + 30, 0)).await).unwrap();
        assert_eq!(json[0]["data"][0]["secs"], DAY + 7 + want * 10, "{json}");
        assert_eq!(json[0]["data"][0]["nanos"], (want % 1000) * 1000, "{json}");
    }
    z.stop().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_before_and_pbdump_at_frame_boundaries() {
    let (dz, dp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (z, _) = server(dz.path(), true).await;
    let (p, _) = server(dp.path(), false).await;
    let zfile = data_files(&dz.path().join("data/lts")).remove(0);
    let pfile = data_files(&dp.path().join("data/lts")).remove(0);
    let table = open_zst(&zfile).table().clone();
    let (zl, pl) = (&z.store.tiers()[LTS as usize], &p.store.tiers()[LTS as usize]);
    let all: Vec<ArchiverSample> = (0..N).map(sample).collect();
    let truth = |t: Timestamp| all.iter().rev().find(|s| s.ts() < t).cloned();
    let moved_end = Timestamp::new(DAY + 3 * 3600, 0);
    let mut checked = 0;
    for (k, f) in table.frames.iter().enumerate() {
        let f = f.first;
        for t in [
            f,
            Timestamp::new(f.secs, f.nanos + 1),
            ns_before(f),
            Timestamp::new(f.secs - 1, f.nanos),
        ] {
            let got = zl.last_before_blocking(PV, t).unwrap();
            assert_eq!(
                got,
                pl.last_before_blocking(PV, t).unwrap(),
                "frame {k} at {}",
                iso(t)
            );
            let want = truth(t).filter(|s| s.ts() < moved_end);
            assert_eq!(
                got.map(|s| s.ts()),
                want.map(|s| s.ts()),
                "frame {k} at {}",
                iso(t)
            );
            checked += 1;
        }
    }
    assert!(checked > 80);
    // The whole appliance answers the same (STS first, then the LTS).
    for t in [Timestamp::new(DAY + 3 * 3600 + 5, 0), table.frames[3].first] {
        let a = z.store.last_before_blocking(PV, t).unwrap();
        assert_eq!(a, p.store.last_before_blocking(PV, t).unwrap());
        assert!(a.is_some());
    }

    // strata-pbdump --to-plain of the ETL-written .pb.zst is the plain
    // partition the executor wrote for the same samples.
    let out = dz.path().join("back.pb");
    let tool = env!("CARGO_BIN_EXE_strata-pbdump");
    let (code, _, err) = run_tool(
        tool,
        &["--to-plain", out.to_str().unwrap(), zfile.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&pfile).unwrap(),
        "--to-plain is byte-identical"
    );

    // Reads seek through the frame keys and decompress only the frames
    // they need: with frame 5 and the file's own table damaged on disk (a
    // reader going by the file would walk it and stop at frame 5),
    // last-before and a range starting in a later frame still answer
    // exactly as the plain tier does.
    let k = 5;
    let in_frame = table.frames[k].offset + (table.frames[k + 1].offset - table.frames[k].offset) / 2;
    let in_table = table.data_end + 8 + 12 + 5;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&zfile)
            .unwrap();
        for at in [in_frame, in_table] {
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, at).unwrap();
            f.write_all_at(&[b[0] ^ 0xFF], at).unwrap();
        }
    }
    let walked = strata::plainpb::examine_zst(&zfile, false).unwrap();
    assert!(!walked.had_table);
    assert_eq!(
        walked.table.frames.len(),
        k,
        "the file's own walk stops at the damage"
    );
    for later in [k + 2, table.frames.len() - 1] {
        let f = table.frames[later].first;
        let after = Timestamp::new(f.secs, f.nanos + 1);
        for t in [f, after] {
            let got = zl.last_before_blocking(PV, t).unwrap();
            assert_eq!(
                got,
                pl.last_before_blocking(PV, t).unwrap(),
                "after damage, frame {later}"
            );
        }
        let to = Timestamp::new(f.secs + 200, 0);
        for format in ["json", "raw", "csv"] {
            assert!(
                body(&z, format, after, to).await == body(&p, format, after, to).await,
                "{format} after damage, frame {later}"
            );
        }
    }
    z.stop().await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_indexes_compressed_partitions_as_the_executor_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StorageConfig::under(dir.path());
    cfg.tiers = tiers(dir.path(), true);
    let c = chain(&cfg.tiers);
    let (stores, etl) = open(&cfg);
    write(&stores.store).await;
    move_in_two_runs(&etl, &c);
    assert_index_is_rebuild(&cfg, stores.store.index(), "after two runs");
    type Snapshot = (
        Vec<(String, u8, strata::index::PartitionEntry)>,
        Vec<(String, u8, strata::index::FrameKey)>,
    );
    let snapshot = |ix: &Index| -> Snapshot {
        (
            ix.all_partitions().map(|r| r.unwrap()).collect(),
            ix.all_frames()
                .unwrap()
                .into_iter()
                .map(|(pv, t, _, f)| (pv, t, f))
                .collect(),
        )
    };
    let recorded = snapshot(stores.store.index());
    assert!(!recorded.1.is_empty());
    drop((stores, etl));

    // The real tool: --verify finds no drift, a rebuild in place writes
    // the same records and frame keys the executor wrote.
    let mut config = strata::config::Config::default();
    config.set_data_dir(dir.path());
    config.storage = cfg.clone();
    // The tests' tiny frames are below what a configuration file may ask
    // for; the frame size only shapes new frames.
    for t in &mut config.storage.tiers {
        t.zstd_frame_bytes = 4096;
    }
    let file = dir.path().join("strata.toml");
    std::fs::write(&file, toml::to_string(&config).unwrap()).unwrap();
    let tool = env!("CARGO_BIN_EXE_strata-rebuild-index");
    let (code, out, err) = run_tool(tool, &["--config", file.to_str().unwrap(), "--verify"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_tool(tool, &["--config", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (stores, etl) = open(&cfg);
    assert_eq!(snapshot(stores.store.index()), recorded, "rebuilt by the tool");
    // Frame keys missing (an index from before them): reads fall back to
    // the file's table and still answer.
    let t = Timestamp::new(DAY + 2 * 3600 + 3, 0);
    let want = stores.store.tiers()[LTS as usize]
        .last_before_blocking(PV, t)
        .unwrap();
    drop((stores, etl));

    // A fresh index over the same tree, first without frame keys.
    let cfg2_dir = tempfile::tempdir().unwrap();
    let mut cfg2 = cfg.clone();
    cfg2.index_dir = cfg2_dir.path().join("index");
    let (stores2, _) = open(&cfg2);
    let scan = strata::rebuild::scan(&cfg2, 1, &|_| {});
    let (parts, _) = strata::rebuild::index_content(&scan);
    stores2.store.index().load_fresh(&parts).unwrap();
    assert!(stores2.store.index().all_frames().unwrap().is_empty());
    assert_eq!(
        stores2.store.tiers()[LTS as usize]
            .last_before_blocking(PV, t)
            .unwrap(),
        want
    );
    let (from, to) = (Timestamp::new(DAY, 0), Timestamp::new(DAY + 3 * 3600, 0));
    let mut n = 0;
    for mut s in stores2.store.tiers()[LTS as usize]
        .sources_blocking(PV, from, to)
        .unwrap()
    {
        while s.next_raw().unwrap().is_some() {
            n += 1;
        }
    }
    assert_eq!(n, 3 * 360);
    let (parts, frames) = strata::rebuild::index_content(&scan);
    stores2.store.index().load_fresh_with(&parts, &frames).unwrap();
    assert_index_is_rebuild(&cfg2, stores2.store.index(), "rebuilt with frames");
}

/// Opens `cfg` once earlier handles released the database.
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
    let etl = Etl::new(stores.store.clone(), flags, None);
    (stores, etl)
}

/// Every sample time in every file of every tier, with its count.
fn on_disk(cfg: &StorageConfig) -> BTreeMap<(usize, i64), u32> {
    let mut out = BTreeMap::new();
    for (i, t) in cfg.tiers.iter().enumerate() {
        if !t.root.exists() {
            continue;
        }
        for p in data_files(&t.root) {
            for s in times_in(&p) {
                *out.entry((i, s)).or_insert(0) += 1;
            }
        }
    }
    out
}

fn assert_exactly_once(cfg: &StorageConfig, what: &str) {
    let disk = on_disk(cfg);
    assert!(
        disk.values().all(|n| *n == 1),
        "{what}: a sample twice in one tier"
    );
    let current = DAY + 3 * 3600;
    let (moved, kept): (Vec<i64>, Vec<i64>) = (0..N).map(|i| DAY + 7 + i * 10).partition(|t| *t < current);
    let tier = |i: usize| -> Vec<i64> { disk.keys().filter(|(t, _)| *t == i).map(|(_, s)| *s).collect() };
    assert_eq!(tier(0), kept, "{what}: STS keeps the current hour only");
    assert_eq!(tier(LTS as usize), moved, "{what}: LTS");
    for p in data_files(&cfg.tiers[LTS as usize].root) {
        assert!(
            p.to_string_lossy().ends_with(ZST_EXTENSION),
            "{what}: {}",
            p.display()
        );
    }
}

/// Stops the move of source file `file` after `step` (and, with `cut`,
/// cuts the compressed destination inside its last frame, as a kill
/// during the append would leave it), reopens, reruns.
async fn crash_case(file: usize, step: Step, cut: bool) {
    let what = format!("zstd move stopped after {step:?} of move {file}, cut {cut}");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StorageConfig::under(dir.path());
    cfg.tiers = tiers(dir.path(), true);
    let c = chain(&cfg.tiers);
    let t = Timestamp::new(DAY + 3 * 3600 + 300, 0);
    {
        let (stores, etl) = open(&cfg);
        write(&stores.store).await;
        let r = etl.run_stage(PV, &c, 0, t, false, Some(EtlStop { file, after: step }));
        assert!(matches!(r, Err(EtlError::Stopped { .. })), "{what}: {r:?}");
    }
    if cut {
        let f = data_files(&cfg.tiers[LTS as usize].root).remove(0);
        let len = std::fs::metadata(&f).unwrap().len();
        let table = open_zst(&f).table().clone();
        let last = table.frames.last().unwrap().offset;
        // Halfway into the last frame: table and frame end gone.
        let at = last + (table.data_end - last) / 2;
        assert!(at < len);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(at)
            .unwrap();
    }
    let (stores, etl) = open(&cfg);
    assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, reopened"));
    let r = etl.run_stage(PV, &c, 0, t, false, None).unwrap();
    assert!(matches!(r, StageRun::Ran(_)), "{what}");
    assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, rerun"));
    assert_exactly_once(&cfg, &what);
    let again = etl.run_stage(PV, &c, 0, t, false, None).unwrap();
    assert!(
        matches!(again, StageRun::Ran(ref o) if o.moved + o.deleted == 0),
        "{what}: {again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_move_survives_a_stop_after_every_step() {
    // Move 0 creates the compressed partition; move 2 appends to it.
    for file in [0, 2] {
        for step in Step::ALL {
            crash_case(file, step, false).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_move_cut_inside_a_frame_converges() {
    for file in [0, 2] {
        crash_case(file, Step::Append, true).await;
        crash_case(file, Step::Sync, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_in_both_forms_keeps_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StorageConfig::under(dir.path());
    cfg.tiers = tiers(dir.path(), true);
    let c = chain(&cfg.tiers);
    let (stores, etl) = open(&cfg);
    write(&stores.store).await;
    move_in_two_runs(&etl, &c);
    drop((stores, etl));
    // An operator writes the plain form next to the compressed one.
    let z = data_files(&cfg.tiers[LTS as usize].root).remove(0);
    let plain = PathBuf::from(z.to_string_lossy().trim_end_matches(".zst").to_string());
    let mut out = std::fs::File::create(&plain).unwrap();
    open_zst(&z).to_plain(&mut out).unwrap();
    drop(out);
    let scan = strata::rebuild::scan(&cfg, 1, &|_| {});
    assert_eq!(scan.problems.len(), 1, "{:?}", scan.problems);
    assert_eq!(scan.problems[0].path, z);
    let kept: Vec<_> = scan.found.iter().filter(|f| f.tier == LTS).collect();
    assert_eq!(kept.len(), 1);
    assert!(!kept[0].entry.compressed && kept[0].entry.path.ends_with(".pb"));
    assert!(z.exists(), "nothing is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_chooses_the_form_of_new_partitions_and_existing_ones_keep_theirs() {
    for (first, then, want) in [
        ("&compress=ZSTD", "&compress=UNCOMPRESSED", ZST_EXTENSION),
        ("&compress=UNCOMPRESSED", "&compress=ZSTD", ":2024_03_15.pb"),
    ] {
        let what = format!("{first} then {then}");
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StorageConfig::under(dir.path());
        // The tier itself is plain: the URL decides.
        cfg.tiers = tiers(dir.path(), false);
        let url = |extra: &str| {
            let urls = vec![
                StoreUrl::for_tier(&cfg.tiers[0]).to_string(),
                format!("{}{extra}", StoreUrl::for_tier(&cfg.tiers[LTS as usize])),
            ];
            Chain::resolve(&urls, &cfg.tiers).unwrap()
        };
        let (stores, etl) = open(&cfg);
        write(&stores.store).await;
        etl.run_stage(
            PV,
            &url(first),
            0,
            Timestamp::new(DAY + 3600 + 300, 0),
            false,
            None,
        )
        .unwrap();
        etl.run_stage(
            PV,
            &url(then),
            0,
            Timestamp::new(DAY + 3 * 3600 + 300, 0),
            false,
            None,
        )
        .unwrap();
        let files = data_files(&cfg.tiers[LTS as usize].root);
        assert_eq!(files.len(), 1, "{what}: {files:?}");
        assert!(files[0].to_string_lossy().ends_with(want), "{what}: {files:?}");
        assert_index_is_rebuild(&cfg, stores.store.index(), &what);
        let current = DAY + 3 * 3600;
        let moved: Vec<i64> = (0..N)
            .map(|i| DAY + 7 + i * 10)
            .filter(|t| *t < current)
            .collect();
        assert_eq!(times_in(&files[0]), moved, "{what}");
    }
}

/// STS hour → MTS hour (zstd) → LTS day (plain): the MTS → LTS stage
/// reads compressed sources.
fn three_tiers(dir: &Path) -> (StorageConfig, Chain) {
    let mut cfg = StorageConfig::under(dir);
    let mut mts = TierConfig::new("MTS", dir.join("mts"), PartitionGranularity::Hour);
    mts.compression = Compression::Zstd;
    mts.zstd_frame_bytes = FRAME_BYTES;
    cfg.tiers = vec![
        TierConfig::new("STS", dir.join("sts"), PartitionGranularity::Hour),
        mts,
        TierConfig::new("LTS", dir.join("lts"), PartitionGranularity::Day),
    ];
    let urls: Vec<String> = cfg
        .tiers
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    let chain = Chain::resolve(&urls, &cfg.tiers).unwrap();
    (cfg, chain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_tier_moves_on_and_survives_a_stop_after_every_step() {
    let t = Timestamp::new(DAY + 3 * 3600 + 300, 0);
    let current = DAY + 3 * 3600;
    let moved: Vec<i64> = (0..N)
        .map(|i| DAY + 7 + i * 10)
        .filter(|s| *s < current)
        .collect();
    let mut cases = vec![None];
    for file in [0, 2] {
        cases.extend(Step::ALL.iter().map(|s| Some(EtlStop { file, after: *s })));
    }
    for stop in cases {
        let what = format!("MTS(zstd) → LTS stopped at {stop:?}");
        let dir = tempfile::tempdir().unwrap();
        let (cfg, chain) = three_tiers(dir.path());
        {
            let (stores, etl) = open(&cfg);
            write(&stores.store).await;
            etl.run_stage(PV, &chain, 0, t, false, None).unwrap();
            let mts = data_files(&cfg.tiers[1].root);
            assert_eq!(mts.len(), 3, "{what}: {mts:?}");
            assert!(mts.iter().all(|p| p.to_string_lossy().ends_with(ZST_EXTENSION)));
            let r = etl.run_stage(PV, &chain, 1, t, false, stop);
            match stop {
                Some(_) => assert!(matches!(r, Err(EtlError::Stopped { .. })), "{what}: {r:?}"),
                None => assert!(
                    matches!(r, Ok(StageRun::Ran(ref o)) if o.moved == 3),
                    "{what}: {r:?}"
                ),
            }
        }
        let (stores, etl) = open(&cfg);
        assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, reopened"));
        etl.run_stage(PV, &chain, 1, t, false, None).unwrap();
        assert_index_is_rebuild(&cfg, stores.store.index(), &format!("{what}, rerun"));
        assert!(data_files(&cfg.tiers[1].root).is_empty(), "{what}: MTS emptied");
        let lts = data_files(&cfg.tiers[2].root);
        assert_eq!(lts.len(), 1, "{what}");
        assert!(lts[0].to_string_lossy().ends_with(":2024_03_15.pb"), "{what}");
        assert_eq!(times_in(&lts[0]), moved, "{what}: every sample once");
    }
}
