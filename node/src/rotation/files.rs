//! A rotating node's key files: `ROTATION_DIR/sphinx-R.key` (0600, the secret of rotation
//! R), `replay-R.bin` and `replay-R.journal` (its filter, [`crate::replay`]).

use std::collections::BTreeSet;
use std::path::PathBuf;

use rand_core::{OsRng, RngCore};
use router_core::sphinx::SphinxSecretKey;
use validator_core::files::{read_secret, write_secret};
use validator_core::rotation::RotationId;
use zeroize::Zeroizing;

use crate::error::NodeError;
use crate::replay::FilterFiles;

/// The directory of a node's rotating keys.
#[derive(Debug, Clone)]
pub struct RotationFiles {
    dir: PathBuf,
}

impl RotationFiles {
    /// Keys under `dir` (created on first use, mode 0700).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn key_path(&self, rotation: RotationId) -> PathBuf {
        self.dir.join(format!("sphinx-{rotation}.key"))
    }

    /// The filter files of `rotation`'s key.
    pub fn filter(&self, rotation: RotationId) -> FilterFiles {
        FilterFiles::beside(self.dir.join(format!("replay-{rotation}.bin")))
    }

    /// `rotation`'s secret key, generated and saved (0600) if there is none yet.
    pub fn load_or_create(&self, rotation: RotationId) -> Result<SphinxSecretKey, NodeError> {
        let path = self.key_path(rotation);
        if path.exists() {
            let secret = read_secret(&path)?;
            return Ok(SphinxSecretKey::from_bytes(*secret));
        }
        create_private_dir(&self.dir)?;
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        // Written beside, then renamed: a crash leaves no half-written key under the real
        // name (a stale temporary file is replaced by the next attempt).
        let tmp = path.with_extension("key.tmp");
        let _ = std::fs::remove_file(&tmp);
        write_secret(&tmp, &secret)?;
        let io = |action, source| NodeError::Io {
            action,
            path: path.clone(),
            source,
        };
        std::fs::rename(&tmp, &path).map_err(|e| io("cannot rename into place", e))?;
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| io("cannot sync the directory of", e))?;
        tracing::info!(%rotation, path = %path.display(), "Sphinx key generated");
        Ok(SphinxSecretKey::from_bytes(*secret))
    }

    /// The rotations whose key files exist.
    pub fn on_disk(&self) -> BTreeSet<RotationId> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(|e| {
                let name = e.ok()?.file_name();
                let id = name
                    .to_str()?
                    .strip_prefix("sphinx-")?
                    .strip_suffix(".key")?;
                id.parse().ok().map(RotationId)
            })
            .collect()
    }

    /// Deletes `rotation`'s key (overwritten with zeros first) and filter files.
    pub fn wipe(&self, rotation: RotationId) {
        let path = self.key_path(rotation);
        if let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) {
            let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
            let _ = std::fs::write(&path, zeros);
        }
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(%rotation, "retired Sphinx key wiped"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(%rotation, %error, "cannot delete a retired Sphinx key"),
        }
        self.filter(rotation).remove();
    }
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), NodeError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| NodeError::Io {
            action: "cannot create",
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_listed_and_wiped() {
        let dir = tempfile::tempdir().unwrap();
        let files = RotationFiles::new(dir.path().join("rotation"));
        assert!(files.on_disk().is_empty());
        let a = files.load_or_create(RotationId(3)).unwrap();
        let again = files.load_or_create(RotationId(3)).unwrap();
        assert_eq!(a.public_key(), again.public_key(), "a key is made once");
        let b = files.load_or_create(RotationId(4)).unwrap();
        assert_ne!(a.public_key(), b.public_key());
        assert_eq!(files.on_disk(), [RotationId(3), RotationId(4)].into());
        std::fs::write(files.filter(RotationId(3)).journal, b"x").unwrap();
        files.wipe(RotationId(3));
        assert_eq!(files.on_disk(), [RotationId(4)].into());
        assert!(!files.filter(RotationId(3)).has_journal());
    }
}
