//! The key generation's transactions: one signed [`DkgMessage`] per validator, phase and key
//! epoch.
//!
//! # Signing bytes
//!
//! ```text
//! "mixnet-dkg-message-v1" || genesis_hash[32] || key_epoch:u64 || validator[32]
//! || kind:u8 || len:u64 || body JSON
//! ```
//!
//! `kind` is [`DkgBody::kind`]; the body JSON is the body's canonical serde JSON (the DKG
//! wire types serialise as base58 strings). The transaction id hashes the key epoch, the
//! validator and the kind only, so a validator has one message per phase: a second one
//! (say, a re-sent complaint after a restart, with a fresh proof) is a duplicate.

use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::coconut::dkg::{Dealing, Disclosure, DkgPublicKey, Opening};
use crate::genesis::GenesisHash;
use crate::primitives::{signature_bs58, Encoder, IdentityKey};

/// Domain-separation prefix of a DKG message's signing bytes.
pub const DKG_MESSAGE_DOMAIN: &[u8] = b"mixnet-dkg-message-v1";

/// A run of the key generation and the keys it produced; the first runs at genesis.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct KeyEpochId(pub u64);

impl KeyEpochId {
    /// The next run.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl std::fmt::Display for KeyEpochId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a validator says in one phase (see [`super`] for the phases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DkgBody {
    /// Registration: the key this validator's shares are encrypted to, for this run only.
    Register(DkgPublicKey),
    /// Phase 1: its dealing (Pedersen commitments and encrypted shares).
    Dealing(Box<Dealing>),
    /// Phase 1 complaints: disclosures of its keys for dealings whose shares failed their
    /// commitments (empty: it has none, which lets the phase end early).
    Complaints(Vec<Disclosure>),
    /// Phase 2: its opening (`g^{a_k}` of its polynomials).
    Opening(Box<Opening>),
    /// Phase 2 complaints: disclosures for openings its (valid) shares fail.
    OpeningComplaints(Vec<Disclosure>),
    /// Reconstruction: disclosures of its shares of the qualified dealers that did not open
    /// correctly, so everyone can interpolate their polynomials.
    Reveals(Vec<Disclosure>),
}

impl DkgBody {
    /// The kind byte of the signing bytes and id (1 to 6, in phase order).
    pub fn kind(&self) -> u8 {
        match self {
            Self::Register(_) => 1,
            Self::Dealing(_) => 2,
            Self::Complaints(_) => 3,
            Self::Opening(_) => 4,
            Self::OpeningComplaints(_) => 5,
            Self::Reveals(_) => 6,
        }
    }

    /// A name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Register(_) => "registration",
            Self::Dealing(_) => "dealing",
            Self::Complaints(_) => "complaints",
            Self::Opening(_) => "opening",
            Self::OpeningComplaints(_) => "opening complaints",
            Self::Reveals(_) => "reveals",
        }
    }
}

/// A genesis validator's message in a run of the key generation, signed by its identity key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkgMessage {
    /// The run.
    pub key_epoch: KeyEpochId,
    /// The sender.
    pub validator: IdentityKey,
    /// What it says.
    pub body: DkgBody,
    /// ed25519 over [`DkgMessage::signing_bytes`], base58.
    #[serde(with = "signature_bs58")]
    pub signature: Signature,
}

impl DkgMessage {
    /// `identity`'s message `body` in run `key_epoch` of the chain `genesis_hash`.
    pub fn sign(
        genesis_hash: &GenesisHash,
        key_epoch: KeyEpochId,
        body: DkgBody,
        identity: &SigningKey,
    ) -> Self {
        let validator = IdentityKey::from(identity);
        let bytes = signing_bytes(genesis_hash, key_epoch, &validator, &body);
        Self {
            key_epoch,
            validator,
            signature: identity.sign(&bytes),
            body,
        }
    }

    /// What the signature covers (see the module docs).
    pub fn signing_bytes(&self, genesis_hash: &GenesisHash) -> Vec<u8> {
        signing_bytes(genesis_hash, self.key_epoch, &self.validator, &self.body)
    }

    /// Whether the signature is the sender's over this message on `genesis_hash`'s chain.
    pub fn verify(&self, genesis_hash: &GenesisHash) -> bool {
        self.validator
            .verify(&self.signing_bytes(genesis_hash), &self.signature)
    }
}

fn signing_bytes(
    genesis_hash: &GenesisHash,
    key_epoch: KeyEpochId,
    validator: &IdentityKey,
    body: &DkgBody,
) -> Vec<u8> {
    let json = crate::chain::transaction::encode_json(body);
    let mut enc = Encoder::new(DKG_MESSAGE_DOMAIN);
    enc.fixed(genesis_hash.as_bytes())
        .u64(key_epoch.0)
        .fixed(validator.as_bytes())
        .u8(body.kind())
        .count(json.len())
        .fixed(&json);
    enc.finish()
}
