//! Writes the checked-in seed corpora of this crate's targets from real encodings, built
//! with the targets' own fixtures (`fuzz_targets/common.rs`), so the seeds start where the
//! targets' checks can pass:
//!
//! ```sh
//! cd validator-core/fuzz && cargo run --example seed_corpus   # writes corpus/<target>/*
//! ```
//!
//! The output is deterministic (seeded RNGs, deterministic signatures). Every target but
//! `chain_state` routes an input to one decoder by its first byte; each seed starts with the
//! byte of the decoder it is a real encoding for.

#[path = "../fuzz_targets/common.rs"]
mod common;

use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;
use validator_core::api::{ApiError, BlindSignBody, StatementAccepted};
use validator_core::chain::dkg::{DkgBody, Phase};
use validator_core::chain::sphinx_keys::SphinxKeyAnnouncement;
use validator_core::chain::{Block, TopologyVote, Transaction};
use validator_core::coconut::dkg::{disclose, Disclosure, DleqProof};
use validator_core::credential::request_digest;
use validator_core::peer_auth::PeerAuth;
use validator_core::rotation::RotationId;
use validator_core::statement::{NodeRole, SignedStatement, Statement};
use validator_core::test_util::{
    account_key, bond, deposit, fake_spend, identity, next_block, node, node_key, sphinx_key,
    validator_key, FakeSpends,
};

use common::{credentials, genesis, genesis_hash, genesis_state, phases, signed_topology};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(name), bytes).expect("seed written");
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("encodes")
}

/// A seed for entry point `kind` of a routed target: the selector byte, then `bytes`.
fn routed(target: &str, name: &str, kind: u8, bytes: &[u8]) {
    write(target, name, &[&[kind][..], bytes].concat());
}

