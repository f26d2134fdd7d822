//! The configuration file: one TOML document, every section defaulted, so
//! strata runs with no file at all (127.0.0.1:17665, data under `./data`).
//! Unknown keys are errors that name them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::SecurityConfig;
use crate::retrieval::RetrievalConfig;
use crate::storage::StorageConfig;

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// This appliance's identity (PVTypeInfo `applianceIdentity`).
    pub identity: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 17665)),
            identity: "appliance0".into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[storage]`
    pub storage: StorageConfig,
    /// `[retrieval]`
    pub retrieval: RetrievalConfig,
    /// `[security]`
    pub security: SecurityConfig,
    /// `[engine]`
    pub engine: crate::engine::EngineConfig,
    /// `[policies]`
    pub policies: crate::mgmt::policy::PolicyConfig,
    /// `[etl]`
    pub etl: crate::etl::EtlConfig,
    /// `[cluster]` (cargo feature `cluster`): absent = a single node.
    #[cfg(feature = "cluster")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not parse (the message names unknown keys).
    #[error("{path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A value is invalid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Parses TOML text.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Loads `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_toml(&text, path)
    }

    /// The effective configuration of a command line: `file` (embedded
    /// defaults when `None`), its paths put under `data_dir` when given,
    /// validated.
    pub fn resolve(file: Option<&Path>, data_dir: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        if let Some(d) = data_dir {
            cfg.set_data_dir(d);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Puts every tier and the index under `dir` (`<dir>/<tier name lowercased>`, `<dir>/index`).
    pub fn set_data_dir(&mut self, dir: &Path) {
        for t in &mut self.storage.tiers {
            t.root = dir.join(t.name.to_ascii_lowercase());
        }
        self.storage.index_dir = dir.join("index");
    }

    /// Checks all sections.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.storage.validate().map_err(ConfigError::Invalid)?;
        self.engine.validate().map_err(ConfigError::Invalid)?;
        self.etl.validate().map_err(ConfigError::Invalid)?;
        if self.security.api_key.as_deref() == Some("") {
            return Err(ConfigError::Invalid("security.api_key must not be empty".into()));
        }
        #[cfg(feature = "cluster")]
        if let Some(c) = &self.cluster {
            c.validate().map_err(ConfigError::Invalid)?;
            let default_id = ServerConfig::default().identity;
            if self.server.identity != default_id && self.server.identity != c.identity {
                return Err(ConfigError::Invalid(format!(
                    "server.identity {:?} differs from cluster.identity {:?}",
                    self.server.identity, c.identity
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_equals_defaults() {
        let text = include_str!("../strata.example.toml");
        let cfg = Config::from_toml(text, Path::new("strata.example.toml")).unwrap();
        assert_eq!(cfg, Config::default());
        cfg.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml(
            "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n",
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = Config::from_toml("[nope]\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn data_dir_override() {
        let mut c = Config::default();
        c.set_data_dir(Path::new("/srv/arch"));
        assert_eq!(c.storage.tiers[0].root, Path::new("/srv/arch/sts"));
        assert_eq!(c.storage.index_dir, Path::new("/srv/arch/index"));
    }
}
