//! Issue 13: `strata-pbdump` reads compressed partitions (`.pb.zst`) like
//! plain ones, and `--to-plain` writes a compressed partition back out
//! byte-identical to the plain partition of the same samples.

mod common;

use common::process::run_tool;
use strata::pb::PayloadInfo;
use strata::plainpb::{encode_sample, escape_into, header_line, ZstOptions, ZstWriter};
use strata::types::{ArchDbType, ArchiverSample, SampleValue};

/// 2024-03-01 00:00:00 UTC.
const MAR1: i64 = 1_709_251_200;

#[test]
fn to_plain_is_byte_identical_and_dumps_agree() {
    let dir = tempfile::tempdir().unwrap();
    let header = header_line(&PayloadInfo::for_file(ArchDbType::ScalarDouble, "ZST:dump", 2024));
    let mut lines = Vec::new();
    let mut raw = Vec::new();
    for i in 0..5000i64 {
        // Values whose encoding needs escaping now and then.
        let v = if i % 97 == 0 {
            f64::from_bits(0x0A1B_0D0A_1B0A_0D1B)
        } else {
            (i as f64 * 0.01).sin()
        };
        let s = ArchiverSample::at(MAR1 + i * 7, (i as u32) * 1000, SampleValue::Double(v));
        raw.clear();
        encode_sample(&s, 2024, &mut raw).unwrap();
        escape_into(&raw, &mut lines);
        lines.push(b'\n');
    }
    let plain_path = dir.path().join("ZST:dump:2024.pb");
    let mut plain = header.clone();
    plain.extend_from_slice(&lines);
    std::fs::write(&plain_path, &plain).unwrap();
    let zst_path = dir.path().join("ZST:dump:2024.pb.zst");
    let opts = ZstOptions {
        level: 3,
        frame_bytes: 4096,
    };
    let mut w = ZstWriter::create(
        std::fs::File::create(&zst_path).unwrap(),
        &zst_path,
        &header,
        opts,
    )
    .unwrap();
    w.write_lines(&lines).unwrap();
    w.finish().unwrap();
    let out = dir.path().join("back.pb");
    let tool = env!("CARGO_BIN_EXE_strata-pbdump");
    let (code, _, err) = run_tool(
        tool,
        &["--to-plain", out.to_str().unwrap(), zst_path.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        plain,
        "byte-identical plain partition"
    );
    for format in ["json", "csv"] {
        let (c1, a, _) = run_tool(tool, &["--format", format, plain_path.to_str().unwrap()]);
        let (c2, b, _) = run_tool(tool, &["--format", format, zst_path.to_str().unwrap()]);
        assert_eq!((c1, c2), (0, 0));
        assert_eq!(a, b, "{format} dumps agree");
        assert!(a.lines().count() >= 5000);
    }
}
