//! `GET /openapi.json`: an OpenAPI 3.0 document generated from the route
//! table ([`super::routes`]), so it lists exactly the routes the server
//! answers. With `[security] api_key` set, the mutating operations carry
//! the `bearer` and `apiKey` security schemes (either one) and a 401.
//! Every operation also carries `x-mutating`. Errors share one schema, the
//! JSON of `api/error.rs`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use super::routes::{self, Answer, At, Body, Handler, Kind, Param, Route};
use super::state::AppState;

/// The OpenAPI version written.
pub const OPENAPI: &str = "3.0.3";

/// `GET /openapi.json`.
pub(super) async fn serve(State(st): State<AppState>) -> Json<Value> {
    Json(document(st.security.api_key.is_some()))
}

/// The document; `secured`: an API key guards the mutating operations.
pub fn document(secured: bool) -> Value {
    let mut paths = Map::new();
    for r in routes::all() {
        let mut item = Map::new();
        for method in r.methods.names() {
            item.insert((*method).to_string(), operation(r, method, secured));
        }
        paths.insert(r.path.to_string(), Value::Object(item));
    }
    let mut components = json!({
        "schemas": { "Error": error_schema() },
        "responses": {
            "BadRequest": error_response("A parameter, the body or the path is missing or invalid; `parameter` names it"),
            "NotFound": error_response("Unknown PV, action, file or appliance"),
            "Unauthorized": error_response("The API key is missing or wrong"),
            "Error": error_response("An error (see the status)"),
        },
    });
    if secured {
        components["securitySchemes"] = json!({
            "bearer": { "type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>" },
            "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
        });
    }
    json!({
        "openapi": OPENAPI,
        "info": {
            "title": "strata",
            "version": crate::VERSION,
            "description": "EPICS archiver with the EPICS Archiver Appliance's retrieval and management HTTP APIs.",
            "license": { "name": "MIT OR Apache-2.0" },
        },
        "servers": [{ "url": ".", "description": "the server of this document" }],
        "tags": [
            { "name": "retrieval", "description": "Data and lookups (/retrieval)" },
            { "name": "management", "description": "PV life cycle, lookups, reports (/mgmt/bpl)" },
            { "name": "server", "description": "Metrics and this document" },
            { "name": "console", "description": "The web console (/mgmt/ui)" },
        ],
        "paths": paths,
        "components": components,
    })
}

fn tag(h: Handler) -> &'static str {
    match h {
        Handler::Mgmt => "management",
        Handler::RetrievalBpl | Handler::Data | Handler::Ping => "retrieval",
        Handler::Metrics | Handler::OpenApi => "server",
        Handler::UiRedirect | Handler::UiFile => "console",
    }
}

fn operation(r: &Route, method: &str, secured: bool) -> Value {
    // A route taking GET and POST has two operations: the POST one's id
    // gets a suffix.
    let id = if method == "post" && r.methods.names().len() > 1 {
        format!("{}Post", r.id)
    } else {
        r.id.to_string()
    };
    let mut op = json!({
        "operationId": id,
        "summary": r.summary,
        "tags": [tag(r.handler)],
        "responses": responses(r, secured),
        "x-mutating": r.mutating,
    });
    if !r.params.is_empty() {
        op["parameters"] = Value::Array(r.params.iter().map(parameter).collect());
    }
    if method == "post" {
        if let Some(body) = r.body {
            op["requestBody"] = request_body(body, r.methods == routes::Methods::Post);
        }
    }
    if secured && r.mutating {
        op["security"] = json!([{ "bearer": [] }, { "apiKey": [] }]);
    }
    op
}

