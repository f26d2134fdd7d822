//! The route table: every path the server answers, with its methods,
//! parameters, body, answer and whether it changes state. The routers
//! ([`super::app`]), the API-key check of the mutating calls and the
//! OpenAPI document (`GET /openapi.json`, [`super::openapi`]) are all
//! derived from it, so none of them can list a route the others lack.
//!
//! A new management action is one [`Route`] in [`mgmt::MGMT`] (plus its arm
//! in `api/mgmt.rs` `dispatch`); a new retrieval call one in
//! [`retrieval::RETRIEVAL`]. Paths not in the table answer 4xx only: the
//! fallback's 404, and, below `/mgmt/bpl/`, `/retrieval/bpl/` and
//! `/retrieval/data/`, the 400/404 of an unknown action or request.
//! Knows no handler code: [`Handler`] names which one serves a route.

mod mgmt;
mod retrieval;

use axum::routing::MethodFilter;

pub use mgmt::MGMT;
pub use retrieval::{OTHER, RETRIEVAL};

/// The HTTP methods a route serves (`GET` includes `HEAD`); others get a
/// 405 naming these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    /// `GET` (and `HEAD`).
    Get,
    /// `POST` only: the route needs its body.
    Post,
    /// `GET`, or `POST` with a body that adds to the query.
    GetPost,
}

impl Methods {
    /// Lower-case names, as the keys of an OpenAPI path item.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Methods::Get => &["get"],
            Methods::Post => &["post"],
            Methods::GetPost => &["get", "post"],
        }
    }

    /// The value of an `Allow` header.
    pub fn allow(self) -> &'static str {
        match self {
            Methods::Get => "GET, HEAD",
            Methods::Post => "POST",
            Methods::GetPost => "GET, HEAD, POST",
        }
    }

    /// The axum filter (`GET` routes answer `HEAD` too).
    pub fn filter(self) -> MethodFilter {
        match self {
            Methods::Get => MethodFilter::GET,
            Methods::Post => MethodFilter::POST,
            Methods::GetPost => MethodFilter::GET.or(MethodFilter::POST),
        }
    }
}

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    Text,
    /// A decimal integer.
    Integer,
    /// A decimal number.
    Number,
    /// `true` or `false` (only `true`, case-insensitive, counts).
    Bool,
    /// An ISO-8601 instant.
    Instant,
    /// One of a few words.
    OneOf(&'static [&'static str]),
}

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The query string (repeated keys allowed where [`Param::repeated`]).
    Query,
    /// The last path segments (may contain `/`).
    PathTail,
}

/// One parameter of a route.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Where it is.
    pub at: At,
    /// Its value's type.
    pub kind: Kind,
    /// Missing or empty is a 400 naming it.
    pub required: bool,
    /// The key may repeat (`pv=a&pv=b`).
    pub repeated: bool,
    /// What it means.
    pub doc: &'static str,
}

/// A request body a route reads (on `POST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// PV names: a JSON array of names (or objects with `"pv"`),
    /// `text/plain` lines, or a form `pv=a,b,c`.
    PvList,
    /// Like [`Body::PvList`], but JSON objects may carry the archiving
    /// parameters of each PV.
    ArchiveList,
    /// A PVTypeInfo JSON object.
    TypeInfo,
    /// A configuration as `exportConfig` writes it.
    Config,
}

/// What a successful call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200, `application/json`.
    Json,
    /// 200 with this content type.
    Media(&'static str),
    /// A redirect with this status and a `Location` header.
    Redirect(u16),
    /// 200 with the file's content type, or 304 on a matching
    /// `If-None-Match`.
    Asset,
}

