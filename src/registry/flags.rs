//! Named flags: operator switches by name (Java `getNamedFlag` /
//! `setNamedFlag`), persisted in sled (Java keeps them in memory only, so a
//! restart cleared them) and cached in memory for the ETL and retrieval
//! checks that read them per stage and per store.
//!
//! Java semantics kept: an unknown flag is false, and the names `true` and
//! `false` (any case) are constants, so a store URL can say
//! `etlIntoStoreIf=true`. Flags in use: `SKIP_<store>_FOR_ETL`,
//! `SKIP_<store>_FOR_RETRIEVAL`, and the names in `etlIntoStoreIf` /
//! `etlOutofStoreIf`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::RegistryError;
use crate::index::{KvStore, KvTree};

const TREE: &str = "named_flags";

/// The named flags.
pub struct NamedFlags {
    tree: Arc<dyn KvTree>,
    cache: RwLock<BTreeMap<String, bool>>,
}

impl NamedFlags {
    /// Opens (creating) the flags in `kv` and loads them.
    pub fn open(kv: &dyn KvStore) -> Result<Self, RegistryError> {
        let tree = kv.tree(TREE)?;
        let mut cache = BTreeMap::new();
        for item in tree.scan_prefix(b"") {
            let (k, v) = item?;
            let name = String::from_utf8(k).map_err(|_| RegistryError::Corrupt {
                pv: "(named flags)".into(),
                reason: "a flag name is not UTF-8".into(),
            })?;
            cache.insert(name, v.first() == Some(&1));
        }
        Ok(NamedFlags {
            tree,
            cache: RwLock::new(cache),
        })
    }

    /// Value of flag `name`: false when unknown; `true`/`false` are constants.
    pub fn get(&self, name: &str) -> bool {
        if name.eq_ignore_ascii_case("true") {
            return true;
        }
        if name.eq_ignore_ascii_case("false") {
            return false;
        }
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
            .unwrap_or(false)
    }

    /// Sets flag `name`, durably (flushed before returning).
    pub fn set(&self, name: &str, value: bool) -> Result<(), RegistryError> {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        self.tree.insert(name.as_bytes(), &[u8::from(value)])?;
        self.tree.flush()?;
        cache.insert(name.to_string(), value);
        Ok(())
    }

    /// Every flag ever set, by name.
    pub fn all(&self) -> BTreeMap<String, bool> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Java's `Boolean.parseBoolean`: `true` in any case, anything else false.
pub fn parse_java_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{MemKv, SledKv};

    #[test]
    fn flags_follow_java_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let kv = SledKv::open(&dir.path().join("db")).unwrap();
            let f = NamedFlags::open(&kv).unwrap();
            assert!(!f.get("SKIP_MTS_FOR_ETL"));
            assert!(f.get("TRUE") && !f.get("False"));
            f.set("SKIP_MTS_FOR_ETL", true).unwrap();
            f.set("intoLTS", parse_java_bool("yes")).unwrap();
            f.set("true", false).unwrap();
            assert!(f.get("SKIP_MTS_FOR_ETL") && !f.get("intoLTS"));
            // The constant wins over a flag that happens to be named "true".
            assert!(f.get("true"));
        }
        let kv = SledKv::open(&dir.path().join("db")).unwrap();
        let f = NamedFlags::open(&kv).unwrap();
        assert!(f.get("SKIP_MTS_FOR_ETL"));
        let all = f.all();
        assert_eq!(all.len(), 3);
        assert_eq!(all.get("intoLTS"), Some(&false));
        // Names are case-sensitive (Java map keys).
        assert!(!f.get("skip_mts_for_etl"));
        f.set("SKIP_MTS_FOR_ETL", false).unwrap();
        assert!(!f.get("SKIP_MTS_FOR_ETL"));
        assert!(NamedFlags::open(&MemKv::new()).unwrap().all().is_empty());
    }
}
