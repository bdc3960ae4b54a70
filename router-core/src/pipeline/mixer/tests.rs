use std::time::Duration;

use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::{ProcessedPacketData, SphinxPacket, SphinxPacketBuilder};

use super::*;
use crate::mix::{DropPolicy, ReplayFilter, ReplayFilterParams, RotationKey};
use crate::pipeline::buffers::BufferPool;
use crate::sphinx::{unwrap_in_place, SphinxSecretKey};
use crate::wire::{encode_node_address, PacketSize};

const NODE_SECRET: [u8; 32] = [7; 32];

fn next_hop() -> SocketAddr {
    "127.0.0.1:1790".parse().unwrap()
}

/// A regular packet whose first hop is our node, going on to `next_hop()` after `delay`.
fn packet(delay: Duration, seed: u8) -> SphinxPacket {
    packet_for(NODE_SECRET, delay, seed)
}

/// The same for the node key `node`.
fn packet_for(node: [u8; 32], delay: Duration, seed: u8) -> SphinxPacket {
    let route = [
        Node::new(
            NodeAddressBytes::from_bytes([0; 32]),
            PublicKey::from(&PrivateKey::from(node)),
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

fn filter(id: u8) -> Arc<ReplayFilter> {
    Arc::new(ReplayFilter::new(
        ReplayFilterParams::for_capacity(10_000, 1e-9).unwrap(),
        [id; 32],
    ))
}

impl Harness {
    fn new(policy: NextHopPolicy, config: MixerConfig) -> Self {
        let keys = KeyRing::single(SphinxSecretKey::from_bytes(NODE_SECRET), filter(0));
        Self::with_keys(keys, policy, config)
    }

    fn with_keys(keys: KeyRing, policy: NextHopPolicy, config: MixerConfig) -> Self {
        let stats = Arc::new(ShardStats::default());
        let mixer = Mixer::new(
            keys,
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
        let frames: Vec<(&[u8], KeyRotation)> = packets
            .iter()
            .map(|bytes| (*bytes, KeyRotation::Unknown))
            .collect();
        self.receive_frames(arrived_ms, now_ms, &frames);
    }

    /// Version-8 frames carrying these key-rotation bytes.
    fn receive_hinted(&mut self, now_ms: u64, frames: &[(&[u8], KeyRotation)]) {
        self.receive_frames(now_ms, now_ms, frames);
    }

    fn receive_frames(&mut self, arrived_ms: u64, now_ms: u64, packets: &[(&[u8], KeyRotation)]) {
        // Each frame comes on its own connection, numbered from 100 in batch order.
        let mut frames: Vec<ReceivedFrame> = packets
            .iter()
            .zip(100u32..)
            .map(|((bytes, key_rotation), source)| {
                let size = PacketSize::from_packet_len(bytes.len()).unwrap();
                let mut buf = self.pool.take(size);
                buf.body_mut().copy_from_slice(bytes);
                ReceivedFrame {
                    header: FrameHeader::v8(size, *key_rotation),
                    buf,
                    arrived: Timestamp::from_millis(arrived_ms),
                    source,
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
    expected_forward_for(packet, NODE_SECRET)
}

/// What `sphinx-packet` forwards after the node holding `node` processed `packet`.
fn expected_forward_for(packet: &SphinxPacket, node: [u8; 32]) -> Vec<u8> {
    let processed = SphinxPacket::from_bytes(&packet.to_bytes())
        .unwrap()
        .process(&PrivateKey::from(node))
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
    assert_eq!(out.source, 100, "it names the connection it came on");
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
    assert_eq!(
        h.sink.departed[0].1.source, 101,
        "a held packet still names its connection"
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

// ---------------------------------------------------------------------------------------------
// Key rotation
// ---------------------------------------------------------------------------------------------

/// Key of the odd rotation 5 (the previous one) and of the even rotation 6 (the current one).
const ODD_SECRET: [u8; 32] = [0x05; 32];
const EVEN_SECRET: [u8; 32] = [0x06; 32];

fn rotation_key(rotation: u64, secret: [u8; 32]) -> RotationKey {
    RotationKey {
        rotation: Some(rotation),
        secret: SphinxSecretKey::from_bytes(secret),
        filter: filter(rotation as u8),
    }
}

/// Rotations 5 and 6 during their overlap.
fn overlap() -> KeyRing {
    KeyRing::new(vec![
        rotation_key(5, ODD_SECRET),
        rotation_key(6, EVEN_SECRET),
    ])
    .unwrap()
}

/// The key-rotation byte of a departed frame (version 8).
fn departed_byte(out: &OutPacket) -> u8 {
    out.buf.frame(4)[3]
}

#[test]
fn during_the_overlap_an_unknown_byte_opens_both_keys_packets_and_each_leaves_with_its_rotation() {
    let mut h = Harness::with_keys(overlap(), NextHopPolicy::Any, MixerConfig::default());
    let odd = packet_for(ODD_SECRET, Duration::ZERO, 1);
    let even = packet_for(EVEN_SECRET, Duration::ZERO, 2);
    h.receive(0, &[&odd.to_bytes(), &even.to_bytes()]);
    assert_eq!(h.sink.departed.len(), 2);
    let (_, first) = &h.sink.departed[0];
    assert_eq!(
        &first.buf.frame(4)[4..],
        &expected_forward_for(&odd, ODD_SECRET)[..]
    );
    assert_eq!(departed_byte(first), KeyRotation::Odd.as_byte());
    let (_, second) = &h.sink.departed[1];
    assert_eq!(
        &second.buf.frame(4)[4..],
        &expected_forward_for(&even, EVEN_SECRET)[..]
    );
    assert_eq!(departed_byte(second), KeyRotation::Even.as_byte());
    // each tag went into the filter of the key that opened its packet
    let keys = h.mixer.keys().keys();
    assert_eq!((keys[0].rotation, keys[0].filter.inserted()), (Some(6), 1));
    assert_eq!((keys[1].rotation, keys[1].filter.inserted()), (Some(5), 1));
}

#[test]
fn a_named_rotation_is_the_only_key_tried() {
    let mut h = Harness::with_keys(overlap(), NextHopPolicy::Any, MixerConfig::default());
    let odd = packet_for(ODD_SECRET, Duration::ZERO, 1).to_bytes();
    let even = packet_for(EVEN_SECRET, Duration::ZERO, 2).to_bytes();
    // each packet named by the other key's parity: not opened, though the other key would
    h.receive_hinted(0, &[(&odd, KeyRotation::Even), (&even, KeyRotation::Odd)]);
    assert!(h.sink.departed.is_empty());
    assert_eq!(h.stats.dropped(DropReason::HeaderMac), 2);
    // rightly named, both leave, in frames that name the same rotation
    h.receive_hinted(1, &[(&odd, KeyRotation::Odd), (&even, KeyRotation::Even)]);
    let bytes: Vec<u8> = h
        .sink
        .departed
        .iter()
        .map(|(_, o)| departed_byte(o))
        .collect();
    assert_eq!(bytes, [1, 2]);
}

#[test]
fn a_rotation_the_node_holds_no_key_for_is_dropped_as_expired_without_touching_a_filter() {
    let ring = KeyRing::new(vec![rotation_key(6, EVEN_SECRET)]).unwrap();
    let mut h = Harness::with_keys(ring, NextHopPolicy::Any, MixerConfig::default());
    let old = packet_for(ODD_SECRET, Duration::ZERO, 1).to_bytes();
    h.receive_hinted(0, &[(&old, KeyRotation::Odd)]);
    assert_eq!(h.stats.dropped(DropReason::ExpiredKey), 1);
    assert_eq!(h.mixer.keys().keys()[0].filter.inserted(), 0);
    // without a byte it is tried with the one key there is, and fails its MAC
    h.receive(1, &[&old]);
    assert_eq!(h.stats.dropped(DropReason::HeaderMac), 1);
    assert!(h.sink.departed.is_empty());
}

#[test]
fn under_a_static_key_the_byte_a_packet_arrived_with_is_passed_on() {
    let mut h = Harness::new(NextHopPolicy::Any, MixerConfig::default());
    let hints = [KeyRotation::Odd, KeyRotation::Even, KeyRotation::Unknown];
    let packets: Vec<Vec<u8>> = (1..=3)
        .map(|seed| packet(Duration::ZERO, seed).to_bytes())
        .collect();
    let frames: Vec<(&[u8], KeyRotation)> = packets
        .iter()
        .zip(hints)
        .map(|(p, h)| (p.as_slice(), h))
        .collect();
    h.receive_hinted(0, &frames);
    let bytes: Vec<u8> = h
        .sink
        .departed
        .iter()
        .map(|(_, o)| departed_byte(o))
        .collect();
    assert_eq!(bytes, [1, 2, 0]);
}

#[test]
fn a_replay_is_judged_by_the_filter_of_the_key_that_opened_it() {
    let mut h = Harness::with_keys(overlap(), NextHopPolicy::Any, MixerConfig::default());
    let odd = packet_for(ODD_SECRET, Duration::ZERO, 1).to_bytes();
    h.receive_hinted(0, &[(&odd, KeyRotation::Odd)]);
    h.receive_hinted(1, &[(&odd, KeyRotation::Unknown)]);
    assert_eq!(h.sink.departed.len(), 1);
    assert_eq!(h.stats.dropped(DropReason::Replayed), 1);
}

#[test]
fn after_a_key_change_held_packets_leave_as_planned_and_new_ones_meet_the_new_keys() {
    let mut h = Harness::with_keys(overlap(), NextHopPolicy::Any, MixerConfig::default());
    let held = packet_for(ODD_SECRET, Duration::from_millis(30), 1);
    h.receive(0, &[&held.to_bytes()]);
    assert_eq!(h.mixer.held(), 1);

    // The overlap ends: only rotation 6's key is left.
    let old_filter = h.mixer.keys().keys()[1].filter.clone();
    h.mixer
        .set_keys(KeyRing::new(vec![rotation_key(6, EVEN_SECRET)]).unwrap());
    assert_eq!(h.mixer.keys().keys().len(), 1);
    assert_eq!(
        Arc::strong_count(&old_filter),
        1,
        "the mixer let go of the old filter"
    );

    h.mixer
        .poll_expired(Timestamp::from_millis(30), &mut h.sink);
    assert_eq!(h.sink.departed.len(), 1);
    let (_, out) = &h.sink.departed[0];
    assert_eq!(
        &out.buf.frame(4)[4..],
        &expected_forward_for(&held, ODD_SECRET)[..]
    );
    assert_eq!(departed_byte(out), KeyRotation::Odd.as_byte());

    let late = packet_for(ODD_SECRET, Duration::ZERO, 2).to_bytes();
    h.receive_hinted(
        40,
        &[(&late, KeyRotation::Odd), (&late, KeyRotation::Unknown)],
    );
    assert_eq!(h.stats.dropped(DropReason::ExpiredKey), 1);
    assert_eq!(h.stats.dropped(DropReason::HeaderMac), 1);
    let fresh = packet_for(EVEN_SECRET, Duration::ZERO, 3).to_bytes();
    h.receive_hinted(41, &[(&fresh, KeyRotation::Even)]);
    assert_eq!(h.sink.departed.len(), 2);
}

/// The replay tag `sphinx` gives this packet at the node holding `node`.
fn tag_of(packet: &[u8], node: [u8; 32]) -> [u8; 32] {
    let mut copy = packet.to_vec();
    unwrap_in_place(&mut copy, &SphinxSecretKey::from_bytes(node))
        .unwrap()
        .replay_tag
}

fn drain(h: &mut Harness) -> Vec<(Option<u64>, Vec<[u8; 32]>)> {
    let mut out = Vec::new();
    h.mixer
        .drain_accepted_tags(|rotation, tags| out.push((rotation, tags.to_vec())));
    out
}

#[test]
fn accepted_tags_are_kept_by_rotation_for_the_journal_and_nothing_else_is() {
    let mut h = Harness::with_keys(overlap(), NextHopPolicy::Any, MixerConfig::default());
    let odd = packet_for(ODD_SECRET, Duration::ZERO, 1).to_bytes();
    let even = packet_for(EVEN_SECRET, Duration::ZERO, 2).to_bytes();
    let delayed = packet_for(EVEN_SECRET, Duration::from_millis(5), 3).to_bytes();
    // off by default
    h.receive(0, &[&odd]);
    assert_eq!(h.mixer.accepted_tags_buffered(), 0);
    assert!(drain(&mut h).is_empty());

    h.mixer.record_accepted_tags(true);
    let garbage = vec![0u8; odd.len()];
    h.receive(1, &[&odd, &even, &garbage, &delayed, &even]);
    assert_eq!(h.mixer.accepted_tags_buffered(), 2);
    assert_eq!(
        drain(&mut h),
        vec![(
            Some(6),
            vec![tag_of(&even, EVEN_SECRET), tag_of(&delayed, EVEN_SECRET)]
        )],
        "the replayed packets (odd, the second even) and the garbage are not journaled"
    );
    let odd2 = packet_for(ODD_SECRET, Duration::ZERO, 4).to_bytes();
    h.receive(2, &[&odd2]);
    assert_eq!(
        drain(&mut h),
        vec![(Some(5), vec![tag_of(&odd2, ODD_SECRET)])]
    );
    assert!(drain(&mut h).is_empty());
}

#[test]
fn a_full_tag_buffer_processes_the_packet_and_counts_the_tag_as_unjournaled() {
    let config = MixerConfig {
        accepted_tags_capacity: 2,
        ..MixerConfig::default()
    };
    let mut h = Harness::new(NextHopPolicy::Any, config);
    h.mixer.record_accepted_tags(true);
    let packets: Vec<Vec<u8>> = (1..=3)
        .map(|seed| packet(Duration::ZERO, seed).to_bytes())
        .collect();
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    h.receive(0, &refs);
    assert_eq!(h.sink.departed.len(), 3);
    let drained = drain(&mut h);
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0].0, None, "a static key's tags have no rotation");
    assert_eq!(drained[0].1.len(), 2);
    assert_eq!(
        h.stats
            .unjournaled_tags
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
