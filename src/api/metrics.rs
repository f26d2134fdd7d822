//! `GET /metrics`: Prometheus text with PV counts by status, engine rates,
//! per-tier files/bytes, ETL per stage and HTTP latencies.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry, TextEncoder};

use super::state::AppState;

/// HTTP request metrics.
pub struct HttpMetrics {
    registry: Registry,
    latency: HistogramVec,
    gauges: GaugeVec,
    /// Per ETL stage: `strata_etl_stage{stat, source, dest}`.
    etl_stages: GaugeVec,
    /// `/retrieval/data/*` requests answered.
    retrieval_requests: AtomicU64,
    /// When the last one came (Unix seconds, 0 if none).
    last_retrieval: AtomicI64,
    /// Retrieval responses that left out a tier (deadline).
    partial_responses: AtomicU64,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetrics {
    /// Creates the metric families.
    pub fn new() -> Self {
        let registry = Registry::new();
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "strata_http_request_duration_seconds",
                "HTTP request latency (to headers)",
            )
            .buckets(vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
            &["endpoint", "status"],
        )
        .expect("static metric definition");
        let gauges = GaugeVec::new(Opts::new("strata_gauge", "strata state"), &["name", "label"])
            .expect("static metric definition");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique metric");
        let etl_stages = GaugeVec::new(
            Opts::new(
                "strata_etl_stage",
                "per ETL stage (source store to destination store): cumulative runs, partitions, bytes, seconds, failures; last and next run; backlog",
            ),
            &["stat", "source", "dest"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(gauges.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(etl_stages.clone()))
            .expect("unique metric");
        HttpMetrics {
            registry,
            latency,
            gauges,
            etl_stages,
            retrieval_requests: AtomicU64::new(0),
            last_retrieval: AtomicI64::new(0),
            partial_responses: AtomicU64::new(0),
        }
    }

    /// Counts a retrieval response that left out a tier.
    pub fn partial_response(&self) {
        self.partial_responses.fetch_add(1, Ordering::Relaxed);
    }

    /// Java's retrieval rows of getApplianceMetricsForAppliance.
    pub fn retrieval_rows(&self) -> [(&'static str, String); 2] {
        [
            (
                "Number of Retrieval Requests",
                self.retrieval_requests.load(Ordering::Relaxed).to_string(),
            ),
            (
                "Time of last Retrieval Request",
                crate::mgmt::status_time(self.last_retrieval.load(Ordering::Relaxed)),
            ),
        ]
    }
}

/// Endpoint label: the action or request name for the known areas, so the
/// label set stays bounded.
fn endpoint(path: &str, status: u16) -> String {
    if status == 404 {
        return "unknown".into();
    }
    for prefix in ["/mgmt/bpl/", "/retrieval/bpl/", "/retrieval/data/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return format!("{prefix}{}", rest.chars().take(64).collect::<String>());
        }
    }
    path.chars().take(64).collect()
}

/// Middleware recording request latency.
pub async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/retrieval/data/") {
        st.http.retrieval_requests.fetch_add(1, Ordering::Relaxed);
        st.http
            .last_retrieval
            .store(crate::types::Timestamp::now().secs, Ordering::Relaxed);
    }
    let t = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    st.http
        .latency
        .with_label_values(&[&endpoint(&path, status), &status.to_string()])
        .observe(t.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`.
pub async fn render(State(st): State<AppState>) -> Response {
    for gauge in st.mgmt.gauges() {
        st.http
            .gauges
            .with_label_values(&[gauge.name, &gauge.label])
            .set(gauge.value);
    }
    for (stat, source, dest, v) in st.mgmt.etl_stage_gauges() {
        st.http
            .etl_stages
            .with_label_values(&[stat, &source, &dest])
            .set(v);
    }
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&st.http.registry.gather(), &mut buf) {
        return super::error::ApiError::internal(e).into_response();
    }
    tier_deadlines(&st, &mut buf);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], buf).into_response()
}

/// Name, type, help and value of one metric family.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::storage::DeadlineStats) -> u64,
);

/// Per-tier read deadline figures (`storage::TierGuard`), in the text
/// format: timeouts and fail-fast refusals as counters, stuck reads as a
/// gauge, and the responses that left a tier out.
fn tier_deadlines(st: &AppState, out: &mut Vec<u8>) {
    use std::fmt::Write as _;
    let tiers: Vec<(String, crate::storage::DeadlineStats)> = st
        .retrieval
        .store
        .tiers()
        .iter()
        .map(|t| (label(t.name()), t.deadline_stats()))
        .collect();
    let mut s = String::new();
    let families: [Family; 3] = [
        (
            "strata_retrieval_tier_timeouts_total",
            "counter",
            "Tier reads abandoned at the tier deadline.",
            |d| d.timeouts,
        ),
        (
            "strata_retrieval_tier_skipped_total",
            "counter",
            "Tier reads refused at once because an earlier read of the tier is still blocked.",
            |d| d.skipped,
        ),
        (
            "strata_retrieval_tier_blocked_reads",
            "gauge",
            "Abandoned tier reads still blocked (the tier counts as stuck while > 0).",
            |d| d.blocked as u64,
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (tier, d) in &tiers {
            let _ = writeln!(s, "{name}{{tier=\"{tier}\"}} {}", get(d));
        }
    }
    let _ = writeln!(
        s,
        "# HELP strata_retrieval_partial_responses_total Retrieval responses that left out a tier that did not answer in time.\n# TYPE strata_retrieval_partial_responses_total counter\nstrata_retrieval_partial_responses_total {}",
        st.http.partial_responses.load(Ordering::Relaxed)
    );
    out.extend_from_slice(s.as_bytes());
}

/// A label value in the text format (backslash, quote and newline escaped).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
