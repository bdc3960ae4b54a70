//! When statements are collected and when each epoch's batch is applied.
//!
//! Epoch `E` covers `[start(E), start(E+1))`. Its statement batch closes at the **cutoff**
//! `cutoff(E) = start(E+1) - lead`: at that instant every validator applies the batch,
//! selects the active set of `E+1` and signs its topology, so the next topology is signed by
//! everyone before it becomes valid.
//!
//! A validator that receives a statement from a client at `now` puts it in the batch of the
//! first epoch whose cutoff is more than `grace` away (the **intake epoch**), and relays it
//! tagged with that epoch. Validators agree on every batch as long as a relay reaches every
//! peer within `grace` and clocks agree to within the remaining slack: the synchrony
//! assumption of this design (see the crate docs).
//!
//! `lead` is a quarter of an epoch, at most 60 s; `grace` an eighth, at most 10 s.

use validator_core::genesis::Genesis;
use validator_core::topology::EpochId;

/// Longest lead of a cutoff before the epoch ends.
pub const MAX_LEAD_MS: u64 = 60_000;
/// Longest relay grace.
pub const MAX_GRACE_MS: u64 = 10_000;

/// Epoch timing of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochSchedule {
    genesis_ms: u64,
    length_ms: u64,
    lead_ms: u64,
    grace_ms: u64,
}

impl EpochSchedule {
    /// The schedule of `genesis` (whose epoch length is nonzero once validated).
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let length_ms = genesis.epoch_length_ms.max(1);
        Self {
            genesis_ms: genesis.genesis_time_unix_ms,
            length_ms,
            lead_ms: (length_ms / 4).min(MAX_LEAD_MS),
            grace_ms: (length_ms / 8).min(MAX_GRACE_MS),
        }
    }

    /// Epoch length.
    pub fn length_ms(&self) -> u64 {
        self.length_ms
    }

    /// Time relays have to reach every validator.
    pub fn grace_ms(&self) -> u64 {
        self.grace_ms
    }

    /// The epoch containing `now_ms`; epoch 0 before genesis.
    pub fn epoch_at(&self, now_ms: u64) -> EpochId {
        EpochId(now_ms.saturating_sub(self.genesis_ms) / self.length_ms)
    }

    /// Start of `epoch`, saturating.
    pub fn start(&self, epoch: EpochId) -> u64 {
        epoch
            .0
            .saturating_mul(self.length_ms)
            .saturating_add(self.genesis_ms)
    }

    /// When `epoch`'s batch is applied and the next topology is built.
    pub fn cutoff(&self, epoch: EpochId) -> u64 {
        self.start(epoch.next()).saturating_sub(self.lead_ms)
    }

    /// The epoch a statement received from a client at `now_ms` is collected for: the first
    /// whose cutoff is more than `grace` ahead.
    pub fn intake_epoch(&self, now_ms: u64) -> EpochId {
        // cutoff(E) > now + grace  <=>  (E + 1) * len > now + grace + lead - genesis
        let shifted = now_ms
            .saturating_add(self.grace_ms)
            .saturating_add(self.lead_ms);
        EpochId(shifted.saturating_sub(self.genesis_ms) / self.length_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schedule(genesis_ms: u64, length_ms: u64) -> EpochSchedule {
        let mut g = validator_core::test_util::genesis(1, 1, 1, 1);
        g.genesis_time_unix_ms = genesis_ms;
        g.epoch_length_ms = length_ms;
        EpochSchedule::from_genesis(&g)
    }

    #[test]
    fn two_second_epochs() {
        let s = schedule(10_000, 2_000);
        assert_eq!(s.cutoff(EpochId(0)), 11_500);
        assert_eq!(s.grace_ms(), 250);
        // Well before the cutoff: this epoch; within grace of it: the next.
        assert_eq!(s.intake_epoch(10_000), EpochId(0));
        assert_eq!(s.intake_epoch(11_249), EpochId(0));
        assert_eq!(s.intake_epoch(11_250), EpochId(1));
        assert_eq!(s.intake_epoch(12_100), EpochId(1));
        assert_eq!(s.epoch_at(5), EpochId(0));
    }

    #[test]
    fn long_epochs_cap_lead_and_grace() {
        let s = schedule(0, 3_600_000);
        assert_eq!(s.cutoff(EpochId(0)), 3_600_000 - MAX_LEAD_MS);
        assert_eq!(s.grace_ms(), MAX_GRACE_MS);
    }

    proptest! {
        /// The intake epoch is the first one whose cutoff is more than grace away, so a relay
        /// that takes less than grace always arrives before that cutoff.
        #[test]
        fn intake_epoch_is_first_with_room(
            genesis in 0u64..1 << 40, length in 8u64..1 << 24, offset in 0u64..1 << 40,
        ) {
            let s = schedule(genesis, length);
            let now = genesis + offset;
            let e = s.intake_epoch(now);
            prop_assert!(s.cutoff(e) > now + s.grace_ms());
            if e.0 > 0 {
                prop_assert!(s.cutoff(EpochId(e.0 - 1)) <= now + s.grace_ms());
            }
            prop_assert!(e >= s.epoch_at(now));
        }
    }
}
