//! Retrieval: merging tiers, post-processors and response formats.
//! No HTTP framework here; `api` adapts these to axum.

pub mod format;
pub mod postprocessors;
