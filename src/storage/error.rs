//! Storage errors. Callers that must branch (e.g. the HTTP layer) downcast
//! `anyhow` errors to [`StoreError`].

use std::path::PathBuf;

use crate::index::IndexError;
use crate::types::ArchDbType;

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a PlainPB file failed.
    #[error(transparent)]
    File(#[from] crate::plainpb::Error),
    /// The partition index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A directory or file operation outside the PlainPB layer failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// Operation.
        op: &'static str,
        /// Path.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// A sample's value does not match the declared type.
    #[error("{pv}: sample value is {found}, declared {declared}")]
    ValueType {
        /// PV.
        pv: String,
        /// Declared type.
        declared: ArchDbType,
        /// Type of the value.
        found: ArchDbType,
    },
    /// The PV's stored data has another type (Java: "dropped events: type change").
    #[error("{pv}: stored as {stored}, cannot append {new} (type change)")]
    TypeChange {
        /// PV.
        pv: String,
        /// Type on disk.
        stored: ArchDbType,
        /// Type of the new sample.
        new: ArchDbType,
    },
    /// A sample could not be encoded.
    #[error("{pv}: cannot encode sample: {reason}")]
    Encode {
        /// PV.
        pv: String,
        /// Why.
        reason: String,
    },
    /// Rename target already holds data.
    #[error("cannot rename {from} to {to}: {to} already has data")]
    TargetExists {
        /// Source PV.
        from: String,
        /// Target PV.
        to: String,
    },
    /// A tier's root folder cannot be listed (unmounted, replaced by a
    /// file, no permission): the operation failed with `source`.
    #[error("tier {tier} ({root}) is unavailable: {source}")]
    Unavailable {
        /// Tier name.
        tier: String,
        /// Its root folder.
        root: PathBuf,
        /// The failure the operation met.
        #[source]
        source: Box<StoreError>,
    },
    /// A tier did not answer within its deadline, or is stuck.
    #[error(transparent)]
    Deadline(#[from] super::deadline::DeadlineError),
    /// A blocking task panicked or was cancelled.
    #[error("storage task failed: {0}")]
    Task(String),
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
