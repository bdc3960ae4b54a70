//! `config.toml` of a gateway: what `gateway init` writes and `gateway run` reads.
//!
//! The `[engine]` section is every node's ([`node::engine`]: the same router-core engine
//! peels the last layer); `[clients]` and `[mailbox]` are the gateway's own. Unknown fields
//! are refused and every error names the file and the field ([`node::config`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use node::config::{invalid, validate_validator_urls, ConfigError, ConfigFile};
use node::engine::EngineSection;
use node::home::NodePaths;
use serde::{Deserialize, Serialize};
use validator_core::genesis::GenesisHash;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity and addresses.
    pub gateway: GatewaySection,
    /// The mix side: the engine that receives last-hop packets.
    #[serde(default)]
    pub engine: EngineSection,
    /// The client side.
    #[serde(default)]
    pub clients: ClientsSection,
    /// Messages kept for offline clients.
    #[serde(default)]
    pub mailbox: MailboxSection,
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The gateway's id (its directory name).
    pub id: String,
    /// Where the mix listener binds (last-hop packets arrive here).
    pub mix_listen: SocketAddr,
    /// The mix address announced to validators.
    pub mix_announce: SocketAddr,
    /// Where the client websocket server binds.
    pub clients_listen: SocketAddr,
    /// The `ws://` URL announced to validators for clients.
    pub clients_announce: String,
    /// Validator API URLs.
    #[serde(default)]
    pub validators: Vec<String>,
    /// The chain's genesis hash, when the operator pinned it at `init --genesis-hash`: a
    /// genesis with another hash is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<GenesisHash>,
}

/// `[clients]`: every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientsSection {
    /// Open client connections at most; more are refused with `too_many_connections`.
    pub max_connections: usize,
    /// Largest websocket message, bytes (at least one extended32 packet: 33,133 + 49).
    pub max_frame_bytes: usize,
    /// Sustained packets per second one client may send; faster senders are slowed down.
    pub packets_per_second: u32,
    /// Packets a client may send in a burst above that rate.
    pub burst_packets: u32,
    /// How far a register/authenticate timestamp may be from the gateway's clock, ms.
    pub auth_window_ms: u64,
    /// How long a new connection may take to authenticate, ms.
    pub handshake_timeout_ms: u64,
    /// A connection that sends nothing (not even a ping) for this long is closed, ms.
    pub idle_timeout_ms: u64,
}

impl Default for ClientsSection {
    fn default() -> Self {
        ClientsSection {
            max_connections: 10_000,
            max_frame_bytes: gateway_protocol::MAX_FRAME_BYTES,
            packets_per_second: 500,
            burst_packets: 1000,
            auth_window_ms: gateway_protocol::DEFAULT_AUTH_WINDOW_MS,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
        }
    }
}

/// `[mailbox]`: every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxSection {
    /// Messages kept per client; further ones are refused (and not acked, so senders retry).
    pub max_messages_per_client: u64,
    /// Bytes kept per client.
    pub max_bytes_per_client: u64,
    /// Bytes kept for all clients together; beyond it messages are refused (not acked).
    pub max_total_bytes: u64,
    /// Messages older than this are purged, seconds.
    pub max_age_secs: u64,
    /// Stored messages sent per batch to a returning client.
    pub delivery_batch: usize,
}

impl Default for MailboxSection {
    fn default() -> Self {
        MailboxSection {
            max_messages_per_client: 10_000,
            max_bytes_per_client: 64 << 20,
            max_total_bytes: 4 << 30,
            max_age_secs: 7 * 24 * 3600,
            delivery_batch: 64,
        }
    }
}

impl ConfigFile for Config {
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, message: String| invalid(path, field, message);
        self.engine.validate(path)?;
        validate_validator_urls(&self.gateway.validators, path, "gateway.validators")?;
        let url = &self.gateway.clients_announce;
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(invalid(
                "gateway.clients_announce",
                format!("{url:?} is not a ws:// or wss:// URL"),
            ));
        }
        let clients = &self.clients;
        let smallest = router_core::wire::MAX_PACKET_SIZE + 1 + 32 + 16;
        if clients.max_frame_bytes < smallest {
            return Err(invalid(
                "clients.max_frame_bytes",
                format!(
                    "{} cannot carry an extended32 packet (needs {smallest})",
                    clients.max_frame_bytes
                ),
            ));
        }
        for (field, value) in [
            ("clients.max_connections", clients.max_connections as u64),
            (
                "clients.packets_per_second",
                u64::from(clients.packets_per_second),
            ),
            ("clients.burst_packets", u64::from(clients.burst_packets)),
            ("clients.auth_window_ms", clients.auth_window_ms),
            ("clients.handshake_timeout_ms", clients.handshake_timeout_ms),
            ("clients.idle_timeout_ms", clients.idle_timeout_ms),
            ("mailbox.max_total_bytes", self.mailbox.max_total_bytes),
            (
                "mailbox.max_messages_per_client",
                self.mailbox.max_messages_per_client,
            ),
            (
                "mailbox.max_bytes_per_client",
                self.mailbox.max_bytes_per_client,
            ),
            ("mailbox.max_age_secs", self.mailbox.max_age_secs),
            ("mailbox.delivery_batch", self.mailbox.delivery_batch as u64),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

/// The gateway's database in its node directory: the mailbox, client keys and spent
/// credentials (one redb file).
pub fn database(paths: &NodePaths) -> PathBuf {
    paths.dir.join("gateway.redb")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        Config {
            gateway: GatewaySection {
                id: "g1".into(),
                mix_listen: "127.0.0.1:1790".parse().unwrap(),
                mix_announce: "127.0.0.1:1790".parse().unwrap(),
                clients_listen: "127.0.0.1:9000".parse().unwrap(),
                clients_announce: "ws://127.0.0.1:9000".into(),
                validators: vec!["http://127.0.0.1:8000".into()],
                genesis_hash: None,
            },
            engine: EngineSection::default(),
            clients: ClientsSection::default(),
            mailbox: MailboxSection::default(),
        }
    }

    #[test]
    fn a_written_config_reads_back_and_errors_name_the_field() {
        let text = sample().to_toml().unwrap();
        assert_eq!(Config::parse(&text, Path::new("c.toml")).unwrap(), sample());
        let cases = [
            (
                text.replace("ws://127.0.0.1:9000", "http://x"),
                "gateway.clients_announce",
            ),
            (
                text.replace("max_frame_bytes = 65536", "max_frame_bytes = 100"),
                "clients.max_frame_bytes",
            ),
            (
                text.replace("delivery_batch = 64", "delivery_batch = 0"),
                "mailbox.delivery_batch",
            ),
            (
                text.replace("[mailbox]", "[mailbox]\nmax_agee_secs = 1"),
                "max_agee_secs",
            ),
            (
                text.replace("max_delay_ms = 10000", "max_delay_ms = 0"),
                "engine.max_delay_ms",
            ),
        ];
        for (bad, field) in cases {
            let error = Config::parse(&bad, Path::new("/g/config.toml"))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("/g/config.toml: "), "{error}");
            assert!(error.contains(field), "{field} missing from: {error}");
        }
    }
}
