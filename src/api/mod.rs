//! The HTTP API (axum): retrieval and management routers over one shared
//! state. Every route is declared once in [`routes`] (the router, the API
//! key check and `/openapi.json` derive from it). Handlers parse, call one
//! service function and encode; errors map to statuses in [`error`] only.

mod body;
#[cfg(feature = "cluster")]
mod cluster;
pub mod error;
mod metrics;
pub(crate) mod mgmt;
pub mod openapi;
mod params;
mod retrieval;
pub mod routes;
mod state;
mod ui;

use axum::body::HttpBody;
use axum::http::{header, Response};
use axum::routing::MethodRouter;
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
    let routed = routes::all()
        .fold(Router::new(), |router, r| router.route(&r.axum_path(), serve(r)))
        .merge(retrieval::unknown())
        .merge(mgmt::unknown())
        .merge(extra)
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

/// The method router of a route of the table.
fn serve(r: &'static routes::Route) -> MethodRouter<AppState> {
    use routes::Handler;
    match r.handler {
        Handler::Mgmt => mgmt::serve(r),
        Handler::RetrievalBpl => retrieval::serve_bpl(r),
        Handler::Data => retrieval::serve_data(r),
        Handler::Ping => on(r, || async { "Pong" }),
        Handler::Metrics => on(r, metrics::render),
        Handler::OpenApi => on(r, openapi::serve),
        Handler::UiRedirect => ui::serve_redirect(r),
        Handler::UiFile => ui::serve_file(r),
    }
}

/// `handler` for the methods of `r`; a 405 naming them for the others.
fn on<H, T>(r: &'static routes::Route, handler: H) -> MethodRouter<AppState>
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let allow = r.methods.allow();
    axum::routing::on(r.methods.filter(), handler)
        .fallback(move || async move { error::ApiError::method_not_allowed(allow) })
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
