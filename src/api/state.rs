//! Shared state of the HTTP handlers, and the `[security]` section that
//! guards the mutating management calls.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::mgmt::Mgmt;
use crate::retrieval::Retrieval;

/// Access control for mutating management calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// When set, mutating endpoints require `Authorization: Bearer <key>` or
    /// `X-API-Key: <key>`.
    pub api_key: Option<String>,
}

/// Everything a handler may use: the two services, access control and the
/// HTTP metrics. Cheap to clone. Built by `app::App::open`.
#[derive(Clone)]
pub struct AppState {
    /// Retrieval service.
    pub retrieval: Retrieval,
    /// Management service (registry, storage, engine, policies).
    pub mgmt: Mgmt,
    /// Access control.
    pub security: SecurityConfig,
    /// HTTP metrics.
    pub http: Arc<super::metrics::HttpMetrics>,
    /// This member of a cluster (`[cluster]` set), else `None`.
    #[cfg(feature = "cluster")]
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}
