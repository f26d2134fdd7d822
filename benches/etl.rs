//! ETL workloads of issue 13. Prints `bench <name> <value> <unit>` lines.
//! Bounded to a couple of minutes on 2 cores; data in a temporary folder
//! (`$STRATA_BENCH_DIR` or the system's).
//!
//! * `etl_move_mb_s`: 100 PVs × 12 hourly STS partitions of 1 Hz doubles
//!   moved into daily MTS partitions by one scheduler tick (`Scheduler::tick`,
//!   the production path: due PVs run as waves — one intent batch, one sync
//!   point with every destination file synced, one index batch — with the
//!   default `[etl]` settings); warm page cache; MB of destination bytes / s.
//!   `STRATA_BENCH_ETL_SYNC=fs` measures `sync = "fs"` instead.
//! * `etl_tick_idle_100k_ms`: a scheduler tick with 100,000 PVs queued and
//!   nothing due.
//! * `zstd_ratio`: 30 days of 1 Hz samples of a slowly varying signal —
//!   a sine of period 6 h plus a daily drift, rounded to 3 decimals as an
//!   ADC-like reading has — in one LTS year partition: plain bytes /
//!   compressed bytes (level 3, 256 KiB frames).
//! * `read_30d_zstd` and `read_30d` (plain): the same 30 days decoded
//!   sample by sample through the partition readers, best of 5, and their
//!   ratio.
//! * `etl_zstd_ratio`, `read_30d_store` and `read_30d_zstd_store`: the same
//!   30 days as one monthly STS partition moved by the ETL executor into a
//!   yearly LTS, plain and `compression = "zstd"` (the executor's frames,
//!   frame keys in the index), then read through the tier's read path
//!   (`sources_blocking`, as retrieval does), best of 3;
//!   `etl_zstd_move_mb_s`: plain MB moved into the compressed tier per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::app::Stores;
use strata::etl::{Etl, EtlConfig, Scheduler, SyncMode};
use strata::pb::PayloadInfo;
use strata::plainpb::{encode_sample, escape_into, header_line, PbFile, ZstOptions, ZstReader, ZstWriter};
use strata::registry::{NamedFlags, PvTypeInfo};
use strata::storage::{Chain, Compression, StorageConfig, StoreUrl, TierConfig};
use strata::types::{ArchDbType, ArchiverSample, PartitionGranularity, SampleValue, Timestamp};

/// 2024-03-01 00:00:00 UTC.
const MAR1: i64 = 1_709_251_200;

fn tmpdir() -> tempfile::TempDir {
    match std::env::var_os("STRATA_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("tmp"),
        None => tempfile::tempdir().expect("tmp"),
    }
}

fn warm(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            warm(&path);
        } else {
            let _ = std::fs::read(&path);
        }
    }
}

fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(200));
}

async fn etl_move() {
    let dir = tmpdir();
    let cfg = StorageConfig::under(dir.path());
    let stores = Stores::open(&cfg).expect("open");
    let flags = Arc::new(NamedFlags::open(&stores.kv).expect("flags"));
    let mut etl_cfg = EtlConfig::default();
    if std::env::var("STRATA_BENCH_ETL_SYNC").as_deref() == Ok("fs") {
        etl_cfg.sync = SyncMode::Fs;
    }
    let etl =
        Etl::new(stores.store.clone(), flags, None).with_waves(etl_cfg.wave_options(), etl_cfg.wave_limits());
    let urls: Vec<String> = cfg.tiers[..2]
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    let pvs: Vec<String> = (0..100).map(|i| format!("BENCH:ETL:{i:03}")).collect();
    let hours = 12;
    let infos: Vec<PvTypeInfo> = pvs
        .iter()
        .map(|pv| {
            let mut t = PvTypeInfo::new(pv, ArchDbType::ScalarDouble, 1);
            t.data_stores = urls.clone();
            t
        })
        .collect();
    stores.registry.put_many(&infos).expect("registry");
    for pv in &pvs {
        for s in 0..hours * 3600 {
            let v = ((s as f64) / 3000.0).sin();
            let sample = ArchiverSample::at(MAR1 + s, 0, SampleValue::Double(v));
            stores.store.tiers()[0]
                .append(pv, ArchDbType::ScalarDouble, &sample, None)
                .await
                .expect("append");
        }
    }
    stores.store.flush_all_blocking().expect("flush");
    let sched = Scheduler::new(Arc::new(etl), stores.registry.clone(), cfg.tiers.clone());
    sched.sync(MAR1);
    let t = MAR1 + hours * 3600 + 300;
    assert!(sched.next_due().is_some_and(|d| d <= t));
    settle();
    warm(dir.path());
    let began = Instant::now();
    let report = sched.tick(t);
    let el = began.elapsed().as_secs_f64();
    let bytes = sched.counters.bytes.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(report.failures, 0);
    assert_eq!(report.moved, pvs.len() as u64 * hours as u64);
    println!("bench etl_move_mb_s {:.1} MB/s", bytes as f64 / 1e6 / el);
    println!("bench etl_move_files_s {:.0} files/s", report.moved as f64 / el);
}

