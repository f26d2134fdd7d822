use super::*;
use crate::index::MemKv;
use crate::types::ArchDbType;

fn info(name: &str) -> PvTypeInfo {
    let mut t = PvTypeInfo::new(name, ArchDbType::ScalarDouble, 1);
    t.creation_time = chrono::DateTime::from_timestamp_millis(1_700_000_000_123);
    t
}

#[test]
fn records_aliases_requests() {
    let kv = MemKv::new();
    let r = Registry::open(&kv).unwrap();
    r.put_many(&[info("A:1"), info("A:2"), info("B:1")]).unwrap();
    assert_eq!(r.names(), vec!["A:1", "A:2", "B:1"]);
    assert_eq!(r.get("A:2").unwrap().unwrap().pv_name, "A:2");
    let mut seen = Vec::new();
    r.for_each_with_prefix("A:", |n, _| {
        seen.push(n.to_string());
        true
    });
    assert_eq!(seen, vec!["A:1", "A:2"]);
    r.add_alias("ALIAS:1", "A:1").unwrap();
    assert!(r.add_alias("A:2", "A:1").is_err());
    assert_eq!(r.resolve("ALIAS:1"), "A:1");
    assert_eq!(r.resolve("A:2"), "A:2");
    assert!(r.delete("A:1").unwrap());
    assert_eq!(r.aliases(), vec![]);
    r.add_request(&ArchiveRequest {
        pv: "C:1".into(),
        sampling_period: Some(1.0),
        sampling_method: None,
        policy: None,
        controlling_pv: None,
        use_pva: false,
        requested_ms: 5,
    })
    .unwrap();
    // Reopening restores the caches.
    drop(r);
    let r = Registry::open(&kv).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r.requests().len(), 1);
    r.put(&info("C:1")).unwrap();
    assert!(r.request("C:1").is_none());
    drop(r);
    assert!(Registry::open(&kv).unwrap().requests().is_empty());
}

#[test]
fn migrates_a_v1_registry() {
    let kv = MemKv::new();
    let pvs = kv.tree("pvs").unwrap();
    let mut t = info("OLD:pv");
    t.paused = true;
    pvs.insert(
        b"OLD:pv",
        &serde_json::to_vec(&serde_json::Value::Object(t.to_json())).unwrap(),
    )
    .unwrap();
    let r = Registry::open(&kv).unwrap();
    let rec = r.name_record("OLD:pv").unwrap();
    assert!(rec.paused);
    assert_eq!(rec.created_ms, 1_700_000_000_123);
    let v = kv
        .tree("meta")
        .unwrap()
        .get(REGISTRY_SCHEMA_KEY)
        .unwrap()
        .unwrap();
    assert_eq!(v, REGISTRY_SCHEMA_VERSION.to_be_bytes().to_vec());
}
