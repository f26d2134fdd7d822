//! The appliance's state as gauges for `GET /metrics`: PV counts by status,
//! engine rates, and per tier its files, bytes and write buffers.

use super::Mgmt;
use crate::storage::StoragePlugin;

/// One sample of the `strata_gauge{name, label}` family.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// What is measured (`pvs`, `engine`, `tier_files`, …).
    pub name: &'static str,
    /// Which one (a status, a figure, a tier name).
    pub label: String,
    /// Current value.
    pub value: f64,
}

impl Mgmt {
    /// Current gauges. A tier whose totals cannot be read is left out.
    pub fn gauges(&self) -> Vec<Gauge> {
        let mut out = Vec::new();
        let mut put = |name: &'static str, label: &str, value: f64| {
            out.push(Gauge {
                name,
                label: label.to_string(),
                value,
            })
        };
        let (total, paused, pending, connected, disconnected) = self.status_counts();
        put("pvs", "total", total as f64);
        put("pvs", "paused", paused as f64);
        put("pvs", "initial_sampling", pending as f64);
        put("pvs", "connected", connected as f64);
        put("pvs", "disconnected", disconnected as f64);
        let em = self.engine.metrics();
        put("engine", "event_rate", em.event_rate);
        put("engine", "data_rate_bytes", em.data_rate);
        put("engine", "skipped_write_cycles", em.skipped_write_cycles as f64);
        if let Ok(tiers) = self.store.appliance_metrics() {
            for t in tiers {
                put("tier_files", &t.name, t.total_files.unwrap_or(0) as f64);
                put("tier_bytes", &t.name, t.total_size_bytes.unwrap_or(0) as f64);
            }
        }
        for t in self.store.tiers() {
            put("buffered_bytes", t.name(), t.buffered_bytes() as f64);
            put("dropped_not_after_last", t.name(), t.dropped_time_total() as f64);
        }
        let c = &self.etl.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed) as f64;
        put("etl", "runs", load(&c.runs));
        put("etl", "partitions_moved", load(&c.moved));
        put("etl", "partitions_deleted", load(&c.deleted));
        put("etl", "bytes_moved", load(&c.bytes));
        put("etl", "failures", load(&c.failures));
        put("etl", "bad_chains", load(&c.bad_chains));
        put("etl", "out_of_space_deleted", load(&c.out_of_space_deleted));
        put("etl", "seconds", load(&c.millis) / 1000.0);
        put("etl", "last_tick_timestamp_seconds", load(&c.last_tick));
        put("etl", "queued_pvs", self.etl.queued() as f64);
        let now = crate::types::Timestamp::now().secs;
        put("etl", "backlog", self.etl.backlog(now) as f64);
        if let Some(d) = self.etl.next_due() {
            put("etl", "next_due_timestamp_seconds", d as f64);
        }
        out
    }
}
