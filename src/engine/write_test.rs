//! The write cycle's commit contract against a scripted store: what an
//! acknowledged, failed, deferred or partial ingest flush commits, samples
//! storage refuses, and the connection fields of stored samples.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use super::*;
use crate::storage::partition::PartitionGranularity;
use crate::storage::{EventStream, IngestFlushResult, StoreSummary};
use crate::types::ArchDbType;

/// A store that records appends, refuses samples at chosen times with a
/// type change, and answers ingest flushes from a script (then `Ok`, all
/// acknowledged).
#[derive(Default)]
struct ScriptedStore {
    appended: Mutex<Vec<(String, ArchiverSample)>>,
    refuse_secs: Vec<i64>,
    flushes: Mutex<VecDeque<anyhow::Result<IngestFlushResult>>>,
}

impl ScriptedStore {
    fn then_flush(self, r: anyhow::Result<IngestFlushResult>) -> Self {
        lock(&self.flushes).push_back(r);
        self
    }

    fn appended(&self) -> Vec<(String, ArchiverSample)> {
        lock(&self.appended).clone()
    }
}

fn failed(pvs: &[&str]) -> anyhow::Result<IngestFlushResult> {
    Ok(IngestFlushResult {
        failed: pvs.iter().map(|s| s.to_string()).collect(),
        deferred: Vec::new(),
    })
}

fn deferred(pvs: &[&str]) -> anyhow::Result<IngestFlushResult> {
    Ok(IngestFlushResult {
        failed: Vec::new(),
        deferred: pvs.iter().map(|s| s.to_string()).collect(),
    })
}

#[async_trait]
impl StoragePlugin for ScriptedStore {
    fn name(&self) -> &str {
        "scripted"
    }

    fn partition_granularity(&self) -> PartitionGranularity {
        PartitionGranularity::Hour
    }

    async fn append_event(
        &self,
        pv: &str,
        dbr_type: ArchDbType,
        sample: &ArchiverSample,
    ) -> anyhow::Result<()> {
        if self.refuse_secs.contains(&sample.ts().secs) {
            return Err(StoreError::TypeChange {
                pv: pv.to_string(),
                stored: ArchDbType::ScalarString,
                new: dbr_type,
            }
            .into());
        }
        lock(&self.appended).push((pv.to_string(), sample.clone()));
        Ok(())
    }

    async fn get_data(
        &self,
        _pv: &str,
        _start: SystemTime,
        _end: SystemTime,
    ) -> anyhow::Result<Vec<Box<dyn EventStream>>> {
        Ok(Vec::new())
    }

    async fn get_last_known_event(&self, _pv: &str) -> anyhow::Result<Option<ArchiverSample>> {
        Ok(None)
    }

    async fn flush_ingest_writes(&self) -> anyhow::Result<IngestFlushResult> {
        lock(&self.flushes)
            .pop_front()
            .unwrap_or_else(|| Ok(IngestFlushResult::default()))
    }

    fn stores_for_pv(&self, _pv: &str) -> anyhow::Result<Vec<StoreSummary>> {
        Ok(Vec::new())
    }

    fn appliance_metrics(&self) -> anyhow::Result<Vec<StoreSummary>> {
        Ok(Vec::new())
    }
}

/// An engine's ingest with one monitored double channel per name.
fn ingest(pvs: &[&str]) -> (Ingest, Vec<Arc<Channel>>) {
    let ingest = Ingest::new(EngineConfig::default());
    let chans = pvs
        .iter()
        .map(|pv| {
            let chan = Arc::new(Channel::new(
                &PvTypeInfo::new(pv, ArchDbType::ScalarDouble, 1),
                ingest.cfg(),
                None,
            ));
            ingest.insert(chan.clone());
            chan
        })
        .collect();
    (ingest, chans)
}

/// A minute ago (Unix seconds): samples at `t0 + n` are inside the
/// engine's time tolerances. Read once per test, so every `t0 + n` of a
/// test names the same second.
fn minute_ago() -> i64 {
    Timestamp::now().secs - 60
}

fn event(ingest: &Ingest, chan: &Channel, secs: i64) {
    ingest.on_event(chan, Timestamp::new(secs, 0), || {
        Some(ArchiverSample::at(secs, 0, SampleValue::Double(secs as f64)))
    });
}

fn committed(ingest: &Ingest, pv: &str) -> Option<i64> {
    ingest.last_committed(pv).map(|t| t.secs)
}

#[tokio::test]
async fn an_acknowledged_flush_commits_the_newest_stored_sample() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:a"]);
    let store = ScriptedStore::default();
    for n in 1..=3 {
        event(&ingest, &chans[0], t0 + n);
    }
    assert_eq!(committed(&ingest, "W:a"), None);
    ingest.write_cycle(&store, 1.0).await;
    let stored: Vec<i64> = store.appended().iter().map(|(_, s)| s.ts().secs).collect();
    assert_eq!(stored, vec![t0 + 1, t0 + 2, t0 + 3]);
    assert_eq!(committed(&ingest, "W:a"), Some(t0 + 3));
    assert!(ingest.buffered("W:a").is_empty());
}

