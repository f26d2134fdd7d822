//! Instants in requests: ISO-8601 as Java's `Instant.parse` and offset
//! date-times accept them (`2024-03-15T09:30:00Z`, `…00.123Z`, `…-07:00`).

use chrono::{DateTime, NaiveDateTime};

use crate::types::Timestamp;

/// Parses an ISO-8601 instant. A space where an offset's `+` belongs (the
/// result of URL form decoding) is accepted.
pub fn parse_instant(s: &str) -> Option<Timestamp> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    // Byte 19 follows the seconds of `YYYY-MM-DDTHH:MM:SS`; `get` keeps
    // the split on a character boundary whatever the input holds.
    let fixed;
    let t = match (t.get(..19), t.get(19..)) {
        (Some(head), Some(tail)) if tail.contains(' ') => {
            fixed = format!("{head}{}", tail.replace(' ', "+"));
            fixed.as_str()
        }
        _ => t,
    };
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(Timestamp::new(d.timestamp(), d.timestamp_subsec_nanos()));
    }
    // Offsets without a colon (+0200) and a few other ISO forms.
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(d) = DateTime::parse_from_str(t, f) {
            return Some(Timestamp::new(d.timestamp(), d.timestamp_subsec_nanos()));
        }
    }
    // A date-time without zone is taken as UTC.
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            let u = d.and_utc();
            return Some(Timestamp::new(u.timestamp(), u.timestamp_subsec_nanos()));
        }
    }
    None
}

/// Formats an instant as ISO-8601 UTC with milliseconds.
pub fn format_instant(t: Timestamp) -> String {
    match DateTime::from_timestamp(t.secs, t.nanos) {
        Some(d) => d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => t.secs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_instant_forms() {
        let base = 1_710_495_000;
        assert_eq!(
            parse_instant("2024-03-15T09:30:00Z"),
            Some(Timestamp::new(base, 0))
        );
        assert_eq!(
            parse_instant("2024-03-15T09:30:00.123Z"),
            Some(Timestamp::new(base, 123_000_000))
        );
        assert_eq!(
            parse_instant("2024-03-15T02:30:00-07:00"),
            Some(Timestamp::new(base, 0))
        );
        assert_eq!(
            parse_instant("2024-03-15T11:30:00 02:00"),
            Some(Timestamp::new(base, 0))
        );
        assert_eq!(
            parse_instant("2024-03-15T11:30:00+0200"),
            Some(Timestamp::new(base, 0))
        );
        assert_eq!(
            parse_instant("2024-03-15T09:30:00"),
            Some(Timestamp::new(base, 0))
        );
        assert_eq!(parse_instant("yesterday"), None);
        assert_eq!(parse_instant("2024-13-15T09:30:00Z"), None);
        assert_eq!(parse_instant(""), None);
        // Issue 11: a multi-byte character across byte 19 used to panic.
        assert_eq!(parse_instant("2024-03-15T09:30:0é"), None);
        assert_eq!(parse_instant("2024-03-15T09:30:0é 1"), None);
        assert_eq!(parse_instant("ééééééééééééééééééééé"), None);
        assert_eq!(
            format_instant(Timestamp::new(base, 5_000_000)),
            "2024-03-15T09:30:00.005Z"
        );
    }
}
