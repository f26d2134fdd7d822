//! The one place where errors become HTTP responses: a status and a JSON
//! body `{"status": <code>, "error": <reason>, "message": <text>}`, plus
//! `"parameter"` for a 400 (the parameter at fault) and `"id"` for a 500.
//!
//! | status | when |
//! |---|---|
//! | 400 | a parameter, path segment or body is missing or invalid (named) |
//! | 401 | a mutating call without the configured API key |
//! | 404 | unknown PV (named), action or appliance |
//! | 405 | a method the route table does not list for the path |
//! | 409 | a conflict: rename target exists, alias clash |
//! | 413 / 414 | body / query string over the limit |
//! | 503 | a storage tier is unavailable (named) |
//! | 500 | a fault of the server; the body carries an id and a short message, the log carries the details under the same id |
//!
//! Handler panics become 500s too ([`panic_response`]), and so do the
//! plain-text rejections of axum's extractors ([`json_errors`]).

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::mgmt::MgmtError;
use crate::registry::RegistryError;
use crate::retrieval::RetrievalError;
use crate::storage::StoreError;

/// Longest query string accepted (bytes); longer ones are 414. (An HTTP
/// request target cannot exceed 65,534 bytes at all; hyper answers those
/// itself.)
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// An error answered over HTTP.
#[derive(Debug)]
pub struct ApiError {
    /// Status code.
    pub status: StatusCode,
    /// Message for the client (never paths or OS error text for a 500).
    pub message: String,
    /// The parameter a 400 is about (`body` and `request` for the body and
    /// the path segment).
    pub param: Option<String>,
    /// The id under which a 500 was logged.
    pub id: Option<String>,
    /// The methods a 405's path takes (its `Allow` header).
    pub allow: Option<&'static str>,
    /// Java's `validation` text of a refused management call (also in the
    /// body, beside `message`).
    pub validation: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            validation: None,
            param: None,
            id: None,
            allow: None,
        }
    }

    /// 400 about `param`.
    pub fn bad_param(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, message);
        e.param = Some(param.to_string());
        e
    }

    /// 400: `param` is required.
    pub fn missing(param: &str) -> Self {
        Self::bad_param(param, format!("missing parameter {param}"))
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 405: the path takes only `allow` (an `Allow` header value).
    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("this path takes {allow} only"),
        );
        e.allow = Some(allow);
        e
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "this call needs an API key (Authorization: Bearer … or X-API-Key)",
        )
    }

    /// 500: logs `e` (with its chain) under a new id; the client gets the
    /// id and a short message only.
    pub fn internal(e: impl std::fmt::Debug) -> Self {
        let id = new_id();
        tracing::error!(id = %id, error = ?e, "internal error");
        Self::fault(id)
    }

    fn fault(id: String) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error {id}; the server log has the details"),
        );
        e.id = Some(id);
        e
    }

    fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "status": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or(""),
            "message": self.message,
        });
        if let Some(o) = body.as_object_mut() {
            if let Some(p) = &self.param {
                o.insert("parameter".into(), p.clone().into());
            }
            if let Some(id) = &self.id {
                o.insert("id".into(), id.clone().into());
            }
            if let Some(v) = &self.validation {
                o.insert("validation".into(), v.clone().into());
            }
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut r = (self.status, Json(body)).into_response();
        let h = r.headers_mut();
        h.insert(
            "Access-Control-Allow-Origin",
            header::HeaderValue::from_static("*"),
        );
        if let Some(allow) = self.allow {
            h.insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        r
    }
}

/// A new error id: milliseconds since the epoch and a counter, in hex.
pub fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{ms:x}-{:04x}", NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff)
}

fn from_store(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable { ref tier, .. } => {
            tracing::warn!(tier = %tier, error = ?e, "tier unavailable");
            ApiError::unavailable(format!("storage tier {tier} is unavailable"))
        }
        StoreError::TargetExists { ref to, .. } => ApiError::conflict(format!("PV {to} already has data")),
        e => ApiError::internal(e),
    }
}

fn from_registry(e: RegistryError) -> ApiError {
    match e {
        RegistryError::AliasIsPv { ref alias } => {
            ApiError::conflict(format!("{alias} is a PV with its own PVTypeInfo"))
        }
        RegistryError::SelfAlias { ref alias } => {
            ApiError::bad_param("aliasname", format!("{alias}: an alias cannot name itself"))
        }
        e => ApiError::internal(e),
    }
}

