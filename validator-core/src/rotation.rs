//! Sphinx key rotation: the schedule every node, client and validator computes the same way.
//!
//! A chain whose genesis has a `[key_rotation]` section rotates the nodes' Sphinx keys:
//! rotation `r` is the window `[genesis + r * length, genesis + (r + 1) * length)`, and its
//! length is a whole number of topology epochs, so every epoch lies in exactly one rotation
//! ([`RotationSchedule::rotation_of_epoch`]) and the topology of an epoch names one key per
//! node for it (and, once announced, the key of the next rotation).
//!
//! * Each node announces its key for a rotation on the chain before that rotation
//!   ([`crate::chain::sphinx_keys`]); a node with no key for an epoch's rotation is left out
//!   of that epoch's topology.
//! * A packet is built with the keys of one rotation (the rotation in which it reaches its
//!   first hop) and every hop forwards it with that rotation's parity in the frame's
//!   key-rotation byte, as Nym does.
//! * A node accepts its previous rotation's key for `overlap` after each rotation starts,
//!   so packets built just before a boundary (and still held in mixes' delay queues, or sent
//!   by a client whose clock is a little behind) are still opened; and its next rotation's
//!   key for `overlap / 2` before the boundary, so a client whose clock is ahead, or that took
//!   the new topology a moment before the node turned, is not refused. The two windows never
//!   meet (the overlap is at most half a rotation), so a node holds at most two keys, of
//!   different parity ([`RotationSchedule::live_rotations`]). The overlap is a network
//!   parameter, not a node setting, because clients rely on it: a reply SURB built for
//!   rotation `r` is usable until [`RotationSchedule::surb_usable_until`].
//!
//! A genesis without the section keeps static keys: every node's key is the one it bonded
//! with, forever (networks made before rotation existed; tests of other parts).

use serde::{Deserialize, Serialize};

use crate::topology::EpochId;

/// Default rotation length: a day.
pub const DEFAULT_ROTATION_MS: u64 = 24 * 60 * 60 * 1000;
/// Default overlap: ten minutes (at most half a rotation).
pub const DEFAULT_OVERLAP_MS: u64 = 10 * 60 * 1000;

/// The `[key_rotation]` section of a genesis file, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyRotation {
    /// Rotation length, ms; a multiple of the epoch length. Default: a day, rounded up to a
    /// whole number of epochs.
    pub length_ms: Option<u64>,
    /// How long after a rotation starts the previous key is still accepted, ms. Default ten
    /// minutes, at most half a rotation.
    pub overlap_ms: Option<u64>,
}

/// The validated rotation parameters of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyRotationParams {
    /// Rotation length, ms: a positive multiple of the epoch length.
    pub length_ms: u64,
    /// How long the previous rotation's key stays accepted after a rotation starts, ms:
    /// at least 1, at most half a rotation. Must cover the largest delay a packet can
    /// accumulate in the mix plus the clock skew between clients and nodes.
    pub overlap_ms: u64,
}

impl KeyRotationParams {
    /// The parameters `raw` asks for with defaults filled in, or which field is wrong and
    /// why. `epoch_length_ms` must be nonzero.
    pub fn resolve(
        raw: RawKeyRotation,
        epoch_length_ms: u64,
    ) -> Result<Self, (&'static str, String)> {
        let epoch = epoch_length_ms.max(1);
        let length_ms = match raw.length_ms {
            Some(length) => length,
            None => DEFAULT_ROTATION_MS.div_ceil(epoch).saturating_mul(epoch),
        };
        let overlap_ms = raw
            .overlap_ms
            .unwrap_or(DEFAULT_OVERLAP_MS.min(length_ms / 2));
        let params = Self {
            length_ms,
            overlap_ms,
        };
        params.validate(epoch_length_ms)?;
        Ok(params)
    }

    /// The rules listed on the fields.
    pub fn validate(&self, epoch_length_ms: u64) -> Result<(), (&'static str, String)> {
        if self.length_ms == 0
            || epoch_length_ms == 0
            || !self.length_ms.is_multiple_of(epoch_length_ms)
        {
            return Err((
                "key_rotation.length_ms",
                format!(
                    "{} is not a positive multiple of the epoch length ({epoch_length_ms} ms): \
                     every epoch must lie in one rotation",
                    self.length_ms
                ),
            ));
        }
        if self.overlap_ms == 0 || self.overlap_ms > self.length_ms / 2 {
            return Err((
                "key_rotation.overlap_ms",
                format!(
                    "{} must be between 1 and half a rotation ({} ms)",
                    self.overlap_ms,
                    self.length_ms / 2
                ),
            ));
        }
        Ok(())
    }
}

