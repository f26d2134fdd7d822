//! ETL management actions (Java's BPL shapes): `consolidateDataForPV`,
//! `changeStore`, `modifyStoreURLForPV`; the ETL rows of `getPVDetails`
//! and `getApplianceMetricsForAppliance`, and the per-stage gauges.

use serde_json::{json, Value};

use super::reports::grouped_2dp;
use super::{status_time, Mgmt, MgmtError, MgmtResult};
use crate::etl::plan::CONSOLIDATE_AHEAD_SECS;
use crate::storage::StoreUrl;
use crate::types::Timestamp;

/// Java's mgmt default look-ahead of `consolidateDataForPV` (one year and a day).
const CONSOLIDATE_DEFAULT_SECS: i64 = CONSOLIDATE_AHEAD_SECS + 86_400;

impl Mgmt {
    /// `getPVDetails` rows of the PV's ETL stages (Java's names, source `ETL`).
    pub(crate) fn etl_rows(&self, info: &crate::registry::PvTypeInfo) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        if info.data_stores.is_empty() {
            return rows;
        }
        let chain = match self.etl.chain(&info.data_stores) {
            Ok(c) => c,
            Err(e) => {
                rows.push(("ETL: chain rejected".to_string(), e.to_string()));
                return rows;
            }
        };
        let tiers = self.store.tiers();
        let gran = |t: Option<u8>| t.and_then(|t| tiers.get(t as usize)).map(|t| t.granularity());
        let sources: Vec<_> = chain.stages().filter_map(|(_, s, _)| gran(s.tier)).collect();
        let delays = crate::etl::plan::stage_delays(&sources);
        let next = self.etl.next_starts(&info.pv_name).unwrap_or_default();
        let stats = self.etl.stats().pv(&info.pv_name);
        if let Some(due) = self.etl.due_of(&info.pv_name) {
            rows.push(("ETL Stages will be triggered at".into(), status_time(due)));
        }
        for (i, src, dst) in chain.stages() {
            rows.push((
                format!("<b>ETL {i}</b>"),
                format!("<b>{} &raquo; {}</b>", src.name, dst.name),
            ));
            let name =
                |g: Option<crate::types::PartitionGranularity>| g.map_or("blackhole", |g| g.java_name());
            rows.push((
                format!("ETL {i} partition granularity of source"),
                name(gran(src.tier)).into(),
            ));
            rows.push((
                format!("ETL {i} partition granularity of dest"),
                name(gran(dst.tier)).into(),
            ));
            if let Some(d) = delays.get(i) {
                rows.push((format!("ETL {i} delay between jobs (s)"), d.to_string()));
            }
            rows.extend(stage_rows(i, stats.get(i), next.get(i).copied()));
        }
        let due = self.etl.due_of(&info.pv_name).unwrap_or(0);
        rows.push(("ETL next move due at".into(), status_time(due)));
        rows
    }

    /// Runs the PV's stages from its first store up to and including the
    /// one into `storage`, each as if at `date` (ISO-8601; default a year
    /// and a day ahead), ignoring `SKIP_…_FOR_ETL`. The PV must be paused.
    #[tracing::instrument(skip_all, fields(pv = %name, storage = %storage))]
    pub async fn consolidate(&self, name: &str, storage: &str, date: Option<&str>) -> MgmtResult<Value> {
        let pv = self.registry.resolve(name);
        let info = self
            .registry
            .get(&pv)?
            .ok_or_else(|| MgmtError::bad("pv", format!("PV {name} is not archived here")))?;
        let t = match date {
            Some(d) => crate::retrieval::time::parse_instant(d)
                .ok_or_else(|| MgmtError::bad("date", format!("cannot parse the date {d}")))?,
            None => Timestamp::new(Timestamp::now().secs + CONSOLIDATE_DEFAULT_SECS, 0),
        };
        let chain = self
            .etl
            .chain(&info.data_stores)
            .map_err(|e| MgmtError::bad("pv", format!("store chain of {pv}: {e}")))?;
        let Some(last) = chain.position(storage) else {
            return Ok(json!({
                "validation": format!("Cannot find storage with name {storage} for pv {pv}")
            }));
        };
        if !info.paused {
            return Ok(json!({
                "validation": format!("Cannot consolidate unless PV {pv} is paused.")
            }));
        }
        let etl = self.etl.etl().clone();
        let pv2 = pv.clone();
        let chain2 = chain.clone();
        tokio::task::spawn_blocking(move || -> Result<(), crate::etl::EtlError> {
            for stage in 0..last {
                etl.run_stage(&pv2, &chain2, stage, t, true, None)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| MgmtError::Internal(anyhow::anyhow!("consolidation task: {e}")))??;
        Ok(json!({
            "status": "ok",
            "desc": format!("Successfully consolidated PV {pv} into {storage}")
        }))
    }
}

/// Java's per-stage rows of a PV's details from its statistics.
fn stage_rows(
    i: usize,
    st: Option<&crate::etl::stats::PvStageStats>,
    next: Option<i64>,
) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    if let Some(st) = st.filter(|s| s.last_run != 0) {
        rows.push((format!("ETL {i} last completed"), status_time(st.last_run)));
        rows.push((format!("ETL {i} last job took (ms)"), st.last_millis.to_string()));
    }
    if let Some(n) = next {
        rows.push((format!("ETL {i} next job runs at"), status_time(n)));
    }
    match st.filter(|s| s.runs != 0) {
        Some(st) => {
            rows.push((
                format!("ETL {i} total time performing ETL(ms)"),
                st.millis.to_string(),
            ));
            rows.push((
                format!("ETL {i} average time performing ETL(ms)"),
                (st.millis / st.runs).to_string(),
            ));
            rows.push((
                format!("ETL {i} number of times we performed ETL"),
                st.runs.to_string(),
            ));
            rows.push((format!("ETL {i} out of space chunks deleted"), "0".into()));
            let (v, unit) = java_bytes(st.bytes, false);
            rows.push((format!("ETL {i} approx bytes transferred{unit}"), grouped_2dp(v)));
            rows.push((format!("ETL {i} partitions moved"), st.moved.to_string()));
        }
        None => rows.push((
            format!("ETL {i} number of times we performed ETL"),
            "None so far".into(),
        )),
    }
    if let Some(st) = st.filter(|s| s.failures != 0) {
        rows.push((format!("ETL {i} failures"), st.failures.to_string()));
    }
    if let Some(st) = st.filter(|s| s.last_result_at != 0) {
        rows.push((
            format!("ETL {i} last result"),
            format!("{} ({})", st.last_result, status_time(st.last_result_at)),
        ));
    }
    rows
}

