//! Ingest over real Channel Access: an in-process IOC on 127.0.0.1, PVs
//! archived through /mgmt/bpl/archivePV, read back through getData.json.
//! CA reads process-wide environment, so these tests run one at a time.

mod common;

use std::time::{Duration, Instant};

use common::ioc::{dbl_meta, enum_meta, free_port, Ioc};
use common::server::TestServer;
use epics_base_rs::types::{EpicsValue, PvString};
use serde_json::Value;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn pvs() -> Vec<(String, EpicsValue, Option<epics_base_rs::server::pv::PvMetadata>)> {
    vec![
        ("T:dbl".into(), EpicsValue::Double(0.0), Some(dbl_meta("mm", 3))),
        (
            "T:enum".into(),
            EpicsValue::Enum(0),
            Some(enum_meta(&["Off", "On", "Fault"])),
        ),
        ("T:str".into(), EpicsValue::String(PvString::from("init")), None),
        (
            "T:wf".into(),
            EpicsValue::DoubleArray(vec![0.0; 16].into()),
            Some(dbl_meta("V", 2)),
        ),
        ("T:paused".into(), EpicsValue::Double(0.0), None),
    ]
}

async fn wait_for(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// True once a TCP and a UDP socket can bind `port` on 127.0.0.1 (a stopped
/// IOC released it).
fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
}

async fn status_of(srv: &TestServer, pv: &str) -> Value {
    let (_, v) = srv.get_json(&format!("/mgmt/bpl/getPVStatus?pv={pv}")).await;
    v[0].clone()
}

