//! The nodes' Sphinx keys per rotation, announced on the chain ([`crate::rotation`]).
//!
//! A bonded node announces its key for a rotation with a [`SphinxKeyAnnouncement`] signed
//! by its identity key over
//! `"mixnet-sphinx-key-v1" || genesis_hash || node[32] || rotation:u64 || sphinx_key[32]`.
//! The chain applies one if:
//!
//! * the chain rotates keys (its genesis has `[key_rotation]`);
//! * the node is bonded;
//! * the rotation is the current one or the next (at the time of the last block), so keys
//!   are announced ahead, never years ahead, and never for the past;
//! * the node has no key for that rotation yet: a key is never replaced, so a client that
//!   built a packet for it is never surprised;
//! * no other node announced the same key for a kept rotation.
//!
//! Keys of rotations before the previous one are pruned when a block ends.
//!
//! The topology of an epoch lists a node only if it has a key for the epoch's rotation when
//! the topology is built, with its key for the next rotation if announced by then.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::genesis::GenesisHash;
use crate::primitives::{sha256, signature_bs58, Encoder, IdentityKey, SphinxKey};
use crate::rotation::{RotationId, RotationSchedule};

/// Domain-separation prefix of announcement signatures.
pub const SPHINX_KEY_DOMAIN: &[u8] = b"mixnet-sphinx-key-v1";

/// A node's Sphinx key for one rotation, signed by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SphinxKeyAnnouncement {
    /// The node's identity key.
    pub node: IdentityKey,
    /// The rotation the key is for.
    pub rotation: RotationId,
    /// The x25519 key.
    pub sphinx_key: SphinxKey,
    /// The node's signature (see the module docs).
    #[serde(with = "signature_bs58")]
    pub signature: Signature,
}

impl SphinxKeyAnnouncement {
    fn signing_bytes(
        genesis_hash: &GenesisHash,
        node: &IdentityKey,
        rotation: RotationId,
        sphinx_key: &SphinxKey,
    ) -> Vec<u8> {
        let mut enc = Encoder::new(SPHINX_KEY_DOMAIN);
        enc.fixed(genesis_hash.as_bytes())
            .fixed(node.as_bytes())
            .u64(rotation.0)
            .fixed(sphinx_key.as_bytes());
        enc.finish()
    }

    /// `identity`'s announcement of `sphinx_key` for `rotation`.
    pub fn sign(
        genesis_hash: &GenesisHash,
        identity: &SigningKey,
        rotation: RotationId,
        sphinx_key: SphinxKey,
    ) -> Self {
        let node = IdentityKey::from(identity);
        let signature = identity.sign(&Self::signing_bytes(
            genesis_hash,
            &node,
            rotation,
            &sphinx_key,
        ));
        Self {
            node,
            rotation,
            sphinx_key,
            signature,
        }
    }

    /// Whether the node's signature holds for this chain.
    pub fn verify(&self, genesis_hash: &GenesisHash) -> bool {
        let message =
            Self::signing_bytes(genesis_hash, &self.node, self.rotation, &self.sphinx_key);
        self.node.verify(&message, &self.signature)
    }
}

/// Why an announcement is refused by the chain's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SphinxKeyError {
    /// The genesis has no `[key_rotation]`.
    #[error("this chain does not rotate Sphinx keys (no [key_rotation] in its genesis)")]
    RotationDisabled,
    /// Not a bonded node.
    #[error("node {0} is not bonded")]
    NotBonded(IdentityKey),
    /// Neither the current nor the next rotation.
    #[error("rotation {rotation} is neither the current ({current}) nor the next")]
    OutOfWindow {
        /// The rotation announced for.
        rotation: RotationId,
        /// The current one.
        current: RotationId,
    },
    /// The node already has a key for that rotation.
    #[error("node {node} already announced its key for rotation {rotation}")]
    AlreadyAnnounced {
        /// The node.
        node: IdentityKey,
        /// The rotation.
        rotation: RotationId,
    },
    /// Another node announced that key.
    #[error("Sphinx key {key} is already announced by node {other}")]
    KeyTaken {
        /// The key.
        key: SphinxKey,
        /// The node that has it.
        other: IdentityKey,
    },
}

/// The announced keys the chain keeps, by rotation and node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SphinxKeys {
    keys: BTreeMap<(RotationId, IdentityKey), SphinxKey>,
}

impl SphinxKeys {
    /// From a snapshot's entries.
    pub fn from_entries(entries: impl IntoIterator<Item = SphinxKeyEntry>) -> Self {
        Self {
            keys: entries
                .into_iter()
                .map(|e| ((e.rotation, e.node), e.sphinx_key))
                .collect(),
        }
    }

