//! Fuzzing the HTTP API in process (tower `oneshot` on the real router over
//! real files and sled): arbitrary query parameters, path segments, methods
//! and bodies on every route. Property: never a 5xx (a panic in a handler
//! would be a 500 from the catch-panic layer), never a hang, never an
//! aborted body; every 4xx is JSON with its status, and a 400 names a
//! parameter of the request.
//!
//! `STRATA_FUZZ_CASES=1000000 cargo test --release --test fuzz_http` is the
//! long mode; `cargo test` runs a quick share.

mod common;

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use common::fuzz::{self, bytes, value, HANG_LIMIT};
use common::routes::{self, Route};
use common::server::TestServer;
use proptest::prelude::*;
use serde_json::Value;
use strata::storage::{AppendMeta, StoragePlugin};
use strata::types::{ArchDbType, ArchiverSample, SampleValue};
use tower::ServiceExt;

struct Env {
    rt: tokio::runtime::Runtime,
    app: Router,
    _srv: TestServer,
    _dir: tempfile::TempDir,
}

/// One server for the whole binary, seeded with PVs of several types, a
/// paused PV, an alias and a pending request.
fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let srv = rt.block_on(async {
            let srv = TestServer::start(dir.path()).await;
            seed(&srv).await;
            srv
        });
        let app = strata::api::app(srv.state.clone());
        Env {
            rt,
            app,
            _srv: srv,
            _dir: dir,
        }
    })
}

async fn seed(srv: &TestServer) {
    let now = chrono::Utc::now().timestamp();
    let types = [
        ("T:dbl", ArchDbType::ScalarDouble),
        ("T:int", ArchDbType::ScalarInt),
        ("T:enum", ArchDbType::ScalarEnum),
        ("T:str", ArchDbType::ScalarString),
        ("T:paused", ArchDbType::ScalarDouble),
    ];
    for (pv, ty) in types {
        for i in 0..20i64 {
            let v = match ty {
                ArchDbType::ScalarInt => SampleValue::Int(i as i32),
                ArchDbType::ScalarEnum => SampleValue::Enum((i % 3) as i16),
                ArchDbType::ScalarString => SampleValue::String(format!("s{i}")),
                _ => SampleValue::Double(i as f64 * 0.5),
            };
            for t in [1_710_495_000 + i * 60, now - 3600 + i * 60] {
                let s = ArchiverSample::at(t, 0, v.clone()).with_alarm((i % 4) as i32, (i % 3) as i32);
                srv.store.append_event(pv, ty, &s).await.unwrap();
            }
        }
        let mut info = strata::registry::PvTypeInfo::new(pv, ty, 1);
        info.paused = pv == "T:paused";
        info.archive_fields = vec!["HIHI".into(), "LOLO".into()];
        srv.registry.put(&info).unwrap();
    }
    let meta = AppendMeta {
        element_count: Some(16),
        headers: vec![("EGU".into(), "V".into())],
    };
    for i in 0..5i64 {
        let s = ArchiverSample::at(now - 600 + i, 0, SampleValue::VDouble(vec![i as f64; 16]));
        srv.store
            .append_event_with_meta("T:wf", ArchDbType::WaveformDouble, &s, &meta)
            .await
            .unwrap();
    }
    srv.registry
        .put(&strata::registry::PvTypeInfo::new(
            "T:wf",
            ArchDbType::WaveformDouble,
            16,
        ))
        .unwrap();
    srv.store.flush_writes().await.unwrap();
    srv.registry.add_alias("T:nick", "T:dbl").unwrap();
    let (s, v) = srv.get_json("/mgmt/bpl/archivePV?pv=T:pending").await;
    assert_eq!(s, 200, "{v}");
}

/// One request.
#[derive(Debug, Clone)]
struct Case {
    method: Method,
    path: String,
    /// Query: encoded pairs, or a raw string.
    query: Query,
    body: Option<(Option<String>, Vec<u8>)>,
    /// Parameters of the route (names a 400 may give when missing).
    route_params: Vec<&'static str>,
}

#[derive(Debug, Clone)]
enum Query {
    Pairs(Vec<(String, String)>),
    Raw(String),
}

impl Query {
    fn text(&self) -> String {
        match self {
            Query::Pairs(p) => {
                let mut s = form_urlencoded::Serializer::new(String::new());
                for (k, v) in p {
                    s.append_pair(k, v);
                }
                s.finish()
            }
            Query::Raw(r) => r.clone(),
        }
    }

