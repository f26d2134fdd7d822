//! The cluster (cargo feature `cluster`): one etcd (Debian's `etcd` on
//! loopback, ephemeral ports, temporary data) and two in-process members.
//! Prints `bench <name> <value> <unit>` lines:
//!
//! * `proxy_raw_ratio`: getData.raw of 30 days at 1 Hz through the member
//!   that does not own the PV, as a throughput ratio to the owner's own
//!   answer (best of 5 each, alternating);
//! * `archive_assign_per_s`: placing and recording 100,000 new PVs (128 per
//!   etcd transaction, 4 transactions in flight);
//! * `directory_watch_lag_ms`: a claim sent by one member until the other
//!   member's cache has it (1,000 sequential claims), p50 and p99.
//!
//! Without etcd on PATH (or `ETCD_BIN`) it prints why and exits.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::app::{App, EngineChoice};
use strata::cluster::{Claim, Cluster, ClusterConfig, Placer};
use strata::config::Config;
use strata::engine::NullEngine;
use strata::plainpb::{encode_sample, escape_into, AppendTarget, Appender};
use strata::registry::Registry;
use strata::types::{ArchDbType, ArchiverSample, PartitionGranularity, SampleValue};

const Y2024: i64 = 1_704_067_200;

/// Writes `n` samples at `hz` from `start` into partition files of
/// `granularity` under `root` (Java layout), without going through the store.
fn write_files(root: &Path, pv: &str, start: i64, n: u64, hz: u32, granularity: PartitionGranularity) {
    let key = strata::plainpb::pv_key(pv);
    let mut current: Option<(i64, Appender)> = None;
    let mut buf = Vec::with_capacity(8 << 20);
    let mut raw = Vec::new();
    for i in 0..n {
        let secs = start + (i / u64::from(hz)) as i64;
        let nanos = ((i % u64::from(hz)) as u32) * (1_000_000_000 / hz) + 12_345;
        let part = granularity.partition_start(secs);
        if current.as_ref().is_none_or(|(p, _)| *p != part) {
            if let Some((_, mut ap)) = current.take() {
                ap.write_raw(&buf).expect("write");
                buf.clear();
            }
            let path = strata::plainpb::partition_path(root, &key, granularity, secs);
            let year = strata::types::year_of(secs);
            let target = AppendTarget::new(&path, pv, ArchDbType::ScalarDouble, year);
            current = Some((part, Appender::open(&target, None).expect("open")));
        }
        let s = ArchiverSample::at(secs, nanos, SampleValue::Double((i as f64 * 0.001).sin()));
        raw.clear();
        encode_sample(&s, strata::types::year_of(secs), &mut raw).expect("encode");
        escape_into(&raw, &mut buf);
        buf.push(b'\n');
        if buf.len() >= 8 << 20 {
            if let Some((_, ap)) = current.as_mut() {
                ap.write_raw(&buf).expect("write");
            }
            buf.clear();
        }
    }
    if let Some((_, mut ap)) = current.take() {
        ap.write_raw(&buf).expect("write");
    }
}

struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    endpoint: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn start_etcd() -> Option<Etcd> {
    let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".into());
    let dir = tempfile::tempdir().expect("tmp");
    let (cp, pp) = (free_port(), free_port());
    let client = format!("http://127.0.0.1:{cp}");
    let peer = format!("http://127.0.0.1:{pp}");
    let child = Command::new(&bin)
        .args(["--name", "default", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .arg("--initial-cluster")
        .arg(format!("default={peer}"))
        .args(["--logger", "zap", "--log-level", "error"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", cp)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "etcd did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Etcd {
        child,
        _dir: dir,
        endpoint: client,
    })
}

/// A member over `dir` (files indexed first), serving in the background.
async fn member(dir: &Path, identity: &str, etcd: &str) -> (String, Arc<Cluster>) {
    let mut cfg = Config::default();
    cfg.set_data_dir(dir);
    cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
    cfg.cluster = Some(ClusterConfig {
        etcd: vec![etcd.to_string()],
        identity: identity.into(),
        name: "bench".into(),
        ..Default::default()
    });
    {
        let kv = strata::app::open_kv(&cfg.storage).expect("sled");
        let index = strata::index::Index::open(&kv).expect("index");
        let reg = Registry::open(&kv).expect("registry");
        let scan = strata::rebuild::scan(&cfg.storage, 2, &|_| {});
        strata::rebuild::apply(&cfg.storage, &index, &reg, identity, scan, Instant::now()).expect("rebuild");
    }
    let app = App::open(cfg, EngineChoice::Given(Arc::new(NullEngine)))
        .await
        .expect("open");
    let base = format!("http://{}", app.addr());
    let cluster = app.state().cluster.clone().expect("cluster");
    tokio::spawn(async move {
        app.serve(std::future::pending()).await.expect("serve");
    });
    (base, cluster)
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn fetch(client: &reqwest::Client, url: &str) -> f64 {
    let t = Instant::now();
    let mut resp = client.get(url).send().await.expect("request");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    while resp.chunk().await.expect("body").is_some() {}
    t.elapsed().as_secs_f64()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(etcd: &Etcd) {
    let (da, db) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let pv = "BENCH:CLUSTER:30d";
    let n = 30 * 86_400u64;
    write_files(&da.path().join("mts"), pv, Y2024, n, 1, PartitionGranularity::Day);
    let (a, ca) = member(da.path(), "benchA", &etcd.endpoint).await;
    let (b, cb) = member(db.path(), "benchB", &etcd.endpoint).await;
    let t0 = Instant::now();
    while cb.cache.owner(pv).as_deref() != Some("benchA") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "member B never saw the PV"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Proxy: same request direct and through the other member.
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_zstd()
        .build()
        .expect("client");
    let q = format!(
        "/retrieval/data/getData.raw?pv={pv}&from={}&to={}",
        iso(Y2024),
        iso(Y2024 + n as i64)
    );
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        direct.push(fetch(&client, &format!("{a}{q}")).await);
        proxied.push(fetch(&client, &format!("{b}{q}")).await);
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "bench proxy_raw_ratio {:.2} ratio",
        best(&direct) / best(&proxied)
    );
    println!(
        "bench proxy_raw_direct_30d {:.0} samples/s",
        n as f64 / best(&direct)
    );
    println!(
        "bench proxy_raw_proxied_30d {:.0} samples/s",
        n as f64 / best(&proxied)
    );

    // Watch lag: claims by A seen in B's cache.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    cb.cache.observe(tx);
    let mut lags = Vec::with_capacity(1000);
    for i in 0..1000 {
        let name = format!("BENCH:LAG:{i:05}");
        let key = cb.keys.pv(&name);
        let sent = Instant::now();
        let c = ca.claim_one(&name, "benchA").await.expect("claim");
        assert!(matches!(c, Claim::Claimed { .. }));
        loop {
            let (k, at) = rx.recv().await.expect("observer");
            if k == key {
                lags.push(at.duration_since(sent).as_secs_f64() * 1e3);
                break;
            }
        }
    }
    println!("bench directory_watch_lag_ms {:.2} ms", pct(&mut lags, 0.99));
    println!("bench directory_watch_lag_p50_ms {:.2} ms", pct(&mut lags, 0.5));

    // Placement of 100,000 new PVs, as a bulk archivePV places them.
    let total = 100_000usize;
    let t = Instant::now();
    let mut placer = Placer::new(&ca.cfg.placement, ca.candidates());
    let items: Vec<(String, String)> = (0..total)
        .map(|i| {
            (
                format!("BENCH:ASSIGN:{i:06}"),
                placer.pick(None).expect("placement"),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for part in items.chunks(total / 4) {
        let (ca, part) = (ca.clone(), part.to_vec());
        tasks.push(tokio::spawn(async move {
            ca.claim_many(&part).await.expect("claims").len()
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("task");
    }
    assert_eq!(done, total);
    println!(
        "bench archive_assign_per_s {:.0} PVs/s",
        total as f64 / t.elapsed().as_secs_f64()
    );
    ca.shutdown().await;
    cb.shutdown().await;
}

fn main() {
    let Some(etcd) = start_etcd() else {
        println!("etcd not found (apt-get install etcd-server); cluster bench skipped");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(&etcd));
}