    /// Every kept key, by rotation then node.
    pub fn entries(&self) -> impl Iterator<Item = SphinxKeyEntry> + '_ {
        self.keys
            .iter()
            .map(|(&(rotation, node), &sphinx_key)| SphinxKeyEntry {
                rotation,
                node,
                sphinx_key,
            })
    }

    /// `node`'s key for `rotation`.
    pub fn get(&self, node: &IdentityKey, rotation: RotationId) -> Option<SphinxKey> {
        self.keys.get(&(rotation, *node)).copied()
    }

    /// Whether the chain would apply `announcement` at a time in `current` (the signature is
    /// checked elsewhere, before any lock); `is_bonded` says whether a node is bonded.
    pub fn check(
        &self,
        schedule: Option<&RotationSchedule>,
        current: impl FnOnce(&RotationSchedule) -> RotationId,
        is_bonded: impl FnOnce(&IdentityKey) -> bool,
        announcement: &SphinxKeyAnnouncement,
    ) -> Result<(), SphinxKeyError> {
        let schedule = schedule.ok_or(SphinxKeyError::RotationDisabled)?;
        let current = current(schedule);
        let rotation = announcement.rotation;
        if rotation != current && rotation != current.next() {
            return Err(SphinxKeyError::OutOfWindow { rotation, current });
        }
        if !is_bonded(&announcement.node) {
            return Err(SphinxKeyError::NotBonded(announcement.node));
        }
        if self.keys.contains_key(&(rotation, announcement.node)) {
            return Err(SphinxKeyError::AlreadyAnnounced {
                node: announcement.node,
                rotation,
            });
        }
        let taken = self
            .keys
            .iter()
            .find(|(_, key)| **key == announcement.sphinx_key);
        if let Some(((_, other), key)) = taken {
            return Err(SphinxKeyError::KeyTaken {
                key: *key,
                other: *other,
            });
        }
        Ok(())
    }

    /// Records a checked announcement.
    pub fn record(&mut self, announcement: &SphinxKeyAnnouncement) {
        self.keys.insert(
            (announcement.rotation, announcement.node),
            announcement.sphinx_key,
        );
    }

    /// Forgets the keys of rotations before `current`'s previous one.
    pub fn prune(&mut self, current: RotationId) {
        let keep_from = current.previous().unwrap_or(current);
        self.keys.retain(|(rotation, _), _| *rotation >= keep_from);
    }

    /// SHA-256 of the entries in order, for the chain state hash.
    pub fn hash(&self) -> [u8; 32] {
        let mut enc = Encoder::new(b"");
        enc.count(self.keys.len());
        for ((rotation, node), key) in &self.keys {
            enc.u64(rotation.0)
                .fixed(node.as_bytes())
                .fixed(key.as_bytes());
        }
        sha256(&[&enc.finish()])
    }
}

/// One kept key, as a snapshot stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SphinxKeyEntry {
    /// The rotation.
    pub rotation: RotationId,
    /// The node.
    pub node: IdentityKey,
    /// Its key for that rotation.
    pub sphinx_key: SphinxKey,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::KeyRotationParams;
    use crate::test_util::{node_key, sphinx_key};

    fn schedule() -> RotationSchedule {
        RotationSchedule::new(
            0,
            1_000,
            KeyRotationParams {
                length_ms: 10_000,
                overlap_ms: 2_000,
            },
        )
    }

    fn announce(node: u32, rotation: u64, key: u32) -> SphinxKeyAnnouncement {
        SphinxKeyAnnouncement::sign(
            &GenesisHash([7; 32]),
            &node_key(node),
            RotationId(rotation),
            sphinx_key(key),
        )
    }

    fn check(
        keys: &SphinxKeys,
        now_ms: u64,
        a: &SphinxKeyAnnouncement,
    ) -> Result<(), SphinxKeyError> {
        let s = schedule();
        keys.check(Some(&s), |s| s.rotation_at(now_ms), |_| true, a)
    }

    #[test]
    fn signature_binds_chain_node_rotation_and_key() {
        let chain = GenesisHash([7; 32]);
        let a = announce(1, 3, 1);
        assert!(a.verify(&chain));
        assert!(!a.verify(&GenesisHash([8; 32])));
        let mut moved = a.clone();
        moved.rotation = RotationId(4);
        assert!(!moved.verify(&chain));
        let mut swapped = a.clone();
        swapped.sphinx_key = sphinx_key(2);
        assert!(!swapped.verify(&chain));
        let mut stolen = a;
        stolen.node = IdentityKey::from(&node_key(2));
        assert!(!stolen.verify(&chain));
    }

    #[test]
    fn only_the_current_or_next_rotation_once_per_node_with_a_key_of_its_own() {
        let mut keys = SphinxKeys::default();
        // at t = 25 s the current rotation is 2
        assert_eq!(
            check(&keys, 25_000, &announce(1, 1, 1)),
            Err(SphinxKeyError::OutOfWindow {
                rotation: RotationId(1),
                current: RotationId(2)
            })
        );
        assert!(check(&keys, 25_000, &announce(1, 4, 1)).is_err());
        for rotation in [2, 3] {
            let a = announce(1, rotation, 10 + rotation as u32);
            check(&keys, 25_000, &a).unwrap();
            keys.record(&a);
        }
        assert_eq!(
            check(&keys, 25_000, &announce(1, 3, 20)),
            Err(SphinxKeyError::AlreadyAnnounced {
                node: IdentityKey::from(&node_key(1)),
                rotation: RotationId(3)
            })
        );
        assert!(matches!(
            check(&keys, 25_000, &announce(2, 3, 13)),
            Err(SphinxKeyError::KeyTaken { .. })
        ));
        let s = schedule();
        assert_eq!(
            keys.check(Some(&s), |_| RotationId(2), |_| false, &announce(3, 2, 30)),
            Err(SphinxKeyError::NotBonded(IdentityKey::from(&node_key(3))))
        );
        assert_eq!(
            keys.check(None, |_| RotationId(2), |_| true, &announce(3, 2, 30)),
            Err(SphinxKeyError::RotationDisabled)
        );
        assert_eq!(
            keys.get(&IdentityKey::from(&node_key(1)), RotationId(3)),
            Some(sphinx_key(13))
        );
        let before = keys.hash();
        keys.prune(RotationId(4));
        assert_eq!(
            keys.entries().count(),
            1,
            "rotation 2 is before 4's previous one"
        );
        assert_ne!(keys.hash(), before);
        assert_eq!(
            SphinxKeys::from_entries(keys.entries().collect::<Vec<_>>()),
            keys
        );
    }
}
