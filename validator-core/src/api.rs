//! The validator HTTP API: paths, bodies and errors. Shared by the server and the client
//! library; nothing here does IO.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | [`GENESIS`] | | the genesis TOML the validator runs |
//! | GET | [`STATUS`] | | [`Status`] |
//! | GET | [`TOPOLOGY`] | | the current epoch's [`SignedTopology`](crate::topology::SignedTopology) |
//! | GET | `/v1/topology/{epoch}` | | that epoch's [`SignedTopology`](crate::topology::SignedTopology) (recent epochs and the next) |
//! | POST | [`STATEMENTS`] | [`SignedStatement`] | [`StatementAccepted`] (409 if the nonce is used) |
//! | GET | `/v1/accounts/{key}` | | [`AccountView`] |
//! | GET | [`NODES`] | | the bonded nodes, `Vec<BondRecord>` |
//! | GET | [`VERIFICATION_KEYS`] | | [`VerificationKeySet`](crate::credential::VerificationKeySet) |
//! | POST | [`BLIND_SIGN`] | [`BlindSignBody`] | [`BlindSignAnswer`] once the deposit is decided (409 if another statement took its nonce) |
//! | POST | [`SPEND`] | [`SpendBody`] | [`SpendAnswer`] once the spend is in a decided block (409 if another spend of the credential is) |
//! | GET | `/v1/credentials/spent/{zeta}` | | [`SpentAnswer`] |
//! | GET | `/v1/blocks/{height}` | | [`BlockSummary`] of a decided block |
//! | GET | [`KEY_EPOCHS`] | | the key generation's runs, `Vec<KeyEpochView>` |
//! | POST | [`PEER_TRANSACTIONS`] | [`Transaction`](crate::chain::Transaction) | 202 (a transaction another validator admitted, for this one's mempool; signed by it, [`crate::peer_auth`], else 401 or 403) |
//!
//! Statements and deposits are final once a block includes them: [`STATEMENTS`] answers when
//! the statement is admitted to the mempool, [`BLIND_SIGN`] and [`SPEND`] only once the
//! deposit or the spend is decided (or 503 `not_decided` after a while; asking again is
//! safe). Every error is a 4xx or 5xx status with an [`ApiError`] JSON body. An address over
//! its rate limit gets 429 `rate_limited`, and a validator with too many checks waiting 503
//! `busy`, both with a `Retry-After` header (seconds).

use serde::{Deserialize, Serialize};

use crate::chain::dkg::{ExcludedDealer, KeyEpoch, KeyEpochId};
use crate::chain::{BlockId, ChainStateHash};
use crate::coconut::{BlindSignRequest, BlindedSignature, SignerIndex, Theta};
use crate::credential::{PublicAttributes, SpendContext, SpendNonce};
use crate::genesis::{Amount, GenesisHash};
use crate::ledger::StateHash;
use crate::primitives::IdentityKey;
use crate::statement::{SignedStatement, StatementId};
use crate::topology::EpochId;

/// Genesis TOML.
pub const GENESIS: &str = "/v1/genesis";
/// Validator status.
pub const STATUS: &str = "/v1/status";
/// The current topology.
pub const TOPOLOGY: &str = "/v1/topology";
/// Statement submission.
pub const STATEMENTS: &str = "/v1/statements";
/// Bonded nodes.
pub const NODES: &str = "/v1/nodes";
/// Coconut verification keys.
pub const VERIFICATION_KEYS: &str = "/v1/credentials/verification-keys";
/// The key generation's runs the chain keeps.
pub const KEY_EPOCHS: &str = "/v1/key-epochs";
/// Blind signing of a paid credential request.
pub const BLIND_SIGN: &str = "/v1/credentials/blind-sign";
/// Reporting a spent credential.
pub const SPEND: &str = "/v1/credentials/spend";
/// Sphinx key announcements (POST) and a node's announced keys (GET `/v1/sphinx-keys/{node}`).
pub const SPHINX_KEYS: &str = "/v1/sphinx-keys";
/// Transactions one validator admitted, relayed to the others' mempools.
pub const PEER_TRANSACTIONS: &str = "/v1/peer/transactions";

