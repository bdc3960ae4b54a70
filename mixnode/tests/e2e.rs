//! End-to-end: real mixnode processes on loopback, packets built by `sphinx-packet`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_packet_crosses_three_mixnodes_intact_and_on_time() {
    let home = tempfile::tempdir().unwrap();
    let mut nodes: Vec<TestNode> = (1..=3)
        .map(|i| TestNode::init(home.path(), &format!("m{i}")))
        .collect();
    for node in &mut nodes {
        node.start(&["--shards", "1"]);
    }
    let sink = FinalHop::start();
    let route = [
        nodes[0].route_node(),
        nodes[1].route_node(),
        nodes[2].route_node(),
        sink.route_node(),
    ];
    let mut entry = connect(nodes[0].addr);

    // Zero delays: the packet arrives, byte-exact after three hops.
    let zero = [Duration::ZERO; 4];
    entry
        .write_all(&frame(&build_packet(&route, &zero, b"three hops")))
        .unwrap();
    assert_eq!(sink.recv().1, b"three hops");

    // Delays are honoured: never early, and late by no more than a few ms beyond the 1 ms ticks.
    for (i, per_hop) in [[20u64, 35, 45], [5, 0, 60], [0, 0, 30]].iter().enumerate() {
        let delays: Vec<Duration> = per_hop
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .chain([Duration::ZERO])
            .collect();
        let total: Duration = delays.iter().sum();
        let message = format!("delayed {i}");
        let packet = frame(&build_packet(&route, &delays, message.as_bytes()));
        let sent = Instant::now();
        entry.write_all(&packet).unwrap();
        let (arrived, got) = sink.recv();
        assert_eq!(got, message.as_bytes());
        let took = arrived - sent;
        assert!(
            took >= total,
            "arrived after {took:?}, before the {total:?} of delays"
        );
        assert!(
            took <= total + Duration::from_millis(25),
            "arrived after {took:?} for {total:?} of delays"
        );
    }
    for node in &nodes {
        assert_eq!(node.metric("mixnet_packets_forwarded_total"), 4);
        assert_eq!(
            node.metric("mixnet_copied_packet_bytes_total"),
            0,
            "zero-copy path"
        );
    }
}

#[test]
fn a_replay_is_dropped_whichever_shard_and_connection_it_arrives_on() {
    let home = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(home.path(), "replays");
    let shards = std::thread::available_parallelism().unwrap().get().min(2);
    node.start(&["--shards", &shards.to_string()]);
    let sink = FinalHop::start();
    let route = [node.route_node(), sink.route_node()];
    let packet = frame(&build_packet(&route, &[Duration::ZERO; 2], b"once"));

    // Open connections until every shard has received at least one copy (SO_REUSEPORT spreads
    // connections by hash), bounded.
    let mut sent = 0u64;
    let mut connections = Vec::new();
    loop {
        let mut stream = connect(node.addr);
        stream.write_all(&packet).unwrap();
        connections.push(stream);
        sent += 1;
        node.wait_metric("mixnet_packets_received_total", |n| n == sent);
        let per_shard: Vec<u64> = (0..shards)
            .map(|s| {
                node.metric(&format!(
                    "mixnet_shard_packets_received_total{{shard=\"{s}\"}}"
                ))
            })
            .collect();
        if per_shard.iter().all(|n| *n > 0) && sent >= 3 {
            break;
        }
        assert!(
            sent < 64,
            "connections never reached every shard: {per_shard:?}"
        );
    }
    assert_eq!(sink.recv().1, b"once");
    node.wait_metric("mixnet_packets_dropped_total{reason=\"replayed\"}", |n| {
        n == sent - 1
    });
    // A fresh packet still goes through, and the replayed one never did.
    connections[0]
        .write_all(&frame(&build_packet(
            &route,
            &[Duration::ZERO; 2],
            b"fresh",
        )))
        .unwrap();
    assert_eq!(sink.recv().1, b"fresh");
    sink.assert_nothing_more();
}

