//! pvAccess structures → archiver samples, as the Java appliance does
//! (`EPICS_V4_PV.determineDBRType`, the `PB*(PVAStructure)` constructors,
//! `PBV4GenericBytes` and `FieldValuesCache`).
//!
//! The type comes from the top-level `value` field only (the NT id is not
//! consulted): numbers, strings and `enum_t` and their arrays map to the
//! Channel Access payload types; anything else (no `value`, `long`,
//! `boolean`, unions, other structures) is stored as `V4_GENERIC_BYTES`:
//! the full inline type description followed by every field value,
//! big-endian, no bitset. Time stamps count from 1970; the user tag is kept
//! only in generic samples.
//!
//! A [`Layout`] is computed once per connection from the introspection
//! data: where `value`, `timeStamp` and `alarm` sit, the monitor bits of the
//! time stamp, and every other leaf with its Channel Access name if it has
//! one. Samples and field values are read from the current value through it
//! without walking names per update.

use epics_pva_rs::proto::{BitSet, ByteOrder};
use epics_pva_rs::pvdata::encode::{encode_pv_field, encode_type_desc};
use epics_pva_rs::pvdata::{FieldDesc, PvField, ScalarType, ScalarValue, TypedScalarArray};

use crate::types::java::{double_to_string, push_double, push_float};
use crate::types::{ArchDbType, ArchiverSample, SampleValue, Timestamp};

/// pvAccess field paths with a Channel Access field name (Java's
/// `FieldValuesCache.v4FieldNames2v3FieldNames`; `control.minStep` → `PREC`
/// is Java's choice).
pub const CA_NAMES: [(&str, &str); 12] = [
    ("display.limitLow", "LOPR"),
    ("display.limitHigh", "HOPR"),
    ("display.description", "DESC"),
    ("display.units", "EGU"),
    ("control.limitLow", "DRVL"),
    ("control.limitHigh", "DRVH"),
    ("control.minStep", "PREC"),
    ("valueAlarm.lowAlarmLimit", "LOLO"),
    ("valueAlarm.lowWarningLimit", "LOW"),
    ("valueAlarm.highWarningLimit", "HIGH"),
    ("valueAlarm.highAlarmLimit", "HIHI"),
    ("valueAlarm.hysteresis", "HYST"),
];

/// The archiver type Java chooses for a structure: by its top-level
/// `value` field.
pub fn arch_type(desc: &FieldDesc) -> ArchDbType {
    use ArchDbType as T;
    let FieldDesc::Structure { fields, .. } = desc else {
        return T::V4GenericBytes;
    };
    let Some((_, value)) = fields.iter().find(|(n, _)| n == "value") else {
        return T::V4GenericBytes;
    };
    let scalar = |st: &ScalarType| match st {
        ScalarType::String => Some(T::ScalarString),
        ScalarType::Double => Some(T::ScalarDouble),
        ScalarType::Int | ScalarType::UInt => Some(T::ScalarInt),
        ScalarType::Byte | ScalarType::UByte => Some(T::ScalarByte),
        ScalarType::Float => Some(T::ScalarFloat),
        ScalarType::Short | ScalarType::UShort => Some(T::ScalarShort),
        ScalarType::Long | ScalarType::ULong | ScalarType::Boolean => None,
    };
    match value {
        FieldDesc::Scalar(st) => scalar(st).unwrap_or(T::V4GenericBytes),
        FieldDesc::ScalarArray(st) => scalar(st).map_or(T::V4GenericBytes, |t| t.waveform_type()),
        FieldDesc::Structure { struct_id, .. } if struct_id.starts_with("enum") => T::ScalarEnum,
        FieldDesc::StructureArray { struct_id, .. } if struct_id.starts_with("enum_t") => T::WaveformEnum,
        _ => T::V4GenericBytes,
    }
}

/// Why an update gives no sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// No usable `timeStamp` (Java stores nothing).
    NoTimeStamp,
    /// `value` is not of the archived type.
    TypeChange,
}

/// One leaf of the structure other than `value`.
#[derive(Debug, Clone)]
struct Leaf {
    /// Field indexes from the top.
    path: Vec<usize>,
    /// Dotted name (`display.units`).
    name: String,
    /// Channel Access name, if it has one.
    ca: Option<&'static str>,
    /// Its monitor bit and those of its parents (not the root's bit 0).
    bits: Vec<usize>,
}

