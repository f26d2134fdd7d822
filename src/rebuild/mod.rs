//! Rebuilding the partition index (and missing registry records) from the
//! files on disk, and verifying the index against them.
//!
//! Each tier's root is walked; every `.pb` file is identified by its path
//! (key + partition name) and its header (PV, type, year); its first and
//! last samples are read from head and tail only, and its sample lines are
//! counted (no decoding) up to [`COUNT_LIMIT`] bytes. A compressed
//! `.pb.zst` file is read through its frame table (header frame, table,
//! last frame): exact counts, and its frame keys, as ETL records them.
//! Files that are empty, truncated (a partial frame or no table),
//! unparseable or of the wrong granularity are listed and skipped; of two
//! files of one partition (`x.pb` and `x.pb.zst`) the plain one is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::index::entry::to_ts;
use crate::index::{FrameKey, Index, PartitionEntry};
use crate::plainpb::{examine_zst, split_file_name, PbFile, PB_EXTENSION, ZST_EXTENSION};
use crate::registry::{PvTypeInfo, Registry};
use crate::storage::{StorageConfig, TierConfig};

/// Files up to this size get an exact sample count; larger ones an estimate.
pub const COUNT_LIMIT: u64 = 64 * 1024 * 1024;

/// A file that was not indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of the damage, when known.
    pub offset: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// One indexed file.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// PV from the header.
    pub pv: String,
    /// Tier number.
    pub tier: u8,
    /// Storage key from the path.
    pub key: String,
    /// Header element count, if any.
    pub element_count: Option<i32>,
    /// Elements of the last sample's value.
    pub last_elements: usize,
    /// The record.
    pub entry: PartitionEntry,
    /// Frame keys of a compressed partition.
    pub frames: Option<Vec<FrameKey>>,
}

/// What a scan of the tiers found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Indexable files.
    pub found: Vec<Found>,
    /// Skipped files.
    pub problems: Vec<Problem>,
}

/// Outcome of a rebuild.
#[derive(Debug, Default)]
pub struct RebuildReport {
    /// PVs with data.
    pub pvs: usize,
    /// Files indexed.
    pub files: u64,
    /// Bytes indexed.
    pub bytes: u64,
    /// Samples (counted or estimated).
    pub samples: u64,
    /// Skipped files.
    pub problems: Vec<Problem>,
    /// PVs given a new (paused) registry record.
    pub registry_created: Vec<String>,
    /// Time taken.
    pub elapsed: Duration,
}

/// Progress callback: files done so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

fn tier_files(tier: &TierConfig) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !tier.root.exists() {
        return out;
    }
    for e in walkdir::WalkDir::new(&tier.root)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && (name.ends_with(PB_EXTENSION) || name.ends_with(ZST_EXTENSION)) {
            out.push(e.into_path());
        }
    }
    out
}

