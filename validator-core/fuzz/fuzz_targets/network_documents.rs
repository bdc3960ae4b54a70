//! The documents the network hands a node or a client, and a peer validator's request
//! envelope; the first input byte picks one of them and the rest is decoded as it:
//!
//! * a genesis file (TOML: parse and validation, `genesis` module);
//! * a signed topology, a topology and its node entries, a bonded node's descriptor (JSON,
//!   `topology` and `statement` modules), with the threshold check clients run against the
//!   test genesis (one entry point per type: signed topology, topology, mixnode, gateway,
//!   descriptor);
//! * the peer envelope's three headers and the body (`peer_auth`): the input's first three
//!   lines are the key, time and signature header values (a missing line, a missing header)
//!   and the rest is the body of a `POST /v1/peer/transactions`.
//!
//! Checks that nothing panics and that:
//!
//! * a parsed genesis writes back to TOML that parses to the same genesis with the same
//!   hash, and starts a chain or is refused;
//! * every JSON document round-trips to a fixed point; a topology's hash and canonical bytes
//!   do not depend on the order of its lists (once it lists no node twice);
//! * a signed topology that passes the threshold check is the one the test validators signed
//!   (fuzzed signatures, signers, thresholds and topologies never pass);
//! * parsed headers write back to the same headers; an envelope that passes the sender and
//!   body checks carries the deterministic signature of a test validator other than the
//!   receiver over that body, within the clock window.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use validator_core::api::PEER_TRANSACTIONS;
use validator_core::chain::ChainState;
use validator_core::genesis::Genesis;
use validator_core::peer_auth::{PeerAuth, MAX_CLOCK_SKEW_MS};
use validator_core::primitives::IdentityKey;
use validator_core::statement::NodeDescriptor;
use validator_core::test_util::{identity, validator_key};
use validator_core::topology::{
    epoch_at, verify_signed_topology, verify_signed_topology_for, SignedTopology, Topology,
    TopologyGateway, TopologyMixnode,
};

use common::{genesis, genesis_hash, json_round_trip, signed_topology, THRESHOLD, VALIDATORS};

/// Receiver of the envelopes: validator 0, at this time.
const NOW: u64 = 1_700_000_000_000;

fn genesis_file(text: &str) {
    let Ok(g) = Genesis::from_toml_str(text) else {
        return;
    };
    let written = g.to_toml_string().expect("a parsed genesis writes back");
    let again = Genesis::from_toml_str(&written).expect("a written genesis parses");
    assert_eq!(again, g, "genesis TOML round trip");
    assert_eq!(again.genesis_hash(), g.genesis_hash());
    let _ = (g.rotation_schedule(), g.validator_keys());
    let _ = epoch_at(&g, g.genesis_time_unix_ms.saturating_add(1));
    let _ = ChainState::genesis(&g);
}

fn topology(t: &Topology) {
    let _ = t.is_routable();
    // A topology listing a node twice is refused before its bytes matter.
    if t.validate().is_err() {
        return;
    }
    let mut reversed = t.clone();
    reversed.mixnodes.reverse();
    reversed.gateways.reverse();
    assert_eq!(
        reversed.canonical_bytes(),
        t.canonical_bytes(),
        "order matters"
    );
    assert_eq!(reversed.topology_hash(), t.topology_hash());
}

fn signed(s: &SignedTopology) {
    topology(&s.topology);
    let real = signed_topology();
    let verified = verify_signed_topology_for(s, genesis()).is_ok();
    let keys = genesis().validator_keys();
    for threshold in [0, 1, THRESHOLD as usize, keys.len() + 1] {
        if verify_signed_topology(s, &genesis_hash(), &keys, threshold).is_ok() {
            assert!((1..=keys.len()).contains(&threshold));
            assert_eq!(
                s.topology.canonical_bytes(),
                real.topology.canonical_bytes(),
                "a topology the validators did not sign passed the threshold check"
            );
        }
    }
    if verified {
        assert_eq!(
            s.topology.canonical_bytes(),
            real.topology.canonical_bytes()
        );
    }
}

fn envelope(data: &[u8]) {
    let mut lines = data.splitn(4, |b| *b == b'\n');
    let mut header = || lines.next().map(|l| std::str::from_utf8(l).unwrap_or(""));
    let (key, time, signature) = (header(), header(), header());
    let body = lines.next().unwrap_or(&[]);
    let Ok(auth) = PeerAuth::from_headers(key, time, signature) else {
        return;
    };
    let [k, t, s] = auth.headers();
    let again =
        PeerAuth::from_headers(Some(&k.1), Some(&t.1), Some(&s.1)).expect("written headers parse");
    assert_eq!(again, auth, "header round trip");
    let me = identity(&validator_key(0));
    let is_validator =
        |key: &IdentityKey| genesis().validators.iter().any(|v| v.identity_key == *key);
    let sender = auth.check_sender(is_validator, &me, NOW);
    let body_ok = auth
        .verify_body(&genesis_hash(), PEER_TRANSACTIONS, body)
        .is_ok();
    if sender.is_ok() {
        assert!(auth.key != me && is_validator(&auth.key));
        assert!(auth.time_ms.abs_diff(NOW) <= MAX_CLOCK_SKEW_MS);
    }
    if body_ok {
        let signer = (0..VALIDATORS)
            .map(validator_key)
            .find(|k| identity(k) == auth.key)
            .expect("only the test validators' envelopes verify");
        let real = PeerAuth::sign(
            &signer,
            &genesis_hash(),
            PEER_TRANSACTIONS,
            auth.time_ms,
            body,
        );
        assert_eq!(real, auth, "a verified envelope is the validator's own");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    match kind % 7 {
        0 => {
            if let Ok(text) = std::str::from_utf8(data) {
                genesis_file(text);
            }
        }
        1 => {
            if let Some(s) = json_round_trip::<SignedTopology>(data) {
                signed(&s);
            }
        }
        2 => {
            if let Some(t) = json_round_trip::<Topology>(data) {
                topology(&t);
            }
        }
        3 => {
            json_round_trip::<TopologyMixnode>(data);
        }
        4 => {
            json_round_trip::<TopologyGateway>(data);
        }
        5 => {
            if let Some(n) = json_round_trip::<NodeDescriptor>(data) {
                let _ = n.validate();
            }
        }
        _ => envelope(data),
    }
});
