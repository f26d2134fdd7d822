//! Time partitions of PlainPB files: the seven Java granularities, their UTC
//! boundaries and file-name parts (`2024_03_15_09_35`).

use std::fmt;
use std::str::FromStr;

use super::time::{civil_from_days, days_from_civil};

/// Java `PartitionGranularity`. Every granularity nests in the next coarser one,
/// so no partition spans two years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartitionGranularity {
    /// `PARTITION_5MIN`
    FiveMin,
    /// `PARTITION_15MIN`
    FifteenMin,
    /// `PARTITION_30MIN`
    ThirtyMin,
    /// `PARTITION_HOUR`
    Hour,
    /// `PARTITION_DAY`
    Day,
    /// `PARTITION_MONTH`
    Month,
    /// `PARTITION_YEAR`
    Year,
}

/// A granularity name that is not one of the seven Java names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown partition granularity {0:?} (expected PARTITION_5MIN, _15MIN, _30MIN, _HOUR, _DAY, _MONTH or _YEAR)")]
pub struct UnknownGranularity(pub String);

impl PartitionGranularity {
    /// All granularities, finest first.
    pub const ALL: [PartitionGranularity; 7] = [
        Self::FiveMin,
        Self::FifteenMin,
        Self::ThirtyMin,
        Self::Hour,
        Self::Day,
        Self::Month,
        Self::Year,
    ];

    /// Java enum name, e.g. `PARTITION_HOUR`.
    pub fn java_name(self) -> &'static str {
        match self {
            Self::FiveMin => "PARTITION_5MIN",
            Self::FifteenMin => "PARTITION_15MIN",
            Self::ThirtyMin => "PARTITION_30MIN",
            Self::Hour => "PARTITION_HOUR",
            Self::Day => "PARTITION_DAY",
            Self::Month => "PARTITION_MONTH",
            Self::Year => "PARTITION_YEAR",
        }
    }

    /// Java's approximate partition length in seconds (ETL scheduling only).
    pub fn approx_seconds(self) -> i64 {
        match self {
            Self::FiveMin => 300,
            Self::FifteenMin => 900,
            Self::ThirtyMin => 1800,
            Self::Hour => 3600,
            Self::Day => 86_400,
            Self::Month => 2_678_400,
            Self::Year => 31_622_400,
        }
    }

    /// Number of `_`-separated fields in a partition name of this granularity.
    pub fn name_fields(self) -> usize {
        match self {
            Self::FiveMin | Self::FifteenMin | Self::ThirtyMin => 5,
            Self::Hour => 4,
            Self::Day => 3,
            Self::Month => 2,
            Self::Year => 1,
        }
    }

    fn minute_step(self) -> u32 {
        match self {
            Self::FiveMin => 5,
            Self::FifteenMin => 15,
            Self::ThirtyMin => 30,
            _ => 60,
        }
    }

    /// Unix second at which the partition containing `secs` starts.
    pub fn partition_start(self, secs: i64) -> i64 {
        let days = secs.div_euclid(86_400);
        match self {
            Self::FiveMin | Self::FifteenMin | Self::ThirtyMin | Self::Hour | Self::Day => {
                let step = match self {
                    Self::Day => 86_400,
                    Self::Hour => 3600,
                    other => i64::from(other.minute_step()) * 60,
                };
                secs.div_euclid(step) * step
            }
            Self::Month => {
                let (y, m, _) = civil_from_days(days);
                days_from_civil(y, m, 1) * 86_400
            }
            Self::Year => {
                let (y, _, _) = civil_from_days(days);
                days_from_civil(y, 1, 1) * 86_400
            }
        }
    }

    /// First second of the partition after the one containing `secs`.
    pub fn next_partition_start(self, secs: i64) -> i64 {
        let start = self.partition_start(secs);
        match self {
            Self::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(86_400));
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(ny, nm, 1) * 86_400
            }
            Self::Year => {
                let (y, _, _) = civil_from_days(start.div_euclid(86_400));
                days_from_civil(y + 1, 1, 1) * 86_400
            }
            Self::Day => start + 86_400,
            Self::Hour => start + 3600,
            other => start + i64::from(other.minute_step()) * 60,
        }
    }

    /// Partition name for the partition containing `secs` (UTC, zero padded).
    pub fn partition_name(self, secs: i64) -> String {
        let start = self.partition_start(secs);
        let days = start.div_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let sod = start.rem_euclid(86_400);
        let (hh, mm) = (sod / 3600, (sod % 3600) / 60);
        match self {
            Self::Year => format!("{y:04}"),
            Self::Month => format!("{y:04}_{m:02}"),
            Self::Day => format!("{y:04}_{m:02}_{d:02}"),
            Self::Hour => format!("{y:04}_{m:02}_{d:02}_{hh:02}"),
            _ => format!("{y:04}_{m:02}_{d:02}_{hh:02}_{mm:02}"),
        }
    }

    /// Start second of the partition named `name`, if it is a well-formed
    /// name of exactly this granularity (minutes must be on the step).
    pub fn parse_partition_name(self, name: &str) -> Option<i64> {
        let parts: Vec<&str> = name.split('_').collect();
        if parts.len() != self.name_fields() {
            return None;
        }
        let num = |i: usize, width: usize| -> Option<u32> {
            let p = parts.get(i)?;
            if p.len() != width || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let y = num(0, 4)?;
        let m = if parts.len() > 1 { num(1, 2)? } else { 1 };
        let d = if parts.len() > 2 { num(2, 2)? } else { 1 };
        let hh = if parts.len() > 3 { num(3, 2)? } else { 0 };
        let mm = if parts.len() > 4 { num(4, 2)? } else { 0 };
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(i64::from(y), m) {
            return None;
        }
        if hh > 23 || mm > 59 || mm % self.minute_step() != 0 {
            return None;
        }
        let days = days_from_civil(i64::from(y), m, d);
        Some(days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60)
    }

    /// Guess the granularity from a partition name's field count
    /// (5 fields are taken as the finest, 5-minute, granularity).
    pub fn from_partition_name(name: &str) -> Option<Self> {
        let fields = name.split('_').count();
        let g = match fields {
            1 => Self::Year,
            2 => Self::Month,
            3 => Self::Day,
            4 => Self::Hour,
            5 => Self::FiveMin,
            _ => return None,
        };
        g.parse_partition_name(name).map(|_| g)
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)) as u32
}

