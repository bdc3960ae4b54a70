//! A mixnode under a flood, as a real process: a shard reads no more than it can forward.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

/// Flood connections and the packets each writes.
const FLOODERS: usize = 4;
const PER_FLOODER: usize = 1_500;

/// Zero-delay packets through `node` to `hop`, framed, one buffer per flooder.
fn flood_frames(node: &TestNode, hop: &SlowHop) -> Vec<Vec<u8>> {
    let route = [node.route_node(), hop.route_node()];
    let zero = [Duration::ZERO; 2];
    (0..FLOODERS)
        .map(|f| {
            (0..PER_FLOODER)
                .flat_map(|i| frame(&build_packet(&route, &zero, format!("{f}/{i}").as_bytes())))
                .collect()
        })
        .collect()
}

/// Writes every flooder's frames over its own connection, as fast as the node takes them.
fn flood(node: &TestNode, frames: Vec<Vec<u8>>) -> Vec<std::thread::JoinHandle<()>> {
    frames
        .into_iter()
        .map(|bytes| {
            let mut stream = connect(node.addr);
            std::thread::spawn(move || stream.write_all(&bytes).unwrap())
        })
        .collect()
}

/// Floods `node` towards `hop` and waits for every writer; how long the writing took.
fn flood_and_join(node: &TestNode, hop: &SlowHop) -> Duration {
    let frames = flood_frames(node, hop);
    let started = Instant::now();
    for writer in flood(node, frames) {
        writer.join().unwrap();
    }
    started.elapsed()
}

fn queue_full_drops(node: &TestNode) -> u64 {
    node.metric("mixnet_packets_dropped_total{reason=\"peer_queue_full\"}")
}

/// Polls until the hop has `count` frames or nothing arrived for 5 s; the count.
fn wait_received(hop: &SlowHop, count: u64) -> u64 {
    let mut last = (hop.received(), Instant::now());
    loop {
        let now = hop.received();
        if now >= count {
            return now;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(5) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn slow_node(home: &std::path::Path, id: &str, patience_ms: u64) -> TestNode {
    let mut node = TestNode::init(home, id);
    // A small queue, so that it (not the sockets' buffers) is what the flood fills; a quarter
    // of it (256) is room for what the readers already read when the queue passes its
    // high-water mark (4 connections, up to 32 frames a read, and a batch waiting).
    node.set_engine("peer_queue_capacity", 1024);
    node.set_engine("peer_queue_patience_ms", patience_ms);
    node.start(&["--shards", "1"]);
    node
}

#[test]
fn a_flood_towards_a_slower_next_hop_is_read_slower_not_dropped() {
    let home = tempfile::tempdir().unwrap();
    let total = (FLOODERS * PER_FLOODER) as u64;

    // Without back-pressure (patience 0) the node reads the flood faster than the hop takes
    // it and drops the excess: the control.
    let hop = SlowHop::start(1);
    let node = slow_node(home.path(), "nopatience", 0);
    flood_and_join(&node, &hop);
    let received = wait_received(&hop, total);
    let dropped = queue_full_drops(&node);
    assert!(
        dropped > 0,
        "the control run dropped nothing: the flood never congested the queue"
    );
    assert_eq!(received + dropped, total);
    assert_eq!(node.metric("mixnet_inbound_backpressure_pauses_total"), 0);
    drop(node);

    // With it, the readers pause and every packet is forwarded; meanwhile a connection that
    // feeds another next hop is never paused: its packet overtakes the flood.
    let hop = SlowHop::start(1);
    let fast = FinalHop::start();
    let node = slow_node(home.path(), "patient", 1_000);
    let frames = flood_frames(&node, &hop);
    let honest = frame(&build_packet(
        &[node.route_node(), fast.route_node()],
        &[Duration::ZERO; 2],
        b"not behind the flood",
    ));
    let mut honest_link = connect(node.addr);
    let writers = flood(&node, frames);
    node.wait_metric("mixnet_inbound_backpressure_pauses_total", |p| p > 0);
    honest_link.write_all(&honest).unwrap();
    assert_eq!(fast.recv().1, b"not behind the flood");
    assert!(
        hop.received() < total,
        "the honest packet arrived only after the whole flood"
    );
    for writer in writers {
        writer.join().unwrap();
    }
    assert_eq!(
        wait_received(&hop, total),
        total,
        "every flood packet forwarded"
    );
    assert_eq!(queue_full_drops(&node), 0);
    assert_eq!(node.metric("mixnet_packets_forwarded_total"), total + 1);
    assert!(node.metric_f64("mixnet_inbound_backpressure_seconds_total") > 0.0);
}

#[test]
fn a_next_hop_slower_than_the_patience_allows_is_dropped_for_and_holds_nobody() {
    let home = tempfile::tempdir().unwrap();
    let total = (FLOODERS * PER_FLOODER) as u64;
    // One frame a millisecond, a patience of 100 ms: the queue cannot drain in time, so the
    // hop counts as slow, the flood is read at full speed and its excess dropped.
    let hop = SlowHop::start(1);
    let node = slow_node(home.path(), "impatient", 100);
    let written_in = flood_and_join(&node, &hop);
    let dropped = node.wait_metric(
        "mixnet_packets_dropped_total{reason=\"peer_queue_full\"}",
        |d| d > 0,
    );
    // The connections were paused at first, then let go when the patience ran out: at one
    // frame a millisecond the hop would have taken 6 s to take the whole flood.
    assert!(node.metric("mixnet_inbound_backpressure_pauses_total") > 0);
    assert!(
        written_in < Duration::from_secs(6),
        "the flood took {written_in:?} to be read: the slow hop held it back"
    );
    let received = wait_received(&hop, total - dropped);
    assert_eq!(received + queue_full_drops(&node), total);
}

#[test]
fn a_flood_towards_a_next_hop_that_keeps_up_is_forwarded_whole() {
    let home = tempfile::tempdir().unwrap();
    let total = (FLOODERS * PER_FLOODER) as u64;
    // A hop reading up to 256 frames a millisecond keeps up with any node on this machine.
    let hop = SlowHop::start(256);
    let mut node = TestNode::init(home.path(), "flooded");
    // A queue smaller than the flood, so that a writer that falls behind its readers shows
    // (before back-pressure and the writer's budget, 10% of this flood was dropped).
    node.set_engine("peer_queue_capacity", 512);
    node.start(&["--shards", "1"]);
    flood_and_join(&node, &hop);
    let received = wait_received(&hop, total);
    assert!(
        received * 100 >= total * 99,
        "{received} of {total} forwarded"
    );
    assert_eq!(received, total, "and in fact every one");
    assert_eq!(queue_full_drops(&node), 0);
}
