//! Where a node's files live: `HOME/mixnodes/ID/`, with `HOME` from `--home`, else
//! `$MIXNET_HOME`, else `~/.mixnet`.

use std::path::{Path, PathBuf};

pub use validator::files::{resolve_home, validate_id};

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

    /// The pinned genesis of the chain the node serves.
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.toml")
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