#[tokio::test]
async fn a_failed_pv_never_commits_its_lost_bytes() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:a"]);
    let store = ScriptedStore::default().then_flush(failed(&["W:a"]));
    event(&ingest, &chans[0], t0 + 1);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), None);
    // A later acknowledged cycle without new samples claims nothing either.
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), None);
    // The next stored sample commits normally.
    event(&ingest, &chans[0], t0 + 2);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), Some(t0 + 2));
}

#[tokio::test]
async fn a_deferred_pv_commits_on_a_later_cycle() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:a"]);
    let store = ScriptedStore::default()
        .then_flush(deferred(&["W:a"]))
        .then_flush(deferred(&["W:a"]));
    event(&ingest, &chans[0], t0 + 1);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), None);
    event(&ingest, &chans[0], t0 + 2);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), None);
    // The PV went silent; the cycle that acknowledges it commits its newest.
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), Some(t0 + 2));
}

#[tokio::test]
async fn a_partial_flush_commits_only_the_acknowledged_pvs() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:ok", "W:lost", "W:busy"]);
    let mixed = IngestFlushResult {
        failed: vec!["W:lost".into()],
        deferred: vec!["W:busy".into()],
    };
    let store = ScriptedStore::default().then_flush(Ok(mixed));
    for chan in &chans {
        event(&ingest, chan, t0 + 5);
    }
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:ok"), Some(t0 + 5));
    assert_eq!(committed(&ingest, "W:lost"), None);
    assert_eq!(committed(&ingest, "W:busy"), None);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:lost"), None);
    assert_eq!(committed(&ingest, "W:busy"), Some(t0 + 5));
}

#[tokio::test]
async fn a_failed_ingest_flush_commits_nothing_that_cycle() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:a"]);
    let store = ScriptedStore::default().then_flush(Err(anyhow::anyhow!("disk gone")));
    event(&ingest, &chans[0], t0 + 1);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), None);
    // Regression (issue 13 brief): a later acknowledged cycle without new
    // samples must not confirm what the failed flush never wrote.
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), None);
    event(&ingest, &chans[0], t0 + 2);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(committed(&ingest, "W:a"), Some(t0 + 2));
}

#[tokio::test]
async fn samples_storage_refuses_are_counted_and_not_committed() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:a"]);
    let store = ScriptedStore {
        refuse_secs: vec![t0 + 3],
        ..Default::default()
    };
    for n in 1..=3 {
        event(&ingest, &chans[0], t0 + n);
    }
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(store.appended().len(), 2);
    assert_eq!(committed(&ingest, "W:a"), Some(t0 + 2));
    let status = ingest.status("W:a").unwrap();
    assert_eq!(status.dropped_type_change, 1);
}

#[tokio::test]
async fn stored_samples_carry_startup_and_reconnect_fields() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:a"]);
    let store = ScriptedStore::default();
    let chan = &chans[0];
    chan.connected(t0);
    event(&ingest, chan, t0 + 1);
    event(&ingest, chan, t0 + 2);
    chan.disconnected(t0 + 3);
    chan.connected(t0 + 4);
    event(&ingest, chan, t0 + 5);
    ingest.write_cycle(&store, 1.0).await;
    let fields: Vec<Vec<String>> = store
        .appended()
        .iter()
        .map(|(_, s)| s.field_values().iter().map(|(k, _)| k.clone()).collect())
        .collect();
    assert_eq!(fields[0], ["cnxlostepsecs", "cnxregainedepsecs", "startup"]);
    assert!(fields[1].is_empty());
    assert_eq!(fields[2], ["cnxlostepsecs", "cnxregainedepsecs"]);
    let reconnect = store.appended()[2].1.field_values().to_vec();
    assert_eq!(reconnect[0].1, (t0 + 3).to_string());
    assert_eq!(reconnect[1].1, (t0 + 4).to_string());
    let status = ingest.status("W:a").unwrap();
    assert_eq!(status.loss_count, 1);
}

#[tokio::test]
async fn events_not_after_the_newest_sample_are_dropped() {
    let t0 = minute_ago();
    let (ingest, chans) = ingest(&["W:a"]);
    let store = ScriptedStore::default();
    event(&ingest, &chans[0], t0 + 2);
    event(&ingest, &chans[0], t0 + 2);
    event(&ingest, &chans[0], t0 + 1);
    ingest.write_cycle(&store, 1.0).await;
    assert_eq!(store.appended().len(), 1);
    assert_eq!(ingest.status("W:a").unwrap().dropped_timestamp, 2);
}
