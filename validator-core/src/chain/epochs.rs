//! When each epoch's next topology is built: the epoch cutoffs.
//!
//! Epoch `E` covers `[start(E), start(E+1))` ([`crate::topology::epoch_window`]). Its
//! **cutoff** is `cutoff(E) = start(E+1) - lead`, with `lead` a quarter of an epoch and at
//! most [`MAX_LEAD_MS`]: the first block whose time is at or past `cutoff(E)` closes `E`, and
//! the topology of `E+1` is selected from the state after that block. Closing a lead ahead of
//! the boundary leaves the validators time to sign the new topology (on the chain, to get
//! their votes into blocks) before clients need it.
//!
//! This is the rule of the epoch-batch service's `EpochSchedule` (validator crate,
//! `service/schedule.rs`), moved here so the chain and the service compute the same cutoffs.

use crate::genesis::Genesis;
use crate::topology::EpochId;

/// Longest lead of a cutoff before its epoch ends.
pub const MAX_LEAD_MS: u64 = 60_000;

/// Epoch timing of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochSchedule {
    genesis_ms: u64,
    length_ms: u64,
    lead_ms: u64,
}

impl EpochSchedule {
    /// The schedule of `genesis` (whose epoch length is nonzero once validated; a zero length
    /// is treated as 1 ms so nothing here divides by zero).
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let length_ms = genesis.epoch_length_ms.max(1);
        Self {
            genesis_ms: genesis.genesis_time_unix_ms,
            length_ms,
            lead_ms: (length_ms / 4).min(MAX_LEAD_MS),
        }
    }

    /// Epoch length.
    pub fn length_ms(&self) -> u64 {
        self.length_ms
    }

    /// How long before its end an epoch is closed.
    pub fn lead_ms(&self) -> u64 {
        self.lead_ms
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

    /// When `epoch` closes and the next epoch's topology is built.
    pub fn cutoff(&self, epoch: EpochId) -> u64 {
        self.start(epoch.next()).saturating_sub(self.lead_ms)
    }

    /// The last epoch whose cutoff is at or before `time_ms`, if any: a block at `time_ms`
    /// closes every epoch up to it.
    pub fn last_closed_at(&self, time_ms: u64) -> Option<EpochId> {
        // cutoff(E) <= t  <=>  genesis + (E + 1) * len - lead <= t
        //                 <=>  E + 1 <= (t + lead - genesis) / len
        let closed = time_ms
            .saturating_add(self.lead_ms)
            .saturating_sub(self.genesis_ms)
            / self.length_ms;
        closed.checked_sub(1).map(EpochId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schedule(genesis_ms: u64, length_ms: u64) -> EpochSchedule {
        let mut g = crate::test_util::genesis(1, 1, 1, 1);
        g.genesis_time_unix_ms = genesis_ms;
        g.epoch_length_ms = length_ms;
        EpochSchedule::from_genesis(&g)
    }

    #[test]
    fn cutoff_is_a_quarter_epoch_early_at_most_a_minute() {
        let s = schedule(10_000, 2_000);
        assert_eq!(s.lead_ms(), 500);
        assert_eq!(s.cutoff(EpochId(0)), 11_500);
        assert_eq!(s.cutoff(EpochId(3)), 17_500);
        let long = schedule(0, 3_600_000);
        assert_eq!(long.cutoff(EpochId(0)), 3_600_000 - MAX_LEAD_MS);
        assert_eq!(s.epoch_at(5), EpochId(0));
        assert_eq!(s.epoch_at(12_000), EpochId(1));
    }

    #[test]
    fn last_closed_at_the_edges() {
        let s = schedule(10_000, 2_000);
        assert_eq!(s.last_closed_at(0), None);
        assert_eq!(s.last_closed_at(11_499), None);
        assert_eq!(s.last_closed_at(11_500), Some(EpochId(0)));
        assert_eq!(s.last_closed_at(13_499), Some(EpochId(0)));
        assert_eq!(s.last_closed_at(13_500), Some(EpochId(1)));
    }

    proptest! {
        /// `last_closed_at(t)` is exactly the last epoch whose cutoff is at or before `t`.
        #[test]
        fn last_closed_at_matches_cutoffs(
            genesis in 0u64..1 << 40, length in 1u64..1 << 24, offset in 0u64..1 << 40,
        ) {
            let s = schedule(genesis, length);
            let t = genesis + offset;
            match s.last_closed_at(t) {
                Some(e) => {
                    prop_assert!(s.cutoff(e) <= t);
                    prop_assert!(s.cutoff(e.next()) > t);
                }
                None => prop_assert!(s.cutoff(EpochId(0)) > t),
            }
        }
    }
}
