//! Archived fields (Channel Access and pvAccess), controlling PVs and a
//! Channel Access type change, against in-process servers on 127.0.0.1.
//! The engine reads process-wide environment, so these tests run one at a
//! time.

mod common;

use std::time::{Duration, Instant};

use common::ioc::{dbl_meta, free_port, Ioc};
use common::pva::{nt_double, nt_plain, s, PvaIoc};
use common::server::TestServer;
use epics_base_rs::types::{EpicsValue, PvString};
use epics_pva_rs::pvdata::{ScalarType, ScalarValue};
use serde_json::Value;
use strata::engine::epics::EpicsEngine;
use strata::engine::ArchiveEngine;
use strata::plainpb::{ChunkItem, ChunkReader};
use strata::types::ArchiverSample;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const POLICIES: &str = r#"
fields_archived_as_part_of_stream = ["HIHI", "HIGH", "LOW", "LOLO", "LOPR", "HOPR", "DRVH", "DRVL"]
[[policy]]
name = "Default"
sampling_method = "MONITOR"
sampling_period = 1.0
stores = ["STS", "MTS", "LTS"]
archive_fields = ["HIHI", "LOLO"]
"#;

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn wait_for(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn status_of(srv: &TestServer, pv: &str) -> Value {
    let (_, v) = srv.get_json(&format!("/mgmt/bpl/getPVStatus?pv={pv}")).await;
    v[0].clone()
}

async fn data(srv: &TestServer, pv: &str, from: i64, to: i64) -> Vec<Value> {
    let (st, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv={pv}&from={}&to={}",
            iso(from),
            iso(to)
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    v[0]["data"].as_array().cloned().unwrap_or_default()
}

async fn raw(srv: &TestServer, pv: &str, from: i64, to: i64) -> Vec<ArchiverSample> {
    let bytes = srv
        .get(&format!(
            "/retrieval/data/getData.raw?pv={pv}&from={}&to={}",
            iso(from),
            iso(to)
        ))
        .await
        .bytes()
        .await
        .unwrap();
    let mut r = ChunkReader::new(std::io::Cursor::new(bytes.to_vec()));
    let mut out = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        if let ChunkItem::Sample(s) = item {
            out.push(s);
        }
    }
    out
}

async fn wait_stored(_srv: &TestServer, engine: &EpicsEngine, pv: &str, secs: i64) {
    // Acknowledged on disk by a completed flush (retrieval would also show
    // samples still in the engine's buffer, before fields are attached).
    wait_for(&format!("{pv} sample at {secs}"), 30, async || {
        engine.flush_now().await;
        engine.last_committed(pv).is_some_and(|t| t.secs >= secs)
    })
    .await;
}

async fn archive(srv: &TestServer, query: &str, pvs: &[&str]) {
    let (st, v) = srv.get_json(&format!("/mgmt/bpl/archivePV?{query}")).await;
    assert_eq!(st, 200, "{v}");
    for pv in pvs {
        wait_for(&format!("{pv} being archived"), 60, async || {
            status_of(srv, pv).await["status"] == "Being archived"
        })
        .await;
        wait_for(&format!("{pv} connected"), 30, async || {
            status_of(srv, pv).await["connectionState"] == "true"
        })
        .await;
    }
}

/// A metadata value the engine knows for `pv` (archived fields included).
async fn metadata(srv: &TestServer, pv: &str, key: &str) -> Option<String> {
    let (_, v) = srv.get_json(&format!("/retrieval/bpl/getMetadata?pv={pv}")).await;
    v[key].as_str().map(str::to_string)
}

fn ca_pvs(int_type: EpicsValue) -> Vec<(String, EpicsValue, Option<epics_base_rs::server::pv::PvMetadata>)> {
    vec![
        ("F:dbl".into(), EpicsValue::Double(0.0), Some(dbl_meta("mm", 2))),
        ("F:dbl.HIHI".into(), EpicsValue::Double(90.0), None),
        (
            "F:dbl.DESC".into(),
            EpicsValue::String(PvString::from("a described PV")),
            None,
        ),
        (
            "F:dbl.NAME".into(),
            EpicsValue::String(PvString::from("F:dbl")),
            None,
        ),
        (
            "F:dbl.RTYP".into(),
            EpicsValue::String(PvString::from("ai")),
            None,
        ),
        ("F:dbl.MDEL".into(), EpicsValue::Double(0.0), None),
        ("F:ctl".into(), EpicsValue::Long(1), None),
        ("F:ctld".into(), EpicsValue::Double(0.0), None),
        ("F:int".into(), int_type, None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_access_fields_controlling_pv_and_type_change() {
    let _serial = SERIAL.lock().await;
    common::ioc::ca_env();
    let port = free_port();
    let ioc = Ioc::start(port, ca_pvs(EpicsValue::Long(0)));
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    let (srv, engine) = TestServer::start_ca(dir.path(), |c| {
        c.engine.write_period = 0.5;
        c.engine.initial_sampling_secs = 0.5;
        c.engine.ca_addr_list = Some(format!("127.0.0.1:{port}"));
        c.engine.pva_addr_list = Some(String::new());
        c.engine.pva_auto_addr_list = Some(false);
        c.policies.file = Some(policies.clone());
    })
    .await;
    archive(&srv, "pv=F:dbl,F:int", &["F:dbl", "F:int"]).await;
    let (_, ti) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=F:dbl").await;
    assert_eq!(ti["archiveFields"], serde_json::json!(["HIHI", "LOLO"]));
    // Fields read when the PV was first archived, as Java's MetaGet.
    assert_eq!(ti["extraFields"]["NAME"], "F:dbl", "{ti}");
    assert_eq!(ti["extraFields"]["RTYP"], "ai");
    assert_eq!(ti["extraFields"]["MDEL"], "0.0");
    assert_eq!(ti["units"], "mm");
    assert_eq!(ti["upperAlarmLimit"], "90.0");

    // The archived field's value and the runtime DESC reach the engine.
    wait_for("HIHI and DESC monitored", 30, async || {
        metadata(&srv, "F:dbl", "HIHI").await.as_deref() == Some("90.0")
            && metadata(&srv, "F:dbl", "DESC").await.as_deref() == Some("a described PV")
    })
    .await;
    let base = now() + 2;
    ioc.post("F:dbl", EpicsValue::Double(1.0), 0, 0, base, 0);
    wait_stored(&srv, &engine, "F:dbl", base).await;
    // The first write with archived fields carries the daily snapshot.
    let got = data(&srv, "F:dbl", base - 30, base + 1).await;
    let snap = got
        .iter()
        .find(|d| d["fields"]["HIHI"] == "90.0")
        .unwrap_or_else(|| panic!("no snapshot in {got:?}"));
    assert_eq!(snap["fields"]["DESC"], "a described PV");
    assert_eq!(snap["fields"]["EGU"], "mm");
    assert_eq!(snap["fields"]["PREC"], "2");

    // A HIHI change lands in the next sample of the PV.
    ioc.post("F:dbl.HIHI", EpicsValue::Double(95.0), 0, 0, base + 1, 0);
    wait_for("HIHI change", 30, async || {
        metadata(&srv, "F:dbl", "HIHI").await.as_deref() == Some("95.0")
    })
    .await;
    ioc.post("F:dbl", EpicsValue::Double(2.0), 0, 0, base + 2, 0);
    wait_stored(&srv, &engine, "F:dbl", base + 2).await;
    let got = data(&srv, "F:dbl", base + 2, base + 3).await;
    let s2 = got.iter().find(|d| d["secs"] == base + 2).unwrap();
    assert_eq!(s2["fields"]["HIHI"], "95.0", "{got:?}");
    let r = raw(&srv, "F:dbl", base + 2, base + 3).await;
    let s2 = r.iter().find(|s| s.ts().secs == base + 2).unwrap();
    assert_eq!(s2.field_actual_change(), Some(true));
    // PV.HIHI reads the archived field back.
    let hihi = data(&srv, "F:dbl.HIHI", base - 30, base + 10).await;
    let vals: Vec<f64> = hihi.iter().map(|d| d["val"].as_f64().unwrap()).collect();
    assert!(vals.contains(&90.0) && vals.contains(&95.0), "{hihi:?}");

    // A controlling PV: archiving only while it is non-zero.
    archive(&srv, "pv=F:ctld&controllingPV=F:ctl", &["F:ctld"]).await;
    let (_, ti) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=F:ctld").await;
    assert_eq!(ti["controllingPV"], "F:ctl");
    ioc.post("F:ctld", EpicsValue::Double(1.0), 0, 0, base + 3, 0);
    wait_stored(&srv, &engine, "F:ctld", base + 3).await;
    let switched = async |off: bool| {
        let (_, rows) = srv.get_json("/mgmt/bpl/getPVDetails?pv=F:ctld").await;
        rows.as_array().unwrap().iter().any(|r| {
            r["name"] == "Archiving switched off by the controlling PV:"
                && r["value"].as_str() == Some(if off { "true" } else { "false" })
        })
    };
    ioc.post("F:ctl", EpicsValue::Long(0), 0, 0, base + 3, 0);
    wait_for("archiving switched off", 30, async || switched(true).await).await;
    assert_eq!(status_of(&srv, "F:ctld").await["connectionState"], "false");
    ioc.post("F:ctld", EpicsValue::Double(2.0), 0, 0, base + 4, 0);
    ioc.post("F:ctld", EpicsValue::Double(3.0), 0, 0, base + 5, 0);
    ioc.post("F:ctl", EpicsValue::Long(1), 0, 0, base + 5, 0);
    wait_for("archiving switched on", 30, async || switched(false).await).await;
    // Switched on again: the current value (taken at resubscription) is
    // stored with the start-up fields; what changed while off is not.
    wait_stored(&srv, &engine, "F:ctld", base + 5).await;
    let got = data(&srv, "F:ctld", base + 3, base + 10).await;
    assert!(
        got.iter().all(|d| d["secs"] != base + 4),
        "stored while off: {got:?}"
    );
    let on = got.iter().find(|d| d["secs"] == base + 5).unwrap();
    assert_eq!(on["fields"]["startup"], "true", "{on}");
    ioc.post("F:ctld", EpicsValue::Double(4.0), 0, 0, base + 6, 0);
    wait_stored(&srv, &engine, "F:ctld", base + 6).await;

    // A type change on the IOC side is counted and reported.
    ioc.stop();
    let ioc = Ioc::start(port, ca_pvs(EpicsValue::Double(0.5)));
    wait_for("F:int reconnected", 90, async || {
        status_of(&srv, "F:int").await["connectionState"] == "true"
    })
    .await;
    ioc.post("F:int", EpicsValue::Double(1.5), 0, 0, base + 7, 0);
    wait_for("type change reported", 30, async || {
        let (_, v) = srv.get_json("/mgmt/bpl/getPVsByDroppedEventsTypeChange").await;
        v.as_array().unwrap().iter().any(|r| r["pvName"] == "F:int")
    })
    .await;
    assert!(engine.status("F:int").unwrap().dropped_type_change >= 1);
    let (_, rows) = srv.get_json("/mgmt/bpl/getPVDetails?pv=F:int").await;
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Type served now:" && r["value"] == "DBR_SCALAR_DOUBLE"),
        "{rows}"
    );
    ioc.stop();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pvaccess_archived_field_lands_in_the_next_sample() {
    let _serial = SERIAL.lock().await;
    common::ioc::ca_env();
    let t0 = now() - 1;
    let ioc = PvaIoc::start(
        0,
        vec![
            ("Q:dbl", nt_double("mm", 3)),
            ("Q:dbl.HIHI", nt_plain(ScalarType::Double)),
        ],
        t0,
    );
    ioc.post_value("Q:dbl.HIHI", s(ScalarValue::Double(80.0)), t0, 1, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies.toml");
    std::fs::write(&policies, POLICIES).unwrap();
    let addr = ioc.addr();
    let (srv, engine) = TestServer::start_ca(dir.path(), |c| {
        c.engine.write_period = 0.5;
        c.engine.initial_sampling_secs = 0.5;
        c.engine.ca_addr_list = Some(String::new());
        c.engine.pva_addr_list = Some(String::new());
        c.engine.pva_auto_addr_list = Some(false);
        c.engine.pva_name_servers = Some(addr.to_string());
        c.policies.file = Some(policies.clone());
    })
    .await;
    archive(&srv, "pv=pva://Q:dbl", &["Q:dbl"]).await;
    wait_for("HIHI monitored", 30, async || {
        metadata(&srv, "Q:dbl", "HIHI").await.as_deref() == Some("80.0")
    })
    .await;
    // The connect-time sample is written first (a change goes into the
    // newest sample of the next write cycle).
    wait_stored(&srv, &engine, "Q:dbl", t0).await;
    let base = now() + 2;
    ioc.post_value("Q:dbl.HIHI", s(ScalarValue::Double(85.0)), base, 0, 0, 0);
    wait_for("HIHI change", 30, async || {
        metadata(&srv, "Q:dbl", "HIHI").await.as_deref() == Some("85.0")
    })
    .await;
    ioc.post_value("Q:dbl", s(ScalarValue::Double(1.25)), base + 1, 0, 0, 0);
    wait_stored(&srv, &engine, "Q:dbl", base + 1).await;
    let got = data(&srv, "Q:dbl", base + 1, base + 2).await;
    let s1 = got.iter().find(|d| d["secs"] == base + 1).unwrap();
    assert_eq!(s1["fields"]["HIHI"], "85.0", "{got:?}");
    let hihi = data(&srv, "Q:dbl.HIHI", t0 - 5, base + 10).await;
    assert!(hihi.iter().any(|d| d["val"] == 85.0), "{hihi:?}");
    ioc.stop();
    srv.stop().await;
}
