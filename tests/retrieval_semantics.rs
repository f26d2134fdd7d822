//! getData semantics over real tiers: continuity sample, LTS → MTS → STS
//! merge with boundary de-duplication, a year boundary, raw framing.

mod common;

use std::collections::BTreeMap;
use std::io::Cursor;

use common::server::{register, TestServer};
use strata::plainpb::{ChunkItem, ChunkReader};
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

const Y2024: i64 = 1_704_067_200;
const PV: &str = "TIER:merge-pv";

/// Writes LTS (hourly points on Dec 31), MTS (half-hourly across New Year)
/// and STS (Jan 1) with duplicated overlaps; returns the union.
async fn setup(srv: &TestServer) -> BTreeMap<i64, f64> {
    let mut all = BTreeMap::new();
    let val = |t: i64| (t - Y2024) as f64 / 600.0;
    let tiers = srv.store.tiers();
    let mut put = |tier: usize, t: i64| {
        all.insert(t, val(t));
        (tier, t)
    };
    let mut plan = Vec::new();
    for h in 0..=22 {
        plan.push(put(2, Y2024 - 86_400 + h * 3600));
    }
    for k in 0..=16 {
        plan.push(put(1, Y2024 - 2 * 3600 + k * 1800));
    }
    // STS repeats MTS's last hour exactly (ETL copied, not yet deleted),
    // then continues every 10 minutes.
    for k in 0..=2 {
        plan.push(put(0, Y2024 + 5 * 3600 + k * 1800));
    }
    for k in 1..=12 {
        plan.push(put(0, Y2024 + 6 * 3600 + k * 600));
    }
    for (tier, t) in plan {
        let s = ArchiverSample::at(t, 0, SampleValue::Double(val(t)));
        tiers[tier]
            .append(PV, ArchDbType::ScalarDouble, &s, None)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
    let mut info = strata::registry::PvTypeInfo::new(PV, ArchDbType::ScalarDouble, 1);
    info.units = Some("mm".into());
    info.precision = Some(3.0);
    srv.registry.put(&info).unwrap();
    all
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn expected(all: &BTreeMap<i64, f64>, from: i64, to: i64) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = all
        .range(..=from)
        .next_back()
        .map(|(t, v)| (*t, *v))
        .into_iter()
        .collect();
    out.extend(all.range(from + 1..=to).map(|(t, v)| (*t, *v)));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_across_tiers_and_year_with_continuity() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let all = setup(&srv).await;
    // Files really are in three tiers and two years.
    let stores = srv.store.stores_for_pv(PV).unwrap();
    assert!(stores.iter().all(|s| s.pv_file_count.unwrap() > 0), "{stores:?}");
    for (from, to) in [
        (Y2024 - 86_400 + 10 * 3600 + 1800, Y2024 + 7 * 3600), // starts between two LTS samples
        (Y2024 - 1, Y2024 + 1),                                // around midnight
        (Y2024 + 5 * 3600, Y2024 + 6 * 3600),                  // MTS/STS overlap, from on a sample
        (Y2024 + 100 * 3600, Y2024 + 101 * 3600),              // after everything: last sample only
    ] {
        let (status, v) = srv
            .get_json(&format!(
                "/retrieval/data/getData.json?pv={PV}&from={}&to={}",
                iso(from),
                iso(to)
            ))
            .await;
        assert_eq!(status, 200);
        let data = v[0]["data"].as_array().unwrap();
        let got: Vec<(i64, f64)> = data
            .iter()
            .map(|d| (d["secs"].as_i64().unwrap(), d["val"].as_f64().unwrap()))
            .collect();
        assert_eq!(
            got,
            expected(&all, from, to),
            "range {} .. {}",
            iso(from),
            iso(to)
        );
        assert_eq!(v[0]["meta"]["name"], PV);
        assert_eq!(v[0]["meta"]["EGU"], "mm");
        assert_eq!(v[0]["meta"]["PREC"], "3");
    }
    // Before any data: Java's empty answer.
    let (status, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv={PV}&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(v, serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_response_parses_back_into_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let all = setup(&srv).await;
    let (from, to) = (Y2024 - 86_400 + 3600, Y2024 + 8 * 3600);
    let resp = srv
        .get(&format!(
            "/retrieval/data/getData.raw?pv={PV}&from={}&to={}",
            iso(from),
            iso(to)
        ))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let bytes = resp.bytes().await.unwrap();
    // Chunks after the first are preceded by an empty line.
    assert!(bytes.windows(2).any(|w| w == b"\n\n"));
    let mut r = ChunkReader::new(Cursor::new(bytes.to_vec()));
    let mut headers = Vec::new();
    let mut got = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        match item {
            ChunkItem::Header(h) => headers.push(h),
            ChunkItem::Sample(s) => {
                let year = headers.last().unwrap().year;
                assert_eq!(s.ts().year(), year, "header year matches its samples");
                got.push((s.ts().secs, s.value.as_f64().unwrap()));
            }
        }
    }
    assert_eq!(got, expected(&all, from, to));
    let years: Vec<i32> = headers.iter().map(|h| h.year).collect();
    assert!(years.contains(&2023) && years.contains(&2024), "{years:?}");
    let h = &headers[0];
    assert_eq!(h.pvname, PV);
    assert_eq!(h.element_count, Some(1));
    let hs: BTreeMap<_, _> = h
        .headers
        .iter()
        .map(|f| (f.name.as_str(), f.val.as_str()))
        .collect();
    assert_eq!(hs.get("EGU"), Some(&"mm"));
    assert_eq!(hs.get("PREC"), Some(&"3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_pv_at_time_and_matching() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    for (pv, v) in [("M:a", 1.0), ("M:b", 2.0)] {
        register(&srv.registry, pv, ArchDbType::ScalarDouble);
        for i in 0..5 {
            srv.store
                .append_event(
                    pv,
                    ArchDbType::ScalarDouble,
                    &ArchiverSample::at(Y2024 + i * 10, 0, SampleValue::Double(v + i as f64)),
                )
                .await
                .unwrap();
        }
    }
    srv.store.flush_writes().await.unwrap();
    let q = format!("from={}&to={}", iso(Y2024), iso(Y2024 + 100));
    let (s, v) = srv
        .get_json(&format!("/retrieval/data/getDataForPVs.json?pv=M:a&pv=M:b&{q}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["meta"]["name"], "M:b");
    assert_eq!(v[1]["data"][4]["val"], 6.0);
    // POST body form of getDataForPVs.
    let r = reqwest::Client::new()
        .post(srv.url(&format!("/retrieval/data/getDataForPVs.json?{q}")))
        .json(&serde_json::json!(["M:a", "M:b"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    // getDataAtTime: newest sample at or before `at`; unknown names absent.
    let (s, v) = srv
        .post_json(
            &format!("/retrieval/data/getDataAtTime?at={}", iso(Y2024 + 25)),
            &serde_json::json!(["M:a", "M:b", "NOPE:x"]),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["M:a"]["secs"], Y2024 + 20);
    assert_eq!(v["M:a"]["val"], 3.0);
    assert_eq!(v["M:b"]["meta"]["DBRType"], "DBR_SCALAR_DOUBLE");
    assert_eq!(v["M:a"]["fields"], serde_json::json!({}));
    assert!(v.get("NOPE:x").is_none());
    // Matching and search.
    let (s, v) = srv.get_json("/retrieval/bpl/getMatchingPVs?pv=M:*").await;
    assert_eq!((s, v), (200, serde_json::json!(["M:a", "M:b"])));
    let (_, v) = srv.get_json("/retrieval/bpl/getMatchingPVs?regex=M:.").await;
    assert_eq!(v, serde_json::json!(["M:a", "M:b"]));
    let (_, v) = srv.get_json("/retrieval/bpl/getMatchingPVs?regex=M").await;
    assert_eq!(v, serde_json::json!([]), "regex must match the full name");
    let (_, v) = srv.get_json("/retrieval/bpl/getMatchingPVs?pv=M:*&limit=1").await;
    assert_eq!(v, serde_json::json!(["M:a"]));
    let text = srv
        .get("/retrieval/bpl/searchForPVsRegex?regex=M:b")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, "M:b\n");
    assert_eq!(srv.get("/retrieval/ping").await.text().await.unwrap(), "Pong");
    let (_, v) = srv.get_json("/retrieval/bpl/areWeArchivingPV?pv=M:a").await;
    assert_eq!(v["status"], "true");
    let (_, v) = srv.get_json("/retrieval/bpl/getVersion").await;
    assert!(v["version"].as_str().unwrap().starts_with("strata"));
}
