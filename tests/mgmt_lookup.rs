//! Lookups over HTTP: getAllPVs / getMatchingPVs (globs, full-match regex,
//! limit), getPVStatus, getPVTypeInfo, putPVTypeInfo, getStoresForPV,
//! getTypeInfoKeys, archivedPVs / unarchivedPVs / archivedPVsNotInList and
//! getPVDetails: Java field names, string-typed values and the 400/404s.

mod common;

use common::server::TestServer;
use serde_json::{json, Value};
use strata::registry::PvTypeInfo;
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

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

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// `LK:0` … `LK:{n-1}` registered (not paused), `LK:0` paused.
fn populate(srv: &TestServer, n: usize) {
    let mut items: Vec<PvTypeInfo> = (0..n)
        .map(|i| PvTypeInfo::new(&format!("LK:{i}"), ArchDbType::ScalarDouble, 1))
        .collect();
    items[0].paused = true;
    srv.registry.put_many(&items).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_pvs_globs_regex_limit_and_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    populate(&srv, 600);
    srv.registry.add_alias("LK:alias1", "LK:1").unwrap();

    let (s, v) = srv.get_json("/mgmt/bpl/getAllPVs").await;
    assert_eq!(s, 200);
    assert_eq!(names(&v).len(), 500, "default limit is 500");
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?limit=-1").await;
    let all = names(&v);
    assert_eq!(all.len(), 601);
    assert_eq!(all.last().unwrap(), "LK:alias1", "aliases come after the PVs");
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?limit=7").await;
    assert_eq!(names(&v).len(), 7);
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?limit=0").await;
    assert_eq!(names(&v).len(), 0);

    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?pv=LK:5?").await;
    let mut got = names(&v);
    got.sort();
    let mut want: Vec<String> = (50..60).map(|i| format!("LK:{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?pv=LK:59?,LK:1,LK:59").await;
    let mut got = names(&v);
    got.sort();
    let mut want: Vec<String> = (590..600).map(|i| format!("LK:{i}")).collect();
    want.extend(["LK:1".to_string(), "LK:59".to_string()]);
    want.sort();
    assert_eq!(got, want);
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?pv=LK:alias*").await;
    assert_eq!(names(&v), vec!["LK:alias1"]);
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?pv=*:5?9&limit=-1").await;
    assert_eq!(names(&v).len(), 10);

    // Regex: full match, not a search.
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?regex=LK:1%5B0-9%5D").await;
    let got = names(&v);
    assert_eq!(got.len(), 10);
    assert!(
        got.iter().all(|n| n.len() == 5 && n.starts_with("LK:1")),
        "{got:?}"
    );
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?regex=K:1").await;
    assert!(names(&v).is_empty());
    let (_, v) = srv.get_json("/mgmt/bpl/getAllPVs?regex=LK:a.*").await;
    assert_eq!(names(&v), vec!["LK:alias1"]);

    let (s, v) = srv.get_json("/mgmt/bpl/getAllPVs?regex=(unclosed").await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = srv.get_json("/mgmt/bpl/getAllPVs?limit=many").await;
    assert_eq!(s, 400);

    let (s, v) = srv.get_json("/mgmt/bpl/getMatchingPVs?pv=LK:59*").await;
    assert_eq!((s, names(&v).len()), (200, 11));
    let (s, v) = srv
        .get_json("/mgmt/bpl/getMatchingPVsForThisAppliance?regex=LK:59.")
        .await;
    assert_eq!((s, names(&v).len()), (200, 10));
    let (s, v) = srv.get_json("/retrieval/bpl/getMatchingPVs?pv=LK:59").await;
    assert_eq!((s, names(&v)), (200, vec!["LK:59".to_string()]));
    let (_, v) = srv.get_json("/mgmt/bpl/getPVsForThisAppliance").await;
    assert_eq!(names(&v).len(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pv_status_is_always_an_array_and_reports_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    populate(&srv, 3);
    srv.registry.add_alias("LK:al", "LK:0").unwrap();
    srv.get_json("/mgmt/bpl/archivePV?pv=LK:pending").await;

    let (s, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=LK:1").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!([{"pvName": "LK:1", "pvNameOnly": "LK:1", "appliance": "appliance0", "status": "Appliance assigned"}])
    );
    let (_, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=LK:nothing").await;
    assert_eq!(
        v,
        json!([{"pvName": "LK:nothing", "status": "Not being archived"}])
    );
    let (_, v) = srv
        .get_json("/mgmt/bpl/getPVStatus?pv=LK:al,LK:pending,LK:x")
        .await;
    assert_eq!(
        v,
        json!([
            {"pvName": "LK:al", "pvNameOnly": "LK:0", "appliance": "appliance0", "status": "Paused"},
            {"pvName": "LK:pending", "status": "Initial sampling"},
            {"pvName": "LK:x", "status": "Not being archived"}
        ])
    );
    // Globs expand over PVs and aliases; a glob matching nothing is reported.
    let (_, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=LK:?").await;
    assert_eq!(v.as_array().unwrap().len(), 3);
    let (_, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=NONE:*").await;
    assert_eq!(v, json!([{"pvName": "NONE:*", "status": "Not being archived"}]));
    // Every value is a string.
    let (_, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=LK:*&limit=-1").await;
    for row in v.as_array().unwrap() {
        assert!(row.as_object().unwrap().values().all(Value::is_string), "{row}");
    }

    let (s, v) = srv
        .post_json("/mgmt/bpl/getPVStatus", &json!(["LK:2", {"pv": "LK:nothing"}]))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["status"], "Appliance assigned");
    let (s, v) = post(&srv, "/mgmt/bpl/getPVStatus", "text/plain", "LK:2\nLK:1\n").await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 2));
    let (s, v) = post(
        &srv,
        "/mgmt/bpl/getPVStatus",
        "application/x-www-form-urlencoded",
        "pv=LK:2",
    )
    .await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 1));
    let (s, v) = post(&srv, "/mgmt/bpl/getPVStatus", "application/json", "{not json").await;
    assert_eq!((s, &v["status"]), (400, &json!(400)));
    let (s, _) = post(
        &srv,
        "/mgmt/bpl/getPVStatus",
        "application/json",
        "{\"pv\": \"LK:1\"}",
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = srv.get_json("/mgmt/bpl/getPVStatus").await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "Bad Request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_put_pv_type_info() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, v) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=TI:missing").await;
    assert_eq!(s, 404);
    assert_eq!((&v["status"], &v["error"]), (&json!(404), &json!("Not Found")));
    let (s, _) = srv.get_json("/mgmt/bpl/getPVTypeInfo").await;
    assert_eq!(s, 400);

    // Java's prototype record goes in as is (createnew) and is forced paused.
    let text = std::fs::read_to_string(common::testdata().join("java/PVTypeInfoPrototype.json")).unwrap();
    let proto: Value = serde_json::from_str(&text).unwrap();
    let pv = proto["pvName"].as_str().unwrap().to_string();
    let path = format!("/mgmt/bpl/putPVTypeInfo?pv={pv}");
    let (s, v) = srv.post_json(&path, &proto).await;
    assert_eq!(s, 400, "a new PV needs createnew: {v}");
    let (s, v) = srv.post_json(&format!("{path}&createnew=true"), &proto).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["paused"], "true");
    let (s, got) = srv.get_json(&format!("/mgmt/bpl/getPVTypeInfo?pv={pv}")).await;
    assert_eq!(s, 200);
    for (k, want) in proto.as_object().unwrap() {
        if k == "paused" || k == "modificationTime" {
            continue;
        }
        assert_eq!(&got[k], want, "{k}");
    }
    for (k, val) in got.as_object().unwrap() {
        assert!(
            val.is_string() || val.is_array() || val.is_object(),
            "{k} is not a string: {val}"
        );
    }
    assert!(got["modificationTime"].as_str().unwrap().ends_with('Z'));

    // Existing PVs need override; the body may use native JSON types.
    let native = json!({"pvName": pv, "DBRType": "DBR_SCALAR_INT", "samplingPeriod": 2.5,
                        "paused": false, "elementCount": 1});
    let (s, _) = srv.post_json(&format!("{path}&createnew=true"), &native).await;
    assert_eq!(s, 400);
    let (s, v) = srv.post_json(&format!("{path}&override=true"), &native).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["samplingPeriod"], &v["DBRType"]),
        (&json!("2.5"), &json!("DBR_SCALAR_INT"))
    );
    assert_eq!(
        srv.registry.get(&pv).unwrap().unwrap().dbr_type,
        ArchDbType::ScalarInt
    );

    // Aliases resolve for getPVTypeInfo but cannot get their own record.
    srv.registry.add_alias("TI:alias", &pv).unwrap();
    let (s, v) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=TI:alias").await;
    assert_eq!((s, &v["pvName"]), (200, &json!(pv)));
    let alias_body = json!({"pvName": "TI:alias", "DBRType": "DBR_SCALAR_INT"});
    let (s, _) = srv
        .post_json("/mgmt/bpl/putPVTypeInfo?pv=TI:alias&createnew=true", &alias_body)
        .await;
    assert_eq!(s, 400);

    // Client mistakes are 400s.
    let (s, _) = post(
        &srv,
        &format!("{path}&override=true"),
        "application/json",
        "{\"pvName\": ",
    )
    .await;
    assert_eq!(s, 400);
    let other = json!({"pvName": "TI:other", "DBRType": "DBR_SCALAR_INT"});
    let (s, _) = srv.post_json(&format!("{path}&override=true"), &other).await;
    assert_eq!(s, 400, "pv and pvName differ");
    let bad_type = json!({"pvName": pv, "DBRType": "DBR_NOPE"});
    let (s, _) = srv.post_json(&format!("{path}&override=true"), &bad_type).await;
    assert_eq!(s, 400);
    let (s, _) = srv
        .post_json("/mgmt/bpl/putPVTypeInfo?createnew=true", &other)
        .await;
    assert_eq!(s, 400);
    let (s, _) = srv.get_json(&format!("{path}&override=true")).await;
    assert_eq!(s, 405, "putPVTypeInfo is POST only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_keys_and_details() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    populate(&srv, 2);
    let (s, v) = srv.get_json("/mgmt/bpl/getStoresForPV?pv=LK:1").await;
    assert_eq!(s, 200);
    let stores = v.as_object().unwrap();
    assert_eq!(stores.keys().collect::<Vec<_>>(), vec!["STS", "MTS", "LTS"]);
    for (name, url) in stores {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with("pb://") && url.contains(&format!("name={name}")),
            "{url}"
        );
    }
    let (s, _) = srv.get_json("/mgmt/bpl/getStoresForPV?pv=LK:none").await;
    assert_eq!(s, 404);
    let (s, _) = srv.get_json("/mgmt/bpl/getStoresForPV").await;
    assert_eq!(s, 400);

    let (_, v) = srv.get_json("/mgmt/bpl/getTypeInfoKeys").await;
    assert_eq!(names(&v), vec!["LK:0", "LK:1"]);

    for i in 0..3 {
        let s = ArchiverSample::at(1_710_495_000 + i, 0, SampleValue::Double(i as f64));
        srv.store
            .append_event("LK:1", ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
    // counts=true: this PV's files, bytes and samples per store.
    let (s, v) = srv.get_json("/mgmt/bpl/getStoresForPV?pv=LK:1&counts=true").await;
    assert_eq!(s, 200);
    assert_eq!(
        (&v["STS"]["files"], &v["STS"]["samples"]),
        (&json!("1"), &json!("3"))
    );
    assert!(v["STS"]["bytes"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(v["STS"]["url"], stores["STS"]);
    assert_eq!(
        (&v["LTS"]["files"], &v["LTS"]["bytes"]),
        (&json!("0"), &json!("0"))
    );
    let (s, v) = srv.get_json("/mgmt/bpl/getPVDetails?pv=LK:1").await;
    assert_eq!(s, 200);
    let rows = v.as_array().unwrap();
    for r in rows {
        let o = r.as_object().unwrap();
        assert_eq!(o.keys().collect::<Vec<_>>(), vec!["name", "value", "source"]);
        assert!(o.values().all(Value::is_string), "{r}");
    }
    let find = |n: &str| rows.iter().find(|r| r["name"] == n).map(|r| r["value"].clone());
    assert_eq!(find("PV Name"), Some(json!("LK:1")));
    assert_eq!(find("Is this PV paused:"), Some(json!("false")));
    assert_eq!(find("STS samples:"), Some(json!("3")));
    assert!(rows.iter().any(|r| r["source"] == "retrieval"));
    let (s, _) = srv.get_json("/mgmt/bpl/getPVDetails?pv=LK:none").await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_unarchived_and_not_in_list() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    populate(&srv, 4);
    let mut hihi = srv.registry.get("LK:3").unwrap().unwrap();
    hihi.archive_fields = vec!["HIHI".into()];
    srv.registry.put(&hihi).unwrap();
    srv.registry.add_alias("LK:al", "LK:2").unwrap();
    srv.get_json("/mgmt/bpl/archivePV?pv=LK:pending").await;

    let list = json!(["LK:0", "LK:al", "LK:3.HIHI", "LK:3.LOLO", "LK:pending", "LK:zz"]);
    let (s, v) = srv.post_json("/mgmt/bpl/archivedPVs", &list).await;
    assert_eq!(s, 200);
    assert_eq!(names(&v), vec!["LK:0", "LK:al", "LK:3.HIHI"]);
    let (_, v) = srv.post_json("/mgmt/bpl/unarchivedPVs", &list).await;
    let mut got = names(&v);
    got.sort();
    assert_eq!(got, vec!["LK:3.LOLO", "LK:pending", "LK:zz"]);
    let (_, v) = srv.post_json("/mgmt/bpl/archivedPVsNotInList", &list).await;
    assert_eq!(
        names(&v),
        vec!["LK:1", "LK:3"],
        "LK:2 is in the list through its alias"
    );

    let (s, v) = post(&srv, "/mgmt/bpl/archivedPVs", "text/plain", "LK:1\nLK:9\n").await;
    assert_eq!((s, names(&v)), (200, vec!["LK:1".to_string()]));
    let (s, v) = post(
        &srv,
        "/mgmt/bpl/unarchivedPVs",
        "application/x-www-form-urlencoded",
        "pv=LK:1,LK:9",
    )
    .await;
    assert_eq!((s, names(&v)), (200, vec!["LK:9".to_string()]));
    let (s, v) = srv
        .post_json("/retrieval/bpl/filterArchivedPVs", &json!(["LK:1", "LK:9"]))
        .await;
    assert_eq!((s, names(&v)), (200, vec!["LK:1".to_string()]));
    for action in ["archivedPVs", "unarchivedPVs", "archivedPVsNotInList"] {
        let (s, _) = srv.get_json(&format!("/mgmt/bpl/{action}?pv=LK:1")).await;
        assert_eq!(s, 405, "{action} is POST only");
        let (s, _) = post(&srv, &format!("/mgmt/bpl/{action}"), "application/json", "[1, 2]").await;
        assert_eq!(s, 400, "{action}: numbers are not names");
        let (s, _) = post(&srv, &format!("/mgmt/bpl/{action}"), "application/json", "[").await;
        assert_eq!(s, 400, "{action}: bad JSON");
    }
}
