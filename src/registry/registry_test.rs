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
    // Issue 11: conflicts are variants callers match (409 / 400), not text.
    assert!(matches!(
        r.add_alias("A:2", "A:1"),
        Err(RegistryError::AliasIsPv { alias }) if alias == "A:2"
    ));
    assert!(matches!(
        r.add_alias("A:1", "A:1"),
        Err(RegistryError::SelfAlias { .. })
    ));
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

/// Migrations themselves run on a frozen schema-1 folder
/// (tests/schema_migrations.rs); a newer schema than this strata knows is
/// refused.
#[test]
fn refuses_a_newer_schema() {
    let kv = MemKv::new();
    drop(Registry::open(&kv).unwrap());
    kv.tree("meta")
        .unwrap()
        .insert(REGISTRY_SCHEMA_KEY, &99u32.to_be_bytes())
        .unwrap();
    assert!(matches!(
        Registry::open(&kv),
        Err(RegistryError::TooNew { found: 99, .. })
    ));
}

#[test]
fn counts_follow_puts_and_deletes() {
    let kv = MemKv::new();
    let r = Registry::open(&kv).unwrap();
    let mut a = info("A:1");
    a.paused = true;
    r.put_many(&[a.clone(), info("A:2")]).unwrap();
    assert_eq!(
        r.counts(),
        Counts {
            pvs: 2,
            paused: 1,
            requests: 0
        }
    );
    a.paused = false;
    r.put(&a).unwrap();
    assert_eq!(r.counts().paused, 0);
    let mut b = info("A:2");
    b.paused = true;
    r.put(&b).unwrap();
    r.put(&b).unwrap();
    assert_eq!(r.counts().paused, 1);
    r.delete("A:2").unwrap();
    assert_eq!(
        r.counts(),
        Counts {
            pvs: 1,
            paused: 0,
            requests: 0
        }
    );
    r.put(&b).unwrap();
    drop(r);
    let r = Registry::open(&kv).unwrap();
    assert_eq!(
        r.counts(),
        Counts {
            pvs: 2,
            paused: 1,
            requests: 0
        }
    );
}

#[test]
fn parallel_load_sees_every_name_in_order() {
    let kv = MemKv::new();
    let r = Registry::open(&kv).unwrap();
    // Skewed keys: most share a long prefix, a few sort first and last.
    let mut names: Vec<String> = (0..5000).map(|i| format!("SR01:C01:PV{i:05}")).collect();
    names.extend([
        "\u{1}first".to_string(),
        "A".into(),
        "zzz".into(),
        "\u{7f}\u{7f}last".into(),
    ]);
    names.extend((0..300).map(|i| format!("M{i}")));
    let items: Vec<PvTypeInfo> = names.iter().map(|n| info(n)).collect();
    r.put_many(&items).unwrap();
    drop(r);
    let r = Registry::open(&kv).unwrap();
    names.sort();
    assert_eq!(r.names(), names);
}

#[test]
fn split_keys_are_ascending_and_inside_the_range() {
    let s = load::split_keys(b"SR00:C00:PV000", b"SR99:C99:PV099", 4);
    assert_eq!(s.len(), 3);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert!(s
        .iter()
        .all(|k| k.as_slice() > b"SR00:C00:PV000".as_slice() && k.as_slice() < b"SR99".as_slice()));
    assert!(load::split_keys(b"A", b"A", 4).is_empty());
    assert!(load::split_keys(b"AAAAAAAA1", b"AAAAAAAA9", 4).is_empty());
    let tight = load::split_keys(b"A\x00", b"A\x02", 8);
    assert!(tight.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn reopen_after_close_sees_every_write() {
    // Whether the reopen uses the snapshot (tests run in parallel, which
    // disables it) or scans, it sees the same records.
    let kv = MemKv::new();
    let r = Registry::open(&kv).unwrap();
    r.put_many(&[info("S:1"), info("S:2"), info("S:3")]).unwrap();
    drop(r);
    let r = Registry::open(&kv).unwrap();
    assert_eq!(r.names(), vec!["S:1", "S:2", "S:3"]);
    r.delete("S:2").unwrap();
    let mut p = info("S:4");
    p.paused = true;
    r.put(&p).unwrap();
    drop(r);
    let r = Registry::open(&kv).unwrap();
    assert_eq!(r.names(), vec!["S:1", "S:3", "S:4"]);
    assert_eq!(r.counts().paused, 1);
    // Two registries over one database: neither leaves a snapshot.
    let other = Registry::open(&kv).unwrap();
    r.put(&info("S:5")).unwrap();
    drop(other);
    drop(r);
    let r = Registry::open(&kv).unwrap();
    assert_eq!(r.names(), vec!["S:1", "S:3", "S:4", "S:5"]);
}
