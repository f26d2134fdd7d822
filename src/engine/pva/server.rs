//! A pvAccess server on one TCP port of 127.0.0.1 and nothing else: no UDP
//! search responder, no beacons (the crate's full server always binds a UDP
//! socket on 0.0.0.0). Clients find its PVs by searching it as a TCP name
//! server (`pva_name_servers`), which every pvAccess server answers on its
//! TCP port. Runs on its own thread and runtime, so that stopping it closes
//! every socket (what a disconnect needs); a new one may start on the same
//! port. For the demo, tests and benches.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use epics_pva_rs::server_native::source::{ChannelInvalidator, ChannelSource};
use epics_pva_rs::server_native::{PeerRegistry, PvaServerConfig};

/// A running loopback server.
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    handle: tokio::runtime::Handle,
}

impl LoopbackServer {
    /// Serves `source` on 127.0.0.1:`port` (0: ephemeral); `setup` runs on
    /// the server's runtime once it listens (simulations, tick tasks).
    pub fn start<S, F>(source: Arc<S>, port: u16, setup: F) -> std::io::Result<Self>
    where
        S: ChannelSource + 'static,
        F: FnOnce() + Send + 'static,
    {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        type Ready = std::io::Result<(SocketAddr, tokio::runtime::Handle)>;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
        let thread = std::thread::Builder::new()
            .name("pva-server".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let addr = match listener.local_addr() {
                        Ok(a) => a,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let config = PvaServerConfig {
                        tcp_port: addr.port(),
                        bind_ip: addr.ip(),
                        ..PvaServerConfig::isolated()
                    };
                    let invalidator = ChannelInvalidator::new();
                    source.set_channel_invalidator(invalidator.clone());
                    let serve = epics_pva_rs::server_native::accept::run_tcp_server_on_listener(
                        source,
                        listener,
                        config,
                        PeerRegistry::new(),
                        invalidator,
                    );
                    let task = tokio::spawn(serve);
                    setup();
                    let _ = ready_tx.send(Ok((addr, tokio::runtime::Handle::current())));
                    let _ = stop_rx.await;
                    task.abort();
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })?;
        let (addr, handle) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the pvAccess server thread ended"))??;
        Ok(LoopbackServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            handle,
        })
    }

    /// The TCP address (also the name server to search).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's runtime (to post from outside it).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Stops the server; every socket is closed on return.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sets the field at dotted `path` of a structure value; `false` when the
/// structure has no such field.
pub fn set(v: &mut epics_pva_rs::pvdata::PvField, path: &str, x: epics_pva_rs::pvdata::PvField) -> bool {
    use epics_pva_rs::pvdata::PvField;
    let mut cur = v;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let PvField::Structure(s) = cur else {
            return false;
        };
        let Some(next) = s.get_field_mut(p) else {
            return false;
        };
        if parts.peek().is_none() {
            *next = x;
            return true;
        }
        cur = next;
    }
    false
}

/// Sets `timeStamp` (1970 epoch) and its user tag.
pub fn stamp(v: &mut epics_pva_rs::pvdata::PvField, secs: i64, nanos: u32, tag: i32) {
    use epics_pva_rs::pvdata::{PvField, ScalarValue};
    set(
        v,
        "timeStamp.secondsPastEpoch",
        PvField::Scalar(ScalarValue::Long(secs)),
    );
    set(
        v,
        "timeStamp.nanoseconds",
        PvField::Scalar(ScalarValue::Int(nanos as i32)),
    );
    set(v, "timeStamp.userTag", PvField::Scalar(ScalarValue::Int(tag)));
}

/// Sets `alarm` severity, status and message.
pub fn alarm(v: &mut epics_pva_rs::pvdata::PvField, severity: i32, status: i32, message: &str) {
    use epics_pva_rs::pvdata::{PvField, ScalarValue};
    set(v, "alarm.severity", PvField::Scalar(ScalarValue::Int(severity)));
    set(v, "alarm.status", PvField::Scalar(ScalarValue::Int(status)));
    set(
        v,
        "alarm.message",
        PvField::Scalar(ScalarValue::String(message.into())),
    );
}