/// Which handler serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `api/mgmt.rs`: the action named by the last path segment.
    Mgmt,
    /// `api/retrieval.rs`: the retrieval BPL call of the last segment.
    RetrievalBpl,
    /// `api/retrieval.rs`: the data request of the last segment.
    Data,
    /// `api/retrieval.rs`: `Pong`.
    Ping,
    /// `api/metrics.rs`: Prometheus text.
    Metrics,
    /// `api/openapi.rs`: the OpenAPI document.
    OpenApi,
    /// `api/ui.rs`: a redirect to the console.
    UiRedirect,
    /// `api/ui.rs`: one of the console's files.
    UiFile,
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Path, OpenAPI style (`{name}` for a path parameter).
    pub path: &'static str,
    /// OpenAPI `operationId`: unique over the table.
    pub id: &'static str,
    /// Methods served.
    pub methods: Methods,
    /// Who serves it.
    pub handler: Handler,
    /// One line for the document.
    pub summary: &'static str,
    /// Parameters read.
    pub params: &'static [Param],
    /// Body read on `POST`.
    pub body: Option<Body>,
    /// Success answer.
    pub answer: Answer,
    /// Changes state: needs the API key when one is configured.
    pub mutating: bool,
}

impl Route {
    /// A `GET` route answering JSON.
    pub const fn get(path: &'static str, id: &'static str, handler: Handler, summary: &'static str) -> Self {
        Route {
            path,
            id,
            methods: Methods::Get,
            handler,
            summary,
            params: &[],
            body: None,
            answer: Answer::Json,
            mutating: false,
        }
    }

    /// With these parameters.
    pub const fn params(mut self, params: &'static [Param]) -> Self {
        self.params = params;
        self
    }

    /// `POST` only, reading `body`.
    pub const fn post(mut self, body: Body) -> Self {
        self.methods = Methods::Post;
        self.body = Some(body);
        self
    }

    /// `GET`, or `POST` reading `body` as well as the query.
    pub const fn get_or_post(mut self, body: Body) -> Self {
        self.methods = Methods::GetPost;
        self.body = Some(body);
        self
    }

    /// Answering `answer` instead of JSON.
    pub const fn answers(mut self, answer: Answer) -> Self {
        self.answer = answer;
        self
    }

    /// Changing state.
    pub const fn mutating(mut self) -> Self {
        self.mutating = true;
        self
    }

    /// The last path segment: the action or request name.
    pub fn name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }

    /// The path in axum's syntax (`{*name}` for a [`At::PathTail`]).
    pub fn axum_path(&self) -> String {
        let mut path = self.path.to_string();
        for p in self.params.iter().filter(|p| p.at == At::PathTail) {
            path = path.replace(&format!("{{{}}}", p.name), &format!("{{*{}}}", p.name));
        }
        path
    }
}

/// A query parameter.
pub const fn query(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        at: At::Query,
        kind,
        required: false,
        repeated: false,
        doc,
    }
}

impl Param {
    /// Required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Repeatable.
    pub const fn repeated(mut self) -> Self {
        self.repeated = true;
        self
    }
}

/// Every route: retrieval, management, then the others.
pub fn all() -> impl Iterator<Item = &'static Route> {
    RETRIEVAL.iter().chain(MGMT).chain(OTHER)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_and_paths_are_unique() {
        let mut ids = HashSet::new();
        let mut paths = HashSet::new();
        for r in all() {
            assert!(ids.insert(r.id), "operationId {} twice", r.id);
            assert!(paths.insert(r.path), "path {} twice", r.path);
        }
    }

    #[test]
    fn path_parameters_are_declared_and_post_routes_read_a_body() {
        for r in all() {
            let declared: Vec<&str> = r
                .params
                .iter()
                .filter(|p| p.at == At::PathTail)
                .map(|p| p.name)
                .collect();
            let in_path: Vec<&str> = r
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, in_path, "{}", r.path);
            assert_eq!(r.methods == Methods::Get, r.body.is_none(), "{}", r.path);
        }
    }

    #[test]
    fn tail_parameters_become_axum_wildcards() {
        let ui = all().find(|r| r.path == "/mgmt/ui/{file}").unwrap();
        assert_eq!(ui.axum_path(), "/mgmt/ui/{*file}");
        assert_eq!(MGMT[0].axum_path(), MGMT[0].path);
    }
}
