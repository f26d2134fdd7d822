//! Repair: reconciling the index with the files without a restart.

use serde_json::{json, Value};

use super::{Mgmt, MgmtError, MgmtResult};

impl Mgmt {
    /// `reconcile`: compares the index with the files for `pv` (alias
    /// resolved) or for every PV, repairing the index; reports what it found.
    pub async fn reconcile(&self, pv: Option<&str>) -> MgmtResult<Value> {
        let store = self.store.clone();
        let pv = pv.map(|s| self.registry.resolve(s));
        let report = tokio::task::spawn_blocking(move || match pv {
            Some(pv) => store.reconcile_pv(&pv),
            None => store.reconcile_all(),
        })
        .await
        .map_err(|e| MgmtError::Internal(e.into()))??;
        Ok(json!({
            "status": "ok",
            "checked": report.checked.to_string(),
            "rescanned": report.rescanned,
            "missing": report.missing,
            "trimmed": report.trimmed.iter().map(|(p, o)| format!("{p}@{o}")).collect::<Vec<_>>(),
            "recovered": report.recovered,
            "unreadable": report.unreadable.iter().map(|(p, e)| format!("{p}: {e}")).collect::<Vec<_>>(),
        }))
    }
}
