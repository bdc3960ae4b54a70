//! Blocks travel between validators as a stream of proposal parts: `Init` (height, round,
//! proposer), the block's bytes in `Data` chunks, and `Fin` with the proposer's signature
//! over `height || round || SHA-256(bytes)`. This module cuts a block into parts and puts
//! streams back together, with every buffer bounded: a peer (validator or not, honest or not)
//! can hold at most [`Limits::streams_per_peer`] open streams, each at most
//! [`Limits::max_stream_bytes`] and [`Limits::max_parts`] long, and streams for heights other
//! than the current one and the next are dropped.

use std::collections::BTreeMap;

use malachitebft_core_types::Round;
use malachitebft_engine::util::streaming::{StreamContent, StreamId, StreamMessage};
use sha2::{Digest, Sha256};

use super::context::{Address, Height, ProposalPart};
use super::signing::Signature;

/// Size of a `Data` part.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Bounds of the reassembly buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open streams per peer.
    pub streams_per_peer: usize,
    /// Open streams in total.
    pub streams_total: usize,
    /// Data bytes per stream.
    pub max_stream_bytes: usize,
    /// Parts per stream (Init, Data…, Fin).
    pub max_parts: u64,
}

impl Limits {
    /// Limits for blocks of at most `max_block_bytes`.
    pub fn for_blocks(max_block_bytes: usize) -> Self {
        let chunks = max_block_bytes.div_ceil(CHUNK_BYTES);
        Self {
            streams_per_peer: 4,
            streams_total: 64,
            max_stream_bytes: max_block_bytes,
            max_parts: u64::try_from(chunks).unwrap_or(u64::MAX).saturating_add(2),
        }
    }
}

/// A whole streamed block, before anyone checked the signature or the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedBlock {
    /// Height from `Init`.
    pub height: Height,
    /// Round from `Init`.
    pub round: Round,
    /// Proposer from `Init`.
    pub proposer: Address,
    /// The block's encoded bytes.
    pub bytes: Vec<u8>,
    /// The `Fin` signature.
    pub signature: Signature,
}

/// What the proposer signs for a streamed block.
pub fn stream_digest(height: Height, round: Round, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 8 + 32);
    out.extend_from_slice(&height.0.to_be_bytes());
    out.extend_from_slice(&round.as_i64().to_be_bytes());
    out.extend_from_slice(&Sha256::digest(bytes));
    out
}

/// The stream id of our own proposal for `(height, round)`.
pub fn stream_id(height: Height, round: Round) -> StreamId {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&height.0.to_be_bytes());
    id.extend_from_slice(&round.as_i64().to_be_bytes());
    StreamId::new(id.into())
}

/// The messages that stream `bytes` as the block of `(height, round)` proposed by
/// `proposer`, closed by `signature` (over [`stream_digest`]).
pub fn split(
    height: Height,
    round: Round,
    proposer: Address,
    bytes: &[u8],
    signature: Signature,
) -> Vec<StreamMessage<ProposalPart>> {
    let id = stream_id(height, round);
    let mut parts = vec![ProposalPart::Init {
        height,
        round,
        proposer,
    }];
    parts.extend(
        bytes
            .chunks(CHUNK_BYTES)
            .map(|c| ProposalPart::Data(c.to_vec())),
    );
    parts.push(ProposalPart::Fin(signature));
    let mut out: Vec<StreamMessage<ProposalPart>> = parts
        .into_iter()
        .zip(0u64..)
        .map(|(part, seq)| StreamMessage::new(id.clone(), seq, StreamContent::Data(part)))
        .collect();
    let fin_seq = u64::try_from(out.len()).unwrap_or(u64::MAX);
    out.push(StreamMessage::new(id, fin_seq, StreamContent::Fin));
    out
}

/// Why a message was dropped (for the log and metrics).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The peer has too many open streams.
    #[error("too many open streams from this peer")]
    TooManyStreams,
    /// The stream is longer than any valid block.
    #[error("stream longer than a block may be")]
    TooLong,
    /// Parts out of shape: Init not first, two Inits, Data after Fin, a part after the end.
    #[error("malformed stream: {0}")]
    Malformed(&'static str),
    /// For a height we are not at (or one ahead of).
    #[error("stream for height {got}, we are at {current}")]
    WrongHeight {
        /// The stream's height.
        got: u64,
        /// Ours.
        current: u64,
    },
}

