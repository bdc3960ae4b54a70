//! `gateway node-details`: the public facts about a gateway.

use node::cli::Printable;
use node::config::ConfigFile;
use node::home::NodePaths;
use node::keys::NodeKeys;
use node::NodeError;
use serde::Serialize;

use crate::config::Config;

/// What `node-details` prints.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayDetails {
    /// The gateway's id.
    pub id: String,
    /// ed25519 identity public key, bs58 (the `@gateway` part of client addresses).
    pub identity_key: String,
    /// x25519 Sphinx public key, bs58.
    pub sphinx_key: String,
    /// x25519 static Noise public key, bs58 (what peers give `--danger-noise-peer`).
    pub noise_key: String,
    /// Mix listener address.
    pub mix_listen: String,
    /// Announced mix address.
    pub mix_announce: String,
    /// Client websocket listener address.
    pub clients_listen: String,
    /// Announced client URL.
    pub clients_announce: String,
    /// Validator URLs.
    pub validators: Vec<String>,
}

/// Reads the gateway's config and keys.
pub fn details(paths: &NodePaths) -> Result<GatewayDetails, NodeError> {
    paths.require_initialised()?;
    let config = Config::load(&paths.config())?;
    let keys = NodeKeys::load(paths)?;
    let g = config.gateway;
    Ok(GatewayDetails {
        id: g.id,
        identity_key: keys.identity_public_bs58(),
        sphinx_key: keys.sphinx_public_bs58(),
        noise_key: keys.noise_public_bs58(),
        mix_listen: g.mix_listen.to_string(),
        mix_announce: g.mix_announce.to_string(),
        clients_listen: g.clients_listen.to_string(),
        clients_announce: g.clients_announce,
        validators: g.validators,
    })
}

impl Printable for GatewayDetails {
    fn to_text(&self) -> String {
        let validators = if self.validators.is_empty() {
            "(none)".to_string()
        } else {
            self.validators.join(", ")
        };
        format!(
            "id:               {}\nidentity key:     {}\nsphinx key:       {}\nnoise key:        {}\nmix listen:       {}\nmix announce:     {}\nclients listen:   {}\nclients announce: {}\nvalidators:       {}\n",
            self.id,
            self.identity_key,
            self.sphinx_key,
            self.noise_key,
            self.mix_listen,
            self.mix_announce,
            self.clients_listen,
            self.clients_announce,
            validators
        )
    }
}
