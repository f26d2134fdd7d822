//! The engine reports with Java's JSON shapes, over HTTP with a fake
//! engine: getPVsByDroppedEventsTimestamp, getPVsByDroppedEventsBuffer,
//! getPVsByDroppedEventsTypeChange (paused PVs left out),
//! getSlowChangingPVsWithDroppedEvents and getArchivedWaveforms.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use common::server::TestServer;
use serde_json::json;
use strata::engine::{ArchiveEngine, ChannelStatus, EngineMetrics};
use strata::registry::{ArchiveRequest, PvTypeInfo};
use strata::types::ArchDbType;

struct FakeEngine {
    channels: BTreeMap<String, ChannelStatus>,
}

#[async_trait]
impl ArchiveEngine for FakeEngine {
    async fn start(&self, _info: &PvTypeInfo) -> anyhow::Result<()> {
        Ok(())
    }
    async fn stop(&self, _pv: &str) -> anyhow::Result<()> {
        Ok(())
    }
    async fn request(&self, _req: &ArchiveRequest) -> anyhow::Result<()> {
        Ok(())
    }
    async fn abort(&self, _pv: &str) -> anyhow::Result<()> {
        Ok(())
    }
    fn status(&self, pv: &str) -> Option<ChannelStatus> {
        self.channels.get(pv).cloned()
    }
    fn metadata(&self, _pv: &str) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    fn metrics(&self) -> EngineMetrics {
        EngineMetrics::default()
    }
    fn running(&self) -> bool {
        true
    }
}

fn status(ts: u64, buffer: u64, ty: u64, events: u64) -> ChannelStatus {
    ChannelStatus {
        connected: true,
        dropped_timestamp: ts,
        dropped_buffer: buffer,
        dropped_type_change: ty,
        event_count: events,
        ..Default::default()
    }
}

#[tokio::test]
async fn dropped_events_and_waveform_reports() {
    let channels = BTreeMap::from([
        ("D:slow".to_string(), status(5, 0, 0, 2)),
        ("D:fast".to_string(), status(3, 7, 0, 100)),
        ("D:also".to_string(), status(3, 0, 0, 50)),
        ("D:type".to_string(), status(0, 0, 4, 10)),
        ("D:typepaused".to_string(), status(0, 0, 9, 10)),
        ("D:wf".to_string(), status(0, 0, 0, 10)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with_engine(dir.path(), |_| {}, Arc::new(FakeEngine { channels })).await;
    for pv in ["D:slow", "D:fast", "D:also", "D:type", "D:typepaused", "D:wf"] {
        let mut t = if pv == "D:wf" {
            PvTypeInfo::new(pv, ArchDbType::WaveformDouble, 128)
        } else {
            PvTypeInfo::new(pv, ArchDbType::ScalarDouble, 1)
        };
        t.paused = pv == "D:typepaused";
        if pv == "D:wf" {
            t.sampling_period = 0.1;
        }
        srv.registry.put(&t).unwrap();
    }
    let (_, v) = srv.get_json("/mgmt/bpl/getPVsByDroppedEventsTimestamp").await;
    assert_eq!(
        v,
        json!([
            {"pvName": "D:slow", "eventsDropped": "5"},
            {"pvName": "D:also", "eventsDropped": "3"},
            {"pvName": "D:fast", "eventsDropped": "3"}
        ])
    );
    let (_, v) = srv
        .get_json("/mgmt/bpl/getPVsByDroppedEventsTimestamp?limit=1")
        .await;
    assert_eq!(v, json!([{"pvName": "D:slow", "eventsDropped": "5"}]));
    let (_, v) = srv.get_json("/mgmt/bpl/getPVsByDroppedEventsBuffer").await;
    assert_eq!(v, json!([{"pvName": "D:fast", "eventsDropped": "7"}]));
    let (_, v) = srv.get_json("/mgmt/bpl/getPVsByDroppedEventsTypeChange").await;
    assert_eq!(v, json!([{"pvName": "D:type", "eventsDropped": "4"}]));
    let (_, v) = srv
        .get_json("/mgmt/bpl/getSlowChangingPVsWithDroppedEvents")
        .await;
    assert_eq!(
        v,
        json!([{"pvName": "D:slow", "eventsDropped": "5", "totalEvents": "2"}])
    );
    let (_, v) = srv.get_json("/mgmt/bpl/getArchivedWaveforms").await;
    assert_eq!(
        v,
        json!([{
            "pvName": "D:wf",
            "samplingmethod": "MONITOR",
            "samplingperiod": "0.10000000149011612",
            "elementCount": "128",
            "dbrtype": "DBR_WAVEFORM_DOUBLE"
        }])
    );
    srv.stop().await;
}
