//! The network as the client routes over it: the topology's three mix layers and its gateways,
//! with routes chosen uniformly within each layer (Nym's choice) and exponential per-hop
//! delays. The route of a packet is `[layer 1, layer 2, layer 3, egress gateway]`; the entry
//! gateway is not on it (it forwards the client's packet to layer 1 without peeling).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand_core::RngCore;
use router_core::mix::rotation_hint;
use router_core::wire::{encode_node_address, KeyRotation};
use sphinx_packet::crypto::PublicKey;
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Node, NodeAddressBytes};
use validator_core::topology::{Layer, Topology};

use super::poisson::exponential;

/// A node on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// Its packet address.
    pub address: SocketAddr,
    /// Its x25519 Sphinx key.
    pub sphinx_key: [u8; 32],
}

impl Hop {
    /// The node as `sphinx-packet` names it.
    pub fn node(&self) -> Node {
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&self.address)),
            PublicKey::from(self.sphinx_key),
        )
    }
}

/// Why no route can be built.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No topology yet.
    #[error("no topology yet")]
    NoTopology,
    /// A layer has no mixnode.
    #[error("mix layer {0} of the topology is empty")]
    EmptyLayer(u8),
    /// The gateway is not in the topology.
    #[error("gateway {0} is not in the current topology")]
    UnknownGateway(String),
}

/// The routable view of one topology.
///
/// On a chain that rotates Sphinx keys, every hop's key is its key for the topology's
/// rotation, and every packet built over this view is built with that rotation's keys (as
/// Nym's clients build them with the topology's current rotation): the frame byte then names
/// one rotation for the whole packet, which each hop forwards unchanged. The client takes
/// each epoch's topology as soon as the epoch starts, so a packet is built with the keys of
/// the rotation in which it reaches its first hop; later hops reached after a boundary open
/// it with their previous key, kept for the overlap.
#[derive(Debug, Clone)]
pub struct Network {
    layers: [Vec<Hop>; 3],
    gateways: HashMap<[u8; 32], Hop>,
    rotation: Option<u64>,
}

impl Network {
    /// The view of `topology`.
    pub fn new(topology: &Topology) -> Self {
        let layer = |n| {
            Layer::new(n)
                .map(|l| {
                    topology
                        .layer(l)
                        .map(|m| Hop {
                            address: m.address,
                            sphinx_key: *m.sphinx_key.as_bytes(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            layers: [layer(1), layer(2), layer(3)],
            gateways: topology
                .gateways
                .iter()
                .map(|g| {
                    (
                        *g.identity_key.as_bytes(),
                        Hop {
                            address: g.address,
                            sphinx_key: *g.sphinx_key.as_bytes(),
                        },
                    )
                })
                .collect(),
            rotation: topology.rotation.map(|r| r.0),
        }
    }

    /// The key rotation of the keys this view routes with (`None`: keys do not rotate).
    pub fn rotation(&self) -> Option<u64> {
        self.rotation
    }

    /// The key-rotation byte of packets built over this view.
    pub fn key_rotation(&self) -> KeyRotation {
        self.rotation.map_or(KeyRotation::Unknown, rotation_hint)
    }

    /// The gateway with this identity.
    pub fn gateway(&self, identity: &[u8; 32]) -> Result<Hop, RouteError> {
        self.gateways
            .get(identity)
            .copied()
            .ok_or_else(|| RouteError::UnknownGateway(bs58::encode(identity).into_string()))
    }

    /// A uniformly chosen gateway (drop cover's destination).
    pub fn random_gateway(&self, rng: &mut dyn RngCore) -> Option<Hop> {
        let n = self.gateways.len();
        if n == 0 {
            return None;
        }
        self.gateways.values().nth(index(rng, n)).copied()
    }

    /// Three mixnodes, one per layer, each chosen uniformly in its layer.
    pub fn mix_route(&self, rng: &mut dyn RngCore) -> Result<[Hop; 3], RouteError> {
        let mut out = [Hop {
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            sphinx_key: [0; 32],
        }; 3];
        for (i, layer) in self.layers.iter().enumerate() {
            if layer.is_empty() {
                // i < 3
                return Err(RouteError::EmptyLayer(i as u8 + 1));
            }
            out[i] = layer[index(rng, layer.len())];
        }
        Ok(out)
    }

    /// A full route to `egress`: three mixnodes and the gateway.
    pub fn route_to(&self, egress: Hop, rng: &mut dyn RngCore) -> Result<Vec<Hop>, RouteError> {
        let mut route = self.mix_route(rng)?.to_vec();
        route.push(egress);
        Ok(route)
    }
}

/// A uniform index below `n` (n > 0), without modulo bias worth noting for n << 2^64.
fn index(rng: &mut dyn RngCore, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Per-hop delays for `route`: exponential for the mixnodes, zero for the final gateway
/// (it delivers at once). Returns the delays and their sum.
pub fn delays(route: &[Hop], mean: Duration, rng: &mut dyn RngCore) -> (Vec<Delay>, Duration) {
    let mut total = Duration::ZERO;
    let delays = (0..route.len())
        .map(|i| {
            let d = if i + 1 == route.len() {
                Duration::ZERO
            } else {
                exponential(rng, mean)
            };
            total += d;
            Delay::new_from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        })
        .collect();
    (delays, total)
}