/// Where things are in one structure type (per connection).
#[derive(Debug, Clone)]
pub struct Layout {
    desc: FieldDesc,
    /// Type by Java's rule.
    pub dbr: ArchDbType,
    value: Option<usize>,
    secs: Option<Vec<usize>>,
    nanos: Option<Vec<usize>>,
    user_tag: Option<Vec<usize>>,
    severity: Option<Vec<usize>>,
    status: Option<Vec<usize>>,
    /// First monitor bit of `timeStamp` and how many it spans.
    ts_bits: Option<(usize, usize)>,
    leaves: Vec<Leaf>,
    /// Encoded type description (generic samples), big-endian.
    type_prefix: Vec<u8>,
}

fn child_index(fields: &[(String, FieldDesc)], name: &str) -> Option<usize> {
    fields.iter().position(|(n, _)| n == name)
}

/// Index path of `a.b` under the top structure.
fn path_of(desc: &FieldDesc, dotted: &str) -> Option<Vec<usize>> {
    let mut cur = desc;
    let mut out = Vec::new();
    for part in dotted.split('.') {
        let FieldDesc::Structure { fields, .. } = cur else {
            return None;
        };
        let i = child_index(fields, part)?;
        out.push(i);
        cur = &fields[i].1;
    }
    Some(out)
}

/// Collects the leaves under `desc` (a structure at monitor bit `bit`).
fn walk(
    desc: &FieldDesc,
    bit: usize,
    prefix: &str,
    path: &mut Vec<usize>,
    parents: &mut Vec<usize>,
    out: &mut Vec<Leaf>,
) {
    let FieldDesc::Structure { fields, .. } = desc else {
        return;
    };
    let mut child_bit = bit + 1;
    for (i, (name, child)) in fields.iter().enumerate() {
        let span = child.total_bits();
        // Java skips members named `value` at every level.
        if name != "value" {
            let dotted = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            path.push(i);
            parents.push(child_bit);
            if matches!(child, FieldDesc::Structure { .. }) {
                walk(child, child_bit, &dotted, path, parents, out);
            } else {
                let ca = CA_NAMES.iter().find(|(v4, _)| *v4 == dotted).map(|(_, ca)| *ca);
                out.push(Leaf {
                    path: path.clone(),
                    name: dotted,
                    ca,
                    bits: parents.clone(),
                });
            }
            parents.pop();
            path.pop();
        }
        child_bit += span;
    }
}

impl Layout {
    /// The layout of values of type `desc`.
    pub fn new(desc: &FieldDesc) -> Self {
        let top_fields: &[(String, FieldDesc)] = match desc {
            FieldDesc::Structure { fields, .. } => fields,
            _ => &[],
        };
        let ts_bits = child_index(top_fields, "timeStamp").map(|i| {
            let start = 1 + top_fields[..i].iter().map(|(_, d)| d.total_bits()).sum::<usize>();
            (start, top_fields[i].1.total_bits())
        });
        let mut leaves = Vec::new();
        walk(desc, 0, "", &mut Vec::new(), &mut Vec::new(), &mut leaves);
        let mut type_prefix = Vec::new();
        encode_type_desc(desc, ByteOrder::Big, &mut type_prefix);
        Layout {
            desc: desc.clone(),
            dbr: arch_type(desc),
            value: child_index(top_fields, "value"),
            secs: path_of(desc, "timeStamp.secondsPastEpoch"),
            nanos: path_of(desc, "timeStamp.nanoseconds"),
            user_tag: path_of(desc, "timeStamp.userTag"),
            severity: path_of(desc, "alarm.severity"),
            status: path_of(desc, "alarm.status"),
            ts_bits,
            leaves,
            type_prefix,
        }
    }

    /// The type description this layout was made for.
    pub fn desc(&self) -> &FieldDesc {
        &self.desc
    }

    /// Java's `timeStampUpdated`: the whole structure (bit 0) or a bit of
    /// `timeStamp` changed. Other updates (limits, units) are not samples.
    pub fn timestamp_changed(&self, changed: &BitSet) -> bool {
        changed.get(0)
            || self
                .ts_bits
                .is_some_and(|(b, span)| (b..b + span).any(|k| changed.get(k)))
    }

