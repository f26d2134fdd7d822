//! `/mgmt/bpl/*`: the Java appliance's management actions (declared in
//! `api/routes/mgmt.rs`, which also marks the mutating ones that need the
//! API key). Each handler parses parameters, calls one `Mgmt` method and
//! encodes its JSON.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::params::{pv_list_body, pv_list_param, Params};
use super::routes::Route;
use super::state::AppState;
use crate::mgmt::{glob_or_regex, ArchiveParams, Mgmt};

/// The method router of one management action of the route table.
pub(super) fn serve(r: &'static Route) -> MethodRouter<AppState> {
    super::on(
        r,
        move |State(st): State<AppState>,
              method: Method,
              RawQuery(q): RawQuery,
              headers: HeaderMap,
              body: Bytes| action(st, r, method, q, headers, body),
    )
}

/// `/mgmt/bpl/<not an action>`: 404 (400 for a segment that is not UTF-8).
pub(super) fn unknown() -> Router<AppState> {
    Router::new().route(
        "/mgmt/bpl/{action}",
        any(|Path(action): Path<String>| async move {
            ApiError::not_found(format!("unknown management action {action}"))
        }),
    )
}

/// Whether `action` changes state (needs the API key when one is set), as
/// the route table says.
#[cfg(feature = "cluster")]
pub(crate) fn is_mutating(action: &str) -> bool {
    super::routes::MGMT
        .iter()
        .find(|r| r.name() == action)
        .is_some_and(|r| r.mutating)
}

