//! Issue 11, what third-party clients read, as the Java appliance writes
//! it (over HTTP): `getData.raw` is not compressed even when gzip is
//! offered; PVTypeInfo carries every primitive field (`precision` for int,
//! enum and string PVs); every raw chunk of a waveform says the type info's
//! element count, also the chunk of samples still in the engine's buffer;
//! `getMetadata` is Java's MetaInfo dictionary; the process metrics answer
//! in Java's chart shape.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use common::server::TestServer;
use serde_json::Value;
use strata::engine::{ArchiveEngine, BufferedSamples, ChannelStatus, EngineMetrics};
use strata::plainpb::{ChunkItem, ChunkReader};
use strata::registry::{ArchiveRequest, PvTypeInfo};
use strata::storage::{AppendMeta, StoragePlugin};
use strata::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

const PV: &str = "IO:dbl";

async fn seed_double(srv: &TestServer) {
    for i in 0..5 {
        let s = ArchiverSample::at(1_710_495_000 + i, 0, SampleValue::Double(i as f64));
        srv.store
            .append_event(PV, ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
    common::server::register(&srv.registry, PV, ArchDbType::ScalarDouble);
}

fn chunk_headers(bytes: &[u8]) -> Vec<strata::pb::PayloadInfo> {
    let mut r = ChunkReader::new(bytes);
    let mut out = Vec::new();
    let mut samples = 0;
    while let Some(item) = r.next_item().expect("a well-formed PB/HTTP stream") {
        match item {
            ChunkItem::Header(h) => out.push(h),
            ChunkItem::Sample(_) => samples += 1,
        }
    }
    assert!(samples > 0);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_is_sent_unencoded_when_gzip_is_offered() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    seed_double(&srv).await;
    // A client that does not decode: it reads the bytes as sent.
    let client = reqwest::Client::builder().no_gzip().no_zstd().build().unwrap();
    let q = format!("pv={PV}&from=2024-03-15T09:00:00Z&to=2024-03-15T10:00:00Z");
    for enc in ["gzip", "gzip, deflate, br, zstd", "zstd"] {
        let r = client
            .get(srv.url(&format!("/retrieval/data/getData.raw?{q}")))
            .header("Accept-Encoding", enc)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers().get("content-encoding").is_none(),
            "{enc}: {:?}",
            r.headers()
        );
        assert_eq!(r.headers()["content-type"], "application/x-protobuf");
        let body = r.bytes().await.unwrap();
        assert_eq!(chunk_headers(&body)[0].pvname, PV);
        // Text formats may stay compressed.
        let r = client
            .get(srv.url(&format!("/retrieval/data/getData.json?{q}")))
            .header("Accept-Encoding", enc)
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("content-encoding").is_some(), "json, {enc}");
    }
    srv.stop().await;
    // `[retrieval] compress_raw = true` compresses raw for sites that want it.
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), |c| c.retrieval.compress_raw = true).await;
    seed_double(&srv).await;
    let r = client
        .get(srv.url(&format!("/retrieval/data/getData.raw?{q}")))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pvtypeinfo_of_int_enum_and_string_pvs_carries_every_java_field() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    for (pv, ty) in [
        ("IO:int", ArchDbType::ScalarInt),
        ("IO:enum", ArchDbType::ScalarEnum),
        ("IO:str", ArchDbType::ScalarString),
    ] {
        // As the archive workflow records such PVs: no PREC, no limits.
        let mut t = PvTypeInfo::new(pv, ty, 1);
        t.creation_time = Some(chrono::Utc::now());
        srv.registry.put(&t).unwrap();
        let (s, v) = srv.get_json(&format!("/mgmt/bpl/getPVTypeInfo?pv={pv}")).await;
        assert_eq!(s, 200);
        assert_eq!(v["precision"], "0.0", "{pv}: {v}");
        // Every primitive field of Java's PVTypeInfo, always present.
        for k in [
            "scalar",
            "elementCount",
            "lowerAlarmLimit",
            "lowerCtrlLimit",
            "lowerDisplayLimit",
            "lowerWarningLimit",
            "upperAlarmLimit",
            "upperCtrlLimit",
            "upperDisplayLimit",
            "upperWarningLimit",
            "hasReducedDataSet",
            "computedEventRate",
            "computedStorageRate",
            "computedBytesPerEvent",
            "userSpecifiedEventRate",
            "paused",
            "samplingPeriod",
            "usePVAccess",
            "useDBEProperties",
        ] {
            assert!(v[k].is_string(), "{pv}: {k} in {v}");
        }
        assert_eq!(v["upperDisplayLimit"], "0.0");
        // Null strings are left out; nothing is a bare number or boolean.
        for absent in ["units", "hostName", "controllingPV", "policyName"] {
            assert!(v.get(absent).is_none(), "{pv}: {absent}");
        }
        for (k, x) in v.as_object().unwrap() {
            assert!(
                !x.is_number() && !x.is_boolean() && !x.is_null(),
                "{pv}: {k} = {x}"
            );
        }
    }
}

