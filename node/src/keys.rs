//! The node's two keys and their files.
//!
//! * identity: ed25519, signs what the node says to validators; public half in bs58 is the
//!   node's name in the topology.
//! * Sphinx: x25519, the key packets are encrypted to.
//!
//! Both are secret key files in the format of [`validator_core::files`] (bs58, mode 0600, never
//! overwritten in place; `init --force` removes the old ones first).

use std::path::Path;

use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};
use router_core::sphinx::SphinxSecretKey;
use zeroize::Zeroizing;

pub use validator_core::files::KeyFileError as KeyError;
use validator_core::files::{read_secret, write_secret};

/// Both keys of a node.
pub struct NodeKeys {
    /// ed25519 identity.
    pub identity: SigningKey,
    /// x25519 Sphinx key.
    pub sphinx: SphinxSecretKey,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("identity", &self.identity_public_bs58())
            .field("sphinx", &self.sphinx_public_bs58())
            .finish()
    }
}

impl NodeKeys {
    /// Fresh keys from the OS random source.
    pub fn generate() -> Self {
        let mut identity = Zeroizing::new([0u8; 32]);
        let mut sphinx = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(identity.as_mut());
        OsRng.fill_bytes(sphinx.as_mut());
        NodeKeys {
            identity: SigningKey::from_bytes(&identity),
            sphinx: SphinxSecretKey::from_bytes(*sphinx),
        }
    }

    /// The identity public key, bs58.
    pub fn identity_public_bs58(&self) -> String {
        bs58::encode(self.identity.verifying_key().as_bytes()).into_string()
    }

    /// The Sphinx public key, bs58.
    pub fn sphinx_public_bs58(&self) -> String {
        bs58::encode(self.sphinx.public_key()).into_string()
    }

    /// Writes both secret files (mode 0600, refusing to overwrite).
    pub fn save(&self, identity_path: &Path, sphinx_path: &Path) -> Result<(), KeyError> {
        write_secret(identity_path, &self.identity.to_bytes())?;
        write_secret(sphinx_path, &self.sphinx.to_bytes())
    }

    /// Reads both secret files.
    pub fn load(identity_path: &Path, sphinx_path: &Path) -> Result<Self, KeyError> {
        let identity = read_secret(identity_path)?;
        let sphinx = read_secret(sphinx_path)?;
        Ok(NodeKeys {
            identity: SigningKey::from_bytes(&identity),
            sphinx: SphinxSecretKey::from_bytes(*sphinx),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_round_trip_through_0600_files() {
        let dir = tempfile::tempdir().unwrap();
        let (id, sx) = (dir.path().join("id"), dir.path().join("sx"));
        let keys = NodeKeys::generate();
        keys.save(&id, &sx).unwrap();
        for path in [&id, &sx] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = NodeKeys::load(&id, &sx).unwrap();
        assert_eq!(loaded.identity_public_bs58(), keys.identity_public_bs58());
        assert_eq!(loaded.sphinx_public_bs58(), keys.sphinx_public_bs58());
        assert!(
            keys.save(&id, &sx).is_err(),
            "existing key files are never overwritten"
        );
    }
}