/// A rotation number (0 starts at genesis).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct RotationId(pub u64);

impl RotationId {
    /// The following rotation (saturating).
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The previous rotation, if any.
    pub fn previous(self) -> Option<Self> {
        self.0.checked_sub(1).map(Self)
    }
}

impl std::fmt::Display for RotationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The rotation timing of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationSchedule {
    genesis_ms: u64,
    epoch_length_ms: u64,
    params: KeyRotationParams,
}

impl RotationSchedule {
    /// The schedule of a chain starting at `genesis_ms` with epochs of `epoch_length_ms`.
    /// Zero lengths are treated as 1 ms so nothing divides by zero (validated parameters
    /// never have them).
    pub fn new(genesis_ms: u64, epoch_length_ms: u64, params: KeyRotationParams) -> Self {
        Self {
            genesis_ms,
            epoch_length_ms: epoch_length_ms.max(1),
            params: KeyRotationParams {
                length_ms: params.length_ms.max(1),
                overlap_ms: params.overlap_ms,
            },
        }
    }

    /// The parameters.
    pub fn params(&self) -> KeyRotationParams {
        self.params
    }

    /// The rotation containing `now_ms`; rotation 0 before genesis.
    pub fn rotation_at(&self, now_ms: u64) -> RotationId {
        RotationId(now_ms.saturating_sub(self.genesis_ms) / self.params.length_ms)
    }

    /// The rotation an epoch lies in.
    pub fn rotation_of_epoch(&self, epoch: EpochId) -> RotationId {
        let epochs_per_rotation = (self.params.length_ms / self.epoch_length_ms).max(1);
        RotationId(epoch.0 / epochs_per_rotation)
    }

    /// Start of `rotation`, Unix ms (saturating).
    pub fn start(&self, rotation: RotationId) -> u64 {
        rotation
            .0
            .saturating_mul(self.params.length_ms)
            .saturating_add(self.genesis_ms)
    }

    /// End of `rotation` (the next one's start), Unix ms.
    pub fn end(&self, rotation: RotationId) -> u64 {
        self.start(rotation.next())
    }

    /// Until when (exclusive) a node still accepts packets for `rotation`'s key: the end of
    /// the rotation plus the overlap.
    pub fn key_retires_at(&self, rotation: RotationId) -> u64 {
        self.end(rotation).saturating_add(self.params.overlap_ms)
    }

    /// How long before a rotation starts its keys are already accepted: half the overlap.
    pub fn lead_ms(&self) -> u64 {
        self.params.overlap_ms / 2
    }

    /// The rotations whose keys a node accepts at `now_ms`, newest first: the current one;
    /// during the overlap at its start, the previous one too; during the lead before its end,
    /// the next one too.
    pub fn live_rotations(&self, now_ms: u64) -> Vec<RotationId> {
        let current = self.rotation_at(now_ms);
        if now_ms.saturating_add(self.lead_ms()) >= self.end(current) {
            return vec![current.next(), current];
        }
        let mut live = vec![current];
        if let Some(previous) = current.previous() {
            if now_ms < self.key_retires_at(previous) && now_ms >= self.genesis_ms {
                live.push(previous);
            }
        }
        live
    }