    /// True if a leaf other than `value`, `timeStamp` and `alarm` changed.
    pub fn property_changed(&self, changed: &BitSet) -> bool {
        changed.get(0)
            || self.leaves.iter().any(|l| {
                !(l.name.starts_with("timeStamp.") || l.name.starts_with("alarm."))
                    && l.bits.iter().any(|b| changed.get(*b))
            })
    }

    fn int_at(&self, value: &PvField, path: &Option<Vec<usize>>) -> Option<i64> {
        at(value, path.as_deref()?).and_then(as_i64)
    }

    /// The time stamp of `value` (`timeStamp`, 1970 epoch).
    pub fn sample_time(&self, value: &PvField) -> Result<Timestamp, Skip> {
        let secs = self.int_at(value, &self.secs).ok_or(Skip::NoTimeStamp)?;
        let nanos = self
            .int_at(value, &self.nanos)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n < 1_000_000_000)
            .ok_or(Skip::NoTimeStamp)?;
        Ok(Timestamp::new(secs, nanos))
    }

    /// The sample of `value` as archived type `want`.
    pub fn sample(&self, value: &PvField, want: ArchDbType) -> Result<ArchiverSample, Skip> {
        let ts = self.sample_time(value)?;
        let v = if want == ArchDbType::V4GenericBytes {
            if self.dbr != ArchDbType::V4GenericBytes {
                return Err(Skip::TypeChange);
            }
            let mut bytes = self.type_prefix.clone();
            encode_pv_field(value, &self.desc, ByteOrder::Big, &mut bytes);
            SampleValue::V4Generic(bytes)
        } else {
            let PvField::Structure(top) = value else {
                return Err(Skip::TypeChange);
            };
            let field = self
                .value
                .and_then(|i| top.fields.get(i))
                .ok_or(Skip::TypeChange)?;
            value_as(&field.1, want).ok_or(Skip::TypeChange)?
        };
        let sev = self.int_at(value, &self.severity).unwrap_or(0) as i32;
        let stat = self.int_at(value, &self.status).unwrap_or(0) as i32;
        let mut s = ArchiverSample::at(ts.secs, ts.nanos, v).with_alarm(sev, stat);
        if want == ArchDbType::V4GenericBytes {
            let tag = self.int_at(value, &self.user_tag).unwrap_or(0);
            s.extra_mut().user_tag = Some(tag as u32);
        }
        Ok(s)
    }

    /// Changed leaves with a Channel Access name, under that name (what
    /// Java attaches to each pvAccess sample). A complete update (bit 0
    /// alone) names none.
    pub fn changed_ca_fields(&self, value: &PvField, changed: &BitSet) -> Vec<(String, String)> {
        self.leaves
            .iter()
            .filter(|l| l.ca.is_some() && l.bits.iter().any(|b| changed.get(*b)))
            .filter_map(|l| Some((l.ca?.to_string(), leaf_text(at(value, &l.path)?))))
            .collect()
    }

    /// Every leaf with a Channel Access name, under that name.
    pub fn ca_fields(&self, value: &PvField) -> Vec<(String, String)> {
        self.leaves
            .iter()
            .filter_map(|l| Some((l.ca?.to_string(), leaf_text(at(value, &l.path)?))))
            .collect()
    }

    /// Every leaf other than `value` under its dotted name.
    pub fn leaves(&self, value: &PvField) -> Vec<(String, String)> {
        self.leaves
            .iter()
            .filter_map(|l| Some((l.name.clone(), leaf_text(at(value, &l.path)?))))
            .collect()
    }

    /// Changed leaves under their dotted names.
    pub fn changed_leaves(&self, value: &PvField, changed: &BitSet) -> Vec<(String, String)> {
        self.leaves
            .iter()
            .filter(|l| l.bits.iter().any(|b| changed.get(*b)))
            .filter_map(|l| Some((l.name.clone(), leaf_text(at(value, &l.path)?))))
            .collect()
    }
}

/// The field at index path `path`.
fn at<'a>(v: &'a PvField, path: &[usize]) -> Option<&'a PvField> {
    let mut cur = v;
    for &i in path {
        let PvField::Structure(s) = cur else {
            return None;
        };
        cur = &s.fields.get(i)?.1;
    }
    Some(cur)
}

