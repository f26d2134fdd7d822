//! End to end: a Java-layout tree → strata-rebuild-index → strata serve;
//! bad files reported, --verify, and recovery after deleting the sled folder.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::process::{run_tool, ServeProcess};
use serde_json::Value;
use strata::plainpb::{encode_sample, escape_into, partition_path, pv_key, AppendTarget, Appender};
use strata::types::{year_of, ArchDbType, ArchiverSample, PartitionGranularity, SampleValue};

const Y2024: i64 = 1_704_067_200;
const REBUILD: &str = env!("CARGO_BIN_EXE_strata-rebuild-index");

/// Writes samples of `pv` into `root` (Java layout, Java file header).
fn write(root: &Path, pv: &str, g: PartitionGranularity, times: &[i64]) -> Vec<(i64, f64)> {
    let key = pv_key(pv);
    let mut out = Vec::new();
    for &t in times {
        let path = partition_path(root, &key, g, t);
        let target = AppendTarget::new(&path, pv, ArchDbType::ScalarDouble, year_of(t));
        let mut ap = Appender::open(&target, None).unwrap();
        let v = (t % 10_000) as f64 / 7.0;
        let mut raw = Vec::new();
        encode_sample(
            &ArchiverSample::at(t, 0, SampleValue::Double(v)),
            year_of(t),
            &mut raw,
        )
        .unwrap();
        let mut line = Vec::new();
        escape_into(&raw, &mut line);
        line.push(b'\n');
        ap.write_raw(&line).unwrap();
        out.push((t, v));
    }
    out
}

struct Tree {
    expected: BTreeMap<&'static str, Vec<(i64, f64)>>,
    bad: Vec<String>,
}

fn build_tree(data: &Path) -> Tree {
    use PartitionGranularity::*;
    let mut expected = BTreeMap::new();
    // Hour partitions across New Year (STS), `:` and `-` in the name.
    let hours: Vec<i64> = (0..6).map(|k| Y2024 - 3600 + k * 1200).collect();
    expected.insert("TST:sig-1", write(&data.join("sts"), "TST:sig-1", Hour, &hours));
    // Day partitions across two years (MTS), `{}` in the name.
    let days: Vec<i64> = (0..4).map(|k| Y2024 - 86_400 - 3600 + k * 43_200).collect();
    expected.insert(
        "LN-AM{RadMon:2}DoseRate-I",
        write(&data.join("mts"), "LN-AM{RadMon:2}DoseRate-I", Day, &days),
    );
    // Year partitions (LTS), plus the real Java file of that PV for 2014.
    let years = [Y2024 - 100 * 86_400, Y2024 + 100 * 86_400];
    expected.insert("X:year:pv", write(&data.join("lts"), "X:year:pv", Year, &years));
    let java = data.join("lts/LN/AM{RadMon/2}DoseRate/I:2014.pb");
    std::fs::create_dir_all(java.parent().unwrap()).unwrap();
    std::fs::copy(common::testdata().join("java/lrm01_raw.pb"), &java).unwrap();
    expected
        .get_mut("LN-AM{RadMon:2}DoseRate-I")
        .unwrap()
        .insert(0, (1_418_019_667, -0.09));
    // Bad files: truncated, garbage, empty.
    let trunc = write(&data.join("sts"), "BAD:trunc", Hour, &[Y2024 + 10, Y2024 + 20]);
    assert_eq!(trunc.len(), 2);
    let tpath = data.join("sts/BAD/trunc:2024_01_01_00.pb");
    let len = std::fs::metadata(&tpath).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tpath)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let gpath = data.join("sts/BAD/garbage:2024_01_01_00.pb");
    std::fs::write(&gpath, b"\xff\xfe this is not a PlainPB file\n\x01\x02\n").unwrap();
    let epath = data.join("sts/BAD/empty:2024_01_01_00.pb");
    std::fs::write(&epath, b"").unwrap();
    Tree {
        expected,
        bad: vec![
            "trunc:2024_01_01_00.pb".into(),
            "garbage:2024_01_01_00.pb".into(),
            "empty:2024_01_01_00.pb".into(),
        ],
    }
}

