//! A snapshot of the name records in the `meta` tree, so that a restart
//! reads a few large values instead of scanning one record per PV.
//!
//! Written when the registry is closed after only successful writes, and
//! taken (the marker removed and flushed) at the next open before anything
//! can change, so a snapshot is never used once the registry has moved on.
//! A crash leaves no marker and the next open scans the tree.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use super::{NameRecord, RegistryError};
use crate::index::entry::{decode, encode};
use crate::index::KvTree;

/// Marker key: present only while the chunks match the `pv_names` tree.
const MARKER: &[u8] = b"names_snapshot";
/// Chunk keys: this prefix and the chunk number (big-endian u32).
const CHUNK_PREFIX: &[u8] = b"names_snapshot/";
/// Records per chunk.
const CHUNK: usize = 65_536;
/// Format of the chunks.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    version: u32,
    records: u64,
    chunks: u32,
}

fn chunk_key(i: u32) -> Vec<u8> {
    let mut k = CHUNK_PREFIX.to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// Takes the snapshot: removes the marker (flushed) and returns the records
/// it vouched for, or `None` (no marker, another version, damaged chunks).
pub(super) fn take(meta: &dyn KvTree) -> Result<Option<BTreeMap<String, NameRecord>>, RegistryError> {
    let Some(bytes) = meta.get(MARKER)? else {
        return Ok(None);
    };
    // No flush needed: any later write reaches the disk only after this
    // removal (the store persists writes in order: sled has one log), and
    // if nothing is written the snapshot stays true.
    meta.remove(MARKER)?;
    let marker: Marker = match decode("meta", &bytes) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "registry snapshot marker unreadable; scanning");
            return Ok(None);
        }
    };
    if marker.version != VERSION {
        return Ok(None);
    }
    let Some(parts) = read_chunks(meta, marker.chunks)? else {
        return Ok(None);
    };
    // Sorted runs: `collect` bulk-builds the map.
    let names: BTreeMap<String, NameRecord> = parts.into_iter().flatten().collect();
    if names.len() as u64 != marker.records {
        tracing::warn!("registry snapshot inconsistent; scanning");
        return Ok(None);
    }
    Ok(Some(names))
}

type Part = Vec<(String, NameRecord)>;

/// Reads and decodes chunks `0..n` on parallel threads, in order; `None`
/// if one is missing or unreadable.
fn read_chunks(meta: &dyn KvTree, n: u32) -> Result<Option<Vec<Part>>, RegistryError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, n.max(1) as usize);
    let next = AtomicU32::new(0);
    let mut done: Vec<(u32, Result<Option<Part>, RegistryError>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return out;
                        }
                        let part = meta
                            .get(&chunk_key(i))
                            .map(|b| b.and_then(|b| decode::<Part>("meta", &b).ok()));
                        out.push((i, part.map_err(RegistryError::from)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if done.len() != n as usize {
        return Ok(None);
    }
    done.sort_by_key(|d| d.0);
    let mut parts = Vec::with_capacity(done.len());
    for (i, part) in done {
        let Some(part) = part? else {
            tracing::warn!(
                chunk = i,
                "registry snapshot chunk missing or unreadable; scanning"
            );
            return Ok(None);
        };
        parts.push(part);
    }
    Ok(Some(parts))
}

/// Writes `names` as the snapshot: chunks first, then the marker, flushed.
pub(super) fn save(meta: &dyn KvTree, names: &BTreeMap<String, NameRecord>) -> Result<(), RegistryError> {
    meta.remove(MARKER)?;
    let entries: Vec<(&str, &NameRecord)> = names.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut chunks = 0u32;
    for part in entries.chunks(CHUNK) {
        meta.insert(&chunk_key(chunks), &encode(&part))?;
        chunks += 1;
    }
    // Chunks of a larger earlier snapshot.
    let mut stale = chunks;
    while meta.get(&chunk_key(stale))?.is_some() {
        meta.remove(&chunk_key(stale))?;
        stale += 1;
    }
    let marker = Marker {
        version: VERSION,
        records: entries.len() as u64,
        chunks,
    };
    meta.insert(MARKER, &encode(&marker))?;
    meta.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{KvStore, MemKv};

    fn names(n: usize) -> BTreeMap<String, NameRecord> {
        (0..n)
            .map(|i| {
                let rec = NameRecord {
                    paused: i % 3 == 0,
                    dbr_type: 6,
                    created_ms: i as i64,
                    modified_ms: 2 * i as i64,
                };
                (format!("SNAP:{i:06}"), rec)
            })
            .collect()
    }

    #[test]
    fn save_then_take_once() {
        let kv = MemKv::new();
        let meta = kv.tree("meta").unwrap();
        assert!(take(meta.as_ref()).unwrap().is_none());
        let big = names(CHUNK * 2 + 10);
        save(meta.as_ref(), &big).unwrap();
        assert_eq!(take(meta.as_ref()).unwrap().as_ref(), Some(&big));
        assert!(
            take(meta.as_ref()).unwrap().is_none(),
            "taking removes the marker"
        );
        // A smaller snapshot drops the chunks of the larger one.
        let small = names(5);
        save(meta.as_ref(), &small).unwrap();
        assert!(meta.get(&chunk_key(1)).unwrap().is_none());
        assert_eq!(take(meta.as_ref()).unwrap(), Some(small));
        save(meta.as_ref(), &BTreeMap::new()).unwrap();
        assert_eq!(take(meta.as_ref()).unwrap(), Some(BTreeMap::new()));
    }

    #[test]
    fn damaged_snapshots_are_ignored() {
        let kv = MemKv::new();
        let meta = kv.tree("meta").unwrap();
        save(meta.as_ref(), &names(10)).unwrap();
        meta.insert(&chunk_key(0), b"garbage").unwrap();
        assert!(take(meta.as_ref()).unwrap().is_none());
        save(meta.as_ref(), &names(10)).unwrap();
        meta.remove(&chunk_key(0)).unwrap();
        assert!(take(meta.as_ref()).unwrap().is_none());
        assert!(meta.get(MARKER).unwrap().is_none());
        save(meta.as_ref(), &names(10)).unwrap();
        let wrong = Marker {
            version: VERSION,
            records: 11,
            chunks: 1,
        };
        meta.insert(MARKER, &encode(&wrong)).unwrap();
        assert!(take(meta.as_ref()).unwrap().is_none());
    }
}
