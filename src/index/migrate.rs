//! Schema versions of the index and the numbered steps that upgrade an older
//! database on open. Steps live in `migrations/` and are frozen once merged.

use super::{Index, IndexError, KvError};

/// Key of the schema version in the `meta` tree (u32, big endian).
pub const SCHEMA_KEY: &[u8] = b"index_schema";
/// Version written by this strata.
pub const INDEX_SCHEMA_VERSION: u32 = 2;

#[path = "../../migrations/index_0002_summaries.rs"]
mod m0002;

/// Brings the index to [`INDEX_SCHEMA_VERSION`].
pub(super) fn run(index: &Index) -> Result<(), IndexError> {
    let stored = match index.meta().get(SCHEMA_KEY)? {
        Some(v) => {
            let a: [u8; 4] = v.as_slice().try_into().map_err(|_| KvError::Corrupt {
                tree: "meta".into(),
                message: "bad schema version".into(),
            })?;
            u32::from_be_bytes(a)
        }
        // Databases from before versioning had partition records only (v1);
        // an empty one is simply new.
        None if index.tree().scan_prefix(b"").next().is_none() => INDEX_SCHEMA_VERSION,
        None => 1,
    };
    if stored > INDEX_SCHEMA_VERSION {
        return Err(IndexError::TooNew {
            found: stored,
            supported: INDEX_SCHEMA_VERSION,
        });
    }
    for to in stored + 1..=INDEX_SCHEMA_VERSION {
        tracing::info!(from = to - 1, to, "migrating partition index");
        let step = match to {
            2 => m0002::migrate,
            _ => {
                return Err(IndexError::Migration {
                    to,
                    message: "no step".into(),
                })
            }
        };
        step(index).map_err(|e| IndexError::Migration {
            to,
            message: e.to_string(),
        })?;
        index.meta().insert(SCHEMA_KEY, &to.to_be_bytes())?;
    }
    if stored == INDEX_SCHEMA_VERSION {
        index.meta().insert(SCHEMA_KEY, &stored.to_be_bytes())?;
    }
    index.meta().flush()?;
    Ok(())
}

/// Helpers the frozen steps may use.
mod support {
    pub(super) use crate::index::entry::{decode, encode};
    pub(super) use crate::index::{keys, Batch, Index, IndexError, PartitionEntry};
}
