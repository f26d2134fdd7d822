//! `PVTypeInfo`: the registry record of one PV, with the Java appliance's
//! JSON form (mgmt-api.md §4, Java's bean `JSONEncoder`): every scalar is a
//! JSON string, arrays hold strings, maps are string→string, instants are
//! ISO-8601 with millis; every primitive field is always present (numbers
//! 0 and `false` when unset) and null strings are omitted. Decoding is
//! liberal (native JSON types too).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::types::java::{push_double, push_float};
use crate::types::ArchDbType;

/// How a PV is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SamplingMethod {
    /// Every update (camonitor).
    #[default]
    Monitor,
    /// The latest value once per period.
    Scan,
    /// Registered but not archived.
    DontArchive,
}

impl SamplingMethod {
    /// Java name.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplingMethod::Monitor => "MONITOR",
            SamplingMethod::Scan => "SCAN",
            SamplingMethod::DontArchive => "DONT_ARCHIVE",
        }
    }

    /// Parses `MONITOR`/`SCAN`/`DONT_ARCHIVE` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "MONITOR" => Some(SamplingMethod::Monitor),
            "SCAN" => Some(SamplingMethod::Scan),
            "DONT_ARCHIVE" => Some(SamplingMethod::DontArchive),
            _ => None,
        }
    }
}

/// A PVTypeInfo that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PVTypeInfo field {field}: {reason}")]
pub struct TypeInfoError {
    /// Offending key.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// The registry record of one PV (Java `PVTypeInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct PvTypeInfo {
    /// Real PV name.
    pub pv_name: String,
    /// Archiver DBR type.
    pub dbr_type: ArchDbType,
    /// Not a waveform.
    pub scalar: bool,
    /// Waveform length (1 for scalars).
    pub element_count: i32,
    /// Owning appliance.
    pub appliance_identity: String,
    /// Storage key of the files.
    pub chunk_key: Option<String>,
    /// IOC host seen at connect.
    pub host_name: Option<String>,
    /// Sampling method.
    pub sampling_method: SamplingMethod,
    /// Sampling period in seconds.
    pub sampling_period: f32,
    /// Policy that chose the parameters.
    pub policy_name: Option<String>,
    /// Store URLs in ETL order.
    pub data_stores: Vec<String>,
    /// Fields stored as per-sample field values.
    pub archive_fields: Vec<String>,
    /// Fields captured at archive time (RTYP, ADEL, …).
    pub extra_fields: BTreeMap<String, String>,
    /// Conditional archiving PV.
    pub controlling_pv: Option<String>,
    /// Paused.
    pub paused: bool,
    /// Creation time.
    pub creation_time: Option<DateTime<Utc>>,
    /// Last modification.
    pub modification_time: Option<DateTime<Utc>>,
    /// Event rate measured while sampling (events/s).
    pub computed_event_rate: f32,
    /// Storage rate measured while sampling (bytes/s).
    pub computed_storage_rate: f32,
    /// Bytes per event measured.
    pub computed_bytes_per_event: i32,
    /// Event rate the user asked for.
    pub user_specified_event_rate: f32,
    /// A reduced data set exists.
    pub has_reduced_data_set: bool,
    /// Archived over pvAccess.
    pub use_pv_access: bool,
    /// DBE_PROPERTY subscriptions.
    pub use_dbe_properties: bool,
    /// EGU.
    pub units: Option<String>,
    /// PREC.
    pub precision: Option<f64>,
    /// Limits: lowerAlarmLimit, lowerCtrlLimit, lowerDisplayLimit,
    /// lowerWarningLimit, upperAlarmLimit, upperCtrlLimit, upperDisplayLimit,
    /// upperWarningLimit (Java names).
    pub limits: BTreeMap<String, f64>,
    /// Keys this version does not know, kept as given.
    pub other: BTreeMap<String, Value>,
}

/// Java names of the limit fields.
pub const LIMIT_FIELDS: [&str; 8] = [
    "lowerAlarmLimit",
    "lowerCtrlLimit",
    "lowerDisplayLimit",
    "lowerWarningLimit",
    "upperAlarmLimit",
    "upperCtrlLimit",
    "upperDisplayLimit",
    "upperWarningLimit",
];

