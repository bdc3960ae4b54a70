//! From a verified topology to Nym's directory documents ([`super::model`]), pure: the
//! topology, the chain's epoch and rotation schedules and the time are arguments.

use std::collections::BTreeSet;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::model::{
    DurationJson, EntryDetails, KeyRotationInfo, KeyRotationState, NodeRole, NodesMetadata,
    NodesPage, Page, Pagination, RewardedSet, RotationProgress, SkimmedNode, SupportedRoles,
};
use validator_core::chain::epochs::EpochSchedule;
use validator_core::primitives::IdentityKey;
use validator_core::rotation::RotationSchedule;
use validator_core::topology::Topology;

/// The rotation length, in epochs, reported for a chain whose keys never rotate: long
/// enough that no client sees a rotation end (a million epochs), small enough that the
/// client's `(validity_epochs + 1) * epoch_duration` cannot overflow.
pub const STATIC_KEYS_VALIDITY_EPOCHS: u32 = 1_000_000;

/// Performance every listed node reports (the chain selected it).
const PERFORMANCE: &str = "1";

/// Why a document cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Nym's epoch and rotation ids are 32-bit.
    #[error("{what} {value} does not fit Nym's 32-bit ids")]
    OutOfRange {
        /// Which id.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A time Nym's format cannot hold.
    #[error("time {0} ms cannot be written as RFC 3339")]
    Time(u64),
}

/// Which nodes a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSet {
    /// The mixnodes (`skimmed/mixnodes/active`).
    Mixnodes,
    /// The gateways (`skimmed/entry-gateways`).
    Gateways,
    /// Both (`skimmed`).
    All,
}

/// One epoch's topology as Nym's clients see it: node ids assigned, documents on demand.
#[derive(Debug, Clone)]
pub struct Directory<'a> {
    topology: &'a Topology,
    /// Node ids: mixnodes in topology order, then gateways.
    mixnode_ids: Vec<u32>,
    gateway_ids: Vec<u32>,
    epoch: u32,
    rotation: u32,
    refreshed_at: String,
}

impl<'a> Directory<'a> {
    /// The directory of `topology` (already verified against the chain's threshold), made at
    /// `now_ms`.
    pub fn new(topology: &'a Topology, now_ms: u64) -> Result<Self, DirectoryError> {
        let mut taken = BTreeSet::new();
        let mut id_of = |key: &IdentityKey| node_id(key, &mut taken);
        let mixnode_ids = topology
            .mixnodes
            .iter()
            .map(|m| id_of(&m.identity_key))
            .collect();
        let gateway_ids = topology
            .gateways
            .iter()
            .map(|g| id_of(&g.identity_key))
            .collect();
        Ok(Self {
            topology,
            mixnode_ids,
            gateway_ids,
            epoch: nym_id("epoch", topology.epoch_id.0)?,
            rotation: nym_id("rotation", topology.rotation.map_or(0, |r| r.0))?,
            refreshed_at: rfc3339(now_ms)?,
        })
    }

    /// `rewarded-set`.
    pub fn rewarded_set(&self) -> RewardedSet {
        let layer = |n: u8| {
            self.topology
                .mixnodes
                .iter()
                .zip(&self.mixnode_ids)
                .filter(|(m, _)| m.layer.get() == n)
                .map(|(_, id)| *id)
                .collect()
        };
        RewardedSet {
            epoch_id: self.epoch,
            entry_gateways: self.gateway_ids.clone(),
            exit_gateways: Vec::new(),
            layer1: layer(1),
            layer2: layer(2),
            layer3: layer(3),
            standby: Vec::new(),
        }
    }

