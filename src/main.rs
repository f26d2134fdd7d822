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
    #[command(subcommand)]
    command: Command,
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

async fn serve(cfg: Config) -> anyhow::Result<()> {
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
    let engine: Arc<dyn ArchiveEngine> = Arc::new(NullEngine);
    let cfg = Arc::new(cfg);
    let state = AppState {
        retrieval: Retrieval {
            store: store.clone(),
            registry: registry.clone(),
            cfg: cfg.retrieval.clone(),
        },
        store: store.clone(),
        registry,
        engine,
        policies: Arc::new(RwLock::new(policies)),
        cfg: cfg.clone(),
        started,
        http: Arc::new(HttpMetrics::new()),
    };
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
    store.flush_writes().await.context("final flush")?;
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve { config, data, listen } => {
            let mut cfg = load_config(config.as_ref(), data.as_ref())?;
            if let Some(l) = listen {
                cfg.server.listen = l;
            }
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(serve(cfg))
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
