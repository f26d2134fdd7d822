use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::plainpb::{encode_sample, escape_into, AppendTarget, Appender, PbFile};
use crate::types::{ArchDbType, SampleValue};

const T0: i64 = 1_710_495_000; // 2024-03-15T09:30:00Z
const PV: &str = "TST-CT{}Sig:1-I";

fn sample(i: i64) -> ArchiverSample {
    // Values and nanos chosen so that many encodings need escaping.
    let s = ArchiverSample::at(T0 + i, (i as u32 % 3) * 13, SampleValue::Double(-0.09 * i as f64));
    match i % 50 {
        7 => s.with_alarm(2, 3),
        11 => s.with_field("cnxlostepsecs", "0").with_field("startup", "true"),
        _ => s,
    }
}

fn lines_of(samples: &[ArchiverSample]) -> Vec<u8> {
    let mut buf = Vec::new();
    for s in samples {
        let mut raw = Vec::new();
        encode_sample(s, 2024, &mut raw).unwrap();
        escape_into(&raw, &mut buf);
        buf.push(b'\n');
    }
    buf
}

/// The plain file the Java-compatible writer produces for `samples`.
fn plain_file(dir: &Path, db_type: ArchDbType, samples: &[ArchiverSample]) -> Vec<u8> {
    let path = dir.join("pv:2024.pb");
    let _ = std::fs::remove_file(&path);
    let target = AppendTarget::new(&path, PV, db_type, 2024);
    let mut ap = Appender::open(&target, None).unwrap();
    ap.write_raw(&lines_of(samples)).unwrap();
    std::fs::read(&path).unwrap()
}

fn split_header(plain: &[u8]) -> (&[u8], &[u8]) {
    let nl = plain.iter().position(|b| *b == b'\n').unwrap();
    plain.split_at(nl + 1)
}

/// Compresses `plain` feeding its lines in pieces of `chunk` lines.
fn compress(plain: &[u8], opts: ZstOptions, chunk: usize) -> (Vec<u8>, FrameTable) {
    let (header, body) = split_header(plain);
    let mut w = ZstWriter::create(Vec::new(), Path::new("x.pb.zst"), header, opts).unwrap();
    let ends: Vec<usize> = body
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let mut a = 0;
    for group in ends.chunks(chunk.max(1)) {
        let b = group[group.len() - 1];
        w.write_lines(&body[a..b]).unwrap();
        a = b;
    }
    w.finish().unwrap()
}

fn open(bytes: &[u8]) -> ZstReader<Cursor<&[u8]>> {
    ZstReader::open(Cursor::new(bytes), bytes.len() as u64, Path::new("x.pb.zst")).unwrap()
}

fn small() -> ZstOptions {
    ZstOptions {
        level: 3,
        frame_bytes: 4096,
    }
}

fn to_plain(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    open(bytes).to_plain(&mut out).unwrap();
    out
}

#[test]
fn round_trip_is_byte_identical_to_the_plain_writer() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<_> = (0..3000).map(sample).collect();
    let plain = plain_file(dir.path(), ArchDbType::ScalarDouble, &samples);
    for (opts, chunk) in [(small(), 1), (small(), 777), (ZstOptions::default(), 10_000)] {
        let (z, table) = compress(&plain, opts, chunk);
        assert!(is_compressed(&z) && !is_compressed(&plain));
        assert_eq!(to_plain(&z), plain);
        assert_eq!(table.samples(), samples.len() as u64);
        assert_eq!(
            table.raw_len() + split_header(&plain).0.len() as u64,
            plain.len() as u64
        );
        let r = open(&z);
        assert!(r.has_table() && r.damaged_tail().is_none());
        assert_eq!(r.table(), &table);
        assert_eq!(r.desc().pv_name, PV);
        // Every sample decodes as from the plain file.
        let mut st = r.stream(None, None).unwrap();
        let mut got = Vec::new();
        while let Some(s) = st.next_sample().unwrap() {
            got.push(s);
        }
        assert_eq!(got, samples);
    }
    let (z, _) = compress(&plain, ZstOptions::default(), 10_000);
    assert!(z.len() * 2 < plain.len(), "{} vs {}", z.len(), plain.len());
}

