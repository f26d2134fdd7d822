//! The pvAccess side of one archived PV: Java's monitor on the server that
//! has it, each raw update decoded in place into the current value, Java's
//! time-stamp rule choosing the updates that are samples, and the field
//! values (structure leaves, archived-field channels `PV.FIELD`).

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use epics_pva_rs::client_native::ops_v2::MonitorConnEvent;
use epics_pva_rs::proto::{BitSet, ByteOrder};
use epics_pva_rs::pvdata::encode::{decode_pv_field_with_bitset_into, default_value_for, TypeCache};
use epics_pva_rs::pvdata::{FieldDesc, PvField};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::convert::{self, Layout};
use super::{monitor_request, Pva, RESEARCH_AFTER};
use crate::engine::write::{lock, Channel, Ingest};
use crate::types::Timestamp;

/// What a subscription tells its owner. Called from the client's tasks.
pub(crate) trait Monitor: Send + 'static {
    /// Connected (again) to `peer`; the next update is complete.
    fn connected(&mut self, peer: SocketAddr);
    /// The connection is lost.
    fn disconnected(&mut self);
    /// One raw update: `changed | value | overrun` in byte order `order`.
    fn update(&mut self, desc: &FieldDesc, body: &[u8], order: ByteOrder);
}

/// Keeps `name` monitored with Java's request on whichever server has it:
/// searches, subscribes, and searches again when the channel stays
/// disconnected (a server that came back elsewhere). Runs until dropped;
/// dropping it cancels the subscription on the server.
pub(crate) async fn keep_monitored<M: Monitor>(pva: Arc<Pva>, name: String, monitor: M) {
    let monitor = Arc::new(Mutex::new(monitor));
    loop {
        let server = pva.find(&name).await;
        let client = pva.client(server);
        let (tx, mut rx) = mpsc::unbounded_channel::<bool>();
        let (mu, mc) = (monitor.clone(), monitor.clone());
        let sub = client
            .pvmonitor_raw_frames_handle_with_request(
                &name,
                monitor_request(),
                move |desc, body, order| lock(&mu).update(desc, &body, order),
                move |ev| {
                    let up = match ev {
                        MonitorConnEvent::Connected { peer } => {
                            lock(&mc).connected(peer);
                            true
                        }
                        MonitorConnEvent::Disconnected | MonitorConnEvent::Finished => {
                            lock(&mc).disconnected();
                            false
                        }
                    };
                    let _ = tx.send(up);
                },
            )
            .await;
        let sub = match sub {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(pv = %name, %server, error = %e, "pvAccess monitor not created");
                tokio::time::sleep(RESEARCH_AFTER).await;
                continue;
            }
        };
        let mut down_since = Some(Instant::now());
        loop {
            let research = async {
                match down_since {
                    Some(t) => tokio::time::sleep_until((t + RESEARCH_AFTER).into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(true) => down_since = None,
                    Some(false) => down_since = down_since.or(Some(Instant::now())),
                    None => break,
                },
                () = research => {
                    match tokio::time::timeout(RESEARCH_AFTER, pva.find(&name)).await {
                        Ok(found) if found != server => {
                            tracing::info!(pv = %name, from = %server, to = %found, "pvAccess channel moved");
                            break;
                        }
                        _ => down_since = Some(Instant::now()),
                    }
                }
            }
        }
        drop(sub);
    }
}

/// The current value of a monitored PV, updated in place from raw updates.
pub(crate) struct Decoded {
    pub(crate) layout: Option<Layout>,
    pub(crate) value: PvField,
    cache: TypeCache,
    /// The next update starts a connection (re-lay out).
    pub(crate) fresh: bool,
    warned: bool,
}

impl Decoded {
    pub(crate) fn new() -> Self {
        Decoded {
            layout: None,
            value: PvField::Scalar(epics_pva_rs::pvdata::ScalarValue::Int(0)),
            cache: TypeCache::new(),
            fresh: true,
            warned: false,
        }
    }

