use std::time::Duration;

use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::{ProcessedPacketData, SphinxPacket, SphinxPacketBuilder};

use super::*;
use crate::mix::{DropPolicy, ReplayFilterParams};
use crate::pipeline::buffers::BufferPool;
use crate::wire::{encode_node_address, PacketSize};

const NODE_SECRET: [u8; 32] = [7; 32];

fn next_hop() -> SocketAddr {
    "127.0.0.1:1790".parse().unwrap()
}

/// A regular packet whose first hop is our node, going on to `next_hop()` after `delay`.
fn packet(delay: Duration, seed: u8) -> SphinxPacket {
    let route = [
        Node::new(
            NodeAddressBytes::from_bytes([0; 32]),
            PublicKey::from(&PrivateKey::from(NODE_SECRET)),
        ),
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&next_hop())),
            PublicKey::from(&PrivateKey::from([9; 32])),
        ),
    ];
    let delays = [
        Delay::new_from_nanos(delay.as_nanos() as u64),
        Delay::new_from_nanos(0),
    ];
    SphinxPacketBuilder::new()
        .with_payload_size(PacketSize::Regular.size() - 348)
        .with_initial_secret(&PrivateKey::from([seed; 32]))
        .build_packet(
            b"hello",
            &route,
            &Destination::new(DestinationAddressBytes::from_bytes([1; 32]), [2; 16]),
            &delays,
        )
        .unwrap()
}

/// A packet for which our node is the last hop.
fn final_packet(seed: u8) -> SphinxPacket {
    let route = [Node::new(
        NodeAddressBytes::from_bytes([0; 32]),
        PublicKey::from(&PrivateKey::from(NODE_SECRET)),
    )];
    SphinxPacketBuilder::new()
        .with_payload_size(PacketSize::Regular.size() - 348)
        .with_initial_secret(&PrivateKey::from([seed; 32]))
        .build_packet(
            b"for you",
            &route,
            &Destination::new(DestinationAddressBytes::from_bytes([3; 32]), [4; 16]),
            &[Delay::new_from_nanos(0)],
        )
        .unwrap()
}

#[derive(Default)]
struct Recorder {
    departed: Vec<(SocketAddr, OutPacket)>,
    delivered: Vec<Delivery>,
    recycled: usize,
}

impl MixerSink for Recorder {
    fn depart(&mut self, next_hop: SocketAddr, packet: OutPacket) {
        self.departed.push((next_hop, packet));
    }
    fn deliver(&mut self, delivery: Delivery) {
        self.delivered.push(delivery);
    }
    fn recycle(&mut self, _buf: PacketBuf) {
        self.recycled += 1;
    }
}

struct Harness {
    mixer: Mixer,
    pool: BufferPool,
    stats: Arc<ShardStats>,
    sink: Recorder,
}

impl Harness {
    fn new(policy: NextHopPolicy, config: MixerConfig) -> Self {
        let stats = Arc::new(ShardStats::default());
        let replay = Arc::new(ReplayFilter::new(
            ReplayFilterParams::for_capacity(10_000, 1e-9).unwrap(),
            [0; 32],
        ));
        let mixer = Mixer::new(
            SphinxSecretKey::from_bytes(NODE_SECRET),
            replay,
            policy,
            config,
            stats.clone(),
            Timestamp::from_millis(0),
        )
        .unwrap();
        Harness {
            mixer,
            pool: BufferPool::new(1 << 30),
            stats,
            sink: Recorder::default(),
        }
    }

    fn receive(&mut self, now_ms: u64, packets: &[&[u8]]) {
        self.receive_late(now_ms, now_ms, packets);
    }

    /// Packets that arrived at `arrived_ms` and waited for their batch until `now_ms`.
    fn receive_late(&mut self, arrived_ms: u64, now_ms: u64, packets: &[&[u8]]) {
        let mut frames: Vec<ReceivedFrame> = packets
            .iter()
            .map(|bytes| {
                let size = PacketSize::from_packet_len(bytes.len()).unwrap();
                let mut buf = self.pool.take(size);
                buf.body_mut().copy_from_slice(bytes);
                ReceivedFrame {
                    header: FrameHeader::v8(size, KeyRotation::Unknown),
                    buf,
                    arrived: Timestamp::from_millis(arrived_ms),
                }
            })
            .collect();
        let mut counter = 0u64;
        self.mixer.handle_batch(
            Timestamp::from_millis(now_ms),
            &mut frames,
            &mut || {
                counter += 1;
                counter
            },
            &mut self.sink,
        );
        assert!(frames.is_empty());
    }
}

