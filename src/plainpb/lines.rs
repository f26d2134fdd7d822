//! Buffered reading of `0x0A`-terminated records from any `Read`.
//!
//! Yields each complete line as a borrowed slice (newline excluded) with its
//! byte offset, and reports trailing bytes without a newline (a crash tail)
//! as [`LineEvent::Partial`] instead of a line. Memory is bounded by the
//! longest line (capped at `max_line`).

use std::io::{self, Read};

const DEFAULT_BUF: usize = 256 * 1024;
/// Java's upper bound for one record (16 Ki × 16 KiB).
pub const MAX_LINE: usize = 256 * 1024 * 1024;

/// One item from a [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum LineEvent<'a> {
    /// A complete line starting at `offset`.
    Line {
        /// Offset of the first byte of the line in the underlying source.
        offset: u64,
        /// The line without its newline.
        bytes: &'a [u8],
    },
    /// `len` bytes at `offset` that end without a newline (end of input).
    Partial {
        /// Offset of the first byte.
        offset: u64,
        /// Number of bytes.
        len: usize,
    },
}

/// Line splitter over a reader.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    eof: bool,
    /// Source offset of `buf[0]`.
    base: u64,
    max_line: usize,
}

impl<R: Read> LineReader<R> {
    /// Reader whose first byte is at source offset `base`.
    pub fn new(inner: R, base: u64) -> Self {
        Self::with_capacity(inner, base, DEFAULT_BUF)
    }

    /// As [`LineReader::new`] with an initial buffer size.
    pub fn with_capacity(inner: R, base: u64, cap: usize) -> Self {
        LineReader {
            inner,
            buf: vec![0; cap.max(64)],
            pos: 0,
            filled: 0,
            eof: false,
            base,
            max_line: MAX_LINE,
        }
    }

    /// Source offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Next line, partial tail, or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<LineEvent<'_>>> {
        let mut scan_from = self.pos;
        loop {
            if let Some(i) = memchr::memchr(super::NEWLINE, &self.buf[scan_from..self.filled]) {
                let start = self.pos;
                let end = scan_from + i;
                self.pos = end + 1;
                return Ok(Some(LineEvent::Line {
                    offset: self.base + start as u64,
                    bytes: &self.buf[start..end],
                }));
            }
            if self.eof {
                if self.pos < self.filled {
                    let ev = LineEvent::Partial {
                        offset: self.base + self.pos as u64,
                        len: self.filled - self.pos,
                    };
                    self.pos = self.filled;
                    return Ok(Some(ev));
                }
                return Ok(None);
            }
            // Compact, grow if one line fills the buffer, then read more.
            let pending = self.filled - self.pos;
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.filled, 0);
                self.base += self.pos as u64;
                self.pos = 0;
                self.filled = pending;
            }
            if self.filled == self.buf.len() {
                if self.buf.len() >= self.max_line {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("line at offset {} exceeds {} bytes", self.base, self.max_line),
                    ));
                }
                let new_len = (self.buf.len() * 2).min(self.max_line);
                self.buf.resize(new_len, 0);
            }
            scan_from = self.filled;
            let n = loop {
                match self.inner.read(&mut self.buf[self.filled..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
            }
            self.filled += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], cap: usize) -> Vec<(u64, Vec<u8>, bool)> {
        let mut r = LineReader::with_capacity(data, 10, cap);
        let mut out = Vec::new();
        while let Some(ev) = r.next_line().unwrap() {
            match ev {
                LineEvent::Line { offset, bytes } => out.push((offset, bytes.to_vec(), true)),
                LineEvent::Partial { offset, len } => out.push((offset, vec![0; len], false)),
            }
        }
        out
    }

    #[test]
    fn splits_lines_across_refills_and_growth() {
        let data = b"ab\n\nlonger line here\nxyz";
        for cap in [64, 128, 4096] {
            let got = collect(data, cap);
            assert_eq!(got.len(), 4);
            assert_eq!(got[0], (10, b"ab".to_vec(), true));
            assert_eq!(got[1], (13, b"".to_vec(), true));
            assert_eq!(got[2], (14, b"longer line here".to_vec(), true));
            assert_eq!((got[3].0, got[3].1.len(), got[3].2), (31, 3, false));
        }
        let long = vec![b'x'; 1000];
        let mut data = long.clone();
        data.push(b'\n');
        let got = collect(&data, 64);
        assert_eq!(got, vec![(10, long, true)]);
    }
}
