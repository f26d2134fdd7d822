//! The `[cluster]` section: etcd endpoints, this member's identity and
//! advertised URL, timeouts and placement ceilings. Absent section = a
//! single node, exactly as without the `cluster` feature.

use serde::{Deserialize, Serialize};

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// etcd client endpoints (`http://host:2379`).
    pub etcd: Vec<String>,
    /// This member's identity (unique in the cluster; equals `[server]
    /// identity`, which it replaces when that is left at its default).
    pub identity: String,
    /// Advertised base URL (`http://host:port`) other members and clients
    /// use; absent = `http://<bound listen address>`.
    pub url: Option<String>,
    /// Key prefix `/strata/<name>/`: one etcd may hold several clusters.
    pub name: String,
    /// Lease TTL of the membership record, seconds (≥ 3).
    pub lease_ttl_secs: u64,
    /// How often the load record is rewritten, seconds.
    pub load_refresh_secs: u64,
    /// etcd connect timeout, milliseconds.
    pub etcd_connect_timeout_ms: u64,
    /// etcd request timeout, milliseconds (a hung etcd fails calls after this).
    pub etcd_request_timeout_ms: u64,
    /// Member-to-member connect timeout, milliseconds.
    pub forward_connect_timeout_ms: u64,
    /// Member-to-member time to the answer's head, seconds.
    pub forward_head_timeout_secs: u64,
    /// Placement ceilings.
    pub placement: PlacementConfig,
}

/// `[cluster.placement]`: a member over a ceiling gets no new PVs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    /// Most PVs per member.
    pub max_pvs_per_member: Option<u64>,
    /// Most events/s per member.
    pub max_event_rate: Option<f64>,
    /// Least free bytes on every tier.
    pub min_free_bytes: Option<u64>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            etcd: vec!["http://127.0.0.1:2379".into()],
            identity: String::new(),
            url: None,
            name: "default".into(),
            lease_ttl_secs: 10,
            load_refresh_secs: 5,
            etcd_connect_timeout_ms: 1000,
            etcd_request_timeout_ms: 2000,
            forward_connect_timeout_ms: 1000,
            forward_head_timeout_secs: 30,
            placement: PlacementConfig::default(),
        }
    }
}

impl ClusterConfig {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.etcd.is_empty() {
            return Err("cluster.etcd needs at least one endpoint".into());
        }
        if self.identity.trim().is_empty() || self.identity.contains('/') {
            return Err("cluster.identity must be set and contain no '/'".into());
        }
        if let Some(u) = &self.url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(format!("cluster.url must be an absolute http URL: {u:?}"));
            }
        }
        if self.name.is_empty() || self.name.contains('/') {
            return Err("cluster.name must be non-empty and contain no '/'".into());
        }
        if self.lease_ttl_secs < 3 {
            return Err("cluster.lease_ttl_secs must be at least 3".into());
        }
        if self.load_refresh_secs == 0 {
            return Err("cluster.load_refresh_secs must be at least 1".into());
        }
        Ok(())
    }
}
