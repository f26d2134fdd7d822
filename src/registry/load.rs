//! Loading the compact name records at open. With many PVs, start-up time
//! is this scan: the key space is cut into ranges read on parallel threads
//! and the map is bulk-built from the sorted result.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{corrupt, NameRecord, RegistryError};
use crate::index::entry::decode;
use crate::index::KvTree;

/// Most scan threads (reads overlap page loads, so more than the cores help).
const MAX_THREADS: usize = 8;

/// Split keys cutting `[first, last]` into about `parts` ranges of similar
/// width, by interpolating the keys' first 8 bytes; ascending, distinct and
/// greater than `first`.
pub(super) fn split_keys(first: &[u8], last: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let head = |k: &[u8]| {
        let mut b = [0u8; 8];
        let n = k.len().min(8);
        b[..n].copy_from_slice(&k[..n]);
        u64::from_be_bytes(b)
    };
    let (a, b) = (head(first), head(last));
    let mut out: Vec<Vec<u8>> = Vec::new();
    if b <= a {
        return out;
    }
    for i in 1..parts as u128 {
        let at = a as u128 + (b - a) as u128 * i / parts as u128;
        let key = (at as u64).to_be_bytes().to_vec();
        if key.as_slice() > first && out.last().is_none_or(|l| *l < key) {
            out.push(key);
        }
    }
    out
}

/// Start and end of a key range.
type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// Decodes the name records in one key range.
fn scan(
    tree: &dyn KvTree,
    start: Bound<&[u8]>,
    end: Bound<&[u8]>,
) -> Result<Vec<(String, NameRecord)>, RegistryError> {
    let mut out = Vec::new();
    for item in tree.range(start, end, false) {
        let (k, v) = item?;
        let name =
            String::from_utf8(k).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let rec: NameRecord = decode("pv_names", &v)?;
        out.push((name, rec));
    }
    Ok(out)
}

fn edge(tree: &dyn KvTree, reverse: bool) -> Result<Option<Vec<u8>>, RegistryError> {
    match tree.range(Bound::Unbounded, Bound::Unbounded, reverse).next() {
        None => Ok(None),
        Some(item) => Ok(Some(item?.0)),
    }
}

/// Every record of the `pv_names` tree.
pub(super) fn names(tree: &dyn KvTree) -> Result<BTreeMap<String, NameRecord>, RegistryError> {
    let (Some(first), Some(last)) = (edge(tree, false)?, edge(tree, true)?) else {
        return Ok(BTreeMap::new());
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get() * 2)
        .clamp(1, MAX_THREADS);
    let splits = split_keys(&first, &last, threads * 2);
    let mut bounds: Vec<KeyRange<'_>> = Vec::with_capacity(splits.len() + 1);
    let mut start = Bound::Unbounded;
    for k in &splits {
        bounds.push((start, Bound::Excluded(k.as_slice())));
        start = Bound::Included(k.as_slice());
    }
    bounds.push((start, Bound::Unbounded));
    let next = AtomicUsize::new(0);
    type Part = (usize, Result<Vec<(String, NameRecord)>, RegistryError>);
    let mut parts: Vec<Part> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(bounds.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((a, b)) = bounds.get(i) else {
                            return done;
                        };
                        done.push((i, scan(tree, *a, *b)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if parts.len() != bounds.len() {
        return Err(corrupt("", "a registry scan thread panicked"));
    }
    parts.sort_by_key(|p| p.0);
    let mut all = Vec::new();
    for (_, p) in parts {
        all.extend(p?);
    }
    // Sorted and distinct: `collect` bulk-builds the map.
    Ok(all.into_iter().collect())
}
