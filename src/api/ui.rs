//! The web console: the files of the top-level `ui/` folder, embedded in
//! the binary and served under `/mgmt/ui/` (`/` redirects there; the routes
//! are in `api/routes/retrieval.rs` `OTHER`). The page talks only to the
//! public `/mgmt/bpl` and `/retrieval` APIs and reads `/openapi.json`; this
//! module serves files and knows nothing of PVs or storage.
//!
//! Caching: file names carry no version, so every response is
//! `Cache-Control: no-cache` with a weak `ETag` (a hash of the bytes; weak
//! because the compression layer may re-encode the body); a matching
//! `If-None-Match` gets `304 Not Modified`.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;

use super::error::ApiError;
use super::routes::{Answer, Route};
use super::state::AppState;

/// Where the console lives.
pub const BASE: &str = "/mgmt/ui/";

/// One embedded file: its path below `ui/` and its bytes.
struct Asset {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal) => {
        Asset {
            path: $path,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
        }
    };
}

/// Every file the console needs (`tests/api_ui.rs` checks that this list
/// covers the web files of `ui/`).
const ASSETS: &[Asset] = &[
    asset!("index.html"),
    asset!("console.css"),
    asset!("favicon.svg"),
    asset!("js/api.js"),
    asset!("js/app.js"),
    asset!("js/appliance.js"),
    asset!("js/csv.js"),
    asset!("js/dom.js"),
    asset!("js/plot.js"),
    asset!("js/pvdialog.js"),
    asset!("js/pvs.js"),
    asset!("vendor/uPlot.esm.js"),
    asset!("vendor/uPlot.min.css"),
    asset!("vendor/uPlot.LICENSE"),
];

/// Only same-origin scripts, styles and requests; no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A route of the table redirecting to the console with its status (307
/// or 308).
pub(super) fn serve_redirect(r: &'static Route) -> MethodRouter<AppState> {
    let permanent = r.answer == Answer::Redirect(308);
    super::on(r, move || async move {
        if permanent {
            Redirect::permanent(BASE)
        } else {
            Redirect::temporary(BASE)
        }
    })
}

/// A route of the table serving console files: the file named by its path
/// parameter, or the page when it has none.
pub(super) fn serve_file(r: &'static Route) -> MethodRouter<AppState> {
    if r.params.is_empty() {
        return super::on(
            r,
            |headers: HeaderMap| async move { serve("index.html", &headers) },
        );
    }
    super::on(r, |Path(path): Path<String>, headers: HeaderMap| async move {
        serve(&path, &headers)
    })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The ETag of each asset, in [`ASSETS`] order (hashed once).
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("W/\"{:016x}\"", fnv1a(a.body)))
            .collect()
    })
}

/// Whether `If-None-Match` lists `etag` (or `*`); weak comparison.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = bare(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || bare(t) == want)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return ApiError::not_found(format!("no console file {path}")).into_response();
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let mut resp = if not_modified(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type(asset.path))], asset.body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if asset.path.ends_with(".html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("console.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("vendor/uPlot.LICENSE"), "text/plain; charset=utf-8");
    }

    #[test]
    fn if_none_match_compares_weakly_and_lists() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "W/\"ab\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"ab\""));
        assert!(not_modified(&h, "W/\"ab\""));
        assert!(!not_modified(&h, "W/\"abc\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(not_modified(&h, "W/\"zz\""));
    }

    #[test]
    fn etags_differ_between_files() {
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        let mut sorted = tags.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), tags.len());
    }
}
