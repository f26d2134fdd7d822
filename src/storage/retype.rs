//! Changing the payload type of a PV's stored samples (`changeTypeForPV`),
//! crash-safe like a rename.
//!
//! Every partition file of the PV, in every tier, is rewritten under a
//! temporary name with the header naming the new type and each sample's
//! value converted (times, alarm, field values and the other protobuf
//! fields kept) while a `Preparing` journal record exists; a crash then
//! rolls back (temporaries deleted, old files intact). Turning the record
//! into `Committed` is the commit point; from then on recovery rolls
//! forward (temporaries replace the files, index records are replaced).
//! Readers see all old or all new files of a partition, and after recovery
//! one type for the whole PV.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::reconcile::{record_from_file, ReconcileReport};
use super::tiered::TieredStore;
use crate::index::{Change, PartitionEntry};
use crate::plainpb::{escape_into, header_line, ChunkItem, ChunkReader};
use crate::types::{ArchDbType, ArchiverSample, SampleValue};

/// Prefix of retype journal keys in the index's journal table (a PV name
/// holds no NUL, so they never collide with rename journals).
pub(crate) const JOURNAL_PREFIX: &str = "\u{0}retype:";

const TMP_SUFFIX: &str = ".retypetmp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Preparing,
    Committed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct JournalFile {
    tier: u8,
    rel: String,
    entry: Option<PartitionEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal {
    phase: Phase,
    pv: String,
    key: String,
    files: Vec<JournalFile>,
}

/// Converting a sample failed (the payload types cannot be converted).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot convert {from} to {to}")]
pub struct ConvertError {
    /// Stored type.
    pub from: ArchDbType,
    /// Requested type.
    pub to: ArchDbType,
}

/// Java's `Number` narrowing of a double to `int` (NaN 0, saturating).
fn java_int(x: f64) -> i32 {
    if x.is_nan() {
        0
    } else {
        x.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
    }
}

/// Java's `ThruNumberAndStringConversion`: a numeric scalar to another
/// numeric scalar type (Java's `Number` conversions: truncation, saturation
/// to `int`, then narrowing) or to a string (its Java text). Strings,
/// waveforms and generic bytes do not convert.
pub fn convert_value(v: &SampleValue, to: ArchDbType) -> Result<SampleValue, ConvertError> {
    use ArchDbType as T;
    let err = ConvertError {
        from: v.db_type(),
        to,
    };
    // (as double, as int) — an integer source keeps its exact bits.
    let (f, i) = match v {
        SampleValue::Double(x) => (*x, java_int(*x)),
        SampleValue::Float(x) => (f64::from(*x), java_int(f64::from(*x))),
        SampleValue::Int(x) => (f64::from(*x), *x),
        SampleValue::Short(x) | SampleValue::Enum(x) => (f64::from(*x), i32::from(*x)),
        SampleValue::Byte(x) => (f64::from(*x), i32::from(*x)),
        _ => return Err(err),
    };
    Ok(match to {
        T::ScalarDouble => SampleValue::Double(f),
        T::ScalarFloat => SampleValue::Float(f as f32),
        T::ScalarInt => SampleValue::Int(i),
        T::ScalarShort => SampleValue::Short(i as i16),
        T::ScalarEnum => SampleValue::Enum(i as i16),
        T::ScalarByte => SampleValue::Byte(i as i8),
        T::ScalarString => {
            let mut s = String::new();
            match v {
                SampleValue::Double(x) => crate::types::java::push_double(&mut s, *x),
                SampleValue::Float(x) => crate::types::java::push_float(&mut s, *x),
                _ => s.push_str(&i.to_string()),
            }
            SampleValue::String(s)
        }
        _ => return Err(err),
    })
}

fn tmp_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

fn put(store: &TieredStore, j: &Journal) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(j).map_err(|e| StoreError::Task(e.to_string()))?;
    store
        .index()
        .put_journal(&format!("{JOURNAL_PREFIX}{}", j.pv), &bytes)?;
    Ok(())
}

fn root_of(store: &TieredStore, tier: u8) -> Result<PathBuf, StoreError> {
    store
        .tiers()
        .get(tier as usize)
        .map(|t| t.root().to_path_buf())
        .ok_or_else(|| StoreError::Task(format!("journal names unknown tier {tier}")))
}

/// Writes the converted copy of `old` to `tmp`.
fn write_converted(old: &Path, tmp: &Path, pv: &str, to: ArchDbType) -> Result<(), StoreError> {
    let file = std::fs::File::open(old).map_err(|e| StoreError::io("open", old, e))?;
    let mut r = ChunkReader::new(std::io::BufReader::new(file));
    let mut out = Vec::new();
    let mut year = 0;
    let (mut raw, mut escaped) = (Vec::new(), Vec::new());
    loop {
        let item = r.next_item().map_err(|(offset, reason)| StoreError::Encode {
            pv: pv.to_string(),
            reason: format!("{} at {offset}: {reason}", old.display()),
        })?;
        match item {
            None => break,
            Some(ChunkItem::Header(mut h)) => {
                year = h.year;
                h.r#type = to.as_i32();
                out.extend_from_slice(&header_line(&h));
            }
            Some(ChunkItem::Sample(s)) => {
                let value = convert_value(&s.value, to).map_err(|e| StoreError::Encode {
                    pv: pv.to_string(),
                    reason: e.to_string(),
                })?;
                let converted = ArchiverSample { value, ..s };
                raw.clear();
                crate::plainpb::encode_sample(&converted, year, &mut raw).map_err(|e| {
                    StoreError::Encode {
                        pv: pv.to_string(),
                        reason: e.to_string(),
                    }
                })?;
                escaped.clear();
                escape_into(&raw, &mut escaped);
                out.extend_from_slice(&escaped);
                out.push(crate::plainpb::NEWLINE);
            }
        }
    }
    let mut f = std::fs::File::create(tmp).map_err(|e| StoreError::io("create", tmp, e))?;
    f.write_all(&out).map_err(|e| StoreError::io("write", tmp, e))?;
    f.sync_all().map_err(|e| StoreError::io("fsync", tmp, e))?;
    Ok(())
}

