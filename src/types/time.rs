//! UTC timestamps and civil-calendar arithmetic (proleptic Gregorian, no leap seconds).
//!
//! PlainPB stores `year` in the file header and `secondsintoyear` + `nano` per
//! sample; these helpers convert between that form and Unix time without any
//! allocation or time-zone database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds between the Unix epoch and the EPICS epoch (1990-01-01T00:00:00Z).
pub const EPICS_EPOCH_OFFSET: i64 = 631_152_000;

/// A UTC instant with nanosecond resolution; ordering is `(secs, nanos)`.
///
/// Invariant: `nanos < 1_000_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Unix seconds (may be negative).
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// The smallest representable instant.
    pub const MIN: Timestamp = Timestamp {
        secs: i64::MIN,
        nanos: 0,
    };
    /// The largest representable instant.
    pub const MAX: Timestamp = Timestamp {
        secs: i64::MAX,
        nanos: 999_999_999,
    };

    /// Builds a timestamp, carrying excess nanoseconds into seconds.
    pub fn new(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs: secs.saturating_add(i64::from(nanos / 1_000_000_000)),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// From a `SystemTime` (pre-1970 instants are supported).
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let mut secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                let mut nanos = d.subsec_nanos();
                if nanos > 0 {
                    secs -= 1;
                    nanos = 1_000_000_000 - nanos;
                }
                Timestamp { secs, nanos }
            }
        }
    }

    /// To a `SystemTime`; saturates far outside the platform's range.
    pub fn to_system_time(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH
                .checked_add(Duration::new(self.secs as u64, self.nanos))
                .unwrap_or(UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2))
        } else {
            let back = Duration::new(self.secs.unsigned_abs(), 0);
            UNIX_EPOCH
                .checked_sub(back)
                .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(self.nanos))))
                .unwrap_or(UNIX_EPOCH)
        }
    }

    /// Current wall-clock time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Milliseconds since the epoch (floor).
    pub fn millis(self) -> i64 {
        self.secs
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos / 1_000_000))
    }

    /// Seconds as a float (for interpolation).
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) * 1e-9
    }

    /// UTC calendar year of this instant.
    pub fn year(self) -> i32 {
        year_of(self.secs)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Self::from_system_time(t)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        t.to_system_time()
    }
}

/// `SystemTime` for Unix seconds + nanos (`nanos` < 10^9).
#[inline]
pub fn epoch_secs_to_system_time(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 && nanos < 1_000_000_000 {
        // Common case: one addition, no normalisation.
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        Timestamp::new(secs, nanos).to_system_time()
    }
}

/// Days since 1970-01-01 for a civil date (month 1..=12, day 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` for days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix seconds of `year-01-01T00:00:00Z`.
pub fn year_start(year: i32) -> i64 {
    days_from_civil(i64::from(year), 1, 1) * 86_400
}

/// UTC calendar year containing Unix second `secs`.
pub fn year_of(secs: i64) -> i32 {
    let (y, _, _) = civil_from_days(secs.div_euclid(86_400));
    i32::try_from(y).unwrap_or(if y < 0 { i32::MIN } else { i32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_starts_match_spec() {
        assert_eq!(year_start(1970), 0);
        assert_eq!(year_start(2014), 1_388_534_400);
        assert_eq!(year_start(2023), 1_672_531_200);
        assert_eq!(year_start(2024), 1_704_067_200);
        assert_eq!(year_of(1_704_067_199), 2023);
        assert_eq!(year_of(1_704_067_200), 2024);
        assert_eq!(year_of(-1), 1969);
    }

    #[test]
    fn civil_round_trip() {
        for z in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn system_time_round_trip() {
        for (s, n) in [
            (0, 0),
            (1, 5),
            (-1, 0),
            (-1, 999_999_999),
            (1_710_495_000, 500_000_000),
        ] {
            let t = Timestamp::new(s, n);
            assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
        }
    }
}
