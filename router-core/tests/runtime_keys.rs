//! The running router with rotating keys: the frame's key-rotation byte picks the key, a new
//! key ring installed from another thread takes effect within a housekeeping interval, the
//! forwarded frame names the rotation of the key that opened it, and every accepted replay tag
//! reaches the journal sink, grouped by rotation, the last ones at shutdown.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use router_core::mix::{DropReason, KeyRing, ReplayFilter, ReplayFilterParams, RotationKey};
use router_core::pipeline::NextHopPolicy;
use router_core::runtime::{AcceptedTagSink, Router, RouterConfig, HOUSEKEEPING_INTERVAL};
use router_core::sphinx::{unwrap_in_place, SphinxSecretKey};
use router_core::wire::{encode_frame, encode_node_address, FrameHeader, KeyRotation, PacketSize};
use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::{ProcessedPacketData, SphinxPacket, SphinxPacketBuilder};

/// What the sink received: the tags of each call, with the rotation it named.
type Journal = Arc<Mutex<Vec<(Option<u64>, Vec<[u8; 32]>)>>>;

const ODD_SECRET: [u8; 32] = [0x15; 32];
const EVEN_SECRET: [u8; 32] = [0x16; 32];

fn key(rotation: u64, secret: [u8; 32]) -> RotationKey {
    RotationKey {
        rotation: Some(rotation),
        secret: SphinxSecretKey::from_bytes(secret),
        filter: Arc::new(ReplayFilter::new(
            ReplayFilterParams::for_capacity(10_000, 1e-9).unwrap(),
            [rotation as u8; 32],
        )),
    }
}

/// A regular packet for the node holding `node`, going on to `next_hop` at once.
fn packet(node: [u8; 32], next_hop: SocketAddr, seed: u8) -> Vec<u8> {
    let route = [
        Node::new(
            NodeAddressBytes::from_bytes([0; 32]),
            PublicKey::from(&PrivateKey::from(node)),
        ),
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&next_hop)),
            PublicKey::from(&PrivateKey::from([9; 32])),
        ),
    ];
    SphinxPacketBuilder::new()
        .with_payload_size(PacketSize::Regular.size() - 348)
        .with_initial_secret(&PrivateKey::from([seed; 32]))
        .build_packet(
            b"rotate",
            &route,
            &Destination::new(DestinationAddressBytes::from_bytes([1; 32]), [2; 16]),
            &[Delay::new_from_nanos(0), Delay::new_from_nanos(0)],
        )
        .unwrap()
        .to_bytes()
}

fn oracle_forward(bytes: &[u8], node: [u8; 32]) -> Vec<u8> {
    match SphinxPacket::from_bytes(bytes)
        .unwrap()
        .process(&PrivateKey::from(node))
        .unwrap()
        .data
    {
        ProcessedPacketData::ForwardHop {
            next_hop_packet, ..
        } => next_hop_packet.to_bytes(),
        ProcessedPacketData::FinalHop { .. } => panic!("a forward hop"),
    }
}

fn tag(bytes: &[u8], node: [u8; 32]) -> [u8; 32] {
    let mut copy = bytes.to_vec();
    unwrap_in_place(&mut copy, &SphinxSecretKey::from_bytes(node))
        .unwrap()
        .replay_tag
}

fn send(stream: &mut TcpStream, bytes: &[u8], hint: KeyRotation) {
    let header = FrameHeader::v8(PacketSize::Regular, hint);
    let mut frame = vec![0; header.frame_len()];
    encode_frame(&header, bytes, &mut frame).unwrap();
    stream.write_all(&frame).unwrap();
}

fn receive(stream: &mut TcpStream) -> Vec<u8> {
    let mut frame = vec![0; 4 + PacketSize::Regular.size()];
    stream.read_exact(&mut frame).unwrap();
    frame
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn keys_rotate_on_a_running_router_and_accepted_tags_reach_the_sink() {
    let next_hop = TcpListener::bind("127.0.0.1:0").unwrap();
    let next_hop_addr = next_hop.local_addr().unwrap();
    let journal: Journal = Arc::default();
    let sink_journal = journal.clone();
    let sink: AcceptedTagSink = Arc::new(move |rotation, tags| {
        sink_journal.lock().unwrap().push((rotation, tags.to_vec()));
    });

    let ring = KeyRing::new(vec![key(5, ODD_SECRET)]).unwrap();
    let mut config = RouterConfig::new("127.0.0.1:0".parse().unwrap(), vec![0], ring);
    config.policy = NextHopPolicy::Any;
    config.accepted_tags = Some(sink);
    config.shutdown_grace = Duration::from_millis(200);
    let router = Router::start(config).unwrap();
    let stats = router.stats()[0].clone();
    let mut client = TcpStream::connect(router.local_addr()).unwrap();
    client.set_nodelay(true).unwrap();

    // Rotation 5: an odd packet is opened and leaves naming rotation 5's parity.
    let first = packet(ODD_SECRET, next_hop_addr, 1);
    send(&mut client, &first, KeyRotation::Odd);
    let (mut forwarded, _) = next_hop.accept().unwrap();
    forwarded
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let frame = receive(&mut forwarded);
    assert_eq!(frame[..4], [8, 1, 0, KeyRotation::Odd.as_byte()]);
    assert_eq!(frame[4..], oracle_forward(&first, ODD_SECRET)[..]);

    // Rotation 6 starts and the overlap is over at once: only its key is left.
    router
        .key_setter()
        .set(KeyRing::new(vec![key(6, EVEN_SECRET)]).unwrap());
    std::thread::sleep(HOUSEKEEPING_INTERVAL * 5);
    let late = packet(ODD_SECRET, next_hop_addr, 2);
    send(&mut client, &late, KeyRotation::Odd);
    wait_until("the expired-key drop", || {
        stats.dropped(DropReason::ExpiredKey) == 1
    });
    let second = packet(EVEN_SECRET, next_hop_addr, 3);
    send(&mut client, &second, KeyRotation::Unknown);
    let frame = receive(&mut forwarded);
    assert_eq!(frame[..4], [8, 1, 0, KeyRotation::Even.as_byte()]);
    assert_eq!(frame[4..], oracle_forward(&second, EVEN_SECRET)[..]);

    router.shutdown();
    router.join().unwrap();
    let mut by_rotation: Vec<(Option<u64>, [u8; 32])> = journal
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(rotation, tags)| tags.iter().map(move |t| (*rotation, *t)))
        .collect();
    by_rotation.sort();
    assert_eq!(
        by_rotation,
        [
            (Some(5), tag(&first, ODD_SECRET)),
            (Some(6), tag(&second, EVEN_SECRET))
        ]
    );
}
