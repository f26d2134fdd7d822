//! `/retrieval/*`: getData in every format, getDataForPVs, getDataAtTime
//! and the retrieval BPL calls (declared in `api/routes/retrieval.rs`).
//! Handlers parse, call the service, and stream the result.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::body;
use super::error::{ApiError, ApiResult};
use super::params::{pv_list_body, Params};
use super::routes::Route;
use super::state::AppState;
use crate::retrieval::format::Format;
use crate::retrieval::time::parse_instant;
use crate::retrieval::{default_range, DataQuery, PartialTiers, RetrievalError};
use crate::types::{PvName, Timestamp};

/// The method router of one data request of the route table.
pub(super) fn serve_data(r: &'static Route) -> MethodRouter<AppState> {
    super::on(
        r,
        move |State(st): State<AppState>,
              method: Method,
              RawQuery(q): RawQuery,
              headers: HeaderMap,
              body: Bytes| async move {
            data_inner(st, method, r.name().to_string(), q, headers, body)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        },
    )
}

/// The method router of one retrieval BPL call of the route table.
pub(super) fn serve_bpl(r: &'static Route) -> MethodRouter<AppState> {
    super::on(
        r,
        move |State(st): State<AppState>,
              method: Method,
              RawQuery(q): RawQuery,
              headers: HeaderMap,
              body: Bytes| async move { bpl(&st, r.name(), &method, q, &headers, &body) },
    )
}

/// `/retrieval/data/<not a request>` (400 naming the request or its
/// format) and `/retrieval/bpl/<not a call>` (404).
pub(super) fn unknown() -> Router<AppState> {
    Router::new().route("/retrieval/data/{request}", any(data)).route(
        "/retrieval/bpl/{action}",
        any(|Path(action): Path<String>| async move {
            ApiError::not_found(format!("unknown retrieval action {action}"))
        }),
    )
}

fn time_param(p: &Params, key: &'static str) -> ApiResult<Option<Timestamp>> {
    match p.get(key) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => parse_instant(v).map(Some).ok_or_else(|| {
            ApiError::bad_param(key, format!("parameter {key}: not an ISO-8601 instant: {v:?}"))
        }),
    }
}

/// `from`/`to` (Java's defaults) or `timeranges`.
fn ranges(p: &Params) -> ApiResult<Vec<(Timestamp, Timestamp)>> {
    if let Some(tr) = p.get("timeranges").filter(|s| !s.trim().is_empty()) {
        let times: Vec<Timestamp> = tr
            .split(',')
            .map(|s| {
                parse_instant(s).ok_or_else(|| {
                    ApiError::bad_param("timeranges", format!("parameter timeranges: bad instant {s:?}"))
                })
            })
            .collect::<Result<_, _>>()?;
        if times.len() % 2 != 0 {
            return Err(ApiError::bad_param(
                "timeranges",
                "parameter timeranges: needs an even number of instants",
            ));
        }
        let pairs: Vec<_> = times.chunks(2).map(|c| (c[0], c[1])).collect();
        for (i, (a, b)) in pairs.iter().enumerate() {
            if a > b || (i > 0 && *a <= pairs[i - 1].1) {
                return Err(ApiError::bad_param(
                    "timeranges",
                    "parameter timeranges: ranges must be ordered and not overlap",
                ));
            }
        }
        return Ok(pairs);
    }
    let (from, to) = default_range(Timestamp::now(), time_param(p, "from")?, time_param(p, "to")?);
    if from > to {
        return Err(ApiError::bad_param("from", "parameter from: is after to"));
    }
    Ok(vec![(from, to)])
}

fn split_request(request: &str) -> (&str, Option<&str>) {
    match request.split_once('.') {
        Some((name, ext)) => (name, Some(ext)),
        None => (request, None),
    }
}

