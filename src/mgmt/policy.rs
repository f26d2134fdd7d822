//! Archiving policies: a declarative TOML file (built-in default in
//! `policies.default.toml`) mapping a policy name to sampling method/period,
//! store chain and archived fields, with rules on PV name patterns and the
//! measured event rate.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::registry::SamplingMethod;

/// The built-in policies file.
pub const DEFAULT_POLICIES: &str = include_str!("../../policies.default.toml");

/// `[policies]` in the config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Policies file; the built-in default when absent.
    pub file: Option<PathBuf>,
}

/// One policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Name (PVTypeInfo `policyName`).
    pub name: String,
    /// Shown by `getPolicyList`.
    #[serde(default)]
    pub description: String,
    /// `MONITOR` or `SCAN`.
    pub sampling_method: String,
    /// Seconds.
    pub sampling_period: f32,
    /// Store names (tiers) in ETL order.
    pub stores: Vec<String>,
    /// Fields stored in the PV's stream.
    #[serde(default)]
    pub archive_fields: Vec<String>,
    /// Protocol of PVs requested without `pva://` or `ca://`: `CA` or `PVA`
    /// (a strata addition; unset: Channel Access, as Java's default).
    #[serde(default)]
    pub protocol: Option<String>,
}

/// A rule selecting a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Policy to apply.
    pub policy: String,
    /// PV name glob (`*`, `?`).
    #[serde(default)]
    pub pv: Option<String>,
    /// PV name regex (full match).
    #[serde(default)]
    pub regex: Option<String>,
    /// Measured event rate at least this (events/s).
    #[serde(default)]
    pub min_event_rate: Option<f64>,
    /// Measured event rate at most this.
    #[serde(default)]
    pub max_event_rate: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    fields_archived_as_part_of_stream: Vec<String>,
    #[serde(default)]
    policy: Vec<Policy>,
    #[serde(default)]
    rule: Vec<Rule>,
}

/// Loaded policies.
#[derive(Debug, Clone)]
pub struct Policies {
    text: String,
    policies: Vec<Policy>,
    rules: Vec<(Rule, Option<Regex>)>,
    stream_fields: Vec<String>,
}

/// What a policy decides for one PV.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Chosen policy.
    pub policy: String,
    /// Sampling method.
    pub method: SamplingMethod,
    /// Sampling period (s).
    pub period: f32,
    /// Store names.
    pub stores: Vec<String>,
    /// Archived fields.
    pub archive_fields: Vec<String>,
}

/// A policies file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Read failure.
    #[error("reading policies {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Parse or validation failure.
    #[error("policies: {0}")]
    Invalid(String),
    /// `policy=` names no policy.
    #[error("unknown policy {0}")]
    Unknown(String),
}

/// Glob (`*`, `?`, literal otherwise) as an anchored regex.
pub fn glob_regex(glob: &str) -> Result<Regex, regex::Error> {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re)
}

