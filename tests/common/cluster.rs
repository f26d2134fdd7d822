//! A cluster for tests: a throw-away etcd (Debian's `etcd`, loopback,
//! ephemeral ports, temporary data directory, stopped by PID) and strata
//! members run as child processes of the real binary with a `[cluster]`
//! section, so that a test can kill them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata::app::Stores;
use strata::index::KvStore;
use strata::registry::PvTypeInfo;
use strata::storage::{StorageConfig, StoragePlugin};
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

use super::process::ServeProcess;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The etcd binary, or `None` (with the reason printed) when it is not
/// installed and `CI` is not set; under CI a missing etcd fails the test.
pub fn etcd_bin() -> Option<String> {
    let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".into());
    let found = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(bin);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "etcd is not installed (apt-get install etcd-server)"
    );
    eprintln!("skipping: etcd is not installed (apt-get install etcd-server)");
    None
}

/// One single-member etcd on 127.0.0.1.
pub struct Etcd {
    child: Option<Child>,
    bin: String,
    pub dir: tempfile::TempDir,
    pub client_port: u16,
    peer_port: u16,
}

impl Etcd {
    pub fn start(bin: String) -> Self {
        let mut e = Etcd {
            child: None,
            bin,
            dir: tempfile::Builder::new().prefix("strata-etcd").tempdir().unwrap(),
            client_port: free_port(),
            peer_port: free_port(),
        };
        e.spawn();
        e
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn spawn(&mut self) {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let child = Command::new(&self.bin)
            .args(["--name", "default", "--data-dir"])
            .arg(self.dir.path().join("data"))
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
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.child = Some(child);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.client_port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "etcd did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL by PID and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A member's data folder and configuration file.
pub struct MemberDir {
    pub identity: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl MemberDir {
    pub fn new(identity: &str, etcd: &str, cluster_name: &str) -> Self {
        let dir = tempfile::Builder::new().prefix(identity).tempdir().unwrap();
        let config = dir.path().join("strata.toml");
        let text = format!(
            "[engine]\nenabled = false\n\n[cluster]\netcd = [\"{etcd}\"]\nidentity = \"{identity}\"\nname = \"{cluster_name}\"\nlease_ttl_secs = 3\nload_refresh_secs = 1\n"
        );
        std::fs::write(&config, text).unwrap();
        MemberDir {
            identity: identity.into(),
            dir,
            config,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts `strata serve` on this folder.
    pub fn start(&self, env: &[(&str, &str)]) -> ServeProcess {
        let cfg = self.config.to_str().unwrap().to_string();
        ServeProcess::start_env(&self.data(), &["--config", &cfg], env)
    }
}

/// `n` samples, one per `step` seconds from `t0`, value = index.
pub async fn write_pv(data: &Path, pv: &str, t0: i64, n: i64, step: i64, paused: bool) {
    let stores = Stores::open(&StorageConfig::under(data)).unwrap();
    let mut t = PvTypeInfo::new(pv, ArchDbType::ScalarDouble, 1);
    let created = chrono::DateTime::from_timestamp(t0 - 3600, 0).unwrap();
    t.creation_time = Some(created);
    t.modification_time = Some(created);
    t.paused = paused;
    stores.registry.put(&t).unwrap();
    for i in 0..n {
        let s = ArchiverSample::at(t0 + i * step, 0, SampleValue::Double(i as f64));
        stores
            .store
            .append_event(pv, ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    stores.store.flush_writes().await.unwrap();
    stores.kv.flush().unwrap();
}

/// GET, answering (status, headers, body bytes).
pub async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.bytes().await.unwrap().to_vec())
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let (s, _, b) = get(url).await;
    let v =
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{url}: {e}: {}", String::from_utf8_lossy(&b)));
    (s, v)
}

pub async fn post_json(
    url: &str,
    body: &serde_json::Value,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let r = reqwest::Client::new().post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let b = r.bytes().await.unwrap();
    let v =
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{url}: {e}: {}", String::from_utf8_lossy(&b)));
    (status, h, v)
}

/// Waits until `f` holds (polling), panicking with `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while !f().await {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `base` lists `n` members in getAppliancesInCluster.
pub async fn wait_members(base: &str, n: usize) {
    let url = format!("{base}/mgmt/bpl/getAppliancesInCluster");
    wait_for("cluster membership", Duration::from_secs(30), || {
        let url = url.clone();
        async move {
            let (_, v) = get_json(&url).await;
            v.as_array().map(Vec::len) == Some(n)
        }
    })
    .await;
}