#[test]
fn standard_zstd_decoders_give_the_plain_file() {
    // The table is a skippable frame: `zstd -d` output is the plain .pb.
    let dir = tempfile::tempdir().unwrap();
    let plain = plain_file(
        dir.path(),
        ArchDbType::ScalarDouble,
        &(0..2000).map(sample).collect::<Vec<_>>(),
    );
    let (z, _) = compress(&plain, small(), 100);
    assert_eq!(zstd::stream::decode_all(Cursor::new(&z)).unwrap(), plain);
}

#[test]
fn frames_split_at_line_boundaries_and_long_lines_stand_alone() {
    let dir = tempfile::tempdir().unwrap();
    let wave: Vec<_> = (0..20)
        .map(|i| {
            let n = if i % 5 == 0 { 1500 } else { 3 };
            ArchiverSample::at(
                T0 + i,
                0,
                SampleValue::VDouble((0..n).map(|k| k as f64 * 0.5).collect()),
            )
        })
        .collect();
    let plain = plain_file(dir.path(), ArchDbType::WaveformDouble, &wave);
    let (z, table) = compress(&plain, small(), 3);
    assert_eq!(to_plain(&z), plain);
    let mut r = open(&z);
    for (i, f) in table.frames.iter().enumerate() {
        let raw = r.read_frame(i).unwrap();
        assert_eq!(raw.iter().filter(|b| **b == b'\n').count() as u32, f.samples);
        // Only a frame holding one line may exceed the target.
        assert!(
            raw.len() <= 4096 || f.samples == 1,
            "frame {i}: {} bytes",
            raw.len()
        );
        assert_eq!(
            f.first,
            wave[table.frames[..i]
                .iter()
                .map(|f| f.samples as usize)
                .sum::<usize>()]
            .ts()
        );
    }
}

#[test]
fn seeking_at_frame_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<_> = (0..5000).map(sample).collect();
    let plain = plain_file(dir.path(), ArchDbType::ScalarDouble, &samples);
    let (z, table) = compress(&plain, small(), 5000);
    assert!(table.frames.len() > 10);
    let index_of = |ts: Timestamp| samples.iter().position(|s| s.ts() == ts).unwrap();
    for (k, f) in table.frames.iter().enumerate() {
        let i = index_of(f.first);
        assert_eq!(table.frame_for(f.first), Some(k));
        let mut r = open(&z);
        // At a frame's first sample: that sample; strictly before it: the
        // previous frame's last sample.
        assert_eq!(r.last_at_or_before(f.first, false).unwrap().unwrap(), samples[i]);
        let before = r.last_at_or_before(f.first, true).unwrap();
        assert_eq!(before, i.checked_sub(1).map(|j| samples[j].clone()));
        // A stream from a frame's first sample starts there; from just
        // before it, at the previous sample.
        let mut st = open(&z).stream(Some(f.first), Some(samples[i + 2].ts())).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| st.next_sample().unwrap()).collect();
        assert_eq!(got, samples[i..=i + 2].to_vec());
        let just_before = Timestamp::new(f.first.secs - 1, 999_999_999);
        let mut st = open(&z).stream(Some(just_before), Some(f.first)).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| st.next_sample().unwrap()).collect();
        let from = i.saturating_sub(1);
        assert_eq!(got, samples[from..=i].to_vec(), "frame {k}");
    }
    let mut r = open(&z);
    let first = samples[0].ts();
    assert_eq!(r.last_at_or_before(first, true).unwrap(), None);
    assert_eq!(
        r.last_at_or_before(Timestamp::MAX, false).unwrap(),
        samples.last().cloned()
    );
    let last = r.last_line().unwrap().unwrap();
    assert!(split_header(&plain)
        .1
        .ends_with(&[last.as_slice(), b"\n"].concat()));
}

