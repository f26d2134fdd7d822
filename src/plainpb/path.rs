//! PV name → storage key → partition file path (plainpb.md §6).
//!
//! Keys use `/` as directory separator and end with the terminator `:`.
//! Paths are built component by component, never through a glob, so PV
//! names with `{}`, `[]`, `*`, `?` work; empty components and `.`/`..`
//! are neutralised so a PV name can never escape the tier's root folder.

use std::path::{Path, PathBuf};

use crate::types::PartitionGranularity;

/// Characters the default site rule maps to `/` (Java `[\:\-]`).
pub const PV_KEY_SEPARATORS: [char; 2] = [':', '-'];
/// Terminator appended to every key.
pub const PV_KEY_TERMINATOR: char = ':';

/// Default storage key of a PV: `:` and `-` become `/`, then `:` is appended.
///
/// `ROOT:SUB:pv` → `ROOT/SUB/pv:`; `TST-CT{}Sig:1-I` → `TST/CT{}Sig/1/I:`.
pub fn pv_key(pv: &str) -> String {
    let mut key: String = pv
        .chars()
        .map(|c| if PV_KEY_SEPARATORS.contains(&c) { '/' } else { c })
        .collect();
    key.push(PV_KEY_TERMINATOR);
    key
}

fn safe_component(c: &str) -> std::borrow::Cow<'_, str> {
    match c {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        other if other.contains('\0') => other.replace('\0', "%00").into(),
        other => other.into(),
    }
}

/// Directory (relative to the tier root) and file-name prefix of a key:
/// `ROOT/SUB/pv:` → (`ROOT/SUB`, `pv:`).
pub fn key_to_relative_dir(key: &str) -> (PathBuf, String) {
    let mut dir = PathBuf::new();
    let mut parts: Vec<&str> = key.split('/').collect();
    let last = parts.pop().unwrap_or_default();
    for p in parts.into_iter().filter(|p| !p.is_empty()) {
        dir.push(safe_component(p).as_ref());
    }
    let last = if last.is_empty() { "%00" } else { last };
    let prefix = match last {
        "." | ".." => safe_component(last).into_owned(),
        other => other.replace('\0', "%00"),
    };
    (dir, prefix)
}

/// `<root>/<key><partition name>.pb` for the partition containing `secs`.
pub fn partition_path(root: &Path, key: &str, granularity: PartitionGranularity, secs: i64) -> PathBuf {
    let (dir, prefix) = key_to_relative_dir(key);
    let mut p = root.join(dir);
    p.push(format!(
        "{prefix}{}{}",
        granularity.partition_name(secs),
        super::PB_EXTENSION
    ));
    p
}

/// Splits a data file name `pv:2024_03_15.pb` (or the compressed form
/// `pv:2024_03_15.pb.zst`) into the key's last component (`pv`) and the
/// partition name (`2024_03_15`). `None` when the name has no terminator or
/// neither extension.
pub fn split_file_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = file_name
        .strip_suffix(super::ZST_EXTENSION)
        .or_else(|| file_name.strip_suffix(super::PB_EXTENSION))?;
    let i = stem.rfind(PV_KEY_TERMINATOR)?;
    Some((&stem[..i], &stem[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PartitionGranularity::*;

    #[test]
    fn keys_follow_java_rule() {
        assert_eq!(pv_key("ROOT:SUB:pv"), "ROOT/SUB/pv:");
        assert_eq!(pv_key("TST-CT{}Sig:1-I"), "TST/CT{}Sig/1/I:");
        assert_eq!(pv_key("LN-AM{RadMon:2}DoseRate-I"), "LN/AM{RadMon/2}DoseRate/I:");
        assert_eq!(pv_key("X:CTRD_V_BOOK"), "X/CTRD_V_BOOK:");
        assert_eq!(pv_key("A[1]*?"), "A[1]*?:");
    }

    #[test]
    fn paths_for_every_granularity() {
        let t = 1_710_495_432; // 2024-03-15T09:37:12Z
        let root = Path::new("/arch/sts");
        let key = pv_key("ROOT:SUB:pv");
        let cases = [
            (FiveMin, "/arch/sts/ROOT/SUB/pv:2024_03_15_09_35.pb"),
            (FifteenMin, "/arch/sts/ROOT/SUB/pv:2024_03_15_09_30.pb"),
            (ThirtyMin, "/arch/sts/ROOT/SUB/pv:2024_03_15_09_30.pb"),
            (Hour, "/arch/sts/ROOT/SUB/pv:2024_03_15_09.pb"),
            (Day, "/arch/sts/ROOT/SUB/pv:2024_03_15.pb"),
            (Month, "/arch/sts/ROOT/SUB/pv:2024_03.pb"),
            (Year, "/arch/sts/ROOT/SUB/pv:2024.pb"),
        ];
        for (g, p) in cases {
            assert_eq!(partition_path(root, &key, g, t), Path::new(p), "{g}");
        }
        assert_eq!(
            partition_path(root, &pv_key("LN-AM{RadMon:2}DoseRate-I"), Year, 1_418_019_667),
            Path::new("/arch/sts/LN/AM{RadMon/2}DoseRate/I:2014.pb")
        );
    }

    #[test]
    fn names_cannot_escape_the_root() {
        let root = Path::new("/r");
        let p = partition_path(root, &pv_key("-a:..:..:b"), Year, 0);
        assert!(p.starts_with("/r"));
        assert!(!p.components().any(|c| c == std::path::Component::ParentDir));
        let p = partition_path(root, &pv_key(":"), Year, 0);
        assert!(p.starts_with("/r"));
    }

    #[test]
    fn split_names() {
        assert_eq!(split_file_name("pv:2024_03_15.pb"), Some(("pv", "2024_03_15")));
        assert_eq!(split_file_name("CT{}Sig:2014.pb"), Some(("CT{}Sig", "2014")));
        assert_eq!(split_file_name("pv:2024.pb.zst"), Some(("pv", "2024")));
        assert_eq!(split_file_name("pv:2024.zst"), None);
        assert_eq!(split_file_name("pv:2024.mean_600"), None);
        assert_eq!(split_file_name("nocolon.pb"), None);
    }
}
