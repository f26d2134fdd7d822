//! The cluster's request routing (cargo feature `cluster`): one middleware
//! in front of the single-node routers decides per request whether it is
//! answered here, forwarded to the PV's owner (streaming), split by owner
//! and joined in request order, or sent to every member and merged. The
//! handlers stay as they are: each member's registry holds only its PVs,
//! so a handler's answer is always "for this appliance".
//!
//! A sub-request carries `X-Strata-Scope: local` (and a forward
//! `X-Strata-Forwarded-By`): it is answered locally, never routed again.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::FutureExt;
use serde_json::{json, Map, Value};

mod write;

use super::error::ApiError;
use super::params::{pv_list_body, Params};
use super::state::AppState;
use crate::cluster::forward::FORWARDED_BY;
use crate::cluster::merge;
use crate::cluster::splice::{splice, PartFuture, Splice};
use crate::cluster::{Cluster, ClusterError, ForwardError, PARTIAL, PARTIAL_PVS, SCOPE};

/// getDataForPVs with more runs than this requests them lazily.
const EAGER_RUNS: usize = 32;

/// Largest request body the router reads to split a request (PV lists).
const MAX_BODY: usize = 64 << 20;

/// The routing middleware (installed by `api::app_with` when the state has
/// a cluster).
pub(crate) async fn route(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(c) = st.cluster.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_owned();
    let r = Router { st, c, next };
    // A move is driven by its target, wherever the request arrives.
    if let Some(action @ ("reassignAppliance" | "reshardPV")) = path.strip_prefix("/mgmt/bpl/") {
        let action = action.to_owned();
        return r
            .reassign(&action, req)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    if req.headers().contains_key(SCOPE) || req.headers().contains_key(FORWARDED_BY) {
        return r.next.run(req).await;
    }
    let out = if let Some(rest) = path.strip_prefix("/retrieval/data/") {
        r.data(rest, req).await
    } else if let Some(action) = path.strip_prefix("/retrieval/bpl/") {
        r.retrieval_bpl(action, req).await
    } else if let Some(action) = path.strip_prefix("/mgmt/bpl/") {
        r.mgmt(action, req).await
    } else {
        return r.next.run(req).await;
    };
    out.unwrap_or_else(IntoResponse::into_response)
}

/// What a routing step failed with.
enum Fail {
    /// A member's own answer that ends the request (its 4xx).
    Answer(Box<Response>),
    Api(ApiError),
    Forward(ForwardError),
    Cluster(ClusterError),
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail::Api(e)
    }
}
impl From<ForwardError> for Fail {
    fn from(e: ForwardError) -> Self {
        Fail::Forward(e)
    }
}
impl From<crate::cluster::PlacementError> for Fail {
    fn from(e: crate::cluster::PlacementError) -> Self {
        Fail::Cluster(ClusterError::Placement(e))
    }
}
impl From<ClusterError> for Fail {
    fn from(e: ClusterError) -> Self {
        Fail::Cluster(e)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        match self {
            Fail::Answer(r) => *r,
            Fail::Api(e) => e.into_response(),
            Fail::Forward(e) => e.into_response(),
            Fail::Cluster(ClusterError::Placement(e)) => match e {
                crate::cluster::PlacementError::UnknownAppliance(_) => {
                    ApiError::bad_param("appliance", e.to_string()).into_response()
                }
                _ => ApiError::unavailable(e.to_string()).into_response(),
            },
            Fail::Cluster(e) => ApiError::unavailable(e.to_string()).into_response(),
        }
    }
}

type Routed = Result<Response, Fail>;

/// One routing decision's context.
struct Router {
    st: AppState,
    c: Arc<Cluster>,
    next: Next,
}

fn json_response(v: Value) -> Response {
    Json(v).into_response()
}

fn with_partial(mut r: Response, missing: &[String]) -> Response {
    if !missing.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&missing.join(",")) {
            r.headers_mut().insert(PARTIAL, v);
        }
    }
    r
}

/// A PV name as the routing needs it: post-processor and protocol removed.
fn base_name(n: &str) -> &str {
    let n = n.trim();
    match (n.find('('), n.rfind(')')) {
        (Some(a), Some(b)) if a < b => n[a + 1..b].split(',').next().unwrap_or("").trim(),
        _ => n,
    }
}

