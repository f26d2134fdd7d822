//! Registry v1 → v2: build the compact `pv_names` tree (paused flag, type,
//! creation/modification times) from the PVTypeInfo JSON records, so
//! listings and reports need not decode JSON. Frozen once released.

use crate::index::entry::encode;
use crate::index::Batch;
use crate::registry::{NameRecord, PvTypeInfo, Registry, RegistryError};

pub(super) fn migrate(r: &Registry) -> Result<(), RegistryError> {
    let (pvs, names, _) = r.trees();
    let mut batch = Batch::new();
    for item in pvs.scan_prefix(b"") {
        let (k, v) = item?;
        let name = String::from_utf8_lossy(&k).into_owned();
        let json: serde_json::Value = serde_json::from_slice(&v).map_err(|e| RegistryError::Corrupt {
            pv: name.clone(),
            reason: e.to_string(),
        })?;
        let t = PvTypeInfo::from_json(&json).map_err(|e| RegistryError::Corrupt {
            pv: name.clone(),
            reason: e.to_string(),
        })?;
        batch.put(k, encode(&NameRecord::of(&t)));
        if batch.len() >= 10_000 {
            names.apply_batch(&batch)?;
            batch = Batch::new();
        }
    }
    names.apply_batch(&batch)?;
    Ok(())
}
