//! Storage: the seed `StoragePlugin`/`EventStream` API and its PlainPB
//! implementation over tiers, with the sled partition index.
//!
//! Knows files and the index; knows nothing of the registry or HTTP.

pub mod traits;

/// Partition granularity, at the path the seed API imports it from.
pub mod partition {
    pub use crate::types::PartitionGranularity;
}

pub use traits::{AppendMeta, EventStream, IngestFlushResult, PostProcessor, StoragePlugin, StoreSummary};
