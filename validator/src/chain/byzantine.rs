//! The Byzantine test doubles: a validator built from the same code that misbehaves in one
//! chosen way, switched on only by tests (`MIXNET_TEST_BYZANTINE_VALIDATOR`, honoured by debug
//! builds only; see `service::node`). The application ([`super::app`]) asks which one it is
//! and takes the bad inputs from here.

use validator_core::chain::{Block, Transaction};
use validator_core::genesis::GenesisHash;
use validator_core::primitives::IdentityKey;

/// How a test double of a Byzantine validator misbehaves. Only tests set it (see
/// `service::config`); a release build ignores it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Byzantine {
    /// Honest.
    #[default]
    No,
    /// Proposes blocks with a transaction whose signature does not verify.
    InvalidProposals,
    /// Equivocates: proposes two different valid blocks for each of its rounds (the second
    /// is the first a millisecond later), both streamed to every peer and both signed.
    ConflictingProposals,
    /// Deals, in the key generation, a share that fails its commitments to one receiver.
    BadDkgShare,
}

/// A statement whose signature does not verify, for the Byzantine test double.
pub fn invalid_transaction(genesis_hash: &GenesisHash) -> Transaction {
    use validator_core::statement::{SignedStatement, Statement};
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let statement = Statement::unbond(
        *genesis_hash,
        IdentityKey::from(&key),
        0,
        IdentityKey::from(&key),
    );
    let signature = ed25519_dalek::Signature::from_bytes(&[1; 64]);
    Transaction::Statement(SignedStatement {
        statement,
        signature,
    })
}

/// A block as valid as the encoded block `bytes`, but another one: the same block a
/// millisecond later (the second of an equivocating proposer's two blocks per round).
pub fn twin(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut block = Block::decode(bytes).ok()?;
    block.header.time_ms = block.header.time_ms.saturating_add(1);
    Some(block.encode())
}
