//! `[engine]`: the packet engine's settings, shared by every role that runs router-core
//! (mixnodes and gateways), and the one place they become a [`RouterConfig`].
//!
//! Every field has a default; a value outside its range is refused with the field named
//! (`engine.NAME`), never silently replaced.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use router_core::crypto::x25519::detected_backend;
use router_core::mix::{DropPolicy, KeyRing, WheelConfig};
use router_core::pipeline::{BatchPolicy, FinalHops, MixerConfig};
use router_core::runtime::{AcceptedTagSink, InboundLimits, RouterConfig, ShardSettings};
use router_core::wire::FramingVersion;
use serde::{Deserialize, Serialize};

use crate::config::{invalid, ConfigError};

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
    /// Frames queued per next hop and shard before dropping. Past three quarters of it the
    /// connections whose packets joined the queue are not read until it is half empty again.
    pub peer_queue_capacity: usize,
    /// How long a next hop whose queue is past three quarters may keep the connections
    /// feeding it paused, in ms (0: never pauses them). A hop congested for longer is slow:
    /// its excess is dropped (`peer_queue_full`) and nobody waits for it until it drains.
    pub peer_queue_patience_ms: u64,
    /// Replay tags the filter of a static Sphinx key is sized for (a chain without key
    /// rotation, or no chain at all).
    pub replay_capacity: u64,
    /// Packets per second the filter of a rotating key is sized for: each key's filter holds
    /// one rotation (plus the overlap) of traffic at this rate.
    pub replay_rate_per_sec: u64,
    /// Target false-positive rate of a replay filter at its capacity (default 1e-4).
    pub replay_false_positive_rate: f64,
    /// How often accepted replay tags are made durable (appended to the key's journal and
    /// fsynced), in ms, 1 to 1000: a crash forgets at most this long of accepted tags (plus
    /// the 20 ms the shards batch them for).
    pub replay_sync_ms: u64,
    /// What a node does with the keys it held when it stopped without saving its filters
    /// (a crash, SIGKILL, power cut): "quarantine" (default) refuses packets for those keys
    /// until they retire, so nothing a crash forgot can be replayed, and the node resumes
    /// with its next rotation's key; "trust-journal" keeps them, accepting that tags of the
    /// last `replay_sync_ms` may be forgotten. A static key (no rotation) has no next key:
    /// it always trusts its journal.
    pub after_unclean_stop: String,
    /// Inbound connections to the packet port in all (every shard together); lowered at start
    /// to fit the open-files limit with 256 descriptors kept for the node's own use.
    pub max_inbound_connections: usize,
    /// Inbound connections from one IP address.
    pub max_inbound_per_source: usize,
    /// How long a new inbound connection may take to deliver its first complete frame, ms.
    pub first_frame_timeout_ms: u64,
    /// How long an inbound connection may send nothing at all, ms. The node closes its own
    /// links to next hops after half this long without a packet to send.
    pub idle_timeout_ms: u64,
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
    /// Noise on links with other nodes: "required", "optional" (Noise where the peer's key
    /// is known, plain TCP elsewhere; both accepted) or "off" (plain TCP out; both
    /// accepted). Unset: required, or optional with `--danger-allow-any-next-hop`
    /// ([`crate::links`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<String>,
    /// How long a Noise handshake may take, either side, in ms (1 to 60000).
    pub noise_handshake_timeout_ms: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            outgoing_framing_version: 8,
            max_delay_ms: 10_000,
            wheel_capacity: 1 << 17,
            drop_policy: "random".into(),
            peer_queue_capacity: 8192,
            peer_queue_patience_ms: 1_000,
            replay_capacity: 4_000_000,
            // The filter is one 64-bit word per tag (lock-free, exact under races); its bits per
            // tag double with each decade of the target: 45 at 1e-4, 87 at 1e-5, 348 at 1e-7.
            // At 1e-4 a day at 1,000 packets/s is about 470 MiB per key; a fresh packet is
            // dropped as a replay at most 1 in 10,000 times at the end of a rotation (far
            // less before), and its sender retransmits it.
            replay_false_positive_rate: 1e-4,
            replay_rate_per_sec: 1_000,
            replay_sync_ms: 200,
            after_unclean_stop: "quarantine".into(),
            max_inbound_connections: 8192,
            max_inbound_per_source: 128,
            first_frame_timeout_ms: 10_000,
            idle_timeout_ms: 600_000,
            buffer_budget_mib: 256,
            shutdown_grace_ms: 5_000,
            connect_timeout_ms: 3_000,
            topology_refresh_ms: 10_000,
            batch_linger_us: router_core::pipeline::DEFAULT_LINGER.as_micros() as u64,
            busy_poll_us: 0,
            noise: None,
            noise_handshake_timeout_ms: 5_000,
        }
    }
}

