//! PB/HTTP framing (plainpb.md §8): a sequence of chunks, each a header line
//! followed by sample lines, chunks after the first preceded by an empty line.
//! A single `.pb` file is the one-chunk case.

use std::io::{self, Read, Write};

use super::codec::{decode_sample_at, encode_sample};
use super::escape::{escape_into, unescape_into};
use super::header::{decode_header, header_line};
use super::lines::{LineEvent, LineReader};
use super::NEWLINE;
use crate::pb::PayloadInfo;
use crate::types::{year_start, ArchiverSample};

/// One item of a chunked stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkItem {
    /// Start of a chunk.
    Header(PayloadInfo),
    /// A sample of the current chunk.
    Sample(ArchiverSample),
}

/// Reads chunks from any reader; errors name the byte offset.
pub struct ChunkReader<R> {
    lines: LineReader<R>,
    header: Option<(PayloadInfo, i64)>,
    expect_header: bool,
    scratch: Vec<u8>,
    /// Offset of a trailing partial line, once seen.
    pub partial_tail: Option<u64>,
}

impl<R: Read> ChunkReader<R> {
    /// Reader at the start of a file or response.
    pub fn new(inner: R) -> Self {
        ChunkReader {
            lines: LineReader::new(inner, 0),
            header: None,
            expect_header: true,
            scratch: Vec::new(),
            partial_tail: None,
        }
    }

    /// Next header or sample; `Err((offset, reason))` for a bad line, after
    /// which reading continues with the next line.
    pub fn next_item(&mut self) -> Result<Option<ChunkItem>, (u64, String)> {
        loop {
            let pos = self.lines.position();
            let ev = self.lines.next_line().map_err(|e| (pos, e.to_string()))?;
            let (offset, bytes, plain) = match ev {
                None => return Ok(None),
                Some(LineEvent::Partial { offset, len }) => {
                    self.partial_tail = Some(offset);
                    return Err((
                        offset,
                        format!("truncated last line ({len} bytes without newline)"),
                    ));
                }
                Some(LineEvent::Line { offset, bytes, plain }) => (offset, bytes, plain),
            };
            if bytes.is_empty() {
                self.expect_header = true;
                continue;
            }
            let raw: &[u8] = if plain {
                bytes
            } else {
                self.scratch.clear();
                unescape_into(bytes, &mut self.scratch).map_err(|e| (offset, e.to_string()))?;
                &self.scratch
            };
            if self.expect_header {
                self.expect_header = false;
                let h = decode_header(raw).map_err(|e| (offset, format!("bad header: {e}")))?;
                let ys = year_start(h.year);
                self.header = Some((h.clone(), ys));
                return Ok(Some(ChunkItem::Header(h)));
            }
            let Some((h, ys)) = &self.header else {
                return Err((offset, "sample before any header".into()));
            };
            let ty = crate::types::ArchDbType::from_i32(h.r#type)
                .ok_or_else(|| (offset, format!("unknown payload type {}", h.r#type)))?;
            let s = decode_sample_at(ty, raw, *ys).map_err(|e| (offset, e.to_string()))?;
            return Ok(Some(ChunkItem::Sample(s)));
        }
    }
}

/// Writes chunks with Java's framing.
pub struct ChunkWriter<W> {
    out: W,
    chunks: usize,
    year: Option<i32>,
    scratch: Vec<u8>,
}

impl<W: Write> ChunkWriter<W> {
    /// A writer with no chunk started.
    pub fn new(out: W) -> Self {
        ChunkWriter {
            out,
            chunks: 0,
            year: None,
            scratch: Vec::new(),
        }
    }

    /// Starts a chunk with `header` (an empty line precedes all but the first).
    pub fn start_chunk(&mut self, header: &PayloadInfo) -> io::Result<()> {
        if self.chunks > 0 {
            self.out.write_all(&[NEWLINE])?;
        }
        self.chunks += 1;
        self.year = Some(header.year);
        self.out.write_all(&header_line(header))
    }

    /// Year of the current chunk.
    pub fn year(&self) -> Option<i32> {
        self.year
    }

    /// Writes an already escaped sample line (newline added).
    pub fn write_raw_line(&mut self, escaped: &[u8]) -> io::Result<()> {
        self.out.write_all(escaped)?;
        self.out.write_all(&[NEWLINE])
    }

    /// Encodes and writes a sample of the current chunk's year.
    pub fn write_sample(&mut self, s: &ArchiverSample) -> io::Result<()> {
        let year = self
            .year
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "sample before header"))?;
        let mut raw = Vec::new();
        encode_sample(s, year, &mut raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.scratch.clear();
        escape_into(&raw, &mut self.scratch);
        self.scratch.push(NEWLINE);
        self.out.write_all(&self.scratch)
    }

    /// Number of chunks started.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Mutable access to the inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }
}
