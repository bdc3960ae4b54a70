//! `gateway bond`: registers the gateway with the validators as a gateway, with its mix
//! address and client URL, by bonding stake from an account (the mixnode's procedure).

use ed25519_dalek::SigningKey;
use mixnode::commands::bond::{submit_bond, Bonded};
use mixnode::keys::NodeKeys;
use validator::files::read_secret;
use validator::primitives::{IdentityKey, SphinxKey};
use validator::statement::{NodeDescriptor, NodeRole};

use crate::config::{Config, GatewayPaths};

/// Bonds `amount` from the account in `account_key_file` to this gateway.
pub fn bond(
    paths: &GatewayPaths,
    account_key_file: &std::path::Path,
    amount: u64,
) -> Result<Bonded, String> {
    let config = Config::load(&paths.node.config()).map_err(|e| e.to_string())?;
    if config.gateway.validators.is_empty() {
        return Err(format!(
            "{} lists no validator to bond with",
            paths.node.config().display()
        ));
    }
    let keys = NodeKeys::load(&paths.node.identity_key(), &paths.node.sphinx_key())
        .map_err(|e| e.to_string())?;
    let account_secret = read_secret(account_key_file).map_err(|e| e.to_string())?;
    let account = SigningKey::from_bytes(&account_secret);
    let node = NodeDescriptor {
        identity_key: IdentityKey::from(&keys.identity),
        sphinx_key: SphinxKey::from_bytes(keys.sphinx.public_key())
            .map_err(|e| format!("the gateway's Sphinx key: {e}"))?,
        role: NodeRole::Gateway,
        address: config.gateway.mix_announce,
        clients_address: Some(config.gateway.clients_announce.clone()),
    };
    node.validate()
        .map_err(|e| format!("announced addresses: {e}"))?;
    submit_bond(
        &config.gateway.validators,
        &paths.node.genesis(),
        &keys,
        node,
        &account,
        amount,
    )
}
