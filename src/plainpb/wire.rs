//! Protobuf wire primitives: varints, zig-zag, fixed-width little endian.

/// Wire type of a VARINT field.
pub(crate) const WT_VARINT: u8 = 0;
/// Wire type of a 64-bit field.
pub(crate) const WT_I64: u8 = 1;
/// Wire type of a length-delimited field.
pub(crate) const WT_LEN: u8 = 2;
/// Wire type of a 32-bit field.
pub(crate) const WT_I32: u8 = 5;

/// Malformed protobuf bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The message ended inside a field.
    #[error("truncated message at byte {0}")]
    Truncated(usize),
    /// A varint longer than 10 bytes.
    #[error("malformed varint at byte {0}")]
    BadVarint(usize),
    /// A wire type this format never uses (3, 4, 6, 7).
    #[error("unsupported wire type {wire_type} at byte {at}")]
    BadWireType {
        /// The wire type.
        wire_type: u8,
        /// Where.
        at: usize,
    },
    /// A field number of 0.
    #[error("field number 0 at byte {0}")]
    ZeroField(usize),
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, at least 1.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
pub(crate) fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

#[inline]
pub(crate) fn unzigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[inline]
pub(crate) fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, u64::from(field << 3 | u32::from(wire_type)));
}

/// Forward-only reader over a message's bytes.
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    #[inline]
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let buf = self.buf;
        let start = self.pos;
        // Fast path for the one-byte case.
        match buf.get(start) {
            Some(&b) if b < 0x80 => {
                self.pos = start + 1;
                return Ok(u64::from(b));
            }
            None => return Err(WireError::Truncated(start)),
            _ => {}
        }
        let mut v: u64 = 0;
        let mut shift = 0u32;
        let mut i = start;
        while i < buf.len() && i - start < 10 {
            let b = buf[i];
            v |= u64::from(b & 0x7f) << shift;
            i += 1;
            if b < 0x80 {
                self.pos = i;
                return Ok(v);
            }
            shift += 7;
        }
        if i - start >= 10 {
            Err(WireError::BadVarint(start))
        } else {
            Err(WireError::Truncated(i))
        }
    }

    /// Reads a tag, returning `(field, wire_type)`.
    #[inline]
    pub(crate) fn tag(&mut self) -> Result<(u32, u8), WireError> {
        let at = self.pos;
        let t = self.varint()?;
        let field = (t >> 3) as u32;
        if field == 0 {
            return Err(WireError::ZeroField(at));
        }
        Ok((field, (t & 7) as u8))
    }

    #[inline]
    pub(crate) fn fixed32(&mut self) -> Result<[u8; 4], WireError> {
        let s = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or(WireError::Truncated(self.pos))?;
        self.pos += 4;
        Ok([s[0], s[1], s[2], s[3]])
    }

    #[inline]
    pub(crate) fn fixed64(&mut self) -> Result<[u8; 8], WireError> {
        let s = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or(WireError::Truncated(self.pos))?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let at = self.pos;
        let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated(at))?;
        let end = self.pos.checked_add(len).ok_or(WireError::Truncated(at))?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Truncated(at))?;
        self.pos = end;
        Ok(s)
    }

    /// Skips a field's payload.
    pub(crate) fn skip(&mut self, wire_type: u8) -> Result<(), WireError> {
        match wire_type {
            WT_VARINT => self.varint().map(|_| ()),
            WT_I64 => self.fixed64().map(|_| ()),
            WT_LEN => self.len_delimited().map(|_| ()),
            WT_I32 => self.fixed32().map(|_| ()),
            other => Err(WireError::BadWireType {
                wire_type: other,
                at: self.pos,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_length() {
        for v in [0u64, 1, 127, 128, 300, 6_427_800, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut c = Cursor::new(&out);
            assert_eq!(c.varint().unwrap(), v);
            assert!(c.done());
        }
        let mut out = Vec::new();
        put_varint(&mut out, 6_427_800);
        assert_eq!(out, [0x98, 0xa9, 0x88, 0x03]);
    }

    #[test]
    fn varint_every_length_with_and_without_trailing_bytes() {
        // Every length 1..=10, with and without 8 readable bytes after it.
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for bits in 0..64u32 {
            for _ in 0..50 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let v = if bits == 0 {
                    0
                } else {
                    (rng >> (64 - bits)) | (1 << (bits - 1))
                };
                for pad in [0usize, 3, 9] {
                    let mut out = Vec::new();
                    put_varint(&mut out, v);
                    let len = out.len();
                    out.extend(std::iter::repeat_n(0xff, pad));
                    let mut c = Cursor::new(&out);
                    assert_eq!(c.varint().unwrap(), v, "{v} pad {pad}");
                    assert_eq!(c.pos, len);
                }
            }
        }
        // Unterminated and over-long varints are still errors.
        assert!(Cursor::new(&[0x80; 4]).varint().is_err());
        assert!(Cursor::new(&[0xff; 12]).varint().is_err());
    }

    #[test]
    fn zigzag() {
        for v in [0, -1, 1, i32::MIN, i32::MAX, 5, -32768] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
        }
        assert_eq!(zigzag32(5), 10);
        assert_eq!(zigzag32(-1), 1);
    }
}
