//! Reports over HTTP with a fake engine: getPVStatus "Being archived",
//! getCurrentlyDisconnectedPVs, getEventRateReport, getStorageRateReport,
//! getLostConnectionsReport, getSilentPVsReport, getPausedPVsReport,
//! getNeverConnectedPVs, getRecentlyAdded/ModifiedPVs, getTimeSpanReport,
//! getPVsByStorageConsumed, getPVDetails engine rows and the appliance
//! metrics fed by the engine. Java keys, string values, Java ordering.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::TimeZone;
use common::server::TestServer;
use serde_json::{json, Value};
use strata::engine::{ArchiveEngine, ChannelStatus, EngineMetrics};
use strata::registry::{ArchiveRequest, PvTypeInfo};
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

/// 2024-03-15 09:30:00 UTC.
const T0: i64 = 1_710_495_000;

/// Fixed channels and figures, as a CA engine would report them.
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
        BTreeMap::from([("DESC".to_string(), "fake".to_string())])
    }
    fn metrics(&self) -> EngineMetrics {
        EngineMetrics {
            channels: self.channels.len() as u64,
            connected: self.channels.values().filter(|c| c.connected).count() as u64,
            event_rate: 51.5,
            data_rate: 1010.0,
            skipped_write_cycles: 3,
            write_seconds: 1.25,
        }
    }
    fn running(&self) -> bool {
        true
    }
}

fn engine() -> Arc<FakeEngine> {
    let ch = |connected: bool, rate: f64, bytes: f64, losses: u64| ChannelStatus {
        connected,
        first_connected: T0 - 3600,
        last_event: T0 - 60,
        event_rate: rate,
        storage_rate: bytes,
        loss_count: losses,
        ..Default::default()
    };
    let mut channels = BTreeMap::new();
    channels.insert("RP:fast".to_string(), ch(true, 50.0, 1024.0, 0));
    channels.insert("RP:slow".to_string(), ch(true, 0.5, 10.0, 2));
    channels.insert(
        "RP:down".to_string(),
        ChannelStatus {
            lost_at: T0 - 30,
            host: Some("ioc-down".into()),
            ..ch(false, 1.0, 20.0, 1)
        },
    );
    channels.insert(
        "RP:never".to_string(),
        ChannelStatus {
            first_connected: 0,
            last_event: 0,
            ..ch(false, 0.0, 0.0, 0)
        },
    );
    channels.insert("RP:paused".to_string(), ch(false, 0.0, 0.0, 0));
    Arc::new(FakeEngine { channels })
}

/// Records for every channel (created one minute apart), `RP:paused`
/// paused, samples for `RP:fast` and `RP:slow`, one pending request.
async fn setup() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with_engine(dir.path(), |_| {}, engine()).await;
    for (i, pv) in ["RP:fast", "RP:slow", "RP:down", "RP:never", "RP:paused"]
        .iter()
        .enumerate()
    {
        let mut t = PvTypeInfo::new(pv, ArchDbType::ScalarDouble, 1);
        let created = chrono::Utc.timestamp_opt(T0 - 86_400 + 60 * i as i64, 0).unwrap();
        t.creation_time = Some(created);
        t.modification_time = Some(created + chrono::Duration::hours(10 - i as i64));
        t.paused = *pv == "RP:paused";
        srv.registry.put(&t).unwrap();
    }
    for i in 0..10 {
        let s = ArchiverSample::at(T0 + i, 0, SampleValue::Double(i as f64));
        srv.store
            .append_event("RP:fast", ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    let s = ArchiverSample::at(T0 - 7200, 0, SampleValue::Double(1.0));
    srv.store
        .append_event("RP:slow", ArchDbType::ScalarDouble, &s)
        .await
        .unwrap();
    srv.store.flush_writes().await.unwrap();
    srv.get_json("/mgmt/bpl/archivePV?pv=RP:pending").await;
    (dir, srv)
}

fn col(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|r| {
            r[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} in {r}"))
                .to_string()
        })
        .collect()
}

