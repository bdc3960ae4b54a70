//! Blocks travel between validators as a stream of proposal parts: `Init` (height, round,
//! proposer), the block's bytes in `Data` chunks, and `Fin` with the proposer's signature
//! over `height || round || SHA-256(bytes)`. This module cuts a block into parts and puts
//! streams back together, with every buffer bounded:
//! * a peer (validator or not, honest or not) holds at most [`Limits::streams_per_peer`] open
//!   streams, each at most [`Limits::max_stream_bytes`] of data and [`Limits::max_parts`]
//!   parts long;
//! * when [`Limits::streams_total`] streams are open, a new one takes the place of the oldest
//!   stream of the peer holding the most, so peers that fill the table cannot keep out a
//!   proposer that streams one block at a time;
//! * streams for heights other than the current one and the next are dropped, and so is a
//!   stream that never said its height once the height it was opened at has passed.
//!
//! The engine carries these messages as its `StreamMessage`; [`StreamPart`] is the same
//! message without the engine's types, so this logic (and its fuzz target) needs no network.

use std::collections::BTreeMap;

use bytes::Bytes;
use malachitebft_core_types::Round;
use sha2::{Digest, Sha256};

use crate::context::{Address, Height, ProposalPart};
use crate::signing::Signature;

/// One message of a block's stream: the stream id the sender chose, the message's place in
/// the stream, and a part, or `None` for the message that ends the stream (the engine's
/// `StreamContent::Fin`, which comes after the `Fin` part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPart {
    /// The sender's id for the stream (ours: [`stream_id`]).
    pub stream_id: Bytes,
    /// Position in the stream, from 0.
    pub sequence: u64,
    /// The part, or `None` for the end of the stream.
    pub content: Option<ProposalPart>,
}

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
pub fn stream_id(height: Height, round: Round) -> Bytes {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&height.0.to_be_bytes());
    id.extend_from_slice(&round.as_i64().to_be_bytes());
    id.into()
}

