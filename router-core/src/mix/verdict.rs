//! Why a packet was dropped.
//!
//! Every drop in the router maps to exactly one [`DropReason`]. The runtime
//! emits one metric increment (labelled with [`DropReason::label`]) and one
//! tracing event per dropped packet, so operators can tell an attack
//! (`header_mac`, `replayed`) from a key-rotation problem (`expired_key`)
//! from overload (`delay_queue_full`, `peer_queue_full`) from a topology
//! problem (`next_hop_not_in_topology`) without packet-level logging, which a
//! mix must never do.
//!
//! The enum is `#[non_exhaustive]` so new reasons can be added without a
//! breaking change; [`DropReason::ALL`] lets the metrics layer pre-register
//! every label at start-up so a counter that is still zero is exported as
//! zero rather than missing.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::sphinx::{DestinationAddress, SurbIdentifier, UnwrapError};
use crate::wire::FrameError;

/// What the router does with one packet after peeling its layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the packet buffer (now the next hop's packet) to `next_hop` after `delay` (the
    /// sender's choice; the timing wheel clamps it).
    Forward {
        next_hop: SocketAddr,
        delay: Duration,
    },
    /// This node is the last hop: hand the payload to `destination`.
    Deliver {
        destination: DestinationAddress,
        identifier: SurbIdentifier,
    },
    /// Drop the packet, for this reason.
    Drop(DropReason),
}

/// The reason a router dropped a packet.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The transport frame could not be parsed.
    MalformedFrame,
    /// The frame's framing version is not one we speak.
    UnknownFramingVersion,
    /// The frame announces a packet size we do not support.
    UnknownPacketSize,
    /// The packet type (e.g. an outfox packet on a Sphinx-only node) is not
    /// supported.
    UnsupportedPacketType,
    /// The payload length does not match the announced packet size.
    InvalidPacketLength,
    /// Alpha is not a canonical field element: a malleated copy of a packet.
    NonCanonicalAlpha,
    /// The Sphinx header MAC did not verify: tampering, a wrong key, or a
    /// packet built for another node.
    HeaderMac,
    /// The decrypted routing information carries an unknown flag.
    UnknownRoutingFlag,
    /// The Sphinx header version is not supported.
    UnknownSphinxVersion,
    /// The next-hop address in the routing information does not decode.
    InvalidNextHopAddress,
    /// The replay tag was already seen under the current key.
    Replayed,
    /// The delay queue was full: the packet was rejected, or it was the
    /// random victim evicted to make room.
    DelayQueueFull,
    /// The outbound queue towards the next hop was full.
    PeerQueueFull,
    /// The next hop is not a node in the current topology.
    NextHopNotInTopology,
    /// The next hop is in the topology but could not be reached.
    NextHopUnreachable,
    /// The router is shutting down and discards what it still holds.
    ShuttingDown,
    /// The sender exceeded its rate limit.
    RateLimited,
    /// A mixnode was the last hop of a packet: only gateways deliver, so the sender built a
    /// route that ends at a mixnode.
    UnexpectedFinalHop,
    /// The frame names a key rotation this node holds no key for (expired or not yet started).
    ExpiredKey,
}

