//! A test IOC: an in-process Channel Access server on 127.0.0.1 with a few
//! PVs whose updates the test posts explicitly (value, alarm, timestamp).
//! Runs on its own thread and runtime, so `stop` closes every socket and a
//! new one can start on the same port.

use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::Duration;

use epics_base_rs::server::pv::{ProcessVariable, PvMetadata};
use epics_base_rs::server::snapshot::{ControlInfo, DisplayInfo, EnumInfo, Snapshot};
use epics_base_rs::types::{EpicsValue, PvString, WallTime};
use epics_ca_rs::server::CaServerBuilder;

/// Sets the loopback-only CA and pvAccess environment once per test
/// process (before any client or server reads it).
pub fn ca_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (k, v) in strata::engine::LOOPBACK_CA_ENV
            .into_iter()
            .chain(strata::engine::LOOPBACK_PVA_ENV)
            .chain([
                ("EPICS_CA_MAX_SEARCH_PERIOD", "60"),
                ("EPICS_CAS_DRAIN_GRACE_SECS", "0"),
            ])
        {
            std::env::set_var(k, v);
        }
    });
}

/// A free UDP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Ioc {
    pub port: u16,
    pvs: HashMap<String, Arc<ProcessVariable>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    rt_handle: tokio::runtime::Handle,
}

pub fn dbl_meta(egu: &str, prec: i16) -> PvMetadata {
    PvMetadata {
        display: Some(DisplayInfo {
            units: PvString::from(egu),
            precision: prec,
            upper_disp_limit: 100.0,
            lower_disp_limit: -100.0,
            upper_alarm_limit: 90.0,
            upper_warning_limit: 80.0,
            lower_warning_limit: -80.0,
            lower_alarm_limit: -90.0,
            ..Default::default()
        }),
        control: Some(ControlInfo {
            upper_ctrl_limit: 100.0,
            lower_ctrl_limit: -100.0,
        }),
        enums: None,
    }
}

pub fn enum_meta(states: &[&str]) -> PvMetadata {
    PvMetadata {
        enums: Some(EnumInfo::new(states.iter().map(|s| PvString::from(*s)).collect())),
        ..Default::default()
    }
}

impl Ioc {
    /// Starts a server on `port` with `pvs` (name, initial value, metadata).
    pub fn start(port: u16, pvs: Vec<(String, EpicsValue, Option<PvMetadata>)>) -> Ioc {
        ca_env();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let handle = rt.handle().clone();
            rt.block_on(async move {
                let server = CaServerBuilder::new().port(port).build().await.unwrap();
                let db = server.database().clone();
                let mut map = HashMap::new();
                for (name, init, md) in pvs {
                    let pv = ProcessVariable::new(name.clone(), init);
                    if let Some(m) = md {
                        pv.set_metadata(m);
                    }
                    db.add_simple_pv(pv).await.unwrap();
                    map.insert(name.clone(), db.find_pv(&name).await.unwrap());
                }
                let server = Arc::new(server);
                let s2 = server.clone();
                tokio::spawn(async move {
                    let _ = s2.run().await;
                });
                ready_tx.send((map, handle)).unwrap();
                let _ = stop_rx.await;
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        let (pvs, rt_handle) = ready_rx.recv().unwrap();
        Ioc {
            port,
            pvs,
            stop: Some(stop_tx),
            thread: Some(thread),
            rt_handle,
        }
    }

    /// Posts a value with alarm and IOC timestamp.
    pub fn post(&self, name: &str, v: EpicsValue, severity: u16, status: u16, secs: i64, nanos: u32) {
        let pv = self.pvs.get(name).unwrap_or_else(|| panic!("no PV {name}"));
        let _g = self.rt_handle.enter();
        pv.set_snapshot(Snapshot::new(
            v,
            status,
            severity,
            WallTime::from_unix(secs as u64, nanos),
        ));
    }

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

impl Drop for Ioc {
    fn drop(&mut self) {
        self.shutdown();
    }
}
