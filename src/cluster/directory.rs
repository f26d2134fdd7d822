//! Writes to the cluster directory: member registration under a lease (with
//! keep-alive and a periodically refreshed load record), and PV ownership
//! in transactions so that a PV never has two owners.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::keys::Keys;

/// etcd's default `--max-txn-ops`: compares, success ops and failure ops are
/// each limited to this many.
pub const MAX_TXN_OPS: usize = 128;

/// Errors of directory writes.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// etcd did not answer or refused.
    #[error("etcd {op}: {source}")]
    Etcd {
        /// Failed step.
        op: &'static str,
        /// Cause.
        #[source]
        source: etcd_client::Error,
    },
    /// Another live process holds this identity.
    #[error("identity {0} is registered by another live member")]
    IdentityTaken(String),
    /// Malformed record.
    #[error("bad record under {key}: {source}")]
    Record {
        /// Key.
        key: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
}

fn etcd(op: &'static str) -> impl FnOnce(etcd_client::Error) -> DirectoryError {
    move |source| DirectoryError::Etcd { op, source }
}

/// A member's persistent record (`appliances/<id>`): its base URL and the
/// `getApplianceInfo` object it answers with (Java's ApplianceInfo keys).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemberInfo {
    /// Appliance identity.
    pub identity: String,
    /// Base URL, `http://host:port`.
    pub url: String,
    /// The member's own `getApplianceInfo` answer.
    pub info: serde_json::Value,
}

/// Load figures used by placement; refreshed every few seconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    /// Archived PVs.
    pub pv_count: u64,
    /// Events/s over the last minute.
    pub event_rate: f64,
    /// Bytes/s written.
    pub storage_rate: f64,
    /// Free bytes per tier name.
    pub free_bytes: Vec<(String, u64)>,
}

/// A registration kept alive by a background task.
pub struct Registration {
    lease: Arc<AtomicI64>,
    alive: Arc<AtomicBool>,
    task: JoinHandle<()>,
    load_tx: tokio::sync::watch::Sender<Load>,
}

impl Registration {
    /// Current lease id (changes after a re-registration).
    pub fn lease(&self) -> i64 {
        self.lease.load(Ordering::Relaxed)
    }
    /// Whether the last keep-alive succeeded.
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }
    /// Publishes new load figures (written at the next refresh tick).
    pub fn set_load(&self, l: Load) {
        let _ = self.load_tx.send(l);
    }
    /// A sender for later load figures.
    pub fn load_sender(&self) -> tokio::sync::watch::Sender<Load> {
        self.load_tx.clone()
    }
    /// Stops keep-alive (the lease then expires after its TTL; call
    /// [`revoke`] for an orderly leave).
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Grants a lease and, only if no live process holds the identity
/// (`alive/<id>` absent), writes `appliances/<id>` (persistent: the member
/// stays known while down, as in appliances.xml) and `alive/<id>` and
/// `load/<id>` under the lease.
async fn register_once(
    client: &mut Client,
    keys: &Keys,
    info: &MemberInfo,
    load: &Load,
    ttl: i64,
) -> Result<i64, DirectoryError> {
    let lease = client
        .lease_grant(ttl, None)
        .await
        .map_err(etcd("lease grant"))?
        .id();
    let mk = keys.member(&info.identity);
    let ak = keys.alive(&info.identity);
    let record = |v: &dyn erased::Ser| {
        v.to_json().map_err(|source| DirectoryError::Record {
            key: mk.clone(),
            source,
        })
    };
    let body = record(info)?;
    let lbody = record(load)?;
    let alive = format!("{{\"pid\":{},\"lease\":{lease}}}", std::process::id());
    let opts = || Some(PutOptions::new().with_lease(lease));
    let txn = Txn::new()
        .when(vec![Compare::create_revision(ak.clone(), CompareOp::Equal, 0)])
        .and_then(vec![
            TxnOp::put(mk.clone(), body, None),
            TxnOp::put(ak, alive, opts()),
            TxnOp::put(keys.load(&info.identity), lbody, opts()),
        ]);
    let r = client.txn(txn).await.map_err(etcd("register"))?;
    if !r.succeeded() {
        let _ = client.lease_revoke(lease).await;
        return Err(DirectoryError::IdentityTaken(info.identity.clone()));
    }
    Ok(lease)
}

