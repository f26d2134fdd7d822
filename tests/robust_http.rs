//! Issue 11 over real HTTP: every route answers panic-provoking and
//! oversized input with JSON 4xx (never a dropped connection or a 500); a
//! handler panic is a JSON 500 with an id; unknown paths and methods are
//! JSON; a lost tier is a 503 naming it; a post-processor over too many
//! bins is a 400.

mod common;

use axum::routing::get;
use axum::Router;
use common::routes::{self, Route};
use common::server::TestServer;
use serde_json::Value;
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

const NASTY: &[&str] = &[
    "2024-03-15T09:30:0é",
    "é",
    "((((((",
    "mean_0(R:dbl",
    "%",
    "-99999999999999999999",
    "\u{0}",
    "*[",
];

async fn seed(srv: &TestServer) {
    for i in 0..10 {
        let s = ArchiverSample::at(1_710_495_000 + i * 60, 0, SampleValue::Double(i as f64));
        srv.store
            .append_event("R:dbl", ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
    common::server::register(&srv.registry, "R:dbl", ArchDbType::ScalarDouble);
}

/// Status and JSON body; the body must be JSON with the same status for
/// every 4xx/5xx.
async fn send(req: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer: {}", e.without_url()));
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{what}: aborted body: {e}"));
    if status >= 400 {
        assert!(ct.starts_with("application/json"), "{what}: {status} as {ct}");
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(v["status"], status, "{what}: {v}");
        return (status, v);
    }
    (status, Value::Null)
}

fn query(route: &Route, value: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    let params: &[&str] = if route.params.is_empty() {
        &["pv"]
    } else {
        route.params
    };
    for p in params {
        s.append_pair(p, value);
    }
    s.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_nasty_and_oversized_input_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    seed(&srv).await;
    let client = reqwest::Client::new();
    // The server answers an oversized body without reading it and closes
    // the connection: those requests get connections of their own.
    let unpooled = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let big_value = "A".repeat(40_000);
    let big_body = vec![b'['; 3 * 1024 * 1024];
    for route in routes::all() {
        for v in NASTY {
            let q = query(&route, v);
            let what = format!("GET {}?{q}", route.path);
            let (s, body) = send(client.get(srv.url(&format!("{}?{q}", route.path))), &what).await;
            assert!(s < 500, "{what}: {s} {body}");
            if route.body {
                let what = format!("POST {}?{q}", route.path);
                let req = client
                    .post(srv.url(&format!("{}?{q}", route.path)))
                    .header("Content-Type", "application/json")
                    .body(format!("[{{\"pv\": 5}}, \"{v}\", {{\"pv\": \"{v}\"}}]"));
                let (s, body) = send(req, &what).await;
                assert!(s < 500, "{what}: {s} {body}");
            }
        }
        // The original report: a non-ASCII character in `from` (issue 11).
        if route.params.contains(&"from") {
            let url = srv.url(&format!("{}?pv=R:dbl&from=2024-03-15T09:30:0%C3%A9", route.path));
            let (s, v) = send(client.get(url), route.path).await;
            assert_eq!(
                (s, &v["parameter"]),
                (400, &Value::from("from")),
                "{}: {v}",
                route.path
            );
        }
        // A query string over the limit: 414.
        let url = srv.url(&format!("{}?pv={big_value}", route.path));
        let (s, v) = send(client.get(url), route.path).await;
        assert_eq!(s, 414, "{}: {v}", route.path);
        // A body over the limit: 413 naming the body.
        if route.body {
            let req = unpooled
                .post(srv.url(route.path))
                .header("Content-Type", "application/json")
                .body(big_body.clone());
            let (s, v) = send(req, route.path).await;
            assert_eq!(
                (s, &v["parameter"]),
                (413, &Value::from("body")),
                "{}: {v}",
                route.path
            );
        }
    }
    // The server still answers.
    let (s, _) = send(client.get(srv.url("/retrieval/ping")), "ping").await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panic_is_a_json_500_with_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    // A route added only here: the production router has no way to panic
    // on purpose.
    let extra = Router::new().route(
        "/test/panic",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("forced for the test at /secret/path");
            }
            "unreachable"
        }),
    );
    let app = strata::api::app_with(srv.state.clone(), extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let (s, v) = send(client.get(format!("{base}/test/panic")), "panic").await;
        assert_eq!(s, 500);
        assert_eq!(v["error"], "Internal Server Error");
        let id = v["id"].as_str().expect("an id");
        assert!(!id.is_empty());
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(id), "{msg}");
        assert!(!msg.contains("/secret/path"), "details stay in the log: {msg}");
    }
    // The connection pool and server survive.
    let (s, _) = send(client.get(format!("{base}/retrieval/ping")), "ping").await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_methods_and_big_bin_counts_are_json_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    seed(&srv).await;
    let client = reqwest::Client::new();
    let (s, v) = send(client.get(srv.url("/no/such/path")), "unknown path").await;
    assert_eq!(s, 404);
    assert!(v["message"].as_str().unwrap().contains("/no/such/path"));
    let (s, _) = send(client.post(srv.url("/retrieval/ping")), "POST ping").await;
    assert_eq!(s, 405);
    let (s, v) = send(client.get(srv.url("/mgmt/bpl/%FF%FE")), "bad path").await;
    assert_eq!((s, &v["parameter"]), (400, &Value::from("request")), "{v}");
    // A 1 s mean over ten thousand years would never end: 400 naming pp.
    let url = srv.url(
        "/retrieval/data/getData.json?pv=mean_1(R:dbl)&from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z",
    );
    let (s, v) = send(client.get(url), "huge bins").await;
    assert_eq!((s, &v["parameter"]), (400, &Value::from("pp")), "{v}");
    // Unknown PVs are named in the 404.
    let (s, v) = send(
        client.get(srv.url("/retrieval/data/getData.json?pv=NO:such")),
        "unknown",
    )
    .await;
    assert_eq!(s, 404);
    assert!(v["message"].as_str().unwrap().contains("NO:such"));
    let (s, v) = send(
        client.get(srv.url("/mgmt/bpl/getPVTypeInfo?pv=NO:such")),
        "unknown",
    )
    .await;
    assert_eq!(s, 404);
    assert!(v["message"].as_str().unwrap().contains("NO:such"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_tier_is_a_503_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    seed(&srv).await;
    let client = reqwest::Client::new();
    let url =
        srv.url("/retrieval/data/getData.json?pv=R:dbl&from=2024-03-15T09:00:00Z&to=2024-03-15T10:00:00Z");
    let (s, _) = send(client.get(&url), "before").await;
    assert_eq!(s, 200);
    // The STS folder disappears under the server (an unmounted disk): a
    // file stands where the folder was.
    let sts = srv.cfg.storage.tiers[0].root.clone();
    std::fs::rename(&sts, dir.path().join("sts.away")).unwrap();
    std::fs::write(&sts, b"not a folder").unwrap();
    for url in [
        url.clone(),
        format!("{url}&donotchunk=true"),
        url.replace("getData.json", "getData.raw"),
    ] {
        let (s, v) = send(client.get(&url), "lost tier").await;
        assert_eq!(s, 503, "{url}: {v}");
        assert!(v["message"].as_str().unwrap().contains("STS"), "{v}");
    }
    std::fs::remove_file(&sts).unwrap();
    std::fs::rename(dir.path().join("sts.away"), &sts).unwrap();
    let (s, _) = send(client.get(&url), "after").await;
    assert_eq!(s, 200);
}
