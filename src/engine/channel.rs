//! The Channel Access side of one archived PV: connection events, the
//! metadata read, the DBR_TIME monitor and, for SCAN, the sampling tick.
//! Everything it learns goes to the PV's [`Channel`] in the engine's
//! protocol-neutral [`super::write::Ingest`].

use std::sync::Arc;
use std::time::Duration;

use epics_base_rs::server::snapshot::{DbrClass, Snapshot};
use epics_ca_rs::client::ConnectionEvent;

use super::ca::CaEngine;
use super::convert;
use super::write::{Channel, Ingest};
use crate::registry::{PvTypeInfo, SamplingMethod};
use crate::types::Timestamp;

impl CaEngine {
    /// Opens the CA channel of `info` and starts its tasks (owned by the
    /// returned channel, which is not yet in the table).
    pub(super) fn spawn_channel(&self, info: &PvTypeInfo) -> Arc<Channel> {
        let newest = self
            .inner
            .store
            .last_known_blocking(&info.pv_name)
            .ok()
            .flatten()
            .map(|s| s.ts());
        let chan = Arc::new(Channel::new(info, self.inner.ingest.cfg(), newest));
        let ch = self.inner.client.create_channel(&info.pv_name);
        let mut conn = ch.connection_events();
        let mut tasks = Vec::new();
        // Connection events.
        {
            let chan = chan.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match conn.recv().await {
                        Ok(ev) => on_connection(&chan, &ev),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            }));
        }
        // Metadata, then the DBR_TIME monitor.
        {
            let (ingest, chan) = (self.inner.ingest.clone(), chan.clone());
            tasks.push(tokio::spawn(async move {
                while ch.wait_connected(Duration::from_secs(30)).await.is_err() {}
                if let Ok(ctrl) = ch.get_with_metadata(DbrClass::Ctrl).await {
                    chan.set_metadata(convert::metadata(&ctrl));
                }
                if let Ok(info) = ch.info().await {
                    let now = convert::arch_type(info.native_type, info.element_count);
                    if now.is_some_and(|t| t != chan.info.dbr_type) {
                        tracing::warn!(pv = %chan.info.pv_name, archived = %chan.info.dbr_type, ioc = ?now,
                            "the IOC serves another type; its events are dropped (type change)");
                    }
                }
                let mut mon = match ch.subscribe().await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(pv = %chan.info.pv_name, error = ?e, "subscribe failed");
                        return;
                    }
                };
                while let Some(item) = mon.recv().await {
                    match item {
                        Ok(snap) => on_monitor(&ingest, &chan, &snap),
                        Err(_) => continue, // disconnect: the monitor resumes by itself
                    }
                }
            }));
        }
        // SCAN: store the newest value once per period.
        if info.sampling_method == SamplingMethod::Scan {
            let chan = chan.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(chan.period());
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    chan.scan_tick();
                }
            }));
        }
        chan.set_tasks(tasks);
        chan
    }
}

/// One monitor update: the IOC's time stamp, then the value as the archived type.
fn on_monitor(ingest: &Ingest, chan: &Channel, snap: &Snapshot) {
    let ts = Timestamp::new(snap.timestamp.unix_secs() as i64, snap.timestamp.subsec_nanos());
    ingest.on_event(chan, ts, || convert::sample_of(snap, chan.info.dbr_type));
}

fn on_connection(chan: &Channel, ev: &ConnectionEvent) {
    let now = Timestamp::now().secs;
    match ev {
        ConnectionEvent::Connected => chan.connected(now),
        ConnectionEvent::Disconnected => chan.disconnected(now),
        _ => {}
    }
}
