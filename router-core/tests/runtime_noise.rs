//! The running router on Noise links: a peer whose key is known opens a link and its frames
//! are forwarded over a Noise link to the next hop (checked against `sphinx-packet`), with no
//! copy of packet bytes; a plain connection, a key outside the node's peers, garbage or
//! silence during the handshake, a flipped byte and a replayed message each end only their
//! own connection, counted by reason, while another link keeps delivering.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use router_core::mix::{KeyRing, ReplayFilter, ReplayFilterParams, RotationKey};
use router_core::noise::handshake::{expect_handshake, initiate, respond, StaticKey};
use router_core::noise::header::{Header, HEADER_LEN};
use router_core::noise::peers::{LinkPeers, NoiseMode};
use router_core::noise::transport::{Transport, OVERHEAD};
use router_core::pipeline::{LinkDirection, NextHopPolicy, ShardStats};
use router_core::runtime::{Router, RouterConfig, RouterHandle};
use router_core::sphinx::SphinxSecretKey;
use router_core::wire::{encode_frame, encode_node_address, FrameHeader, KeyRotation, PacketSize};
use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::{ProcessedPacketData, SphinxPacket, SphinxPacketBuilder};

const SPHINX_SECRET: [u8; 32] = [0x21; 32];
const FRAME_LEN: usize = 4 + 2413;

fn noise_key(tag: u8) -> StaticKey {
    StaticKey::from_secret([tag; 32])
}

/// A regular packet for the router, going on to `next_hop` at once.
fn packet(next_hop: SocketAddr, seed: u8) -> Vec<u8> {
    let route = [
        Node::new(
            NodeAddressBytes::from_bytes([0; 32]),
            PublicKey::from(&PrivateKey::from(SPHINX_SECRET)),
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
            b"noise",
            &route,
            &Destination::new(DestinationAddressBytes::from_bytes([1; 32]), [2; 16]),
            &[Delay::new_from_nanos(0), Delay::new_from_nanos(0)],
        )
        .unwrap()
        .to_bytes()
}

fn oracle_forward(bytes: &[u8]) -> Vec<u8> {
    match SphinxPacket::from_bytes(bytes)
        .unwrap()
        .process(&PrivateKey::from(SPHINX_SECRET))
        .unwrap()
        .data
    {
        ProcessedPacketData::ForwardHop {
            next_hop_packet, ..
        } => next_hop_packet.to_bytes(),
        ProcessedPacketData::FinalHop { .. } => panic!("a forward hop"),
    }
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let header = FrameHeader::v8(PacketSize::Regular, KeyRotation::Unknown);
    let mut frame = vec![0; header.frame_len()];
    encode_frame(&header, bytes, &mut frame).unwrap();
    frame
}

fn sealed(transport: &mut Transport, plaintext: &[u8]) -> Vec<u8> {
    let mut message = vec![0u8; plaintext.len() + OVERHEAD];
    message[HEADER_LEN..HEADER_LEN + plaintext.len()].copy_from_slice(plaintext);
    transport.seal(&mut message).unwrap();
    message
}

fn read_handshake(stream: &mut TcpStream, step: u8) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).unwrap();
    expect_handshake(&header, step).unwrap();
    let mut body = vec![0u8; Header::decode(&header).unwrap().body_len];
    stream.read_exact(&mut body).unwrap();
    body
}

/// Opens a Noise link to the router as `local`.
fn dial(router: SocketAddr, local: &StaticKey, responder: &[u8; 32]) -> (TcpStream, Transport) {
    let mut stream = TcpStream::connect(router).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (waiting, first) = initiate(local, responder).unwrap();
    stream.write_all(&first).unwrap();
    let second = read_handshake(&mut stream, 2);
    let (third, session) = waiting.read_second(&second).unwrap();
    stream.write_all(&third).unwrap();
    (stream, session.transport)
}

/// Accepts the router's Noise link at the next hop; returns the link and the router's key.
fn answer(listener: &TcpListener, local: &StaticKey) -> (TcpStream, Transport, [u8; 32]) {
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let first = read_handshake(&mut stream, 1);
    let (waiting, second) = respond(local, &first).unwrap();
    stream.write_all(&second).unwrap();
    let third = read_handshake(&mut stream, 3);
    let session = waiting.read_third(&third).unwrap();
    (stream, session.transport, session.remote_static)
}

/// Reads one transport message and opens it.
fn read_sealed(stream: &mut TcpStream, transport: &mut Transport) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).unwrap();
    let mut body = vec![0u8; Header::decode(&header).unwrap().body_len];
    stream.read_exact(&mut body).unwrap();
    transport.open(&mut body).unwrap().to_vec()
}