#[test]
fn bad_input_never_stops_good_packets_or_the_node() {
    let home = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(home.path(), "robust");
    node.start(&["--shards", "1"]);
    let sink = FinalHop::start();
    let route = [node.route_node(), sink.route_node()];
    let good = |text: &str| frame(&build_packet(&route, &[Duration::ZERO; 2], text.as_bytes()));
    let mut good_connection = connect(node.addr);
    good_connection.write_all(&good("before")).unwrap();
    assert_eq!(sink.recv().1, b"before");

    let valid = good("template");
    let mut unknown_framing = valid.clone();
    unknown_framing[0] = 9;
    let mut unknown_size = valid.clone();
    unknown_size[1] = 17;
    let mut unknown_type = valid.clone();
    unknown_type[2] = 1;
    let truncated = valid[..1000].to_vec();
    let other_key = {
        let stranger = FinalHop::start();
        frame(&build_packet(
            &[stranger.route_node(), sink.route_node()],
            &[Duration::ZERO; 2],
            b"not for this node",
        ))
    };
    let unknown_sphinx_version = frame(&build_packet_version(
        &route,
        &[Duration::ZERO; 2],
        b"from the future",
        Some(999),
    ));
    let garbage: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let zero_packet = {
        let mut f = valid.clone();
        f[4..].fill(0);
        f
    };

    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("unknown framing version", unknown_framing),
        ("unknown size tag", unknown_size),
        ("unknown packet type", unknown_type),
        ("truncated frame", truncated),
        ("packet for another key", other_key),
        ("unknown sphinx version", unknown_sphinx_version),
        ("garbage", garbage),
        ("all-zero packet", zero_packet),
    ];
    for (what, bytes) in &inputs {
        let mut bad = connect(node.addr);
        let _ = bad.write_all(bytes);
        drop(bad);
        good_connection.write_all(&good(what)).unwrap();
        assert_eq!(sink.recv().1, what.as_bytes(), "after {what}");
        assert!(node.is_running(), "the node died after {what}");
    }
    for reason in [
        "unknown_framing_version",
        "unknown_packet_size",
        "unsupported_packet_type",
        "malformed_frame",
        "header_mac",
        "unknown_sphinx_version",
    ] {
        let series = format!("mixnet_packets_dropped_total{{reason=\"{reason}\"}}");
        node.wait_metric(&series, |n| n >= 1);
    }
    sink.assert_nothing_more();
}

#[test]
fn sigterm_shuts_down_cleanly_and_the_replay_filter_survives_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(home.path(), "restart");
    node.start(&["--shards", "1"]);
    let sink = FinalHop::start();
    let route = [node.route_node(), sink.route_node()];
    let packet = frame(&build_packet(&route, &[Duration::ZERO; 2], b"seen before"));
    connect(node.addr).write_all(&packet).unwrap();
    assert_eq!(sink.recv().1, b"seen before");

    // A packet held for 300 ms when SIGTERM arrives still leaves during the grace period.
    let held = frame(&build_packet(
        &route,
        &[Duration::from_millis(300), Duration::ZERO],
        b"held at shutdown",
    ));
    connect(node.addr).write_all(&held).unwrap();
    node.wait_metric("mixnet_wheel_depth", |n| n == 1);
    node.signal("TERM");
    assert_eq!(node.wait_exit(), Some(0), "SIGTERM must exit 0");
    assert_eq!(sink.recv().1, b"held at shutdown");
    let replay_file = home.path().join("mixnodes/restart/replay-filter.bin");
    assert!(replay_file.exists(), "the replay filter is persisted");
    assert!(!home.path().join("mixnodes/restart/mixnode.pid").exists());

    node.start(&["--shards", "1"]);
    let mut stream = connect(node.addr);
    stream.write_all(&packet).unwrap();
    stream
        .write_all(&frame(&build_packet(
            &route,
            &[Duration::ZERO; 2],
            b"after restart",
        )))
        .unwrap();
    // Same connection, in order: the replay was judged before the fresh packet went out.
    assert_eq!(sink.recv().1, b"after restart");
    assert_eq!(
        node.metric("mixnet_packets_dropped_total{reason=\"replayed\"}"),
        1
    );
    sink.assert_nothing_more();

    node.signal("INT");
    assert_eq!(node.wait_exit(), Some(0), "SIGINT must exit 0 too");
}

