//! `getData.csv`: `secs,val,severity,status,nanos` per line, Java value text
//! (waveforms `[1.0,2.0]`, strings unquoted), one extra empty line at the end.

use std::io::{self, Write};

use super::value::push_value_text;
use super::FormatWriter;
use crate::types::{ArchiverSample, EventStreamDesc};

/// CSV writer.
pub struct CsvWriter<W> {
    out: W,
    buf: String,
}

impl<W: Write> CsvWriter<W> {
    /// Writer over `out`.
    pub fn new(out: W) -> Self {
        CsvWriter {
            out,
            buf: String::with_capacity(40 * 1024),
        }
    }
}

impl<W: Write> FormatWriter for CsvWriter<W> {
    fn begin(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn begin_pv(&mut self, _name: &str, _meta: &EventStreamDesc) -> io::Result<()> {
        Ok(())
    }

    fn sample(&mut self, s: &ArchiverSample, _desc: &EventStreamDesc) -> io::Result<()> {
        let ts = s.ts();
        let mut ib = itoa::Buffer::new();
        self.buf.push_str(ib.format(ts.secs));
        self.buf.push(',');
        push_value_text(&mut self.buf, &s.value);
        self.buf.push(',');
        self.buf.push_str(ib.format(s.severity));
        self.buf.push(',');
        self.buf.push_str(ib.format(s.status));
        self.buf.push(',');
        self.buf.push_str(ib.format(ts.nanos));
        self.buf.push('\n');
        if self.buf.len() >= 32 * 1024 {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }

    fn end_pv(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.buf.push('\n');
        self.out.write_all(self.buf.as_bytes())?;
        self.buf.clear();
        self.out.flush()
    }
}
