//! Transactions, their ids, and the verification that makes a [`VerifiedTx`].
//!
//! # Wire form
//!
//! JSON, externally tagged in snake_case, unknown fields refused:
//! `{"statement": SignedStatement}`, `{"spend": SpendBody}`,
//! `{"topology_signature": TopologyVote}`, `{"dkg": DkgMessage}`,
//! `{"sphinx_key": SphinxKeyAnnouncement}`.
//!
//! # Ids
//!
//! [`TxId`] is SHA-256 of `"mixnet-validator-tx-v1"`, a kind byte and:
//!
//! ```text
//! 0x01 || statement_id[32] || signature[64]      statement
//! 0x02 || len:u64 || spend JSON                   spend
//! 0x03 || epoch:u64 || validator[32]              topology vote
//! 0x04 || key_epoch:u64 || validator[32] || kind:u8  key generation message
//! 0x05 || rotation:u64 || node[32]                 Sphinx key announcement
//! ```
//!
//! Two copies of a statement with different signature bytes have different ids (so a
//! corrupted copy cannot shadow the real one in a mempool); two presentations of one
//! credential have different ids but the same [`Transaction::spend_tag`], which is what the
//! double-spend rule keys on; a validator has one vote id per epoch, and one key generation
//! message id per run and phase, and a node one announcement id per rotation.
//!
//! # Crypto before locks
//!
//! [`VerifiedTx::verify`] checks everything about a transaction that needs no chain state:
//! a statement's chain, form, node consent and account signature; a spend's presentation
//! (through the caller's [`SpendVerifier`], one pairing check); a vote's signer being a
//! genesis validator; a key generation message's signer being a genesis validator and its
//! signature; a Sphinx key announcement's signature by its node. It is the only constructor of a [`VerifiedTx`], and the mempool and
//! the proposer's block path take only `VerifiedTx`, so the expensive crypto runs before
//! the caller takes the lock on its state. A vote's signature can only be checked against
//! the chain's topology of its epoch, so it is checked when the vote is applied (one
//! ed25519 verification).

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::api::SpendBody;
use crate::chain::dkg::{DkgMessage, KeyEpochs};
use crate::chain::error::ChainError;
use crate::chain::params::ChainParams;
use crate::chain::sphinx_keys::SphinxKeyAnnouncement;
use crate::chain::state::ChainState;
use crate::coconut::verification::ZETA_BYTES;
use crate::credential::zeta_to_bs58;
use crate::credential::VerificationKeySet;
use crate::genesis::GenesisHash;
use crate::primitives::{hash32_type, sha256, Encoder, IdentityKey};
use crate::statement::SignedStatement;
use crate::topology::{EpochId, Topology, TopologyHash, TopologySignature};

/// Domain-separation prefix of transaction ids.
pub const TX_ID_DOMAIN: &[u8] = b"mixnet-validator-tx-v1";

hash32_type!(
    /// A transaction's id (see the module docs).
    TxId
);

/// A validator's signature over the chain's topology of an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyVote {
    /// The epoch.
    pub epoch: EpochId,
    /// The hash of the topology signed, so a vote for other bytes is refused as a mismatch.
    pub topology_hash: TopologyHash,
    /// The signature over [`Topology::signing_bytes`] and its signer.
    pub signature: TopologySignature,
}

impl TopologyVote {
    /// `validator_key`'s vote for `topology`.
    pub fn sign(
        topology: &Topology,
        genesis_hash: &GenesisHash,
        validator_key: &SigningKey,
    ) -> Self {
        Self {
            epoch: topology.epoch_id,
            topology_hash: topology.topology_hash(),
            signature: topology.sign(genesis_hash, validator_key),
        }
    }
}

/// What a block carries.
// Statements, the most common transaction, stay inline (about 400 bytes with a node's three
// keys): boxing them would cost an allocation per statement to save space on the rarer
// small variants.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Transaction {
    /// A bond, unbond or deposit, signed by its account.
    Statement(SignedStatement),
    /// A credential presentation bound to a gateway and a nonce. Boxed: a presentation is
    /// about a kilobyte, five times a statement.
    Spend(Box<SpendBody>),
    /// A validator's signature over the topology of an epoch.
    TopologySignature(TopologyVote),
    /// A validator's message in a run of the key generation ([`crate::chain::dkg`]). Boxed:
    /// a dealing is kilobytes.
    Dkg(Box<DkgMessage>),
    /// A node's Sphinx key for a rotation ([`crate::chain::sphinx_keys`]).
    SphinxKey(SphinxKeyAnnouncement),
}

impl Transaction {
    /// The id (see the module docs).
    pub fn id(&self) -> TxId {
        let mut enc = Encoder::new(TX_ID_DOMAIN);
        match self {
            Self::Statement(s) => {
                enc.u8(1)
                    .fixed(s.id().as_bytes())
                    .fixed(&s.signature.to_bytes());
            }
            Self::Spend(spend) => return spend_id(&encode_json(spend)),
            Self::TopologySignature(v) => {
                enc.u8(3)
                    .u64(v.epoch.0)
                    .fixed(v.signature.validator.as_bytes());
            }
            Self::Dkg(m) => {
                enc.u8(4)
                    .u64(m.key_epoch.0)
                    .fixed(m.validator.as_bytes())
                    .u8(m.body.kind());
            }
            Self::SphinxKey(a) => {
                enc.u8(5).u64(a.rotation.0).fixed(a.node.as_bytes());
            }
        }
        TxId(sha256(&[&enc.finish()]))
    }

