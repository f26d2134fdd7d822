//! The key-value boundary: every use of sled goes through [`KvStore`] and
//! [`KvTree`], so another ordered store (redb, fjall) can replace sled by
//! implementing these two traits in one file.
//!
//! Keys compare as bytes (big-endian encodings keep numeric order).
//! [`MemKv`] is an in-memory implementation for unit tests.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// A key-value operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// The backend reported an error.
    #[error("key-value store {path}: {message}")]
    Backend {
        /// Database location.
        path: PathBuf,
        /// Backend message.
        message: String,
    },
    /// A stored value could not be decoded.
    #[error("corrupt record in tree {tree}: {message}")]
    Corrupt {
        /// Tree name.
        tree: String,
        /// What was wrong.
        message: String,
    },
}

/// One key/value pair.
pub type KvPair = (Vec<u8>, Vec<u8>);
/// Iterator over pairs in key order (or reverse).
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvPair, KvError>> + Send + 'a>;

/// Writes applied atomically by [`KvTree::apply_batch`].
#[derive(Debug, Default, Clone)]
pub struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `key` to `value`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), Some(value.into())));
    }
    /// Removes `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }
    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    /// The operations in order.
    pub fn ops(&self) -> &[(Vec<u8>, Option<Vec<u8>>)] {
        &self.ops
    }
}

/// An ordered map of byte keys to byte values.
pub trait KvTree: Send + Sync {
    /// Value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Sets `key`.
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), KvError>;
    /// Removes `key`.
    fn remove(&self, key: &[u8]) -> Result<(), KvError>;
    /// Pairs in `[start, end]` bounds, ascending or descending.
    fn range<'a>(&'a self, start: Bound<&[u8]>, end: Bound<&[u8]>, reverse: bool) -> KvIter<'a>;
    /// Applies all operations of `batch` atomically, in order.
    fn apply_batch(&self, batch: &Batch) -> Result<(), KvError>;
    /// Persists everything written so far.
    fn flush(&self) -> Result<(), KvError>;
    /// Removes every key.
    fn clear(&self) -> Result<(), KvError>;

    /// Pairs whose key starts with `prefix`, ascending.
    fn scan_prefix<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        match prefix_end(prefix) {
            Some(end) => self.range(Bound::Included(prefix), Bound::Excluded(&end), false),
            None => self.range(Bound::Included(prefix), Bound::Unbounded, false),
        }
    }
}

/// The smallest key greater than every key with this prefix (`None` if the
/// prefix is all `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A database of named trees.
pub trait KvStore: Send + Sync {
    /// Opens (creating) the tree `name`.
    fn tree(&self, name: &str) -> Result<Arc<dyn KvTree>, KvError>;
    /// Persists all trees.
    fn flush(&self) -> Result<(), KvError>;
    /// Where the database lives (for messages).
    fn location(&self) -> &Path;
}

/// How long opening waits for the folder's lock to be released.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// sled behind the traits. Opened with a bounded page cache.
pub struct SledKv {
    db: sled::Db,
    path: PathBuf,
}

/// sled's page cache size used by strata (sled's default is 1 GiB).
pub const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

impl SledKv {
    /// Opens or creates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, KvError> {
        // The folder's lock is held until the previous holder is fully
        // closed; sled's flusher thread of a handle just dropped in this
        // process (a reopen) can hold it for a moment. Another process
        // holding it still fails, after the wait.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            let r = sled::Config::new()
                .path(path)
                .cache_capacity(SLED_CACHE_BYTES)
                .flush_every_ms(Some(500))
                .open();
            match r {
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => {
                    break r.map_err(|e| KvError::Backend {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    })?
                }
            }
        };
        Ok(SledKv {
            db,
            path: path.to_path_buf(),
        })
    }
}

struct SledTree {
    tree: sled::Tree,
    path: PathBuf,
}

impl SledTree {
    fn err(&self, e: sled::Error) -> KvError {
        KvError::Backend {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}

fn sled_bound(b: Bound<&[u8]>) -> Bound<sled::IVec> {
    match b {
        Bound::Included(k) => Bound::Included(sled::IVec::from(k)),
        Bound::Excluded(k) => Bound::Excluded(sled::IVec::from(k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl KvTree for SledTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.err(e))
    }
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.tree.insert(key, value).map(|_| ()).map_err(|e| self.err(e))
    }
    fn remove(&self, key: &[u8]) -> Result<(), KvError> {
        self.tree.remove(key).map(|_| ()).map_err(|e| self.err(e))
    }
    fn range<'a>(&'a self, start: Bound<&[u8]>, end: Bound<&[u8]>, reverse: bool) -> KvIter<'a> {
        let r = self
            .tree
            .range::<sled::IVec, _>((sled_bound(start), sled_bound(end)));
        let path = self.path.clone();
        let map = move |item: Result<(sled::IVec, sled::IVec), sled::Error>| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(|e| KvError::Backend {
                    path: path.clone(),
                    message: e.to_string(),
                })
        };
        if reverse {
            Box::new(r.rev().map(map))
        } else {
            Box::new(r.map(map))
        }
    }
    fn apply_batch(&self, batch: &Batch) -> Result<(), KvError> {
        let mut b = sled::Batch::default();
        for (k, v) in &batch.ops {
            match v {
                Some(v) => b.insert(k.as_slice(), v.as_slice()),
                None => b.remove(k.as_slice()),
            }
        }
        self.tree.apply_batch(b).map_err(|e| self.err(e))
    }
    fn flush(&self) -> Result<(), KvError> {
        self.tree.flush().map(|_| ()).map_err(|e| self.err(e))
    }
    fn clear(&self) -> Result<(), KvError> {
        self.tree.clear().map_err(|e| self.err(e))
    }
}

