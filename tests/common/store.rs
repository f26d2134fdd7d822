//! Opening a real store (sled + files) in a temporary directory, through
//! the appliance's own opening path.

use std::path::Path;

use strata::app::Stores;
use strata::index::SledKv;
use strata::storage::{ReconcileReport, StorageConfig, TieredStore};

pub fn config(dir: &Path) -> StorageConfig {
    StorageConfig::under(dir)
}

pub fn open(dir: &Path) -> (TieredStore, ReconcileReport, SledKv) {
    let stores = Stores::open(&config(dir)).unwrap();
    (stores.store, stores.reconciled, stores.kv)
}
