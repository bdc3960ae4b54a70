//! The node's three keys and their files.
//!
//! * identity: ed25519, signs what the node says to validators; public half in bs58 is the
//!   node's name in the topology.
//! * Sphinx: x25519, the key packets are encrypted to (the first one; with key rotation the
//!   node's later keys are kept by [`crate::rotation`]).
//! * Noise: x25519, the node's static key for Noise links with other nodes, published in its
//!   bond and in the topology; it never rotates.
//!
//! All are secret key files in the format of [`validator_core::files`] (bs58, mode 0600, never
//! overwritten in place; `init --force` removes the old ones first). A node made before Noise
//! links existed gets its Noise key the first time its keys are loaded, written to a temporary
//! file and renamed into place, so a crash leaves either no key or a whole one.

use std::path::Path;

use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};
use router_core::noise::handshake::StaticKey;
use router_core::sphinx::SphinxSecretKey;
use zeroize::Zeroizing;

pub use validator_core::files::KeyFileError as KeyError;
use validator_core::files::{read_secret, write_secret};

use crate::home::NodePaths;

/// The keys of a node.
pub struct NodeKeys {
    /// ed25519 identity.
    pub identity: SigningKey,
    /// x25519 Sphinx key.
    pub sphinx: SphinxSecretKey,
    /// x25519 static Noise key.
    pub noise: StaticKey,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("identity", &self.identity_public_bs58())
            .field("sphinx", &self.sphinx_public_bs58())
            .field("noise", &self.noise_public_bs58())
            .finish()
    }
}

fn random_secret() -> Zeroizing<[u8; 32]> {
    let mut secret = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(secret.as_mut());
    secret
}

impl NodeKeys {
    /// Fresh keys from the OS random source.
    pub fn generate() -> Self {
        NodeKeys {
            identity: SigningKey::from_bytes(&random_secret()),
            sphinx: SphinxSecretKey::from_bytes(*random_secret()),
            noise: StaticKey::from_secret(*random_secret()),
        }
    }

    /// The Noise public key, bs58.
    pub fn noise_public_bs58(&self) -> String {
        bs58::encode(self.noise.public()).into_string()
    }

    /// The identity public key, bs58.
    pub fn identity_public_bs58(&self) -> String {
        bs58::encode(self.identity.verifying_key().as_bytes()).into_string()
    }

    /// The Sphinx public key, bs58.
    pub fn sphinx_public_bs58(&self) -> String {
        bs58::encode(self.sphinx.public_key()).into_string()
    }

    /// Writes the secret files (mode 0600, refusing to overwrite).
    pub fn save(&self, paths: &NodePaths) -> Result<(), KeyError> {
        write_secret(&paths.identity_key(), &self.identity.to_bytes())?;
        write_secret(&paths.sphinx_key(), &self.sphinx.to_bytes())?;
        write_secret(&paths.noise_key(), self.noise.secret())
    }

    /// Reads the secret files; a missing Noise key is made now (see the module docs).
    pub fn load(paths: &NodePaths) -> Result<Self, KeyError> {
        let identity = read_secret(&paths.identity_key())?;
        let sphinx = read_secret(&paths.sphinx_key())?;
        let noise = load_or_create(&paths.noise_key())?;
        Ok(NodeKeys {
            identity: SigningKey::from_bytes(&identity),
            sphinx: SphinxSecretKey::from_bytes(*sphinx),
            noise: StaticKey::from_secret(*noise),
        })
    }
}

/// Reads the secret at `path`, or makes one there: written whole to a temporary file, then
/// renamed into place (two processes racing both end up reading the one that won).
fn load_or_create(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    if path.exists() {
        return read_secret(path);
    }
    let temporary = path.with_extension(format!("new.{}", std::process::id()));
    let _ = std::fs::remove_file(&temporary);
    write_secret(&temporary, &random_secret())?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
                let _ = dir.sync_all();
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(KeyError::Io {
                path: path.display().to_string(),
                source: error,
            })
        }
    }
    read_secret(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use crate::home::Role;

    #[test]
    fn keys_round_trip_through_0600_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths = NodePaths::new(dir.path(), Role::Mixnode, "m");
        std::fs::create_dir_all(&paths.dir).unwrap();
        let keys = NodeKeys::generate();
        keys.save(&paths).unwrap();
        for path in [paths.identity_key(), paths.sphinx_key(), paths.noise_key()] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = NodeKeys::load(&paths).unwrap();
        assert_eq!(loaded.identity_public_bs58(), keys.identity_public_bs58());
        assert_eq!(loaded.sphinx_public_bs58(), keys.sphinx_public_bs58());
        assert_eq!(loaded.noise_public_bs58(), keys.noise_public_bs58());
        assert!(
            keys.save(&paths).is_err(),
            "existing key files are never overwritten"
        );
    }

    #[test]
    fn a_node_without_a_noise_key_gets_one_that_stays() {
        let dir = tempfile::tempdir().unwrap();
        let paths = NodePaths::new(dir.path(), Role::Gateway, "g");
        std::fs::create_dir_all(&paths.dir).unwrap();
        NodeKeys::generate().save(&paths).unwrap();
        std::fs::remove_file(paths.noise_key()).unwrap();
        let first = NodeKeys::load(&paths).unwrap().noise_public_bs58();
        let again = NodeKeys::load(&paths).unwrap().noise_public_bs58();
        assert_eq!(first, again, "made once, then read");
        let mode = std::fs::metadata(paths.noise_key())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(&paths.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.contains(".new."))
            .collect();
        assert!(left.is_empty(), "no temporary file left: {left:?}");
    }
}
