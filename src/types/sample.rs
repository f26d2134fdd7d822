//! One archived sample and the description of a stream of them.

use std::time::SystemTime;

use super::dbr::ArchDbType;
use super::time::Timestamp;

/// The value of a sample, one variant per payload type.
///
/// Widths follow Java's reading of the wire: shorts and enums are narrowed
/// to 16 bit, a scalar byte is the first byte of its `bytes` field, signed.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// `ScalarString`
    String(String),
    /// `ScalarShort`
    Short(i16),
    /// `ScalarFloat`
    Float(f32),
    /// `ScalarEnum` (the index, not the label)
    Enum(i16),
    /// `ScalarByte`
    Byte(i8),
    /// `ScalarInt` (EPICS LONG)
    Int(i32),
    /// `ScalarDouble`
    Double(f64),
    /// `VectorString`
    VString(Vec<String>),
    /// `VectorShort`
    VShort(Vec<i16>),
    /// `VectorFloat`
    VFloat(Vec<f32>),
    /// `VectorEnum`
    VEnum(Vec<i16>),
    /// `VectorChar` (waveform of EPICS CHAR; elements are signed bytes in Java)
    VByte(Vec<u8>),
    /// `VectorInt`
    VInt(Vec<i32>),
    /// `VectorDouble`
    VDouble(Vec<f64>),
    /// `V4GenericBytes`: opaque pvAccess serialization
    V4Generic(Vec<u8>),
}

impl SampleValue {
    /// The payload type this value is stored as.
    pub fn db_type(&self) -> ArchDbType {
        match self {
            Self::String(_) => ArchDbType::ScalarString,
            Self::Short(_) => ArchDbType::ScalarShort,
            Self::Float(_) => ArchDbType::ScalarFloat,
            Self::Enum(_) => ArchDbType::ScalarEnum,
            Self::Byte(_) => ArchDbType::ScalarByte,
            Self::Int(_) => ArchDbType::ScalarInt,
            Self::Double(_) => ArchDbType::ScalarDouble,
            Self::VString(_) => ArchDbType::WaveformString,
            Self::VShort(_) => ArchDbType::WaveformShort,
            Self::VFloat(_) => ArchDbType::WaveformFloat,
            Self::VEnum(_) => ArchDbType::WaveformEnum,
            Self::VByte(_) => ArchDbType::WaveformByte,
            Self::VInt(_) => ArchDbType::WaveformInt,
            Self::VDouble(_) => ArchDbType::WaveformDouble,
            Self::V4Generic(_) => ArchDbType::V4GenericBytes,
        }
    }

    /// Numeric value of a scalar as a double (Java `getValue().doubleValue()`);
    /// `None` for strings, waveforms and V4 bytes.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match self {
            Self::Short(v) | Self::Enum(v) => f64::from(*v),
            Self::Float(v) => f64::from(*v),
            Self::Byte(v) => f64::from(*v),
            Self::Int(v) => f64::from(*v),
            Self::Double(v) => *v,
            _ => return None,
        })
    }

    /// Numeric value for statistics: scalars as themselves, waveforms by their
    /// first element (Java's post-processors use `getValue()`, i.e. element 0).
    pub fn first_f64(&self) -> Option<f64> {
        if let Some(v) = self.as_f64() {
            return Some(v);
        }
        match self {
            Self::VShort(v) | Self::VEnum(v) => v.first().map(|x| f64::from(*x)),
            Self::VFloat(v) => v.first().map(|x| f64::from(*x)),
            Self::VByte(v) => v.first().map(|x| f64::from(*x as i8)),
            Self::VInt(v) => v.first().map(|x| f64::from(*x)),
            Self::VDouble(v) => v.first().copied(),
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Number of elements (1 for scalars).
    pub fn element_count(&self) -> usize {
        match self {
            Self::VString(v) => v.len(),
            Self::VShort(v) | Self::VEnum(v) => v.len(),
            Self::VFloat(v) => v.len(),
            Self::VByte(v) => v.len(),
            Self::VInt(v) => v.len(),
            Self::VDouble(v) => v.len(),
            _ => 1,
        }
    }
}

/// Rarely present parts of a sample, boxed to keep [`ArchiverSample`] at 64 bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleExtra {
    /// Per-sample extra fields (`cnxlostepsecs`, archived `HIHI`, …), in stored order.
    pub field_values: Vec<(String, String)>,
    /// Protobuf `repeatcount`, kept for byte-exact round trips.
    pub repeat_count: Option<u32>,
    /// Protobuf `fieldactualchange`: true = fields changed, false = periodic snapshot.
    pub field_actual_change: Option<bool>,
    /// Protobuf `userTag` (V4 generic bytes only).
    pub user_tag: Option<u32>,
}

