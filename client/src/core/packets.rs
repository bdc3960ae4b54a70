//! Sphinx packets, built with `sphinx-packet` (the implementation Nym uses, so the network
//! processes them byte for byte as Nym's): forward packets, SURB-ACKs and reply SURBs.
//!
//! Reply SURBs are built for Sphinx version 259 (a payload key seed per hop), not 260: with a
//! 260 SURB the final gateway cannot recover the plaintext, so it could neither find the
//! SURB-ACK at its front nor deliver a readable message; the client's end-to-end reply
//! encryption (see [`super::crypto`]) keeps the payload unreadable to the gateway either way.
//! The cost is the one `sphinx-packet` documents: whoever holds a 259 SURB can compute the
//! payload at every hop, so a replier colluding with a hop on the SURB's route can link that
//! hop's packet to the reply. Moving to 260 needs a gateway that delivers sealed payloads by
//! SURB identifier.

use std::net::SocketAddr;

use router_core::wire::{decode_node_address, KeyRotation, PacketSize, NODE_ADDRESS_LEN};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node};
use sphinx_packet::surb::{SURBMaterial, SURB};
use sphinx_packet::version::PAYLOAD_KEYS_SEEDS_VERSION;
use sphinx_packet::SphinxPacketBuilder;
use x25519_dalek::StaticSecret;

use super::route::Hop;

/// A packet ready for the gateway: where the gateway sends it and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The first mixnode.
    pub first_hop: SocketAddr,
    /// The key rotation whose keys the packet was built with, for the gateway to put in the
    /// frame it forwards (`Unknown` on a chain without rotation).
    pub key_rotation: KeyRotation,
    /// The Sphinx packet.
    pub packet: Vec<u8>,
}

/// Why a packet could not be built.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// `sphinx-packet` refused.
    #[error("sphinx: {0}")]
    Sphinx(String),
    /// A SURB names a first hop that is not a socket address.
    #[error("the reply SURB's first hop is not a node address")]
    SurbFirstHop,
    /// The route is empty.
    #[error("empty route")]
    EmptyRoute,
}

fn sphinx(e: sphinx_packet::Error) -> PacketError {
    PacketError::Sphinx(e.to_string())
}

fn destination(identity: [u8; 32]) -> Destination {
    Destination::new(DestinationAddressBytes::from_bytes(identity), [0; 16])
}

/// A packet of `size` over `route` for the client `identity` at the route's last hop, built
/// with the keys of `key_rotation`.
pub fn forward(
    route: &[Hop],
    delays: &[Delay],
    identity: [u8; 32],
    plaintext: &[u8],
    size: PacketSize,
    initial_secret: [u8; 32],
    key_rotation: KeyRotation,
) -> Result<Transmit, PacketError> {
    let first = route.first().ok_or(PacketError::EmptyRoute)?;
    let nodes: Vec<Node> = route.iter().map(Hop::node).collect();
    let secret = StaticSecret::from(initial_secret);
    let packet = SphinxPacketBuilder::new()
        .with_payload_size(size.payload_size())
        .with_initial_secret(&secret)
        .build_packet(plaintext, &nodes, &destination(identity), delays)
        .map_err(sphinx)?;
    Ok(Transmit {
        first_hop: first.address,
        key_rotation,
        packet: packet.to_bytes(),
    })
}

/// A reply SURB over `route` back to `identity`: its bytes, as handed to the replier.
pub fn make_surb(
    route: &[Hop],
    delays: Vec<Delay>,
    identity: [u8; 32],
    initial_secret: [u8; 32],
) -> Result<Vec<u8>, PacketError> {
    let nodes: Vec<Node> = route.iter().map(Hop::node).collect();
    let material = SURBMaterial::new(
        nodes,
        delays,
        destination(identity),
        PAYLOAD_KEYS_SEEDS_VERSION,
    );
    let surb = SURB::new(StaticSecret::from(initial_secret), material).map_err(sphinx)?;
    Ok(surb.to_bytes())
}

/// Uses a reply SURB received from someone (built with the keys of `key_rotation`): the
/// regular packet carrying `plaintext`.
pub fn use_surb(
    surb: &[u8],
    plaintext: &[u8],
    key_rotation: KeyRotation,
) -> Result<Transmit, PacketError> {
    let surb = SURB::from_bytes(surb).map_err(sphinx)?;
    let (packet, first_hop) = surb
        .use_surb(plaintext, PacketSize::Regular.payload_size())
        .map_err(sphinx)?;
    let bytes: [u8; NODE_ADDRESS_LEN] = first_hop.to_bytes();
    let first_hop = decode_node_address(&bytes).map_err(|_| PacketError::SurbFirstHop)?;
    Ok(Transmit {
        first_hop,
        key_rotation,
        packet: packet.to_bytes(),
    })
}