fn scalar_i64(v: &ScalarValue) -> Option<i64> {
    Some(match v {
        ScalarValue::Boolean(b) => i64::from(*b),
        ScalarValue::Byte(x) => i64::from(*x),
        ScalarValue::UByte(x) => i64::from(*x),
        ScalarValue::Short(x) => i64::from(*x),
        ScalarValue::UShort(x) => i64::from(*x),
        ScalarValue::Int(x) => i64::from(*x),
        ScalarValue::UInt(x) => i64::from(*x),
        ScalarValue::Long(x) => *x,
        ScalarValue::ULong(x) => *x as i64,
        ScalarValue::Float(x) => *x as i64,
        ScalarValue::Double(x) => *x as i64,
        ScalarValue::String(_) => return None,
    })
}

fn as_i64(v: &PvField) -> Option<i64> {
    match v {
        PvField::Scalar(s) => scalar_i64(s),
        _ => None,
    }
}

fn as_f64(v: &PvField) -> Option<f64> {
    match v {
        PvField::Scalar(ScalarValue::Double(x)) => Some(*x),
        PvField::Scalar(ScalarValue::Float(x)) => Some(f64::from(*x)),
        PvField::Scalar(s) => scalar_i64(s).map(|x| x as f64),
        _ => None,
    }
}

/// A scalar as Java's `FieldValuesCache.getScalarField` prints it
/// (unsigned integers read as their signed bits, as Java's getters do).
fn scalar_text(v: &ScalarValue, out: &mut String) {
    use std::fmt::Write;
    let _ = match v {
        ScalarValue::Boolean(b) => write!(out, "{b}"),
        ScalarValue::Byte(x) => write!(out, "{x}"),
        ScalarValue::UByte(x) => write!(out, "{}", *x as i8),
        ScalarValue::Short(x) => write!(out, "{x}"),
        ScalarValue::UShort(x) => write!(out, "{}", *x as i16),
        ScalarValue::Int(x) => write!(out, "{x}"),
        ScalarValue::UInt(x) => write!(out, "{}", *x as i32),
        ScalarValue::Long(x) => write!(out, "{x}"),
        ScalarValue::ULong(x) => write!(out, "{}", *x as i64),
        ScalarValue::Float(x) => {
            push_float(out, *x);
            Ok(())
        }
        ScalarValue::Double(x) => {
            push_double(out, *x);
            Ok(())
        }
        ScalarValue::String(s) => {
            out.push_str(&s.as_str_lossy());
            Ok(())
        }
    };
}

/// A leaf as text: scalars as Java prints them, arrays as Java's
/// `Arrays.toString` (`[1.0, 2.0]`), anything else in pvxs's format.
pub fn leaf_text(v: &PvField) -> String {
    let mut out = String::new();
    match v {
        PvField::Scalar(s) => scalar_text(s, &mut out),
        PvField::ScalarArray(_) | PvField::ScalarArrayTyped(_) => {
            out.push('[');
            for (i, e) in array_elems(v).unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                scalar_text(e, &mut out);
            }
            out.push(']');
        }
        other => out.push_str(epics_pva_rs::pvdata::render_value(other).trim()),
    }
    out
}

/// Elements of a scalar array, whichever representation the decoder chose.
fn array_elems(v: &PvField) -> Option<Vec<ScalarValue>> {
    Some(match v {
        PvField::ScalarArray(xs) => xs.clone(),
        PvField::ScalarArrayTyped(t) => match t {
            TypedScalarArray::Boolean(a) => a.iter().map(|x| ScalarValue::Boolean(*x)).collect(),
            TypedScalarArray::Byte(a) => a.iter().map(|x| ScalarValue::Byte(*x)).collect(),
            TypedScalarArray::UByte(a) => a.iter().map(|x| ScalarValue::UByte(*x)).collect(),
            TypedScalarArray::Short(a) => a.iter().map(|x| ScalarValue::Short(*x)).collect(),
            TypedScalarArray::UShort(a) => a.iter().map(|x| ScalarValue::UShort(*x)).collect(),
            TypedScalarArray::Int(a) => a.iter().map(|x| ScalarValue::Int(*x)).collect(),
            TypedScalarArray::UInt(a) => a.iter().map(|x| ScalarValue::UInt(*x)).collect(),
            TypedScalarArray::Long(a) => a.iter().map(|x| ScalarValue::Long(*x)).collect(),
            TypedScalarArray::ULong(a) => a.iter().map(|x| ScalarValue::ULong(*x)).collect(),
            TypedScalarArray::Float(a) => a.iter().map(|x| ScalarValue::Float(*x)).collect(),
            TypedScalarArray::Double(a) => a.iter().map(|x| ScalarValue::Double(*x)).collect(),
            TypedScalarArray::String(a) => a.iter().map(|x| ScalarValue::String(x.clone())).collect(),
        },
        _ => return None,
    })
}

