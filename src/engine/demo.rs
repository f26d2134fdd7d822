//! An in-process Channel Access server with simulated PVs, for
//! `strata serve --demo`: a 10 Hz sine, a 1 Hz counter, an enum, a string,
//! a 128-element waveform and a slow ramp. It runs on its own thread and
//! runtime so that stopping it closes every socket.
//!
//! The server binds the interfaces of `EPICS_CAS_INTF_ADDR_LIST` (the
//! binary sets 127.0.0.1 when unset) on an ephemeral port.

use std::sync::Arc;
use std::time::Duration;

use epics_base_rs::server::pv::{ProcessVariable, PvMetadata};
use epics_base_rs::server::snapshot::{ControlInfo, DisplayInfo, EnumInfo, Snapshot};
use epics_base_rs::types::{EpicsValue, PvString, WallTime};
use epics_ca_rs::server::CaServerBuilder;

/// Prefix of the demo PV names.
pub const PREFIX: &str = "strata:demo:";

/// Names of the demo PVs.
pub fn names() -> Vec<String> {
    ["sine", "counter", "enum", "string", "waveform", "ramp"]
        .iter()
        .map(|n| format!("{PREFIX}{n}"))
        .collect()
}

/// A running demo server.
pub struct DemoServer {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn meta(egu: &str, prec: i16, lo: f64, hi: f64) -> PvMetadata {
    PvMetadata {
        display: Some(DisplayInfo {
            units: PvString::from(egu),
            precision: prec,
            upper_disp_limit: hi,
            lower_disp_limit: lo,
            upper_alarm_limit: hi * 0.9,
            upper_warning_limit: hi * 0.8,
            lower_warning_limit: lo * 0.8,
            lower_alarm_limit: lo * 0.9,
            ..Default::default()
        }),
        control: Some(ControlInfo {
            upper_ctrl_limit: hi,
            lower_ctrl_limit: lo,
        }),
        enums: None,
    }
}

fn now() -> WallTime {
    WallTime::now()
}

impl DemoServer {
    /// Starts the server (port 0: ephemeral).
    pub fn start(port: u16) -> anyhow::Result<Self> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<u16>>();
        let thread = std::thread::Builder::new()
            .name("demo-ca-server".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let server = match CaServerBuilder::new().port(port).build().await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(anyhow::anyhow!("demo CA server: {e:?}")));
                            return;
                        }
                    };
                    let udp = server.udp_port();
                    let db = server.database().clone();
                    let mut pvs = Vec::new();
                    for (name, init, md) in [
                        ("sine", EpicsValue::Double(0.0), Some(meta("V", 3, -10.0, 10.0))),
                        ("counter", EpicsValue::Long(0), Some(meta("counts", 0, 0.0, 1e9))),
                        ("enum", EpicsValue::Enum(0), None),
                        ("string", EpicsValue::String(PvString::from("hello")), None),
                        (
                            "waveform",
                            EpicsValue::DoubleArray(vec![0.0f64; 128].into()),
                            Some(meta("mm", 2, -1.0, 1.0)),
                        ),
                        ("ramp", EpicsValue::Double(0.0), Some(meta("degC", 1, 0.0, 100.0))),
                    ] {
                        let pv = ProcessVariable::new(format!("{PREFIX}{name}"), init);
                        if let Some(m) = md {
                            pv.set_metadata(m);
                        } else if name == "enum" {
                            pv.set_metadata(PvMetadata {
                                enums: Some(EnumInfo::new(vec!["Off".into(), "On".into(), "Fault".into()])),
                                ..Default::default()
                            });
                        }
                        if db.add_simple_pv(pv).await.is_err() {
                            continue;
                        }
                        if let Some(p) = db.find_pv(&format!("{PREFIX}{name}")).await {
                            pvs.push((name, p));
                        }
                    }
                    let server = Arc::new(server);
                    let s2 = server.clone();
                    tokio::spawn(async move {
                        let _ = s2.run().await;
                    });
                    tokio::spawn(simulate(pvs));
                    let _ = ready_tx.send(Ok(udp));
                    let _ = stop_rx.await;
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })?;
        let port = ready_rx.recv()??;
        tracing::info!(port, "demo CA server on 127.0.0.1");
        Ok(DemoServer {
            port,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The server's UDP (search) port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server and closes its sockets.
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

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn simulate(pvs: Vec<(&'static str, Arc<ProcessVariable>)>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        let t = n as f64 * 0.1;
        for (name, pv) in &pvs {
            let value = match *name {
                "sine" => Some(EpicsValue::Double((t * 0.5).sin() * 5.0)),
                "counter" if n % 10 == 0 => Some(EpicsValue::Long((n / 10) as i32)),
                "enum" if n % 50 == 0 => Some(EpicsValue::Enum(((n / 50) % 3) as u16)),
                "string" if n % 20 == 0 => Some(EpicsValue::String(PvString::from(
                    format!("message {}", n / 20).as_str(),
                ))),
                "waveform" if n % 10 == 0 => Some(EpicsValue::DoubleArray(
                    (0..128).map(|i| ((i as f64) * 0.05 + t).sin()).collect(),
                )),
                "ramp" if n % 10 == 0 => Some(EpicsValue::Double(((n / 10) % 1000) as f64 * 0.1)),
                _ => None,
            };
            if let Some(v) = value {
                // Alarm for a sine beyond ±4.5: MINOR/HIGH.
                let (stat, sev) = match (*name, &v) {
                    ("sine", EpicsValue::Double(x)) if x.abs() > 4.5 => (4u16, 1u16),
                    _ => (0, 0),
                };
                pv.set_snapshot(Snapshot::new(v, stat, sev, now()));
            }
        }
        n += 1;
    }
}
