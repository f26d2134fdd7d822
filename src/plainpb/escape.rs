//! Line escaping: `1B`→`1B 01`, `0A`→`1B 02`, `0D`→`1B 03`.
//!
//! A single left-to-right pass in both directions. Unescaping tolerates an
//! unknown escape (`1B xx` yields `xx`, as Java does); a trailing lone `1B`
//! is an error.

use super::{ESCAPE, NEWLINE};

const CR: u8 = 0x0D;

/// A record ended in the middle of an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("escape byte 0x1B at the end of a record")]
pub struct EscapeError;

/// Appends the escaped form of `src` to `dst` (no trailing newline).
pub fn escape_into(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(src.len() + 4);
    let mut rest = src;
    while let Some(i) = memchr::memchr3(ESCAPE, NEWLINE, CR, rest) {
        dst.extend_from_slice(&rest[..i]);
        let code = match rest[i] {
            ESCAPE => 1,
            NEWLINE => 2,
            _ => 3,
        };
        dst.extend_from_slice(&[ESCAPE, code]);
        rest = &rest[i + 1..];
    }
    dst.extend_from_slice(rest);
}

/// Appends the unescaped form of `src` to `dst`.
pub fn unescape_into(src: &[u8], dst: &mut Vec<u8>) -> Result<(), EscapeError> {
    dst.reserve(src.len());
    if src.len() <= 64 {
        // Short records: a plain loop beats repeated SIMD searches.
        let start = dst.len();
        dst.resize(start + src.len(), 0);
        let n = unescape_to_slice(src, &mut dst[start..]).ok_or(EscapeError)?;
        dst.truncate(start + n);
        return Ok(());
    }
    let mut rest = src;
    while let Some(i) = memchr::memchr(ESCAPE, rest) {
        dst.extend_from_slice(&rest[..i]);
        let code = *rest.get(i + 1).ok_or(EscapeError)?;
        dst.push(match code {
            1 => ESCAPE,
            2 => NEWLINE,
            3 => CR,
            other => other,
        });
        rest = &rest[i + 2..];
    }
    dst.extend_from_slice(rest);
    Ok(())
}

/// Writes the unescaped form of `src` into `dst` (which must be at least
/// as long) and returns its length; `None` for a trailing lone `1B`. For
/// short records decoded on the stack.
#[inline]
pub(crate) fn unescape_to_slice(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    let (mut i, mut n) = (0, 0);
    while i < src.len() {
        let b = src[i];
        dst[n] = if b == ESCAPE {
            i += 1;
            match *src.get(i)? {
                1 => ESCAPE,
                2 => NEWLINE,
                3 => CR,
                other => other,
            }
        } else {
            b
        };
        n += 1;
        i += 1;
    }
    Some(n)
}

/// True if `src` needs no unescaping.
#[inline]
pub(crate) fn is_plain(src: &[u8]) -> bool {
    memchr::memchr(ESCAPE, src).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_three_bytes() {
        let mut out = Vec::new();
        escape_into(&[0x00, 0x1B, 0x0A, 0x0D, 0x41], &mut out);
        assert_eq!(out, [0x00, 0x1B, 0x01, 0x1B, 0x02, 0x1B, 0x03, 0x41]);
        let mut back = Vec::new();
        unescape_into(&out, &mut back).unwrap();
        assert_eq!(back, [0x00, 0x1B, 0x0A, 0x0D, 0x41]);
    }

    #[test]
    fn unknown_escape_is_tolerated_trailing_is_not() {
        let mut out = Vec::new();
        unescape_into(&[0x1B, 0x41, 0x42], &mut out).unwrap();
        assert_eq!(out, [0x41, 0x42]);
        assert_eq!(unescape_into(&[0x41, 0x1B], &mut Vec::new()), Err(EscapeError));
    }
}
