//! The etcd key layout of one cluster. Every key lives under one prefix
//! (default `/strata/<cluster>/`) so a watch on the prefix sees the whole
//! directory and several clusters can share one etcd.
//!
//! | key | value | lease |
//! |---|---|---|
//! | `appliances/<identity>` | [`super::directory::MemberInfo`] JSON (known members, as appliances.xml) | none |
//! | `alive/<identity>` | start time, pid | member lease |
//! | `load/<identity>` | [`super::directory::Load`] JSON | member lease |
//! | `pvs/<pv>` | owner identity, raw UTF-8 (compared byte-wise in txns) | none |
//! | `aliases/<alias>` | real PV name | none |
//! | `flags/<name>` | `true` / `false` | none |
//! | `moves/<pv>` | move intent JSON | none |

/// Key builder for one cluster prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    root: String,
}

/// What a directory key names.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A known member (persistent).
    Member(&'a str),
    /// A member's liveness record (leased).
    Alive(&'a str),
    /// A member's load record.
    Load(&'a str),
    /// PV → owner.
    Pv(&'a str),
    /// Alias → PV.
    Alias(&'a str),
    /// Named flag.
    Flag(&'a str),
    /// Reassignment in progress.
    Move(&'a str),
}

impl Keys {
    /// Keys under `/strata/<cluster>/`.
    pub fn new(cluster: &str) -> Self {
        Self {
            root: format!("/strata/{cluster}/"),
        }
    }

    /// The prefix (watch and full reload use it).
    pub fn root(&self) -> &str {
        &self.root
    }

    fn k(&self, dir: &str, name: &str) -> String {
        let mut s = String::with_capacity(self.root.len() + dir.len() + name.len());
        s.push_str(&self.root);
        s.push_str(dir);
        s.push_str(name);
        s
    }

    /// `appliances/<id>`.
    pub fn member(&self, id: &str) -> String {
        self.k("appliances/", id)
    }
    /// `alive/<id>`.
    pub fn alive(&self, id: &str) -> String {
        self.k("alive/", id)
    }
    /// `load/<id>`.
    pub fn load(&self, id: &str) -> String {
        self.k("load/", id)
    }
    /// `pvs/<pv>`.
    pub fn pv(&self, pv: &str) -> String {
        self.k("pvs/", pv)
    }
    /// `aliases/<alias>`.
    pub fn alias(&self, a: &str) -> String {
        self.k("aliases/", a)
    }
    /// `flags/<name>`.
    pub fn flag(&self, f: &str) -> String {
        self.k("flags/", f)
    }
    /// `moves/<pv>`.
    pub fn moving(&self, pv: &str) -> String {
        self.k("moves/", pv)
    }
    /// `pvs/` prefix.
    pub fn pvs_prefix(&self) -> String {
        self.k("pvs/", "")
    }

    /// Classifies a key read from etcd (None: not ours).
    pub fn parse<'a>(&self, key: &'a str) -> Option<Entry<'a>> {
        let rest = key.strip_prefix(self.root.as_str())?;
        let (dir, name) = rest.split_once('/')?;
        Some(match dir {
            "appliances" => Entry::Member(name),
            "alive" => Entry::Alive(name),
            "load" => Entry::Load(name),
            "pvs" => Entry::Pv(name),
            "aliases" => Entry::Alias(name),
            "flags" => Entry::Flag(name),
            "moves" => Entry::Move(name),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip() {
        let k = Keys::new("c1");
        assert_eq!(k.parse(&k.pv("A:B/c")), Some(Entry::Pv("A:B/c")));
        assert_eq!(k.parse(&k.member("app1")), Some(Entry::Member("app1")));
        assert_eq!(k.parse("/strata/c2/pvs/x"), None);
    }
}
