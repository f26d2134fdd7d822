//! ETL statistics: per stage (source store » destination store, summed over
//! every PV whose chain has that stage) and per PV and stage, kept in the
//! sled tree `etl_stats` so they survive a restart (Java keeps them in
//! memory only).
//!
//! A stage evaluation that moves nothing and fails nothing changes nothing
//! here and costs one short lock (the "last checked" time); a stage run
//! that moved, deleted or failed updates its stage and PV records and
//! writes both (sled batches the writes; the index flush at shutdown makes
//! them durable). Java counts a run only when it had files to move; so do
//! these counters.
//!
//! Keys: `s 00 <source> 00 <dest>` → [`StageStats`] (JSON);
//! `p 00 <pv>` → `Vec<`[`PvStageStats`]`>` (JSON), one per stage index.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::run::{EtlError, StageOutcome};
use super::service::StageRun;
use crate::index::{KvError, KvStore, KvTree};
use crate::storage::Chain;

const TREE: &str = "etl_stats";
/// Runs closer together than this belong to one "global ETL job" (Java's
/// approximation of the time a job over all PVs took).
const JOB_GAP_SECS: i64 = 15 * 60;
const DAY: i64 = 86_400;

/// Cumulative figures of one stage over all PVs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageStats {
    /// Source store name.
    pub source: String,
    /// Destination store name.
    pub dest: String,
    /// Runs (per PV) that moved or deleted something.
    pub runs: u64,
    /// Source partitions moved into the destination.
    pub moved: u64,
    /// Source partitions deleted without storing (black hole, blocked,
    /// already there).
    pub deleted: u64,
    /// Bytes written into the destination.
    pub bytes: u64,
    /// Time spent in those runs (ms).
    pub millis: u64,
    /// Failed runs.
    pub failures: u64,
    /// Last run that moved something (Unix s; 0: never).
    pub last_run: i64,
    /// Duration of that run (ms).
    pub last_millis: u64,
    /// Last failure's message.
    pub last_error: Option<String>,
    /// Time of the last failure (Unix s).
    pub last_error_at: i64,
    /// Start of the measurement (Unix s).
    pub since: i64,
    /// Java's approximate duration of the last global ETL job (ms): runs
    /// less than 15 minutes apart are summed.
    pub job_millis: u64,
    /// Last update of `job_millis` (Unix s).
    pub job_at: i64,
    /// Time spent per day (Unix day number, ms), the last seven days.
    pub days: Vec<(i64, u64)>,
    /// Last evaluation of the stage for any PV (Unix s; not persisted).
    #[serde(skip)]
    pub checked: i64,
}

impl StageStats {
    /// Java's "Estimated weekly usage in ETL (%)": time spent over the
    /// recorded days of the last week, the current day counted up to `now`.
    pub fn weekly_usage_percent(&self, now: i64) -> f64 {
        let today = now.div_euclid(DAY);
        let recent: Vec<&(i64, u64)> = self.days.iter().filter(|(d, _)| today - d < 7).collect();
        let Some(oldest) = recent.iter().map(|(d, _)| *d).min() else {
            return 0.0;
        };
        let ms: u64 = recent.iter().map(|(_, m)| m).sum();
        let span = (today - oldest) * DAY + now.rem_euclid(DAY);
        if span <= 0 {
            return 0.0;
        }
        (ms / 1000) as f64 * 100.0 / span as f64
    }

    fn add_time(&mut self, now: i64, ms: u64) {
        if now - self.job_at > JOB_GAP_SECS {
            self.job_millis = 0;
        }
        self.job_at = now;
        self.job_millis += ms;
        let today = now.div_euclid(DAY);
        self.days.retain(|(d, _)| today - d < 7);
        match self.days.iter_mut().find(|(d, _)| *d == today) {
            Some((_, m)) => *m += ms,
            None => self.days.push((today, ms)),
        }
    }
}

/// Figures of one stage of one PV.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PvStageStats {
    /// Source store name.
    pub source: String,
    /// Destination store name.
    pub dest: String,
    /// Runs that moved or deleted something.
    pub runs: u64,
    /// Source partitions moved or deleted.
    pub moved: u64,
    /// Bytes written into the destination.
    pub bytes: u64,
    /// Time spent in those runs (ms).
    pub millis: u64,
    /// Failed runs.
    pub failures: u64,
    /// Last run that moved something (Unix s; 0: never).
    pub last_run: i64,
    /// Duration of that run (ms).
    pub last_millis: u64,
    /// The last result: `moved 3 partitions (210 kB)`, or the error.
    pub last_result: String,
    /// Time of the last result (Unix s).
    pub last_result_at: i64,
}

