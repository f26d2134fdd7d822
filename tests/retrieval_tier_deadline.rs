//! A tier that stops answering (issue 13; a dead NFS mount, EAA #327):
//! an MTS partition is replaced by a named pipe, whose `open` blocks in the
//! kernel until a writer comes. getData (json and raw) and getDataAtTime
//! still answer with the other tiers' samples and `X-Strata-Partial-Tiers`,
//! the next request fails fast on the stuck tier, ingest into the first
//! tier goes on, and once the pipe is released the tier answers again.

mod common;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::server::{register, TestServer};
use strata::plainpb::{ChunkItem, ChunkReader};
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

const PV: &str = "DEADLINE:pv";
/// 2024-03-10T00:00:00Z.
const DAY: i64 = 1_710_028_800;
const HEADER: &str = "x-strata-partial-tiers";

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A named pipe standing in for a partition file. Dropping it lets every
/// reader blocked in `open` go (a writer opens and closes at once: they see
/// an empty file) and removes it, so no thread stays stuck.
struct Fifo(PathBuf);

impl Fifo {
    fn create(path: &Path) -> Self {
        let ok = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(ok.success(), "mkfifo {}", path.display());
        Fifo(path.to_path_buf())
    }

    /// Releases the readers blocked in `open`; returns how many there were.
    fn release(&self) -> usize {
        let mut n = 0;
        // O_NONBLOCK: the open fails (ENXIO) once no reader waits.
        while let Ok(f) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.0)
        {
            drop(f);
            n += 1;
            if n > 64 {
                break;
            }
        }
        n
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        self.release();
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn json_samples(srv: &TestServer, from: i64, to: i64) -> (Option<String>, Vec<(i64, f64)>) {
    let path = format!(
        "/retrieval/data/getData.json?pv={PV}&from={}&to={}",
        iso(from),
        iso(to)
    );
    let resp = tokio::time::timeout(Duration::from_secs(60), srv.get(&path))
        .await
        .expect("getData.json answers while a tier hangs");
    assert_eq!(resp.status(), 200);
    let partial = resp
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().unwrap().to_string());
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v[0]["meta"]["name"], PV);
    let data = v[0]["data"].as_array().unwrap();
    let got = data
        .iter()
        .map(|s| (s["secs"].as_i64().unwrap(), s["val"].as_f64().unwrap()))
        .collect();
    (partial, got)
}

async fn raw_samples(srv: &TestServer, from: i64, to: i64) -> (Option<String>, Vec<(i64, f64)>) {
    let path = format!(
        "/retrieval/data/getData.raw?pv={PV}&from={}&to={}",
        iso(from),
        iso(to)
    );
    let resp = tokio::time::timeout(Duration::from_secs(60), srv.get(&path))
        .await
        .expect("getData.raw answers while a tier hangs");
    assert_eq!(resp.status(), 200);
    let partial = resp
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.bytes().await.unwrap();
    let mut r = ChunkReader::new(Cursor::new(bytes.to_vec()));
    let mut got = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        if let ChunkItem::Sample(s) = item {
            got.push((s.ts().secs, s.value.as_f64().unwrap()));
        }
    }
    (partial, got)
}

