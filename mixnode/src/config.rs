//! `config.toml`: what `mixnode init` writes and `mixnode run` reads. The `[engine]`
//! section and the file handling are the node crate's ([`node::engine`], [`node::config`]).

use std::net::SocketAddr;
use std::path::Path;

use node::config::{validate_validator_urls, ConfigError, ConfigFile};
use node::engine::EngineSection;
use serde::{Deserialize, Serialize};
use validator_core::genesis::GenesisHash;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity and addresses.
    pub node: NodeSection,
    /// Engine tuning.
    #[serde(default)]
    pub engine: EngineSection,
    /// CA files trusted for `https://` validators (`ca_files`; relative paths from the
    /// config's directory).
    #[serde(default)]
    pub tls: tls::config::TlsSection,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// The node's id (its directory name).
    pub id: String,
    /// Where the mix listener binds.
    pub listen: SocketAddr,
    /// The address other nodes use to reach this one (announced to validators).
    pub announce: SocketAddr,
    /// Validator API URLs; the topology comes from them.
    #[serde(default)]
    pub validators: Vec<String>,
    /// The chain's genesis hash, when the operator pinned it at `init --genesis-hash`: a
    /// genesis with another hash is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<GenesisHash>,
}

impl ConfigFile for Config {
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.engine.validate(path)?;
        validate_validator_urls(&self.node.validators, path, "node.validators")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        Config {
            node: NodeSection {
                id: "m1".into(),
                listen: "127.0.0.1:1789".parse().unwrap(),
                announce: "127.0.0.1:1789".parse().unwrap(),
                validators: vec!["http://127.0.0.1:8000".into()],
                genesis_hash: None,
            },
            engine: EngineSection::default(),
            tls: Default::default(),
        }
    }

    #[test]
    fn a_written_config_reads_back() {
        let text = sample().to_toml().unwrap();
        assert_eq!(Config::parse(&text, Path::new("c.toml")).unwrap(), sample());
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let text = sample().to_toml().unwrap();
        let cases = [
            (
                text.replace("listen = \"127.0.0.1:1789\"", "listen = \"nowhere\""),
                "listen",
            ),
            (
                text.replace("max_delay_ms = 10000", "max_delay_ms = 99999"),
                "engine.max_delay_ms",
            ),
            (
                text.replace("[engine]", "[engine]\nmax_dealy_ms = 5"),
                "max_dealy_ms",
            ),
            (
                text.replace(
                    "outgoing_framing_version = 8",
                    "outgoing_framing_version = 6",
                ),
                "outgoing_framing_version",
            ),
            (
                text.replace("drop_policy = \"random\"", "drop_policy = \"oldest\""),
                "engine.drop_policy",
            ),
            (
                text.replace("batch_linger_us = 500", "batch_linger_us = 20000"),
                "engine.batch_linger_us",
            ),
            (
                text.replace("busy_poll_us = 0", "busy_poll_us = 10001"),
                "engine.busy_poll_us",
            ),
            (
                text.replace("http://127.0.0.1:8000", "127.0.0.1:8000"),
                "node.validators",
            ),
        ];
        for (bad, field) in cases {
            let error = Config::parse(&bad, Path::new("/n/config.toml"))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("/n/config.toml: "), "{error}");
            assert!(error.contains(field), "{field} missing from: {error}");
        }
    }
}
