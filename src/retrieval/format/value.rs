//! Value text shared by the formats.

use super::NonFinite;
use crate::types::java::{push_double, push_float};
use crate::types::SampleValue;

fn push_json_double(out: &mut String, v: f64, nf: NonFinite) {
    if v.is_finite() {
        push_double(out, v);
        return;
    }
    let word = if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    };
    match nf {
        NonFinite::Bare => out.push_str(word),
        NonFinite::Null => out.push_str("null"),
        NonFinite::String => {
            out.push('"');
            out.push_str(word);
            out.push('"');
        }
    }
}

fn push_json_float(out: &mut String, v: f32, nf: NonFinite) {
    if v.is_finite() {
        push_float(out, v);
    } else {
        push_json_double(out, f64::from(v), nf);
    }
}

/// Appends a JSON string literal.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn join<T: Copy>(out: &mut String, items: &[T], mut f: impl FnMut(&mut String, T)) {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        f(out, *x);
    }
    out.push(']');
}

/// Appends the JSON text of a value (Java's `toJSONString`).
pub(crate) fn push_value_json(out: &mut String, v: &SampleValue, nf: NonFinite) {
    let mut ib = itoa::Buffer::new();
    match v {
        SampleValue::Double(x) => push_json_double(out, *x, nf),
        SampleValue::Float(x) => push_json_float(out, *x, nf),
        SampleValue::Short(x) | SampleValue::Enum(x) => out.push_str(ib.format(*x)),
        SampleValue::Int(x) => out.push_str(ib.format(*x)),
        SampleValue::Byte(x) => out.push_str(ib.format(*x)),
        SampleValue::String(s) => push_json_string(out, s),
        SampleValue::VDouble(xs) => join(out, xs, |o, x| push_json_double(o, x, nf)),
        SampleValue::VFloat(xs) => join(out, xs, |o, x| push_json_float(o, x, nf)),
        SampleValue::VShort(xs) | SampleValue::VEnum(xs) => {
            join(out, xs, |o, x| o.push_str(itoa::Buffer::new().format(x)))
        }
        SampleValue::VInt(xs) => join(out, xs, |o, x| o.push_str(itoa::Buffer::new().format(x))),
        SampleValue::VByte(xs) => join(out, xs, |o, x| o.push_str(itoa::Buffer::new().format(x as i8))),
        SampleValue::V4Generic(xs) => super::pvjson::push_generic(out, xs),
        SampleValue::VString(xs) => {
            // Java omits empty strings of a string waveform.
            out.push('[');
            let mut first = true;
            for s in xs.iter().filter(|s| !s.is_empty()) {
                if !first {
                    out.push(',');
                }
                first = false;
                push_json_string(out, s);
            }
            out.push(']');
        }
    }
}

/// Appends the plain text of a value (Java `toString`: CSV and text formats).
pub fn push_value_text(out: &mut String, v: &SampleValue) {
    let mut ib = itoa::Buffer::new();
    match v {
        SampleValue::Double(x) => push_double(out, *x),
        SampleValue::Float(x) => push_float(out, *x),
        SampleValue::Short(x) | SampleValue::Enum(x) => out.push_str(ib.format(*x)),
        SampleValue::Int(x) => out.push_str(ib.format(*x)),
        SampleValue::Byte(x) => out.push_str(ib.format(*x)),
        SampleValue::String(s) => out.push_str(s),
        SampleValue::VDouble(xs) => join(out, xs, push_double),
        SampleValue::VFloat(xs) => join(out, xs, push_float),
        SampleValue::VShort(xs) | SampleValue::VEnum(xs) => {
            join(out, xs, |o, x| o.push_str(itoa::Buffer::new().format(x)))
        }
        SampleValue::VInt(xs) => join(out, xs, |o, x| o.push_str(itoa::Buffer::new().format(x))),
        SampleValue::VByte(xs) => join(out, xs, |o, x| o.push_str(itoa::Buffer::new().format(x as i8))),
        SampleValue::V4Generic(xs) => join(out, xs, |o, x| o.push_str(itoa::Buffer::new().format(x))),
        SampleValue::VString(xs) => {
            out.push('[');
            out.push_str(&xs.join(","));
            out.push(']');
        }
    }
}
