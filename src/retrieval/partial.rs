//! The tiers left out of one response because their files did not answer
//! within the storage deadline (see `storage::TierGuard`). Filled while the
//! response is written; the HTTP layer reads it when it sends the headers.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::storage::DeadlineError;

/// Tier names left out of a response. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct PartialTiers(Arc<Mutex<BTreeSet<String>>>);

impl PartialTiers {
    /// Records that `pv`'s data in `d.tier()` was left out (logged once per
    /// tier and PV).
    pub fn missed(&self, pv: &str, d: &DeadlineError) {
        tracing::warn!(pv, tier = d.tier(), error = %d, "tier left out of the response");
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.tier().to_string());
    }

    /// The tiers left out so far, sorted.
    pub fn tiers(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// True when no tier was left out.
    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

/// The [`DeadlineError`] behind a source's read error, if that is why it
/// failed.
pub fn not_answering(e: &anyhow::Error) -> Option<&DeadlineError> {
    DeadlineError::find(e.as_ref()).filter(|d| d.is_not_answering())
}
