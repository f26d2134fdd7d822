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
use crate::types::{ArchiverSample, EventStreamDesc, Timestamp};

const FLUSH_AT: usize = 32 * 1024;

/// JSON writer.
pub struct JsonWriter<W> {
    out: W,
    buf: String,
    nonfinite: NonFinite,
    pvs: usize,
    samples_in_pv: usize,
}

impl<W: Write> JsonWriter<W> {
    /// Writer over `out`.
    pub fn new(out: W, nonfinite: NonFinite) -> Self {
        JsonWriter {
            out,
            buf: String::with_capacity(FLUSH_AT + 1024),
            nonfinite,
            pvs: 0,
            samples_in_pv: 0,
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
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

impl<W: Write> FormatWriter for JsonWriter<W> {
    fn begin(&mut self) -> io::Result<()> {
        self.buf.push_str("[ \n");
        Ok(())
    }

    fn begin_pv(&mut self, name: &str, meta: &EventStreamDesc) -> io::Result<()> {
        if self.pvs > 0 {
            self.buf.push_str(",\n");
        }
        self.pvs += 1;
        self.samples_in_pv = 0;
        push_meta(&mut self.buf, name, meta);
        self.buf.push_str("},\n\"data\": [ \n");
        Ok(())
    }

    fn sample(&mut self, s: &ArchiverSample, _desc: &EventStreamDesc) -> io::Result<()> {
        if self.samples_in_pv > 0 {
            self.buf.push_str(",\n");
        }
        self.samples_in_pv += 1;
        let ts = s.ts();
        let mut ib = itoa::Buffer::new();
        self.buf.push_str("{ \"secs\": ");
        self.buf.push_str(ib.format(ts.secs));
        self.buf.push_str(", \"val\": ");
        push_value_json(&mut self.buf, &s.value, self.nonfinite);
        self.buf.push_str(", \"nanos\": ");
        self.buf.push_str(ib.format(ts.nanos));
        self.buf.push_str(", \"severity\":");
        self.buf.push_str(ib.format(s.severity));
        self.buf.push_str(", \"status\":");
        self.buf.push_str(ib.format(s.status));
        push_fields(&mut self.buf, s);
        self.buf.push_str(" }");
        self.spill()
    }

    fn end_pv(&mut self) -> io::Result<()> {
        if self.samples_in_pv > 0 {
            self.buf.push('\n');
        }
        self.buf.push_str("] }");
        self.spill()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.pvs > 0 {
            self.buf.push('\n');
        }
        self.buf.push_str(" ]\n");
        self.out.write_all(self.buf.as_bytes())?;
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
        let j = &mut self.inner;
        if j.pvs > 0 {
            j.buf.push_str(",\n");
        }
        j.pvs += 1;
        j.samples_in_pv = 0;
        push_meta(&mut j.buf, name, meta);
        j.buf.push_str(if meta.db_type.is_waveform() {
            ", \"waveform\": true "
        } else {
            ", \"waveform\": false "
        });
        j.buf.push_str("},\n\"data\": [ \n");
        Ok(())
    }

    fn sample(&mut self, s: &ArchiverSample, _desc: &EventStreamDesc) -> io::Result<()> {
        let j = &mut self.inner;
        if j.samples_in_pv > 0 {
            j.buf.push_str(",\n");
        }
        j.samples_in_pv += 1;
        let ms = Timestamp::from_system_time(s.timestamp).millis();
        j.buf.push_str("{ \"millis\": ");
        j.buf.push_str(itoa::Buffer::new().format(ms));
        j.buf.push_str(", \"val\": ");
        push_value_json(&mut j.buf, &s.value, NonFinite::Null);
        push_fields(&mut j.buf, s);
        j.buf.push_str(" }");
        j.spill()
    }

    fn end_pv(&mut self) -> io::Result<()> {
        self.inner.end_pv()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}
