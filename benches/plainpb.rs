//! PlainPB codec throughput: decode and encode of ScalarDouble samples and of
//! 1,000-element WaveformDouble samples, through the real line reader.
//!
//! Criterion measures each case; afterwards one line per figure is printed:
//! `bench <name> <value> <unit>`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use strata::plainpb::{encode_sample, escape_into, SampleStream};
use strata::types::{ArchDbType, ArchiverSample, EventStreamDesc, SampleValue};

const T0: i64 = 1_704_067_200; // 2024-01-01

fn scalar_samples(n: usize) -> Vec<ArchiverSample> {
    (0..n)
        .map(|i| {
            ArchiverSample::at(
                T0 + i as i64,
                (i as u32 * 7919) % 1_000_000_000,
                SampleValue::Double((i as f64 * 0.01).sin()),
            )
        })
        .collect()
}

fn waveform_samples(n: usize) -> Vec<ArchiverSample> {
    (0..n)
        .map(|i| {
            let v = (0..1000).map(|k| ((i * 1000 + k) as f64 * 0.001).cos()).collect();
            ArchiverSample::at(T0 + i as i64, 0, SampleValue::VDouble(v))
        })
        .collect()
}

fn encode_all(samples: &[ArchiverSample], out: &mut Vec<u8>, raw: &mut Vec<u8>) {
    out.clear();
    for s in samples {
        raw.clear();
        encode_sample(s, 2024, raw).expect("in year");
        escape_into(raw, out);
        out.push(b'\n');
    }
}

fn decode_all(bytes: &[u8], ty: ArchDbType) -> usize {
    let desc = EventStreamDesc::new("BENCH:pv", ty, 2024);
    let mut st = SampleStream::from_reader(bytes, 0, PathBuf::from("mem"), desc, None);
    let mut n = 0;
    let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
    while st.next_sample_into(&mut s).expect("valid") {
        black_box(&s);
        n += 1;
    }
    n
}

/// Samples per second of `f` (which processes `n` samples), best of a few runs.
fn rate(n: usize, mut f: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    let deadline = Instant::now() + Duration::from_secs(3);
    for _ in 0..20 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        if Instant::now() > deadline {
            break;
        }
    }
    n as f64 / best.as_secs_f64()
}

fn main() {
    let scalars = scalar_samples(1_000_000);
    let waves = waveform_samples(2_000);
    let (mut buf, mut raw) = (Vec::new(), Vec::new());
    encode_all(&scalars, &mut buf, &mut raw);
    let scalar_bytes = buf.clone();
    encode_all(&waves, &mut buf, &mut raw);
    let wave_bytes = buf.clone();

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    {
        let mut g = c.benchmark_group("plainpb");
        g.throughput(Throughput::Elements(scalars.len() as u64));
        g.bench_function("decode_scalar_double", |b| {
            b.iter(|| decode_all(&scalar_bytes, ArchDbType::ScalarDouble))
        });
        g.bench_function("encode_scalar_double", |b| {
            b.iter(|| encode_all(&scalars, &mut buf, &mut raw))
        });
        g.throughput(Throughput::Elements(waves.len() as u64));
        g.bench_function("decode_waveform_double_1000", |b| {
            b.iter(|| decode_all(&wave_bytes, ArchDbType::WaveformDouble))
        });
        g.bench_function("encode_waveform_double_1000", |b| {
            b.iter(|| encode_all(&waves, &mut buf, &mut raw))
        });
        g.finish();
    }
    c.final_summary();

    let d = rate(scalars.len(), || {
        decode_all(&scalar_bytes, ArchDbType::ScalarDouble);
    });
    println!("bench plainpb_decode_scalar_double {:.1} Msamples/s", d / 1e6);
    let e = rate(scalars.len(), || encode_all(&scalars, &mut buf, &mut raw));
    println!("bench plainpb_encode_scalar_double {:.1} Msamples/s", e / 1e6);
    let d = rate(waves.len(), || {
        decode_all(&wave_bytes, ArchDbType::WaveformDouble);
    });
    println!("bench plainpb_decode_waveform_double_1000 {:.0} samples/s", d);
    let e = rate(waves.len(), || encode_all(&waves, &mut buf, &mut raw));
    println!("bench plainpb_encode_waveform_double_1000 {:.0} samples/s", e);
}
