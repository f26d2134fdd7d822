//! Finding the server of a pvAccess channel without binding or sending
//! anywhere but the configured address list.
//!
//! The crate's client binds its UDP search and beacon sockets on every
//! interface (and on `[::]`) whatever the address list says, so strata does
//! its own UDP search: one socket per local address that reaches a list
//! entry, bound to that address only (127.0.0.1 for a loopback list, the
//! interface address for a subnet broadcast), sending SEARCH only to the
//! list. TCP name servers (`EPICS_PVA_NAME_SERVERS`) are searched with the
//! crate's name-server-only search engine, which binds no UDP socket.
//! Connections then go straight to the server found (the crate's direct
//! mode, which binds nothing).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use epics_pva_rs::client_native::search_engine::{SearchEngine, SearchReason};
use epics_pva_rs::codec::PvaCodec;
use epics_pva_rs::decode::{decode_search_response, try_parse_frame};
use epics_pva_rs::proto::Command;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::engine::write::lock;

/// Resolving the resolver's configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A search socket could not be bound to a local address.
    #[error("binding the pvAccess search socket on {addr}")]
    Bind {
        /// Local address.
        addr: IpAddr,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// The interfaces could not be listed.
    #[error("listing network interfaces")]
    Interfaces(#[source] io::Error),
    /// The name-server search could not start.
    #[error("starting the pvAccess name-server search: {0}")]
    NameServers(String),
}

/// One IPv4 interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name (`eth0`).
    pub name: String,
    /// Address.
    pub addr: Ipv4Addr,
    /// Netmask.
    pub netmask: Ipv4Addr,
    /// Broadcast address, if the interface has one.
    pub broadcast: Option<Ipv4Addr>,
    /// Loopback interface.
    pub loopback: bool,
}

/// The IPv4 interfaces that are up.
pub fn interfaces() -> io::Result<Vec<Interface>> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        let up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
        if !up || ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: a non-null sockaddr of the list; read as sockaddr_in
        // only when its family says AF_INET.
        let v4 = |p: *const libc::sockaddr| unsafe {
            if p.is_null() || i32::from((*p).sa_family) != libc::AF_INET {
                return None;
            }
            let sin = &*(p as *const libc::sockaddr_in);
            Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        };
        let (Some(addr), Some(netmask)) = (v4(ifa.ifa_addr), v4(ifa.ifa_netmask)) else {
            continue;
        };
        let loopback = ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
        let broadcast = if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0 {
            v4(ifa.ifa_ifu)
        } else {
            None
        };
        // SAFETY: ifa_name is a NUL-terminated string of the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        out.push(Interface {
            name,
            addr,
            netmask,
            broadcast,
            loopback,
        });
    }
    // SAFETY: `head` came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The interface named by the kernel's IPv4 routing table for `dest`
/// (longest prefix of `/proc/net/route`).
fn routed_interface(dest: Ipv4Addr) -> Option<String> {
    let text = std::fs::read_to_string("/proc/net/route").ok()?;
    let d = u32::from(dest);
    let mut best: Option<(u32, String)> = None;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        // Columns are the raw network-order words printed in host order.
        let parse = |s: &str| {
            u32::from_str_radix(s, 16)
                .ok()
                .map(|x| u32::from_be_bytes(x.to_ne_bytes()))
        };
        let (Some(net), Some(mask)) = (parse(f[1]), parse(f[7])) else {
            continue;
        };
        if d & mask == net & mask
            && best
                .as_ref()
                .is_none_or(|(m, _)| mask.count_ones() > m.count_ones())
        {
            best = Some((mask, f[0].to_string()));
        }
    }
    best.map(|(_, n)| n)
}

