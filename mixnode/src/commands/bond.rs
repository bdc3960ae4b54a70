//! `mixnode bond`: registers the node with the validators by bonding stake to it from an
//! account, with the node's own consent signature.
//!
//! The account's secret key is read from a 0600 key file (see [`validator::files`]); the
//! statement names the node's identity and Sphinx keys and its announced address, takes the
//! account's next free nonce from a validator, and is submitted to the first configured
//! validator that accepts it (validators relay it to each other). The bond takes effect at
//! the end of the epoch the answer names.

use ed25519_dalek::SigningKey;
use serde::Serialize;
use validator::api::StatementAccepted;
use validator::client::ValidatorClient;
use validator::files::read_secret;
use validator::primitives::{IdentityKey, SphinxKey};
use validator::statement::{NodeDescriptor, NodeRole, SignedStatement, Statement};

use crate::config::Config;
use crate::home::NodePaths;
use crate::keys::NodeKeys;
use crate::topology::load_or_fetch_genesis;

/// What `bond` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Bonded {
    /// The validator that accepted the statement.
    pub validator: String,
    /// Its answer.
    #[serde(flatten)]
    pub accepted: StatementAccepted,
}

/// Bonds `amount` from the account whose key is in `account_key_file` to this node.
pub fn bond(
    paths: &NodePaths,
    account_key_file: &std::path::Path,
    amount: u64,
) -> Result<Bonded, String> {
    let config = Config::load(&paths.config()).map_err(|e| e.to_string())?;
    if config.node.validators.is_empty() {
        return Err(format!(
            "{} lists no validator to bond with",
            paths.config().display()
        ));
    }
    let keys =
        NodeKeys::load(&paths.identity_key(), &paths.sphinx_key()).map_err(|e| e.to_string())?;
    let account_secret = read_secret(account_key_file).map_err(|e| e.to_string())?;
    let account = SigningKey::from_bytes(&account_secret);
    let sphinx = SphinxKey::from_bytes(keys.sphinx.public_key())
        .map_err(|e| format!("the node's Sphinx key: {e}"))?;
    let node = NodeDescriptor {
        identity_key: IdentityKey::from(&keys.identity),
        sphinx_key: sphinx,
        role: NodeRole::Mixnode,
        address: config.node.announce,
        clients_address: None,
    };
    node.validate()
        .map_err(|e| format!("announce address: {e}"))?;

    submit_bond(
        &config.node.validators,
        &paths.genesis(),
        &keys,
        node,
        &account,
        amount,
    )
}

/// Bonds `amount` from `account` to the node `node` describes (signed with the node's
/// identity as consent), at the first of `validators` that accepts it. Shared by every node
/// kind: the gateway bonds itself the same way with its own descriptor.
pub fn submit_bond(
    validators: &[String],
    genesis_pin: &std::path::Path,
    keys: &NodeKeys,
    node: NodeDescriptor,
    account: &SigningKey,
    amount: u64,
) -> Result<Bonded, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let genesis = load_or_fetch_genesis(validators, genesis_pin).await?;
        let account_id = IdentityKey::from(account);
        let mut errors = Vec::new();
        for url in validators {
            let client = ValidatorClient::new(url).map_err(|e| e.to_string())?;
            let nonce = match client.account(&account_id).await {
                Ok(view) => view.next_free_nonce,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            let statement = Statement::bond(
                genesis.genesis_hash(),
                account_id,
                nonce,
                node.clone(),
                amount,
                &keys.identity,
            )
            .and_then(|st| SignedStatement::sign(st, account))
            .map_err(|e| e.to_string())?;
            match client.submit(&statement).await {
                Ok(accepted) => {
                    return Ok(Bonded {
                        validator: url.clone(),
                        accepted,
                    })
                }
                // A refusal on the merits (balance, already bonded) is the same everywhere.
                Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => {
                    return Err(e.to_string())
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(format!(
            "no validator accepted the bond: {}",
            errors.join("; ")
        ))
    })
}
