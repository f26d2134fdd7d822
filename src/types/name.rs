//! PV names as requests give them: a `pva://` or `ca://` protocol prefix and
//! a `.VAL` field suffix name the same PV as the bare name.

use std::fmt;
use std::ops::Deref;

/// A PV name in its canonical form: trimmed, without protocol prefix and
/// without `.VAL`. Aliases are not resolved (the registry does that).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PvName(String);

impl PvName {
    /// The canonical name of a requested name.
    pub fn new(requested: &str) -> Self {
        let n = requested.trim();
        let n = n
            .strip_prefix("pva://")
            .or_else(|| n.strip_prefix("ca://"))
            .unwrap_or(n);
        PvName(n.strip_suffix(".VAL").unwrap_or(n).to_string())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for PvName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<PvName> for String {
    fn from(n: PvName) -> String {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_prefix_and_val_name_the_bare_pv() {
        for given in [
            "X:a",
            " X:a ",
            "pva://X:a",
            "ca://X:a",
            "X:a.VAL",
            "pva://X:a.VAL",
        ] {
            assert_eq!(PvName::new(given).as_str(), "X:a", "{given:?}");
        }
        assert_eq!(PvName::new("X:a.HIHI").as_str(), "X:a.HIHI");
        assert_eq!(PvName::new("pva://").as_str(), "");
    }
}
