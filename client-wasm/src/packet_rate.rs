//! How fast this build makes packets: a client core on a synthetic three-layer topology
//! building loop-cover packets (a Sphinx packet and its SURB-ACK each, the cost of every
//! packet a client sends) as fast as its real stream's slots are asked for. Run the same code
//! natively (`cargo run --release -p client-wasm --example packet_rate`) and in the browser
//! (`benchPacketBuild` in the package) to compare them on one machine.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use client::core::{ClientCore, ClientKeys, CoreConfig, CoreRng};
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::topology::{EpochId, Layer, Topology, TopologyGateway, TopologyMixnode};

fn node_keys(rng: &mut impl CoreRng) -> (IdentityKey, SphinxKey) {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let identity = ed25519_dalek::SigningKey::from_bytes(&seed);
    rng.fill_bytes(&mut seed);
    let sphinx = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(seed));
    // A public key made from a secret is never a low-order point.
    let sphinx = SphinxKey::from_bytes(sphinx.to_bytes()).expect("a real public key");
    (IdentityKey::from(&identity), sphinx)
}

/// A topology of one mixnode per layer and one gateway, with fresh keys.
pub fn synthetic_topology(rng: &mut impl CoreRng) -> Topology {
    let address = |i: u8| SocketAddr::from((Ipv4Addr::new(127, 0, 0, i), 1789));
    let mixnodes = (1..=3u8)
        .map(|layer| {
            let (identity_key, sphinx_key) = node_keys(rng);
            TopologyMixnode {
                identity_key,
                sphinx_key,
                next_sphinx_key: None,
                address: address(layer),
                layer: Layer::new(layer).expect("layers 1 to 3"),
                noise_key: None,
            }
        })
        .collect();
    let (identity_key, sphinx_key) = node_keys(rng);
    Topology {
        epoch_id: EpochId(1),
        height: 0,
        valid_from_ms: 0,
        valid_until_ms: u64::MAX,
        rotation: None,
        mixnodes,
        gateways: vec![TopologyGateway {
            identity_key,
            sphinx_key,
            next_sphinx_key: None,
            address: address(4),
            clients_address: None,
            noise_key: None,
        }],
    }
}

/// Builds `count` packets; returns how many the core made (all of them, unless the core
/// refused the topology).
pub fn build_packets(count: u32, rng: &mut impl CoreRng) -> u32 {
    let topology = synthetic_topology(rng);
    let gateway = *topology.gateways[0].identity_key.as_bytes();
    let mut secrets = [[0u8; 32]; 2];
    for s in &mut secrets {
        rng.fill_bytes(s);
    }
    let keys = ClientKeys::from_secrets(&secrets[0], &secrets[1], &[7; 16]);
    let config = CoreConfig {
        send_gap: Duration::from_millis(1),
        loop_cover_gap: None,
        ..CoreConfig::default()
    };
    let mut core = ClientCore::new(config, keys, gateway, Duration::ZERO, rng);
    core.handle_topology(&topology);
    let mut built = 0;
    let mut now = Duration::ZERO;
    // Bounded: at most 1000 slots asked per packet wanted.
    for _ in 0..u64::from(count) * 1000 {
        if built >= count {
            break;
        }
        now += Duration::from_millis(1);
        while let Some(t) = core.poll_transmit(now, rng) {
            debug_assert!(!t.packet.is_empty());
            built += 1;
        }
    }
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_builds_as_many_packets_as_asked() {
        let mut rng = rand_core::OsRng;
        let built = build_packets(20, &mut rng);
        assert!((20..=25).contains(&built), "{built}");
    }
}
