//! A client's keys: the ed25519 identity (what its gateway knows it by and delivers to), the
//! x25519 encryption key (what senders encrypt fragments to) and the symmetric ack key (what
//! its ack ids are encrypted under). All are wiped on drop.

use ed25519_dalek::SigningKey;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::address::Recipient;

/// The client's long-term keys.
pub struct ClientKeys {
    /// ed25519 identity.
    pub identity: SigningKey,
    /// x25519 encryption key.
    pub encryption: StaticSecret,
    /// AES-128 key for ack ids.
    pub ack_key: Zeroizing<[u8; 16]>,
}

impl ClientKeys {
    /// Keys from their secret bytes.
    pub fn from_secrets(identity: &[u8; 32], encryption: &[u8; 32], ack_key: &[u8; 16]) -> Self {
        Self {
            identity: SigningKey::from_bytes(identity),
            encryption: StaticSecret::from(*encryption),
            ack_key: Zeroizing::new(*ack_key),
        }
    }

    /// The identity's public key: the Sphinx destination at the gateway.
    pub fn identity_public(&self) -> [u8; 32] {
        self.identity.verifying_key().to_bytes()
    }

    /// The encryption key's public half.
    pub fn encryption_public(&self) -> [u8; 32] {
        PublicKey::from(&self.encryption).to_bytes()
    }

    /// This client's address at `gateway`.
    pub fn address(&self, gateway: [u8; 32]) -> Recipient {
        Recipient {
            identity: self.identity_public(),
            encryption: self.encryption_public(),
            gateway,
        }
    }
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys")
            .field(
                "identity",
                &bs58::encode(self.identity_public()).into_string(),
            )
            .finish_non_exhaustive()
    }
}