async fn get(base: &str, path: &str) -> Value {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Everything the endpoints say about the tree (times of creation excluded).
async fn answers(base: &str, tree: &Tree) -> Value {
    let mut out = serde_json::Map::new();
    for pv in tree.expected.keys() {
        let q = format!("pv={}&from=2010-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", enc(pv));
        out.insert(
            format!("data {pv}"),
            get(base, &format!("/retrieval/data/getData.json?{q}")).await,
        );
        out.insert(
            format!("stores {pv}"),
            get(
                base,
                &format!("/mgmt/bpl/getStoresForPV?pv={}&counts=true", enc(pv)),
            )
            .await,
        );
        let mut ti = get(base, &format!("/mgmt/bpl/getPVTypeInfo?pv={}", enc(pv))).await;
        let o = ti.as_object_mut().unwrap();
        o.remove("creationTime");
        o.remove("modificationTime");
        out.insert(format!("typeinfo {pv}"), ti);
    }
    let mut m = get(base, "/mgmt/bpl/getApplianceMetrics").await;
    m[0].as_object_mut()
        .unwrap()
        .retain(|k, _| k.contains("Files") || k.contains("Bytes") || k == "pvCount");
    out.insert("metrics".into(), m);
    out.insert("all".into(), get(base, "/mgmt/bpl/getAllPVs").await);
    Value::Object(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_serve_verify_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let tree = build_tree(data);
    let d = data.to_str().unwrap();

    let (code, out, err) = run_tool(REBUILD, &["--data", d]);
    assert_eq!(code, 0, "{out}\n{err}");
    for bad in &tree.bad {
        assert!(
            out.lines()
                .any(|l| l.starts_with("problem:") && l.contains(bad.as_str())),
            "{bad} not reported:\n{out}"
        );
    }
    assert!(out.contains("byte offset"), "{out}");
    assert!(out.contains("rebuilt: 3 PVs, 8 files"), "{out}");
    // Idempotent.
    let (code, out2, _) = run_tool(REBUILD, &["--data", d]);
    assert_eq!(code, 0);
    assert!(out2.contains("rebuilt: 3 PVs, 8 files"), "{out2}");
    let (code, out, _) = run_tool(REBUILD, &["--data", d, "--verify"]);
    assert_eq!(code, 0, "{out}");

    let srv = ServeProcess::start(data, &[]);
    for (pv, samples) in &tree.expected {
        let q = format!("pv={}&from=2010-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", enc(pv));
        let v = get(&srv.base, &format!("/retrieval/data/getData.json?{q}")).await;
        let got: Vec<(i64, f64)> = v[0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["secs"].as_i64().unwrap(), s["val"].as_f64().unwrap()))
            .collect();
        assert_eq!(&got, samples, "{pv}");
        let ti = get(&srv.base, &format!("/mgmt/bpl/getPVTypeInfo?pv={}", enc(pv))).await;
        assert_eq!(
            ti["paused"], "true",
            "{pv}: PVs found on disk are registered paused"
        );
        assert_eq!(ti["DBRType"], "DBR_SCALAR_DOUBLE");
    }
    // Per-PV counts and whole-appliance totals.
    let files_bytes = |tier: &str, prefix: &str| -> (u64, u64) {
        let mut n = 0;
        let mut b = 0;
        for e in walkdir::WalkDir::new(data.join(tier)).into_iter().flatten() {
            let p = e.path().to_string_lossy().into_owned();
            if e.file_type().is_file() && p.contains(prefix) && !p.contains("/BAD/") {
                n += 1;
                b += e.metadata().unwrap().len();
            }
        }
        (n, b)
    };
    let st = get(
        &srv.base,
        &format!(
            "/mgmt/bpl/getStoresForPV?pv={}&counts=true",
            enc("LN-AM{RadMon:2}DoseRate-I")
        ),
    )
    .await;
    let (n, b) = files_bytes("mts", "/LN/");
    assert_eq!(st["MTS"]["files"], n.to_string());
    assert_eq!(st["MTS"]["bytes"], b.to_string());
    assert_eq!(st["LTS"]["files"], "1");
    let m = get(&srv.base, "/mgmt/bpl/getApplianceMetrics").await;
    for tier in ["sts", "mts", "lts"] {
        let (n, b) = files_bytes(tier, "");
        let t = tier.to_uppercase();
        assert_eq!(m[0][format!("{t}TotalFiles")], n.to_string(), "{t}");
        assert_eq!(m[0][format!("{t}TotalBytes")], b.to_string(), "{t}");
    }
    let before = answers(&srv.base, &tree).await;
    srv.stop();

    // A file deleted behind the index: --verify fails naming it.
    std::fs::remove_file(data.join("lts/X/year/pv:2024.pb")).unwrap();
    let (code, out, _) = run_tool(REBUILD, &["--data", d, "--verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("drift:") && l.contains("pv:2024.pb")),
        "{out}"
    );
    // Put it back (rewrite the same sample) for the recovery check.
    write(
        &data.join("lts"),
        "X:year:pv",
        PartitionGranularity::Year,
        &[Y2024 + 100 * 86_400],
    );
    let (code, out, _) = run_tool(REBUILD, &["--data", d, "--verify"]);
    assert_eq!(code, 0, "{out}");

    // Lose the whole sled folder: a rebuild restores the same answers.
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let (code, out, _) = run_tool(REBUILD, &["--data", d]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("registry: created paused record").count(), 3, "{out}");
    let srv = ServeProcess::start(data, &[]);
    let after = answers(&srv.base, &tree).await;
    srv.stop();
    assert_eq!(before, after);
}

#[test]
fn dry_run_writes_nothing_and_bad_args_fail() {
    let dir = tempfile::tempdir().unwrap();
    build_tree(dir.path());
    let (code, out, _) = run_tool(REBUILD, &["--data", dir.path().to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dry run: 3 PVs, 8 files"), "{out}");
    assert!(!dir.path().join("index").exists());
    let (code, _, err) = run_tool(REBUILD, &["--data", "/x", "--config", "/y"]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot be used with"), "{err}");
}
