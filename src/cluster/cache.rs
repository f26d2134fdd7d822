//! The local copy of the directory: a full read of the prefix, then a watch
//! from the next revision. After a broken stream (etcd restarted, network)
//! the watch resumes from the last applied revision + 1, so no event is
//! lost; when that revision was compacted the cache reloads everything.
//! Readers never wait for etcd: they read the cache, which is "as of
//! revision N" and says whether it is currently connected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, GetOptions, WatchOptions};
use tokio::sync::mpsc::UnboundedSender;

use super::directory::{Load, MemberInfo};
use super::keys::{Entry, Keys};

/// Directory contents as of [`Cache::revision`].
#[derive(Default, Debug, Clone)]
pub struct Snapshot {
    /// PV → owner.
    pub pvs: HashMap<String, String>,
    /// Known members (live or not).
    pub members: HashMap<String, MemberInfo>,
    /// Members whose lease is alive.
    pub alive: std::collections::HashSet<String>,
    /// Load per member.
    pub load: HashMap<String, Load>,
    /// Alias → PV.
    pub aliases: HashMap<String, String>,
    /// Named flags.
    pub flags: HashMap<String, bool>,
    /// PVs being moved (intent JSON).
    pub moves: HashMap<String, String>,
}

/// Shared cache filled by [`run`].
#[derive(Default)]
pub struct Cache {
    snap: RwLock<Snapshot>,
    revision: AtomicI64,
    connected: AtomicBool,
    /// Full reloads done (1 at start, +1 per compaction fallback).
    pub reloads: AtomicU64,
    /// Watch (re)connections.
    pub watches: AtomicU64,
    observer: RwLock<Option<UnboundedSender<(String, Instant)>>>,
}

