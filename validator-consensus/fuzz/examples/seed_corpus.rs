//! Writes the checked-in seed corpora of this crate's targets:
//!
//! ```text
//! cd validator-consensus/fuzz && cargo run --example seed_corpus   # writes corpus/<target>/*
//! ```
//!
//! * `consensus_messages`: real messages as the engine encodes them (a signed precommit and
//!   prevote, a signed proposal, a liveness vote, the three proposal parts, a proposed value,
//!   a commit certificate), each behind the byte that routes it to its decoder;
//! * `block_streams`: its input is a sequence of `arbitrary` choices, not a message, so its
//!   seeds are pseudo-random bytes of a length that makes runs of a few hundred steps (an
//!   empty corpus grows its length limit too slowly to reach them).
//!
//! The output is deterministic.

use std::fs;
use std::path::Path;

use malachitebft_codec::Codec;
use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{
    CommitCertificate, CommitSignature, Context, NilOrVal, Round, SigningProvider, Validity,
};
use validator_consensus::codec::BorshCodec;
use validator_consensus::context::{Address, ChainContext, Height, ProposalPart, ValueId};
use validator_consensus::signing::Provider;
use validator_core::test_util::{genesis, validator_key};

fn encode<T>(kind: u8, value: &T) -> Vec<u8>
where
    BorshCodec: Codec<T>,
{
    let mut out = vec![kind];
    out.extend_from_slice(&BorshCodec.encode(value).expect("encodes"));
    out
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    fs::write(dir.join(name), bytes).expect("seed written");
}

fn main() {
    let ctx = ChainContext;
    let p = Provider::new(validator_key(0), genesis(1, 10, 4, 3).genesis_hash());
    let me = Address(validator_key(0).verifying_key().to_bytes());
    let value = ValueId([5; 32]);
    let (h, r) = (Height(3), Round::new(1));

    let precommit = p.sign_vote(ctx.new_precommit(h, r, NilOrVal::Val(value), me));
    let prevote = p.sign_vote(ctx.new_prevote(h, Round::new(0), NilOrVal::Nil, me));
    let proposal = p.sign_proposal(ctx.new_proposal(h, r, value, Round::Nil, me));
    let t = "consensus_messages";
    write(
        t,
        "precommit",
        &encode(
            0,
            &SignedConsensusMsg::<ChainContext>::Vote(precommit.clone()),
        ),
    );
    write(
        t,
        "prevote_nil",
        &encode(0, &SignedConsensusMsg::<ChainContext>::Vote(prevote)),
    );
    write(
        t,
        "proposal",
        &encode(0, &SignedConsensusMsg::<ChainContext>::Proposal(proposal)),
    );
    write(
        t,
        "liveness_vote",
        &encode(1, &LivenessMsg::<ChainContext>::Vote(precommit.clone())),
    );
    let init = ProposalPart::Init {
        height: h,
        round: r,
        proposer: me,
    };
    write(t, "part_init", &encode(2, &init));
    write(t, "part_data", &encode(2, &ProposalPart::Data(vec![7; 40])));
    write(
        t,
        "part_fin",
        &encode(2, &ProposalPart::Fin(precommit.signature.clone())),
    );
    write(
        t,
        "proposed_value",
        &encode(
            3,
            &ProposedValue::<ChainContext> {
                height: h,
                round: r,
                valid_round: Round::Nil,
                proposer: me,
                value,
                validity: Validity::Valid,
            },
        ),
    );
    write(
        t,
        "commit_certificate",
        &encode(
            4,
            &CommitCertificate::<ChainContext> {
                height: h,
                round: r,
                value_id: value,
                commit_signatures: vec![CommitSignature::new(me, precommit.signature.clone())],
            },
        ),
    );

    // xorshift64*: deterministic filler for the step-driven target.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for (i, len) in [512usize, 2048, 4096].into_iter().enumerate() {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect();
        write("block_streams", &format!("random_{i}"), &bytes);
    }
}
