//! Where a node's files live: `HOME/<role>s/ID/`, with `HOME` from `--home`, else
//! `$MIXNET_HOME`, else `~/.mixnet` ([`validator_core::files`]).

use std::path::{Path, PathBuf};

pub use validator_core::files::{resolve_home, validate_id};

use crate::error::NodeError;

/// The kind of node, which names its directory and its pid file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A mixnode: `HOME/mixnodes/ID/`, `mixnode.pid`.
    Mixnode,
    /// A gateway: `HOME/gateways/ID/`, `gateway.pid`.
    Gateway,
}

impl Role {
    /// The binary's name, as in messages and the pid file.
    pub fn name(self) -> &'static str {
        match self {
            Role::Mixnode => "mixnode",
            Role::Gateway => "gateway",
        }
    }

    /// The directory under the home that holds nodes of this role.
    pub fn dir_name(self) -> &'static str {
        match self {
            Role::Mixnode => "mixnodes",
            Role::Gateway => "gateways",
        }
    }
}

/// The files of one node.
#[derive(Debug, Clone)]
pub struct NodePaths {
    /// `HOME/<role>s/ID`.
    pub dir: PathBuf,
    /// The node's role.
    pub role: Role,
}

impl NodePaths {
    /// Paths of node `id` of `role` under `home`.
    pub fn new(home: &Path, role: Role, id: &str) -> Self {
        NodePaths {
            dir: home.join(role.dir_name()).join(id),
            role,
        }
    }

    /// Paths of node `id` of `role` under the home `flag` names (or the environment's), with
    /// the id checked.
    pub fn resolve(flag: Option<&Path>, role: Role, id: &str) -> Result<Self, NodeError> {
        validate_id(id)?;
        Ok(Self::new(&resolve_home(flag)?, role, id))
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

    /// The x25519 static Noise secret key.
    pub fn noise_key(&self) -> PathBuf {
        self.dir.join("noise.key")
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
        self.dir.join(format!("{}.pid", self.role.name()))
    }

    /// Fails with a hint to run `init` when the node's directory does not exist.
    pub fn require_initialised(&self) -> Result<(), NodeError> {
        if self.dir.exists() {
            return Ok(());
        }
        Err(NodeError::Refused(format!(
            "{} does not exist: run `{} init` first",
            self.dir.display(),
            self.role.name()
        )))
    }
}
