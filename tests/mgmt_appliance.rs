//! Appliance and cluster actions over HTTP: getApplianceInfo,
//! getAppliancesInCluster, getApplianceMetrics(ForAppliance),
//! getStorageMetrics, getVersion(s), getPolicyList, getPolicyText,
//! GET /metrics (Prometheus text) and unknown actions.

mod common;

use common::server::{register, TestServer};
use serde_json::{json, Value};
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

fn all_strings(v: &Value) {
    for (k, x) in v.as_object().unwrap() {
        assert!(x.is_string(), "{k} is not a string: {x}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appliance_info_and_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, v) = srv.get_json("/mgmt/bpl/getApplianceInfo").await;
    assert_eq!(s, 200);
    all_strings(&v);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "clusterInetPort",
            "dataRetrievalURL",
            "engineURL",
            "etlURL",
            "identity",
            "mgmtURL",
            "retrievalURL",
            "version"
        ]
    );
    assert_eq!(v["identity"], "appliance0");
    assert_eq!(v["mgmtURL"], format!("{}/mgmt/bpl", srv.base));
    assert_eq!(v["retrievalURL"], format!("{}/retrieval/bpl", srv.base));
    assert_eq!(v["dataRetrievalURL"], format!("{}/retrieval", srv.base));
    // The advertised mgmt URL works.
    let (s, _) = srv.get_json("/mgmt/bpl/getVersion").await;
    assert_eq!(s, 200);
    let (_, same) = srv.get_json("/mgmt/bpl/getApplianceInfo?id=appliance0").await;
    assert_eq!(same, v);
    let (s, e) = srv.get_json("/mgmt/bpl/getApplianceInfo?id=appliance7").await;
    assert_eq!((s, &e["status"]), (404, &json!(404)));
    let (s, c) = srv.get_json("/mgmt/bpl/getAppliancesInCluster").await;
    assert_eq!((s, c), (200, json!([v])));
    let r = srv.get("/").await;
    assert_eq!(
        (r.status().as_u16(), r.url().path()),
        (200, "/mgmt/ui/"),
        "/ redirects to the console"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_storage_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    for pv in ["AP:a", "AP:b", "AP:c"] {
        register(&srv.registry, pv, ArchDbType::ScalarDouble);
    }
    let mut paused = srv.registry.get("AP:c").unwrap().unwrap();
    paused.paused = true;
    srv.registry.put(&paused).unwrap();
    srv.get_json("/mgmt/bpl/archivePV?pv=AP:pending").await;
    for i in 0..5 {
        let s = ArchiverSample::at(1_710_495_000 + i, 0, SampleValue::Double(i as f64));
        srv.store
            .append_event("AP:a", ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();

    let (s, v) = srv.get_json("/mgmt/bpl/getApplianceMetrics").await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 1);
    let m = &v[0];
    all_strings(m);
    for k in [
        "instance",
        "pvCount",
        "status",
        "capacityUtilized",
        "eventRate",
        "dataRate",
        "connectedPVCount",
        "disconnectedPVCount",
        "formattedWriteThreadSeconds",
        "secondsConsumedByWriter",
        "maxETLPercentage",
    ] {
        assert!(m.get(k).is_some(), "{k} missing from {m}");
    }
    assert_eq!(
        (&m["instance"], &m["pvCount"]),
        (&json!("appliance0"), &json!("3"))
    );
    assert!(
        m["status"].as_str().unwrap().starts_with("Stopped - engine"),
        "no CA engine: {m}"
    );
    assert_eq!(
        (&m["STSTotalFiles"], &m["MTSTotalFiles"]),
        (&json!("1"), &json!("0"))
    );
    assert!(m["STSTotalBytes"].as_str().unwrap().parse::<u64>().unwrap() > 0);

    let (s, rows) = srv
        .get_json("/mgmt/bpl/getApplianceMetricsForAppliance?appliance=appliance0")
        .await;
    assert_eq!(s, 200);
    // Java's sources and labels (issue 11).
    for r in rows.as_array().unwrap() {
        all_strings(r);
        assert!(["mgmt", "ENGINE", "ETL", "RETRIEVAL"].contains(&r["source"].as_str().unwrap()));
    }
    assert_eq!(rows[0]["name"], "Appliance Identity");
    assert_eq!(rows[0]["value"], "appliance0");
    let find = |n: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap_or_else(|| panic!("no row {n}: {rows}"))["value"]
            .clone()
    };
    assert_eq!(find("Total PV count"), "3");
    assert_eq!(find("Paused PV count"), "1");
    assert_eq!(find("Connected PV count"), "0");
    assert_eq!(find("Disconnected PV count"), "2");
    assert_eq!(find("Event Rate (in events/sec)"), "0");
    assert_eq!(find("PVs in archive workflow"), "1");
    assert_eq!(find("Aggregated appliance PV count"), "3");
    assert_eq!(find("Aggregated appliance event rate (in events/sec)"), "0");
    assert!(find("Number of Retrieval Requests")
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(find("Total files in STS"), "1");
    let (s, _) = srv
        .get_json("/mgmt/bpl/getApplianceMetricsForAppliance?appliance=elsewhere")
        .await;
    assert_eq!(s, 404);
    let (s, v) = srv.get_json("/retrieval/bpl/getApplianceMetrics").await;
    assert_eq!((s, &v[0]["pvCount"]), (200, &json!("3")));

    let (s, v) = srv.get_json("/mgmt/bpl/getStorageMetrics").await;
    assert_eq!(s, 200);
    let stores = v.as_array().unwrap();
    assert_eq!(
        stores
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["STS", "MTS", "LTS"]
    );
    for st in stores {
        all_strings(st);
        let total: u64 = st["total_space"].as_str().unwrap().parse().unwrap();
        let avail: u64 = st["available_space"].as_str().unwrap().parse().unwrap();
        assert!(total > 0 && avail <= total, "{st}");
    }
    assert_eq!(stores[0]["totalFiles"], "1");
    assert_eq!(stores[0]["partitionGranularity"], "PARTITION_HOUR");
    let (s, v) = srv
        .get_json("/mgmt/bpl/getStorageMetricsForAppliance?appliance=appliance0")
        .await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 3));

    let (_, v) = srv.get_json("/mgmt/bpl/getVersion").await;
    assert_eq!(v, json!({"version": format!("strata {}", strata::VERSION)}));
    let (_, v) = srv.get_json("/mgmt/bpl/getVersions").await;
    all_strings(&v);
    for k in [
        "mgmt_version",
        "engine_version",
        "etl_version",
        "retrieval_version",
    ] {
        assert_eq!(v[k], format!("strata {}", strata::VERSION));
    }

    let r = srv.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    for line in [
        "strata_gauge{label=\"total\",name=\"pvs\"} 3",
        "strata_gauge{label=\"paused\",name=\"pvs\"} 1",
        "strata_gauge{label=\"initial_sampling\",name=\"pvs\"} 1",
        "strata_gauge{label=\"STS\",name=\"tier_files\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    assert!(
        text.contains("# TYPE strata_http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("endpoint=\"/mgmt/bpl/getVersion\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_list_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, v) = srv.get_json("/mgmt/bpl/getPolicyList").await;
    assert_eq!(s, 200);
    let list = v.as_object().unwrap();
    assert_eq!(list.keys().collect::<Vec<_>>(), vec!["Default", "Fast", "Slow"]);
    assert!(list.values().all(|d| d.as_str().is_some_and(|d| !d.is_empty())));
    let r = srv.get("/mgmt/bpl/getPolicyText").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), strata::mgmt::policy::DEFAULT_POLICIES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_actions_and_methods() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, v) = srv.get_json("/mgmt/bpl/noSuchAction").await;
    assert_eq!(s, 404);
    assert_eq!((&v["status"], &v["error"]), (&json!(404), &json!("Not Found")));
    assert!(v["message"].as_str().unwrap().contains("noSuchAction"));
    // changeStore and consolidateDataForPV exist (issue 13): an unknown PV
    // is Java's 400.
    let (s, _) = srv
        .get_json("/mgmt/bpl/changeStore?pv=X&storage=MTS&newbackend=x")
        .await;
    assert_eq!(s, 400);
    let (s, _) = srv
        .get_json("/mgmt/bpl/consolidateDataForPV?pv=X&storage=MTS")
        .await;
    assert_eq!(s, 400);
    let (s, v) = srv.get_json("/mgmt/bpl/importConfig").await;
    assert_eq!(s, 405, "POST only: {v}");
}