#[test]
fn after_sigkill_the_packets_forwarded_before_are_still_refused_as_replays() {
    let home = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(home.path(), "crash");
    node.set_engine("replay_sync_ms", 20);
    node.start(&["--shards", "1"]);
    let sink = FinalHop::start();
    let route = [node.route_node(), sink.route_node()];
    let packets: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            let message = format!("before the crash {i}");
            frame(&build_packet(
                &route,
                &[Duration::ZERO; 2],
                message.as_bytes(),
            ))
        })
        .collect();
    let mut stream = connect(node.addr);
    for packet in &packets {
        stream.write_all(packet).unwrap();
    }
    for _ in &packets {
        sink.recv();
    }
    // Every forwarded packet's tag is durable once the journal says so: then the kill.
    node.wait_metric("mixnet_replay_tags_durable_total", |n| n >= 40);
    // Traffic is still in flight (held in the delay queue) when the node is killed.
    let held = frame(&build_packet(
        &route,
        &[Duration::from_secs(5), Duration::ZERO],
        b"held at the kill",
    ));
    stream.write_all(&held).unwrap();
    node.wait_metric("mixnet_wheel_depth", |n| n == 1);
    node.wait_metric("mixnet_replay_tags_durable_total", |n| n >= 41);
    node.signal("KILL");
    assert_eq!(node.wait_exit(), None, "killed by a signal");
    let dir = home.path().join("mixnodes/crash");
    assert!(
        dir.join("running").exists(),
        "the unclean-stop marker stays"
    );
    assert!(dir.join("replay-filter.journal").exists());

    node.start(&["--shards", "1"]);
    let mut stream = connect(node.addr);
    for packet in packets.iter().chain([&held]) {
        stream.write_all(packet).unwrap();
    }
    stream
        .write_all(&frame(&build_packet(
            &route,
            &[Duration::ZERO; 2],
            b"after the crash",
        )))
        .unwrap();
    // Same connection, in order: every replay was judged before the fresh packet went out.
    assert_eq!(sink.recv().1, b"after the crash");
    assert_eq!(
        node.metric("mixnet_packets_dropped_total{reason=\"replayed\"}"),
        41,
        "the 40 forwarded packets and the one held at the kill (its tag was accepted) are \
         all refused"
    );
    sink.assert_nothing_more();

    // A clean stop snapshots the filter, removes the journal and the marker.
    node.signal("TERM");
    assert_eq!(node.wait_exit(), Some(0));
    assert!(!dir.join("running").exists());
    assert!(!dir.join("replay-filter.journal").exists());
    assert!(dir.join("replay-filter.bin").exists());
}

#[test]
fn silent_connections_cannot_take_the_descriptors_an_honest_packet_needs() {
    let home = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(home.path(), "silent");
    // All from 127.0.0.1 here, so the per-source cap is lifted: the total cap and the
    // descriptor reserve are what is tested.
    node.set_engine("max_inbound_per_source", 100_000);
    node.set_engine("first_frame_timeout_ms", 4_000);
    node.start_limited(
        Some(1024),
        &["--shards", "1", "--danger-allow-any-next-hop"],
    );
    // the test itself holds 1,500 sockets
    router_core::runtime::raise_open_files_limit();
    let sink = FinalHop::start();
    let route = [node.route_node(), sink.route_node()];
    // An honest peer's connection, open before the flood.
    let mut honest = connect(node.addr);
    honest
        .write_all(&frame(&build_packet(
            &route,
            &[Duration::ZERO; 2],
            b"before",
        )))
        .unwrap();
    assert_eq!(sink.recv().1, b"before");

    // 1,500 connections: half send two bytes of a frame header and then nothing, half send
    // nothing at all. The node may hold 768 (1,024 descriptors less the 256 it keeps for
    // itself): the honest one and 767.
    let silent: Vec<_> = (0..1500)
        .map(|i| {
            let mut s = std::net::TcpStream::connect(node.addr).unwrap();
            if i % 2 == 0 {
                // version 8, a regular packet: half a valid header
                let _ = s.write_all(&[8, 1]);
            }
            s
        })
        .collect();
    let refused = node.wait_metric("mixnet_inbound_refused_full_total", |n| n >= 733);
    assert_eq!(refused, 733, "exactly the connections beyond the cap");
    // The honest packet still goes out at once: the node kept descriptors for its next hop.
    let sent = Instant::now();
    honest
        .write_all(&frame(&build_packet(
            &route,
            &[Duration::ZERO; 2],
            b"during",
        )))
        .unwrap();
    assert_eq!(sink.recv().1, b"during");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    // Every silent connection admitted is closed after the first-frame timeout; the honest
    // one, which sent frames, is not.
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.metric("mixnet_inbound_first_frame_timeouts_total") < 767 {
        assert!(Instant::now() < deadline, "silent connections still held");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        node.metric("mixnet_inbound_first_frame_timeouts_total"),
        767
    );
    assert_eq!(node.metric("mixnet_inbound_connections"), 1);
    honest
        .write_all(&frame(&build_packet(
            &route,
            &[Duration::ZERO; 2],
            b"after",
        )))
        .unwrap();
    assert_eq!(sink.recv().1, b"after");
    drop(silent);
}

