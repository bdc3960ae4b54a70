//! Noise on the node's links, as its config, its flags and the topology ask: the mode, the
//! node's static key, the peers' keys.
//!
//! * The mode is `engine.noise`: `required` (every link Noise; plain connections refused),
//!   `optional` (Noise to peers with a known key, plain to the others, both accepted) or
//!   `off`. Unset, it is `required`, except on a node run with `--danger-allow-any-next-hop`
//!   (tests, benchmarks, Nym's own packets), where it is `optional` so plain Nym framing is
//!   still accepted from anyone.
//! * Peers' keys come from the verified topology window (every node that announced one);
//!   only those keys may open a link to this node once the first topology arrived. Before
//!   it, any key may (and the node forwards nothing without a topology anyway), unless peers
//!   are listed by hand: then only theirs.
//! * `--danger-noise-peer ADDR=KEY` adds a peer by hand: links to ADDR use KEY, and KEY may
//!   open links here. On a node with `--danger-allow-any-next-hop` any key may open a link,
//!   unless peers are listed this way: then only theirs.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use router_core::noise::peers::{LinkPeers, NoiseMode};
use router_core::runtime::{LinkSetter, RouterConfig};

use crate::cli::RunArgs;
use crate::engine::EngineSection;
use crate::error::NodeError;
use crate::keys::NodeKeys;
use crate::topology::TopologyWindow;

/// How this node's links run.
#[derive(Debug, Clone)]
pub struct LinkPlan {
    /// The mode in effect.
    pub mode: NoiseMode,
    /// Peers given with `--danger-noise-peer`.
    pub listed: Vec<(SocketAddr, [u8; 32])>,
    /// Any key may open a link (the danger flag, no peers listed).
    pub any_initiator: bool,
    /// This node's announced address and Noise key, to notice a topology that lists another
    /// key for it (a lost `noise.key` replaced by a new one).
    pub own: Option<(SocketAddr, [u8; 32])>,
}

/// Parses `ADDR=KEY` (the key in base58).
pub fn parse_peer(text: &str) -> Result<(SocketAddr, [u8; 32]), String> {
    let (addr, key) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ADDR=KEY"))?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an ip:port address: {e}"))?;
    let mut bytes = [0u8; 32];
    match bs58::decode(key).onto(&mut bytes) {
        Ok(32) => Ok((addr, bytes)),
        _ => Err(format!("{key:?} is not a 32-byte key in base58")),
    }
}

