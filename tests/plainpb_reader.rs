//! File-level reading: binary search, range streams, damaged files.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use strata::plainpb::{encode_sample, escape_into, AppendTarget, Appender, Error, PbFile};
use strata::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

const T0: i64 = 1_710_495_000; // 2024-03-15T09:30:00Z

fn sample(i: i64) -> ArchiverSample {
    // Values chosen so that many encodings contain bytes that need escaping.
    ArchiverSample::at(
        T0 + i * 2,
        (i as u32 % 3) * 13,
        SampleValue::Double(-0.09 * i as f64),
    )
}

fn write_file(path: &Path, n: i64) -> Vec<ArchiverSample> {
    let target = AppendTarget {
        path,
        pv: "TST-CT{}Sig:1-I",
        db_type: ArchDbType::ScalarDouble,
        year: 2024,
        header_extra: None,
    };
    let mut ap = Appender::open(&target, None).unwrap();
    let samples: Vec<_> = (0..n).map(sample).collect();
    let mut buf = Vec::new();
    for s in &samples {
        let mut raw = Vec::new();
        encode_sample(s, 2024, &mut raw).unwrap();
        escape_into(&raw, &mut buf);
        buf.push(b'\n');
    }
    ap.write_raw(&buf).unwrap();
    samples
}

fn collect(path: &Path, from: Option<Timestamp>, to: Option<Timestamp>) -> Vec<Timestamp> {
    let mut st = PbFile::open(path).unwrap().stream(from, to).unwrap();
    let mut out = Vec::new();
    while let Some(s) = st.next_sample().unwrap() {
        out.push(s.ts());
    }
    out
}

#[test]
fn binary_search_finds_at_or_before_in_small_and_large_files() {
    let dir = tempfile::tempdir().unwrap();
    // 20 samples stay under the in-memory threshold, 20,000 use block reads.
    for n in [1, 2, 20, 20_000] {
        let path = dir.path().join(format!("f{n}.pb"));
        let samples = write_file(&path, n);
        let pb = PbFile::open(&path).unwrap();
        let step = (n as usize / 300).max(1);
        for (i, s) in samples.iter().enumerate().step_by(step) {
            let t = s.ts();
            assert_eq!(
                pb.last_at_or_before(t, false).unwrap().map(|x| x.ts()),
                Some(t),
                "n={n} i={i} at"
            );
            let before = pb.last_at_or_before(t, true).unwrap().map(|x| x.ts());
            assert_eq!(
                before,
                i.checked_sub(1).map(|j| samples[j].ts()),
                "n={n} i={i} strictly before"
            );
            let between = Timestamp::new(t.secs + 1, t.nanos);
            assert_eq!(
                pb.last_at_or_before(between, false).unwrap().map(|x| x.ts()),
                Some(t)
            );
        }
        let first = samples[0].ts();
        assert!(pb
            .last_at_or_before(Timestamp::new(first.secs - 1, 0), false)
            .unwrap()
            .is_none());
        let last = samples.last().unwrap().ts();
        assert_eq!(
            pb.last_at_or_before(Timestamp::new(last.secs + 100, 0), true)
                .unwrap()
                .map(|x| x.ts()),
            Some(last)
        );
    }
}

#[test]
fn range_stream_includes_sample_at_or_before_start_and_end_inclusive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pb");
    let samples = write_file(&path, 5000);
    let ts: Vec<_> = samples.iter().map(|s| s.ts()).collect();
    // Start between samples 100 and 101: sample 100 leads.
    let from = Timestamp::new(ts[100].secs + 1, 0);
    let got = collect(&path, Some(from), Some(ts[200]));
    assert_eq!(got, ts[100..=200].to_vec());
    // Start exactly on a sample.
    assert_eq!(collect(&path, Some(ts[300]), Some(ts[300])), vec![ts[300]]);
    // Start before the file.
    assert_eq!(
        collect(&path, Some(Timestamp::new(0, 0)), Some(ts[3])),
        ts[..=3].to_vec()
    );
    // Whole file.
    assert_eq!(collect(&path, None, None), ts);
    // Start after the last sample: only the last sample.
    assert_eq!(
        collect(&path, Some(Timestamp::new(ts[4999].secs + 10, 0)), None),
        vec![ts[4999]]
    );
}

#[test]
fn truncated_tail_is_skipped_reported_and_trimmed_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pb");
    let samples = write_file(&path, 10);
    let good_len = std::fs::metadata(&path).unwrap().len();
    // A crash mid-write leaves part of a record without its newline.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0x08, 0x98, 0xa9])
        .unwrap();
    let mut st = PbFile::open(&path).unwrap().stream(None, None).unwrap();
    let mut n = 0;
    while st.next_sample().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 10);
    assert_eq!(st.truncated_tail(), Some(good_len));
    let info = PbFile::open(&path).unwrap().info().unwrap();
    assert_eq!(info.damaged_tail, Some(good_len));
    assert_eq!(info.last.unwrap().ts(), samples[9].ts());
    let target = AppendTarget {
        path: &path,
        pv: "TST-CT{}Sig:1-I",
        db_type: ArchDbType::ScalarDouble,
        year: 2024,
        header_extra: None,
    };
    let ap = Appender::open(&target, None).unwrap();
    assert_eq!(ap.trimmed, 3);
    assert_eq!(ap.len, good_len);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
}

