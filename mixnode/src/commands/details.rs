//! `mixnode node-details`: the public facts about a node, for operators and for tools.

use node::cli::Printable;
use node::config::ConfigFile;
use node::home::NodePaths;
use node::keys::NodeKeys;
use node::NodeError;
use serde::Serialize;

use crate::config::Config;

/// What `node-details` prints.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDetails {
    /// The node's id.
    pub id: String,
    /// ed25519 identity public key, bs58.
    pub identity_key: String,
    /// x25519 Sphinx public key, bs58.
    pub sphinx_key: String,
    /// x25519 static Noise public key, bs58 (what peers give `--danger-noise-peer`).
    pub noise_key: String,
    /// Mix listener address.
    pub listen: String,
    /// Announced address.
    pub announce: String,
    /// Validator URLs.
    pub validators: Vec<String>,
}

/// Reads the node's config and keys.
pub fn details(paths: &NodePaths) -> Result<NodeDetails, NodeError> {
    paths.require_initialised()?;
    let config = Config::load(&paths.config())?;
    let keys = NodeKeys::load(paths)?;
    Ok(NodeDetails {
        id: config.node.id,
        identity_key: keys.identity_public_bs58(),
        sphinx_key: keys.sphinx_public_bs58(),
        noise_key: keys.noise_public_bs58(),
        listen: config.node.listen.to_string(),
        announce: config.node.announce.to_string(),
        validators: config.node.validators,
    })
}

impl Printable for NodeDetails {
    fn to_text(&self) -> String {
        let validators = if self.validators.is_empty() {
            "(none)".to_string()
        } else {
            self.validators.join(", ")
        };
        format!(
            "id:           {}\nidentity key: {}\nsphinx key:   {}\nnoise key:    {}\nlisten:       {}\nannounce:     {}\nvalidators:   {}\n",
            self.id,
            self.identity_key,
            self.sphinx_key,
            self.noise_key,
            self.listen,
            self.announce,
            validators
        )
    }
}
