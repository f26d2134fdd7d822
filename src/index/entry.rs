//! Index records (bincode-encoded values).

use serde::{Deserialize, Serialize};

use super::kv::KvError;
use crate::types::Timestamp;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a record.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Encoding plain structs of integers, strings and byte vectors into a
    // Vec cannot fail; an empty value would be rejected by `decode`.
    bincode::serde::encode_to_vec(v, config()).unwrap_or_default()
}

/// Decodes a record of tree `tree`.
pub fn decode<T: for<'de> Deserialize<'de>>(tree: &str, bytes: &[u8]) -> Result<T, KvError> {
    bincode::serde::decode_from_slice(bytes, config())
        .map(|(v, _)| v)
        .map_err(|e| KvError::Corrupt {
            tree: tree.to_string(),
            message: e.to_string(),
        })
}

/// `(secs, nanos)` as stored.
pub type Ts = (i64, u32);

/// Converts a stored time.
pub fn ts(t: Ts) -> Timestamp {
    Timestamp::new(t.0, t.1)
}

/// Converts to a stored time.
pub fn to_ts(t: Timestamp) -> Ts {
    (t.secs, t.nanos)
}

/// One partition file of one PV in one tier.
///
/// Invariant: describes bytes that were on disk (written and, per the fsync
/// policy, synced) before the record was stored; never ahead of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionEntry {
    /// Path relative to the tier's root folder.
    pub path: String,
    /// Partition start (Unix seconds); also part of the key.
    pub start: i64,
    /// Header year.
    pub year: i32,
    /// Header payload type.
    pub db_type: i32,
    /// First sample time.
    pub first: Ts,
    /// Last sample time.
    pub last: Ts,
    /// Number of samples (exact when `samples_exact`).
    pub samples: u64,
    /// False when `samples` was estimated (large files indexed from disk).
    pub samples_exact: bool,
    /// File size in bytes.
    pub bytes: u64,
    /// The last sample's message, unescaped.
    pub last_sample: Vec<u8>,
    /// Reserved: the file is zstd-compressed.
    pub compressed: bool,
}

/// What the index knows about one PV in one tier, kept in step with its
/// partition records so per-PV questions cost one look-up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PvSummary {
    /// Storage key (`ROOT/SUB/pv:`) the files use.
    pub key: String,
    /// Number of partition files.
    pub files: u64,
    /// Total bytes.
    pub bytes: u64,
    /// Total samples.
    pub samples: u64,
    /// Oldest sample.
    pub first: Option<Ts>,
    /// Newest partition start.
    pub newest_start: i64,
    /// Newest sample.
    pub last: Option<Ts>,
    /// Year and type of the newest partition.
    pub last_year: i32,
    /// Payload type of the newest partition.
    pub db_type: i32,
    /// Newest sample's message, unescaped.
    pub last_sample: Vec<u8>,
}

/// Per-tier totals across all PVs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierTotals {
    /// Partition files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One zstd frame of a compressed partition (key: partition and the
/// frame's first sample time, `keys::frame`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// File offset of the frame.
    pub offset: u64,
    /// Samples in it.
    pub samples: u32,
    /// Uncompressed bytes.
    pub raw_len: u32,
}

/// An ETL source whose record was removed because its samples were
/// recorded in the destination; the file is deleted next. Reconcile deletes
/// it if it still has this size and last sample, else records it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingDelete {
    /// Path relative to the tier root.
    pub path: String,
    /// Size when the move was planned.
    pub bytes: u64,
    /// Last sample time when the move was planned.
    pub last: Ts,
}

impl PartitionEntry {
    /// The record of compressed partition `start` at `path` (relative to
    /// its tier) as `info` examined it: counts exact from its frame table;
    /// `last_sample` is the unescaped newest sample. `None` when it holds
    /// no sample.
    pub fn of_compressed(
        info: &crate::plainpb::ZstInfo,
        path: String,
        start: i64,
        last_sample: Vec<u8>,
    ) -> Option<PartitionEntry> {
        let (first, last) = (info.first?, info.last.as_ref()?.ts());
        Some(PartitionEntry {
            path,
            start,
            year: info.desc.year,
            db_type: info.desc.db_type.as_i32(),
            first: to_ts(first),
            last: to_ts(last),
            samples: info.table.samples(),
            samples_exact: true,
            bytes: info.len,
            last_sample,
            compressed: true,
        })
    }
}
