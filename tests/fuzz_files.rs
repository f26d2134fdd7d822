//! Fuzzing the parsers that read what others wrote: the PayloadInfo header
//! parser and line escaping, the PB/HTTP chunk parser, the PlainPB file
//! reader (every read path) over mutated files, policies files, and the
//! request time parser. Property: never a panic, never a hang (the
//! watchdog), errors instead of garbage where the format says so.
//!
//! `STRATA_FUZZ_CASES=1000000 cargo test --release --test fuzz_files` is
//! the long mode; `cargo test` runs a quick share.

mod common;

use std::sync::OnceLock;

use common::fuzz::{self, bytes, mutate, mutations, pb_file};
use proptest::prelude::*;
use strata::plainpb::{decode_header, escape_into, unescape_into, ChunkItem, ChunkReader, PbFile};
use strata::types::{ArchDbType, Timestamp};

const T0: i64 = 1_710_495_000;

/// Valid inputs to mutate: files of every type and the Java files.
fn corpus() -> &'static Vec<Vec<u8>> {
    static C: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    C.get_or_init(|| {
        let mut c: Vec<Vec<u8>> = ArchDbType::ALL
            .iter()
            .map(|&ty| pb_file(ty, "FZ:pv", T0, 12))
            .collect();
        for f in ["lrm01_raw.pb", "sig1-wo-adel.pb", "sig2-w-adel.pb"] {
            c.push(std::fs::read(common::testdata().join("java").join(f)).unwrap());
        }
        c
    })
}

/// A PB/HTTP answer of several chunks (two PVs, two years, a waveform).
fn chunked() -> Vec<u8> {
    let mut out = pb_file(ArchDbType::ScalarDouble, "FZ:a", T0 - 86_400 * 365, 5);
    for (ty, pv, t) in [
        (ArchDbType::ScalarDouble, "FZ:a", T0),
        (ArchDbType::WaveformInt, "FZ:b", T0),
        (ArchDbType::ScalarString, "FZ:c", T0),
    ] {
        out.push(b'\n');
        out.extend(pb_file(ty, pv, t, 5));
    }
    out
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => bytes(400),
        4 => (0..corpus().len(), mutations(6)).prop_map(|(i, m)| mutate(&corpus()[i], &m)),
    ]
}

#[test]
fn fuzz_header_parser_and_escaping() {
    let headers: Vec<Vec<u8>> = corpus()
        .iter()
        .map(|f| {
            let end = f.iter().position(|&b| b == b'\n').unwrap_or(f.len());
            let mut raw = Vec::new();
            unescape_into(&f[..end], &mut raw).unwrap();
            raw
        })
        .collect();
    let strategy = prop_oneof![
        bytes(200),
        (0..headers.len(), mutations(4)).prop_map(move |(i, m)| mutate(&headers[i], &m)),
    ];
    fuzz::run("header_parser", 3000, strategy, |raw| {
        // Escaping is lossless for any bytes, and escaped text has no newline.
        let mut esc = Vec::new();
        escape_into(&raw, &mut esc);
        if esc.contains(&b'\n') {
            return Err("escaped bytes hold a newline".into());
        }
        let mut back = Vec::new();
        unescape_into(&esc, &mut back).map_err(|e| format!("own escaping rejected: {e}"))?;
        if back != raw {
            return Err("escape/unescape changed the bytes".into());
        }
        let mut un = Vec::new();
        let _ = unescape_into(&raw, &mut un);
        if let Ok(h) = decode_header(&raw) {
            if let Some(d) = h.to_desc() {
                let again = strata::pb::PayloadInfo::from_desc(&d, h.year);
                let _ = strata::plainpb::header_line(&again);
            }
            let _ = strata::types::year_start(h.year);
        }
        Ok(())
    });
}

#[test]
fn fuzz_chunk_parser() {
    let base = chunked();
    let strategy = prop_oneof![
        1 => bytes(400),
        4 => mutations(8).prop_map(move |m| mutate(&base, &m)),
        2 => input(),
    ];
    fuzz::run("chunk_parser", 3000, strategy, |data| {
        let mut r = ChunkReader::new(&data[..]);
        // Every call consumes a line: more calls than bytes is a loop.
        let mut calls = 0usize;
        loop {
            calls += 1;
            if calls > data.len() + 2 {
                return Err(format!("no progress after {calls} calls"));
            }
            match r.next_item() {
                Ok(None) => break,
                Ok(Some(ChunkItem::Header(h))) => {
                    let _ = h.to_desc();
                }
                Ok(Some(ChunkItem::Sample(s))) => {
                    let _ = s.ts();
                }
                Err((offset, _)) => {
                    if offset > data.len() as u64 {
                        return Err(format!("error offset {offset} beyond {} bytes", data.len()));
                    }
                }
            }
        }
        Ok(())
    });
}

