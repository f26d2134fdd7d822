//! The Channel Access engine: a CA client, one monitor per archived PV
//! (`channel.rs`), the archive workflow of new PVs (`workflow.rs`) and the
//! protocol-neutral buffers and write cycle (`write.rs`) that move samples
//! into storage every write period.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use epics_ca_rs::client::CaClient;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::write::{lock, Ingest};
use super::{ArchiveEngine, BufferedSamples, ChannelStatus, EngineConfig, EngineMetrics, ProbeResult};
use crate::registry::{ArchiveRequest, PvTypeInfo, SamplingMethod};
use crate::storage::TieredStore;
use crate::types::Timestamp;

pub(super) struct Inner {
    pub(super) client: CaClient,
    pub(super) store: TieredStore,
    pub(super) ingest: Arc<Ingest>,
    /// Archive workflows running, by PV.
    pub(super) probes: Mutex<HashMap<String, JoinHandle<()>>>,
    pub(super) probe_tx: mpsc::UnboundedSender<ProbeResult>,
    pub(super) initial_sampling: Duration,
}

/// The CA engine. Cheap to clone.
#[derive(Clone)]
pub struct CaEngine {
    pub(super) inner: Arc<Inner>,
}

/// Parses a CA address list (`host[:port]`, space or comma separated).
pub fn parse_addr_list(list: &str, default_port: u16) -> Vec<SocketAddr> {
    list.split([' ', ','])
        .filter(|s| !s.is_empty())
        .filter_map(|a| {
            if let Ok(sa) = a.parse::<SocketAddr>() {
                return Some(sa);
            }
            let ip: std::net::IpAddr = a.parse().ok()?;
            Some(SocketAddr::new(ip, default_port))
        })
        .collect()
}

impl CaEngine {
    /// Starts the CA client and the write loop. Completed archive-workflow
    /// probes are sent on `probe_tx`. `extra_addrs` are added to the search
    /// list (the demo server).
    pub async fn start(
        cfg: EngineConfig,
        store: TieredStore,
        probe_tx: mpsc::UnboundedSender<ProbeResult>,
        extra_addrs: Vec<SocketAddr>,
    ) -> anyhow::Result<Self> {
        let client = CaClient::new()
            .await
            .map_err(|e| anyhow::anyhow!("starting the CA client: {e:?}"))?;
        let port = cfg
            .ca_server_port
            .or_else(|| {
                std::env::var("EPICS_CA_SERVER_PORT")
                    .ok()
                    .and_then(|p| p.parse().ok())
            })
            .unwrap_or(5064);
        let list = cfg
            .ca_addr_list
            .clone()
            .or_else(|| std::env::var("EPICS_CA_ADDR_LIST").ok())
            .unwrap_or_default();
        let mut addrs = parse_addr_list(&list, port);
        addrs.extend(extra_addrs);
        if !addrs.is_empty() || cfg.ca_addr_list.is_some() {
            client.set_address_list(addrs.clone());
        }
        client
            .set_exception_handler(|e| tracing::warn!(kind = ?e.kind, message = %e.message, "CA exception"));
        tracing::info!(addresses = ?addrs, "Channel Access client started");
        let initial_sampling = Duration::from_secs_f64(cfg.initial_sampling_secs.max(0.1));
        let write_period = Duration::from_secs_f64(cfg.write_period);
        let ingest = Arc::new(Ingest::new(cfg));
        ingest.spawn_write_loop(Arc::new(store.clone()), write_period);
        Ok(CaEngine {
            inner: Arc::new(Inner {
                client,
                store,
                ingest,
                probes: Mutex::new(HashMap::new()),
                probe_tx,
                initial_sampling,
            }),
        })
    }

    /// Writes every buffer now and waits for the flush (tests, shutdown).
    pub async fn flush_now(&self) {
        self.inner.ingest.flush_now(&self.inner.store).await;
    }

    /// Time of the newest sample of `pv` acknowledged on disk by a completed
    /// flush cycle.
    pub fn last_committed(&self, pv: &str) -> Option<Timestamp> {
        self.inner.ingest.last_committed(pv)
    }
}

#[async_trait]
impl ArchiveEngine for CaEngine {
    async fn start(&self, info: &PvTypeInfo) -> anyhow::Result<()> {
        if info.paused || info.sampling_method == SamplingMethod::DontArchive {
            return Ok(());
        }
        if self.inner.ingest.contains(&info.pv_name) {
            return Ok(());
        }
        if let Some(k) = &info.chunk_key {
            // Files keep the key recorded when the PV was first archived.
            self.inner.store.set_chunk_key(&info.pv_name, k);
        }
        self.inner.ingest.insert(self.spawn_channel(info));
        tracing::debug!(pv = %info.pv_name, "channel started");
        Ok(())
    }

    async fn stop(&self, pv: &str) -> anyhow::Result<()> {
        if let Some(chan) = self.inner.ingest.remove(pv) {
            chan.abort();
            self.inner.ingest.drain(&chan, &self.inner.store).await;
            if let Err(e) = self.inner.store.flush_pv(pv).await {
                tracing::error!(pv, error = %e, "flush on stop failed");
            }
            tracing::debug!(pv, "channel stopped");
        }
        Ok(())
    }

    async fn request(&self, req: &ArchiveRequest) -> anyhow::Result<()> {
        let mut probes = lock(&self.inner.probes);
        if !probes.contains_key(&req.pv) {
            probes.insert(req.pv.clone(), self.spawn_probe(req));
        }
        Ok(())
    }

    async fn abort(&self, pv: &str) -> anyhow::Result<()> {
        if let Some(h) = lock(&self.inner.probes).remove(pv) {
            h.abort();
        }
        Ok(())
    }

    fn status(&self, pv: &str) -> Option<ChannelStatus> {
        self.inner.ingest.status(pv)
    }

    fn metadata(&self, pv: &str) -> BTreeMap<String, String> {
        self.inner.ingest.metadata(pv)
    }

    fn metrics(&self) -> EngineMetrics {
        self.inner.ingest.metrics()
    }

    fn running(&self) -> bool {
        true
    }

    fn buffers(&self) -> Option<Arc<dyn BufferedSamples>> {
        Some(self.inner.ingest.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists() {
        let a = parse_addr_list("127.0.0.1 127.0.0.2:6000,10.0.0.1", 5064);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].port(), 5064);
        assert_eq!(a[1].port(), 6000);
        assert!(parse_addr_list("not-an-ip", 1).is_empty());
    }
}
