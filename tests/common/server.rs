//! A real strata server on 127.0.0.1 (ephemeral port) over real files and a
//! real sled database in a temporary directory, plus direct handles on its
//! store and registry for setting up data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::api::AppState;
use strata::app::{App, EngineChoice};
use strata::config::Config;
use strata::engine::epics::EpicsEngine;
use strata::engine::{ArchiveEngine, NullEngine};
use strata::registry::Registry;
use strata::storage::TieredStore;

pub struct TestServer {
    pub base: String,
    pub store: TieredStore,
    pub registry: Arc<Registry>,
    pub dir: PathBuf,
    pub cfg: Config,
    /// The handlers' state, for in-process routers (`api::app_with`).
    pub state: AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a server on `dir` with `cfg` tweaks applied by `f`.
    pub async fn start_with(dir: &Path, f: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_engine(dir, f, Arc::new(NullEngine)).await
    }

    pub async fn start(dir: &Path) -> Self {
        Self::start_with(dir, |_| {}).await
    }

    pub async fn start_with_engine(
        dir: &Path,
        f: impl FnOnce(&mut Config),
        engine: Arc<dyn ArchiveEngine>,
    ) -> Self {
        Self::open(dir, f, EngineChoice::Given(engine)).await.0
    }

    /// A server with the real EPICS engine (Channel Access and pvAccess,
    /// archive workflow wired).
    pub async fn start_ca(dir: &Path, f: impl FnOnce(&mut Config)) -> (Self, EpicsEngine) {
        let (srv, ca) = Self::open(dir, f, EngineChoice::Epics { demo: false }).await;
        (srv, ca.expect("the EPICS engine starts"))
    }

    /// Opens the appliance through [`App::open`] as `main` does (listening on
    /// an ephemeral port of 127.0.0.1) and serves it until [`Self::stop`].
    async fn open(
        dir: &Path,
        f: impl FnOnce(&mut Config),
        engine: EngineChoice,
    ) -> (Self, Option<EpicsEngine>) {
        let mut cfg = Config::default();
        cfg.set_data_dir(dir);
        cfg.server.listen = "127.0.0.1:0".parse().unwrap();
        f(&mut cfg);
        let mut app = App::open(cfg, engine).await.unwrap();
        app.channels_started().await;
        let state = app.state().clone();
        let cfg = app.config().clone();
        let ca = app.epics_engine().cloned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.serve(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let srv = TestServer {
            base: format!("http://{}", cfg.server.listen),
            store: state.mgmt.store.clone(),
            registry: state.mgmt.registry.clone(),
            dir: dir.to_path_buf(),
            cfg,
            state,
            stop,
            task,
        };
        (srv, ca)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(self.url(path)).await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, v)
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, v)
    }

    /// Stops serving as `main` does on SIGTERM: buffered samples are
    /// written, the database is flushed.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// A PVTypeInfo for `pv` of type `ty` registered as archived (not paused).
pub fn register(reg: &Registry, pv: &str, ty: strata::types::ArchDbType) {
    let mut t = strata::registry::PvTypeInfo::new(pv, ty, 1);
    t.creation_time = Some(chrono::Utc::now());
    reg.put(&t).unwrap();
}