async fn metric(srv: &TestServer, name: &str, tier: &str) -> u64 {
    let text = srv.get("/metrics").await.text().await.unwrap();
    let key = format!("{name}{{tier=\"{tier}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("{key} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_tier_is_left_out_and_the_rest_answers() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(dir.path(), |c| c.storage.tier_deadline_ms = 500).await;
    register(&srv.registry, PV, ArchDbType::ScalarDouble);
    let val = |t: i64| (t - DAY) as f64 / 600.0;
    // MTS: every 10 minutes over the first 6 hours; STS: the next 6 hours.
    let mut mts = BTreeMap::new();
    let mut sts = BTreeMap::new();
    for k in 0..36 {
        mts.insert(DAY + k * 600, val(DAY + k * 600));
        sts.insert(DAY + 6 * 3600 + k * 600, val(DAY + 6 * 3600 + k * 600));
    }
    let tiers = srv.store.tiers();
    for (tier, samples) in [(1usize, &mts), (0, &sts)] {
        for (&t, &v) in samples {
            let s = ArchiverSample::at(t, 0, SampleValue::Double(v));
            tiers[tier]
                .append(PV, ArchDbType::ScalarDouble, &s, None)
                .await
                .unwrap();
        }
    }
    srv.store.flush_writes().await.unwrap();
    let (from, to) = (DAY + 1800, DAY + 13 * 3600);
    let all: Vec<(i64, f64)> = mts
        .range(..=from)
        .next_back()
        .into_iter()
        .chain(mts.range(from + 1..))
        .chain(sts.iter())
        .map(|(t, v)| (*t, *v))
        .collect();
    let sts_only: Vec<(i64, f64)> = sts.iter().map(|(t, v)| (*t, *v)).collect();
    assert_eq!(json_samples(&srv, from, to).await, (None, all.clone()));

    // The MTS partition becomes a pipe nobody writes to.
    let (_, hits) = srv
        .store
        .index()
        .overlapping(PV, 1, Timestamp::new(from, 0), Timestamp::new(to, 0))
        .unwrap();
    assert_eq!(hits.len(), 1, "one MTS day partition");
    let file = tiers[1].root().join(&hits[0].path);
    let saved = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let fifo = Fifo::create(&file);

    // The first request waits for the deadline, leaves MTS out.
    let (partial, got) = json_samples(&srv, from, to).await;
    assert_eq!(partial.as_deref(), Some("MTS"));
    assert_eq!(got, sts_only);
    assert_eq!(
        metric(&srv, "strata_retrieval_tier_timeouts_total", "MTS").await,
        1
    );
    assert_eq!(
        metric(&srv, "strata_retrieval_tier_blocked_reads", "MTS").await,
        1
    );

    // The next ones fail fast on the stuck tier: no second read is queued
    // behind the blocked one (still one timeout, refusals counted).
    let (partial, got) = raw_samples(&srv, from, to).await;
    assert_eq!(partial.as_deref(), Some("MTS"));
    assert_eq!(got, sts_only);
    let (partial, got) = json_samples(&srv, from, to).await;
    assert_eq!(partial.as_deref(), Some("MTS"));
    assert_eq!(got, sts_only);
    assert_eq!(
        metric(&srv, "strata_retrieval_tier_timeouts_total", "MTS").await,
        1
    );
    assert!(metric(&srv, "strata_retrieval_tier_skipped_total", "MTS").await >= 2);
    assert_eq!(
        metric(&srv, "strata_retrieval_tier_timeouts_total", "STS").await,
        0
    );

    // getDataAtTime inside the MTS partition needs its file: left out.
    let at_path = format!("/retrieval/data/getDataAtTime?at={}", iso(DAY + 3 * 3600 + 60));
    let resp = reqwest::Client::new()
        .post(srv.url(&at_path))
        .json(&serde_json::json!([PV]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[HEADER], "MTS");
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v.get(PV).is_none(), "{v}");

    // Ingest into the first tier goes on while MTS hangs.
    let new_t = DAY + 12 * 3600 + 30;
    srv.store
        .append_event(
            PV,
            ArchDbType::ScalarDouble,
            &ArchiverSample::at(new_t, 0, SampleValue::Double(-1.0)),
        )
        .await
        .unwrap();
    let flushed = tokio::time::timeout(Duration::from_secs(60), srv.store.flush_ingest_writes())
        .await
        .expect("the ingest flush does not wait for MTS")
        .unwrap();
    assert!(flushed.failed.is_empty());
    let (partial, got) = json_samples(&srv, from, to).await;
    assert_eq!(partial.as_deref(), Some("MTS"));
    assert_eq!(got.last(), Some(&(new_t, -1.0)));
    assert_eq!(got.len(), sts_only.len() + 1);

    // Released (the blocked open sees an empty pipe and returns) and the
    // file put back: the tier answers again.
    assert!(fifo.release() >= 1, "a reader was blocked in open");
    drop(fifo);
    std::fs::write(&file, &saved).unwrap();
    let mut expected = all.clone();
    expected.push((new_t, -1.0));
    loop {
        let (partial, got) = json_samples(&srv, from, to).await;
        if partial.is_none() {
            assert_eq!(got, expected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        metric(&srv, "strata_retrieval_tier_blocked_reads", "MTS").await,
        0
    );
    assert_eq!(raw_samples(&srv, from, to).await, (None, expected));
    srv.stop().await;
}
