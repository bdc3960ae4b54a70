//! Noise links between real mixnode processes on loopback: three nodes carry packets over
//! Noise with nothing lost and nothing copied; a key outside a node's peers, a plain
//! connection, a flipped byte and a replayed message each end only their own link, counted
//! and logged; a node on plain TCP cannot reach a node that requires Noise, and both say so.
//!
//! The nodes run without validators (`--danger-allow-any-next-hop`) and learn their peers'
//! keys from `--danger-noise-peer`; `engine.noise = "required"` is set explicitly (the danger
//! flag alone makes Noise optional). With validators the same keys come from the topology:
//! `topology.rs` checks that path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use router_core::noise::handshake::StaticKey;

/// The test's own Noise key (it opens the first link).
fn client_key() -> StaticKey {
    StaticKey::from_secret([0x5c; 32])
}

fn client_peer() -> String {
    // The client is never a next hop: any address will do for its entry.
    format!(
        "127.0.0.1:1={}",
        bs58::encode(client_key().public()).into_string()
    )
}

#[test]
fn three_mixnodes_carry_packets_over_noise_and_a_bad_link_ends_alone() {
    let home = tempfile::tempdir().unwrap();
    let mut nodes: Vec<TestNode> = (1..=3)
        .map(|i| TestNode::init(home.path(), &format!("n{i}")))
        .collect();
    nodes[0].set_engine_text("noise", "required");
    nodes[1].set_engine_text("noise", "required");
    // The last mixnode reaches the test's plain final hop: Noise where it knows a key.
    nodes[2].set_engine_text("noise", "optional");
    nodes[0].capture_log();
    let (p1, p2, p3) = (
        nodes[0].noise_peer(),
        nodes[1].noise_peer(),
        nodes[2].noise_peer(),
    );
    let client = client_peer();
    let peers: [Vec<&str>; 3] = [vec![&client, &p2], vec![&p1, &p3], vec![&p2]];
    for (node, peers) in nodes.iter_mut().zip(&peers) {
        let mut args = vec!["--shards", "1"];
        for peer in peers {
            args.extend(["--danger-noise-peer", peer]);
        }
        node.start(&args);
    }
    let sink = FinalHop::start();
    let route = [
        nodes[0].route_node(),
        nodes[1].route_node(),
        nodes[2].route_node(),
        sink.route_node(),
    ];
    let zero = [Duration::ZERO; 4];
    let (mut link, mut link_tx) = noise_dial(nodes[0].addr, &client_key(), &nodes[0].noise_public);
    for i in 0..50 {
        let packet = build_packet(&route, &zero, format!("noise {i}").as_bytes());
        link.write_all(&sealed(&mut link_tx, &frame(&packet)))
            .unwrap();
    }
    let mut got: Vec<String> = (0..50)
        .map(|_| String::from_utf8(sink.recv().1).unwrap())
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("noise {i}")).collect();
    want.sort();
    assert_eq!(got, want, "every packet arrived");
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(
            node.metric("mixnet_noise_links_total{direction=\"inbound\"}"),
            1
        );
        let out = node.metric("mixnet_noise_links_total{direction=\"outbound\"}");
        assert_eq!(
            out,
            u64::from(i < 2),
            "{}: Noise to the next mixnode only",
            node.id
        );
        assert_eq!(
            node.metric("mixnet_copied_packet_bytes_total"),
            0,
            "{}",
            node.id
        );
    }
    let failures = |reason: &str| {
        nodes[0].metric(&format!(
            "mixnet_noise_link_failures_total{{direction=\"inbound\",reason=\"{reason}\"}}"
        ))
    };

    // A key n1 was not given: the handshake completes, then the link is refused.
    let stranger = StaticKey::from_secret([0x77; 32]);
    let (mut refused, _) = noise_dial(nodes[0].addr, &stranger, &nodes[0].noise_public);
    assert!(closed_by_peer(&mut refused));
    nodes[0].wait_metric(
        "mixnet_noise_link_failures_total{direction=\"inbound\",reason=\"unknown_peer\"}",
        |n| n == 1,
    );
    nodes[0].wait_log(&["Noise link failed", "unknown_peer", "not in the topology"]);

    // Plain framing to a node that requires Noise.
    let mut plain = connect(nodes[0].addr);
    plain
        .write_all(&frame(&build_packet(&route, &zero, b"plain")))
        .unwrap();
    assert!(closed_by_peer(&mut plain));
    assert_eq!(failures("plain_refused"), 1);
    nodes[0].wait_log(&["refusing a plain TCP link", "requires Noise"]);

    // A flipped byte on a second link closes that link only.
    let (mut tampered, mut tampered_tx) =
        noise_dial(nodes[0].addr, &client_key(), &nodes[0].noise_public);
    let mut message = sealed(&mut tampered_tx, &frame(&build_packet(&route, &zero, b"x")));
    message[500] ^= 0x01;
    tampered.write_all(&message).unwrap();
    assert!(closed_by_peer(&mut tampered));
    nodes[0].wait_metric(
        "mixnet_noise_link_failures_total{direction=\"inbound\",reason=\"bad_tag\"}",
        |n| n == 1,
    );
    nodes[0].wait_log(&["closing a Noise link", "bad_tag"]);

    // A message sent twice: the copy fails its tag.
    let (mut replaying, mut replaying_tx) =
        noise_dial(nodes[0].addr, &client_key(), &nodes[0].noise_public);
    let once = sealed(
        &mut replaying_tx,
        &frame(&build_packet(&route, &zero, b"once")),
    );
    replaying.write_all(&once).unwrap();
    replaying.write_all(&once).unwrap();
    assert!(closed_by_peer(&mut replaying));
    assert_eq!(sink.recv().1, b"once", "the first copy went through");
    nodes[0].wait_metric(
        "mixnet_noise_link_failures_total{direction=\"inbound\",reason=\"bad_tag\"}",
        |n| n == 2,
    );

    // The first link was never touched: it still delivers, and nothing else arrived.
    let last = build_packet(&route, &zero, b"still here");
    link.write_all(&sealed(&mut link_tx, &frame(&last)))
        .unwrap();
    assert_eq!(sink.recv().1, b"still here");
    sink.assert_nothing_more();
}

