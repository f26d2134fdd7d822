//! `getData.raw` (PB/HTTP): chunks of header + sample lines, an empty line
//! between chunks, a new chunk whenever the source stream or the year
//! changes. Stored sample bytes are passed through unchanged; decoded
//! samples (post-processor output) are encoded.

use std::io::{self, Write};

use super::FormatWriter;
use crate::pb::PayloadInfo;
use crate::plainpb::ChunkWriter;
use crate::types::{ArchiverSample, EventStreamDesc, Timestamp};

/// Raw writer.
pub struct RawWriter<W: Write> {
    chunks: ChunkWriter<W>,
    /// Identity of the open chunk: PV, type, year, source.
    current: Option<(String, i32, i32, String)>,
    name: String,
    meta_headers: Vec<(String, String)>,
    /// Type and element count of the PV (from its type info): chunks of
    /// that type say that count, whatever their source knew.
    meta_shape: Option<(i32, i32)>,
}

impl<W: Write> RawWriter<W> {
    /// Writer over `out`.
    pub fn new(out: W) -> Self {
        RawWriter {
            chunks: ChunkWriter::new(out),
            current: None,
            name: String::new(),
            meta_headers: Vec::new(),
            meta_shape: None,
        }
    }

    /// Starts a chunk if the stream identity or year differs from the current one.
    fn ensure_chunk(&mut self, desc: &EventStreamDesc, year: i32) -> io::Result<()> {
        let id = (
            desc.pv_name.clone(),
            desc.db_type.as_i32(),
            year,
            desc.source.clone(),
        );
        if self.current.as_ref() == Some(&id) {
            return Ok(());
        }
        let mut d = desc.clone();
        // The header carries the merged metadata (EGU, PREC, …).
        for (k, v) in &self.meta_headers {
            if d.header(k).is_none() {
                d.headers.push((k.clone(), v.clone()));
            }
        }
        match self.meta_shape {
            Some((ty, count)) if ty == d.db_type.as_i32() => d.element_count = Some(count),
            _ => {
                if d.element_count.is_none() {
                    d.element_count = Some(1);
                }
            }
        }
        let info = PayloadInfo::from_desc(&d, year);
        self.chunks.start_chunk(&info)?;
        self.current = Some(id);
        Ok(())
    }
}

impl<W: Write> FormatWriter for RawWriter<W> {
    fn begin(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn begin_pv(&mut self, name: &str, meta: &EventStreamDesc) -> io::Result<()> {
        self.name = name.to_string();
        self.meta_headers = meta.headers.clone();
        self.meta_shape = meta.element_count.map(|n| (meta.db_type.as_i32(), n));
        self.current = None;
        Ok(())
    }

    fn sample(&mut self, s: &ArchiverSample, desc: &EventStreamDesc) -> io::Result<()> {
        let year = s.ts().year();
        self.ensure_chunk(desc, year)?;
        self.chunks.write_sample(s)
    }

    fn raw_line(&mut self, ts: Timestamp, line: &[u8], desc: &EventStreamDesc) -> io::Result<()> {
        self.ensure_chunk(desc, ts.year())?;
        self.chunks.write_raw_line(line)
    }

    fn raw_lines(&mut self, first_ts: Timestamp, lines: &[u8], desc: &EventStreamDesc) -> io::Result<()> {
        self.ensure_chunk(desc, first_ts.year())?;
        self.chunks.get_mut().write_all(lines)
    }

    fn wants_raw(&self) -> bool {
        true
    }

    fn end_pv(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.chunks.get_mut().flush()
    }
}