#[test]
fn a_busy_polling_node_forwards_and_its_polling_shows_as_cpu_not_as_busy_time() {
    let home = tempfile::tempdir().unwrap();
    let mut polling = TestNode::init(home.path(), "polling");
    // The longest poll: after every wake-up (housekeeping alone wakes it every 20 ms) the
    // shard polls for 10 ms before it sleeps.
    polling.set_engine("busy_poll_us", 10_000);
    let mut sleeping = TestNode::init(home.path(), "sleeping");
    polling.start(&["--shards", "1"]);
    sleeping.start(&["--shards", "1"]);
    let sink = FinalHop::start();
    let route = [
        polling.route_node(),
        sleeping.route_node(),
        sink.route_node(),
    ];
    let mut entry = connect(polling.addr);
    entry
        .write_all(&frame(&build_packet(
            &route,
            &[Duration::ZERO; 3],
            b"polled",
        )))
        .unwrap();
    assert_eq!(sink.recv().1, b"polled");

    // Both nodes idle for a measured window (a measurement, not a synchronisation).
    let busy = "mixnet_busy_seconds_total";
    let before = [polling.cpu_seconds(), polling.metric_f64(busy)];
    let quiet_before = sleeping.cpu_seconds();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let window = start.elapsed().as_secs_f64();
    let cpu = polling.cpu_seconds() - before[0];
    let worked = polling.metric_f64(busy) - before[1];
    let quiet_cpu = sleeping.cpu_seconds() - quiet_before;
    // Polling half of the time, less whatever the other tests leave of the two cores.
    assert!(
        cpu >= 0.08,
        "the polling node used {cpu} s of CPU in {window} s"
    );
    assert!(
        worked < cpu / 3.0,
        "busy time {worked} s counts the polling (CPU {cpu} s)"
    );
    assert!(
        quiet_cpu < 0.05,
        "the node without polling used {quiet_cpu} s of CPU while idle"
    );
    assert!(
        sleeping.metric_f64(busy) > 0.0,
        "busy time is counted without polling too"
    );
}

#[test]
fn an_idle_link_to_a_next_hop_is_closed_by_the_sender_and_reopened_for_the_next_packet() {
    let home = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(home.path(), "idle");
    // Inbound idle timeout 2 s: the node closes its own idle links after 1 s.
    node.set_engine("idle_timeout_ms", 2_000);
    node.start(&["--shards", "1"]);
    let sink = FinalHop::start();
    let route = [node.route_node(), sink.route_node()];
    let mut link = connect(node.addr);
    for message in [&b"before the idle close"[..], b"after it"] {
        link.write_all(&frame(&build_packet(&route, &[Duration::ZERO; 2], message)))
            .unwrap();
        assert_eq!(sink.recv().1, message);
        assert_eq!(node.metric("mixnet_outbound_connections"), 1);
        // Closed by the node once idle (the sink never closes it).
        node.wait_metric("mixnet_outbound_connections", |open| open == 0);
    }
    assert_eq!(node.metric("mixnet_packets_forwarded_total"), 2);
}
