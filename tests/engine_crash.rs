//! Crash safety of ingest: SIGKILL the strata process while it archives,
//! restart it, and every sample a completed flush cycle acknowledged is
//! present exactly once; the index agrees with the files.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ioc::{ca_env, free_port, Ioc};
use common::process::ServeProcess;
use epics_base_rs::types::EpicsValue;

/// The strata process's CA environment: loopback only.
fn env() -> Vec<(&'static str, &'static str)> {
    let mut env = strata::engine::LOOPBACK_CA_ENV.to_vec();
    env.extend(strata::engine::LOOPBACK_PVA_ENV);
    env.push(("EPICS_CA_MAX_SEARCH_PERIOD", "60"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_ingesting_keeps_every_acknowledged_sample_once() {
    ca_env();
    let port = free_port();
    let ioc = Arc::new(Ioc::start(
        port,
        vec![("K:counter".into(), EpicsValue::Double(0.0), None)],
    ));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("strata.toml");
    std::fs::write(
        &cfg,
        format!("[engine]\nwrite_period = 0.5\ninitial_sampling_secs = 0.5\nca_addr_list = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let args = ["--config", cfg.to_str().unwrap()];
    let srv = ServeProcess::start_env(&data, &args, &env());
    let v = get(&srv.base, "/mgmt/bpl/archivePV?pv=K:counter").await;
    assert_eq!(v[0]["status"], "Archive request submitted", "{v}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&srv.base, "/mgmt/bpl/getPVStatus?pv=K:counter").await[0]["status"] != "Being archived" {
        assert!(Instant::now() < deadline, "never archived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The IOC posts n at base + n × 50 ms, value n.
    let base_ms = (chrono::Utc::now().timestamp() + 2) * 1000;
    let stop = Arc::new(AtomicBool::new(false));
    let posted = Arc::new(AtomicU64::new(0));
    let poster = {
        let (ioc, stop, posted) = (ioc.clone(), stop.clone(), posted.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = base_ms + n as i64 * 50;
                ioc.post(
                    "K:counter",
                    EpicsValue::Double(n as f64),
                    0,
                    0,
                    t / 1000,
                    ((t % 1000) * 1_000_000) as u32,
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
    // The IOC goes on posting while strata is down.
    let at_kill = posted.load(Ordering::Relaxed);
    while posted.load(Ordering::Relaxed) < at_kill + 10 {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    poster.join().unwrap();

    // Restart on the same data: repair on open, then read everything back.
    let posted = posted.load(Ordering::Relaxed);
    common::crash::check_acknowledged(&data, &args, &env(), base_ms, posted, acked).await;
}
