//! Schema migrations on a frozen data folder that schema 1 wrote
//! (`tests/fixtures/schema_v1`, made once by the generator documented in
//! tests/fixtures/README.md): opening it brings the index and the registry
//! to the current schema, and everything the old folder held is served.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata::app::{AppError, Stores};
use strata::index::{KvStore, INDEX_SCHEMA_VERSION, SCHEMA_KEY};
use strata::registry::{REGISTRY_SCHEMA_KEY, REGISTRY_SCHEMA_VERSION};
use strata::storage::StorageConfig;
use strata::types::SampleValue;

/// 2024-03-14 00:00:00 UTC, the fixture's first day.
const DAY0: i64 = 1_710_374_400;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema_v1")
}

/// Copies the frozen fixture: opening a database writes to it.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn schema_of(kv: &dyn KvStore, key: &[u8]) -> u32 {
    let v = kv
        .tree("meta")
        .unwrap()
        .get(key)
        .unwrap()
        .expect("a schema version");
    u32::from_be_bytes(v.as_slice().try_into().unwrap())
}

/// What a migrated schema-1 folder must answer.
fn check(stores: &Stores) {
    assert!(stores.reconciled.is_clean(), "{:?}", stores.reconciled);
    // Registry 2: name records built from the PVTypeInfo JSON.
    assert_eq!(
        stores.registry.names(),
        ["FIX:paused", "FIX:recent", "FIX:scalar"]
    );
    assert!(stores.registry.name_record("FIX:paused").unwrap().paused);
    let scalar = stores.registry.name_record("FIX:scalar").unwrap();
    assert!(!scalar.paused);
    assert_eq!(scalar.created_ms, 1_710_300_000_123);
    // Index 2: per-PV summaries and per-tier totals built from the records.
    let index = stores.store.index();
    let s = stores.store.tiers()[1].summary("FIX:scalar").unwrap().unwrap();
    assert_eq!((s.files, s.samples, s.bytes), (2, 3, 89));
    assert_eq!(s.key, "FIX/scalar:");
    assert_eq!(index.totals(1).unwrap().files, 2);
    assert_eq!(index.totals(0).unwrap().files, 1);
    assert_eq!(index.totals(2).unwrap().files, 0);
    let last = stores.store.last_known_blocking("FIX:scalar").unwrap().unwrap();
    assert_eq!(last.ts().secs, DAY0 + 86_405);
    assert!(matches!(last.value, SampleValue::Double(v) if v == 3.5));
    assert_eq!(schema_of(&stores.kv, SCHEMA_KEY), INDEX_SCHEMA_VERSION);
    assert_eq!(
        schema_of(&stores.kv, REGISTRY_SCHEMA_KEY),
        REGISTRY_SCHEMA_VERSION
    );
}

/// Opens `cfg` once the previous handles have released the database (sled
/// may finish background writes just after a drop).
fn reopen(cfg: &StorageConfig) -> Stores {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Stores::open(cfg) {
            Ok(s) => return s,
            Err(AppError::Kv(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("reopening: {e:?}"),
        }
    }
}

#[test]
fn the_fixture_is_schema_1() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    let kv = strata::index::SledKv::open(&StorageConfig::under(dir.path()).index_dir).unwrap();
    let meta = kv.tree("meta").unwrap();
    assert!(meta.get(SCHEMA_KEY).unwrap().is_none());
    assert!(meta.get(REGISTRY_SCHEMA_KEY).unwrap().is_none());
    assert!(kv.tree("pv_names").unwrap().get(b"FIX:scalar").unwrap().is_none());
    assert!(kv.tree("pvs").unwrap().get(b"FIX:scalar").unwrap().is_some());
    assert!(kv.tree("partitions").unwrap().scan_prefix(b"").next().is_some());
}

#[test]
fn a_schema_1_data_folder_opens_migrated_and_stays_so() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(), dir.path());
    let cfg = StorageConfig::under(dir.path());
    let stores = Stores::open(&cfg).unwrap();
    check(&stores);
    drop(stores);
    // A second open finds the current schema and changes nothing.
    check(&reopen(&cfg));
}