impl KvStore for SledKv {
    fn tree(&self, name: &str) -> Result<Arc<dyn KvTree>, KvError> {
        let tree = self.db.open_tree(name).map_err(|e| KvError::Backend {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        Ok(Arc::new(SledTree {
            tree,
            path: self.path.clone(),
        }))
    }
    fn flush(&self) -> Result<(), KvError> {
        self.db.flush().map(|_| ()).map_err(|e| KvError::Backend {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }
    fn location(&self) -> &Path {
        &self.path
    }
}

/// In-memory store for unit tests.
#[derive(Default)]
pub struct MemKv {
    trees: RwLock<BTreeMap<String, Arc<MemTree>>>,
    path: PathBuf,
}

impl MemKv {
    /// An empty store.
    pub fn new() -> Self {
        MemKv {
            trees: RwLock::new(BTreeMap::new()),
            path: PathBuf::from(":memory:"),
        }
    }
}

/// One in-memory tree.
#[derive(Default)]
pub struct MemTree {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

fn poisoned() -> KvError {
    KvError::Backend {
        path: PathBuf::from(":memory:"),
        message: "lock poisoned".into(),
    }
}

impl KvTree for MemTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.map.read().map_err(|_| poisoned())?.get(key).cloned())
    }
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.map
            .write()
            .map_err(|_| poisoned())?
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn remove(&self, key: &[u8]) -> Result<(), KvError> {
        self.map.write().map_err(|_| poisoned())?.remove(key);
        Ok(())
    }
    fn range<'a>(&'a self, start: Bound<&[u8]>, end: Bound<&[u8]>, reverse: bool) -> KvIter<'a> {
        let own = |b: Bound<&[u8]>| match b {
            Bound::Included(k) => Bound::Included(k.to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let (s, e) = (own(start), own(end));
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) = (&s, &e) {
            if a > b {
                return Box::new(std::iter::empty());
            }
        }
        let items: Vec<KvPair> = match self.map.read() {
            Ok(m) => m.range((s, e)).map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => return Box::new(std::iter::once(Err(poisoned()))),
        };
        if reverse {
            Box::new(items.into_iter().rev().map(Ok))
        } else {
            Box::new(items.into_iter().map(Ok))
        }
    }
    fn apply_batch(&self, batch: &Batch) -> Result<(), KvError> {
        let mut m = self.map.write().map_err(|_| poisoned())?;
        for (k, v) in &batch.ops {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
        Ok(())
    }
    fn flush(&self) -> Result<(), KvError> {
        Ok(())
    }
    fn clear(&self) -> Result<(), KvError> {
        self.map.write().map_err(|_| poisoned())?.clear();
        Ok(())
    }
}

impl KvStore for MemKv {
    fn tree(&self, name: &str) -> Result<Arc<dyn KvTree>, KvError> {
        let mut t = self.trees.write().map_err(|_| poisoned())?;
        let tree = t.entry(name.to_string()).or_default().clone();
        Ok(tree)
    }
    fn flush(&self) -> Result<(), KvError> {
        Ok(())
    }
    fn location(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn KvStore) {
        let t = store.tree("t").unwrap();
        t.insert(b"a1", b"x").unwrap();
        t.insert(b"a2", b"y").unwrap();
        t.insert(b"b1", b"z").unwrap();
        let keys = |it: KvIter<'_>| it.map(|r| r.unwrap().0).collect::<Vec<_>>();
        assert_eq!(keys(t.scan_prefix(b"a")), vec![b"a1".to_vec(), b"a2".to_vec()]);
        assert_eq!(
            keys(t.range(Bound::Unbounded, Bound::Included(b"a2"), true)),
            vec![b"a2".to_vec(), b"a1".to_vec()]
        );
        let mut b = Batch::new();
        b.delete(b"a1".to_vec());
        b.put(b"c".to_vec(), b"w".to_vec());
        t.apply_batch(&b).unwrap();
        assert_eq!(t.get(b"a1").unwrap(), None);
        assert_eq!(t.get(b"c").unwrap(), Some(b"w".to_vec()));
        t.remove(b"c").unwrap();
        assert_eq!(keys(t.scan_prefix(b"")).len(), 2);
        t.clear().unwrap();
        assert!(t.get(b"a2").unwrap().is_none());
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
    }

    #[test]
    fn mem_and_sled_behave_alike() {
        exercise(&MemKv::new());
        let dir = tempfile::tempdir().unwrap();
        exercise(&SledKv::open(&dir.path().join("db")).unwrap());
    }
}
