//! `[etl]`: whether data moves along the store chains on its own, how the
//! scheduler's loop reads its clock, how much one wave carries, how it
//! syncs, what happens when a destination is out of space, and the
//! shutdown consolidation budget.

use serde::{Deserialize, Serialize};

use super::plan::OutOfSpace;
use super::run::{SyncMode, WaveOptions};
use super::service::WaveLimits;

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
    /// A destination with less usable space than a file + 1 MiB:
    /// `delete_src_if_first_dest` (Java's default: stage 0 deletes the
    /// source without copying, later stages stop), `delete_src`, `skip_etl`
    /// (Java's `OutOfSpaceHandling` names are accepted too).
    pub out_of_space: OutOfSpace,
    /// Sync point of a wave: `files` (fdatasync each destination file) or
    /// `fs` (one syncfs per destination file system).
    pub sync: SyncMode,
    /// Most source files (and PVs) in one wave.
    pub wave_files: usize,
    /// Most source bytes in one wave, in MiB.
    pub wave_mb: u64,
}

impl Default for EtlConfig {
    fn default() -> Self {
        let limits = WaveLimits::default();
        EtlConfig {
            enabled: true,
            sync_secs: 600,
            shutdown_consolidate_secs: 60,
            clock_offset_secs: 0,
            out_of_space: OutOfSpace::default(),
            sync: SyncMode::default(),
            wave_files: limits.files,
            wave_mb: limits.bytes >> 20,
        }
    }
}

impl EtlConfig {
    /// Checks the settings; returns a message naming the bad field.
    pub fn validate(&self) -> Result<(), String> {
        if self.sync_secs == 0 {
            return Err("etl.sync_secs must be at least 1".into());
        }
        if self.wave_files == 0 {
            return Err("etl.wave_files must be at least 1".into());
        }
        if self.wave_mb == 0 {
            return Err("etl.wave_mb must be at least 1".into());
        }
        Ok(())
    }

    /// The executor's settings (the system's free-space query).
    pub fn wave_options(&self) -> WaveOptions {
        WaveOptions {
            out_of_space: self.out_of_space,
            sync: self.sync,
            ..WaveOptions::default()
        }
    }

    /// The wave bounds.
    pub fn wave_limits(&self) -> WaveLimits {
        WaveLimits {
            files: self.wave_files,
            bytes: self.wave_mb.saturating_mul(1 << 20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_takes_short_and_java_names() {
        for (text, want) in [
            ("delete_src_if_first_dest", OutOfSpace::DeleteSrcIfFirstDest),
            ("delete_src", OutOfSpace::DeleteSrc),
            ("skip_etl", OutOfSpace::Skip),
            (
                "DELETE_SRC_STREAMS_IF_FIRST_DEST_WHEN_OUT_OF_SPACE",
                OutOfSpace::DeleteSrcIfFirstDest,
            ),
            ("DELETE_SRC_STREAMS_WHEN_OUT_OF_SPACE", OutOfSpace::DeleteSrc),
            ("SKIP_ETL_WHEN_OUT_OF_SPACE", OutOfSpace::Skip),
        ] {
            let c: EtlConfig = toml::from_str(&format!("out_of_space = \"{text}\"\nsync = \"fs\"")).unwrap();
            assert_eq!(c.out_of_space, want, "{text}");
            assert_eq!(c.sync, SyncMode::Fs);
        }
        assert!(toml::from_str::<EtlConfig>("out_of_space = \"drop\"").is_err());
    }

    #[test]
    fn zero_waves_are_rejected() {
        let c = EtlConfig {
            wave_files: 0,
            ..EtlConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
