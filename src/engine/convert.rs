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
