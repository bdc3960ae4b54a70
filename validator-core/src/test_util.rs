//! Helpers shared by the unit tests: deterministic keys and a small genesis.

use ed25519_dalek::SigningKey;

use crate::genesis::{ActiveSetSize, Amount, Genesis, GenesisAccount, GenesisValidator};
use crate::primitives::{sha256, IdentityKey, SphinxKey};

/// A signing key derived from `seed` (distinct seeds, distinct keys).
pub fn signing_key(tag: &str, seed: u32) -> SigningKey {
    SigningKey::from_bytes(&sha256(&[b"test-key", tag.as_bytes(), &seed.to_be_bytes()]))
}

pub fn account_key(seed: u32) -> SigningKey {
    signing_key("account", seed)
}

pub fn node_key(seed: u32) -> SigningKey {
    signing_key("node", seed)
}

pub fn validator_key(seed: u32) -> SigningKey {
    signing_key("validator", seed)
}

pub fn identity(key: &SigningKey) -> IdentityKey {
    IdentityKey::from(key)
}

/// A valid x25519 key derived from `seed`.
pub fn sphinx_key(seed: u32) -> SphinxKey {
    SphinxKey::from_bytes(sha256(&[b"test-sphinx", &seed.to_be_bytes()]))
        .expect("a hash output is not one of the 14 low-order encodings")
}

/// A genesis with `accounts` funded accounts (`account_key(0..)`, each `balance`) and
/// `validators` validators (`validator_key(0..)`).
pub fn genesis(accounts: u32, balance: Amount, validators: u32, threshold: u32) -> Genesis {
    let g = Genesis {
        chain_id: "test-chain".into(),
        genesis_time_unix_ms: 1_000_000,
        epoch_length_ms: 60_000,
        threshold,
        minimum_bond: 100,
        active_set: ActiveSetSize {
            mixnodes: 6,
            gateways: 2,
        },
        accounts: (0..accounts)
            .map(|i| GenesisAccount {
                public_key: identity(&account_key(i)),
                balance,
            })
            .collect(),
        validators: (0..validators)
            .map(|i| GenesisValidator {
                identity_key: identity(&validator_key(i)),
                api_url: format!("http://127.0.0.1:{}", 8000 + i),
            })
            .collect(),
    };
    g.validate().expect("the test genesis is valid");
    g
}

/// A node descriptor for `node_key(seed)`, with a distinct Sphinx key and address per seed.
pub fn node(seed: u32, role: crate::statement::NodeRole) -> crate::statement::NodeDescriptor {
    let ip = std::net::Ipv4Addr::from(0x0a00_0001u32.wrapping_add(seed));
    crate::statement::NodeDescriptor {
        identity_key: identity(&node_key(seed)),
        sphinx_key: sphinx_key(seed),
        role,
        address: std::net::SocketAddr::from((ip, 1789)),
        clients_address: match role {
            crate::statement::NodeRole::Gateway => Some(format!("ws://gw{seed}.example:9000")),
            crate::statement::NodeRole::Mixnode => None,
        },
    }
}

/// Account `acct` bonds node `node_seed` (with the node's consent).
pub fn bond(
    chain: crate::genesis::GenesisHash,
    acct: u32,
    nonce: u64,
    node_seed: u32,
    role: crate::statement::NodeRole,
    amount: Amount,
) -> crate::statement::SignedStatement {
    let key = account_key(acct);
    let st = crate::statement::Statement::bond(
        chain,
        identity(&key),
        nonce,
        node(node_seed, role),
        amount,
        &node_key(node_seed),
    )
    .expect("node_key(node_seed) is the node's key");
    crate::statement::SignedStatement::sign(st, &key).expect("a well-formed test statement")
}

/// Account `acct` unbonds node `node_seed`.
pub fn unbond(
    chain: crate::genesis::GenesisHash,
    acct: u32,
    nonce: u64,
    node_seed: u32,
) -> crate::statement::SignedStatement {
    let key = account_key(acct);
    let st = crate::statement::Statement::unbond(
        chain,
        identity(&key),
        nonce,
        identity(&node_key(node_seed)),
    );
    crate::statement::SignedStatement::sign(st, &key).expect("a well-formed test statement")
}

/// Account `acct` deposits `amount` for the request digest `[digest; 32]`.
pub fn deposit(
    chain: crate::genesis::GenesisHash,
    acct: u32,
    nonce: u64,
    amount: Amount,
    digest: u8,
) -> crate::statement::SignedStatement {
    let key = account_key(acct);
    let st = crate::statement::Statement::deposit(
        chain,
        identity(&key),
        nonce,
        amount,
        crate::statement::CredentialRequestDigest([digest; 32]),
    );
    crate::statement::SignedStatement::sign(st, &key).expect("a well-formed test statement")
}
