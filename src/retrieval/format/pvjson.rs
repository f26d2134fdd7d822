//! `V4_GENERIC_BYTES` values as JSON, as Java's
//! `ByteBufSampleValue.toJSONString` writes them: the stored bytes (type
//! description then value, big-endian) decoded into a structure, written
//! as an object with sorted keys; unions as `{"union": …}`, `any` as
//! `{"any": …}`, arrays as lists, and json-simple's number and string
//! text (`null` for non-finite numbers, `/` escaped). Bytes that do not
//! decode give `{}`, as in Java.

use std::io::Cursor;

use epics_pva_rs::proto::ByteOrder;
use epics_pva_rs::pvdata::encode::{decode_pv_field_cached, decode_type_desc_cached, TypeCache};
use epics_pva_rs::pvdata::{PvField, PvStructure, ScalarValue, TypedScalarArray};

use crate::types::java::{push_double, push_float};

/// Appends the JSON object of stored generic bytes.
pub(crate) fn push_generic(out: &mut String, bytes: &[u8]) {
    let mut cur = Cursor::new(bytes);
    let mut cache = TypeCache::new();
    let decoded = decode_type_desc_cached(&mut cur, ByteOrder::Big, &mut cache)
        .and_then(|d| decode_pv_field_cached(&d, &mut cur, ByteOrder::Big, &mut cache));
    match decoded {
        Ok(PvField::Structure(s)) => push_struct(out, &s),
        _ => out.push_str("{}"),
    }
}

/// json-simple's `JSONValue.escape`.
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || ('\u{2000}'..='\u{20ff}').contains(&c) =>
            {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_struct(out: &mut String, s: &PvStructure) {
    let mut fields: Vec<&(String, PvField)> = s.fields.iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    out.push('{');
    for (i, (name, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string(out, name);
        out.push(':');
        push_field(out, v);
    }
    out.push('}');
}

fn push_scalar(out: &mut String, v: &ScalarValue) {
    let mut ib = itoa::Buffer::new();
    match v {
        ScalarValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        // Java's getters read unsigned values as their signed bits.
        ScalarValue::Byte(x) => out.push_str(ib.format(*x)),
        ScalarValue::UByte(x) => out.push_str(ib.format(*x as i8)),
        ScalarValue::Short(x) => out.push_str(ib.format(*x)),
        ScalarValue::UShort(x) => out.push_str(ib.format(*x as i16)),
        ScalarValue::Int(x) => out.push_str(ib.format(*x)),
        ScalarValue::UInt(x) => out.push_str(ib.format(*x as i32)),
        ScalarValue::Long(x) => out.push_str(ib.format(*x)),
        ScalarValue::ULong(x) => out.push_str(ib.format(*x as i64)),
        ScalarValue::Float(x) if x.is_finite() => push_float(out, *x),
        ScalarValue::Double(x) if x.is_finite() => push_double(out, *x),
        ScalarValue::Float(_) | ScalarValue::Double(_) => out.push_str("null"),
        ScalarValue::String(s) => push_string(out, &s.as_str_lossy()),
    }
}

fn push_list<T>(out: &mut String, items: impl Iterator<Item = T>, mut f: impl FnMut(&mut String, T)) {
    out.push('[');
    for (i, x) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        f(out, x);
    }
    out.push(']');
}

fn push_typed(out: &mut String, t: &TypedScalarArray) {
    match t {
        TypedScalarArray::Boolean(a) => {
            push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::Boolean(*x)))
        }
        TypedScalarArray::Byte(a) => push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::Byte(*x))),
        TypedScalarArray::UByte(a) => {
            push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::UByte(*x)))
        }
        TypedScalarArray::Short(a) => {
            push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::Short(*x)))
        }
        TypedScalarArray::UShort(a) => {
            push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::UShort(*x)))
        }
        TypedScalarArray::Int(a) => push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::Int(*x))),
        TypedScalarArray::UInt(a) => push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::UInt(*x))),
        TypedScalarArray::Long(a) => push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::Long(*x))),
        TypedScalarArray::ULong(a) => {
            push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::ULong(*x)))
        }
        TypedScalarArray::Float(a) => {
            push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::Float(*x)))
        }
        TypedScalarArray::Double(a) => {
            push_list(out, a.iter(), |o, x| push_scalar(o, &ScalarValue::Double(*x)))
        }
        TypedScalarArray::String(a) => push_list(out, a.iter(), |o, x| push_string(o, &x.as_str_lossy())),
    }
}