/// The statistics, in memory and (when opened over a database) in sled.
pub struct EtlStats {
    tree: Option<Arc<dyn KvTree>>,
    stages: Mutex<BTreeMap<(String, String), StageStats>>,
    started: i64,
}

fn stage_key(source: &str, dest: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + dest.len() + 3);
    k.extend_from_slice(b"s\0");
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(dest.as_bytes());
    k
}

fn pv_key(pv: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(pv.len() + 2);
    k.extend_from_slice(b"p\0");
    k.extend_from_slice(pv.as_bytes());
    k
}

/// Human-readable bytes for a result line.
fn bytes_text(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

impl EtlStats {
    /// Statistics kept in memory only (tests, tools).
    pub fn memory(now: i64) -> Self {
        EtlStats {
            tree: None,
            stages: Mutex::new(BTreeMap::new()),
            started: now,
        }
    }

    /// Opens (creating) the statistics in `kv` and loads the stage records.
    pub fn open(kv: &dyn KvStore, now: i64) -> Result<Self, KvError> {
        let tree = kv.tree(TREE)?;
        let mut stages = BTreeMap::new();
        for item in tree.scan_prefix(b"s\0") {
            let (_, v) = item?;
            match serde_json::from_slice::<StageStats>(&v) {
                Ok(s) => {
                    stages.insert((s.source.clone(), s.dest.clone()), s);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable ETL stage statistics dropped"),
            }
        }
        Ok(EtlStats {
            tree: Some(tree),
            stages: Mutex::new(stages),
            started: now,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), StageStats>> {
        self.stages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the result of running stage `stage` of `pv`'s `chain` at
    /// `now` (Unix s), which took `took`.
    pub fn record(
        &self,
        pv: &str,
        chain: &Chain,
        stage: usize,
        now: i64,
        took: Duration,
        result: &Result<StageRun, EtlError>,
    ) {
        let none = StageOutcome::default();
        let (done, error) = match result {
            Ok(StageRun::Ran(o)) => (o, None),
            Ok(StageRun::Skipped(_)) => (&none, None),
            Err(e) => (&none, Some(e.to_string())),
        };
        self.record_outcome(pv, chain, stage, now, took, done, error);
    }

    /// Records what stage `stage` of `pv`'s `chain` did at `now` (Unix s)
    /// in `took`: `done` (for a failed run, what it moved before failing)
    /// and the failure, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn record_outcome(
        &self,
        pv: &str,
        chain: &Chain,
        stage: usize,
        now: i64,
        took: Duration,
        done: &StageOutcome,
        error: Option<String>,
    ) {
        let (Some(src), Some(dst)) = (chain.stores.get(stage), chain.stores.get(stage + 1)) else {
            return;
        };
        let ms = took.as_millis() as u64;
        let key = (src.name.clone(), dst.name.clone());
        let (moved, deleted, bytes) = (done.moved, done.deleted, done.bytes);
        let did = moved + deleted > 0;
        let stage_rec = {
            let mut stages = self.lock();
            let since = self.started;
            let s = stages.entry(key).or_insert_with(|| StageStats {
                source: src.name.clone(),
                dest: dst.name.clone(),
                since,
                ..StageStats::default()
            });
            s.checked = s.checked.max(now);
            if !did && error.is_none() {
                return;
            }
            if did {
                s.runs += 1;
                s.moved += moved;
                s.deleted += deleted;
                s.bytes += bytes;
                s.millis += ms;
                s.last_run = now;
                s.last_millis = ms;
                s.add_time(now, ms);
            }
            if let Some(e) = &error {
                s.failures += 1;
                s.last_error = Some(e.clone());
                s.last_error_at = now;
            }
            s.clone()
        };
        let mut pv_recs = self.pv(pv);
        if pv_recs.len() <= stage {
            pv_recs.resize(stage + 1, PvStageStats::default());
        }
        let p = &mut pv_recs[stage];
        p.source = src.name.clone();
        p.dest = dst.name.clone();
        if did {
            p.runs += 1;
            p.moved += moved + deleted;
            p.bytes += bytes;
            p.millis += ms;
            p.last_run = now;
            p.last_millis = ms;
            p.last_result = format!("moved {} partition(s) ({})", moved + deleted, bytes_text(bytes));
        }
        if let Some(e) = error {
            p.failures += 1;
            p.last_result = format!("failed: {e}");
        }
        p.last_result_at = now;
        self.persist(&stage_key(&src.name, &dst.name), &stage_rec);
        self.persist(&pv_key(pv), &pv_recs);
    }

    fn persist<T: Serialize>(&self, key: &[u8], value: &T) {
        let Some(tree) = &self.tree else { return };
        let r = serde_json::to_vec(value)
            .map_err(|e| e.to_string())
            .and_then(|v| tree.insert(key, &v).map_err(|e| e.to_string()));
        if let Err(e) = r {
            tracing::warn!(error = %e, "ETL statistics not stored");
        }
    }

    /// Every stage seen, in name order.
    pub fn stages(&self) -> Vec<StageStats> {
        self.lock().values().cloned().collect()
    }

    /// The figures of `pv`'s stages (by stage index; empty when it never
    /// moved or failed anything).
    pub fn pv(&self, pv: &str) -> Vec<PvStageStats> {
        let Some(tree) = &self.tree else {
            return Vec::new();
        };
        match tree.get(&pv_key(pv)) {
            Ok(Some(v)) => serde_json::from_slice(&v).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Drops `pv`'s figures (deleted or renamed PV).
    pub fn forget(&self, pv: &str) {
        if let Some(tree) = &self.tree {
            if let Err(e) = tree.remove(&pv_key(pv)) {
                tracing::warn!(pv, error = %e, "ETL statistics of a deleted PV not removed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::StageOutcome;
    use crate::index::SledKv;
    use crate::storage::{StorageConfig, StoreUrl};

    fn chain() -> Chain {
        let cfg = StorageConfig::under(std::path::Path::new("/arch"));
        let urls: Vec<String> = cfg
            .tiers
            .iter()
            .map(|t| StoreUrl::for_tier(t).to_string())
            .collect();
        Chain::resolve(&urls, &cfg.tiers).unwrap()
    }

    #[test]
    fn runs_that_move_or_fail_are_counted_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let c = chain();
        let moved = Ok(StageRun::Ran(StageOutcome {
            moved: 3,
            bytes: 3000,
            ..Default::default()
        }));
        let idle = Ok(StageRun::Ran(StageOutcome::default()));
        {
            let kv = SledKv::open(&dir.path().join("db")).unwrap();
            let s = EtlStats::open(&kv, 1000).unwrap();
            s.record("A", &c, 0, 2000, Duration::from_millis(40), &moved);
            s.record("B", &c, 0, 2001, Duration::from_millis(10), &idle);
            let err = Err(EtlError::NoTier {
                pv: "A".into(),
                tier: 9,
            });
            s.record("A", &c, 1, 2002, Duration::from_millis(5), &err);
            let st = s.stages();
            assert_eq!(st.len(), 2);
            assert_eq!((st[0].source.as_str(), st[0].dest.as_str()), ("MTS", "LTS"));
            assert_eq!((st[0].failures, st[0].runs), (1, 0));
            assert_eq!(
                (st[1].runs, st[1].moved, st[1].bytes, st[1].millis),
                (1, 3, 3000, 40)
            );
            assert_eq!((st[1].last_run, st[1].checked), (2000, 2001));
            assert!(s.pv("B").is_empty(), "an idle run writes nothing");
            kv.flush().unwrap();
        }
        let kv = SledKv::open(&dir.path().join("db")).unwrap();
        let s = EtlStats::open(&kv, 5000).unwrap();
        let st = s.stages();
        assert_eq!((st[1].runs, st[1].moved, st[1].since), (1, 3, 1000));
        let p = s.pv("A");
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].moved, p[0].last_run), (3, 2000));
        assert!(p[0].last_result.starts_with("moved 3"));
        assert!(p[1].last_result.starts_with("failed"));
        s.forget("A");
        assert!(s.pv("A").is_empty());
    }

    #[test]
    fn weekly_usage_and_job_time_follow_java() {
        let mut s = StageStats::default();
        let day0 = 20_000 * DAY;
        s.add_time(day0 + 100, 3_600_000);
        s.add_time(day0 + 200, 1000);
        assert_eq!(s.job_millis, 3_601_000);
        s.add_time(day0 + 200 + JOB_GAP_SECS + 1, 500);
        assert_eq!(s.job_millis, 500, "a new job after a 15 minute gap");
        // 3601 s over the day so far (half a day): ~8.3 %.
        let u = s.weekly_usage_percent(day0 + DAY / 2);
        assert!((u - 3601.0 * 100.0 / 43_200.0).abs() < 1e-9, "{u}");
        assert_eq!(s.weekly_usage_percent(day0 + 8 * DAY), 0.0);
    }
}
