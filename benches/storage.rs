//! Storage workloads of issue #3. Prints `bench <name> <value> <unit>` lines.
//! Bounded to a few minutes; data lives in a temporary directory.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strata::app::Stores;
use strata::index::SledKv;
use strata::registry::{PvTypeInfo, Registry};
use strata::storage::{StorageConfig, StoragePlugin, TieredStore};
use strata::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

const Y2024: i64 = 1_704_067_200;

/// Temporary directory for bench data: `$STRATA_BENCH_DIR` or the system's.
fn tmpdir() -> tempfile::TempDir {
    match std::env::var_os("STRATA_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("tmp"),
        None => tempfile::tempdir().expect("tmp"),
    }
}

fn open(dir: &std::path::Path) -> (TieredStore, SledKv) {
    let stores = Stores::open(&StorageConfig::under(dir)).expect("open");
    (stores.store, stores.kv)
}

fn sample(secs: i64, v: f64) -> ArchiverSample {
    ArchiverSample::at(secs, 123_456_789, SampleValue::Double(v))
}

/// Reads every file under `dir` once, so a timed phase starts on a warm
/// page cache (this VM pages out page-cache pages unused for a few seconds).
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

/// Lets the page cache write back what setup produced, so its I/O does
/// not land in a timed phase.
fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(200));
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

async fn ingest_1000pv() {
    let dir = tmpdir();
    let (store, _kv) = open(dir.path());
    let names: Vec<String> = (0..1000).map(|i| format!("BENCH:ING:{i:04}")).collect();
    let per_pv = 5000;
    let t = Instant::now();
    for k in 0..per_pv {
        for (i, pv) in names.iter().enumerate() {
            let s = sample(Y2024 + k, (k as f64) * 0.001 + i as f64);
            store
                .append_event(pv, ArchDbType::ScalarDouble, &s)
                .await
                .expect("append");
        }
    }
    let appended = t.elapsed();
    store.flush_writes().await.expect("flush");
    let el = t.elapsed();
    let n = (per_pv as usize * names.len()) as f64;
    println!("bench ingest_1000pv {:.0} samples/s", n / el.as_secs_f64());
    // The same run without the final flush (file creation cost excluded).
    println!(
        "bench ingest_1000pv_append_only {:.0} samples/s",
        n / appended.as_secs_f64()
    );
}

async fn read_30d() {
    let dir = tmpdir();
    let (store, _kv) = open(dir.path());
    let mts = &store.tiers()[1]; // daily partitions
    let pv = "BENCH:READ:30d";
    let n = 30 * 86_400;
    for i in 0..n {
        mts.append(
            pv,
            ArchDbType::ScalarDouble,
            &sample(Y2024 + i, (i as f64 * 0.01).sin()),
            None,
        )
        .await
        .expect("append");
    }
    store.flush_writes().await.expect("flush");
    settle();
    warm(dir.path());
    let from = UNIX_EPOCH + Duration::from_secs(Y2024 as u64);
    let to = from + Duration::from_secs(n as u64);
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        let mut count = 0u64;
        let mut s = sample(0, 0.0);
        for mut st in store.get_data(pv, from, to).await.expect("get_data") {
            while st.next_event_into(&mut s).expect("read") {
                count += 1;
            }
        }
        assert!(count >= n as u64);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("bench read_30d {:.0} samples/s", n as f64 / best);
}

