//! strata's own pvAccess UDP search: a PV found through an address list
//! (a search responder on a non-default port of 127.0.0.1), and the only
//! UDP sockets the search opens are bound to 127.0.0.1 — nothing on other
//! interfaces or IPv6, whatever the crate's client would bind.

mod common;

use std::collections::HashSet;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pva::{nt_plain, PvaIoc};
use common::server::TestServer;
use epics_pva_rs::proto::{ByteOrder, PvaHeader};
use epics_pva_rs::pvdata::ScalarType;

/// UDP sockets of this process: (local address, IPv6).
fn own_udp_sockets() -> HashSet<(String, bool)> {
    let inodes: HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut out = HashSet::new();
    for (file, v6) in [("/proc/self/net/udp", false), ("/proc/self/net/udp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && inodes.contains(f[9]) {
                out.insert((f[1].to_string(), v6));
            }
        }
    }
    out
}

/// Whether `local` (`HEXIP:HEXPORT` of /proc/net/udp) is one of the Channel
/// Access client's beacon sockets, which the CA crate may open lazily while
/// the test runs: like libca's INADDR_ANY socket it binds one ephemeral port
/// on every interface, loopback included, and sends its repeater
/// registrations to this host only. A pvAccess socket never shares its port
/// with a loopback socket of the same process.
fn ca_beacon_bundle(local: &str, all: &HashSet<(String, bool)>) -> bool {
    let Some((ip, port)) = local.split_once(':') else {
        return false;
    };
    ip != "0100007F" && all.contains(&(format!("0100007F:{port}"), false))
}

/// Answers every SEARCH for `name` with the TCP port `tcp` until `stop`.
fn responder(name: &'static str, tcp: u16, stop: Arc<AtomicBool>) -> (u16, std::thread::JoinHandle<u64>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut answered = 0u64;
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, src)) = sock.recv_from(&mut buf) else {
                continue;
            };
            assert!(src.ip().is_loopback(), "search from {src}");
            let p = &buf[8..n];
            // seq u32, flags u8, 3 reserved, reply address 16, reply port
            // u16, protocols, channel count u16, (cid u32, name)...
            let seq = u32::from_le_bytes(p[0..4].try_into().unwrap());
            let mut i = 4 + 4 + 16 + 2;
            let nproto = p[i] as usize;
            i += 1;
            for _ in 0..nproto {
                i += 1 + p[i] as usize;
            }
            let count = u16::from_le_bytes(p[i..i + 2].try_into().unwrap());
            i += 2;
            for _ in 0..count {
                let cid = u32::from_le_bytes(p[i..i + 4].try_into().unwrap());
                let len = p[i + 4] as usize;
                let pv = std::str::from_utf8(&p[i + 5..i + 5 + len]).unwrap();
                i += 5 + len;
                if pv != name {
                    continue;
                }
                let mut payload = vec![7u8; 12];
                payload.extend(seq.to_le_bytes());
                payload.extend([0u8; 10]);
                payload.extend([0xff, 0xff, 0, 0, 0, 0]);
                payload.extend(tcp.to_le_bytes());
                payload.extend([3, b't', b'c', b'p', 1]);
                payload.extend(1u16.to_le_bytes());
                payload.extend(cid.to_le_bytes());
                let mut msg = Vec::new();
                PvaHeader::application(true, ByteOrder::Little, 4, payload.len() as u32).write_into(&mut msg);
                msg.extend(payload);
                sock.send_to(&msg, src).unwrap();
                answered += 1;
            }
        }
        answered
    });
    (port, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_search_binds_only_the_address_list() {
    common::ioc::ca_env();
    let ioc = PvaIoc::start(
        0,
        vec![("U:dbl", nt_plain(ScalarType::Double))],
        chrono::Utc::now().timestamp(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (port, answered) = responder("U:dbl", ioc.addr().port(), stop.clone());
    let dir = tempfile::tempdir().unwrap();
    let (srv, _engine) = TestServer::start_ca(dir.path(), |c| {
        c.engine.initial_sampling_secs = 0.5;
        c.engine.ca_addr_list = Some(String::new());
        c.engine.pva_addr_list = Some(format!("127.0.0.1:{port}"));
        c.engine.pva_auto_addr_list = Some(false);
        c.engine.pva_name_servers = Some(String::new());
    })
    .await;
    let before = own_udp_sockets();
    let (_, v) = srv.get_json("/mgmt/bpl/archivePV?pv=pva://U:dbl").await;
    assert_eq!(v[0]["status"], "Archive request submitted", "{v}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, st) = srv.get_json("/mgmt/bpl/getPVStatus?pv=U:dbl").await;
        if st[0]["connectionState"] == "true" {
            break;
        }
        assert!(Instant::now() < deadline, "never connected: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(
        answered.join().unwrap() >= 2,
        "the request and the channel both searched"
    );
    let now = own_udp_sockets();
    let opened: Vec<_> = now
        .difference(&before)
        .filter(|(local, _)| !ca_beacon_bundle(local, &now))
        .cloned()
        .collect();
    assert!(!opened.is_empty(), "the search opened no socket");
    for (local, v6) in &opened {
        assert!(!v6, "IPv6 socket {local}");
        assert!(
            local.starts_with("0100007F:"),
            "socket bound to {local}, not 127.0.0.1"
        );
    }
    ioc.stop();
    srv.stop().await;
}
