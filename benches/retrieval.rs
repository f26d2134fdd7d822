//! Retrieval over HTTP (in-process server on 127.0.0.1). Prints
//! `bench <name> <value> <unit>` lines. Data: one PV, 30 days at 1 Hz in
//! daily partitions; and a year at 10 Hz for the memory figure (set
//! `STRATA_BENCH_RSS_DAYS` to shorten it).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::app::{App, EngineChoice};
use strata::config::Config;
use strata::engine::NullEngine;
use strata::plainpb::{encode_sample, escape_into, AppendTarget, Appender};
use strata::registry::Registry;
use strata::retrieval::format::Format;
use strata::retrieval::DataQuery;
use strata::retrieval::Retrieval;
use strata::types::{ArchDbType, ArchiverSample, PartitionGranularity, SampleValue, Timestamp};

const Y2024: i64 = 1_704_067_200;

/// Writes `n` samples at `hz` from `start` into partition files of
/// `granularity` under `root` (Java layout), without going through the store.
fn write_files(root: &Path, pv: &str, start: i64, n: u64, hz: u32, granularity: PartitionGranularity) {
    let key = strata::plainpb::pv_key(pv);
    let mut current: Option<(i64, Appender)> = None;
    let mut buf = Vec::with_capacity(8 << 20);
    let mut raw = Vec::new();
    for i in 0..n {
        let secs = start + (i / u64::from(hz)) as i64;
        let nanos = ((i % u64::from(hz)) as u32) * (1_000_000_000 / hz) + 12_345;
        let part = granularity.partition_start(secs);
        if current.as_ref().is_none_or(|(p, _)| *p != part) {
            if let Some((_, mut ap)) = current.take() {
                ap.write_raw(&buf).expect("write");
                buf.clear();
            }
            let path = strata::plainpb::partition_path(root, &key, granularity, secs);
            let year = strata::types::year_of(secs);
            let target = AppendTarget::new(&path, pv, ArchDbType::ScalarDouble, year);
            current = Some((part, Appender::open(&target, None).expect("open")));
        }
        let s = ArchiverSample::at(secs, nanos, SampleValue::Double((i as f64 * 0.001).sin()));
        raw.clear();
        encode_sample(&s, strata::types::year_of(secs), &mut raw).expect("encode");
        escape_into(&raw, &mut buf);
        buf.push(b'\n');
        if buf.len() >= 8 << 20 {
            if let Some((_, ap)) = current.as_mut() {
                ap.write_raw(&buf).expect("write");
            }
            buf.clear();
        }
    }
    if let Some((_, mut ap)) = current.take() {
        ap.write_raw(&buf).expect("write");
    }
}

struct Server {
    base: String,
    retrieval: Retrieval,
}

