//! The ingest engine: Channel Access and pvAccess monitors → per-PV
//! buffers → storage. The buffers, connection fields, archived fields and
//! the write cycle ([`write`], [`fields`]) know no protocol; the CA front end
//! ([`ca`], `channel`, `workflow`) and the pvAccess one ([`pva`]) feed them,
//! and [`epics::EpicsEngine`] routes each PV to its protocol. Retrieval sees
//! the buffers only through [`BufferedSamples`]. Knows no retrieval,
//! management or HTTP.
//!
//! The management API talks to the engine only through [`ArchiveEngine`], so
//! it works the same with the EPICS engine or with no engine at all
//! ([`NullEngine`]: requests wait in "Initial sampling").

/// Channel Access variables that keep clients and servers on the loopback
/// interface (nothing searched or beaconed elsewhere): for tests, benches
/// and demos on shared machines.
pub const LOOPBACK_CA_ENV: [(&str, &str); 5] = [
    ("EPICS_CA_AUTO_ADDR_LIST", "NO"),
    ("EPICS_CA_ADDR_LIST", "127.0.0.1"),
    ("EPICS_CAS_AUTO_BEACON_ADDR_LIST", "NO"),
    ("EPICS_CAS_BEACON_ADDR_LIST", "127.0.0.1"),
    ("EPICS_CAS_INTF_ADDR_LIST", "127.0.0.1"),
];

/// pvAccess variables that keep clients and servers on the loopback
/// interface, for tests, benches and demos on shared machines. strata's own
/// client binds and sends only to its configured address list whatever
/// they say; they matter for other pvAccess processes started beside it.
pub const LOOPBACK_PVA_ENV: [(&str, &str); 5] = [
    ("EPICS_PVA_AUTO_ADDR_LIST", "NO"),
    ("EPICS_PVA_ADDR_LIST", "127.0.0.1"),
    ("EPICS_PVAS_INTF_ADDR_LIST", "127.0.0.1"),
    ("EPICS_PVAS_AUTO_BEACON_ADDR_LIST", "NO"),
    ("EPICS_PVAS_BEACON_ADDR_LIST", "127.0.0.1"),
];

pub mod ca;
mod channel;
mod control;
pub mod convert;
pub mod demo;
pub mod epics;
mod fields;
pub mod pva;
mod workflow;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::registry::{ArchiveRequest, PvTypeInfo};
use crate::types::{ArchDbType, ArchiverSample};

/// `[engine]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Run the Channel Access engine.
    pub enabled: bool,
    /// Seconds between flushes of buffered samples to storage.
    pub write_period: f64,
    /// CA address list (space separated); falls back to `EPICS_CA_ADDR_LIST`.
    pub ca_addr_list: Option<String>,
    /// Use automatic CA address list; falls back to `EPICS_CA_AUTO_ADDR_LIST`.
    pub ca_auto_addr_list: Option<bool>,
    /// CA server port; falls back to `EPICS_CA_SERVER_PORT`.
    pub ca_server_port: Option<u16>,
    /// pvAccess UDP search destinations (`host[:port]`, space separated);
    /// falls back to `EPICS_PVA_ADDR_LIST`.
    pub pva_addr_list: Option<String>,
    /// Also search the broadcast address of every interface; falls back to
    /// `EPICS_PVA_AUTO_ADDR_LIST` (default yes, as EPICS).
    pub pva_auto_addr_list: Option<bool>,
    /// UDP search port of address-list entries without one; falls back to
    /// `EPICS_PVA_BROADCAST_PORT` (5076).
    pub pva_broadcast_port: Option<u16>,
    /// TCP port of name servers given without one; falls back to
    /// `EPICS_PVA_SERVER_PORT` (5075).
    pub pva_server_port: Option<u16>,
    /// pvAccess TCP name servers (`host:port`, space separated), searched
    /// over TCP; falls back to `EPICS_PVA_NAME_SERVERS`.
    pub pva_name_servers: Option<String>,
    /// Fields monitored beside every PV and stored only in the daily field
    /// snapshot (Java's `RuntimeKeys`); Channel Access PVs only.
    pub runtime_fields: Vec<String>,
    /// Samples with timestamps more than this many seconds in the future are dropped.
    pub future_tolerance_secs: u64,
    /// Samples older than this many seconds (relative to now) are dropped.
    pub past_tolerance_secs: u64,
    /// Minimum per-PV buffer capacity (samples).
    pub min_buffer_samples: usize,
    /// Seconds a newly requested PV is sampled to measure its event rate.
    pub initial_sampling_secs: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            enabled: true,
            write_period: 10.0,
            ca_addr_list: None,
            ca_auto_addr_list: None,
            ca_server_port: None,
            pva_addr_list: None,
            pva_auto_addr_list: None,
            pva_broadcast_port: None,
            pva_server_port: None,
            pva_name_servers: None,
            runtime_fields: vec!["DESC".to_string()],
            future_tolerance_secs: 30 * 60,
            past_tolerance_secs: 365 * 86_400,
            min_buffer_samples: 64,
            initial_sampling_secs: 5.0,
        }
    }
}

impl EngineConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.write_period > 0.0 && self.write_period <= 3600.0) {
            return Err("engine.write_period must be in (0, 3600] seconds".into());
        }
        Ok(())
    }
}

