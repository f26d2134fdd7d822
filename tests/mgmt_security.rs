//! `security.api_key`: every mutating management action needs
//! `Authorization: Bearer <key>` or `X-API-Key: <key>` (401 otherwise, with
//! nothing changed); lookups, reports, retrieval and /metrics stay open; no
//! key configured means no check.

mod common;

use common::server::TestServer;
use serde_json::{json, Value};

const KEY: &str = "s3cret-key";

/// Every mutating action with a request that would succeed or fail with a
/// 200/400 once authorized.
const MUTATING: &[(&str, &str)] = &[
    ("GET", "archivePV?pv=SEC:new"),
    ("GET", "pauseArchivingPV?pv=SEC:pv"),
    ("GET", "resumeArchivingPV?pv=SEC:pv"),
    ("GET", "deletePV?pv=SEC:pv"),
    ("GET", "abortArchivingPV?pv=SEC:new"),
    ("GET", "renamePV?pv=SEC:pv&newname=SEC:renamed"),
    ("GET", "changeArchivalParameters?pv=SEC:pv&samplingperiod=2"),
    ("GET", "modifyMetaFields?pv=SEC:pv&command=add,HIHI"),
    ("POST", "putPVTypeInfo?pv=SEC:pv&override=true"),
    ("GET", "addAlias?pv=SEC:pv&aliasname=SEC:alias"),
    ("GET", "removeAlias?pv=SEC:pv&aliasname=SEC:alias"),
    ("POST", "importConfig"),
    ("POST", "importConfigForAppliance"),
    ("GET", "applyPolicy?pv=SEC:pv&policy=Slow"),
    ("GET", "reconcile?pv=SEC:pv"),
];

async fn call(srv: &TestServer, method: &str, action: &str, auth: Option<(&str, String)>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = srv.url(&format!("/mgmt/bpl/{action}"));
    let mut req = if method == "POST" {
        let body = if action.starts_with("putPVTypeInfo") {
            json!({"pvName": "SEC:pv", "DBRType": "DBR_SCALAR_DOUBLE", "samplingPeriod": "9.0"})
        } else {
            json!([])
        };
        client.post(url).json(&body)
    } else {
        client.get(url)
    };
    if let Some((h, v)) = auth {
        req = req.header(h, v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{action}: {e}: {text}")),
    )
}

async fn secured() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), |c| c.security.api_key = Some(KEY.into())).await;
    let mut t = strata::registry::PvTypeInfo::new("SEC:pv", strata::types::ArchDbType::ScalarDouble, 1);
    t.paused = true;
    srv.registry.put(&t).unwrap();
    (dir, srv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_actions_need_the_key() {
    let (_dir, srv) = secured().await;
    let before = srv.get_json("/mgmt/bpl/exportConfig").await.1;
    for (method, action) in MUTATING {
        for auth in [
            None,
            Some(("authorization", format!("Bearer {KEY}x"))),
            Some(("authorization", KEY.to_string())),
            Some(("x-api-key", "wrong".to_string())),
        ] {
            let (s, v) = call(&srv, method, action, auth.clone()).await;
            assert_eq!(s, 401, "{method} {action} with {auth:?}: {v}");
            assert_eq!((&v["status"], &v["error"]), (&json!(401), &json!("Unauthorized")));
        }
    }
    assert_eq!(
        srv.get_json("/mgmt/bpl/exportConfig").await.1,
        before,
        "nothing changed"
    );
    assert!(srv.registry.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_or_x_api_key_authorize() {
    let (_dir, srv) = secured().await;
    for (i, (method, action)) in MUTATING.iter().enumerate() {
        let auth = if i % 2 == 0 {
            ("authorization", format!("Bearer {KEY}"))
        } else {
            ("x-api-key", KEY.to_string())
        };
        let (s, v) = call(&srv, method, action, Some(auth)).await;
        assert!(s == 200 || s == 400, "{method} {action}: {s} {v}");
    }
    let (s, v) = call(
        &srv,
        "GET",
        "archivePV?pv=SEC:other",
        Some(("authorization", format!("bearer {KEY}"))),
    )
    .await;
    assert_eq!(s, 200, "the scheme is case-insensitive: {v}");
    assert!(srv.registry.request("SEC:new").is_none(), "aborted above");
    assert!(srv.registry.request("SEC:other").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_reports_and_metrics_stay_open() {
    let (_dir, srv) = secured().await;
    for path in [
        "/mgmt/bpl/getAllPVs",
        "/mgmt/bpl/getPVStatus?pv=SEC:pv",
        "/mgmt/bpl/getPVTypeInfo?pv=SEC:pv",
        "/mgmt/bpl/getApplianceInfo",
        "/mgmt/bpl/getPausedPVsReport",
        "/mgmt/bpl/exportConfig",
        "/mgmt/bpl/getPolicyList",
    ] {
        let (s, _) = srv.get_json(path).await;
        assert_eq!(s, 200, "{path}");
    }
    let (s, _) = srv.post_json("/mgmt/bpl/archivedPVs", &json!(["SEC:pv"])).await;
    assert_eq!(s, 200);
    assert_eq!(srv.get("/metrics").await.status(), 200);
    assert_eq!(srv.get("/retrieval/ping").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_configured_means_no_check() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, _) = srv.get_json("/mgmt/bpl/archivePV?pv=SEC:open").await;
    assert_eq!(s, 200);
}