/// An engine with samples of one waveform still in its buffer.
struct BufferingEngine(Arc<Buffered>);

/// What [`BufferingEngine`] shows retrieval.
struct Buffered {
    pv: String,
    samples: Vec<ArchiverSample>,
    metadata: BTreeMap<String, String>,
}

impl BufferedSamples for Buffered {
    fn buffered(&self, pv: &str) -> Vec<ArchiverSample> {
        if pv == self.pv {
            self.samples.clone()
        } else {
            Vec::new()
        }
    }
    fn metadata(&self, pv: &str) -> BTreeMap<String, String> {
        if pv == self.pv {
            self.metadata.clone()
        } else {
            BTreeMap::new()
        }
    }
}

#[async_trait]
impl ArchiveEngine for BufferingEngine {
    async fn start(&self, _info: &PvTypeInfo) -> anyhow::Result<()> {
        Ok(())
    }
    async fn stop(&self, _pv: &str) -> anyhow::Result<()> {
        Ok(())
    }
    async fn request(&self, _req: &ArchiveRequest) -> anyhow::Result<()> {
        Ok(())
    }
    async fn abort(&self, _pv: &str) -> anyhow::Result<()> {
        Ok(())
    }
    fn status(&self, _pv: &str) -> Option<ChannelStatus> {
        None
    }
    fn metadata(&self, pv: &str) -> BTreeMap<String, String> {
        BufferedSamples::metadata(&*self.0, pv)
    }
    fn metrics(&self) -> EngineMetrics {
        EngineMetrics::default()
    }
    fn running(&self) -> bool {
        true
    }
    fn buffers(&self) -> Option<Arc<dyn BufferedSamples>> {
        Some(self.0.clone())
    }
}

