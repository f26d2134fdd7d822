//! Every post-processor over HTTP, against values computed here
//! independently; deadBand on the Java test files.

mod common;

use std::collections::BTreeMap;

use common::server::{register, TestServer};
use serde_json::Value;
use strata::storage::StoragePlugin;
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

/// 2024-03-15T09:00:00Z, a multiple of 3600.
const T0: i64 = 1_710_493_200;
const N: i64 = 7200;
const PV: &str = "PP:sine";

fn value(i: i64) -> f64 {
    if i == 1234 {
        return 1000.0; // a flyer
    }
    (i as f64 * 0.01).sin() * 10.0 + (i % 7) as f64
}

async fn setup(srv: &TestServer) {
    register(&srv.registry, PV, ArchDbType::ScalarDouble);
    for i in 0..N {
        let s = ArchiverSample::at(T0 + i, 0, SampleValue::Double(value(i)))
            .with_alarm(i32::from(i % 50 == 0), 0);
        srv.store
            .append_event(PV, ArchDbType::ScalarDouble, &s)
            .await
            .unwrap();
    }
    srv.store.flush_writes().await.unwrap();
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn data(srv: &TestServer, pv: &str) -> Vec<Value> {
    let (s, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv={pv}&from={}&to={}",
            iso(T0),
            iso(T0 + N - 1)
        ))
        .await;
    assert_eq!(s, 200, "{pv}: {v}");
    v[0]["data"].as_array().cloned().unwrap_or_default()
}