/// The request's query with every `pv` replaced by `names`.
fn query_with(parts: &Parts, names: &[String]) -> String {
    let p = Params::parse(parts.uri.query());
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &p.0 {
        if k != "pv" {
            ser.append_pair(k, v);
        }
    }
    for n in names {
        ser.append_pair("pv", n);
    }
    ser.finish()
}

/// Headers for a sub-request: the client's (credentials, content type),
/// no body framing, no compression (the answer is merged), scope local.
fn sub_headers(h: &HeaderMap) -> HeaderMap {
    let mut out = h.clone();
    for n in [
        header::CONTENT_LENGTH,
        header::HOST,
        header::TRANSFER_ENCODING,
        header::ACCEPT_ENCODING,
        header::CONNECTION,
    ] {
        out.remove(n);
    }
    out.insert(SCOPE, HeaderValue::from_static("local"));
    out
}

fn build(method: Method, path: &str, query: &str, headers: HeaderMap, body: Bytes) -> Result<Request, Fail> {
    let uri = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .map_err(ApiError::internal)?;
    *req.headers_mut() = headers;
    Ok(req)
}

async fn read_body(body: Body) -> Result<Bytes, Fail> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| Fail::Api(ApiError::bad_param("body", format!("reading the body: {e}"))))
}

async fn json_of(r: Response) -> Result<Value, String> {
    let status = r.status();
    let b = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("status {status}: {}", String::from_utf8_lossy(&b)));
    }
    serde_json::from_slice(&b).map_err(|e| e.to_string())
}

impl Router {
    /// An owned copy for a task that outlives this borrow.
    fn handle(&self) -> Router {
        Router {
            st: self.st.clone(),
            c: self.c.clone(),
            next: self.next.clone(),
        }
    }

    fn me(&self) -> &str {
        &self.c.identity
    }

    /// Owner of a name; unknown names are answered here (the single node's 404).
    fn owner(&self, name: &str) -> String {
        self.c
            .owner_of(base_name(name))
            .unwrap_or_else(|| self.me().to_owned())
    }

    /// Sends `req` to `member` (in-process for this member), answer streaming.
    async fn send(&self, member: &str, req: Request) -> Result<Response, ForwardError> {
        if member == self.me() {
            return Ok(self.next.clone().run(req).await);
        }
        let url = self
            .c
            .cache
            .member_url(member)
            .ok_or_else(|| ForwardError::Unreachable {
                member: member.to_owned(),
                url: String::new(),
                reason: "not a known member".into(),
            })?;
        self.c.forwarder.forward(member, &url, req).await
    }

    /// Forwards the whole request to `owner` unless that is this member.
    async fn forward_to(self, owner: &str, req: Request) -> Routed {
        if owner == self.me() {
            return Ok(self.next.run(req).await);
        }
        Ok(self.send(owner, req).await?)
    }

    /// Members a cluster-wide request goes to: alive ones (and this one),
    /// with the known members that are down.
    fn fan_targets(&self) -> (Vec<String>, Vec<String>) {
        let mut up = Vec::new();
        let mut down = Vec::new();
        for (m, alive) in self.c.cache.members() {
            if alive || m.identity == self.me() {
                up.push(m.identity);
            } else {
                down.push(m.identity);
            }
        }
        if !up.iter().any(|m| m == self.me()) {
            up.push(self.me().to_owned());
            up.sort();
        }
        (up, down)
    }

    /// The same request to every alive member (scope local); the JSON
    /// answers by member (identity order) and the members that did not answer.
    async fn fan_out(
        &self,
        parts: &Parts,
        body: &Bytes,
    ) -> Result<(Vec<(String, Value)>, Vec<String>), Fail> {
        let (up, mut missing) = self.fan_targets();
        let path = parts.uri.path();
        let query = parts.uri.query().unwrap_or("");
        let mut futs = Vec::new();
        for m in &up {
            let req = build(
                parts.method.clone(),
                path,
                query,
                sub_headers(&parts.headers),
                body.clone(),
            )?;
            futs.push(async move { (m.clone(), self.send(m, req).await) });
        }
        let mut out = Vec::new();
        for (m, r) in futures::future::join_all(futs).await {
            match r {
                Ok(resp) if resp.status().is_success() => match json_of(resp).await {
                    Ok(v) => out.push((m, v)),
                    Err(e) => {
                        tracing::warn!(member = %m, error = %e, "fan-out answer unusable");
                        missing.push(m);
                    }
                },
                Ok(resp) => {
                    // A member's own error (bad parameter…) is the answer.
                    if m == self.me() || resp.status().is_client_error() {
                        return Err(Fail::Answer(Box::new(resp)));
                    }
                    missing.push(m);
                }
                Err(e) => {
                    tracing::warn!(member = %m, error = %e, "member did not answer a fan-out");
                    missing.push(m);
                }
            }
        }
        missing.sort();
        Ok((out, missing))
    }

