//! Issue 13: SIGKILL the real server while it moves the data of many PVs
//! (`consolidateDataForPV` into LTS, the ETL executor's path), restart it,
//! finish the moves: every sample exactly once on disk, and the index equal
//! to what a rebuild builds.

mod common;

use std::collections::BTreeMap;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{run_tool, ServeProcess};
use strata::app::Stores;
use strata::config::Config;
use strata::index::KvStore;
use strata::plainpb::PbFile;
use strata::registry::PvTypeInfo;
use strata::storage::StoreUrl;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

/// 2024-03-01 00:00:00 UTC.
const MAR1: i64 = 1_709_251_200;
const PVS: usize = 40;
const HOURS: i64 = 6;
const STEP: i64 = 10;

fn names() -> Vec<String> {
    (0..PVS).map(|i| format!("ETL:KILL:{i:02}")).collect()
}

fn config(data: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.set_data_dir(data);
    cfg
}

/// Waits until no process holds the index database's lock.
fn wait_unlocked(data: &Path) {
    let db = data.join("index").join("db");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&db)
            .unwrap();
        // SAFETY: flock(2) on an open descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            // SAFETY: as above.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
            return;
        }
        assert!(Instant::now() < deadline, "index database still locked");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Paused PVs with six hourly STS partitions each, chain STS → MTS → LTS.
async fn prepare(data: &Path) {
    let cfg = config(data);
    let stores = Stores::open(&cfg.storage).unwrap();
    let urls: Vec<String> = cfg
        .storage
        .tiers
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    for pv in names() {
        let mut info = PvTypeInfo::new(&pv, ArchDbType::ScalarDouble, 1);
        info.data_stores = urls.clone();
        info.paused = true;
        stores.registry.put(&info).unwrap();
        for i in 0..HOURS * 3600 / STEP {
            let s = ArchiverSample::at(MAR1 + i * STEP, 0, SampleValue::Double(i as f64));
            stores.store.tiers()[0]
                .append(&pv, ArchDbType::ScalarDouble, &s, None)
                .await
                .unwrap();
        }
    }
    stores.store.flush_all_blocking().unwrap();
    stores.kv.flush().unwrap();
    drop(stores);
    wait_unlocked(data);
}

async fn consolidate(base: &str, pv: &str) -> Option<serde_json::Value> {
    let r = reqwest::get(format!(
        "{base}/mgmt/bpl/consolidateDataForPV?pv={pv}&storage=LTS"
    ))
    .await
    .ok()?;
    r.json().await.ok()
}

/// Sample times per (PV, tier) over every file on disk.
fn on_disk(cfg: &Config) -> BTreeMap<String, BTreeMap<i64, u32>> {
    let mut out: BTreeMap<String, BTreeMap<i64, u32>> = BTreeMap::new();
    for t in &cfg.storage.tiers {
        if !t.root.exists() {
            continue;
        }
        for e in walkdir::WalkDir::new(&t.root).into_iter().flatten() {
            if !e.file_type().is_file() {
                continue;
            }
            let pb = PbFile::open(e.path()).unwrap();
            let pv = pb.desc().pv_name.clone();
            let mut s = pb.stream(None, None).unwrap();
            while let Some(x) = s.next_sample().unwrap() {
                *out.entry(pv.clone()).or_default().entry(x.ts().secs).or_insert(0) += 1;
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_etl_of_many_pvs_then_restart_converges() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    prepare(&data).await;
    let cfg_file = dir.path().join("strata.toml");
    std::fs::write(&cfg_file, "[engine]\nenabled = false\n\n[etl]\nenabled = false\n").unwrap();
    let args = ["--config", cfg_file.to_str().unwrap()];
    let srv = ServeProcess::start(&data, &args);
    // Consolidate every PV concurrently; kill once some are done and
    // others are still moving.
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for pv in names() {
        let (base, done) = (srv.base.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            if let Some(v) = consolidate(&base, &pv).await {
                if v["status"] == "ok" {
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.load(Ordering::SeqCst) < PVS / 4 {
        assert!(Instant::now() < deadline, "no consolidation finished");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    srv.kill();
    let at_kill = done.load(Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    wait_unlocked(&data);
    // Restart (reconcile), finish every PV's moves, stop cleanly.
    let srv = ServeProcess::start(&data, &args);
    for pv in names() {
        let v = consolidate(&srv.base, &pv).await.unwrap();
        assert_eq!(v["status"], "ok", "{pv}: {v}");
    }
    srv.stop();
    wait_unlocked(&data);
    // The index agrees with the files.
    let (code, out, _) = run_tool(
        env!("CARGO_BIN_EXE_strata-rebuild-index"),
        &["--data", data.to_str().unwrap(), "--verify"],
    );
    assert_eq!(code, 0, "{out}");
    // Every sample exactly once, all in LTS.
    let cfg = config(&data);
    let disk = on_disk(&cfg);
    let expected: Vec<i64> = (0..HOURS * 3600 / STEP).map(|i| MAR1 + i * STEP).collect();
    for pv in names() {
        let got = disk.get(&pv).cloned().unwrap_or_default();
        assert!(got.values().all(|n| *n == 1), "{pv}: a sample more than once");
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), expected, "{pv}");
    }
    for t in &cfg.storage.tiers[..2] {
        let files = walkdir::WalkDir::new(&t.root)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .count();
        assert_eq!(files, 0, "{} still holds files", t.name);
    }
    eprintln!("killed with {at_kill} of {PVS} consolidations answered");
}
