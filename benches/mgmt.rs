//! Management API over a registry of 1,000,000 PVs. Prints
//! `bench <name> <value> <unit>` lines:
//!
//! * `getallpvs_glob_p50` ms: getAllPVs with a glob matching 1,000 names;
//! * `pvstatus_1000_p50` ms: POST getPVStatus with 1,000 names;
//! * `metrics_p50` ms: GET /metrics;
//! * `startup_1m_pvs` s: the `strata serve` process with the shipped
//!   configuration, from spawn until /retrieval/ping answers (median of
//!   three starts, each after a clean SIGTERM stop, which leaves the
//!   registry snapshot);
//! * `startup_1m_pvs_engine_off` s: the same with `[engine] enabled = false`
//!   (registry, storage and HTTP only). The start after a SIGKILL (no
//!   snapshot: full scan) goes to stderr as a diagnostic.
//!
//! The registry is built once in a temporary directory (`$STRATA_BENCH_DIR`
//! or the system's, or `$STRATA_BENCH_MGMT_DATA` to keep it between runs);
//! HTTP requests go to a server on 127.0.0.1. Pass names as arguments to
//! run only the matching figures.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::app::{App, EngineChoice, Stores};
use strata::config::Config;
use strata::engine::NullEngine;
use strata::registry::PvTypeInfo;
use strata::types::ArchDbType;

const N: usize = 1_000_000;
const CHUNK: usize = 20_000;
/// Matches cells C10..C19 of sector 07: 10 × 100 PVs.
const GLOB: &str = "SR07:C1*:*";
const ROUNDS: usize = 40;

/// `SR{sector}:C{cell}:PV{n}`: 100 sectors × 100 cells × 100 PVs.
fn pv_name(i: usize) -> String {
    format!("SR{:02}:C{:02}:PV{:03}", i % 100, (i / 100) % 100, i / 10_000)
}

fn tmpdir() -> tempfile::TempDir {
    match std::env::var_os("STRATA_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("tmp"),
        None => tempfile::tempdir().expect("tmp"),
    }
}

fn config(dir: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.set_data_dir(dir);
    cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
    cfg
}

/// A record as the archive workflow writes it (stores, fields, times).
fn typeinfo(i: usize, stores: &[String], now: chrono::DateTime<chrono::Utc>) -> PvTypeInfo {
    let mut t = PvTypeInfo::new(&pv_name(i), ArchDbType::ScalarDouble, 1);
    t.data_stores = stores.to_vec();
    t.policy_name = Some("Default".into());
    t.creation_time = Some(now);
    t.modification_time = Some(now);
    t.computed_event_rate = 1.0;
    t.computed_storage_rate = 20.0;
    t.computed_bytes_per_event = 20;
    t.units = Some("mA".into());
    t.precision = Some(3.0);
    t.extra_fields.insert("RTYP".into(), "ai".into());
    t.paused = i % 50 == 0;
    t
}