fn expected_forward(packet: &SphinxPacket) -> Vec<u8> {
    let processed = SphinxPacket::from_bytes(&packet.to_bytes())
        .unwrap()
        .process(&PrivateKey::from(NODE_SECRET))
        .unwrap();
    match processed.data {
        ProcessedPacketData::ForwardHop {
            next_hop_packet, ..
        } => next_hop_packet.to_bytes(),
        ProcessedPacketData::FinalHop { .. } => panic!("expected a forward hop"),
    }
}

#[test]
fn a_zero_delay_packet_leaves_at_once_as_the_oracle_processes_it() {
    let mut h = Harness::new(NextHopPolicy::Any, MixerConfig::default());
    let packet = packet(Duration::ZERO, 1);
    h.receive(5, &[&packet.to_bytes()]);
    assert_eq!(h.sink.departed.len(), 1);
    let (to, out) = &h.sink.departed[0];
    assert_eq!(*to, next_hop());
    assert_eq!(out.header_len, 4);
    let frame = out.buf.frame(4);
    assert_eq!(
        &frame[..4],
        &[8, 1, 0, 0],
        "a version-8 regular Sphinx frame"
    );
    assert_eq!(&frame[4..], &expected_forward(&packet)[..]);
    assert_eq!(out.arrived, Timestamp::from_millis(5));
    assert_eq!(
        h.stats.received.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn version_7_framing_is_written_when_configured() {
    let config = MixerConfig {
        outgoing_version: FramingVersion::V7,
        ..MixerConfig::default()
    };
    let mut h = Harness::new(NextHopPolicy::Any, config);
    h.receive(0, &[&packet(Duration::ZERO, 1).to_bytes()]);
    let (_, out) = &h.sink.departed[0];
    assert_eq!(out.header_len, 3);
    assert_eq!(&out.buf.frame(3)[..3], &[7, 1, 0]);
}

#[test]
fn a_replay_is_dropped_even_in_the_same_batch() {
    let mut h = Harness::new(NextHopPolicy::Any, MixerConfig::default());
    let bytes = packet(Duration::ZERO, 1).to_bytes();
    h.receive(0, &[&bytes, &bytes]);
    h.receive(1, &[&bytes]);
    assert_eq!(h.sink.departed.len(), 1);
    assert_eq!(h.stats.dropped(DropReason::Replayed), 2);
    assert_eq!(h.sink.recycled, 2);
}

#[test]
fn delays_are_honoured_on_the_virtual_clock() {
    let mut h = Harness::new(NextHopPolicy::Any, MixerConfig::default());
    let slow = packet(Duration::from_millis(40), 1);
    let fast = packet(Duration::from_micros(15_500), 2);
    h.receive(100, &[&slow.to_bytes(), &fast.to_bytes()]);
    assert!(h.sink.departed.is_empty());
    assert_eq!(h.mixer.held(), 2);
    // 100 ms + 15.5 ms rounds up to the 116 ms tick: never early, at most a tick late.
    assert_eq!(h.mixer.poll_timeout(), Some(Timestamp::from_millis(116)));
    h.mixer
        .poll_expired(Timestamp::from_millis(115), &mut h.sink);
    assert!(h.sink.departed.is_empty());
    h.mixer
        .poll_expired(Timestamp::from_millis(116), &mut h.sink);
    assert_eq!(h.sink.departed.len(), 1);
    assert_eq!(
        h.sink.departed[0].1.buf.frame(4)[4..],
        expected_forward(&fast)[..]
    );
    assert_eq!(h.mixer.poll_timeout(), Some(Timestamp::from_millis(140)));
    h.mixer
        .poll_expired(Timestamp::from_millis(140), &mut h.sink);
    assert_eq!(h.sink.departed.len(), 2);
    assert_eq!(
        h.sink.departed[1].1.buf.frame(4)[4..],
        expected_forward(&slow)[..]
    );
    assert_eq!(h.sink.departed[1].1.arrived, Timestamp::from_millis(100));
    assert_eq!(h.mixer.held(), 0);
    assert_eq!(h.mixer.poll_timeout(), None);
}

#[test]
fn a_delay_runs_from_arrival_not_from_when_the_batch_was_processed() {
    let mut h = Harness::new(NextHopPolicy::Any, MixerConfig::default());
    let held = packet(Duration::from_millis(30), 1);
    let overdue = packet(Duration::from_millis(5), 2);
    // Both arrived at 100 ms and waited 10 ms for their batch.
    h.receive_late(100, 110, &[&held.to_bytes(), &overdue.to_bytes()]);
    assert_eq!(
        h.sink.departed.len(),
        1,
        "the 5 ms packet is overdue: it leaves now"
    );
    assert_eq!(h.sink.departed[0].1.arrived, Timestamp::from_millis(100));
    assert_eq!(
        h.sink.departed[0].1.buf.frame(4)[4..],
        expected_forward(&overdue)[..]
    );
    assert_eq!(h.mixer.poll_timeout(), Some(Timestamp::from_millis(130)));
    h.mixer
        .poll_expired(Timestamp::from_millis(130), &mut h.sink);
    assert_eq!(h.sink.departed.len(), 2);
    assert_eq!(h.sink.departed[1].1.arrived, Timestamp::from_millis(100));
}

#[test]
fn next_hops_outside_the_topology_are_dropped() {
    let other: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let policy = NextHopPolicy::Only([other].into_iter().collect());
    let mut h = Harness::new(policy, MixerConfig::default());
    h.receive(0, &[&packet(Duration::ZERO, 1).to_bytes()]);
    assert!(h.sink.departed.is_empty());
    assert_eq!(h.stats.dropped(DropReason::NextHopNotInTopology), 1);

    h.mixer
        .set_policy(NextHopPolicy::Only([next_hop()].into_iter().collect()));
    h.receive(0, &[&packet(Duration::ZERO, 2).to_bytes()]);
    assert_eq!(h.sink.departed.len(), 1);
}

#[test]
fn a_mixnode_drops_final_hops_and_a_gateway_delivers_them() {
    let mut mixnode = Harness::new(NextHopPolicy::Any, MixerConfig::default());
    mixnode.receive(0, &[&final_packet(1).to_bytes()]);
    assert_eq!(mixnode.stats.dropped(DropReason::UnexpectedFinalHop), 1);
    assert_eq!(
        mixnode
            .stats
            .final_hop
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    let config = MixerConfig {
        final_hops: FinalHops::Deliver,
        ..MixerConfig::default()
    };
    let mut gateway = Harness::new(NextHopPolicy::Any, config);
    gateway.receive(0, &[&final_packet(1).to_bytes()]);
    assert_eq!(gateway.sink.delivered.len(), 1);
    let delivery = &gateway.sink.delivered[0];
    assert_eq!(delivery.destination, [3; 32]);
    assert_eq!(delivery.identifier, [4; 16]);
}

#[test]
fn garbage_is_dropped_by_reason_and_good_packets_in_the_batch_still_go() {
    let mut h = Harness::new(NextHopPolicy::Any, MixerConfig::default());
    let good = packet(Duration::ZERO, 1).to_bytes();
    let mut tampered = packet(Duration::ZERO, 2).to_bytes();
    tampered[40] ^= 1;
    let zeros = vec![0u8; good.len()];
    h.receive(0, &[&tampered, &good, &zeros]);
    assert_eq!(h.sink.departed.len(), 1);
    // A flipped MAC bit and an all-zero packet (a canonical alpha) both fail the MAC.
    assert_eq!(h.stats.dropped(DropReason::HeaderMac), 2);
    assert_eq!(h.stats.dropped_total(), 2);
    assert_eq!(h.sink.recycled, 2);
}

#[test]
fn a_full_wheel_drops_by_reason_and_shutdown_drops_the_rest() {
    let config = MixerConfig {
        wheel: WheelConfig {
            capacity: 2,
            max_delay: Duration::from_secs(10),
            drop_policy: DropPolicy::DropNewest,
        },
        ..MixerConfig::default()
    };
    let mut h = Harness::new(NextHopPolicy::Any, config);
    let packets: Vec<Vec<u8>> = (1..=3)
        .map(|seed| packet(Duration::from_millis(50), seed).to_bytes())
        .collect();
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    h.receive(0, &refs);
    assert_eq!(h.mixer.held(), 2);
    assert_eq!(h.stats.dropped(DropReason::DelayQueueFull), 1);
    h.mixer.drop_all_held(&mut h.sink);
    assert_eq!(h.mixer.held(), 0);
    assert_eq!(h.stats.dropped(DropReason::ShuttingDown), 2);
    assert_eq!(h.sink.recycled, 3);
    // The slots are reusable after a shutdown drain.
    h.receive(1, &[&packet(Duration::ZERO, 9).to_bytes()]);
    assert_eq!(h.sink.departed.len(), 1);
}

#[test]
fn a_held_packet_costs_at_most_128_bytes_beyond_its_buffer() {
    assert!(
        Mixer::held_packet_overhead() <= 128,
        "{}",
        Mixer::held_packet_overhead()
    );
}