/// The local address that reaches `dest`: loopback for loopback, the
/// interface whose broadcast address or subnet holds it, else the
/// interface of the route.
pub fn local_addr_for(dest: Ipv4Addr, ifs: &[Interface]) -> Option<Ipv4Addr> {
    if dest.is_loopback() {
        return Some(Ipv4Addr::LOCALHOST);
    }
    if let Some(i) = ifs.iter().find(|i| i.broadcast == Some(dest) || i.addr == dest) {
        return Some(i.addr);
    }
    let within =
        |i: &&Interface| u32::from(dest) & u32::from(i.netmask) == u32::from(i.addr) & u32::from(i.netmask);
    if let Some(i) = ifs.iter().filter(|i| !i.loopback).find(within) {
        return Some(i.addr);
    }
    let name = routed_interface(dest)?;
    ifs.iter().find(|i| i.name == name).map(|i| i.addr)
}

/// Search destinations grouped by the local address they are sent from.
pub fn plan(
    addr_list: &[SocketAddr],
    auto: bool,
    broadcast_port: u16,
    ifs: &[Interface],
) -> Vec<(Ipv4Addr, Vec<SocketAddr>)> {
    let mut by_local: Vec<(Ipv4Addr, Vec<SocketAddr>)> = Vec::new();
    let mut add = |local: Ipv4Addr, dest: SocketAddr| match by_local.iter_mut().find(|(l, _)| *l == local) {
        Some((_, d)) if !d.contains(&dest) => d.push(dest),
        Some(_) => {}
        None => by_local.push((local, vec![dest])),
    };
    for dest in addr_list {
        match dest.ip() {
            IpAddr::V4(v4) => match local_addr_for(v4, ifs) {
                Some(local) => add(local, *dest),
                None => tracing::warn!(%dest, "no local interface reaches this pvAccess address"),
            },
            IpAddr::V6(_) => tracing::warn!(%dest, "IPv6 pvAccess search addresses are not supported"),
        }
    }
    if auto {
        for i in ifs.iter().filter(|i| !i.loopback) {
            if let Some(b) = i.broadcast {
                add(i.addr, SocketAddr::new(IpAddr::V4(b), broadcast_port));
            }
        }
    }
    by_local
}

/// Parses `host[:port]` entries (space or comma separated); names resolve.
pub fn parse_list(list: &str, default_port: u16) -> Vec<SocketAddr> {
    use std::net::ToSocketAddrs;
    list.split([' ', ',', '\t', '\n'])
        .filter(|s| !s.is_empty())
        .filter_map(|a| {
            if let Ok(sa) = a.parse::<SocketAddr>() {
                return Some(sa);
            }
            if let Ok(ip) = a.parse::<IpAddr>() {
                return Some(SocketAddr::new(ip, default_port));
            }
            let with_port = if a.contains(':') {
                a.to_string()
            } else {
                format!("{a}:{default_port}")
            };
            with_port.to_socket_addrs().ok()?.find(|s| s.is_ipv4())
        })
        .collect()
}

type Waiters = Mutex<HashMap<u32, oneshot::Sender<SocketAddr>>>;

/// strata's UDP search: sockets bound to single local addresses.
struct UdpSearch {
    sockets: Vec<(Arc<UdpSocket>, Vec<SocketAddr>)>,
    waiters: Arc<Waiters>,
    next_id: AtomicU32,
    receivers: Vec<JoinHandle<()>>,
}

impl Drop for UdpSearch {
    fn drop(&mut self) {
        for r in &self.receivers {
            r.abort();
        }
    }
}

/// Delays between SEARCH rounds for one name (then the last, repeated).
const SEARCH_DELAYS_MS: [u64; 9] = [200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000];

