//! `strata`: the appliance binary (CLI, logging, wiring).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use clap::{Parser, Subcommand};
use strata::api::{self, AppState, HttpMetrics};
use strata::config::Config;
use strata::engine::{ArchiveEngine, NullEngine};
use strata::index::SledKv;
use strata::mgmt::policy::Policies;
use strata::registry::Registry;
use strata::retrieval::Retrieval;
use strata::storage::{StoragePlugin, TieredStore};

/// strata: an EPICS archiver compatible with the EPICS Archiver Appliance.
#[derive(Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    /// Log line format on stderr: `text` (colours only on a terminal) or
    /// `json` (one object per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the appliance (HTTP retrieval and management APIs, ingest engine).
    Serve {
        /// Configuration file (TOML); embedded defaults when absent.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder (tiers and index below it); overrides the config.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Listen address, e.g. 127.0.0.1:17665; overrides the config.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Also run an in-process Channel Access server on 127.0.0.1 with
        /// simulated PVs (strata:demo:*) and archive them.
        #[arg(long)]
        demo: bool,
    },
    /// Check a configuration file and print the effective configuration.
    CheckConfig {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data folder override.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

fn load_config(path: Option<&PathBuf>, data: Option<&PathBuf>) -> anyhow::Result<Config> {
    let mut cfg = match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(d) = data {
        cfg.set_data_dir(d);
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Loopback-only Channel Access defaults for variables the operator did not
/// set (read by the CA client and server when they start).
fn ca_loopback_env(demo: bool) {
    let mut defaults = vec![("EPICS_CA_MAX_SEARCH_PERIOD", "60")];
    if demo {
        defaults.extend([
            ("EPICS_CA_AUTO_ADDR_LIST", "NO"),
            ("EPICS_CAS_INTF_ADDR_LIST", "127.0.0.1"),
            ("EPICS_CAS_AUTO_BEACON_ADDR_LIST", "NO"),
            ("EPICS_CAS_BEACON_ADDR_LIST", "127.0.0.1"),
            // strata's own SIGTERM handling flushes and exits first.
            ("EPICS_CAS_DRAIN_GRACE_SECS", "10"),
        ]);
    }
    for (k, v) in defaults {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
}

/// Starts the CA engine (and the demo server); `None` when CA is unavailable.
async fn start_engine(
    cfg: &Config,
    store: &TieredStore,
    demo: bool,
) -> anyhow::Result<(
    Option<strata::engine::ca::CaEngine>,
    Option<strata::engine::demo::DemoServer>,
    tokio::sync::mpsc::UnboundedReceiver<strata::mgmt::ProbeResult>,
)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if !cfg.engine.enabled {
        return Ok((None, None, rx));
    }
    let demo_server = if demo {
        Some(strata::engine::demo::DemoServer::start(0).context("starting the demo CA server")?)
    } else {
        None
    };
    let extra: Vec<std::net::SocketAddr> = demo_server
        .iter()
        .map(|d| std::net::SocketAddr::from(([127, 0, 0, 1], d.port())))
        .collect();
    match strata::engine::ca::CaEngine::start(cfg.engine.clone(), store.clone(), tx, extra).await {
        Ok(e) => Ok((Some(e), demo_server, rx)),
        Err(e) => {
            tracing::error!(error = %e, "Channel Access engine unavailable; archiving is stopped");
            Ok((None, demo_server, rx))
        }
    }
}

async fn serve(cfg: Config, demo: bool) -> anyhow::Result<()> {
    let started = std::time::SystemTime::now();
    std::fs::create_dir_all(&cfg.storage.index_dir)
        .with_context(|| format!("creating {}", cfg.storage.index_dir.display()))?;
    let kv = SledKv::open(&cfg.storage.index_dir).context("opening the index database")?;
    let registry = Arc::new(Registry::open(&kv).context("opening the PV registry")?);
    let (store, report) = TieredStore::open(&cfg.storage, &kv).context("opening storage")?;
    tracing::info!(
        pvs = registry.len(),
        checked_files = report.checked,
        repaired = !report.is_clean(),
        "storage and registry open"
    );
    let tier_names: Vec<String> = cfg.storage.tiers.iter().map(|t| t.name.clone()).collect();
    let policies = Policies::load(cfg.policies.file.as_deref(), &tier_names).context("loading policies")?;
    let (ca, demo_server, mut probes) = start_engine(&cfg, &store, demo).await?;
    let engine: Arc<dyn ArchiveEngine> = match &ca {
        Some(e) => Arc::new(e.clone()),
        None => Arc::new(NullEngine),
    };
    let cfg = Arc::new(cfg);
    let state = AppState {
        retrieval: Retrieval {
            store: store.clone(),
            registry: registry.clone(),
            cfg: cfg.retrieval.clone(),
            engine: Some(engine.clone()),
        },
        store: store.clone(),
        registry,
        engine: engine.clone(),
        policies: Arc::new(RwLock::new(policies)),
        cfg: cfg.clone(),
        started,
        http: Arc::new(HttpMetrics::new()),
    };
    // Archive workflow completions, then the PVs to archive.
    {
        let mgmt = state.mgmt();
        tokio::spawn(async move {
            while let Some(p) = probes.recv().await {
                let pv = p.pv.clone();
                if let Err(e) = mgmt.complete_request(p).await {
                    tracing::error!(pv = %pv, error = %e, "archive request could not be completed");
                }
            }
        });
    }
    if ca.is_some() {
        // Channels start in the background so that the API serves at once,
        // whatever the number of PVs (EAA #260).
        let (state2, engine2) = (state.clone(), engine.clone());
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            let mut started = 0usize;
            let mut names = Vec::new();
            state2.registry.for_each_name(|n, r| {
                if !r.paused {
                    names.push(n.to_string());
                }
                true
            });
            for name in names {
                match state2.registry.get(&name) {
                    Ok(Some(info)) => {
                        if let Err(e) = engine2.start(&info).await {
                            tracing::error!(pv = %name, error = %e, "channel not started");
                        }
                        started += 1;
                        if started % 10_000 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(pv = %name, error = %e, "unreadable registry record"),
                }
            }
            let requests = state2.registry.requests();
            for req in &requests {
                let _ = engine2.request(req).await;
            }
            tracing::info!(
                channels = started,
                pending = requests.len(),
                secs = t.elapsed().as_secs_f64(),
                "engine channels started"
            );
            if demo {
                let reqs: Vec<strata::mgmt::ArchiveParams> = strata::engine::demo::names()
                    .into_iter()
                    .filter(|n| !state2.registry.contains(n))
                    .map(|pv| strata::mgmt::ArchiveParams {
                        pv,
                        ..Default::default()
                    })
                    .collect();
                if let Err(e) = state2.mgmt().archive(reqs).await {
                    tracing::error!(error = %e, "archiving the demo PVs");
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("binding {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, version = strata::VERSION, "serving");
    println!("strata {} listening on http://{addr}", strata::VERSION);
    axum::serve(listener, api::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server")?;
    tracing::info!("shutting down: writing buffered samples");
    if let Some(e) = &ca {
        e.flush_now().await;
    }
    store.flush_writes().await.context("final flush")?;
    drop(demo_server);
    kv_flush(&kv);
    Ok(())
}

fn kv_flush(kv: &SledKv) {
    use strata::index::KvStore;
    if let Err(e) = kv.flush() {
        tracing::error!(error = %e, "flushing the index database");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve {
            config,
            data,
            listen,
            demo,
        } => {
            let mut cfg = load_config(config.as_ref(), data.as_ref())?;
            if let Some(l) = listen {
                cfg.server.listen = l;
            }
            if demo {
                // The demo archives quickly: short sampling and write cycles.
                cfg.engine.initial_sampling_secs = cfg.engine.initial_sampling_secs.min(2.0);
                cfg.engine.write_period = cfg.engine.write_period.min(2.0);
            }
            // Before any thread starts: CA reads these once per process.
            ca_loopback_env(demo);
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(serve(cfg, demo))
        }
        Command::CheckConfig { config, data } => {
            let cfg = load_config(config.as_ref(), data.as_ref())?;
            println!("{}", toml::to_string_pretty(&cfg)?);
            Ok(())
        }
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