mod erased {
    /// Object-safe JSON encoding for the records above.
    pub trait Ser {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}

/// Registers this member and keeps the registration alive: keep-alive every
/// `ttl/3` s, load record every `load_every`. If etcd is unreachable longer
/// than the TTL and the lease is gone when it returns, registers again with
/// a new lease.
pub async fn register(
    mut client: Client,
    keys: Keys,
    info: MemberInfo,
    ttl: i64,
    load_every: Duration,
) -> Result<Registration, DirectoryError> {
    // A crashed predecessor's `alive` key lasts until its lease runs out:
    // wait up to one TTL for it before refusing the identity.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(ttl.unsigned_abs() + 2);
    let lease_id = loop {
        match register_once(&mut client, &keys, &info, &Load::default(), ttl).await {
            Err(DirectoryError::IdentityTaken(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            r => break r?,
        }
    };
    let lease = Arc::new(AtomicI64::new(lease_id));
    let alive = Arc::new(AtomicBool::new(true));
    let (load_tx, load_rx) = tokio::sync::watch::channel(Load::default());
    let task = tokio::spawn(keep_alive_loop(
        client,
        keys,
        info,
        ttl,
        load_every,
        lease.clone(),
        alive.clone(),
        load_rx,
    ));
    Ok(Registration {
        lease,
        alive,
        task,
        load_tx,
    })
}

#[allow(clippy::too_many_arguments)]
async fn keep_alive_loop(
    mut client: Client,
    keys: Keys,
    info: MemberInfo,
    ttl: i64,
    load_every: Duration,
    lease: Arc<AtomicI64>,
    alive: Arc<AtomicBool>,
    load_rx: tokio::sync::watch::Receiver<Load>,
) {
    let period = Duration::from_millis((ttl as u64 * 1000 / 3).max(200));
    let mut load_tick = tokio::time::interval(load_every);
    loop {
        // One keep-alive stream per connection; rebuilt after any error.
        let id = lease.load(Ordering::Relaxed);
        let stream = client.lease_keep_alive(id).await;
        let (mut keeper, mut responses) = match stream {
            Ok(s) => s,
            Err(_) => {
                alive.store(false, Ordering::Relaxed);
                tokio::time::sleep(period).await;
                continue;
            }
        };
        let mut tick = tokio::time::interval(period);
        let expired = loop {
            tokio::select! {
                _ = tick.tick() => {
                    if keeper.keep_alive().await.is_err() { break false; }
                    match tokio::time::timeout(period, responses.message()).await {
                        Ok(Ok(Some(r))) if r.ttl() > 0 => alive.store(true, Ordering::Relaxed),
                        Ok(Ok(Some(_))) => break true, // TTL 0: lease expired while away
                        _ => break false,
                    }
                }
                _ = load_tick.tick() => {
                    let l = load_rx.borrow().clone();
                    if let Ok(v) = serde_json::to_vec(&l) {
                        let opts = PutOptions::new().with_lease(lease.load(Ordering::Relaxed));
                        // A failed load write is retried at the next tick.
                        let _ = client.put(keys.load(&info.identity), v, Some(opts)).await;
                    }
                }
            }
        };
        alive.store(false, Ordering::Relaxed);
        if expired {
            let l = load_rx.borrow().clone();
            loop {
                match register_once(&mut client, &keys, &info, &l, ttl).await {
                    Ok(id) => {
                        lease.store(id, Ordering::Relaxed);
                        break;
                    }
                    Err(_) => tokio::time::sleep(period).await,
                }
            }
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Orderly leave: revoking the lease deletes `alive/<id>` and `load/<id>`
/// at once (watchers see the deletes).
pub async fn revoke(client: &mut Client, lease: i64) -> Result<(), DirectoryError> {
    client.lease_revoke(lease).await.map_err(etcd("lease revoke"))?;
    Ok(())
}

/// Result of claiming one PV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Recorded with this owner at this revision.
    Claimed {
        /// etcd revision of the write.
        revision: i64,
    },
    /// The PV already had an owner (maybe the same one).
    Exists {
        /// Current owner.
        owner: String,
    },
}

fn first_value(r: &TxnOpResponse) -> Option<String> {
    match r {
        TxnOpResponse::Get(g) => g
            .kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
        _ => None,
    }
}

/// Records `pv → owner` only if `pv` has no owner (create_revision == 0).
pub async fn claim(client: &mut Client, keys: &Keys, pv: &str, owner: &str) -> Result<Claim, DirectoryError> {
    let k = keys.pv(pv);
    let txn = Txn::new()
        .when(vec![Compare::create_revision(k.clone(), CompareOp::Equal, 0)])
        .and_then(vec![TxnOp::put(k.clone(), owner, None)])
        .or_else(vec![TxnOp::get(k, None)]);
    let r = client.txn(txn).await.map_err(etcd("claim"))?;
    if r.succeeded() {
        let revision = r.header().map(|h| h.revision()).unwrap_or_default();
        return Ok(Claim::Claimed { revision });
    }
    let owner = r.op_responses().first().and_then(first_value).unwrap_or_default();
    Ok(Claim::Exists { owner })
}

/// Claims PVs, up to [`MAX_TXN_OPS`] per transaction. A transaction is
/// all-or-nothing, so when some PV already has an owner the failure branch
/// reads all of the batch's keys, those PVs are reported as `Exists`, and
/// the rest is tried again (two round trips for a batch with existing PVs).
/// A PV named twice gets the first owner; etcd refuses a txn that writes
/// one key twice.
pub async fn claim_batch(
    client: &mut Client,
    keys: &Keys,
    items: &[(String, String)],
) -> Result<Vec<Claim>, DirectoryError> {
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut uniq: Vec<usize> = Vec::with_capacity(items.len());
    for (i, (pv, _)) in items.iter().enumerate() {
        first.entry(pv.as_str()).or_insert_with(|| {
            uniq.push(i);
            i
        });
    }
    let mut out: Vec<Option<Claim>> = vec![None; items.len()];
    for chunk in uniq.chunks(MAX_TXN_OPS) {
        let mut todo: Vec<usize> = chunk.to_vec();
        while !todo.is_empty() {
            let key = |i: usize| keys.pv(&items[i].0);
            let cmp: Vec<Compare> = todo
                .iter()
                .map(|&i| Compare::create_revision(key(i), CompareOp::Equal, 0))
                .collect();
            let puts: Vec<TxnOp> = todo
                .iter()
                .map(|&i| TxnOp::put(key(i), items[i].1.as_str(), None))
                .collect();
            let gets: Vec<TxnOp> = todo.iter().map(|&i| TxnOp::get(key(i), None)).collect();
            let r = client
                .txn(Txn::new().when(cmp).and_then(puts).or_else(gets))
                .await
                .map_err(etcd("claim batch"))?;
            if r.succeeded() {
                let revision = r.header().map(|h| h.revision()).unwrap_or_default();
                for &i in &todo {
                    out[i] = Some(Claim::Claimed { revision });
                }
                break;
            }
            let mut rest = Vec::with_capacity(todo.len());
            for (&i, resp) in todo.iter().zip(r.op_responses().iter()) {
                match first_value(resp) {
                    Some(owner) => out[i] = Some(Claim::Exists { owner }),
                    None => rest.push(i),
                }
            }
            todo = rest;
        }
    }
    Ok(items
        .iter()
        .enumerate()
        .map(|(i, (pv, _))| {
            let f = first.get(pv.as_str()).copied().unwrap_or(i);
            match (&out[f], f == i) {
                (Some(c), true) => c.clone(),
                (Some(Claim::Claimed { .. }), false) => Claim::Exists {
                    owner: items[f].1.clone(),
                },
                (Some(c), false) => c.clone(),
                (None, _) => Claim::Exists { owner: String::new() },
            }
        })
        .collect())
}

type Pending = (
    String,
    String,
    tokio::sync::oneshot::Sender<Result<Claim, String>>,
);

/// Group commit for single-PV claims: concurrent `archivePV` calls are
/// queued and written together, up to [`MAX_TXN_OPS`] PVs per transaction
/// and `max_txns` transactions in flight. A caller waits one etcd round
/// trip plus the time its batch waits for a free slot.
#[derive(Clone)]
pub struct ClaimBatcher {
    tx: tokio::sync::mpsc::Sender<Pending>,
}

impl ClaimBatcher {
    /// Starts the batching task.
    pub fn spawn(client: Client, keys: Keys, max_txns: usize) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(4096);
        tokio::spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(max_txns));
            while let Some(first) = rx.recv().await {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                // Take what queued up while waiting for the slot.
                let mut batch = vec![first];
                while batch.len() < MAX_TXN_OPS {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let mut client = client.clone();
                let keys = keys.clone();
                tokio::spawn(async move {
                    let items: Vec<(String, String)> =
                        batch.iter().map(|(p, o, _)| (p.clone(), o.clone())).collect();
                    let r = claim_batch(&mut client, &keys, &items).await;
                    drop(permit);
                    match r {
                        Ok(v) => {
                            for ((_, _, tx), c) in batch.into_iter().zip(v) {
                                let _ = tx.send(Ok(c));
                            }
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            for (_, _, tx) in batch {
                                let _ = tx.send(Err(msg.clone()));
                            }
                        }
                    }
                });
            }
        });
        Self { tx }
    }

    /// Claims one PV through the shared batches.
    pub async fn claim(&self, pv: String, owner: String) -> Result<Claim, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send((pv, owner, tx))
            .await
            .map_err(|_| "claim batcher stopped".to_string())?;
        rx.await.map_err(|_| "claim batcher stopped".to_string())?
    }
}

/// Removes `pv` from the directory only if `owner` owns it (deletePV).
pub async fn release(
    client: &mut Client,
    keys: &Keys,
    pv: &str,
    owner: &str,
) -> Result<bool, DirectoryError> {
    let k = keys.pv(pv);
    let txn = Txn::new()
        .when(vec![Compare::value(k.clone(), CompareOp::Equal, owner)])
        .and_then(vec![TxnOp::delete(k, None)]);
    let r = client.txn(txn).await.map_err(etcd("release"))?;
    Ok(r.succeeded())
}

/// Writes (`Some`) or deletes (`None`) a plain directory key (aliases, flags).
pub async fn set(client: &mut Client, key: String, value: Option<&str>) -> Result<(), DirectoryError> {
    match value {
        Some(v) => client.put(key, v, None).await.map(|_| ()).map_err(etcd("put")),
        None => client.delete(key, None).await.map(|_| ()).map_err(etcd("delete")),
    }
}

/// Switches the owner from `from` to `to` in one transaction and removes
/// the move intent with it; false when the owner was not `from`.
pub async fn switch_owner(
    client: &mut Client,
    keys: &Keys,
    pv: &str,
    from: &str,
    to: &str,
) -> Result<bool, DirectoryError> {
    let k = keys.pv(pv);
    let txn = Txn::new()
        .when(vec![Compare::value(k.clone(), CompareOp::Equal, from)])
        .and_then(vec![
            TxnOp::put(k, to, None),
            TxnOp::delete(keys.moving(pv), None),
        ]);
    let r = client.txn(txn).await.map_err(etcd("switch owner"))?;
    Ok(r.succeeded())
}

/// Reads the owner of one PV (linearizable read).
pub async fn owner(client: &mut Client, keys: &Keys, pv: &str) -> Result<Option<String>, DirectoryError> {
    let r = client.get(keys.pv(pv), None).await.map_err(etcd("get owner"))?;
    Ok(r.kvs()
        .first()
        .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
}
