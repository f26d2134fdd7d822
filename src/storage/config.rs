//! Storage configuration: the tier chain, fsync policy and write buffers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::types::PartitionGranularity;

/// One tier (a PlainPB store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Store name as in PVTypeInfo `dataStores` (`STS`, `MTS`, `LTS`).
    pub name: String,
    /// Root folder of the tier's files.
    pub root: PathBuf,
    /// Partition granularity (`PARTITION_HOUR`, `hour`, …).
    #[serde(with = "granularity_serde")]
    pub granularity: PartitionGranularity,
}

mod granularity_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::types::PartitionGranularity;

    pub fn serialize<S: Serializer>(g: &PartitionGranularity, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(g.java_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PartitionGranularity, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// When file data is forced to stable storage before the index records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Never (Java's behaviour); the index can be ahead of durable data after
    /// a power loss, and the next open reconciles it.
    Never,
    /// `fdatasync` each written file.
    File,
    /// One `syncfs` per flush cycle for the whole file system (cheap with
    /// many files; also flushes other processes' dirty data).
    #[default]
    Fs,
}

/// Storage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Tiers in ETL order; the first receives ingest.
    pub tiers: Vec<TierConfig>,
    /// Folder of the sled database (index and registry).
    pub index_dir: PathBuf,
    /// Fsync policy.
    pub fsync: FsyncPolicy,
    /// A PV's buffer is written once it holds this many bytes.
    pub pv_buffer_bytes: usize,
    /// Total buffered bytes above which the oldest buffers are written.
    pub total_buffer_bytes: usize,
    /// Check every partition file on open when the index holds at most this
    /// many; above it only each PV's newest partition is checked.
    pub reconcile_all_below: u64,
}

impl StorageConfig {
    /// Default layout under `data`: `sts` (hour), `mts` (day), `lts` (year), `index`.
    pub fn under(data: &std::path::Path) -> Self {
        StorageConfig {
            tiers: vec![
                TierConfig {
                    name: "STS".into(),
                    root: data.join("sts"),
                    granularity: PartitionGranularity::Hour,
                },
                TierConfig {
                    name: "MTS".into(),
                    root: data.join("mts"),
                    granularity: PartitionGranularity::Day,
                },
                TierConfig {
                    name: "LTS".into(),
                    root: data.join("lts"),
                    granularity: PartitionGranularity::Year,
                },
            ],
            index_dir: data.join("index"),
            fsync: FsyncPolicy::default(),
            pv_buffer_bytes: 256 * 1024,
            total_buffer_bytes: 256 * 1024 * 1024,
            reconcile_all_below: 200_000,
        }
    }

    /// Checks the settings; returns a message naming the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.tiers.is_empty() {
            return Err("storage.tiers: at least one tier is required".into());
        }
        if self.tiers.len() > 250 {
            return Err("storage.tiers: too many tiers".into());
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.tiers {
            if t.name.is_empty() || !names.insert(t.name.as_str()) {
                return Err(format!(
                    "storage.tiers: tier names must be unique and non-empty ({:?})",
                    t.name
                ));
            }
        }
        if self.pv_buffer_bytes == 0 || self.total_buffer_bytes < self.pv_buffer_bytes {
            return Err("storage: total_buffer_bytes must be >= pv_buffer_bytes > 0".into());
        }
        Ok(())
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::under(std::path::Path::new("./data"))
    }
}
