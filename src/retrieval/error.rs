//! Retrieval errors; `api::error` maps them to HTTP statuses.

/// A retrieval request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetrievalError {
    /// A parameter is missing or invalid (HTTP 400).
    #[error("parameter {param}: {message}")]
    BadParam {
        /// Parameter name.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No PVTypeInfo and no data for this name (HTTP 404).
    #[error("PV {0} is not archived here")]
    UnknownPv(String),
    /// The format is not available for this request (HTTP 400).
    #[error("format {0} is not supported for this request")]
    Format(String),
    /// The client went away while the response streamed.
    #[error("client disconnected")]
    Disconnected,
    /// Storage failed (HTTP 503 when a tier is unavailable, else 500).
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
    /// The registry failed (HTTP 500).
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// Another internal failure (HTTP 500).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl RetrievalError {
    /// A 400 for `param`.
    pub fn bad(param: &'static str, message: impl Into<String>) -> Self {
        RetrievalError::BadParam {
            param,
            message: message.into(),
        }
    }
}

impl From<std::io::Error> for RetrievalError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            RetrievalError::Disconnected
        } else {
            RetrievalError::Internal(e.into())
        }
    }
}