async fn data(srv: &TestServer, pv: &str, from: i64, to: i64) -> Vec<Value> {
    let (s, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv={pv}&from={}&to={}",
            iso(from),
            iso(to)
        ))
        .await;
    assert_eq!(s, 200);
    v[0]["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_over_ca_values_metadata_reconnect_and_pause() {
    let _serial = SERIAL.lock().await;
    common::ioc::ca_env();
    let port = free_port();
    let ioc = Ioc::start(port, pvs());
    let dir = tempfile::tempdir().unwrap();
    let (srv, engine) = TestServer::start_ca(dir.path(), |c| {
        c.engine.write_period = 0.5;
        c.engine.initial_sampling_secs = 0.5;
        c.engine.ca_addr_list = Some(format!("127.0.0.1:{port}"));
    })
    .await;
    let (s, v) = srv
        .get_json("/mgmt/bpl/archivePV?pv=T:dbl,T:enum,T:str,T:wf,T:paused.VAL")
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "Archive request submitted"),
        "{v}"
    );
    for pv in ["T:dbl", "T:enum", "T:str", "T:wf", "T:paused"] {
        wait_for(&format!("{pv} being archived"), 60, async || {
            status_of(&srv, pv).await["status"] == "Being archived"
        })
        .await;
    }
    let (_, ti) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=T:wf").await;
    assert_eq!(ti["DBRType"], "DBR_WAVEFORM_DOUBLE");
    assert_eq!(ti["elementCount"], "16");
    assert_eq!(ti["units"], "V");
    let (_, p) = srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=T:paused").await;
    assert_eq!(p["status"], "ok", "{p}");

    // The IOC posts values with alarms and its own timestamps.
    // After the initial values (stored at connect time), within the future tolerance.
    let base = chrono::Utc::now().timestamp() + 2;
    let mut posted = Vec::new();
    for i in 0..10i64 {
        let (sev, stat) = [(0u16, 0u16), (1, 4), (2, 3), (3, 9)][i as usize % 4];
        let nanos = (i as u32) * 1000 + 7;
        ioc.post(
            "T:dbl",
            EpicsValue::Double(i as f64 * 1.5),
            sev,
            stat,
            base + i / 4,
            nanos + (i as u32 % 4) * 100_000_000,
        );
        posted.push((
            base + i / 4,
            nanos + (i as u32 % 4) * 100_000_000,
            i as f64 * 1.5,
            sev,
            stat,
        ));
        ioc.post(
            "T:paused",
            EpicsValue::Double(i as f64),
            0,
            0,
            base + i / 4,
            nanos,
        );
        // One update at a time: this one reached the engine (retrieval
        // serves the engine's buffer too) before the next is posted.
        let (secs, nanos) = (base + i / 4, nanos + (i as u32 % 4) * 100_000_000);
        wait_for("the posted T:dbl update", 30, async || {
            let got = data(&srv, "T:dbl", base - 1, base + 10).await;
            got.iter().any(|d| d["secs"] == secs && d["nanos"] == nanos)
        })
        .await;
    }
    ioc.post("T:enum", EpicsValue::Enum(2), 1, 7, base + 3, 5);
    ioc.post(
        "T:str",
        EpicsValue::String(PvString::from("hello, archive")),
        0,
        0,
        base + 3,
        6,
    );
    ioc.post(
        "T:wf",
        EpicsValue::DoubleArray((0..16).map(|x| x as f64 * 0.25).collect()),
        0,
        0,
        base + 3,
        7,
    );
    let want: Vec<f64> = (0..16).map(|x| x as f64 * 0.25).collect();
    for (pv, val) in [
        ("T:enum", serde_json::json!(2)),
        ("T:str", serde_json::json!("hello, archive")),
        ("T:wf", serde_json::json!(want)),
    ] {
        wait_for(&format!("the posted {pv} update"), 30, async || {
            data(&srv, pv, base - 1, base + 10)
                .await
                .iter()
                .any(|d| d["val"] == val)
        })
        .await;
    }
    engine.flush_now().await;

    let got = data(&srv, "T:dbl", base - 1, base + 10).await;
    for (secs, nanos, val, sev, stat) in &posted {
        assert!(
            got.iter().any(|d| d["secs"] == *secs
                && d["nanos"] == *nanos
                && d["val"] == *val
                && d["severity"] == *sev
                && d["status"] == *stat),
            "posted {secs}.{nanos} {val} sev {sev} stat {stat} missing in {got:?}"
        );
    }
    let (_, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv=T:dbl&from={}&to={}",
            iso(base - 1),
            iso(base + 10)
        ))
        .await;
    assert_eq!(v[0]["meta"]["EGU"], "mm");
    assert_eq!(v[0]["meta"]["PREC"], "3");
    let e = data(&srv, "T:enum", base - 1, base + 10).await;
    assert!(
        e.iter()
            .any(|d| d["val"] == 2 && d["severity"] == 1 && d["status"] == 7),
        "{e:?}"
    );
    let st = data(&srv, "T:str", base - 1, base + 10).await;
    assert!(st.iter().any(|d| d["val"] == "hello, archive"), "{st:?}");
    let wf = data(&srv, "T:wf", base - 1, base + 10).await;
    assert!(wf.iter().any(|d| d["val"] == serde_json::json!(want)), "{wf:?}");
    // A paused PV stores nothing.
    let pz = data(&srv, "T:paused", base - 1, base + 10).await;
    assert!(
        pz.iter().all(|d| d["secs"].as_i64().unwrap() < base),
        "paused PV stored {pz:?}"
    );

    // Stop the IOC: the PV shows up as disconnected; restart: cnx fields.
    ioc.stop();
    wait_for("disconnected report", 30, async || {
        let (_, v) = srv.get_json("/mgmt/bpl/getCurrentlyDisconnectedPVs").await;
        v.as_array().unwrap().iter().any(|r| r["pvName"] == "T:dbl")
    })
    .await;
    assert_eq!(status_of(&srv, "T:dbl").await["connectionState"], "false");
    wait_for("the stopped IOC's port", 30, async || port_free(port)).await;
    let ioc = Ioc::start(port, pvs());
    wait_for("reconnect", 90, async || {
        status_of(&srv, "T:dbl").await["connectionState"] == "true"
    })
    .await;
    let after = chrono::Utc::now().timestamp() + 10;
    ioc.post("T:dbl", EpicsValue::Double(42.0), 0, 0, after, 1);
    wait_for("the value posted after the reconnect", 30, async || {
        data(&srv, "T:dbl", base - 1, after + 5)
            .await
            .iter()
            .any(|d| d["val"] == 42.0)
    })
    .await;
    engine.flush_now().await;
    let got = data(&srv, "T:dbl", base - 1, after + 5).await;
    let cnx = got
        .iter()
        .find(|d| {
            d.get("fields")
                .is_some_and(|f| f.get("cnxregainedepsecs").is_some() && f.get("startup").is_none())
        })
        .unwrap_or_else(|| panic!("no sample with reconnect fields: {got:?}"));
    let lost: i64 = cnx["fields"]["cnxlostepsecs"].as_str().unwrap().parse().unwrap();
    let regained: i64 = cnx["fields"]["cnxregainedepsecs"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(lost > 0 && regained >= lost, "{cnx}");
    assert!(got.iter().any(|d| d["val"] == 42.0));
    assert_eq!(status_of(&srv, "T:dbl").await["connectionLossRegainCount"], "1");
    // The first sample after start-up carries the startup fields.
    assert!(got.iter().any(|d| d["fields"]["startup"] == "true"), "{got:?}");
    ioc.stop();
    srv.stop().await;
}
