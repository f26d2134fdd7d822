//! Moving a paused PV to another member (`reassignAppliance`, `reshardPV`),
//! driven by the target T. etcd is the single truth: `pvs/X == T` means the
//! move happened, anything else means it did not.
//!
//! 1. prepare: txn `pvs/X == S`, no `moves/X` → `moves/X = {S, T, copying}`;
//! 2. copy: T registers X paused (type info from S) and appends every
//!    sample of S's `getData.raw` over all time, then checks the count;
//! 3. switch: txn `pvs/X == S && moves/X == intent` → `pvs/X = T`,
//!    `moves/X = {S, T, switched}`;
//! 4. cleanup: S deletes X with its data, then txn `moves/X == switched`
//!    → delete the intent.
//!
//! A crash anywhere is repaired by [`recover`] on the next start of T or
//! S: before the switch T drops its copy and the intent (the PV stays on S
//! as it was); after it S's copy is dropped (the PV is complete on T).
//! The PV is paused throughout, so neither side writes samples.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request};
use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Cluster, SCOPE};
use crate::mgmt::Mgmt;
use crate::plainpb::{ChunkItem, ChunkReader};
use crate::storage::StoragePlugin;
use crate::types::ArchiverSample;

/// A move that could not be done; the PV stays where it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// Not a PV of the directory.
    #[error("PV {0} is not archived in the cluster")]
    UnknownPv(String),
    /// The request is not a move (same member, unknown target, not paused…).
    #[error("{0}")]
    Refused(String),
    /// Another move of this PV is under way, or the owner changed.
    #[error("PV {0} is being moved or changed owner meanwhile")]
    Conflict(String),
    /// The source member did not answer.
    #[error("appliance {member} is unreachable: {reason}")]
    Source {
        /// Source identity.
        member: String,
        /// Cause.
        reason: String,
    },
    /// etcd did not answer.
    #[error("cluster directory (etcd) unavailable: {0}")]
    Directory(String),
    /// Copying into this member failed.
    #[error("copying {pv}: {reason}")]
    Copy {
        /// PV.
        pv: String,
        /// Cause.
        reason: String,
    },
}

/// `moves/<pv>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Intent {
    /// Source member.
    pub from: String,
    /// Target member.
    pub to: String,
    /// `copying` or `switched`.
    pub phase: String,
}

/// Test hook: `STRATA_FAILPOINT=move:<step>` aborts the process at that
/// step (`after_prepare`, `mid_copy`, `after_copy`, `after_switch`).
fn failpoint(step: &str) {
    if let Ok(v) = std::env::var("STRATA_FAILPOINT") {
        if v.strip_prefix("move:") == Some(step) {
            tracing::error!(step, "failpoint: aborting");
            std::process::abort();
        }
    }
}

fn dir_err(e: etcd_client::Error) -> MoveError {
    MoveError::Directory(e.to_string())
}

fn intent_bytes(from: &str, to: &str, phase: &str) -> Result<Vec<u8>, MoveError> {
    serde_json::to_vec(&Intent {
        from: from.into(),
        to: to.into(),
        phase: phase.into(),
    })
    .map_err(|e| MoveError::Directory(e.to_string()))
}