fn wave(t: i64, v: f64) -> ArchiverSample {
    ArchiverSample::at(t, 0, SampleValue::VDouble(vec![v; 128]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_waveform_chunks_all_say_the_type_info_element_count() {
    let now = Timestamp::now().secs;
    let wf = "IO:wf";
    let engine = Arc::new(BufferingEngine(Arc::new(Buffered {
        pv: wf.into(),
        samples: vec![wave(now - 2, 10.0), wave(now - 1, 11.0)],
        metadata: BTreeMap::new(),
    })));
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with_engine(dir.path(), |_| {}, engine).await;
    // On disk: written as the CA engine writes, with the element count in
    // the file header.
    let meta = AppendMeta {
        element_count: Some(128),
        headers: vec![("EGU".into(), "V".into())],
    };
    for i in 0..3 {
        srv.store
            .append_event_with_meta(
                wf,
                ArchDbType::WaveformDouble,
                &wave(now - 100 + i, i as f64),
                &meta,
            )
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
    let mut info = PvTypeInfo::new(wf, ArchDbType::WaveformDouble, 128);
    info.creation_time = Some(chrono::Utc::now());
    srv.registry.put(&info).unwrap();
    // `from` after the first stored sample: chunks from the file (and the
    // index record of the sample before `from`), then from the buffer.
    let from = chrono::DateTime::from_timestamp(now - 99, 500_000_000)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let r = srv
        .get(&format!("/retrieval/data/getData.raw?pv={wf}&from={from}"))
        .await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let headers = chunk_headers(&body);
    assert!(headers.len() >= 2, "disk and engine chunks: {headers:?}");
    for h in &headers {
        assert_eq!(h.element_count, Some(128), "{h:?}");
        assert_eq!(h.pvname, wf);
    }
    // The stored samples after `from` and the buffered ones all arrived.
    let mut r = ChunkReader::new(&body[..]);
    let mut n = 0;
    while let Some(item) = r.next_item().unwrap() {
        if let ChunkItem::Sample(s) = item {
            assert_eq!(s.value.element_count(), 128);
            n += 1;
        }
    }
    assert!(n >= 4, "{n} samples");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_metadata_is_javas_metainfo_dictionary() {
    let pv = "IO:enum";
    let engine = Arc::new(BufferingEngine(Arc::new(Buffered {
        pv: pv.into(),
        samples: vec![],
        // What the CA engine reports for an enum channel.
        metadata: [("ENUM_0", "Off"), ("ENUM_1", "On"), ("ENUM_2", "Fault")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })));
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with_engine(dir.path(), |_| {}, engine).await;
    let mut info = PvTypeInfo::new(pv, ArchDbType::ScalarEnum, 1);
    info.extra_fields.insert("RTYP".into(), "mbbi".into());
    srv.registry.put(&info).unwrap();
    let (s, v) = srv.get_json(&format!("/retrieval/bpl/getMetadata?pv={pv}")).await;
    assert_eq!(s, 200, "{v}");
    for (k, want) in [
        ("ENUM_0", "Off"),
        ("ENUM_1", "On"),
        ("ENUM_2", "Fault"),
        ("LOPR", "0.0"),
        ("HOPR", "0.0"),
        ("LOW", "0.0"),
        ("HIGH", "0.0"),
        ("LOLO", "0.0"),
        ("HIHI", "0.0"),
        ("DRVL", "0.0"),
        ("DRVH", "0.0"),
        ("PREC", "0.0"),
        ("EAA_COUNT", "1"),
        ("RTYP", "mbbi"),
        ("pvName", pv),
        ("DBRType", "DBR_SCALAR_ENUM"),
    ] {
        assert_eq!(v[k], want, "{k} in {v}");
    }
    // fetchLatestMetadata=true puts the same dictionary in `meta`.
    srv.store
        .append_event(
            pv,
            ArchDbType::ScalarEnum,
            &ArchiverSample::at(1_710_495_000, 0, SampleValue::Enum(1)),
        )
        .await
        .unwrap();
    srv.store.flush_writes().await.unwrap();
    let (s, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv={pv}&from=2024-03-15T09:00:00Z&to=2024-03-15T10:00:00Z&fetchLatestMetadata=true"
        ))
        .await;
    assert_eq!(s, 200);
    let meta = &v[0]["meta"];
    for (k, want) in [("ENUM_2", "Fault"), ("EAA_COUNT", "1"), ("HIHI", "0.0")] {
        assert_eq!(meta[k], want, "{k} in {meta}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_metrics_answer_in_javas_chart_shape() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (s, v) = srv
        .get_json("/mgmt/bpl/getProcessMetricsDataForAppliance?appliance=appliance0")
        .await;
    assert_eq!(s, 200, "{v}");
    let series = v.as_array().unwrap();
    let labels: Vec<&str> = series.iter().map(|x| x["label"].as_str().unwrap()).collect();
    for l in [
        "system_load (%)",
        "engine_heap (%)",
        "cpu (%)",
        "rss (MB)",
        "threads",
        "file_descriptors",
    ] {
        assert!(labels.contains(&l), "{l} in {labels:?}");
    }
    for x in series {
        let data = x["data"].as_array().unwrap();
        assert!(!data.is_empty(), "{x}");
        for point in data {
            let p = point.as_array().unwrap();
            assert_eq!(p.len(), 2);
            assert!(p[0].is_i64(), "{point}");
            assert!(p[1].is_number(), "{point}");
        }
    }
    let find = |l: &str| {
        series.iter().find(|x| x["label"] == l).unwrap()["data"][0][1]
            .as_f64()
            .unwrap()
    };
    assert!(find("threads") >= 1.0);
    assert!(find("rss (MB)") > 0.0);
    assert!(find("file_descriptors") >= 1.0);
    // Java: 404 without `appliance`, and for another appliance.
    for q in ["", "?appliance=elsewhere"] {
        let (s, _) = srv
            .get_json(&format!("/mgmt/bpl/getProcessMetricsDataForAppliance{q}"))
            .await;
        assert_eq!(s, 404, "{q}");
    }
    // getProcessMetrics: Java's report, values as strings.
    let (s, v) = srv.get_json("/mgmt/bpl/getProcessMetrics").await;
    assert_eq!(s, 200);
    assert!(v["MGMT_uptime"].is_u64());
    assert!(v["MGMT_start"].is_string());
    let m = &v["MGMT_metrics"][0];
    for k in ["timeInEpochSeconds", "systemLoadAverage", "heapUsedPercent"] {
        assert!(m[k].is_string(), "{k} in {m}");
    }
    let _: Value = v;
}
