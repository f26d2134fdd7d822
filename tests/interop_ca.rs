//! Issue 11 with the real Channel Access engine and an in-process IOC on
//! 127.0.0.1: PVs archived through `archivePV` get Java's PVTypeInfo
//! (`precision` for int, enum and string PVs), `getMetadata` of an enum PV
//! lists its state labels as `ENUM_n`, and a raw answer for a 128-element
//! waveform whose newest samples are still in the engine's buffer says
//! `elementCount` 128 in every chunk.

mod common;

use std::time::{Duration, Instant};

use common::ioc::{dbl_meta, enum_meta, free_port, Ioc};
use common::server::TestServer;
use epics_base_rs::types::{EpicsValue, PvString};
use strata::engine::ArchiveEngine;
use strata::plainpb::{ChunkItem, ChunkReader};

async fn wait_for(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typeinfo_metadata_and_waveform_chunks_as_java_writes_them() {
    common::ioc::ca_env();
    let port = free_port();
    let ioc = Ioc::start(
        port,
        vec![
            ("X:int".into(), EpicsValue::Long(7), None),
            (
                "X:enum".into(),
                EpicsValue::Enum(1),
                Some(enum_meta(&["Off", "On", "Fault"])),
            ),
            ("X:str".into(), EpicsValue::String(PvString::from("s")), None),
            (
                "X:wf".into(),
                EpicsValue::DoubleArray(vec![0.5; 128].into()),
                Some(dbl_meta("V", 2)),
            ),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    // A long write period: samples stay in the engine until flush_now.
    let (srv, engine) = TestServer::start_ca(dir.path(), |c| {
        c.engine.write_period = 3600.0;
        c.engine.initial_sampling_secs = 0.5;
        c.engine.ca_addr_list = Some(format!("127.0.0.1:{port}"));
    })
    .await;
    let (s, v) = srv
        .get_json("/mgmt/bpl/archivePV?pv=X:int,X:enum,X:str,X:wf")
        .await;
    assert_eq!(s, 200, "{v}");
    for pv in ["X:int", "X:enum", "X:str", "X:wf"] {
        wait_for(&format!("{pv} archived"), 60, async || {
            let (_, v) = srv.get_json(&format!("/mgmt/bpl/getPVStatus?pv={pv}")).await;
            v[0]["status"] == "Being archived"
        })
        .await;
    }

    for pv in ["X:int", "X:enum", "X:str"] {
        let (s, v) = srv.get_json(&format!("/mgmt/bpl/getPVTypeInfo?pv={pv}")).await;
        assert_eq!(s, 200);
        assert_eq!(v["precision"], "0.0", "{pv}: {v}");
        assert!(v["lowerAlarmLimit"].is_string(), "{pv}: {v}");
    }

    // The enum's labels, from the live channel.
    wait_for("enum labels", 30, async || {
        let (_, v) = srv.get_json("/retrieval/bpl/getMetadata?pv=X:enum").await;
        v["ENUM_2"] == "Fault"
    })
    .await;
    let (_, v) = srv.get_json("/retrieval/bpl/getMetadata?pv=X:enum").await;
    assert_eq!((&v["ENUM_0"], &v["ENUM_1"]), (&"Off".into(), &"On".into()), "{v}");
    assert_eq!(v["EAA_COUNT"], "1");
    assert!(v.get("ENUM_3").is_none(), "{v}");
    let (_, v) = srv.get_json("/retrieval/bpl/getMetadata?pv=X:wf").await;
    assert_eq!(
        (&v["EAA_COUNT"], &v["EGU"], &v["PREC"]),
        (&"128".into(), &"V".into(), &"2.0".into()),
        "{v}"
    );
    assert_eq!(v["HOPR"], "100.0");

    // Waveform samples: some written to disk, newer ones still buffered.
    let base = chrono::Utc::now().timestamp() + 1;
    for i in 0..3u32 {
        ioc.post(
            "X:wf",
            EpicsValue::DoubleArray(vec![f64::from(i); 128].into()),
            0,
            0,
            base,
            i,
        );
    }
    wait_for("waveforms received", 30, async || {
        engine.buffers().unwrap().buffered("X:wf").len() >= 2
    })
    .await;
    engine.flush_now().await;
    for i in 3..5u32 {
        ioc.post(
            "X:wf",
            EpicsValue::DoubleArray(vec![f64::from(i); 128].into()),
            0,
            0,
            base + 1,
            i,
        );
    }
    wait_for("waveforms buffered", 30, async || {
        !engine.buffers().unwrap().buffered("X:wf").is_empty()
    })
    .await;
    let r = srv.get("/retrieval/data/getData.raw?pv=X:wf").await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let mut reader = ChunkReader::new(&body[..]);
    let (mut headers, mut samples) = (Vec::new(), 0);
    while let Some(item) = reader.next_item().unwrap() {
        match item {
            ChunkItem::Header(h) => headers.push(h),
            ChunkItem::Sample(s) => {
                assert_eq!(s.value.element_count(), 128);
                samples += 1;
            }
        }
    }
    assert!(
        headers.len() >= 2,
        "a disk chunk and an engine chunk: {headers:?}"
    );
    for h in &headers {
        assert_eq!(h.element_count, Some(128), "{h:?}");
    }
    // At least two flushed to disk and one still buffered (the IOC may
    // coalesce monitor updates posted back to back).
    assert!(samples >= 3, "{samples} samples");
    ioc.stop();
    srv.stop().await;
}
