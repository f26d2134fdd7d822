//! Management: PV life cycle (archive, pause, resume, delete, rename, …),
//! lookups, aliases, reports and policies, over the registry, the storage and
//! the engine. Responses are JSON values in the Java appliance's shapes
//! (scalars as strings); the HTTP layer only parses and encodes.

mod etl;
mod gauges;
mod lifecycle;
mod lookup;
pub mod policy;
pub mod process;
mod repair;
mod reports;

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use gauges::Gauge;
pub use lifecycle::ArchiveParams;
pub use lookup::glob_or_regex;
pub use reports::free_bytes;

use crate::engine::ArchiveEngine;
use crate::registry::{PvTypeInfo, Registry};
use crate::storage::TieredStore;
use crate::types::PvName;
use policy::Policies;

/// A management call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MgmtError {
    /// A parameter is missing or invalid, or the PV is unknown where Java
    /// answers 400 (HTTP 400).
    #[error("{param}: {message}")]
    BadParam {
        /// Parameter name.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Java refuses with a `validation` text and a 400 (the text is in
    /// the body as `validation`).
    #[error("{message}")]
    Validation {
        /// Parameter at fault.
        param: &'static str,
        /// Java's text.
        message: String,
    },
    /// Something named by the request does not exist where Java answers
    /// 404 with a message (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The PV is not known (HTTP 404).
    #[error("PV {0} is not known to this appliance")]
    UnknownPv(String),
    /// The request conflicts with the current state: a rename target that
    /// exists, an alias name that is taken (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed (HTTP 503 when a tier is unavailable, else 500).
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
    /// The registry failed (HTTP 500, or 409 for alias conflicts).
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// An ETL run failed (HTTP 503 when a tier is unavailable, else 500).
    #[error(transparent)]
    Etl(#[from] crate::etl::EtlError),
    /// Another internal failure (HTTP 500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl MgmtError {
    /// A 400 for `param`.
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        MgmtError::BadParam {
            param,
            message: message.into(),
        }
    }
}

/// Result of a management call.
pub type MgmtResult<T> = Result<T, MgmtError>;

/// The management service. Cheap to clone.
#[derive(Clone)]
pub struct Mgmt {
    /// Registry.
    pub registry: Arc<Registry>,
    /// Storage.
    pub store: TieredStore,
    /// The ETL scheduler and service.
    pub etl: Arc<crate::etl::Scheduler>,
    /// Engine.
    pub engine: Arc<dyn ArchiveEngine>,
    /// Policies.
    pub policies: Arc<RwLock<Policies>>,
    /// This appliance's identity.
    pub identity: String,
    /// Base URL of this appliance (`http://127.0.0.1:17665`).
    pub base_url: String,
    /// Process start.
    pub started: SystemTime,
    /// The configuration asks for a running engine.
    pub engine_enabled: bool,
}

/// Java-style string value.
pub(crate) fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

/// Java `Float.toString`.
pub(crate) fn jfloat(v: f32) -> String {
    let mut out = String::new();
    crate::types::java::push_float(&mut out, v);
    out
}

/// Java `Double.toString`.
pub(crate) fn jdouble(v: f64) -> String {
    let mut out = String::new();
    crate::types::java::push_double(&mut out, v);
    out
}

/// An object from pairs.
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// Human-readable time as in getPVStatus (`Nov/25/2026 18:20:00 +00:00`),
/// `Never` for 0.
pub fn status_time(epoch_secs: i64) -> String {
    if epoch_secs <= 0 {
        return "Never".into();
    }
    DateTime::<Utc>::from_timestamp(epoch_secs, 0)
        .map(|d| d.format("%b/%d/%Y %H:%M:%S %:z").to_string())
        .unwrap_or_else(|| "Never".into())
}

impl Mgmt {
    /// Real name of `name` (alias resolved, `.VAL` and protocol prefix stripped).
    pub fn real_name(&self, name: &str) -> String {
        self.registry.resolve(&PvName::new(name))
    }

    /// The record of `name` (404 when unknown).
    pub fn typeinfo(&self, name: &str) -> MgmtResult<PvTypeInfo> {
        let real = self.real_name(name);
        self.registry.get(&real)?.ok_or(MgmtError::UnknownPv(real))
    }

    /// Store URLs of the configured tiers, by name.
    pub fn store_urls(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter_map(|n| self.store.tier_by_name(n))
            .map(|t| t.url())
            .collect()
    }

    /// Current wall-clock time.
    pub fn now() -> DateTime<Utc> {
        Utc::now()
    }
}