impl SampleExtra {
    fn is_empty(&self) -> bool {
        self.field_values.is_empty()
            && self.repeat_count.is_none()
            && self.field_actual_change.is_none()
            && self.user_tag.is_none()
    }
}

/// One archived event.
///
/// Layout invariant: 64 bytes, so streams move samples cheaply; everything
/// beyond value, time and alarm lives in `extra` (`None` for most samples).
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiverSample {
    /// IOC timestamp (UTC).
    pub timestamp: SystemTime,
    /// The value.
    pub value: SampleValue,
    /// EPICS alarm severity (0 NO_ALARM … 3 INVALID).
    pub severity: i32,
    /// EPICS alarm status.
    pub status: i32,
    /// Field values and rare protobuf fields; `None` when there are none.
    pub extra: Option<Box<SampleExtra>>,
}

impl ArchiverSample {
    /// A sample with no alarm and no extra fields.
    pub fn new(timestamp: SystemTime, value: SampleValue) -> Self {
        ArchiverSample {
            timestamp,
            value,
            severity: 0,
            status: 0,
            extra: None,
        }
    }

    /// Builds a sample at Unix time `secs` + `nanos`.
    pub fn at(secs: i64, nanos: u32, value: SampleValue) -> Self {
        Self::new(Timestamp::new(secs, nanos).to_system_time(), value)
    }

    /// The timestamp as [`Timestamp`].
    pub fn ts(&self) -> Timestamp {
        Timestamp::from_system_time(self.timestamp)
    }

    /// Extra fields attached to this sample, in stored order.
    pub fn field_values(&self) -> &[(String, String)] {
        self.extra.as_deref().map_or(&[], |e| e.field_values.as_slice())
    }

    /// Value of the extra field `name`, if attached.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.field_values()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True if any extra field is attached.
    pub fn has_fields(&self) -> bool {
        !self.field_values().is_empty()
    }

    /// Mutable access to the rare parts, creating them if needed.
    pub fn extra_mut(&mut self) -> &mut SampleExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Attaches (or replaces) extra field `name`.
    pub fn set_field(&mut self, name: impl Into<String>, val: impl Into<String>) {
        let name = name.into();
        let val = val.into();
        let fv = &mut self.extra_mut().field_values;
        match fv.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = val,
            None => fv.push((name, val)),
        }
    }

    /// Replaces all extra fields.
    pub fn set_field_values(&mut self, fields: Vec<(String, String)>) {
        if fields.is_empty() && self.extra.is_none() {
            return;
        }
        self.extra_mut().field_values = fields;
        self.normalize_extra();
    }

    /// Removes all extra fields, keeping the rare protobuf fields.
    pub fn clear_fields(&mut self) {
        if let Some(e) = self.extra.as_mut() {
            e.field_values.clear();
        }
        self.normalize_extra();
    }

    /// Protobuf `repeatcount`.
    pub fn repeat_count(&self) -> Option<u32> {
        self.extra.as_ref().and_then(|e| e.repeat_count)
    }

    /// Protobuf `fieldactualchange`.
    pub fn field_actual_change(&self) -> Option<bool> {
        self.extra.as_ref().and_then(|e| e.field_actual_change)
    }

    /// Protobuf `userTag`.
    pub fn user_tag(&self) -> Option<u32> {
        self.extra.as_ref().and_then(|e| e.user_tag)
    }

    /// Drops an empty `extra` box so equal samples compare equal.
    pub fn normalize_extra(&mut self) {
        if self.extra.as_ref().is_some_and(|e| e.is_empty()) {
            self.extra = None;
        }
    }

    /// Builder: sets severity and status.
    pub fn with_alarm(mut self, severity: i32, status: i32) -> Self {
        self.severity = severity;
        self.status = status;
        self
    }

    /// Builder: attaches an extra field.
    pub fn with_field(mut self, name: impl Into<String>, val: impl Into<String>) -> Self {
        self.set_field(name, val);
        self
    }
}

/// Description of a stream of events: what the PayloadInfo header says.
#[derive(Debug, Clone, PartialEq)]
pub struct EventStreamDesc {
    /// Real PV name.
    pub pv_name: String,
    /// Payload type of every sample in the stream.
    pub db_type: ArchDbType,
    /// Year of the first chunk (PlainPB headers are per year).
    pub year: i32,
    /// Waveform length when known.
    pub element_count: Option<i32>,
    /// Header fields (EGU, PREC, …), in order.
    pub headers: Vec<(String, String)>,
    /// Where the stream comes from (store name or post-processor), for logs and `txt`.
    pub source: String,
}

impl EventStreamDesc {
    /// A description with no headers.
    pub fn new(pv_name: impl Into<String>, db_type: ArchDbType, year: i32) -> Self {
        EventStreamDesc {
            pv_name: pv_name.into(),
            db_type,
            year,
            element_count: None,
            headers: Vec::new(),
            source: String::new(),
        }
    }

    /// Value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
