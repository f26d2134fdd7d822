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
        }
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], buf).into_response()
}