/// PVTypeInfo limit fields and the EPICS fields they come from.
pub const LIMIT_EPICS_FIELDS: [(&str, &str); 8] = [
    ("upperAlarmLimit", "HIHI"),
    ("lowerAlarmLimit", "LOLO"),
    ("upperWarningLimit", "HIGH"),
    ("lowerWarningLimit", "LOW"),
    ("upperDisplayLimit", "HOPR"),
    ("lowerDisplayLimit", "LOPR"),
    ("upperCtrlLimit", "DRVH"),
    ("lowerCtrlLimit", "DRVL"),
];

impl PvTypeInfo {
    /// A new record with Java's defaults.
    pub fn new(pv_name: &str, dbr_type: ArchDbType, element_count: i32) -> Self {
        PvTypeInfo {
            pv_name: pv_name.to_string(),
            dbr_type,
            scalar: !dbr_type.is_waveform(),
            element_count,
            appliance_identity: "appliance0".into(),
            chunk_key: None,
            host_name: None,
            sampling_method: SamplingMethod::Monitor,
            sampling_period: 1.0,
            policy_name: None,
            data_stores: Vec::new(),
            archive_fields: Vec::new(),
            extra_fields: BTreeMap::new(),
            controlling_pv: None,
            paused: false,
            creation_time: None,
            modification_time: None,
            computed_event_rate: 0.0,
            computed_storage_rate: 0.0,
            computed_bytes_per_event: 0,
            user_specified_event_rate: 0.0,
            has_reduced_data_set: false,
            use_pv_access: false,
            use_dbe_properties: false,
            units: None,
            precision: None,
            limits: BTreeMap::new(),
            other: BTreeMap::new(),
        }
    }

