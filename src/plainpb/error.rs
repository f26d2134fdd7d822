//! Errors of the PlainPB layer. Every variant names the file it concerns and,
//! where it applies, the byte offset of the offending line.

use std::path::PathBuf;

/// A PlainPB read or write failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused an operation on `path`.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was attempted (open, read, write, …).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The header line is missing or does not parse.
    #[error("{path}: bad PayloadInfo header: {reason}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// A sample line does not parse.
    #[error("{path}: bad sample at byte offset {offset}: {reason}")]
    BadSample {
        /// The file.
        path: PathBuf,
        /// Offset of the start of the line in the file.
        offset: u64,
        /// Why it was rejected.
        reason: String,
    },
    /// The file belongs to a different PV or type than the one being written.
    #[error("{path}: holds {found}, refusing to append {expected}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What the header says.
        found: String,
        /// What the caller wanted to write.
        expected: String,
    },
    /// A compressed (`.pb.zst`) partition is malformed at `offset`.
    #[error("{path}: compressed partition damaged at byte offset {offset}: {reason}")]
    Compressed {
        /// The file.
        path: PathBuf,
        /// Offset of the frame or structure concerned.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A line is longer than the reader accepts.
    #[error("{path}: line at byte offset {offset} exceeds {limit} bytes")]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// Offset of the line start.
        offset: u64,
        /// The limit.
        limit: usize,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
