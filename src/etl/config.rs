//! `[etl]`: whether data moves along the store chains on its own, and how
//! the scheduler's loop reads its clock.

use serde::{Deserialize, Serialize};

/// `[etl]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtlConfig {
    /// Move data on Java's schedule (false: data stays where it is written).
    pub enabled: bool,
    /// Seconds between re-reads of the registry for new, paused or changed PVs.
    pub sync_secs: u64,
    /// Seconds added to the system clock by the scheduler (tests and demos
    /// that want to see data age; 0 in production).
    pub clock_offset_secs: i64,
}

impl Default for EtlConfig {
    fn default() -> Self {
        EtlConfig {
            enabled: true,
            sync_secs: 60,
            clock_offset_secs: 0,
        }
    }
}

impl EtlConfig {
    /// Checks the settings; returns a message naming the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.sync_secs == 0 {
            return Err("etl.sync_secs must be at least 1".into());
        }
        Ok(())
    }
}
