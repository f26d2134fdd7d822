//! Issue 13 management over HTTP: named flags (persisted, Java's shapes),
//! `consolidateDataForPV` answers and its move, `changeStore` and
//! `modifyStoreURLForPV`, consolidation on pause and at shutdown,
//! `deletePV?deleteData=true` across tiers, scheduler notifications, and
//! the ETL statistics in `getPVDetails`, `getApplianceMetricsForAppliance`
//! and `/metrics` (persisted across a restart).

mod common;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use common::server::TestServer;
use strata::config::Config;
use strata::registry::PvTypeInfo;
use strata::storage::{StoragePlugin, StoreUrl, TierConfig, TieredStore};
use strata::types::{ArchDbType, ArchiverSample, PartitionGranularity, SampleValue};

/// 2024-03-01 00:00:00 UTC.
const MAR1: i64 = 1_709_251_200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_flags_are_set_read_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, v) = srv.get_json("/mgmt/bpl/getNamedFlag?name=SKIP_MTS_FOR_ETL").await;
    assert_eq!(s, 200);
    assert_eq!(v, serde_json::json!({ "SKIP_MTS_FOR_ETL": false }));
    let (s, v) = srv
        .get_json("/mgmt/bpl/setNamedFlag?name=SKIP_MTS_FOR_ETL&value=TRUE")
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (_, v) = srv.get_json("/mgmt/bpl/getNamedFlag?name=SKIP_MTS_FOR_ETL").await;
    assert_eq!(v["SKIP_MTS_FOR_ETL"], true);
    let (_, v) = srv.get_json("/mgmt/bpl/getAllNamedFlags").await;
    assert_eq!(v, serde_json::json!({ "SKIP_MTS_FOR_ETL": true }));
    let (s, _) = srv.get_json("/mgmt/bpl/getNamedFlag").await;
    assert_eq!(s, 400);
    let (s, _) = srv.get_json("/mgmt/bpl/setNamedFlag?name=X").await;
    assert_eq!(s, 400);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consolidate_answers_like_java_and_moves_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let urls: Vec<String> = srv
        .cfg
        .storage
        .tiers
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect();
    let mut info = PvTypeInfo::new("ETL:m", ArchDbType::ScalarDouble, 1);
    info.data_stores = urls;
    srv.registry.put(&info).unwrap();
    for i in 0..360 {
        let s = ArchiverSample::at(MAR1 + i * 30, 0, SampleValue::Double(i as f64));
        srv.store.tiers()[0]
            .append("ETL:m", ArchDbType::ScalarDouble, &s, None)
            .await
            .unwrap();
    }
    srv.store.flush_all_blocking().unwrap();
    let q = "/mgmt/bpl/consolidateDataForPV?pv=ETL:m&storage=";
    let (s, _) = srv.get_json("/mgmt/bpl/consolidateDataForPV?pv=ETL:m").await;
    assert_eq!(s, 400, "storage missing");
    let (s, _) = srv.get_json(&format!("{q}MTS").replace("ETL:m", "NOPE:x")).await;
    assert_eq!(s, 400, "unknown PV");
    let (s, v) = srv.get_json(&format!("{q}XTS")).await;
    assert_eq!(s, 200);
    assert_eq!(v["validation"], "Cannot find storage with name XTS for pv ETL:m");
    let (_, v) = srv.get_json(&format!("{q}MTS")).await;
    assert_eq!(v["validation"], "Cannot consolidate unless PV ETL:m is paused.");
    info.paused = true;
    srv.registry.put(&info).unwrap();
    let (s, v) = srv.get_json(&format!("{q}MTS")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["desc"], "Successfully consolidated PV ETL:m into MTS");
    let index = srv.store.index();
    assert!(index.summary("ETL:m", 0).unwrap().is_none(), "STS emptied");
    assert_eq!(index.summary("ETL:m", 1).unwrap().unwrap().samples, 360);
    assert!(index.summary("ETL:m", 2).unwrap().is_none(), "stops at MTS");
    let (s, body) = (
        srv.get("/metrics").await.status(),
        srv.get("/metrics").await.text().await.unwrap(),
    );
    assert_eq!(s, 200);
    assert!(body.contains("name=\"etl\""), "{body}");
    srv.stop().await;
}

/// The tiers' URLs of `cfg` (what strata writes for a new PV).
fn tier_urls(cfg: &Config) -> Vec<String> {
    cfg.storage
        .tiers
        .iter()
        .map(|t| StoreUrl::for_tier(t).to_string())
        .collect()
}

