//! Fuzzing the index rebuild (`strata-rebuild-index`) over trees of
//! mutated PlainPB files with plausible and odd names. Property: never a
//! panic or hang; every `.pb` file is either indexed or reported as a
//! problem, exactly once; applying the scan succeeds and a verify of the
//! result finds no drift. A final run of the real tool over a mutated
//! tree exits normally and reports each skipped file.
//!
//! `STRATA_FUZZ_CASES=1000000 cargo test --release --test fuzz_rebuild`
//! is the long mode; `cargo test` runs a quick share.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use common::fuzz::{self, mutate, mutations, pb_file, Mutation};
use proptest::prelude::*;
use strata::index::{Index, MemKv};
use strata::plainpb::{partition_path, pv_key};
use strata::rebuild;
use strata::registry::Registry;
use strata::storage::StorageConfig;
use strata::types::ArchDbType;

const T0: i64 = 1_710_495_000;
const PVS: &[&str] = &["FZ:a", "FZ:b-c", "LN-AM{RadMon:2}DoseRate-I", "x"];

/// Where a file goes: a tier and either its proper partition path or an
/// odd relative name.
#[derive(Debug, Clone)]
enum Name {
    Partition { pv: usize, offset: i64 },
    Odd(String),
}

#[derive(Debug, Clone)]
struct File {
    tier: usize,
    name: Name,
    ty: usize,
    header_pv: usize,
    /// Samples start this many seconds from T0 (another year sometimes).
    start: i64,
    muts: Vec<Mutation>,
}

fn file() -> impl Strategy<Value = File> {
    let name = prop_oneof![
        4 => (0..PVS.len(), -400_000_000i64..400_000_000).prop_map(|(pv, offset)| Name::Partition { pv, offset }),
        1 => prop::sample::select(&[
            "a.pb", ":.pb", "a/b:.pb", "a:2024.pb", "a:2024_13_45_99.pb", "deep/er/x:2024_03_15_09.pb",
            "x:2024_03_15.pb", "x:abc.pb", "é/ü:2024_03_15_09.pb", "x:2024_03_15_09.pb.pb", "not-pb.txt",
        ][..])
        .prop_map(|s| Name::Odd(s.to_string())),
    ];
    (
        0..3usize,
        name,
        0..ArchDbType::ALL.len(),
        0..PVS.len(),
        prop_oneof![Just(0i64), -40_000_000i64..40_000_000],
        mutations(5),
    )
        .prop_map(|(tier, name, ty, header_pv, start, muts)| File {
            tier,
            name,
            ty,
            header_pv,
            start,
            muts,
        })
}

fn tree(cfg: &StorageConfig, files: &[File]) -> BTreeSet<PathBuf> {
    let mut written = BTreeSet::new();
    for f in files {
        let tier = &cfg.tiers[f.tier];
        let path = match &f.name {
            Name::Partition { pv, offset } => {
                partition_path(&tier.root, &pv_key(PVS[*pv]), tier.granularity, T0 + offset)
            }
            Name::Odd(rel) => tier.root.join(rel),
        };
        let body = pb_file(ArchDbType::ALL[f.ty], PVS[f.header_pv], T0 + f.start, 6);
        let body = mutate(&body, &f.muts);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&path, &body).unwrap();
        if path.to_string_lossy().ends_with(".pb") {
            written.insert(path);
        }
    }
    written
}

fn config(root: &Path) -> StorageConfig {
    StorageConfig::under(root)
}

fn check(files: Vec<File>, root: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(root);
    let cfg = config(root);
    for t in &cfg.tiers {
        std::fs::create_dir_all(&t.root).unwrap();
    }
    let on_disk = tree(&cfg, &files);
    let scan = rebuild::scan(&cfg, 1, &|_| {});
    let mut seen = BTreeSet::new();
    for f in &scan.found {
        let p = cfg.tiers[f.tier as usize].root.join(&f.entry.path);
        if !seen.insert(p.clone()) {
            return Err(format!("{} indexed twice", p.display()));
        }
    }
    for p in &scan.problems {
        if p.reason.is_empty() {
            return Err(format!("{}: a problem without a reason", p.path.display()));
        }
        if !seen.insert(p.path.clone()) {
            return Err(format!("{} both indexed and reported", p.path.display()));
        }
    }
    if seen != on_disk {
        return Err(format!("files on disk {on_disk:?}, accounted for {seen:?}"));
    }
    let kv = MemKv::new();
    let index = Index::open(&kv).map_err(|e| e.to_string())?;
    let registry = Registry::open(&kv).map_err(|e| e.to_string())?;
    let found = scan.found.len();
    let scan_again = rebuild::scan(&cfg, 1, &|_| {});
    let report = rebuild::apply(&cfg, &index, &registry, "appliance0", scan, Instant::now())
        .map_err(|e| format!("{e:#}"))?;
    if report.files as usize != found {
        return Err(format!("{} files indexed of {found} found", report.files));
    }
    let drift = rebuild::verify(&cfg, &index, &scan_again).map_err(|e| format!("{e:#}"))?;
    if !drift.is_empty() {
        return Err(format!("drift right after a rebuild: {drift:?}"));
    }
    Ok(())
}

fn scratch() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(fuzz::scratch_dir)
}

#[test]
fn fuzz_rebuild_over_mutated_trees() {
    let root = scratch().path().join("tree");
    fuzz::run("rebuild", 400, prop::collection::vec(file(), 1..6), |files| {
        check(files, &root)
    });
}

#[test]
fn the_tool_reports_every_damaged_file_and_exits_normally() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let files = fuzz::sample(prop::collection::vec(file(), 60..61), &mut runner);
    let on_disk = tree(&cfg, &files);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata-rebuild-index"))
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scan = rebuild::scan(&cfg, 1, &|_| {});
    assert_eq!(scan.found.len() + scan.problems.len(), on_disk.len());
    for p in &scan.problems {
        assert!(
            stdout.contains(&format!("problem: {}", p.path.display())),
            "{} not reported:\n{stdout}",
            p.path.display()
        );
    }
    assert!(
        stdout.contains(&format!("{} files", scan.found.len())),
        "{stdout}"
    );
}