fn tick_idle() {
    let dir = tmpdir();
    let cfg = StorageConfig::under(dir.path());
    let stores = Stores::open(&cfg).expect("open");
    let flags = Arc::new(NamedFlags::open(&stores.kv).expect("flags"));
    let etl = Arc::new(Etl::new(stores.store.clone(), flags, None));
    let urls: Vec<String> = cfg
        .tiers
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    let infos: Vec<PvTypeInfo> = (0..100_000)
        .map(|i| {
            let mut t = PvTypeInfo::new(&format!("BENCH:IDLE:{i:06}"), ArchDbType::ScalarDouble, 1);
            t.data_stores = urls.clone();
            t
        })
        .collect();
    for chunk in infos.chunks(10_000) {
        stores.registry.put_many(chunk).expect("registry");
    }
    let sched = Scheduler::new(etl, stores.registry.clone(), cfg.tiers.clone());
    let now = MAR1;
    sched.sync(now);
    assert_eq!(sched.queued(), 100_000);
    let mut best = f64::MAX;
    for _ in 0..200 {
        let t = Instant::now();
        let r = sched.tick(now);
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(r.pvs, 0);
    }
    println!("bench etl_tick_idle_100k_ms {:.4} ms", best * 1e3);
}

/// 30 days of 1 Hz samples of the bench signal: (header line, sample lines).
fn signal_30d() -> (Vec<u8>, Vec<u8>, u64) {
    let header = header_line(&PayloadInfo::for_file(
        ArchDbType::ScalarDouble,
        "BENCH:ZSTD",
        2024,
    ));
    let n = 30 * 86_400;
    let mut lines = Vec::with_capacity(n * 24);
    let mut raw = Vec::new();
    for i in 0..n as i64 {
        let x = i as f64;
        let v = 20.0 + 2.5 * (x * std::f64::consts::TAU / 21_600.0).sin() + 0.5 * (x / 86_400.0);
        let v = (v * 1000.0).round() / 1000.0;
        let s = ArchiverSample::at(MAR1 + i, 0, SampleValue::Double(v));
        raw.clear();
        encode_sample(&s, 2024, &mut raw).expect("encode");
        escape_into(&raw, &mut lines);
        lines.push(b'\n');
    }
    (header, lines, n as u64)
}

fn zstd() {
    let dir = tmpdir();
    let (header, lines, n) = signal_30d();
    let plain_path = dir.path().join("BENCH:ZSTD:2024.pb");
    let zst_path = dir.path().join("BENCH:ZSTD:2024.pb.zst");
    let mut plain = header.clone();
    plain.extend_from_slice(&lines);
    std::fs::write(&plain_path, &plain).expect("write plain");
    let file = std::fs::File::create(&zst_path).expect("create");
    let mut w = ZstWriter::create(file, &zst_path, &header, ZstOptions::default()).expect("zst");
    w.write_lines(&lines).expect("compress");
    let (file, _) = w.finish().expect("finish");
    file.sync_all().expect("sync");
    let zlen = std::fs::metadata(&zst_path).expect("stat").len();
    println!("bench zstd_ratio {:.2} x", plain.len() as f64 / zlen as f64);
    settle();
    warm(dir.path());
    let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
    let mut best_plain = f64::MAX;
    let mut best_zstd = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut st = PbFile::open(&plain_path)
            .expect("open")
            .stream(None, None)
            .expect("stream");
        let mut c = 0u64;
        while st.next_sample_into(&mut s).expect("read") {
            c += 1;
        }
        assert_eq!(c, n);
        best_plain = best_plain.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let f = std::fs::File::open(&zst_path).expect("open");
        let mut st = ZstReader::open(f, zlen, &zst_path)
            .expect("zst open")
            .stream(None, None)
            .expect("stream");
        let mut c = 0u64;
        while st.next_sample_into(&mut s).expect("read") {
            c += 1;
        }
        assert_eq!(c, n);
        best_zstd = best_zstd.min(t.elapsed().as_secs_f64());
    }
    let (p, z) = (n as f64 / best_plain, n as f64 / best_zstd);
    println!("bench read_30d {p:.0} samples/s");
    println!("bench read_30d_zstd {z:.0} samples/s");
    println!("bench read_30d_zstd_vs_plain {:.0} %", 100.0 * z / p);
}

