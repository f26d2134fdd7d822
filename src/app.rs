//! Opening the appliance from a [`Config`]: index database, registry,
//! storage (reconciled with the files), policies, ingest engine, the
//! management and retrieval services and the HTTP router.
//!
//! `main`, the tools, the integration tests and the benches all start
//! through this module, so that they run the same wiring. Only the choice
//! of engine differs ([`EngineChoice`]): tests may hand in their own.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::{self, AppState, HttpMetrics};
use crate::config::Config;
use crate::engine::demo::DemoServer;
use crate::engine::epics::{EpicsEngine, ExtraServers};
use crate::engine::pva::demo::DemoPvaServer;
use crate::engine::{ArchiveEngine, NullEngine, ProbeResult};
use crate::etl::{Etl, Reducer, Scheduler};
use crate::index::{KvError, KvStore, SledKv};
use crate::mgmt::policy::{Policies, PolicyError};
use crate::mgmt::{ArchiveParams, Mgmt};
use crate::registry::{NamedFlags, Registry, RegistryError};
use crate::retrieval::Retrieval;
use crate::storage::{ReconcileReport, StorageConfig, StoragePlugin, StoreError, TieredStore};

/// Opening or running the appliance failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The index folder could not be created.
    #[error("creating the index folder {path}")]
    IndexDir {
        /// Folder.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The sled database could not be opened (another process may hold it).
    #[error("opening the index database")]
    Kv(#[source] KvError),
    /// The PV registry could not be opened.
    #[error("opening the PV registry")]
    Registry(#[source] RegistryError),
    /// Storage could not be opened or reconciled.
    #[error("opening storage")]
    Storage(#[source] StoreError),
    /// The policies file is unusable.
    #[error("loading policies")]
    Policies(#[source] PolicyError),
    /// The demo IOC did not start.
    #[error("starting the demo servers")]
    Demo(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The listen address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("HTTP server")]
    Serve(#[source] std::io::Error),
    /// The cluster directory could not be joined.
    #[cfg(feature = "cluster")]
    #[error("joining the cluster")]
    Cluster(#[source] crate::cluster::ClusterError),
    /// Buffered samples could not be written at shutdown.
    #[error("final flush")]
    FinalFlush(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Opens (creating its folder) the sled database that holds the index and
/// the registry. One process at a time may hold it.
pub fn open_kv(cfg: &StorageConfig) -> Result<SledKv, AppError> {
    std::fs::create_dir_all(&cfg.index_dir).map_err(|source| AppError::IndexDir {
        path: cfg.index_dir.clone(),
        source,
    })?;
    SledKv::open(&cfg.index_dir).map_err(AppError::Kv)
}

/// The persistent parts of the appliance, open and reconciled.
pub struct Stores {
    /// The sled database of index and registry (flushed at shutdown).
    pub kv: SledKv,
    /// PV registry.
    pub registry: Arc<Registry>,
    /// The tier chain.
    pub store: TieredStore,
    /// What the reconcile on open found and repaired.
    pub reconciled: ReconcileReport,
}

impl Stores {
    /// Opens the database, the registry and the tiers of `cfg` (index
    /// migrations, interrupted renames and reconcile run here).
    pub fn open(cfg: &StorageConfig) -> Result<Self, AppError> {
        let kv = open_kv(cfg)?;
        let registry = Arc::new(Registry::open(&kv).map_err(AppError::Registry)?);
        let (store, reconciled) = TieredStore::open(cfg, &kv).map_err(AppError::Storage)?;
        tracing::info!(
            pvs = registry.len(),
            checked_files = reconciled.checked,
            repaired = !reconciled.is_clean(),
            "storage and registry open"
        );
        Ok(Stores {
            kv,
            registry,
            store,
            reconciled,
        })
    }
}

/// Which ingest engine the appliance runs.
pub enum EngineChoice {
    /// Channel Access and pvAccess as `[engine]` says (no engine when
    /// disabled or when neither protocol can start); with `demo`, also the
    /// in-process demo servers (CA and pvAccess), whose PVs are archived
    /// once the channels are started.
    Epics {
        /// Run and archive the demo servers.
        demo: bool,
    },
    /// An engine made by the caller (tests and benches: a fake engine or
    /// `NullEngine`).
    Given(Arc<dyn ArchiveEngine>),
}

/// The demo servers.
struct Demo {
    ca: DemoServer,
    pva: DemoPvaServer,
}

/// The engine that runs, with the EPICS parts when it is the EPICS engine.
struct RunningEngine {
    engine: Arc<dyn ArchiveEngine>,
    live: Option<EpicsEngine>,
    demo: Option<Demo>,
    /// Archive-workflow results of the EPICS engine.
    probes: Option<mpsc::UnboundedReceiver<ProbeResult>>,
}

impl RunningEngine {
    async fn start(cfg: &Config, store: &TieredStore, choice: EngineChoice) -> Result<Self, AppError> {
        let demo = match choice {
            EngineChoice::Given(engine) => {
                return Ok(RunningEngine {
                    engine,
                    live: None,
                    demo: None,
                    probes: None,
                })
            }
            EngineChoice::Epics { demo } => demo,
        };
        let none = || RunningEngine {
            engine: Arc::new(NullEngine),
            live: None,
            demo: None,
            probes: None,
        };
        if !cfg.engine.enabled {
            return Ok(none());
        }
        let demo = if demo {
            Some(Demo {
                ca: DemoServer::start(0).map_err(|e| AppError::Demo(e.into()))?,
                pva: DemoPvaServer::start().map_err(|e| AppError::Demo(e.into()))?,
            })
        } else {
            None
        };
        let extra = ExtraServers {
            ca: demo
                .iter()
                .map(|d| SocketAddr::from(([127, 0, 0, 1], d.ca.port())))
                .collect(),
            pva: demo.iter().map(|d| d.pva.addr()).collect(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        match EpicsEngine::start(cfg.engine.clone(), store.clone(), tx, extra).await {
            Ok(live) => Ok(RunningEngine {
                engine: Arc::new(live.clone()),
                live: Some(live),
                demo,
                probes: Some(rx),
            }),
            Err(e) => {
                tracing::error!(error = %e, "EPICS engine unavailable; archiving is stopped");
                Ok(RunningEngine { demo, ..none() })
            }
        }
    }
}

/// The appliance, open and bound, not yet serving.
pub struct App {
    cfg: Config,
    state: AppState,
    kv: SledKv,
    listener: TcpListener,
    addr: SocketAddr,
    live: Option<EpicsEngine>,
    demo: Option<Demo>,
    /// Starts the archived PVs' channels in the background.
    channel_start: Option<JoinHandle<()>>,
    /// The ETL scheduler (its loop runs while serving when `[etl] enabled`).
    etl: Arc<Scheduler>,
}

/// Marker file of a data folder laid out for the demo (beside `index/`).
const DEMO_MARKER: &str = "demo-layout";

/// The demo's short partitions, so a newcomer sees data move within
/// minutes: STS 5 minutes, MTS 1 hour, LTS 1 day. Applied to a new data
/// folder (no index yet), which is then marked, or to one marked so; an
/// existing folder of another layout keeps its tiers. Returns whether the
/// demo layout is in use.
pub fn demo_layout(cfg: &mut Config) -> Result<bool, AppError> {
    use crate::types::PartitionGranularity as G;
    let index = &cfg.storage.index_dir;
    let root = index.parent().map(PathBuf::from).unwrap_or_default();
    let marker = root.join(DEMO_MARKER);
    if index.exists() && !marker.exists() {
        tracing::info!(folder = %root.display(), "existing data folder: demo keeps its partitions");
        return Ok(false);
    }
    for (t, g) in cfg.storage.tiers.iter_mut().zip([G::FiveMin, G::Hour, G::Day]) {
        t.granularity = g;
    }
    std::fs::create_dir_all(&root)
        .and_then(|()| std::fs::write(&marker, b"STS 5 min, MTS 1 h, LTS 1 day\n"))
        .map_err(|source| AppError::IndexDir { path: marker, source })?;
    Ok(true)
}

/// The `reducedata` operators: retrieval's post-processor registry, bound
/// to each source file's span.
pub fn reducer() -> Reducer {
    Arc::new(|spec: &str, from, to| {
        let pp = crate::retrieval::postprocessors::PpSpec::parse(spec)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{spec} names no post-processor"))?;
        Ok(pp.bind(from, to))
    })
}

impl App {
    /// Opens everything `cfg` describes and binds `[server] listen` (the
    /// bound address replaces it, so port 0 works). A running engine gets
    /// its channels started in the background, so that the API answers at
    /// once whatever the number of PVs (EAA #260).
    pub async fn open(mut cfg: Config, engine: EngineChoice) -> Result<Self, AppError> {
        let started = SystemTime::now();
        let Stores {
            kv, registry, store, ..
        } = Stores::open(&cfg.storage)?;
        let flags = Arc::new(NamedFlags::open(&kv).map_err(AppError::Registry)?);
        let clock = crate::etl::system_clock(cfg.etl.clock_offset_secs);
        let stats = crate::etl::EtlStats::open(&kv, clock()).map_err(AppError::Kv)?;
        let etl = Arc::new(
            Scheduler::new(
                Arc::new(
                    Etl::new(store.clone(), flags, Some(reducer()))
                        .with_waves(cfg.etl.wave_options(), cfg.etl.wave_limits()),
                ),
                registry.clone(),
                cfg.storage.tiers.clone(),
            )
            .with_stats(Arc::new(stats))
            .with_clock(clock),
        );
        let tier_names: Vec<String> = cfg.storage.tiers.iter().map(|t| t.name.clone()).collect();
        let policies =
            Policies::load(cfg.policies.file.as_deref(), &tier_names).map_err(AppError::Policies)?;
        let listen = cfg.server.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| AppError::Bind { addr: listen, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| AppError::Bind { addr: listen, source })?;
        cfg.server.listen = addr;
        #[cfg(feature = "cluster")]
        if let Some(c) = &cfg.cluster {
            cfg.server.identity = c.identity.clone();
        }
        let base_url = advertised_url(&cfg, addr);
        let RunningEngine {
            engine,
            live,
            demo,
            probes,
        } = RunningEngine::start(&cfg, &store, engine).await?;
        let mgmt = Mgmt {
            registry: registry.clone(),
            store: store.clone(),
            etl: etl.clone(),
            engine: engine.clone(),
            policies: Arc::new(RwLock::new(policies)),
            identity: cfg.server.identity.clone(),
            base_url: base_url.clone(),
            started,
            engine_enabled: cfg.engine.enabled,
        };
        let state = AppState {
            retrieval: Retrieval {
                store,
                registry,
                cfg: cfg.retrieval.clone(),
                engine: engine.buffers(),
            },
            mgmt: mgmt.clone(),
            security: cfg.security.clone(),
            http: Arc::new(HttpMetrics::new()),
            #[cfg(feature = "cluster")]
            cluster: match &cfg.cluster {
                Some(c) => Some(start_cluster(c, &mgmt, base_url).await?),
                None => None,
            },
        };
        if let Some(probes) = probes {
            tokio::spawn(complete_requests(mgmt.clone(), probes));
        }
        let channel_start = engine
            .running()
            .then(|| tokio::spawn(start_channels(mgmt, demo.is_some())));
        Ok(App {
            cfg,
            state,
            kv,
            listener,
            addr,
            live,
            demo,
            channel_start,
            etl,
        })
    }

    /// The ETL scheduler.
    pub fn etl(&self) -> &Arc<Scheduler> {
        &self.etl
    }

    /// The bound HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The effective configuration (with the bound listen address).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The state the HTTP handlers share (the services, access control,
    /// HTTP metrics).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The EPICS (Channel Access and pvAccess) engine, when it runs.
    pub fn epics_engine(&self) -> Option<&EpicsEngine> {
        self.live.as_ref()
    }

    /// Waits until the background start of the archived PVs' channels (and
    /// pending requests) has run.
    pub async fn channels_started(&mut self) {
        if let Some(task) = self.channel_start.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "starting the engine's channels failed");
            }
        }
    }

    /// Serves HTTP until `shutdown` completes, then writes what the engine
    /// and the write buffers hold, consolidates the `consolidateOnShutdown`
    /// stores (bounded by `[etl] shutdown_consolidate_secs`) and flushes
    /// the database.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), AppError> {
        let App {
            state,
            kv,
            listener,
            live,
            demo,
            etl,
            cfg,
            ..
        } = self;
        let store = state.mgmt.store.clone();
        let sched = etl.clone();
        let etl_loop = cfg.etl.enabled.then(|| {
            crate::etl::schedule::spawn(
                etl,
                crate::etl::system_clock(cfg.etl.clock_offset_secs),
                std::time::Duration::from_secs(cfg.etl.sync_secs),
            )
        });
        #[cfg(feature = "cluster")]
        let cluster = state.cluster.clone();
        let served = axum::serve(listener, api::app(state))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(AppError::Serve);
        if let Some(l) = etl_loop {
            tokio::task::spawn_blocking(move || l.stop()).await.ok();
        }
        #[cfg(feature = "cluster")]
        if let Some(c) = cluster {
            c.shutdown().await;
        }
        served?;
        tracing::info!("shutting down: writing buffered samples");
        if let Some(e) = &live {
            e.flush_now().await;
        }
        store
            .flush_writes()
            .await
            .map_err(|e| AppError::FinalFlush(e.into()))?;
        if cfg.etl.enabled {
            let budget = std::time::Duration::from_secs(cfg.etl.shutdown_consolidate_secs);
            tokio::task::spawn_blocking(move || {
                crate::etl::consolidate::consolidate_on_shutdown(&sched, budget)
            })
            .await
            .ok();
        }
        drop(demo);
        if let Err(e) = kv.flush() {
            tracing::error!(error = %e, "flushing the index database");
        }
        Ok(())
    }
}

/// The base URL other members and clients use: `[cluster] url` when set,
/// else the bound address.
fn advertised_url(cfg: &Config, addr: SocketAddr) -> String {
    #[cfg(feature = "cluster")]
    if let Some(u) = cfg.cluster.as_ref().and_then(|c| c.url.as_ref()) {
        return u.trim_end_matches('/').to_string();
    }
    let _ = cfg;
    format!("http://{addr}")
}

/// Joins the cluster: registers this member, claims its PVs, publishes
/// its load (engine rates, free space per tier) for placement.
#[cfg(feature = "cluster")]
async fn start_cluster(
    c: &crate::cluster::ClusterConfig,
    mgmt: &Mgmt,
    url: String,
) -> Result<Arc<crate::cluster::Cluster>, AppError> {
    let m = mgmt.clone();
    let load: crate::cluster::LoadFn = Box::new(move || {
        let e = m.engine.metrics();
        let free_bytes = m
            .store
            .tiers()
            .iter()
            .map(|t| (t.name().to_string(), crate::mgmt::free_bytes(t.root())))
            .collect();
        crate::cluster::Load {
            pv_count: m.registry.len() as u64,
            event_rate: e.event_rate,
            storage_rate: e.data_rate,
            free_bytes,
        }
    });
    let cluster = crate::cluster::Cluster::start(c, url, mgmt.appliance_info(), mgmt.registry.names(), load)
        .await
        .map_err(AppError::Cluster)?;
    crate::cluster::moving::recover(&cluster, mgmt).await;
    Ok(cluster)
}

/// Completes archive requests as the engine's workflow reports them.
async fn complete_requests(mgmt: Mgmt, mut probes: mpsc::UnboundedReceiver<ProbeResult>) {
    while let Some(p) = probes.recv().await {
        let pv = p.pv.clone();
        if let Err(e) = mgmt.complete_request(p).await {
            tracing::error!(pv = %pv, error = %e, "archive request could not be completed");
        }
    }
}

/// Starts the channels of archived PVs and the pending requests; then, for
/// the demo, archives the demo PVs not yet known.
async fn start_channels(mgmt: Mgmt, demo: bool) {
    mgmt.start_engine_channels().await;
    if demo {
        let ca = crate::engine::demo::names().into_iter().map(|n| (n, ""));
        let pva = crate::engine::pva::demo::names()
            .into_iter()
            .map(|n| (n, "pva://"));
        let reqs: Vec<ArchiveParams> = ca
            .chain(pva)
            .filter(|(n, _)| !mgmt.registry.contains(n))
            .map(|(n, scheme)| ArchiveParams {
                pv: format!("{scheme}{n}"),
                ..Default::default()
            })
            .collect();
        if let Err(e) = mgmt.archive(reqs).await {
            tracing::error!(error = %e, "archiving the demo PVs");
        }
    }
}
