//! The PV registry in sled: PVTypeInfo records (Java JSON form), compact
//! per-name records for fast listing and reports, aliases, pending
//! archive requests and named flags ([`flags`]). Every write is flushed
//! before the call returns.
//!
//! Names, aliases and requests are also cached in memory (sorted), so
//! listings, glob/regex matches and counts never touch the database.
//! Knows nothing of storage paths.

pub mod flags;
mod load;
pub mod metainfo;
mod migrate;
mod snapshot;
pub mod typeinfo;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};

pub use flags::NamedFlags;
pub use migrate::{REGISTRY_SCHEMA_KEY, REGISTRY_SCHEMA_VERSION};
pub use typeinfo::{PvTypeInfo, SamplingMethod, TypeInfoError};

use crate::index::entry::encode;
use crate::index::{Batch, KvError, KvStore, KvTree};

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The key-value store failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// A stored record does not decode.
    #[error("registry record of {pv}: {reason}")]
    Corrupt {
        /// PV.
        pv: String,
        /// Why.
        reason: String,
    },
    /// The alias name is a PV with its own record.
    #[error("{alias} is a PV with its own PVTypeInfo")]
    AliasIsPv {
        /// The alias asked for.
        alias: String,
    },
    /// The alias would name itself.
    #[error("{alias}: an alias cannot name itself")]
    SelfAlias {
        /// The alias asked for.
        alias: String,
    },
    /// Written by a newer strata.
    #[error("registry schema version {found} is newer than supported ({supported})")]
    TooNew {
        /// On disk.
        found: u32,
        /// Known.
        supported: u32,
    },
}

/// Compact per-PV facts kept beside the full record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NameRecord {
    /// Paused.
    pub paused: bool,
    /// Payload type number.
    pub dbr_type: i32,
    /// Creation time (Unix millis, 0 if unknown).
    pub created_ms: i64,
    /// Last modification (Unix millis, 0 if unknown).
    pub modified_ms: i64,
}

impl NameRecord {
    fn of(t: &PvTypeInfo) -> Self {
        NameRecord {
            paused: t.paused,
            dbr_type: t.dbr_type.as_i32(),
            created_ms: t.creation_time.map_or(0, |x| x.timestamp_millis()),
            modified_ms: t.modification_time.map_or(0, |x| x.timestamp_millis()),
        }
    }
}

/// A PV waiting in the archive workflow (no PVTypeInfo yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveRequest {
    /// PV name (`.VAL` stripped, prefix removed).
    pub pv: String,
    /// Requested sampling period (s).
    pub sampling_period: Option<f32>,
    /// Requested method.
    pub sampling_method: Option<String>,
    /// Requested policy.
    pub policy: Option<String>,
    /// Controlling PV.
    pub controlling_pv: Option<String>,
    /// Archive over pvAccess (`pva://` prefix).
    pub use_pva: bool,
    /// When requested (Unix millis).
    pub requested_ms: i64,
}

/// Numbers kept by the in-memory caches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// PVs with a record.
    pub pvs: usize,
    /// Of which paused.
    pub paused: usize,
    /// Pending archive requests.
    pub requests: usize,
}

#[derive(Default)]
struct Cache {
    names: BTreeMap<String, NameRecord>,
    /// Records of `names` with `paused` set.
    paused: usize,
    aliases: BTreeMap<String, String>,
    requests: BTreeMap<String, ArchiveRequest>,
}

impl Cache {
    fn insert_name(&mut self, name: String, rec: NameRecord) {
        if rec.paused {
            self.paused += 1;
        }
        if self.names.insert(name, rec).is_some_and(|old| old.paused) {
            self.paused -= 1;
        }
    }

    fn remove_name(&mut self, name: &str) {
        if self.names.remove(name).is_some_and(|old| old.paused) {
            self.paused -= 1;
        }
    }
}

