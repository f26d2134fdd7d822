//! Flush contract (failed vs deferred), reconcile after simulated crashes,
//! rename (including interrupted renames), many interleaved PVs.

mod common;

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use strata::storage::{rename_interrupted, RenameStop, StoragePlugin, StoreError};
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

const Y2024: i64 = 1_704_067_200;

fn dbl(secs: i64, v: f64) -> ArchiverSample {
    ArchiverSample::at(secs, 0, SampleValue::Double(v))
}

async fn values(store: &dyn StoragePlugin, pv: &str, from: i64, to: i64) -> Vec<(i64, f64)> {
    let from = UNIX_EPOCH + Duration::from_secs(from as u64);
    let to = UNIX_EPOCH + Duration::from_secs(to as u64);
    let mut out: Vec<(i64, f64)> = Vec::new();
    for mut s in store.get_data(pv, from, to).await.unwrap() {
        while let Some(e) = s.next_event().unwrap() {
            if out.last().is_some_and(|l| e.ts().secs <= l.0) {
                continue;
            }
            out.push((e.ts().secs, e.value.as_f64().unwrap()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_flush_reports_deferred_and_failed_per_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    // A file where the PV's directory must go makes its writes fail.
    std::fs::write(dir.path().join("sts/BROKEN"), b"not a directory").unwrap();
    for i in 0..3 {
        for pv in ["OK:a", "BUSY:b", "BROKEN:c"] {
            store
                .append_event(pv, ArchDbType::ScalarDouble, &dbl(Y2024 + i, i as f64))
                .await
                .unwrap();
        }
    }
    let hold = store.tiers()[0].hold_pv_lock("BUSY:b");
    let r = store.flush_ingest_writes().await.unwrap();
    drop(hold);
    assert_eq!(r.deferred, vec!["BUSY:b".to_string()]);
    assert_eq!(r.failed, vec!["BROKEN:c".to_string()]);
    // Deferred: still buffered, written next cycle. Failed: bytes discarded.
    assert!(store.tiers()[0].write_stats("BUSY:b").buffered_bytes > 0);
    let r = store.flush_ingest_writes().await.unwrap();
    assert!(r.deferred.is_empty() && r.failed.is_empty());
    assert_eq!(values(&store, "BUSY:b", Y2024, Y2024 + 10).await.len(), 3);
    assert_eq!(values(&store, "OK:a", Y2024, Y2024 + 10).await.len(), 3);
    assert!(values(&store, "BROKEN:c", Y2024, Y2024 + 10).await.is_empty());
    assert_eq!(store.tiers()[0].write_stats("BROKEN:c").buffered_bytes, 0);
}

#[tokio::test]
async fn reconcile_after_simulated_crashes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, report, _kv) = common::store::open(dir.path());
        assert!(report.is_clean());
        for i in 0..7200 {
            for pv in ["CR:trunc", "CR:grown", "CR:gone"] {
                store
                    .append_event(pv, ArchDbType::ScalarDouble, &dbl(Y2024 + i, i as f64))
                    .await
                    .unwrap();
            }
        }
        store.flush_writes().await.unwrap();
    }
    let sts = dir.path().join("sts/CR");
    // 1. A crash mid-write: the newest file ends inside a record.
    let trunc = sts.join("trunc:2024_01_01_01.pb");
    let len = std::fs::metadata(&trunc).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&trunc)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    // 2. The index is older than the file: samples reached the file, the record did not.
    let grown = sts.join("grown:2024_01_01_01.pb");
    {
        let extra = tempfile::tempdir().unwrap();
        let (other, _, _kv2) = common::store::open(extra.path());
        for i in 7200..7210 {
            other
                .append_event("CR:grown", ArchDbType::ScalarDouble, &dbl(Y2024 + i, i as f64))
                .await
                .unwrap();
        }
        other.flush_writes().await.unwrap();
        let more = std::fs::read(extra.path().join("sts/CR/grown:2024_01_01_02.pb")).unwrap();
        let body_start = more.iter().position(|b| *b == b'\n').unwrap() + 1;
        // Same partition year; re-home the lines into the hour-1 file (times stay increasing).
        std::fs::OpenOptions::new()
            .append(true)
            .open(&grown)
            .unwrap()
            .write_all(&more[body_start..])
            .unwrap();
    }
    // 3. A file deleted behind the index.
    std::fs::remove_file(sts.join("gone:2024_01_01_00.pb")).unwrap();

    let (store, report, _kv) = common::store::open(dir.path());
    assert_eq!(report.trimmed.len(), 1, "{report:?}");
    assert!(report
        .rescanned
        .iter()
        .any(|p| p.ends_with("grown:2024_01_01_01.pb")));
    assert!(report
        .missing
        .iter()
        .any(|p| p.ends_with("gone:2024_01_01_00.pb")));
    // Truncated: the partial record is gone, everything before it readable.
    let v = values(&store, "CR:trunc", Y2024, Y2024 + 7200).await;
    assert_eq!(v.len(), 7199);
    assert_eq!(v.last().unwrap().0, Y2024 + 7198);
    // Appends continue cleanly after the trimmed tail.
    store
        .append_event("CR:trunc", ArchDbType::ScalarDouble, &dbl(Y2024 + 7199, 1.0))
        .await
        .unwrap();
    store.flush_writes().await.unwrap();
    assert_eq!(values(&store, "CR:trunc", Y2024, Y2024 + 7200).await.len(), 7200);
    // Grown: the index now knows the extra samples.
    let last = store.get_last_known_event("CR:grown").await.unwrap().unwrap();
    assert_eq!(last.ts().secs, Y2024 + 7209);
    let s = store.stores_for_pv("CR:grown").unwrap();
    let both = std::fs::metadata(&grown).unwrap().len()
        + std::fs::metadata(sts.join("grown:2024_01_01_00.pb"))
            .unwrap()
            .len();
    assert_eq!(s[0].pv_size_bytes, Some(both));
    // Gone: only the remaining hour is served and counted.
    assert_eq!(values(&store, "CR:gone", Y2024, Y2024 + 7200).await.len(), 3600);
    assert_eq!(store.stores_for_pv("CR:gone").unwrap()[0].pv_file_count, Some(1));
    // A second open finds nothing to repair.
    drop(store);
    drop(_kv);
    let (_store, report, _kv) = common::store::open(dir.path());
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn rename_moves_everything_and_refuses_existing_targets() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    for i in 0..30 {
        store
            .append_event(
                "OLD:name",
                ArchDbType::ScalarDouble,
                &dbl(Y2024 + i * 600, i as f64),
            )
            .await
            .unwrap();
        store
            .append_event(
                "OTHER:pv",
                ArchDbType::ScalarDouble,
                &dbl(Y2024 + i * 600, i as f64),
            )
            .await
            .unwrap();
    }
    let before = values(&store, "OLD:name", Y2024, Y2024 + 86_400).await;
    assert!(matches!(
        store.rename("OLD:name", "OTHER:pv").await,
        Err(StoreError::TargetExists { .. })
    ));
    assert_eq!(store.rename_pv("OLD:name", "NEW-name:x").await.unwrap(), 5);
    assert!(values(&store, "OLD:name", Y2024, Y2024 + 86_400).await.is_empty());
    assert_eq!(values(&store, "NEW-name:x", Y2024, Y2024 + 86_400).await, before);
    let f = dir.path().join("sts/NEW/name/x:2024_01_01_00.pb");
    assert_eq!(
        strata::plainpb::PbFile::open(&f).unwrap().desc().pv_name,
        "NEW-name:x"
    );
    assert!(!dir.path().join("sts/OLD/name:2024_01_01_00.pb").exists());
    // The renamed PV keeps accepting appends.
    store
        .append_event(
            "NEW-name:x",
            ArchDbType::ScalarDouble,
            &dbl(Y2024 + 30 * 600, 30.0),
        )
        .await
        .unwrap();
    store.flush_writes().await.unwrap();
    assert_eq!(
        values(&store, "NEW-name:x", Y2024, Y2024 + 86_400).await.len(),
        31
    );
}