    /// Page `page` of the list of `set`: every node on page 0, later pages empty.
    pub fn nodes(&self, set: NodeSet, page: u32) -> NodesPage {
        let mut all = Vec::new();
        if set != NodeSet::Gateways {
            all.extend(
                self.topology
                    .mixnodes
                    .iter()
                    .zip(&self.mixnode_ids)
                    .map(|(m, id)| SkimmedNode {
                        node_id: *id,
                        ed25519_identity_pubkey: m.identity_key.to_bs58(),
                        ip_addresses: vec![m.address.ip().to_string()],
                        mix_port: m.address.port(),
                        x25519_sphinx_pubkey: m.sphinx_key.to_bs58(),
                        role: NodeRole::Mixnode {
                            layer: m.layer.get(),
                        },
                        supported_roles: SupportedRoles {
                            mixnode: true,
                            entry: false,
                            exit_nr: false,
                            exit_ipr: false,
                        },
                        entry: None,
                        performance: PERFORMANCE.into(),
                    }),
            );
        }
        if set != NodeSet::Mixnodes {
            all.extend(
                self.topology
                    .gateways
                    .iter()
                    .zip(&self.gateway_ids)
                    .map(|(g, id)| SkimmedNode {
                        node_id: *id,
                        ed25519_identity_pubkey: g.identity_key.to_bs58(),
                        ip_addresses: vec![g.address.ip().to_string()],
                        mix_port: g.address.port(),
                        x25519_sphinx_pubkey: g.sphinx_key.to_bs58(),
                        role: NodeRole::EntryGateway,
                        supported_roles: SupportedRoles {
                            mixnode: false,
                            entry: true,
                            exit_nr: false,
                            exit_ipr: false,
                        },
                        entry: g.clients_address.as_deref().and_then(entry_details),
                        performance: PERFORMANCE.into(),
                    }),
            );
        }
        let total = all.len();
        let data = if page == 0 { all } else { Vec::new() };
        NodesPage {
            metadata: NodesMetadata {
                status: None,
                absolute_epoch_id: self.epoch,
                rotation_id: self.rotation,
                refreshed_at: self.refreshed_at.clone(),
            },
            nodes: Page {
                pagination: Pagination {
                    total,
                    page,
                    size: data.len(),
                },
                data,
            },
        }
    }
}

/// `key-rotation-info` at `now_ms`: the epoch containing it and the rotation that epoch is in
/// (`rotation` is `None` on a chain whose keys never rotate).
pub fn key_rotation_info(
    epochs: &EpochSchedule,
    rotation: Option<&RotationSchedule>,
    now_ms: u64,
) -> Result<KeyRotationInfo, DirectoryError> {
    let epoch = epochs.epoch_at(now_ms);
    let validity = match rotation {
        Some(r) => nym_id(
            "rotation length in epochs",
            (r.params().length_ms / epochs.length_ms()).max(1),
        )?,
        None => STATIC_KEYS_VALIDITY_EPOCHS,
    };
    let current = nym_id("epoch", epoch.0)?;
    let rotation_id = current / validity;
    let first = rotation_id * validity;
    Ok(KeyRotationInfo {
        key_rotation_state: KeyRotationState {
            validity_epochs: validity,
            initial_epoch_id: 0,
        },
        current_absolute_epoch_id: current,
        current_epoch_start: rfc3339(epochs.start(epoch))?,
        epoch_duration: DurationJson::from_ms(epochs.length_ms()),
        progress: RotationProgress {
            current_key_rotation_id: rotation_id,
            current_rotation_starting_epoch: first,
            current_rotation_ending_epoch: first.saturating_add(validity - 1),
        },
    })
}

/// A node's id: the identity key's first four bytes with the top bit clear, or the next free
/// one after it.
fn node_id(key: &IdentityKey, taken: &mut BTreeSet<u32>) -> u32 {
    let bytes = key.as_bytes();
    let mut id = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & 0x7fff_ffff;
    while !taken.insert(id) {
        id = id.wrapping_add(1) & 0x7fff_ffff;
    }
    id
}

fn nym_id(what: &'static str, value: u64) -> Result<u32, DirectoryError> {
    u32::try_from(value).map_err(|_| DirectoryError::OutOfRange { what, value })
}

/// Unix ms as RFC 3339, UTC.
pub fn rfc3339(ms: u64) -> Result<String, DirectoryError> {
    i128::from(ms)
        .checked_mul(1_000_000)
        .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or(DirectoryError::Time(ms))
}

/// A gateway's announced client URL as Nym's `entry`: `ws://IP:PORT` gives the websocket
/// port; `wss://HOST:PORT` the TLS port and host name (Nym clients reach it with TLS forced;
/// `ws_port`, which Nym requires, repeats the port: the gateway serves one of the two).
/// Anything else is not listed as an entry.
fn entry_details(url: &str) -> Option<EntryDetails> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else {
        (false, url.strip_prefix("ws://")?)
    };
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some(EntryDetails {
        hostname: tls.then(|| host.to_string()),
        ws_port: port,
        wss_port: tls.then_some(port),
    })
}

#[cfg(test)]
mod tests;
