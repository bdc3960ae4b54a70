//! Where a node's files live: `HOME/mixnodes/ID/`, with `HOME` from `--home`, else
//! `$MIXNET_HOME`, else `~/.mixnet`.

use std::path::{Path, PathBuf};

/// Resolves the home directory from the flag and the environment.
pub fn resolve_home(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(home) = flag {
        return Ok(home.to_path_buf());
    }
    if let Some(home) = std::env::var_os("MIXNET_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(user_home) => Ok(PathBuf::from(user_home).join(".mixnet")),
        None => Err("no --home given and neither MIXNET_HOME nor HOME is set".into()),
    }
}

/// Checks that an id is usable as a directory name.
pub fn validate_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid id {id:?}: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'"
        ))
    }
}

/// The files of one node.
#[derive(Debug, Clone)]
pub struct NodePaths {
    /// `HOME/<kind>/ID`.
    pub dir: PathBuf,
}

impl NodePaths {
    /// Paths of node `id` of `kind` ("mixnodes", "gateways") under `home`.
    pub fn new(home: &Path, kind: &str, id: &str) -> Self {
        NodePaths {
            dir: home.join(kind).join(id),
        }
    }

    /// The TOML configuration.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// The ed25519 identity secret key.
    pub fn identity_key(&self) -> PathBuf {
        self.dir.join("identity.key")
    }

    /// The x25519 Sphinx secret key.
    pub fn sphinx_key(&self) -> PathBuf {
        self.dir.join("sphinx.key")
    }

    /// The saved replay filter.
    pub fn replay_filter(&self) -> PathBuf {
        self.dir.join("replay-filter.bin")
    }

    /// The pid of the running node.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("mixnode.pid")
    }
}

#[cfg(test)]
mod tests {
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
}