/// Connection state of one PV's channel as the engine sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStatus {
    /// Connected now.
    pub connected: bool,
    /// First connection (Unix seconds), 0 if never.
    pub first_connected: i64,
    /// Last re-connection (Unix seconds), 0 if never.
    pub last_reconnected: i64,
    /// Lost connection at (Unix seconds) when disconnected now, else 0.
    pub lost_at: i64,
    /// Times the connection was lost and regained.
    pub loss_count: u64,
    /// Newest event acknowledged on disk by a completed flush (Unix seconds), 0 if none.
    pub last_event: i64,
    /// Newest event received (Unix seconds), 0 if none.
    pub last_event_received: i64,
    /// Events received per second (recent average).
    pub event_rate: f64,
    /// Bytes stored per second (recent average).
    pub storage_rate: f64,
    /// Events dropped: buffer overflow.
    pub dropped_buffer: u64,
    /// Events dropped: timestamp in the past / far future.
    pub dropped_timestamp: u64,
    /// Events dropped: type change.
    pub dropped_type_change: u64,
    /// The type the server serves when it is not the archived one.
    pub served_type: Option<ArchDbType>,
    /// Events accepted into the buffer since start.
    pub event_count: u64,
    /// The controlling PV has switched archiving off.
    pub controlled_off: bool,
    /// IOC host.
    pub host: Option<String>,
}

/// Engine-wide figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineMetrics {
    /// PVs with an open channel.
    pub channels: u64,
    /// Connected channels.
    pub connected: u64,
    /// Events per second.
    pub event_rate: f64,
    /// Bytes per second.
    pub data_rate: f64,
    /// Write cycles skipped because the previous one was still running.
    pub skipped_write_cycles: u64,
    /// Seconds spent writing, total.
    pub write_seconds: f64,
}

/// What the management API needs from an engine.
#[async_trait]
pub trait ArchiveEngine: Send + Sync {
    /// Starts archiving a PV that has a PVTypeInfo.
    async fn start(&self, info: &PvTypeInfo) -> anyhow::Result<()>;
    /// Stops archiving (pause, delete, rename): closes the channel and
    /// flushes what was buffered.
    async fn stop(&self, pv: &str) -> anyhow::Result<()>;
    /// Begins the archive workflow for a new PV: connect, learn its type,
    /// element count and metadata, then call back through the registry.
    async fn request(&self, req: &ArchiveRequest) -> anyhow::Result<()>;
    /// Forgets a pending request (abortArchivingPV).
    async fn abort(&self, pv: &str) -> anyhow::Result<()>;
    /// Connection state of `pv`, if the engine has a channel for it.
    fn status(&self, pv: &str) -> Option<ChannelStatus>;
    /// Current metadata of `pv` (EGU, PREC, limits, DESC, …).
    fn metadata(&self, pv: &str) -> BTreeMap<String, String>;
    /// Engine-wide figures.
    fn metrics(&self) -> EngineMetrics;
    /// True if the engine runs (CA available).
    fn running(&self) -> bool;
    /// The engine's write buffers, for retrieval; `None` when it buffers
    /// nothing.
    fn buffers(&self) -> Option<Arc<dyn BufferedSamples>> {
        None
    }
}

/// What retrieval may see of an engine: samples received but not yet handed
/// to storage (Java consults the engine for recent data the same way), and
/// the metadata last read from the channel (`fetchLatestMetadata`).
pub trait BufferedSamples: Send + Sync {
    /// Samples of `pv` in the engine's buffer, oldest first.
    fn buffered(&self, pv: &str) -> Vec<ArchiverSample>;
    /// Current metadata of `pv` (EGU, PREC, limits, DESC, …); empty when the
    /// engine has no channel for it.
    fn metadata(&self, pv: &str) -> BTreeMap<String, String>;
}

/// What an engine's archive workflow learned about a requested PV; the
/// management service completes the request with it.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// PV name.
    pub pv: String,
    /// Native type.
    pub dbr_type: ArchDbType,
    /// Element count.
    pub element_count: i32,
    /// Events per second seen while sampling.
    pub event_rate: f64,
    /// Bytes per second seen while sampling.
    pub storage_rate: f64,
    /// EGU.
    pub units: Option<String>,
    /// PREC.
    pub precision: Option<f64>,
    /// Limits by Java field name.
    pub limits: Vec<(String, f64)>,
    /// IOC host.
    pub host: Option<String>,
    /// Extra fields (RTYP, DESC, …).
    pub extra_fields: Vec<(String, String)>,
}

impl ProbeResult {
    /// Takes EGU, PREC and the limits from `md` (Channel Access names).
    pub fn with_metadata(mut self, md: &[(String, String)]) -> Self {
        let get = |k: &str| md.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let num = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
        self.units = get("EGU");
        self.precision = num("PREC");
        self.limits.clear();
        for (java, epics) in crate::registry::typeinfo::LIMIT_EPICS_FIELDS {
            if let Some(v) = num(epics) {
                self.limits.push((java.to_string(), v));
            }
        }
        self
    }
}

/// No Channel Access: requests stay pending, nothing is monitored.
pub struct NullEngine;

#[async_trait]
impl ArchiveEngine for NullEngine {
    async fn start(&self, _info: &PvTypeInfo) -> anyhow::Result<()> {
        Ok(())
    }
    async fn stop(&self, _pv: &str) -> anyhow::Result<()> {
        Ok(())
    }
    async fn request(&self, _req: &ArchiveRequest) -> anyhow::Result<()> {
        Ok(())
    }
    async fn abort(&self, _pv: &str) -> anyhow::Result<()> {
        Ok(())
    }
    fn status(&self, _pv: &str) -> Option<ChannelStatus> {
        None
    }
    fn metadata(&self, _pv: &str) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    fn metrics(&self) -> EngineMetrics {
        EngineMetrics::default()
    }
    fn running(&self) -> bool {
        false
    }
}
