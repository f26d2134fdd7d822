//! The pvAccess front end: finding servers ([`resolve`]), one direct
//! connection per server (the crate's client in direct mode binds no
//! socket), Java's monitor of each archived PV (`channel`), the archive
//! workflow (`workflow`), NT structures → samples ([`convert`]), and a
//! loopback-only server for the demo, tests and benches ([`server`],
//! [`demo`]).
//!
//! Java's semantics: the monitor asks for every field with
//! `record._options.DBE = 2` (DBE_ARCHIVE), not pipelined; an update is a
//! sample only if the whole structure or the time stamp changed; the first
//! complete update of each connection carries every field (it plays the
//! part of Java's GET at connect).

pub(crate) mod channel;
pub mod convert;
pub mod demo;
pub mod resolve;
pub mod server;
pub(crate) mod workflow;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use epics_pva_rs::client::PvaClient;
use epics_pva_rs::pv_request::PvRequestBuilder;
use epics_pva_rs::pvdata::PvField;

use super::write::lock;
use super::EngineConfig;
use resolve::{ResolveError, Resolver};

/// Default UDP search port (`EPICS_PVA_BROADCAST_PORT`).
pub const DEFAULT_BROADCAST_PORT: u16 = 5076;
/// Default TCP server port (`EPICS_PVA_SERVER_PORT`).
pub const DEFAULT_SERVER_PORT: u16 = 5075;

/// Seconds a channel stays disconnected before its name is searched again
/// (a server that came back elsewhere).
const RESEARCH_AFTER: Duration = Duration::from_secs(15);

/// Timeout of one operation (GET, connect).
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Updates of one monitor the client holds while the engine is busy, before
/// it squashes the newest into the last (the crate's default is 4). The
/// monitor request sent stays Java's: this depth is the client's own queue
/// (it takes the client's pipeline window as default), not pipelining,
/// which Java's request does not ask for. Java's client hands every update
/// to the engine as it is read and queues none.
const CLIENT_QUEUE: u32 = 256;

/// The pvAccess side of the engine: the resolver and one client per server.
pub struct Pva {
    resolver: Resolver,
    clients: Mutex<HashMap<SocketAddr, PvaClient>>,
}

fn env<T: std::str::FromStr>(key: &str) -> Option<T> {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok())
}

fn env_flag(key: &str) -> Option<bool> {
    std::env::var(key)
        .ok()
        .map(|v| !matches!(v.trim().to_ascii_uppercase().as_str(), "NO" | "FALSE" | "0"))
}

impl Pva {
    /// The search configuration of `cfg` (each key falling back to its
    /// `EPICS_PVA_*` variable) plus `extra_name_servers` (the demo server).
    pub async fn start(
        cfg: &EngineConfig,
        extra_name_servers: Vec<SocketAddr>,
    ) -> Result<Self, ResolveError> {
        let bport = cfg
            .pva_broadcast_port
            .or_else(|| env("EPICS_PVA_BROADCAST_PORT"))
            .unwrap_or(DEFAULT_BROADCAST_PORT);
        let sport = cfg
            .pva_server_port
            .or_else(|| env("EPICS_PVA_SERVER_PORT"))
            .unwrap_or(DEFAULT_SERVER_PORT);
        let list = cfg
            .pva_addr_list
            .clone()
            .or_else(|| std::env::var("EPICS_PVA_ADDR_LIST").ok())
            .unwrap_or_default();
        let auto = cfg
            .pva_auto_addr_list
            .or_else(|| env_flag("EPICS_PVA_AUTO_ADDR_LIST"))
            .unwrap_or(true);
        let ns = cfg
            .pva_name_servers
            .clone()
            .or_else(|| std::env::var("EPICS_PVA_NAME_SERVERS").ok())
            .unwrap_or_default();
        let addrs = resolve::parse_list(&list, bport);
        let ifs = if auto || !addrs.is_empty() {
            resolve::interfaces().map_err(ResolveError::Interfaces)?
        } else {
            Vec::new()
        };
        let plan = resolve::plan(&addrs, auto, bport, &ifs);
        let mut name_servers = resolve::parse_list(&ns, sport);
        name_servers.extend(extra_name_servers);
        let resolver = Resolver::new(plan, name_servers).await?;
        Ok(Pva {
            resolver,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The server of `name`, searching until one answers.
    pub(crate) async fn find(&self, name: &str) -> SocketAddr {
        self.resolver.find(name).await
    }

    /// The client connected directly to `server` (made on first use).
    pub(crate) fn client(&self, server: SocketAddr) -> PvaClient {
        lock(&self.clients)
            .entry(server)
            .or_insert_with(|| {
                PvaClient::builder()
                    .server_addr(server)
                    .timeout(OP_TIMEOUT)
                    .pipeline_size(CLIENT_QUEUE)
                    .build()
            })
            .clone()
    }
}

/// Java's monitor request: every field, `record._options.DBE = 2`
/// (DBE_ARCHIVE), no pipelining (the server's default queue applies).
pub(crate) fn monitor_request() -> PvField {
    PvRequestBuilder::new().record("DBE", 2i32).build().to_pv_field()
}
