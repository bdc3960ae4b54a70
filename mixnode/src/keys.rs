//! The node's two keys and their files.
//!
//! * identity: ed25519, signs what the node says to validators; public half in bs58 is the
//!   node's name in the topology.
//! * Sphinx: x25519, the key packets are encrypted to.
//!
//! Each file holds the bs58 secret and nothing else; it is created with mode 0600 and never
//! overwritten in place (init writes a new file; `--force` removes the old one first).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};
use router_core::sphinx::SphinxSecretKey;
use zeroize::Zeroizing;

/// A key file problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The content is not a bs58 32-byte key.
    #[error("{path}: not a key file (expected 32 bytes in base58)")]
    Malformed {
        /// The file.
        path: String,
    },
    /// Readable by others: refuse to use a secret that may have leaked.
    #[error("{path}: permissions {mode:o} let others read the secret key; run chmod 600 on it")]
    TooOpen {
        /// The file.
        path: String,
        /// Its mode bits.
        mode: u32,
    },
}

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

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a 32-byte secret as bs58 to a new file readable only by its owner.
pub fn write_secret(path: &Path, secret: &[u8; 32]) -> Result<(), KeyError> {
    let encoded = Zeroizing::new(bs58::encode(secret).into_string());
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(encoded.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))
}

/// Reads a secret written by [`write_secret`], refusing files others can read.
pub fn read_secret(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mode = std::fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.display().to_string(),
            mode: mode & 0o777,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_error(path))?);
    let mut out = Zeroizing::new([0u8; 32]);
    let malformed = || KeyError::Malformed {
        path: path.display().to_string(),
    };
    match bs58::decode(text.trim()).onto(out.as_mut()) {
        Ok(32) => Ok(out),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn readable_or_malformed_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_secret(&path, &[1; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_secret(&path), Err(KeyError::TooOpen { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not-base58-0OIl").unwrap();
        assert!(matches!(
            read_secret(&path),
            Err(KeyError::Malformed { .. })
        ));
    }
}
