//! Packets built with `sphinx-packet`, the reference implementation, for the oracle tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::version::Version;
use sphinx_packet::{SphinxPacket, SphinxPacketBuilder};

pub const HEADER_SIZE: usize = 348;

/// Everything needed to build one packet, drawn by proptest.
#[derive(Clone, Debug)]
pub struct PacketSpec {
    pub node_secrets: Vec<[u8; 32]>,
    pub node_addresses: Vec<[u8; 32]>,
    pub delays: Vec<u64>,
    pub destination: [u8; 32],
    pub identifier: [u8; 16],
    pub version: u16,
    pub packet_size: usize,
    pub message: Vec<u8>,
    pub initial_secret: [u8; 32],
}

impl PacketSpec {
    pub fn route(&self) -> Vec<Node> {
        self.node_secrets
            .iter()
            .zip(&self.node_addresses)
            .map(|(secret, address)| {
                Node::new(
                    NodeAddressBytes::from_bytes(*address),
                    PublicKey::from(&PrivateKey::from(*secret)),
                )
            })
            .collect()
    }

    pub fn build(&self) -> SphinxPacket {
        let delays: Vec<Delay> = self
            .delays
            .iter()
            .map(|d| Delay::new_from_nanos(*d))
            .collect();
        let initial = PrivateKey::from(self.initial_secret);
        SphinxPacketBuilder::new()
            .with_version(Version::new(self.version))
            .with_payload_size(self.packet_size - HEADER_SIZE)
            .with_initial_secret(&initial)
            .build_packet(
                &self.message,
                &self.route(),
                &Destination::new(
                    DestinationAddressBytes::from_bytes(self.destination),
                    self.identifier,
                ),
                &delays,
            )
            .expect("the spec strategy only draws buildable packets")
    }
}

pub mod strategies {
    use super::PacketSpec;
    use proptest::collection::vec;
    use proptest::prelude::*;

    pub const VERSIONS: [u16; 5] = [1, 257, 258, 259, 260];
    pub const SIZES: [usize; 5] = [2413, 386, 8557, 16749, 33133];

    pub fn packet_spec() -> impl Strategy<Value = PacketSpec> {
        (
            1usize..=5,
            prop::sample::select(&VERSIONS[..]),
            prop::sample::select(&SIZES[..]),
        )
            .prop_flat_map(|(hops, version, packet_size)| {
                let max_message = packet_size - 348 - 17;
                (
                    vec(any::<[u8; 32]>(), hops),
                    vec(any::<[u8; 32]>(), hops),
                    vec(any::<u64>(), hops),
                    any::<[u8; 32]>(),
                    any::<[u8; 16]>(),
                    vec(any::<u8>(), 0..=max_message.min(4096)),
                    any::<[u8; 32]>(),
                )
                    .prop_map(
                        move |(
                            node_secrets,
                            node_addresses,
                            delays,
                            destination,
                            identifier,
                            message,
                            initial_secret,
                        )| PacketSpec {
                            node_secrets,
                            node_addresses,
                            delays,
                            destination,
                            identifier,
                            version,
                            packet_size,
                            message,
                            initial_secret,
                        },
                    )
            })
    }
}
