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
    /// TLS on the client port (`cert_file`, `key_file`: announce a `wss://` URL), and CA
    /// files trusted for `https://` validators (`ca_files`). Relative paths are from the
    /// config file's directory.
    #[serde(default)]
    pub tls: tls::config::TlsSection,
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
    /// An authenticated connection that makes no progress (forwards no packet, redeems no
    /// credential, confirms no stored message) for this long is closed, ms; pings and no-op
    /// requests do not count.
    pub idle_timeout_ms: u64,
    /// Connections one source address (an IPv4 address or an IPv6 /64) may hold open; more
    /// are refused before the websocket upgrade (HTTP 429).
    pub max_connections_per_source: u32,
    /// Connections of one source that may be in their handshake at once; more are refused
    /// before the websocket upgrade (HTTP 429).
    pub max_handshakes_per_source: u32,
    /// Registrations one source may make in a burst; beyond it (and the hourly rate) they
    /// are refused with `too_many_registrations`.
    pub registration_burst_per_source: u32,
    /// Registrations one source may make per hour, sustained.
    pub registrations_per_hour_per_source: u32,
    /// Proof of work a registration must carry, bits (0: none; at most 28). Each bit doubles
    /// the client's cost.
    pub registration_work_bits: u8,
    /// A registered client that holds no bandwidth and no stored messages and has not
    /// registered or authenticated for this long is deleted, seconds.
    pub unused_registration_expiry_secs: u64,
    /// Sustained control requests (credentials, confirmations) per second one connection may
    /// send; faster senders are slowed down.
    pub controls_per_second: u32,
    /// Control requests a connection may send in a burst above that rate.
    pub burst_controls: u32,
    /// Refused credentials after which a connection is closed with
    /// `too_many_refused_credentials`.
    pub max_refused_credentials: u32,
    /// Credential checks (pairings) running at once, for all clients together.
    pub concurrent_credential_checks: usize,
    /// How long a credential may wait for a check slot before it is refused `busy`, ms.
    pub credential_check_wait_ms: u64,
    /// Bandwidth, bytes, granted free to a Nym client (Nym's own protocol) each time it asks
    /// (`claimFreeTestnetBandwidth`); 0, the default, grants none. Nym's clients can pay only
    /// with Nym's e-cash, which this gateway does not take, so without this they can
    /// register but not send (unless the gateway runs with `--free-bandwidth-for-testing`).
    /// It is free bandwidth for anyone who asks: for test networks.
    pub nym_free_testnet_bandwidth_bytes: u64,
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
            max_connections_per_source: 64,
            max_handshakes_per_source: 8,
            registration_burst_per_source: 10,
            registrations_per_hour_per_source: 60,
            registration_work_bits: DEFAULT_REGISTRATION_WORK_BITS,
            unused_registration_expiry_secs: 30 * 24 * 3600,
            controls_per_second: 10,
            burst_controls: 20,
            max_refused_credentials: 3,
            concurrent_credential_checks: 2,
            credential_check_wait_ms: 2000,
            nym_free_testnet_bandwidth_bytes: 0,
        }
    }
}

/// The default `[clients] registration_work_bits`: 2^16 hashes on average, about 20 ms of one
/// core with optimized dependencies.
pub const DEFAULT_REGISTRATION_WORK_BITS: u8 = 16;

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
        match self.tls.server_files() {
            Err((field, reason)) => return Err(invalid(field, reason.to_owned())),
            Ok(Some(_)) if url.starts_with("ws://") => {
                return Err(invalid(
                    "gateway.clients_announce",
                    format!(
                        "{url:?} is plain ws:// but the client port serves TLS ([tls] \
                         cert_file): announce wss://"
                    ),
                ))
            }
            Ok(_) => {}
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
            (
                "clients.max_connections_per_source",
                u64::from(clients.max_connections_per_source),
            ),
            (
                "clients.max_handshakes_per_source",
                u64::from(clients.max_handshakes_per_source),
            ),
            (
                "clients.registration_burst_per_source",
                u64::from(clients.registration_burst_per_source),
            ),
            (
                "clients.registrations_per_hour_per_source",
                u64::from(clients.registrations_per_hour_per_source),
            ),
            (
                "clients.unused_registration_expiry_secs",
                clients.unused_registration_expiry_secs,
            ),
            (
                "clients.controls_per_second",
                u64::from(clients.controls_per_second),
            ),
            ("clients.burst_controls", u64::from(clients.burst_controls)),
            (
                "clients.max_refused_credentials",
                u64::from(clients.max_refused_credentials),
            ),
            (
                "clients.concurrent_credential_checks",
                clients.concurrent_credential_checks as u64,
            ),
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
        if clients.registration_work_bits > gateway_protocol::registration_work::MAX_WORK_BITS {
            return Err(invalid(
                "clients.registration_work_bits",
                format!(
                    "{} is more than clients do ({})",
                    clients.registration_work_bits,
                    gateway_protocol::registration_work::MAX_WORK_BITS
                ),
            ));
        }
        Ok(())
    }
}

impl ClientsSection {
    /// The per-source limits.
    pub fn source_settings(&self) -> crate::source_limits::SourceSettings {
        crate::source_limits::SourceSettings {
            max_connections: self.max_connections_per_source,
            max_handshakes: self.max_handshakes_per_source,
            registration_burst: self.registration_burst_per_source,
            registrations_per_hour: self.registrations_per_hour_per_source,
        }
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
            tls: Default::default(),
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
            (
                text.replace("registration_work_bits = 16", "registration_work_bits = 29"),
                "clients.registration_work_bits",
            ),
            (
                text.replace(
                    "max_handshakes_per_source = 8",
                    "max_handshakes_per_source = 0",
                ),
                "clients.max_handshakes_per_source",
            ),
            (
                text.replace(
                    "[tls]",
                    "[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"",
                ),
                "gateway.clients_announce",
            ),
            (
                text.replace("[tls]", "[tls]\ncert_file = \"c.pem\""),
                "tls.key_file",
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