impl DropReason {
    /// Every variant, for registering metric labels at start-up.
    pub const ALL: &'static [DropReason] = &[
        DropReason::MalformedFrame,
        DropReason::UnknownFramingVersion,
        DropReason::UnknownPacketSize,
        DropReason::UnsupportedPacketType,
        DropReason::InvalidPacketLength,
        DropReason::NonCanonicalAlpha,
        DropReason::HeaderMac,
        DropReason::UnknownRoutingFlag,
        DropReason::UnknownSphinxVersion,
        DropReason::InvalidNextHopAddress,
        DropReason::Replayed,
        DropReason::DelayQueueFull,
        DropReason::PeerQueueFull,
        DropReason::NextHopNotInTopology,
        DropReason::NextHopUnreachable,
        DropReason::ShuttingDown,
        DropReason::RateLimited,
        DropReason::UnexpectedFinalHop,
        DropReason::ExpiredKey,
    ];

    /// Position of this reason in [`Self::ALL`], for arrays of per-reason counters.
    pub const fn index(self) -> usize {
        match self {
            DropReason::MalformedFrame => 0,
            DropReason::UnknownFramingVersion => 1,
            DropReason::UnknownPacketSize => 2,
            DropReason::UnsupportedPacketType => 3,
            DropReason::InvalidPacketLength => 4,
            DropReason::NonCanonicalAlpha => 5,
            DropReason::HeaderMac => 6,
            DropReason::UnknownRoutingFlag => 7,
            DropReason::UnknownSphinxVersion => 8,
            DropReason::InvalidNextHopAddress => 9,
            DropReason::Replayed => 10,
            DropReason::DelayQueueFull => 11,
            DropReason::PeerQueueFull => 12,
            DropReason::NextHopNotInTopology => 13,
            DropReason::NextHopUnreachable => 14,
            DropReason::ShuttingDown => 15,
            DropReason::RateLimited => 16,
            DropReason::UnexpectedFinalHop => 17,
            DropReason::ExpiredKey => 18,
        }
    }

    /// A stable snake_case Prometheus label value, unique per variant.
    /// Changing one breaks dashboards, so treat these as API.
    pub const fn label(self) -> &'static str {
        match self {
            DropReason::MalformedFrame => "malformed_frame",
            DropReason::UnknownFramingVersion => "unknown_framing_version",
            DropReason::UnknownPacketSize => "unknown_packet_size",
            DropReason::UnsupportedPacketType => "unsupported_packet_type",
            DropReason::InvalidPacketLength => "invalid_packet_length",
            DropReason::NonCanonicalAlpha => "non_canonical_alpha",
            DropReason::HeaderMac => "header_mac",
            DropReason::UnknownRoutingFlag => "unknown_routing_flag",
            DropReason::UnknownSphinxVersion => "unknown_sphinx_version",
            DropReason::InvalidNextHopAddress => "invalid_next_hop_address",
            DropReason::Replayed => "replayed",
            DropReason::DelayQueueFull => "delay_queue_full",
            DropReason::PeerQueueFull => "peer_queue_full",
            DropReason::NextHopNotInTopology => "next_hop_not_in_topology",
            DropReason::NextHopUnreachable => "next_hop_unreachable",
            DropReason::ShuttingDown => "shutting_down",
            DropReason::RateLimited => "rate_limited",
            DropReason::UnexpectedFinalHop => "unexpected_final_hop",
            DropReason::ExpiredKey => "expired_key",
        }
    }
}

impl From<UnwrapError> for DropReason {
    fn from(error: UnwrapError) -> Self {
        match error {
            UnwrapError::InvalidLength(_) => DropReason::InvalidPacketLength,
            UnwrapError::NonCanonicalAlpha => DropReason::NonCanonicalAlpha,
            UnwrapError::HeaderMac => DropReason::HeaderMac,
            UnwrapError::UnknownRoutingFlag(_) => DropReason::UnknownRoutingFlag,
            UnwrapError::UnknownVersion(_) => DropReason::UnknownSphinxVersion,
            UnwrapError::NoKey => DropReason::ExpiredKey,
        }
    }
}

impl From<FrameError> for DropReason {
    fn from(error: FrameError) -> Self {
        match error {
            FrameError::UnknownVersion(_) => DropReason::UnknownFramingVersion,
            FrameError::UnknownSizeTag(_) => DropReason::UnknownPacketSize,
            FrameError::UnsupportedPacketType(_) => DropReason::UnsupportedPacketType,
            FrameError::UnknownKeyRotation(_)
            | FrameError::BufferTooSmall { .. }
            | FrameError::BodyLengthMismatch { .. } => DropReason::MalformedFrame,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// `index` is an exhaustive match, so a new variant must be given one; this checks that it
    /// is listed in `ALL` at exactly that position.
    #[test]
    fn all_lists_every_variant_once_at_its_index() {
        for (position, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), position, "{reason:?}");
        }
        let unique: HashSet<DropReason> = DropReason::ALL.iter().copied().collect();
        assert_eq!(unique.len(), DropReason::ALL.len());
    }

    #[test]
    fn labels_unique_and_snake_case() {
        let labels: HashSet<&str> = DropReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), DropReason::ALL.len());
        for l in labels {
            assert!(!l.is_empty() && !l.starts_with('_') && !l.ends_with('_'));
            assert!(
                l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{l}"
            );
        }
        assert_eq!(DropReason::HeaderMac.to_string(), "header_mac");
    }
}
