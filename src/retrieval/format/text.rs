//! `getData.txt`: human-readable lines. Times are printed in UTC (Java uses
//! the server's local zone; UTC keeps responses independent of the host).

use std::io::{self, Write};

use super::value::push_value_text;
use super::FormatWriter;
use crate::types::{ArchiverSample, EventStreamDesc};

/// Text writer.
pub struct TextWriter<W> {
    out: W,
}

impl<W: Write> TextWriter<W> {
    /// Writer over `out`.
    pub fn new(out: W) -> Self {
        TextWriter { out }
    }
}

impl<W: Write> FormatWriter for TextWriter<W> {
    fn begin(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn begin_pv(&mut self, name: &str, _meta: &EventStreamDesc) -> io::Result<()> {
        writeln!(self.out, "Beginning data for {name}")
    }

    fn source(&mut self, desc: &EventStreamDesc) -> io::Result<()> {
        writeln!(self.out, "Data from stream {}", desc.source)
    }

    fn sample(&mut self, s: &ArchiverSample, _desc: &EventStreamDesc) -> io::Result<()> {
        let ts = s.ts();
        let when = chrono::DateTime::from_timestamp(ts.secs, ts.nanos)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S%.9f").to_string())
            .unwrap_or_default();
        let mut v = String::new();
        push_value_text(&mut v, &s.value);
        writeln!(
            self.out,
            "{when}\t{v}\t{}\t{}\t{}",
            s.severity, s.status, ts.nanos
        )
    }

    fn end_pv(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
