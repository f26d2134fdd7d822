//! Shared state of the HTTP handlers.

use std::sync::Arc;

use crate::config::Config;
use crate::mgmt::Mgmt;
use crate::retrieval::Retrieval;

/// Everything a handler may use: the two services, the configuration and
/// the HTTP metrics. Cheap to clone. Built by [`crate::app::App::open`].
#[derive(Clone)]
pub struct AppState {
    /// Retrieval service.
    pub retrieval: Retrieval,
    /// Management service (registry, storage, engine, policies).
    pub mgmt: Mgmt,
    /// Configuration.
    pub cfg: Arc<Config>,
    /// HTTP metrics.
    pub http: Arc<super::metrics::HttpMetrics>,
}
