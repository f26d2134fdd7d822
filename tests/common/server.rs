//! A real strata server on 127.0.0.1 (ephemeral port) over real files and a
//! real sled database in a temporary directory, plus direct handles on its
//! store and registry for setting up data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use strata::api::{self, AppState, HttpMetrics};
use strata::config::Config;
use strata::engine::{ArchiveEngine, NullEngine};
use strata::index::SledKv;
use strata::mgmt::policy::Policies;
use strata::registry::Registry;
use strata::retrieval::Retrieval;
use strata::storage::TieredStore;

pub struct TestServer {
    pub base: String,
    pub store: TieredStore,
    pub registry: Arc<Registry>,
    pub dir: PathBuf,
    pub cfg: Config,
    task: tokio::task::JoinHandle<()>,
    pub mgmt: Option<strata::mgmt::Mgmt>,
    /// The handlers' state, for in-process routers (`api::app_with`).
    pub state: AppState,
    _kv: SledKv,
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
        Self::start_with_engine_factory(dir, f, move |_, _| Box::pin(async move { engine })).await
    }

    /// A server with the real Channel Access engine (archive workflow wired).
    pub async fn start_ca(dir: &Path, f: impl FnOnce(&mut Config)) -> (Self, strata::engine::ca::CaEngine) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let holder: Arc<std::sync::Mutex<Option<strata::engine::ca::CaEngine>>> = Default::default();
        let h2 = holder.clone();
        let srv = Self::start_with_engine_factory(dir, f, move |store, cfg| {
            let store = store.clone();
            let ecfg = cfg.engine.clone();
            Box::pin(async move {
                let e = strata::engine::ca::CaEngine::start(ecfg, store, tx, vec![])
                    .await
                    .unwrap();
                *h2.lock().unwrap() = Some(e.clone());
                Arc::new(e) as Arc<dyn ArchiveEngine>
            })
        })
        .await;
        let engine = holder.lock().unwrap().clone().unwrap();
        let mgmt = srv.mgmt.clone().unwrap();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let _ = mgmt.complete_request(p).await;
            }
        });
        (srv, engine)
    }

    async fn start_with_engine_factory(
        dir: &Path,
        f: impl FnOnce(&mut Config),
        make: impl FnOnce(
            &TieredStore,
            &Config,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn ArchiveEngine>> + Send>>,
    ) -> Self {
        let mut cfg = Config::default();
        cfg.set_data_dir(dir);
        cfg.server.listen = "127.0.0.1:0".parse().unwrap();
        f(&mut cfg);
        std::fs::create_dir_all(&cfg.storage.index_dir).unwrap();
        let kv = SledKv::open(&cfg.storage.index_dir).unwrap();
        let registry = Arc::new(Registry::open(&kv).unwrap());
        let (store, _) = TieredStore::open(&cfg.storage, &kv).unwrap();
        let engine = make(&store, &cfg).await;
        let names: Vec<String> = cfg.storage.tiers.iter().map(|t| t.name.clone()).collect();
        let policies = Policies::load(cfg.policies.file.as_deref(), &names).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        cfg.server.listen = addr;
        let cfg_arc = Arc::new(cfg.clone());
        let state = AppState {
            retrieval: Retrieval {
                store: store.clone(),
                registry: registry.clone(),
                cfg: cfg.retrieval.clone(),
                engine: Some(engine.clone()),
            },
            store: store.clone(),
            registry: registry.clone(),
            engine,
            policies: Arc::new(RwLock::new(policies)),
            cfg: cfg_arc,
            started: std::time::SystemTime::now(),
            http: Arc::new(HttpMetrics::new()),
        };
        let mgmt = Some(state.mgmt());
        let app = api::app(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestServer {
            base: format!("http://{addr}"),
            store,
            registry,
            dir: dir.to_path_buf(),
            cfg,
            task,
            mgmt,
            state,
            _kv: kv,
        }
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

    /// Stops serving (the data stays).
    pub fn stop(self) {
        self.task.abort();
    }
}

/// A PVTypeInfo for `pv` of type `ty` registered as archived (not paused).
pub fn register(reg: &Registry, pv: &str, ty: strata::types::ArchDbType) {
    let mut t = strata::registry::PvTypeInfo::new(pv, ty, 1);
    t.creation_time = Some(chrono::Utc::now());
    reg.put(&t).unwrap();
}
