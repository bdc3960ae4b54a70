//! The Sphinx keys a node accepts packets for, and which of them a packet is tried with.
//!
//! # Rotation
//!
//! A node's Sphinx key changes with every key rotation (an id counted by the chain). Packets
//! built just before a rotation arrive just after it, so for an overlap the node holds two
//! keys: the current rotation's and the previous one's. Each key has its own
//! [`ReplayFilter`]: tags under different keys are unrelated, and a filter that lived through
//! every rotation would fill up and refuse fresh packets as replays (see
//! [`ReplayFilterParams::for_capacity`](super::ReplayFilterParams::for_capacity)). A
//! [`KeyRing`] is that set: at most two [`RotationKey`]s, newest first. Dropping a key drops
//! its filter (once no shard holds it) and wipes its secret.
//!
//! # Which key a packet is tried with
//!
//! Framing version 8 carries a key-rotation byte, as Nym does: odd rotation ids are
//! [`KeyRotation::Odd`], even ones [`KeyRotation::Even`] ([`rotation_hint`]). Two live
//! rotations always differ in parity, so the byte names at most one key. [`KeyRing::choose`]:
//!
//! * byte `Odd`/`Even`: only the key of that parity; when the ring holds none, the packet is
//!   dropped as [`DropReason::ExpiredKey`](super::DropReason::ExpiredKey) without any work
//!   (trying the other key could only fail the MAC, at the price of a scalar multiplication);
//! * byte `Unknown` (version-7 frames, old senders): the newest key, and only if its header MAC
//!   fails, the other one. Never more than two attempts.
//!
//! A static key ([`KeyRing::single`], rotation `None`: nodes without a chain, benchmarks)
//! accepts every byte.
//!
//! A forwarded packet is sealed for the next hop's key of the same rotation, so its frame
//! carries the rotation of the key that opened it ([`RotationKey::forward_hint`]); under a
//! static key the byte it arrived with is passed on.

use std::sync::Arc;

use super::replay::ReplayFilter;
use crate::sphinx::{KeyChoice, SphinxSecretKey};
use crate::wire::KeyRotation;

/// The key-rotation byte of frames sealed for keys of rotation `rotation`: odd ids are
/// [`KeyRotation::Odd`], even ones [`KeyRotation::Even`] (Nym's convention).
pub const fn rotation_hint(rotation: u64) -> KeyRotation {
    if rotation % 2 == 1 {
        KeyRotation::Odd
    } else {
        KeyRotation::Even
    }
}

/// A Sphinx key and the replay filter of the packets opened with it.
#[derive(Clone)]
pub struct RotationKey {
    /// The key rotation this key belongs to; `None` for a static key.
    pub rotation: Option<u64>,
    /// The secret.
    pub secret: SphinxSecretKey,
    /// The replay filter of this key's packets, shared by all shards.
    pub filter: Arc<ReplayFilter>,
}

impl RotationKey {
    /// The key-rotation byte of frames this key opens: `None` for a static key.
    pub fn hint(&self) -> Option<KeyRotation> {
        self.rotation.map(rotation_hint)
    }

    /// The key-rotation byte of the frame a packet opened with this key is forwarded in: its
    /// rotation's, or for a static key the byte the packet `arrived` with.
    pub fn forward_hint(&self, arrived: KeyRotation) -> KeyRotation {
        self.hint().unwrap_or(arrived)
    }
}

impl AsRef<SphinxSecretKey> for RotationKey {
    fn as_ref(&self) -> &SphinxSecretKey {
        &self.secret
    }
}

impl std::fmt::Debug for RotationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationKey")
            .field("rotation", &self.rotation)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

/// Why a set of keys is not a [`KeyRing`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// A ring holds one or two keys.
    #[error("a key ring holds one or two keys, not {0}")]
    KeyCount(usize),
    /// A static key accepts every key-rotation byte, so it cannot share the ring.
    #[error("a static key (no rotation) cannot share the ring with another key")]
    StaticKeyNotAlone,
    /// Two rotations of the same parity (equal ones included): the frame's key-rotation byte
    /// could not tell their packets apart.
    #[error("rotations {0} and {1} have the same parity: frames could not name one of them")]
    SameParity(u64, u64),
}

/// The keys a node accepts packets for: at most two (the current rotation's and, during the
/// overlap, the previous one's), newest first. See the module docs.
#[derive(Clone, Debug)]
pub struct KeyRing {
    /// One or two keys; two only with rotations of different parity, the higher first.
    keys: Vec<RotationKey>,
}

impl KeyRing {
    /// A ring of one or two keys, in any order (kept newest, i.e. highest rotation, first).
    /// Two keys need rotations of different parity; a static key (rotation `None`) only
    /// stands alone.
    pub fn new(mut keys: Vec<RotationKey>) -> Result<Self, KeyRingError> {
        match keys.as_slice() {
            [_] => {}
            [a, b] => match (a.rotation, b.rotation) {
                (Some(x), Some(y)) if x % 2 != y % 2 => {}
                (Some(x), Some(y)) => return Err(KeyRingError::SameParity(x, y)),
                _ => return Err(KeyRingError::StaticKeyNotAlone),
            },
            _ => return Err(KeyRingError::KeyCount(keys.len())),
        }
        keys.sort_by_key(|key| std::cmp::Reverse(key.rotation));
        Ok(KeyRing { keys })
    }

    /// A static key: rotation `None`, accepting every key-rotation byte (nodes without a
    /// chain, benchmarks, Nym's own packets).
    pub fn single(secret: SphinxSecretKey, filter: Arc<ReplayFilter>) -> Self {
        KeyRing {
            keys: vec![RotationKey {
                rotation: None,
                secret,
                filter,
            }],
        }
    }

