//! The HTTP API (axum): retrieval and management routers over one shared
//! state. Handlers parse, call one service function and encode; errors map
//! to statuses in [`error`] only.

mod body;
#[cfg(feature = "cluster")]
mod cluster;
pub mod error;
mod metrics;
pub(crate) mod mgmt;
mod params;
mod retrieval;
mod state;
mod ui;

use axum::body::HttpBody;
use axum::http::{header, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;

pub use metrics::HttpMetrics;
pub use state::{AppState, SecurityConfig};

/// The whole application router.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The application router with `extra` routes merged in before the layers,
/// so that they get the same panic catching, JSON errors, metrics and
/// compression as the built-in ones.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    crate::mgmt::process::start_sampler();
    let compression = CompressionLayer::new().compress_when(Compressible {
        binary: state.retrieval.cfg.compress_raw,
    });
    let routed = Router::new()
        .merge(retrieval::router())
        .merge(mgmt::router())
        .merge(extra)
        .route("/metrics", get(metrics::render))
        .merge(ui::router())
        .fallback(error::no_route)
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(compression)
        .with_state(state.clone());
    // A cluster member routes every request first (to the owner, to all
    // members, or here); what it answers here runs the whole stack above.
    #[cfg(feature = "cluster")]
    if state.cluster.is_some() {
        return Router::new()
            .fallback_service(routed)
            .layer(axum::middleware::from_fn_with_state(state, cluster::route));
    }
    routed
}

/// Content types sent as they are unless `[retrieval] compress_raw` is set:
/// clients of the PB/HTTP stream (aapy's `PbFetcher`) read the raw bytes,
/// as the Java appliance sends them.
const BINARY_TYPES: [&str; 2] = ["application/x-protobuf", "application/octet-stream"];

/// tower-http's default compression rule, minus binary responses unless
/// `binary` is set.
#[derive(Debug, Clone, Copy)]
struct Compressible {
    binary: bool,
}

impl Predicate for Compressible {
    fn should_compress<B: HttpBody>(&self, response: &Response<B>) -> bool {
        if !DefaultPredicate::new().should_compress(response) {
            return false;
        }
        if self.binary {
            return true;
        }
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        !BINARY_TYPES.iter().any(|b| ct.starts_with(b))
    }
}