    /// Applies one update; returns its changed bits and whether it started
    /// a new layout. `None` when it does not decode (logged once).
    pub(crate) fn apply(
        &mut self,
        name: &str,
        desc: &FieldDesc,
        body: &[u8],
        order: ByteOrder,
    ) -> Option<(BitSet, bool)> {
        let relaid = self.fresh || self.layout.as_ref().is_none_or(|l| l.desc() != desc);
        if relaid {
            self.layout = Some(Layout::new(desc));
            self.value = default_value_for(desc);
            self.fresh = false;
        }
        let mut cur = Cursor::new(body);
        let decoded = BitSet::decode(&mut cur, order).and_then(|changed| {
            decode_pv_field_with_bitset_into(
                &mut self.value,
                desc,
                &changed,
                0,
                &mut cur,
                order,
                &mut self.cache,
            )
            .map(|()| changed)
        });
        match decoded {
            Ok(changed) => Some((changed, relaid)),
            Err(e) => {
                if !self.warned {
                    self.warned = true;
                    tracing::warn!(pv = name, error = %e.0, "pvAccess update does not decode");
                }
                self.fresh = true;
                None
            }
        }
    }
}

/// The monitor of an archived PV.
struct Archive {
    ingest: Arc<Ingest>,
    chan: Arc<Channel>,
    cur: Decoded,
    /// Changed fields with a Channel Access name, for the next sample.
    pending: Vec<(String, String)>,
    /// Current values of the fields with a Channel Access name.
    ca_values: std::collections::HashMap<String, String>,
}

impl Monitor for Archive {
    fn connected(&mut self, peer: SocketAddr) {
        self.chan.connected(Timestamp::now().secs);
        self.chan.set_host(peer.ip().to_string());
        self.cur.fresh = true;
    }

    fn disconnected(&mut self) {
        self.chan.disconnected(Timestamp::now().secs);
    }

    fn update(&mut self, desc: &FieldDesc, body: &[u8], order: ByteOrder) {
        let name = &self.chan.info.pv_name;
        let Some((changed, relaid)) = self.cur.apply(name, desc, body, order) else {
            return;
        };
        let Some(layout) = self.cur.layout.as_ref() else {
            return;
        };
        let value = &self.cur.value;
        let want = self.chan.info.dbr_type;
        if relaid {
            self.chan
                .set_served_type((layout.dbr != want).then_some(layout.dbr));
        }
        // The first update of a connection is complete (Java reads it with
        // a GET at connect) and always a sample.
        let full = relaid;
        if full {
            self.chan.set_metadata(convert::metadata(value));
            self.chan.structure_leaves(layout.leaves(value), true);
            self.ca_values = layout.ca_fields(value).into_iter().collect();
        } else if layout.property_changed(&changed) {
            self.chan
                .structure_leaves(layout.changed_leaves(value, &changed), false);
            // Servers may mark leaves that kept their value: only real
            // changes are written.
            let mut any = false;
            for (k, v) in layout.changed_ca_fields(value, &changed) {
                if self.ca_values.get(&k) != Some(&v) {
                    any = true;
                    self.ca_values.insert(k.clone(), v.clone());
                    self.pending.retain(|(p, _)| *p != k);
                    self.pending.push((k, v));
                }
            }
            if any {
                self.chan.set_metadata(convert::metadata(value));
            }
        }
        if !full && !layout.timestamp_changed(&changed) {
            return;
        }
        let ts = match layout.sample_time(value) {
            Ok(ts) => ts,
            Err(_) => {
                self.chan.dropped_no_timestamp();
                return;
            }
        };
        // Every field with the first update of a connection.
        let snapshot = full.then(|| {
            let mut f = layout.ca_fields(value);
            f.extend(self.chan.field_snapshot());
            f
        });
        let pending = &mut self.pending;
        let accepted = self.ingest.on_event(&self.chan, ts, || {
            let mut s = layout.sample(value, want).ok()?;
            // Java sets the field list (possibly empty) on every sample.
            s.extra_mut().field_actual_change = Some(false);
            for (k, v) in pending.drain(..) {
                s.set_field(k, v);
            }
            for (k, v) in snapshot.into_iter().flatten() {
                s.set_field(k, v);
            }
            Some(s)
        });
        if accepted && full {
            self.chan.mark_fields_saved(Timestamp::now().secs);
        }
    }
}

/// The monitor of an archived field `PV.FIELD`: its value goes into the
/// PV's field values.
struct Field {
    chan: Arc<Channel>,
    field: String,
    cur: Decoded,
}

impl Monitor for Field {
    fn connected(&mut self, _peer: SocketAddr) {
        self.cur.fresh = true;
    }

    fn disconnected(&mut self) {}

