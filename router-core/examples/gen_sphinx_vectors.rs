//! Generates `tests/vectors/sphinx_unwrap.json`: packets built by `sphinx-packet` 0.8 and what
//! its `process()` returns at every hop, so the unwrap tests check against a fixed record even
//! if the reference crate changes.
//!
//! Run from the repository root:
//! `cargo run -p router-core --example gen_sphinx_vectors > router-core/tests/vectors/sphinx_unwrap.json`
//!
//! Node keys, addresses, delays and the sender's initial secret come from a fixed seed, but
//! `sphinx-packet` pads the final hop's routing slot with fresh randomness, so a new run writes
//! different (equally valid) packets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::version::Version;
use sphinx_packet::{ProcessedPacketData, SphinxPacketBuilder};

#[path = "../tests/vectors/schema.rs"]
mod schema;
use schema::{Case, HopRecord, Vectors};

/// splitmix64: a fixed, dependency-free source of test bytes.
struct Seed(u64);

impl Seed {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        out
    }
}

fn case(seed: &mut Seed, name: &str, version: u16, packet_size: usize, hops: usize) -> Case {
    let secrets: Vec<[u8; 32]> = (0..hops).map(|_| seed.bytes()).collect();
    let route: Vec<Node> = secrets
        .iter()
        .enumerate()
        .map(|(i, secret)| {
            // a real node address: 127.0.0.(i+1):1789, zero-padded
            let mut address = [0u8; 32];
            address[..7].copy_from_slice(&[4, 0x06, 0xfd, 127, 0, 0, i as u8 + 1]);
            Node::new(
                NodeAddressBytes::from_bytes(address),
                PublicKey::from(&PrivateKey::from(*secret)),
            )
        })
        .collect();
    let delays: Vec<Delay> = (0..hops)
        .map(|i| Delay::new_from_millis(15 * i as u64 + 1))
        .collect();
    let destination = Destination::new(
        DestinationAddressBytes::from_bytes(seed.bytes()),
        seed.bytes(),
    );
    let initial = PrivateKey::from(seed.bytes::<32>());
    let mut message = format!("test vector {name}").into_bytes();
    message.truncate(packet_size - 348 - 17);
    let mut packet = SphinxPacketBuilder::new()
        .with_version(Version::new(version))
        .with_payload_size(packet_size - 348)
        .with_initial_secret(&initial)
        .build_packet(&message, &route, &destination, &delays)
        .unwrap();
    let first = hex::encode(packet.to_bytes());

    let mut records = Vec::new();
    for secret in &secrets {
        let key = PrivateKey::from(*secret);
        let replay_tag = hex::encode(
            packet
                .header
                .compute_expanded_shared_secret(&key)
                .replay_tag(),
        );
        let processed = packet.process(&key).unwrap();
        match processed.data {
            ProcessedPacketData::ForwardHop {
                next_hop_packet,
                next_hop_address,
                delay,
            } => {
                records.push(HopRecord {
                    secret_key: hex::encode(secret),
                    replay_tag,
                    kind: "forward".into(),
                    address: hex::encode(next_hop_address.to_bytes()),
                    delay_nanos: Some(delay.to_nanos()),
                    identifier: None,
                    output: hex::encode(next_hop_packet.to_bytes()),
                });
                packet = next_hop_packet;
            }
            ProcessedPacketData::FinalHop {
                destination,
                identifier,
                payload,
            } => {
                records.push(HopRecord {
                    secret_key: hex::encode(secret),
                    replay_tag,
                    kind: "final".into(),
                    address: hex::encode(destination.as_bytes()),
                    delay_nanos: None,
                    identifier: Some(hex::encode(identifier)),
                    output: hex::encode(payload.as_bytes()),
                });
                break;
            }
        }
    }
    Case {
        name: name.to_string(),
        version,
        packet_size,
        packet: first,
        hops: records,
    }
}

fn main() {
    let mut seed = Seed(0x5eed_0005_f1c5);
    let cases = vec![
        case(&mut seed, "v258-regular-3-hops", 258, 2413, 3),
        case(&mut seed, "v259-regular-3-hops", 259, 2413, 3),
        case(&mut seed, "v260-regular-3-hops", 260, 2413, 3),
        case(&mut seed, "v260-regular-5-hops", 260, 2413, 5),
        case(&mut seed, "v260-ack-4-hops", 260, 386, 4),
        case(&mut seed, "v260-extended8-2-hops", 260, 8557, 2),
        case(&mut seed, "v257-regular-1-hop", 257, 2413, 1),
    ];
    let vectors = Vectors {
        generator: "router-core/examples/gen_sphinx_vectors.rs".into(),
        reference: "sphinx-packet 0.8.0".into(),
        cases,
    };
    println!("{}", serde_json::to_string_pretty(&vectors).unwrap());
}
