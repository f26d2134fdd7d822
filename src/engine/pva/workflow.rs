//! The archive workflow of a new PV over pvAccess: a GET (type by Java's
//! rule, element count, metadata, server host), the event rate during the
//! initial sampling, and the fields Java's `MetaGet` reads as channels
//! `PV.NAME`, `PV.RTYP`, … (absent on servers that are not IOCs); then a
//! [`ProbeResult`] for management to complete the request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use epics_pva_rs::proto::ByteOrder;
use epics_pva_rs::pvdata::FieldDesc;
use tokio::task::JoinHandle;

use super::channel::{keep_monitored, Decoded, Monitor};
use super::convert::{self, Layout};
use super::Pva;
use crate::engine::epics::EpicsEngine;
use crate::engine::workflow::{extra_fields, EXTRA_FIELDS};
use crate::engine::write::{approx_bytes, lock};
use crate::engine::ProbeResult;
use crate::types::ArchDbType;

/// Counts the samples and their bytes during the initial sampling.
struct Rate {
    name: String,
    cur: Decoded,
    want: ArchDbType,
    counts: Arc<Mutex<(u64, u64)>>,
}

impl Monitor for Rate {
    fn connected(&mut self, _peer: SocketAddr) {
        self.cur.fresh = true;
    }

    fn disconnected(&mut self) {}

    fn update(&mut self, desc: &FieldDesc, body: &[u8], order: ByteOrder) {
        let Some((changed, _)) = self.cur.apply(&self.name, desc, body, order) else {
            return;
        };
        let Some(layout) = self.cur.layout.as_ref() else {
            return;
        };
        if layout.timestamp_changed(&changed) {
            let bytes = layout
                .sample(&self.cur.value, self.want)
                .map(|s| approx_bytes(&s))
                .unwrap_or(0);
            let mut c = lock(&self.counts);
            c.0 += 1;
            c.1 += bytes;
        }
    }
}

/// Reads `PV.FIELD` for Java's extra fields, each within `wait`.
async fn read_extra_fields(pva: &Arc<Pva>, pv: &str, wait: Duration) -> Vec<(String, String)> {
    if pv.contains('.') {
        return Vec::new();
    }
    let reads = EXTRA_FIELDS.map(|f| async move {
        let name = format!("{pv}.{f}");
        let got = tokio::time::timeout(wait, async {
            let server = pva.find(&name).await;
            pva.client(server).pvget_full(&name).await.ok()
        })
        .await
        .ok()
        .flatten();
        got.and_then(|r| convert::meta_text(&r.value)).map(|t| (f, t))
    });
    extra_fields(
        futures::future::join_all(reads)
            .await
            .into_iter()
            .flatten()
            .collect(),
    )
}

/// Runs the workflow of `pv` in a task that reports through `engine`.
pub(crate) fn spawn(engine: EpicsEngine, pva: Arc<Pva>, pv: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (got, server) = loop {
            let server = pva.find(&pv).await;
            match pva.client(server).pvget_full(&pv).await {
                Ok(r) => break (r, server),
                Err(e) => {
                    tracing::debug!(pv = %pv, %server, error = %e, "archive request: GET failed");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        };
        let layout = Layout::new(&got.introspection);
        let md = convert::metadata(&got.value);
        let sampling = engine.initial_sampling();
        let counts = Arc::new(Mutex::new((0u64, 0u64)));
        let rate = Rate {
            name: pv.clone(),
            cur: Decoded::new(),
            want: layout.dbr,
            counts: counts.clone(),
        };
        let t = Instant::now();
        let monitor = tokio::time::timeout(sampling, keep_monitored(pva.clone(), pv.clone(), rate));
        let (_, extra) = tokio::join!(monitor, read_extra_fields(&pva, &pv, sampling));
        let secs = t.elapsed().as_secs_f64().max(1e-3);
        let (events, bytes) = *lock(&counts);
        let probe = ProbeResult {
            pv: pv.clone(),
            dbr_type: layout.dbr,
            element_count: i32::try_from(convert::element_count(&got.value))
                .unwrap_or(1)
                .max(1),
            event_rate: events as f64 / secs,
            storage_rate: bytes as f64 / secs,
            units: None,
            precision: None,
            limits: Vec::new(),
            host: Some(server.ip().to_string()),
            extra_fields: extra,
        }
        .with_metadata(&md);
        engine.probed(probe);
    })
}