    fn update(&mut self, desc: &FieldDesc, body: &[u8], order: ByteOrder) {
        let name = format!("{}.{}", self.chan.info.pv_name, self.field);
        let Some((changed, _)) = self.cur.apply(&name, desc, body, order) else {
            return;
        };
        let Some(layout) = self.cur.layout.as_ref() else {
            return;
        };
        if layout.timestamp_changed(&changed) {
            if let Some(text) = convert::value_text(&self.cur.value) {
                self.chan.archived_field(&self.field, text);
            }
        }
    }
}

/// Starts the tasks of a pvAccess PV: its monitor and one per archived
/// field.
pub(crate) fn spawn(pva: &Arc<Pva>, ingest: &Arc<Ingest>, chan: &Arc<Channel>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let archive = Archive {
        ingest: ingest.clone(),
        chan: chan.clone(),
        cur: Decoded::new(),
        pending: Vec::new(),
        ca_values: Default::default(),
    };
    tasks.push(tokio::spawn(keep_monitored(
        pva.clone(),
        chan.info.pv_name.clone(),
        archive,
    )));
    for field in &chan.info.archive_fields {
        let m = Field {
            chan: chan.clone(),
            field: field.clone(),
            cur: Decoded::new(),
        };
        let name = format!("{}.{field}", chan.info.pv_name);
        tasks.push(tokio::spawn(keep_monitored(pva.clone(), name, m)));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use epics_pva_rs::nt::NTScalar;
    use epics_pva_rs::pvdata::encode::{encode_pv_field_with_bitset, marked_changed_bitset};
    use epics_pva_rs::pvdata::{ScalarType, ScalarValue};

    fn body(desc: &FieldDesc, v: &PvField, changed: &BitSet) -> Vec<u8> {
        let mut out = changed.encode(ByteOrder::Little);
        encode_pv_field_with_bitset(v, desc, changed, 0, ByteOrder::Little, &mut out);
        out.extend(BitSet::new().encode(ByteOrder::Little));
        out
    }

    fn set(v: &mut PvField, path: &str, x: ScalarValue) {
        let mut cur = v;
        for p in path.split('.') {
            let PvField::Structure(s) = cur else { return };
            cur = s.get_field_mut(p).unwrap();
        }
        *cur = PvField::Scalar(x);
    }

    #[test]
    fn partial_updates_change_only_their_leaves() {
        let desc = NTScalar::new(ScalarType::Double)
            .with_display()
            .with_form()
            .build();
        let mut v = default_value_for(&desc);
        set(&mut v, "display.units", ScalarValue::String("mm".into()));
        set(
            &mut v,
            "timeStamp.secondsPastEpoch",
            ScalarValue::Long(1_700_000_000),
        );
        let mut d = Decoded::new();
        let (changed, relaid) = d
            .apply(
                "x",
                &desc,
                &body(&desc, &v, &BitSet::all_set(1)),
                ByteOrder::Little,
            )
            .unwrap();
        assert!(relaid && changed.get(0));
        let layout = d.layout.clone().unwrap();
        set(&mut v, "value", ScalarValue::Double(2.5));
        set(&mut v, "timeStamp.nanoseconds", ScalarValue::Int(7));
        let ch = marked_changed_bitset(&desc, &["value".into(), "timeStamp.nanoseconds".into()]);
        let (changed, relaid) = d
            .apply("x", &desc, &body(&desc, &v, &ch), ByteOrder::Little)
            .unwrap();
        assert!(!relaid);
        assert!(layout.timestamp_changed(&changed) && !layout.property_changed(&changed));
        let s = layout
            .sample(&d.value, crate::types::ArchDbType::ScalarDouble)
            .unwrap();
        assert_eq!(s.value, crate::types::SampleValue::Double(2.5));
        assert_eq!((s.ts().secs, s.ts().nanos), (1_700_000_000, 7));
        // Units alone: a property change, not a sample.
        set(&mut v, "display.units", ScalarValue::String("um".into()));
        let ch = marked_changed_bitset(&desc, &["display.units".into()]);
        let (changed, _) = d
            .apply("x", &desc, &body(&desc, &v, &ch), ByteOrder::Little)
            .unwrap();
        assert!(!layout.timestamp_changed(&changed) && layout.property_changed(&changed));
        assert_eq!(
            layout.changed_ca_fields(&d.value, &changed),
            vec![("EGU".to_string(), "um".to_string())]
        );
    }
}
