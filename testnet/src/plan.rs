//! The shape of the network, decided before anything starts (pure): the genesis, the
//! stakes and balances, which gateway each client (and the SOCKS5 pair) uses, whom each
//! client sends to, and which CPU each node's shard runs on.

use ed25519_dalek::SigningKey;
use validator_core::genesis::{ActiveSetSize, Genesis, GenesisAccount, GenesisValidator};
use validator_core::primitives::IdentityKey;
use validator_core::rotation::{KeyRotationParams, DEFAULT_OVERLAP_MS};
use validator_core::topology::Topology;

use super::options::Options;
use super::Error;

/// The chain id of every local network.
pub const CHAIN_ID: &str = "bench-localnet";
/// Least time between blocks on a local chain, ms: a quarter of the shortest epoch holds
/// several blocks, so each topology's signatures are decided before its epoch starts.
pub const LOCAL_BLOCK_INTERVAL_MS: i64 = 250;
/// Per-address API rate (per second, and burst) of a local network's validators. Every
/// client, node and other validator of a local network comes from 127.0.0.1, and `bench
/// chain` submits as fast as the API takes requests: a public validator's per-address
/// limits would measure the limiter, not the chain.
pub const LOCAL_API_RATE: i64 = 1_000_000;

/// Stake each node bonds.
pub const BOND: u64 = 1_000;
/// The genesis minimum bond (below [`BOND`], so every node is eligible).
pub const MINIMUM_BOND: u64 = 100;

/// A validator as the genesis names it.
#[derive(Debug, Clone)]
pub struct ValidatorEntry {
    /// Its identity key.
    pub identity_key: IdentityKey,
    /// Its API URL.
    pub api_url: String,
    /// Where it listens for consensus traffic.
    pub p2p_address: std::net::SocketAddr,
}

/// The genesis of a local network started at `now_ms`: every bonded node is in the active
/// set (K = all mixnodes, G = all gateways), the operator can bond every node, and each
/// client's account holds twice the bandwidth it buys.
pub fn genesis(
    options: &Options,
    now_ms: u64,
    validators: &[ValidatorEntry],
    operator: &SigningKey,
    clients: &[SigningKey],
) -> Result<Genesis, Error> {
    let count = |n: usize, what: &str| {
        u32::try_from(n).map_err(|_| Error::options(format!("too many {what}")))
    };
    let nodes = options.mixnodes().saturating_add(options.gateways);
    let mut accounts = vec![GenesisAccount {
        public_key: IdentityKey::from(operator),
        balance: operator_balance(nodes),
    }];
    accounts.extend(clients.iter().map(|key| GenesisAccount {
        public_key: IdentityKey::from(key),
        balance: options.bandwidth.saturating_mul(2),
    }));
    let epoch_length_ms = u64::try_from(options.epoch.as_millis())
        .map_err(|_| Error::options("the epoch is too long".into()))?;
    let genesis = Genesis {
        chain_id: CHAIN_ID.to_owned(),
        genesis_time_unix_ms: now_ms,
        epoch_length_ms,
        threshold: count(options.threshold, "validators")?,
        minimum_bond: MINIMUM_BOND,
        active_set: ActiveSetSize {
            mixnodes: count(options.mixnodes(), "mixnodes")?,
            gateways: count(options.gateways, "gateways")?,
        },
        accounts,
        validators: validators
            .iter()
            .map(|v| GenesisValidator {
                identity_key: v.identity_key,
                api_url: v.api_url.clone(),
                p2p_address: v.p2p_address,
                voting_power: 1,
            })
            .collect(),
        dkg: validator_core::genesis::DkgSchedule::default(),
        key_rotation: Some(KeyRotationParams {
            length_ms: u64::try_from(options.key_rotation.as_millis())
                .map_err(|_| Error::options("the key rotation is too long".into()))?,
            overlap_ms: u64::try_from(options.key_rotation.as_millis() / 2)
                .unwrap_or(u64::MAX)
                .min(DEFAULT_OVERLAP_MS),
        }),
    };
    genesis
        .validate()
        .map_err(|e| Error::options(format!("the local genesis: {e}")))?;
    Ok(genesis)
}

