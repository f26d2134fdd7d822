//! Storage: the seed `StoragePlugin`/`EventStream` API and its PlainPB
//! implementation over tiers, with the sled partition index.
//!
//! Knows files and the index; knows nothing of the registry or HTTP.

mod buffer;
pub mod chain;
pub mod config;
mod deadline;
mod error;
mod plugin;
mod read;
mod reconcile;
mod rename;
mod retype;
mod source;
mod store;
mod tiered;
pub mod traits;
mod write;

/// Partition granularity, at the path the seed API imports it from.
pub mod partition {
    pub use crate::types::PartitionGranularity;
}

pub use chain::{Chain, ChainError, ChainStore, StoreOptions, StoreUrl};
pub use config::{Compression, FsyncPolicy, StorageConfig, TierConfig};
pub use deadline::{DeadlineError, DeadlineStats, Pending, TierFile, TierGuard, TierReader, MAX_WORKERS};
pub use error::StoreError;
pub use reconcile::ReconcileReport;
pub use rename::{rename_interrupted, RenameStop};
pub use retype::{convert_value, ConvertError};
pub use source::{MemLines, Source};
pub use store::{PlainPbStore, WriteLimits};
pub use tiered::{Partial, TieredStore};
pub use write::{FlushOutcome, PvWriteStats};
/// Runs blocking file/index work on tokio's blocking pool (inline when no
/// runtime is present).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h
            .spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?,
        Err(_) => f(),
    }
}

pub use traits::{AppendMeta, EventStream, IngestFlushResult, PostProcessor, StoragePlugin, StoreSummary};
