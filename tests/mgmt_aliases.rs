//! Aliases over HTTP: addAlias, removeAlias, getAllAliases, their 400s, and
//! aliases honoured by getData, getPVStatus, getPVTypeInfo and listings.

mod common;

use common::server::TestServer;
use serde_json::{json, Value};
use strata::registry::PvTypeInfo;
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

const T0: i64 = 1_710_495_000;
const RANGE: &str = "from=2024-03-15T09:00:00Z&to=2024-03-15T10:00:00Z";

async fn setup(srv: &TestServer) {
    for pv in ["AL:real", "AL:other"] {
        let mut t = PvTypeInfo::new(pv, ArchDbType::ScalarDouble, 1);
        t.units = Some("mA".into());
        srv.registry.put(&t).unwrap();
    }
    for i in 0..4 {
        let s = ArchiverSample::at(T0 + i * 60, 0, SampleValue::Double(10.0 + i as f64));
        srv.store
            .append_event("AL:real", ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_remove_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    setup(&srv).await;
    let (s, v) = srv
        .get_json("/mgmt/bpl/addAlias?pv=AL:real&aliasname=AL:nick")
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"status": "ok", "desc": "Added an alias AL:nick for PV AL:real"})
    );
    // Adding the same alias again is harmless; an alias of an alias names the real PV.
    let (s, _) = srv
        .get_json("/mgmt/bpl/addAlias?pv=AL:real&aliasname=AL:nick")
        .await;
    assert_eq!(s, 200);
    let (s, v) = srv
        .get_json("/mgmt/bpl/addAlias?pv=AL:nick&aliasname=AL:nick2")
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["desc"], "Added an alias AL:nick2 for PV AL:real");
    let (_, v) = srv.get_json("/mgmt/bpl/getAllAliases").await;
    assert_eq!(
        v,
        json!([{"aliasName": "AL:nick", "srcPVName": "AL:real"},
               {"aliasName": "AL:nick2", "srcPVName": "AL:real"}])
    );

    // Issue 11: 400 names the parameter, 404 the unknown PV, 409 a clash.
    for (q, status, named) in [
        ("pv=AL:real", 400, "aliasname"),
        ("aliasname=AL:x", 400, "pv"),
        ("pv=AL:unknown&aliasname=AL:x", 404, "AL:unknown"),
        ("pv=AL:real&aliasname=AL:other", 409, "AL:other"),
        ("pv=AL:other&aliasname=AL:nick", 409, "AL:nick"),
        ("pv=AL:real&aliasname=bad%20alias", 400, "aliasname"),
        ("pv=AL:real&aliasname=AL:real", 400, "aliasname"),
    ] {
        let (s, v) = srv.get_json(&format!("/mgmt/bpl/addAlias?{q}")).await;
        assert_eq!(s, status, "{q}: {v}");
        let msg = v["message"].as_str().unwrap();
        if status == 400 {
            assert_eq!(v["parameter"], named, "{q}: {v}");
        } else {
            assert!(msg.contains(named), "{q}: {v}");
        }
    }
    assert_eq!(srv.registry.alias_target("AL:nick").as_deref(), Some("AL:real"));

    let (s, v) = srv
        .get_json("/mgmt/bpl/removeAlias?pv=AL:other&aliasname=AL:nick")
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = srv.get_json("/mgmt/bpl/removeAlias?pv=AL:real").await;
    assert_eq!(s, 400);
    let (s, v) = srv
        .get_json("/mgmt/bpl/removeAlias?pv=AL:real&aliasname=AL:nick2")
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"status": "ok", "desc": "Removed an alias AL:nick2 for PV AL:real"})
    );
    let (s, _) = srv
        .get_json("/mgmt/bpl/removeAlias?pv=AL:real&aliasname=AL:nick2")
        .await;
    assert_eq!(s, 400);
    let (_, v) = srv.get_json("/mgmt/bpl/getAllAliases").await;
    assert_eq!(v, json!([{"aliasName": "AL:nick", "srcPVName": "AL:real"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_data_through_an_alias_returns_the_real_pvs_samples_under_the_alias() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    setup(&srv).await;
    let (s, _) = srv.get_data_status("AL:nick").await;
    assert_eq!(s, 404, "no alias yet");
    srv.get_json("/mgmt/bpl/addAlias?pv=AL:real&aliasname=AL:nick")
        .await;

    let (s, v) = srv
        .get_json(&format!("/retrieval/data/getData.json?pv=AL:nick&{RANGE}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["meta"]["name"], "AL:nick");
    assert_eq!(v[0]["meta"]["EGU"], "mA");
    let vals: Vec<f64> = v[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["val"].as_f64().unwrap())
        .collect();
    assert_eq!(vals, vec![10.0, 11.0, 12.0, 13.0]);
    let secs: Vec<i64> = v[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["secs"].as_i64().unwrap())
        .collect();
    assert_eq!(secs, vec![T0, T0 + 60, T0 + 120, T0 + 180]);
    let (_, real) = srv
        .get_json(&format!("/retrieval/data/getData.json?pv=AL:real&{RANGE}"))
        .await;
    assert_eq!(real[0]["data"], v[0]["data"]);
    assert_eq!(real[0]["meta"]["name"], "AL:real");

    // Other lookups resolve it too.
    let (_, st) = srv.get_json("/mgmt/bpl/getPVStatus?pv=AL:nick").await;
    assert_eq!(
        (&st[0]["pvName"], &st[0]["pvNameOnly"]),
        (&json!("AL:nick"), &json!("AL:real"))
    );
    let (s, ti) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=AL:nick").await;
    assert_eq!((s, &ti["pvName"]), (200, &json!("AL:real")));
    let (_, stores) = srv.get_json("/mgmt/bpl/getStoresForPV?pv=AL:nick").await;
    assert!(stores.get("STS").is_some());
    let (_, all) = srv.get_json("/mgmt/bpl/getAllPVs?pv=AL:*").await;
    assert_eq!(all, json!(["AL:other", "AL:real", "AL:nick"]));
    let (_, v) = srv.get_json("/mgmt/bpl/archivePV?pv=AL:nick").await;
    assert_eq!(v[0]["status"], "Already submitted");

    // Removing the alias stops the resolution; deleting the PV drops its aliases.
    srv.get_json("/mgmt/bpl/removeAlias?pv=AL:real&aliasname=AL:nick")
        .await;
    assert_eq!(srv.get_data_status("AL:nick").await.0, 404);
    srv.get_json("/mgmt/bpl/addAlias?pv=AL:real&aliasname=AL:nick")
        .await;
    srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=AL:real").await;
    let (s, v) = srv.get_json("/mgmt/bpl/deletePV?pv=AL:nick").await;
    assert_eq!((s, &v["status"]), (200, &json!("ok")), "{v}");
    let (_, v) = srv.get_json("/mgmt/bpl/getAllAliases").await;
    assert_eq!(v, json!([]));
}

trait DataStatus {
    async fn get_data_status(&self, pv: &str) -> (u16, Value);
}

impl DataStatus for TestServer {
    async fn get_data_status(&self, pv: &str) -> (u16, Value) {
        self.get_json(&format!("/retrieval/data/getData.json?pv={pv}&{RANGE}"))
            .await
    }
}