    // ---- /retrieval/data -------------------------------------------------

    async fn data(self, request: &str, req: Request) -> Routed {
        let name = request.split('.').next().unwrap_or("");
        let ext = request.split_once('.').map(|(_, e)| e).unwrap_or("");
        let p = Params::parse(req.uri().query());
        match name {
            "getData" => {
                let Some(pv) = p.get("pv") else {
                    return Ok(self.next.run(req).await);
                };
                let owner = self.owner(pv);
                self.forward_to(&owner, req).await
            }
            "getDataForPVs" => self.data_for_pvs(ext, req).await,
            "getDataAtTime" | "getDataAtTimeForAppliance" if req.method() == Method::POST => {
                self.data_at_time(req).await
            }
            _ => Ok(self.next.run(req).await),
        }
    }

    async fn data_for_pvs(self, ext: &str, req: Request) -> Routed {
        let format = match ext {
            "json" | "qw" => Splice::Json,
            "raw" => Splice::Raw,
            _ => return Ok(self.next.run(req).await),
        };
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let p = Params::parse(parts.uri.query());
        let mut names: Vec<String> = p.all("pv").iter().map(|s| s.to_string()).collect();
        if parts.method == Method::POST && !body.is_empty() {
            names.extend(pv_list_body(&parts.headers, &body)?);
        }
        let owners: Vec<String> = names.iter().map(|n| self.owner(n)).collect();
        // A name the directory does not know makes the whole answer this
        // member's own (a single node's 404).
        let unknown = names.iter().any(|n| self.c.owner_of(base_name(n)).is_none());
        if unknown || owners.iter().all(|o| o == self.me()) {
            return Ok(self.next.run(Request::from_parts(parts, Body::from(body))).await);
        }
        // Maximal runs of consecutive PVs with one owner, one sub-request each.
        let mut runs: Vec<(String, Vec<String>)> = Vec::new();
        for (n, o) in names.iter().zip(&owners) {
            match runs.last_mut() {
                Some((ro, v)) if ro == o => v.push(n.clone()),
                _ => runs.push((o.clone(), vec![n.clone()])),
            }
        }
        let path = parts.uri.path();
        let mut pieces: Vec<(String, PartFuture)> = Vec::new();
        let mut missing_pvs = Vec::new();
        let mut missing_members: Vec<String> = Vec::new();
        let mut content_type = None;
        let sub_for = |run: &[String]| {
            let mut h = sub_headers(&parts.headers);
            h.remove(header::CONTENT_TYPE);
            build(Method::GET, path, &query_with(&parts, run), h, Bytes::new())
        };
        if runs.len() > EAGER_RUNS {
            // Many runs: requested as their turn comes (at most 4 ahead);
            // members known to be down are left out beforehand, a member
            // failing later cuts the body.
            let up = self.fan_targets().0;
            for (owner, run) in runs {
                if !up.contains(&owner) {
                    missing_pvs.extend(run);
                    if !missing_members.contains(&owner) {
                        missing_members.push(owner);
                    }
                    continue;
                }
                let sub = sub_for(&run)?;
                let r = self.handle();
                let fut = async move { r.send(&owner, sub).await.map_err(|e| e.to_string()) };
                pieces.push((run.join(","), fut.boxed()));
            }
            content_type = crate::retrieval::format::Format::from_extension(ext)
                .and_then(|f| HeaderValue::from_str(f.content_type()).ok());
        } else {
            // Every run's head first: a member that cannot answer is left
            // out (named in the partial headers) before this answer's head
            // is sent.
            let mut heads = Vec::new();
            let this = &self;
            for (owner, run) in &runs {
                let sub = sub_for(run)?;
                heads.push(async move { this.send(owner, sub).await });
            }
            let heads = futures::future::join_all(heads).await;
            for ((owner, run), head) in runs.into_iter().zip(heads) {
                match head {
                    Ok(r) if r.status().is_success() => {
                        content_type =
                            content_type.or_else(|| r.headers().get(header::CONTENT_TYPE).cloned());
                        pieces.push((run.join(","), futures::future::ready(Ok(r)).boxed()));
                    }
                    // An error of the request itself (bad range…) is the answer.
                    Ok(r) if r.status().is_client_error() || owner == self.me() => return Ok(r),
                    Ok(_) | Err(_) => {
                        missing_pvs.extend(run);
                        if !missing_members.contains(&owner) {
                            missing_members.push(owner);
                        }
                    }
                }
            }
        }
        if pieces.is_empty() {
            let list = missing_members.join(", ");
            return Err(Fail::Forward(ForwardError::Unreachable {
                member: list.clone(),
                url: String::new(),
                reason: format!("no member holding the requested PVs answered ({list})"),
            }));
        }
        let mut resp = Response::builder().status(StatusCode::OK);
        if let Some(ct) = content_type {
            resp = resp.header(header::CONTENT_TYPE, ct);
        }
        resp = resp.header("Access-Control-Allow-Origin", "*");
        if !missing_pvs.is_empty() {
            tracing::warn!(missing = %missing_members.join(","), "getDataForPVs answered in part");
            let enc =
                |v: &[String]| form_urlencoded::byte_serialize(v.join(",").as_bytes()).collect::<String>();
            resp = resp
                .header(PARTIAL, missing_members.join(","))
                .header(PARTIAL_PVS, enc(&missing_pvs));
        }
        resp.body(splice(format, pieces, 4))
            .map_err(|e| Fail::Api(ApiError::internal(e)))
    }

