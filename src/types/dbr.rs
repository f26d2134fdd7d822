//! The 15 archiver payload types (`PayloadType` in EPICSEvent.proto, `ArchDBRTypes` in Java).

use std::fmt;
use std::str::FromStr;

/// Archiver DBR type. The discriminant is the on-disk `PayloadType` number.
///
/// Naming follows the Java appliance: "SHORT" is EPICS SHORT/INT (16 bit),
/// "INT" is EPICS LONG (32 bit) and "BYTE" is EPICS CHAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum ArchDbType {
    /// `DBR_SCALAR_STRING` (0)
    ScalarString = 0,
    /// `DBR_SCALAR_SHORT` (1)
    ScalarShort = 1,
    /// `DBR_SCALAR_FLOAT` (2)
    ScalarFloat = 2,
    /// `DBR_SCALAR_ENUM` (3)
    ScalarEnum = 3,
    /// `DBR_SCALAR_BYTE` (4)
    ScalarByte = 4,
    /// `DBR_SCALAR_INT` (5)
    ScalarInt = 5,
    /// `DBR_SCALAR_DOUBLE` (6)
    ScalarDouble = 6,
    /// `DBR_WAVEFORM_STRING` (7)
    WaveformString = 7,
    /// `DBR_WAVEFORM_SHORT` (8)
    WaveformShort = 8,
    /// `DBR_WAVEFORM_FLOAT` (9)
    WaveformFloat = 9,
    /// `DBR_WAVEFORM_ENUM` (10)
    WaveformEnum = 10,
    /// `DBR_WAVEFORM_BYTE` (11), stored as `VectorChar`
    WaveformByte = 11,
    /// `DBR_WAVEFORM_INT` (12)
    WaveformInt = 12,
    /// `DBR_WAVEFORM_DOUBLE` (13)
    WaveformDouble = 13,
    /// `DBR_V4_GENERIC_BYTES` (14)
    V4GenericBytes = 14,
}

/// A payload type number or name that is not one of the 15 known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown DBR/payload type {0}")]
pub struct UnknownDbrType(pub String);

impl ArchDbType {
    /// All types in payload-number order.
    pub const ALL: [ArchDbType; 15] = [
        Self::ScalarString,
        Self::ScalarShort,
        Self::ScalarFloat,
        Self::ScalarEnum,
        Self::ScalarByte,
        Self::ScalarInt,
        Self::ScalarDouble,
        Self::WaveformString,
        Self::WaveformShort,
        Self::WaveformFloat,
        Self::WaveformEnum,
        Self::WaveformByte,
        Self::WaveformInt,
        Self::WaveformDouble,
        Self::V4GenericBytes,
    ];

    /// Type for a payload number, `None` when out of range.
    pub fn from_i32(v: i32) -> Option<Self> {
        usize::try_from(v).ok().and_then(|i| Self::ALL.get(i).copied())
    }

    /// The payload number written in PayloadInfo.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// True for the `WAVEFORM_*` types (V4 generic bytes counts as scalar, as in Java).
    pub fn is_waveform(self) -> bool {
        (7..=13).contains(&(self as i32))
    }

    /// Java `ArchDBRTypes` name as used in PVTypeInfo JSON (`DBR_SCALAR_DOUBLE`).
    pub fn java_name(self) -> &'static str {
        match self {
            Self::ScalarString => "DBR_SCALAR_STRING",
            Self::ScalarShort => "DBR_SCALAR_SHORT",
            Self::ScalarFloat => "DBR_SCALAR_FLOAT",
            Self::ScalarEnum => "DBR_SCALAR_ENUM",
            Self::ScalarByte => "DBR_SCALAR_BYTE",
            Self::ScalarInt => "DBR_SCALAR_INT",
            Self::ScalarDouble => "DBR_SCALAR_DOUBLE",
            Self::WaveformString => "DBR_WAVEFORM_STRING",
            Self::WaveformShort => "DBR_WAVEFORM_SHORT",
            Self::WaveformFloat => "DBR_WAVEFORM_FLOAT",
            Self::WaveformEnum => "DBR_WAVEFORM_ENUM",
            Self::WaveformByte => "DBR_WAVEFORM_BYTE",
            Self::WaveformInt => "DBR_WAVEFORM_INT",
            Self::WaveformDouble => "DBR_WAVEFORM_DOUBLE",
            Self::V4GenericBytes => "DBR_V4_GENERIC_BYTES",
        }
    }

    /// The scalar type whose waveform is `self` (identity for scalars).
    pub fn element_type(self) -> Self {
        match self {
            Self::WaveformString => Self::ScalarString,
            Self::WaveformShort => Self::ScalarShort,
            Self::WaveformFloat => Self::ScalarFloat,
            Self::WaveformEnum => Self::ScalarEnum,
            Self::WaveformByte => Self::ScalarByte,
            Self::WaveformInt => Self::ScalarInt,
            Self::WaveformDouble => Self::ScalarDouble,
            other => other,
        }
    }

    /// The waveform type with elements of type `self` (identity for waveforms and V4).
    pub fn waveform_type(self) -> Self {
        match self {
            Self::ScalarString => Self::WaveformString,
            Self::ScalarShort => Self::WaveformShort,
            Self::ScalarFloat => Self::WaveformFloat,
            Self::ScalarEnum => Self::WaveformEnum,
            Self::ScalarByte => Self::WaveformByte,
            Self::ScalarInt => Self::WaveformInt,
            Self::ScalarDouble => Self::WaveformDouble,
            other => other,
        }
    }
}

impl fmt::Display for ArchDbType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.java_name())
    }
}

impl FromStr for ArchDbType {
    type Err = UnknownDbrType;

    /// Accepts the Java name (`DBR_SCALAR_DOUBLE`), the PayloadType name
    /// (`SCALAR_DOUBLE`) or the number (`6`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(n) = t.parse::<i32>() {
            return Self::from_i32(n).ok_or_else(|| UnknownDbrType(s.to_string()));
        }
        let bare = t.strip_prefix("DBR_").unwrap_or(t);
        Self::ALL
            .iter()
            .copied()
            .find(|ty| &ty.java_name()[4..] == bare)
            .ok_or_else(|| UnknownDbrType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_and_names_round_trip() {
        for (i, ty) in ArchDbType::ALL.iter().enumerate() {
            assert_eq!(ty.as_i32(), i as i32);
            assert_eq!(ArchDbType::from_i32(i as i32), Some(*ty));
            assert_eq!(ty.java_name().parse::<ArchDbType>(), Ok(*ty));
            assert_eq!(ty.java_name()[4..].parse::<ArchDbType>(), Ok(*ty));
        }
        assert_eq!(ArchDbType::from_i32(15), None);
        assert_eq!(ArchDbType::from_i32(-1), None);
        assert!("DBR_NOPE".parse::<ArchDbType>().is_err());
        assert!(ArchDbType::WaveformByte.is_waveform());
        assert!(!ArchDbType::V4GenericBytes.is_waveform());
        assert_eq!(ArchDbType::ScalarInt.waveform_type(), ArchDbType::WaveformInt);
    }
}
