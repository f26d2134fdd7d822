//! Java's `MetaInfo` dictionary (`MetaInfo.addToDict`), what `getMetadata`
//! and `fetchLatestMetadata=true` show: `LOPR HOPR LOW HIGH LOLO HIHI DRVL
//! DRVH PREC` as Java `Double.toString` text, `EGU`, `EAA_COUNT`, the PV's
//! other captured fields, and for enum PVs the state labels as
//! `ENUM_0 … ENUM_n`. Built from the PVTypeInfo, overlaid with what the
//! engine currently knows of the channel.

use std::collections::BTreeMap;

use super::typeinfo::PvTypeInfo;
use crate::types::java::double_to_string;

/// Dictionary keys of the limits, with the PVTypeInfo fields they mirror.
pub const LIMIT_KEYS: [(&str, &str); 8] = [
    ("LOPR", "lowerDisplayLimit"),
    ("HOPR", "upperDisplayLimit"),
    ("LOW", "lowerWarningLimit"),
    ("HIGH", "upperWarningLimit"),
    ("LOLO", "lowerAlarmLimit"),
    ("HIHI", "upperAlarmLimit"),
    ("DRVL", "lowerCtrlLimit"),
    ("DRVH", "upperCtrlLimit"),
];

/// Prefix of the enum state labels (`ENUM_0`, `ENUM_1`, …).
pub const ENUM_PREFIX: &str = "ENUM_";

/// The dictionary of `info`, with `engine` (the engine's metadata of the
/// channel: CTRL values, `ENUM_n` labels, field values) taking precedence.
pub fn meta_info(info: &PvTypeInfo, engine: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut d = BTreeMap::new();
    for (key, field) in LIMIT_KEYS {
        let v = info.limits.get(field).copied().unwrap_or(0.0);
        d.insert(key.to_string(), double_to_string(v));
    }
    d.insert("PREC".into(), double_to_string(info.precision.unwrap_or(0.0)));
    if let Some(u) = &info.units {
        d.insert("EGU".into(), u.clone());
    }
    d.insert("EAA_COUNT".into(), info.element_count.to_string());
    for (k, v) in &info.extra_fields {
        d.insert(k.clone(), v.clone());
    }
    for (k, v) in engine {
        let v = match k.as_str() {
            // Numbers as Java's MetaInfo holds them (doubles; PREC an int
            // widened to double).
            "PREC" | "LOPR" | "HOPR" | "LOW" | "HIGH" | "LOLO" | "HIHI" | "DRVL" | "DRVH" => v
                .trim()
                .parse::<f64>()
                .map_or_else(|_| v.clone(), double_to_string),
            _ => v.clone(),
        };
        d.insert(k.clone(), v);
    }
    d
}

/// The `ENUM_n` entries for `labels`.
pub fn enum_entries(labels: &[String]) -> impl Iterator<Item = (String, String)> + '_ {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("{ENUM_PREFIX}{i}"), l.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ArchDbType;

    #[test]
    fn java_keys_and_text() {
        let mut t = PvTypeInfo::new("E:pv", ArchDbType::ScalarEnum, 1);
        t.limits.insert("upperAlarmLimit".into(), 90.0);
        t.extra_fields.insert("RTYP".into(), "mbbi".into());
        let engine: BTreeMap<String, String> = enum_entries(&["Off".into(), "On".into()])
            .chain([("PREC".to_string(), "0".to_string())])
            .collect();
        let d = meta_info(&t, &engine);
        for (k, v) in [
            ("HIHI", "90.0"),
            ("LOLO", "0.0"),
            ("DRVH", "0.0"),
            ("PREC", "0.0"),
            ("EAA_COUNT", "1"),
            ("RTYP", "mbbi"),
            ("ENUM_0", "Off"),
            ("ENUM_1", "On"),
        ] {
            assert_eq!(d.get(k).map(String::as_str), Some(v), "{k}");
        }
        assert!(!d.contains_key("EGU"));
    }
}