    /// The Java JSON object (all scalars as strings).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let s = |v: &str| Value::String(v.to_string());
        let f32s = |v: f32| {
            let mut out = String::new();
            push_float(&mut out, v);
            Value::String(out)
        };
        let f64s = |v: f64| {
            let mut out = String::new();
            push_double(&mut out, v);
            Value::String(out)
        };
        let b = |v: bool| s(if v { "true" } else { "false" });
        m.insert("pvName".into(), s(&self.pv_name));
        m.insert("DBRType".into(), s(self.dbr_type.java_name()));
        m.insert("scalar".into(), b(self.scalar));
        m.insert("elementCount".into(), s(&self.element_count.to_string()));
        m.insert("applianceIdentity".into(), s(&self.appliance_identity));
        if let Some(v) = &self.chunk_key {
            m.insert("chunkKey".into(), s(v));
        }
        if let Some(v) = &self.host_name {
            m.insert("hostName".into(), s(v));
        }
        m.insert("samplingMethod".into(), s(self.sampling_method.as_str()));
        m.insert("samplingPeriod".into(), f32s(self.sampling_period));
        if let Some(v) = &self.policy_name {
            m.insert("policyName".into(), s(v));
        }
        m.insert(
            "dataStores".into(),
            Value::Array(self.data_stores.iter().map(|x| s(x)).collect()),
        );
        m.insert(
            "archiveFields".into(),
            Value::Array(self.archive_fields.iter().map(|x| s(x)).collect()),
        );
        m.insert(
            "extraFields".into(),
            Value::Object(self.extra_fields.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
        );
        if let Some(v) = &self.controlling_pv {
            m.insert("controllingPV".into(), s(v));
        }
        m.insert("paused".into(), b(self.paused));
        if let Some(t) = self.creation_time {
            m.insert("creationTime".into(), s(&iso(t)));
        }
        if let Some(t) = self.modification_time {
            m.insert("modificationTime".into(), s(&iso(t)));
        }
        m.insert("computedEventRate".into(), f32s(self.computed_event_rate));
        m.insert("computedStorageRate".into(), f32s(self.computed_storage_rate));
        m.insert(
            "computedBytesPerEvent".into(),
            s(&self.computed_bytes_per_event.to_string()),
        );
        m.insert(
            "userSpecifiedEventRate".into(),
            f32s(self.user_specified_event_rate),
        );
        m.insert("hasReducedDataSet".into(), b(self.has_reduced_data_set));
        m.insert("usePVAccess".into(), b(self.use_pv_access));
        m.insert("useDBEProperties".into(), b(self.use_dbe_properties));
        if let Some(v) = &self.units {
            m.insert("units".into(), s(v));
        }
        // Java's encoder writes every primitive field: `precision` and the
        // limits are `double`s, "0.0" when never set (integer, enum and
        // string PVs).
        m.insert("precision".into(), f64s(self.precision.unwrap_or(0.0)));
        for k in LIMIT_FIELDS {
            m.insert(k.into(), f64s(self.limits.get(k).copied().unwrap_or(0.0)));
        }
        for (k, v) in &self.limits {
            m.entry(k.clone()).or_insert_with(|| f64s(*v));
        }
        for (k, v) in &self.other {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        m
    }

    /// Decodes a PVTypeInfo JSON object, accepting strings or native values.
    pub fn from_json(v: &Value) -> Result<Self, TypeInfoError> {
        let obj = v.as_object().ok_or_else(|| err("", "expected a JSON object"))?;
        let pv_name = str_of(obj, "pvName")?.ok_or_else(|| err("pvName", "missing"))?;
        let dbr = str_of(obj, "DBRType")?.ok_or_else(|| err("DBRType", "missing"))?;
        let dbr_type: ArchDbType = dbr
            .parse()
            .map_err(|_| err("DBRType", &format!("unknown type {dbr:?}")))?;
        let mut t = PvTypeInfo::new(&pv_name, dbr_type, 1);
        let mut other = BTreeMap::new();
        for (k, val) in obj {
            match k.as_str() {
                "pvName" | "DBRType" => {}
                "scalar" => t.scalar = bool_of(k, val)?,
                "elementCount" => t.element_count = num_of(k, val)? as i32,
                "applianceIdentity" => t.applianceish(val, k)?,
                "chunkKey" => t.chunk_key = opt_str(k, val)?,
                "hostName" => t.host_name = opt_str(k, val)?,
                "samplingMethod" => {
                    let s = opt_str(k, val)?.unwrap_or_default();
                    t.sampling_method =
                        SamplingMethod::parse(&s).ok_or_else(|| err(k, &format!("unknown method {s:?}")))?;
                }
                "samplingPeriod" => t.sampling_period = num_of(k, val)? as f32,
                "policyName" => t.policy_name = opt_str(k, val)?,
                "dataStores" => t.data_stores = list_of(k, val)?,
                "archiveFields" => t.archive_fields = list_of(k, val)?,
                "extraFields" => t.extra_fields = map_of(k, val)?,
                "controllingPV" => t.controlling_pv = opt_str(k, val)?,
                "paused" => t.paused = bool_of(k, val)?,
                "creationTime" => t.creation_time = opt_time(k, val)?,
                "modificationTime" => t.modification_time = opt_time(k, val)?,
                "computedEventRate" => t.computed_event_rate = num_of(k, val)? as f32,
                "computedStorageRate" => t.computed_storage_rate = num_of(k, val)? as f32,
                "computedBytesPerEvent" => t.computed_bytes_per_event = num_of(k, val)? as i32,
                "userSpecifiedEventRate" => t.user_specified_event_rate = num_of(k, val)? as f32,
                "hasReducedDataSet" => t.has_reduced_data_set = bool_of(k, val)?,
                "usePVAccess" => t.use_pv_access = bool_of(k, val)?,
                "useDBEProperties" => t.use_dbe_properties = bool_of(k, val)?,
                "units" => t.units = opt_str(k, val)?,
                "precision" => t.precision = Some(num_of(k, val)?),
                l if LIMIT_FIELDS.contains(&l) => {
                    t.limits.insert(k.clone(), num_of(k, val)?);
                }
                _ => {
                    other.insert(k.clone(), val.clone());
                }
            }
        }
        t.other = other;
        Ok(t)
    }

    fn applianceish(&mut self, v: &Value, k: &str) -> Result<(), TypeInfoError> {
        self.appliance_identity = opt_str(k, v)?.unwrap_or_default();
        Ok(())
    }
}

/// ISO-8601 UTC with milliseconds, as Java prints instants.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn err(field: &str, reason: &str) -> TypeInfoError {
    TypeInfoError {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

fn str_of(obj: &Map<String, Value>, k: &str) -> Result<Option<String>, TypeInfoError> {
    match obj.get(k) {
        None => Ok(None),
        Some(v) => opt_str(k, v),
    }
}

fn opt_str(k: &str, v: &Value) -> Result<Option<String>, TypeInfoError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(err(k, "expected a string")),
    }
}

fn bool_of(k: &str, v: &Value) -> Result<bool, TypeInfoError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s.is_empty() => Ok(false),
        Value::Null => Ok(false),
        _ => Err(err(k, "expected true or false")),
    }
}

fn num_of(k: &str, v: &Value) -> Result<f64, TypeInfoError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| err(k, "not a number")),
        Value::String(s) => match s.trim() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            t => t.parse().map_err(|_| err(k, &format!("not a number: {s:?}"))),
        },
        _ => Err(err(k, "expected a number")),
    }
}

