//! Who a node's links are encrypted with, and who may open one: the policy the runtime asks
//! at every connection, apart from its IO.
//!
//! [`NoiseMode`] is the operator's choice: Noise on every link (the default), Noise where the
//! peer's key is known and plain TCP elsewhere (mixed networks during a migration, benchmarks
//! against plain peers), or plain TCP only. [`LinkPeers`] is what the topology says: each next
//! hop's static key by address, and the keys allowed to open a link to this node.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use super::KEY_LEN;

/// How a node uses Noise on its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoiseMode {
    /// Every link is Noise: a next hop without a known key is not sent to, and a plain
    /// connection is refused.
    #[default]
    Required,
    /// Noise to next hops whose key is known, plain TCP to the others; both accepted.
    Optional,
    /// Plain TCP to every next hop; both accepted (a node with a key still answers Noise).
    Off,
}

impl NoiseMode {
    /// Whether a connection that starts with a plain frame is served.
    pub fn accepts_plain(self) -> bool {
        !matches!(self, Self::Required)
    }

    /// The configuration word for the mode.
    pub fn name(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Optional => "optional",
            Self::Off => "off",
        }
    }
}

impl std::str::FromStr for NoiseMode {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, Self::Err> {
        match word {
            "required" => Ok(Self::Required),
            "optional" => Ok(Self::Optional),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown Noise mode {other:?}: expected required, optional or off"
            )),
        }
    }
}

/// How to open a link to a next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundLink {
    /// A Noise handshake with the node whose static key this is.
    Noise([u8; KEY_LEN]),
    /// Plain TCP.
    Plain,
    /// Not at all: Noise is required and the next hop's key is unknown.
    NoKey,
}

/// The peers' static keys, as the topology gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkPeers {
    next_hops: HashMap<SocketAddr, [u8; KEY_LEN]>,
    allowed: HashSet<[u8; KEY_LEN]>,
    any_initiator: bool,
}

impl LinkPeers {
    /// No keys: every link is plain or refused, and any key may open one (before the first
    /// topology).
    pub fn open() -> Self {
        Self {
            any_initiator: true,
            ..Self::default()
        }
    }

    /// The nodes of a topology, `(packet address, static key)`: links to those addresses use
    /// those keys (the last one given for an address), and only those keys may open a link
    /// here.
    pub fn from_nodes(nodes: impl IntoIterator<Item = (SocketAddr, [u8; KEY_LEN])>) -> Self {
        let mut peers = Self::default();
        for (address, key) in nodes {
            peers.next_hops.insert(address, key);
            peers.allowed.insert(key);
        }
        peers
    }

    /// Also lets any key open a link (`--danger-allow-any-next-hop`, or no topology yet).
    pub fn allowing_any_initiator(mut self) -> Self {
        self.any_initiator = true;
        self
    }

    /// Adds one peer (`--danger-noise-peer`): a next hop at `address` with `key`, which may
    /// also open links here.
    pub fn with_peer(mut self, address: SocketAddr, key: [u8; KEY_LEN]) -> Self {
        self.next_hops.insert(address, key);
        self.allowed.insert(key);
        self
    }

    /// How a node in `mode` opens a link to `address`.
    pub fn outbound(&self, mode: NoiseMode, address: SocketAddr) -> OutboundLink {
        match (mode, self.next_hops.get(&address)) {
            (NoiseMode::Off, _) => OutboundLink::Plain,
            (_, Some(key)) => OutboundLink::Noise(*key),
            (NoiseMode::Optional, None) => OutboundLink::Plain,
            (NoiseMode::Required, None) => OutboundLink::NoKey,
        }
    }

    /// Whether the initiator that proved it holds `key` may keep its link.
    pub fn admits(&self, key: &[u8; KEY_LEN]) -> bool {
        self.any_initiator || self.allowed.contains(key)
    }

    /// Keys that may open a link (`None`: any key).
    pub fn initiators(&self) -> Option<usize> {
        (!self.any_initiator).then_some(self.allowed.len())
    }

    /// Next hops with a known key.
    pub fn len(&self) -> usize {
        self.next_hops.len()
    }

    /// No next hop has a known key.
    pub fn is_empty(&self) -> bool {
        self.next_hops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn each_mode_opens_links_as_documented() {
        let peers = LinkPeers::from_nodes([(addr(1), [1; 32])]);
        use NoiseMode::*;
        assert_eq!(
            peers.outbound(Required, addr(1)),
            OutboundLink::Noise([1; 32])
        );
        assert_eq!(peers.outbound(Required, addr(2)), OutboundLink::NoKey);
        assert_eq!(
            peers.outbound(Optional, addr(1)),
            OutboundLink::Noise([1; 32])
        );
        assert_eq!(peers.outbound(Optional, addr(2)), OutboundLink::Plain);
        assert_eq!(peers.outbound(Off, addr(1)), OutboundLink::Plain);
        assert!(!Required.accepts_plain());
        assert!(Optional.accepts_plain() && Off.accepts_plain());
        for mode in [Required, Optional, Off] {
            assert_eq!(mode.name().parse::<NoiseMode>(), Ok(mode));
        }
        assert!("on"
            .parse::<NoiseMode>()
            .unwrap_err()
            .contains("required, optional or off"));
    }

    #[test]
    fn only_topology_keys_open_links_unless_any_is_allowed() {
        let peers = LinkPeers::from_nodes([(addr(1), [1; 32]), (addr(2), [2; 32])]);
        assert!(peers.admits(&[2; 32]));
        assert!(!peers.admits(&[3; 32]));
        assert!(peers.clone().allowing_any_initiator().admits(&[3; 32]));
        assert!(LinkPeers::open().admits(&[3; 32]));
        let extra = peers.with_peer(addr(9), [9; 32]);
        assert!(extra.admits(&[9; 32]));
        assert_eq!(
            extra.outbound(NoiseMode::Required, addr(9)),
            OutboundLink::Noise([9; 32])
        );
        assert_eq!(extra.len(), 3);
    }
}
