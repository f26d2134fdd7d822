//! Streaming forwarder: a request for a PV owned by another member is sent
//! to that member and its answer is passed back frame by frame (no
//! buffering of the body). Uses hyper-util's legacy client, which the
//! `cluster` feature already pulls in through tonic.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Marks a forwarded request; a member never forwards such a request again
/// (no loops while two members' caches disagree during a move).
pub const FORWARDED_BY: &str = "x-strata-forwarded-by";
/// Set on a multi-PV answer that lacks PVs of unreachable members.
pub const PARTIAL: &str = "x-strata-partial";

/// Why a forward failed (mapped to 503 naming the member).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Connection refused/reset or timed out before the answer's head.
    #[error("member {member} at {url} is unreachable: {reason}")]
    Unreachable {
        /// Owner identity.
        member: String,
        /// Its base URL.
        url: String,
        /// Cause text.
        reason: String,
    },
    /// A request loop was detected.
    #[error("request already forwarded by {0}")]
    Loop(String),
}

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    for n in HOP_BY_HOP.iter() {
        h.remove(n);
    }
}

/// HTTP client for member-to-member calls.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpConnector, Body>,
    identity: String,
    head_timeout: Duration,
}

impl Forwarder {
    /// `connect_timeout`: TCP connect; `head_timeout`: until the answer's
    /// status line (strata sends heads at once and streams the body).
    pub fn new(identity: &str, connect_timeout: Duration, head_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let mut b = Client::builder(TokioExecutor::new());
        b.pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(32);
        let client = b.build(http);
        Self {
            client,
            identity: identity.to_owned(),
            head_timeout,
        }
    }

    /// Sends `req` (path and query kept) to `base` (`http://host:port`) and
    /// returns the member's answer with its body still streaming.
    pub async fn forward(
        &self,
        member: &str,
        base: &str,
        req: Request<Body>,
    ) -> Result<Response<Body>, ForwardError> {
        let unreachable = |reason: String| ForwardError::Unreachable {
            member: member.to_owned(),
            url: base.to_owned(),
            reason,
        };
        if let Some(by) = req.headers().get(FORWARDED_BY) {
            return Err(ForwardError::Loop(by.to_str().unwrap_or("?").to_owned()));
        }
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = format!("{base}{pq}")
            .parse::<Uri>()
            .map_err(|e| unreachable(e.to_string()))?;
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::HOST);
        if let Ok(v) = HeaderValue::from_str(&self.identity) {
            parts.headers.insert(FORWARDED_BY, v);
        }
        let fut = self.client.request(Request::from_parts(parts, body));
        let resp = tokio::time::timeout(self.head_timeout, fut)
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", self.head_timeout)))?
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut parts, incoming) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(incoming)))
    }
}
