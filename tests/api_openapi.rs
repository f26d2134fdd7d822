//! `GET /openapi.json` (issue 15): the document parses as OpenAPI 3.0
//! (`openapiv3`) and is sound (every operation has responses, unique
//! operationIds, path parameters declared, references resolve, the mutating
//! operations need the key exactly when one is set); it lists the same
//! routes, methods and parameters as the hand-kept list of
//! `tests/common/routes.rs`; every documented operation answers (neither
//! 404 nor 405; 401 without the key exactly when it lists `security`), and
//! every method it does not list is a 405 naming the listed ones.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};

use common::routes;
use common::server::TestServer;
use openapiv3::{OpenAPI, Operation, Parameter, ReferenceOr};
use serde_json::{json, Value};

const KEY: &str = "openapi-key";
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

async fn fetch(srv: &TestServer) -> (Value, OpenAPI) {
    let r = srv.get("/openapi.json").await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    let doc: OpenAPI = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not OpenAPI 3.0: {e}"));
    (v, doc)
}

fn operations(doc: &OpenAPI) -> Vec<(String, &'static str, &Operation)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ReferenceOr::Item(item) = item else {
            panic!("{path}: a $ref path item");
        };
        for (method, op) in item.iter() {
            let m = METHODS
                .iter()
                .find(|m| **m == method)
                .unwrap_or_else(|| panic!("{path}: {method}"));
            out.push((path.clone(), *m, op));
        }
    }
    out
}

fn param_names(op: &Operation) -> Vec<(String, bool)> {
    op.parameters
        .iter()
        .map(|p| match p {
            ReferenceOr::Item(Parameter::Query { parameter_data, .. }) => {
                (parameter_data.name.clone(), false)
            }
            ReferenceOr::Item(Parameter::Path { parameter_data, .. }) => (parameter_data.name.clone(), true),
            other => panic!("unexpected parameter {other:?}"),
        })
        .collect()
}

/// `{name}` segments of a templated path.
fn templated(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(String::from)
        .collect()
}