/// Elements converted by `f`; `None` when one does not convert.
fn collect<T>(arr: &PvField, f: impl Fn(&ScalarValue) -> Option<T>) -> Option<Vec<T>> {
    array_elems(arr)?.iter().map(f).collect()
}

/// `value` as archived type `want`; `None` when it is of another type.
pub fn value_as(value: &PvField, want: ArchDbType) -> Option<SampleValue> {
    use ArchDbType as T;
    Some(match (value, want) {
        (PvField::ScalarArrayTyped(TypedScalarArray::Double(a)), T::WaveformDouble) => {
            SampleValue::VDouble(a.to_vec())
        }
        (PvField::ScalarArrayTyped(TypedScalarArray::Float(a)), T::WaveformFloat) => {
            SampleValue::VFloat(a.to_vec())
        }
        (PvField::ScalarArrayTyped(TypedScalarArray::Int(a)), T::WaveformInt) => {
            SampleValue::VInt(a.to_vec())
        }
        (PvField::Scalar(ScalarValue::Double(x)), T::ScalarDouble) => SampleValue::Double(*x),
        (PvField::Scalar(ScalarValue::Float(x)), T::ScalarFloat) => SampleValue::Float(*x),
        (PvField::Scalar(v), T::ScalarInt) => match v {
            ScalarValue::Int(x) => SampleValue::Int(*x),
            ScalarValue::UInt(x) => SampleValue::Int(*x as i32),
            _ => return None,
        },
        (PvField::Scalar(v), T::ScalarShort) => match v {
            ScalarValue::Short(x) => SampleValue::Short(*x),
            ScalarValue::UShort(x) => SampleValue::Short(*x as i16),
            _ => return None,
        },
        (PvField::Scalar(v), T::ScalarByte) => match v {
            ScalarValue::Byte(x) => SampleValue::Byte(*x),
            ScalarValue::UByte(x) => SampleValue::Byte(*x as i8),
            _ => return None,
        },
        (PvField::Scalar(ScalarValue::String(s)), T::ScalarString) => {
            SampleValue::String(s.as_str_lossy().into_owned())
        }
        (PvField::Structure(e), T::ScalarEnum) => {
            let i = e.fields.iter().find(|(n, _)| n == "index")?;
            SampleValue::Enum(as_i64(&i.1)? as i16)
        }
        (PvField::StructureArray(es), T::WaveformEnum) => SampleValue::VEnum(
            es.iter()
                .map(|e| {
                    e.as_ref()
                        .and_then(|e| e.fields.iter().find(|(n, _)| n == "index"))
                        .and_then(|(_, v)| as_i64(v))
                        .unwrap_or(0) as i16
                })
                .collect(),
        ),
        (arr, T::WaveformDouble) => SampleValue::VDouble(collect(arr, |v| match v {
            ScalarValue::Double(x) => Some(*x),
            _ => None,
        })?),
        (arr, T::WaveformFloat) => SampleValue::VFloat(collect(arr, |v| match v {
            ScalarValue::Float(x) => Some(*x),
            _ => None,
        })?),
        (arr, T::WaveformInt) => SampleValue::VInt(collect(arr, |v| match v {
            ScalarValue::Int(x) => Some(*x),
            ScalarValue::UInt(x) => Some(*x as i32),
            _ => None,
        })?),
        (arr, T::WaveformShort) => SampleValue::VShort(collect(arr, |v| match v {
            ScalarValue::Short(x) => Some(*x),
            ScalarValue::UShort(x) => Some(*x as i16),
            _ => None,
        })?),
        (arr, T::WaveformByte) => SampleValue::VByte(collect(arr, |v| match v {
            ScalarValue::Byte(x) => Some(*x as u8),
            ScalarValue::UByte(x) => Some(*x),
            _ => None,
        })?),
        (arr, T::WaveformString) => SampleValue::VString(collect(arr, |v| match v {
            ScalarValue::String(s) => Some(s.as_str_lossy().into_owned()),
            _ => None,
        })?),
        _ => return None,
    })
}

