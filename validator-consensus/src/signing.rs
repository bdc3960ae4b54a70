//! Consensus signatures: ed25519 over the validators' identity keys, domain-separated by
//! message kind and bound to the chain's genesis hash, so a vote or proposal signed for one
//! chain (or as one kind of message) is worthless anywhere else.
//!
//! Signed bytes: `"mixnet-chain-<kind>-v1" || genesis_hash || borsh(message)`.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use malachitebft_core_types::{SignedMessage, SigningProvider, SigningScheme};

use crate::context::{ChainContext, Proposal, ProposalPart, Vote};
use validator_core::genesis::GenesisHash;

const VOTE_DOMAIN: &[u8] = b"mixnet-chain-vote-v1";
const PROPOSAL_DOMAIN: &[u8] = b"mixnet-chain-proposal-v1";
const PART_DOMAIN: &[u8] = b"mixnet-chain-proposal-part-v1";
/// Domain of the `Fin` signature over a whole streamed block.
pub const BLOCK_STREAM_DOMAIN: &[u8] = b"mixnet-chain-block-stream-v1";

/// An ed25519 signature, ordered by its bytes (the engine keeps signatures in ordered sets).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", bs58::encode(&self.0[..8]).into_string())
    }
}

impl From<ed25519_dalek::Signature> for Signature {
    fn from(s: ed25519_dalek::Signature) -> Self {
        Signature(s.to_bytes())
    }
}

/// The signing scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

/// A signature of the wrong length.
#[derive(Debug, Clone, thiserror::Error)]
#[error("an ed25519 signature is 64 bytes, got {0}")]
pub struct SignatureLength(usize);

impl SigningScheme for Ed25519 {
    type DecodingError = SignatureLength;
    type Signature = Signature;
    type PublicKey = VerifyingKey;
    type PrivateKey = SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, SignatureLength> {
        <[u8; 64]>::try_from(bytes)
            .map(Signature)
            .map_err(|_| SignatureLength(bytes.len()))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }
}

/// Signs with this validator's identity key, verifies the others'.
#[derive(Clone)]
pub struct Provider {
    key: SigningKey,
    genesis_hash: GenesisHash,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider").finish_non_exhaustive()
    }
}

impl Provider {
    /// A provider for `key` on the chain `genesis_hash`.
    pub fn new(key: SigningKey, genesis_hash: GenesisHash) -> Self {
        Self { key, genesis_hash }
    }

    fn bytes(&self, domain: &[u8], message: &impl BorshSerialize) -> Vec<u8> {
        signed_bytes(&self.genesis_hash, domain, message)
    }

    fn sign(&self, domain: &[u8], message: &impl BorshSerialize) -> Signature {
        self.key.sign(&self.bytes(domain, message)).into()
    }

    fn verify(
        &self,
        domain: &[u8],
        message: &impl BorshSerialize,
        signature: &Signature,
        key: &VerifyingKey,
    ) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(&self.bytes(domain, message), &signature)
            .is_ok()
    }

    /// Signs the stream digest of a block (see [`crate::streaming`]).
    pub fn sign_raw(&self, domain: &[u8], message: &[u8]) -> Signature {
        self.sign(domain, &message)
    }

    /// Verifies a signature made with [`Provider::sign_raw`].
    pub fn verify_raw(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &Signature,
        key: &VerifyingKey,
    ) -> bool {
        self.verify(domain, &message, signature, key)
    }
}

/// The bytes a consensus signature covers.
pub fn signed_bytes(
    genesis_hash: &GenesisHash,
    domain: &[u8],
    message: &impl BorshSerialize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + 32 + 128);
    out.extend_from_slice(domain);
    out.extend_from_slice(genesis_hash.as_bytes());
    // Writing into a Vec cannot fail, and every message type here has a total encoding.
    if message.serialize(&mut out).is_err() {
        out.clear();
    }
    out
}