    fn keys(&self) -> Vec<String> {
        let text = self.text();
        form_urlencoded::parse(text.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect()
    }
}

const ALL_PARAMS: &[&str] = &[
    "pv",
    "from",
    "to",
    "pp",
    "timeranges",
    "usereduced",
    "fetchLatestMetadata",
    "donotchunk",
    "at",
    "regex",
    "limit",
    "aliasname",
    "newname",
    "samplingperiod",
    "samplingmethod",
    "policy",
    "controllingPV",
    "command",
    "deleteData",
    "counts",
    "override",
    "createnew",
    "appliance",
    "id",
];

fn pairs(route: Route) -> impl Strategy<Value = Vec<(String, String)>> {
    let own: Vec<&'static str> = if route.params.is_empty() {
        ALL_PARAMS.to_vec()
    } else {
        route.params.to_vec()
    };
    let key = prop_oneof![
        6 => prop::sample::select(own).prop_map(str::to_string),
        2 => prop::sample::select(ALL_PARAMS).prop_map(str::to_string),
        1 => "[a-zA-Z]{0,8}".boxed(),
        1 => any::<String>().prop_map(|s| s.chars().take(8).collect::<String>()),
    ];
    prop::collection::vec((key, value()), 0..6)
}

fn raw_query() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,60}",
        prop::collection::vec(
            prop_oneof![
                Just("%".to_string()),
                Just("%FF".to_string()),
                Just("%C3".to_string()),
                Just("%00".to_string()),
                Just("&".to_string()),
                Just("=".to_string()),
                Just("+".to_string()),
                Just("pv=".to_string()),
                Just("from=".to_string()),
                "[a-z0-9:]{0,6}",
            ],
            0..12
        )
        .prop_map(|v| v.concat()),
    ]
}

const KEYS: &[&str] = &[
    "pv",
    "pvName",
    "DBRType",
    "samplingperiod",
    "samplingmethod",
    "policy",
    "controllingPV",
    "pvTypeInfos",
    "aliases",
    "aliasName",
    "srcPVName",
    "elementCount",
    "dataStores",
    "archiveFields",
    "extraFields",
    "creationTime",
    "paused",
    "scalar",
    "precision",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        value().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![prop::sample::select(KEYS).prop_map(str::to_string), value()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6).prop_map(|v| Value::Object(v.into_iter().collect())),
        ]
    })
}

