//! Operator files every node kind shares: the home directory, node ids, and secret key files.
//!
//! A node of kind `K` (`mixnodes`, `gateways`, `validators`) named `ID` keeps its files in
//! `HOME/K/ID/`, with `HOME` from `--home`, else `$MIXNET_HOME`, else `~/.mixnet`.
//!
//! A secret key file holds the base58 secret and a newline, nothing else. It is created with
//! mode 0600 and never overwritten in place; a file that group or others can read is refused
//! rather than used, since the secret may have leaked.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// No home directory was given and the environment names none.
#[derive(Debug, thiserror::Error)]
#[error("no --home given and neither MIXNET_HOME nor HOME is set")]
pub struct HomeError;

/// A node id that cannot be a directory name.
#[derive(Debug, thiserror::Error)]
#[error("invalid id {0:?}: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'")]
pub struct IdError(pub String);

/// Resolves the home directory from the flag and the environment.
pub fn resolve_home(flag: Option<&Path>) -> Result<PathBuf, HomeError> {
    if let Some(home) = flag {
        return Ok(home.to_path_buf());
    }
    if let Some(home) = std::env::var_os("MIXNET_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(user_home) => Ok(PathBuf::from(user_home).join(".mixnet")),
        None => Err(HomeError),
    }
}

/// Checks that an id is usable as a directory name.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(IdError(id.to_owned()))
    }
}

/// A key file problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The content is not what the file should hold.
    #[error("{path}: not a key file ({expected})")]
    Malformed {
        /// The file.
        path: String,
        /// What it should hold.
        expected: &'static str,
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

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes secret text to a new file (mode 0600), followed by a newline; never overwrites.
pub fn write_secret_text(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))
}

/// Reads a file written by [`write_secret_text`], trimmed, refusing files others can read.
pub fn read_secret_text(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let mode = std::fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.display().to_string(),
            mode: mode & 0o777,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_error(path))?);
    Ok(Zeroizing::new(text.trim().to_owned()))
}

/// Writes a 32-byte secret as base58 to a new 0600 file.
pub fn write_secret(path: &Path, secret: &[u8; 32]) -> Result<(), KeyFileError> {
    write_secret_text(path, &Zeroizing::new(bs58::encode(secret).into_string()))
}

/// Reads a secret written by [`write_secret`].
pub fn read_secret(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let text = read_secret_text(path)?;
    let mut out = Zeroizing::new([0u8; 32]);
    match bs58::decode(text.as_str()).onto(out.as_mut()) {
        Ok(32) => Ok(out),
        _ => Err(KeyFileError::Malformed {
            path: path.display().to_string(),
            expected: "32 bytes in base58",
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_that_could_escape_the_directory_are_refused() {
        for bad in ["", "..", "../x", "a/b", ".hidden", "a b", &"x".repeat(65)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        for good in ["m1", "mix-node_2", "a.b"] {
            assert!(validate_id(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let home = resolve_home(Some(Path::new("/tmp/x"))).unwrap();
        assert_eq!(home, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn secrets_round_trip_through_0600_files_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_secret(&path, &[7; 32]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(*read_secret(&path).unwrap(), [7; 32]);
        assert!(write_secret(&path, &[8; 32]).is_err());
        assert_eq!(*read_secret(&path).unwrap(), [7; 32]);
    }

    #[test]
    fn readable_or_malformed_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_secret(&path, &[1; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_secret(&path),
            Err(KeyFileError::TooOpen { .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not-base58-0OIl").unwrap();
        assert!(matches!(
            read_secret(&path),
            Err(KeyFileError::Malformed { .. })
        ));
    }
}