/// Equality whose time does not depend on where the inputs differ.
fn same_secret(given: &str, key: &str) -> bool {
    given.len() == key.len()
        && given
            .bytes()
            .zip(key.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

pub(crate) fn authorized(st: &AppState, headers: &HeaderMap) -> bool {
    let Some(key) = st.security.api_key.as_deref() else {
        return true;
    };
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let x = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    bearer.is_some_and(|b| same_secret(b, key)) || x.is_some_and(|x| same_secret(x, key))
}

pub(crate) fn mgmt(st: &AppState) -> Mgmt {
    st.mgmt.clone()
}

fn json(v: Value) -> ApiResult<Response> {
    Ok(Json(v).into_response())
}

fn is_glob(name: &str) -> bool {
    name.contains('*') || name.contains('?')
}

/// One object for a single plain name, an array for several names or a
/// glob (Java's shapes).
fn one_or_many(names: &[String], mut v: Vec<Value>) -> ApiResult<Response> {
    if names.len() == 1 && !is_glob(&names[0]) && v.len() == 1 {
        return json(v.remove(0));
    }
    json(Value::Array(v))
}

/// `limit` (Java: `-1`, or any negative, means all).
fn limit(p: &Params, default: i64) -> ApiResult<Option<usize>> {
    let l = p.int("limit", default)?;
    Ok(usize::try_from(l).ok())
}

/// PV names from `pv` (comma list) and, for POST, the body.
fn names(p: &Params, method: &Method, headers: &HeaderMap, body: &[u8]) -> ApiResult<Vec<String>> {
    let mut v = pv_list_param(p);
    if *method == Method::POST && !body.is_empty() {
        v.extend(pv_list_body(headers, body)?);
    }
    if v.is_empty() {
        return Err(ApiError::missing("pv"));
    }
    Ok(v)
}

async fn action(
    st: AppState,
    route: &'static Route,
    method: Method,
    q: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if route.mutating && !authorized(&st, &headers) {
        return ApiError::unauthorized().into_response();
    }
    let p = Params::parse(q.as_deref());
    match dispatch(&st, route.name(), &method, &p, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// 404 unless `param` is absent, empty or this appliance's identity (the
/// only appliance of the cluster).
fn this_appliance(m: &Mgmt, p: &Params, param: &str) -> ApiResult<()> {
    match p.get(param).map(str::trim).filter(|v| !v.is_empty()) {
        Some(id) if id != m.identity => Err(ApiError::not_found(format!("unknown appliance {id}"))),
        _ => Ok(()),
    }
}

fn post_only(method: &Method, action: &str) -> ApiResult<()> {
    if *method != Method::POST {
        return Err(ApiError::bad_param(
            "body",
            format!("{action} needs POST with a body"),
        ));
    }
    Ok(())
}

async fn dispatch(
    st: &AppState,
    action: &str,
    method: &Method,
    p: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Response> {
    let m = mgmt(st);
    match action {
        "archivePV" => {
            let reqs = archive_params(p, method, headers, body)?;
            let n = reqs.len();
            let out = m.archive(reqs).await?;
            if n == 1 && method == Method::GET {
                return json(Value::Array(out));
            }
            json(Value::Array(out))
        }
        "pauseArchivingPV" => {
            let n = names(p, method, headers, body)?;
            one_or_many(&n, m.pause(&m.expand(&n)?).await?)
        }
        "resumeArchivingPV" => {
            let n = names(p, method, headers, body)?;
            one_or_many(&n, m.resume(&m.expand(&n)?).await?)
        }
        "deletePV" => {
            let n = names(p, method, headers, body)?;
            let delete_data = p.flag("deleteData");
            if n.len() == 1 && !is_glob(&n[0]) {
                return json(m.delete(&n[0], delete_data).await?);
            }
            json(Value::Array(m.delete_many(&m.expand(&n)?, delete_data).await?))
        }
        "abortArchivingPV" => json(m.abort(p.require("pv")?).await?),
        "getAllNamedFlags" => json(json!(m.etl.etl().flags().all())),
        "getNamedFlag" => {
            let name = p.require("name")?;
            let mut out = serde_json::Map::new();
            out.insert(name.to_string(), Value::Bool(m.etl.etl().flags().get(name)));
            json(Value::Object(out))
        }
        "setNamedFlag" => {
            let name = p.require("name")?;
            let value = crate::registry::flags::parse_java_bool(p.require("value")?);
            m.etl
                .etl()
                .flags()
                .set(name, value)
                .map_err(crate::mgmt::MgmtError::from)?;
            json(json!({ "status": "ok" }))
        }
        "consolidateDataForPV" => json(
            m.consolidate(p.require("pv")?, p.require("storage")?, p.get("date"))
                .await?,
        ),
        "changeStore" => json(
            m.change_store(p.require("pv")?, p.require("storage")?, p.require("newbackend")?)
                .await?,
        ),
        "modifyStoreURLForPV" => {
            // Java: 404 with a message for a missing parameter.
            let arg = |k: &str, what: &str| {
                p.get(k)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| ApiError::not_found(what.to_string()))
            };
            let pv = arg("pv", "Please specify the PV name")?;
            let storage = arg("storage", "Please specify the name of the store to alter")?;
            let url = arg(
                "plugin_url",
                "Please specify the new storage specification as the plugin_url argument",
            )?;
            m.modify_store_url(pv, storage, url)?;
            Ok(([(header::CONTENT_TYPE, "application/json")], "").into_response())
        }
        "renamePV" => json(m.rename(p.require("pv")?, p.require("newname")?).await?),
        "changeArchivalParameters" => {
            let period: f32 = p.require("samplingperiod")?.trim().parse().map_err(|_| {
                ApiError::bad_param("samplingperiod", "parameter samplingperiod: not a number")
            })?;
            json(
                m.change_parameters(p.require("pv")?, period, p.get("samplingmethod"))
                    .await?,
            )
        }
        "modifyMetaFields" => {
            let cmds: Vec<String> = p.all("command").iter().map(|s| s.to_string()).collect();
            if cmds.is_empty() {
                return Err(ApiError::missing("command"));
            }
            json(m.modify_meta_fields(p.require("pv")?, &cmds)?)
        }
        "changeTypeForPV" => json(m.change_type(p.require("pv")?, p.require("newtype")?).await?),
        "applyPolicy" => {
            let n = names(p, method, headers, body)?;
            json(Value::Array(
                m.apply_policy(&m.expand(&n)?, p.get("policy")).await?,
            ))
        }
        "getAllPVs" | "getMatchingPVs" | "getMatchingPVsForThisAppliance" => matching_pvs(st, p, false),
        "getPVsForThisAppliance" | "getTypeInfoKeys" => json(json!(m.registry.names())),
        "getPVStatus" => {
            let n = names(p, method, headers, body)?;
            json(Value::Array(m.pv_statuses(&n)))
        }
        "getPVTypeInfo" => json(Value::Object(m.typeinfo(p.require("pv")?)?.to_json())),
        "putPVTypeInfo" => {
            post_only(method, action)?;
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_param("body", format!("body is not valid JSON: {e}")))?;
            json(m.put_typeinfo(p.require("pv")?, &v, p.flag("override"), p.flag("createnew"))?)
        }
        "getStoresForPV" => json(m.stores_for(p.require("pv")?, p.flag("counts"))?),
        "archivedPVs" | "unarchivedPVs" | "archivedPVsNotInList" => {
            post_only(method, action)?;
            let list = pv_list_body(headers, body)?;
            let archived = m.archived_of(&list);
            let out: Vec<String> = match action {
                "archivedPVs" => archived,
                "unarchivedPVs" => list.into_iter().filter(|n| !archived.contains(n)).collect(),
                _ => {
                    let given: std::collections::HashSet<String> =
                        list.iter().map(|n| m.real_name(n)).collect();
                    m.registry
                        .names()
                        .into_iter()
                        .filter(|n| !given.contains(n))
                        .collect()
                }
            };
            json(json!(out))
        }
        "getPVDetails" => pv_details(st, p),
        "addAlias" => json(m.add_alias(p.require("pv")?, p.require("aliasname")?)?),
        "removeAlias" => json(m.remove_alias(p.require("pv")?, p.require("aliasname")?)?),
        "getAllAliases" => json(Value::Array(m.all_aliases())),
        "getApplianceInfo" => {
            this_appliance(&m, p, "id")?;
            json(m.appliance_info())
        }
        "getAppliancesInCluster" => json(json!([m.appliance_info()])),
        "getApplianceMetrics" => appliance_metrics(st),
        "getApplianceMetricsForAppliance" => {
            this_appliance(&m, p, "appliance")?;
            appliance_metrics_rows(st)
        }
        "getProcessMetricsDataForAppliance" => {
            // Java: 404 without `appliance`.
            let id = p
                .get("appliance")
                .ok_or_else(|| ApiError::not_found("missing parameter appliance"))?;
            if id != m.identity {
                return Err(ApiError::not_found(format!("unknown appliance {id}")));
            }
            let samples = crate::mgmt::process::ProcessMetrics::global().samples();
            json(crate::mgmt::process::chart_json(&samples))
        }
        "getProcessMetrics" => json(crate::mgmt::process::report_json(
            crate::mgmt::process::ProcessMetrics::global(),
        )),
        "getStorageMetrics" | "getStorageMetricsForAppliance" => {
            this_appliance(&m, p, "appliance")?;
            json(Value::Array(m.storage_metrics()?))
        }
        "getVersion" => json(json!({ "version": format!("strata {}", crate::VERSION) })),
        "getVersions" => json(m.versions()),
        "getPausedPVsReport" => json(Value::Array(m.paused_report(limit(p, -1)?))),
        "getNeverConnectedPVs" => json(Value::Array(m.never_connected())),
        "getCurrentlyDisconnectedPVs" => json(Value::Array(m.disconnected())),
        "getEventRateReport" => json(Value::Array(m.event_rate_report(limit(p, 1000)?))),
        "getStorageRateReport" => json(Value::Array(m.storage_rate_report(limit(p, 1000)?))),
        "getRecentlyAddedPVs" => json(Value::Array(m.recent(false, limit(p, 100)?))),
        "getRecentlyModifiedPVs" => json(Value::Array(m.recent(true, limit(p, 100)?))),
        "getLostConnectionsReport" => json(Value::Array(m.lost_connections_report(limit(p, 1000)?))),
        "getSilentPVsReport" => json(Value::Array(m.silent_report(limit(p, 1000)?))),
        "getTimeSpanReport" => json(Value::Array(m.time_span_report(limit(p, -1)?))),
        "getPVsByStorageConsumed" => json(Value::Array(m.storage_consumed(limit(p, 100)?))),
        "getPVsByDroppedEventsTimestamp" => json(Value::Array(m.dropped_timestamp_report(limit(p, -1)?))),
        "getPVsByDroppedEventsBuffer" => json(Value::Array(m.dropped_buffer_report(limit(p, -1)?))),
        "getPVsByDroppedEventsTypeChange" => json(Value::Array(m.dropped_type_change_report(limit(p, -1)?))),
        "getSlowChangingPVsWithDroppedEvents" => {
            json(Value::Array(m.slow_changing_dropped_report(limit(p, -1)?)))
        }
        "getArchivedWaveforms" => json(Value::Array(m.archived_waveforms())),
        "exportConfig" | "exportConfigForAppliance" => json(m.export_config()?),
        "importConfig" | "importConfigForAppliance" => {
            post_only(method, action)?;
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_param("body", format!("body is not valid JSON: {e}")))?;
            json(m.import_config(&v)?)
        }
        "getPolicyList" => {
            let list = m.policies.read().map_err(ApiError::internal)?.list();
            let mut o = serde_json::Map::new();
            for (k, v) in list {
                o.insert(k, Value::String(v));
            }
            json(Value::Object(o))
        }
        "getPolicyText" => {
            let text = m.policies.read().map_err(ApiError::internal)?.text().to_string();
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
        }
        "reconcile" => reconcile(st, p).await,
        _ => Err(ApiError::not_found(format!("unknown management action {action}"))),
    }
}

pub(crate) fn archive_params(
    p: &Params,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Vec<ArchiveParams>> {
    let period =
        match p.get("samplingperiod").filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(v.trim().parse::<f32>().map_err(|_| {
                ApiError::bad_param("samplingperiod", "parameter samplingperiod: not a number")
            })?),
            None => None,
        };
    let common = ArchiveParams {
        pv: String::new(),
        sampling_period: period,
        sampling_method: p.get("samplingmethod").map(str::to_string),
        policy: p.get("policy").filter(|x| !x.is_empty()).map(str::to_string),
        controlling_pv: p
            .get("controllingPV")
            .filter(|x| !x.is_empty())
            .map(str::to_string),
    };
    let mut out: Vec<ArchiveParams> = pv_list_param(p)
        .into_iter()
        .map(|pv| ArchiveParams { pv, ..common.clone() })
        .collect();
    if *method == Method::POST && !body.is_empty() {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        if is_json {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_param("body", format!("body is not valid JSON: {e}")))?;
            let arr = v
                .as_array()
                .ok_or_else(|| ApiError::bad_param("body", "body must be a JSON array"))?;
            for item in arr {
                let str_of = |k: &str| -> Option<String> {
                    item.get(k).and_then(|x| match x {
                        Value::String(s) if !s.is_empty() => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                };
                let pv = match item {
                    Value::String(s) => s.clone(),
                    _ => str_of("pv")
                        .ok_or_else(|| ApiError::bad_param("body", "each body entry needs \"pv\""))?,
                };
                let period = match str_of("samplingperiod") {
                    Some(v) => Some(v.trim().parse::<f32>().map_err(|_| {
                        ApiError::bad_param("body", format!("samplingperiod of {pv}: not a number"))
                    })?),
                    None => common.sampling_period,
                };
                out.push(ArchiveParams {
                    pv,
                    sampling_period: period,
                    sampling_method: str_of("samplingmethod").or(common.sampling_method.clone()),
                    policy: str_of("policy").or(common.policy.clone()),
                    controlling_pv: str_of("controllingPV").or(common.controlling_pv.clone()),
                });
            }
        } else {
            for pv in pv_list_body(headers, body)? {
                out.push(ArchiveParams { pv, ..common.clone() });
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::missing("pv"));
    }
    Ok(out)
}

/// getAllPVs / getMatchingPVs (mgmt and retrieval).
pub(crate) fn matching_pvs(st: &AppState, p: &Params, retrieval: bool) -> ApiResult<Response> {
    let (pv, regex) = (p.get("pv"), p.get("regex"));
    if retrieval && pv.is_none() && regex.is_none() {
        return Err(ApiError::not_found("getMatchingPVs needs pv or regex"));
    }
    let filter = glob_or_regex(pv, regex)?;
    let out = mgmt(st).matching(&filter, limit(p, 500)?, true);
    json(json!(out))
}

/// searchForPVsRegex: plain text, one name per line.
pub(crate) fn search_regex(st: &AppState, p: &Params) -> ApiResult<Response> {
    let filter = glob_or_regex(None, Some(p.require("regex")?))?;
    let mut text = mgmt(st).matching(&filter, None, true).join("\n");
    text.push('\n');
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

pub(crate) fn metadata(st: &AppState, p: &Params) -> ApiResult<Response> {
    json(mgmt(st).metadata(p.require("pv")?)?)
}

pub(crate) fn pv_details(st: &AppState, p: &Params) -> ApiResult<Response> {
    json(Value::Array(mgmt(st).pv_details(p.require("pv")?)?))
}

pub(crate) fn appliance_metrics(st: &AppState) -> ApiResult<Response> {
    json(mgmt(st).appliance_metrics()?)
}

pub(crate) fn appliance_metrics_rows(st: &AppState) -> ApiResult<Response> {
    let retrieval = st.http.retrieval_rows();
    json(Value::Array(mgmt(st).appliance_metrics_rows(&retrieval)?))
}

pub(crate) fn archived_pvs(st: &AppState, headers: &HeaderMap, body: &[u8]) -> ApiResult<Response> {
    let list = pv_list_body(headers, body)?;
    json(json!(mgmt(st).archived_of(&list)))
}

/// reconcile: compares the index with the files for one PV (`pv`) or all.
async fn reconcile(st: &AppState, p: &Params) -> ApiResult<Response> {
    json(mgmt(st).reconcile(p.get("pv")).await?)
}