/// An error that came through `anyhow` (the seed traits): storage and
/// registry errors keep their class.
fn from_anyhow(e: anyhow::Error) -> ApiError {
    let e = match e.downcast::<StoreError>() {
        Ok(s) => return from_store(s),
        Err(e) => e,
    };
    match e.downcast::<RegistryError>() {
        Ok(r) => from_registry(r),
        Err(e) => ApiError::internal(e),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        from_store(e)
    }
}

impl From<RetrievalError> for ApiError {
    fn from(e: RetrievalError) -> Self {
        match e {
            RetrievalError::BadParam { param, .. } => ApiError::bad_param(param, e.to_string()),
            RetrievalError::Format(_) => ApiError::bad_param("format", e.to_string()),
            RetrievalError::UnknownPv(_) => ApiError::not_found(e.to_string()),
            RetrievalError::Disconnected => ApiError::bad_param("body", e.to_string()),
            RetrievalError::Store(s) => from_store(s),
            RetrievalError::Registry(r) => from_registry(r),
            RetrievalError::Internal(e) => from_anyhow(e),
        }
    }
}

impl From<MgmtError> for ApiError {
    fn from(e: MgmtError) -> Self {
        match e {
            MgmtError::BadParam { param, .. } => ApiError::bad_param(param, e.to_string()),
            MgmtError::Validation { param, message } => {
                let mut a = ApiError::bad_param(param, message.clone());
                a.validation = Some(message);
                a
            }
            MgmtError::NotFound(_) => ApiError::not_found(e.to_string()),
            MgmtError::UnknownPv(_) => ApiError::not_found(e.to_string()),
            MgmtError::Conflict(_) => ApiError::conflict(e.to_string()),
            MgmtError::Store(s) => from_store(s),
            MgmtError::Registry(r) => from_registry(r),
            MgmtError::Etl(crate::etl::EtlError::Store(s)) => from_store(s),
            MgmtError::Etl(e) => ApiError::internal(e),
            MgmtError::Internal(e) => from_anyhow(e),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The response for a handler that panicked (tower-http's catch-panic
/// layer): a logged 500 with an id.
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into());
    let id = new_id();
    tracing::error!(id = %id, panic = %what, "request handler panicked");
    ApiError::fault(id).into_response()
}

/// Most bytes of a non-JSON error body kept as the JSON message.
const REJECTION_TEXT: usize = 4096;

/// Middleware: a query string over [`MAX_QUERY_BYTES`] is a 414; an error
/// status without a JSON body (axum's extractor rejections, unknown paths,
/// wrong methods) gets one.
pub async fn json_errors(req: Request, next: Next) -> Response {
    if req.uri().query().is_some_and(|q| q.len() > MAX_QUERY_BYTES) {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the query string is longer than {MAX_QUERY_BYTES} bytes"),
        )
        .into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), REJECTION_TEXT).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    rejection(status, text).into_response()
}

/// The JSON error for a plain rejection of `status` with body `text`.
fn rejection(status: StatusCode, text: String) -> ApiError {
    let reason = status.canonical_reason().unwrap_or("error");
    let message = if text.is_empty() { reason.to_string() } else { text };
    match status {
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::internal(message),
        // Extractor rejections: the body (size, encoding) or the path.
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            let mut e = ApiError::new(status, message);
            e.param = Some("body".into());
            e
        }
        StatusCode::BAD_REQUEST => ApiError::bad_param("request", message),
        _ => ApiError::new(status, message),
    }
}

/// Fallback for paths no router knows.
pub async fn no_route(req: Request<Body>) -> Response {
    ApiError::not_found(format!("no such path {}", req.uri().path())).into_response()
}

/// A member that cannot be reached: 503 naming it, with `Retry-After`.
#[cfg(feature = "cluster")]
impl IntoResponse for crate::cluster::ForwardError {
    fn into_response(self) -> axum::response::Response {
        let (status, member) = match &self {
            crate::cluster::ForwardError::Unreachable { member, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, member.clone())
            }
            crate::cluster::ForwardError::Loop(m) => (StatusCode::MISDIRECTED_REQUEST, m.clone()),
        };
        let body = serde_json::json!({
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or(""),
            "message": self.to_string(),
            "appliance": member,
        });
        let mut r = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_bodies_carry_them() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        let e = ApiError::internal("disk on fire at /secret/path");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        let body = e.body();
        assert!(!body["message"].as_str().unwrap().contains("/secret/path"));
        assert_eq!(body["id"], e.id.clone().unwrap().as_str());
        let e = ApiError::bad_param("from", "parameter from: bad");
        assert_eq!(e.body()["parameter"], "from");
    }
}