fn all_strings(v: &Value) {
    for r in v.as_array().unwrap() {
        assert!(r.as_object().unwrap().values().all(Value::is_string), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pv_status_being_archived_has_javas_fields() {
    let (_dir, srv) = setup().await;
    let (s, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=RP:fast").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!([{
            "pvName": "RP:fast", "pvNameOnly": "RP:fast", "appliance": "appliance0",
            "status": "Being archived", "isMonitored": "true", "samplingPeriod": "1.0",
            "connectionState": "true", "lastEvent": "Mar/15/2024 09:30:09 +00:00",
            "lastRotateLogs": "Never", "connectionFirstEstablished": "Mar/15/2024 08:30:00 +00:00",
            "connectionLastRestablished": "Never", "connectionLossRegainCount": "0"
        }])
    );
    let (_, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=RP:down").await;
    assert_eq!(
        (&v[0]["connectionState"], &v[0]["connectionLossRegainCount"]),
        (&json!("false"), &json!("1"))
    );
    let (_, v) = srv.get_json("/mgmt/bpl/getPVStatus?pv=RP:paused").await;
    assert_eq!(v[0]["status"], "Paused");

    let (_, rows) = srv.get_json("/mgmt/bpl/getPVDetails?pv=RP:down").await;
    let engine_rows: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "engine")
        .collect();
    assert!(engine_rows
        .iter()
        .any(|r| r["name"] == "Connected:" && r["value"] == "false"));
    assert!(engine_rows
        .iter()
        .any(|r| r["name"] == "Connection loss/regain count:" && r["value"] == "1"));
    let (s, meta) = srv.get_json("/retrieval/bpl/getMetadata?pv=RP:fast").await;
    assert_eq!(
        (s, &meta["DESC"], &meta["pvName"]),
        (200, &json!("fake"), &json!("RP:fast"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reports() {
    let (_dir, srv) = setup().await;
    let (s, v) = srv.get_json("/mgmt/bpl/getCurrentlyDisconnectedPVs").await;
    assert_eq!(s, 200);
    all_strings(&v);
    assert_eq!(
        col(&v, "pvName"),
        vec!["RP:down", "RP:never"],
        "paused PVs are left out"
    );
    let down = &v[0];
    assert_eq!(down["instance"], "appliance0");
    assert_eq!(down["lastKnownEvent"], "Mar/15/2024 09:29:00 +00:00");
    assert_eq!(down["connectionLostAt"], "Mar/15/2024 09:29:30 +00:00");
    assert_eq!(down["noConnectionAsOfEpochSecs"], (T0 - 30).to_string());
    assert_eq!(down["hostName"], "ioc-down");
    assert!(down["commandThreadID"].is_string());
    let never = &v[1];
    assert_eq!(
        (&never["lastKnownEvent"], &never["hostName"]),
        (&json!("Never"), &json!("N/A"))
    );
    let since: i64 = never["noConnectionAsOfEpochSecs"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - since).abs() < 600,
        "process start-up: {since}"
    );

    let (_, v) = srv.get_json("/mgmt/bpl/getLostConnectionsReport").await;
    all_strings(&v);
    assert_eq!(col(&v, "pvName")[..2], ["RP:slow", "RP:down"]);
    assert_eq!(v.as_array().unwrap().len(), 5, "every channel, most losses first");
    assert_eq!(
        v[0],
        json!({"pvName": "RP:slow", "instance": "appliance0", "lostConnections": "2", "currentlyConnected": "Yes"})
    );
    assert_eq!(v[1]["currentlyConnected"], "No");
    let (_, v) = srv.get_json("/mgmt/bpl/getLostConnectionsReport?limit=1").await;
    assert_eq!(col(&v, "pvName"), vec!["RP:slow"]);

    let (_, v) = srv.get_json("/mgmt/bpl/getNeverConnectedPVs").await;
    all_strings(&v);
    assert_eq!(col(&v, "pvName"), vec!["RP:pending"]);
    let row = v[0].as_object().unwrap();
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "appliance",
            "currentState",
            "pvName",
            "requestTime",
            "startOfWorkflow"
        ]
    );
    assert!(row["requestTime"].as_str().unwrap().ends_with("+00:00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_reports_sorted_highest_first_with_java_numbers() {
    let (_dir, srv) = setup().await;
    let (s, v) = srv.get_json("/mgmt/bpl/getEventRateReport").await;
    assert_eq!(s, 200);
    assert_eq!(col(&v, "pvName")[..3], ["RP:fast", "RP:down", "RP:slow"]);
    assert_eq!(v[0], json!({"pvName": "RP:fast", "eventRate": "50.0"}));
    assert_eq!(v[2]["eventRate"], "0.5");
    let (_, v) = srv.get_json("/mgmt/bpl/getEventRateReport?limit=2").await;
    assert_eq!(v.as_array().unwrap().len(), 2);

    let (_, v) = srv.get_json("/mgmt/bpl/getStorageRateReport").await;
    all_strings(&v);
    assert_eq!(col(&v, "pvName")[..3], ["RP:fast", "RP:down", "RP:slow"]);
    assert_eq!(
        v[0],
        json!({"pvName": "RP:fast", "storageRate_KBperHour": "3600.0",
               "storageRate_MBperDay": "84.375", "storageRate_GBperYear": "30.0750732421875"})
    );
    let (s, _) = srv.get_json("/mgmt/bpl/getStorageRateReport?limit=x").await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_reports() {
    let (_dir, srv) = setup().await;
    let (s, v) = srv.get_json("/mgmt/bpl/getPausedPVsReport").await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!([{"pvName": "RP:paused", "instance": "appliance0", "modificationTime": "Mar/14/2024 15:34:00 +00:00"}])
    );

    let (_, v) = srv.get_json("/mgmt/bpl/getRecentlyAddedPVs").await;
    all_strings(&v);
    assert_eq!(
        col(&v, "pvName"),
        vec!["RP:paused", "RP:never", "RP:down", "RP:slow", "RP:fast"]
    );
    assert_eq!(v[4]["creationTime"], "Mar/14/2024 09:30:00 +00:00");
    assert_eq!(v[4]["instance"], "appliance0");
    let (_, v) = srv.get_json("/mgmt/bpl/getRecentlyAddedPVs?limit=2").await;
    assert_eq!(col(&v, "pvName"), vec!["RP:paused", "RP:never"]);
    let (_, v) = srv.get_json("/mgmt/bpl/getRecentlyModifiedPVs").await;
    assert_eq!(col(&v, "pvName")[0], "RP:fast");
    assert_eq!(v[0]["modificationTime"], "Mar/14/2024 19:30:00 +00:00");

    // Silent: not paused, longest silent first (engine's last event, else the store's).
    let (_, v) = srv.get_json("/mgmt/bpl/getSilentPVsReport").await;
    all_strings(&v);
    assert_eq!(
        col(&v, "pvName"),
        vec!["RP:never", "RP:down", "RP:fast", "RP:slow"]
    );
    assert_eq!(v[0]["lastKnownEvent"], "Never");
    assert_eq!(v[1]["lastKnownEvent"], "Mar/15/2024 09:29:00 +00:00");
    let (_, v) = srv.get_json("/mgmt/bpl/getSilentPVsReport?limit=1").await;
    assert_eq!(col(&v, "pvName"), vec!["RP:never"]);

    let (_, v) = srv.get_json("/mgmt/bpl/getTimeSpanReport").await;
    all_strings(&v);
    let fast = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pvName"] == "RP:fast")
        .unwrap();
    assert_eq!(
        fast,
        &json!({"pvName": "RP:fast", "instance": "appliance0", "creationTS": (T0 - 86_400).to_string(),
                "paused": "false", "lastEvent": (T0 + 9).to_string()})
    );
    let slow = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pvName"] == "RP:slow")
        .unwrap();
    assert_eq!(slow["lastEvent"], (T0 - 7200).to_string());
    let paused = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pvName"] == "RP:paused")
        .unwrap();
    assert_eq!(paused["paused"], "true");

    let (_, v) = srv.get_json("/mgmt/bpl/getPVsByStorageConsumed").await;
    all_strings(&v);
    assert_eq!(col(&v, "pvName")[..2], ["RP:fast", "RP:slow"]);
    let fast_bytes: u64 = v[0]["storageConsumed"].as_str().unwrap().parse().unwrap();
    assert!(fast_bytes > 0);
    assert_eq!(v[0]["storageConsumedInMB"], "0");
    assert_eq!(v[0]["instance"], "appliance0");
    let (_, v) = srv.get_json("/mgmt/bpl/getPVsByStorageConsumed?limit=1").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appliance_metrics_carry_engine_figures() {
    let (_dir, srv) = setup().await;
    let (s, v) = srv.get_json("/mgmt/bpl/getApplianceMetrics").await;
    assert_eq!(s, 200);
    all_strings(&v);
    let m = &v[0];
    assert_eq!(m["instance"], "appliance0");
    assert_eq!(m["status"], "Working");
    assert_eq!(m["pvCount"], "5");
    assert_eq!(m["connectedPVCount"], "2");
    assert_eq!(m["disconnectedPVCount"], "3");
    assert_eq!(m["capacityUtilized"], "N/A");
    assert_eq!(m["skippedWriteCycles"], "3");
    assert_eq!(m["eventRate"].as_str().unwrap().parse::<f64>().unwrap(), 51.5);
    let body = srv.get("/metrics").await.text().await.unwrap();
    assert!(
        body.contains("strata_gauge{label=\"connected\",name=\"pvs\"} 2"),
        "{body}"
    );
    assert!(
        body.contains("strata_gauge{label=\"event_rate\",name=\"engine\"} 51.5"),
        "{body}"
    );
}
