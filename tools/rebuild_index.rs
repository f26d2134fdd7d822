//! `strata-rebuild-index [--data DIR | --config FILE] [--jobs N] [--verify] [--dry-run]`:
//! rebuilds the partition index (and registry records of PVs found on disk)
//! from the tiers' files, or verifies the index against them.
//!
//! Exit status: 0 on success, 1 when `--verify` finds drift, 2 on errors.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use strata::config::Config;
use strata::index::Index;
use strata::rebuild::{self, Scan};
use strata::registry::Registry;

/// Rebuild or verify strata's partition index from the data files.
#[derive(Parser)]
#[command(name = "strata-rebuild-index", version)]
struct Args {
    /// Data folder (tiers and index below it).
    #[arg(long, conflicts_with = "config")]
    data: Option<PathBuf>,
    /// strata configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Parallel readers (default: number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Compare index and disk without writing; exit 1 on any difference.
    #[arg(long)]
    verify: bool,
    /// Scan and report without writing.
    #[arg(long)]
    dry_run: bool,
}

/// Scans with a progress bar on a terminal, log lines otherwise.
fn scan_with_progress(cfg: &Config, jobs: usize) -> Scan {
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} files read ({per_sec}) {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let last_log = Mutex::new(Instant::now());
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        } else if let Ok(mut t) = last_log.lock() {
            if t.elapsed() >= Duration::from_secs(5) {
                eprintln!("strata-rebuild-index: {n} files read");
                *t = Instant::now();
            }
        }
    };
    let s = rebuild::scan(&cfg.storage, jobs, &progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    s
}

fn print_problems(scan: &Scan) {
    for p in &scan.problems {
        match p.offset {
            Some(o) => println!("problem: {} (byte offset {o}): {}", p.path.display(), p.reason),
            None => println!("problem: {}: {}", p.path.display(), p.reason),
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let args = Args::parse();
    let cfg = Config::resolve(args.config.as_deref(), args.data.as_deref())?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let started = Instant::now();
    let scan = scan_with_progress(&cfg, jobs);
    let files = scan.found.len();
    let bytes: u64 = scan.found.iter().map(|f| f.entry.bytes).sum();
    print_problems(&scan);
    if args.dry_run {
        let pvs: std::collections::BTreeSet<&str> = scan.found.iter().map(|f| f.pv.as_str()).collect();
        println!(
            "dry run: {} PVs, {files} files, {bytes} bytes, {} problems, {:.2} s (nothing written)",
            pvs.len(),
            scan.problems.len(),
            started.elapsed().as_secs_f64()
        );
        return Ok(true);
    }
    let kv = strata::app::open_kv(&cfg.storage).with_context(|| {
        format!(
            "opening {} (is strata serve running?)",
            cfg.storage.index_dir.display()
        )
    })?;
    let index = Index::open(&kv)?;
    if args.verify {
        let drift = rebuild::verify(&cfg.storage, &index, &scan)?;
        for d in &drift {
            println!("drift: {} {} {}: {}", d.tier, d.pv, d.path, d.what);
        }
        println!(
            "verify: {files} files on disk, {} differences, {} problems, {:.2} s",
            drift.len(),
            scan.problems.len(),
            started.elapsed().as_secs_f64()
        );
        return Ok(drift.is_empty());
    }
    let registry = Registry::open(&kv)?;
    let report = rebuild::apply(
        &cfg.storage,
        &index,
        &registry,
        &cfg.server.identity,
        scan,
        started,
    )?;
    for pv in &report.registry_created {
        println!("registry: created paused record for {pv}");
    }
    let secs = report.elapsed.as_secs_f64();
    println!(
        "rebuilt: {} PVs, {} files, {} bytes, {} samples, {} problems, {} new registry records, {:.2} s ({:.0} files/s)",
        report.pvs,
        report.files,
        report.bytes,
        report.samples,
        report.problems.len(),
        report.registry_created.len(),
        secs,
        report.files as f64 / secs.max(1e-9)
    );
    Ok(true)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("strata-rebuild-index: {e:#}");
            ExitCode::from(2)
        }
    }
}
