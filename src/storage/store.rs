//! `PlainPbStore`: one tier of PlainPB partition files with its records in
//! the shared partition index. This file holds the tier's state and handle;
//! the write path is in [`super::write`], the read path in [`super::read`]
//! and the seed `StoragePlugin` adapter in [`super::plugin`].
//!
//! Reads choose partitions from the index (never by probing names on disk)
//! and seek inside files by binary search. Writes go through per-PV buffers
//! ([`super::buffer`]) and flush cycles that write files first and record
//! them in the index afterwards.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::buffer::Buffers;
use super::config::{FsyncPolicy, TierConfig};
use super::deadline::{DeadlineStats, TierGuard, TierReader};
use super::error::StoreError;
use crate::index::{Index, PvSummary};
use crate::plainpb::ZstOptions;
use crate::storage::partition::PartitionGranularity;
use crate::storage::Compression;

/// Storage keys that differ from the default rule (PVTypeInfo `chunkKey`).
pub type KeyOverrides = Arc<RwLock<HashMap<String, String>>>;

/// The state of one tier, shared by its handles.
pub(crate) struct Inner {
    /// Store name (`STS`, `MTS`, `LTS`).
    pub name: String,
    /// Root folder of the tier's files.
    pub root: PathBuf,
    pub granularity: PartitionGranularity,
    /// Position in the chain (the index key's tier byte).
    pub tier: u8,
    pub index: Arc<Index>,
    pub buffers: Buffers,
    /// Held for a whole flush cycle and by every other index writer of this tier.
    pub flush_lock: Mutex<()>,
    pub fsync: FsyncPolicy,
    /// A PV's buffer is written once it holds this many bytes.
    pub pv_limit: usize,
    /// The oldest buffers are written once all hold this many bytes.
    pub total_limit: usize,
    pub keys: KeyOverrides,
    /// Deadline and worker pool of this tier's file reads.
    pub guard: TierGuard,
    /// Form of the partitions ETL writes here by default (`Some`: zstd).
    pub zst: Option<ZstOptions>,
}

/// One PlainPB tier. Cheap to clone (a handle).
#[derive(Clone)]
pub struct PlainPbStore {
    pub(crate) inner: Arc<Inner>,
}

/// Buffer limits and policy shared by the tiers of a chain.
#[derive(Debug, Clone, Copy)]
pub struct WriteLimits {
    /// Per-PV buffer limit (bytes).
    pub pv_bytes: usize,
    /// Store-wide buffer limit (bytes).
    pub total_bytes: usize,
    /// Fsync policy.
    pub fsync: FsyncPolicy,
    /// Deadline of one tier read (see [`super::deadline`]).
    pub read_deadline: std::time::Duration,
}

impl PlainPbStore {
    /// A tier numbered `tier` (its position in the chain) over `index`.
    pub fn new(
        cfg: &TierConfig,
        tier: u8,
        index: Arc<Index>,
        limits: WriteLimits,
        keys: KeyOverrides,
    ) -> Self {
        PlainPbStore {
            inner: Arc::new(Inner {
                name: cfg.name.clone(),
                root: cfg.root.clone(),
                granularity: cfg.granularity,
                tier,
                index,
                buffers: Buffers::new(cfg.granularity),
                flush_lock: Mutex::new(()),
                fsync: limits.fsync,
                pv_limit: limits.pv_bytes,
                total_limit: limits.total_bytes,
                keys,
                guard: TierGuard::new(&cfg.name, limits.read_deadline),
                zst: (cfg.compression == Compression::Zstd).then_some(ZstOptions {
                    level: cfg.zstd_level,
                    frame_bytes: cfg.zstd_frame_bytes,
                }),
            }),
        }
    }

    /// Deadline figures of this tier's reads.
    pub fn deadline_stats(&self) -> DeadlineStats {
        self.inner.guard.stats()
    }

    /// Runs reads of this tier's files on its reader pool, within its
    /// deadline.
    pub fn reader(&self) -> TierReader {
        self.inner.guard.reader()
    }

    /// Root folder.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Tier number.
    pub fn tier(&self) -> u8 {
        self.inner.tier
    }

    /// Store URL in Java's form, for PVTypeInfo `dataStores`.
    pub fn url(&self) -> String {
        format!(
            "pb://localhost?name={}&rootFolder={}&partitionGranularity={}",
            self.inner.name,
            self.inner.root.display(),
            self.inner.granularity.java_name()
        )
    }

    /// Name of the tier.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The zstd settings of partitions ETL creates in this tier (`None`:
    /// plain `.pb`), from `[[storage.tiers]] compression`.
    pub fn zst_options(&self) -> Option<ZstOptions> {
        self.inner.zst
    }

    /// Partition granularity.
    pub fn granularity(&self) -> PartitionGranularity {
        self.inner.granularity
    }

    /// Path, relative to the root, of partition `start` of storage key `key`.
    pub fn partition_path(&self, key: &str, start: i64) -> String {
        self.inner.relative_path(key, start)
    }

    /// Takes the tier's write lock: no flush cycle, delete or reconcile of
    /// this tier runs while it is held (ETL's guard-record-delete step).
    pub fn lock_writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.flush_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index summary of `pv` in this tier.
    pub fn summary(&self, pv: &str) -> Result<Option<PvSummary>, StoreError> {
        Ok(self.inner.index.summary(pv, self.inner.tier)?)
    }
}
