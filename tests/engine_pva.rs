//! Ingest over real pvAccess: an in-process server on one TCP port of
//! 127.0.0.1 (searched as a TCP name server), PVs archived through
//! /mgmt/bpl/archivePV with `pva://`, read back through getData.json and
//! getData.raw. The engine reads process-wide environment, so these tests
//! run one at a time.

mod common;

use std::time::{Duration, Instant};

use common::pva::{motor, nt_double, nt_enum, nt_plain, nt_waveform, s, PvaIoc};
use common::server::TestServer;
use epics_pva_rs::proto::ByteOrder;
use epics_pva_rs::pvdata::encode::{encode_pv_field, encode_type_desc};
use epics_pva_rs::pvdata::{PvField, ScalarType, ScalarValue};
use serde_json::Value;
use strata::engine::epics::EpicsEngine;
use strata::engine::pva::server::{set, stamp};
use strata::plainpb::{ChunkItem, ChunkReader};
use strata::types::{ArchiverSample, SampleValue};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

async fn json(srv: &TestServer, pv: &str, from: i64, to: i64) -> Value {
    let (st, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv={pv}&from={}&to={}",
            iso(from),
            iso(to)
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

async fn data(srv: &TestServer, pv: &str, from: i64, to: i64) -> Vec<Value> {
    json(srv, pv, from, to).await[0]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// getData.raw: (header fields, samples).
async fn raw(srv: &TestServer, pv: &str, from: i64, to: i64) -> (Vec<(String, String)>, Vec<ArchiverSample>) {
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
    let (mut headers, mut samples) = (Vec::new(), Vec::new());
    while let Some(item) = r.next_item().unwrap() {
        match item {
            ChunkItem::Header(h) => {
                headers = h
                    .headers
                    .iter()
                    .map(|f| (f.name.clone(), f.val.clone()))
                    .collect();
            }
            ChunkItem::Sample(s) => samples.push(s),
        }
    }
    (headers, samples)
}

/// Flushes until a sample of `pv` at `secs` or later is on disk.
async fn wait_stored(_srv: &TestServer, engine: &EpicsEngine, pv: &str, secs: i64) {
    // Acknowledged on disk by a completed flush (retrieval would also show
    // samples still in the engine's buffer, before fields are attached).
    wait_for(&format!("{pv} sample at {secs}"), 30, async || {
        engine.flush_now().await;
        engine.last_committed(pv).is_some_and(|t| t.secs >= secs)
    })
    .await;
}

/// Events the engine accepted for `pv`.
fn received(engine: &EpicsEngine, pv: &str) -> u64 {
    use strata::engine::ArchiveEngine;
    engine.status(pv).map_or(0, |c| c.event_count)
}

fn cfg(addr: std::net::SocketAddr) -> impl FnOnce(&mut strata::config::Config) {
    move |c| {
        c.engine.write_period = 0.5;
        c.engine.initial_sampling_secs = 0.5;
        c.engine.pva_addr_list = Some(String::new());
        c.engine.pva_auto_addr_list = Some(false);
        c.engine.pva_name_servers = Some(addr.to_string());
        c.engine.ca_addr_list = Some(String::new());
    }
}

fn pvs() -> Vec<(&'static str, (epics_pva_rs::pvdata::FieldDesc, PvField))> {
    vec![
        ("P:dbl", nt_double("mm", 3)),
        ("P:wf", nt_waveform(16)),
        ("P:enum", nt_enum(&["Off", "On", "Fault"])),
        ("P:str", nt_plain(ScalarType::String)),
        ("P:motor", motor()),
        ("P:paused", nt_double("V", 1)),
        ("P:int", nt_plain(ScalarType::Int)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_over_pva_values_metadata_generic_reconnect_pause_and_type_change() {
    let _serial = SERIAL.lock().await;
    common::ioc::ca_env();
    let port = free_tcp_port();
    let t0 = now() - 1;
    let ioc = PvaIoc::start(port, pvs(), t0);
    let dir = tempfile::tempdir().unwrap();
    let (srv, engine) = TestServer::start_ca(dir.path(), cfg(ioc.addr())).await;
    let names = ["P:dbl", "P:wf", "P:enum", "P:str", "P:motor", "P:paused", "P:int"];
    let list: Vec<String> = names.iter().map(|n| format!("pva://{n}")).collect();
    let (st, v) = srv
        .get_json(&format!("/mgmt/bpl/archivePV?pv={}", list.join(",")))
        .await;
    assert_eq!(st, 200, "{v}");
    for pv in names {
        wait_for(&format!("{pv} being archived"), 60, async || {
            status_of(&srv, pv).await["status"] == "Being archived"
        })
        .await;
    }
    // The PVTypeInfo: protocol, Java's type choice, metadata, host.
    for (pv, ty) in [
        ("P:dbl", "DBR_SCALAR_DOUBLE"),
        ("P:wf", "DBR_WAVEFORM_DOUBLE"),
        ("P:enum", "DBR_SCALAR_ENUM"),
        ("P:str", "DBR_SCALAR_STRING"),
        ("P:motor", "DBR_V4_GENERIC_BYTES"),
        ("P:int", "DBR_SCALAR_INT"),
    ] {
        let (_, ti) = srv.get_json(&format!("/mgmt/bpl/getPVTypeInfo?pv={pv}")).await;
        assert_eq!(ti["DBRType"], ty, "{pv}: {ti}");
        assert_eq!(ti["usePVAccess"], "true", "{pv}");
        assert_eq!(ti["hostName"], "127.0.0.1", "{pv}");
    }
    let (_, ti) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=P:dbl").await;
    assert_eq!(
        (ti["units"].as_str(), ti["precision"].as_str()),
        (Some("mm"), Some("3.0"))
    );
    assert_eq!(ti["upperAlarmLimit"], "90.0");
    let (_, ti) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=P:wf").await;
    assert_eq!(ti["elementCount"], "16");
    let (_, p) = srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=P:paused").await;
    assert_eq!(p["status"], "ok", "{p}");
    for pv in ["P:dbl", "P:wf", "P:enum", "P:str", "P:motor"] {
        wait_for(&format!("{pv} connected"), 30, async || {
            status_of(&srv, pv).await["connectionState"] == "true"
        })
        .await;
    }

    // Values with the server's time stamps and alarms, each received
    // before the next is posted (a server squashes a full queue).
    let base = now() + 2;
    let mut posted = Vec::new();
    for i in 0..10i64 {
        let (sev, stat) = [(0, 0), (1, 3), (2, 4), (3, 7)][i as usize % 4];
        let nanos = (i as u32) * 1000 + 7 + (i as u32 % 4) * 100_000_000;
        let secs = base + i / 4;
        let before = received(&engine, "P:dbl");
        ioc.post_value(
            "P:dbl",
            s(ScalarValue::Double(i as f64 * 1.5)),
            secs,
            nanos,
            sev,
            stat,
        );
        ioc.post_value("P:paused", s(ScalarValue::Double(i as f64)), secs, nanos, 0, 0);
        posted.push((secs, nanos, i as f64 * 1.5, sev, stat));
        wait_for("the update", 10, async || received(&engine, "P:dbl") > before).await;
    }
    ioc.post("P:enum", |v| {
        set(v, "value.index", s(ScalarValue::Int(2)));
        stamp(v, base + 3, 5, 0);
    });
    ioc.post_value(
        "P:str",
        s(ScalarValue::String("hello, pva".into())),
        base + 3,
        6,
        0,
        0,
    );
    let wave: Vec<f64> = (0..16).map(|x| x as f64 * 0.25).collect();
    ioc.post_value(
        "P:wf",
        PvField::scalar_array_double(wave.clone()),
        base + 3,
        7,
        0,
        0,
    );
    let mut motor_value = None;
    ioc.post("P:motor", |v| {
        set(v, "position", s(ScalarValue::Double(12.5)));
        set(v, "moving", s(ScalarValue::Boolean(true)));
        stamp(v, base + 3, 8, 77);
        motor_value = Some(v.clone());
    });
    wait_stored(&srv, &engine, "P:dbl", base + 2).await;
    for pv in ["P:enum", "P:str", "P:wf", "P:motor"] {
        wait_stored(&srv, &engine, pv, base + 3).await;
    }

    let got = data(&srv, "P:dbl", base - 1, base + 10).await;
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
    let v = json(&srv, "P:dbl", base - 1, base + 10).await;
    assert_eq!(v[0]["meta"]["EGU"], "mm");
    assert_eq!(v[0]["meta"]["PREC"], "3");
    // The same samples through getData.raw, with EGU/PREC headers.
    let (headers, samples) = raw(&srv, "P:dbl", base - 1, base + 10).await;
    assert!(headers.contains(&("EGU".into(), "mm".into())), "{headers:?}");
    assert!(headers.contains(&("PREC".into(), "3".into())), "{headers:?}");
    for (secs, nanos, val, sev, stat) in &posted {
        assert!(
            samples.iter().any(|s| s.ts().secs == *secs
                && s.ts().nanos == *nanos
                && s.value == SampleValue::Double(*val)
                && (s.severity, s.status) == (*sev, *stat)),
            "raw sample {secs}.{nanos} missing"
        );
    }
    // The first (connect-time) sample carries the start-up fields and
    // every field of the structure.
    let first = data(&srv, "P:dbl", t0 - 1, t0 + 1).await;
    let f = &first[0]["fields"];
    assert_eq!(f["startup"], "true", "{first:?}");
    assert_eq!(f["EGU"], "mm");
    assert_eq!(f["HIHI"], "90.0");
    assert_eq!(f["display.description"], "a test double");
    let e = data(&srv, "P:enum", base, base + 10).await;
    assert!(e.iter().any(|d| d["val"] == 2 && d["secs"] == base + 3), "{e:?}");
    let st = data(&srv, "P:str", base, base + 10).await;
    assert!(st.iter().any(|d| d["val"] == "hello, pva"), "{st:?}");
    let wf = data(&srv, "P:wf", base, base + 10).await;
    assert!(wf.iter().any(|d| d["val"] == serde_json::json!(wave)), "{wf:?}");
    let (_, wraw) = raw(&srv, "P:wf", base, base + 10).await;
    assert!(wraw.iter().any(|s| s.value == SampleValue::VDouble(wave.clone())));

    // A structure: Java's generic bytes in raw, a sorted object in JSON.
    let motor_value = motor_value.unwrap();
    let mut expected = Vec::new();
    encode_type_desc(&motor().0, ByteOrder::Big, &mut expected);
    encode_pv_field(&motor_value, &motor().0, ByteOrder::Big, &mut expected);
    let (_, mraw) = raw(&srv, "P:motor", base, base + 10).await;
    let m = mraw
        .iter()
        .find(|s| s.ts().secs == base + 3)
        .expect("motor sample");
    assert_eq!(m.value, SampleValue::V4Generic(expected));
    assert_eq!(m.user_tag(), Some(77));
    let mj = data(&srv, "P:motor", base, base + 10).await;
    let val = &mj.iter().find(|d| d["secs"] == base + 3).unwrap()["val"];
    assert_eq!(val["position"], 12.5, "{val}");
    assert_eq!(val["moving"], true);
    assert_eq!(val["name"], "m1");
    assert_eq!(val["history"], serde_json::json!([1.0, 2.0]));
    assert_eq!(val["timeStamp"]["userTag"], 77);
    let keys: Vec<&String> = val.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["alarm", "history", "moving", "name", "position", "timeStamp"]
    );

    // A paused PV stores nothing; resumed, it does.
    let pz = data(&srv, "P:paused", base - 1, base + 10).await;
    assert!(
        pz.iter().all(|d| d["secs"].as_i64().unwrap() < base),
        "paused PV stored {pz:?}"
    );
    let (_, r) = srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=P:paused").await;
    assert_eq!(r["status"], "ok", "{r}");
    wait_for("P:paused connected", 30, async || {
        status_of(&srv, "P:paused").await["connectionState"] == "true"
    })
    .await;
    ioc.post_value("P:paused", s(ScalarValue::Double(99.0)), base + 5, 0, 0, 0);
    wait_stored(&srv, &engine, "P:paused", base + 5).await;

    // A type change: the server now serves a double for P:int.
    ioc.retype("P:int", nt_plain(ScalarType::Double), base + 4);
    ioc.post_value("P:int", s(ScalarValue::Double(2.5)), base + 5, 0, 0, 0);
    wait_for("type change report", 30, async || {
        let (_, v) = srv.get_json("/mgmt/bpl/getPVsByDroppedEventsTypeChange").await;
        v.as_array().unwrap().iter().any(|r| {
            r["pvName"] == "P:int" && r["eventsDropped"].as_str().unwrap().parse::<u64>().unwrap() >= 1
        })
    })
    .await;
    // changeTypeForPV converts what was stored (paused first).
    let (_, c) = srv
        .get_json("/mgmt/bpl/changeTypeForPV?pv=P:int&newtype=DBR_SCALAR_DOUBLE")
        .await;
    assert!(
        c["validation"].as_str().is_some_and(|m| m.contains("pause")),
        "{c}"
    );
    srv.get_json("/mgmt/bpl/pauseArchivingPV?pv=P:int").await;
    let (st, c) = srv
        .get_json("/mgmt/bpl/changeTypeForPV?pv=P:int&newtype=DBR_SCALAR_DOUBLE")
        .await;
    assert_eq!((st, c["status"].as_str()), (200, Some("ok")), "{c}");
    let (_, ti) = srv.get_json("/mgmt/bpl/getPVTypeInfo?pv=P:int").await;
    assert_eq!(ti["DBRType"], "DBR_SCALAR_DOUBLE");
    let conv = data(&srv, "P:int", t0 - 1, t0 + 1).await;
    assert_eq!(conv[0]["val"], 0.0, "{conv:?}");
    srv.get_json("/mgmt/bpl/resumeArchivingPV?pv=P:int").await;
    wait_for("P:int connected", 30, async || {
        status_of(&srv, "P:int").await["connectionState"] == "true"
    })
    .await;
    ioc.post_value("P:int", s(ScalarValue::Double(7.25)), base + 6, 0, 0, 0);
    wait_stored(&srv, &engine, "P:int", base + 6).await;
    assert!(data(&srv, "P:int", base + 6, base + 7)
        .await
        .iter()
        .any(|d| d["val"] == 7.25));

    // Stop the server: disconnected; restart on the same port: reconnect
    // fields on the next sample.
    ioc.stop();
    wait_for("disconnected report", 30, async || {
        let (_, v) = srv.get_json("/mgmt/bpl/getCurrentlyDisconnectedPVs").await;
        v.as_array().unwrap().iter().any(|r| r["pvName"] == "P:dbl")
    })
    .await;
    assert_eq!(status_of(&srv, "P:dbl").await["connectionState"], "false");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ioc = PvaIoc::start(port, pvs(), now());
    wait_for("reconnect", 60, async || {
        status_of(&srv, "P:dbl").await["connectionState"] == "true"
    })
    .await;
    let after = now() + 10;
    ioc.post_value("P:dbl", s(ScalarValue::Double(42.0)), after, 1, 0, 0);
    wait_stored(&srv, &engine, "P:dbl", after).await;
    let got = data(&srv, "P:dbl", base - 1, after + 5).await;
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
    assert_eq!(status_of(&srv, "P:dbl").await["connectionLossRegainCount"], "1");
    ioc.stop();
    srv.stop().await;
}