#[tokio::test]
async fn interrupted_rename_is_old_or_new_never_both() {
    for (stop, expect_new) in [(RenameStop::Prepared, false), (RenameStop::Committed, true)] {
        let dir = tempfile::tempdir().unwrap();
        let before;
        {
            let (store, _, _kv) = common::store::open(dir.path());
            for i in 0..12 {
                store
                    .append_event("R:a", ArchDbType::ScalarDouble, &dbl(Y2024 + i * 1200, i as f64))
                    .await
                    .unwrap();
            }
            store.flush_writes().await.unwrap();
            before = values(&store, "R:a", Y2024, Y2024 + 86_400).await;
            rename_interrupted(&store, "R:a", "R:b", stop).unwrap();
        }
        let (store, _, _kv) = common::store::open(dir.path());
        let a = values(&store, "R:a", Y2024, Y2024 + 86_400).await;
        let b = values(&store, "R:b", Y2024, Y2024 + 86_400).await;
        if expect_new {
            assert!(a.is_empty(), "{stop:?}");
            assert_eq!(b, before, "{stop:?}");
        } else {
            assert_eq!(a, before, "{stop:?}");
            assert!(b.is_empty(), "{stop:?}");
        }
        let leftovers: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| p.ends_with(".renametmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

fn walk(p: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn thousand_pvs_interleaved_across_hour_and_year_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::store::config(dir.path());
    // Small buffers force eviction flushes while appending.
    cfg.pv_buffer_bytes = 4096;
    cfg.total_buffer_bytes = 256 * 1024;
    let kv = strata::index::SledKv::open(&cfg.index_dir).unwrap();
    let (store, _) = strata::storage::TieredStore::open(&cfg, &kv).unwrap();
    let start = Y2024 - 90; // 2023-12-31T23:58:30Z
    let n_pv = 1000;
    let steps = 12; // every 15 s: crosses 00:00 (year and hour)
    for k in 0..steps {
        for p in 0..n_pv {
            let pv = format!("MANY:{p:04}");
            store
                .append_event(
                    &pv,
                    ArchDbType::ScalarDouble,
                    &dbl(start + k * 15, (p * 100 + k) as f64),
                )
                .await
                .unwrap();
        }
    }
    store.flush_writes().await.unwrap();
    for p in (0..n_pv).step_by(97) {
        let pv = format!("MANY:{p:04}");
        let v = values(&store, &pv, start, start + steps * 15).await;
        assert_eq!(
            v,
            (0..steps)
                .map(|k| (start + k * 15, (p * 100 + k) as f64))
                .collect::<Vec<_>>()
        );
        let s = store.stores_for_pv(&pv).unwrap();
        assert_eq!(
            s[0].pv_file_count,
            Some(2),
            "{pv}: 2023_12_31_23 and 2024_01_01_00"
        );
    }
    assert_eq!(
        store.appliance_metrics().unwrap()[0].total_files,
        Some(2 * n_pv as u64)
    );
}

#[tokio::test]
async fn last_before_survives_a_file_shrunk_behind_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _kv) = common::store::open(dir.path());
    for i in 0..3600 {
        store
            .append_event("SH:pv", ArchDbType::ScalarDouble, &dbl(Y2024 + i, i as f64))
            .await
            .unwrap();
    }
    store.flush_writes().await.unwrap();
    // Someone cuts the file to half while the store runs (mid-record).
    let path = dir.path().join("sts/SH/pv:2024_01_01_00.pb");
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2 + 3)
        .unwrap();
    let at = UNIX_EPOCH + Duration::from_secs((Y2024 + 3000) as u64);
    let s = store.get_last_event_before("SH:pv", at).await.unwrap().unwrap();
    // The newest sample the file still holds, not an error.
    let secs = s.ts().secs;
    assert!((Y2024 + 1500..Y2024 + 1900).contains(&secs), "{secs}");
    assert_eq!(s.value.as_f64(), Some((secs - Y2024) as f64));
}