impl LinkPlan {
    /// The plan `engine` and the run flags ask for.
    pub fn new(engine: &EngineSection, args: &RunArgs) -> Result<Self, NodeError> {
        let danger = args.danger_allow_any_next_hop;
        let mode = match &engine.noise {
            Some(word) => word.parse().map_err(NodeError::Refused)?,
            None if danger => NoiseMode::Optional,
            None => NoiseMode::Required,
        };
        let listed = args
            .danger_noise_peers
            .iter()
            .map(|text| parse_peer(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| NodeError::Flag {
                flag: "--danger-noise-peer",
                message,
            })?;
        if danger && engine.noise.is_none() {
            tracing::warn!(
                "--danger-allow-any-next-hop: Noise links are optional (engine.noise unset): \
                 plain TCP links are accepted and used towards peers without a known key"
            );
        }
        Ok(LinkPlan {
            mode,
            any_initiator: danger && listed.is_empty(),
            listed,
            own: None,
        })
    }

    /// Notes this node's announced address and key (see [`Self::own`]).
    pub fn with_own(mut self, address: SocketAddr, keys: &NodeKeys) -> Self {
        self.own = Some((address, *keys.noise.public()));
        self
    }

    /// The key the topology lists for this node, when it is not the node's own.
    pub fn foreign_own_key(&self, window: &TopologyWindow) -> Option<[u8; 32]> {
        let (address, key) = self.own?;
        window
            .noise_keys()
            .into_iter()
            .rev()
            .find(|(a, _)| *a == address)
            .map(|(_, listed)| listed)
            .filter(|listed| *listed != key)
    }

    /// The peers before any topology: the listed ones, who alone may open links if there
    /// are any; else anyone may.
    pub fn initial(&self) -> LinkPeers {
        let peers = self.with_listed(LinkPeers::default());
        if self.listed.is_empty() {
            peers.allowing_any_initiator()
        } else {
            peers
        }
    }

    fn with_listed(&self, mut peers: LinkPeers) -> LinkPeers {
        for (addr, key) in &self.listed {
            peers = peers.with_peer(*addr, *key);
        }
        peers
    }

    /// The peers of a topology window (and the listed ones).
    pub fn from_window(&self, window: &TopologyWindow) -> LinkPeers {
        let peers = self.with_listed(LinkPeers::from_nodes(window.noise_keys()));
        if self.any_initiator {
            peers.allowing_any_initiator()
        } else {
            peers
        }
    }

    /// Puts the mode, the node's key and the initial peers into `config`.
    pub fn apply(&self, config: &mut RouterConfig, keys: &NodeKeys) {
        config.shard.noise_mode = self.mode;
        config.noise_key = Some(keys.noise.clone());
        config.links = self.initial();
    }

    /// A topology callback that installs the window's peers when their keys change.
    pub fn installer(&self, setter: LinkSetter) -> impl FnMut(&TopologyWindow) + Send + 'static {
        let plan = self.clone();
        let mut last: Option<BTreeSet<(SocketAddr, [u8; 32])>> = None;
        let mut warned = false;
        move |window| {
            if let Some(listed) = plan.foreign_own_key(window) {
                if !std::mem::replace(&mut warned, true) {
                    tracing::error!(
                        listed = %bs58::encode(listed).into_string(),
                        "the topology lists another Noise key for this node's address than its \
                         noise.key: peers will refuse its links and fail to reach it until it \
                         bonds again with this key (or the old noise.key is restored)"
                    );
                }
            }
            let keys: BTreeSet<_> = window.noise_keys().into_iter().collect();
            if last.as_ref() != Some(&keys) {
                tracing::info!(peers = keys.len(), "Noise keys of the topology installed");
                setter.set(plan.from_window(window));
                last = Some(keys);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(danger: bool, peers: &[&str]) -> RunArgs {
        RunArgs {
            danger_allow_any_next_hop: danger,
            danger_noise_peers: peers.iter().map(|p| p.to_string()).collect(),
            ..RunArgs::default()
        }
    }

    fn engine(noise: Option<&str>) -> EngineSection {
        EngineSection {
            noise: noise.map(str::to_owned),
            ..EngineSection::default()
        }
    }

    #[test]
    fn the_mode_is_required_unless_the_danger_flag_or_the_config_says_otherwise() {
        let plan = |noise, danger| {
            LinkPlan::new(&engine(noise), &args(danger, &[]))
                .unwrap()
                .mode
        };
        assert_eq!(plan(None, false), NoiseMode::Required);
        assert_eq!(plan(None, true), NoiseMode::Optional);
        assert_eq!(plan(Some("required"), true), NoiseMode::Required);
        assert_eq!(plan(Some("off"), false), NoiseMode::Off);
        let error = LinkPlan::new(&engine(Some("maybe")), &args(false, &[])).unwrap_err();
        assert!(
            error.to_string().contains("required, optional or off"),
            "{error}"
        );
    }

    #[test]
    fn listed_peers_are_the_only_initiators_on_a_danger_node() {
        let key = bs58::encode([7u8; 32]).into_string();
        let listed = format!("127.0.0.1:9=={key}");
        assert!(LinkPlan::new(&engine(None), &args(true, &[&listed])).is_err());
        let listed = format!("127.0.0.1:9={key}");
        let plan = LinkPlan::new(&engine(None), &args(true, &[&listed])).unwrap();
        let peers = plan.initial();
        assert!(peers.admits(&[7; 32]));
        assert!(!peers.admits(&[8; 32]));
        let open = LinkPlan::new(&engine(None), &args(true, &[]))
            .unwrap()
            .initial();
        assert!(open.admits(&[8; 32]));
        // Without the danger flag, any key until the first topology, then only its keys.
        let plan = LinkPlan::new(&engine(None), &args(false, &[])).unwrap();
        assert!(plan.initial().admits(&[8; 32]));
        assert!(!plan
            .from_window(&TopologyWindow::default())
            .admits(&[8; 32]));
        assert_eq!(plan.foreign_own_key(&TopologyWindow::default()), None);
        for bad in [
            "127.0.0.1:9",
            "nowhere=abc",
            &format!("127.0.0.1:9={}", "1".repeat(10)),
        ] {
            assert!(parse_peer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_topology_listing_another_key_for_this_node_is_noticed() {
        use validator_core::primitives::NoiseKey;
        use validator_core::statement::NodeRole;
        use validator_core::test_util::{identity, node, node_key, sphinx_key};
        use validator_core::topology::{EpochId, Layer, Topology, TopologyMixnode};
        let keys = NodeKeys::generate();
        let address = node(1, NodeRole::Mixnode).address;
        let listing = |key: [u8; 32]| {
            let mut window = TopologyWindow::default();
            window.update(
                Topology {
                    epoch_id: EpochId(1),
                    height: 0,
                    valid_from_ms: 0,
                    valid_until_ms: 1,
                    rotation: None,
                    mixnodes: vec![TopologyMixnode {
                        identity_key: identity(&node_key(1)),
                        sphinx_key: sphinx_key(1),
                        next_sphinx_key: None,
                        address,
                        layer: Layer::ALL[0],
                        noise_key: Some(NoiseKey::from_bytes(key).unwrap()),
                    }],
                    gateways: vec![],
                },
                None,
            );
            window
        };
        let plan = LinkPlan::new(&engine(None), &args(false, &[]))
            .unwrap()
            .with_own(address, &keys);
        assert_eq!(plan.foreign_own_key(&listing(*keys.noise.public())), None);
        assert_eq!(plan.foreign_own_key(&listing([9; 32])), Some([9; 32]));
    }
}
