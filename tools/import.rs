//! `strata-import [--data DIR | --config FILE] [--dry-run] INPUT...`: imports
//! a Java appliance's configuration into strata's registry.
//!
//! Inputs: the JSON of `exportConfig` (`{"pvTypeInfos": [...], "aliases": [...]}`),
//! an array of PVTypeInfo objects or one (`getPVTypeInfo`), an alias list
//! (`getAllAliases`), or a CSV/TSV dump of the MySQL `PVTypeInfo` table
//! (columns `pvName` and `typeInfoJSON`) or `PVAliases` table (`pvName`,
//! `realName`). Java store URLs are mapped to strata's tiers by store name;
//! what cannot be mapped is reported.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde_json::Value;
use strata::config::Config;
use strata::registry::{PvTypeInfo, Registry};

/// Import a Java EPICS Archiver Appliance configuration.
#[derive(Parser)]
#[command(name = "strata-import", version)]
struct Args {
    /// Data folder (index below it).
    #[arg(long, conflicts_with = "config")]
    data: Option<PathBuf>,
    /// strata configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Parse and report without writing.
    #[arg(long)]
    dry_run: bool,
    /// Files to import (JSON, CSV or TSV).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

#[derive(Default)]
struct Imported {
    infos: Vec<PvTypeInfo>,
    aliases: Vec<(String, String)>,
    unmapped: Vec<String>,
    errors: Vec<String>,
}

/// Maps Java store URLs to the configured tiers by `name=`.
fn map_stores(cfg: &Config, info: &mut PvTypeInfo, out: &mut Vec<String>) {
    let mut mapped = Vec::new();
    for url in &info.data_stores {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        let scheme = url.split("://").next().unwrap_or("");
        let name = param("name").unwrap_or("");
        let tier = cfg
            .storage
            .tiers
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name));
        match (scheme, tier) {
            ("pb", Some(t)) => {
                if let Some(g) = param("partitionGranularity") {
                    if !g.eq_ignore_ascii_case(t.granularity.java_name()) {
                        out.push(format!(
                            "{}: store {name} is {g} in Java but {} in strata; files keep their names, new data uses strata's",
                            info.pv_name,
                            t.granularity.java_name()
                        ));
                    }
                }
                mapped.push(format!(
                    "pb://localhost?name={}&rootFolder={}&partitionGranularity={}",
                    t.name,
                    t.root.display(),
                    t.granularity.java_name()
                ));
            }
            _ => out.push(format!("{}: cannot map store {url}", info.pv_name)),
        }
    }
    info.data_stores = mapped;
}

fn add_json(v: &Value, cfg: &Config, imp: &mut Imported, src: &str) {
    match v {
        Value::Array(items) => {
            for it in items {
                add_json(it, cfg, imp, src);
            }
        }
        Value::Object(o) if o.contains_key("pvTypeInfos") || o.contains_key("aliases") => {
            for key in ["pvTypeInfos", "aliases"] {
                if let Some(x) = o.get(key) {
                    add_json(x, cfg, imp, src);
                }
            }
        }
        Value::Object(o) if o.contains_key("aliasName") => {
            match (
                o.get("aliasName").and_then(|x| x.as_str()),
                o.get("srcPVName").and_then(|x| x.as_str()),
            ) {
                (Some(a), Some(p)) => imp.aliases.push((a.to_string(), p.to_string())),
                _ => imp
                    .errors
                    .push(format!("{src}: alias entry without aliasName/srcPVName")),
            }
        }
        Value::Object(_) => match PvTypeInfo::from_json(v) {
            Ok(mut info) => {
                info.appliance_identity = cfg.server.identity.clone();
                map_stores(cfg, &mut info, &mut imp.unmapped);
                imp.infos.push(info);
            }
            Err(e) => imp.errors.push(format!("{src}: {e}")),
        },
        _ => imp.errors.push(format!("{src}: unexpected JSON value")),
    }
}

/// MySQL batch (`-B`) escaping: `\t`, `\n`, `\\`, `\0`.
fn mysql_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn add_table(text: &str, cfg: &Config, imp: &mut Imported, src: &str) -> anyhow::Result<()> {
    let tsv = text.lines().next().is_some_and(|l| l.contains('\t'));
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(if tsv { b'\t' } else { b',' })
        .quoting(!tsv)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr.headers()?.iter().map(|h| h.trim().to_string()).collect();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (pv_col, json_col, real_col) = (col("pvName"), col("typeInfoJSON"), col("realName"));
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{src}: row {}", i + 2))?;
        let field = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .map(|v| if tsv { mysql_unescape(v) } else { v.to_string() })
        };
        if let Some(json) = field(json_col) {
            match serde_json::from_str::<Value>(&json) {
                Ok(v) => add_json(&v, cfg, imp, &format!("{src} row {}", i + 2)),
                Err(e) => imp.errors.push(format!("{src} row {}: typeInfoJSON: {e}", i + 2)),
            }
        } else if let (Some(alias), Some(real)) = (field(pv_col), field(real_col)) {
            imp.aliases.push((alias, real));
        } else {
            imp.errors.push(format!(
                "{src} row {}: needs typeInfoJSON, or pvName and realName",
                i + 2
            ));
        }
    }
    Ok(())
}

fn run() -> anyhow::Result<bool> {
    let args = Args::parse();
    let cfg = Config::resolve(args.config.as_deref(), args.data.as_deref())?;
    let mut imp = Imported::default();
    for path in &args.inputs {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let src = path.display().to_string();
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => add_json(&v, &cfg, &mut imp, &src),
            Err(_) => add_table(&text, &cfg, &mut imp, &src)?,
        }
    }
    for u in &imp.unmapped {
        println!("unmapped: {u}");
    }
    for e in &imp.errors {
        println!("error: {e}");
    }
    if !args.dry_run {
        let kv = strata::app::open_kv(&cfg.storage).with_context(|| {
            format!(
                "opening {} (is strata serve running?)",
                cfg.storage.index_dir.display()
            )
        })?;
        let registry = Registry::open(&kv)?;
        for chunk in imp.infos.chunks(10_000) {
            registry.put_many(chunk)?;
        }
        for (alias, pv) in &imp.aliases {
            if let Err(e) = registry.add_alias(alias, pv) {
                println!("error: alias {alias} -> {pv}: {e}");
            }
        }
    }
    println!(
        "{}imported {} PVTypeInfos and {} aliases; {} store URLs not mapped; {} errors",
        if args.dry_run { "dry run: " } else { "" },
        imp.infos.len(),
        imp.aliases.len(),
        imp.unmapped.len(),
        imp.errors.len()
    );
    Ok(imp.errors.is_empty())
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("strata-import: {e:#}");
            ExitCode::from(2)
        }
    }
}
