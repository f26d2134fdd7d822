//! Registry schema versions and the numbered upgrade steps in `migrations/`.

use super::{Registry, RegistryError};
use crate::index::KvError;

/// Key of the registry schema version in the `meta` tree.
pub const REGISTRY_SCHEMA_KEY: &[u8] = b"registry_schema";
/// Version written by this strata.
pub const REGISTRY_SCHEMA_VERSION: u32 = 2;

#[path = "../../migrations/registry_0002_names.rs"]
mod m0002;

/// Brings the registry trees to [`REGISTRY_SCHEMA_VERSION`]; true if a
/// step ran.
pub(super) fn run(r: &Registry) -> Result<bool, RegistryError> {
    let (pvs, _, meta) = r.trees();
    let stored = match meta.get(REGISTRY_SCHEMA_KEY)? {
        Some(v) => {
            let a: [u8; 4] = v.as_slice().try_into().map_err(|_| KvError::Corrupt {
                tree: "meta".into(),
                message: "bad registry schema version".into(),
            })?;
            u32::from_be_bytes(a)
        }
        // Before versioning the registry held PVTypeInfo JSON only (v1).
        None if pvs.scan_prefix(b"").next().is_none() => REGISTRY_SCHEMA_VERSION,
        None => 1,
    };
    if stored > REGISTRY_SCHEMA_VERSION {
        return Err(RegistryError::TooNew {
            found: stored,
            supported: REGISTRY_SCHEMA_VERSION,
        });
    }
    for to in stored + 1..=REGISTRY_SCHEMA_VERSION {
        tracing::info!(from = to - 1, to, "migrating registry");
        if to == 2 {
            m0002::migrate(r)?;
        }
        meta.insert(REGISTRY_SCHEMA_KEY, &to.to_be_bytes())?;
    }
    meta.insert(REGISTRY_SCHEMA_KEY, &REGISTRY_SCHEMA_VERSION.to_be_bytes())?;
    meta.flush()?;
    Ok(stored < REGISTRY_SCHEMA_VERSION)
}
