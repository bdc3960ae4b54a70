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

/// A distinct Noise key per seed.
pub fn noise_key(seed: u32) -> crate::primitives::NoiseKey {
    crate::primitives::NoiseKey::from_bytes(sha256(&[b"test-noise", &seed.to_be_bytes()]))
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
                p2p_address: std::net::SocketAddr::from(([127, 0, 0, 1], 27000 + i as u16)),
                voting_power: 1,
            })
            .collect(),
        dkg: crate::genesis::DkgSchedule::default(),
        key_rotation: None,
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
        noise_key: Some(noise_key(seed)),
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

/// The `credential_type` of presentations [`FakeSpends`] refuses.
pub const FORGED_CREDENTIAL_TYPE: &str = "Forged";

/// A credential presentation that carries no valid proof, for chain tests: its tag is
/// `zeta = g2^(serial + 1)`, so presentations share a tag exactly when they share `serial`;
/// `gateway_seed` picks the gateway (`node_key(gateway_seed)`) and `nonce` the spend nonce.
/// [`FakeSpends`] accepts it.
pub fn fake_spend(serial: u64, gateway_seed: u32, nonce: u8) -> crate::api::SpendBody {
    use crate::coconut::proofs::CredentialProof;
    use crate::coconut::signature::Signature;
    use crate::coconut::verification::Theta;
    use bls12_381::{G1Projective, G2Projective, Scalar};

    let g1 = G1Projective::generator();
    let g2 = G2Projective::generator();
    let theta = Theta {
        blinded_message: g2 * Scalar::from(7u64),
        blinded_serial_number: g2 * Scalar::from(serial.wrapping_add(1)),
        credential: Signature {
            h: g1 * Scalar::from(3u64),
            s: g1 * Scalar::from(5u64),
        },
        pi_v: CredentialProof {
            challenge: Scalar::from(11u64),
            response_blinder: Scalar::from(13u64),
            response_attributes: vec![Scalar::from(17u64), Scalar::from(19u64)],
        },
    };
    crate::api::SpendBody {
        theta,
        public_attributes: crate::credential::PublicAttributes::bandwidth_voucher(1024),
        gateway: identity(&node_key(gateway_seed)),
        nonce: crate::credential::SpendNonce([nonce; 32]),
        key_epoch: crate::chain::dkg::KeyEpochId(0),
    }
}

/// [`fake_spend`] marked so that [`FakeSpends`] refuses it.
pub fn forged_spend(serial: u64, gateway_seed: u32, nonce: u8) -> crate::api::SpendBody {
    let mut spend = fake_spend(serial, gateway_seed, nonce);
    spend.public_attributes.credential_type = FORGED_CREDENTIAL_TYPE.to_owned();
    spend
}

/// A spend verifier for tests: accepts every presentation except those whose credential
/// type is [`FORGED_CREDENTIAL_TYPE`], and returns the presentation's zeta.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeSpends;

impl crate::chain::SpendVerifier for FakeSpends {
    fn verify_spend(
        &self,
        spend: &crate::api::SpendBody,
        _keys: Option<&crate::credential::VerificationKeySet>,
    ) -> Result<[u8; crate::coconut::verification::ZETA_BYTES], String> {
        if spend.public_attributes.credential_type == FORGED_CREDENTIAL_TYPE {
            return Err("forged presentation (test verifier)".to_owned());
        }
        Ok(spend.theta.zeta_bytes())
    }
}

/// The header of the block after `state` at `time_ms`, proposed by `validator_key(0)`.
pub fn next_header(state: &crate::chain::ChainState, time_ms: u64) -> crate::chain::BlockHeader {
    crate::chain::BlockHeader {
        height: state.height().saturating_add(1),
        time_ms,
        parent: state.last_block(),
        proposer: identity(&validator_key(0)),
        state_hash: state.state_hash(),
    }
}

/// The block after `state` at `time_ms` holding `transactions`.
pub fn next_block(
    state: &crate::chain::ChainState,
    time_ms: u64,
    transactions: Vec<crate::chain::Transaction>,
) -> crate::chain::Block {
    crate::chain::Block {
        header: next_header(state, time_ms),
        transactions,
    }
}

/// Counts copies of large state made by the current thread (tests run one per thread), so
/// tests can assert which paths copy the ledger or the chain state.
#[cfg(test)]
pub mod clone_probe {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    thread_local! {
        static COUNTS: RefCell<BTreeMap<&'static str, usize>> = const { RefCell::new(BTreeMap::new()) };
    }

    /// Records one copy of `kind`.
    pub fn note(kind: &'static str) {
        COUNTS.with(|c| *c.borrow_mut().entry(kind).or_insert(0) += 1);
    }

    /// Copies of `kind` made by this thread so far.
    pub fn count(kind: &'static str) -> usize {
        COUNTS.with(|c| c.borrow().get(kind).copied().unwrap_or(0))
    }
}
