//! Signed statements: the only way an account changes the ledger.
//!
//! A [`Statement`] names its chain (the genesis hash), its account, a per-account sequence
//! number (`nonce`) and a [`StatementBody`]. The account signs the statement's canonical
//! *signing bytes* with its ed25519 key ([`SignedStatement::sign`]); the statement's id is the
//! SHA-256 of those bytes.
//!
//! # Canonical signing bytes
//!
//! A hand-written binary encoding (see [`crate::primitives`] for the primitive rules: big-endian
//! fixed-width integers, raw 32-byte keys and hashes, `u64` length prefixes):
//!
//! ```text
//! "mixnet-validator-statement-v1" || genesis_hash[32] || account[32] || nonce:u64 || body
//! body = 0x01 || node || amount:u64 || node_signature[64]        (bond)
//!      | 0x02 || identity_key[32]                                (unbond)
//!      | 0x03 || amount:u64 || credential_request_digest[32]     (deposit)
//! node = identity_key[32] || sphinx_key[32] || role:u8 (0x01 mixnode, 0x02 gateway)
//!        || len:u64 || address (the SocketAddr's display form, e.g. `1.2.3.4:1789`, `[::1]:1789`)
//!        || 0x00 | 0x01 || len:u64 || clients_address
//!        || 0x00 | 0x01 || noise_key[32]
//! ```
//!
//! Every field has a fixed width or a length prefix and every choice a tag, so the encoding is
//! injective: two different statements never share signing bytes. It does not depend on a
//! serializer's field order, whitespace or number formatting, unlike the JSON wire form.
//!
//! # Node consent
//!
//! A bond also carries `node_signature`: the node's identity key signs
//! `"mixnet-validator-node-bond-v1" || genesis_hash || account || node`, consenting to be
//! bonded by that account with that descriptor. Without it anyone could bond (squat) another
//! operator's identity key and lock the real operator out.

use std::net::SocketAddr;

use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::genesis::{Amount, GenesisHash};
use crate::primitives::{hash32_type, signature_bs58, Encoder, IdentityKey, NoiseKey, SphinxKey};

/// Domain-separation prefix of statement signing bytes.
pub const STATEMENT_DOMAIN: &[u8] = b"mixnet-validator-statement-v1";
/// Domain-separation prefix of a node's consent to a bond.
pub const NODE_BOND_DOMAIN: &[u8] = b"mixnet-validator-node-bond-v1";
/// Longest accepted gateway `clients_address`.
pub const MAX_CLIENTS_ADDRESS_LEN: usize = 256;

hash32_type!(
    /// A statement's id: SHA-256 of its signing bytes.
    StatementId
);
hash32_type!(
    /// Digest of a credential request a deposit pays for.
    CredentialRequestDigest
);

/// Why a statement is malformed or its signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// A signing key does not belong to the key the statement names.
    #[error("signing key {got} is not the key of {role} {expected}")]
    KeyMismatch {
        /// "account" or "node".
        role: &'static str,
        /// The key named in the statement.
        expected: IdentityKey,
        /// The key that tried to sign.
        got: IdentityKey,
    },
    /// The account's signature does not verify over the signing bytes.
    #[error("signature does not verify for account {account}")]
    BadSignature {
        /// The statement's account.
        account: IdentityKey,
    },
    /// The node's consent signature on a bond does not verify.
    #[error("node {identity} did not consent to this bond (bad node signature)")]
    BadNodeSignature {
        /// The node's identity key.
        identity: IdentityKey,
    },
    /// A bond or deposit of zero units.
    #[error("amount must be nonzero")]
    ZeroAmount,
    /// The announced address is not usable.
    #[error("invalid announced address {address}: {reason}")]
    InvalidAddress {
        /// The address.
        address: SocketAddr,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The gateway's client address is not a usable ws:// or wss:// URL.
    #[error("invalid clients_address: {0}")]
    InvalidClientsAddress(String),
    /// Only gateways accept client connections.
    #[error("a mixnode cannot have a clients_address")]
    ClientsAddressOnMixnode,
}

/// What a bonded node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Mixes packets in one of the three layers.
    Mixnode,
    /// Entry/exit point for clients.
    Gateway,
}

impl NodeRole {
    fn tag(self) -> u8 {
        match self {
            Self::Mixnode => 1,
            Self::Gateway => 2,
        }
    }
}

