//! Controlling PVs (PVTypeInfo `controllingPV`): a PV archives only while
//! its controlling PV is non-zero. As in Java, a controlling PV is always
//! monitored over Channel Access, one monitor per controlling PV however
//! many PVs it controls; archiving is on until its first value arrives, and
//! a disconnected controlling PV leaves the PVs as they are.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::epics::{EpicsEngine, Inner};
use super::write::lock;

struct Controller {
    controlled: BTreeSet<String>,
    on: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// The controlling PVs of an engine.
#[derive(Default)]
pub(super) struct Controllers {
    map: Mutex<HashMap<String, Controller>>,
}

impl Controllers {
    /// Puts `pv` under `controlling` (monitored from now on if new);
    /// returns whether archiving is on.
    pub(super) fn attach(&self, engine: &EpicsEngine, controlling: &str, pv: &str) -> bool {
        let mut map = lock(&self.map);
        if let Some(c) = map.get_mut(controlling) {
            c.controlled.insert(pv.to_string());
            return c.on.load(Ordering::Acquire);
        }
        let on = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(watch(
            Arc::downgrade(&engine.inner),
            controlling.to_string(),
            on.clone(),
        ));
        map.insert(
            controlling.to_string(),
            Controller {
                controlled: BTreeSet::from([pv.to_string()]),
                on,
                task,
            },
        );
        true
    }

    /// Takes `pv` from its controlling PV; a controlling PV that controls
    /// nothing more is no longer monitored.
    pub(super) fn detach(&self, pv: &str) {
        let mut map = lock(&self.map);
        map.retain(|_, c| {
            c.controlled.remove(pv);
            if c.controlled.is_empty() {
                c.task.abort();
                false
            } else {
                true
            }
        });
    }

    fn controlled(&self, controlling: &str) -> Vec<String> {
        lock(&self.map)
            .get(controlling)
            .map(|c| c.controlled.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Monitors `controlling` and switches its PVs on every update.
async fn watch(engine: Weak<Inner>, controlling: String, on: Arc<AtomicBool>) {
    let ch = {
        let Some(inner) = engine.upgrade() else { return };
        let Some(ca) = inner.ca.as_ref() else {
            tracing::warn!(pv = %controlling, "controlling PV needs Channel Access; archiving stays on");
            return;
        };
        ca.create_channel(&controlling)
    };
    loop {
        while ch.wait_connected(Duration::from_secs(30)).await.is_err() {
            tracing::debug!(pv = %controlling, "controlling PV not connected");
        }
        let mut mon = match ch.subscribe().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(pv = %controlling, error = ?e, "controlling PV not monitored");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        while let Some(item) = mon.recv().await {
            let Ok(snap) = item else { continue };
            let enable = super::convert::enables(&snap.value);
            on.store(enable, Ordering::Release);
            let Some(inner) = engine.upgrade() else { return };
            let engine = EpicsEngine { inner };
            for pv in engine.inner.controllers.controlled(&controlling) {
                engine.switch(&pv, enable).await;
            }
        }
    }
}
