//! Every consensus message a peer validator (or anyone who reaches the validators' p2p port)
//! can send, through the codec the engine decodes it with. The first byte picks the type, the
//! rest is its borsh encoding; seeds are real messages (`examples/seed_corpus.rs`). For each
//! input that decodes, the target checks that:
//!
//! * the encoding is canonical: the value encodes back to exactly the input's bytes, which
//!   decode to the same value (so no two encodings of one vote, and signatures, which cover a
//!   re-encoding, cover what was received);
//! * signature checks of votes, proposals, parts and commit signatures from any address,
//!   member or not, curve point or not, answer without panicking, and a forged signature
//!   never verifies;
//! * our own signature over the decoded message verifies, and no longer does after one
//!   field changes or on another chain;
//! * the proposer rotation for any decoded height and round names a member.
#![no_main]

use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use libfuzzer_sys::fuzz_target;
use malachitebft_codec::Codec;
use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{
    CommitCertificate, Context, NilOrVal, Round, SigningProvider, Validator as _, ValidatorSet as _,
};
use validator_consensus::codec::BorshCodec;
use validator_consensus::context::{
    Address, ChainContext, Height, Proposal, ProposalPart, ValidatorSet, Vote,
};
use validator_consensus::signing::{Provider, Signature};
use validator_core::test_util::{genesis, validator_key};

const VALIDATORS: u32 = 4;

struct Fixture {
    set: ValidatorSet,
    /// Validator 0's key, which the seeds' signatures are made with.
    key0: VerifyingKey,
    ours: Provider,
    other_chain: Provider,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let g = genesis(1, 10, VALIDATORS, 3);
        Fixture {
            set: ValidatorSet::from_genesis(&g),
            key0: validator_key(0).verifying_key(),
            ours: Provider::new(validator_key(0), g.genesis_hash()),
            other_chain: Provider::new(
                validator_key(0),
                genesis(2, 10, VALIDATORS, 3).genesis_hash(),
            ),
        }
    })
}

/// Decodes `bytes` as `T`; if it decodes, checks the encoding is canonical and returns it.
fn canonical<T>(bytes: &[u8]) -> Option<T>
where
    T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug,
{
    let value: T = Codec::<T>::decode(&BorshCodec, Bytes::copy_from_slice(bytes)).ok()?;
    let again = Codec::<T>::encode(&BorshCodec, &value).expect("a decoded value encodes");
    assert_eq!(&again[..], bytes, "a second encoding of {value:?}");
    let back: T = Codec::<T>::decode(&BorshCodec, again).expect("our own encoding decodes");
    assert_eq!(back, value);
    Some(value)
}

/// A member's key for `address`, if any; the address's own key otherwise (as a peer that
/// claims a non-member address would be checked), if it is a curve point.
fn key_for(address: &Address) -> Option<VerifyingKey> {
    let f = fixture();
    f.set
        .public_key(address)
        .copied()
        .or_else(|| address.identity().map(|k| k.verifying_key()))
}

fn check_rotation(height: Height, round: Round) {
    let f = fixture();
    let proposer = ChainContext.select_proposer(&f.set, height, round);
    assert!(f.set.get_by_address(proposer.address()).is_some());
    let index = ChainContext::proposer_index(f.set.count(), height, round);
    assert!(index < f.set.count());
}

fn check_vote(vote: &Vote, signature: &Signature) {
    let f = fixture();
    check_rotation(vote.height, vote.round);
    if let Some(key) = key_for(&vote.validator) {
        // Nobody outside holds a validator key: whatever the input says, it does not verify
        // unless it is one of the seeds' real signatures (which sign validator 0's messages).
        let verified = f.ours.verify_signed_vote(vote, signature, &key);
        if verified {
            assert_eq!(key, f.key0, "a forged vote verified");
        }
    }
    let ours = f.ours.sign_vote(vote.clone());
    let key0 = f.key0;
    assert!(f.ours.verify_signed_vote(vote, &ours.signature, &key0));
    assert!(!f
        .other_chain
        .verify_signed_vote(vote, &ours.signature, &key0));
    let mut changed = vote.clone();
    changed.height = Height(vote.height.0 ^ 1);
    assert!(!f.ours.verify_signed_vote(&changed, &ours.signature, &key0));
}

fn check_proposal(proposal: &Proposal, signature: &Signature) {
    let f = fixture();
    check_rotation(proposal.height, proposal.round);
    if let Some(key) = key_for(&proposal.validator) {
        if f.ours.verify_signed_proposal(proposal, signature, &key) {
            assert_eq!(key, f.key0, "a forged proposal verified");
        }
    }
    let ours = f.ours.sign_proposal(proposal.clone());
    let key0 = f.key0;
    assert!(f
        .ours
        .verify_signed_proposal(proposal, &ours.signature, &key0));
    // A proposal signature is not a vote signature on the same bytes' fields.
    let mut changed = proposal.clone();
    changed.value.0[0] ^= 1;
    assert!(!f
        .ours
        .verify_signed_proposal(&changed, &ours.signature, &key0));
}

fn check_part(part: &ProposalPart) {
    let f = fixture();
    if let ProposalPart::Init {
        height,
        round,
        proposer,
    } = part
    {
        check_rotation(*height, *round);
        let _ = key_for(proposer);
    }
    let ours = f.ours.sign_proposal_part(part.clone());
    let key0 = f.key0;
    assert!(f
        .ours
        .verify_signed_proposal_part(part, &ours.signature, &key0));
    assert!(!f
        .other_chain
        .verify_signed_proposal_part(part, &ours.signature, &key0));
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 7 {
        0 => match canonical::<SignedConsensusMsg<ChainContext>>(body) {
            Some(SignedConsensusMsg::Vote(v)) => check_vote(&v.message, &v.signature),
            Some(SignedConsensusMsg::Proposal(p)) => check_proposal(&p.message, &p.signature),
            None => {}
        },
        1 => {
            if let Some(LivenessMsg::Vote(v)) = canonical::<LivenessMsg<ChainContext>>(body) {
                check_vote(&v.message, &v.signature);
            }
        }
        2 => {
            if let Some(part) = canonical::<ProposalPart>(body) {
                check_part(&part);
            }
        }
        3 => {
            if let Some(p) = canonical::<ProposedValue<ChainContext>>(body) {
                check_rotation(p.height, p.round);
            }
        }
        4 => {
            if let Some(c) = canonical::<CommitCertificate<ChainContext>>(body) {
                check_rotation(c.height, c.round);
                let f = fixture();
                for s in &c.commit_signatures {
                    let vote = ChainContext.new_precommit(
                        c.height,
                        c.round,
                        NilOrVal::Val(c.value_id),
                        s.address,
                    );
                    if let Some(key) = key_for(&s.address) {
                        if f.ours.verify_signed_vote(&vote, &s.signature, &key) {
                            assert_eq!(key, f.key0, "a forged commit signature verified");
                        }
                    }
                }
            }
        }
        5 => {
            if let Some(v) = canonical::<Vote>(body) {
                check_vote(&v, &Signature([0; 64]));
            }
        }
        _ => {
            if let Some(p) = canonical::<Proposal>(body) {
                check_proposal(&p, &Signature([0; 64]));
            }
        }
    }
});