/// Reads one file's facts.
fn examine(tier_no: u8, tier: &TierConfig, path: &Path) -> Result<Found, Problem> {
    let problem = |offset: Option<u64>, reason: String| Problem {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let rel = path
        .strip_prefix(&tier.root)
        .map_err(|_| problem(None, "outside the tier root".into()))?
        .to_string_lossy()
        .into_owned();
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (_, partition) = split_file_name(&file_name)
        .ok_or_else(|| problem(None, "not a partition file name (no ':')".into()))?;
    let start = tier.granularity.parse_partition_name(partition).ok_or_else(|| {
        problem(
            None,
            format!(
                "partition name {partition:?} is not {} (granularity of tier {})",
                tier.granularity, tier.name
            ),
        )
    })?;
    let key = rel[..rel.rfind(':').map_or(0, |i| i + 1)].to_string();
    let len = std::fs::metadata(path)
        .map_err(|e| problem(None, e.to_string()))?
        .len();
    if len == 0 {
        return Err(problem(Some(0), "empty file".into()));
    }
    if file_name.ends_with(ZST_EXTENSION) {
        return examine_compressed(tier_no, path, rel, key, start, partition);
    }
    let pb = PbFile::open(path).map_err(|e| problem(Some(0), e.to_string()))?;
    let info = pb.info().map_err(|e| problem(None, e.to_string()))?;
    if let Some(at) = info.damaged_tail {
        return Err(problem(Some(at), "truncated or damaged after this offset".into()));
    }
    let (Some(first), Some(last), Some(last_line)) = (&info.first, &info.last, &info.last_line) else {
        return Err(problem(
            Some(info.data_start),
            "no samples after the header".into(),
        ));
    };
    let year_of_start = crate::types::year_of(start);
    if info.desc.year != year_of_start {
        return Err(problem(
            Some(0),
            format!(
                "header year {} does not match partition {partition}",
                info.desc.year
            ),
        ));
    }
    let (samples, exact) = if let Some(n) = info.lines {
        (n, true)
    } else if len <= COUNT_LIMIT {
        (
            pb.count_lines(info.good_len)
                .map_err(|e| problem(None, e.to_string()))?,
            true,
        )
    } else {
        let avg = (last_line.len() as u64 + 1).max(1);
        ((info.good_len - info.data_start) / avg, false)
    };
    let mut last_raw = Vec::new();
    crate::plainpb::unescape_into(last_line, &mut last_raw).map_err(|e| problem(None, e.to_string()))?;
    Ok(Found {
        pv: info.desc.pv_name.clone(),
        tier: tier_no,
        key,
        element_count: info.desc.element_count,
        last_elements: last.value.element_count(),
        entry: PartitionEntry {
            path: rel,
            start,
            year: info.desc.year,
            db_type: info.desc.db_type.as_i32(),
            first: to_ts(first.ts()),
            last: to_ts(last.ts()),
            samples,
            samples_exact: exact,
            bytes: len,
            last_sample: last_raw,
            compressed: false,
        },
        frames: None,
    })
}

/// [`examine`] for a `.pb.zst` file.
fn examine_compressed(
    tier_no: u8,
    path: &Path,
    rel: String,
    key: String,
    start: i64,
    partition: &str,
) -> Result<Found, Problem> {
    let problem = |offset: Option<u64>, reason: String| Problem {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let info = examine_zst(path, false).map_err(|e| problem(Some(0), e.to_string()))?;
    if let Some(at) = info.damaged_tail {
        return Err(problem(
            Some(at),
            "partial frame or damaged table after this offset".into(),
        ));
    }
    if !info.had_table {
        return Err(problem(
            Some(info.table.data_end),
            "no frame table (an interrupted write)".into(),
        ));
    }
    let (Some(_), Some(last), Some(last_line)) = (info.first, &info.last, &info.last_line) else {
        return Err(problem(
            Some(info.table.data_start),
            "no samples after the header".into(),
        ));
    };
    if info.desc.year != crate::types::year_of(start) {
        return Err(problem(
            Some(0),
            format!(
                "header year {} does not match partition {partition}",
                info.desc.year
            ),
        ));
    }
    let mut last_raw = Vec::new();
    crate::plainpb::unescape_into(last_line, &mut last_raw).map_err(|e| problem(None, e.to_string()))?;
    let frames = crate::index::frame_keys(&info.table.frames);
    Ok(Found {
        pv: info.desc.pv_name.clone(),
        tier: tier_no,
        key,
        element_count: info.desc.element_count,
        last_elements: last.value.element_count(),
        entry: PartitionEntry::of_compressed(&info, rel, start, last_raw)
            .ok_or_else(|| problem(Some(info.table.data_start), "no samples after the header".into()))?,
        frames: Some(frames),
    })
}

/// What a rebuild loads into the index from `scan`: partition records
/// `(pv, tier, key, record)` and frame keys `(pv, tier, start, frames)`.
#[allow(clippy::type_complexity)]
pub fn index_content(
    scan: &Scan,
) -> (
    Vec<(String, u8, String, PartitionEntry)>,
    Vec<(String, u8, i64, Vec<FrameKey>)>,
) {
    let mut parts = Vec::with_capacity(scan.found.len());
    let mut frames = Vec::new();
    for f in &scan.found {
        parts.push((f.pv.clone(), f.tier, f.key.clone(), f.entry.clone()));
        if let Some(fs) = &f.frames {
            frames.push((f.pv.clone(), f.tier, f.entry.start, fs.clone()));
        }
    }
    (parts, frames)
}

/// Walks every tier and examines every `.pb` file on `jobs` threads.
pub fn scan(cfg: &StorageConfig, jobs: usize, progress: Progress<'_>) -> Scan {
    let files: Vec<(u8, &TierConfig, PathBuf)> = cfg
        .tiers
        .iter()
        .enumerate()
        .flat_map(|(i, t)| tier_files(t).into_iter().map(move |p| (i as u8, t, p)))
        .collect();
    let done = AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build();
    let work = || {
        files
            .par_iter()
            .map(|(i, t, p)| {
                let r = examine(*i, t, p);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 1024 == 0 {
                    progress(n);
                }
                r
            })
            .collect::<Vec<_>>()
    };
    let results = match pool {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    };
    progress(done.load(Ordering::Relaxed));
    let mut s = Scan::default();
    for r in results {
        match r {
            Ok(f) => s.found.push(f),
            Err(p) => s.problems.push(p),
        }
    }
    // Two files claiming the same PV, tier and partition: keep the first path.
    s.found.sort_by(|a, b| {
        (&a.pv, a.tier, a.entry.start, &a.entry.path).cmp(&(&b.pv, b.tier, b.entry.start, &b.entry.path))
    });
    let mut dedup: Vec<Found> = Vec::with_capacity(s.found.len());
    for f in s.found.drain(..) {
        if let Some(prev) = dedup.last() {
            if prev.pv == f.pv && prev.tier == f.tier && prev.entry.start == f.entry.start {
                s.problems.push(Problem {
                    path: cfg.tiers[f.tier as usize].root.join(&f.entry.path),
                    offset: None,
                    reason: format!("same PV and partition as {}", prev.entry.path),
                });
                continue;
            }
        }
        dedup.push(f);
    }
    s.found = dedup;
    s.problems.sort_by(|a, b| a.path.cmp(&b.path));
    s
}

/// Rebuilds the index from `scan` (clearing it first) and creates paused
/// registry records for PVs found on disk without one. Idempotent.
pub fn apply(
    cfg: &StorageConfig,
    index: &Index,
    registry: &Registry,
    identity: &str,
    scan: Scan,
    started: Instant,
) -> Result<RebuildReport, anyhow::Error> {
    let mut report = RebuildReport::default();
    let mut per_pv: BTreeMap<String, Vec<&Found>> = BTreeMap::new();
    for f in &scan.found {
        per_pv.entry(f.pv.clone()).or_default().push(f);
    }
    for f in &scan.found {
        report.files += 1;
        report.bytes += f.entry.bytes;
        report.samples += f.entry.samples;
    }
    let (parts, frames) = index_content(&scan);
    index.load_fresh_with(&parts, &frames)?;
    report.pvs = per_pv.len();
    let urls: Vec<String> = cfg
        .tiers
        .iter()
        .map(|t| {
            format!(
                "pb://localhost?name={}&rootFolder={}&partitionGranularity={}",
                t.name,
                t.root.display(),
                t.granularity.java_name()
            )
        })
        .collect();
    let mut new_infos = Vec::new();
    for (pv, files) in &per_pv {
        if registry.contains(pv) || registry.alias_target(pv).is_some() {
            continue;
        }
        let newest = files.iter().max_by_key(|f| f.entry.last).copied();
        let Some(newest) = newest else { continue };
        let Some(ty) = crate::types::ArchDbType::from_i32(newest.entry.db_type) else {
            continue;
        };
        let count = newest
            .element_count
            .unwrap_or(i32::try_from(newest.last_elements).unwrap_or(1))
            .max(1);
        let mut info = PvTypeInfo::new(pv, ty, count);
        info.appliance_identity = identity.to_string();
        info.chunk_key = Some(newest.key.clone());
        info.data_stores = urls.clone();
        info.paused = true;
        info.policy_name = Some("Imported".into());
        let now = chrono::Utc::now();
        info.creation_time = Some(now);
        info.modification_time = Some(now);
        new_infos.push(info);
        report.registry_created.push(pv.clone());
    }
    for chunk in new_infos.chunks(10_000) {
        registry.put_many(chunk)?;
    }
    report.problems = scan.problems;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// A difference between index and disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// PV.
    pub pv: String,
    /// Tier name.
    pub tier: String,
    /// File (relative to the tier root).
    pub path: String,
    /// What differs.
    pub what: String,
}

/// Compares the index with what a rebuild would produce, without writing.
pub fn verify(cfg: &StorageConfig, index: &Index, scan: &Scan) -> Result<Vec<Drift>, anyhow::Error> {
    let mut disk: BTreeMap<(String, u8, i64), &Found> = BTreeMap::new();
    for f in &scan.found {
        disk.insert((f.pv.clone(), f.tier, f.entry.start), f);
    }
    let tier_name = |t: u8| {
        cfg.tiers
            .get(t as usize)
            .map_or_else(|| t.to_string(), |c| c.name.clone())
    };
    let mut drift = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in index.all_partitions() {
        let (pv, tier, e) = item?;
        let k = (pv.clone(), tier, e.start);
        match disk.get(&k) {
            None => drift.push(Drift {
                pv,
                tier: tier_name(tier),
                path: e.path.clone(),
                what: "indexed but missing or unreadable on disk".into(),
            }),
            Some(f) => {
                let d = &f.entry;
                let mut diffs = Vec::new();
                if d.path != e.path {
                    diffs.push(format!("path {} on disk", d.path));
                }
                if d.bytes != e.bytes {
                    diffs.push(format!("size {} on disk, {} in index", d.bytes, e.bytes));
                }
                if d.first != e.first || d.last != e.last {
                    diffs.push("first/last sample differ".into());
                }
                if d.samples_exact && e.samples_exact && d.samples != e.samples {
                    diffs.push(format!("{} samples on disk, {} in index", d.samples, e.samples));
                }
                if d.compressed != e.compressed {
                    diffs.push("compressed flag differs".into());
                }
                let indexed = index.frames(&pv, tier, e.start)?;
                if f.frames.as_deref().unwrap_or_default() != indexed.as_slice() {
                    diffs.push("frame keys differ from the file's frame table".into());
                }
                if !diffs.is_empty() {
                    drift.push(Drift {
                        pv,
                        tier: tier_name(tier),
                        path: e.path.clone(),
                        what: diffs.join("; "),
                    });
                }
            }
        }
        seen.insert(k);
    }
    for (k, f) in &disk {
        if !seen.contains(k) {
            drift.push(Drift {
                pv: f.pv.clone(),
                tier: tier_name(f.tier),
                path: f.entry.path.clone(),
                what: "on disk but not indexed".into(),
            });
        }
    }
    Ok(drift)
}
