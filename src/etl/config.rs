//! `[etl]`: whether data moves along the store chains on its own, how the
//! scheduler's loop reads its clock, and the shutdown consolidation budget.

use serde::{Deserialize, Serialize};

/// `[etl]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtlConfig {
    /// Move data on Java's schedule (false: data stays where it is written).
    pub enabled: bool,
    /// Seconds between re-reads of the registry for PVs changed without a
    /// management call (a safety net: archive, pause, resume, delete and
    /// chain changes notify the scheduler at once).
    pub sync_secs: u64,
    /// Longest time (s) the consolidation of `consolidateOnShutdown`
    /// stores may take at shutdown; what is left is due at the next start.
    pub shutdown_consolidate_secs: u64,
    /// Seconds added to the system clock by the scheduler (tests and demos
    /// that want to see data age; 0 in production).
    pub clock_offset_secs: i64,
}

impl Default for EtlConfig {
    fn default() -> Self {
        EtlConfig {
            enabled: true,
            sync_secs: 600,
            shutdown_consolidate_secs: 60,
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
