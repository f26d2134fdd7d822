//! The pvAccess half of `strata serve --demo`: an NTScalar (a 10 Hz sine
//! with display, control and alarm limits), an NTScalarArray (64 doubles),
//! an NTEnum (Off/On/Fault) and a structure that is no NT type (stored as
//! `V4_GENERIC_BYTES`), served on 127.0.0.1 only by a
//! [`LoopbackServer`] that the engine searches as a TCP name server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use epics_pva_rs::nt::{NTEnum, NTScalar};
use epics_pva_rs::pvdata::encode::default_value_for;
use epics_pva_rs::pvdata::{FieldDesc, PvField, ScalarType, ScalarValue};
use epics_pva_rs::server_native::{SharedPV, SharedSource};

use super::server::{alarm, set, stamp, LoopbackServer};
use crate::types::Timestamp;

/// Prefix of the demo pvAccess PV names.
pub const PREFIX: &str = "strata:demo:pva:";

/// Names of the demo pvAccess PVs (without `pva://`).
pub fn names() -> Vec<String> {
    ["sine", "waveform", "enum", "motor"]
        .iter()
        .map(|n| format!("{PREFIX}{n}"))
        .collect()
}

fn sv(x: ScalarValue) -> PvField {
    PvField::Scalar(x)
}

fn now_stamp(v: &mut PvField, tag: i32) {
    let t = Timestamp::now();
    stamp(v, t.secs, t.nanos, tag);
}

fn sine() -> (FieldDesc, PvField) {
    let desc = NTScalar::new(ScalarType::Double)
        .with_display()
        .with_form()
        .with_control()
        .with_value_alarm()
        .build();
    let mut v = default_value_for(&desc);
    let d = |x: f64| sv(ScalarValue::Double(x));
    set(&mut v, "display.units", sv(ScalarValue::String("mm".into())));
    set(&mut v, "display.precision", sv(ScalarValue::Int(3)));
    set(
        &mut v,
        "display.description",
        sv(ScalarValue::String("demo sine".into())),
    );
    set(&mut v, "display.limitLow", d(-10.0));
    set(&mut v, "display.limitHigh", d(10.0));
    set(&mut v, "control.limitLow", d(-10.0));
    set(&mut v, "control.limitHigh", d(10.0));
    set(&mut v, "valueAlarm.lowAlarmLimit", d(-4.5));
    set(&mut v, "valueAlarm.highAlarmLimit", d(4.5));
    now_stamp(&mut v, 0);
    (desc, v)
}

fn waveform() -> (FieldDesc, PvField) {
    let desc = NTScalar::array(ScalarType::Double)
        .with_display()
        .with_form()
        .build();
    let mut v = default_value_for(&desc);
    set(&mut v, "value", PvField::scalar_array_double(vec![0.0f64; 64]));
    set(&mut v, "display.units", sv(ScalarValue::String("V".into())));
    set(&mut v, "display.precision", sv(ScalarValue::Int(2)));
    now_stamp(&mut v, 0);
    (desc, v)
}

fn enumeration() -> (FieldDesc, PvField) {
    let nt = NTEnum::new().with_choices(["Off", "On", "Fault"]);
    let desc = nt.build();
    let mut v = nt.create();
    now_stamp(&mut v, 0);
    (desc, v)
}

fn motor() -> (FieldDesc, PvField) {
    let desc = FieldDesc::Structure {
        struct_id: "demo:motor:1.0".into(),
        fields: vec![
            ("position".into(), FieldDesc::Scalar(ScalarType::Double)),
            ("moving".into(), FieldDesc::Scalar(ScalarType::Boolean)),
            ("name".into(), FieldDesc::Scalar(ScalarType::String)),
            (
                "limits".into(),
                FieldDesc::Structure {
                    struct_id: String::new(),
                    fields: vec![
                        ("lo".into(), FieldDesc::Scalar(ScalarType::Double)),
                        ("hi".into(), FieldDesc::Scalar(ScalarType::Double)),
                    ],
                },
            ),
            ("alarm".into(), epics_pva_rs::nt::meta::alarm_desc()),
            ("timeStamp".into(), epics_pva_rs::nt::meta::time_desc()),
        ],
    };
    let mut v = default_value_for(&desc);
    set(&mut v, "name", sv(ScalarValue::String("m1".into())));
    set(&mut v, "limits.lo", sv(ScalarValue::Double(-100.0)));
    set(&mut v, "limits.hi", sv(ScalarValue::Double(100.0)));
    now_stamp(&mut v, 0);
    (desc, v)
}

fn open(src: &SharedSource, name: &str, (desc, v): (FieldDesc, PvField)) -> std::io::Result<SharedPV> {
    let pv = SharedPV::build_readonly();
    pv.open(desc, v)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    src.add(name, pv.clone());
    Ok(pv)
}

/// Posts tick `n` (10 Hz) to the demo PVs.
fn step(pvs: &[SharedPV; 4], n: u64) {
    let t = n as f64 * 0.1;
    if let Some(mut v) = pvs[0].current() {
        let x = (t * 0.5).sin() * 5.0;
        set(&mut v, "value", sv(ScalarValue::Double(x)));
        if x.abs() > 4.5 {
            alarm(&mut v, 1, 1, if x > 0.0 { "HIGH" } else { "LOW" });
        } else {
            alarm(&mut v, 0, 0, "");
        }
        now_stamp(&mut v, 0);
        pvs[0].try_post(v);
    }
    if n % 5 == 0 {
        if let Some(mut v) = pvs[1].current() {
            let w: Vec<f64> = (0..64).map(|i| ((i as f64) * 0.1 + t).sin()).collect();
            set(&mut v, "value", PvField::scalar_array_double(w));
            now_stamp(&mut v, 0);
            pvs[1].try_post(v);
        }
    }
    if n % 10 == 0 {
        if let Some(mut v) = pvs[2].current() {
            set(&mut v, "value.index", sv(ScalarValue::Int(((n / 50) % 3) as i32)));
            now_stamp(&mut v, 0);
            pvs[2].try_post(v);
        }
        if let Some(mut v) = pvs[3].current() {
            set(
                &mut v,
                "position",
                sv(ScalarValue::Double((t * 0.2).cos() * 50.0)),
            );
            set(&mut v, "moving", sv(ScalarValue::Boolean(n % 20 == 0)));
            now_stamp(&mut v, (n / 10) as i32);
            pvs[3].try_post(v);
        }
    }
}

/// The running demo pvAccess server.
pub struct DemoPvaServer {
    server: LoopbackServer,
}

impl DemoPvaServer {
    /// Starts the server on an ephemeral port of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        let src = SharedSource::new();
        let n = names();
        let pvs = [
            open(&src, &n[0], sine())?,
            open(&src, &n[1], waveform())?,
            open(&src, &n[2], enumeration())?,
            open(&src, &n[3], motor())?,
        ];
        let server = LoopbackServer::start(Arc::new(src), 0, move || {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut n = 0u64;
                loop {
                    tick.tick().await;
                    step(&pvs, n);
                    n += 1;
                }
            });
        })?;
        tracing::info!(addr = %server.addr(), "demo pvAccess server on 127.0.0.1 (TCP only)");
        Ok(DemoPvaServer { server })
    }

    /// The TCP address, which the engine searches as a name server.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }
}
