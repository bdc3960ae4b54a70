//! The validators' replicated state machine: transactions, blocks, the state they decide,
//! and the mempool. Pure and deterministic; the consensus engine (Malachite, Tendermint in
//! Rust) and all IO live in the validator crate.
//!
//! # How the chain runs
//!
//! The genesis validators agree on a sequence of [`Block`]s by BFT consensus; the
//! application state, [`ChainState`], changes **only** by applying a decided block, and
//! applying is a deterministic function of the state and the block's bytes, so every honest
//! validator that applies the same blocks holds the same state (the same
//! [`ChainState::state_hash`], which each header names for its parent state, so a
//! divergence stops the chain at once instead of spreading).
//!
//! A validator's work per height:
//!
//! 1. Submissions (statements from accounts, credential spends from gateways, its own and
//!    gossiped topology votes) are verified with [`VerifiedTx::verify`], the expensive
//!    part, **before** taking any lock, then offered to the [`Mempool`], which checks them
//!    against the committed state plus everything pooled and refuses with the reason.
//! 2. As proposer: [`Mempool::select`], a header naming the last block, the state hash and
//!    the time, [`ChainState::apply_verified_block`] to check its own block without redoing
//!    the crypto, [`Block::encode`] to propose the bytes.
//! 3. On receiving a proposal: [`Block::decode`] (size and canonical form checked),
//!    [`ChainState::validate_block`] (every transaction's crypto verified, every rule
//!    applied), vote for the block only if it is valid; the resulting state is kept for the
//!    commit.
//! 4. On decision: the resulting state becomes the committed state, and
//!    [`Mempool::on_commit`] drops what the block included and what it invalidated.
//! 5. When a block closes an epoch ([`epochs`]), the state holds the next epoch's topology;
//!    each validator signs it and submits the signature as a [`TopologyVote`]; the votes in
//!    decided blocks are the signatures clients count.
//! 6. While a run of the key generation ([`dkg`]) is in progress, each validator sends the
//!    message its phase asks for; the keys credentials are issued under are the chain's.
//! 7. On a chain that rotates Sphinx keys ([`crate::rotation`]), nodes announce their key
//!    for the current and the next rotation ([`sphinx_keys`]); a topology lists a node with
//!    its key for the epoch's rotation, or leaves it out.
//!
//! What the caller checks, not this module: that the proposer is the round's proposer, and
//! that a proposed block time is close to the local clock.
//!
//! # Layout
//!
//! * [`transaction`]: [`Transaction`], [`TxId`], [`TopologyVote`], [`SpendVerifier`] and
//!   [`VerifiedTx`], the only way in for a transaction.
//! * [`block`]: [`BlockHeader`], [`Block`], their encoding, [`BlockId`] and the limits.
//! * [`state`]: [`ChainState`], the rules of a block and of each transaction, epoch
//!   closing, the state hash and the queries the HTTP layer answers from.
//! * [`mempool`]: [`Mempool`], pending transactions on a provisional state.
//! * [`dkg`]: the Coconut keys' distributed generation in key epochs: [`dkg::DkgMessage`]
//!   transactions, [`dkg::KeyEpochs`] in the state.
//! * [`sphinx_keys`]: the nodes' Sphinx keys per rotation, announced by
//!   [`sphinx_keys::SphinxKeyAnnouncement`] transactions.
//! * [`epochs`]: [`EpochSchedule`], when an epoch closes and the next topology is built.
//! * [`params`]: [`ChainParams`], the genesis and what is derived from it once.
//! * [`snapshot`]: [`StateSnapshot`], a committed state as bytes, so a restart replays only
//!   the blocks after the latest one.
//! * `error`: [`ChainError`], every refusal, with stable [`ChainError::kind`] names.

pub mod block;
pub mod dkg;
pub mod epochs;
mod error;
pub mod mempool;
pub mod params;
pub mod snapshot;
pub mod sphinx_keys;
pub mod state;
pub mod transaction;

pub use block::{
    Block, BlockHeader, BlockId, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_BLOCK_TX_BYTES,
    MAX_SPENDS_PER_BLOCK,
};
pub use epochs::EpochSchedule;
pub use error::ChainError;
pub use mempool::{Inserted, Mempool, MempoolLimits};
pub use params::ChainParams;
pub use snapshot::StateSnapshot;
pub use state::{ChainState, ChainStateHash, SpendRecord, TopologyRecord, KEPT_TOPOLOGIES};
pub use transaction::{SpendVerifier, TopologyVote, Transaction, TxId, VerifiedTx};

#[cfg(test)]
mod tests;