fn schema(kind: Kind) -> Value {
    match kind {
        Kind::Text => json!({ "type": "string" }),
        Kind::Integer => json!({ "type": "integer", "format": "int64" }),
        Kind::Number => json!({ "type": "number" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Instant => json!({ "type": "string", "format": "date-time" }),
        Kind::OneOf(words) => json!({ "type": "string", "enum": words }),
    }
}

fn parameter(p: &Param) -> Value {
    let one = schema(p.kind);
    match p.at {
        At::Query if p.repeated => json!({
            "name": p.name,
            "in": "query",
            "description": p.doc,
            "required": p.required,
            "style": "form",
            "explode": true,
            "schema": { "type": "array", "items": one },
        }),
        At::Query => json!({
            "name": p.name,
            "in": "query",
            "description": p.doc,
            "required": p.required,
            "schema": one,
        }),
        At::PathTail => json!({
            "name": p.name,
            "in": "path",
            "description": format!("{} (may contain /)", p.doc),
            "required": true,
            "schema": one,
        }),
    }
}

fn pv_entry(extra: Value) -> Value {
    let mut props = json!({ "pv": { "type": "string" } });
    if let (Some(o), Some(more)) = (props.as_object_mut(), extra.as_object()) {
        o.extend(more.clone());
    }
    json!({
        "oneOf": [
            { "type": "string" },
            { "type": "object", "properties": props, "required": ["pv"] },
        ]
    })
}

fn request_body(body: Body, required: bool) -> Value {
    let list = |items: Value| {
        json!({
            "application/json": { "schema": { "type": "array", "items": items } },
            "text/plain": { "schema": { "type": "string", "description": "one PV name a line" } },
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": { "pv": { "type": "string", "description": "comma-separated PV names" } },
                },
            },
        })
    };
    let (description, content) = match body {
        Body::PvList => ("PV names", list(pv_entry(json!({})))),
        Body::ArchiveList => (
            "PVs to archive, each optionally with its own parameters",
            list(pv_entry(json!({
                "samplingperiod": { "oneOf": [{ "type": "number" }, { "type": "string" }] },
                "samplingmethod": { "type": "string", "enum": ["SCAN", "MONITOR"] },
                "policy": { "type": "string" },
                "controllingPV": { "type": "string" },
            }))),
        ),
        Body::TypeInfo => (
            "a PVTypeInfo (Java's JSON: every value a string)",
            json!({ "application/json": { "schema": { "type": "object" } } }),
        ),
        Body::Config => (
            "a configuration as exportConfig answers it",
            json!({ "application/json": { "schema": { "type": "object" } } }),
        ),
    };
    json!({ "description": description, "required": required, "content": content })
}

fn responses(r: &Route, secured: bool) -> Value {
    let mut out = Map::new();
    match r.answer {
        Answer::Json => {
            out.insert(
                "200".into(),
                json!({ "description": "OK", "content": { "application/json": { "schema": {} } } }),
            );
        }
        Answer::Media(ct) => {
            let format = if ct.starts_with("application/") {
                json!({ "type": "string", "format": "binary" })
            } else {
                json!({ "type": "string" })
            };
            out.insert(
                "200".into(),
                json!({ "description": "OK", "content": { ct: { "schema": format } } }),
            );
        }
        Answer::Redirect(status) => {
            out.insert(
                status.to_string(),
                json!({
                    "description": "Redirect to the web console",
                    "headers": { "Location": { "schema": { "type": "string" } } },
                }),
            );
        }
        Answer::Asset => {
            out.insert(
                "200".into(),
                json!({
                    "description": "The file, with its content type and an ETag",
                    "content": { "*/*": { "schema": { "type": "string", "format": "binary" } } },
                }),
            );
            out.insert(
                "304".into(),
                json!({ "description": "Not modified (If-None-Match)" }),
            );
            out.insert("404".into(), reference("NotFound"));
        }
    }
    if matches!(r.handler, Handler::Mgmt | Handler::RetrievalBpl | Handler::Data) {
        out.insert("400".into(), reference("BadRequest"));
        out.insert("404".into(), reference("NotFound"));
    }
    if secured && r.mutating {
        out.insert("401".into(), reference("Unauthorized"));
    }
    out.insert("default".into(), reference("Error"));
    Value::Object(out)
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["status", "error", "message"],
        "properties": {
            "status": { "type": "integer", "description": "the HTTP status" },
            "error": { "type": "string", "description": "its reason phrase" },
            "message": { "type": "string" },
            "parameter": { "type": "string", "description": "400: the parameter at fault (body, request and format for the body, the path segment and its extension)" },
            "id": { "type": "string", "description": "500: the id the server logged the details under" },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_only_with_a_key() {
        let open = document(false);
        assert!(open["components"].get("securitySchemes").is_none());
        assert!(open["paths"]["/mgmt/bpl/archivePV"]["get"]
            .get("security")
            .is_none());
        assert_eq!(open["paths"]["/mgmt/bpl/archivePV"]["get"]["x-mutating"], true);
        let closed = document(true);
        let op = &closed["paths"]["/mgmt/bpl/archivePV"]["post"];
        assert_eq!(op["security"].as_array().map(Vec::len), Some(2));
        assert!(op["responses"].get("401").is_some());
        assert!(closed["paths"]["/mgmt/bpl/getVersion"]["get"]
            .get("security")
            .is_none());
    }

    #[test]
    fn get_and_post_operations_have_distinct_ids() {
        let doc = document(false);
        let item = &doc["paths"]["/mgmt/bpl/getPVStatus"];
        assert_eq!(item["get"]["operationId"], "getPVStatus");
        assert_eq!(item["post"]["operationId"], "getPVStatusPost");
        assert!(item["get"].get("requestBody").is_none());
        assert_eq!(item["post"]["requestBody"]["required"], false);
    }
}