/// The registry.
pub struct Registry {
    pvs: Arc<dyn KvTree>,
    names: Arc<dyn KvTree>,
    aliases: Arc<dyn KvTree>,
    requests: Arc<dyn KvTree>,
    meta: Arc<dyn KvTree>,
    cache: RwLock<Cache>,
    /// Serializes writes of records, so the cache follows the trees in order.
    writes: Mutex<()>,
    /// Not fully opened yet, or a record write failed part-way: the cache
    /// may differ from the trees, so no snapshot is written at close.
    diverged: AtomicBool,
    /// Another registry was open when this one opened.
    overlapped: bool,
    /// [`OVERLAPS`] when this registry opened.
    overlaps_at_open: u64,
}

/// Registries open in this process.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Bumped whenever a registry opens while another is open. A registry whose
/// lifetime overlapped another's (perhaps over the same database, writing
/// what this one's cache does not hold) writes no snapshot.
static OVERLAPS: AtomicU64 = AtomicU64::new(0);

fn corrupt(pv: &str, reason: impl ToString) -> RegistryError {
    RegistryError::Corrupt {
        pv: pv.to_string(),
        reason: reason.to_string(),
    }
}

impl Registry {
    /// Opens the registry trees in `kv`, migrates, and loads the caches.
    pub fn open(kv: &dyn KvStore) -> Result<Self, RegistryError> {
        let (pvs, names, aliases) = (kv.tree("pvs")?, kv.tree("pv_names")?, kv.tree("aliases")?);
        let (requests, meta) = (kv.tree("archive_requests")?, kv.tree("meta")?);
        let overlapped = LIVE.fetch_add(1, Ordering::SeqCst) > 0;
        if overlapped {
            OVERLAPS.fetch_add(1, Ordering::SeqCst);
        }
        // From here on, dropping `r` (also on error) accounts for LIVE.
        let r = Registry {
            pvs,
            names,
            aliases,
            requests,
            meta,
            cache: RwLock::new(Cache::default()),
            writes: Mutex::new(()),
            diverged: AtomicBool::new(true),
            overlapped,
            overlaps_at_open: OVERLAPS.load(Ordering::SeqCst),
        };
        let migrated = migrate::run(&r)?;
        let t = std::time::Instant::now();
        let snap = snapshot::take(r.meta.as_ref())?.filter(|_| !migrated);
        let source = if snap.is_some() { "snapshot" } else { "scan" };
        let names = match snap {
            Some(names) => names,
            None => load::names(r.names.as_ref())?,
        };
        tracing::info!(
            pvs = names.len(),
            source,
            ms = t.elapsed().as_millis() as u64,
            "registry names loaded"
        );
        let mut c = Cache {
            names,
            ..Cache::default()
        };
        c.paused = c.names.values().filter(|n| n.paused).count();
        for item in r.aliases.scan_prefix(b"") {
            let (k, v) = item?;
            c.aliases.insert(
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            );
        }
        for item in r.requests.scan_prefix(b"") {
            let (k, v) = item?;
            let name = String::from_utf8_lossy(&k).into_owned();
            let req: ArchiveRequest = serde_json::from_slice(&v).map_err(|e| corrupt(&name, e))?;
            c.requests.insert(name, req);
        }
        *r.cache.write().unwrap_or_else(|p| p.into_inner()) = c;
        r.diverged.store(false, Ordering::SeqCst);
        Ok(r)
    }

    fn read(&self) -> RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn flush(&self) -> Result<(), RegistryError> {
        // One sled flush persists every tree of the database.
        self.pvs.flush()?;
        Ok(())
    }