/// Largest request body a validator reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `/v1/topology/{epoch}`.
pub fn topology_at(epoch: EpochId) -> String {
    format!("{TOPOLOGY}/{}", epoch.0)
}

/// `/v1/blocks/{height}`.
pub fn block(height: u64) -> String {
    format!("/v1/blocks/{height}")
}

/// `/v1/accounts/{key}`.
pub fn account(key: &IdentityKey) -> String {
    format!("/v1/accounts/{key}")
}

/// `/v1/credentials/spent/{zeta}` (zeta in base58).
pub fn spent(zeta_bs58: &str) -> String {
    format!("/v1/credentials/spent/{zeta_bs58}")
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable, machine-readable kind (`bad_request`, `invalid_statement`, `not_found`, ...).
    pub kind: String,
    /// What went wrong, for a human.
    pub error: String,
}

/// What a validator says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Its identity key.
    pub identity_key: IdentityKey,
    /// The chain.
    pub genesis_hash: GenesisHash,
    /// Height of its last decided block (0 before the first).
    pub height: u64,
    /// That block's id.
    pub last_block: BlockId,
    /// That block's time, Unix ms (the genesis time before the first block).
    pub last_block_time_ms: u64,
    /// Hash of the application state after that block: equal on validators at the same
    /// height.
    pub state_hash: ChainStateHash,
    /// Hash of the ledger part of it.
    pub ledger_state_hash: StateHash,
    /// The height consensus is working on, and the round within it.
    pub consensus_height: u64,
    /// The round (-1 before the first).
    pub consensus_round: i64,
    /// Validators whose precommit is in the last block's commit certificate.
    pub signers_of_last_commit: usize,
    /// The other validators of the genesis, and how recently each took part in consensus.
    pub peers: Vec<PeerStatus>,
    /// Whether its last block came through catch-up from peers.
    pub syncing: bool,
    /// Rounds, since it started, in which the round's proposer streamed two different
    /// blocks, both signed (equivocation; the engine keeps the first).
    pub conflicting_proposals: u64,
    /// The epoch at the last block's time.
    pub current_epoch: EpochId,
    /// Transactions in its mempool.
    pub pending_transactions: usize,
    /// Bonded nodes.
    pub bonded_nodes: usize,
    /// Its Coconut signer index, if it issues credentials.
    pub coconut_index: Option<SignerIndex>,
}

/// Another validator as one validator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Its identity key.
    pub identity_key: IdentityKey,
    /// Its consensus address (from the genesis).
    pub p2p_address: std::net::SocketAddr,
    /// The height of the newest block, among those decided since this validator started,
    /// whose commit certificate holds its precommit (`None`: none yet).
    pub last_signed_height: Option<u64>,
}

/// A run of the key generation as the chain holds it ([`crate::chain::dkg`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEpochView {
    /// The run.
    pub key_epoch: KeyEpochId,
    /// Its phase (`registration` … `complete`, `failed`).
    pub phase: String,
    /// The height of the block that started it.
    pub started_at: u64,
    /// The participants by index (index `i` is entry `i - 1`), once registration ended.
    pub participants: Vec<IdentityKey>,
    /// The key set, once complete.
    pub key_set: Option<crate::credential::VerificationKeySet>,
    /// Validators left out of QUAL and why, once complete.
    pub excluded: Vec<ExcludedDealer>,
    /// The height of the block that completed it.
    pub completed_at: Option<u64>,
    /// Its credentials are refused in blocks above this height.
    pub spendable_until: Option<u64>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

impl KeyEpochView {
    /// The view of `run`.
    pub fn of(run: &KeyEpoch) -> Self {
        let keys = run.keys_out.as_ref();
        Self {
            key_epoch: run.id,
            phase: run.phase.name().to_owned(),
            started_at: run.started_at,
            participants: run.participants.clone(),
            key_set: keys.map(|k| k.key_set.clone()),
            excluded: keys.map(|k| k.excluded.clone()).unwrap_or_default(),
            completed_at: keys.map(|k| k.completed_at),
            spendable_until: keys.and_then(|k| k.spendable_until),
            failure: run.failure.clone(),
        }
    }
}