    /// Length of the JSON encoding, as it appears in a block.
    pub fn encoded_len(&self) -> usize {
        encode_json(self).len()
    }

    /// The JSON encoding.
    pub fn encode(&self) -> Vec<u8> {
        encode_json(self)
    }

    /// A spend's double-spend tag `zeta` (unverified: [`VerifiedTx`] checks that the
    /// presentation proves it).
    pub fn spend_tag(&self) -> Option<[u8; ZETA_BYTES]> {
        match self {
            Self::Spend(spend) => Some(spend.theta.zeta_bytes()),
            _ => None,
        }
    }

    /// The account of a statement.
    pub fn account(&self) -> Option<IdentityKey> {
        match self {
            Self::Statement(s) => Some(s.statement.account),
            _ => None,
        }
    }
}

/// `{"spend":` and `}` around a spend's JSON in a transaction's.
const SPEND_WRAPPER_LEN: usize = br#"{"spend":}"#.len();

fn spend_id(spend_json: &[u8]) -> TxId {
    let mut enc = Encoder::new(TX_ID_DOMAIN);
    enc.u8(2).count(spend_json.len()).fixed(spend_json);
    TxId(sha256(&[&enc.finish()]))
}

pub(crate) fn encode_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect(
        "chain types hold no maps and their custom serializers only write strings, \
         which serde_json always encodes",
    )
}

/// Checks a credential presentation: the validator implements it with the aggregate Coconut
/// verification key of the presentation's key epoch (one pairing check); tests use a fake.
pub trait SpendVerifier {
    /// Verifies `spend`'s presentation for its gateway and nonce under `keys`, the chain's
    /// key set of `spend.key_epoch` (`None`: the chain holds no keys of that epoch, so a real
    /// verifier refuses), and returns its double-spend tag (`spend.theta.zeta_bytes()`), or
    /// why it does not verify.
    fn verify_spend(
        &self,
        spend: &SpendBody,
        keys: Option<&VerificationKeySet>,
    ) -> Result<[u8; ZETA_BYTES], String>;
}

/// Checks what [`VerifiedTx::verify`] checks; returns a spend's verified tag.
pub(crate) fn check_crypto(
    tx: &Transaction,
    params: &ChainParams,
    key_epochs: &KeyEpochs,
    spends: &dyn SpendVerifier,
) -> Result<Option<[u8; ZETA_BYTES]>, ChainError> {
    match tx {
        Transaction::Statement(signed) => {
            let got = signed.statement.genesis_hash;
            if got != params.genesis_hash() {
                return Err(ChainError::WrongChain {
                    expected: params.genesis_hash(),
                    got,
                });
            }
            signed.verify()?;
            Ok(None)
        }
        Transaction::Spend(spend) => {
            let keys = key_epochs
                .get(spend.key_epoch)
                .and_then(|run| run.keys_out.as_ref())
                .map(|k| &k.key_set);
            let tag = spends
                .verify_spend(spend, keys)
                .map_err(ChainError::BadSpend)?;
            if tag != spend.theta.zeta_bytes() {
                return Err(ChainError::BadSpend(format!(
                    "the verifier's tag {} is not the presentation's zeta",
                    zeta_to_bs58(&tag)
                )));
            }
            Ok(Some(tag))
        }
        Transaction::TopologySignature(vote) => {
            let signer = vote.signature.validator;
            if !params.is_validator(&signer) {
                return Err(ChainError::NotAValidator(signer));
            }
            Ok(None)
        }
        Transaction::Dkg(message) => {
            if !params.is_validator(&message.validator) {
                return Err(ChainError::NotAValidator(message.validator));
            }
            if !message.verify(&params.genesis_hash()) {
                return Err(ChainError::BadDkgSignature(message.validator));
            }
            Ok(None)
        }
        Transaction::SphinxKey(announcement) => {
            if !announcement.verify(&params.genesis_hash()) {
                return Err(ChainError::BadSphinxKeySignature(announcement.node));
            }
            Ok(None)
        }
    }
}

/// A transaction whose own cryptography holds (see the module docs). Only
/// [`VerifiedTx::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    tx: Transaction,
    id: TxId,
    spend_tag: Option<[u8; ZETA_BYTES]>,
    encoded_len: usize,
}

impl VerifiedTx {
    /// Checks `tx` for the chain of `state` (see the module docs): its parameters, and for
    /// a spend its key epoch's keys. Does the transaction's expensive crypto: run it before
    /// taking any lock (on a committed state the caller holds an `Arc` of).
    pub fn verify(
        tx: Transaction,
        state: &ChainState,
        spends: &dyn SpendVerifier,
    ) -> Result<Self, ChainError> {
        let spend_tag = check_crypto(&tx, state.params(), state.key_epochs(), spends)?;
        let (id, encoded_len) = match &tx {
            // One serialization gives both the id and the length of a spend.
            Transaction::Spend(spend) => {
                let json = encode_json(spend);
                (
                    spend_id(&json),
                    json.len().saturating_add(SPEND_WRAPPER_LEN),
                )
            }
            other => (other.id(), other.encoded_len()),
        };
        Ok(Self {
            tx,
            id,
            spend_tag,
            encoded_len,
        })
    }

    /// The transaction.
    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    /// Its id.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// A spend's verified double-spend tag.
    pub fn spend_tag(&self) -> Option<&[u8; ZETA_BYTES]> {
        self.spend_tag.as_ref()
    }

    /// Length of its JSON encoding.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// The transaction, for a block.
    pub fn into_tx(self) -> Transaction {
        self.tx
    }
}

#[cfg(test)]
mod tests;