/// Whether the router closed `stream` (a read sees the end, or a reset), within 10 s.
fn closed_by_router(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Setup {
    router: RouterHandle,
    stats: Arc<ShardStats>,
    router_key: [u8; 32],
    next_hop: TcpListener,
    next_hop_addr: SocketAddr,
}

/// The router's one static Sphinx key.
fn ring() -> KeyRing {
    let filter = ReplayFilter::new(
        ReplayFilterParams::for_capacity(10_000, 1e-9).unwrap(),
        [1; 32],
    );
    KeyRing::new(vec![RotationKey {
        rotation: None,
        secret: SphinxSecretKey::from_bytes(SPHINX_SECRET),
        filter: Arc::new(filter),
    }])
    .unwrap()
}

/// A router requiring Noise, knowing the client key 1 and the next hop (key 3).
fn start() -> Setup {
    let next_hop = TcpListener::bind("127.0.0.1:0").unwrap();
    let next_hop_addr = next_hop.local_addr().unwrap();
    let mut config = RouterConfig::new("127.0.0.1:0".parse().unwrap(), vec![0], ring());
    config.policy = NextHopPolicy::Any;
    config.shutdown_grace = Duration::from_millis(200);
    config.shard.noise_mode = NoiseMode::Required;
    config.shard.noise_handshake_timeout = Duration::from_millis(300);
    let router_key = noise_key(2);
    let router_public = *router_key.public();
    config.noise_key = Some(router_key);
    // The client at an address the router never sends to: it may open links, nothing more.
    config.links = LinkPeers::from_nodes([
        ("127.0.0.1:1".parse().unwrap(), *noise_key(1).public()),
        (next_hop_addr, *noise_key(3).public()),
    ]);
    let router = Router::start(config).unwrap();
    let stats = router.stats()[0].clone();
    Setup {
        router,
        stats,
        router_key: router_public,
        next_hop,
        next_hop_addr,
    }
}

#[test]
fn frames_cross_noise_links_in_place_and_bad_links_end_alone() {
    let setup = start();
    let stats = &setup.stats;
    let inbound = |reason| stats.link_failures(LinkDirection::Inbound, reason);

    // A known peer's link: its frames leave on a Noise link to the next hop.
    let (mut good, mut good_tx) = dial(setup.router.local_addr(), &noise_key(1), &setup.router_key);
    let packets: Vec<Vec<u8>> = (0..20).map(|i| packet(setup.next_hop_addr, i)).collect();
    for p in &packets {
        good.write_all(&sealed(&mut good_tx, &frame(p))).unwrap();
    }
    let (mut hop, mut hop_rx, router_seen_as) = answer(&setup.next_hop, &noise_key(3));
    assert_eq!(
        router_seen_as, setup.router_key,
        "the router proves its own key"
    );
    for p in &packets {
        let forwarded = read_sealed(&mut hop, &mut hop_rx);
        assert_eq!(forwarded.len(), FRAME_LEN, "one frame per message");
        assert_eq!(forwarded[..4], [8, 1, 0, KeyRotation::Unknown.as_byte()]);
        assert_eq!(forwarded[4..], oracle_forward(p)[..]);
    }
    assert_eq!(stats.noise_links(LinkDirection::Inbound), 1);
    assert_eq!(stats.noise_links(LinkDirection::Outbound), 1);
    assert_eq!(
        stats
            .copied_bytes
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "received, opened, unwrapped, sealed and sent in the same buffers"
    );

    // Plain framing to a node that requires Noise.
    let mut plain = TcpStream::connect(setup.router.local_addr()).unwrap();
    plain.write_all(&frame(&packets[0])).unwrap();
    assert!(closed_by_router(&mut plain));
    wait_until("plain_refused", || inbound("plain_refused") == 1);

    // A key the router does not know completes the handshake, then is refused.
    let (mut stranger, mut stranger_tx) =
        dial(setup.router.local_addr(), &noise_key(7), &setup.router_key);
    let _ = stranger.write_all(&sealed(&mut stranger_tx, &frame(&packets[0])));
    assert!(closed_by_router(&mut stranger));
    wait_until("unknown_peer", || inbound("unknown_peer") == 1);

    // Garbage where the handshake belongs: a Noise version byte, then a wrong length.
    let mut garbage = TcpStream::connect(setup.router.local_addr()).unwrap();
    garbage
        .write_all(&[1, 1, 0, 0, 5, 0, 0, 0, 1, 2, 3, 4, 5])
        .unwrap();
    assert!(closed_by_router(&mut garbage));
    wait_until("handshake_length", || inbound("handshake_length") == 1);

    // A handshake that stops after its first byte.
    let mut silent = TcpStream::connect(setup.router.local_addr()).unwrap();
    silent.write_all(&[1]).unwrap();
    assert!(closed_by_router(&mut silent));
    wait_until("handshake_timeout", || inbound("handshake_timeout") == 1);

    // A flipped byte in a transport message ends that link only.
    let (mut tampered, mut tampered_tx) =
        dial(setup.router.local_addr(), &noise_key(1), &setup.router_key);
    let mut message = sealed(&mut tampered_tx, &frame(&packets[0]));
    message[HEADER_LEN + 100] ^= 0x40;
    tampered.write_all(&message).unwrap();
    assert!(closed_by_router(&mut tampered));
    wait_until("bad_tag", || inbound("bad_tag") == 1);

    // A replayed message (the same bytes twice) fails its tag the second time.
    let (mut replaying, mut replaying_tx) =
        dial(setup.router.local_addr(), &noise_key(1), &setup.router_key);
    // (A packet is built once: sphinx-packet pads routing information at random.)
    let replayed = packet(setup.next_hop_addr, 100);
    let once = sealed(&mut replaying_tx, &frame(&replayed));
    replaying.write_all(&once).unwrap();
    replaying.write_all(&once).unwrap();
    assert!(closed_by_router(&mut replaying));
    wait_until("bad_tag twice", || inbound("bad_tag") == 2);
    let forwarded = read_sealed(&mut hop, &mut hop_rx);
    assert_eq!(forwarded[4..], oracle_forward(&replayed)[..]);

    // The first link was never touched: it still delivers.
    let last = packet(setup.next_hop_addr, 200);
    good.write_all(&sealed(&mut good_tx, &frame(&last)))
        .unwrap();
    let forwarded = read_sealed(&mut hop, &mut hop_rx);
    assert_eq!(forwarded[4..], oracle_forward(&last)[..]);

    setup.router.shutdown();
    setup.router.join().unwrap();
}

#[test]
fn a_next_hop_without_a_key_gets_nothing_when_noise_is_required() {
    let setup = start();
    let (mut good, mut good_tx) = dial(setup.router.local_addr(), &noise_key(1), &setup.router_key);
    // A next hop the router has no key for.
    let unknown = TcpListener::bind("127.0.0.1:0").unwrap();
    unknown.set_nonblocking(true).unwrap();
    let unknown_addr = unknown.local_addr().unwrap();
    good.write_all(&sealed(&mut good_tx, &frame(&packet(unknown_addr, 1))))
        .unwrap();
    wait_until("no_key", || {
        setup.stats.link_failures(LinkDirection::Outbound, "no_key") == 1
    });
    assert!(unknown.accept().is_err(), "never even connected");
    setup.router.shutdown();
    setup.router.join().unwrap();
}

#[test]
fn a_noise_node_without_a_key_does_not_start() {
    let mut config = RouterConfig::new("127.0.0.1:0".parse().unwrap(), vec![0], ring());
    config.shard.noise_mode = NoiseMode::Optional;
    let error = Router::start(config).unwrap_err();
    assert!(error.to_string().contains("no static Noise key"), "{error}");
}

#[test]
fn a_link_whose_key_leaves_the_peers_is_closed_when_it_next_reads() {
    let setup = start();
    // Any key may open a link (as before a node's first topology).
    setup
        .router
        .link_setter()
        .set(LinkPeers::open().with_peer(setup.next_hop_addr, *noise_key(3).public()));
    wait_until("any key admitted", || {
        setup
            .stats
            .noise_peers
            .load(std::sync::atomic::Ordering::Relaxed)
            == u64::MAX
    });
    let (mut early, mut early_tx) =
        dial(setup.router.local_addr(), &noise_key(7), &setup.router_key);
    let first = packet(setup.next_hop_addr, 1);
    early
        .write_all(&sealed(&mut early_tx, &frame(&first)))
        .unwrap();
    let (mut hop, mut hop_rx, _) = answer(&setup.next_hop, &noise_key(3));
    assert_eq!(
        read_sealed(&mut hop, &mut hop_rx)[4..],
        oracle_forward(&first)[..]
    );

    // The topology arrives: key 7 is not in it.
    setup.router.link_setter().set(LinkPeers::from_nodes([(
        setup.next_hop_addr,
        *noise_key(3).public(),
    )]));
    wait_until("the topology's keys installed", || {
        setup
            .stats
            .noise_peers
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    });
    let _ = early.write_all(&sealed(
        &mut early_tx,
        &frame(&packet(setup.next_hop_addr, 2)),
    ));
    assert!(closed_by_router(&mut early));
    wait_until("unknown_peer", || {
        setup
            .stats
            .link_failures(LinkDirection::Inbound, "unknown_peer")
            == 1
    });
    setup.router.shutdown();
    setup.router.join().unwrap();
}