fn bins() -> BTreeMap<i64, Vec<f64>> {
    let mut b: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for i in 0..N {
        b.entry((T0 + i) / 600).or_default().push(value(i));
    }
    b
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}
fn var(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0)
}
fn popvar(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64
}
fn median(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}
fn kurtosis(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (m, s) = (mean(x), var(x).sqrt());
    let sum4: f64 = x.iter().map(|v| ((v - m) / s).powi(4)).sum();
    n * (n + 1.0) / ((n - 1.0) * (n - 2.0) * (n - 3.0)) * sum4
        - 3.0 * (n - 1.0).powi(2) / ((n - 2.0) * (n - 3.0))
}
fn skewness(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (m, s) = (mean(x), var(x).sqrt());
    let sum3: f64 = x.iter().map(|v| ((v - m) / s).powi(3)).sum();
    n / ((n - 1.0) * (n - 2.0)) * sum3
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_operators_match_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    setup(&srv).await;
    let b = bins();
    type F = fn(&[f64]) -> f64;
    let ops: Vec<(&str, F)> = vec![
        ("mean", mean),
        ("min", |x| x.iter().cloned().fold(f64::INFINITY, f64::min)),
        ("max", |x| x.iter().cloned().fold(f64::NEG_INFINITY, f64::max)),
        ("count", |x| x.len() as f64),
        ("std", |x| var(x).sqrt()),
        ("variance", var),
        ("popvariance", popvar),
        ("median", median),
        ("rms", |x| {
            (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
        }),
        ("jitter", |x| var(x).sqrt() / mean(x)),
        ("sum", |x| x.iter().sum()),
        ("kurtosis", kurtosis),
        ("skewness", skewness),
    ];
    for (op, f) in ops {
        for form in [
            format!("{op}_600({PV})"),
            format!("{op}({PV},600)"),
            format!("{op}Sample_600({PV})"),
        ] {
            let got = data(&srv, &form).await;
            assert_eq!(got.len(), b.len(), "{form}");
            for (d, (bin, xs)) in got.iter().zip(&b) {
                assert_eq!(d["secs"], bin * 600 + 300, "{form}: bin middle");
                assert_eq!(d["nanos"], 0);
                assert_eq!(d["severity"], 1, "{form}: max severity of the bin");
                let v = d["val"].as_f64().unwrap();
                assert!(close(v, f(xs)), "{form} bin {bin}: got {v}, expected {}", f(xs));
            }
        }
    }
    // pp parameter form.
    let (s, v) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv={PV}&pp=mean_600&from={}&to={}",
            iso(T0),
            iso(T0 + N - 1)
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["data"].as_array().unwrap().len(), 12);
    // Default interval 900 s: `mean(PV)`.
    let got = data(&srv, &format!("mean({PV})")).await;
    assert_eq!(got[0]["secs"], (T0 / 900) * 900 + 450);
    // errorbar: mean plus stdz; stats: [mean, std, min, max, N].
    let got = data(&srv, &format!("errorbar_600({PV})")).await;
    let (bin0, xs0) = b.iter().next().unwrap();
    assert!(close(got[0]["val"].as_f64().unwrap(), mean(xs0)));
    let stdz: f64 = got[0]["fields"]["stdz"].as_str().unwrap().parse().unwrap();
    assert!(close(stdz, var(xs0).sqrt()));
    let got = data(&srv, &format!("stats_600({PV})")).await;
    let arr: Vec<f64> = got[0]["val"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(arr.len(), 5);
    assert!(close(arr[0], mean(xs0)) && close(arr[1], var(xs0).sqrt()) && arr[4] == 600.0);
    assert_eq!(got[0]["secs"], bin0 * 600 + 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selecting_and_reducing_operators() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    setup(&srv).await;
    let b = bins();
    let secs = |d: &Value| d["secs"].as_i64().unwrap();
    let val = |d: &Value| d["val"].as_f64().unwrap();
    // firstSample/lastSample keep original timestamps.
    let got = data(&srv, &format!("firstSample_600({PV})")).await;
    assert_eq!(
        got.iter().map(secs).collect::<Vec<_>>(),
        b.keys().map(|k| k * 600).collect::<Vec<_>>()
    );
    let got = data(&srv, &format!("lastSample_600({PV})")).await;
    assert_eq!(
        got.iter().map(secs).collect::<Vec<_>>(),
        b.keys().map(|k| k * 600 + 599).collect::<Vec<_>>()
    );
    assert_eq!(val(&got[0]), value(599));
    // firstFill/lastFill: bin middle, first/last value.
    let got = data(&srv, &format!("firstFill_600({PV})")).await;
    assert_eq!((secs(&got[1]), val(&got[1])), (T0 + 600 + 300, value(600)));
    let got = data(&srv, &format!("lastFill_600({PV})")).await;
    assert_eq!((secs(&got[1]), val(&got[1])), (T0 + 600 + 300, value(1199)));
    // nth: the 1st, 101st, 201st … sample.
    let got = data(&srv, &format!("nth_100({PV})")).await;
    assert_eq!(got.len(), 72);
    assert_eq!((secs(&got[3]), val(&got[3])), (T0 + 300, value(300)));
    // ncount: one sample with the number of samples.
    let got = data(&srv, &format!("ncount({PV})")).await;
    assert_eq!(got.len(), 1);
    assert_eq!(val(&got[0]), N as f64);
    // flyers: the outlier; ignoreflyers: everything else.
    let got = data(&srv, &format!("flyers_600({PV})")).await;
    assert_eq!(got.iter().map(secs).collect::<Vec<_>>(), vec![T0 + 1234]);
    let got = data(&srv, &format!("ignoreflyers_600({PV})")).await;
    assert_eq!(got.len() as i64, N - 1);
    // caplotbinning: first, min, max, last at quarter offsets.
    let got = data(&srv, &format!("caplotbinning_600({PV})")).await;
    assert_eq!(got.len(), 48);
    let xs = &b[&(T0 / 600)];
    assert_eq!((secs(&got[0]), val(&got[0])), (T0, xs[0]));
    assert_eq!(
        (secs(&got[1]), val(&got[1])),
        (T0 + 150, xs.iter().cloned().fold(f64::INFINITY, f64::min))
    );
    assert_eq!(
        (secs(&got[2]), val(&got[2])),
        (T0 + 300, xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
    );
    assert_eq!((secs(&got[3]), val(&got[3])), (T0 + 450, xs[599]));
    // optimized: raw when few samples, else [mean, std, min, max, N] vectors.
    let raw = data(&srv, PV).await;
    let got = data(&srv, &format!("optimized_100000({PV})")).await;
    assert_eq!(got, raw);
    let got = data(&srv, &format!("optimized_5({PV})")).await;
    let interval = (N - 1) / 5;
    let first = got[0]["val"].as_array().unwrap();
    assert_eq!(first.len(), 5);
    let bin_xs: Vec<f64> = (0..N)
        .filter(|i| (T0 + i) / interval == T0 / interval)
        .map(value)
        .collect();
    assert!(close(first[0].as_f64().unwrap(), mean(&bin_xs)));
    assert_eq!(first[4].as_f64().unwrap(), bin_xs.len() as f64);
    let got = data(&srv, &format!("optimLastSample_5({PV})")).await;
    assert_eq!(got[0]["val"].as_array().unwrap().len(), 6);
    // linear and loess: one value per bin at the middle.
    for op in ["linear_600", "loess_600"] {
        let got = data(&srv, &format!("{op}({PV})")).await;
        assert_eq!(got.len(), 12, "{op}");
        assert!(got.iter().all(|d| d["val"].as_f64().unwrap().is_finite()), "{op}");
        assert_eq!(secs(&got[0]), T0 + 300, "{op}");
    }
    // lttb: first and last kept, every point an input sample, about N points.
    let got = data(&srv, &format!("lttb_100({PV})")).await;
    assert!(got.len() <= 102 && got.len() >= 90, "{}", got.len());
    assert_eq!(secs(&got[0]), T0);
    assert_eq!(secs(got.last().unwrap()), T0 + N - 1);
    for d in &got {
        assert_eq!(val(d), value(secs(d) - T0), "lttb point {d}");
    }
    // deadBand over synthetic data: emitted when |Δ| > ADEL.
    let got = data(&srv, &format!("deadBand_5.0({PV})")).await;
    let mut last = value(0);
    let mut expect = vec![T0];
    for i in 1..N {
        if (value(i) - last).abs() > 5.0 || i % 50 == 0 || (i - 1) % 50 == 0 {
            expect.push(T0 + i);
            last = value(i);
        }
    }
    assert_eq!(got.iter().map(secs).collect::<Vec<_>>(), expect);
    // Post-processed raw: SCALAR_DOUBLE chunks with the same values as JSON.
    let bytes = srv
        .get(&format!(
            "/retrieval/data/getData.raw?pv=mean_600({PV})&from={}&to={}",
            iso(T0),
            iso(T0 + N - 1)
        ))
        .await
        .bytes()
        .await
        .unwrap();
    let mut r = strata::plainpb::ChunkReader::new(std::io::Cursor::new(bytes.to_vec()));
    let mut vals = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        match item {
            strata::plainpb::ChunkItem::Header(h) => assert_eq!(h.r#type, 6),
            strata::plainpb::ChunkItem::Sample(s) => vals.push(s.value.as_f64().unwrap()),
        }
    }
    let json: Vec<f64> = data(&srv, &format!("mean_600({PV})"))
        .await
        .iter()
        .map(val)
        .collect();
    assert_eq!(vals, json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadband_reproduces_the_java_adel_signal() {
    let dir = tempfile::tempdir().unwrap();
    // Java layout: LTS/TST/CT{}Sig/1/I:2014.pb, indexed by a rebuild.
    let lts = dir.path().join("lts/TST/CT{}Sig/1");
    std::fs::create_dir_all(&lts).unwrap();
    std::fs::copy(
        common::testdata().join("java/sig1-wo-adel.pb"),
        lts.join("I:2014.pb"),
    )
    .unwrap();
    {
        let mut cfg = strata::config::Config::default();
        cfg.set_data_dir(dir.path());
        std::fs::create_dir_all(&cfg.storage.index_dir).unwrap();
        let kv = strata::index::SledKv::open(&cfg.storage.index_dir).unwrap();
        let index = strata::index::Index::open(&kv).unwrap();
        let reg = strata::registry::Registry::open(&kv).unwrap();
        let scan = strata::rebuild::scan(&cfg.storage, 2, &|_| {});
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        strata::rebuild::apply(
            &cfg.storage,
            &index,
            &reg,
            "appliance0",
            scan,
            std::time::Instant::now(),
        )
        .unwrap();
    }
    let srv = TestServer::start_with(dir.path(), |c| {
        c.retrieval.json_nonfinite = strata::retrieval::format::NonFinite::String
    })
    .await;
    let q = "from=2014-12-10T19:10:00.000Z&to=2014-12-10T19:15:55.000Z";
    let (s, raw) = srv
        .get_json(&format!("/retrieval/data/getData.json?pv=TST-CT{{}}Sig:1-I&{q}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(raw[0]["data"].as_array().unwrap().len(), 37);
    let (s, db) = srv
        .get_json(&format!(
            "/retrieval/data/getData.json?pv=deadBand_2.0(TST-CT{{}}Sig:1-I)&{q}"
        ))
        .await;
    assert_eq!(s, 200);
    let got = db[0]["data"].as_array().unwrap();
    let expected = common::expected("java");
    let sig2 = expected["files"]["sig2-w-adel.pb"]["samples"].as_array().unwrap();
    assert_eq!(got.len(), sig2.len());
    for (g, e) in got.iter().zip(sig2) {
        assert_eq!(g["secs"], e["epoch_seconds"]);
        assert_eq!(g["nanos"], e["nanos"]);
        assert_eq!(g["severity"], e["severity"]);
        assert_eq!(g["status"], e["status"]);
        match (&g["val"], &e["val"]) {
            (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64()),
            (a, b) => assert_eq!(a.to_string().trim_matches('"'), b.as_str().unwrap_or_default()),
        }
    }
}
