use super::*;
use crate::index::entry::FrameRecord;
use crate::types::Timestamp;

fn entry(start: i64, first: i64, last: i64, bytes: u64) -> PartitionEntry {
    PartitionEntry {
        path: format!("A/pv:{start}.pb"),
        start,
        year: 2024,
        db_type: 6,
        first: (first, 0),
        last: (last, 0),
        samples: (last - first + 1) as u64,
        samples_exact: true,
        bytes,
        last_sample: vec![last as u8],
        compressed: false,
    }
}

fn up(pv: &str, tier: u8, e: PartitionEntry) -> Change {
    Change::Upsert {
        pv: pv.into(),
        tier,
        key: "A/pv:".into(),
        entry: e,
    }
}

#[test]
fn summaries_and_totals_follow_changes() {
    let kv = MemKv::new();
    let ix = Index::open(&kv).unwrap();
    ix.apply(&[
        up("A:pv", 0, entry(0, 0, 99, 100)),
        up("A:pv", 0, entry(100, 100, 150, 50)),
    ])
    .unwrap();
    ix.apply(&[
        up("B:pv", 0, entry(0, 5, 10, 7)),
        up("A:pv", 1, entry(0, 0, 50, 1000)),
    ])
    .unwrap();
    let s = ix.summary("A:pv", 0).unwrap().unwrap();
    assert_eq!((s.files, s.bytes, s.samples), (2, 150, 151));
    assert_eq!(
        (s.first, s.last, s.newest_start),
        (Some((0, 0)), Some((150, 0)), 100)
    );
    assert_eq!(ix.totals(0).unwrap(), TierTotals { files: 3, bytes: 157 });
    assert_eq!(
        ix.totals(1).unwrap(),
        TierTotals {
            files: 1,
            bytes: 1000
        }
    );
    // Growing the newest partition replaces its record.
    ix.apply(&[up("A:pv", 0, entry(100, 100, 160, 60))]).unwrap();
    let s = ix.summary("A:pv", 0).unwrap().unwrap();
    assert_eq!((s.files, s.bytes, s.last), (2, 160, Some((160, 0))));
    assert_eq!(ix.totals(0).unwrap().bytes, 167);
    // Removing the newest partition recomputes the summary from the rest.
    ix.apply(&[Change::Remove {
        pv: "A:pv".into(),
        tier: 0,
        start: 100,
    }])
    .unwrap();
    let s = ix.summary("A:pv", 0).unwrap().unwrap();
    assert_eq!(
        (s.files, s.bytes, s.last, s.last_sample.clone()),
        (1, 100, Some((99, 0)), vec![99])
    );
    assert_eq!(ix.totals(0).unwrap(), TierTotals { files: 2, bytes: 107 });
    ix.apply(&[Change::Remove {
        pv: "A:pv".into(),
        tier: 0,
        start: 0,
    }])
    .unwrap();
    assert!(ix.summary("A:pv", 0).unwrap().is_none());
    assert_eq!(ix.totals(0).unwrap(), TierTotals { files: 1, bytes: 7 });
}

#[test]
fn overlapping_and_previous_partition() {
    let kv = MemKv::new();
    let ix = Index::open(&kv).unwrap();
    ix.apply(&[
        up("P", 0, entry(0, 10, 90, 1)),
        up("P", 0, entry(100, 110, 190, 1)),
        up("P", 0, entry(200, 210, 290, 1)),
        up("P", 0, entry(300, 310, 390, 1)),
    ])
    .unwrap();
    let t = |s| Timestamp::new(s, 0);
    let (prev, hits) = ix.overlapping("P", 0, t(195), t(320)).unwrap();
    assert_eq!(prev.unwrap().start, 100);
    assert_eq!(hits.iter().map(|e| e.start).collect::<Vec<_>>(), vec![200, 300]);
    let (prev, hits) = ix.overlapping("P", 0, t(150), t(150)).unwrap();
    assert_eq!(prev.unwrap().start, 0);
    assert_eq!(hits.iter().map(|e| e.start).collect::<Vec<_>>(), vec![100]);
    let (prev, hits) = ix.overlapping("P", 0, t(1000), t(2000)).unwrap();
    assert_eq!((prev.unwrap().start, hits.len()), (300, 0));
    let (prev, hits) = ix.overlapping("P", 0, t(0), t(5)).unwrap();
    assert!(prev.is_none() && hits.is_empty());
    let newest_first: Vec<i64> = ix
        .at_or_before("P", 0, t(250))
        .map(|e| e.unwrap().start)
        .collect();
    assert_eq!(newest_first, vec![200, 100, 0]);
}

