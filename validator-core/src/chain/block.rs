//! Blocks: what consensus decides, their byte encoding and their id.
//!
//! # Encoding and id
//!
//! A block is JSON (serde_json, compact, fields in declaration order; no maps and no floats
//! anywhere, so the encoding of a value is unique). [`Block::decode`] refuses more than
//! [`MAX_BLOCK_BYTES`] before parsing, and refuses bytes that are not exactly the encoding of
//! what they parse to ([`ChainError::NonCanonical`]: whitespace, escapes, reordered fields).
//! So a block has one byte form, and its id
//!
//! ```text
//! BlockId = SHA-256("mixnet-validator-block-v1" || encoded bytes)
//! ```
//!
//! is both the hash of the bytes consensus agreed on ([`Block::id_of`], what a receiver
//! computes from the bytes it got, never trusting an id it is given) and the hash of the
//! block's encoding ([`Block::id`], what the state computes when it applies the block).
//!
//! # Chaining
//!
//! Block `h` names block `h - 1` as `parent` ([`BlockId::GENESIS`], all zeros, at height 1)
//! and the state hash *before* it: the state block `h - 1` produced. The genesis state's
//! hash covers the genesis hash, so block 1 already commits to its chain.

use serde::{Deserialize, Serialize};

use crate::chain::error::ChainError;
use crate::chain::state::ChainStateHash;
use crate::chain::transaction::{encode_json, Transaction};
use crate::primitives::{hash32_type, sha256, IdentityKey};

/// Largest encoded block.
pub const MAX_BLOCK_BYTES: usize = 4 << 20;
/// Most transactions in a block.
pub const MAX_BLOCK_TXS: usize = 2_000;
/// Most credential spends in a block: each costs every validator a pairing check, about a
/// millisecond, before it can vote.
pub const MAX_SPENDS_PER_BLOCK: usize = 200;
/// Transaction bytes a proposer may select (the `max_bytes` of
/// [`Mempool::select`](crate::chain::Mempool::select)): the header, the envelope and the
/// separators of [`MAX_BLOCK_TXS`] transactions take well under the 16 KiB left, so the
/// block's encoding stays within [`MAX_BLOCK_BYTES`].
pub const MAX_BLOCK_TX_BYTES: usize = MAX_BLOCK_BYTES - 16 * 1024;
/// Domain-separation prefix of block ids.
pub const BLOCK_ID_DOMAIN: &[u8] = b"mixnet-validator-block-v1";

hash32_type!(
    /// A block's id: SHA-256 of the domain prefix and its encoded bytes.
    BlockId
);

impl BlockId {
    /// The parent named by block 1: all zeros.
    pub const GENESIS: Self = Self([0; 32]);
}

/// What a block says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// 1 for the first block.
    pub height: u64,
    /// The proposer's time, Unix ms; strictly increasing along the chain.
    pub time_ms: u64,
    /// The previous block's id ([`BlockId::GENESIS`] at height 1).
    pub parent: BlockId,
    /// The validator that proposed it.
    pub proposer: IdentityKey,
    /// The hash of the state the block applies to (the parent's resulting state).
    pub state_hash: ChainStateHash,
}

/// A block: a header and transactions, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The encoding (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        encode_parts(&self.header, self.transactions.iter())
    }

    /// Parses a block, refusing oversized input before parsing and non-canonical bytes.
    pub fn decode(bytes: &[u8]) -> Result<Block, ChainError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(ChainError::TooManyBytes {
                bytes: bytes.len(),
                max: MAX_BLOCK_BYTES,
            });
        }
        let block: Block =
            serde_json::from_slice(bytes).map_err(|e| ChainError::Decode(e.to_string()))?;
        if block.encode() != bytes {
            return Err(ChainError::NonCanonical);
        }
        Ok(block)
    }

    /// The id of a block's bytes.
    pub fn id_of(bytes: &[u8]) -> BlockId {
        BlockId(sha256(&[BLOCK_ID_DOMAIN, bytes]))
    }

    /// The id of this block (of its encoding).
    pub fn id(&self) -> BlockId {
        Self::id_of(&self.encode())
    }
}

/// The encoding of a block with `header` and `transactions`, without building the block:
/// what serde_json writes for [`Block`], assembled from its parts.
pub(crate) fn encode_parts<'a>(
    header: &BlockHeader,
    transactions: impl Iterator<Item = &'a Transaction>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(br#"{"header":"#);
    out.extend_from_slice(&encode_json(header));
    out.extend_from_slice(br#","transactions":["#);
    for (i, tx) in transactions.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&encode_json(tx));
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests;