impl Cache {
    /// Last revision applied.
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }
    /// Whether the watch stream is up.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
    /// Owner of a PV.
    pub fn owner(&self, pv: &str) -> Option<String> {
        self.read(|s| s.pvs.get(pv).cloned())
    }
    /// Runs `f` on the snapshot under the read lock.
    pub fn read<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        match self.snap.read() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }
    /// Test/bench hook: every applied put/delete is sent as (key, when).
    pub fn observe(&self, tx: UnboundedSender<(String, Instant)>) {
        if let Ok(mut o) = self.observer.write() {
            *o = Some(tx);
        }
    }

    /// Records a directory write this member made (its own watch event
    /// follows; applying it now lets the writer route at once). `None`
    /// removes the PV.
    pub fn set_owner(&self, pv: &str, owner: Option<&str>) {
        self.write(|s| match owner {
            Some(o) => {
                s.pvs.insert(pv.to_owned(), o.to_owned());
            }
            None => {
                s.pvs.remove(pv);
            }
        });
    }

    /// Base URL of a known member.
    pub fn member_url(&self, id: &str) -> Option<String> {
        self.read(|s| s.members.get(id).map(|m| m.url.clone()))
    }

    /// Known members sorted by identity, with whether each is alive.
    pub fn members(&self) -> Vec<(MemberInfo, bool)> {
        self.read(|s| {
            let mut v: Vec<(MemberInfo, bool)> = s
                .members
                .values()
                .map(|m| (m.clone(), s.alive.contains(&m.identity)))
                .collect();
            v.sort_by(|a, b| a.0.identity.cmp(&b.0.identity));
            v
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Snapshot) -> T) -> T {
        match self.snap.write() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

fn apply(s: &mut Snapshot, keys: &Keys, key: &str, value: Option<&[u8]>) {
    let text = value.map(|v| String::from_utf8_lossy(v).into_owned());
    match (keys.parse(key), text) {
        (Some(Entry::Pv(n)), Some(v)) => {
            s.pvs.insert(n.to_owned(), v);
        }
        (Some(Entry::Pv(n)), None) => {
            s.pvs.remove(n);
        }
        (Some(Entry::Member(n)), Some(v)) => {
            if let Ok(m) = serde_json::from_str(&v) {
                s.members.insert(n.to_owned(), m);
            }
        }
        (Some(Entry::Member(n)), None) => {
            s.members.remove(n);
        }
        (Some(Entry::Alive(n)), Some(_)) => {
            s.alive.insert(n.to_owned());
        }
        (Some(Entry::Alive(n)), None) => {
            s.alive.remove(n);
        }
        (Some(Entry::Load(n)), Some(v)) => {
            if let Ok(l) = serde_json::from_str(&v) {
                s.load.insert(n.to_owned(), l);
            }
        }
        (Some(Entry::Load(n)), None) => {
            s.load.remove(n);
        }
        (Some(Entry::Alias(n)), Some(v)) => {
            s.aliases.insert(n.to_owned(), v);
        }
        (Some(Entry::Alias(n)), None) => {
            s.aliases.remove(n);
        }
        (Some(Entry::Flag(n)), Some(v)) => {
            s.flags.insert(n.to_owned(), v == "true");
        }
        (Some(Entry::Flag(n)), None) => {
            s.flags.remove(n);
        }
        (Some(Entry::Move(n)), Some(v)) => {
            s.moves.insert(n.to_owned(), v);
        }
        (Some(Entry::Move(n)), None) => {
            s.moves.remove(n);
        }
        (None, _) => {}
    }
}

/// Keys per page of a full read. A gRPC answer is limited to 4 MiB by
/// default and 100,000 directory entries take about 8 MiB, so the prefix is
/// read in pages, all at the revision of the first page (one consistent
/// snapshot; a compaction in between makes the read fail and start over).
pub const PAGE: i64 = 5_000;

/// Reads the whole prefix and replaces the snapshot; returns its revision.
pub(crate) async fn reload(
    client: &mut Client,
    keys: &Keys,
    cache: &Cache,
) -> Result<i64, etcd_client::Error> {
    let root = keys.root().as_bytes().to_vec();
    let mut end = root.clone();
    // Prefix end: last byte + 1 (the root ends in '/', never 0xff).
    if let Some(b) = end.last_mut() {
        *b += 1;
    }
    let mut s = Snapshot::default();
    let mut from = root;
    let mut rev = 0;
    loop {
        let mut o = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if rev > 0 {
            o = o.with_revision(rev);
        }
        let r = client.get(from.clone(), Some(o)).await?;
        if rev == 0 {
            rev = r.header().map(|h| h.revision()).unwrap_or_default();
        }
        for kv in r.kvs() {
            if let Ok(k) = kv.key_str() {
                apply(&mut s, keys, k, Some(kv.value()));
            }
        }
        match (r.more(), r.kvs().last()) {
            (true, Some(last)) => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => break,
        }
    }
    cache.write(|c| *c = s);
    cache.revision.store(rev, Ordering::Release);
    cache.reloads.fetch_add(1, Ordering::Relaxed);
    Ok(rev)
}

/// Keeps `cache` in step with etcd until aborted. `backoff` is the pause
/// after a failed connection.
pub(crate) async fn run(mut client: Client, keys: Keys, cache: Arc<Cache>, backoff: Duration) {
    let mut need_reload = cache.revision() == 0;
    loop {
        if need_reload {
            match reload(&mut client, &keys, &cache).await {
                Ok(_) => need_reload = false,
                Err(_) => {
                    cache.connected.store(false, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let from = cache.revision() + 1;
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(from)
            .with_progress_notify();
        let mut stream = match client.watch(keys.root(), Some(opts)).await {
            Ok(s) => s,
            Err(_) => {
                cache.connected.store(false, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        cache.watches.fetch_add(1, Ordering::Relaxed);
        loop {
            match stream.message().await {
                Ok(Some(resp)) => {
                    if resp.canceled() || resp.compact_revision() > 0 {
                        // Start revision compacted away: events are lost, reload.
                        need_reload = true;
                        break;
                    }
                    cache.connected.store(true, Ordering::Relaxed);
                    let mut applied = Vec::new();
                    let mut last = 0;
                    cache.write(|s| {
                        for ev in resp.events() {
                            let Some(kv) = ev.kv() else { continue };
                            let Ok(k) = kv.key_str() else { continue };
                            let v = match ev.event_type() {
                                EventType::Put => Some(kv.value()),
                                EventType::Delete => None,
                            };
                            apply(s, &keys, k, v);
                            last = last.max(kv.mod_revision());
                            applied.push(k.to_owned());
                        }
                    });
                    // A progress notification (sent only to a caught-up
                    // watcher) moves the revision on; the `created` answer
                    // does not: events before its header revision may still
                    // be on their way.
                    let hdr = resp.header().map(|h| h.revision()).unwrap_or(0);
                    let rev = match (resp.events().is_empty(), resp.created()) {
                        (false, _) => last,
                        (true, false) => hdr,
                        (true, true) => 0,
                    };
                    if rev > cache.revision() {
                        cache.revision.store(rev, Ordering::Release);
                    }
                    if !applied.is_empty() {
                        if let Ok(o) = cache.observer.read() {
                            if let Some(tx) = o.as_ref() {
                                let now = Instant::now();
                                for k in applied {
                                    let _ = tx.send((k, now));
                                }
                            }
                        }
                    }
                }
                Ok(None) | Err(_) => {
                    cache.connected.store(false, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                    break;
                }
            }
        }
    }
}
