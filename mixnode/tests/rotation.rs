//! A mixnode process on a chain that rotates Sphinx keys every few seconds (one validator
//! process): it generates, announces and installs a key per rotation; the frame's
//! key-rotation byte picks the key; the previous key works during the overlap and is refused
//! after it; a replay across a boundary is refused; and after SIGKILL the keys in use are
//! quarantined while the node moves to its next key early.
//!
//! Probe packets name a next hop outside the topology, so each probe ends in exactly one
//! counter of the node: `next_hop_not_in_topology` when the node opened it (the next hop is
//! judged after the key and the replay filter), or the reason it did not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ed25519_dalek::SigningKey;
use router_core::mix::rotation_hint;
use sphinx_packet::crypto::PublicKey;
use sphinx_packet::route::{Node, NodeAddressBytes};
use testnet::local_chain::{LocalChain, LocalValidator};
use validator_client::ValidatorClient;
use validator_core::files::write_secret;
use validator_core::primitives::IdentityKey;
use validator_core::rotation::{RotationId, RotationSchedule};

/// A bonded mixnode on a rotating chain.
struct Setup {
    _validator: LocalValidator,
    client: ValidatorClient,
    schedule: RotationSchedule,
    node: TestNode,
    identity: IdentityKey,
}

impl Setup {
    fn start(home: &Path, length_ms: u64, overlap_ms: u64) -> Setup {
        let account = SigningKey::from_bytes(&[8; 32]);
        let account_file = home.join("account.key");
        write_secret(&account_file, &account.to_bytes()).unwrap();
        let validator = LocalValidator::start(
            &home.join("validator"),
            &LocalChain {
                chain_id: "rotation-test".into(),
                epoch_length_ms: 1000,
                account: IdentityKey::from(&account),
                balance: 1000,
                minimum_bond: 10,
                mixnodes: 3,
                gateways: 1,
                key_rotation: Some((length_ms, overlap_ms)),
            },
        )
        .unwrap();
        let client = ValidatorClient::new(&validator.url).unwrap();
        let schedule = validator.genesis.rotation_schedule().unwrap();
        let hash = validator.genesis.genesis_hash().to_hex();
        let mut node = TestNode::init_with(
            home,
            "m1",
            &["--validator", &validator.url, "--genesis-hash", &hash],
        );
        bond(home, "m1", &account_file);
        let details = mixnode(home, &["node-details", "--id", "m1"]);
        let json: serde_json::Value = serde_json::from_slice(&details.stdout).unwrap();
        let identity: IdentityKey = json["identity_key"].as_str().unwrap().parse().unwrap();
        node.set_engine("replay_sync_ms", 20);
        // The probes arrive in plain framing: this test is about Sphinx keys, not links.
        node.set_engine_text("noise", "optional");
        node.start_checked(&["--shards", "1"]);
        Setup {
            _validator: validator,
            client,
            schedule,
            node,
            identity,
        }
    }

