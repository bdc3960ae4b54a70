//! `gateway node-details`: the public facts about a gateway.

use mixnode::keys::NodeKeys;
use serde::Serialize;

use crate::config::{Config, GatewayPaths};

/// What `node-details` prints.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayDetails {
    /// The gateway's id.
    pub id: String,
    /// ed25519 identity public key, bs58 (the `@gateway` part of client addresses).
    pub identity_key: String,
    /// x25519 Sphinx public key, bs58.
    pub sphinx_key: String,
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
pub fn details(paths: &GatewayPaths) -> Result<GatewayDetails, String> {
    if !paths.node.dir.exists() {
        return Err(format!(
            "{} does not exist: run `gateway init` first",
            paths.node.dir.display()
        ));
    }
    let config = Config::load(&paths.node.config()).map_err(|e| e.to_string())?;
    let keys = NodeKeys::load(&paths.node.identity_key(), &paths.node.sphinx_key())
        .map_err(|e| e.to_string())?;
    let g = config.gateway;
    Ok(GatewayDetails {
        id: g.id,
        identity_key: keys.identity_public_bs58(),
        sphinx_key: keys.sphinx_public_bs58(),
        mix_listen: g.mix_listen.to_string(),
        mix_announce: g.mix_announce.to_string(),
        clients_listen: g.clients_listen.to_string(),
        clients_announce: g.clients_announce,
        validators: g.validators,
    })
}

impl GatewayDetails {
    /// Human-readable form.
    pub fn to_text(&self) -> String {
        let validators = if self.validators.is_empty() {
            "(none)".to_string()
        } else {
            self.validators.join(", ")
        };
        format!(
            "id:               {}\nidentity key:     {}\nsphinx key:       {}\nmix listen:       {}\nmix announce:     {}\nclients listen:   {}\nclients announce: {}\nvalidators:       {}\n",
            self.id,
            self.identity_key,
            self.sphinx_key,
            self.mix_listen,
            self.mix_announce,
            self.clients_listen,
            self.clients_announce,
            validators
        )
    }
}