/// Migrations themselves run on a frozen schema-1 folder
/// (tests/schema_migrations.rs); a newer schema than this strata knows is
/// refused.
#[test]
fn refuses_a_newer_schema() {
    let kv = MemKv::new();
    Index::open(&kv).unwrap();
    kv.tree("meta")
        .unwrap()
        .insert(SCHEMA_KEY, &99u32.to_be_bytes())
        .unwrap();
    assert!(matches!(
        Index::open(&kv),
        Err(IndexError::TooNew { found: 99, .. })
    ));
}

fn frames(pv: &str, tier: u8, start: i64, firsts: &[i64]) -> Change {
    Change::Frames {
        pv: pv.into(),
        tier,
        start,
        frames: firsts
            .iter()
            .enumerate()
            .map(|(i, f)| {
                (
                    (*f, 0),
                    FrameRecord {
                        offset: 40 + 100 * i as u64,
                        samples: 10,
                        raw_len: 300,
                    },
                )
            })
            .collect(),
    }
}

#[test]
fn frame_keys_live_and_die_with_their_partition() {
    let kv = MemKv::new();
    let ix = Index::open(&kv).unwrap();
    let mut e = entry(0, 0, 99, 1000);
    e.compressed = true;
    ix.apply(&[up("A:pv", 2, e.clone()), frames("A:pv", 2, 0, &[0, 30, 60])])
        .unwrap();
    ix.apply(&[up("A:pvx", 2, e.clone()), frames("A:pvx", 2, 0, &[5])])
        .unwrap();
    assert_eq!(ix.frames("A:pv", 2, 0).unwrap().len(), 3);
    // The frame holding a time, with the next frame's offset.
    let w = ix.frame_window("A:pv", 2, 0, (45, 0)).unwrap().unwrap();
    assert_eq!(
        (w.first, w.frame.offset, w.next_offset, w.data_start),
        ((30, 0), 140, Some(240), 40)
    );
    let w = ix.frame_window("A:pv", 2, 0, (60, 0)).unwrap().unwrap();
    assert_eq!((w.first, w.next_offset), ((60, 0), None));
    assert_eq!(ix.frame_window("A:pv", 2, 0, (-1, 0)).unwrap(), None);
    assert_eq!(ix.frame_window("A:pv", 2, 5, (50, 0)).unwrap(), None);
    // An append: the upsert with new frames replaces the old set.
    ix.apply(&[up("A:pv", 2, e.clone()), frames("A:pv", 2, 0, &[0, 30, 60, 90])])
        .unwrap();
    assert_eq!(ix.frames("A:pv", 2, 0).unwrap().len(), 4);
    // An upsert without frames (e.g. the partition became plain) drops them.
    ix.apply(&[up("A:pv", 2, entry(0, 0, 99, 1000))]).unwrap();
    assert!(ix.frames("A:pv", 2, 0).unwrap().is_empty());
    ix.apply(&[up("A:pv", 2, e), frames("A:pv", 2, 0, &[0])]).unwrap();
    // A removal drops them too; another PV's keys are untouched.
    ix.apply(&[Change::Remove {
        pv: "A:pv".into(),
        tier: 2,
        start: 0,
    }])
    .unwrap();
    assert!(ix.frames("A:pv", 2, 0).unwrap().is_empty());
    let all = ix.all_frames().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, "A:pvx");
    // A rebuild writes what it is given and drops the rest.
    let parts = vec![("B:pv".to_string(), 1u8, "B/pv:".to_string(), entry(0, 0, 9, 10))];
    let Change::Frames { frames: fs, .. } = frames("B:pv", 1, 0, &[0, 5]) else {
        unreachable!()
    };
    ix.load_fresh_with(&parts, &[("B:pv".to_string(), 1, 0, fs)])
        .unwrap();
    let all = ix.all_frames().unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|f| f.0 == "B:pv"));
}