/// A node as it announces itself when bonded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDescriptor {
    /// The node's ed25519 identity key.
    pub identity_key: IdentityKey,
    /// The node's x25519 Sphinx key.
    pub sphinx_key: SphinxKey,
    /// Mixnode or gateway.
    pub role: NodeRole,
    /// Where other nodes and clients send packets (`ip:port`).
    pub address: SocketAddr,
    /// Gateways only, optional: the `ws://` or `wss://` URL clients connect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients_address: Option<String>,
    /// The node's static x25519 key for Noise links with other nodes; a node without one
    /// can only be reached over plain TCP (by nodes that allow it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_key: Option<NoiseKey>,
}

impl NodeDescriptor {
    /// Checks the announced address and client URL.
    ///
    /// The address must have a specified IP, a nonzero port and, for IPv6, zero flow info and
    /// scope id (so that its display form, which is what is signed, determines it exactly).
    pub fn validate(&self) -> Result<(), StatementError> {
        let address = self.address;
        let bad = |reason| StatementError::InvalidAddress { address, reason };
        if address.ip().is_unspecified() {
            return Err(bad("unspecified IP"));
        }
        if address.port() == 0 {
            return Err(bad("port 0"));
        }
        if let SocketAddr::V6(v6) = address {
            if v6.flowinfo() != 0 || v6.scope_id() != 0 {
                return Err(bad("IPv6 flow info and scope id must be zero"));
            }
        }
        match (self.role, &self.clients_address) {
            (NodeRole::Mixnode, Some(_)) => Err(StatementError::ClientsAddressOnMixnode),
            (_, Some(url)) => check_ws_url(url),
            (_, None) => Ok(()),
        }
    }

    pub(crate) fn encode(&self, enc: &mut Encoder) {
        enc.fixed(self.identity_key.as_bytes())
            .fixed(self.sphinx_key.as_bytes())
            .u8(self.role.tag())
            .str(&self.address.to_string())
            .opt_str(self.clients_address.as_deref());
        match &self.noise_key {
            Some(key) => enc.u8(1).fixed(key.as_bytes()),
            None => enc.u8(0),
        };
    }

    /// The bytes a node signs to consent to being bonded by `account` on the chain.
    pub fn bond_consent_bytes(&self, genesis_hash: &GenesisHash, account: &IdentityKey) -> Vec<u8> {
        let mut enc = Encoder::new(NODE_BOND_DOMAIN);
        enc.fixed(genesis_hash.as_bytes()).fixed(account.as_bytes());
        self.encode(&mut enc);
        enc.finish()
    }

    /// The node's consent signature, made with its identity key.
    pub fn sign_bond_consent(
        &self,
        genesis_hash: &GenesisHash,
        account: &IdentityKey,
        node_key: &SigningKey,
    ) -> Result<Signature, StatementError> {
        let got = IdentityKey::from(node_key);
        if got != self.identity_key {
            return Err(StatementError::KeyMismatch {
                role: "node",
                expected: self.identity_key,
                got,
            });
        }
        Ok(node_key.sign(&self.bond_consent_bytes(genesis_hash, account)))
    }
}

fn check_ws_url(url: &str) -> Result<(), StatementError> {
    let bad = |reason: String| StatementError::InvalidClientsAddress(reason);
    if url.len() > MAX_CLIENTS_ADDRESS_LEN {
        return Err(bad(format!("longer than {MAX_CLIENTS_ADDRESS_LEN} bytes")));
    }
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| bad(format!("`{url}` must start with ws:// or wss://")))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad(format!("`{url}` has no host")));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(format!(
            "`{url}` contains whitespace or control characters"
        )));
    }
    Ok(())
}

/// What a statement does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StatementBody {
    /// Bond `amount` from the account's balance to `node`, registering it.
    Bond {
        /// The node being registered.
        node: NodeDescriptor,
        /// Stake moved from the account's balance.
        amount: Amount,
        /// The node's consent (see the module docs).
        #[serde(with = "signature_bs58")]
        node_signature: Signature,
    },
    /// Remove the node the account bonded; its stake returns to the account.
    Unbond {
        /// The node's identity key.
        identity_key: IdentityKey,
    },
    /// Pay `amount` for the credential whose request hashes to `credential_request_digest`.
    Deposit {
        /// Units debited from the account.
        amount: Amount,
        /// Digest of the credential request being paid for.
        credential_request_digest: CredentialRequestDigest,
    },
}

/// An account's instruction to the ledger, before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// The chain the statement is for.
    pub genesis_hash: GenesisHash,
    /// The account that signs and pays.
    pub account: IdentityKey,
    /// The account's sequence number; statements apply in nonce order 0, 1, 2, ...
    pub nonce: u64,
    /// What to do.
    pub body: StatementBody,
}

