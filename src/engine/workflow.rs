//! The archive workflow of a new PV over Channel Access: connect, learn the
//! native type, element count and metadata, measure the event rate during
//! the initial sampling, then report a [`ProbeResult`] for management to
//! complete the request.

use std::time::{Duration, Instant};

use epics_base_rs::server::snapshot::DbrClass;
use tokio::task::JoinHandle;

use super::ca::CaEngine;
use super::write::{approx_bytes, lock};
use super::{convert, ProbeResult};
use crate::registry::ArchiveRequest;

impl CaEngine {
    /// Runs the workflow of `req` in a task, which removes itself from the
    /// pending probes when it has reported.
    pub(super) fn spawn_probe(&self, req: &ArchiveRequest) -> JoinHandle<()> {
        let inner = self.inner.clone();
        let pv = req.pv.clone();
        tokio::spawn(async move {
            let ch = inner.client.create_channel(&pv);
            while ch.wait_connected(Duration::from_secs(30)).await.is_err() {
                tracing::debug!(pv = %pv, "archive request: still not connected");
            }
            let Ok(info) = ch.info().await else { return };
            let Some(dbr_type) = convert::arch_type(info.native_type, info.element_count) else {
                tracing::error!(pv = %pv, native = ?info.native_type, "type not archivable over CA");
                return;
            };
            let ctrl = ch.get_with_metadata(DbrClass::Ctrl).await.ok();
            let host = Some(info.server_addr.ip().to_string());
            let (mut events, mut bytes) = (0u64, 0u64);
            let t = Instant::now();
            if let Ok(mut mon) = ch.subscribe().await {
                let deadline = tokio::time::Instant::now() + inner.initial_sampling;
                loop {
                    match tokio::time::timeout_at(deadline, mon.recv()).await {
                        Ok(Some(Ok(snap))) => {
                            events += 1;
                            if let Some(s) = convert::sample_of(&snap, dbr_type) {
                                bytes += approx_bytes(&s);
                            }
                        }
                        Ok(Some(Err(_))) => continue,
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            let secs = t.elapsed().as_secs_f64().max(1e-3);
            let md = ctrl.as_ref().map(convert::metadata).unwrap_or_default();
            let get = |k: &str| md.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
            let num = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
            let mut limits = Vec::new();
            for (java, epics) in crate::registry::typeinfo::LIMIT_EPICS_FIELDS {
                if let Some(v) = num(epics) {
                    limits.push((java.to_string(), v));
                }
            }
            let probe = ProbeResult {
                pv: pv.clone(),
                dbr_type,
                element_count: i32::try_from(info.element_count).unwrap_or(1).max(1),
                event_rate: events as f64 / secs,
                storage_rate: bytes as f64 / secs,
                units: get("EGU"),
                precision: num("PREC"),
                limits,
                host,
                extra_fields: Vec::new(),
            };
            drop(ch);
            tracing::info!(pv = %pv, dbr = %dbr_type, count = info.element_count, rate = probe.event_rate, "archive request sampled");
            let _ = inner.probe_tx.send(probe);
            lock(&inner.probes).remove(&pv);
        })
    }
}
