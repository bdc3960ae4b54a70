//! The validator HTTP API's bodies, as `validator/src/service/http.rs` decodes them with
//! `serde_json::from_slice` (the first input byte picks one type, the rest is its body): a
//! statement (`POST
//! /v1/statements`), a Sphinx key announcement (`POST /v1/sphinx-keys`), a blind-sign request
//! (`POST /v1/credentials/blind-sign`), a spend (`POST /v1/credentials/spend`), a peer's
//! transaction (`POST /v1/peer/transactions`); the statement types on their own; and the
//! answers `validator-client` decodes from a validator. Checks that nothing panics and that:
//!
//! * every decoded value encodes to a fixed point that decodes to the same value;
//! * the checks the service runs on each pass or fail without panicking: a statement's
//!   well-formedness and signature, [`VerifiedTx::verify`] against the test genesis (with the
//!   validator's real Coconut presentation check for spends), mempool admission on the
//!   genesis state, an announcement's signature, a blind-sign body's attributes, request
//!   digest, deposit match and proof, and the blind signature itself with a test key;
//! * what verifies is consistent: a statement that passes [`VerifiedTx::verify`] passes
//!   [`SignedStatement::verify`] and names the test chain, an announcement that passes
//!   verifies under its node's key, a spend that passes has the presentation's tag, and a
//!   blind signature is only made for a request whose proof verifies.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use validator_core::api::{
    AccountView, ApiError, BlindSignAnswer, BlindSignBody, BlockSummary, KeyEpochView,
    NodeSphinxKeys, SpendAnswer, SpendBody, SpentAnswer, SphinxKeyAccepted, StatementAccepted,
    Status,
};
use validator_core::chain::sphinx_keys::SphinxKeyAnnouncement;
use validator_core::chain::{Mempool, MempoolLimits, Transaction, VerifiedTx};
use validator_core::coconut::blind_sign;
use validator_core::credential::{request_digest, VerificationKeySet};
use validator_core::statement::{NodeDescriptor, SignedStatement, Statement, StatementBody};
use validator_core::test_util::FakeSpends;

use common::{credentials, genesis_hash, genesis_state, json_round_trip, RealSpends};

/// Verifies `tx` as the handler does and offers it to a mempool on the genesis state.
fn admit(tx: Transaction) -> bool {
    let state = genesis_state();
    match VerifiedTx::verify(tx, state, &RealSpends) {
        Ok(verified) => {
            let mut mempool = Mempool::new(state, MempoolLimits::default());
            let _ = mempool.insert(verified);
            true
        }
        Err(e) => {
            let _ = (e.kind(), e.to_string());
            false
        }
    }
}

fn statement(signed: SignedStatement) {
    let well_formed = signed.statement.check_well_formed();
    let verified = signed.verify();
    if verified.is_ok() {
        assert!(well_formed.is_ok());
    }
    let _ = (signed.id(), signed.statement.signing_bytes());
    if admit(Transaction::Statement(signed.clone())) {
        assert!(
            verified.is_ok(),
            "a statement admitted without its signature"
        );
        assert_eq!(signed.statement.genesis_hash, genesis_hash());
    }
}

fn spend(body: SpendBody) {
    let _ = (body.public_attributes.validate(), body.context().to_bytes());
    let tag = body.theta.zeta_bytes();
    let state = genesis_state();
    if let Ok(verified) = VerifiedTx::verify(
        Transaction::Spend(Box::new(body.clone())),
        state,
        &RealSpends,
    ) {
        assert_eq!(verified.spend_tag(), Some(&tag));
        assert!(body.public_attributes.validate().is_ok());
    }
    let _ = VerifiedTx::verify(Transaction::Spend(Box::new(body)), state, &FakeSpends);
}

fn blind_sign_body(body: BlindSignBody) {
    let c = credentials();
    let attributes_ok = body.public_attributes.validate().is_ok();
    let digest = request_digest(&body.request, &body.public_attributes);
    // The service's `check_deposit`: the deposit pays the bandwidth for this request.
    let paid = matches!(
        &body.deposit.statement.body,
        StatementBody::Deposit { amount, credential_request_digest }
            if *amount == body.public_attributes.bandwidth && *credential_request_digest == digest
    );
    statement(body.deposit.clone());
    if attributes_ok && paid {
        let scalars = body.public_attributes.scalars();
        let proof = body.request.verify(&c.params, &scalars);
        let signed = blind_sign(&c.params, c.keys[0].secret_key(), &body.request, &scalars);
        if signed.is_ok() {
            assert!(
                proof.is_ok(),
                "a blind signature for a request whose proof fails"
            );
        }
    }
}

/// The entry points, picked by the first input byte (modulo their number).
const KINDS: u8 = 20;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    match kind % KINDS {
        0 => {
            if let Some(s) = json_round_trip::<SignedStatement>(data) {
                statement(s);
            }
        }
        1 => {
            if let Some(a) = json_round_trip::<SphinxKeyAnnouncement>(data) {
                let signed = a.verify(&genesis_hash());
                if admit(Transaction::SphinxKey(a)) {
                    assert!(signed, "an announcement admitted without its signature");
                }
            }
        }
        2 => {
            if let Some(b) = json_round_trip::<BlindSignBody>(data) {
                blind_sign_body(b);
            }
        }
        3 => {
            if let Some(s) = json_round_trip::<SpendBody>(data) {
                spend(s);
            }
        }
        4 => {
            if let Some(tx) = json_round_trip::<Transaction>(data) {
                let _ = (tx.id(), tx.spend_tag(), tx.account());
                admit(tx);
            }
        }
        5 => {
            if let Some(s) = json_round_trip::<Statement>(data) {
                let _ = (s.check_well_formed(), s.id());
            }
        }
        6 => {
            if let Some(n) = json_round_trip::<NodeDescriptor>(data) {
                let _ = n.validate();
                let _ = n.bond_consent_bytes(&genesis_hash(), &n.identity_key);
            }
        }
        7 => {
            json_round_trip::<StatementBody>(data);
        }
        // The answers a client decodes.
        8 => {
            json_round_trip::<Status>(data);
        }
        9 => {
            json_round_trip::<StatementAccepted>(data);
        }
        10 => {
            json_round_trip::<SphinxKeyAccepted>(data);
        }
        11 => {
            json_round_trip::<NodeSphinxKeys>(data);
        }
        12 => {
            json_round_trip::<AccountView>(data);
        }
        13 => {
            json_round_trip::<BlindSignAnswer>(data);
        }
        14 => {
            json_round_trip::<SpendAnswer>(data);
        }
        15 => {
            json_round_trip::<SpentAnswer>(data);
        }
        16 => {
            json_round_trip::<BlockSummary>(data);
        }
        17 => {
            json_round_trip::<KeyEpochView>(data);
        }
        18 => {
            json_round_trip::<ApiError>(data);
        }
        _ => {
            if let Some(set) = json_round_trip::<VerificationKeySet>(data) {
                let _ = set.validate();
            }
        }
    }
});
