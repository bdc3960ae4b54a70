//! `config.toml`: what `mixnode init` writes and `mixnode run` reads.
//!
//! Unknown fields are refused, so a misspelt setting is an error naming it rather than a
//! silently ignored line; every error names the file.

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity and addresses.
    pub node: NodeSection,
    /// Engine tuning.
    #[serde(default)]
    pub engine: EngineSection,
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
}

/// `[engine]`: every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// Framing version of outgoing frames: 8 (current) or 7 (old peers).
    pub outgoing_framing_version: u8,
    /// Longest delay a packet is held, in ms (longer requests are clamped); at most 16000.
    pub max_delay_ms: u64,
    /// Packets the delay wheel of one shard holds before dropping.
    pub wheel_capacity: u32,
    /// When the wheel is full: "random" (evict a random held packet) or "newest".
    pub drop_policy: String,
    /// Frames queued per next hop and shard before dropping.
    pub peer_queue_capacity: usize,
    /// Replay tags the filter is sized for (per Sphinx key).
    pub replay_capacity: u64,
    /// Target false-positive rate of the replay filter at that capacity.
    pub replay_false_positive_rate: f64,
    /// MiB of packet buffers per shard before the shard stops reading.
    pub buffer_budget_mib: usize,
    /// How long a shutdown waits for held packets to leave, in ms.
    pub shutdown_grace_ms: u64,
    /// How long connecting to a next hop may take, in ms.
    pub connect_timeout_ms: u64,
    /// How often the topology is fetched from the validators, in ms.
    pub topology_refresh_ms: u64,
    /// Longest a received packet waits for a fuller unwrap batch, in µs (0: never waits; at
    /// most 10000). Only CPUs whose X25519 runs packets in parallel (AVX-512 IFMA) wait.
    pub batch_linger_us: u64,
    /// How long an idle shard polls for work before it sleeps, in µs (0: sleeps at once; at
    /// most 10000). For cores given to the node alone: a few hundred µs keep it awake and
    /// warm between bursts, which shortens the latency tail near full load, but the core
    /// then shows busy whenever traffic flows (`mixnet_busy_seconds_total` leaves the
    /// polling out).
    pub busy_poll_us: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            outgoing_framing_version: 8,
            max_delay_ms: 10_000,
            wheel_capacity: 1 << 17,
            drop_policy: "random".into(),
            peer_queue_capacity: 8192,
            replay_capacity: 4_000_000,
            replay_false_positive_rate: 1e-7,
            buffer_budget_mib: 256,
            shutdown_grace_ms: 5_000,
            connect_timeout_ms: 3_000,
            topology_refresh_ms: 10_000,
            batch_linger_us: router_core::pipeline::DEFAULT_LINGER.as_micros() as u64,
            busy_poll_us: 0,
        }
    }
}

/// A config file that cannot be used, with the file and field named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Cannot read or write it.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not valid TOML, or a field has the wrong type, is missing or unknown (toml's message
    /// names the field and line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's description.
        message: String,
    },
    /// A field parsed but its value is not allowed.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The dotted field name.
        field: &'static str,
        /// Why.
        message: String,
    },
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&read_config_text(path)?, path)
    }

    /// Parses and checks the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = parse_toml(text, path)?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.engine.validate(path)?;
        validate_validator_urls(&self.node.validators, path, "node.validators")
    }

    /// The file's text.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// The text of the config file at `path`.
pub fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Parses TOML `text` of the file at `path` into `T`; toml's message names the field.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// Refuses validator URLs that are not http(s), naming `field` of the file at `path`.
pub fn validate_validator_urls(
    urls: &[String],
    path: &Path,
    field: &'static str,
) -> Result<(), ConfigError> {
    for url in urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                field,
                message: format!("{url:?} is not an http:// or https:// URL"),
            });
        }
    }
    Ok(())
}

impl EngineSection {
    /// Checks every value, naming the field (as `engine.NAME`) of the file at `path`.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, message: String| ConfigError::Invalid {
            path: path.display().to_string(),
            field,
            message,
        };
        let engine = self;
        if !matches!(engine.outgoing_framing_version, 7 | 8) {
            return Err(invalid(
                "engine.outgoing_framing_version",
                format!("{} is not 7 or 8", engine.outgoing_framing_version),
            ));
        }
        if engine.max_delay_ms == 0 || engine.max_delay_ms > 16_000 {
            return Err(invalid(
                "engine.max_delay_ms",
                format!("{} is outside 1..=16000", engine.max_delay_ms),
            ));
        }
        if engine.wheel_capacity == 0 || engine.wheel_capacity == u32::MAX {
            return Err(invalid(
                "engine.wheel_capacity",
                "must be between 1 and 2^32-2".into(),
            ));
        }
        if !matches!(engine.drop_policy.as_str(), "random" | "newest") {
            return Err(invalid(
                "engine.drop_policy",
                format!("{:?} is not \"random\" or \"newest\"", engine.drop_policy),
            ));
        }
        if engine.peer_queue_capacity == 0 {
            return Err(invalid(
                "engine.peer_queue_capacity",
                "must be at least 1".into(),
            ));
        }
        if !(engine.replay_false_positive_rate > 0.0 && engine.replay_false_positive_rate < 0.5) {
            return Err(invalid(
                "engine.replay_false_positive_rate",
                "must be between 0 and 0.5".into(),
            ));
        }
        if engine.replay_capacity == 0 {
            return Err(invalid(
                "engine.replay_capacity",
                "must be at least 1".into(),
            ));
        }
        if engine.batch_linger_us > 10_000 {
            return Err(invalid(
                "engine.batch_linger_us",
                format!("{} is more than 10000", engine.batch_linger_us),
            ));
        }
        if engine.busy_poll_us > 10_000 {
            return Err(invalid(
                "engine.busy_poll_us",
                format!("{} is more than 10000", engine.busy_poll_us),
            ));
        }
        if engine.buffer_budget_mib == 0 {
            return Err(invalid(
                "engine.buffer_budget_mib",
                "must be at least 1".into(),
            ));
        }
        Ok(())
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
            },
            engine: EngineSection::default(),
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