/// What the operator account holds: a bond per node and one to spare.
pub fn operator_balance(nodes: usize) -> u64 {
    BOND.saturating_mul(u64::try_from(nodes).unwrap_or(u64::MAX).saturating_add(1))
}

/// The gateway of each client: in turn, so clients are spread evenly.
pub fn client_gateways(clients: usize, gateways: usize) -> Vec<usize> {
    (0..clients).map(|c| c % gateways.max(1)).collect()
}

/// The gateways of the network requester and the SOCKS5 client (`--socks5`): the next two
/// of the clients' rotation, so with two or more gateways they are on different ones.
pub fn socks5_gateways(clients: usize, gateways: usize) -> [usize; 2] {
    let g = gateways.max(1);
    [clients % g, clients.saturating_add(1) % g]
}

/// Whom each client sends to: the next client, cyclically, whose gateway is a different one
/// (so every message crosses from one gateway to another). `None` for a client no other
/// gateway's client exists for.
pub fn recipients(gateway_of: &[usize]) -> Vec<Option<usize>> {
    let n = gateway_of.len();
    (0..n)
        .map(|c| {
            (1..n)
                .map(|step| (c + step) % n)
                .find(|&other| gateway_of[other] != gateway_of[c])
        })
        .collect()
}

/// The CPU of the `index`-th node's one shard: round robin over the CPUs, so the nodes share
/// the machine instead of all sitting on CPU 0 (what `--shards 1` would pick).
pub fn cpu_for(index: usize, cpus: usize) -> usize {
    index % cpus.max(1)
}

/// How often nodes refetch the topology: a quarter epoch, between 250 ms and 1 s (the node
/// default of 10 s would leave a freshly started node without next hops for several of the
/// short epochs a local chain uses).
pub fn topology_refresh_ms(epoch_ms: u64) -> u64 {
    (epoch_ms / 4).clamp(250, 1_000)
}

