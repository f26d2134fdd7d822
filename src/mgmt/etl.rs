//! ETL management actions (Java's BPL shapes): `consolidateDataForPV`.

use serde_json::{json, Value};

use super::{Mgmt, MgmtError, MgmtResult};
use crate::etl::plan::CONSOLIDATE_AHEAD_SECS;
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
        }
        let due = self.etl.due_of(&info.pv_name).unwrap_or(0);
        rows.push(("ETL next move due at".into(), super::status_time(due)));
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
