//! exportConfig → importConfig into a fresh data directory (records,
//! aliases, paused flags, string values), persistence across a restart,
//! and importConfig's refusals (bad JSON, bad records, dangling aliases)
//! that leave the registry untouched.

mod common;

use common::server::TestServer;
use serde_json::{json, Value};

async fn post(srv: &TestServer, path: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(srv.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")),
    )
}

async fn put(srv: &TestServer, body: Value) {
    let pv = body["pvName"].as_str().unwrap().to_string();
    let (s, v) = srv
        .post_json(&format!("/mgmt/bpl/putPVTypeInfo?pv={pv}&createnew=true"), &body)
        .await;
    assert_eq!(s, 200, "{v}");
}

/// Three PVs (one from Java's prototype, one running, one waveform), two aliases.
async fn populate(srv: &TestServer) {
    let text = std::fs::read_to_string(common::testdata().join("java/PVTypeInfoPrototype.json")).unwrap();
    put(srv, serde_json::from_str(&text).unwrap()).await;
    put(
        srv,
        json!({"pvName": "CF:scalar", "DBRType": "DBR_SCALAR_DOUBLE", "units": "mm",
                    "precision": "3", "samplingMethod": "SCAN", "samplingPeriod": "10.0",
                    "policyName": "Slow", "archiveFields": ["HIHI", "LOLO"]}),
    )
    .await;
    put(
        srv,
        json!({"pvName": "CF:wave", "DBRType": "DBR_WAVEFORM_SHORT", "elementCount": "512",
                    "scalar": "false", "extraFields": {"RTYP": "waveform"}}),
    )
    .await;
    let (s, _) = srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=CF:scalar").await;
    assert_eq!(s, 200);
    for (pv, alias) in [("CF:scalar", "CF:scalar-alias"), ("CF:wave", "CF:wave-alias")] {
        let (s, _) = srv
            .get_json(&format!("/mgmt/bpl/addAlias?pv={pv}&aliasname={alias}"))
            .await;
        assert_eq!(s, 200);
    }
}

fn by_name(export: &Value) -> std::collections::BTreeMap<String, Value> {
    export["pvTypeInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["pvName"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip_into_a_fresh_data_dir() {
    let dir_a = tempfile::tempdir().unwrap();
    let a = TestServer::start(dir_a.path()).await;
    populate(&a).await;
    let (s, export) = a.get_json("/mgmt/bpl/exportConfig").await;
    assert_eq!(s, 200);
    assert_eq!(export["pvTypeInfos"].as_array().unwrap().len(), 3);
    for t in export["pvTypeInfos"].as_array().unwrap() {
        for (k, v) in t.as_object().unwrap() {
            assert!(v.is_string() || v.is_array() || v.is_object(), "{k}: {v}");
        }
    }
    assert_eq!(
        export["aliases"],
        json!([{"aliasName": "CF:scalar-alias", "srcPVName": "CF:scalar"},
               {"aliasName": "CF:wave-alias", "srcPVName": "CF:wave"}])
    );
    let (_, also) = a
        .get_json("/mgmt/bpl/exportConfigForAppliance?appliance=appliance0")
        .await;
    assert_eq!(also, export);

    let dir_b = tempfile::tempdir().unwrap();
    let b = TestServer::start(dir_b.path()).await;
    let (s, v) = b.post_json("/mgmt/bpl/importConfig", &export).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"status": "ok", "pvTypeInfos": "3", "aliases": "2"}));
    let (_, export_b) = b.get_json("/mgmt/bpl/exportConfig").await;
    assert_eq!(by_name(&export_b), by_name(&export));
    assert_eq!(export_b["aliases"], export["aliases"]);

    // The imported appliance answers like the original.
    for pv in [
        "CF:scalar",
        "CF:wave-alias",
        "UnitTestNoNamingConvention:inactive1",
    ] {
        let (sa, va) = a.get_json(&format!("/mgmt/bpl/getPVTypeInfo?pv={pv}")).await;
        let (sb, vb) = b.get_json(&format!("/mgmt/bpl/getPVTypeInfo?pv={pv}")).await;
        assert_eq!((sa, va), (sb, vb), "{pv}");
        let (_, sa) = a.get_json(&format!("/mgmt/bpl/getPVStatus?pv={pv}")).await;
        let (_, sb) = b.get_json(&format!("/mgmt/bpl/getPVStatus?pv={pv}")).await;
        assert_eq!(sa, sb, "{pv}");
    }
    let (_, st) = b.get_json("/mgmt/bpl/getPVStatus?pv=CF:wave").await;
    assert_eq!(st[0]["status"], "Paused");
    let (_, st) = b.get_json("/mgmt/bpl/getPVStatus?pv=CF:scalar").await;
    assert_eq!(st[0]["status"], "Appliance assigned");

    // Imported records survive a restart of the appliance.
    let index_dir = b.cfg.storage.index_dir.clone();
    b.stop().await;
    // The last connection tasks of the stopped server may still hold the
    // database for a moment.
    for _ in 0..100 {
        if strata::index::SledKv::open(&index_dir).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let b2 = TestServer::start(dir_b.path()).await;
    let (_, export_b2) = b2.get_json("/mgmt/bpl/exportConfig").await;
    assert_eq!(by_name(&export_b2), by_name(&export));
    assert_eq!(export_b2["aliases"], export["aliases"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_takes_a_bare_array_and_this_appliances_identity() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), |c| c.server.identity = "appliance9".into()).await;
    let body = json!([{"pvName": "CF:x", "DBRType": "DBR_SCALAR_INT", "applianceIdentity": "elsewhere",
                       "paused": "true"}]);
    let (s, v) = srv.post_json("/mgmt/bpl/importConfigForAppliance", &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["pvTypeInfos"], "1");
    let (_, t) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=CF:x").await;
    assert_eq!(
        (&t["applianceIdentity"], &t["paused"]),
        (&json!("appliance9"), &json!("true"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_imports_are_400_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let ok = json!({"pvName": "CF:ok", "DBRType": "DBR_SCALAR_DOUBLE"});
    let cases = [
        "{\"pvTypeInfos\": [".to_string(),
        "\"just a string\"".to_string(),
        json!([ok, {"pvName": "CF:bad", "DBRType": "DBR_NOPE"}]).to_string(),
        json!([ok, {"DBRType": "DBR_SCALAR_DOUBLE"}]).to_string(),
        json!([ok, {"pvName": "bad name", "DBRType": "DBR_SCALAR_DOUBLE"}]).to_string(),
        json!({"pvTypeInfos": [ok], "aliases": [{"aliasName": "CF:a"}]}).to_string(),
        json!({"pvTypeInfos": [ok], "aliases": [{"aliasName": "CF:a", "srcPVName": "CF:ghost"}]}).to_string(),
        json!({"pvTypeInfos": [ok], "aliases": [{"aliasName": "CF:ok", "srcPVName": "CF:ok"}]}).to_string(),
    ];
    for body in &cases {
        let (s, v) = post(&srv, "/mgmt/bpl/importConfig", body).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["status"], 400);
    }
    let (_, export) = srv.get_json("/mgmt/bpl/exportConfig").await;
    assert_eq!(export, json!({"pvTypeInfos": [], "aliases": []}));
}
