//! Opening a real store (sled + files) in a temporary directory.

use std::path::Path;

use strata::index::SledKv;
use strata::storage::{ReconcileReport, StorageConfig, TieredStore};

pub fn config(dir: &Path) -> StorageConfig {
    StorageConfig::under(dir)
}

pub fn open(dir: &Path) -> (TieredStore, ReconcileReport, SledKv) {
    let cfg = config(dir);
    let kv = SledKv::open(&cfg.index_dir).unwrap();
    let (store, report) = TieredStore::open(&cfg, &kv).unwrap();
    (store, report, kv)
}