/// Reads `path` through every read path of the file reader.
fn read_everything(path: &std::path::Path, len: usize, probe: i64) -> Result<(), String> {
    let Ok(pb) = PbFile::open(path) else {
        return Ok(());
    };
    let t = Timestamp::new(probe, 0);
    let limit = len + 2;
    let _ = pb.info();
    let _ = pb.count_lines(pb.len());
    let _ = pb.search(t);
    let _ = pb.last_at_or_before(t, true);
    let _ = pb.last_at_or_before(t, false);
    let _ = pb.data_start();
    if let Ok(pb) = PbFile::open(path) {
        if let Ok(mut st) = pb.stream(Some(t), Some(Timestamp::new(probe + 3, 0))) {
            for i in 0.. {
                if i > limit {
                    return Err("stream makes no progress".into());
                }
                match st.next_sample() {
                    Ok(None) => break,
                    Ok(Some(_)) | Err(_) => continue,
                }
            }
        }
    }
    if let Ok(pb) = PbFile::open(path) {
        if let Ok(mut st) = pb.stream(None, None) {
            for i in 0.. {
                if i > limit {
                    return Err("raw stream makes no progress".into());
                }
                match st.next_raw() {
                    Ok(None) => break,
                    Ok(Some(_)) | Err(_) => continue,
                }
            }
            let _ = st.truncated_tail();
        }
    }
    if let Ok(pb) = PbFile::open(path) {
        if let Ok(mut st) = pb.stream(Some(t), None) {
            // As the store does with an index record's size and last time.
            st.set_bulk(len as u64, t);
            let mut n = 0usize;
            let _ = st.copy_rest(&mut |b: &[u8]| {
                n += b.len();
                Ok(())
            });
            if n > len {
                return Err(format!("copied {n} bytes of a {len}-byte file"));
            }
        }
    }
    Ok(())
}

#[test]
fn fuzz_file_reader() {
    let dir = fuzz::scratch_dir();
    let next = std::sync::atomic::AtomicU64::new(0);
    let strategy = (input(), -2i64..20);
    fuzz::run("file_reader", 1500, strategy, |(data, offset)| {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4;
        let path = dir.path().join(format!("f{n}.pb"));
        std::fs::write(&path, &data).map_err(|e| e.to_string())?;
        read_everything(&path, data.len(), T0 + offset)
    });
}

#[test]
fn fuzz_policies_files() {
    let base = strata::mgmt::policy::DEFAULT_POLICIES.as_bytes().to_vec();
    let stores: Vec<String> = ["STS", "MTS", "LTS"].iter().map(|s| s.to_string()).collect();
    let strategy = prop_oneof![
        1 => bytes(300),
        4 => mutations(6).prop_map(move |m| mutate(&base, &m)),
        2 => (
            prop::collection::vec(
                prop::sample::select(&[
                    "[policy.X]\n", "method = \"SCAN\"\n", "method = \"NOPE\"\n", "period = -1\n",
                    "period = 1e309\n", "stores = [\"STS\", \"NOPE\"]\n", "stores = []\n", "[[rule]]\n",
                    "pattern = \"[\"\n", "regex = \"(a+)+$\"\n", "policy = \"X\"\n", "policy = \"missing\"\n",
                    "min_rate = nan\n", "fields = [\"HIHI\", \"\"]\n", "glob = \"**?*\"\n",
                ][..]),
                0..12
            ),
        )
            .prop_map(|(v,)| v.concat().into_bytes()),
    ];
    fuzz::run("policies", 2000, strategy, |text| {
        let text = String::from_utf8_lossy(&text);
        if let Ok(p) = strata::mgmt::policy::Policies::parse(&text, &stores) {
            for pv in ["A:b", "", "é", "SR:BPM01:X"] {
                for rate in [None, Some(0.0), Some(f64::NAN), Some(1e9)] {
                    let _ = p.decide(pv, rate, None);
                    let _ = p.decide(pv, rate, Some("Default"));
                }
            }
            let _ = p.list();
        }
        Ok(())
    });
}

#[test]
fn fuzz_time_parser() {
    use strata::retrieval::time::{format_instant, parse_instant};
    let strategy = prop_oneof![
        common::fuzz::value(),
        any::<String>(),
        (any::<i64>(), 0u32..1_000_000_000)
            .prop_map(|(s, n)| format_instant(Timestamp::new(s % 300_000_000_000, n))),
    ];
    fuzz::run("time_parser", 5000, strategy, |s| {
        if let Some(t) = parse_instant(&s) {
            // What parses formats, and the formatted text parses back to
            // the same instant at millisecond precision.
            let text = format_instant(t);
            if let Some(back) = parse_instant(&text) {
                if back.secs != t.secs || back.nanos / 1_000_000 != t.nanos / 1_000_000 {
                    return Err(format!("{s:?} → {t:?} → {text} → {back:?}"));
                }
            }
        }
        Ok(())
    });
}
