//! Registration: a node is in the network once stake is bonded to it from an account, with
//! the node's own consent signature. Every role bonds the same way, with its own descriptor.
//!
//! The account's secret key is read from a 0600 key file (see [`validator_core::files`]); the
//! statement names the node's identity and Sphinx keys and its announced addresses, takes the
//! account's next free nonce from a validator, and is submitted to the first configured
//! validator that accepts it (validators relay it to each other). The bond takes effect at
//! the end of the epoch the answer names.

use std::net::SocketAddr;
use std::path::Path;

use ed25519_dalek::SigningKey;
use serde::Serialize;
use validator_client::ValidatorClient;
use validator_core::api::StatementAccepted;
use validator_core::files::read_secret;
use validator_core::genesis::GenesisHash;
use validator_core::primitives::{IdentityKey, NoiseKey, SphinxKey};
use validator_core::statement::{NodeDescriptor, NodeRole, SignedStatement, Statement};

use crate::error::NodeError;
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

/// What a node announces when it bonds, and to which chain.
#[derive(Debug, Clone)]
pub struct Announced {
    /// The chain's genesis hash, when the operator pinned it (`--genesis-hash`).
    pub genesis_hash: Option<GenesisHash>,
    /// The node's role in the topology.
    pub role: NodeRole,
    /// Where other nodes send it packets.
    pub address: SocketAddr,
    /// Where clients connect (gateways).
    pub clients_address: Option<String>,
}

/// Bonds `amount` from the account whose key is in `account_key_file` to the node at
/// `paths`, announcing `announced`, at the first of `validators` that accepts it.
pub fn bond(
    paths: &NodePaths,
    validators: &[String],
    announced: Announced,
    account_key_file: &Path,
    amount: u64,
) -> Result<Bonded, NodeError> {
    if validators.is_empty() {
        return Err(NodeError::Refused(format!(
            "{} lists no validator to bond with",
            paths.config().display()
        )));
    }
    let keys = NodeKeys::load(paths)?;
    let account = SigningKey::from_bytes(&*read_secret(account_key_file)?);
    let sphinx = SphinxKey::from_bytes(keys.sphinx.public_key()).map_err(|e| {
        NodeError::Refused(format!(
            "{}: not a usable Sphinx key: {e}",
            paths.sphinx_key().display()
        ))
    })?;
    let noise = NoiseKey::from_bytes(*keys.noise.public()).map_err(|e| {
        NodeError::Refused(format!(
            "{}: not a usable Noise key: {e}",
            paths.noise_key().display()
        ))
    })?;
    let expected_genesis = announced.genesis_hash;
    let node = NodeDescriptor {
        identity_key: IdentityKey::from(&keys.identity),
        sphinx_key: sphinx,
        role: announced.role,
        address: announced.address,
        clients_address: announced.clients_address,
        noise_key: Some(noise),
    };
    node.validate().map_err(|e| {
        NodeError::Refused(format!(
            "{}: announced addresses: {e}",
            paths.config().display()
        ))
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| NodeError::System {
            what: "cannot start the validator client runtime",
            source,
        })?;
    runtime.block_on(submit_bond(
        validators,
        (&paths.genesis(), expected_genesis),
        &keys,
        node,
        &account,
        amount,
    ))
}

/// Bonds `amount` from `account` to the node `node` describes (signed with the node's
/// identity as consent), at the first of `validators` that accepts it.
async fn submit_bond(
    validators: &[String],
    (genesis_pin, expected_genesis): (&Path, Option<GenesisHash>),
    keys: &NodeKeys,
    node: NodeDescriptor,
    account: &SigningKey,
    amount: u64,
) -> Result<Bonded, NodeError> {
    let genesis = load_or_fetch_genesis(validators, genesis_pin, expected_genesis).await?;
    let account_id = IdentityKey::from(account);
    let mut errors = Vec::new();
    for url in validators {
        let client = ValidatorClient::new(url)?;
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
        .map_err(|e| NodeError::Refused(format!("cannot sign the bond: {e}")))?;
        match client.submit(&statement).await {
            Ok(accepted) => {
                return Ok(Bonded {
                    validator: url.clone(),
                    accepted,
                })
            }
            // A refusal on the merits (balance, already bonded) is the same everywhere.
            Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => return Err(e.into()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(NodeError::Refused(format!(
        "no validator accepted the bond: {}",
        errors.join("; ")
    )))
}