#[test]
fn a_missing_table_is_rebuilt_and_a_partial_frame_is_a_damaged_tail() {
    let dir = tempfile::tempdir().unwrap();
    let plain = plain_file(
        dir.path(),
        ArchDbType::ScalarDouble,
        &(0..3000).map(sample).collect::<Vec<_>>(),
    );
    let (z, table) = compress(&plain, small(), 3000);
    // Crash before the table: walking finds the same frames.
    let no_table = &z[..table.data_end as usize];
    let r = open(no_table);
    assert!(!r.has_table() && r.damaged_tail().is_none());
    assert_eq!(r.table(), &table);
    // A corrupt table is ignored the same way.
    let mut bad = z.clone();
    let n = bad.len();
    bad[n - 20] ^= 0xFF;
    assert_eq!(open(&bad).table(), &table);
    assert_eq!(open(&bad).damaged_tail(), Some(table.data_end));
    // Crash inside the last frame: it is dropped and reported.
    let last = table.frames.last().unwrap().offset;
    let cut = &z[..(last as usize + 10)];
    let r = open(cut);
    assert_eq!(r.damaged_tail(), Some(last));
    assert_eq!(r.table().frames, table.frames[..table.frames.len() - 1].to_vec());
    assert_eq!(r.table().data_end, last);
    // Not a compressed partition / no header frame.
    assert!(ZstReader::open(Cursor::new(&plain[..]), plain.len() as u64, Path::new("p")).is_err());
    assert!(ZstReader::open(Cursor::new(&z[..5]), 5, Path::new("p")).is_err());
}

#[test]
fn appending_resumes_after_the_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<_> = (0..4000).map(sample).collect();
    let plain = plain_file(dir.path(), ArchDbType::ScalarDouble, &samples);
    let head = plain_file(dir.path(), ArchDbType::ScalarDouble, &samples[..1500]);
    let (z1, t1) = compress(&head, small(), 1500);
    // Cut the table, continue with the rest, new table.
    let mut file = z1[..t1.data_end as usize].to_vec();
    let before = file.clone();
    let mut cur = Cursor::new(&mut file);
    cur.set_position(t1.data_end);
    let mut w = ZstWriter::resume(cur, Path::new("x"), 2024, t1.clone(), small()).unwrap();
    w.write_lines(&lines_of(&samples[1500..])).unwrap();
    let (_, t2) = w.finish().unwrap();
    assert!(
        file.starts_with(&before),
        "bytes before data_end are never rewritten"
    );
    assert_eq!(&t2.frames[..t1.frames.len()], &t1.frames[..]);
    assert_eq!(to_plain(&file), plain);
    assert_eq!(open(&file).table(), &t2);
    // The table a reader took before the append still reads the old frames.
    let mut old = ZstReader::with_table(
        Cursor::new(&file[..]),
        file.len() as u64,
        Path::new("x"),
        t1.clone(),
    )
    .unwrap();
    assert_eq!(
        old.read_frame(t1.frames.len() - 1).unwrap(),
        open(&z1).read_frame(t1.frames.len() - 1).unwrap()
    );
    // Times must keep increasing across the append.
    let mut cur = Cursor::new(Vec::new());
    cur.set_position(t2.data_end);
    let mut w = ZstWriter::resume(cur, Path::new("x"), 2024, t2, small()).unwrap();
    assert!(w.write_lines(&lines_of(&samples[..1])).is_err());
    assert!(w.write_lines(b"no newline").is_err());
}

#[test]
fn an_empty_partition_has_a_header_and_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let plain = plain_file(dir.path(), ArchDbType::ScalarDouble, &[]);
    let (z, t) = compress(&plain, small(), 1);
    assert!(t.frames.is_empty() && t.data_start == t.data_end);
    let mut r = open(&z);
    assert!(r.has_table());
    assert_eq!(r.last_line().unwrap(), None);
    assert_eq!(r.last_at_or_before(Timestamp::MAX, false).unwrap(), None);
    assert_eq!(to_plain(&z), plain);
    assert!(ZstWriter::create(Vec::new(), Path::new("x"), b"no newline", small()).is_err());
}