/// Java's byte figure and unit: KB above 10 KiB, MB above 1 MiB, GB above
/// 1 GiB when `gb` (the appliance rows; the PV rows stop at MB).
fn java_bytes(b: u64, gb: bool) -> (f64, &'static str) {
    const K: u64 = 1024;
    match b {
        b if gb && b > K * K * K => (b as f64 / (K * K * K) as f64, "(GB)"),
        b if b > K * K => (b as f64 / (K * K) as f64, "(MB)"),
        b if b > 10 * K => (b as f64 / K as f64, "(KB)"),
        b => (b as f64, ""),
    }
}

/// One gauge of a stage: (figure, source store, destination store, value).
pub type StageGauge = (&'static str, String, String, f64);

impl Mgmt {
    /// `changeStore`: moves all of a paused PV's data in store `storage`
    /// into the store `newbackend` describes, then puts `newbackend` in
    /// place of that store in its `dataStores`. The new chain must pass
    /// the start-up rules. A store of the same tier moves nothing; another
    /// granularity or folder needs a tier of its own.
    #[tracing::instrument(skip_all, fields(pv = %name, storage = %storage))]
    pub async fn change_store(&self, name: &str, storage: &str, newbackend: &str) -> MgmtResult<Value> {
        let pv = self.real_name(name);
        let mut info = self
            .registry
            .get(&pv)?
            .ok_or_else(|| MgmtError::bad("pv", format!("PV {name} is not archived here")))?;
        if !info.paused {
            return Err(MgmtError::Validation {
                param: "pv",
                message: format!("Need to pause PV before changing type for {pv}"),
            });
        }
        let old = self
            .etl
            .chain(&info.data_stores)
            .map_err(|e| MgmtError::bad("pv", format!("store chain of {pv}: {e}")))?;
        let Some(pos) = old.position(storage) else {
            return Err(MgmtError::Validation {
                param: "storage",
                message: format!("Cannot find storage with name {storage} for pv {pv}"),
            });
        };
        let url = StoreUrl::parse(newbackend).map_err(|e| MgmtError::bad("newbackend", e.to_string()))?;
        let mut urls = info.data_stores.clone();
        urls[pos] = newbackend.trim().to_string();
        let new = self
            .etl
            .chain(&urls)
            .map_err(|e| MgmtError::bad("newbackend", e.to_string()))?;
        let (from, to) = (old.stores[pos].clone(), new.stores[pos].clone());
        if let (Some(t), StoreUrl::Pb(p)) = (to.tier.filter(|t| Some(*t) == from.tier), &url) {
            self.same_tier_check(&info.data_stores[pos], t, p, storage)?;
            if from.compression != to.compression {
                return Err(MgmtError::bad(
                    "newbackend",
                    format!(
                        "rewriting the partitions of {storage} in another compression is not supported yet"
                    ),
                ));
            }
        }
        self.store.flush_pv(&pv).await?;
        let (etl, pv2, from2, to2) = (self.etl.etl().clone(), pv.clone(), from.clone(), to.clone());
        let out =
            tokio::task::spawn_blocking(move || crate::etl::change::move_store(&etl, &pv2, &from2, &to2))
                .await
                .map_err(|e| MgmtError::Internal(anyhow::anyhow!("changeStore task: {e}")))??;
        if let (Some(src), true) = (from.tier, from.tier != to.tier) {
            let left = self
                .store
                .index()
                .partitions(&pv, src)
                .map_err(crate::etl::EtlError::from)?;
            if !left.is_empty() {
                return Err(MgmtError::Internal(anyhow::anyhow!(
                    "{} partitions of {pv} stayed in {storage}; dataStores unchanged",
                    left.len()
                )));
            }
        }
        info.data_stores = urls;
        info.modification_time = Some(Mgmt::now());
        self.registry.put(&info)?;
        self.etl.notify(&pv);
        tracing::info!(moved = out.moved, deleted = out.deleted, bytes = out.bytes, to = %to.name, "store changed");
        Ok(json!({
            "status": "ok",
            "desc": format!("Successfully changed the storage for PV {pv} into {storage}")
        }))
    }

    /// A new URL for the tier a store already uses must describe that tier:
    /// its granularity, and its folder (or the folder the old URL named).
    fn same_tier_check(
        &self,
        old_url: &str,
        tier: u8,
        p: &crate::storage::chain::PbUrl,
        storage: &str,
    ) -> MgmtResult<()> {
        let Some(t) = self.store.tiers().get(tier as usize) else {
            return Ok(());
        };
        let name = crate::storage::StoragePlugin::name(t);
        if p.granularity != t.granularity() {
            return Err(MgmtError::bad(
                "newbackend",
                format!(
                    "store {storage} is tier {name} with {}; {} needs a tier of its own ([[storage.tiers]]) named in newbackend",
                    t.granularity().java_name(),
                    p.granularity.java_name()
                ),
            ));
        }
        let trim = |s: &str| s.trim_end_matches('/').to_string();
        let old_root = match StoreUrl::parse(old_url) {
            Ok(StoreUrl::Pb(o)) => Some(trim(&o.root_folder)),
            _ => None,
        };
        let root = trim(&p.root_folder);
        if root != trim(&t.root().display().to_string()) && Some(&root) != old_root.as_ref() {
            return Err(MgmtError::bad(
                "newbackend",
                format!(
                    "store {storage} is tier {name} in {}; the folder {} needs a tier of its own ([[storage.tiers]]) named in newbackend",
                    t.root().display(),
                    p.root_folder
                ),
            ));
        }
        Ok(())
    }

    /// `modifyStoreURLForPV`: replaces the URL of store `storage` in a
    /// paused PV's `dataStores` (no data moves). Java's answers: 404 with a
    /// message for an unknown PV, a PV not paused, an unknown store or an
    /// unparseable URL; success is an empty body. strata also checks the
    /// new chain with the start-up rules (400 naming the problem).
    #[tracing::instrument(skip_all, fields(pv = %name, storage = %storage))]
    pub fn modify_store_url(&self, name: &str, storage: &str, plugin_url: &str) -> MgmtResult<()> {
        let pv = self.real_name(name);
        let mut info = self
            .registry
            .get(&pv)?
            .ok_or_else(|| MgmtError::NotFound(format!("Cannot find typeinfo for {name}")))?;
        if !info.paused {
            return Err(MgmtError::NotFound(format!("PV is not paused {pv}")));
        }
        let pos = info
            .data_stores
            .iter()
            .position(|u| StoreUrl::parse(u).is_ok_and(|u| u.name() == storage))
            .ok_or_else(|| MgmtError::NotFound(format!("Cannot find store with name {storage}")))?;
        if StoreUrl::parse(plugin_url).is_err() {
            return Err(MgmtError::NotFound(format!("Cannot parse URL {plugin_url}")));
        }
        let mut urls = info.data_stores.clone();
        urls[pos] = plugin_url.trim().to_string();
        self.etl
            .chain(&urls)
            .map_err(|e| MgmtError::bad("plugin_url", e.to_string()))?;
        info.data_stores = urls;
        info.modification_time = Some(Mgmt::now());
        self.registry.put(&info)?;
        self.etl.notify(&pv);
        tracing::info!(url = %plugin_url, "store URL replaced");
        Ok(())
    }

    /// Java's ETL rows of `getApplianceMetricsForAppliance` per stage that
    /// ran (named by its destination, as Java does), then strata's
    /// per-stage rows: last run, next run, partitions moved, bytes,
    /// failures, backlog.
    pub(crate) fn etl_metrics_rows(&self) -> Vec<(String, String)> {
        let now = self.etl.now();
        let views = self.etl.stage_views(now);
        let mut rows = Vec::new();
        let stats = self.etl.stats().stages();
        for st in &stats {
            if st.runs == 0 {
                continue;
            }
            let d = &st.dest;
            let avg_s = st.millis as f64 / (st.runs as f64 * 1000.0);
            let measured = (now - st.since).max(1) as f64;
            rows.push((
                format!("<b>Total number of ETL runs into {d} so far</b>"),
                st.runs.to_string(),
            ));
            rows.push((
                format!("Average time spent in ETL into {d} (s/run)"),
                grouped_2dp(avg_s),
            ));
            rows.push((
                "Average percentage of time spent in ETL".into(),
                grouped_2dp(avg_s * 100.0 / measured),
            ));
            rows.push((
                "Approximate time taken by last ETL job (s)".into(),
                grouped_2dp((st.job_millis / 1000) as f64),
            ));
            rows.push((
                "Estimated weekly usage in ETL (%)".into(),
                grouped_2dp(st.weekly_usage_percent(now)),
            ));
            let (v, unit) = java_bytes(st.bytes, true);
            rows.push((
                format!("Estimated bytes transferred in ETL ({d}){unit}"),
                grouped_2dp(v),
            ));
        }
        let mut names: Vec<(String, String)> =
            stats.iter().map(|s| (s.source.clone(), s.dest.clone())).collect();
        for v in &views {
            if !names.contains(&(v.source.clone(), v.dest.clone())) {
                names.push((v.source.clone(), v.dest.clone()));
            }
        }
        for (src, dst) in names {
            let st = stats.iter().find(|s| s.source == src && s.dest == dst);
            let view = views.iter().find(|v| v.source == src && v.dest == dst);
            let stage = format!("ETL {src} » {dst}");
            let get = |f: fn(&crate::etl::stats::StageStats) -> u64| st.map_or(0, f);
            rows.push((
                format!("{stage} last run"),
                status_time(st.map_or(0, |s| s.last_run)),
            ));
            rows.push((
                format!("{stage} next run"),
                status_time(view.and_then(|v| v.next_run).unwrap_or(0)),
            ));
            rows.push((
                format!("{stage} partitions moved"),
                get(|s| s.moved + s.deleted).to_string(),
            ));
            rows.push((format!("{stage} bytes moved"), get(|s| s.bytes).to_string()));
            rows.push((
                format!("{stage} time spent (s)"),
                grouped_2dp(get(|s| s.millis) as f64 / 1000.0),
            ));
            rows.push((format!("{stage} failures"), get(|s| s.failures).to_string()));
            rows.push((
                format!("{stage} backlog (PVs due)"),
                view.map_or(0, |v| v.backlog).to_string(),
            ));
        }
        rows
    }

    /// Java's ETL keys of `getApplianceMetrics`: `totalETLRuns(<dest>)`,
    /// `timeForOverallETLInSeconds(<dest>)` per destination store and
    /// `maxETLPercentage` (time in ETL over the measured time, the largest
    /// of the destinations).
    pub(crate) fn etl_metrics(&self) -> Vec<(String, String)> {
        let now = self.etl.now();
        let mut by_dest: std::collections::BTreeMap<String, (u64, u64, i64)> = Default::default();
        for st in self.etl.stats().stages() {
            let e = by_dest.entry(st.dest.clone()).or_insert((0, 0, st.since));
            e.0 += st.runs;
            e.1 += st.millis;
            e.2 = e.2.min(st.since);
        }
        let mut out = Vec::new();
        let mut max_pct: f64 = 0.0;
        for (d, (runs, ms, since)) in by_dest {
            let secs = ms / 1000;
            max_pct = max_pct.max((secs * 100) as f64 / (now - since).max(1) as f64);
            out.push((format!("totalETLRuns({d})"), runs.to_string()));
            out.push((format!("timeForOverallETLInSeconds({d})"), secs.to_string()));
        }
        out.push(("maxETLPercentage".into(), grouped_2dp(max_pct)));
        out
    }

    /// Per-stage gauges for `/metrics`.
    pub fn etl_stage_gauges(&self) -> Vec<StageGauge> {
        let now = self.etl.now();
        let mut out: Vec<StageGauge> = Vec::new();
        for st in self.etl.stats().stages() {
            let (a, b) = (st.source.clone(), st.dest.clone());
            for (k, v) in [
                ("runs", st.runs as f64),
                ("partitions_moved", st.moved as f64),
                ("partitions_deleted", st.deleted as f64),
                ("bytes_moved", st.bytes as f64),
                ("seconds", st.millis as f64 / 1000.0),
                ("failures", st.failures as f64),
                ("last_run_timestamp_seconds", st.last_run as f64),
            ] {
                out.push((k, a.clone(), b.clone(), v));
            }
        }
        for v in self.etl.stage_views(now) {
            out.push(("backlog", v.source.clone(), v.dest.clone(), v.backlog as f64));
            if let Some(n) = v.next_run {
                out.push(("next_run_timestamp_seconds", v.source, v.dest, n as f64));
            }
        }
        out
    }
}

impl Mgmt {
    /// A PV's ETL is cancelled (pause, delete without its data): its
    /// buffered samples are written, then the stages whose source has
    /// `consolidateOnShutdown=true` run once as if a year ahead (etl.md
    /// §5). A failure is logged; the data stays where it is.
    pub(crate) async fn consolidate_on_cancel(&self, info: &crate::registry::PvTypeInfo) {
        let pv = info.pv_name.clone();
        let Ok(chain) = self.etl.chain(&info.data_stores) else {
            return;
        };
        if !crate::etl::consolidate::has_consolidating_stage(&chain) {
            return;
        }
        if let Err(e) = self.store.flush_pv(&pv).await {
            tracing::warn!(pv = %pv, error = %e, "buffered samples not written; no consolidation");
            return;
        }
        let sched = self.etl.clone();
        let pv2 = pv.clone();
        let r = tokio::task::spawn_blocking(move || {
            crate::etl::consolidate::consolidate_pv(&sched, &pv2, &chain)
        })
        .await;
        match r {
            Ok(Ok(o)) if o.moved + o.deleted > 0 => {
                tracing::info!(pv = %pv, moved = o.moved, deleted = o.deleted, "consolidated")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(pv = %pv, error = %e, "consolidation failed; data stays"),
            Err(e) => tracing::warn!(pv = %pv, error = %e, "consolidation task failed"),
        }
    }
}
