//! Every seed `StoragePlugin` method on real files and real sled.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strata::plainpb::PbFile;
use strata::storage::{AppendMeta, StoragePlugin};
use strata::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

const Y2024: i64 = 1_704_067_200;

fn t(secs: i64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(secs as u64, nanos)
}

fn dbl(secs: i64, v: f64) -> ArchiverSample {
    ArchiverSample::at(secs, 0, SampleValue::Double(v))
}

async fn collect(store: &dyn StoragePlugin, pv: &str, from: i64, to: i64) -> Vec<(i64, f64)> {
    let streams = store.get_data(pv, t(from, 0), t(to, 0)).await.unwrap();
    let mut out: Vec<(i64, f64)> = Vec::new();
    for mut s in streams {
        while let Some(e) = s.next_event().unwrap() {
            let ts = e.ts().secs;
            // Boundary de-duplication as retrieval does it.
            if out.last().is_some_and(|l| ts <= l.0) {
                continue;
            }
            out.push((ts, e.value.as_f64().unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn store_written_file_is_byte_identical_to_the_worked_example() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    let s1 = ArchiverSample::at(1_710_495_000, 500_000_000, SampleValue::Double(1.5));
    let s2 = ArchiverSample::at(1_710_495_010, 0, SampleValue::Double(-0.09)).with_alarm(2, 3);
    for s in [&s1, &s2] {
        store
            .append_event("ROOT:SUB:pv", ArchDbType::ScalarDouble, s)
            .await
            .unwrap();
    }
    store.flush_writes().await.unwrap();
    let path = dir.path().join("sts/ROOT/SUB/pv:2024_03_15_09.pb");
    let expected = std::fs::read(common::testdata().join("generated/spec_worked_example.pb")).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), expected);
}

#[tokio::test]
async fn append_read_last_and_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    let pv = "TST-CT{}Sig:1-I";
    // One sample every 10 minutes for 3 hours, across 2023 → 2024.
    let start = Y2024 - 3600;
    for i in 0..18 {
        store
            .append_event(pv, ArchDbType::ScalarDouble, &dbl(start + i * 600, i as f64))
            .await
            .unwrap();
    }
    // Not later than the newest: dropped, not an error.
    store
        .append_event(pv, ArchDbType::ScalarDouble, &dbl(start, 99.0))
        .await
        .unwrap();
    // Buffered data is visible before any flush.
    assert_eq!(collect(&store, pv, start, start + 3 * 3600).await.len(), 18);
    assert_eq!(
        store.get_last_known_event(pv).await.unwrap().unwrap().ts().secs,
        start + 17 * 600
    );
    store.flush_writes().await.unwrap();
    let got = collect(&store, pv, start, start + 3 * 3600).await;
    assert_eq!(
        got,
        (0..18).map(|i| (start + i * 600, i as f64)).collect::<Vec<_>>()
    );
    // Files: 2023_12_31_23, 2024_01_01_00, 2024_01_01_01 with Java names and headers.
    let f = dir.path().join("sts/TST/CT{}Sig/1/I:2023_12_31_23.pb");
    let pb = PbFile::open(&f).unwrap();
    assert_eq!((pb.desc().year, pb.desc().pv_name.as_str()), (2023, pv));
    assert!(dir.path().join("sts/TST/CT{}Sig/1/I:2024_01_01_00.pb").exists());
    let stores = store.stores_for_pv(pv).unwrap();
    assert_eq!(stores[0].name, "STS");
    assert_eq!(stores[0].pv_file_count, Some(3));
    let bytes: u64 = ["2023_12_31_23", "2024_01_01_00", "2024_01_01_01"]
        .iter()
        .map(|p| {
            std::fs::metadata(dir.path().join(format!("sts/TST/CT{{}}Sig/1/I:{p}.pb")))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(stores[0].pv_size_bytes, Some(bytes));
    assert_eq!(stores[1].pv_file_count, Some(0));
    let m = store.appliance_metrics().unwrap();
    assert_eq!((m[0].total_files, m[0].total_size_bytes), (Some(3), Some(bytes)));
    assert_eq!(m[0].pv_file_count, None);
    // Continuity: a window between samples yields the previous one first.
    let got = collect(&store, pv, start + 601, start + 602).await;
    assert_eq!(got, vec![(start + 600, 1.0)]);
    // A window after everything yields only the last sample (previous partition).
    let got = collect(&store, pv, start + 5 * 3600, start + 6 * 3600).await;
    assert_eq!(got, vec![(start + 17 * 600, 17.0)]);
}

#[tokio::test]
async fn last_event_before_at_partition_and_sample_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    let pv = "LB:pv";
    // Samples at :00:00 and :59:59.5 of each hour, for 4 hours.
    let mut times = Vec::new();
    for h in 0..4 {
        times.push((Y2024 + h * 3600, 0));
        times.push((Y2024 + h * 3600 + 3599, 500_000_000));
    }
    for (i, (s, n)) in times.iter().enumerate() {
        let mut smp = dbl(*s, i as f64);
        smp.timestamp = t(*s, *n);
        store
            .append_event(pv, ArchDbType::ScalarDouble, &smp)
            .await
            .unwrap();
    }
    store.flush_writes().await.unwrap();
    let before = |secs: i64, nanos: u32| {
        let store = store.clone();
        async move {
            store
                .get_last_event_before(pv, t(secs, nanos))
                .await
                .unwrap()
                .map(|s| (s.ts().secs, s.ts().nanos))
        }
    };
    for (i, &(s, n)) in times.iter().enumerate() {
        // Exactly at a sample: strictly before means the previous one.
        assert_eq!(
            before(s, n).await,
            i.checked_sub(1).map(|j| times[j]),
            "at sample {i}"
        );
        // Just after a sample: that sample.
        assert_eq!(before(s, n + 1).await, Some((s, n)), "just after sample {i}");
    }
    // Exactly at a partition boundary (the :00:00 sample is at it) and just before it.
    assert_eq!(before(Y2024 + 3600, 0).await, Some((Y2024 + 3599, 500_000_000)));
    assert_eq!(
        before(Y2024 + 3599, 999_999_999).await,
        Some((Y2024 + 3599, 500_000_000))
    );
    assert_eq!(before(Y2024 + 3599, 500_000_000).await, Some((Y2024, 0)));
    assert_eq!(before(Y2024, 0).await, None);
    assert_eq!(before(Y2024 + 100 * 3600, 0).await, Some(*times.last().unwrap()));
}

#[tokio::test]
async fn meta_headers_and_types() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    let meta = AppendMeta {
        element_count: Some(3),
        headers: vec![("EGU".into(), "mm".into()), ("PREC".into(), "2".into())],
    };
    let wf = ArchiverSample::at(Y2024 + 5, 0, SampleValue::VDouble(vec![1.0, 2.0, 3.0]));
    store
        .append_event_with_meta("WF:pv", ArchDbType::WaveformDouble, &wf, &meta)
        .await
        .unwrap();
    store.flush_writes().await.unwrap();
    let streams = store
        .get_data("WF:pv", t(Y2024, 0), t(Y2024 + 10, 0))
        .await
        .unwrap();
    assert_eq!(streams.len(), 1);
    let d = streams[0].description();
    assert_eq!(d.header("EGU"), Some("mm"));
    assert_eq!(d.element_count, Some(3));
    // Declared type must match the value.
    assert!(store
        .append_event(
            "WF:pv",
            ArchDbType::ScalarDouble,
            &ArchiverSample::at(Y2024 + 6, 0, SampleValue::VDouble(vec![]))
        )
        .await
        .is_err());
    // A type change on an existing PV is refused.
    assert!(store
        .append_event("WF:pv", ArchDbType::ScalarDouble, &dbl(Y2024 + 7, 1.0))
        .await
        .is_err());
    let _ = Timestamp::now();
}

#[tokio::test]
async fn delete_removes_files_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    for i in 0..10 {
        store
            .append_event("DEL:pv", ArchDbType::ScalarDouble, &dbl(Y2024 + i * 1800, 1.0))
            .await
            .unwrap();
        store
            .append_event("KEEP:pv", ArchDbType::ScalarDouble, &dbl(Y2024 + i * 1800, 1.0))
            .await
            .unwrap();
    }
    store.flush_writes().await.unwrap();
    assert_eq!(store.delete_pv_data("DEL:pv").await.unwrap(), 5);
    assert!(collect(&store, "DEL:pv", Y2024, Y2024 + 86_400).await.is_empty());
    assert!(store.get_last_known_event("DEL:pv").await.unwrap().is_none());
    assert_eq!(store.appliance_metrics().unwrap()[0].total_files, Some(5));
    assert_eq!(collect(&store, "KEEP:pv", Y2024, Y2024 + 86_400).await.len(), 10);
    assert!(!dir.path().join("sts/DEL/pv:2024_01_01_00.pb").exists());
}