/// A GET to `member` (scope local); the whole answer.
async fn get_from(c: &Cluster, member: &str, pq: &str) -> Result<(u16, bytes::Bytes), MoveError> {
    let src = |reason: String| MoveError::Source {
        member: member.to_owned(),
        reason,
    };
    let url = c
        .cache
        .member_url(member)
        .ok_or_else(|| src("not a known member".into()))?;
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(pq)
        .body(Body::empty())
        .map_err(|e| src(e.to_string()))?;
    req.headers_mut().insert(SCOPE, HeaderValue::from_static("local"));
    let r = c
        .forwarder
        .forward(member, &url, req)
        .await
        .map_err(|e| src(e.to_string()))?;
    let status = r.status().as_u16();
    let b = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .map_err(|e| src(e.to_string()))?;
    Ok((status, b))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Moves paused `pv` from its owner to this member (the target). Returns
/// the number of samples moved.
pub async fn reassign(c: &Cluster, mgmt: &Mgmt, pv: &str) -> Result<u64, MoveError> {
    let me = c.identity.clone();
    let from = c.cache.owner(pv).ok_or_else(|| MoveError::UnknownPv(pv.into()))?;
    if from == me {
        return Err(MoveError::Refused(format!("{pv} is already on appliance {me}")));
    }
    if mgmt.registry.contains(pv) {
        return Err(MoveError::Refused(format!(
            "appliance {me} already holds a record of {pv}"
        )));
    }
    let (status, info) = get_from(c, &from, &format!("/mgmt/bpl/getPVTypeInfo?pv={}", enc(pv))).await?;
    if status != 200 {
        return Err(MoveError::Source {
            member: from,
            reason: format!("getPVTypeInfo answered {status}"),
        });
    }
    let mut info: Value = serde_json::from_slice(&info).map_err(|e| MoveError::Source {
        member: from.clone(),
        reason: e.to_string(),
    })?;
    if info.get("paused").and_then(Value::as_str) != Some("true") {
        return Err(MoveError::Refused(format!(
            "{pv} must be paused before it is moved"
        )));
    }
    // 1. prepare
    let keys = &c.keys;
    let copying = intent_bytes(&from, &me, "copying")?;
    let mut client = c.client.clone();
    let r = client
        .txn(
            Txn::new()
                .when(vec![
                    Compare::value(keys.pv(pv), CompareOp::Equal, from.as_str()),
                    Compare::create_revision(keys.moving(pv), CompareOp::Equal, 0),
                ])
                .and_then(vec![TxnOp::put(keys.moving(pv), copying.clone(), None)]),
        )
        .await
        .map_err(dir_err)?;
    if !r.succeeded() {
        return Err(MoveError::Conflict(pv.into()));
    }
    failpoint("after_prepare");
    // 2. copy
    let copied = match copy_in(c, mgmt, pv, &from, &mut info).await {
        Ok(n) => n,
        Err(e) => {
            abort(c, mgmt, pv, &copying).await;
            return Err(e);
        }
    };
    failpoint("after_copy");
    // 3. switch
    let switched = intent_bytes(&from, &me, "switched")?;
    let r = client
        .txn(
            Txn::new()
                .when(vec![
                    Compare::value(keys.pv(pv), CompareOp::Equal, from.as_str()),
                    Compare::value(keys.moving(pv), CompareOp::Equal, copying.clone()),
                ])
                .and_then(vec![
                    TxnOp::put(keys.pv(pv), me.as_str(), None),
                    TxnOp::put(keys.moving(pv), switched.clone(), None),
                ]),
        )
        .await;
    match r {
        Ok(r) if r.succeeded() => c.cache.set_owner(pv, Some(&me)),
        Ok(_) => {
            abort(c, mgmt, pv, &copying).await;
            return Err(MoveError::Conflict(pv.into()));
        }
        Err(e) => {
            // Unknown outcome: recovery decides from the directory later.
            return Err(dir_err(e));
        }
    }
    failpoint("after_switch");
    // 4. cleanup on the source
    if let Err(e) = cleanup_source(c, pv, &from, &switched).await {
        tracing::warn!(pv, source = %from, error = %e, "moved; the source drops its copy when it can");
    }
    Ok(copied)
}

/// Registers `pv` here (paused, this member's identity) and appends every
/// sample of the source's answer; the count must match the source's.
async fn copy_in(c: &Cluster, mgmt: &Mgmt, pv: &str, from: &str, info: &mut Value) -> Result<u64, MoveError> {
    let fail = |reason: String| MoveError::Copy {
        pv: pv.into(),
        reason,
    };
    if let Some(o) = info.as_object_mut() {
        o.insert("applianceIdentity".into(), Value::String(c.identity.clone()));
    }
    mgmt.put_typeinfo(pv, info, true, true)
        .map_err(|e| fail(e.to_string()))?;
    let ty = mgmt.typeinfo(pv).map_err(|e| fail(e.to_string()))?.dbr_type;
    let q = format!(
        "/retrieval/data/getData.raw?pv={}&from=1970-01-02T00:00:00.000Z&to=2200-01-01T00:00:00.000Z",
        enc(pv)
    );
    let (status, raw) = get_from(c, from, &q).await?;
    if status != 200 {
        return Err(fail(format!("the source answered {status}")));
    }
    let samples = tokio::task::spawn_blocking(move || -> Result<Vec<ArchiverSample>, String> {
        let mut r = ChunkReader::new(std::io::Cursor::new(raw));
        let mut out = Vec::new();
        loop {
            match r.next_item() {
                Ok(Some(ChunkItem::Sample(s))) => out.push(s),
                Ok(Some(ChunkItem::Header(_))) => {}
                Ok(None) => return Ok(out),
                Err((off, why)) => return Err(format!("bad line at {off}: {why}")),
            }
        }
    })
    .await
    .map_err(|e| fail(e.to_string()))?
    .map_err(fail)?;
    let half = samples.len() / 2;
    for (i, s) in samples.iter().enumerate() {
        if i == half {
            mgmt.store.flush_writes().await.map_err(|e| fail(e.to_string()))?;
            failpoint("mid_copy");
        }
        mgmt.store
            .append_event(pv, ty, s)
            .await
            .map_err(|e| fail(e.to_string()))?;
    }
    mgmt.store.flush_writes().await.map_err(|e| fail(e.to_string()))?;
    let mine = local_count(mgmt, pv)?;
    if mine != samples.len() as u64 {
        return Err(fail(format!("{mine} samples here, {} sent", samples.len())));
    }
    Ok(mine)
}

fn local_count(mgmt: &Mgmt, pv: &str) -> Result<u64, MoveError> {
    let mut n = 0;
    for t in mgmt.store.tiers() {
        if let Some(s) = t.summary(pv).map_err(|e| MoveError::Copy {
            pv: pv.into(),
            reason: e.to_string(),
        })? {
            n += s.samples;
        }
    }
    Ok(n)
}

/// Drops this member's copy of `pv` and the `copying` intent.
async fn abort(c: &Cluster, mgmt: &Mgmt, pv: &str, intent: &[u8]) {
    if mgmt.registry.contains(pv) {
        if let Err(e) = mgmt.delete(pv, true).await {
            tracing::error!(pv, error = %e, "dropping the partial copy of a move");
        }
    }
    let mut client = c.client.clone();
    let r = client
        .txn(
            Txn::new()
                .when(vec![Compare::value(
                    c.keys.moving(pv),
                    CompareOp::Equal,
                    intent.to_vec(),
                )])
                .and_then(vec![TxnOp::delete(c.keys.moving(pv), None)]),
        )
        .await;
    if let Err(e) = r {
        tracing::warn!(pv, error = %e, "move intent left for recovery");
    }
}

/// Asks the source to delete its copy, then removes the intent.
async fn cleanup_source(c: &Cluster, pv: &str, from: &str, switched: &[u8]) -> Result<(), MoveError> {
    let (status, body) = get_from(
        c,
        from,
        &format!("/mgmt/bpl/deletePV?pv={}&deleteData=true", enc(pv)),
    )
    .await?;
    let gone = status == 404
        || serde_json::from_slice::<Value>(&body)
            .ok()
            .is_some_and(|v| v.get("status").and_then(Value::as_str) == Some("ok"));
    if !gone {
        return Err(MoveError::Source {
            member: from.into(),
            reason: format!("deletePV answered {status}"),
        });
    }
    finish(c, pv, switched).await
}

async fn finish(c: &Cluster, pv: &str, switched: &[u8]) -> Result<(), MoveError> {
    let mut client = c.client.clone();
    client
        .txn(
            Txn::new()
                .when(vec![Compare::value(
                    c.keys.moving(pv),
                    CompareOp::Equal,
                    switched.to_vec(),
                )])
                .and_then(vec![TxnOp::delete(c.keys.moving(pv), None)]),
        )
        .await
        .map_err(dir_err)?;
    Ok(())
}

/// Repairs the moves this member took part in (run at start, before the
/// engine archives): see the module documentation.
pub async fn recover(c: &Cluster, mgmt: &Mgmt) {
    let moves: Vec<(String, String)> = c
        .cache
        .read(|s| s.moves.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    for (pv, raw) in moves {
        let Ok(i) = serde_json::from_str::<Intent>(&raw) else {
            continue;
        };
        let owner = c.cache.owner(&pv);
        let me = c.identity.as_str();
        let r = if i.to == me && owner.as_deref() != Some(me) {
            abort(c, mgmt, &pv, raw.as_bytes()).await;
            "target: not switched, local copy dropped"
        } else if i.to == me {
            match cleanup_source(c, &pv, &i.from, raw.as_bytes()).await {
                Ok(()) => "target: switched, source dropped its copy",
                Err(_) => "target: switched, source not reachable yet",
            }
        } else if i.from == me && i.phase == "switched" {
            if mgmt.registry.contains(&pv) {
                if let Err(e) = mgmt.delete(&pv, true).await {
                    tracing::error!(pv = %pv, error = %e, "dropping the moved PV's old copy");
                    continue;
                }
            }
            match finish(c, &pv, raw.as_bytes()).await {
                Ok(()) => "source: switched, local copy dropped",
                Err(_) => "source: local copy dropped, intent left",
            }
        } else {
            continue;
        };
        tracing::info!(pv = %pv, outcome = r, "interrupted move recovered");
    }
}
