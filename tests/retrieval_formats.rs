//! Response bytes of each format, JSON non-finite options, compression,
//! donotchunk, and HTTP errors for bad requests.

mod common;

use common::server::TestServer;
use strata::retrieval::format::NonFinite;
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

const PV: &str = "ROOT:SUB:pv";
const Q: &str = "from=2024-03-15T09:00:00Z&to=2024-03-15T10:00:00Z";

async fn worked_example(srv: &TestServer) {
    let s1 = ArchiverSample::at(1_710_495_000, 500_000_000, SampleValue::Double(1.5));
    let s2 = ArchiverSample::at(1_710_495_010, 0, SampleValue::Double(-0.09))
        .with_alarm(2, 3)
        .with_field("cnxlostepsecs", "0")
        .with_field("startup", "true");
    let s3 = ArchiverSample::at(1_710_495_020, 0, SampleValue::Double(f64::NAN)).with_alarm(3, 17);
    for s in [&s1, &s2, &s3] {
        srv.store
            .append_event(PV, ArchDbType::ScalarDouble, s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
    let mut info = strata::registry::PvTypeInfo::new(PV, ArchDbType::ScalarDouble, 1);
    info.units = Some("mm".into());
    info.precision = Some(3.0);
    srv.registry.put(&info).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_csv_qw_txt_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    worked_example(&srv).await;
    let json = srv
        .get(&format!("/retrieval/data/getData.json?pv={PV}&{Q}"))
        .await;
    assert_eq!(json.headers()["content-type"], "application/json");
    assert_eq!(json.headers()["access-control-allow-origin"], "*");
    let text = json.text().await.unwrap();
    assert_eq!(
        text,
        "[ \n{ \"meta\": { \"name\": \"ROOT:SUB:pv\" , \"EGU\": \"mm\" , \"PREC\": \"3\" },\n\"data\": [ \n\
         { \"secs\": 1710495000, \"val\": 1.5, \"nanos\": 500000000, \"severity\":0, \"status\":0 },\n\
         { \"secs\": 1710495010, \"val\": -0.09, \"nanos\": 0, \"severity\":2, \"status\":3, \"fields\": { \"cnxlostepsecs\": \"0\",\"startup\": \"true\"} },\n\
         { \"secs\": 1710495020, \"val\": NaN, \"nanos\": 0, \"severity\":3, \"status\":17 }\n] }\n ]\n"
    );
    let csv = srv.get(&format!("/retrieval/data/getData.csv?pv={PV}&{Q}")).await;
    assert_eq!(csv.headers()["content-type"], "text/csv");
    assert_eq!(
        csv.text().await.unwrap(),
        "1710495000,1.5,0,0,500000000\n1710495010,-0.09,2,3,0\n1710495020,NaN,3,17,0\n\n"
    );
    let (s, qw) = srv
        .get_json(&format!("/retrieval/data/getData.qw?pv={PV}&{Q}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(qw[0]["meta"]["waveform"], false);
    assert_eq!(qw[0]["data"][0]["millis"], 1_710_495_000_500i64);
    assert!(qw[0]["data"][2]["val"].is_null());
    let txt = srv
        .get(&format!("/retrieval/data/getData.txt?pv={PV}&{Q}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(txt.starts_with("Beginning data for ROOT:SUB:pv\n"), "{txt}");
    assert!(
        txt.contains("2024-03-15 09:30:10.000000000\t-0.09\t2\t3\t0"),
        "{txt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonfinite_options_give_valid_json() {
    for (opt, expect) in [
        (NonFinite::Null, serde_json::Value::Null),
        (NonFinite::String, serde_json::json!("NaN")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let srv = TestServer::start_with(dir.path(), |c| c.retrieval.json_nonfinite = opt).await;
        worked_example(&srv).await;
        let (s, v) = srv
            .get_json(&format!("/retrieval/data/getData.json?pv={PV}&{Q}"))
            .await;
        assert_eq!(s, 200);
        assert_eq!(v[0]["data"][2]["val"], expect);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_and_donotchunk() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    worked_example(&srv).await;
    let plain = srv
        .get(&format!("/retrieval/data/getData.json?pv={PV}&{Q}"))
        .await
        .bytes()
        .await
        .unwrap();
    let raw_client = reqwest::Client::builder().no_gzip().no_zstd().build().unwrap();
    for enc in ["gzip", "zstd"] {
        let r = raw_client
            .get(srv.url(&format!("/retrieval/data/getData.json?pv={PV}&{Q}")))
            .header("Accept-Encoding", enc)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-encoding"], enc);
        let body = r.bytes().await.unwrap();
        let decoded = match enc {
            "zstd" => zstd::decode_all(&body[..]).unwrap(),
            _ => {
                use std::io::Read;
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
        };
        assert_eq!(decoded, plain.to_vec());
    }
    let r = raw_client
        .get(srv.url(&format!(
            "/retrieval/data/getData.json?pv={PV}&{Q}&donotchunk=true"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-length"].to_str().unwrap(),
        plain.len().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_or_404_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    worked_example(&srv).await;
    let cases = [
        ("/retrieval/data/getData.json?pv=NO:SUCH:pv", 404, "NO:SUCH:pv"),
        ("/retrieval/data/getData.json", 400, "pv"),
        (
            &format!("/retrieval/data/getData.json?pv={PV}&from=yesterday") as &str,
            400,
            "from",
        ),
        (
            &format!("/retrieval/data/getData.json?pv={PV}&to=2024-13-01T00:00:00Z"),
            400,
            "to",
        ),
        (
            &format!(
                "/retrieval/data/getData.json?pv={PV}&from=2024-03-16T00:00:00Z&to=2024-03-15T00:00:00Z"
            ),
            400,
            "from",
        ),
        (
            &format!("/retrieval/data/getData.json?pv={PV}&pp=mean_x"),
            400,
            "pp",
        ),
        (
            &format!("/retrieval/data/getData.json?pv=mean_600({PV}"),
            400,
            "pv",
        ),
        (
            &format!("/retrieval/data/getData.json?pv=mean_0({PV})"),
            400,
            "pp",
        ),
        (&format!("/retrieval/data/getData.xyz?pv={PV}"), 400, "xyz"),
        (&format!("/retrieval/data/getData?pv={PV}"), 400, "extension"),
        (&format!("/retrieval/data/getDataForPVs.csv?pv={PV}"), 400, "csv"),
        (
            &format!("/retrieval/data/noSuchRequest.json?pv={PV}"),
            400,
            "noSuchRequest",
        ),
        (
            &format!("/retrieval/data/getData.json?pv={PV}&timeranges=2024-03-15T00:00:00Z"),
            400,
            "timeranges",
        ),
        ("/retrieval/data/getDataAtTime", 405, "POST"),
    ];
    for (path, status, mention) in cases {
        let (s, v) = srv.get_json(path).await;
        assert_eq!(s, status, "{path}: {v}");
        assert_eq!(v["status"], status, "{path}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(mention), "{path}: {msg}");
    }
    // A bad JSON body is a 400, not a 500.
    let r = reqwest::Client::new()
        .post(srv.url("/retrieval/data/getDataAtTime"))
        .header("Content-Type", "application/json")
        .body("[not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A string PV given a numeric operator: 400 naming pp.
    srv.store
        .append_event(
            "S:str",
            ArchDbType::ScalarString,
            &ArchiverSample::at(1_710_495_000, 0, SampleValue::String("x".into())),
        )
        .await
        .unwrap();
    common::server::register(&srv.registry, "S:str", ArchDbType::ScalarString);
    let (s, v) = srv
        .get_json(&format!("/retrieval/data/getData.json?pv=mean_600(S:str)&{Q}"))
        .await;
    assert_eq!(s, 400, "{v}");
}
