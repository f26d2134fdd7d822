//! The archive workflow of a new PV over Channel Access: connect, learn the
//! native type, element count and metadata, measure the event rate during
//! the initial sampling, read the fields Java's `MetaGet` reads (`NAME`,
//! `NAME$`, `MDEL`, `ADEL`, `SCAN`, `RTYP`), then report a [`ProbeResult`]
//! for management to complete the request.

use std::time::{Duration, Instant};

use epics_base_rs::server::snapshot::DbrClass;
use epics_ca_rs::client::CaClient;
use tokio::task::JoinHandle;

use super::epics::EpicsEngine;
use super::write::approx_bytes;
use super::{convert, ProbeResult};
use crate::registry::ArchiveRequest;

/// Fields read when a PV is first archived (Java's `getExtraFields` and
/// the alias fields), stored in the PVTypeInfo's `extraFields`.
pub(super) const EXTRA_FIELDS: [&str; 6] = ["NAME", "NAME$", "MDEL", "ADEL", "SCAN", "RTYP"];

/// Java's `MetaGet`: `NAME$` (else `NAME`) as `NAME`, the others by name.
pub(super) fn extra_fields(read: Vec<(&str, String)>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let name = read
        .iter()
        .find(|(f, v)| *f == "NAME$" && !v.is_empty())
        .or_else(|| read.iter().find(|(f, v)| *f == "NAME" && !v.is_empty()));
    if let Some((_, v)) = name {
        out.push(("NAME".to_string(), v.clone()));
    }
    for (f, v) in read {
        if f != "NAME" && f != "NAME$" {
            out.push((f.to_string(), v));
        }
    }
    out
}

/// Reads the extra fields of `pv` over CA, each within `wait`.
async fn read_extra_fields(client: &CaClient, pv: &str, wait: Duration) -> Vec<(String, String)> {
    if pv.contains('.') {
        // Java reads no extra fields for a field PV.
        return Vec::new();
    }
    let reads = EXTRA_FIELDS.map(|f| {
        let ch = client.create_channel(&format!("{pv}.{f}"));
        async move {
            let got = tokio::time::timeout(wait, async {
                ch.wait_connected(wait).await.ok()?;
                ch.get_with_metadata(DbrClass::Ctrl).await.ok()
            })
            .await
            .ok()
            .flatten();
            got.and_then(|s| convert::meta_text(&s)).map(|t| (f, t))
        }
    });
    let read: Vec<(&str, String)> = futures::future::join_all(reads)
        .await
        .into_iter()
        .flatten()
        .collect();
    extra_fields(read)
}

impl EpicsEngine {
    /// Runs the CA workflow of `req` in a task, which removes itself from
    /// the pending probes when it has reported.
    pub(super) fn spawn_probe(&self, req: &ArchiveRequest) -> JoinHandle<()> {
        let engine = self.clone();
        let pv = req.pv.clone();
        tokio::spawn(async move {
            let Some(client) = engine.inner.ca.as_ref() else {
                return;
            };
            let ch = client.create_channel(&pv);
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
            let sampling = engine.initial_sampling();
            let rate = async {
                let (mut events, mut bytes) = (0u64, 0u64);
                let t = Instant::now();
                if let Ok(mut mon) = ch.subscribe().await {
                    let deadline = tokio::time::Instant::now() + sampling;
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
                (events, bytes, t.elapsed().as_secs_f64().max(1e-3))
            };
            let ((events, bytes, secs), extra) = tokio::join!(rate, read_extra_fields(client, &pv, sampling));
            let md = ctrl.as_ref().map(convert::metadata).unwrap_or_default();
            let probe = ProbeResult {
                pv: pv.clone(),
                dbr_type,
                element_count: i32::try_from(info.element_count).unwrap_or(1).max(1),
                event_rate: events as f64 / secs,
                storage_rate: bytes as f64 / secs,
                units: None,
                precision: None,
                limits: Vec::new(),
                host,
                extra_fields: extra,
            }
            .with_metadata(&md);
            drop(ch);
            engine.probed(probe);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_dollar_wins_over_name() {
        let got = extra_fields(vec![
            ("NAME", "short".into()),
            ("NAME$", "a:long:name".into()),
            ("RTYP", "ai".into()),
            ("MDEL", "0.0".into()),
        ]);
        assert_eq!(
            got,
            vec![
                ("NAME".to_string(), "a:long:name".to_string()),
                ("RTYP".to_string(), "ai".to_string()),
                ("MDEL".to_string(), "0.0".to_string())
            ]
        );
        assert_eq!(extra_fields(vec![("NAME", "x".into())])[0].1, "x");
    }
}