/// Registers `pv` with `urls` (paused or not).
fn put_pv(srv: &TestServer, pv: &str, urls: Vec<String>, paused: bool) -> PvTypeInfo {
    let mut info = PvTypeInfo::new(pv, ArchDbType::ScalarDouble, 1);
    info.data_stores = urls;
    info.paused = paused;
    srv.registry.put(&info).unwrap();
    info
}

/// Appends samples at `times` to tier `tier` and flushes.
async fn write(store: &TieredStore, tier: usize, pv: &str, times: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut out = Vec::new();
    for t in times {
        let s = ArchiverSample::at(t, 0, SampleValue::Double(t as f64));
        store.tiers()[tier]
            .append(pv, ArchDbType::ScalarDouble, &s, None)
            .await
            .unwrap();
        out.push(t);
    }
    store.flush_all_blocking().unwrap();
    out
}

/// Sample times retrieval returns for `pv` (tiers merged, boundary de-dup).
async fn read_all(store: &TieredStore, pv: &str) -> Vec<i64> {
    let from = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let to = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut out: Vec<i64> = Vec::new();
    for mut s in store.get_data(pv, from, to).await.unwrap() {
        while let Some(e) = s.next_event().unwrap() {
            if out.last().is_some_and(|l| e.ts().secs <= *l) {
                continue;
            }
            out.push(e.ts().secs);
        }
    }
    out
}

/// Files below `dir` (recursively).
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

fn samples(srv: &TestServer, pv: &str, tier: u8) -> u64 {
    srv.store
        .index()
        .summary(pv, tier)
        .unwrap()
        .map_or(0, |s| s.samples)
}