#[test]
fn bad_bytes_name_file_and_offset_and_reading_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.pb");
    write_file(&path, 3);
    let mut bytes = std::fs::read(&path).unwrap();
    let header_end = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
    let second = header_end + bytes[header_end..].iter().position(|b| *b == b'\n').unwrap() + 1;
    // Replace the second sample line's first byte with an invalid tag.
    bytes[second] = 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let mut st = PbFile::open(&path).unwrap().stream(None, None).unwrap();
    assert!(st.next_sample().unwrap().is_some());
    match st.next_sample() {
        Err(Error::BadSample { path: p, offset, .. }) => {
            assert_eq!(p, path);
            assert_eq!(offset, second as u64);
        }
        other => panic!("expected BadSample, got {other:?}"),
    }
    assert!(st.next_sample().unwrap().is_some());
    assert!(st.next_sample().unwrap().is_none());
}

#[test]
fn appender_refuses_another_pvs_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pb");
    write_file(&path, 2);
    let target = AppendTarget {
        path: &path,
        pv: "OTHER:PV",
        db_type: ArchDbType::ScalarDouble,
        year: 2024,
        header_extra: None,
    };
    assert!(matches!(
        Appender::open(&target, None),
        Err(Error::Mismatch { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn arbitrary_files_never_panic(bytes in prop::collection::vec(prop_oneof![Just(b'\n'), Just(0x1b), any::<u8>()], 0..400), prefix in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pb");
        let mut content = Vec::new();
        if prefix {
            // A valid header followed by garbage exercises the sample paths.
            content.extend_from_slice(&[0x08, 0x06, 0x12, 0x01, b'p', 0x18, 0xe8, 0x0f, b'\n']);
        }
        content.extend_from_slice(&bytes);
        std::fs::write(&path, &content).unwrap();
        if let Ok(pb) = PbFile::open(&path) {
            let _ = pb.info();
            let _ = pb.last_at_or_before(Timestamp::new(T0, 0), true);
            let _ = pb.search(Timestamp::new(T0, 0));
            if let Ok(mut st) = pb.stream(Some(Timestamp::new(T0, 0)), None) {
                for _ in 0..1000 {
                    match st.next_sample() {
                        Ok(None) => break,
                        _ => continue,
                    }
                }
            }
        }
    }
}

#[test]
fn reusing_decoder_agrees_with_owned_decoder() {
    // Alarms, fields, escapes and non-canonical extras mixed with plain lines.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mix.pb");
    let target = AppendTarget::new(&path, "MIX:pv", ArchDbType::ScalarDouble, 2024);
    let mut ap = Appender::open(&target, None).unwrap();
    let mut buf = Vec::new();
    for i in 0..3000i64 {
        let mut s = ArchiverSample::at(
            T0 + i,
            ((i as u64 * 7_919_993) % 1_000_000_000) as u32,
            SampleValue::Double(i as f64 * -0.09),
        );
        if i % 7 == 0 {
            s = s.with_alarm((i % 4) as i32, (i % 20) as i32);
        }
        if i % 97 == 0 {
            s = s.with_field("cnxlostepsecs", "0");
        }
        let mut raw = Vec::new();
        encode_sample(&s, 2024, &mut raw).unwrap();
        escape_into(&raw, &mut buf);
        buf.push(b'\n');
    }
    // Enough escaped lines to exercise the escaped one-pass path.
    assert!(buf.iter().filter(|&&b| b == 0x1B).count() > 100);
    ap.write_raw(&buf).unwrap();
    for from in [None, Some(Timestamp::new(T0 + 1500, 0))] {
        let mut a = PbFile::open(&path)
            .unwrap()
            .stream(from, Some(Timestamp::new(T0 + 2500, 0)))
            .unwrap();
        let mut b = PbFile::open(&path)
            .unwrap()
            .stream(from, Some(Timestamp::new(T0 + 2500, 0)))
            .unwrap();
        let mut reused = ArchiverSample::at(0, 0, SampleValue::Double(0.0)).with_field("stale", "x");
        let mut n = 0;
        while let Some(owned) = a.next_sample().unwrap() {
            assert!(b.next_sample_into(&mut reused).unwrap());
            assert_eq!(reused.ts(), owned.ts());
            assert_eq!(
                reused.value.as_f64().unwrap().to_bits(),
                owned.value.as_f64().unwrap().to_bits()
            );
            assert_eq!((reused.severity, reused.status), (owned.severity, owned.status));
            assert_eq!(reused.field_values(), owned.field_values());
            n += 1;
        }
        assert!(!b.next_sample_into(&mut reused).unwrap());
        assert!(n > 900);
    }
}