    /// The record of `pv` (real name).
    pub fn get(&self, pv: &str) -> Result<Option<PvTypeInfo>, RegistryError> {
        match self.pvs.get(pv.as_bytes())? {
            None => Ok(None),
            Some(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(pv, e))?;
                Ok(Some(PvTypeInfo::from_json(&v).map_err(|e| corrupt(pv, e))?))
            }
        }
    }

    /// Compact facts of `pv`, from memory.
    pub fn name_record(&self, pv: &str) -> Option<NameRecord> {
        self.read().names.get(pv).copied()
    }

    /// True if `pv` has a record.
    pub fn contains(&self, pv: &str) -> bool {
        self.read().names.contains_key(pv)
    }

    /// Number of PVs with a record.
    pub fn len(&self) -> usize {
        self.read().names.len()
    }

    /// Numbers of PVs, paused PVs and pending requests, from memory.
    pub fn counts(&self) -> Counts {
        let c = self.read();
        Counts {
            pvs: c.names.len(),
            paused: c.paused,
            requests: c.requests.len(),
        }
    }

    /// True if there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores one record (insert or replace), flushed.
    pub fn put(&self, t: &PvTypeInfo) -> Result<(), RegistryError> {
        self.put_many(std::slice::from_ref(t))
    }

    /// Stores many records in one batch per tree, flushed once.
    pub fn put_many(&self, items: &[PvTypeInfo]) -> Result<(), RegistryError> {
        let _w = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        let r = self.put_many_locked(items);
        if r.is_err() {
            self.diverged.store(true, Ordering::Relaxed);
        }
        r
    }

    fn put_many_locked(&self, items: &[PvTypeInfo]) -> Result<(), RegistryError> {
        let mut pvs = Batch::new();
        let mut names = Batch::new();
        let mut recs = Vec::with_capacity(items.len());
        for t in items {
            let json = serde_json::to_vec(&serde_json::Value::Object(t.to_json()))
                .map_err(|e| corrupt(&t.pv_name, e))?;
            pvs.put(t.pv_name.as_bytes().to_vec(), json);
            let rec = NameRecord::of(t);
            names.put(t.pv_name.as_bytes().to_vec(), encode(&rec));
            recs.push((t.pv_name.clone(), rec));
        }
        let mut done_requests = Batch::new();
        {
            let c = self.read();
            for (n, _) in &recs {
                if c.requests.contains_key(n) {
                    done_requests.delete(n.as_bytes().to_vec());
                }
            }
        }
        self.pvs.apply_batch(&pvs)?;
        self.names.apply_batch(&names)?;
        self.requests.apply_batch(&done_requests)?;
        self.flush()?;
        let mut c = self.cache.write().unwrap_or_else(|p| p.into_inner());
        for (n, r) in recs {
            c.requests.remove(&n);
            c.insert_name(n, r);
        }
        Ok(())
    }

    /// Removes the record of `pv` (aliases pointing to it too), flushed.
    pub fn delete(&self, pv: &str) -> Result<bool, RegistryError> {
        let _w = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        let r = self.delete_locked(pv);
        if r.is_err() {
            self.diverged.store(true, Ordering::Relaxed);
        }
        r
    }

    fn delete_locked(&self, pv: &str) -> Result<bool, RegistryError> {
        let existed = self.contains(pv);
        self.pvs.remove(pv.as_bytes())?;
        self.names.remove(pv.as_bytes())?;
        let dangling: Vec<String> = self
            .read()
            .aliases
            .iter()
            .filter(|(_, real)| *real == pv)
            .map(|(a, _)| a.clone())
            .collect();
        for a in &dangling {
            self.aliases.remove(a.as_bytes())?;
        }
        self.flush()?;
        let mut c = self.cache.write().unwrap_or_else(|p| p.into_inner());
        c.remove_name(pv);
        for a in dangling {
            c.aliases.remove(&a);
        }
        Ok(existed)
    }

    /// All PV names with a record, sorted.
    pub fn names(&self) -> Vec<String> {
        self.read().names.keys().cloned().collect()
    }

    /// Calls `f` for every `(name, record)` in order until it returns false.
    pub fn for_each_name(&self, mut f: impl FnMut(&str, &NameRecord) -> bool) {
        for (k, v) in self.read().names.iter() {
            if !f(k, v) {
                break;
            }
        }
    }

    /// Calls `f` for names starting with `prefix`, in order, until it returns false.
    pub fn for_each_with_prefix(&self, prefix: &str, mut f: impl FnMut(&str, &NameRecord) -> bool) {
        let c = self.read();
        for (k, v) in c.names.range(prefix.to_string()..) {
            if !k.starts_with(prefix) || !f(k, v) {
                break;
            }
        }
    }

    /// Resolves an alias to its PV (other names unchanged).
    pub fn resolve(&self, name: &str) -> String {
        self.read()
            .aliases
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    /// Target of alias `name`.
    pub fn alias_target(&self, name: &str) -> Option<String> {
        self.read().aliases.get(name).cloned()
    }

    /// Adds alias `alias` → `pv`, flushed.
    pub fn add_alias(&self, alias: &str, pv: &str) -> Result<(), RegistryError> {
        if alias == pv {
            return Err(RegistryError::SelfAlias {
                alias: alias.to_string(),
            });
        }
        if self.contains(alias) {
            return Err(RegistryError::AliasIsPv {
                alias: alias.to_string(),
            });
        }
        self.aliases.insert(alias.as_bytes(), pv.as_bytes())?;
        self.flush()?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .insert(alias.to_string(), pv.to_string());
        Ok(())
    }

    /// Removes alias `alias` (if it points to `pv`), flushed.
    pub fn remove_alias(&self, alias: &str, pv: &str) -> Result<bool, RegistryError> {
        if self.alias_target(alias).as_deref() != Some(pv) {
            return Ok(false);
        }
        self.aliases.remove(alias.as_bytes())?;
        self.flush()?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .aliases
            .remove(alias);
        Ok(true)
    }

    /// All `(alias, pv)` pairs, sorted by alias.
    pub fn aliases(&self) -> Vec<(String, String)> {
        self.read()
            .aliases
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect()
    }

    /// Records a pending archive request, flushed.
    pub fn add_request(&self, req: &ArchiveRequest) -> Result<(), RegistryError> {
        let bytes = serde_json::to_vec(req).map_err(|e| corrupt(&req.pv, e))?;
        self.requests.insert(req.pv.as_bytes(), &bytes)?;
        self.flush()?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .requests
            .insert(req.pv.clone(), req.clone());
        Ok(())
    }

    /// Removes a pending archive request, flushed.
    pub fn remove_request(&self, pv: &str) -> Result<bool, RegistryError> {
        let existed = self.read().requests.contains_key(pv);
        if existed {
            self.requests.remove(pv.as_bytes())?;
            self.flush()?;
            self.cache
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .requests
                .remove(pv);
        }
        Ok(existed)
    }

    /// The pending request for `pv`.
    pub fn request(&self, pv: &str) -> Option<ArchiveRequest> {
        self.read().requests.get(pv).cloned()
    }

    /// All pending requests, sorted by PV.
    pub fn requests(&self) -> Vec<ArchiveRequest> {
        self.read().requests.values().cloned().collect()
    }

    pub(crate) fn trees(&self) -> (&dyn KvTree, &dyn KvTree, &dyn KvTree) {
        (self.pvs.as_ref(), self.names.as_ref(), self.meta.as_ref())
    }
}

impl Drop for Registry {
    /// Leaves a snapshot of the name records for a fast next open.
    fn drop(&mut self) {
        let others = LIVE.fetch_sub(1, Ordering::SeqCst) - 1;
        let alone =
            !self.overlapped && others == 0 && OVERLAPS.load(Ordering::SeqCst) == self.overlaps_at_open;
        if !alone || self.diverged.load(Ordering::SeqCst) {
            return;
        }
        let c = self.read();
        if let Err(e) = snapshot::save(self.meta.as_ref(), &c.names) {
            tracing::warn!(error = %e, "registry snapshot not written; the next open scans");
        }
    }
}

#[cfg(test)]
#[path = "registry_test.rs"]
mod registry_test;
