//! `getData.json` and `getData.qw`, with the Java appliance's text layout:
//!
//! ```text
//! [
//! { "meta": { "name": "ROOT:SUB:pv" , "EGU": "mm" , "PREC": "3" },
//! "data": [
//! { "secs": 1710495000, "val": 1.5, "nanos": 500000000, "severity":0, "status":0 },
//! { "secs": 1710495010, "val": -0.09, "nanos": 0, "severity":2, "status":3 }
//! ] }
//!  ]
//! ```
//! Meta values are JSON-escaped (Java does not escape them; a deliberate fix).

use std::io::{self, Write};

use super::value::{push_json_string, push_value_json};
use super::{FormatWriter, NonFinite};
use crate::types::{ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

const FLUSH_AT: usize = 32 * 1024;

/// Output bytes on their way to the writer: a block zeroed once, so each
/// sample's text is formatted straight into place (no per-sample copy).
struct OutBuf {
    b: Box<[u8]>,
    len: usize,
}

impl OutBuf {
    fn new() -> Self {
        OutBuf {
            b: vec![0; FLUSH_AT + 2 * LINE_MAX].into_boxed_slice(),
            len: 0,
        }
    }

    /// Makes room for `extra` more bytes.
    fn reserve(&mut self, extra: usize) {
        if self.len + extra > self.b.len() {
            let mut v = std::mem::take(&mut self.b).into_vec();
            v.resize((self.len + extra).max(2 * v.len()), 0);
            self.b = v.into_boxed_slice();
        }
    }

    #[inline]
    fn extend_from_slice(&mut self, d: &[u8]) {
        self.reserve(d.len());
        self.b[self.len..self.len + d.len()].copy_from_slice(d);
        self.len += d.len();
    }

    fn push(&mut self, c: u8) {
        self.extend_from_slice(&[c]);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_slice(&self) -> &[u8] {
        &self.b[..self.len]
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// The next [`LINE_MAX`] bytes, to format into; [`OutBuf::advance`]
    /// then keeps what was written.
    #[inline]
    fn slot(&mut self) -> &mut [u8] {
        self.reserve(LINE_MAX);
        &mut self.b[self.len..self.len + LINE_MAX]
    }

    #[inline]
    fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

/// JSON writer.
pub struct JsonWriter<W> {
    out: W,
    buf: OutBuf,
    /// Text of the rarer pieces (meta, strings, fields) before it joins `buf`.
    tmp: String,
    nonfinite: NonFinite,
    pvs: usize,
    samples_in_pv: usize,
}

impl<W: Write> JsonWriter<W> {
    /// Writer over `out`.
    pub fn new(out: W, nonfinite: NonFinite) -> Self {
        JsonWriter {
            out,
            buf: OutBuf::new(),
            tmp: String::new(),
            nonfinite,
            pvs: 0,
            samples_in_pv: 0,
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(self.buf.as_slice())?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Appends what `f` writes into a string.
    fn text(&mut self, f: impl FnOnce(&mut String)) {
        self.tmp.clear();
        f(&mut self.tmp);
        self.buf.extend_from_slice(self.tmp.as_bytes());
    }

    /// `{ "meta": … },\n"data": [ \n` for a PV; `extra_meta` goes after the headers.
    fn start_pv(&mut self, name: &str, meta: &EventStreamDesc, extra_meta: &str) {
        if self.pvs > 0 {
            self.buf.extend_from_slice(b",\n");
        }
        self.pvs += 1;
        self.samples_in_pv = 0;
        self.text(|t| {
            push_meta(t, name, meta);
            t.push_str(extra_meta);
        });
        self.buf.extend_from_slice(b"},\n\"data\": [ \n");
    }
}

pub(crate) fn push_meta(buf: &mut String, name: &str, meta: &EventStreamDesc) {
    buf.push_str("{ \"meta\": { \"name\": ");
    push_json_string(buf, name);
    buf.push(' ');
    for (k, v) in &meta.headers {
        if v.is_empty() || k == "name" {
            continue;
        }
        buf.push_str(", ");
        push_json_string(buf, k);
        buf.push_str(": ");
        push_json_string(buf, v);
        buf.push(' ');
    }
}

pub(crate) fn push_fields(buf: &mut String, s: &ArchiverSample) {
    if !s.has_fields() {
        return;
    }
    buf.push_str(", \"fields\": { ");
    for (i, (k, v)) in s.field_values().iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        push_json_string(buf, k);
        buf.push_str(": ");
        push_json_string(buf, v);
    }
    buf.push('}');
}

/// Longest text of one sample on the fast path (scalar value, no fields).
const LINE_MAX: usize = 192;

/// One sample's text, formatted in place in the output buffer. Literal
/// pieces have sizes known at compile time and become plain moves.
/// Invariant: callers write at most [`LINE_MAX`] bytes.
struct Line<'a> {
    b: &'a mut [u8],
    n: usize,
}

/// `PAIRS[n]` is the two-digit text of `n`.
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

impl Line<'_> {
    #[inline(always)]
    fn lit<const N: usize>(&mut self, s: &[u8; N]) {
        self.b[self.n..self.n + N].copy_from_slice(s);
        self.n += N;
    }

    /// Appends a short slice; up to 32 bytes take fixed-size (overlapping)
    /// copies, which compile to a few moves instead of a `memcpy` call.
    #[inline(always)]
    fn short(&mut self, s: &[u8]) {
        let (n, len) = (self.n, s.len());
        let dst = &mut self.b[n..n + len];
        if len > 32 {
            dst.copy_from_slice(s);
        } else if len >= 16 {
            dst[..16].copy_from_slice(&s[..16]);
            dst[len - 16..].copy_from_slice(&s[len - 16..]);
        } else if len >= 8 {
            dst[..8].copy_from_slice(&s[..8]);
            dst[len - 8..].copy_from_slice(&s[len - 8..]);
        } else {
            dst.copy_from_slice(s);
        }
        self.n += len;
    }

    /// Decimal digits of `v`, written in place from the right.
    #[inline]
    fn uint(&mut self, mut v: u64) {
        let len = v.checked_ilog10().map_or(1, |l| l as usize + 1);
        let digits = &mut self.b[self.n..self.n + len];
        let mut pairs = digits.rchunks_exact_mut(2);
        for pair in &mut pairs {
            pair.copy_from_slice(&PAIRS[(v % 100) as usize]);
            v /= 100;
        }
        if let [d] = pairs.into_remainder() {
            *d = b'0' + v as u8;
        }
        self.n += len;
    }

    #[inline]
    fn int(&mut self, v: i64) {
        if v < 0 {
            self.lit(b"-");
        }
        self.uint(v.unsigned_abs());
    }

    /// A finite double in Java's `Double.toString` form when that is an
    /// integer below 10^7 or plain decimal; `false` for the other forms.
    #[inline]
    fn java_double(&mut self, v: f64) -> bool {
        let a = v.abs();
        if v == 0.0 {
            if v.is_sign_negative() {
                self.lit(b"-0.0");
            } else {
                self.lit(b"0.0");
            }
        } else if a < 1e7 && v == v.trunc() {
            self.int(v as i64);
            self.lit(b".0");
        } else if (1e-3..1e7).contains(&a) {
            // Same rule as `java::push_double`: the shortest round-trip
            // digits in plain decimal are Java's text here. zmij prints
            // them as ryu does (fixed notation for this range), faster.
            let mut z = zmij::Buffer::new();
            self.short(z.format_finite(v).as_bytes());
        } else {
            return false;
        }
        true
    }
}

impl<W: Write> FormatWriter for JsonWriter<W> {
    fn begin(&mut self) -> io::Result<()> {
        self.buf.extend_from_slice(b"[ \n");
        Ok(())
    }

    fn begin_pv(&mut self, name: &str, meta: &EventStreamDesc) -> io::Result<()> {
        self.start_pv(name, meta, "");
        Ok(())
    }

    fn sample(&mut self, s: &ArchiverSample, desc: &EventStreamDesc) -> io::Result<()> {
        self.sample_at(s, s.ts(), desc)
    }

    fn sample_at(&mut self, s: &ArchiverSample, ts: Timestamp, _desc: &EventStreamDesc) -> io::Result<()> {
        let first = self.samples_in_pv == 0;
        self.samples_in_pv += 1;
        let mut l = Line {
            b: self.buf.slot(),
            n: 0,
        };
        if !first {
            l.lit(b",\n");
        }
        l.lit(b"{ \"secs\": ");
        l.int(ts.secs);
        l.lit(b", \"val\": ");
        let fast_value = !s.has_fields()
            && match &s.value {
                SampleValue::Double(x) => l.java_double(*x),
                SampleValue::Short(x) | SampleValue::Enum(x) => {
                    l.int(i64::from(*x));
                    true
                }
                SampleValue::Int(x) => {
                    l.int(i64::from(*x));
                    true
                }
                SampleValue::Byte(x) => {
                    l.int(i64::from(*x));
                    true
                }
                _ => false,
            };
        if !fast_value {
            // Any other value or a sample with fields: the general path.
            let n = l.n;
            self.buf.advance(n);
            let nf = self.nonfinite;
            self.text(|t| {
                push_value_json(t, &s.value, nf);
                t.push_str(", \"nanos\": ");
                t.push_str(itoa::Buffer::new().format(ts.nanos));
                t.push_str(", \"severity\":");
                t.push_str(itoa::Buffer::new().format(s.severity));
                t.push_str(", \"status\":");
                t.push_str(itoa::Buffer::new().format(s.status));
                push_fields(t, s);
                t.push_str(" }");
            });
            return self.spill();
        }
        l.lit(b", \"nanos\": ");
        l.uint(u64::from(ts.nanos));
        if s.severity == 0 && s.status == 0 {
            l.lit(b", \"severity\":0, \"status\":0 }");
        } else {
            l.lit(b", \"severity\":");
            l.int(i64::from(s.severity));
            l.lit(b", \"status\":");
            l.int(i64::from(s.status));
            l.lit(b" }");
        }
        let n = l.n;
        self.buf.advance(n);
        self.spill()
    }

    fn end_pv(&mut self) -> io::Result<()> {
        if self.samples_in_pv > 0 {
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(b"] }");
        self.spill()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.pvs > 0 {
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(b" ]\n");
        self.out.write_all(self.buf.as_slice())?;
        self.buf.clear();
        self.out.flush()
    }
}

/// `qw` writer: `{ "millis": …, "val": … }`, `null` for non-finite values,
/// `"waveform": true|false` in meta.
pub struct QwWriter<W> {
    inner: JsonWriter<W>,
}

impl<W: Write> QwWriter<W> {
    /// Writer over `out`.
    pub fn new(out: W) -> Self {
        QwWriter {
            inner: JsonWriter::new(out, NonFinite::Null),
        }
    }
}

impl<W: Write> FormatWriter for QwWriter<W> {
    fn begin(&mut self) -> io::Result<()> {
        self.inner.begin()
    }

    fn begin_pv(&mut self, name: &str, meta: &EventStreamDesc) -> io::Result<()> {
        let extra = if meta.db_type.is_waveform() {
            ", \"waveform\": true "
        } else {
            ", \"waveform\": false "
        };
        self.inner.start_pv(name, meta, extra);
        Ok(())
    }

    fn sample(&mut self, s: &ArchiverSample, _desc: &EventStreamDesc) -> io::Result<()> {
        let j = &mut self.inner;
        let first = j.samples_in_pv == 0;
        j.samples_in_pv += 1;
        let ms = Timestamp::from_system_time(s.timestamp).millis();
        j.text(|t| {
            if !first {
                t.push_str(",\n");
            }
            t.push_str("{ \"millis\": ");
            t.push_str(itoa::Buffer::new().format(ms));
            t.push_str(", \"val\": ");
            push_value_json(t, &s.value, NonFinite::Null);
            push_fields(t, s);
            t.push_str(" }");
        });
        j.spill()
    }

    fn end_pv(&mut self) -> io::Result<()> {
        self.inner.end_pv()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ArchDbType;

    /// The sample text as the general path builds it.
    fn reference(s: &ArchiverSample) -> String {
        let ts = s.ts();
        let mut t = String::from("{ \"secs\": ");
        t.push_str(&ts.secs.to_string());
        t.push_str(", \"val\": ");
        push_value_json(&mut t, &s.value, NonFinite::Bare);
        t.push_str(&format!(
            ", \"nanos\": {}, \"severity\":{}, \"status\":{}",
            ts.nanos, s.severity, s.status
        ));
        push_fields(&mut t, s);
        t.push_str(" }");
        t
    }

    #[test]
    fn texts_larger_than_the_buffer_are_written_whole() {
        let big = "x".repeat(3 * FLUSH_AT + 17);
        let samples: Vec<ArchiverSample> = (0..2000)
            .map(|i| {
                if i % 500 == 7 {
                    ArchiverSample::at(i, 0, SampleValue::String(big.clone()))
                } else {
                    ArchiverSample::at(i, 0, SampleValue::Double(i as f64 / 7.0))
                }
            })
            .collect();
        let text = written(&samples);
        let expected: Vec<String> = samples.iter().map(reference).collect();
        assert!(text.contains(&expected.join(",\n")));
        assert_eq!(text.matches(big.as_str()).count(), 4);
    }

    #[test]
    fn plain_range_doubles_match_the_java_text() {
        // Random non-integers in [1e-3, 1e7), both signs, against
        // `java::push_double` (ryu), which the golden tests pin to Java.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut n = 0;
        while n < 200_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let v = f64::from_bits(rng);
            let a = v.abs();
            if !(1e-3..1e7).contains(&a) || v == v.trunc() {
                // Map into the range keeping the random mantissa.
                let m = f64::from_bits((rng & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
                let e = (rng >> 52) % 33;
                let w = m * 2f64.powi(e as i32 - 9) * if rng >> 63 == 1 { -1.0 } else { 1.0 };
                if !(1e-3..1e7).contains(&w.abs()) || w == w.trunc() {
                    continue;
                }
                check_double(w);
            } else {
                check_double(v);
            }
            n += 1;
        }
        for v in [
            0.001,
            0.0010000000000000002,
            9_999_999.5,
            9_999_999.999999998,
            0.1,
            0.2,
            0.3,
            1.0 / 3.0,
        ] {
            check_double(v);
            check_double(-v);
        }
    }

    fn check_double(v: f64) {
        let mut b = [0u8; LINE_MAX];
        let mut l = Line { b: &mut b, n: 0 };
        assert!(l.java_double(v));
        let mut want = String::new();
        crate::types::java::push_double(&mut want, v);
        assert_eq!(std::str::from_utf8(&l.b[..l.n]).unwrap(), want, "{v:e}");
    }

    fn written(samples: &[ArchiverSample]) -> String {
        let mut out = Vec::new();
        let desc = EventStreamDesc::new("P", ArchDbType::ScalarDouble, 2024);
        let mut w = JsonWriter::new(&mut out, NonFinite::Bare);
        w.begin().unwrap();
        w.begin_pv("P", &desc).unwrap();
        for s in samples {
            w.sample(s, &desc).unwrap();
        }
        w.end_pv().unwrap();
        w.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fast_path_matches_general_text() {
        let doubles = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            9_999_999.0,
            10_000_000.0,
            1e7 + 0.5,
            123_456_789.0,
            0.001,
            0.000_999,
            -0.09,
            1.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            std::f64::consts::PI,
            -2.5e-5,
        ];
        let mut samples = Vec::new();
        for (i, d) in doubles.iter().enumerate() {
            samples.push(ArchiverSample::at(
                1_704_067_200 + i as i64,
                (i as u32) * 7_654_321,
                SampleValue::Double(*d),
            ));
        }
        let secs = [
            0i64,
            9,
            10,
            99,
            100,
            101,
            999_999_999,
            1_000_000_000,
            -1,
            -86_400,
            4_102_444_800,
        ];
        for (i, t) in secs.iter().enumerate() {
            samples.push(ArchiverSample::at(
                *t,
                [0, 1, 9, 10, 999_999_999][i % 5],
                SampleValue::Int(-(i as i32) * 1000),
            ));
        }
        samples.push(ArchiverSample::at(5, 0, SampleValue::Short(i16::MIN)).with_alarm(2, 17));
        samples.push(ArchiverSample::at(6, 0, SampleValue::Enum(3)).with_alarm(3, 100));
        samples.push(ArchiverSample::at(7, 0, SampleValue::Byte(-128)));
        samples.push(ArchiverSample::at(8, 0, SampleValue::Float(0.1)));
        samples.push(ArchiverSample::at(9, 0, SampleValue::String("a\"b".into())));
        samples.push(ArchiverSample::at(10, 0, SampleValue::Double(2.5)).with_field("HIHI", "4"));
        samples.push(ArchiverSample::at(
            11,
            0,
            SampleValue::VDouble(vec![1.0, f64::NAN]),
        ));
        let text = written(&samples);
        let expected: Vec<String> = samples.iter().map(reference).collect();
        let expected = format!(
            "[ \n{{ \"meta\": {{ \"name\": \"P\" }},\n\"data\": [ \n{}\n] }}\n ]\n",
            expected.join(",\n")
        );
        assert_eq!(text, expected);
    }
}