/// One 30-day STS partition moved into a year LTS (`compressed` or not);
/// returns (LTS bytes, move seconds, best read seconds).
fn moved_and_read(header: &[u8], lines: &[u8], n: u64, compressed: bool) -> (u64, f64, f64) {
    const PV: &str = "BENCH:ZSTD";
    let dir = tmpdir();
    let mut cfg = StorageConfig::under(dir.path());
    let mut lts = TierConfig::new("LTS", dir.path().join("lts"), PartitionGranularity::Year);
    if compressed {
        lts.compression = Compression::Zstd;
    }
    cfg.tiers = vec![
        TierConfig::new("STS", dir.path().join("sts"), PartitionGranularity::Month),
        lts,
    ];
    let sts = strata::plainpb::partition_path(
        &cfg.tiers[0].root,
        &strata::plainpb::pv_key(PV),
        PartitionGranularity::Month,
        MAR1,
    );
    std::fs::create_dir_all(sts.parent().expect("parent")).expect("mkdir");
    std::fs::write(&sts, [header, lines].concat()).expect("write sts");
    let stores = Stores::open(&cfg).expect("open");
    let scan = strata::rebuild::scan(&cfg, 1, &|_| {});
    let (parts, frames) = strata::rebuild::index_content(&scan);
    stores
        .store
        .index()
        .load_fresh_with(&parts, &frames)
        .expect("index");
    let flags = Arc::new(NamedFlags::open(&stores.kv).expect("flags"));
    let etl = Etl::new(stores.store.clone(), flags, None);
    let urls: Vec<String> = cfg
        .tiers
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    let chain = Chain::resolve(&urls, &cfg.tiers).expect("chain");
    settle();
    let t = Instant::now();
    etl.run_stage(PV, &chain, 0, Timestamp::new(MAR1 + 40 * 86_400, 0), false, None)
        .expect("move");
    let moved = t.elapsed().as_secs_f64();
    let bytes = stores.store.index().totals(1).expect("totals").bytes;
    warm(dir.path());
    let lts = &stores.store.tiers()[1];
    let (from, to) = (Timestamp::new(MAR1, 0), Timestamp::new(MAR1 + 31 * 86_400, 0));
    let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut c = 0u64;
        for mut src in lts.sources_blocking(PV, from, to).expect("sources") {
            while src.next_into(&mut s).expect("read") {
                c += 1;
            }
        }
        assert_eq!(c, n);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (bytes, moved, best)
}

fn zstd_store() {
    let (header, lines, n) = signal_30d();
    let plain_len = (header.len() + lines.len()) as f64;
    let (pbytes, _, pread) = moved_and_read(&header, &lines, n, false);
    let (zbytes, zmove, zread) = moved_and_read(&header, &lines, n, true);
    println!("bench etl_zstd_ratio {:.2} x", pbytes as f64 / zbytes as f64);
    println!("bench etl_zstd_move_mb_s {:.1} MB/s", plain_len / 1e6 / zmove);
    println!("bench read_30d_store {:.0} samples/s", n as f64 / pread);
    println!("bench read_30d_zstd_store {:.0} samples/s", n as f64 / zread);
    println!(
        "bench read_30d_zstd_store_vs_plain {:.0} %",
        100.0 * pread / zread
    );
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if run("etl_move_mb_s") {
        settle();
        rt.block_on(etl_move());
    }
    if run("etl_tick_idle_100k_ms") {
        settle();
        tick_idle();
    }
    if run("zstd_ratio") || run("read_30d_zstd") {
        settle();
        zstd();
    }
    if run("read_30d_zstd_store") || run("etl_zstd") {
        settle();
        zstd_store();
    }
}
