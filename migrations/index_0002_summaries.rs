//! Index v1 → v2: add per-(PV, tier) summaries and per-tier totals, computed
//! from the partition records. Frozen: do not edit once released.

use std::collections::BTreeMap;

use super::support::{decode, encode, keys, Batch, Index, IndexError, PartitionEntry};
use crate::index::{summarize, TierTotals};

pub(super) fn migrate(index: &Index) -> Result<(), IndexError> {
    let mut groups: BTreeMap<(String, u8), Vec<PartitionEntry>> = BTreeMap::new();
    for item in index.tree().scan_prefix(&[keys::PARTITION]) {
        let (k, v) = item?;
        let Some((pv, tier, _)) = keys::parse_partition(&k) else {
            continue;
        };
        let e: PartitionEntry = decode("partitions", &v)?;
        groups.entry((pv.to_string(), tier)).or_default().push(e);
    }
    let mut totals: BTreeMap<u8, TierTotals> = BTreeMap::new();
    let mut batch = Batch::new();
    for ((pv, tier), parts) in &groups {
        let key = parts
            .first()
            .and_then(|e| e.path.rfind(':').map(|i| e.path[..=i].to_string()))
            .unwrap_or_else(|| crate::plainpb::pv_key(pv));
        let s = summarize(&key, parts.iter());
        let t = totals.entry(*tier).or_default();
        t.files += s.files;
        t.bytes += s.bytes;
        batch.put(keys::summary(pv, *tier), encode(&s));
        if batch.len() >= 10_000 {
            index.tree().apply_batch(&batch)?;
            batch = Batch::new();
        }
    }
    for (tier, t) in totals {
        batch.put(keys::totals(tier).to_vec(), encode(&t));
    }
    index.tree().apply_batch(&batch)?;
    Ok(())
}
