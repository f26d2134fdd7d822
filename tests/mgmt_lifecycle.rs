//! PV life cycle over HTTP: archivePV (GET, POST forms), pause, resume,
//! deletePV, abortArchivingPV, renamePV, changeArchivalParameters,
//! modifyMetaFields and applyPolicy, with their refusals and 400s.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::server::TestServer;
use serde_json::{json, Value};
use strata::engine::{ArchiveEngine, ChannelStatus, EngineMetrics};
use strata::registry::{ArchiveRequest, PvTypeInfo};
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

const T0: i64 = 1_710_495_000;
const RANGE: &str = "from=2024-03-15T09:00:00Z&to=2024-03-15T10:00:00Z";

async fn post(srv: &TestServer, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(srv.url(path))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
    (status, v)
}

/// A PV created through putPVTypeInfo (createnew: registered paused).
async fn create(srv: &TestServer, pv: &str) -> Value {
    let body = json!({"pvName": pv, "DBRType": "DBR_SCALAR_DOUBLE", "samplingPeriod": "1.0"});
    let (s, v) = srv
        .post_json(&format!("/mgmt/bpl/putPVTypeInfo?pv={pv}&createnew=true"), &body)
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn create_running(srv: &TestServer, pv: &str) {
    create(srv, pv).await;
    let (s, v) = srv
        .get_json(&format!("/mgmt/bpl/resumeArchivingPV?pv={pv}"))
        .await;
    assert_eq!((s, &v["status"]), (200, &json!("ok")), "{v}");
}

async fn seed(srv: &TestServer, pv: &str, n: i64) {
    for i in 0..n {
        let s = ArchiverSample::at(T0 + i * 10, 0, SampleValue::Double(i as f64));
        srv.store
            .append_event(pv, ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
}

/// `(name, values)` of getData.json.
async fn data(srv: &TestServer, pv: &str) -> (u16, Option<(String, Vec<f64>)>) {
    let r = srv
        .get(&format!("/retrieval/data/getData.json?pv={pv}&{RANGE}"))
        .await;
    let status = r.status().as_u16();
    if status != 200 {
        return (status, None);
    }
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let name = v[0]["meta"]["name"].as_str().unwrap().to_string();
    let vals = v[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["val"].as_f64().unwrap())
        .collect();
    (status, Some((name, vals)))
}

async fn status_of(srv: &TestServer, pv: &str) -> Value {
    let (s, v) = srv.get_json(&format!("/mgmt/bpl/getPVStatus?pv={pv}")).await;
    assert_eq!(s, 200);
    v[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_pv_get_forms_strip_val_and_record_pva() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, v) = srv.get_json("/mgmt/bpl/archivePV?pv=LC:one.VAL").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!([{"pvName": "LC:one", "status": "Archive request submitted"}])
    );
    let (_, v) = srv.get_json("/mgmt/bpl/archivePV?pv=LC:one").await;
    assert_eq!(v, json!([{"pvName": "LC:one", "status": "Already submitted"}]));

    let (s, v) = srv
        .get_json("/mgmt/bpl/archivePV?pv=LC:two,pva://LC:three&samplingperiod=2.5&samplingmethod=scan")
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!([{"pvName": "LC:two", "status": "Archive request submitted"},
               {"pvName": "LC:three", "status": "Archive request submitted"}])
    );
    let two = srv.registry.request("LC:two").unwrap();
    assert_eq!(two.sampling_period, Some(2.5));
    assert_eq!(two.sampling_method.as_deref(), Some("SCAN"));
    assert!(!two.use_pva);
    assert!(srv.registry.request("LC:three").unwrap().use_pva);
    assert!(srv
        .registry
        .request("LC:one")
        .is_some_and(|r| r.sampling_period.is_none()));

    // NullEngine: the requests wait in the workflow.
    assert_eq!(
        status_of(&srv, "LC:one").await,
        json!({"pvName": "LC:one", "status": "Initial sampling"})
    );
    let (_, never) = srv.get_json("/mgmt/bpl/getNeverConnectedPVs").await;
    let names: HashSet<&str> = never
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pvName"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["LC:one", "LC:two", "LC:three"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_pv_post_bodies_carry_per_pv_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let body = json!([
        {"pv": "LC:a", "samplingperiod": "0.5", "samplingmethod": "SCAN", "policy": "Slow"},
        {"pv": "LC:b.VAL", "samplingperiod": 3},
        {"pv": "pva://LC:c"}
    ]);
    let (s, v) = srv
        .post_json("/mgmt/bpl/archivePV?samplingmethod=MONITOR", &body)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(
        v[1],
        json!({"pvName": "LC:b", "status": "Archive request submitted"})
    );
    let a = srv.registry.request("LC:a").unwrap();
    assert_eq!(
        (
            a.sampling_period,
            a.sampling_method.as_deref(),
            a.policy.as_deref()
        ),
        (Some(0.5), Some("SCAN"), Some("Slow"))
    );
    let b = srv.registry.request("LC:b").unwrap();
    assert_eq!(
        (b.sampling_period, b.sampling_method.as_deref()),
        (Some(3.0), Some("MONITOR"))
    );
    assert!(srv.registry.request("LC:c").unwrap().use_pva);

    let (s, v) = post(&srv, "/mgmt/bpl/archivePV", "text/plain", "LC:d\n\nLC:e\n").await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let (s, v) = post(
        &srv,
        "/mgmt/bpl/archivePV",
        "application/x-www-form-urlencoded",
        "pv=LC:f,LC:g",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v[1]["pvName"], "LC:g");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_pv_rejects_bad_input_without_partial_submission() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    for q in [
        "/mgmt/bpl/archivePV",
        "/mgmt/bpl/archivePV?pv=",
        "/mgmt/bpl/archivePV?pv=LC:x&samplingperiod=abc",
        "/mgmt/bpl/archivePV?pv=LC:x&samplingperiod=0.01",
        "/mgmt/bpl/archivePV?pv=LC:x&samplingmethod=SOMETIMES",
        "/mgmt/bpl/archivePV?pv=LC:x&policy=NoSuchPolicy",
        "/mgmt/bpl/archivePV?pv=LC%20x",
    ] {
        let (s, v) = srv.get_json(q).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert_eq!(v["status"], 400);
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    assert!(srv.registry.request("LC:x").is_none());
    // A bad entry anywhere in the list submits nothing.
    let body = json!([{"pv": "LC:ok1"}, {"pv": "LC:bad", "samplingperiod": "fast"}]);
    let (s, _) = srv.post_json("/mgmt/bpl/archivePV", &body).await;
    assert_eq!(s, 400);
    let (s, _) = srv.get_json("/mgmt/bpl/archivePV?pv=LC:ok2,bad%20name").await;
    assert_eq!(s, 400);
    assert!(srv.registry.requests().is_empty());
    let (s, v) = post(&srv, "/mgmt/bpl/archivePV", "application/json", "[{\"pv\": ").await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = post(
        &srv,
        "/mgmt/bpl/archivePV",
        "application/json",
        "{\"pv\": \"LC:y\"}",
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &srv,
        "/mgmt/bpl/archivePV",
        "application/json",
        "[{\"samplingperiod\": 1}]",
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_pv_field_of_an_archived_pv_extends_its_stream_fields() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    create(&srv, "LC:base").await;
    let (s, v) = srv.get_json("/mgmt/bpl/archivePV?pv=LC:base.HIHI").await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["pvName"], "LC:base.HIHI");
    assert!(srv.registry.request("LC:base.HIHI").is_none());
    let info = srv.registry.get("LC:base").unwrap().unwrap();
    assert_eq!(info.archive_fields, vec!["HIHI".to_string()]);
    let (_, v) = srv.get_json("/mgmt/bpl/archivePV?pv=LC:base").await;
    assert_eq!(v[0]["status"], "Already submitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_report_per_pv_and_resolve_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let created = create(&srv, "LC:p1").await;
    assert_eq!(created["paused"], "true");
    assert_eq!(created["applianceIdentity"], "appliance0");
    assert_eq!(
        status_of(&srv, "LC:p1").await,
        json!({"pvName": "LC:p1", "pvNameOnly": "LC:p1", "appliance": "appliance0", "status": "Paused"})
    );
    let (s, v) = srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=LC:p1").await;
    assert_eq!((s, v), (200, json!({"pvName": "LC:p1", "status": "ok"})));
    // No engine channel: the record is assigned but not reported by an engine.
    assert_eq!(status_of(&srv, "LC:p1").await["status"], "Appliance assigned");
    let (_, v) = srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=LC:p1").await;
    assert_eq!(
        v,
        json!({"pvName": "LC:p1", "validation": "PV LC:p1 is not paused"})
    );

    srv.get_json("/mgmt/bpl/addAlias?pv=LC:p1&aliasname=LC:p1alias")
        .await;
    let (_, v) = srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=LC:p1alias").await;
    assert_eq!(v, json!({"pvName": "LC:p1", "status": "ok"}));
    assert!(srv.registry.get("LC:p1").unwrap().unwrap().paused);
    let (_, v) = srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=LC:p1").await;
    assert_eq!(
        v,
        json!({"pvName": "LC:p1", "validation": "PV LC:p1 is already paused"})
    );

    create(&srv, "LC:p2").await;
    let (s, v) = srv
        .get_json("/mgmt/bpl/resumeArchivingPV?pv=LC:p1,LC:p2,LC:nope")
        .await;
    assert_eq!(s, 200);
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0], json!({"pvName": "LC:p1", "status": "ok"}));
    assert_eq!(arr[1], json!({"pvName": "LC:p2", "status": "ok"}));
    assert_eq!(arr[2]["pvName"], "LC:nope");
    assert!(arr[2]["validation"].is_string());
    // POST bodies: JSON array and text lines.
    let (s, v) = srv
        .post_json("/mgmt/bpl/pauseArchivingPV", &json!(["LC:p1", "LC:p2"]))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!([{"pvName": "LC:p1", "status": "ok"}, {"pvName": "LC:p2", "status": "ok"}])
    );
    let (_, v) = post(&srv, "/mgmt/bpl/resumeArchivingPV", "text/plain", "LC:p2\n").await;
    assert_eq!(v, json!({"pvName": "LC:p2", "status": "ok"}));
    let (s, _) = srv.get_json("/mgmt/bpl/pauseArchivingPV").await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &srv,
        "/mgmt/bpl/pauseArchivingPV",
        "application/json",
        "[\"LC:p1\"",
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_pv_refuses_running_pvs_and_deletes_data_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    create_running(&srv, "LC:d1").await;
    seed(&srv, "LC:d1", 5).await;
    let (s, v) = srv.get_json("/mgmt/bpl/deletePV?pv=LC:d1").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"validation": "We will not stop archiving PV LC:d1 if it is not paused. Please pause recording first."})
    );
    assert!(srv.registry.contains("LC:d1"));
    let (s, v) = srv.get_json("/mgmt/bpl/deletePV?pv=LC:unknown").await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["status"], 404);
    assert!(v["message"].as_str().unwrap().contains("LC:unknown"), "{v}");
    let (s, _) = srv.get_json("/mgmt/bpl/deletePV").await;
    assert_eq!(s, 400);

    // Without deleteData the samples stay on disk.
    srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=LC:d1").await;
    let (s, v) = srv.get_json("/mgmt/bpl/deletePV?pv=LC:d1").await;
    assert_eq!((s, v), (200, json!({"validation": "", "status": "ok"})));
    assert!(!srv.registry.contains("LC:d1"));
    assert_eq!(status_of(&srv, "LC:d1").await["status"], "Not being archived");
    assert!(srv.store.has_data("LC:d1").unwrap());

    // With deleteData=true the files go too.
    create(&srv, "LC:d2").await;
    seed(&srv, "LC:d2", 5).await;
    assert!(srv.store.has_data("LC:d2").unwrap());
    let (s, v) = srv.get_json("/mgmt/bpl/deletePV?pv=LC:d2&deleteData=true").await;
    assert_eq!((s, &v["status"]), (200, &json!("ok")), "{v}");
    assert!(!srv.store.has_data("LC:d2").unwrap());
    let (s, _) = data(&srv, "LC:d2").await;
    assert_eq!(s, 404);

    // Several: one result per PV, unknown ones reported, not failing the rest.
    create(&srv, "LC:d3").await;
    create_running(&srv, "LC:d4").await;
    let (s, v) = srv.get_json("/mgmt/bpl/deletePV?pv=LC:d3,LC:d4,LC:d5").await;
    assert_eq!(s, 200, "{v}");
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["status"], "ok");
    assert!(arr[1]["validation"].as_str().unwrap().contains("not paused"));
    assert!(arr[2]["validation"].as_str().unwrap().contains("LC:d5"));
    assert!(!srv.registry.contains("LC:d3"));
    assert!(srv.registry.contains("LC:d4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_archiving_pv_drops_pending_requests_only() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    srv.get_json("/mgmt/bpl/archivePV?pv=LC:never").await;
    let (s, v) = srv.get_json("/mgmt/bpl/abortArchivingPV?pv=LC:never.VAL").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"status": "ok", "desc": "Aborted request for archiving PV LC:never"})
    );
    assert_eq!(status_of(&srv, "LC:never").await["status"], "Not being archived");
    let (_, v) = srv.get_json("/mgmt/bpl/abortArchivingPV?pv=LC:never").await;
    assert_eq!(v["status"], "no");
    assert!(v["desc"].is_string());
    let (s, _) = srv.get_json("/mgmt/bpl/abortArchivingPV").await;
    assert_eq!(s, 400);
    // An archived PV is not in the workflow: nothing to abort, record kept.
    create(&srv, "LC:kept").await;
    let (_, v) = srv.get_json("/mgmt/bpl/abortArchivingPV?pv=LC:kept").await;
    assert_eq!(v["status"], "no");
    assert!(srv.registry.contains("LC:kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_pv_moves_data_and_record_and_refuses_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    create(&srv, "LC:old").await;
    seed(&srv, "LC:old", 6).await;
    srv.get_json("/mgmt/bpl/addAlias?pv=LC:old&aliasname=LC:nick")
        .await;
    create(&srv, "LC:taken").await;

    // Issue 11: a taken target is a conflict (409).
    let (s, v) = srv
        .get_json("/mgmt/bpl/renamePV?pv=LC:old&newname=LC:taken")
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(v["message"].as_str().unwrap().contains("LC:taken"), "{v}");
    let (s, v) = srv.get_json("/mgmt/bpl/renamePV?pv=LC:old&newname=LC:nick").await;
    assert_eq!(s, 409, "an alias name is taken too: {v}");
    let (s, _) = srv.get_json("/mgmt/bpl/renamePV?pv=LC:old").await;
    assert_eq!(s, 400);
    let (s, _) = srv.get_json("/mgmt/bpl/renamePV?pv=LC:ghost&newname=LC:x").await;
    assert_eq!(s, 404);
    let (s, _) = srv
        .get_json("/mgmt/bpl/renamePV?pv=LC:old&newname=bad%20name")
        .await;
    assert_eq!(s, 400);

    // Running PVs must be paused first.
    srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=LC:old").await;
    let (_, v) = srv.get_json("/mgmt/bpl/renamePV?pv=LC:old&newname=LC:new").await;
    assert!(v["validation"].as_str().unwrap().contains("paused"), "{v}");
    srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=LC:old").await;

    let (s, v) = srv.get_json("/mgmt/bpl/renamePV?pv=LC:old&newname=LC:new").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"status": "ok", "desc": "Successfully renamed PV LC:old to LC:new"})
    );
    let (s, _) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=LC:old").await;
    assert_eq!(s, 404);
    assert_eq!(data(&srv, "LC:old").await.0, 404);
    let (s, info) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=LC:new").await;
    assert_eq!(s, 200);
    assert_eq!(
        (&info["pvName"], &info["paused"]),
        (&json!("LC:new"), &json!("true"))
    );
    let (s, got) = data(&srv, "LC:new").await;
    assert_eq!(s, 200);
    assert_eq!(
        got.unwrap(),
        ("LC:new".to_string(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    );
    // Aliases follow the PV.
    let (_, aliases) = srv.get_json("/mgmt/bpl/getAllAliases").await;
    assert_eq!(aliases, json!([{"aliasName": "LC:nick", "srcPVName": "LC:new"}]));
    assert_eq!(data(&srv, "LC:nick").await.1.unwrap().1.len(), 6);
    assert_eq!(status_of(&srv, "LC:old").await["status"], "Not being archived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_archival_parameters_and_meta_fields() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    create(&srv, "LC:c").await;
    let (s, v) = srv
        .get_json("/mgmt/bpl/changeArchivalParameters?pv=LC:c&samplingperiod=5&samplingmethod=SCAN")
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "ok");
    let (_, info) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=LC:c").await;
    assert_eq!(
        (&info["samplingPeriod"], &info["samplingMethod"]),
        (&json!("5.0"), &json!("SCAN"))
    );
    for (q, want) in [
        ("pv=LC:c", 400),
        ("samplingperiod=2", 400),
        ("pv=LC:c&samplingperiod=x", 400),
        ("pv=LC:c&samplingperiod=0.001", 400),
        ("pv=LC:c&samplingperiod=2&samplingmethod=OFTEN", 400),
        ("pv=LC:missing&samplingperiod=2", 404),
    ] {
        let (s, v) = srv
            .get_json(&format!("/mgmt/bpl/changeArchivalParameters?{q}"))
            .await;
        assert_eq!(s, want, "{q}: {v}");
    }
    let (_, info) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=LC:c").await;
    assert_eq!(info["samplingPeriod"], "5.0");

    // modifyMetaFields: paused only; add, remove, clear (repeatable command).
    let (s, v) = srv
        .get_json(
            "/mgmt/bpl/modifyMetaFields?pv=LC:c&command=add,HIHI,LOLO&command=add,DESC&command=remove,LOLO",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["archiveFields"], json!(["HIHI", "DESC"]));
    assert_eq!(
        srv.registry.get("LC:c").unwrap().unwrap().archive_fields,
        vec!["HIHI", "DESC"]
    );
    let (_, v) = srv
        .get_json("/mgmt/bpl/modifyMetaFields?pv=LC:c&command=clear")
        .await;
    assert_eq!(v["archiveFields"], json!([]));
    let (s, _) = srv
        .get_json("/mgmt/bpl/modifyMetaFields?pv=LC:c&command=zap")
        .await;
    assert_eq!(s, 400);
    let (s, _) = srv.get_json("/mgmt/bpl/modifyMetaFields?pv=LC:c").await;
    assert_eq!(s, 400);
    let (s, _) = srv
        .get_json("/mgmt/bpl/modifyMetaFields?pv=LC:zz&command=clear")
        .await;
    assert_eq!(s, 404);
    srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=LC:c").await;
    let (s, v) = srv
        .get_json("/mgmt/bpl/modifyMetaFields?pv=LC:c&command=add,HIGH")
        .await;
    assert_eq!(s, 200);
    assert!(v["validation"].as_str().unwrap().contains("paused"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_policy_rewrites_sampling_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    create(&srv, "LC:ap1").await;
    create(&srv, "LC:ap2").await;
    let (s, v) = srv.get_json("/mgmt/bpl/applyPolicy?pv=LC:ap*&policy=Slow").await;
    assert_eq!(s, 200, "{v}");
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["pvName"], "LC:ap1");
    assert_eq!(arr[0]["policyName"], "Slow");
    assert!(arr[0]["samplingPeriod"].is_string());
    let info = srv.registry.get("LC:ap2").unwrap().unwrap();
    assert_eq!(info.policy_name.as_deref(), Some("Slow"));
    assert!(!info.data_stores.is_empty());
    let (_, v) = srv.get_json("/mgmt/bpl/applyPolicy?pv=LC:none").await;
    assert!(v[0]["validation"].is_string());
    let (s, _) = srv.get_json("/mgmt/bpl/applyPolicy?pv=LC:ap1&policy=Bogus").await;
    assert_eq!(s, 400);
}

/// Channels exist for started PVs: a running PV reports "Being archived".
#[derive(Default)]
struct StartStopEngine {
    channels: Mutex<BTreeMap<String, ChannelStatus>>,
}

#[async_trait]
impl ArchiveEngine for StartStopEngine {
    async fn start(&self, info: &PvTypeInfo) -> anyhow::Result<()> {
        let ch = ChannelStatus {
            connected: true,
            first_connected: T0,
            ..Default::default()
        };
        self.channels.lock().unwrap().insert(info.pv_name.clone(), ch);
        Ok(())
    }
    async fn stop(&self, pv: &str) -> anyhow::Result<()> {
        self.channels.lock().unwrap().remove(pv);
        Ok(())
    }
    async fn request(&self, _req: &ArchiveRequest) -> anyhow::Result<()> {
        Ok(())
    }
    async fn abort(&self, _pv: &str) -> anyhow::Result<()> {
        Ok(())
    }
    fn status(&self, pv: &str) -> Option<ChannelStatus> {
        self.channels.lock().unwrap().get(pv).cloned()
    }
    fn metadata(&self, _pv: &str) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    fn metrics(&self) -> EngineMetrics {
        EngineMetrics::default()
    }
    fn running(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_starts_and_pause_stops_the_engine_channel() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(StartStopEngine::default());
    let srv = TestServer::start_with_engine(dir.path(), |_| {}, engine.clone()).await;
    create_running(&srv, "LC:run").await;
    assert!(engine.status("LC:run").is_some());
    assert_eq!(status_of(&srv, "LC:run").await["status"], "Being archived");
    srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=LC:run").await;
    assert!(engine.status("LC:run").is_none());
    assert_eq!(status_of(&srv, "LC:run").await["status"], "Paused");
    // Changing parameters of a running PV restarts its channel.
    srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=LC:run").await;
    let (s, _) = srv
        .get_json("/mgmt/bpl/changeArchivalParameters?pv=LC:run&samplingperiod=2")
        .await;
    assert_eq!(s, 200);
    assert!(engine.status("LC:run").is_some());
    let (_, st) = srv.get_json("/mgmt/bpl/getPVStatus?pv=LC:run").await;
    assert_eq!(st[0]["samplingPeriod"], "2.0");
}
