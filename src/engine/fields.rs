//! The field values of one archived PV and when they are written into its
//! samples, as the Java engine does.
//!
//! Channel Access (Java `EPICS_V3_PV`): every archived field (the
//! PVTypeInfo's `archiveFields`) is monitored as its own channel `PV.FIELD`,
//! runtime fields (`DESC`) likewise. At each write cycle the last sample
//! handed to storage carries the archived fields that changed since the
//! previous cycle (`fieldactualchange = true`); at the first cycle after
//! start and then once a day it carries every archived field, the runtime
//! fields and `EGU`/`PREC` (`fieldactualchange = false`). Runtime fields are
//! never written on change.
//!
//! pvAccess (Java `EPICS_V4_PV`): the structure's leaves other than `value`
//! are the fields. The first complete update of every connection carries all
//! of them under their dotted names (`display.units`, `alarm.message`, …)
//! plus `EGU`/`PREC`; so does the last sample of the first write cycle each
//! day. An update that changes a leaf with a Channel Access name
//! (`display.units` → `EGU`, `valueAlarm.highAlarmLimit` → `HIHI`, …) carries
//! it under that name (the pvAccess channel does that, see
//! [`super::pva::convert`]). strata also monitors the archived fields of a
//! pvAccess PV as channels `PV.FIELD` and writes their changes as for
//! Channel Access.

use std::collections::BTreeMap;

use crate::types::ArchiverSample;

/// Seconds between two complete field snapshots (Java's
/// `SAVE_META_DATA_PERIOD_SECS`).
pub(crate) const SNAPSHOT_PERIOD_SECS: i64 = 86_400;

/// Field values of one PV.
#[derive(Debug, Default)]
pub(crate) struct FieldValues {
    /// Newest value of each archived field, by field name.
    archived: BTreeMap<String, String>,
    /// Archived fields changed since the last write cycle.
    changed: BTreeMap<String, String>,
    /// Newest value of each runtime field.
    runtime: BTreeMap<String, String>,
    /// pvAccess structure leaves other than `value`, by dotted name.
    leaves: BTreeMap<String, String>,
    /// The PV is archived over pvAccess (snapshot rules differ).
    pvaccess: bool,
    /// When the last complete snapshot was attached (Unix seconds), 0 never.
    saved_at: i64,
}

impl FieldValues {
    pub(crate) fn new(pvaccess: bool) -> Self {
        FieldValues {
            pvaccess,
            ..Default::default()
        }
    }

    /// An archived field's channel delivered `value`.
    pub(crate) fn archived(&mut self, field: &str, value: String) {
        self.changed.insert(field.to_string(), value.clone());
        self.archived.insert(field.to_string(), value);
    }

    /// A runtime field's channel delivered `value`.
    pub(crate) fn runtime(&mut self, field: &str, value: String) {
        self.runtime.insert(field.to_string(), value);
    }

    /// Replaces the pvAccess structure leaves.
    pub(crate) fn set_leaves(&mut self, leaves: impl IntoIterator<Item = (String, String)>) {
        self.leaves.clear();
        self.leaves.extend(leaves);
    }

    /// Updates some pvAccess structure leaves.
    pub(crate) fn update_leaves(&mut self, leaves: impl IntoIterator<Item = (String, String)>) {
        self.leaves.extend(leaves);
    }

    /// Records that a complete snapshot was attached at `now`.
    pub(crate) fn mark_saved(&mut self, now: i64) {
        self.saved_at = now;
    }

