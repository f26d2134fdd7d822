//! The cluster's mutations: PV-list actions split by owner, deletes and
//! renames that change the directory, aliases, putPVTypeInfo of a new PV,
//! archivePV (placement, claims, forwarding) and the PV moves.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::{base_name, build, json_of, json_response, query_with, read_body, sub_headers, with_partial};
use super::{Fail, Routed, Router};
use crate::api::error::ApiError;
use crate::api::params::{pv_list_body, pv_list_param, Params};
use crate::cluster::{merge, Claim, Placer};

impl Router {
    /// reassignAppliance / reshardPV: forwarded to the target member, which
    /// moves the paused PV's type info and samples and switches the owner
    /// (`cluster::moving`).
    pub(super) async fn reassign(self, action: &str, req: Request) -> Routed {
        if !crate::api::mgmt::authorized(&self.st, req.headers()) {
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

    /// PV-list actions: a single plain name goes to its owner; several are
    /// split by owner and the rows put back in request order; a glob goes
    /// to every member.
    pub(super) async fn per_pv(self, action: &str, req: Request, p: &Params) -> Routed {
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

    pub(super) async fn release(&self, pv: &str, owner: &str) {
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
    pub(super) async fn put_typeinfo(self, req: Request, p: &Params) -> Routed {
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

    pub(super) async fn rename(self, req: Request, p: &Params) -> Routed {
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

    pub(super) async fn alias(self, action: &str, req: Request, p: &Params) -> Routed {
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
    pub(super) async fn archive(self, req: Request, p: &Params) -> Routed {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await?;
        let reqs = crate::api::mgmt::archive_params(p, &parts.method, &parts.headers, &body)?;
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
