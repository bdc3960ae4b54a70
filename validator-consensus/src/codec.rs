//! The engine's wire and WAL encoding: borsh, through the `borsh` features of Malachite's
//! crates, so one generic codec covers consensus messages, proposal parts, sync messages and
//! WAL entries. Decoding refuses trailing bytes.

use bytes::Bytes;
use malachitebft_codec::Codec;

/// Borsh for every type the engine asks for.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

/// A message that did not decode (or, never in practice, encode).
#[derive(Debug, thiserror::Error)]
#[error("borsh: {0}")]
pub struct CodecError(#[from] std::io::Error);

impl<T> Codec<T> for BorshCodec
where
    T: borsh::BorshSerialize + borsh::BorshDeserialize,
{
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<T, CodecError> {
        Ok(borsh::from_slice(&bytes)?)
    }

    fn encode(&self, msg: &T) -> Result<Bytes, CodecError> {
        Ok(Bytes::from(borsh::to_vec(msg)?))
    }
}

/// For tests: encodes `value`, checks that it decodes back unchanged and that one byte more,
/// or one less, is refused.
#[cfg(any(test, feature = "test-util"))]
pub fn assert_round_trip<T>(value: T)
where
    T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug,
{
    let bytes = Codec::<T>::encode(&BorshCodec, &value).expect("encodes");
    let back: T = Codec::<T>::decode(&BorshCodec, bytes.clone()).expect("decodes");
    assert_eq!(back, value);
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(Codec::<T>::decode(&BorshCodec, Bytes::from(longer)).is_err());
    if !bytes.is_empty() {
        let shorter = bytes.slice(..bytes.len() - 1);
        assert!(Codec::<T>::decode(&BorshCodec, shorter).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
    use malachitebft_core_types::{
        CommitCertificate, CommitSignature, Context, NilOrVal, Round, SigningProvider, Validity,
    };
    use validator_core::test_util::{genesis, validator_key};

    use crate::context::{Address, ChainContext, Height, ProposalPart, ValueId};
    use crate::signing::{Provider, Signature};

    fn provider() -> Provider {
        Provider::new(validator_key(0), genesis(1, 10, 4, 3).genesis_hash())
    }

    fn me() -> Address {
        Address(validator_key(0).verifying_key().to_bytes())
    }

    #[test]
    fn every_consensus_message_round_trips() {
        let ctx = ChainContext;
        let p = provider();
        let value = ValueId([5; 32]);
        let vote =
            p.sign_vote(ctx.new_precommit(Height(3), Round::new(2), NilOrVal::Val(value), me()));
        let nil = p.sign_vote(ctx.new_prevote(Height(3), Round::new(0), NilOrVal::Nil, me()));
        let proposal =
            p.sign_proposal(ctx.new_proposal(Height(3), Round::new(1), value, Round::Nil, me()));
        assert_round_trip(SignedConsensusMsg::<ChainContext>::Vote(vote.clone()));
        assert_round_trip(SignedConsensusMsg::<ChainContext>::Vote(nil));
        assert_round_trip(SignedConsensusMsg::<ChainContext>::Proposal(proposal));
        assert_round_trip(LivenessMsg::<ChainContext>::Vote(vote.clone()));

        for part in [
            ProposalPart::Init {
                height: Height(3),
                round: Round::new(1),
                proposer: me(),
            },
            ProposalPart::Data(vec![1, 2, 3]),
            ProposalPart::Fin(Signature([4; 64])),
        ] {
            assert_round_trip(part);
        }

        assert_round_trip(ProposedValue::<ChainContext> {
            height: Height(3),
            round: Round::new(1),
            valid_round: Round::Nil,
            proposer: me(),
            value,
            validity: Validity::Invalid,
        });

        assert_round_trip(CommitCertificate::<ChainContext> {
            height: Height(3),
            round: Round::new(1),
            value_id: value,
            commit_signatures: vec![CommitSignature::new(me(), vote.signature.clone())],
        });
    }
}