fn list_of(k: &str, v: &Value) -> Result<Vec<String>, TypeInfoError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| opt_str(k, x).map(|s| s.unwrap_or_default()))
            .collect(),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(s.split(',').map(|x| x.trim().to_string()).collect()),
        _ => Err(err(k, "expected an array of strings")),
    }
}

fn map_of(k: &str, v: &Value) -> Result<BTreeMap<String, String>, TypeInfoError> {
    match v {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(o) => o
            .iter()
            .map(|(a, b)| Ok((a.clone(), opt_str(k, b)?.unwrap_or_default())))
            .collect(),
        _ => Err(err(k, "expected an object")),
    }
}

fn opt_time(k: &str, v: &Value) -> Result<Option<DateTime<Utc>>, TypeInfoError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| err(k, &format!("bad instant {s:?}: {e}"))),
        Value::Number(n) => {
            let ms = n.as_i64().ok_or_else(|| err(k, "bad epoch millis"))?;
            Ok(DateTime::from_timestamp_millis(ms))
        }
        _ => Err(err(k, "expected an ISO-8601 instant")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_prototype_round_trips() {
        let text = include_str!("../../tests/testdata/java/PVTypeInfoPrototype.json");
        let v: Value = serde_json::from_str(text).unwrap();
        let t = PvTypeInfo::from_json(&v).unwrap();
        assert_eq!(t.pv_name, "UnitTestNoNamingConvention:inactive1");
        assert_eq!(t.dbr_type, ArchDbType::ScalarDouble);
        assert_eq!(t.computed_event_rate, 0.016666668);
        assert!(t.limits["lowerAlarmLimit"].is_nan());
        assert_eq!(t.archive_fields.len(), 6);
        let back = Value::Object(t.to_json());
        // Every key of the Java record comes back with the same string value.
        for (k, val) in v.as_object().unwrap() {
            assert_eq!(back.get(k), Some(val), "{k}");
        }
        assert_eq!(PvTypeInfo::from_json(&back).unwrap().to_json(), t.to_json());
    }

    #[test]
    fn every_primitive_field_is_written_as_java_does() {
        // Issue 11: Java's encoder writes `precision` and the limits for
        // every PV (0.0 for integer, enum and string PVs); null strings are
        // left out.
        let t = PvTypeInfo::new("I:int", ArchDbType::ScalarInt, 1);
        let j = t.to_json();
        let java = [
            ("precision", "0.0"),
            ("lowerAlarmLimit", "0.0"),
            ("upperCtrlLimit", "0.0"),
            ("computedEventRate", "0.0"),
            ("computedBytesPerEvent", "0"),
            ("samplingPeriod", "1.0"),
            ("hasReducedDataSet", "false"),
            ("scalar", "true"),
            ("elementCount", "1"),
        ];
        for (k, v) in java {
            assert_eq!(j.get(k), Some(&Value::String(v.into())), "{k}");
        }
        for k in LIMIT_FIELDS {
            assert!(j.contains_key(k), "{k}");
        }
        for absent in [
            "units",
            "hostName",
            "chunkKey",
            "policyName",
            "controllingPV",
            "creationTime",
        ] {
            assert!(!j.contains_key(absent), "{absent}");
        }
        assert!(j
            .values()
            .all(|v| !v.is_number() && !v.is_boolean() && !v.is_null()));
    }

    #[test]
    fn liberal_decoding_and_errors() {
        let v = serde_json::json!({"pvName": "A", "DBRType": "DBR_WAVEFORM_INT", "elementCount": 16,
                                   "paused": true, "samplingPeriod": 0.5, "dataStores": null});
        let t = PvTypeInfo::from_json(&v).unwrap();
        assert_eq!((t.element_count, t.paused, t.sampling_period), (16, true, 0.5));
        assert_eq!(t.to_json()["samplingPeriod"], "0.5");
        assert!(PvTypeInfo::from_json(&serde_json::json!({"pvName": "A"})).is_err());
        assert!(PvTypeInfo::from_json(&serde_json::json!({"pvName": "A", "DBRType": "DBR_X"})).is_err());
        let bad = serde_json::json!({"pvName": "A", "DBRType": "DBR_SCALAR_INT", "elementCount": "x"});
        assert_eq!(PvTypeInfo::from_json(&bad).unwrap_err().field, "elementCount");
    }
}