impl fmt::Display for PartitionGranularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.java_name())
    }
}

impl FromStr for PartitionGranularity {
    type Err = UnknownGranularity;

    /// Accepts `PARTITION_HOUR`, `HOUR`, `hour`, `5min`, … (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        let bare = up.strip_prefix("PARTITION_").unwrap_or(&up);
        Ok(match bare {
            "5MIN" => Self::FiveMin,
            "15MIN" => Self::FifteenMin,
            "30MIN" => Self::ThirtyMin,
            "HOUR" => Self::Hour,
            "DAY" => Self::Day,
            "MONTH" => Self::Month,
            "YEAR" => Self::Year,
            _ => return Err(UnknownGranularity(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-03-15T09:37:12Z
    const T: i64 = 1_710_495_432;

    #[test]
    fn names_for_every_granularity() {
        use PartitionGranularity::*;
        let expect = [
            (FiveMin, "2024_03_15_09_35"),
            (FifteenMin, "2024_03_15_09_30"),
            (ThirtyMin, "2024_03_15_09_30"),
            (Hour, "2024_03_15_09"),
            (Day, "2024_03_15"),
            (Month, "2024_03"),
            (Year, "2024"),
        ];
        for (g, name) in expect {
            assert_eq!(g.partition_name(T), name, "{g}");
            let start = g.partition_start(T);
            assert_eq!(g.parse_partition_name(name), Some(start));
            assert!(start <= T && T < g.next_partition_start(T));
            assert_eq!(g.partition_name(g.next_partition_start(T) - 1), name);
            assert_ne!(g.partition_name(g.next_partition_start(T)), name);
        }
    }

    #[test]
    fn new_year_boundary() {
        use PartitionGranularity::*;
        let last = 1_704_067_199; // 2023-12-31T23:59:59Z
        let first = last + 1;
        for g in PartitionGranularity::ALL {
            assert_eq!(g.next_partition_start(last), first, "{g}");
            assert!(g.partition_name(last).starts_with("2023"));
            assert!(g.partition_name(first).starts_with("2024"));
        }
        assert_eq!(FiveMin.partition_name(last), "2023_12_31_23_55");
        assert_eq!(Month.partition_name(last), "2023_12");
        assert_eq!(Month.partition_name(first), "2024_01");
        assert_eq!(Day.partition_name(first), "2024_01_01");
    }

    #[test]
    fn rejects_malformed_names() {
        use PartitionGranularity::*;
        assert_eq!(Hour.parse_partition_name("2024_03_15"), None);
        assert_eq!(FiveMin.parse_partition_name("2024_03_15_09_36"), None);
        assert_eq!(Day.parse_partition_name("2024_02_30"), None);
        assert_eq!(Year.parse_partition_name("24"), None);
        assert_eq!(PartitionGranularity::from_partition_name("2024_02"), Some(Month));
        assert_eq!("partition_day".parse::<PartitionGranularity>(), Ok(Day));
    }
}