fn push_field(out: &mut String, v: &PvField) {
    match v {
        PvField::Scalar(s) => push_scalar(out, s),
        PvField::ScalarArray(xs) => push_list(out, xs.iter(), push_scalar),
        PvField::ScalarArrayTyped(t) => push_typed(out, t),
        PvField::Structure(s) => push_struct(out, s),
        PvField::StructureArray(xs) => push_list(out, xs.iter(), |o, x| match x {
            Some(s) => push_struct(o, s),
            None => o.push_str("null"),
        }),
        PvField::Union { selector, value, .. } => {
            out.push_str("{\"union\":");
            if *selector < 0 {
                out.push_str("null");
            } else {
                push_field(out, value);
            }
            out.push('}');
        }
        PvField::UnionArray(xs) => push_list(out, xs.iter(), |o, x| {
            o.push_str("{\"union\":");
            match x {
                Some(item) if item.selector >= 0 => push_field(o, &item.value),
                _ => o.push_str("null"),
            }
            o.push('}');
        }),
        PvField::Variant(v) => {
            out.push_str("{\"any\":");
            if v.desc.is_some() {
                push_field(out, &v.value);
            } else {
                out.push_str("null");
            }
            out.push('}');
        }
        PvField::VariantArray(xs) => push_list(out, xs.iter(), |o, x| {
            o.push_str("{\"any\":");
            match x {
                Some(v) if v.desc.is_some() => push_field(o, &v.value),
                _ => o.push_str("null"),
            }
            o.push('}');
        }),
        #[allow(unreachable_patterns)]
        _ => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use epics_pva_rs::pvdata::encode::{encode_pv_field, encode_type_desc};
    use epics_pva_rs::pvdata::{FieldDesc, ScalarType};

    #[test]
    fn structure_as_sorted_object() {
        let desc = FieldDesc::Structure {
            struct_id: "x:1.0".into(),
            fields: vec![
                ("position".into(), FieldDesc::Scalar(ScalarType::Double)),
                ("name".into(), FieldDesc::Scalar(ScalarType::String)),
                ("flags".into(), FieldDesc::ScalarArray(ScalarType::UByte)),
                ("moving".into(), FieldDesc::Scalar(ScalarType::Boolean)),
                (
                    "inner".into(),
                    FieldDesc::Structure {
                        struct_id: String::new(),
                        fields: vec![
                            ("b".into(), FieldDesc::Scalar(ScalarType::Long)),
                            ("a".into(), FieldDesc::Scalar(ScalarType::Float)),
                        ],
                    },
                ),
            ],
        };
        let mut v = PvStructure::new("x:1.0");
        v.fields
            .push(("position".into(), PvField::Scalar(ScalarValue::Double(1.5))));
        v.fields.push((
            "name".into(),
            PvField::Scalar(ScalarValue::String("a/b\"c".into())),
        ));
        v.fields.push((
            "flags".into(),
            PvField::ScalarArray(vec![ScalarValue::UByte(1), ScalarValue::UByte(255)]),
        ));
        v.fields
            .push(("moving".into(), PvField::Scalar(ScalarValue::Boolean(true))));
        let mut inner = PvStructure::new("");
        inner
            .fields
            .push(("b".into(), PvField::Scalar(ScalarValue::Long(-7))));
        inner
            .fields
            .push(("a".into(), PvField::Scalar(ScalarValue::Float(f32::NAN))));
        v.fields.push(("inner".into(), PvField::Structure(inner)));
        let mut bytes = Vec::new();
        encode_type_desc(&desc, ByteOrder::Big, &mut bytes);
        encode_pv_field(&PvField::Structure(v), &desc, ByteOrder::Big, &mut bytes);
        let mut out = String::new();
        push_generic(&mut out, &bytes);
        assert_eq!(
            out,
            r#"{"flags":[1,-1],"inner":{"a":null,"b":-7},"moving":true,"name":"a\/b\"c","position":1.5}"#
        );
        let mut bad = String::new();
        push_generic(&mut bad, &[0x80, 0x05]);
        assert_eq!(bad, "{}");
    }
}