fn build_registry(dir: &Path) {
    let cfg = config(dir);
    let Stores {
        kv, registry, store, ..
    } = Stores::open(&cfg.storage).expect("open");
    let stores: Vec<String> = store.tiers().iter().map(|t| t.url()).collect();
    let now = chrono::Utc::now();
    let t = Instant::now();
    let mut chunk = Vec::with_capacity(CHUNK);
    for i in 0..N {
        chunk.push(typeinfo(i, &stores, now));
        if chunk.len() == CHUNK {
            registry.put_many(&chunk).expect("put_many");
            chunk.clear();
        }
    }
    registry.put_many(&chunk).expect("put_many");
    eprintln!(
        "registry of {N} PVs written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    use strata::index::KvStore;
    kv.flush().expect("flush");
}

struct Server {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The appliance in process (no engine), opened as `strata serve` opens it.
async fn serve(dir: &Path) -> Server {
    let t = Instant::now();
    let app = App::open(config(dir), EngineChoice::Given(Arc::new(NullEngine)))
        .await
        .expect("open");
    eprintln!(
        "in-process open of {} PVs: {:.2} s",
        app.state().mgmt.registry.len(),
        t.elapsed().as_secs_f64()
    );
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.serve(async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    Server { base, stop, task }
}

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// p50 of `ROUNDS` sequential calls after a few warm-up calls; `check`
/// validates each response body.
async fn time_calls(make: impl Fn() -> reqwest::RequestBuilder, check: impl Fn(&[u8])) -> f64 {
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS + 3 {
        let t = Instant::now();
        let r = make().send().await.expect("send");
        assert!(r.status().is_success(), "status {}", r.status());
        let body = r.bytes().await.expect("body");
        let el = t.elapsed();
        check(&body);
        if round >= 3 {
            times.push(el);
        }
    }
    p50(times)
}

async fn http_figures(dir: &Path, run: &dyn Fn(&str) -> bool) {
    let srv = serve(dir).await;
    let client = reqwest::Client::new();
    if run("getallpvs_glob_p50") {
        let url = format!("{}/mgmt/bpl/getAllPVs?pv={GLOB}&limit=-1", srv.base);
        let ms = time_calls(
            || client.get(&url),
            |b| {
                let v: Vec<String> = serde_json::from_slice(b).expect("json");
                assert_eq!(v.len(), 1000, "glob matches 1,000 PVs");
            },
        )
        .await;
        println!("bench getallpvs_glob_p50 {ms:.3} ms");
    }
    if run("pvstatus_1000_p50") {
        let names: Vec<String> = (0..1000).map(|k| pv_name((k * 997_331) % N)).collect();
        let body = serde_json::to_vec(&names).expect("json");
        let url = format!("{}/mgmt/bpl/getPVStatus", srv.base);
        let ms = time_calls(
            || {
                client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
            },
            |b| {
                let v: Vec<serde_json::Value> = serde_json::from_slice(b).expect("json");
                assert_eq!(v.len(), 1000);
                assert!(v.iter().all(|s| s["status"] != "Not being archived"));
            },
        )
        .await;
        println!("bench pvstatus_1000_p50 {ms:.3} ms");
    }
    if run("metrics_p50") {
        let url = format!("{}/metrics", srv.base);
        let ms = time_calls(
            || client.get(&url),
            |b| {
                let text = std::str::from_utf8(b).expect("utf8");
                assert!(text.contains(&format!("strata_gauge{{label=\"total\",name=\"pvs\"}} {N}")));
            },
        )
        .await;
        println!("bench metrics_p50 {ms:.3} ms");
    }
    let _ = srv.stop.send(());
    srv.task.await.expect("server task");
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// True once `GET /retrieval/ping` answers 200.
fn pinged(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET /retrieval/ping HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

fn stop(mut child: Child) {
    // SIGTERM: the server shuts down gracefully (flushes), as in production.
    let pid = child.id() as libc::pid_t;
    // SAFETY: `pid` is our child, not yet reaped.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// How a measured `strata serve` runs and stops.
#[derive(Clone, Copy)]
struct Start {
    /// The Channel Access engine runs (the shipped default).
    engine: bool,
    /// Stopped with SIGKILL instead of SIGTERM.
    crash: bool,
}

/// Seconds from spawning `strata serve` on `dir` until it answers a ping;
/// then the process is stopped as `how` says.
fn startup(dir: &Path, how: Start) -> f64 {
    let addr = free_addr();
    let log = std::fs::File::create(dir.join("serve.log")).expect("log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.arg("serve")
        .arg("--data")
        .arg(dir)
        .arg("--listen")
        .arg(addr.to_string());
    if !how.engine {
        let cfg = dir.join("engine-off.toml");
        std::fs::write(&cfg, "[engine]\nenabled = false\n").expect("config");
        cmd.arg("--config").arg(cfg);
    }
    // Channel Access searches stay on this host.
    cmd.env("RUST_LOG", "warn")
        .env("EPICS_CA_AUTO_ADDR_LIST", "NO")
        .env("EPICS_CA_ADDR_LIST", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(log);
    let t = Instant::now();
    let child = cmd.spawn().expect("spawn strata");
    let mut ok = false;
    while t.elapsed() < Duration::from_secs(180) {
        if pinged(addr) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let el = t.elapsed().as_secs_f64();
    if how.crash {
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    } else {
        stop(child);
    }
    assert!(ok, "strata serve did not answer within 180 s (see serve.log)");
    el
}

/// Median of up to three start-ups after clean stops (one when it takes
/// more than 10 s, to keep the bench bounded).
fn median_startup(dir: &Path, engine: bool) -> f64 {
    let how = Start { engine, crash: false };
    let mut runs = vec![startup(dir, how)];
    if runs[0] < 10.0 {
        runs.extend((0..2).map(|_| startup(dir, how)));
    }
    runs.sort_by(f64::total_cmp);
    eprintln!("start-ups (engine {engine}) after clean stops: {runs:?} s");
    runs[runs.len() / 2]
}

/// A data directory path (`path()` like a `TempDir`).
struct Keep(std::path::PathBuf);

impl Keep {
    fn path(&self) -> &Path {
        &self.0
    }
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    // `$STRATA_BENCH_MGMT_DATA`: a kept data directory, built on first use
    // (saves the registry build when iterating).
    let kept = std::env::var_os("STRATA_BENCH_MGMT_DATA").map(std::path::PathBuf::from);
    let tmp = tmpdir();
    let dir = kept.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    if !dir.join("index").exists() {
        build_registry(&dir);
    }
    let dir = Keep(dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if run("getallpvs_glob_p50") || run("pvstatus_1000_p50") || run("metrics_p50") {
        rt.block_on(http_figures(dir.path(), &run));
    }
    drop(rt);
    if run("startup_1m_pvs") {
        println!("bench startup_1m_pvs {:.3} s", median_startup(dir.path(), true));
    }
    if run("startup_1m_pvs_engine_off") {
        let secs = median_startup(dir.path(), false);
        println!("bench startup_1m_pvs_engine_off {secs:.3} s");
        // Diagnostic: after a crash there is no registry snapshot to read.
        let crash = Start {
            engine: false,
            crash: true,
        };
        startup(dir.path(), crash);
        let after_crash = startup(
            dir.path(),
            Start {
                engine: false,
                crash: false,
            },
        );
        eprintln!("start-up after SIGKILL (engine off; scan, sled recovery): {after_crash:.3} s");
    }
}
