//! Every refusal of the chain: of a block, of a transaction in a block, or of a transaction
//! offered to the mempool.

use crate::chain::block::BlockId;
use crate::chain::sphinx_keys::SphinxKeyError;
use crate::chain::state::ChainStateHash;
use crate::chain::transaction::TxId;
use crate::genesis::GenesisHash;
use crate::ledger::LedgerError;
use crate::primitives::IdentityKey;
use crate::statement::StatementError;
use crate::topology::{EpochId, TopologyHash};

/// Why a block or a transaction was refused. [`ChainError::kind`] gives a stable
/// machine-readable name for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The block is not the next one.
    #[error("block height {got}, expected {expected}")]
    BadHeight {
        /// The state's height plus one.
        expected: u64,
        /// The header's.
        got: u64,
    },
    /// The block does not extend the last block.
    #[error("block parent {got}, expected the last block {expected}")]
    BadParent {
        /// The last block's id.
        expected: BlockId,
        /// The header's parent.
        got: BlockId,
    },
    /// The header names another state than the one the block applies to.
    #[error("block state hash {got}, the state it applies to is {expected}")]
    BadStateHash {
        /// The state's hash.
        expected: ChainStateHash,
        /// The header's.
        got: ChainStateHash,
    },
    /// Block times must strictly increase.
    #[error("block time {got_ms} ms is not after the last block's {last_ms} ms")]
    TimeNotIncreasing {
        /// The last block's time (the genesis time at height 0).
        last_ms: u64,
        /// The header's.
        got_ms: u64,
    },
    /// The proposer named in the header is not a genesis validator.
    #[error("proposer {0} is not a validator of this chain")]
    UnknownProposer(IdentityKey),
    /// More transactions than a block may hold.
    #[error("block has {count} transactions, at most {max} allowed")]
    TooManyTxs {
        /// Transactions in the block.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More credential spends than a block may hold (each costs a pairing check).
    #[error("block has {count} spends, at most {max} allowed")]
    TooManySpends {
        /// Spends in the block.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The block's encoding is too large.
    #[error("block is {bytes} bytes, at most {max} allowed")]
    TooManyBytes {
        /// Size of the encoding.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The block bytes do not parse as a block.
    #[error("undecodable block: {0}")]
    Decode(String),
    /// The block bytes parse but are not the canonical encoding of what they hold.
    #[error("block bytes are not in canonical form")]
    NonCanonical,
    /// A transaction of a block is invalid, so the block is.
    #[error("transaction {index} ({id}) of the block is invalid: {source}")]
    InvalidTransaction {
        /// Its position in the block.
        index: usize,
        /// Its id.
        id: TxId,
        /// Why.
        source: Box<ChainError>,
    },
    /// A statement names another chain.
    #[error("statement is for chain {got}, this chain is {expected}")]
    WrongChain {
        /// This chain's genesis hash.
        expected: GenesisHash,
        /// The statement's.
        got: GenesisHash,
    },
    /// A statement is malformed or a signature on it does not verify.
    #[error("invalid statement: {0}")]
    BadStatement(StatementError),
    /// A statement does not apply to the ledger (nonce, balance, registry, deposit).
    #[error("statement refused: {0}")]
    Ledger(LedgerError),
    /// A credential presentation does not verify.
    #[error("invalid credential spend: {0}")]
    BadSpend(String),
    /// The credential's double-spend tag is already spent (or, in the mempool, pending).
    #[error("credential {zeta} is already spent")]
    DoubleSpend {
        /// The tag, base58.
        zeta: String,
    },
    /// A different transaction with this id is pooled: the same validator's vote for the
    /// epoch, its DKG message of that kind, or the node's Sphinx key for the rotation.
    #[error("a different transaction with id {0} is already pooled")]
    SlotTaken(TxId),
    /// A topology vote for an epoch the chain keeps no topology of.
    #[error("no topology of epoch {0} on the chain")]
    UnknownEpoch(EpochId),
    /// A topology vote for other bytes than the chain's topology of that epoch.
    #[error("vote for topology {got} of epoch {epoch}, the chain's is {expected}")]
    TopologyMismatch {
        /// The epoch.
        epoch: EpochId,
        /// The chain's topology hash.
        expected: TopologyHash,
        /// The vote's.
        got: TopologyHash,
    },
    /// A topology vote's signature does not verify over the chain's topology.
    #[error("topology signature by {validator} for epoch {epoch} does not verify")]
    BadTopologySignature {
        /// The epoch.
        epoch: EpochId,
        /// The claimed signer.
        validator: IdentityKey,
    },
    /// A topology vote signed by a key outside the genesis validator set.
    #[error("{0} is not a validator of this chain")]
    NotAValidator(IdentityKey),
    /// A validator's second vote for the same epoch.
    #[error("validator {validator} already signed the topology of epoch {epoch}")]
    DuplicateVote {
        /// The epoch.
        epoch: EpochId,
        /// The validator.
        validator: IdentityKey,
    },
    /// The mempool holds as many transactions or bytes as it may.
    #[error("mempool is full ({limit} {what})")]
    MempoolFull {
        /// The limit reached.
        limit: usize,
        /// "transactions" or "bytes".
        what: &'static str,
    },
    /// A key generation message's signature does not verify.
    #[error("the key generation message of {0} is not signed by it")]
    BadDkgSignature(IdentityKey),
    /// A key generation message does not fit the run (see [`crate::chain::dkg`]).
    #[error("key generation message of {validator} refused: {reason}")]
    DkgRefused {
        /// The sender.
        validator: IdentityKey,
        /// Why.
        reason: String,
    },
    /// A Sphinx key announcement is not signed by its node.
    #[error("the Sphinx key announcement of node {0} is not signed by it")]
    BadSphinxKeySignature(IdentityKey),
    /// A Sphinx key announcement breaks a rule of [`crate::chain::sphinx_keys`].
    #[error("Sphinx key announcement refused: {0}")]
    SphinxKeyRefused(#[from] SphinxKeyError),
    /// A credential of a key epoch that has no keys or is past its deadline.
    #[error("credential not spendable: {0}")]
    KeyEpochNotSpendable(String),
    /// The mempool holds as many statements of this account as it may.
    #[error("mempool holds {limit} statements of account {account} already")]
    AccountFull {
        /// The account.
        account: IdentityKey,
        /// The per-account limit.
        limit: usize,
    },
    /// Selecting or building an epoch's topology failed (an epoch outside the `u64`
    /// millisecond range: only absurd block times reach it).
    #[error("cannot build the topology of epoch {epoch}: {reason}")]
    Epoch {
        /// The epoch.
        epoch: EpochId,
        /// Why.
        reason: String,
    },
}

impl ChainError {
    /// A stable, snake_case identifier of the refusal, for the HTTP layer's error bodies and
    /// for metrics labels. A block refused for one of its transactions is
    /// `invalid_transaction`; [`ChainError::root`] gives the transaction's own reason.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadHeight { .. } => "bad_height",
            Self::BadParent { .. } => "bad_parent",
            Self::BadStateHash { .. } => "bad_state_hash",
            Self::TimeNotIncreasing { .. } => "time_not_increasing",
            Self::UnknownProposer(_) => "unknown_proposer",
            Self::TooManyTxs { .. } => "too_many_transactions",
            Self::TooManySpends { .. } => "too_many_spends",
            Self::TooManyBytes { .. } => "too_many_bytes",
            Self::Decode(_) => "undecodable_block",
            Self::NonCanonical => "non_canonical_block",
            Self::InvalidTransaction { .. } => "invalid_transaction",
            Self::WrongChain { .. } => "wrong_chain",
            Self::BadStatement(_) => "invalid_statement",
            Self::Ledger(_) => "statement_refused",
            Self::BadSpend(_) => "invalid_spend",
            Self::DoubleSpend { .. } => "double_spend",
            Self::SlotTaken(_) => "slot_taken",
            Self::UnknownEpoch(_) => "unknown_epoch",
            Self::TopologyMismatch { .. } => "topology_mismatch",
            Self::BadTopologySignature { .. } => "bad_topology_signature",
            Self::NotAValidator(_) => "not_a_validator",
            Self::DuplicateVote { .. } => "duplicate_vote",
            Self::BadDkgSignature(_) => "bad_dkg_signature",
            Self::DkgRefused { .. } => "dkg_refused",
            Self::KeyEpochNotSpendable(_) => "key_epoch_not_spendable",
            Self::BadSphinxKeySignature(_) => "bad_sphinx_key_signature",
            Self::SphinxKeyRefused(SphinxKeyError::AlreadyAnnounced { .. }) => {
                "sphinx_key_already_announced"
            }
            Self::SphinxKeyRefused(_) => "sphinx_key_refused",
            Self::MempoolFull { .. } => "mempool_full",
            Self::AccountFull { .. } => "account_full",
            Self::Epoch { .. } => "epoch_error",
        }
    }

    /// The innermost reason: for [`ChainError::InvalidTransaction`] the transaction's own
    /// error, otherwise `self`.
    pub fn root(&self) -> &ChainError {
        match self {
            Self::InvalidTransaction { source, .. } => source.root(),
            other => other,
        }
    }
}

impl From<LedgerError> for ChainError {
    fn from(e: LedgerError) -> Self {
        // The ledger's own signature and chain errors keep their chain-level kinds.
        match e {
            LedgerError::Statement(s) => Self::BadStatement(s),
            LedgerError::WrongChain { expected, got } => Self::WrongChain { expected, got },
            other => Self::Ledger(other),
        }
    }
}

impl From<StatementError> for ChainError {
    fn from(e: StatementError) -> Self {
        Self::BadStatement(e)
    }
}

impl ChainError {
    pub(crate) fn epoch(epoch: EpochId, reason: impl std::fmt::Display) -> Self {
        Self::Epoch {
            epoch,
            reason: reason.to_string(),
        }
    }
}
