//! A simulation of a whole route on a virtual clock: three mixnodes and an egress node, each
//! built from the sans-IO pieces the runtime drives (batch unwrap, replay filter, judge, timing
//! wheel), exchanging packets built by `sphinx-packet`. No sockets, no threads, no real time.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use router_core::mix::{
    judge, DropPolicy, DropReason, InsertOutcome, ReplayFilter, ReplayFilterParams, Timestamp,
    TimingWheel, Verdict, WheelConfig,
};
use router_core::sphinx::{BatchUnwrapper, SphinxSecretKey};
use router_core::wire::{encode_node_address, PacketSize};
use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::payload::Payload;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::SphinxPacketBuilder;

const NODES: usize = 4;

struct SimNode {
    unwrapper: BatchUnwrapper,
    filter: ReplayFilter,
    wheel: TimingWheel<u64>,
    held: HashMap<u64, (Vec<u8>, SocketAddr)>,
    next_id: u64,
    inbox: Vec<Vec<u8>>,
    drops: BTreeMap<&'static str, u64>,
}

struct Delivered {
    destination: [u8; 32],
    at: Timestamp,
    payload: Vec<u8>,
}

fn address(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1001 + i as u16))
}

fn secret(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

struct Network {
    nodes: Vec<SimNode>,
    now: Timestamp,
    delivered: Vec<Delivered>,
}

impl Network {
    fn new() -> Self {
        let nodes = (0..NODES)
            .map(|i| SimNode {
                unwrapper: BatchUnwrapper::new(SphinxSecretKey::from_bytes(secret(i))),
                filter: ReplayFilter::new(
                    ReplayFilterParams::for_capacity(10_000, 1e-6).unwrap(),
                    [i as u8; 32],
                ),
                wheel: TimingWheel::new(
                    WheelConfig {
                        capacity: 1024,
                        max_delay: Duration::from_secs(10),
                        drop_policy: DropPolicy::DropNewest,
                    },
                    Timestamp::from_nanos(0),
                )
                .unwrap(),
                held: HashMap::new(),
                next_id: 0,
                inbox: Vec::new(),
                drops: BTreeMap::new(),
            })
            .collect();
        Network {
            nodes,
            now: Timestamp::from_nanos(0),
            delivered: Vec::new(),
        }
    }

    /// Processes every node's inbox as one batch, then releases what is due, until quiet.
    fn settle_at_now(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..NODES {
                let node = &mut self.nodes[i];
                if !node.inbox.is_empty() {
                    moved = true;
                    let mut batch = std::mem::take(&mut node.inbox);
                    let mut results = Vec::new();
                    node.unwrapper.unwrap_batch(&mut batch, &mut results);
                    for (packet, result) in batch.into_iter().zip(results) {
                        match judge(result, &node.filter) {
                            Verdict::Forward { next_hop, delay } => {
                                let id = node.next_id;
                                node.next_id += 1;
                                node.held.insert(id, (packet, next_hop));
                                match node.wheel.insert(self.now, delay, id, 0) {
                                    InsertOutcome::Scheduled { .. } => {}
                                    other => panic!("wheel refused a packet: {other:?}"),
                                }
                            }
                            Verdict::Deliver { destination, .. } => {
                                self.delivered.push(Delivered {
                                    destination,
                                    at: self.now,
                                    payload: packet[348..].to_vec(),
                                });
                            }
                            Verdict::Drop(reason) => {
                                *node.drops.entry(reason.label()).or_default() += 1;
                            }
                        }
                    }
                }
                let mut out = Vec::new();
                while let Some(id) = self.nodes[i].wheel.poll_expired(self.now) {
                    out.push(self.nodes[i].held.remove(&id).unwrap());
                }
                for (packet, next_hop) in out {
                    moved = true;
                    let to = (0..NODES).find(|j| address(*j) == next_hop).unwrap();
                    self.nodes[to].inbox.push(packet);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn next_timeout(&self) -> Option<Timestamp> {
        self.nodes
            .iter()
            .filter_map(|n| n.wheel.poll_timeout())
            .min()
    }

    /// Runs until every wheel is empty, jumping the clock from deadline to deadline.
    fn run_until_idle(&mut self) {
        self.settle_at_now();
        while let Some(next) = self.next_timeout() {
            assert!(next >= self.now, "time went backwards");
            self.now = next;
            self.settle_at_now();
        }
    }
}

fn route() -> Vec<Node> {
    (0..NODES)
        .map(|i| {
            Node::new(
                NodeAddressBytes::from_bytes(encode_node_address(&address(i))),
                PublicKey::from(&PrivateKey::from(secret(i))),
            )
        })
        .collect()
}

fn build(message: &[u8], delays_ms: [u64; NODES], destination: [u8; 32]) -> Vec<u8> {
    let delays: Vec<Delay> = delays_ms
        .iter()
        .map(|d| Delay::new_from_millis(*d))
        .collect();
    SphinxPacketBuilder::new()
        .with_payload_size(PacketSize::Regular.payload_size())
        .build_packet(
            message,
            &route(),
            &Destination::new(DestinationAddressBytes::from_bytes(destination), [0; 16]),
            &delays,
        )
        .unwrap()
        .to_bytes()
}

fn plaintext(payload: &[u8]) -> Vec<u8> {
    Payload::from_bytes(payload)
        .unwrap()
        .recover_plaintext()
        .unwrap()
}

#[test]
fn packets_cross_the_route_after_exactly_their_delays() {
    let mut net = Network::new();
    let mut expected = Vec::new();
    for k in 0..40u64 {
        let delays = [k % 7 * 3, (k * 5) % 11, (k * 13) % 17 + 1, 0];
        let message = format!("message {k}").into_bytes();
        let destination = [k as u8; 32];
        net.nodes[0]
            .inbox
            .push(build(&message, delays, destination));
        // the egress node's delay is not used: it delivers at once
        let total: u64 = delays[..3].iter().sum();
        expected.push((destination, message, total));
    }
    net.run_until_idle();

    assert_eq!(net.delivered.len(), expected.len());
    for (destination, message, total_ms) in expected {
        let got = net
            .delivered
            .iter()
            .find(|d| d.destination == destination)
            .expect("delivered");
        assert_eq!(plaintext(&got.payload), message);
        // whole-millisecond delays on a 1 ms wheel: never early, and exactly on time
        assert_eq!(got.at, Timestamp::from_millis(total_ms), "{message:?}");
    }
    for node in &net.nodes {
        assert!(node.drops.is_empty(), "unexpected drops {:?}", node.drops);
        assert!(node.held.is_empty());
    }
}

#[test]
fn replays_are_dropped_and_long_delays_clamped() {
    let mut net = Network::new();
    let packet = build(b"once", [60_000, 0, 0, 0], [7; 32]);
    // the same packet three times in one batch, and again later
    net.nodes[0]
        .inbox
        .extend([packet.clone(), packet.clone(), packet.clone()]);
    net.settle_at_now();
    assert_eq!(
        net.nodes[0].drops.get(DropReason::Replayed.label()),
        Some(&2)
    );
    net.now = Timestamp::from_millis(5);
    net.nodes[0].inbox.push(packet);
    net.run_until_idle();

    assert_eq!(
        net.nodes[0].drops.get(DropReason::Replayed.label()),
        Some(&3)
    );
    assert_eq!(net.delivered.len(), 1);
    assert_eq!(plaintext(&net.delivered[0].payload), b"once");
    // 60 s asked for, 10 s given
    assert_eq!(net.delivered[0].at, Timestamp::from_millis(10_000));
}

#[test]
fn garbage_between_good_packets_is_dropped_alone() {
    let mut net = Network::new();
    let good = build(b"good", [1, 2, 3, 0], [1; 32]);
    let mut tampered = good.clone();
    tampered[100] ^= 1;
    let mut batch = vec![vec![0u8; 2413], good.clone(), tampered, vec![1u8; 10]];
    batch.push(build(b"also good", [0, 0, 0, 0], [2; 32]));
    net.nodes[0].inbox = batch;
    net.run_until_idle();
    assert_eq!(net.delivered.len(), 2);
    let drops = &net.nodes[0].drops;
    assert_eq!(drops.get(DropReason::HeaderMac.label()), Some(&2));
    assert_eq!(drops.get(DropReason::InvalidPacketLength.label()), Some(&1));
}