impl Statement {
    /// A bond of `node` by `account`, with the node's consent signed by `node_key`.
    pub fn bond(
        genesis_hash: GenesisHash,
        account: IdentityKey,
        nonce: u64,
        node: NodeDescriptor,
        amount: Amount,
        node_key: &SigningKey,
    ) -> Result<Self, StatementError> {
        let node_signature = node.sign_bond_consent(&genesis_hash, &account, node_key)?;
        Ok(Self {
            genesis_hash,
            account,
            nonce,
            body: StatementBody::Bond {
                node,
                amount,
                node_signature,
            },
        })
    }

    /// An unbond of the node `identity_key`.
    pub fn unbond(
        genesis_hash: GenesisHash,
        account: IdentityKey,
        nonce: u64,
        identity_key: IdentityKey,
    ) -> Self {
        Self {
            genesis_hash,
            account,
            nonce,
            body: StatementBody::Unbond { identity_key },
        }
    }

    /// A deposit paying for the credential request with digest `credential_request_digest`.
    pub fn deposit(
        genesis_hash: GenesisHash,
        account: IdentityKey,
        nonce: u64,
        amount: Amount,
        credential_request_digest: CredentialRequestDigest,
    ) -> Self {
        Self {
            genesis_hash,
            account,
            nonce,
            body: StatementBody::Deposit {
                amount,
                credential_request_digest,
            },
        }
    }

    /// The canonical bytes the account signs (see the module docs).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut enc = Encoder::new(STATEMENT_DOMAIN);
        enc.fixed(self.genesis_hash.as_bytes())
            .fixed(self.account.as_bytes())
            .u64(self.nonce);
        match &self.body {
            StatementBody::Bond {
                node,
                amount,
                node_signature,
            } => {
                enc.u8(1);
                node.encode(&mut enc);
                enc.u64(*amount).fixed(&node_signature.to_bytes());
            }
            StatementBody::Unbond { identity_key } => {
                enc.u8(2).fixed(identity_key.as_bytes());
            }
            StatementBody::Deposit {
                amount,
                credential_request_digest,
            } => {
                enc.u8(3)
                    .u64(*amount)
                    .fixed(credential_request_digest.as_bytes());
            }
        }
        enc.finish()
    }

    /// SHA-256 of the signing bytes.
    pub fn id(&self) -> StatementId {
        StatementId(crate::primitives::sha256(&[&self.signing_bytes()]))
    }

    /// Checks everything about the statement except the account's signature: nonzero amounts,
    /// a valid node descriptor, and the node's consent to a bond.
    pub fn check_well_formed(&self) -> Result<(), StatementError> {
        match &self.body {
            StatementBody::Bond {
                node,
                amount,
                node_signature,
            } => {
                if *amount == 0 {
                    return Err(StatementError::ZeroAmount);
                }
                node.validate()?;
                let consent = node.bond_consent_bytes(&self.genesis_hash, &self.account);
                if !node.identity_key.verify(&consent, node_signature) {
                    return Err(StatementError::BadNodeSignature {
                        identity: node.identity_key,
                    });
                }
                Ok(())
            }
            StatementBody::Unbond { .. } => Ok(()),
            StatementBody::Deposit { amount, .. } => {
                if *amount == 0 {
                    return Err(StatementError::ZeroAmount);
                }
                Ok(())
            }
        }
    }
}

/// A statement with its account's signature; the JSON wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedStatement {
    /// The statement.
    pub statement: Statement,
    /// The account's ed25519 signature over [`Statement::signing_bytes`], base58.
    #[serde(with = "signature_bs58")]
    pub signature: Signature,
}

impl SignedStatement {
    /// Checks the statement is well formed and signs it with the account's key.
    pub fn sign(statement: Statement, account_key: &SigningKey) -> Result<Self, StatementError> {
        let got = IdentityKey::from(account_key);
        if got != statement.account {
            return Err(StatementError::KeyMismatch {
                role: "account",
                expected: statement.account,
                got,
            });
        }
        statement.check_well_formed()?;
        let signature = account_key.sign(&statement.signing_bytes());
        Ok(Self {
            statement,
            signature,
        })
    }

    /// Checks the statement is well formed and the account's signature verifies (strictly).
    /// Whether it applies to a ledger (chain, nonce, balance) is the ledger's question.
    pub fn verify(&self) -> Result<(), StatementError> {
        self.statement.check_well_formed()?;
        if !self
            .statement
            .account
            .verify(&self.statement.signing_bytes(), &self.signature)
        {
            return Err(StatementError::BadSignature {
                account: self.statement.account,
            });
        }
        Ok(())
    }

    /// The statement's id.
    pub fn id(&self) -> StatementId {
        self.statement.id()
    }
}

#[cfg(test)]
mod tests;
