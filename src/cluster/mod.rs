//! Several appliances as one (cargo feature `cluster`): the directory of
//! members and PV owners lives in etcd; each member keeps its own PVs'
//! registry, index and files exactly as a single node does.
//!
//! This module owns the etcd side (registration under a lease, PV claims in
//! transactions, the watch-fed cache), placement, the member-to-member
//! forwarder and the pure joins of multi-member answers. It knows no axum
//! routing: `api::cluster` decides per request what goes where.

pub mod cache;
pub mod config;
pub mod directory;
pub mod forward;
pub mod keys;
pub mod merge;
pub mod moving;
pub mod placement;
pub mod splice;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions};
use tokio::task::JoinHandle;

pub use cache::Cache;
pub use config::{ClusterConfig, PlacementConfig};
pub use directory::{Claim, DirectoryError, Load, MemberInfo};
pub use forward::{ForwardError, Forwarder};
pub use keys::Keys;
pub use placement::{Candidate, PlacementError, Placer};

/// Header of a sub-request one member sends another for its own part of a
/// multi-PV or cluster-wide request: answer locally, never route again.
pub const SCOPE: &str = "x-strata-scope";
/// Header naming the members whose part is missing from an answer.
pub const PARTIAL: &str = forward::PARTIAL;
/// Header naming the PVs missing from a getDataForPVs answer.
pub const PARTIAL_PVS: &str = "x-strata-partial-pvs";

/// Starting or using the cluster failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// etcd is unreachable or refused: the directory cannot change.
    #[error("cluster directory (etcd) unavailable: {0}")]
    DirectoryUnavailable(String),
    /// Registration or a directory write failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Placement found no member.
    #[error(transparent)]
    Placement(#[from] PlacementError),
}

impl ClusterError {
    fn from_dir(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Etcd { op, source } => {
                ClusterError::DirectoryUnavailable(format!("{op}: {source}"))
            }
            e => ClusterError::Directory(e),
        }
    }
}

/// Figures this member publishes for placement, computed on demand.
pub type LoadFn = Box<dyn Fn() -> Load + Send + Sync>;

/// A running member: etcd clients, the directory cache, registration and
/// the forwarder. Shared by the HTTP layer as `Arc<Cluster>`.
pub struct Cluster {
    /// The section it was started from.
    pub cfg: ClusterConfig,
    /// This member's identity.
    pub identity: String,
    /// This member's base URL.
    pub url: String,
    /// Key layout.
    pub keys: Keys,
    /// The local copy of the directory.
    pub cache: Arc<Cache>,
    /// Member-to-member HTTP client.
    pub forwarder: Forwarder,
    client: Client,
    batcher: directory::ClaimBatcher,
    registration: Mutex<Option<directory::Registration>>,
    tasks: Vec<JoinHandle<()>>,
}

fn connect_options(cfg: &ClusterConfig, request_timeout: bool) -> ConnectOptions {
    let mut o = ConnectOptions::new()
        .with_connect_timeout(Duration::from_millis(cfg.etcd_connect_timeout_ms))
        .with_keep_alive(Duration::from_secs(1), Duration::from_secs(1))
        .with_keep_alive_while_idle(true);
    if request_timeout {
        o = o.with_timeout(Duration::from_millis(cfg.etcd_request_timeout_ms));
    }
    o
}