impl SigningProvider<ChainContext> for Provider {
    fn sign_vote(&self, vote: Vote) -> SignedMessage<ChainContext, Vote> {
        let signature = self.sign(VOTE_DOMAIN, &vote);
        SignedMessage::new(vote, signature)
    }

    fn verify_signed_vote(&self, vote: &Vote, signature: &Signature, key: &VerifyingKey) -> bool {
        self.verify(VOTE_DOMAIN, vote, signature, key)
    }

    fn sign_proposal(&self, proposal: Proposal) -> SignedMessage<ChainContext, Proposal> {
        let signature = self.sign(PROPOSAL_DOMAIN, &proposal);
        SignedMessage::new(proposal, signature)
    }

    fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        key: &VerifyingKey,
    ) -> bool {
        self.verify(PROPOSAL_DOMAIN, proposal, signature, key)
    }

    fn sign_proposal_part(&self, part: ProposalPart) -> SignedMessage<ChainContext, ProposalPart> {
        let signature = self.sign(PART_DOMAIN, &part);
        SignedMessage::new(part, signature)
    }

    fn verify_signed_proposal_part(
        &self,
        part: &ProposalPart,
        signature: &Signature,
        key: &VerifyingKey,
    ) -> bool {
        self.verify(PART_DOMAIN, part, signature, key)
    }

    fn sign_vote_extension(&self, extension: ()) -> SignedMessage<ChainContext, ()> {
        let signature = self.sign(b"mixnet-chain-vote-extension-v1", &extension);
        SignedMessage::new(extension, signature)
    }

    fn verify_signed_vote_extension(
        &self,
        _extension: &(),
        _signature: &Signature,
        _key: &VerifyingKey,
    ) -> bool {
        // The chain uses no vote extensions: any that arrives is refused.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_core_types::{NilOrVal, Round, VoteType};
    use validator_core::test_util::{genesis, validator_key};

    use crate::context::{Address, Height, ValueId};

    fn vote(value: u8) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height: Height(7),
            round: Round::new(1),
            value: NilOrVal::Val(ValueId([value; 32])),
            validator: Address([1; 32]),
        }
    }

    #[test]
    fn a_vote_verifies_only_unchanged_on_its_chain_under_its_key() {
        let g = genesis(1, 10, 4, 3);
        let p = Provider::new(validator_key(0), g.genesis_hash());
        let signed = p.sign_vote(vote(1));
        let key = validator_key(0).verifying_key();
        assert!(p.verify_signed_vote(&signed.message, &signed.signature, &key));
        assert!(!p.verify_signed_vote(&vote(2), &signed.signature, &key));
        let other_key = validator_key(1).verifying_key();
        assert!(!p.verify_signed_vote(&signed.message, &signed.signature, &other_key));
        let other_chain = genesis(2, 10, 4, 3).genesis_hash();
        let q = Provider::new(validator_key(0), other_chain);
        assert!(!q.verify_signed_vote(&signed.message, &signed.signature, &key));
    }

    #[test]
    fn a_vote_signature_is_not_a_proposal_signature() {
        let g = genesis(1, 10, 4, 3);
        let p = Provider::new(validator_key(0), g.genesis_hash());
        let proposal = Proposal {
            height: Height(7),
            round: Round::new(1),
            value: ValueId([1; 32]),
            pol_round: Round::Nil,
            validator: Address([1; 32]),
        };
        let signed = p.sign_proposal(proposal.clone());
        let key = validator_key(0).verifying_key();
        assert!(p.verify_signed_proposal(&proposal, &signed.signature, &key));
        // The same bytes under the vote domain do not verify as a vote.
        let as_vote = p.sign_vote(vote(1)).signature;
        assert!(!p.verify_signed_proposal(&proposal, &as_vote, &key));
    }

    #[test]
    fn vote_extensions_are_refused() {
        let g = genesis(1, 10, 4, 3);
        let p = Provider::new(validator_key(0), g.genesis_hash());
        let signed = p.sign_vote_extension(());
        let key = validator_key(0).verifying_key();
        assert!(!p.verify_signed_vote_extension(&(), &signed.signature, &key));
    }
}
