//! The engine's envelope around our block streams: [`StreamPart`] (the engine-free form the
//! reassembly works on) to and from Malachite's `StreamMessage`. The tests check that every
//! message the engine sends or stores goes through our borsh codec unchanged.

use malachitebft_engine::util::streaming::{StreamContent, StreamId, StreamMessage};

use super::context::ProposalPart;
use super::streaming::StreamPart;

/// A stream message as the engine publishes it.
pub fn to_engine(part: StreamPart) -> StreamMessage<ProposalPart> {
    let content = match part.content {
        Some(p) => StreamContent::Data(p),
        None => StreamContent::Fin,
    };
    StreamMessage::new(StreamId::new(part.stream_id), part.sequence, content)
}

/// A stream message the engine received.
pub fn from_engine(msg: StreamMessage<ProposalPart>) -> StreamPart {
    StreamPart {
        stream_id: msg.stream_id.to_bytes(),
        sequence: msg.sequence,
        content: msg.content.into_data(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use malachitebft_core_types::{CommitCertificate, CommitSignature, Round};
    use malachitebft_peer::PeerId;
    use malachitebft_sync::{
        RawDecidedValue, Request, Response, Status, ValueRequest, ValueResponse,
    };

    use crate::chain::codec::assert_round_trip;
    use crate::chain::context::{Address, ChainContext, Height, ValueId};
    use crate::chain::signing::Signature;
    use crate::chain::streaming::{split, stream_id};

    #[test]
    fn a_streamed_block_crosses_the_engine_unchanged() {
        let parts = split(
            Height(3),
            Round::new(1),
            Address([2; 32]),
            &[7; 100],
            Signature([4; 64]),
        );
        assert!(parts.last().is_some_and(|p| p.content.is_none()));
        for part in parts {
            let msg = to_engine(part.clone());
            assert_eq!(
                msg.stream_id,
                StreamId::new(stream_id(Height(3), Round::new(1)))
            );
            assert_eq!(msg.content.is_fin(), part.content.is_none());
            assert_round_trip(msg.clone());
            assert_eq!(from_engine(msg), part);
        }
    }

    #[test]
    fn every_sync_message_round_trips() {
        let me = Address([2; 32]);
        let certificate = CommitCertificate::<ChainContext> {
            height: Height(3),
            round: Round::new(1),
            value_id: ValueId([5; 32]),
            commit_signatures: vec![CommitSignature::new(me, Signature([4; 64]))],
        };
        assert_round_trip(Status::<ChainContext> {
            peer_id: PeerId::random(),
            tip_height: Height(9),
            history_min_height: Height(1),
        });
        assert_round_trip(Request::<ChainContext>::ValueRequest(ValueRequest::new(
            Height(4),
        )));
        assert_round_trip(Response::<ChainContext>::ValueResponse(ValueResponse::new(
            Height(4),
            Some(RawDecidedValue::new(
                Bytes::from_static(b"block"),
                certificate,
            )),
        )));
        assert_round_trip(Response::<ChainContext>::ValueResponse(ValueResponse::new(
            Height(5),
            None,
        )));
    }
}