impl Cluster {
    /// Connects to etcd, registers this member (`info`: its
    /// getApplianceInfo answer), loads the directory, claims the local PVs
    /// that have no owner yet (how a single node joins), and starts the
    /// watch and the load refresh.
    pub async fn start(
        cfg: &ClusterConfig,
        url: String,
        info: serde_json::Value,
        local_pvs: Vec<String>,
        load: LoadFn,
    ) -> Result<Arc<Self>, ClusterError> {
        let unavailable = |e: etcd_client::Error| ClusterError::DirectoryUnavailable(e.to_string());
        let mut client = Client::connect(&cfg.etcd, Some(connect_options(cfg, true)))
            .await
            .map_err(unavailable)?;
        // The channel is lazy: probe so that a dead etcd fails the start.
        client.status().await.map_err(unavailable)?;
        let watch_client = Client::connect(&cfg.etcd, Some(connect_options(cfg, false)))
            .await
            .map_err(unavailable)?;
        let keys = Keys::new(&cfg.name);
        let member = MemberInfo {
            identity: cfg.identity.clone(),
            url: url.clone(),
            info,
        };
        let ttl = i64::try_from(cfg.lease_ttl_secs).unwrap_or(10);
        let registration = directory::register(
            client.clone(),
            keys.clone(),
            member,
            ttl,
            Duration::from_secs(cfg.load_refresh_secs),
        )
        .await
        .map_err(ClusterError::from_dir)?;
        let cache = Arc::new(Cache::default());
        cache::reload(&mut client, &keys, &cache)
            .await
            .map_err(unavailable)?;
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(cache::run(
            watch_client,
            keys.clone(),
            cache.clone(),
            Duration::from_millis(500),
        )));
        let forwarder = Forwarder::new(
            &cfg.identity,
            Duration::from_millis(cfg.forward_connect_timeout_ms),
            Duration::from_secs(cfg.forward_head_timeout_secs),
        );
        let batcher = directory::ClaimBatcher::spawn(client.clone(), keys.clone(), 4);
        let me = Cluster {
            cfg: cfg.clone(),
            identity: cfg.identity.clone(),
            url,
            keys,
            cache,
            forwarder,
            client,
            batcher,
            registration: Mutex::new(None),
            tasks: Vec::new(),
        };
        me.join(&local_pvs).await?;
        registration.set_load(me.with_count(load()));
        let load_tx = registration.load_sender();
        if let Ok(mut r) = me.registration.lock() {
            *r = Some(registration);
        }
        let every = Duration::from_secs(cfg.load_refresh_secs);
        let cache = me.cache.clone();
        let id = me.identity.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let mut l = load();
                l.pv_count = cache.read(|s| s.pvs.values().filter(|o| **o == id).count() as u64);
                if load_tx.send(l).is_err() {
                    break;
                }
            }
        }));
        Ok(Arc::new(Cluster { tasks, ..me }))
    }

    fn with_count(&self, mut l: Load) -> Load {
        l.pv_count = self.owned_count();
        l
    }

    /// PVs the directory gives this member.
    pub fn owned_count(&self) -> u64 {
        self.cache
            .read(|s| s.pvs.values().filter(|o| **o == self.identity).count() as u64)
    }

    /// Claims the local PVs without an owner; logs those another member owns.
    async fn join(&self, local: &[String]) -> Result<(), ClusterError> {
        let missing: Vec<(String, String)> = local
            .iter()
            .filter(|pv| self.cache.owner(pv).is_none())
            .map(|pv| (pv.clone(), self.identity.clone()))
            .collect();
        let claims = self.claim_many(&missing).await?;
        for ((pv, _), c) in missing.iter().zip(claims) {
            if let Claim::Exists { owner } = c {
                if owner != self.identity {
                    tracing::error!(pv = %pv, owner = %owner, "local PV is owned by another member; not served here");
                }
            }
        }
        let foreign = local
            .iter()
            .filter(|pv| self.cache.owner(pv).is_some_and(|o| o != self.identity))
            .count();
        tracing::info!(
            identity = %self.identity,
            claimed = missing.len(),
            foreign,
            "joined the cluster"
        );
        Ok(())
    }

    /// The owner of a PV name as a request gives it: alias, `pva://`/`ca://`,
    /// `.VAL` and `PV.FIELD` are resolved to the PV the directory knows.
    pub fn owner_of(&self, name: &str) -> Option<String> {
        let n = name.trim();
        let n = n
            .strip_prefix("pva://")
            .or_else(|| n.strip_prefix("ca://"))
            .unwrap_or(n);
        self.cache.read(|s| {
            let look = |k: &str| {
                s.pvs
                    .get(k)
                    .cloned()
                    .or_else(|| s.aliases.get(k).and_then(|real| s.pvs.get(real).cloned()))
            };
            look(n).or_else(|| {
                let (base, _) = n.rsplit_once('.')?;
                look(base)
            })
        })
    }

    /// Candidates for placement: every known member with its load (PV
    /// count from the directory itself, so that it is never stale).
    pub fn candidates(&self) -> Vec<Candidate> {
        self.cache.read(|s| {
            s.members
                .keys()
                .map(|id| {
                    let mut load = s.load.get(id).cloned().unwrap_or_default();
                    load.pv_count = s.pvs.values().filter(|o| *o == id).count() as u64;
                    Candidate {
                        identity: id.clone(),
                        alive: s.alive.contains(id),
                        load,
                    }
                })
                .collect()
        })
    }

    /// Records `pv → owner` for PVs without an owner (one etcd txn per 128
    /// PVs); the cache is updated at once for those claimed.
    pub async fn claim_many(&self, items: &[(String, String)]) -> Result<Vec<Claim>, ClusterError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client.clone();
        let out = directory::claim_batch(&mut c, &self.keys, items)
            .await
            .map_err(ClusterError::from_dir)?;
        self.note(items, &out);
        Ok(out)
    }

    /// Claims one PV through the shared group commit (concurrent archivePV
    /// calls share transactions).
    pub async fn claim_one(&self, pv: &str, owner: &str) -> Result<Claim, ClusterError> {
        let c = self
            .batcher
            .claim(pv.to_owned(), owner.to_owned())
            .await
            .map_err(ClusterError::DirectoryUnavailable)?;
        self.note(&[(pv.to_owned(), owner.to_owned())], std::slice::from_ref(&c));
        Ok(c)
    }

    fn note(&self, items: &[(String, String)], claims: &[Claim]) {
        for ((pv, owner), c) in items.iter().zip(claims) {
            match c {
                Claim::Claimed { .. } => self.cache.set_owner(pv, Some(owner)),
                Claim::Exists { owner } if !owner.is_empty() => self.cache.set_owner(pv, Some(owner)),
                Claim::Exists { .. } => {}
            }
        }
    }

    /// Removes `pv` from the directory if `owner` owns it.
    pub async fn release(&self, pv: &str, owner: &str) -> Result<bool, ClusterError> {
        let mut c = self.client.clone();
        let done = directory::release(&mut c, &self.keys, pv, owner)
            .await
            .map_err(ClusterError::from_dir)?;
        if done {
            self.cache.set_owner(pv, None);
        }
        Ok(done)
    }

    /// Writes or deletes an alias key (`aliases/<alias>` → PV).
    pub async fn set_alias(&self, alias: &str, pv: Option<&str>) -> Result<(), ClusterError> {
        let mut c = self.client.clone();
        directory::set(&mut c, self.keys.alias(alias), pv)
            .await
            .map_err(ClusterError::from_dir)
    }

    /// Whether etcd answers now (a cheap linearizable call).
    pub async fn etcd_up(&self) -> Result<(), ClusterError> {
        let mut c = self.client.clone();
        c.status()
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::DirectoryUnavailable(e.to_string()))
    }

    /// Orderly leave: revokes the lease (other members see this member
    /// leave at once) and stops the background tasks.
    pub async fn shutdown(&self) {
        let reg = self.registration.lock().ok().and_then(|mut r| r.take());
        if let Some(r) = reg {
            let lease = r.lease();
            r.stop();
            let mut c = self.client.clone();
            if let Err(e) = directory::revoke(&mut c, lease).await {
                tracing::warn!(error = %e, "revoking the cluster lease");
            }
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}
