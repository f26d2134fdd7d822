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
    /// `hold` written into the store URLs of newly archived PVs (ETL out of
    /// this tier waits until this many partitions are complete).
    #[serde(default)]
    pub hold: u32,
    /// `gather` written into new store URLs (partitions moved together).
    #[serde(default)]
    pub gather: u32,
    /// `consolidateOnShutdown` written into new store URLs: move everything
    /// on to the next store on shutdown and when a PV is paused (for a RAM-disk
    /// first tier).
    #[serde(default)]
    pub consolidate_on_shutdown: bool,
    /// Form of the partitions ETL writes into this tier. A PV's store URL
    /// (`compress=ZSTD`) overrides it. The first (ingest) tier is always plain.
    #[serde(default)]
    pub compression: Compression,
    /// zstd level (1–22) of compressed partitions.
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// Uncompressed bytes per zstd frame (the unit a read decompresses).
    #[serde(default = "default_zstd_frame_bytes")]
    pub zstd_frame_bytes: usize,
}

/// Partition file form of a tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain `.pb` files (what Java reads).
    #[default]
    None,
    /// `.pb.zst`: independent zstd frames of whole PlainPB lines.
    Zstd,
}

fn default_zstd_level() -> i32 {
    3
}

fn default_zstd_frame_bytes() -> usize {
    256 * 1024
}

impl TierConfig {
    /// A plain tier without ETL options.
    pub fn new(name: &str, root: PathBuf, granularity: PartitionGranularity) -> Self {
        TierConfig {
            name: name.to_string(),
            root,
            granularity,
            hold: 0,
            gather: 0,
            consolidate_on_shutdown: false,
            compression: Compression::None,
            zstd_level: default_zstd_level(),
            zstd_frame_bytes: default_zstd_frame_bytes(),
        }
    }
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
    /// A tier whose file reads take longer than this (ms) is left out of a
    /// retrieval response (marked partial) and counts as stuck until the
    /// blocked read returns; see `storage::deadline`.
    pub tier_deadline_ms: u64,
}

impl StorageConfig {
    /// Default layout under `data`: `sts` (hour), `mts` (day), `lts` (year), `index`.
    pub fn under(data: &std::path::Path) -> Self {
        StorageConfig {
            tiers: vec![
                TierConfig::new("STS", data.join("sts"), PartitionGranularity::Hour),
                TierConfig {
                    hold: 2,
                    gather: 1,
                    ..TierConfig::new("MTS", data.join("mts"), PartitionGranularity::Day)
                },
                TierConfig::new("LTS", data.join("lts"), PartitionGranularity::Year),
            ],
            index_dir: data.join("index"),
            fsync: FsyncPolicy::default(),
            pv_buffer_bytes: 256 * 1024,
            total_buffer_bytes: 256 * 1024 * 1024,
            reconcile_all_below: 200_000,
            tier_deadline_ms: 10_000,
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
            if t.name.is_empty() || !names.insert(t.name.to_ascii_uppercase()) {
                return Err(format!(
                    "storage.tiers: tier names must be unique and non-empty ({:?})",
                    t.name
                ));
            }
            if t.hold < t.gather {
                return Err(format!(
                    "storage.tiers: tier {}: hold ({}) must be >= gather ({})",
                    t.name, t.hold, t.gather
                ));
            }
            if !(1..=22).contains(&t.zstd_level) {
                return Err(format!(
                    "storage.tiers: tier {}: zstd_level must be 1..=22",
                    t.name
                ));
            }
            if !(4096..=64 << 20).contains(&t.zstd_frame_bytes) {
                return Err(format!(
                    "storage.tiers: tier {}: zstd_frame_bytes must be 4096..=67108864",
                    t.name
                ));
            }
        }
        if self.tiers[0].compression != Compression::None {
            return Err(format!(
                "storage.tiers: tier {} receives ingest and cannot be compressed",
                self.tiers[0].name
            ));
        }
        for (i, a) in self.tiers.iter().enumerate() {
            for b in &self.tiers[i + 1..] {
                if super::chain::folders_overlap(&a.root, &b.root) {
                    return Err(format!(
                        "storage.tiers: tiers {} and {} share the folder {} (each tier needs its own)",
                        a.name,
                        b.name,
                        a.root.display()
                    ));
                }
            }
        }
        if !(1..=3_600_000).contains(&self.tier_deadline_ms) {
            return Err("storage: tier_deadline_ms must be 1..=3600000".into());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn tier_checks_name_the_tier() {
        let ok = StorageConfig::under(Path::new("/arch"));
        ok.validate().unwrap();
        let mut c = ok.clone();
        c.tiers[2].root = PathBuf::from("/arch/mts/lts");
        let e = c.validate().unwrap_err();
        assert!(
            e.contains("MTS") && e.contains("LTS") && e.contains("/arch/mts"),
            "{e}"
        );
        let mut c = ok.clone();
        c.tiers[1].gather = 3;
        assert!(c.validate().unwrap_err().contains("MTS"));
        let mut c = ok.clone();
        c.tiers[0].compression = Compression::Zstd;
        assert!(c.validate().unwrap_err().contains("STS"));
        let mut c = ok.clone();
        c.tiers[2].zstd_level = 0;
        assert!(c.validate().is_err());
        let mut c = ok;
        c.tiers[2].name = "sts".into();
        assert!(c.validate().is_err());
    }
}