impl UdpSearch {
    async fn bind(plan: Vec<(Ipv4Addr, Vec<SocketAddr>)>) -> Result<Self, ResolveError> {
        let waiters: Arc<Waiters> = Arc::new(Mutex::new(HashMap::new()));
        let mut sockets = Vec::new();
        let mut receivers = Vec::new();
        for (local, dests) in plan {
            let addr = IpAddr::V4(local);
            let sock = UdpSocket::bind(SocketAddr::new(addr, 0))
                .await
                .map_err(|source| ResolveError::Bind { addr, source })?;
            let broadcast = dests.iter().any(|d| match d.ip() {
                IpAddr::V4(v4) => !v4.is_loopback() && (v4.is_broadcast() || v4.octets()[3] == 255),
                IpAddr::V6(_) => false,
            });
            if broadcast {
                sock.set_broadcast(true)
                    .map_err(|source| ResolveError::Bind { addr, source })?;
            }
            let sock = Arc::new(sock);
            tracing::info!(local = %sock.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                destinations = ?dests, "pvAccess search socket");
            receivers.push(tokio::spawn(receive(sock.clone(), waiters.clone())));
            sockets.push((sock, dests));
        }
        Ok(UdpSearch {
            sockets,
            waiters,
            next_id: AtomicU32::new(1),
            receivers,
        })
    }

    /// Searches `name` until a server answers.
    async fn find(&self, name: &str) -> SocketAddr {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = oneshot::channel();
        lock(&self.waiters).insert(id, tx);
        let _cleanup = Remove(&self.waiters, id);
        let codec = PvaCodec::new();
        let mut round = 0usize;
        loop {
            for (sock, dests) in &self.sockets {
                let port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
                for dest in dests {
                    let unicast = match dest.ip() {
                        IpAddr::V4(v4) => v4.is_loopback() || !(v4.is_broadcast() || v4.octets()[3] == 255),
                        IpAddr::V6(_) => true,
                    };
                    // Reply address 0.0.0.0: the server answers the sender.
                    let msg =
                        codec.build_search_batch(round as u32, &[(id, name)], [0, 0, 0, 0], port, unicast);
                    if let Err(e) = sock.send_to(&msg, dest).await {
                        tracing::debug!(%dest, error = %e, "pvAccess search not sent");
                    }
                }
            }
            let delay = SEARCH_DELAYS_MS[round.min(SEARCH_DELAYS_MS.len() - 1)];
            round += 1;
            if let Ok(Ok(addr)) = tokio::time::timeout(Duration::from_millis(delay), &mut rx).await {
                return addr;
            }
        }
    }
}

/// Removes a waiter when its search ends (found or cancelled).
struct Remove<'a>(&'a Waiters, u32);

impl Drop for Remove<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(&self.1);
    }
}

/// Hands SEARCH_RESPONSEs arriving on `sock` to the waiting searches.
async fn receive(sock: Arc<UdpSocket>, waiters: Arc<Waiters>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, src) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "pvAccess search receive");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let mut rest = &buf[..n];
        while let Ok(Some((frame, used))) = try_parse_frame(rest) {
            if used == 0 {
                break;
            }
            rest = &rest[used.min(rest.len())..];
            if frame.header.command != Command::SearchResponse.code() {
                continue;
            }
            let Ok(r) = decode_search_response(&frame) else {
                continue;
            };
            if !r.found || r.protocol != "tcp" {
                continue;
            }
            let mut server = r.server_addr;
            if server.ip().is_unspecified() {
                server.set_ip(src.ip());
            }
            let mut w = lock(&waiters);
            for cid in r.cids {
                if let Some(tx) = w.remove(&cid) {
                    let _ = tx.send(server);
                }
            }
        }
    }
}

/// Finds the server of a channel by UDP search and TCP name servers.
/// The UDP sockets are bound at the first search (a strata archiving no
/// pvAccess PV binds none).
pub(crate) struct Resolver {
    plan: Vec<(Ipv4Addr, Vec<SocketAddr>)>,
    udp: tokio::sync::OnceCell<Option<UdpSearch>>,
    name_servers: Option<SearchEngine>,
}