fn prototype() -> &'static Value {
    static P: OnceLock<Value> = OnceLock::new();
    P.get_or_init(|| {
        let p = common::testdata().join("java/PVTypeInfoPrototype.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    })
}

/// A Java PVTypeInfo with a new name and a few fields replaced.
fn typeinfo() -> impl Strategy<Value = Value> {
    let keys: Vec<String> = prototype().as_object().unwrap().keys().cloned().collect();
    (
        value(),
        prop::collection::vec((prop::sample::select(keys), json()), 0..4),
    )
        .prop_map(|(name, muts)| {
            let mut v = prototype().clone();
            v["pvName"] = Value::from(name);
            for (k, x) in muts {
                v[k] = x;
            }
            v
        })
}

fn body() -> impl Strategy<Value = Option<(Option<String>, Vec<u8>)>> {
    let ct = prop_oneof![
        Just(None),
        Just(Some("application/json".to_string())),
        Just(Some("application/json; charset=utf-8".to_string())),
        Just(Some("text/plain".to_string())),
        Just(Some("application/x-www-form-urlencoded".to_string())),
        "[ -~]{0,20}".prop_map(Some),
    ];
    let payload = prop_oneof![
        2 => bytes(300),
        3 => json().prop_map(|v| v.to_string().into_bytes()),
        2 => prop::collection::vec(value(), 0..6).prop_map(|v| Value::from(v).to_string().into_bytes()),
        2 => prop::collection::vec(value(), 0..6).prop_map(|v| v.join("\n").into_bytes()),
        1 => prop::collection::vec(value(), 0..6).prop_map(|v| format!("pv={}", v.join(",")).into_bytes()),
        2 => (prop::collection::vec(typeinfo(), 0..3), prop::collection::vec((value(), value()), 0..3))
            .prop_map(|(infos, aliases)| {
                let aliases: Vec<Value> = aliases
                    .into_iter()
                    .map(|(a, p)| serde_json::json!({"aliasName": a, "srcPVName": p}))
                    .collect();
                serde_json::json!({"pvTypeInfos": infos, "aliases": aliases}).to_string().into_bytes()
            }),
        2 => typeinfo().prop_map(|v| v.to_string().into_bytes()),
    ];
    prop_oneof![1 => Just(None), 3 => (ct, payload).prop_map(Some)]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        6 => Just(Method::GET),
        4 => Just(Method::POST),
        1 => Just(Method::PUT),
        1 => Just(Method::DELETE),
        1 => Just(Method::HEAD),
    ]
}

fn route_case(list: Vec<Route>) -> impl Strategy<Value = Case> {
    prop::sample::select(list).prop_flat_map(|route| {
        let query =
            prop_oneof![5 => pairs(route).prop_map(Query::Pairs), 1 => raw_query().prop_map(Query::Raw)];
        let post = if route.body { 1u32 } else { 0 };
        (
            query,
            prop_oneof![3 => Just(Method::GET), post * 3 => Just(Method::POST), 1 => method()],
            body(),
        )
            .prop_map(move |(query, method, body)| Case {
                body: if method == Method::GET { None } else { body },
                method,
                path: route.path.to_string(),
                query,
                route_params: route.params.to_vec(),
            })
    })
}

/// Paths under the routers' prefixes with arbitrary segments.
fn path_case() -> impl Strategy<Value = Case> {
    let prefix = prop::sample::select(
        &[
            "/mgmt/bpl/",
            "/retrieval/data/",
            "/retrieval/bpl/",
            "/retrieval/",
            "/",
            "/mgmt/bpl/getPVStatus/",
            "/mgmt/ui/",
            "/mgmt/ui/js/",
            "/retrieval/data/getData.json/",
        ][..],
    );
    let segment = prop_oneof![
        any::<String>().prop_map(|s| {
            let s: String = s.chars().take(30).collect();
            form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
        }),
        "[ -~&&[^?#]]{0,30}".prop_map(|s| s.replace(' ', "%20")),
        prop::sample::select(
            &[
                "getData",
                "getData.",
                "getData.json.raw",
                "getData..",
                "getDataForPVs.csv",
                "%FF",
                "%C3%28",
                "%00",
                "..",
                ".",
                "getDataAtTime",
                "getMetadata",
                "archivePV",
                "%2e%2e",
                "getData.%FF",
            ][..]
        )
        .prop_map(str::to_string),
    ];
    (
        prefix,
        segment,
        method(),
        pairs(common::routes::RETRIEVAL[1]),
        body(),
    )
        .prop_map(|(prefix, seg, method, pairs, body)| {
            let path = format!("{prefix}{seg}");
            let route_params = routes::all()
                .into_iter()
                .find(|r| r.path == path)
                .map_or(vec![], |r| r.params.to_vec());
            Case {
                body: if method == Method::GET { None } else { body },
                method,
                path,
                query: Query::Pairs(pairs),
                route_params,
            }
        })
}

fn request(case: &Case) -> Option<Request<Body>> {
    let q = case.query.text();
    let uri = if q.is_empty() {
        case.path.clone()
    } else {
        format!("{}?{q}", case.path)
    };
    let mut b = Request::builder().method(case.method.clone()).uri(uri);
    let body = match &case.body {
        Some((ct, bytes)) => {
            if let Some(ct) = ct {
                b = b.header(header::CONTENT_TYPE, ct.as_str());
            }
            Body::from(bytes.clone())
        }
        None => Body::empty(),
    };
    // A few generated paths are not valid URIs at all: no request to send.
    b.body(body).ok()
}

/// Sends `case` through the router and checks the property.
fn check(case: Case) -> Result<(), String> {
    let env = env();
    let Some(req) = request(&case) else {
        return Ok(());
    };
    env.rt.block_on(async {
        let resp = tokio::time::timeout(HANG_LIMIT, env.app.clone().oneshot(req))
            .await
            .map_err(|_| "no response (hang)".to_string())?
            .map_err(|e| format!("router error {e}"))?;
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = tokio::time::timeout(HANG_LIMIT, axum::body::to_bytes(resp.into_body(), 1 << 28))
            .await
            .map_err(|_| "body never ended (hang)".to_string())?
            .map_err(|e| format!("{status}: aborted body: {e}"))?;
        let text = String::from_utf8_lossy(&body);
        if status.is_server_error() {
            return Err(format!("{status}: {text}"));
        }
        // HEAD answers carry no body.
        if status.is_client_error() && case.method != Method::HEAD {
            if !ct.starts_with("application/json") {
                return Err(format!("{status} without JSON ({ct}): {text}"));
            }
            let v: Value =
                serde_json::from_slice(&body).map_err(|e| format!("{status}: bad JSON {e}: {text}"))?;
            if v["status"] != status.as_u16() {
                return Err(format!("{status}: body says {}", v["status"]));
            }
            if status == StatusCode::BAD_REQUEST {
                let Some(p) = v["parameter"].as_str() else {
                    return Err(format!("400 without a parameter: {text}"));
                };
                if !routes::nameable(&case.route_params, &case.query.keys(), p) {
                    return Err(format!("400 names {p:?}, not a parameter of the request: {text}"));
                }
            }
        }
        Ok(())
    })
}

#[test]
fn fuzz_retrieval_routes() {
    fuzz::run(
        "retrieval_routes",
        1000,
        route_case(routes::RETRIEVAL.to_vec()),
        check,
    );
}

#[test]
fn fuzz_mgmt_routes() {
    fuzz::run("mgmt_routes", 1000, route_case(routes::MGMT.to_vec()), check);
}

#[test]
fn fuzz_bodies() {
    let with_body: Vec<Route> = routes::all().into_iter().filter(|r| r.body).collect();
    let cases = route_case(with_body).prop_map(|mut c| {
        c.method = Method::POST;
        c
    });
    fuzz::run("bodies", 1000, cases, check);
}

#[test]
fn fuzz_paths() {
    fuzz::run("paths", 1000, path_case(), check);
}
