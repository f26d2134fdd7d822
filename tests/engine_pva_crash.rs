//! Crash safety of pvAccess ingest: SIGKILL the strata process while it
//! archives a pvAccess PV, restart it, and every sample a completed flush
//! cycle acknowledged is present exactly once; the index agrees with the
//! files.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{run_tool, ServeProcess};
use common::pva::{nt_plain, s, PvaIoc};
use epics_pva_rs::pvdata::{ScalarType, ScalarValue};

/// The strata process's environment: loopback only.
fn env() -> Vec<(&'static str, &'static str)> {
    let mut env = strata::engine::LOOPBACK_CA_ENV.to_vec();
    env.extend(strata::engine::LOOPBACK_PVA_ENV);
    env
}

async fn get(base: &str, path: &str) -> serde_json::Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_ingesting_pva_keeps_every_acknowledged_sample_once() {
    common::ioc::ca_env();
    let start = chrono::Utc::now().timestamp() - 1;
    let ioc = Arc::new(PvaIoc::start(
        0,
        vec![("K:counter", nt_plain(ScalarType::Double))],
        start,
    ));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("strata.toml");
    std::fs::write(
        &cfg,
        format!(
            "[engine]\nwrite_period = 0.5\ninitial_sampling_secs = 0.5\nca_addr_list = \"\"\n\
             pva_addr_list = \"\"\npva_auto_addr_list = false\npva_name_servers = \"{}\"\n",
            ioc.addr()
        ),
    )
    .unwrap();
    let args = ["--config", cfg.to_str().unwrap()];
    let srv = ServeProcess::start_env(&data, &args, &env());
    let v = get(&srv.base, "/mgmt/bpl/archivePV?pv=pva://K:counter").await;
    assert_eq!(v[0]["status"], "Archive request submitted", "{v}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&srv.base, "/mgmt/bpl/getPVStatus?pv=K:counter").await[0]["status"] != "Being archived" {
        assert!(Instant::now() < deadline, "never archived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The server posts n at base + n × 50 ms, value n.
    let base_ms = (chrono::Utc::now().timestamp() + 2) * 1000;
    let ts = |n: u64| (base_ms + n as i64 * 50) as f64 / 1000.0;
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(AtomicU64::new(0));
    let poster = {
        let (ioc, stop, posted) = (ioc.clone(), stop.clone(), posted.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = base_ms + n as i64 * 50;
                ioc.post_value(
                    "K:counter",
                    s(ScalarValue::Double(n as f64)),
                    t / 1000,
                    ((t % 1000) * 1_000_000) as u32,
                    0,
                    0,
                );
                posted.store(n + 1, Ordering::Relaxed);
                n += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // Wait for an acknowledged flush covering a few seconds, then crash.
    let acked = loop {
        let st = get(&srv.base, "/mgmt/bpl/getPVStatus?pv=K:counter").await;
        let last = st[0]["lastEvent"].as_str().unwrap_or("Never").to_string();
        if let Ok(t) = chrono::DateTime::parse_from_str(&last, "%b/%d/%Y %H:%M:%S %:z") {
            if t.timestamp() >= base_ms / 1000 + 3 {
                break t.timestamp();
            }
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(60),
            "no acknowledged flush: {st}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    srv.kill();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    poster.join().unwrap();

    // Restart on the same data: repair on open, then read everything back.
    let srv = ServeProcess::start_env(&data, &args, &env());
    let q = format!(
        "pv=K:counter&from={}&to={}",
        iso(base_ms / 1000 - 5),
        iso(base_ms / 1000 + 600)
    );
    let v = get(&srv.base, &format!("/retrieval/data/getData.json?{q}")).await;
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
    let n_posted = posted.load(Ordering::Relaxed);
    let mut checked = 0;
    for n in 0..n_posted {
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