fn roll_forward(store: &TieredStore, j: &Journal) -> Result<(), StoreError> {
    let mut changes = Vec::new();
    for f in &j.files {
        let path = root_of(store, f.tier)?.join(&f.rel);
        let tmp = tmp_path(&path);
        if tmp.exists() {
            std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &tmp, e))?;
        }
        if let Some(entry) = &f.entry {
            changes.push(Change::Upsert {
                pv: j.pv.clone(),
                tier: f.tier,
                key: j.key.clone(),
                entry: entry.clone(),
            });
        }
    }
    store.index().apply(&changes)?;
    store
        .index()
        .remove_journal(&format!("{JOURNAL_PREFIX}{}", j.pv))?;
    Ok(())
}

fn roll_back(store: &TieredStore, j: &Journal) -> Result<(), StoreError> {
    for f in &j.files {
        let tmp = tmp_path(&root_of(store, f.tier)?.join(&f.rel));
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("delete", tmp, e)),
        }
    }
    store
        .index()
        .remove_journal(&format!("{JOURNAL_PREFIX}{}", j.pv))?;
    Ok(())
}

/// Finishes or undoes type changes interrupted by a crash (called on open).
pub(crate) fn recover(store: &TieredStore) -> Result<(), StoreError> {
    for (key, bytes) in store.index().journals()? {
        if !key.starts_with(JOURNAL_PREFIX) {
            continue;
        }
        let j: Journal = match serde_json::from_slice(&bytes) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(key = %key, error = %e, "unreadable type-change journal; leaving it for the operator");
                continue;
            }
        };
        match j.phase {
            Phase::Preparing => {
                tracing::warn!(pv = %j.pv, "rolling back interrupted type change");
                roll_back(store, &j)?;
            }
            Phase::Committed => {
                tracing::warn!(pv = %j.pv, "completing interrupted type change");
                roll_forward(store, &j)?;
            }
        }
    }
    Ok(())
}

/// Converts every stored sample of `pv` to `to`; returns the number of
/// files rewritten. Nothing changes when a sample does not convert.
pub(crate) fn retype(store: &TieredStore, pv: &str, to: ArchDbType) -> Result<u64, StoreError> {
    for t in store.tiers() {
        t.inner.flush(vec![pv.to_string()], false)?;
    }
    let guards: Vec<_> = store.tiers().iter().map(|t| t.lock_writes()).collect();
    let key = store.chunk_key(pv);
    let mut j = Journal {
        phase: Phase::Preparing,
        pv: pv.to_string(),
        key,
        files: Vec::new(),
    };
    for t in store.tiers() {
        for e in store.index().partitions(pv, t.tier())? {
            j.files.push(JournalFile {
                tier: t.tier(),
                rel: e.path,
                entry: None,
            });
        }
    }
    if j.files.is_empty() {
        return Ok(0);
    }
    put(store, &j)?;
    let mut report = ReconcileReport::default();
    for f in j.files.iter_mut() {
        let path = root_of(store, f.tier)?.join(&f.rel);
        let tmp = tmp_path(&path);
        let start = store
            .index()
            .partitions(pv, f.tier)?
            .into_iter()
            .find(|e| e.path == f.rel)
            .map(|e| e.start)
            .unwrap_or(0);
        let written = write_converted(&path, &tmp, pv, to)
            .and_then(|()| record_from_file(&tmp, &f.rel, start, &mut report));
        match written {
            Ok(entry) => f.entry = entry,
            Err(e) => {
                roll_back(store, &j)?;
                return Err(e);
            }
        }
    }
    j.phase = Phase::Committed;
    put(store, &j)?;
    roll_forward(store, &j)?;
    for t in store.tiers() {
        t.inner.buffers.evict(pv);
    }
    drop(guards);
    tracing::info!(pv, to = %to, files = j.files.len(), "changed the type of stored data");
    Ok(j.files.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_number_conversions() {
        use ArchDbType as T;
        let c = |v: SampleValue, t| convert_value(&v, t).unwrap();
        assert_eq!(c(SampleValue::Double(3.9), T::ScalarInt), SampleValue::Int(3));
        assert_eq!(c(SampleValue::Double(-3.9), T::ScalarInt), SampleValue::Int(-3));
        assert_eq!(
            c(SampleValue::Double(f64::NAN), T::ScalarInt),
            SampleValue::Int(0)
        );
        assert_eq!(
            c(SampleValue::Double(1e12), T::ScalarInt),
            SampleValue::Int(i32::MAX)
        );
        // Narrowing to short goes through int, as Java's shortValue().
        assert_eq!(
            c(SampleValue::Double(70_000.0), T::ScalarShort),
            SampleValue::Short(4464)
        );
        assert_eq!(c(SampleValue::Int(300), T::ScalarByte), SampleValue::Byte(44));
        assert_eq!(c(SampleValue::Int(7), T::ScalarDouble), SampleValue::Double(7.0));
        assert_eq!(c(SampleValue::Enum(2), T::ScalarInt), SampleValue::Int(2));
        assert_eq!(
            c(SampleValue::Double(2.0), T::ScalarString),
            SampleValue::String("2.0".into())
        );
        assert!(convert_value(&SampleValue::String("1".into()), T::ScalarDouble).is_err());
        assert!(convert_value(&SampleValue::VDouble(vec![1.0]), T::WaveformInt).is_err());
    }
}
