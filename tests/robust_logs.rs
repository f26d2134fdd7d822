//! Issue 11, logs: no colour escape codes when stderr is not a terminal,
//! and `--log-format json` writes one JSON object per line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Stderr lines of `strata serve` (engine off) up to the "serving" line.
fn serve_log(extra: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strata.toml");
    std::fs::write(&cfg, "[engine]\nenabled = false\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let done = line.contains("serving");
        lines.push(line.trim_end().to_string());
        if done || Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines.iter().any(|l| l.contains("serving")), "{lines:#?}");
    lines
}

#[test]
fn text_logs_have_no_colour_codes_when_stderr_is_a_pipe() {
    for l in serve_log(&[]) {
        assert!(!l.contains('\u{1b}'), "escape code in {l:?}");
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let lines = serve_log(&["--log-format", "json"]);
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{v}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"message\":\"serving\"")),
        "{lines:#?}"
    );
}
