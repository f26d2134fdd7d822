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
        /// True if the line contains no escape byte (needs no unescaping).
        plain: bool,
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

    /// The bytes read but not yet returned, and the source offset right
    /// after them.
    pub fn buffered(&self) -> (&[u8], u64) {
        (&self.buf[self.pos..self.filled], self.base + self.filled as u64)
    }

    /// Unread buffered bytes (may end inside a line).
    #[inline]
    pub fn peek(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// Marks `n` bytes of [`LineReader::peek`] as read.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.filled);
    }

    /// The same reader state over `f(inner)` (a wrapper reading the same
    /// bytes from the same position).
    pub fn map_inner<R2>(self, f: impl FnOnce(R) -> R2) -> LineReader<R2> {
        LineReader {
            inner: f(self.inner),
            buf: self.buf,
            pos: self.pos,
            filled: self.filled,
            eof: self.eof,
            base: self.base,
            max_line: self.max_line,
        }
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Next line, partial tail, or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<LineEvent<'_>>> {
        let mut scan_from = self.pos;
        let mut plain = true;
        loop {
            // One pass finds the newline and notes an escape byte before it.
            let mut found = None;
            let mut at = scan_from;
            while let Some(i) = if plain {
                find_newline_or_escape(&self.buf[at..self.filled])
            } else {
                memchr::memchr(super::NEWLINE, &self.buf[at..self.filled])
            } {
                if self.buf[at + i] == super::NEWLINE {
                    found = Some(at + i);
                    break;
                }
                plain = false;
                at += i + 1;
            }
            if let Some(end) = found {
                let start = self.pos;
                self.pos = end + 1;
                return Ok(Some(LineEvent::Line {
                    offset: self.base + start as u64,
                    bytes: &self.buf[start..end],
                    plain,
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

/// Position of the first `0x0A` or `0x1B` in `h`.
///
/// Sample lines are short (≈21 bytes for a scalar), where a word-at-a-time
/// scan beats a SIMD search's setup cost; long lines go to `memchr2`.
#[inline]
pub(crate) fn find_newline_or_escape(h: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * super::NEWLINE as u64;
    const ESC: u64 = LO * super::ESCAPE as u64;
    let mut i = 0;
    while i + 8 <= h.len() && i < 64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&h[i..i + 8]);
        let v = u64::from_le_bytes(w);
        let (a, b) = (v ^ NL, v ^ ESC);
        // Lowest set high bit marks the first zero byte of `a` or `b`;
        // borrow artefacts can only appear above it.
        let m = (a.wrapping_sub(LO) & !a & HI) | (b.wrapping_sub(LO) & !b & HI);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i >= 64 {
        return memchr::memchr2(super::NEWLINE, super::ESCAPE, &h[i..]).map(|p| p + i);
    }
    h[i..]
        .iter()
        .position(|&c| c == super::NEWLINE || c == super::ESCAPE)
        .map(|p| p + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], cap: usize) -> Vec<(u64, Vec<u8>, bool)> {
        let mut r = LineReader::with_capacity(data, 10, cap);
        let mut out = Vec::new();
        while let Some(ev) = r.next_line().unwrap() {
            match ev {
                LineEvent::Line { offset, bytes, plain } => {
                    assert_eq!(plain, !bytes.contains(&0x1b));
                    out.push((offset, bytes.to_vec(), true))
                }
                LineEvent::Partial { offset, len } => out.push((offset, vec![0; len], false)),
            }
        }
        out
    }

    #[test]
    fn word_scan_agrees_with_memchr() {
        let mut data = vec![0u8; 300];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i * 37 % 251) as u8 | 0x20;
        }
        for pos in 0..data.len() {
            for c in [0x0A, 0x1B] {
                let mut d = data.clone();
                d[pos] = c;
                assert_eq!(find_newline_or_escape(&d), Some(pos));
                assert_eq!(find_newline_or_escape(&d[..pos]), None);
            }
        }
        assert_eq!(
            find_newline_or_escape(&[0x8A, 0x9B, 0x0B, 0x1A, 0xFF, 0x00, 0x7F, 0x80, 0x0A]),
            Some(8)
        );
    }

    #[test]
    fn splits_lines_across_refills_and_growth() {
        let data = b"ab\n\nlonger \x1b line\nxyz";
        for cap in [64, 128, 4096] {
            let got = collect(data, cap);
            assert_eq!(got.len(), 4);
            assert_eq!(got[0], (10, b"ab".to_vec(), true));
            assert_eq!(got[1], (13, b"".to_vec(), true));
            assert_eq!(got[2], (14, b"longer \x1b line".to_vec(), true));
            assert_eq!((got[3].0, got[3].1.len(), got[3].2), (28, 3, false));
        }
        let long = vec![b'x'; 1000];
        let mut data = long.clone();
        data.push(b'\n');
        let got = collect(&data, 64);
        assert_eq!(got, vec![(10, long, true)]);
    }
}