    /// Every field value a complete snapshot holds; `headers` are the PV's
    /// `EGU`/`PREC` (PREC 0 is left out, as Java does).
    pub(crate) fn snapshot(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in headers {
            let zero_prec = k == "PREC" && v.trim().parse::<f64>().is_ok_and(|p| p == 0.0);
            if (k == "EGU" || k == "PREC") && !zero_prec {
                out.insert(k.clone(), v.clone());
            }
        }
        if self.pvaccess {
            out.extend(self.leaves.iter().map(|(k, v)| (k.clone(), v.clone())));
        } else {
            out.extend(self.runtime.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out.extend(self.archived.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.into_iter().collect()
    }

    /// Java's `aboutToWriteBuffer`: attaches the changed archived fields
    /// and, when a snapshot is due, every field to `last`, the newest sample
    /// of a write cycle.
    pub(crate) fn about_to_write(
        &mut self,
        last: &mut ArchiverSample,
        headers: &[(String, String)],
        now: i64,
    ) {
        if !self.changed.is_empty() {
            for (k, v) in std::mem::take(&mut self.changed) {
                last.set_field(k, v);
            }
            last.extra_mut().field_actual_change = Some(true);
        }
        let due = self.saved_at <= 0 || now - self.saved_at >= SNAPSHOT_PERIOD_SECS;
        // Channel Access writes a snapshot only for PVs with archived fields.
        if due && (self.pvaccess || !self.archived.is_empty()) {
            for (k, v) in self.snapshot(headers) {
                last.set_field(k, v);
            }
            last.extra_mut().field_actual_change = Some(false);
            self.saved_at = now;
        }
    }

    /// Current values of the archived and runtime fields (for metadata).
    pub(crate) fn current(&self) -> impl Iterator<Item = (&String, &String)> {
        self.runtime.iter().chain(self.archived.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SampleValue;

    fn sample() -> ArchiverSample {
        ArchiverSample::at(1_700_000_000, 0, SampleValue::Double(1.0))
    }

    fn headers() -> Vec<(String, String)> {
        vec![("EGU".into(), "mm".into()), ("PREC".into(), "0".into())]
    }

    #[test]
    fn channel_access_changes_then_daily_snapshot() {
        let mut f = FieldValues::new(false);
        let now = 1_700_000_000;
        // No archived field yet: nothing is attached, not even a snapshot.
        let mut s = sample();
        f.runtime("DESC", "a sine".into());
        f.about_to_write(&mut s, &headers(), now);
        assert!(!s.has_fields());
        // The first cycle with an archived field: its change and the snapshot.
        f.archived("HIHI", "90.0".into());
        let mut s = sample();
        f.about_to_write(&mut s, &headers(), now);
        assert_eq!(s.field("HIHI"), Some("90.0"));
        assert_eq!(s.field("DESC"), Some("a sine"));
        assert_eq!(s.field("EGU"), Some("mm"));
        assert_eq!(s.field("PREC"), None, "PREC 0 is not written");
        assert_eq!(s.field_actual_change(), Some(false));
        // A change a minute later: only the change, marked as one.
        f.archived("LOLO", "-90.0".into());
        let mut s = sample();
        f.about_to_write(&mut s, &headers(), now + 60);
        assert_eq!(s.field_values(), &[("LOLO".to_string(), "-90.0".to_string())]);
        assert_eq!(s.field_actual_change(), Some(true));
        // Nothing changed: nothing attached; a day later the snapshot again.
        let mut s = sample();
        f.about_to_write(&mut s, &headers(), now + 120);
        assert!(!s.has_fields());
        let mut s = sample();
        f.about_to_write(&mut s, &headers(), now + SNAPSHOT_PERIOD_SECS);
        assert_eq!(s.field("LOLO"), Some("-90.0"));
        assert_eq!(s.field("HIHI"), Some("90.0"));
    }

    #[test]
    fn pvaccess_snapshot_has_leaves_and_is_due_without_archived_fields() {
        let mut f = FieldValues::new(true);
        f.set_leaves([
            ("display.units".to_string(), "mm".to_string()),
            ("alarm.message".to_string(), String::new()),
        ]);
        let mut s = sample();
        f.about_to_write(&mut s, &headers(), 1_700_000_000);
        assert_eq!(s.field("display.units"), Some("mm"));
        assert_eq!(s.field("alarm.message"), Some(""));
        assert_eq!(s.field("EGU"), Some("mm"));
        // Saved at connect time: the next daily snapshot waits a day.
        f.mark_saved(1_700_000_100);
        let mut s = sample();
        f.about_to_write(&mut s, &headers(), 1_700_000_200);
        assert!(!s.has_fields());
    }
}
