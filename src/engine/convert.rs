//! Channel Access values → archiver samples and types.

use epics_base_rs::server::snapshot::Snapshot;
use epics_base_rs::types::{DbFieldType, EpicsValue};

use crate::types::{ArchDbType, ArchiverSample, SampleValue};

/// Archiver type of a CA channel's native type and element count
/// (`None` for types CA never delivers).
pub fn arch_type(native: DbFieldType, count: u32) -> Option<ArchDbType> {
    let scalar = match native {
        DbFieldType::String => ArchDbType::ScalarString,
        DbFieldType::Short => ArchDbType::ScalarShort,
        DbFieldType::Float => ArchDbType::ScalarFloat,
        DbFieldType::Enum => ArchDbType::ScalarEnum,
        DbFieldType::Char => ArchDbType::ScalarByte,
        DbFieldType::Long => ArchDbType::ScalarInt,
        DbFieldType::Double => ArchDbType::ScalarDouble,
        _ => return None,
    };
    Some(if count > 1 { scalar.waveform_type() } else { scalar })
}

/// Converts a CA value to a sample value of type `want`; `None` when the
/// value is of another type (a type change on the IOC side).
pub fn value_as(v: &EpicsValue, want: ArchDbType) -> Option<SampleValue> {
    use ArchDbType as T;
    Some(match (v, want) {
        (EpicsValue::Double(x), T::ScalarDouble) => SampleValue::Double(*x),
        (EpicsValue::Float(x), T::ScalarFloat) => SampleValue::Float(*x),
        (EpicsValue::Long(x), T::ScalarInt) => SampleValue::Int(*x),
        (EpicsValue::Short(x), T::ScalarShort) => SampleValue::Short(*x),
        (EpicsValue::Enum(x), T::ScalarEnum) => SampleValue::Enum(*x as i16),
        (EpicsValue::EnumWithChoices { index, .. }, T::ScalarEnum) => SampleValue::Enum(*index as i16),
        (EpicsValue::Char(x) | EpicsValue::UChar(x), T::ScalarByte) => SampleValue::Byte(*x as i8),
        (EpicsValue::String(s), T::ScalarString) => SampleValue::String(s.as_str_lossy().into_owned()),
        (EpicsValue::DoubleArray(a), T::WaveformDouble) => SampleValue::VDouble(a.to_vec()),
        (EpicsValue::FloatArray(a), T::WaveformFloat) => SampleValue::VFloat(a.to_vec()),
        (EpicsValue::LongArray(a), T::WaveformInt) => SampleValue::VInt(a.to_vec()),
        (EpicsValue::ShortArray(a), T::WaveformShort) => SampleValue::VShort(a.to_vec()),
        (EpicsValue::EnumArray(a), T::WaveformEnum) => {
            SampleValue::VEnum(a.iter().map(|x| *x as i16).collect())
        }
        (EpicsValue::CharArray(a) | EpicsValue::UCharArray(a), T::WaveformByte) => {
            SampleValue::VByte(a.to_vec())
        }
        (EpicsValue::StringArray(a), T::WaveformString) => {
            SampleValue::VString(a.iter().map(|s| s.as_str_lossy().into_owned()).collect())
        }
        // A waveform PV may momentarily deliver one element as a scalar.
        (EpicsValue::Double(x), T::WaveformDouble) => SampleValue::VDouble(vec![*x]),
        (EpicsValue::Long(x), T::WaveformInt) => SampleValue::VInt(vec![*x]),
        (EpicsValue::Char(x) | EpicsValue::UChar(x), T::WaveformByte) => SampleValue::VByte(vec![*x]),
        _ => return None,
    })
}

/// A sample from a DBR_TIME snapshot, of type `want`.
pub fn sample_of(s: &Snapshot, want: ArchDbType) -> Option<ArchiverSample> {
    let value = value_as(&s.value, want)?;
    let secs = i64::try_from(s.timestamp.unix_secs()).ok()?;
    let mut out = ArchiverSample::at(secs, s.timestamp.subsec_nanos(), value);
    out.severity = i32::from(s.alarm.severity);
    out.status = i32::from(s.alarm.status);
    Some(out)
}

