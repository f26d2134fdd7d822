//! Renaming a PV's data across all tiers with a crash-safe journal.
//!
//! The new files (header naming the new PV, same sample bytes) are written
//! under temporary names while a `Preparing` journal record exists; a crash
//! then rolls back (temporaries deleted). Turning the record into
//! `Committed` is the commit point; from then on recovery rolls forward
//! (rename temporaries into place, swap index records, delete old files).
//! Readers see either the old or the new state, never both or neither.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::tiered::TieredStore;
use crate::index::{Change, PartitionEntry};
use crate::plainpb::{header_line, PbFile};

const TMP_SUFFIX: &str = ".renametmp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Preparing,
    Committed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalFile {
    tier: u8,
    start: i64,
    old_rel: String,
    new_entry: PartitionEntry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal {
    phase: Phase,
    from: String,
    to: String,
    key_to: String,
    files: Vec<JournalFile>,
}

/// Where a simulated crash stops a rename (tests of recovery only).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameStop {
    /// After the new files were written, before the commit point.
    Prepared,
    /// Right after the commit point.
    Committed,
}

fn tmp_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

fn put(store: &TieredStore, j: &Journal) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(j).map_err(|e| StoreError::Task(e.to_string()))?;
    store.index().put_journal(&j.from, &bytes)?;
    Ok(())
}

/// Writes the renamed copy of one file under its temporary name.
fn write_copy(old: &Path, new_tmp: &Path, to: &str) -> Result<u64, StoreError> {
    use std::io::Write;
    let pb = PbFile::open(old)?;
    let info = pb.info()?;
    let mut header = info.header.clone();
    header.pvname = to.to_string();
    let mut body = vec![0u8; (info.good_len - info.data_start) as usize];
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(old).map_err(|e| StoreError::io("open", old, e))?;
        f.read_exact_at(&mut body, info.data_start)
            .map_err(|e| StoreError::io("read", old, e))?;
    }
    if let Some(dir) = new_tmp.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
    }
    let mut f = std::fs::File::create(new_tmp).map_err(|e| StoreError::io("create", new_tmp, e))?;
    let head = header_line(&header);
    f.write_all(&head)
        .map_err(|e| StoreError::io("write", new_tmp, e))?;
    f.write_all(&body)
        .map_err(|e| StoreError::io("write", new_tmp, e))?;
    f.sync_all().map_err(|e| StoreError::io("fsync", new_tmp, e))?;
    Ok((head.len() + body.len()) as u64)
}

fn root_of(store: &TieredStore, tier: u8) -> Result<PathBuf, StoreError> {
    store
        .tiers()
        .get(tier as usize)
        .map(|t| t.root().to_path_buf())
        .ok_or_else(|| StoreError::Task(format!("journal names unknown tier {tier}")))
}

fn roll_forward(store: &TieredStore, j: &Journal) -> Result<(), StoreError> {
    let mut changes = Vec::new();
    for f in &j.files {
        let root = root_of(store, f.tier)?;
        let new = root.join(&f.new_entry.path);
        let tmp = tmp_path(&new);
        if tmp.exists() {
            std::fs::rename(&tmp, &new).map_err(|e| StoreError::io("rename", &tmp, e))?;
        }
        changes.push(Change::Remove {
            pv: j.from.clone(),
            tier: f.tier,
            start: f.start,
        });
        changes.push(Change::Upsert {
            pv: j.to.clone(),
            tier: f.tier,
            key: j.key_to.clone(),
            entry: f.new_entry.clone(),
        });
    }
    store.index().apply(&changes)?;
    for f in &j.files {
        let old = root_of(store, f.tier)?.join(&f.old_rel);
        match std::fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("delete", old, e)),
        }
    }
    store.index().remove_journal(&j.from)?;
    Ok(())
}

fn roll_back(store: &TieredStore, j: &Journal) -> Result<(), StoreError> {
    for f in &j.files {
        let tmp = tmp_path(&root_of(store, f.tier)?.join(&f.new_entry.path));
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("delete", tmp, e)),
        }
    }
    store.index().remove_journal(&j.from)?;
    Ok(())
}

/// Finishes or undoes renames interrupted by a crash (called on open).
pub(crate) fn recover(store: &TieredStore) -> Result<(), StoreError> {
    for (from, bytes) in store.index().journals()? {
        if from.starts_with(super::retype::JOURNAL_PREFIX) {
            continue;
        }
        let j: Journal = match serde_json::from_slice(&bytes) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(pv = %from, error = %e, "unreadable rename journal; leaving it for the operator");
                continue;
            }
        };
        match j.phase {
            Phase::Preparing => {
                tracing::warn!(from = %j.from, to = %j.to, "rolling back interrupted rename");
                roll_back(store, &j)?;
            }
            Phase::Committed => {
                tracing::warn!(from = %j.from, to = %j.to, "completing interrupted rename");
                roll_forward(store, &j)?;
            }
        }
    }
    Ok(())
}

/// Renames `from` to `to` in every tier; returns the number of files moved.
pub(crate) fn rename(
    store: &TieredStore,
    from: &str,
    to: &str,
    stop: Option<RenameStop>,
) -> Result<u64, StoreError> {
    for t in store.tiers() {
        t.inner.flush(vec![from.to_string(), to.to_string()], false)?;
    }
    if store.has_data(to)? {
        return Err(StoreError::TargetExists {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    let guards: Vec<_> = store.tiers().iter().map(|t| t.lock_writes()).collect();
    let key_to = store.chunk_key(to);
    let mut j = Journal {
        phase: Phase::Preparing,
        from: from.to_string(),
        to: to.to_string(),
        key_to: key_to.clone(),
        files: Vec::new(),
    };
    for t in store.tiers() {
        for e in store.index().partitions(from, t.tier())? {
            let mut new_entry = e.clone();
            new_entry.path = t.inner.relative_path(&key_to, e.start);
            j.files.push(JournalFile {
                tier: t.tier(),
                start: e.start,
                old_rel: e.path,
                new_entry,
            });
        }
    }
    if j.files.is_empty() {
        drop(guards);
        return Ok(0);
    }
    put(store, &j)?;
    for f in j.files.iter_mut() {
        let root = root_of(store, f.tier)?;
        let new = root.join(&f.new_entry.path);
        match write_copy(&root.join(&f.old_rel), &tmp_path(&new), to) {
            Ok(len) => f.new_entry.bytes = len,
            Err(e) => {
                roll_back(store, &j)?;
                return Err(e);
            }
        }
    }
    if stop == Some(RenameStop::Prepared) {
        return Ok(0);
    }
    j.phase = Phase::Committed;
    put(store, &j)?;
    if stop == Some(RenameStop::Committed) {
        return Ok(0);
    }
    roll_forward(store, &j)?;
    for t in store.tiers() {
        t.inner.buffers.evict(from);
        t.inner.buffers.evict(to);
    }
    drop(guards);
    tracing::info!(from, to, files = j.files.len(), "renamed PV data");
    Ok(j.files.len() as u64)
}

/// Runs a rename that "crashes" at `stop` (for recovery tests).
#[doc(hidden)]
pub fn rename_interrupted(
    store: &TieredStore,
    from: &str,
    to: &str,
    stop: RenameStop,
) -> Result<(), StoreError> {
    rename(store, from, to, Some(stop)).map(|_| ())
}