#[derive(Debug, Default)]
struct Partial {
    init: Option<(Height, Round, Address)>,
    parts: BTreeMap<u64, ProposalPart>,
    data_bytes: usize,
    end: Option<u64>,
}

impl Partial {
    fn complete(&self) -> Option<StreamedBlock> {
        let (height, round, proposer) = self.init?;
        let end = self.end?;
        // Sequences 0..end are all present (the Fin message itself is `end`).
        if u64::try_from(self.parts.len()).ok()? != end {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.data_bytes);
        let mut signature = None;
        for (seq, part) in &self.parts {
            match part {
                ProposalPart::Init { .. } if *seq == 0 => {}
                ProposalPart::Data(chunk) if signature.is_none() => bytes.extend_from_slice(chunk),
                ProposalPart::Fin(sig) if *seq + 1 == end => signature = Some(sig.clone()),
                _ => return None,
            }
        }
        Some(StreamedBlock {
            height,
            round,
            proposer,
            bytes,
            signature: signature?,
        })
    }
}

/// Streams being received, by peer and stream id.
#[derive(Debug)]
pub struct Reassembly<P> {
    limits: Limits,
    streams: BTreeMap<(P, StreamId), Partial>,
}

impl<P: Clone + Ord> Reassembly<P> {
    /// Empty buffers.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            streams: BTreeMap::new(),
        }
    }

    /// Open streams.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Drops every stream for a height below `current` or above `current + 1`.
    pub fn retain_heights(&mut self, current: Height) {
        self.streams.retain(|_, p| match p.init {
            Some((h, _, _)) => h.0 >= current.0 && h.0 <= current.0.saturating_add(1),
            None => true,
        });
    }

    /// Adds one message from `peer`; returns the block once its stream is complete. A
    /// message that breaks a limit or the stream's shape drops the whole stream.
    pub fn insert(
        &mut self,
        peer: P,
        msg: StreamMessage<ProposalPart>,
        current: Height,
    ) -> Result<Option<StreamedBlock>, StreamError> {
        let key = (peer, msg.stream_id.clone());
        let result = self.insert_inner(&key, msg, current);
        match &result {
            Ok(Some(_)) | Err(_) => {
                self.streams.remove(&key);
            }
            Ok(None) => {}
        }
        result
    }

    fn insert_inner(
        &mut self,
        key: &(P, StreamId),
        msg: StreamMessage<ProposalPart>,
        current: Height,
    ) -> Result<Option<StreamedBlock>, StreamError> {
        if !self.streams.contains_key(key) {
            let open_by_peer = self.streams.keys().filter(|(p, _)| *p == key.0).count();
            if open_by_peer >= self.limits.streams_per_peer
                || self.streams.len() >= self.limits.streams_total
            {
                return Err(StreamError::TooManyStreams);
            }
        }
        let limits = self.limits;
        if msg.sequence >= limits.max_parts.saturating_add(1) {
            return Err(StreamError::TooLong);
        }
        let partial = self.streams.entry(key.clone()).or_default();
        match msg.content {
            StreamContent::Fin => {
                if partial.end.is_some() {
                    return Err(StreamError::Malformed("two ends"));
                }
                if partial.parts.range(msg.sequence..).next().is_some() {
                    return Err(StreamError::Malformed("a part after the end"));
                }
                partial.end = Some(msg.sequence);
            }
            StreamContent::Data(part) => {
                if partial.end.is_some_and(|end| msg.sequence >= end) {
                    return Err(StreamError::Malformed("a part after the end"));
                }
                if partial.parts.contains_key(&msg.sequence) {
                    return Err(StreamError::Malformed("a sequence number twice"));
                }
                match &part {
                    ProposalPart::Init {
                        height,
                        round,
                        proposer,
                    } => {
                        if msg.sequence != 0 {
                            return Err(StreamError::Malformed("Init is not first"));
                        }
                        if height.0 < current.0 || height.0 > current.0.saturating_add(1) {
                            return Err(StreamError::WrongHeight {
                                got: height.0,
                                current: current.0,
                            });
                        }
                        partial.init = Some((*height, *round, *proposer));
                    }
                    ProposalPart::Data(chunk) => {
                        if msg.sequence == 0 {
                            return Err(StreamError::Malformed("Data before Init"));
                        }
                        partial.data_bytes = partial.data_bytes.saturating_add(chunk.len());
                        if partial.data_bytes > limits.max_stream_bytes {
                            return Err(StreamError::TooLong);
                        }
                    }
                    ProposalPart::Fin(_) => {
                        if msg.sequence == 0 {
                            return Err(StreamError::Malformed("Fin before Init"));
                        }
                    }
                }
                partial.parts.insert(msg.sequence, part);
            }
        }
        Ok(partial.complete())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn messages(height: u64, bytes: &[u8]) -> Vec<StreamMessage<ProposalPart>> {
        split(
            Height(height),
            Round::new(0),
            Address([9; 32]),
            bytes,
            Signature([7; 64]),
        )
    }

    #[test]
    fn a_block_split_and_reassembled_in_any_order_is_the_same_block() {
        let bytes = block(3 * CHUNK_BYTES + 17);
        let mut msgs = messages(5, &bytes);
        msgs.reverse();
        let mut r = Reassembly::new(Limits::for_blocks(1 << 20));
        let mut done = None;
        let n = msgs.len();
        for (i, m) in msgs.into_iter().enumerate() {
            let out = r.insert(1u8, m, Height(5)).unwrap();
            if i + 1 < n {
                assert!(out.is_none(), "complete before the last message");
            } else {
                done = out;
            }
        }
        let done = done.expect("complete after the last message");
        assert_eq!(done.bytes, bytes);
        assert_eq!(done.height, Height(5));
        assert_eq!(done.signature, Signature([7; 64]));
        assert!(r.is_empty(), "a finished stream is forgotten");
    }

    #[test]
    fn streams_longer_than_a_block_are_dropped() {
        let limits = Limits::for_blocks(2 * CHUNK_BYTES);
        let mut r = Reassembly::new(limits);
        let msgs = messages(5, &block(3 * CHUNK_BYTES));
        let mut errors = 0;
        for m in msgs {
            if r.insert(1u8, m, Height(5)).is_err() {
                errors += 1;
            }
        }
        assert!(errors >= 1);
        assert!(r.len() <= 1);
        // A sequence number beyond any valid block is refused at once.
        let far = StreamMessage::new(
            stream_id(Height(5), Round::new(3)),
            limits.max_parts + 5,
            StreamContent::Data(ProposalPart::Data(vec![0; 10])),
        );
        assert_eq!(r.insert(2u8, far, Height(5)), Err(StreamError::TooLong));
    }

    #[test]
    fn a_peer_cannot_open_more_than_its_share_of_streams() {
        let limits = Limits::for_blocks(1 << 20);
        let mut r = Reassembly::new(limits);
        for round in 0..limits.streams_per_peer {
            let m = StreamMessage::new(
                stream_id(Height(5), Round::new(round as u32)),
                1,
                StreamContent::Data(ProposalPart::Data(vec![1])),
            );
            assert_eq!(r.insert(1u8, m, Height(5)), Ok(None));
        }
        let one_more = StreamMessage::new(
            stream_id(Height(5), Round::new(99)),
            1,
            StreamContent::Data(ProposalPart::Data(vec![1])),
        );
        assert_eq!(
            r.insert(1u8, one_more.clone(), Height(5)),
            Err(StreamError::TooManyStreams)
        );
        // Another peer still can.
        assert_eq!(r.insert(2u8, one_more, Height(5)), Ok(None));
    }

    #[test]
    fn old_and_far_future_heights_are_refused_and_pruned() {
        let mut r = Reassembly::new(Limits::for_blocks(1 << 20));
        let old = messages(3, &block(10)).remove(0);
        assert!(matches!(
            r.insert(1u8, old, Height(5)),
            Err(StreamError::WrongHeight { got: 3, .. })
        ));
        let far = messages(9, &block(10)).remove(0);
        assert!(r.insert(1u8, far, Height(5)).is_err());
        let next = messages(6, &block(10)).remove(0);
        assert_eq!(r.insert(1u8, next, Height(5)), Ok(None));
        r.retain_heights(Height(7));
        assert!(r.is_empty());
    }

    #[test]
    fn malformed_streams_are_dropped() {
        let mut r = Reassembly::new(Limits::for_blocks(1 << 20));
        let mut msgs = messages(5, &block(10));
        // Init at sequence 1.
        let mut bad = msgs[0].clone();
        bad.sequence = 1;
        assert!(r.insert(1u8, bad, Height(5)).is_err());
        // The same sequence twice.
        let first = msgs.remove(0);
        assert_eq!(r.insert(2u8, first.clone(), Height(5)), Ok(None));
        assert!(r.insert(2u8, first, Height(5)).is_err());
        assert!(r.is_empty());
    }
}