/// Element count of `value` (1 for scalars, enums and structures).
pub fn element_count(value: &PvField) -> usize {
    let PvField::Structure(top) = value else {
        return 1;
    };
    match top.fields.iter().find(|(n, _)| n == "value").map(|(_, v)| v) {
        Some(PvField::ScalarArray(a)) => a.len(),
        Some(PvField::ScalarArrayTyped(t)) => array_elems(&PvField::ScalarArrayTyped(t.clone()))
            .map(|e| e.len())
            .unwrap_or(1),
        Some(PvField::StructureArray(a)) => a.len(),
        _ => 1,
    }
}

/// Text of a scalar value (for archived-field channels): the `value` of an
/// NT structure, or the value itself.
pub fn value_text(value: &PvField) -> Option<String> {
    let v = match value {
        PvField::Structure(top) => &top.fields.iter().find(|(n, _)| n == "value")?.1,
        other => other,
    };
    match v {
        PvField::Structure(e) => e
            .fields
            .iter()
            .find(|(n, _)| n == "index")
            .map(|(_, i)| leaf_text(i)),
        other => Some(leaf_text(other)),
    }
}

/// A field read when a PV is first archived, as Java's `MetaGet` records
/// it: an enum by its label, numbers as Java doubles, strings as text, a
/// byte array (`NAME$`) as the text before its NUL.
pub fn meta_text(value: &PvField) -> Option<String> {
    let v = match value {
        PvField::Structure(top) => &top.fields.iter().find(|(n, _)| n == "value")?.1,
        other => other,
    };
    match v {
        PvField::Structure(e) => {
            let index = as_i64(&e.fields.iter().find(|(n, _)| n == "index")?.1)?;
            let choices = array_elems(&e.fields.iter().find(|(n, _)| n == "choices")?.1)?;
            let mut out = String::new();
            scalar_text(choices.get(usize::try_from(index).ok()?)?, &mut out);
            Some(out)
        }
        PvField::Scalar(ScalarValue::String(s)) => Some(s.as_str_lossy().into_owned()),
        PvField::Scalar(_) => as_f64(v).map(double_to_string),
        arr => {
            let bytes: Vec<u8> = array_elems(arr)?
                .iter()
                .map(|e| match e {
                    ScalarValue::Byte(b) => Some(*b as u8),
                    ScalarValue::UByte(b) => Some(*b),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
        }
    }
}

/// Metadata under the Channel Access names strata uses elsewhere: `EGU`
/// and `PREC` (the PayloadInfo headers) from `display.units` and
/// `display.precision`, `DESC`, the limits (`LOPR HOPR DRVL DRVH LOLO LOW
/// HIGH HIHI HYST`, Java number text) and `ENUMS` (the enum labels).
pub fn metadata(value: &PvField) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let PvField::Structure(top) = value else {
        return out;
    };
    let get = |dotted: &str| -> Option<&PvField> {
        let mut cur = value;
        for part in dotted.split('.') {
            let PvField::Structure(s) = cur else {
                return None;
            };
            cur = &s.fields.iter().find(|(n, _)| n == part)?.1;
        }
        Some(cur)
    };
    if let Some(u) = get("display.units").map(leaf_text).filter(|u| !u.is_empty()) {
        out.push(("EGU".to_string(), u));
    }
    if let Some(p) = get("display.precision").and_then(as_i64) {
        out.push(("PREC".to_string(), p.to_string()));
    }
    if let Some(d) = get("display.description")
        .map(leaf_text)
        .filter(|d| !d.is_empty())
    {
        out.push(("DESC".to_string(), d));
    }
    for (v4, ca) in CA_NAMES {
        if matches!(ca, "EGU" | "PREC" | "DESC") {
            continue;
        }
        if let Some(x) = get(v4).and_then(as_f64) {
            out.push((ca.to_string(), double_to_string(x)));
        }
    }
    let choices = top
        .fields
        .iter()
        .find(|(n, _)| n == "value")
        .and_then(|(_, v)| match v {
            PvField::Structure(e) => e.fields.iter().find(|(n, _)| n == "choices").map(|(_, c)| c),
            _ => None,
        });
    if let Some(labels) = choices.and_then(array_elems) {
        let labels: Vec<String> = labels
            .iter()
            .map(|l| {
                let mut s = String::new();
                scalar_text(l, &mut s);
                s
            })
            .collect();
        out.push(("ENUMS".to_string(), labels.join(",")));
    }
    out
}

#[cfg(test)]
#[path = "convert_test.rs"]
mod tests;
