//! Shared state of the HTTP handlers.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::config::Config;
use crate::engine::ArchiveEngine;
use crate::mgmt::policy::Policies;
use crate::registry::Registry;
use crate::retrieval::Retrieval;
use crate::storage::TieredStore;

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Retrieval service.
    pub retrieval: Retrieval,
    /// Storage.
    pub store: TieredStore,
    /// Registry.
    pub registry: Arc<Registry>,
    /// Ingest engine.
    pub engine: Arc<dyn ArchiveEngine>,
    /// Policies (replaceable at run time).
    pub policies: Arc<RwLock<Policies>>,
    /// Configuration.
    pub cfg: Arc<Config>,
    /// Process start.
    pub started: SystemTime,
    /// HTTP metrics.
    pub http: Arc<super::metrics::HttpMetrics>,
}

impl AppState {
    /// The management service over this state.
    pub fn mgmt(&self) -> crate::mgmt::Mgmt {
        super::mgmt::mgmt(self)
    }
}
