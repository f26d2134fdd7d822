//! The check shared by the ingest crash tests: after a SIGKILL and a
//! restart, every sample a completed flush acknowledged is present exactly
//! once and the index agrees with the files.

use std::path::Path;

use super::process::{run_tool, ServeProcess};

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Restarts strata on `data` and checks PV `K:counter`, whose source posted
/// value `n` at `base_ms + n × 50 ms` for `n < posted`: each sample before
/// `acked` (seconds, the last acknowledged event) is there exactly once, in
/// order, and `strata-rebuild-index --verify` finds no drift.
pub async fn check_acknowledged(
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    base_ms: i64,
    posted: u64,
    acked: i64,
) {
    let ts = |n: u64| (base_ms + n as i64 * 50) as f64 / 1000.0;
    let srv = ServeProcess::start_env(data, args, env);
    let q = format!(
        "pv=K:counter&from={}&to={}",
        iso(base_ms / 1000 - 5),
        iso(base_ms / 1000 + 600)
    );
    let v: serde_json::Value = reqwest::get(format!("{}/retrieval/data/getData.json?{q}", srv.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got: Vec<(f64, f64)> = v[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let t = d["secs"].as_i64().unwrap() as f64 + d["nanos"].as_i64().unwrap() as f64 * 1e-9;
            (t, d["val"].as_f64().unwrap())
        })
        .collect();
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "duplicate or unordered samples"
    );
    let mut checked = 0;
    for n in 0..posted {
        if ts(n) >= acked as f64 {
            break;
        }
        let hits = got
            .iter()
            .filter(|(t, v)| (*t - ts(n)).abs() < 1e-6 && *v == n as f64)
            .count();
        assert_eq!(
            hits,
            1,
            "acknowledged sample {n} at {} present {hits} times",
            ts(n)
        );
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} acknowledged samples checked");
    srv.stop();
    // The index agrees with the files.
    let (code, out, _) = run_tool(
        env!("CARGO_BIN_EXE_strata-rebuild-index"),
        &["--data", data.to_str().unwrap(), "--verify"],
    );
    assert_eq!(code, 0, "{out}");
}