    /// The keys, newest first.
    pub fn keys(&self) -> &[RotationKey] {
        &self.keys
    }

    /// The key at `index` of [`Self::keys`].
    pub fn get(&self, index: usize) -> Option<&RotationKey> {
        self.keys.get(index)
    }

    /// The newest key.
    pub fn newest(&self) -> Option<&RotationKey> {
        self.keys.first()
    }

    /// Which keys (indices into [`Self::keys`]) a packet whose frame carries `hint` is tried
    /// with; see the module docs.
    pub fn choose(&self, hint: KeyRotation) -> KeyChoice {
        match (hint, self.keys.as_slice()) {
            (_, [only]) if only.rotation.is_none() => KeyChoice::Only(0),
            (KeyRotation::Unknown, [_]) => KeyChoice::Only(0),
            (KeyRotation::Unknown, [_, _, ..]) => KeyChoice::Either { first: 0, then: 1 },
            (named, keys) => keys
                .iter()
                .position(|key| key.hint() == Some(named))
                .map_or(KeyChoice::None, KeyChoice::Only),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::ReplayFilterParams;

    fn key(rotation: Option<u64>, byte: u8) -> RotationKey {
        RotationKey {
            rotation,
            secret: SphinxSecretKey::from_bytes([byte; 32]),
            filter: Arc::new(ReplayFilter::new(
                ReplayFilterParams::for_capacity(100, 1e-6).unwrap(),
                [byte; 32],
            )),
        }
    }

    #[test]
    fn parity_is_nyms() {
        assert_eq!(rotation_hint(1), KeyRotation::Odd);
        assert_eq!(rotation_hint(2), KeyRotation::Even);
        assert_eq!(rotation_hint(0), KeyRotation::Even);
        assert_eq!(rotation_hint(u64::MAX), KeyRotation::Odd);
        assert_eq!(rotation_hint(7).as_byte(), 1);
        assert_eq!(rotation_hint(8).as_byte(), 2);
    }

    #[test]
    fn a_ring_is_one_or_two_keys_of_different_parity_newest_first() {
        assert_eq!(KeyRing::new(vec![]).unwrap_err(), KeyRingError::KeyCount(0));
        let three = vec![key(Some(1), 1), key(Some(2), 2), key(Some(3), 3)];
        assert_eq!(KeyRing::new(three).unwrap_err(), KeyRingError::KeyCount(3));
        let same = vec![key(Some(4), 1), key(Some(6), 2)];
        assert_eq!(
            KeyRing::new(same).unwrap_err(),
            KeyRingError::SameParity(4, 6)
        );
        let equal = vec![key(Some(5), 1), key(Some(5), 2)];
        assert_eq!(
            KeyRing::new(equal).unwrap_err(),
            KeyRingError::SameParity(5, 5)
        );
        for mixed in [
            vec![key(None, 1), key(Some(2), 2)],
            vec![key(Some(2), 2), key(None, 1)],
        ] {
            assert_eq!(
                KeyRing::new(mixed).unwrap_err(),
                KeyRingError::StaticKeyNotAlone
            );
        }
        let ring = KeyRing::new(vec![key(Some(9), 9), key(Some(10), 10)]).unwrap();
        let rotations: Vec<_> = ring.keys().iter().map(|k| k.rotation).collect();
        assert_eq!(rotations, [Some(10), Some(9)]);
        assert_eq!(ring.newest().unwrap().rotation, Some(10));
        assert!(KeyRing::new(vec![key(None, 1)]).is_ok());
        assert!(KeyRing::new(vec![key(Some(3), 1)]).is_ok());
    }

    #[test]
    fn the_byte_names_one_key_and_unknown_tries_the_newest_first() {
        let ring = KeyRing::new(vec![key(Some(9), 9), key(Some(10), 10)]).unwrap();
        assert_eq!(ring.choose(KeyRotation::Even), KeyChoice::Only(0));
        assert_eq!(ring.choose(KeyRotation::Odd), KeyChoice::Only(1));
        assert_eq!(
            ring.choose(KeyRotation::Unknown),
            KeyChoice::Either { first: 0, then: 1 }
        );

        let current = KeyRing::new(vec![key(Some(11), 11)]).unwrap();
        assert_eq!(current.choose(KeyRotation::Odd), KeyChoice::Only(0));
        assert_eq!(current.choose(KeyRotation::Even), KeyChoice::None);
        assert_eq!(current.choose(KeyRotation::Unknown), KeyChoice::Only(0));
    }

    #[test]
    fn a_static_key_accepts_every_byte_and_passes_the_byte_on() {
        let ring = KeyRing::single(SphinxSecretKey::from_bytes([1; 32]), key(None, 1).filter);
        for hint in [KeyRotation::Unknown, KeyRotation::Odd, KeyRotation::Even] {
            assert_eq!(ring.choose(hint), KeyChoice::Only(0));
            assert_eq!(ring.keys()[0].forward_hint(hint), hint);
        }
        let rotating = key(Some(4), 4);
        for hint in [KeyRotation::Unknown, KeyRotation::Odd, KeyRotation::Even] {
            assert_eq!(rotating.forward_hint(hint), KeyRotation::Even);
        }
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let ring = KeyRing::new(vec![key(Some(3), 0xab)]).unwrap();
        let shown = format!("{ring:?}");
        assert!(shown.contains("rotation: Some(3)"), "{shown}");
        assert!(!shown.contains("SphinxSecretKey"), "{shown}");
    }
}