async fn data(
    State(st): State<AppState>,
    method: Method,
    Path(request): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body_bytes: Bytes,
) -> Response {
    match data_inner(st, method, request, q, headers, body_bytes).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn data_inner(
    st: AppState,
    method: Method,
    request: String,
    q: Option<String>,
    headers: HeaderMap,
    body_bytes: Bytes,
) -> ApiResult<Response> {
    let p = Params::parse(q.as_deref());
    let (name, ext) = split_request(&request);
    match name {
        "getData" | "getDataForPVs" => {}
        "getDataAtTime" | "getDataAtTimeForAppliance" => {
            return data_at_time(&st, &method, &p, &headers, &body_bytes).await
        }
        _ => return Err(ApiError::bad_param("request", format!("unknown request {name}"))),
    }
    let ext = ext.ok_or_else(|| {
        ApiError::bad_param("format", format!("{name} needs a format extension such as .json"))
    })?;
    let format = Format::from_extension(ext)
        .ok_or_else(|| ApiError::bad_param("format", format!("unsupported format .{ext}")))?;
    let multi = name == "getDataForPVs";
    let mut names: Vec<String> = p.all("pv").iter().map(|s| s.to_string()).collect();
    if multi {
        if !format.multi_pv() {
            return Err(
                RetrievalError::Format(format!("{ext} (only json, qw and raw hold several PVs)")).into(),
            );
        }
        if method == Method::POST && !body_bytes.is_empty() {
            names.extend(pv_list_body(&headers, &body_bytes)?);
        }
    } else if names.len() > 1 {
        names.truncate(1);
    }
    if names.is_empty() || names.iter().all(|n| n.trim().is_empty()) {
        return Err(ApiError::missing("pv"));
    }
    let ranges = ranges(&p)?;
    let usereduced = p.flag("usereduced");
    let pp = p.get("pp");
    let mut pvs = Vec::with_capacity(names.len());
    for n in &names {
        pvs.push(st.retrieval.pv_request(n, pp, usereduced)?);
    }
    check_bins(&pvs, &ranges)?;
    let query = DataQuery {
        pvs,
        ranges,
        format,
        fetch_latest_metadata: p.flag("fetchLatestMetadata"),
    };
    let donotchunk = p.get("donotchunk").is_some_and(|v| v != "false");
    let mut resp = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .header("Access-Control-Allow-Origin", "*");
    let retrieval = st.retrieval.clone();
    let partial = PartialTiers::default();
    if donotchunk {
        let p = partial.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            retrieval.run_partial(&query, &mut out, &p).map(|_| out)
        })
        .await
        .map_err(ApiError::internal)??;
        resp = partial_header(&st, resp, &partial);
        resp = resp.header(header::CONTENT_LENGTH, bytes.len());
        return resp.body(Body::from(bytes)).map_err(ApiError::internal);
    }
    let (writer, mut rx) = body::channel();
    let p = partial.clone();
    let task = tokio::task::spawn_blocking(move || stream_run(&retrieval, &query, &p, writer));
    tokio::pin!(task);
    // The status waits for the first chunk (or the end): a failure before
    // any byte is answered with its own status, not a cut 200.
    let first = tokio::select! {
        biased;
        chunk = rx.recv() => Some(chunk),
        done = &mut task => {
            done.map_err(ApiError::internal)??;
            None
        }
    };
    let first = match first {
        Some(Some(chunk)) => Some(chunk),
        Some(None) => {
            // Closed without a chunk: the producer ended; its result decides.
            (&mut task).await.map_err(ApiError::internal)??;
            None
        }
        None => None,
    };
    // Tiers found not answering up to the first chunk; one that stops
    // later ends its part of the body (logged and counted only).
    let resp = partial_header(&st, resp, &partial);
    resp.body(body::body(first, rx)).map_err(ApiError::internal)
}

/// Header naming the tiers whose data a response leaves out because they
/// did not answer within `[storage] tier_deadline_ms`.
pub const PARTIAL_TIERS_HEADER: &str = "X-Strata-Partial-Tiers";

/// Adds [`PARTIAL_TIERS_HEADER`] when `partial` names tiers (and counts
/// the response).
fn partial_header(
    st: &AppState,
    resp: axum::http::response::Builder,
    partial: &PartialTiers,
) -> axum::http::response::Builder {
    if partial.is_empty() {
        return resp;
    }
    st.http.partial_response();
    resp.header(PARTIAL_TIERS_HEADER, partial.tiers().join(", "))
}

/// Runs `query` into `w` on the blocking pool. A failure (or a panic)
/// before the first chunk is returned, for the handler to answer with its
/// status; after it, the body is aborted with an error id (logged).
fn stream_run(
    retrieval: &crate::retrieval::Retrieval,
    query: &DataQuery,
    partial: &PartialTiers,
    mut w: body::ChannelWriter,
) -> Result<(), RetrievalError> {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        retrieval.run_partial(query, &mut w, partial)
    }));
    let err = match run {
        Ok(Ok(stats)) => {
            tracing::debug!(
                samples = stats.samples,
                pvs = stats.pvs_with_data,
                "response done"
            );
            return Ok(());
        }
        Ok(Err(RetrievalError::Disconnected)) => {
            tracing::debug!("client went away");
            return Ok(());
        }
        Ok(Err(e)) => e,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            RetrievalError::Internal(anyhow::anyhow!("retrieval panicked: {what}"))
        }
    };
    if !w.sent_any() {
        w.discard();
        return Err(err);
    }
    let id = super::error::new_id();
    tracing::error!(id = %id, error = ?err, "response aborted");
    w.fail(format!("response aborted: internal error {id}"));
    Ok(())
}