fn main() {
    let gh = genesis_hash();
    let state = genesis_state();
    let c = credentials();

    // chain_codec (0 block, 1 transaction, 2 snapshot): a busy block 1, an empty one, one
    // with a single transaction, every kind of transaction, the snapshots before and after
    // block 1.
    let vote = TopologyVote::sign(
        &state
            .topology_record(validator_core::topology::EpochId(0))
            .expect("epoch 0")
            .topology,
        &gh,
        &validator_key(1),
    );
    let txs = vec![
        Transaction::Statement(bond(gh, 0, 0, 1, NodeRole::Mixnode, 500)),
        Transaction::Statement(deposit(gh, 1, 0, 64, 3)),
        Transaction::Spend(Box::new(fake_spend(1, 1, 1))),
        Transaction::TopologySignature(vote),
    ];
    let block = next_block(state, state.last_time_ms() + 1, txs.clone());
    let after = state
        .validate_block(&block, &FakeSpends)
        .expect("the seed block is valid");
    routed("chain_codec", "block", 0, &block.encode());
    let empty = next_block(state, state.last_time_ms() + 60_000, Vec::new());
    routed("chain_codec", "empty_block", 0, &empty.encode());
    let single = next_block(state, state.last_time_ms() + 1, vec![txs[1].clone()]);
    routed("chain_codec", "single_tx_block", 0, &single.encode());
    let real_spend = Transaction::Spend(Box::new(c.spend.clone()));
    for (name, tx) in [
        ("statement_tx", &txs[0]),
        ("deposit_tx", &txs[1]),
        ("fake_spend_tx", &txs[2]),
        ("vote_tx", &txs[3]),
        ("real_spend_tx", &real_spend),
    ] {
        routed("chain_codec", name, 1, &tx.encode());
    }
    routed("chain_codec", "snapshot", 2, &after.snapshot().encode());
    routed(
        "chain_codec",
        "genesis_snapshot",
        2,
        &state.snapshot().encode(),
    );
    assert_eq!(Block::decode(&block.encode()).expect("decodes"), block);

    // chain_state: structured steps read with `arbitrary` (byte patterns, as the other crates).
    write("chain_state", "zeros", &[0u8; 256]);
    write("chain_state", "ramp", &(0..=255u8).collect::<Vec<_>>());
    let mixed: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write("chain_state", "mixed", &mixed);
    write("chain_state", "ones", &[0xffu8; 128]);

    // api_bodies: each POST body under its selector (see the target), a few answers.
    let statement = bond(gh, 0, 0, 2, NodeRole::Gateway, 700);
    routed("api_bodies", "statement", 0, &json(&statement));
    routed(
        "api_bodies",
        "statement_deposit",
        0,
        &json(&deposit(gh, 1, 0, 64, 3)),
    );
    routed("api_bodies", "spend", 3, &json(&c.spend));
    routed("api_bodies", "fake_spend", 3, &json(&fake_spend(1, 1, 1)));
    let digest = request_digest(&c.request, &c.public);
    let st = Statement::deposit(gh, identity(&account_key(2)), 0, c.public.bandwidth, digest);
    let blind_sign = BlindSignBody {
        deposit: SignedStatement::sign(st, &account_key(2)).expect("signs"),
        request: c.request.clone(),
        public_attributes: c.public.clone(),
    };
    routed("api_bodies", "blind_sign", 2, &json(&blind_sign));
    let announcement =
        SphinxKeyAnnouncement::sign(&gh, &node_key(1), RotationId(0), sphinx_key(40));
    routed("api_bodies", "sphinx_key", 1, &json(&announcement));
    let next_rotation =
        SphinxKeyAnnouncement::sign(&gh, &node_key(2), RotationId(1), sphinx_key(41));
    routed("api_bodies", "sphinx_key_next", 1, &json(&next_rotation));
    routed("api_bodies", "peer_transaction", 4, &txs[1].encode());
    routed("api_bodies", "peer_vote", 4, &txs[3].encode());
    routed("api_bodies", "peer_spend", 4, &real_spend.encode());
    routed(
        "api_bodies",
        "unsigned_statement",
        5,
        &json(&statement.statement),
    );
    routed(
        "api_bodies",
        "node_descriptor",
        6,
        &json(&node(5, NodeRole::Mixnode)),
    );
    routed(
        "api_bodies",
        "statement_body",
        7,
        &json(&blind_sign.deposit.statement.body),
    );
    routed(
        "api_bodies",
        "statement_accepted",
        9,
        &json(&StatementAccepted {
            statement_id: statement.id(),
            admitted_at_height: 3,
        }),
    );
    routed(
        "api_bodies",
        "api_error",
        18,
        &json(&ApiError {
            kind: "bad_signature".into(),
            error: "the signature does not verify".into(),
        }),
    );
    routed("api_bodies", "key_set", 19, &json(&c.key_set));

    // coconut_encoding: a kind byte, then bytes (or base58 text).
    let coconut: [(&str, u8, Vec<u8>); 10] = [
        ("theta", 0, c.theta().to_bytes()),
        ("theta_bs58", 0, c.theta().to_bs58().into_bytes()),
        ("signature", 1, c.signature.to_bytes()),
        ("verification_key", 2, c.key_set.aggregate.to_bytes()),
        ("blinded_signature", 3, c.blinded[0].to_bytes()),
        ("blind_sign_request", 4, c.request.to_bytes()),
        ("blind_sign_proof", 5, c.request.pi_s().to_bytes()),
        ("credential_proof", 6, c.theta().pi_v().to_bytes()),
        ("secret_key", 7, c.keys[0].secret_key().to_bytes().to_vec()),
        ("openings", 8, c.openings.to_bytes().to_vec()),
    ];
    for (name, kind, bytes) in coconut {
        write("coconut_encoding", name, &[&[kind][..], &bytes].concat());
    }

    // dkg_messages: kind, phase, sender, payload.
    let (all, done) = phases();
    let phase_of = |phase: Phase| {
        all.iter()
            .position(|p| p.run().phase == phase)
            .expect("the fixture run has every phase") as u8
    };
    let dealing = done.dealings.get(&2).expect("dealer 2 dealt");
    let opening = done.openings.get(&2).expect("dealer 2 opened");
    let complaints = all[phase_of(Phase::Complaints) as usize]
        .params
        .as_ref()
        .expect("parameters");
    let mut rng = StdRng::seed_from_u64(11);
    let disclosure = disclose(complaints, dealing, 1, &all[0].sks[0], &mut rng).expect("discloses");
    let reveal = disclose(
        complaints,
        done.dealings.get(&4).expect("dealer 4 dealt"),
        1,
        &all[0].sks[0],
        &mut rng,
    )
    .expect("discloses");
    let register = all[0].sks[0].public();
    let message = validator_core::chain::dkg::DkgMessage::sign(
        &gh,
        all[0].run().id,
        DkgBody::Register(register),
        &validator_key(0),
    );
    let proof = disclosure.to_bytes()[Disclosure::BYTES - DleqProof::BYTES..].to_vec();
    let dkg: [(&str, u8, u8, u8, Vec<u8>); 14] = [
        (
            "message",
            phase_of(Phase::Registration),
            0,
            0,
            json(&message),
        ),
        (
            "body_register",
            phase_of(Phase::Registration),
            0,
            1,
            json(&DkgBody::Register(register)),
        ),
        (
            "dealing",
            phase_of(Phase::Dealing),
            1,
            2,
            dealing.to_bytes(),
        ),
        (
            "opening",
            phase_of(Phase::Opening),
            1,
            3,
            opening.to_bytes(),
        ),
        (
            "complaint",
            phase_of(Phase::Complaints),
            0,
            4,
            disclosure.to_bytes(),
        ),
        (
            "reveal",
            phase_of(Phase::Reconstruction),
            0,
            4,
            reveal.to_bytes(),
        ),
        (
            "public_key",
            phase_of(Phase::Registration),
            2,
            5,
            register.to_bytes().to_vec(),
        ),
        (
            "body_dealing",
            phase_of(Phase::Dealing),
            1,
            1,
            json(&DkgBody::Dealing(Box::new(dealing.clone()))),
        ),
        (
            "complaints_two",
            phase_of(Phase::Complaints),
            0,
            4,
            [disclosure.to_bytes(), reveal.to_bytes()].concat(),
        ),
        ("dleq_proof", phase_of(Phase::Complaints), 0, 6, proof),
        (
            "dealing_hex",
            phase_of(Phase::Dealing),
            0,
            7,
            dealing.to_hex().into_bytes(),
        ),
        (
            "opening_hex",
            phase_of(Phase::OpeningComplaints),
            0,
            8,
            opening.to_hex().into_bytes(),
        ),
        (
            "disclosure_hex",
            phase_of(Phase::Complaints),
            0,
            9,
            disclosure.to_hex().into_bytes(),
        ),
        (
            "public_key_hex",
            phase_of(Phase::Registration),
            0,
            10,
            register.to_hex().into_bytes(),
        ),
    ];
    for (name, phase, sender, kind, payload) in dkg {
        write(
            "dkg_messages",
            name,
            &[&[kind, phase, sender][..], &payload].concat(),
        );
    }

    // network_documents (0 genesis, 1 signed topology, 2 topology, 3 mixnode, 4 gateway,
    // 5 node descriptor, 6 envelope).
    routed(
        "network_documents",
        "genesis",
        0,
        genesis().to_toml_string().expect("writes").as_bytes(),
    );
    let signed = signed_topology();
    routed("network_documents", "signed_topology", 1, &json(signed));
    routed("network_documents", "topology", 2, &json(&signed.topology));
    routed(
        "network_documents",
        "mixnode",
        3,
        &json(&signed.topology.mixnodes[1]),
    );
    routed(
        "network_documents",
        "mixnode_layer1",
        3,
        &json(&signed.topology.mixnodes[0]),
    );
    routed(
        "network_documents",
        "gateway",
        4,
        &json(&signed.topology.gateways[0]),
    );
    routed(
        "network_documents",
        "node_descriptor",
        5,
        &json(&node(5, NodeRole::Gateway)),
    );
    for (name, signer, tx) in [("envelope", 1, &txs[1]), ("envelope_vote", 2, &txs[3])] {
        let body = tx.encode();
        let auth = PeerAuth::sign(
            &validator_key(signer),
            &gh,
            validator_core::api::PEER_TRANSACTIONS,
            1_700_000_000_000,
            &body,
        );
        let [k, t, s] = auth.headers();
        let envelope = [
            k.1.as_bytes(),
            b"\n",
            t.1.as_bytes(),
            b"\n",
            s.1.as_bytes(),
            b"\n",
            &body,
        ]
        .concat();
        routed("network_documents", name, 6, &envelope);
    }
}