impl EngineSection {
    /// Checks every value, naming the field (as `engine.NAME`) of the file at `path`.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, message: String| invalid(path, field, message);
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
        if engine.peer_queue_patience_ms > 60_000 {
            return Err(invalid(
                "engine.peer_queue_patience_ms",
                format!("{} is above 60000", engine.peer_queue_patience_ms),
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
        if engine.replay_rate_per_sec == 0 {
            return Err(invalid(
                "engine.replay_rate_per_sec",
                "must be at least 1".into(),
            ));
        }
        if engine.replay_sync_ms == 0 || engine.replay_sync_ms > 1_000 {
            return Err(invalid(
                "engine.replay_sync_ms",
                format!("{} is outside 1..=1000", engine.replay_sync_ms),
            ));
        }
        if !matches!(
            engine.after_unclean_stop.as_str(),
            "quarantine" | "trust-journal"
        ) {
            return Err(invalid(
                "engine.after_unclean_stop",
                format!(
                    "{:?} is not \"quarantine\" or \"trust-journal\"",
                    engine.after_unclean_stop
                ),
            ));
        }
        for (field, value) in [
            (
                "engine.max_inbound_connections",
                engine.max_inbound_connections as u64,
            ),
            (
                "engine.max_inbound_per_source",
                engine.max_inbound_per_source as u64,
            ),
            (
                "engine.first_frame_timeout_ms",
                engine.first_frame_timeout_ms,
            ),
            ("engine.idle_timeout_ms", engine.idle_timeout_ms),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be at least 1".into()));
            }
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
        if let Some(word) = &engine.noise {
            word.parse::<router_core::noise::peers::NoiseMode>()
                .map_err(|message| invalid("engine.noise", message))?;
        }
        if !(1..=60_000).contains(&engine.noise_handshake_timeout_ms) {
            return Err(invalid(
                "engine.noise_handshake_timeout_ms",
                format!("{} is outside 1..=60000", engine.noise_handshake_timeout_ms),
            ));
        }
        Ok(())
    }
}

impl EngineSection {
    /// The framing version of outgoing frames.
    pub fn outgoing_framing(&self) -> FramingVersion {
        if self.outgoing_framing_version == 7 {
            FramingVersion::V7
        } else {
            FramingVersion::V8
        }
    }

    /// The router settings this section asks for, in mix mode (last hops dropped) and with
    /// no next hop allowed yet; callers set the policy and, for a gateway, the exit role.
    pub fn router_config(
        &self,
        listen: SocketAddr,
        cpus: Vec<usize>,
        keys: KeyRing,
        accepted_tags: AcceptedTagSink,
    ) -> RouterConfig {
        let mut config = RouterConfig::new(listen, cpus, keys);
        config.accepted_tags = Some(accepted_tags);
        config.mixer = MixerConfig {
            outgoing_version: self.outgoing_framing(),
            wheel: WheelConfig {
                capacity: self.wheel_capacity,
                max_delay: Duration::from_millis(self.max_delay_ms),
                drop_policy: if self.drop_policy == "newest" {
                    DropPolicy::DropNewest
                } else {
                    DropPolicy::DropRandom
                },
            },
            final_hops: FinalHops::Drop,
            ..MixerConfig::default()
        };
        config.shard = ShardSettings {
            peer_queue_capacity: self.peer_queue_capacity,
            peer_queue_patience: Duration::from_millis(self.peer_queue_patience_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            // Every node closes its idle links at half the idle timeout it gives others'.
            outbound_idle: Duration::from_millis((self.idle_timeout_ms / 2).max(1)),
            batch: BatchPolicy::for_backend(
                detected_backend(),
                Duration::from_micros(self.batch_linger_us),
            ),
            inbound: InboundLimits {
                max_connections: crate::fds::inbound_cap(
                    self.max_inbound_connections,
                    crate::fds::raise_open_files_limit(),
                ),
                max_per_source: self.max_inbound_per_source,
                first_frame_timeout: Duration::from_millis(self.first_frame_timeout_ms),
                idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            },
            noise_handshake_timeout: Duration::from_millis(self.noise_handshake_timeout_ms),
            ..config.shard
        };
        config.buffer_budget_bytes = self.buffer_budget_mib << 20;
        config.shutdown_grace = Duration::from_millis(self.shutdown_grace_ms);
        config.busy_poll = Duration::from_micros(self.busy_poll_us);
        config
    }
}
