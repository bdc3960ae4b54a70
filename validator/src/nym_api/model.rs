//! The JSON documents of Nym's directory API that Nym's clients read (see the module docs of
//! [`super`] for which call returns which). Field names, nesting and encodings are Nym's;
//! the documents are only ever written here, so only `Serialize` is derived.

use serde::Serialize;

/// `GET /v1/epoch/key-rotation-info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRotationInfo {
    /// How rotations are counted in epochs.
    pub key_rotation_state: KeyRotationState,
    /// The epoch now.
    pub current_absolute_epoch_id: u32,
    /// When that epoch started, RFC 3339.
    pub current_epoch_start: String,
    /// Epoch length.
    pub epoch_duration: DurationJson,
    /// Where the current rotation stands (required by the client's parser, not used).
    pub progress: RotationProgress,
}

/// Rotation `r` covers epochs `initial_epoch_id + r * validity_epochs ..` (exclusive of the
/// next rotation's first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyRotationState {
    /// Epochs per rotation (at least 1).
    pub validity_epochs: u32,
    /// The first epoch of rotation 0.
    pub initial_epoch_id: u32,
}

/// The current rotation and its epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RotationProgress {
    /// The rotation now.
    pub current_key_rotation_id: u32,
    /// Its first epoch.
    pub current_rotation_starting_epoch: u32,
    /// Its last epoch.
    pub current_rotation_ending_epoch: u32,
}

/// A duration as Rust's standard library serialises one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DurationJson {
    /// Whole seconds.
    pub secs: u64,
    /// The rest, in nanoseconds.
    pub nanos: u32,
}

impl DurationJson {
    /// `ms` milliseconds.
    pub fn from_ms(ms: u64) -> Self {
        Self {
            secs: ms / 1000,
            nanos: u32::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
        }
    }
}

/// `GET /v1/nym-nodes/rewarded-set`: node ids by role for one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RewardedSet {
    /// The epoch.
    pub epoch_id: u32,
    /// Gateways clients may register at.
    pub entry_gateways: Vec<u32>,
    /// Gateways that run exit services (none here: our exits are service providers behind
    /// clients).
    pub exit_gateways: Vec<u32>,
    /// Mix layer 1.
    pub layer1: Vec<u32>,
    /// Mix layer 2.
    pub layer2: Vec<u32>,
    /// Mix layer 3.
    pub layer3: Vec<u32>,
    /// Bonded but not routing this epoch (not listed: the topology holds only active nodes).
    pub standby: Vec<u32>,
}

/// The node lists: `metadata` plus one page of nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodesPage {
    /// Which epoch and rotation the list is of.
    pub metadata: NodesMetadata,
    /// The page.
    pub nodes: Page,
}

/// The node lists' metadata; the client requires lists fetched together to agree on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodesMetadata {
    /// The cache status Nym's API reports; always `null` here (no cache).
    pub status: Option<()>,
    /// The epoch.
    pub absolute_epoch_id: u32,
    /// The key rotation whose Sphinx keys are listed.
    pub rotation_id: u32,
    /// When the list was made, RFC 3339.
    pub refreshed_at: String,
}

/// One page of nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Where the page lies.
    pub pagination: Pagination,
    /// Its nodes.
    pub data: Vec<SkimmedNode>,
}

/// Paging: the client reads pages until it holds `total` nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pagination {
    /// Nodes in the whole list.
    pub total: usize,
    /// This page's number, from 0.
    pub page: u32,
    /// Nodes on this page.
    pub size: usize,
}

/// A node as Nym's clients route with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkimmedNode {
    /// Our id for it (see the module docs of [`super`]).
    pub node_id: u32,
    /// Its ed25519 identity, base58 (a gateway's is the `@gateway` part of its clients'
    /// addresses).
    pub ed25519_identity_pubkey: String,
    /// Its packet address's IP (the client routes to `ip_addresses[0]:mix_port`).
    pub ip_addresses: Vec<String>,
    /// Its packet port.
    pub mix_port: u16,
    /// Its Sphinx key for the listed rotation, base58.
    pub x25519_sphinx_pubkey: String,
    /// What it does this epoch.
    pub role: NodeRole,
    /// What it can do.
    pub supported_roles: SupportedRoles,
    /// Where clients connect (gateways).
    pub entry: Option<EntryDetails>,
    /// Decimal string in `[0, 1]`.
    pub performance: String,
}

/// A node's role this epoch, externally tagged as Nym writes it: `{"Mixnode":{"layer":1}}`
/// or `"EntryGateway"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NodeRole {
    /// A mix of `layer` (1 to 3).
    Mixnode {
        /// The layer.
        layer: u8,
    },
    /// A gateway clients register at.
    EntryGateway,
}

/// What a node can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SupportedRoles {
    /// Mixes packets.
    pub mixnode: bool,
    /// Takes clients.
    pub entry: bool,
    /// Runs Nym's network requester.
    pub exit_nr: bool,
    /// Runs Nym's IP packet router.
    pub exit_ipr: bool,
}

/// Where a gateway takes clients' websockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryDetails {
    /// Host name for `wss://` (none: clients use `ip_addresses` and `ws_port`).
    pub hostname: Option<String>,
    /// Plain websocket port.
    pub ws_port: u16,
    /// TLS websocket port.
    pub wss_port: Option<u16>,
}