    /// The node's keys the chain holds, by rotation.
    fn keys_on_chain(&self) -> BTreeMap<u64, [u8; 32]> {
        block_on(self.client.sphinx_keys(&self.identity))
            .map(|view| {
                view.keys
                    .into_iter()
                    .map(|e| (e.rotation.0, *e.sphinx_key.as_bytes()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (bounded) until the chain holds the node's keys for `rotations`.
    fn wait_for_keys(&self, rotations: &[u64]) -> BTreeMap<u64, [u8; 32]> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let keys = self.keys_on_chain();
            if rotations.iter().all(|r| keys.contains_key(r)) {
                return keys;
            }
            assert!(
                Instant::now() < deadline,
                "keys for {rotations:?} never on the chain: {keys:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the clock is at least `offset_ms` into `rotation` (panics if already past
    /// `latest_ms` into it: the test would be probing the wrong moment).
    fn wait_until_into(&self, rotation: u64, offset_ms: u64, latest_ms: u64) {
        let start = self.schedule.start(RotationId(rotation));
        loop {
            let now = testnet::now_ms();
            assert!(
                now <= start + latest_ms,
                "missed the moment {offset_ms}-{latest_ms} ms into rotation {rotation} (now {} ms in)",
                now.saturating_sub(start)
            );
            if now >= start + offset_ms {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn current(&self) -> u64 {
        self.schedule.rotation_at(testnet::now_ms()).0
    }

    fn drops(&self, reason: &str) -> u64 {
        self.node.metric(&format!(
            "mixnet_packets_dropped_total{{reason=\"{reason}\"}}"
        ))
    }

    /// Sends a fresh `make()` packet every 50 ms until one is counted under `reason`
    /// (bounded): for a state the node reaches a moment after its metrics say so.
    fn expect_eventually(&self, make: impl Fn() -> Vec<u8>, reason: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let before = self.drops(reason);
            connect(self.node.addr).write_all(&make()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            if self.drops(reason) > before {
                return;
            }
            assert!(Instant::now() < deadline, "no packet counted as {reason}");
        }
    }

    /// Sends `frame` and waits until the node counted it under `reason`.
    fn expect(&self, frame: &[u8], reason: &str) {
        let before = self.drops(reason);
        connect(self.node.addr).write_all(frame).unwrap();
        let series = format!("mixnet_packets_dropped_total{{reason=\"{reason}\"}}");
        self.node.wait_metric(&series, |n| n > before);
    }
}

/// A packet to the node (with its `key`) and on to a host outside the topology.
fn probe(node: &TestNode, key: [u8; 32], message: &[u8]) -> sphinx_packet::SphinxPacket {
    let first = Node::new(
        NodeAddressBytes::from_bytes(router_core::wire::encode_node_address(&node.addr)),
        PublicKey::from(key),
    );
    let outside = Node::new(
        NodeAddressBytes::from_bytes(router_core::wire::encode_node_address(
            &"127.0.0.1:9".parse().unwrap(),
        )),
        PublicKey::from([9; 32]),
    );
    build_packet(&[first, outside], &[Duration::ZERO; 2], message)
}

const OPENED: &str = "next_hop_not_in_topology";

#[test]
fn keys_rotate_the_byte_picks_the_key_and_the_previous_one_lives_for_the_overlap() {
    let home = tempfile::tempdir().unwrap();
    // 8 s rotations (eight 1 s epochs), the previous key kept 3 s, the next one accepted
    // 1.5 s early: every probe below has a second or more of slack on a loaded machine.
    let s = Setup::start(home.path(), 8_000, 3_000);
    let first = s.current();
    s.wait_for_keys(&[first, first + 1]);
    let r = first + 1;
    s.wait_until_into(r, 0, 6_000);
    let keys = s.wait_for_keys(&[r - 1, r]);
    let (previous, current) = (keys[&(r - 1)], keys[&r]);
    assert_ne!(previous, current, "a new key for every rotation");
    s.node.wait_metric("mixnet_key_rotation", |n| n == r);

    // In the overlap: the previous key opens packets named for it, and v7 frames (no byte)
    // are tried with both keys.
    s.wait_until_into(r, 100, 1_200);
    s.expect(
        &frame_with(&probe(&s.node, previous, b"v7, old key"), None),
        OPENED,
    );
    let old = probe(&s.node, previous, b"v8, old key");
    s.expect(&frame_with(&old, Some(rotation_hint(r - 1))), OPENED);
    s.expect(
        &frame_with(&probe(&s.node, current, b"v7, new key"), None),
        OPENED,
    );
    s.expect(
        &frame_with(
            &probe(&s.node, current, b"v8, new key"),
            Some(rotation_hint(r)),
        ),
        OPENED,
    );
    assert_eq!(s.node.metric("mixnet_sphinx_keys_accepted"), 2);

    // After the overlap the previous key is gone: a frame naming it is refused as expired
    // without any work, a v7 frame fails the current key's MAC. (The node notices the end of
    // the overlap within a tick.)
    s.wait_until_into(r, 3_000, 4_500);
    s.node
        .wait_metric("mixnet_installed_sphinx_keys", |n| n == 1);
    s.expect(
        &frame_with(
            &probe(&s.node, previous, b"late"),
            Some(rotation_hint(r - 1)),
        ),
        "expired_key",
    );
    s.expect(
        &frame_with(&probe(&s.node, previous, b"late v7"), None),
        "header_mac",
    );
    let retired = home
        .path()
        .join(format!("mixnodes/m1/rotation/sphinx-{}.key", r - 1));
    assert!(!retired.exists(), "a retired key is wiped from disk");

    // A packet accepted just before the boundary, replayed just after it, is refused: the
    // previous key keeps its own filter through the overlap.
    s.wait_until_into(r, 6_000, 7_000);
    let crossing = frame_with(&probe(&s.node, current, b"across"), Some(rotation_hint(r)));
    s.expect(&crossing, OPENED);
    s.wait_until_into(r + 1, 50, 1_500);
    s.expect(&crossing, "replayed");
    let next = s.wait_for_keys(&[r + 1])[&(r + 1)];
    s.expect(
        &frame_with(
            &probe(&s.node, next, b"next key"),
            Some(rotation_hint(r + 1)),
        ),
        OPENED,
    );

    // The operator sees it all.
    let metrics = s.node.metrics();
    for series in [
        "mixnet_key_rotation_seconds_to_next",
        "mixnet_sphinx_key_on_chain{rotation=\"current\"} 1",
        "mixnet_replay_filter_fill_ratio{key=",
        "mixnet_replay_filter_false_positive_rate{key=",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}

#[test]
fn after_sigkill_the_keys_in_use_are_quarantined_and_the_node_moves_to_its_next_key() {
    let home = tempfile::tempdir().unwrap();
    // 8 s rotations: the kill and the restart fit in one.
    let mut s = Setup::start(home.path(), 8_000, 2_000);
    let first = s.current();
    s.wait_for_keys(&[first, first + 1]);
    let r = first + 1;
    s.wait_until_into(r, 2_100, 3_000);
    let keys = s.wait_for_keys(&[r, r + 1]);
    s.node.wait_metric("mixnet_key_rotation", |n| n == r);
    // the previous key leaves within a tick of the overlap's end
    s.node
        .wait_metric("mixnet_installed_sphinx_keys", |n| n == 1);
    let seen = frame_with(
        &probe(&s.node, keys[&r], b"before the crash"),
        Some(rotation_hint(r)),
    );
    s.expect(&seen, OPENED);
    s.node
        .wait_metric("mixnet_replay_tags_durable_total", |n| n >= 1);
    s.node.signal("KILL");
    assert_eq!(s.node.wait_exit(), None);

    s.node.start_checked(&["--shards", "1"]);
    s.node
        .wait_metric("mixnet_sphinx_keys_quarantined", |n| n == 1);
    s.node.wait_metric("mixnet_key_rotation", |n| n == r);
    assert!(
        s.current() == r,
        "the restart took the rest of the rotation"
    );
    // The next key, never exposed by the crash, is accepted early: once a packet for it is
    // opened, the shard has left the static key it starts with for the rotation's ring.
    s.expect_eventually(
        || {
            frame_with(
                &probe(&s.node, keys[&(r + 1)], b"next key early"),
                Some(rotation_hint(r + 1)),
            )
        },
        OPENED,
    );
    // The key in use at the crash is refused whichever way a packet names it: its replays
    // are refused like everything else.
    s.expect(&seen, "expired_key");
    s.expect(
        &frame_with(&probe(&s.node, keys[&r], b"fresh, old key"), None),
        "header_mac",
    );
    // And at the next rotation the node is whole again, the quarantined key wiped.
    s.wait_until_into(r + 1, 100, 2_000);
    s.expect(
        &frame_with(
            &probe(&s.node, keys[&(r + 1)], b"next rotation"),
            Some(rotation_hint(r + 1)),
        ),
        OPENED,
    );
    s.wait_until_into(r + 1, 2_200, 6_000);
    s.node
        .wait_metric("mixnet_sphinx_keys_quarantined", |n| n == 0);
    assert!(!home
        .path()
        .join(format!("mixnodes/m1/rotation/sphinx-{r}.key"))
        .exists());
}
