//! `strata-pbdump` prints files as JSON Lines and CSV.

mod common;

use std::process::Command;

use serde_json::Value;

fn pbdump(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata-pbdump"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn json_lines_for_a_java_file() {
    let path = common::testdata().join("java/sig1-wo-adel.pb");
    let (ok, out, _) = pbdump(&[path.to_str().unwrap()]);
    assert!(ok);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1 + 37);
    assert_eq!(lines[0]["pvName"], "TST-CT{}Sig:1-I");
    assert_eq!(lines[0]["payloadType"], 6);
    assert_eq!(lines[0]["year"], 2014);
    assert_eq!(lines[0]["elementCount"], 1);
    assert_eq!(lines[0]["headers"]["PREC"], "0");
    assert_eq!(lines[1]["secs"], 1418238633);
    assert_eq!(lines[1]["nanos"], 256370038);
    assert_eq!(lines[1]["val"], 1.0);
    assert_eq!(lines[25]["val"], "NaN");
    assert_eq!(lines[25]["severity"], 3);
    assert_eq!(lines[25]["status"], 17);
    assert_eq!(lines[29]["val"], "Infinity");
    assert_eq!(lines[37]["fields"]["cnxlostepsecs"], "1418238772");
    assert!(lines[1]["fields"].as_object().unwrap().is_empty());
}

#[test]
fn raw_capture_with_two_chunks_and_csv() {
    let path = common::testdata().join("generated/gen_pbhttp_two_years.raw");
    let (ok, out, _) = pbdump(&[path.to_str().unwrap()]);
    assert!(ok);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let headers: Vec<i64> = lines
        .iter()
        .filter(|l| l.get("pvName").is_some())
        .map(|l| l["year"].as_i64().unwrap())
        .collect();
    assert_eq!(headers, vec![2023, 2024]);
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["elementCount"], 1);
    assert!(lines[0]["elementCount"].is_number());
    let (ok, csv, _) = pbdump(&["--format", "csv", path.to_str().unwrap()]);
    assert!(ok);
    assert_eq!(
        csv,
        "1704067198,1.0,0,0,0\n1704067199,2.0,0,0,999999999\n1704067200,3.0,0,0,0\n1704067201,4.0,0,0,0\n"
    );
}

#[test]
fn bytes_and_missing_element_count() {
    let path = common::testdata().join("generated/gen_waveform_byte.pb");
    let (ok, out, _) = pbdump(&["--format", "json", path.to_str().unwrap()]);
    assert!(ok);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines[0]["elementCount"].is_null());
    assert_eq!(
        lines[1]["val"],
        serde_json::json!([104, 101, 108, 108, 111, 10, 0])
    );
    assert_eq!(lines[3]["val"], serde_json::json!([]));
}

#[test]
fn damaged_file_is_reported_with_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pb");
    let mut bytes = std::fs::read(common::testdata().join("java/lrm01_raw.pb")).unwrap();
    bytes.extend_from_slice(&[0x08, 0x01]);
    std::fs::write(&path, &bytes).unwrap();
    let (ok, out, err) = pbdump(&[path.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(out.lines().count(), 2);
    assert!(err.contains("byte offset 84"), "{err}");
    let (ok, _, err) = pbdump(&["/nonexistent/file.pb"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/file.pb"));
}