/// The messages that stream `bytes` as the block of `(height, round)` proposed by
/// `proposer`, closed by `signature` (over [`stream_digest`]).
pub fn split(
    height: Height,
    round: Round,
    proposer: Address,
    bytes: &[u8],
    signature: Signature,
) -> Vec<StreamPart> {
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
    parts
        .into_iter()
        .map(Some)
        .chain([None])
        .zip(0u64..)
        .map(|(content, sequence)| StreamPart {
            stream_id: id.clone(),
            sequence,
            content,
        })
        .collect()
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

#[derive(Debug)]
struct Partial {
    /// When the stream was opened, in insertion order (for eviction).
    opened: u64,
    /// Our height when the stream was opened (for pruning a stream without `Init`).
    opened_at: Height,
    init: Option<(Height, Round, Address)>,
    parts: BTreeMap<u64, ProposalPart>,
    data_bytes: usize,
    end: Option<u64>,
}

impl Partial {
    fn new(opened: u64, opened_at: Height) -> Self {
        Self {
            opened,
            opened_at,
            init: None,
            parts: BTreeMap::new(),
            data_bytes: 0,
            end: None,
        }
    }

    fn complete(&self) -> Option<StreamedBlock> {
        let (height, round, proposer) = self.init?;
        let end = self.end?;
        // Sequences 0..end are all present (the end-of-stream message itself is `end`).
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

/// What one open stream holds (see [`Reassembly::open_streams`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenStream<'a, P> {
    /// The peer that sent it.
    pub peer: &'a P,
    /// Parts buffered (at most [`Limits::max_parts`]).
    pub parts: usize,
    /// Data bytes buffered (at most [`Limits::max_stream_bytes`]).
    pub data_bytes: usize,
}

/// Streams being received, by peer and stream id.
#[derive(Debug)]
pub struct Reassembly<P> {
    limits: Limits,
    streams: BTreeMap<(P, Bytes), Partial>,
    opened: u64,
}

impl<P: Clone + Ord> Reassembly<P> {
    /// Empty buffers.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            streams: BTreeMap::new(),
            opened: 0,
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

    /// Every open stream and what it holds.
    pub fn open_streams(&self) -> impl Iterator<Item = OpenStream<'_, P>> {
        self.streams.iter().map(|((peer, _), p)| OpenStream {
            peer,
            parts: p.parts.len(),
            data_bytes: p.data_bytes,
        })
    }

    /// Drops every stream for a height below `current` or above `current + 1`, and every
    /// stream that has not said its height but was opened too long ago to be for `current`
    /// (a stream opened at height `h` is for `h` or `h + 1`).
    pub fn retain_heights(&mut self, current: Height) {
        self.streams.retain(|_, p| match p.init {
            Some((h, _, _)) => h.0 >= current.0 && h.0 <= current.0.saturating_add(1),
            None => p.opened_at.0.saturating_add(1) >= current.0,
        });
    }

    /// Adds one message from `peer`; returns the block once its stream is complete. A
    /// message that breaks a limit or the stream's shape drops the whole stream.
    pub fn insert(
        &mut self,
        peer: P,
        msg: StreamPart,
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

    /// Makes room for a new stream from `peer`: refused if the peer has its share open;
    /// when the table is full, the oldest stream of the peer holding the most goes, unless
    /// that would leave `peer` holding more than anyone.
    fn admit(&mut self, peer: &P) -> Result<(), StreamError> {
        let mut open: BTreeMap<&P, usize> = BTreeMap::new();
        for (p, _) in self.streams.keys() {
            *open.entry(p).or_default() += 1;
        }
        let mine = open.get(peer).copied().unwrap_or(0);
        if mine >= self.limits.streams_per_peer {
            return Err(StreamError::TooManyStreams);
        }
        if self.streams.len() < self.limits.streams_total {
            return Ok(());
        }
        let most = open.values().copied().max().unwrap_or(0);
        if mine + 1 > most {
            return Err(StreamError::TooManyStreams);
        }
        let victim = self
            .streams
            .iter()
            .filter(|((p, _), _)| open.get(p).copied() == Some(most))
            .min_by_key(|(_, partial)| partial.opened)
            .map(|(key, _)| key.clone());
        match victim {
            Some(key) => {
                self.streams.remove(&key);
                Ok(())
            }
            None => Err(StreamError::TooManyStreams),
        }
    }

    fn insert_inner(
        &mut self,
        key: &(P, Bytes),
        msg: StreamPart,
        current: Height,
    ) -> Result<Option<StreamedBlock>, StreamError> {
        // What is wrong with the message alone is refused before it can open a stream (and
        // so before it can take an open stream's place).
        check_alone(&msg, current, &self.limits)?;
        if !self.streams.contains_key(key) {
            self.admit(&key.0)?;
            self.opened = self.opened.wrapping_add(1);
            self.streams
                .insert(key.clone(), Partial::new(self.opened, current));
        }
        let Some(partial) = self.streams.get_mut(key) else {
            return Ok(None);
        };
        match msg.content {
            None => {
                if partial.end.is_some() {
                    return Err(StreamError::Malformed("two ends"));
                }
                if partial.parts.range(msg.sequence..).next().is_some() {
                    return Err(StreamError::Malformed("a part after the end"));
                }
                partial.end = Some(msg.sequence);
            }
            Some(part) => {
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
                    } => partial.init = Some((*height, *round, *proposer)),
                    ProposalPart::Data(chunk) => {
                        partial.data_bytes = partial.data_bytes.saturating_add(chunk.len());
                        if partial.data_bytes > self.limits.max_stream_bytes {
                            return Err(StreamError::TooLong);
                        }
                    }
                    ProposalPart::Fin(_) => {}
                }
                partial.parts.insert(msg.sequence, part);
            }
        }
        Ok(partial.complete())
    }
}

