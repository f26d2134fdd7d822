//! Issue 13 management over HTTP: named flags (persisted, Java's shapes),
//! `consolidateDataForPV` answers and its move, ETL rows in `/metrics`.

mod common;

use common::server::TestServer;
use strata::registry::PvTypeInfo;
use strata::storage::StoreUrl;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

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
