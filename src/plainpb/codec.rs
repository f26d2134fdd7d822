//! Hand-written codec for the 15 sample messages (hot path).
//!
//! Produces exactly the bytes protobuf would for the messages in
//! `EPICSEvent.proto`, fields in number order, with Java's writer choices:
//! severity/status only when non-zero, packed numeric vectors, unpacked
//! string vectors. The decoder accepts any field order, unknown fields and
//! unpacked numeric vectors. Tests compare both directions with prost.

use super::wire::{
    put_tag, put_varint, unzigzag32, varint_len, zigzag32, Cursor, WireError, WT_I32, WT_I64, WT_LEN,
    WT_VARINT,
};
use crate::types::{
    epoch_secs_to_system_time, year_start, ArchDbType, ArchiverSample, SampleExtra, SampleValue, Timestamp,
};

/// A sample that cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleCodecError {
    /// Malformed protobuf.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A required field is absent.
    #[error("required field {0} missing")]
    Missing(&'static str),
    /// A field has a wire type its declaration does not allow.
    #[error("field {field} has wire type {wire_type}, not valid for {ty}")]
    WireType {
        /// Field number.
        field: u32,
        /// Wire type found.
        wire_type: u8,
        /// Message type.
        ty: ArchDbType,
    },
    /// The sample's value is of a different type than the stream.
    #[error("value of type {found} in a {expected} stream")]
    TypeMismatch {
        /// Stream type.
        expected: ArchDbType,
        /// Value type.
        found: ArchDbType,
    },
    /// The sample's timestamp is not inside the chunk's year.
    #[error("timestamp {secs}s is outside year {year}")]
    OutsideYear {
        /// Unix seconds.
        secs: i64,
        /// Chunk year.
        year: i32,
    },
}

/// Encodes `sample` as an (unescaped) sample message for a chunk of `year`.
///
/// The message type is the value's own type; writers check it against the
/// file's type before calling.
pub fn encode_sample(sample: &ArchiverSample, year: i32, out: &mut Vec<u8>) -> Result<(), SampleCodecError> {
    encode_sample_at(sample, Timestamp::from_system_time(sample.timestamp), year, out)
}

/// As [`encode_sample`] with the sample's time already converted (`ts` must
/// equal `sample.timestamp`).
#[inline]
pub fn encode_sample_at(
    sample: &ArchiverSample,
    ts: Timestamp,
    year: i32,
    out: &mut Vec<u8>,
) -> Result<(), SampleCodecError> {
    let start = year_start(year);
    let soy = ts.secs - start;
    if soy < 0 || soy >= year_start(year.saturating_add(1)) - start {
        return Err(SampleCodecError::OutsideYear { secs: ts.secs, year });
    }
    encode_parts(sample, soy as u32, ts.nanos, out);
    Ok(())
}

fn encode_parts(s: &ArchiverSample, soy: u32, nanos: u32, out: &mut Vec<u8>) {
    out.push(0x08);
    put_varint(out, u64::from(soy));
    out.push(0x10);
    put_varint(out, u64::from(nanos));
    encode_value(&s.value, out);
    if s.severity != 0 {
        out.push(0x20);
        put_varint(out, s.severity as i64 as u64);
    }
    if s.status != 0 {
        out.push(0x28);
        put_varint(out, s.status as i64 as u64);
    }
    let Some(extra) = s.extra.as_deref() else {
        return;
    };
    if let Some(rc) = extra.repeat_count {
        out.push(0x30);
        put_varint(out, u64::from(rc));
    }
    for (name, val) in &extra.field_values {
        put_field_value(out, 7, name, val);
    }
    if let Some(b) = extra.field_actual_change {
        out.extend_from_slice(&[0x40, u8::from(b)]);
    }
    if let Some(tag) = extra.user_tag {
        out.push(0x48);
        put_varint(out, u64::from(tag));
    }
}