impl Resolver {
    /// A resolver searching `plan` over UDP and `name_servers` over TCP.
    pub(crate) async fn new(
        plan: Vec<(Ipv4Addr, Vec<SocketAddr>)>,
        name_servers: Vec<SocketAddr>,
    ) -> Result<Self, ResolveError> {
        let name_servers = if name_servers.is_empty() {
            None
        } else {
            let reactor = epics_base_rs::runtime::task::Reactor::current()
                .ok_or_else(|| ResolveError::NameServers("no runtime".into()))?;
            tracing::info!(servers = ?name_servers, "pvAccess name servers");
            Some(
                SearchEngine::spawn_name_servers_only(
                    &reactor,
                    name_servers,
                    String::new(),
                    String::new(),
                    Duration::from_secs(5),
                )
                .await
                .map_err(|e| ResolveError::NameServers(e.to_string()))?,
            )
        };
        if plan.is_empty() && name_servers.is_none() {
            tracing::warn!("pvAccess: no search address and no name server; pva:// PVs will not connect");
        }
        Ok(Resolver {
            plan,
            udp: tokio::sync::OnceCell::new(),
            name_servers,
        })
    }

    /// The UDP search, bound on first use (`None`: no address list, or
    /// binding failed, which is logged).
    async fn udp(&self) -> Option<&UdpSearch> {
        self.udp
            .get_or_init(|| async {
                if self.plan.is_empty() {
                    return None;
                }
                match UdpSearch::bind(self.plan.clone()).await {
                    Ok(u) => Some(u),
                    Err(e) => {
                        tracing::error!(error = %e, "pvAccess UDP search unavailable");
                        None
                    }
                }
            })
            .await
            .as_ref()
    }

    /// The server of `name`, searching until one answers.
    pub(crate) async fn find(&self, name: &str) -> SocketAddr {
        let udp = async {
            match self.udp().await {
                Some(u) => u.find(name).await,
                None => std::future::pending().await,
            }
        };
        let ns = async {
            match &self.name_servers {
                Some(e) => loop {
                    match e.find(name, SearchReason::Initial).await {
                        Ok(hit) => break hit.server,
                        Err(err) => {
                            tracing::debug!(pv = name, error = %err, "name-server search");
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                    }
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            a = udp => a,
            a = ns => a,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifs() -> Vec<Interface> {
        vec![
            Interface {
                name: "lo".into(),
                addr: Ipv4Addr::LOCALHOST,
                netmask: Ipv4Addr::new(255, 0, 0, 0),
                broadcast: None,
                loopback: true,
            },
            Interface {
                name: "eth0".into(),
                addr: Ipv4Addr::new(192, 0, 2, 2),
                netmask: Ipv4Addr::new(255, 255, 255, 0),
                broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
                loopback: false,
            },
        ]
    }

    #[test]
    fn each_destination_is_sent_from_the_address_that_reaches_it() {
        let list = parse_list("127.0.0.1 192.0.2.255:5099,192.0.2.7", 5076);
        assert_eq!(list.len(), 3);
        let p = plan(&list, false, 5076, &ifs());
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, Ipv4Addr::LOCALHOST);
        assert_eq!(p[0].1, vec!["127.0.0.1:5076".parse::<SocketAddr>().unwrap()]);
        assert_eq!(p[1].0, Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(p[1].1.len(), 2);
        // A loopback-only list binds nothing but 127.0.0.1.
        let p = plan(&parse_list("127.0.0.1", 5076), false, 5076, &ifs());
        assert_eq!(
            p,
            vec![(Ipv4Addr::LOCALHOST, vec!["127.0.0.1:5076".parse().unwrap()])]
        );
        // The automatic list adds each interface's broadcast address.
        let p = plan(&[], true, 5076, &ifs());
        assert_eq!(
            p,
            vec![(
                Ipv4Addr::new(192, 0, 2, 2),
                vec!["192.0.2.255:5076".parse().unwrap()]
            )]
        );
    }

    #[test]
    fn interfaces_include_loopback() {
        let ifs = interfaces().unwrap();
        assert!(ifs.iter().any(|i| i.loopback && i.addr == Ipv4Addr::LOCALHOST));
    }
}