/// Whether the concrete `path` matches the documented `template` (a
/// trailing `{x}` takes the rest, slashes included).
fn matches(template: &str, path: &str) -> bool {
    match template.find('{') {
        None => template == path,
        Some(i) => path.len() > i && path.starts_with(&template[..i]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_is_valid_openapi_and_sound() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), |c| c.security.api_key = Some(KEY.into())).await;
    let (raw, doc) = fetch(&srv).await;
    assert!(doc.openapi.starts_with("3.0."), "{}", doc.openapi);
    assert_eq!(doc.info.version, strata::VERSION);
    assert!(!doc.servers.is_empty());
    let schemes = &doc.components.as_ref().unwrap().security_schemes;
    assert!(schemes.contains_key("bearer") && schemes.contains_key("apiKey"));
    let responses: HashSet<String> = doc
        .components
        .as_ref()
        .unwrap()
        .responses
        .keys()
        .cloned()
        .collect();
    let ops = operations(&doc);
    assert!(ops.len() > 80, "{} operations", ops.len());
    let mut ids = HashSet::new();
    for (path, method, op) in &ops {
        let what = format!("{method} {path}");
        let id = op
            .operation_id
            .clone()
            .unwrap_or_else(|| panic!("{what}: no operationId"));
        assert!(ids.insert(id.clone()), "{what}: operationId {id} twice");
        assert!(!op.responses.responses.is_empty(), "{what}: no responses");
        assert!(
            op.responses
                .responses
                .keys()
                .any(|s| matches!(s, openapiv3::StatusCode::Code(c) if (200..400).contains(c))),
            "{what}: no success answer"
        );
        for r in op
            .responses
            .responses
            .values()
            .chain(op.responses.default.as_ref())
        {
            if let ReferenceOr::Reference { reference } = r {
                let name = reference.strip_prefix("#/components/responses/").unwrap();
                assert!(responses.contains(name), "{what}: dangling {reference}");
            }
        }
        let params = param_names(op);
        let in_path: Vec<String> = params
            .iter()
            .filter(|(_, p)| *p)
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(in_path, templated(path), "{what}: path parameters");
        let mut names: Vec<&String> = params.iter().map(|(n, _)| n).collect();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "{what}: a parameter twice");
        assert_eq!(*method == "post", op.request_body.is_some(), "{what}: body");
        let mutating = raw["paths"][path][*method]["x-mutating"].as_bool().unwrap();
        let secured = !op.security.as_ref().is_none_or(Vec::is_empty);
        assert_eq!(mutating, secured, "{what}: security");
        assert_eq!(
            mutating,
            op.responses
                .responses
                .contains_key(&openapiv3::StatusCode::Code(401)),
            "{what}: 401"
        );
        if path.starts_with("/mgmt/bpl/") || path.starts_with("/retrieval/data/") {
            for code in [400, 404] {
                assert!(
                    op.responses
                        .responses
                        .contains_key(&openapiv3::StatusCode::Code(code)),
                    "{what}: no {code}"
                );
            }
        }
    }
    // The error shape is the one the server sends.
    let error = &raw["components"]["schemas"]["Error"];
    let (s, v) = srv.get_json("/mgmt/bpl/getPVTypeInfo").await;
    assert_eq!(s, 400);
    for k in error["required"].as_array().unwrap() {
        assert!(v.get(k.as_str().unwrap()).is_some(), "{k} missing in {v}");
    }
    for k in v.as_object().unwrap().keys() {
        assert!(
            error["properties"].get(k).is_some(),
            "{k} not in the Error schema"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_nothing_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (raw, doc) = fetch(&srv).await;
    assert!(doc.components.as_ref().unwrap().security_schemes.is_empty());
    let mut mutating = 0;
    for (path, method, op) in operations(&doc) {
        assert!(op.security.is_none(), "{method} {path}");
        assert!(!op
            .responses
            .responses
            .contains_key(&openapiv3::StatusCode::Code(401)));
        mutating += usize::from(raw["paths"][&path][method]["x-mutating"] == true);
    }
    assert!(mutating >= 15, "{mutating} mutating operations");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_and_route_list_agree() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let (_, doc) = fetch(&srv).await;
    let ops = operations(&doc);
    let list = routes::all();
    // Every listed route is documented, with the same parameters; it takes
    // POST exactly when it reads a body.
    for route in &list {
        let here: Vec<_> = ops.iter().filter(|(p, _, _)| matches(p, route.path)).collect();
        assert!(!here.is_empty(), "{} is not in /openapi.json", route.path);
        let posts = here.iter().any(|(_, m, _)| *m == "post");
        assert_eq!(posts, route.body, "{}: POST", route.path);
        for (path, method, op) in &here {
            let documented: BTreeSet<String> = param_names(op)
                .into_iter()
                .filter(|(_, in_path)| !in_path)
                .map(|(n, _)| n)
                .collect();
            let listed: BTreeSet<String> = route.params.iter().map(|p| p.to_string()).collect();
            assert_eq!(documented, listed, "{method} {path}: parameters");
        }
    }
    // Every documented path is listed.
    let paths: BTreeSet<&String> = ops.iter().map(|(p, _, _)| p).collect();
    for path in paths {
        assert!(
            list.iter().any(|r| matches(path, r.path)),
            "{path} is documented but not in tests/common/routes.rs"
        );
    }
    srv.stop().await;
}

/// A request value for each parameter name.
fn value(name: &str, pv: &str, identity: &str, store_url: &str) -> String {
    match name {
        "newbackend" | "plugin_url" => store_url.into(),
        "pv" => pv.to_string(),
        "newname" => format!("{pv}:renamed"),
        "aliasname" => format!("{pv}:alias"),
        "samplingperiod" => "2".into(),
        "command" => "add,HIHI".into(),
        "appliance" => identity.into(),
        "regex" => "OA:.*".into(),
        "file" => "js/app.js".into(),
        "newtype" => "DBR_SCALAR_DOUBLE".into(),
        "storage" => "LTS".into(),
        "name" => "strata_test_flag".into(),
        "value" => "false".into(),
        other => panic!("no test value for required parameter {other}"),
    }
}

async fn body_for(srv: &TestServer, id: &str, pv: &str) -> Value {
    if id.starts_with("putPVTypeInfo") {
        srv.get_json(&format!("/mgmt/bpl/getPVTypeInfo?pv={pv}")).await.1
    } else if id.starts_with("importConfig") {
        srv.get_json("/mgmt/bpl/exportConfig").await.1
    } else {
        json!([pv])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), |c| c.security.api_key = Some(KEY.into())).await;
    let (raw, doc) = fetch(&srv).await;
    let identity = srv.get_json("/mgmt/bpl/getApplianceInfo").await.1["identity"]
        .as_str()
        .unwrap()
        .to_string();
    // A paused PV of its own for each mutating operation (they rename,
    // delete and re-archive), one archived PV for the others.
    common::server::register(&srv.registry, "OA:pv", strata::types::ArchDbType::ScalarDouble);
    // The tiers' store URLs: the mutating PVs' chains, and the store
    // definitions changeStore and modifyStoreURLForPV are given.
    let store_urls: Vec<String> = srv
        .cfg
        .storage
        .tiers
        .iter()
        .map(|t| strata::storage::StoreUrl::for_tier(t).to_string())
        .collect();
    let ops = operations(&doc);
    let mut pvs = HashMap::new();
    for (path, method, op) in &ops {
        let id = op.operation_id.clone().unwrap();
        let pv = if raw["paths"][path][*method]["x-mutating"] == true {
            let pv = format!("OA:{id}");
            let mut t = strata::registry::PvTypeInfo::new(&pv, strata::types::ArchDbType::ScalarDouble, 1);
            t.paused = true;
            t.data_stores = store_urls.clone();
            srv.registry.put(&t).unwrap();
            pv
        } else {
            "OA:pv".to_string()
        };
        pvs.insert(id, pv);
    }
    let client = reqwest::Client::new();
    for (path, method, op) in &ops {
        let id = op.operation_id.clone().unwrap();
        let pv = &pvs[&id];
        let mut q = form_urlencoded::Serializer::new(String::new());
        let mut url_path = path.clone();
        for p in &op.parameters {
            let ReferenceOr::Item(p) = p else { unreachable!() };
            let data = p.parameter_data_ref();
            // `pv` always (getMatchingPVs needs pv or regex), else the
            // required ones.
            if !data.required && data.name != "pv" {
                continue;
            }
            let v = value(&data.name, pv, &identity, &store_urls[2]);
            match p {
                Parameter::Path { .. } => url_path = url_path.replace(&format!("{{{}}}", data.name), &v),
                _ => {
                    q.append_pair(&data.name, &v);
                }
            }
        }
        let url = srv.url(&format!("{url_path}?{}", q.finish()));
        let body = body_for(&srv, &id, pv).await;
        let req = || match *method {
            "post" => client.post(&url).json(&body),
            _ => client.get(&url),
        };
        // Without the key: 401 exactly for the operations with `security`.
        let status = req().send().await.unwrap().status().as_u16();
        assert_eq!(
            status == 401,
            op.security.is_some(),
            "{method} {url} without the key: {status}"
        );
        let r = req().bearer_auth(KEY).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(
            status < 500 && status != 404 && status != 405 && status != 401,
            "{method} {url}: {status} {text}"
        );
        // A success is documented (redirects are followed: 200); errors
        // fall under `default`.
        let listed: Vec<_> = op.responses.responses.keys().map(|c| c.to_string()).collect();
        assert!(
            status >= 400 || listed.contains(&status.to_string()) || status == 200,
            "{method} {url}: {status} is not among {listed:?}"
        );
    }
    // Methods a path does not list: 405 with an Allow header of the listed.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, item) in &doc.paths.paths {
        let ReferenceOr::Item(item) = item else {
            unreachable!()
        };
        let listed: Vec<&str> = item.iter().map(|(m, _)| m).collect();
        let concrete = path.replace("{file}", "index.html");
        for m in METHODS.iter().filter(|m| !listed.contains(m)) {
            let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let r = no_redirect
                .request(method, srv.url(&concrete))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 405, "{m} {path}");
            let allow = r.headers()["allow"].to_str().unwrap().to_ascii_lowercase();
            for l in &listed {
                assert!(allow.contains(l), "{m} {path}: Allow {allow} lacks {l}");
            }
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["status"], 405, "{m} {path}");
        }
    }
    // Paths outside the document: 404.
    for path in [
        "/mgmt/bpl/noSuchAction",
        "/retrieval/bpl/noSuchCall",
        "/no/such/path",
        "/openapi.yaml",
    ] {
        assert_eq!(srv.get(path).await.status().as_u16(), 404, "{path}");
    }
    srv.stop().await;
}