/// Header fields (EGU, PREC) and Java limit fields from a CTRL snapshot,
/// and an enum's state labels as `ENUM_0 … ENUM_n` (Java's MetaInfo keys).
pub fn metadata(s: &Snapshot) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(d) = &s.display {
        let egu = d.units.as_str_lossy().into_owned();
        if !egu.is_empty() {
            out.push(("EGU".to_string(), egu));
        }
        if matches!(
            s.value,
            EpicsValue::Double(_)
                | EpicsValue::Float(_)
                | EpicsValue::DoubleArray(_)
                | EpicsValue::FloatArray(_)
        ) {
            out.push(("PREC".to_string(), d.precision.to_string()));
        }
        for (k, v) in [
            ("HOPR", d.upper_disp_limit),
            ("LOPR", d.lower_disp_limit),
            ("HIHI", d.upper_alarm_limit),
            ("HIGH", d.upper_warning_limit),
            ("LOW", d.lower_warning_limit),
            ("LOLO", d.lower_alarm_limit),
        ] {
            out.push((k.to_string(), crate::types::java::double_to_string(v)));
        }
    }
    if let Some(c) = &s.control {
        out.push((
            "DRVH".into(),
            crate::types::java::double_to_string(c.upper_ctrl_limit),
        ));
        out.push((
            "DRVL".into(),
            crate::types::java::double_to_string(c.lower_ctrl_limit),
        ));
    }
    if let Some(e) = &s.enums {
        let labels: Vec<String> = e.strings.iter().map(|x| x.as_str_lossy().into_owned()).collect();
        out.extend(crate::registry::metainfo::enum_entries(&labels));
    }
    out
}

/// A field value as Java's sample value prints it (`Double.toString` for
/// doubles, the index for enums, the text of a string; a character array
/// as the text before its NUL); `None` for other arrays.
pub fn value_text(v: &EpicsValue) -> Option<String> {
    use crate::types::java::{double_to_string, push_float};
    Some(match v {
        EpicsValue::String(s) => s.as_str_lossy().into_owned(),
        EpicsValue::Double(x) => double_to_string(*x),
        EpicsValue::Float(x) => {
            let mut out = String::new();
            push_float(&mut out, *x);
            out
        }
        EpicsValue::Short(x) => x.to_string(),
        EpicsValue::Long(x) => x.to_string(),
        EpicsValue::Enum(x) => x.to_string(),
        EpicsValue::EnumWithChoices { index, .. } => index.to_string(),
        EpicsValue::Char(x) | EpicsValue::UChar(x) => (*x as i8).to_string(),
        EpicsValue::CharArray(a) | EpicsValue::UCharArray(a) => {
            let end = a.iter().position(|b| *b == 0).unwrap_or(a.len());
            String::from_utf8_lossy(&a[..end]).into_owned()
        }
        other => other.to_string(),
    })
}

/// A field read when a PV is first archived, as Java's `MetaGet` records
/// it: an enum by its label (SCAN), numbers as Java doubles (`0.0`),
/// strings and character arrays as text.
pub fn meta_text(s: &Snapshot) -> Option<String> {
    let index = match &s.value {
        EpicsValue::Enum(i) => Some(*i),
        EpicsValue::EnumWithChoices { index, .. } => Some(*index),
        _ => None,
    };
    if let (Some(i), Some(e)) = (index, &s.enums) {
        if let Some(l) = e.strings.get(usize::from(i)) {
            return Some(l.as_str_lossy().into_owned());
        }
    }
    let f = match &s.value {
        EpicsValue::Double(x) => Some(*x),
        EpicsValue::Float(x) => Some(f64::from(*x)),
        EpicsValue::Short(x) => Some(f64::from(*x)),
        EpicsValue::Long(x) => Some(f64::from(*x)),
        EpicsValue::Enum(x) => Some(f64::from(*x)),
        EpicsValue::Char(x) => Some(f64::from(*x as i8)),
        _ => None,
    };
    match f {
        Some(x) => Some(crate::types::java::double_to_string(x)),
        None => value_text(&s.value),
    }
}

/// True when a controlling PV's value switches archiving on (Java's
/// `decodeBooleanValue`: a number other than 0; anything else is on).
pub fn enables(v: &EpicsValue) -> bool {
    match v {
        EpicsValue::Double(x) => *x != 0.0,
        EpicsValue::Float(x) => *x != 0.0,
        EpicsValue::Short(x) => *x != 0,
        EpicsValue::Long(x) => *x != 0,
        EpicsValue::Enum(x) => *x != 0,
        EpicsValue::EnumWithChoices { index, .. } => *index != 0,
        EpicsValue::Char(x) | EpicsValue::UChar(x) => *x != 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_values() {
        assert_eq!(arch_type(DbFieldType::Double, 1), Some(ArchDbType::ScalarDouble));
        assert_eq!(
            arch_type(DbFieldType::Double, 128),
            Some(ArchDbType::WaveformDouble)
        );
        assert_eq!(arch_type(DbFieldType::Char, 16), Some(ArchDbType::WaveformByte));
        assert_eq!(arch_type(DbFieldType::Enum, 1), Some(ArchDbType::ScalarEnum));
        assert_eq!(
            value_as(&EpicsValue::Enum(2), ArchDbType::ScalarEnum),
            Some(SampleValue::Enum(2))
        );
        assert_eq!(
            value_as(&EpicsValue::UChar(255), ArchDbType::ScalarByte),
            Some(SampleValue::Byte(-1))
        );
        assert_eq!(value_as(&EpicsValue::Double(1.0), ArchDbType::ScalarInt), None);
    }
}