/// Four tiers: STS hour, MTS day, MTS2 month (its own folder), LTS year.
fn with_mts2(c: &mut Config) {
    let root = c.storage.tiers[1].root.with_file_name("mts2");
    c.storage
        .tiers
        .insert(2, TierConfig::new("MTS2", root, PartitionGranularity::Month));
    c.etl.enabled = false;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_store_moves_the_data_into_the_new_store_and_updates_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), with_mts2).await;
    let all = tier_urls(&srv.cfg);
    let urls = vec![all[0].clone(), all[1].clone(), all[3].clone()];
    put_pv(&srv, "CS:a", urls.clone(), false);
    // Three days in MTS (daily partitions) and an hour in STS.
    let mut times = write(&srv.store, 1, "CS:a", (0..72).map(|h| MAR1 + h * 3600)).await;
    times.extend(write(&srv.store, 0, "CS:a", (0..10).map(|i| MAR1 + 4 * 86_400 + i * 60)).await);
    assert_eq!(srv.store.index().partitions("CS:a", 1).unwrap().len(), 3);
    let q = |b: &str| {
        format!(
            "/mgmt/bpl/changeStore?pv=CS:a&storage=MTS&newbackend={}",
            form_urlencoded::byte_serialize(b.as_bytes()).collect::<String>()
        )
    };
    // Java's refusals.
    let (s, v) = srv.get_json(&q(&all[2])).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["validation"], "Need to pause PV before changing type for CS:a");
    put_pv(&srv, "CS:a", urls.clone(), true);
    let (s, v) = srv
        .get_json(&q(&all[2]).replace("storage=MTS", "storage=XTS"))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["validation"], "Cannot find storage with name XTS for pv CS:a");
    let (s, _) = srv.get_json("/mgmt/bpl/changeStore?pv=CS:a&storage=MTS").await;
    assert_eq!(s, 400, "newbackend missing");
    let (s, _) = srv.get_json(&q(&all[2]).replace("CS:a", "CS:nope")).await;
    assert_eq!(s, 400, "unknown PV");
    // The start-up chain rules: LTS in MTS's place gives LTS twice.
    let (s, v) = srv.get_json(&q(&all[3])).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["parameter"], "newbackend");
    let lts_root = srv.cfg.storage.tiers[3].root.display().to_string();
    assert!(v["message"].as_str().unwrap().contains(&lts_root), "{v}");
    // The same tier with another granularity needs a tier of its own.
    let month = all[1].replace("PARTITION_DAY", "PARTITION_MONTH");
    let (s, v) = srv.get_json(&q(&month)).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("PARTITION_MONTH"), "{v}");
    assert_eq!(
        srv.store.index().partitions("CS:a", 1).unwrap().len(),
        3,
        "nothing moved"
    );

    // MTS (daily) → MTS2 (monthly, another folder).
    let (s, v) = srv.get_json(&q(&all[2])).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["desc"], "Successfully changed the storage for PV CS:a into MTS");
    assert_eq!(samples(&srv, "CS:a", 1), 0, "MTS emptied");
    assert!(
        files(&srv.cfg.storage.tiers[1].root).is_empty(),
        "old files removed"
    );
    let parts = srv.store.index().partitions("CS:a", 2).unwrap();
    assert_eq!(parts.len(), 1, "one monthly partition");
    assert_eq!(parts[0].start, MAR1);
    assert_eq!(samples(&srv, "CS:a", 2), 72);
    assert_eq!(samples(&srv, "CS:a", 0), 10, "STS untouched");
    let (_, info) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=CS:a").await;
    let stores: Vec<&str> = info["dataStores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(stores, vec![all[0].as_str(), all[2].as_str(), all[3].as_str()]);
    let (_, st) = srv.get_json("/mgmt/bpl/getStoresForPV?pv=CS:a").await;
    assert!(st.get("MTS2").is_some(), "{st}");
    assert_eq!(read_all(&srv.store, "CS:a").await, times, "every sample once");
    // The same definition again: nothing to move, still ok.
    let (s, _) = srv
        .get_json(&q(&all[2]).replace("storage=MTS", "storage=MTS2"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(read_all(&srv.store, "CS:a").await, times);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_store_url_answers_like_java_and_checks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let urls = tier_urls(&srv.cfg);
    put_pv(&srv, "MS:a", urls.clone(), false);
    let enc = |u: &str| form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>();
    let hold4 = urls[1].replace("hold=2", "hold=4");
    assert_ne!(hold4, urls[1]);
    let q = |pv: &str, storage: &str, url: &str| {
        format!(
            "/mgmt/bpl/modifyStoreURLForPV?pv={pv}&storage={storage}&plugin_url={}",
            enc(url)
        )
    };
    for (path, what) in [
        (
            "/mgmt/bpl/modifyStoreURLForPV?storage=MTS&plugin_url=x".to_string(),
            "no pv",
        ),
        (
            "/mgmt/bpl/modifyStoreURLForPV?pv=MS:a&plugin_url=x".to_string(),
            "no storage",
        ),
        (
            "/mgmt/bpl/modifyStoreURLForPV?pv=MS:a&storage=MTS".to_string(),
            "no URL",
        ),
        (q("MS:nope", "MTS", &hold4), "unknown PV"),
        (q("MS:a", "MTS", &hold4), "not paused"),
    ] {
        let (s, _) = srv.get_json(&path).await;
        assert_eq!(s, 404, "{what}");
    }
    put_pv(&srv, "MS:a", urls.clone(), true);
    let (s, _) = srv.get_json(&q("MS:a", "XTS", &hold4)).await;
    assert_eq!(s, 404, "unknown store");
    let (s, _) = srv.get_json(&q("MS:a", "MTS", "ftp://nowhere")).await;
    assert_eq!(s, 404, "unparseable URL");
    // Source and destination in one folder: refused, naming the folder.
    let lts_root = srv.cfg.storage.tiers[2].root.display().to_string();
    let mts_root = srv.cfg.storage.tiers[1].root.display().to_string();
    let same = urls[1].replace(&mts_root, &lts_root);
    let (s, v) = srv.get_json(&q("MS:a", "MTS", &same)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["parameter"], "plugin_url");
    assert!(v["message"].as_str().unwrap().contains(&lts_root), "{v}");
    let (_, info) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=MS:a").await;
    assert_eq!(info["dataStores"][1], urls[1].as_str(), "unchanged");
    // Success: an empty JSON body; the record changes, nothing moves.
    let r = srv.get(&q("MS:a", "MTS", &hold4)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.text().await.unwrap(), "");
    let (_, info2) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=MS:a").await;
    assert_eq!(info2["dataStores"][1], hold4.as_str());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_data_removes_every_tier_files_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    put_pv(&srv, "DEL:a", tier_urls(&srv.cfg), true);
    put_pv(&srv, "DEL:keep", tier_urls(&srv.cfg), true);
    for (tier, base) in [(2usize, MAR1 - 400 * 86_400), (1, MAR1), (0, MAR1 + 10 * 86_400)] {
        write(&srv.store, tier, "DEL:a", (0..30).map(|i| base + i * 3600)).await;
        write(&srv.store, tier, "DEL:keep", (0..5).map(|i| base + i * 3600)).await;
    }
    for t in 0..3 {
        assert!(samples(&srv, "DEL:a", t) > 0);
    }
    let (s, v) = srv.get_json("/mgmt/bpl/deletePV?pv=DEL:a&deleteData=true").await;
    assert_eq!((s, &v["status"]), (200, &serde_json::json!("ok")), "{v}");
    let index = srv.store.index();
    for (t, cfg) in srv.cfg.storage.tiers.iter().enumerate() {
        assert!(
            index.summary("DEL:a", t as u8).unwrap().is_none(),
            "tier {t} summary"
        );
        assert!(
            index.partitions("DEL:a", t as u8).unwrap().is_empty(),
            "tier {t} records"
        );
        let left: Vec<String> = files(&cfg.root)
            .into_iter()
            .filter(|f| f.contains("DEL/a"))
            .collect();
        assert!(left.is_empty(), "tier {t}: {left:?}");
        assert_eq!(samples(&srv, "DEL:keep", t as u8), 5, "other PVs keep theirs");
    }
    srv.stop().await;
}

/// STS consolidates on shutdown (as a RAM-disk STS would be configured).
fn consolidating_sts(c: &mut Config) {
    c.storage.tiers[0].consolidate_on_shutdown = true;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_consolidates_the_marked_store_and_the_statistics_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), consolidating_sts).await;
    let urls = tier_urls(&srv.cfg);
    assert!(urls[0].contains("consolidateOnShutdown=true"), "{}", urls[0]);
    put_pv(&srv, "CP:a", urls, false);
    let times = write(&srv.store, 0, "CP:a", (0..180).map(|i| MAR1 + i * 60)).await;
    // Resuming/archiving notifies the scheduler at once (no registry sync).
    srv.state.mgmt.etl.notify("CP:a");
    assert!(srv.state.mgmt.etl.due_of("CP:a").is_some(), "queued");
    let (s, v) = srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=CP:a").await;
    assert_eq!((s, &v["status"]), (200, &serde_json::json!("ok")), "{v}");
    assert!(srv.state.mgmt.etl.due_of("CP:a").is_none(), "left the queue");
    assert_eq!(samples(&srv, "CP:a", 0), 0, "STS consolidated");
    assert_eq!(samples(&srv, "CP:a", 1), 180, "into MTS");
    assert_eq!(samples(&srv, "CP:a", 2), 0, "MTS has no flag: no cascade");
    assert_eq!(read_all(&srv.store, "CP:a").await, times);

    // Per-PV rows (Java's names) in getPVDetails.
    let (_, rows) = srv.get_json("/mgmt/bpl/getPVDetails?pv=CP:a").await;
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["value"].as_str().unwrap().to_string())
    };
    assert_eq!(
        row("ETL 0 number of times we performed ETL").as_deref(),
        Some("1")
    );
    assert_eq!(row("ETL 0 partitions moved").as_deref(), Some("3"));
    assert!(row("ETL 0 last completed").is_some());
    assert!(row("ETL 0 last result").unwrap().starts_with("moved 3"));
    assert_eq!(
        row("ETL 1 number of times we performed ETL").as_deref(),
        Some("None so far")
    );
    // Java's appliance rows and strata's per-stage rows.
    let (_, rows) = srv.get_json("/mgmt/bpl/getApplianceMetricsForAppliance").await;
    let rows = rows.as_array().unwrap();
    let find = |name: &str| rows.iter().find(|r| r["name"] == name).cloned();
    let runs = find("<b>Total number of ETL runs into MTS so far</b>").expect("Java's row");
    assert_eq!(
        (runs["value"].as_str(), runs["source"].as_str()),
        (Some("1"), Some("ETL"))
    );
    assert!(find("Average time spent in ETL into MTS (s/run)").is_some());
    assert!(find("Estimated weekly usage in ETL (%)").is_some());
    assert!(rows.iter().any(|r| r["name"]
        .as_str()
        .unwrap()
        .starts_with("Estimated bytes transferred in ETL (MTS)")));
    assert_eq!(find("ETL STS » MTS partitions moved").unwrap()["value"], "3");
    assert_eq!(find("ETL STS » MTS failures").unwrap()["value"], "0");
    assert!(find("ETL STS » MTS backlog (PVs due)").is_some());
    let (_, m) = srv.get_json("/mgmt/bpl/getApplianceMetrics").await;
    assert_eq!(m[0]["totalETLRuns(MTS)"], "1", "{m}");
    assert!(m[0]["timeForOverallETLInSeconds(MTS)"].is_string(), "{m}");
    assert!(m[0]["maxETLPercentage"].is_string(), "{m}");
    // Prometheus, per stage.
    let body = srv.get("/metrics").await.text().await.unwrap();
    let line = body
        .lines()
        .find(|l| {
            l.starts_with("strata_etl_stage{")
                && l.contains("stat=\"partitions_moved\"")
                && l.contains("source=\"STS\"")
                && l.contains("dest=\"MTS\"")
        })
        .unwrap_or_else(|| panic!("{body}"));
    assert!(line.ends_with(" 3"), "{line}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_consolidates_running_pvs_and_statistics_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), consolidating_sts).await;
    let urls = tier_urls(&srv.cfg);
    put_pv(&srv, "SD:a", urls.clone(), false);
    put_pv(&srv, "SD:paused", urls.clone(), true);
    let times = write(&srv.store, 0, "SD:a", (0..120).map(|i| MAR1 + i * 60)).await;
    write(&srv.store, 0, "SD:paused", (0..10).map(|i| MAR1 + i * 60)).await;
    srv.state.mgmt.etl.notify("SD:a");
    srv.state.mgmt.etl.notify("SD:paused");
    srv.stop().await;

    let srv = TestServer::start_with(dir.path(), consolidating_sts).await;
    assert_eq!(samples(&srv, "SD:a", 0), 0, "STS consolidated at shutdown");
    assert_eq!(samples(&srv, "SD:a", 1), 120);
    assert_eq!(read_all(&srv.store, "SD:a").await, times);
    assert_eq!(samples(&srv, "SD:paused", 0), 10, "paused PVs are not touched");
    let stages = srv.state.mgmt.etl.stats().stages();
    let st = stages
        .iter()
        .find(|s| s.source == "STS" && s.dest == "MTS")
        .expect("persisted");
    assert_eq!((st.runs, st.moved), (1, 2));
    let (_, rows) = srv.get_json("/mgmt/bpl/getPVDetails?pv=SD:a").await;
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "ETL 0 number of times we performed ETL" && r["value"] == "1"));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_calls_queue_and_unqueue_pvs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let etl = &srv.state.mgmt.etl;
    put_pv(&srv, "NQ:a", tier_urls(&srv.cfg), true);
    write(&srv.store, 0, "NQ:a", (0..5).map(|i| MAR1 + i * 60)).await;
    assert!(etl.due_of("NQ:a").is_none());
    let (s, _) = srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=NQ:a").await;
    assert_eq!(s, 200);
    assert!(etl.due_of("NQ:a").is_some(), "resume queues");
    srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=NQ:a").await;
    assert!(etl.due_of("NQ:a").is_none(), "pause unqueues");
    // A chain change while paused, then resume: queued with the new chain.
    let mut urls = tier_urls(&srv.cfg);
    urls.truncate(1);
    let one = urls[0].clone();
    let mut info = srv.registry.get("NQ:a").unwrap().unwrap();
    info.data_stores = vec![one];
    srv.registry.put(&info).unwrap();
    srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=NQ:a").await;
    assert!(etl.due_of("NQ:a").is_none(), "a chain of one store has no ETL");
    srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=NQ:a").await;
    let (s, _) = srv.get_json("/mgmt/bpl/deletePV?pv=NQ:a").await;
    assert_eq!(s, 200);
    assert!(etl.due_of("NQ:a").is_none());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_store_interrupted_after_the_move_completes_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), with_mts2).await;
    let all = tier_urls(&srv.cfg);
    put_pv(
        &srv,
        "CS:r",
        vec![all[0].clone(), all[1].clone(), all[3].clone()],
        true,
    );
    let times = write(&srv.store, 1, "CS:r", (0..48).map(|h| MAR1 + h * 3600)).await;
    // The data moved, then the process died before dataStores changed.
    let etl = srv.state.mgmt.etl.etl().clone();
    let tiers = srv.cfg.storage.tiers.clone();
    let old =
        strata::storage::Chain::resolve(&[all[0].clone(), all[1].clone(), all[3].clone()], &tiers).unwrap();
    let new =
        strata::storage::Chain::resolve(&[all[0].clone(), all[2].clone(), all[3].clone()], &tiers).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        strata::etl::change::move_store(&etl, "CS:r", &old.stores[1], &new.stores[1])
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.moved, 2);
    srv.stop().await;
    let srv = TestServer::start_with(dir.path(), with_mts2).await;
    assert_eq!(
        read_all(&srv.store, "CS:r").await,
        times,
        "readable in the new tier meanwhile"
    );
    let b: String = form_urlencoded::byte_serialize(all[2].as_bytes()).collect();
    let (s, v) = srv
        .get_json(&format!(
            "/mgmt/bpl/changeStore?pv=CS:r&storage=MTS&newbackend={b}"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, info) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=CS:r").await;
    assert_eq!(info["dataStores"][1], all[2].as_str());
    assert_eq!((samples(&srv, "CS:r", 1), samples(&srv, "CS:r", 2)), (0, 48));
    assert_eq!(read_all(&srv.store, "CS:r").await, times);
    srv.stop().await;
}