impl Policies {
    /// Parses a policies file's text, checking names and store references.
    pub fn parse(text: &str, known_stores: &[String]) -> Result<Self, PolicyError> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        if f.policy.is_empty() {
            return Err(PolicyError::Invalid("no [[policy]] defined".into()));
        }
        for p in &f.policy {
            if SamplingMethod::parse(&p.sampling_method).is_none() {
                return Err(PolicyError::Invalid(format!(
                    "policy {}: sampling_method {:?}",
                    p.name, p.sampling_method
                )));
            }
            if !p.sampling_period.is_finite() || p.sampling_period <= 0.0 {
                return Err(PolicyError::Invalid(format!(
                    "policy {}: sampling_period must be > 0",
                    p.name
                )));
            }
            if let Some(proto) = &p.protocol {
                if !matches!(proto.to_ascii_uppercase().as_str(), "CA" | "PVA") {
                    return Err(PolicyError::Invalid(format!(
                        "policy {}: protocol {proto:?} is not CA or PVA",
                        p.name
                    )));
                }
            }
            for s in &p.stores {
                if !known_stores.iter().any(|k| k.eq_ignore_ascii_case(s)) {
                    return Err(PolicyError::Invalid(format!(
                        "policy {}: store {s} is not a configured tier ({})",
                        p.name,
                        known_stores.join(", ")
                    )));
                }
            }
        }
        let mut rules = Vec::new();
        for r in f.rule {
            if !f.policy.iter().any(|p| p.name == r.policy) {
                return Err(PolicyError::Invalid(format!(
                    "rule names unknown policy {}",
                    r.policy
                )));
            }
            let re = match (&r.pv, &r.regex) {
                (Some(g), None) => Some(glob_regex(g).map_err(|e| PolicyError::Invalid(e.to_string()))?),
                (None, Some(x)) => {
                    Some(Regex::new(&format!("^(?:{x})$")).map_err(|e| PolicyError::Invalid(e.to_string()))?)
                }
                (None, None) => None,
                (Some(_), Some(_)) => {
                    return Err(PolicyError::Invalid("a rule has both pv and regex".into()))
                }
            };
            rules.push((r, re));
        }
        Ok(Policies {
            text: text.to_string(),
            policies: f.policy,
            rules,
            stream_fields: f.fields_archived_as_part_of_stream,
        })
    }

    /// Loads `file` or the built-in default.
    pub fn load(file: Option<&Path>, known_stores: &[String]) -> Result<Self, PolicyError> {
        match file {
            None => Self::parse(DEFAULT_POLICIES, known_stores),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| PolicyError::Read {
                    path: p.to_path_buf(),
                    source: e,
                })?;
                Self::parse(&text, known_stores)
            }
        }
    }

    /// The file's text (`getPolicyText`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `(name, description)` of every policy (`getPolicyList`).
    pub fn list(&self) -> Vec<(String, String)> {
        self.policies
            .iter()
            .map(|p| (p.name.clone(), p.description.clone()))
            .collect()
    }

    /// Fields a client may archive as `PV.FIELD`.
    pub fn stream_fields(&self) -> &[String] {
        &self.stream_fields
    }

    /// Whether a PV requested without protocol prefix is archived over
    /// pvAccess: the protocol of the requested policy, else of the first
    /// rule matching the name (rate bounds are not known yet), else of
    /// "Default"; `None` when that policy names none.
    pub fn protocol_for(&self, pv: &str, requested: Option<&str>) -> Option<bool> {
        let name = match requested {
            Some(n) => n,
            None => self
                .rules
                .iter()
                .find(|(_, re)| re.as_ref().is_none_or(|re| re.is_match(pv)))
                .map(|(r, _)| r.policy.as_str())
                .unwrap_or("Default"),
        };
        let p = self.policies.iter().find(|p| p.name == name)?;
        p.protocol.as_deref().map(|x| x.eq_ignore_ascii_case("PVA"))
    }

    /// Chooses a policy for `pv`. `requested` (the archivePV `policy`
    /// parameter) wins; then the first matching rule; then "Default" (or the
    /// first policy).
    pub fn decide(
        &self,
        pv: &str,
        event_rate: Option<f64>,
        requested: Option<&str>,
    ) -> Result<Decision, PolicyError> {
        let chosen = if let Some(name) = requested {
            self.policies
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| PolicyError::Unknown(name.to_string()))?
        } else {
            let by_rule = self.rules.iter().find(|(r, re)| {
                re.as_ref().is_none_or(|re| re.is_match(pv))
                    && r.min_event_rate
                        .is_none_or(|m| event_rate.is_some_and(|e| e >= m))
                    && r.max_event_rate
                        .is_none_or(|m| event_rate.is_some_and(|e| e <= m))
            });
            let name = by_rule.map(|(r, _)| r.policy.as_str()).unwrap_or("Default");
            self.policies
                .iter()
                .find(|p| p.name == name)
                .or_else(|| self.policies.first())
                .ok_or_else(|| PolicyError::Unknown(name.to_string()))?
        };
        Ok(Decision {
            policy: chosen.name.clone(),
            method: SamplingMethod::parse(&chosen.sampling_method).unwrap_or_default(),
            period: chosen.sampling_period,
            stores: chosen.stores.clone(),
            archive_fields: chosen.archive_fields.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores() -> Vec<String> {
        vec!["STS".into(), "MTS".into(), "LTS".into()]
    }

    #[test]
    fn builtin_policies_decide_by_rate_and_request() {
        let p = Policies::load(None, &stores()).unwrap();
        assert_eq!(p.decide("A:b", Some(1.0), None).unwrap().policy, "Default");
        assert_eq!(p.decide("A:b", Some(50.0), None).unwrap().policy, "Fast");
        assert_eq!(
            p.decide("A:b", Some(0.001), None).unwrap().method,
            SamplingMethod::Scan
        );
        assert_eq!(p.decide("A:b", None, None).unwrap().policy, "Default");
        assert_eq!(p.decide("A:b", Some(50.0), Some("Slow")).unwrap().policy, "Slow");
        assert!(p.decide("A:b", None, Some("Nope")).is_err());
        assert_eq!(p.list().len(), 3);
    }

    #[test]
    fn name_rules_and_validation() {
        let text = r#"
[[policy]]
name = "Default"
sampling_method = "MONITOR"
sampling_period = 1.0
stores = ["STS"]
[[policy]]
name = "BPM"
sampling_method = "SCAN"
sampling_period = 0.5
stores = ["STS", "LTS"]
[[rule]]
policy = "BPM"
pv = "*:BPM*:X"
"#;
        let p = Policies::parse(text, &stores()).unwrap();
        assert_eq!(p.decide("SR:BPM01:X", None, None).unwrap().policy, "BPM");
        assert_eq!(p.decide("SR:BPM01:Y", None, None).unwrap().policy, "Default");
        assert!(Policies::parse(&text.replace("\"LTS\"", "\"XTS\""), &stores()).is_err());
        assert!(Policies::parse(&text.replace("policy = \"BPM\"", "policy = \"Q\""), &stores()).is_err());
        assert!(Policies::parse("[[policy]]\nname=\"x\"\n", &stores()).is_err());
    }

    #[test]
    fn protocol_from_policy_by_name() {
        let text = r#"
[[policy]]
name = "Default"
sampling_method = "MONITOR"
sampling_period = 1.0
stores = ["STS"]
[[policy]]
name = "Detectors"
sampling_method = "MONITOR"
sampling_period = 1.0
stores = ["STS"]
protocol = "PVA"
[[rule]]
policy = "Detectors"
pv = "DET:*"
min_event_rate = 5.0
"#;
        let p = Policies::parse(text, &stores()).unwrap();
        assert_eq!(p.protocol_for("DET:cam1", None), Some(true));
        assert_eq!(p.protocol_for("SR:x", None), None);
        assert_eq!(p.protocol_for("SR:x", Some("Detectors")), Some(true));
        assert!(Policies::parse(&text.replace("\"PVA\"", "\"XX\""), &stores()).is_err());
    }
}
