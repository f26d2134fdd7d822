//! A test pvAccess server: NT PVs served by the crate's shared PVs on one
//! TCP port of 127.0.0.1 (no UDP), which strata finds as a TCP name server.
//! Runs on its own thread and runtime: `stop` closes every socket, and a
//! new server can start on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use epics_pva_rs::nt::{NTEnum, NTScalar};
use epics_pva_rs::pvdata::encode::default_value_for;
use epics_pva_rs::pvdata::{FieldDesc, PvField, ScalarType, ScalarValue};
use epics_pva_rs::server_native::{SharedPV, SharedSource};
use strata::engine::pva::server::{alarm, set, stamp, LoopbackServer};

pub fn s(x: ScalarValue) -> PvField {
    PvField::Scalar(x)
}

/// NTScalar double with display (units, precision), control and valueAlarm.
pub fn nt_double(units: &str, prec: i32) -> (FieldDesc, PvField) {
    let desc = NTScalar::new(ScalarType::Double)
        .with_display()
        .with_form()
        .with_control()
        .with_value_alarm()
        .build();
    let mut v = default_value_for(&desc);
    set(&mut v, "display.units", s(ScalarValue::String(units.into())));
    set(&mut v, "display.precision", s(ScalarValue::Int(prec)));
    set(
        &mut v,
        "display.description",
        s(ScalarValue::String("a test double".into())),
    );
    set(&mut v, "display.limitLow", s(ScalarValue::Double(-100.0)));
    set(&mut v, "display.limitHigh", s(ScalarValue::Double(100.0)));
    set(&mut v, "valueAlarm.highAlarmLimit", s(ScalarValue::Double(90.0)));
    set(&mut v, "valueAlarm.lowAlarmLimit", s(ScalarValue::Double(-90.0)));
    (desc, v)
}

/// NTScalar of `st` without display.
pub fn nt_plain(st: ScalarType) -> (FieldDesc, PvField) {
    let desc = NTScalar::new(st).build();
    let v = default_value_for(&desc);
    (desc, v)
}

/// NTScalarArray double of `n` elements.
pub fn nt_waveform(n: usize) -> (FieldDesc, PvField) {
    let desc = NTScalar::array(ScalarType::Double)
        .with_display()
        .with_form()
        .build();
    let mut v = default_value_for(&desc);
    set(&mut v, "value", PvField::scalar_array_double(vec![0.0; n]));
    set(&mut v, "display.units", s(ScalarValue::String("V".into())));
    (desc, v)
}

/// NTEnum with `states`.
pub fn nt_enum(states: &[&str]) -> (FieldDesc, PvField) {
    let nt = NTEnum::new().with_choices(states.iter().copied());
    (nt.build(), nt.create())
}

/// A structure that is no NT type (stored as V4_GENERIC_BYTES).
pub fn motor() -> (FieldDesc, PvField) {
    let desc = FieldDesc::Structure {
        struct_id: "test:motor:1.0".into(),
        fields: vec![
            ("position".into(), FieldDesc::Scalar(ScalarType::Double)),
            ("moving".into(), FieldDesc::Scalar(ScalarType::Boolean)),
            ("name".into(), FieldDesc::Scalar(ScalarType::String)),
            ("history".into(), FieldDesc::ScalarArray(ScalarType::Double)),
            ("alarm".into(), epics_pva_rs::nt::meta::alarm_desc()),
            ("timeStamp".into(), epics_pva_rs::nt::meta::time_desc()),
        ],
    };
    let mut v = default_value_for(&desc);
    set(&mut v, "name", s(ScalarValue::String("m1".into())));
    set(&mut v, "history", PvField::scalar_array_double(vec![1.0, 2.0]));
    (desc, v)
}

pub struct PvaIoc {
    server: LoopbackServer,
    pvs: HashMap<String, SharedPV>,
}

impl PvaIoc {
    /// Serves `pvs` on 127.0.0.1:`port` (0: ephemeral), each stamped `secs`.
    pub fn start(port: u16, pvs: Vec<(&str, (FieldDesc, PvField))>, secs: i64) -> PvaIoc {
        let src = SharedSource::new();
        let mut map = HashMap::new();
        for (name, (desc, mut v)) in pvs {
            stamp(&mut v, secs, 0, 0);
            let pv = SharedPV::build_readonly();
            pv.open(desc, v).expect("open");
            src.add(name, pv.clone());
            map.insert(name.to_string(), pv);
        }
        let server = LoopbackServer::start(Arc::new(src), port, || {}).expect("pva server");
        PvaIoc { server, pvs: map }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Changes the current value of `name` with `f` and posts it.
    pub fn post(&self, name: &str, f: impl FnOnce(&mut PvField)) {
        let pv = self.pvs.get(name).unwrap_or_else(|| panic!("no PV {name}"));
        let _g = self.server.handle().enter();
        let mut v = pv.current().expect("open PV");
        f(&mut v);
        pv.try_post(v);
    }

    /// Posts `value` at `secs.nanos` with an alarm.
    pub fn post_value(&self, name: &str, value: PvField, secs: i64, nanos: u32, sev: i32, stat: i32) {
        self.post(name, |v| {
            set(v, "value", value);
            stamp(v, secs, nanos, 0);
            alarm(v, sev, stat, if sev > 0 { "alarm" } else { "" });
        });
    }

    /// Replaces `name` by a PV of another type (a type change).
    pub fn retype(&self, name: &str, (desc, mut v): (FieldDesc, PvField), secs: i64) {
        let pv = self.pvs.get(name).unwrap_or_else(|| panic!("no PV {name}"));
        let _g = self.server.handle().enter();
        pv.close();
        stamp(&mut v, secs, 0, 0);
        pv.open(desc, v).expect("reopen");
    }

    pub fn stop(self) {
        self.server.stop();
    }
}