/// A decided block as a validator stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockSummary {
    /// Its height.
    pub height: u64,
    /// Its id.
    pub id: BlockId,
    /// Its time, Unix ms.
    pub time_ms: u64,
    /// Who proposed it.
    pub proposer: IdentityKey,
    /// Its transactions' count.
    pub transactions: usize,
    /// The application state hash after it.
    pub state_hash: ChainStateHash,
    /// Validators whose precommit is in its commit certificate.
    pub signers: usize,
}

/// Answer to a statement submission: admitted to the mempool (it applies when a block
/// includes it; watch the account's nonce).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementAccepted {
    /// The statement's id.
    pub statement_id: StatementId,
    /// The height decided when it was admitted; it applies in a later block.
    pub admitted_at_height: u64,
}

/// Answer to a Sphinx key announcement: admitted to the mempool; it applies when a block
/// includes it (watch `GET /v1/sphinx-keys/{node}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SphinxKeyAccepted {
    /// The transaction's id.
    pub tx: crate::chain::TxId,
    /// The height decided when it was admitted.
    pub admitted_at_height: u64,
}

/// What the chain holds about one node's Sphinx keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSphinxKeys {
    /// The node.
    pub node: IdentityKey,
    /// The rotation at the last block's time.
    pub current_rotation: crate::rotation::RotationId,
    /// Its kept keys, oldest rotation first.
    pub keys: Vec<crate::chain::sphinx_keys::SphinxKeyEntry>,
}

/// An account as a validator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// The account.
    pub account: IdentityKey,
    /// Applied balance.
    pub balance: Amount,
    /// The nonce the next applied statement must carry.
    pub next_nonce: u64,
    /// The nonce a new statement should carry, counting statements still pending here.
    pub next_free_nonce: u64,
}

/// A paid request for a blind signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlindSignBody {
    /// A deposit statement paying for this request: amount = bandwidth, digest =
    /// [`crate::credential::request_digest`].
    pub deposit: SignedStatement,
    /// The blind-sign request (commitments and their proof).
    pub request: BlindSignRequest,
    /// The public attributes.
    pub public_attributes: PublicAttributes,
}

/// One validator's share of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlindSignAnswer {
    /// The key epoch whose key share signed.
    #[serde(default)]
    pub key_epoch: KeyEpochId,
    /// The validator's Coconut index in that key epoch.
    pub signer_index: SignerIndex,
    /// Its blinded partial signature.
    pub blinded_signature: BlindedSignature,
}

/// A presentation of a credential for one gateway, reported spent by that gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendBody {
    /// The presentation, made for [`SpendBody::context`].
    pub theta: Theta,
    /// Its public attributes.
    pub public_attributes: PublicAttributes,
    /// The gateway it is for.
    pub gateway: IdentityKey,
    /// The holder's nonce for it.
    pub nonce: SpendNonce,
    /// The key epoch whose keys issued the credential (its presentation verifies under
    /// that epoch's aggregate key; 0 if absent).
    #[serde(default)]
    pub key_epoch: KeyEpochId,
}

impl SpendBody {
    /// What the presentation's proof is bound to.
    pub fn context(&self) -> SpendContext {
        SpendContext {
            gateway: self.gateway,
            nonce: self.nonce,
        }
    }
}

/// Answer to a spend: decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendAnswer {
    /// The spent tag, base58.
    pub zeta: String,
    /// The height of the block that holds the spend.
    pub height: u64,
}

/// A decided spend as the chain records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentRecord {
    /// The gateway it was spent at.
    pub gateway: IdentityKey,
    /// The presentation's nonce.
    pub nonce: SpendNonce,
    /// The height of the block that holds it.
    pub height: u64,
}

/// Whether a tag is in the spent set, and where it was spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentAnswer {
    /// The tag asked about.
    pub zeta: String,
    /// Whether it is spent.
    pub spent: bool,
    /// The decided spend, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<SpentRecord>,
}
