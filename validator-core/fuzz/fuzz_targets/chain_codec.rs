//! The chain's byte forms a peer validator sends (proposals, sync): the first input byte picks
//! one of [`Block`], [`Transaction`] and [`StateSnapshot`] and the rest is decoded as it (one
//! entry point per input, so mutations of a seed stay on its decoder). Checks that nothing
//! panics and that:
//!
//! * a decoded block is canonical: its encoding is the input, it decodes again to the same
//!   block and its id is the id of the input bytes;
//! * a decoded transaction (JSON, not required to be canonical on its own: whitespace and
//!   escapes are accepted outside a block) re-encodes to a fixed point that decodes to the
//!   same value with the same id; verifying it against the test genesis (statement
//!   signatures, a spend's presentation with the validator's real Coconut check, a vote's
//!   signer, a key generation message's signature, a Sphinx key announcement's signature)
//!   gives a [`VerifiedTx`] that agrees with the transaction on id, length and tag, or an
//!   error; a verified transaction's length is its encoding's;
//! * a decoded block's transactions, under a header that fits the genesis state, validate or
//!   are refused, and a block the genesis state accepts leaves the state it came from alone;
//! * a decoded snapshot re-encodes to a value that decodes the same; restoring it on the test
//!   chain either fails or gives a state whose own snapshot restores to the same state hash,
//!   and the next block applies to it or is refused.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use validator_core::chain::{Block, ChainState, StateSnapshot, Transaction, VerifiedTx};
use validator_core::test_util::{next_block, FakeSpends};

use common::{genesis_state, json_round_trip, RealSpends};

fn transaction(tx: &Transaction) {
    let bytes = tx.encode();
    let again: Transaction = serde_json::from_slice(&bytes).expect("a transaction re-decodes");
    assert_eq!(&again, tx, "transaction round trip");
    assert_eq!(again.id(), tx.id(), "the id of the re-decoded transaction");
    assert_eq!(tx.encoded_len(), bytes.len());
    let state = genesis_state();
    for verified in [
        VerifiedTx::verify(tx.clone(), state, &RealSpends),
        VerifiedTx::verify(tx.clone(), state, &FakeSpends),
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(verified.tx(), tx);
        assert_eq!(verified.id(), tx.id(), "a verified transaction's id");
        assert_eq!(
            verified.encoded_len(),
            bytes.len(),
            "a verified transaction's length is its encoding's"
        );
        assert_eq!(verified.spend_tag().copied(), tx.spend_tag());
    }
}

fn block(bytes: &[u8]) {
    let Ok(block) = Block::decode(bytes) else {
        return;
    };
    let encoded = block.encode();
    assert_eq!(encoded, bytes, "a decoded block is canonical");
    assert_eq!(
        Block::decode(&encoded).expect("re-decodes"),
        block,
        "block round trip"
    );
    assert_eq!(
        block.id(),
        Block::id_of(bytes),
        "a block's id is its bytes'"
    );
    for tx in &block.transactions {
        transaction(tx);
    }
    let state = genesis_state();
    let _ = state.validate_block(&block, &FakeSpends);
    // The same transactions under a header that fits the genesis state reach the rules.
    let time = block
        .header
        .time_ms
        .max(state.last_time_ms().saturating_add(1));
    let fitted = next_block(state, time, block.transactions.clone());
    if let Ok(after) = state.validate_block(&fitted, &FakeSpends) {
        assert_eq!(after.height(), 1);
        assert_eq!(after.last_block(), fitted.id());
        assert_eq!(state.height(), 0, "validating leaves the state alone");
    }
}

fn snapshot(bytes: &[u8]) {
    let Some(snapshot) = json_round_trip::<StateSnapshot>(bytes) else {
        return;
    };
    assert_eq!(
        StateSnapshot::decode(bytes).as_ref().ok(),
        Some(&snapshot),
        "StateSnapshot::decode is the serde form"
    );
    let params = Arc::clone(genesis_state().params());
    let Ok(restored) = ChainState::from_snapshot(Arc::clone(&params), snapshot) else {
        return;
    };
    let again = ChainState::from_snapshot(
        Arc::clone(&params),
        StateSnapshot::decode(&restored.snapshot().encode()).expect("its own snapshot decodes"),
    )
    .expect("its own snapshot restores");
    assert_eq!(
        again.state_hash(),
        restored.state_hash(),
        "a restored state's snapshot restores to the same state"
    );
    let time = restored.last_time_ms().saturating_add(1);
    let _ = restored.validate_block(&next_block(&restored, time, Vec::new()), &FakeSpends);
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => block(data),
        1 => {
            if let Some(tx) = json_round_trip::<Transaction>(data) {
                transaction(&tx);
            }
        }
        _ => snapshot(data),
    }
});