fn put_bytes_field(out: &mut Vec<u8>, b: &[u8]) {
    out.push(0x1a);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_packed<T: Copy>(out: &mut Vec<u8>, v: &[T], size: impl Fn(T) -> usize, put: impl Fn(&mut Vec<u8>, T)) {
    if v.is_empty() {
        return;
    }
    let len: usize = v.iter().map(|x| size(*x)).sum();
    out.push(0x1a);
    put_varint(out, len as u64);
    for x in v {
        put(out, *x);
    }
}

fn encode_value(v: &SampleValue, out: &mut Vec<u8>) {
    match v {
        SampleValue::String(s) => put_bytes_field(out, s.as_bytes()),
        SampleValue::Byte(b) => put_bytes_field(out, &[*b as u8]),
        SampleValue::Short(x) | SampleValue::Enum(x) => {
            out.push(0x18);
            put_varint(out, zigzag32(i32::from(*x)));
        }
        SampleValue::Int(x) => {
            out.push(0x1d);
            out.extend_from_slice(&x.to_le_bytes());
        }
        SampleValue::Float(x) => {
            out.push(0x1d);
            out.extend_from_slice(&x.to_le_bytes());
        }
        SampleValue::Double(x) => {
            out.push(0x19);
            out.extend_from_slice(&x.to_le_bytes());
        }
        SampleValue::VString(v) => {
            for s in v {
                put_bytes_field(out, s.as_bytes());
            }
        }
        SampleValue::VByte(b) | SampleValue::V4Generic(b) => put_bytes_field(out, b),
        SampleValue::VShort(v) | SampleValue::VEnum(v) => put_packed(
            out,
            v,
            |x| varint_len(zigzag32(i32::from(x))),
            |o, x| put_varint(o, zigzag32(i32::from(x))),
        ),
        SampleValue::VInt(v) => put_packed(out, v, |_| 4, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        SampleValue::VFloat(v) => put_packed(out, v, |_| 4, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        SampleValue::VDouble(v) => put_packed(out, v, |_| 8, |o, x| o.extend_from_slice(&x.to_le_bytes())),
    }
}

/// Reads only `(secondsintoyear, nano)` from an unescaped sample message.
#[inline]
pub fn decode_timestamp(raw: &[u8]) -> Result<(u32, u32), SampleCodecError> {
    let mut c = Cursor::new(raw);
    let (mut soy, mut nano) = (None, None);
    while !c.done() {
        let (field, wt) = c.tag()?;
        match (field, wt) {
            (1, WT_VARINT) => soy = Some(c.varint()? as u32),
            (2, WT_VARINT) => nano = Some(c.varint()? as u32),
            _ => c.skip(wt)?,
        }
        if let (Some(s), Some(n)) = (soy, nano) {
            return Ok((s, n));
        }
    }
    Err(SampleCodecError::Missing(if soy.is_none() {
        "secondsintoyear"
    } else {
        "nano"
    }))
}

/// Accumulates field 3 for one message type.
enum ValueAcc {
    None,
    Scalar(SampleValue),
    Vec(SampleValue),
}

/// Decodes an unescaped sample message of type `ty` from a chunk of `year`.
pub fn decode_sample(ty: ArchDbType, raw: &[u8], year: i32) -> Result<ArchiverSample, SampleCodecError> {
    decode_sample_at(ty, raw, year_start(year))
}

/// Decodes into an existing sample, reusing its allocations where possible
/// (the fastest way to walk many samples: nothing large is moved).
#[inline]
pub fn decode_sample_into(
    ty: ArchDbType,
    raw: &[u8],
    year: i32,
    out: &mut ArchiverSample,
) -> Result<(), SampleCodecError> {
    decode_into_at(ty, raw, year_start(year), out).map(|_| ())
}

#[inline]
pub(crate) fn decode_into_at(
    ty: ArchDbType,
    raw: &[u8],
    year_start_secs: i64,
    out: &mut ArchiverSample,
) -> Result<Timestamp, SampleCodecError> {
    if let Some((ts, _)) = decode_canonical_checked(ty, raw, year_start_secs, out, |end| end == raw.len()) {
        return Ok(ts);
    }
    *out = decode_general(ty, raw, year_start_secs)?;
    Ok(out.ts())
}

/// As [`decode_sample`] with the year's start (Unix seconds) precomputed.
#[inline]
pub(crate) fn decode_sample_at(
    ty: ArchDbType,
    raw: &[u8],
    year_start_secs: i64,
) -> Result<ArchiverSample, SampleCodecError> {
    if let Some(s) = decode_canonical_scalar(ty, raw, year_start_secs) {
        return Ok(s);
    }
    decode_general(ty, raw, year_start_secs)
}

/// Fast path for numeric scalars written in canonical field order
/// (`1, 2, 3[, 4][, 5]` and nothing else), which is what Java and strata
/// write for almost every sample. `None` sends the caller to the general
/// decoder, which gives the same result for canonical input.
#[inline]
fn decode_canonical_scalar(ty: ArchDbType, raw: &[u8], year_start_secs: i64) -> Option<ArchiverSample> {
    let p = parse_canonical(ty, raw, year_start_secs).filter(|p| p.end == raw.len())?;
    Some(ArchiverSample {
        timestamp: epoch_secs_to_system_time(p.ts.secs, p.ts.nanos),
        value: scalar_value(ty, p.bits),
        severity: p.severity,
        status: p.status,
        extra: None,
    })
}

/// The fields of a canonical numeric scalar message, the value as raw bits.
struct Canonical {
    ts: Timestamp,
    bits: u64,
    severity: i32,
    status: i32,
    /// Offset just past the message's last field.
    end: usize,
}

/// Parses a canonical numeric scalar message (fields `1, 2, 3[, 4][, 5]`)
/// at the start of `buf`, which may continue past it: the one parser of
/// the fast paths.
#[inline(always)]
fn parse_canonical(ty: ArchDbType, buf: &[u8], year_start_secs: i64) -> Option<Canonical> {
    let mut c = Cursor::new(buf);
    if buf.first() != Some(&0x08) {
        return None;
    }
    c.pos = 1;
    let soy = c.varint().ok()?;
    if c.buf.get(c.pos) != Some(&0x10) {
        return None;
    }
    c.pos += 1;
    let nano = c.varint().ok()?;
    let tag = *c.buf.get(c.pos)?;
    c.pos += 1;
    let bits: u64 = match (ty, tag) {
        (ArchDbType::ScalarDouble, 0x19) => u64::from_le_bytes(c.fixed64().ok()?),
        (ArchDbType::ScalarFloat, 0x1d) | (ArchDbType::ScalarInt, 0x1d) => {
            u64::from(u32::from_le_bytes(c.fixed32().ok()?))
        }
        (ArchDbType::ScalarShort, 0x18) | (ArchDbType::ScalarEnum, 0x18) => c.varint().ok()?,
        _ => return None,
    };
    let (mut severity, mut status) = (0, 0);
    if c.buf.get(c.pos) == Some(&0x20) {
        c.pos += 1;
        severity = c.varint().ok()? as i32;
    }
    if c.buf.get(c.pos) == Some(&0x28) {
        c.pos += 1;
        status = c.varint().ok()? as i32;
    }
    if soy > u64::from(u32::MAX) || nano > u64::from(u32::MAX) {
        return None;
    }
    let nano = nano as u32;
    Some(Canonical {
        ts: Timestamp {
            secs: year_start_secs + soy as i64 + i64::from(nano / 1_000_000_000),
            nanos: nano % 1_000_000_000,
        },
        bits,
        severity,
        status,
        end: c.pos,
    })
}

/// The value of type `ty` (a numeric scalar) from [`Canonical::bits`].
#[inline(always)]
fn scalar_value(ty: ArchDbType, bits: u64) -> SampleValue {
    match ty {
        ArchDbType::ScalarDouble => SampleValue::Double(f64::from_bits(bits)),
        ArchDbType::ScalarFloat => SampleValue::Float(f32::from_bits(bits as u32)),
        ArchDbType::ScalarInt => SampleValue::Int(bits as u32 as i32),
        ArchDbType::ScalarShort => SampleValue::Short(unzigzag32(bits) as i16),
        _ => SampleValue::Enum(unzigzag32(bits) as i16),
    }
}

/// Decodes a canonical numeric scalar straight from an *escaped* line at
/// the start of `buf` (which may continue past the line) into `out`.
/// Succeeds only when the message needs no unescaping and ends exactly at a
/// newline; returns the sample time and the bytes consumed including the
/// newline. One pass, no copy; `out` is untouched on `None`.
#[inline]
pub(crate) fn decode_canonical_line_into(
    ty: ArchDbType,
    buf: &[u8],
    year_start_secs: i64,
    out: &mut ArchiverSample,
) -> Option<(Timestamp, usize)> {
    // The message must be the whole line and contain no escape or newline.
    let plain_line = |end: usize| {
        buf.get(end) == Some(&super::NEWLINE) && super::lines::find_newline_or_escape(&buf[..end]).is_none()
    };
    decode_canonical_checked(ty, buf, year_start_secs, out, plain_line).map(|(ts, end)| (ts, end + 1))
}

/// Like [`decode_canonical_line_into`] for a line that holds escapes: the
/// line (which must end with a newline within the first 64 bytes of `buf`)
/// is unescaped on the stack and decoded in one pass. Returns the sample
/// time and the bytes consumed including the newline; `out` is untouched on
/// `None` (not canonical, too long, or a bad escape: the general path then
/// reports it).
#[inline]
pub(crate) fn decode_canonical_escaped_line_into(
    ty: ArchDbType,
    buf: &[u8],
    year_start_secs: i64,
    out: &mut ArchiverSample,
) -> Option<(Timestamp, usize)> {
    const MAX: usize = 64;
    let nl = memchr::memchr(super::NEWLINE, &buf[..buf.len().min(MAX)])?;
    let line = &buf[..nl];
    // A plain line is not canonical (the plain decoder declined it).
    memchr::memchr(super::ESCAPE, line)?;
    let mut tmp = [0u8; MAX];
    let n = super::escape::unescape_to_slice(line, &mut tmp)?;
    let msg = &tmp[..n];
    decode_canonical_checked(ty, msg, year_start_secs, out, |end| end == msg.len())
        .map(|(ts, _)| (ts, nl + 1))
}

/// The one-pass decoder of a canonical scalar message at the start of
/// `buf`; `valid(end)` must accept the message's end before `out` is
/// written. Returns the sample time and the message's end.
#[inline(always)]
fn decode_canonical_checked(
    ty: ArchDbType,
    buf: &[u8],
    year_start_secs: i64,
    out: &mut ArchiverSample,
    valid: impl Fn(usize) -> bool,
) -> Option<(Timestamp, usize)> {
    let p = parse_canonical(ty, buf, year_start_secs).filter(|p| valid(p.end))?;
    // Overwrite in place when the variant already matches: no drop glue
    // for the old value on the hot path.
    match (ty, &mut out.value) {
        (ArchDbType::ScalarDouble, SampleValue::Double(v)) => *v = f64::from_bits(p.bits),
        (ArchDbType::ScalarFloat, SampleValue::Float(v)) => *v = f32::from_bits(p.bits as u32),
        (ArchDbType::ScalarInt, SampleValue::Int(v)) => *v = p.bits as u32 as i32,
        (ArchDbType::ScalarShort, SampleValue::Short(v)) => *v = unzigzag32(p.bits) as i16,
        (ArchDbType::ScalarEnum, SampleValue::Enum(v)) => *v = unzigzag32(p.bits) as i16,
        _ => out.value = scalar_value(ty, p.bits),
    }
    out.timestamp = epoch_secs_to_system_time(p.ts.secs, p.ts.nanos);
    out.severity = p.severity;
    out.status = p.status;
    if out.extra.is_some() {
        out.extra = None;
    }
    Some((p.ts, p.end))
}

fn decode_general(
    ty: ArchDbType,
    raw: &[u8],
    year_start_secs: i64,
) -> Result<ArchiverSample, SampleCodecError> {
    let mut c = Cursor::new(raw);
    let (mut soy, mut nano) = (None::<u32>, None::<u32>);
    let mut value = match ty {
        ArchDbType::WaveformString => ValueAcc::Vec(SampleValue::VString(Vec::new())),
        ArchDbType::WaveformShort => ValueAcc::Vec(SampleValue::VShort(Vec::new())),
        ArchDbType::WaveformFloat => ValueAcc::Vec(SampleValue::VFloat(Vec::new())),
        ArchDbType::WaveformEnum => ValueAcc::Vec(SampleValue::VEnum(Vec::new())),
        ArchDbType::WaveformInt => ValueAcc::Vec(SampleValue::VInt(Vec::new())),
        ArchDbType::WaveformDouble => ValueAcc::Vec(SampleValue::VDouble(Vec::new())),
        _ => ValueAcc::None,
    };
    let (mut severity, mut status) = (0i32, 0i32);
    let mut repeat_count = None;
    let mut field_values = Vec::new();
    let mut field_actual_change = None;
    let mut user_tag = None;
    while !c.done() {
        let (field, wt) = c.tag()?;
        match (field, wt) {
            (1, WT_VARINT) => soy = Some(c.varint()? as u32),
            (2, WT_VARINT) => nano = Some(c.varint()? as u32),
            (3, _) => decode_value(ty, wt, &mut c, &mut value)?,
            (4, WT_VARINT) => severity = c.varint()? as i32,
            (5, WT_VARINT) => status = c.varint()? as i32,
            (6, WT_VARINT) => repeat_count = Some(c.varint()? as u32),
            (7, WT_LEN) => field_values.push(decode_field_value(c.len_delimited()?)?),
            (8, WT_VARINT) => field_actual_change = Some(c.varint()? != 0),
            (9, WT_VARINT) if ty == ArchDbType::V4GenericBytes => user_tag = Some(c.varint()? as u32),
            (1..=8, _) => {
                return Err(SampleCodecError::WireType {
                    field,
                    wire_type: wt,
                    ty,
                })
            }
            _ => c.skip(wt)?,
        }
    }
    let soy = soy.ok_or(SampleCodecError::Missing("secondsintoyear"))?;
    let nano = nano.ok_or(SampleCodecError::Missing("nano"))?;
    let value = match value {
        ValueAcc::Scalar(v) | ValueAcc::Vec(v) => v,
        ValueAcc::None => return Err(SampleCodecError::Missing("val")),
    };
    let secs = year_start_secs + i64::from(soy) + i64::from(nano / 1_000_000_000);
    let extra = SampleExtra {
        field_values,
        repeat_count,
        field_actual_change,
        user_tag,
    };
    let extra = if extra == SampleExtra::default() {
        None
    } else {
        Some(Box::new(extra))
    };
    Ok(ArchiverSample {
        timestamp: epoch_secs_to_system_time(secs, nano % 1_000_000_000),
        value,
        severity,
        status,
        extra,
    })
}

fn decode_field_value(b: &[u8]) -> Result<(String, String), SampleCodecError> {
    let mut c = Cursor::new(b);
    let (mut name, mut val) = (None, None);
    while !c.done() {
        let (field, wt) = c.tag()?;
        match (field, wt) {
            (1, WT_LEN) => name = Some(String::from_utf8_lossy(c.len_delimited()?).into_owned()),
            (2, WT_LEN) => val = Some(String::from_utf8_lossy(c.len_delimited()?).into_owned()),
            _ => c.skip(wt)?,
        }
    }
    Ok((
        name.ok_or(SampleCodecError::Missing("FieldValue.name"))?,
        val.ok_or(SampleCodecError::Missing("FieldValue.val"))?,
    ))
}

#[inline]
fn decode_value(
    ty: ArchDbType,
    wt: u8,
    c: &mut Cursor<'_>,
    acc: &mut ValueAcc,
) -> Result<(), SampleCodecError> {
    let bad = || SampleCodecError::WireType {
        field: 3,
        wire_type: wt,
        ty,
    };
    use ArchDbType as T;
    match ty {
        T::ScalarDouble => {
            if wt != WT_I64 {
                return Err(bad());
            }
            *acc = ValueAcc::Scalar(SampleValue::Double(f64::from_le_bytes(c.fixed64()?)));
        }
        T::ScalarFloat => {
            if wt != WT_I32 {
                return Err(bad());
            }
            *acc = ValueAcc::Scalar(SampleValue::Float(f32::from_le_bytes(c.fixed32()?)));
        }
        T::ScalarInt => {
            if wt != WT_I32 {
                return Err(bad());
            }
            *acc = ValueAcc::Scalar(SampleValue::Int(i32::from_le_bytes(c.fixed32()?)));
        }
        T::ScalarShort | T::ScalarEnum => {
            if wt != WT_VARINT {
                return Err(bad());
            }
            let v = unzigzag32(c.varint()?) as i16;
            *acc = ValueAcc::Scalar(if ty == T::ScalarShort {
                SampleValue::Short(v)
            } else {
                SampleValue::Enum(v)
            });
        }
        T::ScalarString => {
            if wt != WT_LEN {
                return Err(bad());
            }
            let s = String::from_utf8_lossy(c.len_delimited()?).into_owned();
            *acc = ValueAcc::Scalar(SampleValue::String(s));
        }
        T::ScalarByte => {
            if wt != WT_LEN {
                return Err(bad());
            }
            let b = c.len_delimited()?;
            *acc = ValueAcc::Scalar(SampleValue::Byte(b.first().map_or(0, |x| *x as i8)));
        }
        T::WaveformByte | T::V4GenericBytes => {
            if wt != WT_LEN {
                return Err(bad());
            }
            let b = c.len_delimited()?.to_vec();
            *acc = ValueAcc::Scalar(if ty == T::WaveformByte {
                SampleValue::VByte(b)
            } else {
                SampleValue::V4Generic(b)
            });
        }
        _ => {
            let ValueAcc::Vec(v) = acc else {
                return Err(bad());
            };
            decode_vector_part(v, wt, c).map_err(|e| match e {
                SampleCodecError::WireType { .. } => bad(),
                other => other,
            })?;
        }
    }
    Ok(())
}

/// One occurrence of a repeated field 3: packed (LEN) or a single element.
fn decode_vector_part(v: &mut SampleValue, wt: u8, c: &mut Cursor<'_>) -> Result<(), SampleCodecError> {
    let mismatch = SampleCodecError::WireType {
        field: 3,
        wire_type: wt,
        ty: v.db_type(),
    };
    match v {
        SampleValue::VString(items) => {
            if wt != WT_LEN {
                return Err(mismatch);
            }
            items.push(String::from_utf8_lossy(c.len_delimited()?).into_owned());
        }
        SampleValue::VShort(items) | SampleValue::VEnum(items) => match wt {
            WT_LEN => {
                let mut p = Cursor::new(c.len_delimited()?);
                while !p.done() {
                    items.push(unzigzag32(p.varint()?) as i16);
                }
            }
            WT_VARINT => items.push(unzigzag32(c.varint()?) as i16),
            _ => return Err(mismatch),
        },
        SampleValue::VInt(items) => match wt {
            WT_LEN => {
                let b = c.len_delimited()?;
                if b.len() % 4 != 0 {
                    return Err(WireError::Truncated(c.pos).into());
                }
                items.extend(
                    b.chunks_exact(4)
                        .map(|x| i32::from_le_bytes([x[0], x[1], x[2], x[3]])),
                );
            }
            WT_I32 => items.push(i32::from_le_bytes(c.fixed32()?)),
            _ => return Err(mismatch),
        },
        SampleValue::VFloat(items) => match wt {
            WT_LEN => {
                let b = c.len_delimited()?;
                if b.len() % 4 != 0 {
                    return Err(WireError::Truncated(c.pos).into());
                }
                items.extend(
                    b.chunks_exact(4)
                        .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]])),
                );
            }
            WT_I32 => items.push(f32::from_le_bytes(c.fixed32()?)),
            _ => return Err(mismatch),
        },
        SampleValue::VDouble(items) => match wt {
            WT_LEN => {
                let b = c.len_delimited()?;
                if b.len() % 8 != 0 {
                    return Err(WireError::Truncated(c.pos).into());
                }
                items.reserve(b.len() / 8);
                items.extend(b.chunks_exact(8).map(|x| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(x);
                    f64::from_le_bytes(a)
                }));
            }
            WT_I64 => items.push(f64::from_le_bytes(c.fixed64()?)),
            _ => return Err(mismatch),
        },
        _ => return Err(mismatch),
    }
    Ok(())
}

/// Writes one FieldValue-style message (`1: name, 2: val`) as a nested field.
pub(crate) fn put_field_value(out: &mut Vec<u8>, field: u32, name: &str, val: &str) {
    let inner = 1 + varint_len(name.len() as u64) + name.len() + 1 + varint_len(val.len() as u64) + val.len();
    put_tag(out, field, WT_LEN);
    put_varint(out, inner as u64);
    out.push(0x0a);
    put_varint(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    out.push(0x12);
    put_varint(out, val.len() as u64);
    out.extend_from_slice(val.as_bytes());
}

#[cfg(test)]
#[path = "codec_test.rs"]
mod codec_test;
