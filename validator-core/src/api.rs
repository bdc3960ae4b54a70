//! The validator HTTP API: paths, bodies and errors. Shared by the server and the client
//! library; nothing here does IO.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | [`GENESIS`] | | the genesis TOML the validator runs |
//! | GET | [`STATUS`] | | [`Status`] |
//! | GET | [`TOPOLOGY`] | | the current epoch's [`SignedTopology`](crate::topology::SignedTopology) |
//! | GET | `/v1/topology/{epoch}` | | that epoch's [`SignedTopology`](crate::topology::SignedTopology) (recent epochs and the next) |
//! | POST | [`STATEMENTS`] | [`SignedStatement`] | [`StatementAccepted`] |
//! | GET | `/v1/accounts/{key}` | | [`AccountView`] |
//! | GET | [`NODES`] | | the bonded nodes, `Vec<BondRecord>` |
//! | GET | [`VERIFICATION_KEYS`] | | [`VerificationKeySet`](crate::credential::VerificationKeySet) |
//! | POST | [`BLIND_SIGN`] | [`BlindSignBody`] | [`BlindSignAnswer`] |
//! | POST | [`SPEND`] | [`SpendBody`] | [`SpendAnswer`] (409 if already spent) |
//! | GET | `/v1/credentials/spent/{zeta}` | | [`SpentAnswer`] |
//! | POST | [`PEER_STATEMENTS`] | [`RelayedStatement`] | 204 (validators only) |
//! | POST | [`PEER_TOPOLOGY_SIGNATURES`] | [`PeerTopologySignature`] | 204 (validators only) |
//! | POST | [`PEER_SPENT`] | [`SpendBody`] | 204 |
//!
//! Every error is a 4xx or 5xx status with an [`ApiError`] JSON body.

use ed25519_dalek::{Signature, SigningKey};
use serde::{Deserialize, Serialize};

use crate::coconut::{BlindSignRequest, BlindedSignature, SignerIndex, Theta};
use crate::credential::{PublicAttributes, SpendContext, SpendNonce};
use crate::genesis::{Amount, GenesisHash};
use crate::ledger::StateHash;
use crate::primitives::{signature_bs58, IdentityKey};
use crate::statement::{SignedStatement, StatementId};
use crate::topology::{EpochId, TopologyHash, TopologySignature};

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
/// Blind signing of a paid credential request.
pub const BLIND_SIGN: &str = "/v1/credentials/blind-sign";
/// Reporting a spent credential.
pub const SPEND: &str = "/v1/credentials/spend";
/// Statements relayed between validators.
pub const PEER_STATEMENTS: &str = "/v1/peer/statements";
/// Topology signatures exchanged between validators.
pub const PEER_TOPOLOGY_SIGNATURES: &str = "/v1/peer/topology-signatures";
/// Spent credentials relayed between validators.
pub const PEER_SPENT: &str = "/v1/peer/spent";

/// Largest request body a validator reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Domain prefix of [`RelayedStatement`] signatures.
pub const RELAY_DOMAIN: &[u8] = b"mixnet-validator-relay-v1";

/// `/v1/topology/{epoch}`.
pub fn topology_at(epoch: EpochId) -> String {
    format!("{TOPOLOGY}/{}", epoch.0)
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
    /// The epoch at its clock.
    pub current_epoch: EpochId,
    /// The last epoch whose statements are applied.
    pub applied_through: Option<EpochId>,
    /// Hash of its ledger state: equal on validators that applied the same statements.
    pub ledger_state_hash: StateHash,
    /// Statements waiting for their epoch's cutoff.
    pub pending_statements: usize,
    /// Bonded nodes.
    pub bonded_nodes: usize,
    /// Its Coconut signer index, if it issues credentials.
    pub coconut_index: Option<SignerIndex>,
}

/// Answer to a statement submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementAccepted {
    /// The statement's id.
    pub statement_id: StatementId,
    /// The epoch whose cutoff applies it; its effect shows in the topology of the epoch after.
    pub applies_at_end_of: EpochId,
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

/// A statement one validator forwards to another, signed by the forwarder so only the
/// genesis validators can place statements into each other's epoch batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayedStatement {
    /// The statement, as the account signed it.
    pub statement: SignedStatement,
    /// The epoch whose batch the first validator to receive it put it in.
    pub epoch: EpochId,
    /// The forwarding validator.
    pub relayer: IdentityKey,
    /// The relayer's signature over [`RelayedStatement::signing_bytes`].
    #[serde(with = "signature_bs58")]
    pub signature: Signature,
}

impl RelayedStatement {
    /// Bytes the relayer signs: domain, chain, epoch, statement id.
    pub fn signing_bytes(
        genesis_hash: &GenesisHash,
        epoch: EpochId,
        statement: &StatementId,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(RELAY_DOMAIN.len() + 72);
        out.extend_from_slice(RELAY_DOMAIN);
        out.extend_from_slice(genesis_hash.as_bytes());
        out.extend_from_slice(&epoch.0.to_be_bytes());
        out.extend_from_slice(statement.as_bytes());
        out
    }

    /// Wraps `statement` for `epoch`, signed by `relayer`.
    pub fn sign(
        statement: SignedStatement,
        epoch: EpochId,
        genesis_hash: &GenesisHash,
        relayer: &SigningKey,
    ) -> Self {
        use ed25519_dalek::Signer;
        let signature = relayer.sign(&Self::signing_bytes(genesis_hash, epoch, &statement.id()));
        Self {
            statement,
            epoch,
            relayer: IdentityKey::from(relayer),
            signature,
        }
    }

    /// Whether the relayer's signature holds.
    pub fn verify(&self, genesis_hash: &GenesisHash) -> bool {
        self.relayer.verify(
            &Self::signing_bytes(genesis_hash, self.epoch, &self.statement.id()),
            &self.signature,
        )
    }
}

/// A validator's signature over its topology for `epoch`, pushed to its peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerTopologySignature {
    /// The epoch the topology is for.
    pub epoch: EpochId,
    /// The hash of the topology signed, so a mismatch is reported as such.
    pub topology_hash: TopologyHash,
    /// The signature.
    pub signature: TopologySignature,
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
    /// The validator's Coconut index.
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

/// Answer to a spend report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendAnswer {
    /// The spent tag, base58.
    pub zeta: String,
}

/// Whether a tag is in the spent set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentAnswer {
    /// The tag asked about.
    pub zeta: String,
    /// Whether it is spent.
    pub spent: bool,
}
