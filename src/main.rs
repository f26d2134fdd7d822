//! `strata`: the appliance binary (CLI, logging, wiring).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use strata::app::{App, EngineChoice};
use strata::config::Config;

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
        /// Also run in-process Channel Access and pvAccess servers on
        /// 127.0.0.1 with simulated PVs (strata:demo:*) and archive them.
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

/// Loopback-only Channel Access and pvAccess defaults for variables the
/// operator did not set (read by the clients and servers when they start).
fn ca_loopback_env(demo: bool) {
    let mut defaults = vec![("EPICS_CA_MAX_SEARCH_PERIOD", "60")];
    if demo {
        defaults.extend([
            ("EPICS_CA_AUTO_ADDR_LIST", "NO"),
            ("EPICS_CAS_INTF_ADDR_LIST", "127.0.0.1"),
            ("EPICS_CAS_AUTO_BEACON_ADDR_LIST", "NO"),
            ("EPICS_CAS_BEACON_ADDR_LIST", "127.0.0.1"),
            // The demo pvAccess server is searched as a TCP name server:
            // no UDP search on the interfaces.
            ("EPICS_PVA_AUTO_ADDR_LIST", "NO"),
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

async fn serve(cfg: Config, demo: bool) -> anyhow::Result<()> {
    let app = App::open(cfg, EngineChoice::Epics { demo }).await?;
    let addr = app.addr();
    tracing::info!(%addr, version = strata::VERSION, "serving");
    println!("strata {} listening on http://{addr}", strata::VERSION);
    app.serve(shutdown_signal()).await?;
    Ok(())
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
            let mut cfg = Config::resolve(config.as_deref(), data.as_deref())?;
            if let Some(l) = listen {
                cfg.server.listen = l;
            }
            if demo {
                // The demo archives quickly: short sampling and write cycles.
                cfg.engine.initial_sampling_secs = cfg.engine.initial_sampling_secs.min(2.0);
                cfg.engine.write_period = cfg.engine.write_period.min(2.0);
                strata::app::demo_layout(&mut cfg)?;
            }
            // Before any thread starts: CA reads these once per process.
            ca_loopback_env(demo);
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(serve(cfg, demo))
        }
        Command::CheckConfig { config, data } => {
            let cfg = Config::resolve(config.as_deref(), data.as_deref())?;
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
