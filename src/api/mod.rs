//! The HTTP API (axum): retrieval and management routers over one shared
//! state. Handlers parse, call one service function and encode; errors map
//! to statuses in [`error`] only.

mod body;
pub mod error;
mod metrics;
pub(crate) mod mgmt;
mod params;
mod retrieval;
mod state;
mod ui;

use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;

pub use metrics::HttpMetrics;
pub use state::{AppState, SecurityConfig};

/// The whole application router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(retrieval::router())
        .merge(mgmt::router())
        .route("/metrics", get(metrics::render))
        .merge(ui::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(CompressionLayer::new())
        .with_state(state)
}
