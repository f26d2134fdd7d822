//! The cluster's request routing (cargo feature `cluster`): one middleware
//! in front of the single-node routers decides per request whether it is
//! answered here, forwarded to the PV's owner (streaming), split by owner
//! and joined in request order, or sent to every member and merged. The
//! handlers stay as they are: each member's registry holds only its PVs,
//! so a handler's answer is always "for this appliance".
//!
//! A sub-request carries `X-Strata-Scope: local` (and a forward
//! `X-Strata-Forwarded-By`): it is answered locally, never routed again.

use std::collections::HashMap;
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

use super::error::ApiError;
use super::params::{pv_list_body, pv_list_param, Params};
use super::state::AppState;
use crate::cluster::forward::FORWARDED_BY;
use crate::cluster::merge;
use crate::cluster::splice::{splice, PartFuture, Splice};
use crate::cluster::{Claim, Cluster, ClusterError, ForwardError, Placer, PARTIAL, PARTIAL_PVS, SCOPE};

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
        if super::mgmt::MUTATING.contains(&action) && !super::mgmt::authorized(&self.st, req.headers()) {
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

    /// reassignAppliance / reshardPV: forwarded to the target member, which
    /// moves the paused PV's type info and samples and switches the owner
    /// (`cluster::moving`).
    async fn reassign(self, action: &str, req: Request) -> Routed {
        if !super::mgmt::authorized(&self.st, req.headers()) {
            return Ok(ApiError::unauthorized().into_response());
        }
        let p = Params::parse(req.uri().query());
        let pv = p.require("pv")?.trim().to_string();
        let target = p.require("appliance")?.trim().to_string();
        if self.c.cache.member_url(&target).is_none() {
            return Err(Fail::Api(ApiError::bad_param(
                "appliance",
                format!("unknown appliance {target}"),
            )));
        }
        if target != self.me() {
            return self.forward_to(&target, req).await;
        }
        let real = self
            .c
            .cache
            .read(|s| s.aliases.get(&pv).cloned())
            .unwrap_or_else(|| pv.clone());
        match crate::cluster::moving::reassign(&self.c, &self.st.mgmt, &real).await {
            Ok(n) if action == "reshardPV" => Ok(json_response(json!({
                "status": "ok",
                "desc": format!("Successfully assigned {real} to appliance {target}"),
                "afterEventCount": n.to_string(),
            }))),
            Ok(_) => Ok(json_response(json!({ pv: "Success" }))),
            Err(e) => {
                use crate::cluster::moving::MoveError as M;
                let msg = e.to_string();
                let err = match e {
                    M::UnknownPv(_) => ApiError::not_found(msg),
                    M::Refused(_) => ApiError::bad_param("pv", msg),
                    M::Conflict(_) => ApiError::conflict(msg),
                    M::Source { .. } | M::Directory(_) => ApiError::unavailable(msg),
                    _ => ApiError::internal(msg),
                };
                Err(Fail::Api(err))
            }
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

    /// PV-list actions: a single plain name goes to its owner; several are
    /// split by owner and the rows put back in request order; a glob goes
    /// to every member.
    async fn per_pv(self, action: &str, req: Request, p: &Params) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let mut names = pv_list_param(p);
        if parts.method == Method::POST && !body.is_empty() {
            names.extend(pv_list_body(&parts.headers, &body).unwrap_or_default());
        }
        let glob = names.iter().any(|n| n.contains('*') || n.contains('?'));
        if names.is_empty() {
            return Ok(self.next.run(Request::from_parts(parts, Body::from(body))).await);
        }
        if glob {
            let (answers, missing) = self.fan_out(&parts, &body).await?;
            let mut rows: Vec<Value> = answers
                .into_iter()
                .flat_map(|(_, v)| match v {
                    Value::Array(a) => a,
                    o => vec![o],
                })
                .collect();
            // A member without a match answers a row for the pattern itself:
            // kept only when no member matched.
            let pattern = |v: &Value| {
                v.get("pvName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.contains('*') || n.contains('?'))
            };
            if rows.iter().any(|r| !pattern(r)) {
                rows.retain(|r| !pattern(r));
            } else {
                rows.dedup_by(|a, b| a.get("pvName") == b.get("pvName"));
            }
            rows.sort_by(|a, b| {
                let k = |v: &Value| v.get("pvName").and_then(Value::as_str).unwrap_or("").to_string();
                k(a).cmp(&k(b))
            });
            return Ok(with_partial(json_response(Value::Array(rows)), &missing));
        }
        let owners: Vec<String> = names.iter().map(|n| self.owner(n)).collect();
        let delete = action == "deletePV";
        if names.len() == 1 {
            let owner = owners[0].clone();
            let r = self
                .send(&owner, Request::from_parts(parts, Body::from(body)))
                .await?;
            if delete && r.status().is_success() {
                let (rp, rb) = r.into_parts();
                let b = read_body(rb).await?;
                let ok = serde_json::from_slice::<Value>(&b)
                    .ok()
                    .is_some_and(|v| v.get("status").and_then(Value::as_str) == Some("ok"));
                if ok {
                    self.release(&names[0], &owner).await;
                }
                return Ok(Response::from_parts(rp, Body::from(b)));
            }
            return Ok(r);
        }
        let mut order: Vec<String> = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, o) in owners.iter().enumerate() {
            match order.iter().position(|x| x == o) {
                Some(g) => groups[g].push(i),
                None => {
                    order.push(o.clone());
                    groups.push(vec![i]);
                }
            }
        }
        let mut futs = Vec::new();
        let this = &self;
        for (owner, g) in order.iter().zip(&groups) {
            let list: Vec<&String> = g.iter().map(|&i| &names[i]).collect();
            let mut h = sub_headers(&parts.headers);
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let q = query_with(&parts, &[]);
            let b = Bytes::from(serde_json::to_vec(&list).map_err(ApiError::internal)?);
            let sub = build(Method::POST, parts.uri.path(), &q, h, b)?;
            futs.push(async move { this.send(owner, sub).await });
        }
        let mut answers = Vec::new();
        let mut missing = Vec::new();
        for (owner, r) in order.iter().zip(futures::future::join_all(futs).await) {
            let rows = match r {
                Ok(resp) => match json_of(resp).await {
                    Ok(Value::Array(a)) => Some(a),
                    Ok(o) => Some(vec![o]),
                    Err(_) => None,
                },
                Err(_) => None,
            };
            if rows.is_none() {
                missing.push(owner.clone());
            }
            answers.push(rows);
        }
        let down = |i: usize| -> Value {
            if action == "getPVStatus" {
                json!({ "pvName": names[i], "status": "Appliance Down", "appliance": owners[i] })
            } else {
                json!({ "pvName": names[i], "validation": format!("Appliance {} is down", owners[i]) })
            }
        };
        let rows = merge::interleave(names.len(), &groups, answers, down);
        if delete {
            for (i, row) in rows.iter().enumerate() {
                if row.get("status").and_then(Value::as_str) == Some("ok") {
                    self.release(&names[i], &owners[i]).await;
                }
            }
        }
        Ok(with_partial(json_response(Value::Array(rows)), &missing))
    }

    async fn release(&self, pv: &str, owner: &str) {
        let real = self
            .c
            .cache
            .read(|s| s.aliases.get(pv).cloned())
            .unwrap_or_else(|| pv.to_string());
        if let Err(e) = self.c.release(&real, owner).await {
            tracing::error!(pv = %real, error = %e, "deleted PV left in the cluster directory");
        }
    }

    /// putPVTypeInfo: to the owner; with createnew and no owner yet, the
    /// PV is placed (`appliance` or the record's applianceIdentity) first.
    async fn put_typeinfo(self, req: Request, p: &Params) -> Routed {
        let Some(pv) = p.get("pv").map(str::to_string) else {
            return Ok(self.next.run(req).await);
        };
        if let Some(owner) = self.c.owner_of(&pv) {
            return self.forward_to(&owner, req).await;
        }
        if !p.flag("createnew") {
            return Ok(self.next.run(req).await);
        }
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let from_record = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            v.get("applianceIdentity")
                .and_then(Value::as_str)
                .map(String::from)
        });
        let wanted = p.get("appliance").map(String::from).or(from_record);
        let mut placer = Placer::new(&self.c.cfg.placement, self.c.candidates());
        let owner = placer.pick(wanted.as_deref())?;
        let owner = match self.c.claim_one(&pv, &owner).await? {
            Claim::Claimed { .. } => owner,
            Claim::Exists { owner } => owner,
        };
        let r = self
            .send(&owner, Request::from_parts(parts, Body::from(body)))
            .await?;
        if !r.status().is_success() {
            self.release(&pv, &owner).await;
        }
        Ok(r)
    }

    async fn rename(self, req: Request, p: &Params) -> Routed {
        let (Some(pv), Some(new)) = (p.get("pv"), p.get("newname")) else {
            return Ok(self.next.run(req).await);
        };
        let (pv, new) = (pv.to_string(), new.to_string());
        let Some(owner) = self.c.owner_of(&pv) else {
            return Ok(self.next.run(req).await);
        };
        if self.c.owner_of(&new).is_some() {
            return Err(Fail::Api(ApiError::conflict(format!(
                "{new} is already archived in the cluster"
            ))));
        }
        // The new name is taken first, so it cannot be claimed meanwhile.
        if let Claim::Exists { owner: other } = self.c.claim_one(&new, &owner).await? {
            return Err(Fail::Api(ApiError::conflict(format!(
                "{new} is already archived on {other}"
            ))));
        }
        let r = self.send(&owner, req).await?;
        if r.status().is_success() {
            self.release(&pv, &owner).await;
        } else {
            self.release(&new, &owner).await;
        }
        Ok(r)
    }

    async fn alias(self, action: &str, req: Request, p: &Params) -> Routed {
        let (Some(pv), Some(alias)) = (p.get("pv"), p.get("aliasname")) else {
            return Ok(self.next.run(req).await);
        };
        let (pv, alias) = (pv.to_string(), alias.to_string());
        self.c.etcd_up().await?;
        let owner = self.owner(&pv);
        let c = self.c.clone();
        let r = self.send(&owner, req).await?;
        if r.status().is_success() {
            let target = c.cache.read(|s| s.aliases.get(&pv).cloned()).unwrap_or(pv);
            let v = (action == "addAlias").then_some(target.as_str());
            c.set_alias(&alias, v).await?;
        }
        Ok(r)
    }

    /// archivePV: each new PV is placed and claimed (one etcd txn per 128
    /// PVs), then every owner gets its PVs (scope local) and runs its
    /// normal workflow; the rows come back in request order.
    async fn archive(self, req: Request, p: &Params) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let reqs = super::mgmt::archive_params(p, &parts.method, &parts.headers, &body)?;
        // Per-PV `appliance` (POST JSON objects), else the parameter.
        let mut wanted: Vec<Option<String>> = vec![p.get("appliance").map(String::from); reqs.len()];
        if parts.method == Method::POST {
            if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) {
                let offset = reqs.len().saturating_sub(items.len());
                for (i, it) in items.iter().enumerate() {
                    if let Some(a) = it
                        .get("appliance")
                        .and_then(Value::as_str)
                        .filter(|a| !a.is_empty())
                    {
                        wanted[offset + i] = Some(a.to_string());
                    }
                }
            }
        }
        let mut placer = Placer::new(&self.c.cfg.placement, self.c.candidates());
        let mut owners: Vec<Option<String>> = Vec::with_capacity(reqs.len());
        let mut to_claim = Vec::new();
        let mut fresh: HashMap<String, String> = HashMap::new();
        for (r, w) in reqs.iter().zip(&wanted) {
            let name = base_name(&r.pv);
            let name = name
                .strip_prefix("pva://")
                .or_else(|| name.strip_prefix("ca://"))
                .unwrap_or(name);
            let name = name.strip_suffix(".VAL").unwrap_or(name).to_string();
            if let Some(o) = self.c.owner_of(&name) {
                owners.push(Some(o));
                continue;
            }
            if let Some(o) = fresh.get(&name) {
                owners.push(Some(o.clone()));
                continue;
            }
            let o = placer.pick(w.as_deref())?;
            fresh.insert(name.clone(), o.clone());
            to_claim.push((name, o.clone()));
            owners.push(Some(o));
        }
        let claims = self.c.claim_many(&to_claim).await?;
        let mut won: HashMap<String, String> = HashMap::new();
        for ((pv, o), c) in to_claim.iter().zip(claims) {
            let owner = match c {
                Claim::Claimed { .. } => o.clone(),
                Claim::Exists { owner } => owner,
            };
            won.insert(pv.clone(), owner);
        }
        let owners: Vec<String> = reqs
            .iter()
            .zip(owners)
            .map(|(r, o)| {
                let name = base_name(&r.pv);
                let name = name
                    .strip_prefix("pva://")
                    .or_else(|| name.strip_prefix("ca://"))
                    .unwrap_or(name);
                let name = name.strip_suffix(".VAL").unwrap_or(name);
                won.get(name)
                    .cloned()
                    .or(o)
                    .unwrap_or_else(|| self.me().to_owned())
            })
            .collect();
        let mut order: Vec<String> = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, o) in owners.iter().enumerate() {
            match order.iter().position(|x| x == o) {
                Some(g) => groups[g].push(i),
                None => {
                    order.push(o.clone());
                    groups.push(vec![i]);
                }
            }
        }
        let mut futs = Vec::new();
        let this = &self;
        for (owner, g) in order.iter().zip(&groups) {
            let items: Vec<Value> = g
                .iter()
                .map(|&i| {
                    let r = &reqs[i];
                    let mut o = Map::new();
                    o.insert("pv".into(), json!(r.pv));
                    if let Some(x) = r.sampling_period {
                        o.insert("samplingperiod".into(), json!(x.to_string()));
                    }
                    if let Some(x) = &r.sampling_method {
                        o.insert("samplingmethod".into(), json!(x));
                    }
                    if let Some(x) = &r.policy {
                        o.insert("policy".into(), json!(x));
                    }
                    if let Some(x) = &r.controlling_pv {
                        o.insert("controllingPV".into(), json!(x));
                    }
                    Value::Object(o)
                })
                .collect();
            let mut h = sub_headers(&parts.headers);
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let b = Bytes::from(serde_json::to_vec(&items).map_err(ApiError::internal)?);
            let sub = build(Method::POST, parts.uri.path(), "", h, b)?;
            futs.push(async move { this.send(owner, sub).await });
        }
        let mut answers = Vec::new();
        let mut missing = Vec::new();
        for (owner, r) in order.iter().zip(futures::future::join_all(futs).await) {
            match r {
                Ok(resp) if resp.status().is_success() => match json_of(resp).await {
                    Ok(Value::Array(a)) => answers.push(Some(a)),
                    _ => {
                        missing.push(owner.clone());
                        answers.push(None);
                    }
                },
                // The owner refused the request itself (bad parameter…).
                Ok(resp) if order.len() == 1 => return Ok(resp),
                _ => {
                    missing.push(owner.clone());
                    answers.push(None);
                }
            }
        }
        let rows = merge::interleave(
            reqs.len(),
            &groups,
            answers,
            |i| json!({ "pvName": reqs[i].pv, "validation": format!("Appliance {} is down", owners[i]) }),
        );
        Ok(with_partial(json_response(Value::Array(rows)), &missing))
    }
}