/// Most post-processor bins one request may cover (over its PVs and
/// ranges): fill operators emit a sample per bin, so more would be a
/// response of billions of samples (`mean_1` over centuries).
pub const MAX_BINS: u128 = 10_000_000;

fn check_bins(pvs: &[crate::retrieval::PvRequest], ranges: &[(Timestamp, Timestamp)]) -> ApiResult<()> {
    let mut bins: u128 = 0;
    for pp in pvs.iter().filter_map(|p| p.pp.as_ref()) {
        for &(from, to) in ranges {
            let interval = pp.interval_for(from, to);
            if interval > 0 {
                let span = u128::try_from(to.secs.saturating_sub(from.secs)).unwrap_or(0);
                bins += span / u128::from(interval) + 1;
            }
        }
    }
    if bins > MAX_BINS {
        return Err(ApiError::bad_param(
            "pp",
            format!("parameter pp: the request covers {bins} bins, more than {MAX_BINS}; use a longer bin or a shorter range"),
        ));
    }
    Ok(())
}

async fn data_at_time(
    st: &AppState,
    method: &Method,
    p: &Params,
    headers: &HeaderMap,
    body_bytes: &[u8],
) -> ApiResult<Response> {
    if *method != Method::POST {
        return Err(ApiError::bad_param(
            "body",
            "getDataAtTime needs POST with a JSON list of PVs",
        ));
    }
    let at = time_param(p, "at")?.unwrap_or_else(Timestamp::now);
    let names = pv_list_body(headers, body_bytes)?;
    let retrieval = st.retrieval.clone();
    let partial = PartialTiers::default();
    let p = partial.clone();
    let map = tokio::task::spawn_blocking(move || retrieval.data_at_time(&names, at, &p))
        .await
        .map_err(ApiError::internal)??;
    let mut resp = Json(Value::Object(map)).into_response();
    if !partial.is_empty() {
        st.http.partial_response();
        if let Ok(v) = axum::http::HeaderValue::from_str(&partial.tiers().join(", ")) {
            resp.headers_mut().insert(PARTIAL_TIERS_HEADER, v);
        }
    }
    Ok(resp)
}

fn bpl(
    st: &AppState,
    action: &str,
    method: &Method,
    q: Option<String>,
    headers: &HeaderMap,
    body_bytes: &[u8],
) -> Response {
    let p = Params::parse(q.as_deref());
    let r = match action {
        "getMatchingPVs" => super::mgmt::matching_pvs(st, &p, true),
        "searchForPVsRegex" => super::mgmt::search_regex(st, &p),
        "areWeArchivingPV" => are_we_archiving(st, &p),
        "getMetadata" => super::mgmt::metadata(st, &p),
        "getVersion" => Ok(Json(json!({ "version": format!("strata {}", crate::VERSION) })).into_response()),
        "getPVDetails" => super::mgmt::pv_details(st, &p),
        "getApplianceMetrics" => super::mgmt::appliance_metrics(st),
        "getApplianceMetricsForAppliance" => retrieval_metrics_rows(st),
        "filterArchivedPVs" if *method == Method::POST => super::mgmt::archived_pvs(st, headers, body_bytes),
        _ => Err(ApiError::not_found(format!("unknown retrieval action {action}"))),
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

/// The retrieval component's rows (Java's retrieval `getApplianceMetricsForAppliance`).
fn retrieval_metrics_rows(st: &AppState) -> ApiResult<Response> {
    let rows: Vec<Value> = st
        .http
        .retrieval_rows()
        .into_iter()
        .map(|(n, v)| json!({"name": n, "value": v, "source": "RETRIEVAL"}))
        .collect();
    Ok(Json(Value::Array(rows)).into_response())
}

fn are_we_archiving(st: &AppState, p: &Params) -> ApiResult<Response> {
    let pv = PvName::new(p.require("pv")?);
    let ok = st.retrieval.resolve(&pv).is_ok();
    Ok(Json(json!({ "status": if ok { "true" } else { "false" } })).into_response())
}
