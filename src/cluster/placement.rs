//! Which member gets a new PV (Java's capacity planning, simplified): the
//! alive member with the lowest storage rate among those under every
//! ceiling (ties: fewer PVs, then identity). An explicit appliance (the
//! `appliance` parameter or a policy naming one) overrides the choice.
//! Pure: the inputs are the directory's load records.

use std::collections::HashMap;

use super::config::PlacementConfig;
use super::directory::Load;

/// Why no member can take a PV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// The named appliance is not a known member.
    #[error("unknown appliance {0}")]
    UnknownAppliance(String),
    /// Every alive member is over a ceiling (or none is alive).
    #[error("no appliance has capacity for new PVs")]
    NoCapacity,
}

/// One candidate: identity, alive, load figures.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Identity.
    pub identity: String,
    /// Lease alive.
    pub alive: bool,
    /// Last load record (default when none yet).
    pub load: Load,
}

/// Picks owners for several PVs, counting each pick into the chosen
/// member's figures so that a bulk request spreads.
pub struct Placer<'a> {
    cfg: &'a PlacementConfig,
    members: Vec<Candidate>,
    known: HashMap<String, usize>,
}

impl<'a> Placer<'a> {
    /// A placer over `members` (any order).
    pub fn new(cfg: &'a PlacementConfig, mut members: Vec<Candidate>) -> Self {
        members.sort_by(|a, b| a.identity.cmp(&b.identity));
        let known = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.identity.clone(), i))
            .collect();
        Placer { cfg, members, known }
    }

    fn eligible(&self, m: &Candidate) -> bool {
        let l = &m.load;
        m.alive
            && self.cfg.max_pvs_per_member.is_none_or(|c| l.pv_count < c)
            && self.cfg.max_event_rate.is_none_or(|c| l.event_rate < c)
            && self
                .cfg
                .min_free_bytes
                .is_none_or(|c| l.free_bytes.iter().all(|(_, b)| *b >= c))
    }

    /// The owner for one new PV; `wanted` is an explicit appliance.
    pub fn pick(&mut self, wanted: Option<&str>) -> Result<String, PlacementError> {
        let i = match wanted.filter(|w| !w.is_empty()) {
            Some(w) => *self
                .known
                .get(w)
                .ok_or_else(|| PlacementError::UnknownAppliance(w.to_owned()))?,
            None => self
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| self.eligible(m))
                .min_by(|(_, a), (_, b)| {
                    a.load
                        .storage_rate
                        .total_cmp(&b.load.storage_rate)
                        .then(a.load.pv_count.cmp(&b.load.pv_count))
                        .then(a.identity.cmp(&b.identity))
                })
                .map(|(i, _)| i)
                .ok_or(PlacementError::NoCapacity)?,
        };
        let m = &mut self.members[i];
        // The new PV's rates are unknown: count it at the member's average.
        let n = m.load.pv_count.max(1) as f64;
        m.load.storage_rate += m.load.storage_rate / n;
        m.load.event_rate += m.load.event_rate / n;
        m.load.pv_count += 1;
        Ok(m.identity.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, alive: bool, pvs: u64, rate: f64) -> Candidate {
        Candidate {
            identity: id.into(),
            alive,
            load: Load {
                pv_count: pvs,
                storage_rate: rate,
                ..Default::default()
            },
        }
    }

    #[test]
    fn spreads_by_load_and_skips_dead_members() {
        let cfg = PlacementConfig::default();
        let mut p = Placer::new(
            &cfg,
            vec![c("b", true, 0, 0.0), c("a", true, 0, 0.0), c("z", false, 0, 0.0)],
        );
        let picks: Vec<String> = (0..4).map(|_| p.pick(None).unwrap()).collect();
        assert_eq!(picks, ["a", "b", "a", "b"]);
    }

    #[test]
    fn ceilings_and_overrides() {
        let cfg = PlacementConfig {
            max_pvs_per_member: Some(2),
            ..Default::default()
        };
        let mut p = Placer::new(&cfg, vec![c("a", true, 2, 0.0), c("b", true, 1, 5.0)]);
        assert_eq!(p.pick(None).unwrap(), "b");
        assert_eq!(p.pick(None), Err(PlacementError::NoCapacity));
        assert_eq!(p.pick(Some("a")).unwrap(), "a");
        assert!(matches!(
            p.pick(Some("q")),
            Err(PlacementError::UnknownAppliance(_))
        ));
    }
}
