//! The web console's files: `/` and `/mgmt/ui` redirect to `/mgmt/ui/`,
//! every web file of `ui/` is served with its content type, the bytes on
//! disk, `no-cache` and an ETag (304 on a match), and every relative
//! reference of the page and its modules resolves.

mod common;

use std::path::{Path, PathBuf};

use common::server::TestServer;
use regex::Regex;

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
}

/// Web files below ui/ (as URL paths relative to /mgmt/ui/).
fn web_files() -> Vec<String> {
    let root = ui_dir();
    let mut out: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|p| [".html", ".css", ".js", ".svg"].iter().any(|x| p.ends_with(x)))
        .collect();
    out.sort();
    out
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_and_bare_path_redirect_to_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let c = no_redirects();
    for (path, status) in [("/", 307), ("/mgmt/ui", 308)] {
        let r = c.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(r.headers()["location"], "/mgmt/ui/", "{path}");
    }
    let r = srv.get("/mgmt/ui/").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let body = r.text().await.unwrap();
    assert_eq!(
        body,
        std::fs::read_to_string(ui_dir().join("index.html")).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_web_file_is_served_with_type_and_validators() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let files = web_files();
    assert!(files.len() >= 10, "{files:?}");
    let c = no_redirects();
    for f in &files {
        let r = c.get(srv.url(&format!("/mgmt/ui/{f}"))).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{f} is not in src/api/ui.rs ASSETS");
        let h = r.headers().clone();
        let want = match f.rsplit_once('.').unwrap().1 {
            "html" => "text/html; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            _ => "image/svg+xml",
        };
        assert_eq!(h["content-type"], want, "{f}");
        assert_eq!(h["cache-control"], "no-cache", "{f}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{f}");
        let etag = h["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with("W/\""), "{f}: {etag}");
        assert_eq!(
            r.bytes().await.unwrap(),
            std::fs::read(ui_dir().join(f)).unwrap(),
            "{f}"
        );
        let again = c
            .get(srv.url(&format!("/mgmt/ui/{f}")))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 304, "{f}");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.bytes().await.unwrap().is_empty());
        let other = c
            .get(srv.url(&format!("/mgmt/ui/{f}")))
            .header("If-None-Match", "W/\"0000\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status().as_u16(), 200, "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_files_are_json_404s() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    for path in [
        "/mgmt/ui/nope.js",
        "/mgmt/ui/..%2fCargo.toml",
        "/mgmt/ui/vendor/VERSIONS.x",
    ] {
        let (s, v) = srv.get_json(path).await;
        assert_eq!((s, &v["status"]), (404, &serde_json::json!(404)), "{path}");
    }
}

/// The URL path of `path` as referenced from the console file `from`.
fn resolve(from: &str, path: &str) -> String {
    let base = format!("mgmt/ui/{from}");
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for seg in path.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_of_the_page_and_modules_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let html_ref = Regex::new(r##"(?:href|src)="([^"#:]+)""##).unwrap();
    let js_import = Regex::new(r#"(?m)^\s*(?:import|export)\b[^'"]*from\s+'(\.{1,2}/[^']+)'"#).unwrap();
    let mut checked = 0;
    for f in web_files() {
        let text = std::fs::read_to_string(ui_dir().join(&f)).unwrap();
        let re = if f.ends_with(".html") {
            &html_ref
        } else if f.ends_with(".js") {
            &js_import
        } else {
            continue;
        };
        for cap in re.captures_iter(&text) {
            let url = resolve(&f, &cap[1]);
            let s = srv.get(&url).await.status().as_u16();
            assert_eq!(s, 200, "{f} refers to {} ({url})", &cap[1]);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} references found");
}

/// ui/vendor/ holds what tools/vendor-ui.sh copies for the pinned versions.
#[test]
fn vendored_uplot_matches_the_lock_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("tools/ui-vendor/package-lock.json")).unwrap())
            .unwrap();
    let version = lock["packages"]["node_modules/uplot"]["version"]
        .as_str()
        .unwrap();
    let versions = std::fs::read_to_string(ui_dir().join("vendor/VERSIONS")).unwrap();
    assert!(versions.contains(&format!("uPlot {version} ")), "{versions}");
    let js = std::fs::read_to_string(ui_dir().join("vendor/uPlot.esm.js")).unwrap();
    assert!(
        js[..400].contains(&format!("(v{version})")),
        "uPlot.esm.js is not uPlot {version}"
    );
}