#[test]
fn a_plain_node_cannot_reach_a_node_that_requires_noise_and_both_say_so() {
    let home = tempfile::tempdir().unwrap();
    let mut plain = TestNode::init(home.path(), "plain");
    let mut strict = TestNode::init(home.path(), "strict");
    plain.set_engine_text("noise", "off");
    strict.set_engine_text("noise", "required");
    plain.capture_log();
    strict.capture_log();
    plain.start(&["--shards", "1"]);
    strict.start(&["--shards", "1"]);
    let sink = FinalHop::start();
    let route = [plain.route_node(), strict.route_node(), sink.route_node()];
    let mut entry = connect(plain.addr);
    // Packets keep coming until the plain node has seen its link reset (bounded).
    for i in 0..100 {
        let packet = build_packet(&route, &[Duration::ZERO; 3], format!("p{i}").as_bytes());
        entry.write_all(&frame(&packet)).unwrap();
        if plain.log_text().contains("next hop reset a plain TCP link") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let line = plain.wait_log(&["next hop reset a plain TCP link", "Noise"]);
    assert!(line.contains(&strict.addr.to_string()), "{line}");
    strict.wait_log(&["refusing a plain TCP link", "requires Noise"]);
    assert!(
        strict.metric(
            "mixnet_noise_link_failures_total{direction=\"inbound\",reason=\"plain_refused\"}"
        ) >= 1
    );
    assert_eq!(strict.metric("mixnet_packets_forwarded_total"), 0);
    sink.assert_nothing_more();
}
