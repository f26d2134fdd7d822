//! The web console in a real browser: `strata serve --demo` (the real
//! binary, API key on) and headless Chromium driven by
//! `tests/ui/harness.mjs` (puppeteer-core, pinned by
//! `tests/ui/package-lock.json`). The harness searches, deletes, archives,
//! pauses and resumes a PV, plots, zooms and exports CSV (compared with
//! getData.csv), walks every control by keyboard, fails on console errors,
//! and saves screenshots to `target/ui-browser/`.
//!
//! Without Chromium (or Node.js and npm) the test prints why and passes,
//! except under CI (`CI` set), where `.ci/run` installs them and a missing
//! one is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::ServeProcess;

const DEMO: [&str; 6] = ["counter", "enum", "ramp", "sine", "string", "waveform"];
const HARNESS_LIMIT: Duration = Duration::from_secs(240);

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `$STRATA_CHROMIUM`, else the first Chromium on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STRATA_CHROMIUM") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    ["chromium", "chromium-browser"].iter().find_map(|n| on_path(n))
}

fn runs(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `None` when the test can run; otherwise why not.
fn missing_tools() -> Option<String> {
    if chromium().is_none() {
        return Some("Chromium not found (apt-get install chromium, or set STRATA_CHROMIUM)".into());
    }
    for tool in ["node", "npm"] {
        if !runs(tool) {
            return Some(format!("{tool} not found (apt-get install nodejs npm)"));
        }
    }
    None
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// `npm ci` in tests/ui when puppeteer-core is not installed yet.
fn install_harness(dir: &Path) {
    if dir.join("node_modules/puppeteer-core/package.json").is_file() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("run npm ci");
    assert!(status.success(), "npm ci in {} failed: {status}", dir.display());
}

/// Waits until every demo PV is archived and connected.
fn wait_demo_archived(base: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("{base}/mgmt/bpl/getPVStatus?pv=strata:demo:*");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            // The demo also serves pvAccess PVs (strata:demo:pva:*): every
            // row must be archived and connected, and the CA ones present.
            let ready = v.as_array().is_some_and(|rows| {
                DEMO.iter()
                    .all(|name| rows.iter().any(|r| r["pvName"] == format!("strata:demo:{name}")))
                    && rows
                        .iter()
                        .all(|r| r["status"] == "Being archived" && r["connectionState"] == "true")
            });
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "demo PVs not archived: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

#[test]
fn console_in_headless_chromium() {
    if let Some(why) = missing_tools() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ui_browser cannot run under CI: {why}"
        );
        eprintln!("skipping ui_browser: {why}");
        return;
    }
    let chromium = chromium().expect("checked above");
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    install_harness(&harness);

    let dir = tempfile::tempdir().unwrap();
    let key = format!("ui-test-{}", std::process::id());
    let cfg = dir.path().join("strata.toml");
    std::fs::write(&cfg, format!("[security]\napi_key = \"{key}\"\n")).unwrap();
    let mut env = strata::engine::LOOPBACK_CA_ENV.to_vec();
    env.extend(strata::engine::LOOPBACK_PVA_ENV);
    env.extend([("EPICS_CA_MAX_SEARCH_PERIOD", "60"), ("RUST_LOG", "warn")]);
    let srv = ServeProcess::start_env(
        &dir.path().join("data"),
        &["--demo", "--config", cfg.to_str().unwrap()],
        &env,
    );
    wait_demo_archived(&srv.base);

    let out = target_dir().join("ui-browser");
    std::fs::create_dir_all(&out).unwrap();
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg("harness.mjs")
        .current_dir(&harness)
        .env("STRATA_UI_BASE", &srv.base)
        .env("STRATA_UI_KEY", &key)
        .env("STRATA_UI_OUT", &out)
        .env("STRATA_UI_CHROMIUM", &chromium)
        .spawn()
        .expect("start node");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > HARNESS_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("harness still running after {HARNESS_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "ui_browser: harness {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    srv.stop();
    assert!(
        status.success(),
        "browser harness failed ({status}); see its output and {}",
        out.display()
    );
}