/// Indexes the files under `dir` as `strata-rebuild-index` does, then opens
/// the appliance in process (no engine) as `strata serve` opens it.
async fn serve(dir: &Path) -> Server {
    let mut cfg = Config::default();
    cfg.set_data_dir(dir);
    cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
    {
        let kv = strata::app::open_kv(&cfg.storage).expect("sled");
        let index = strata::index::Index::open(&kv).expect("index");
        let reg = Registry::open(&kv).expect("registry");
        let scan = strata::rebuild::scan(&cfg.storage, 2, &|_| {});
        strata::rebuild::apply(&cfg.storage, &index, &reg, "appliance0", scan, Instant::now())
            .expect("rebuild");
    }
    let app = App::open(cfg, EngineChoice::Given(Arc::new(NullEngine)))
        .await
        .expect("open");
    let srv = Server {
        base: format!("http://{}", app.addr()),
        retrieval: app.state().retrieval.clone(),
    };
    tokio::spawn(async move {
        app.serve(std::future::pending()).await.expect("serve");
    });
    srv
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Streams a response, returning (bytes, seconds).
async fn fetch(client: &reqwest::Client, url: &str) -> (u64, f64) {
    let t = Instant::now();
    let mut resp = client.get(url).send().await.expect("request");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let mut n = 0u64;
    while let Some(chunk) = resp.chunk().await.expect("body") {
        n += chunk.len() as u64;
    }
    (n, t.elapsed().as_secs_f64())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn bench_30d() {
    let dir = tempfile::tempdir().expect("tmp");
    let pv = "BENCH:RET:30d";
    let n = 30 * 86_400u64;
    write_files(
        &dir.path().join("mts"),
        pv,
        Y2024,
        n,
        1,
        PartitionGranularity::Day,
    );
    let srv = serve(dir.path()).await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_zstd()
        .build()
        .expect("client");
    let range = format!("from={}&to={}", iso(Y2024), iso(Y2024 + n as i64));
    let mut best = f64::MAX;
    for _ in 0..3 {
        best = best.min(
            fetch(
                &client,
                &format!("{}/retrieval/data/getData.raw?pv={pv}&{range}", srv.base),
            )
            .await
            .1,
        );
    }
    println!("bench getdata_raw_30d {:.0} samples/s", n as f64 / best);
    let mut best = f64::MAX;
    for _ in 0..3 {
        best = best.min(
            fetch(
                &client,
                &format!("{}/retrieval/data/getData.json?pv={pv}&{range}", srv.base),
            )
            .await
            .1,
        );
    }
    println!("bench getdata_json_30d {:.0} samples/s", n as f64 / best);
    // The same response written to a sink, without HTTP (diagnostic).
    let query = DataQuery {
        pvs: vec![srv.retrieval.pv_request(pv, None, false).expect("pv")],
        ranges: vec![(Timestamp::new(Y2024, 0), Timestamp::new(Y2024 + n as i64, 0))],
        format: Format::Json,
        fetch_latest_metadata: false,
    };
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        let stats = srv.retrieval.run(&query, std::io::sink()).expect("run");
        assert!(stats.samples >= n);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("bench getdata_json_30d_nohttp {:.0} samples/s", n as f64 / best);
    let mut lat = Vec::new();
    for i in 0..200 {
        let from = Y2024 + (i * 3571 % (29 * 86_400)) as i64;
        let url = format!(
            "{}/retrieval/data/getData.json?pv={pv}&from={}&to={}",
            srv.base,
            iso(from),
            iso(from + 3600)
        );
        lat.push(fetch(&client, &url).await.1);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    println!("bench getdata_json_1h_p50 {:.2} ms", lat[lat.len() / 2] * 1e3);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let url = format!(
            "{}/retrieval/data/getData.json?pv=mean_600({pv})&{range}",
            srv.base
        );
        best = best.min(fetch(&client, &url).await.1);
    }
    println!("bench mean600_30d {:.0} samples/s", n as f64 / best);
}

async fn bench_rss() {
    let days: u64 = std::env::var("STRATA_BENCH_RSS_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(365);
    let dir = tempfile::tempdir().expect("tmp");
    let pv = "BENCH:RET:10hz";
    let n = days * 86_400 * 10;
    eprintln!("writing {days} days at 10 Hz ({n} samples)…");
    let _ = std::io::stderr().flush();
    write_files(
        &dir.path().join("lts"),
        pv,
        Y2024,
        n,
        10,
        PartitionGranularity::Year,
    );
    let srv = serve(dir.path()).await;
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_zstd()
        .build()
        .expect("client");
    let idle = rss_kib();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(idle));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let url = format!(
        "{}/retrieval/data/getData.raw?pv={pv}&from={}&to={}",
        srv.base,
        iso(Y2024),
        iso(Y2024 + (days * 86_400) as i64)
    );
    let (bytes, secs) = fetch(&client, &url).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();
    let above = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(idle);
    eprintln!("streamed {bytes} bytes in {secs:.1} s");
    println!("bench peak_rss_year_10hz {:.1} MiB", above as f64 / 1024.0);
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if run("getdata_30d") || run("mean600") {
        rt.block_on(bench_30d());
    }
    if run("peak_rss") {
        rt.block_on(bench_rss());
    }
}
