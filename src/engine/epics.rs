//! The EPICS engine: a Channel Access client and a pvAccess resolver
//! feeding one set of protocol-neutral buffers and one write loop
//! ([`super::write`]). Each PV goes to the protocol its PVTypeInfo names
//! (`usePVAccess`), each archive request to the protocol of its request;
//! controlling PVs are always Channel Access (as in Java).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use epics_ca_rs::client::CaClient;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::control::Controllers;
use super::pva::Pva;
use super::write::{lock, Channel, Ingest};
use super::{ArchiveEngine, BufferedSamples, ChannelStatus, EngineConfig, EngineMetrics, ProbeResult};
use crate::registry::{ArchiveRequest, PvTypeInfo, SamplingMethod};
use crate::storage::TieredStore;
use crate::types::Timestamp;

/// Servers searched besides the configured ones (the demo IOC).
#[derive(Debug, Clone, Default)]
pub struct ExtraServers {
    /// Channel Access search addresses.
    pub ca: Vec<SocketAddr>,
    /// pvAccess TCP name servers.
    pub pva: Vec<SocketAddr>,
}

pub(super) struct Inner {
    pub(super) ca: Option<CaClient>,
    pub(super) pva: Option<Arc<Pva>>,
    pub(super) store: TieredStore,
    pub(super) ingest: Arc<Ingest>,
    /// Archive workflows running, by PV.
    pub(super) probes: Mutex<HashMap<String, JoinHandle<()>>>,
    pub(super) probe_tx: mpsc::UnboundedSender<ProbeResult>,
    pub(super) initial_sampling: Duration,
    pub(super) controllers: Controllers,
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct EpicsEngine {
    pub(super) inner: Arc<Inner>,
}

impl EpicsEngine {
    /// Starts the CA client, the pvAccess resolver and the write loop.
    /// Completed archive-workflow probes are sent on `probe_tx`. Fails only
    /// when neither protocol can start.
    pub async fn start(
        cfg: EngineConfig,
        store: TieredStore,
        probe_tx: mpsc::UnboundedSender<ProbeResult>,
        extra: ExtraServers,
    ) -> anyhow::Result<Self> {
        let ca = match super::ca::client(&cfg, extra.ca).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "Channel Access unavailable");
                None
            }
        };
        let pva = match Pva::start(&cfg, extra.pva).await {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                tracing::error!(error = %e, "pvAccess unavailable");
                None
            }
        };
        if ca.is_none() && pva.is_none() {
            anyhow::bail!("neither Channel Access nor pvAccess could start");
        }
        let initial_sampling = Duration::from_secs_f64(cfg.initial_sampling_secs.max(0.1));
        let write_period = Duration::from_secs_f64(cfg.write_period);
        let ingest = Arc::new(Ingest::new(cfg));
        ingest.spawn_write_loop(Arc::new(store.clone()), write_period);
        Ok(EpicsEngine {
            inner: Arc::new(Inner {
                ca,
                pva,
                store,
                ingest,
                probes: Mutex::new(HashMap::new()),
                probe_tx,
                initial_sampling,
                controllers: Controllers::default(),
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

    /// True if Channel Access runs.
    pub fn has_ca(&self) -> bool {
        self.inner.ca.is_some()
    }

    /// True if pvAccess runs.
    pub fn has_pva(&self) -> bool {
        self.inner.pva.is_some()
    }

    /// Starts the front-end tasks of `chan` for its protocol (and the SCAN
    /// tick).
    fn run(&self, chan: &Arc<Channel>) {
        let mut tasks = if chan.info.use_pv_access {
            match &self.inner.pva {
                Some(p) => super::pva::channel::spawn(p, &self.inner.ingest, chan),
                None => {
                    tracing::warn!(pv = %chan.info.pv_name, "pvAccess unavailable; PV not connected");
                    Vec::new()
                }
            }
        } else {
            match &self.inner.ca {
                Some(c) => self.spawn_ca(c, chan),
                None => {
                    tracing::warn!(pv = %chan.info.pv_name, "Channel Access unavailable; PV not connected");
                    Vec::new()
                }
            }
        };
        if chan.info.sampling_method == SamplingMethod::Scan {
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
    }

    /// A controlling PV switched archiving of `pv` on or off: off stops the
    /// front end and hands the buffer to storage; on starts it again.
    pub(super) async fn switch(&self, pv: &str, on: bool) {
        let Some(chan) = self.inner.ingest.channel(pv) else {
            return;
        };
        if !chan.set_controlled_off(!on) {
            return;
        }
        tracing::info!(pv, on, "archiving switched by the controlling PV");
        if on {
            self.run(&chan);
        } else {
            chan.abort();
            self.inner.ingest.drain(&chan, &self.inner.store).await;
            if let Err(e) = self.inner.store.flush_pv(pv).await {
                tracing::error!(pv, error = %e, "flush after switching off failed");
            }
        }
    }
}

#[async_trait]
impl ArchiveEngine for EpicsEngine {
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
        let newest = self
            .inner
            .store
            .last_known_blocking(&info.pv_name)
            .ok()
            .flatten()
            .map(|s| s.ts());
        let chan = Arc::new(Channel::new(info, self.inner.ingest.cfg(), newest));
        let on = match &info.controlling_pv {
            Some(c) if !c.is_empty() => self.inner.controllers.attach(self, c, &info.pv_name),
            _ => true,
        };
        self.inner.ingest.insert(chan.clone());
        if on {
            self.run(&chan);
        } else {
            chan.set_controlled_off(true);
        }
        tracing::debug!(pv = %info.pv_name, pva = info.use_pv_access, on, "channel started");
        Ok(())
    }

    async fn stop(&self, pv: &str) -> anyhow::Result<()> {
        self.inner.controllers.detach(pv);
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
        if probes.contains_key(&req.pv) {
            return Ok(());
        }
        let task = if req.use_pva {
            let Some(pva) = self.inner.pva.clone() else {
                tracing::warn!(pv = %req.pv, "pvAccess unavailable; the request waits");
                return Ok(());
            };
            super::pva::workflow::spawn(self.clone(), pva, req.pv.clone())
        } else {
            if self.inner.ca.is_none() {
                tracing::warn!(pv = %req.pv, "Channel Access unavailable; the request waits");
                return Ok(());
            }
            self.spawn_probe(req)
        };
        probes.insert(req.pv.clone(), task);
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

impl EpicsEngine {
    /// Reports a finished archive workflow and forgets it.
    pub(super) fn probed(&self, probe: ProbeResult) {
        let pv = probe.pv.clone();
        tracing::info!(pv = %pv, dbr = %probe.dbr_type, count = probe.element_count, rate = probe.event_rate,
            "archive request sampled");
        let _ = self.inner.probe_tx.send(probe);
        lock(&self.inner.probes).remove(&pv);
    }

    /// Time the initial sampling of a request lasts.
    pub(super) fn initial_sampling(&self) -> Duration {
        self.inner.initial_sampling
    }
}
