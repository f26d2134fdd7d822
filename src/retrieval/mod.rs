//! Retrieval: merging tiers, post-processors and response formats.
//! No HTTP framework here; `api` adapts these to axum.

mod error;
pub mod format;
pub mod merge;
mod partial;
pub mod postprocessors;
mod service;
mod stream;
pub mod time;

pub use error::RetrievalError;
pub use partial::PartialTiers;
pub use service::{default_range, DataQuery, PvRequest, Resolved, Retrieval, RetrievalConfig, RunStats};
pub use stream::{FieldStream, MergedStream};
