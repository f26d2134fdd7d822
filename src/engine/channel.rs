//! The Channel Access side of one archived PV: connection events, the
//! metadata read, the DBR_TIME monitor, and one monitor per archived and
//! runtime field (`PV.HIHI`, `PV.DESC`). Everything it learns goes to the
//! PV's [`Channel`] in the engine's protocol-neutral
//! [`super::write::Ingest`].

use std::sync::Arc;
use std::time::Duration;

use epics_base_rs::server::snapshot::{DbrClass, Snapshot};
use epics_ca_rs::client::{CaClient, ConnectionEvent};
use tokio::task::JoinHandle;

use super::convert;
use super::epics::EpicsEngine;
use super::write::{Channel, Ingest};
use crate::types::Timestamp;

impl EpicsEngine {
    /// Starts the CA tasks of `chan` (owned by the channel once set).
    pub(super) fn spawn_ca(&self, client: &CaClient, chan: &Arc<Channel>) -> Vec<JoinHandle<()>> {
        let ch = client.create_channel(&chan.info.pv_name);
        let mut conn = ch.connection_events();
        let mut tasks = Vec::new();
        // Connection events; the served type and host of every connection.
        {
            let (chan, ch) = (chan.clone(), ch.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    match conn.recv().await {
                        Ok(ev) => {
                            on_connection(&chan, &ev);
                            if matches!(ev, ConnectionEvent::Connected) {
                                if let Ok(info) = ch.info().await {
                                    chan.set_host(info.server_addr.ip().to_string());
                                    let served = convert::arch_type(info.native_type, info.element_count);
                                    chan.set_served_type(served.filter(|t| *t != chan.info.dbr_type));
                                }
                            }
                        }
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
        // Archived fields, and runtime fields not archived (not for a field PV).
        let runtime: Vec<&String> = if chan.info.pv_name.contains('.') {
            Vec::new()
        } else {
            self.inner
                .ingest
                .cfg()
                .runtime_fields
                .iter()
                .filter(|f| !chan.info.archive_fields.contains(f))
                .collect()
        };
        let fields = chan.info.archive_fields.iter().map(|f| (f, false));
        for (field, is_runtime) in fields.chain(runtime.into_iter().map(|f| (f, true))) {
            let ch = client.create_channel(&format!("{}.{field}", chan.info.pv_name));
            let (chan, field) = (chan.clone(), field.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    while ch.wait_connected(Duration::from_secs(30)).await.is_err() {}
                    let mut mon = match ch.subscribe().await {
                        Ok(m) => m,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            continue;
                        }
                    };
                    while let Some(item) = mon.recv().await {
                        let Ok(snap) = item else { continue };
                        let Some(text) = convert::value_text(&snap.value) else {
                            continue;
                        };
                        if is_runtime {
                            chan.runtime_field(&field, text);
                        } else {
                            chan.archived_field(&field, text);
                        }
                    }
                }
            }));
        }
        tasks
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