    /// Until when a reply SURB built for `rotation` may be used: its first hop must still
    /// accept the key when the reply reaches it, so the last `margin_ms` (the delay the
    /// reply can take to get there) of the key's life are left out.
    pub fn surb_usable_until(&self, rotation: RotationId, margin_ms: u64) -> u64 {
        self.key_retires_at(rotation).saturating_sub(margin_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schedule(genesis: u64, epoch: u64, length: u64, overlap: u64) -> RotationSchedule {
        RotationSchedule::new(
            genesis,
            epoch,
            KeyRotationParams {
                length_ms: length,
                overlap_ms: overlap,
            },
        )
    }

    #[test]
    fn defaults_are_a_day_rounded_to_epochs_and_ten_minutes() {
        let hourly = KeyRotationParams::resolve(RawKeyRotation::default(), 3_600_000).unwrap();
        assert_eq!(hourly.length_ms, DEFAULT_ROTATION_MS);
        assert_eq!(hourly.overlap_ms, DEFAULT_OVERLAP_MS);
        // 7 s epochs do not divide a day: the default rounds up to a whole number of epochs
        let odd = KeyRotationParams::resolve(RawKeyRotation::default(), 7_000).unwrap();
        assert_eq!(odd.length_ms % 7_000, 0);
        assert!(
            odd.length_ms >= DEFAULT_ROTATION_MS && odd.length_ms < DEFAULT_ROTATION_MS + 7_000
        );
        // a short rotation gets an overlap of at most half of it
        let short = RawKeyRotation {
            length_ms: Some(10_000),
            overlap_ms: None,
        };
        assert_eq!(
            KeyRotationParams::resolve(short, 5_000).unwrap().overlap_ms,
            5_000
        );
    }

    #[test]
    fn a_rotation_must_be_whole_epochs_and_the_overlap_at_most_half() {
        let raw = |length, overlap| RawKeyRotation {
            length_ms: Some(length),
            overlap_ms: Some(overlap),
        };
        assert_eq!(
            KeyRotationParams::resolve(raw(10_000, 1_000), 4_000)
                .unwrap_err()
                .0,
            "key_rotation.length_ms"
        );
        assert_eq!(
            KeyRotationParams::resolve(raw(0, 1_000), 4_000)
                .unwrap_err()
                .0,
            "key_rotation.length_ms"
        );
        assert_eq!(
            KeyRotationParams::resolve(raw(12_000, 6_001), 4_000)
                .unwrap_err()
                .0,
            "key_rotation.overlap_ms"
        );
        assert_eq!(
            KeyRotationParams::resolve(raw(12_000, 0), 4_000)
                .unwrap_err()
                .0,
            "key_rotation.overlap_ms"
        );
        assert!(KeyRotationParams::resolve(raw(12_000, 6_000), 4_000).is_ok());
    }

    #[test]
    fn the_previous_key_lives_for_the_overlap_and_the_next_for_half_of_it_before() {
        let s = schedule(1_000, 2_000, 10_000, 3_000);
        assert_eq!(s.live_rotations(1_000), vec![RotationId(0)]);
        assert_eq!(s.live_rotations(9_499), vec![RotationId(0)]);
        assert_eq!(s.live_rotations(10_999), vec![RotationId(1), RotationId(0)]);
        assert_eq!(s.live_rotations(11_000), vec![RotationId(1), RotationId(0)]);
        assert_eq!(s.live_rotations(13_999), vec![RotationId(1), RotationId(0)]);
        assert_eq!(s.live_rotations(14_000), vec![RotationId(1)]);
        // the next key is accepted half an overlap (1.5 s) before its rotation
        assert_eq!(s.live_rotations(19_499), vec![RotationId(1)]);
        assert_eq!(s.live_rotations(19_500), vec![RotationId(2), RotationId(1)]);
        assert_eq!(s.live_rotations(21_000), vec![RotationId(2), RotationId(1)]);
        assert_eq!(s.key_retires_at(RotationId(0)), 14_000);
        assert_eq!(s.surb_usable_until(RotationId(0), 500), 13_500);
        assert_eq!(s.rotation_of_epoch(EpochId(4)), RotationId(0));
        assert_eq!(s.rotation_of_epoch(EpochId(5)), RotationId(1));
    }

    proptest! {
        /// At most two keys, always of different parity, always including the current one.
        #[test]
        fn at_most_two_live_keys_of_different_parity(
            genesis in 0u64..1 << 40, epoch_len in 1u64..10_000, per in 1u64..50,
            overlap_share in 1u64..=50, at in 0u64..1 << 30,
        ) {
            let length = epoch_len * per;
            let overlap = (length / 2 * overlap_share / 50).max(1);
            let s = schedule(genesis, epoch_len, length, overlap);
            let now = genesis + at;
            let live = s.live_rotations(now);
            prop_assert!(live.len() <= 2);
            prop_assert!(live.contains(&s.rotation_at(now)));
            if let [a, b] = live.as_slice() {
                prop_assert!(a.0 % 2 != b.0 % 2);
                prop_assert!(a > b);
            }
        }

        /// Every instant of an epoch lies in the epoch's rotation.
        #[test]
        fn an_epoch_lies_in_one_rotation(
            genesis in 0u64..1 << 40, epoch_len in 1u64..100_000, per in 1u64..50, epoch in 0u64..1 << 20,
        ) {
            let s = schedule(genesis, epoch_len, epoch_len * per, 1);
            let rotation = s.rotation_of_epoch(EpochId(epoch));
            let first = genesis + epoch * epoch_len;
            let last = first + epoch_len - 1;
            prop_assert_eq!(s.rotation_at(first), rotation);
            prop_assert_eq!(s.rotation_at(last), rotation);
            prop_assert!(s.start(rotation) <= first && last < s.end(rotation));
        }
    }
}