    async fn data_at_time(self, req: Request) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let names = pv_list_body(&parts.headers, &body)?;
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for n in &names {
            let o = self.owner(n);
            match groups.iter_mut().find(|(g, _)| *g == o) {
                Some((_, v)) => v.push(n.clone()),
                None => groups.push((o, vec![n.clone()])),
            }
        }
        if groups.iter().all(|(o, _)| o == self.me()) {
            return Ok(self.next.run(Request::from_parts(parts, Body::from(body))).await);
        }
        let mut futs = Vec::new();
        let this = &self;
        for (owner, list) in &groups {
            let mut h = sub_headers(&parts.headers);
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let b = Bytes::from(serde_json::to_vec(list).map_err(ApiError::internal)?);
            let sub = build(
                Method::POST,
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                h,
                b,
            )?;
            futs.push(async move { (owner.clone(), this.send(owner, sub).await) });
        }
        let mut objs = Vec::new();
        let mut missing = Vec::new();
        for (owner, r) in futures::future::join_all(futs).await {
            match r {
                Ok(resp) if resp.status().is_success() => match json_of(resp).await {
                    Ok(Value::Object(m)) => objs.push(m),
                    _ => missing.push(owner),
                },
                Ok(resp) if resp.status().is_client_error() => return Ok(resp),
                _ => missing.push(owner),
            }
        }
        let merged = merge::merge_objects(&names, objs);
        Ok(with_partial(json_response(Value::Object(merged)), &missing))
    }

    // ---- /retrieval/bpl --------------------------------------------------

    async fn retrieval_bpl(self, action: &str, req: Request) -> Routed {
        let p = Params::parse(req.uri().query());
        match action {
            "getMetadata" | "getPVDetails" | "areWeArchivingPV" => match p.get("pv") {
                Some(pv) => {
                    let owner = self.owner(pv);
                    self.forward_to(&owner, req).await
                }
                None => Ok(self.next.run(req).await),
            },
            "getMatchingPVs" => self.names_fan_out(req, &p, Some(500)).await,
            "searchForPVsRegex" => self.search_regex(req).await,
            "filterArchivedPVs" => self.archived(req, "archived").await,
            _ => Ok(self.next.run(req).await),
        }
    }

    async fn search_regex(self, req: Request) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let (up, mut missing) = self.fan_targets();
        let mut lists = Vec::new();
        for m in &up {
            let sub = build(
                parts.method.clone(),
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                sub_headers(&parts.headers),
                body.clone(),
            )?;
            match self.send(m, sub).await {
                Ok(r) if r.status().is_success() => {
                    let b = read_body(r.into_body()).await?;
                    let text = String::from_utf8_lossy(&b).into_owned();
                    lists.push(text.lines().filter(|l| !l.is_empty()).map(String::from).collect());
                }
                Ok(r) if m == self.me() => return Ok(r),
                _ => missing.push(m.clone()),
            }
        }
        let mut text = merge::merge_names(lists, None).join("\n");
        text.push('\n');
        let r = ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
        Ok(with_partial(r, &missing))
    }

    /// getAllPVs / getMatchingPVs / getTypeInfoKeys: every member's names,
    /// sorted and cut to `limit` (default `default_limit`, negative = all).
    async fn names_fan_out(self, req: Request, p: &Params, default_limit: Option<i64>) -> Routed {
        let limit = match default_limit {
            Some(d) => usize::try_from(p.int("limit", d)?).ok(),
            None => None,
        };
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let (answers, missing) = self.fan_out(&parts, &body).await?;
        let lists = answers
            .into_iter()
            .map(|(_, v)| serde_json::from_value::<Vec<String>>(v).unwrap_or_default())
            .collect();
        Ok(with_partial(
            json_response(json!(merge::merge_names(lists, limit))),
            &missing,
        ))
    }

    // ---- /mgmt/bpl -------------------------------------------------------

    async fn mgmt(self, action: &str, req: Request) -> Routed {
        if super::mgmt::is_mutating(action) && !super::mgmt::authorized(&self.st, req.headers()) {
            return Ok(ApiError::unauthorized().into_response());
        }
        let p = Params::parse(req.uri().query());
        let pv = p.get("pv").map(str::to_string);
        match action {
            "getPVTypeInfo"
            | "getStoresForPV"
            | "getPVDetails"
            | "getMetadata"
            | "abortArchivingPV"
            | "changeArchivalParameters"
            | "modifyMetaFields"
            | "reconcile" => match pv {
                Some(pv) => {
                    let owner = self.owner(&pv);
                    self.forward_to(&owner, req).await
                }
                None if action == "reconcile" => self.fan_objects(req).await,
                None => Ok(self.next.run(req).await),
            },
            "putPVTypeInfo" => self.put_typeinfo(req, &p).await,
            "pauseArchivingPV" | "resumeArchivingPV" | "deletePV" | "applyPolicy" => {
                self.per_pv(action, req, &p).await
            }
            "renamePV" => self.rename(req, &p).await,
            "addAlias" | "removeAlias" => self.alias(action, req, &p).await,
            "archivePV" => self.archive(req, &p).await,
            "getPVStatus" => self.per_pv(action, req, &p).await,
            "archivedPVs" => self.archived(req, "archived").await,
            "unarchivedPVs" => self.archived(req, "unarchived").await,
            "archivedPVsNotInList" => self.names_fan_out(req, &p, None).await,
            "getAllPVs" | "getMatchingPVs" => self.names_fan_out(req, &p, Some(500)).await,
            "getTypeInfoKeys" => self.names_fan_out(req, &p, None).await,
            "getAllAliases" => self.rows_fan_out(req, "aliasName").await,
            "getStorageMetrics" => self.rows_fan_out(req, "").await,
            "exportConfig" => self.export_config(req).await,
            "getAppliancesInCluster" => Ok(self.appliances()),
            "getApplianceInfo" => match p.get("id").map(str::trim).filter(|s| !s.is_empty()) {
                Some(id) if id != self.me() => self.appliance_info(id),
                _ => Ok(self.next.run(req).await),
            },
            "getApplianceMetricsForAppliance"
            | "getStorageMetricsForAppliance"
            | "getProcessMetricsDataForAppliance"
            | "exportConfigForAppliance"
            | "importConfigForAppliance" => match p.get("appliance").map(str::trim) {
                Some(a) if a != self.me() && self.c.cache.member_url(a).is_some() => {
                    let a = a.to_string();
                    self.forward_to(&a, req).await
                }
                _ => Ok(self.next.run(req).await),
            },
            a if merge::is_report(a) => self.report(a, req, &p).await,
            _ => Ok(self.next.run(req).await),
        }
    }

    /// Java's getAppliancesInCluster: the known members that are up, by identity.
    fn appliances(&self) -> Response {
        let list: Vec<Value> = self
            .c
            .cache
            .members()
            .into_iter()
            .filter(|(m, alive)| *alive || m.identity == self.me())
            .map(|(m, _)| m.info)
            .collect();
        json_response(Value::Array(list))
    }

    /// Java's getApplianceInfo?id=: any known member (404 otherwise).
    fn appliance_info(&self, id: &str) -> Routed {
        let found = self
            .c
            .cache
            .members()
            .into_iter()
            .find(|(m, _)| m.identity == id)
            .map(|(m, _)| m.info);
        match found {
            Some(v) => Ok(json_response(v)),
            None => Err(Fail::Api(ApiError::not_found(format!("unknown appliance {id}")))),
        }
    }

    async fn report(self, action: &str, req: Request, p: &Params) -> Routed {
        let limit = p.get("limit").map(str::to_string);
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let (answers, missing) = self.fan_out(&parts, &body).await?;
        let rows = answers
            .into_iter()
            .map(|(_, v)| serde_json::from_value::<Vec<Value>>(v).unwrap_or_default())
            .collect();
        let merged = merge::merge_report(action, limit.as_deref(), rows);
        Ok(with_partial(json_response(Value::Array(merged)), &missing))
    }

    /// Arrays from every member, concatenated in identity order, sorted by
    /// `key` when given.
    async fn rows_fan_out(self, req: Request, key: &str) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let (answers, missing) = self.fan_out(&parts, &body).await?;
        let mut rows: Vec<Value> = answers
            .into_iter()
            .flat_map(|(_, v)| serde_json::from_value::<Vec<Value>>(v).unwrap_or_default())
            .collect();
        if !key.is_empty() {
            rows.sort_by(|a, b| {
                let k = |v: &Value| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
                k(a).cmp(&k(b))
            });
        }
        Ok(with_partial(json_response(Value::Array(rows)), &missing))
    }

    /// Objects from every member, by identity.
    async fn fan_objects(self, req: Request) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let (answers, missing) = self.fan_out(&parts, &body).await?;
        let mut o = Map::new();
        for (m, v) in answers {
            o.insert(m, v);
        }
        Ok(with_partial(json_response(Value::Object(o)), &missing))
    }

    async fn export_config(self, req: Request) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let (answers, missing) = self.fan_out(&parts, &body).await?;
        let mut infos = Vec::new();
        let mut aliases = Vec::new();
        for (_, v) in answers {
            if let Some(a) = v.get("pvTypeInfos").and_then(Value::as_array) {
                infos.extend(a.iter().cloned());
            }
            if let Some(a) = v.get("aliases").and_then(Value::as_array) {
                aliases.extend(a.iter().cloned());
            }
        }
        let by = |k: &'static str| {
            move |a: &Value, b: &Value| {
                let s = |v: &Value| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                s(a).cmp(&s(b))
            }
        };
        infos.sort_by(by("pvName"));
        aliases.sort_by(by("aliasName"));
        Ok(with_partial(
            json_response(json!({ "pvTypeInfos": infos, "aliases": aliases })),
            &missing,
        ))
    }

    /// archivedPVs / unarchivedPVs / filterArchivedPVs: which names of the
    /// posted list some member archives.
    async fn archived(self, req: Request, which: &str) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        if parts.method != Method::POST {
            return Ok(self.next.run(Request::from_parts(parts, Body::from(body))).await);
        }
        let list = pv_list_body(&parts.headers, &body)?;
        let mut ask = parts.clone();
        ask.uri = "/mgmt/bpl/archivedPVs".parse().map_err(ApiError::internal)?;
        let (answers, missing) = self.fan_out(&ask, &body).await?;
        let archived: std::collections::HashSet<String> = answers
            .into_iter()
            .flat_map(|(_, v)| serde_json::from_value::<Vec<String>>(v).unwrap_or_default())
            .collect();
        let out: Vec<&String> = list
            .iter()
            .filter(|n| archived.contains(*n) == (which == "archived"))
            .collect();
        Ok(with_partial(json_response(json!(out)), &missing))
    }
}
