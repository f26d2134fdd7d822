//! The one place where errors become HTTP responses: a status and a JSON
//! body `{"status": <code>, "error": <reason>, "message": <text>}`. Client
//! mistakes are 400/404; internal failures are 500 and logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::mgmt::MgmtError;
use crate::retrieval::RetrievalError;

/// An error answered over HTTP.
#[derive(Debug)]
pub struct ApiError {
    /// Status code.
    pub status: StatusCode,
    /// Message for the client.
    pub message: String,
}

impl ApiError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 401.
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "this call needs an API key (Authorization: Bearer … or X-API-Key)".into(),
        }
    }

    /// 500, logged.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or(""),
            "message": self.message,
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<RetrievalError> for ApiError {
    fn from(e: RetrievalError) -> Self {
        match e {
            RetrievalError::BadParam { .. } | RetrievalError::Format(_) => {
                ApiError::bad_request(e.to_string())
            }
            RetrievalError::UnknownPv(_) => ApiError::not_found(e.to_string()),
            RetrievalError::Disconnected => ApiError::bad_request(e.to_string()),
            RetrievalError::Internal(_) => ApiError::internal(e),
        }
    }
}

impl From<MgmtError> for ApiError {
    fn from(e: MgmtError) -> Self {
        match e {
            MgmtError::BadParam { .. } => ApiError::bad_request(e.to_string()),
            MgmtError::UnknownPv(_) => ApiError::not_found(e.to_string()),
            MgmtError::Internal(_) => ApiError::internal(e),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
