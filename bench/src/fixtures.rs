//! Packets built by `sphinx-packet` for benchmarks.

use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::version::Version;
use sphinx_packet::SphinxPacketBuilder;

/// A node of a benchmark route: its secret key and the route entry a sender uses.
pub struct RouteNode {
    pub secret: [u8; 32],
    pub node: Node,
}

impl RouteNode {
    /// A node with a key derived from `seed` (deterministic, so runs are comparable).
    pub fn from_seed(seed: u8) -> Self {
        let mut secret = [0u8; 32];
        for (i, byte) in secret.iter_mut().enumerate() {
            // any fixed, distinct bytes will do: X25519 clamps the scalar
            *byte = seed.wrapping_mul(31).wrapping_add(i as u8).wrapping_mul(7);
        }
        let public = PublicKey::from(&PrivateKey::from(secret));
        let mut address = [0u8; 32];
        address[0] = 4;
        address[1..3].copy_from_slice(&1789u16.to_be_bytes());
        address[3..7].copy_from_slice(&[127, 0, 0, seed]);
        RouteNode {
            secret,
            node: Node::new(NodeAddressBytes::from_bytes(address), public),
        }
    }
}

/// A packet of `payload_size` payload bytes for a route of `hops` nodes with zero delays;
/// returns the nodes and the packet bytes the first node receives.
pub fn build_packet(
    hops: u8,
    payload_size: usize,
    version: u16,
) -> Result<(Vec<RouteNode>, Vec<u8>), sphinx_packet::Error> {
    let nodes: Vec<RouteNode> = (1..=hops).map(RouteNode::from_seed).collect();
    let route: Vec<Node> = nodes.iter().map(|n| n.node.clone()).collect();
    let delays = vec![Delay::new_from_nanos(0); route.len()];
    let destination = Destination::new(DestinationAddressBytes::from_bytes([9; 32]), [3; 16]);
    let packet = SphinxPacketBuilder::new()
        .with_version(Version::new(version))
        .with_payload_size(payload_size)
        .build_packet(b"benchmark message", &route, &destination, &delays)?;
    Ok((nodes, packet.to_bytes()))
}