async fn last_before_8760() {
    let dir = tmpdir();
    let (store, _kv) = open(dir.path());
    let pv = "BENCH:LAST:year";
    let n = 8760 * 3600;
    let sts = &store.tiers()[0];
    for i in 0..n {
        sts.append(pv, ArchDbType::ScalarDouble, &sample(Y2024 + i, i as f64), None)
            .await
            .expect("append");
    }
    store.flush_writes().await.expect("flush");
    let files = store.stores_for_pv(pv).expect("stores")[0].pv_file_count;
    assert_eq!(files, Some(8760));
    settle();
    warm(dir.path());
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut lat = Vec::new();
    let mut lat_async = Vec::new();
    // `$STRATA_BENCH_LAST_QUERIES` (default 20,000): more for profiling.
    let queries: usize = std::env::var("STRATA_BENCH_LAST_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for i in 0..queries {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let target = Timestamp::new(Y2024 + (rng % n as u64) as i64, (rng % 1_000_000_000) as u32);
        // First half blocking calls, second half through the async API, so
        // the blocking figure is not disturbed by the thread hand-offs.
        if i < queries / 2 {
            let t = Instant::now();
            let s = store.last_before_blocking(pv, target).expect("last_before");
            lat.push(t.elapsed());
            assert!(s.is_some());
        } else {
            let t = Instant::now();
            let s = store
                .get_last_event_before(pv, SystemTime::from(target))
                .await
                .expect("last_before");
            lat_async.push(t.elapsed());
            assert!(s.is_some());
        }
    }
    println!(
        "bench last_before_8760_p50 {:.1} us",
        percentile(lat.clone(), 0.5).as_secs_f64() * 1e6
    );
    println!(
        "bench last_before_8760_p99 {:.1} us",
        percentile(lat, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "bench last_before_8760_async_p99 {:.1} us",
        percentile(lat_async, 0.99).as_secs_f64() * 1e6
    );
}

async fn summaries_10k() {
    let dir = tmpdir();
    let (store, _kv) = open(dir.path());
    let names: Vec<String> = (0..10_000).map(|i| format!("BENCH:SUM:{i:05}")).collect();
    for h in 0..24 {
        for pv in &names {
            store
                .append_event(pv, ArchDbType::ScalarDouble, &sample(Y2024 + h * 3600, 1.0))
                .await
                .expect("append");
        }
        store.flush_writes().await.expect("flush");
    }
    assert_eq!(
        store.appliance_metrics().expect("m")[0].total_files,
        Some(240_000)
    );
    settle();
    let mut lat = Vec::new();
    for i in 0..20_000 {
        let pv = &names[(i * 7919) % names.len()];
        let t = Instant::now();
        let s = store.stores_for_pv(pv).expect("stores");
        lat.push(t.elapsed());
        assert_eq!(s[0].pv_file_count, Some(24));
    }
    println!(
        "bench stores_for_pv_10k_p50 {:.1} us",
        percentile(lat, 0.5).as_secs_f64() * 1e6
    );
    let mut lat = Vec::new();
    for _ in 0..20_000 {
        let t = Instant::now();
        let m = store.appliance_metrics().expect("metrics");
        lat.push(t.elapsed());
        assert_eq!(m.len(), 3);
    }
    println!(
        "bench appliance_metrics_10k_p50 {:.1} us",
        percentile(lat, 0.5).as_secs_f64() * 1e6
    );
}

fn registry_import_100k() {
    let dir = tmpdir();
    let kv = SledKv::open(&dir.path().join("index")).expect("sled");
    let reg = Registry::open(&kv).expect("registry");
    let items: Vec<PvTypeInfo> = (0..100_000)
        .map(|i| {
            let mut t = PvTypeInfo::new(&format!("BENCH:REG:{i:06}"), ArchDbType::ScalarDouble, 1);
            t.data_stores = vec![
                "pb://localhost?name=STS&rootFolder=./data/sts&partitionGranularity=PARTITION_HOUR".into(),
            ];
            t.creation_time = Some(chrono::Utc::now());
            t
        })
        .collect();
    let t = Instant::now();
    for chunk in items.chunks(10_000) {
        reg.put_many(chunk).expect("import");
    }
    let el = t.elapsed();
    assert_eq!(reg.len(), 100_000);
    println!(
        "bench registry_import_100k {:.0} PVs/s",
        100_000.0 / el.as_secs_f64()
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
    if run("ingest_1000pv") {
        settle();
        rt.block_on(ingest_1000pv());
    }
    if run("read_30d") {
        settle();
        rt.block_on(read_30d());
    }
    if run("last_before_8760") {
        settle();
        rt.block_on(last_before_8760());
    }
    if run("stores_for_pv_10k") || run("appliance_metrics_10k") {
        settle();
        rt.block_on(summaries_10k());
    }
    if run("registry_import_100k") {
        registry_import_100k();
    }
}
