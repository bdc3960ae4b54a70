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

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
    use malachitebft_core_types::{
        CommitCertificate, CommitSignature, Context, NilOrVal, Round, SigningProvider, Validity,
    };
    use malachitebft_engine::util::streaming::{StreamContent, StreamMessage};
    use malachitebft_peer::PeerId;
    use malachitebft_sync::{
        RawDecidedValue, Request, Response, Status, ValueRequest, ValueResponse,
    };
    use validator_core::test_util::{genesis, validator_key};

    use crate::chain::context::{Address, ChainContext, Height, ProposalPart, ValueId};
    use crate::chain::signing::{Provider, Signature};

    fn round_trip<T>(value: T)
    where
        T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug,
    {
        let bytes = Codec::<T>::encode(&BorshCodec, &value).unwrap();
        let back: T = Codec::<T>::decode(&BorshCodec, bytes.clone()).unwrap();
        assert_eq!(back, value);
        // One byte more is refused, one byte less too.
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Codec::<T>::decode(&BorshCodec, Bytes::from(longer)).is_err());
        if !bytes.is_empty() {
            let shorter = bytes.slice(..bytes.len() - 1);
            assert!(Codec::<T>::decode(&BorshCodec, shorter).is_err());
        }
    }

    fn provider() -> Provider {
        Provider::new(validator_key(0), genesis(1, 10, 4, 3).genesis_hash())
    }

    fn me() -> Address {
        Address(validator_key(0).verifying_key().to_bytes())
    }

    #[test]
    fn every_engine_message_round_trips() {
        let ctx = ChainContext;
        let p = provider();
        let value = ValueId([5; 32]);
        let vote =
            p.sign_vote(ctx.new_precommit(Height(3), Round::new(2), NilOrVal::Val(value), me()));
        let nil = p.sign_vote(ctx.new_prevote(Height(3), Round::new(0), NilOrVal::Nil, me()));
        let proposal =
            p.sign_proposal(ctx.new_proposal(Height(3), Round::new(1), value, Round::Nil, me()));
        round_trip(SignedConsensusMsg::<ChainContext>::Vote(vote.clone()));
        round_trip(SignedConsensusMsg::<ChainContext>::Vote(nil));
        round_trip(SignedConsensusMsg::<ChainContext>::Proposal(proposal));
        round_trip(LivenessMsg::<ChainContext>::Vote(vote.clone()));

        for part in [
            ProposalPart::Init {
                height: Height(3),
                round: Round::new(1),
                proposer: me(),
            },
            ProposalPart::Data(vec![1, 2, 3]),
            ProposalPart::Fin(Signature([4; 64])),
        ] {
            round_trip(StreamMessage::new(
                crate::chain::streaming::stream_id(Height(3), Round::new(1)),
                1,
                StreamContent::Data(part),
            ));
        }
        round_trip(StreamMessage::<ProposalPart>::new(
            crate::chain::streaming::stream_id(Height(3), Round::new(1)),
            4,
            StreamContent::Fin,
        ));

        round_trip(ProposedValue::<ChainContext> {
            height: Height(3),
            round: Round::new(1),
            valid_round: Round::Nil,
            proposer: me(),
            value,
            validity: Validity::Invalid,
        });

        let certificate = CommitCertificate::<ChainContext> {
            height: Height(3),
            round: Round::new(1),
            value_id: value,
            commit_signatures: vec![CommitSignature::new(me(), vote.signature.clone())],
        };
        round_trip(certificate.clone());
        round_trip(Status::<ChainContext> {
            peer_id: PeerId::random(),
            tip_height: Height(9),
            history_min_height: Height(1),
        });
        round_trip(Request::<ChainContext>::ValueRequest(ValueRequest::new(
            Height(4),
        )));
        round_trip(Response::<ChainContext>::ValueResponse(ValueResponse::new(
            Height(4),
            Some(RawDecidedValue::new(
                Bytes::from_static(b"block"),
                certificate,
            )),
        )));
        round_trip(Response::<ChainContext>::ValueResponse(ValueResponse::new(
            Height(5),
            None,
        )));
    }
}