/// The layer of each of `mixnodes` once `topology` lists every one of them and every one of
/// `gateways` and clients can route through it; `None` before.
pub fn layers_in(
    topology: &Topology,
    mixnodes: &[IdentityKey],
    gateways: &[IdentityKey],
) -> Option<Vec<u8>> {
    if !topology.is_routable() {
        return None;
    }
    let all_gateways = gateways
        .iter()
        .all(|g| topology.gateways.iter().any(|t| t.identity_key == *g));
    if !all_gateways {
        return None;
    }
    mixnodes
        .iter()
        .map(|m| {
            topology
                .mixnodes
                .iter()
                .find(|t| t.identity_key == *m)
                .map(|t| t.layer.get())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator_core::primitives::SphinxKey;
    use validator_core::topology::{EpochId, Layer, TopologyGateway, TopologyMixnode};

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    #[test]
    fn the_genesis_funds_every_account_and_selects_every_node() {
        let options = Options::default();
        let validators: Vec<ValidatorEntry> = (0..3)
            .map(|i| ValidatorEntry {
                identity_key: IdentityKey::from(&key(10 + i)),
                api_url: format!("http://127.0.0.1:{}", 8000 + u16::from(i)),
                p2p_address: std::net::SocketAddr::from(([127, 0, 0, 1], 27000 + u16::from(i))),
            })
            .collect();
        let clients: Vec<SigningKey> = (0..4).map(key).collect();
        let g = genesis(&options, 1_000, &validators, &key(9), &clients).unwrap();
        assert_eq!(g.active_set.mixnodes, 6);
        assert_eq!(g.active_set.gateways, 2);
        assert_eq!(g.threshold, 3);
        assert_eq!(g.epoch_length_ms, 4_000);
        assert_eq!(g.accounts.len(), 5);
        assert_eq!(g.accounts[0].balance, 9 * BOND);
        assert!(g.accounts[1..]
            .iter()
            .all(|a| a.balance == 2 * options.bandwidth));
        // It survives the trip through the file the validators read.
        let text = g.to_toml_string().unwrap();
        assert_eq!(Genesis::from_toml_str(&text).unwrap(), g);
    }

    #[test]
    fn a_threshold_above_the_validators_is_refused() {
        let options = Options {
            threshold: 3,
            ..Options::default()
        };
        let one = [ValidatorEntry {
            identity_key: IdentityKey::from(&key(1)),
            api_url: "http://127.0.0.1:1".into(),
            p2p_address: std::net::SocketAddr::from(([127, 0, 0, 1], 2)),
        }];
        assert!(genesis(&options, 0, &one, &key(2), &[]).is_err());
    }

    #[test]
    fn clients_send_across_gateways() {
        let gateways = client_gateways(4, 2);
        assert_eq!(gateways, [0, 1, 0, 1]);
        assert_eq!(recipients(&gateways), [Some(1), Some(2), Some(3), Some(0)]);
        // Odd counts wrap to the next client on another gateway.
        let gateways = client_gateways(3, 2);
        let to = recipients(&gateways);
        assert_eq!(to, [Some(1), Some(2), Some(1)]);
        for (c, r) in to.iter().enumerate() {
            assert_ne!(gateways[c], gateways[r.unwrap()]);
        }
        // More gateways than clients: still across.
        assert_eq!(recipients(&client_gateways(2, 5)), [Some(1), Some(0)]);
        assert_eq!(recipients(&[0, 0]), [None, None]);
    }

    fn topology(mixnodes: &[(u8, u8)], gateways: &[u8]) -> Topology {
        let sphinx = SphinxKey::from_bytes([9; 32]).unwrap();
        Topology {
            epoch_id: EpochId(1),
            height: 0,
            valid_from_ms: 0,
            valid_until_ms: 1,
            rotation: None,
            mixnodes: mixnodes
                .iter()
                .map(|&(k, layer)| TopologyMixnode {
                    identity_key: IdentityKey::from(&key(k)),
                    sphinx_key: sphinx,
                    next_sphinx_key: None,
                    address: "127.0.0.1:1".parse().unwrap(),
                    layer: Layer::new(layer).unwrap(),
                    noise_key: None,
                })
                .collect(),
            gateways: gateways
                .iter()
                .map(|&k| TopologyGateway {
                    identity_key: IdentityKey::from(&key(k)),
                    sphinx_key: sphinx,
                    next_sphinx_key: None,
                    address: "127.0.0.1:2".parse().unwrap(),
                    clients_address: None,
                    noise_key: None,
                })
                .collect(),
        }
    }

    #[test]
    fn layers_are_known_once_every_node_is_in_a_routable_topology() {
        let ids = |keys: &[u8]| -> Vec<IdentityKey> {
            keys.iter().map(|&k| IdentityKey::from(&key(k))).collect()
        };
        let (mix, gw) = (ids(&[1, 2, 3]), ids(&[7]));
        let full = topology(&[(2, 1), (1, 2), (3, 3)], &[7]);
        assert_eq!(layers_in(&full, &mix, &gw), Some(vec![2, 1, 3]));
        // A node missing, a gateway missing, a layer empty: not yet.
        let missing = topology(&[(2, 1), (1, 2), (4, 3)], &[7]);
        assert_eq!(layers_in(&missing, &mix, &gw), None);
        assert_eq!(layers_in(&full, &mix, &ids(&[7, 8])), None);
        let unroutable = topology(&[(1, 1), (2, 1), (3, 2)], &[7]);
        assert_eq!(layers_in(&unroutable, &mix, &gw), None);
    }

    #[test]
    fn the_socks5_pair_continues_the_rotation_on_two_gateways() {
        assert_eq!(socks5_gateways(0, 2), [0, 1]);
        assert_eq!(socks5_gateways(3, 2), [1, 0]);
        assert_eq!(socks5_gateways(4, 3), [1, 2]);
        assert_eq!(socks5_gateways(2, 0), [0, 0]);
    }

    #[test]
    fn shards_take_the_cpus_in_turn() {
        let cpus: Vec<usize> = (0..5).map(|i| cpu_for(i, 2)).collect();
        assert_eq!(cpus, [0, 1, 0, 1, 0]);
        assert_eq!(cpu_for(3, 0), 0);
    }

    #[test]
    fn nodes_refresh_within_an_epoch() {
        assert_eq!(topology_refresh_ms(2_000), 500);
        assert_eq!(topology_refresh_ms(100), 250);
        assert_eq!(topology_refresh_ms(60_000), 1_000);
    }
}