/// The checks a message passes on its own, whatever its stream holds: a sequence number
/// within a block's parts, `Init` first and for the current height or the next, nothing
/// else first, no chunk longer than a block.
fn check_alone(msg: &StreamPart, current: Height, limits: &Limits) -> Result<(), StreamError> {
    if msg.sequence >= limits.max_parts.saturating_add(1) {
        return Err(StreamError::TooLong);
    }
    match &msg.content {
        Some(ProposalPart::Init { .. }) if msg.sequence != 0 => {
            Err(StreamError::Malformed("Init is not first"))
        }
        Some(ProposalPart::Init { height, .. })
            if height.0 < current.0 || height.0 > current.0.saturating_add(1) =>
        {
            Err(StreamError::WrongHeight {
                got: height.0,
                current: current.0,
            })
        }
        Some(ProposalPart::Data(_)) if msg.sequence == 0 => {
            Err(StreamError::Malformed("Data before Init"))
        }
        Some(ProposalPart::Data(chunk)) if chunk.len() > limits.max_stream_bytes => {
            Err(StreamError::TooLong)
        }
        Some(ProposalPart::Fin(_)) if msg.sequence == 0 => {
            Err(StreamError::Malformed("Fin before Init"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn messages(height: u64, bytes: &[u8]) -> Vec<StreamPart> {
        split(
            Height(height),
            Round::new(0),
            Address([9; 32]),
            bytes,
            Signature([7; 64]),
        )
    }

    /// A `Data` part of `len` bytes at `sequence` in stream `id`.
    fn data(id: Bytes, sequence: u64, len: usize) -> StreamPart {
        StreamPart {
            stream_id: id,
            sequence,
            content: Some(ProposalPart::Data(vec![1; len])),
        }
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
        let far = data(
            stream_id(Height(5), Round::new(3)),
            limits.max_parts + 5,
            10,
        );
        assert_eq!(r.insert(2u8, far, Height(5)), Err(StreamError::TooLong));
    }

    #[test]
    fn a_peer_cannot_open_more_than_its_share_of_streams() {
        let limits = Limits::for_blocks(1 << 20);
        let mut r = Reassembly::new(limits);
        for round in 0..limits.streams_per_peer {
            let m = data(stream_id(Height(5), Round::new(round as u32)), 1, 1);
            assert_eq!(r.insert(1u8, m, Height(5)), Ok(None));
        }
        let one_more = data(stream_id(Height(5), Round::new(99)), 1, 1);
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

    #[test]
    fn peers_filling_the_table_cannot_keep_out_a_proposer() {
        let limits = Limits {
            streams_per_peer: 3,
            streams_total: 6,
            ..Limits::for_blocks(1 << 20)
        };
        let mut r = Reassembly::new(limits);
        // Three peers fill the table with streams that never end.
        for peer in 1..=3u8 {
            for round in 0..2u32 {
                let m = data(stream_id(Height(5), Round::new(round)), 1, 1);
                assert_eq!(r.insert(peer, m, Height(5)), Ok(None));
            }
        }
        assert_eq!(r.len(), limits.streams_total);
        // The proposer's whole block still gets through, taking the oldest stream's place.
        let bytes = block(100);
        let mut done = None;
        for m in messages(5, &bytes) {
            done = r.insert(0u8, m, Height(5)).unwrap();
        }
        assert_eq!(done.expect("the block completes").bytes, bytes);
        assert_eq!(r.len(), limits.streams_total - 1);
        assert_eq!(r.open_streams().filter(|s| *s.peer == 1).count(), 1);
        // With the table full again, a peer that would then hold more than anyone is
        // refused instead of taking another's place.
        let again = data(stream_id(Height(5), Round::new(7)), 1, 1);
        assert_eq!(r.insert(1u8, again, Height(5)), Ok(None));
        assert_eq!(r.len(), limits.streams_total);
        assert_eq!(
            r.insert(
                1u8,
                data(stream_id(Height(5), Round::new(8)), 1, 1),
                Height(5)
            ),
            Err(StreamError::TooManyStreams)
        );
        assert_eq!(r.len(), limits.streams_total);
    }

    #[test]
    fn a_stream_that_never_says_its_height_is_dropped_when_the_height_passes() {
        let mut r = Reassembly::new(Limits::for_blocks(1 << 20));
        let m = data(stream_id(Height(5), Round::new(0)), 1, 1);
        assert_eq!(r.insert(1u8, m, Height(5)), Ok(None));
        r.retain_heights(Height(6));
        assert_eq!(r.len(), 1, "opened at 5, it may be for 6");
        r.retain_heights(Height(7));
        assert!(r.is_empty());
    }

    #[test]
    fn a_message_refused_on_its_own_takes_no_open_streams_place() {
        let limits = Limits {
            streams_per_peer: 2,
            streams_total: 2,
            ..Limits::for_blocks(1 << 20)
        };
        let mut r = Reassembly::new(limits);
        for peer in 1..=2u8 {
            let m = data(stream_id(Height(5), Round::new(0)), 1, 1);
            assert_eq!(r.insert(peer, m, Height(5)), Ok(None));
        }
        // Malformed, or for a height long gone: refused before it could evict anyone.
        let not_first = StreamPart {
            stream_id: stream_id(Height(5), Round::new(1)),
            sequence: 3,
            content: Some(ProposalPart::Init {
                height: Height(5),
                round: Round::new(1),
                proposer: Address([9; 32]),
            }),
        };
        assert!(r.insert(3u8, not_first, Height(5)).is_err());
        let old = messages(2, &block(10)).remove(0);
        assert!(r.insert(3u8, old, Height(5)).is_err());
        assert_eq!(r.len(), 2);
        assert_eq!(r.open_streams().filter(|s| *s.peer == 3).count(), 0);
    }
}