#[test]
fn a_compressed_partition_streams_like_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<_> = (0..3000).map(sample).collect();
    let plain = plain_file(dir.path(), ArchDbType::ScalarDouble, &samples);
    let (z, _) = compress(&plain, small(), 3000);
    let path = dir.path().join("pv:2024.pb");
    for (from, to) in [(100, 200), (0, 2999), (1234, 1234), (2990, 5000)] {
        let (f, t) = (Timestamp::new(T0 + from, 5), Timestamp::new(T0 + to, 0));
        let mut a = PbFile::open(&path).unwrap().stream(Some(f), Some(t)).unwrap();
        let mut b = open(&z).stream(Some(f), Some(t)).unwrap();
        let xs: Vec<_> = std::iter::from_fn(|| a.next_sample().unwrap()).collect();
        let ys: Vec<_> = std::iter::from_fn(|| b.next_sample().unwrap()).collect();
        assert_eq!(xs, ys, "{from}..{to}");
    }
}

/// Long streams decompress the next frame on another thread: every
/// sample arrives once, in order, and a damaged frame further on is an
/// error when its turn comes, never a silent end of the stream.
#[test]
fn read_ahead_keeps_order_and_reports_a_damaged_frame() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<_> = (0..3000).map(sample).collect();
    let plain = plain_file(dir.path(), ArchDbType::ScalarDouble, &samples);
    let (z, table) = compress(&plain, small(), 3000);
    assert!(table.frames.len() > 10, "{} frames", table.frames.len());
    let mut st = open(&z).stream(None, None).unwrap();
    let got: Vec<_> = std::iter::from_fn(|| st.next_sample().unwrap()).collect();
    assert_eq!(got, samples);

    let mut bad = z.clone();
    let k = table.frames.len() - 3;
    let mid = table.frames[k].offset as usize + 20;
    bad[mid] ^= 0xff;
    bad[mid + 1] ^= 0xff;
    let mut st = ZstReader::with_table(
        Cursor::new(&bad[..]),
        bad.len() as u64,
        Path::new("x.pb.zst"),
        table,
    )
    .unwrap()
    .stream(None, None)
    .unwrap();
    let mut n = 0;
    let err = loop {
        match st.next_sample() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("stream ended after {n} samples without reporting the damaged frame"),
            Err(e) => break e,
        }
    };
    assert!(n > 0 && n < samples.len(), "{n}");
    assert!(err.to_string().contains("x.pb.zst"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any increasing samples, any frame size, any feeding: the plain file
    /// comes back byte for byte and every sample is found by time.
    #[test]
    fn round_trip_any_frames(
        gaps in prop::collection::vec((1i64..5000, 0u32..1_000_000_000), 1..300),
        values in prop::collection::vec(any::<f64>(), 300),
        frame_bytes in 16usize..3000,
        chunk in 1usize..50,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut secs = T0;
        let samples: Vec<_> = gaps.iter().zip(&values).map(|((g, n), v)| {
            secs += g;
            ArchiverSample::at(secs, *n, SampleValue::Double(*v))
        }).collect();
        let plain = plain_file(dir.path(), ArchDbType::ScalarDouble, &samples);
        let (z, table) = compress(&plain, ZstOptions { level: 1, frame_bytes }, chunk);
        prop_assert_eq!(to_plain(&z), plain);
        prop_assert_eq!(table.samples(), samples.len() as u64);
        let mut r = open(&z);
        for s in samples.iter().step_by(7) {
            let got = r.last_at_or_before(s.ts(), false).unwrap();
            prop_assert_eq!(got.map(|g| g.ts()), Some(s.ts()));
        }
    }
}
