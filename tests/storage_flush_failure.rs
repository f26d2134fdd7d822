//! A flush cycle that fails before writing anything (its durable intents
//! cannot be stored) gives the taken samples back to their buffers: the next
//! cycle writes them, nothing is reported written meanwhile.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata::index::kv::KvIter;
use strata::index::{Batch, Index, KvError, KvStore, KvTree, MemKv};
use strata::storage::{StorageConfig, TieredStore};
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

/// A MemKv whose trees' `flush` fails while `fail` is set.
struct FlakyKv {
    inner: MemKv,
    fail: Arc<AtomicBool>,
    path: PathBuf,
}

struct FlakyTree {
    inner: Arc<dyn KvTree>,
    fail: Arc<AtomicBool>,
}

impl KvTree for FlakyTree {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(key)
    }
    fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.inner.insert(key, value)
    }
    fn remove(&self, key: &[u8]) -> Result<(), KvError> {
        self.inner.remove(key)
    }
    fn range<'a>(&'a self, start: Bound<&[u8]>, end: Bound<&[u8]>, reverse: bool) -> KvIter<'a> {
        self.inner.range(start, end, reverse)
    }
    fn apply_batch(&self, batch: &Batch) -> Result<(), KvError> {
        self.inner.apply_batch(batch)
    }
    fn flush(&self) -> Result<(), KvError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(KvError::Backend {
                path: PathBuf::from("flaky"),
                message: "injected flush failure".into(),
            });
        }
        self.inner.flush()
    }
    fn clear(&self) -> Result<(), KvError> {
        self.inner.clear()
    }
}

impl KvStore for FlakyKv {
    fn tree(&self, name: &str) -> Result<Arc<dyn KvTree>, KvError> {
        Ok(Arc::new(FlakyTree {
            inner: self.inner.tree(name)?,
            fail: self.fail.clone(),
        }))
    }
    fn flush(&self) -> Result<(), KvError> {
        self.inner.flush()
    }
    fn location(&self) -> &Path {
        &self.path
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_that_cannot_store_its_intents_keeps_the_samples_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StorageConfig::under(dir.path());
    let fail = Arc::new(AtomicBool::new(false));
    let kv = FlakyKv {
        inner: MemKv::new(),
        fail: fail.clone(),
        path: dir.path().join("index"),
    };
    let index = Arc::new(Index::open(&kv).unwrap());
    let store = TieredStore::with_index(&cfg, index);
    let t0 = 1_710_460_800;
    for i in 0..10 {
        let s = ArchiverSample::at(t0 + i, 0, SampleValue::Double(i as f64));
        store.tiers()[0]
            .append("FLAKY:a", ArchDbType::ScalarDouble, &s, None)
            .await
            .unwrap();
    }
    fail.store(true, Ordering::SeqCst);
    assert!(store.tiers()[0].flush_blocking(false).is_err());
    assert!(
        store.tiers()[0].write_stats("FLAKY:a").buffered_bytes > 0,
        "samples back in the buffer"
    );
    fail.store(false, Ordering::SeqCst);
    let out = store.tiers()[0].flush_blocking(false).unwrap();
    assert_eq!(out.written, vec!["FLAKY:a".to_string()]);
    assert_eq!(out.samples, 10);
    let sum = store.index().summary("FLAKY:a", 0).unwrap().unwrap();
    assert_eq!(sum.samples, 10);
    assert_eq!(store.tiers()[0].write_stats("FLAKY:a").buffered_bytes, 0);
}
