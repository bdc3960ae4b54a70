//! What the node should hold, generate, announce and wipe at a moment: a pure function of
//! the schedule, the clock, the keys on disk and what the chain holds.

use std::collections::BTreeSet;

use validator_core::rotation::{RotationId, RotationSchedule};

/// The node's key work at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The rotations whose keys the router should accept now, newest first: the live ones
    /// minus the quarantined.
    pub accept: Vec<RotationId>,
    /// The rotations whose keys must exist on disk: the current and the next (generated
    /// ahead, so the next can be announced before its rotation).
    pub keep: [RotationId; 2],
    /// Keys on disk that are past their life (or were never used and are behind): wipe them
    /// with their filters.
    pub retire: Vec<RotationId>,
    /// Of `keep`, the rotations the chain holds no key of ours for yet.
    pub announce: Vec<RotationId>,
}

/// The plan at `now_ms` (see [`Plan`]'s fields). `quarantined` keys are never accepted;
/// `on_chain` are the rotations the chain holds our key for.
pub fn plan(
    schedule: &RotationSchedule,
    now_ms: u64,
    on_disk: &BTreeSet<RotationId>,
    quarantined: &BTreeSet<RotationId>,
    on_chain: &BTreeSet<RotationId>,
) -> Plan {
    let live = schedule.live_rotations(now_ms);
    let current = schedule.rotation_at(now_ms);
    let keep = [current, current.next()];
    let accept = live
        .iter()
        .copied()
        .filter(|r| !quarantined.contains(r))
        .collect();
    let retire = on_disk
        .iter()
        .copied()
        .filter(|r| !live.contains(r) && !keep.contains(r))
        .collect();
    let announce = keep
        .iter()
        .copied()
        .filter(|r| !on_chain.contains(r))
        .collect();
    Plan {
        accept,
        keep,
        retire,
        announce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator_core::rotation::KeyRotationParams;

    fn schedule() -> RotationSchedule {
        // rotations of 10 s from t = 0, 3 s overlap
        RotationSchedule::new(
            0,
            5_000,
            KeyRotationParams {
                length_ms: 10_000,
                overlap_ms: 3_000,
            },
        )
    }

    fn set(ids: &[u64]) -> BTreeSet<RotationId> {
        ids.iter().copied().map(RotationId).collect()
    }

    #[test]
    fn keys_are_made_ahead_announced_until_on_chain_and_wiped_after_the_overlap() {
        let s = schedule();
        let p = plan(&s, 5_000, &set(&[]), &set(&[]), &set(&[]));
        assert_eq!(p.accept, vec![RotationId(0)]);
        assert_eq!(p.keep, [RotationId(0), RotationId(1)]);
        assert_eq!(p.announce, vec![RotationId(0), RotationId(1)]);
        assert!(p.retire.is_empty());

        // just after the boundary: both keys accepted, rotation 2's key made and announced
        let p = plan(&s, 11_000, &set(&[0, 1]), &set(&[]), &set(&[0, 1]));
        assert_eq!(p.accept, vec![RotationId(1), RotationId(0)]);
        assert_eq!(p.announce, vec![RotationId(2)]);
        assert!(
            p.retire.is_empty(),
            "rotation 0's key lives through the overlap"
        );

        // after the overlap rotation 0's key goes
        let p = plan(&s, 13_000, &set(&[0, 1, 2]), &set(&[]), &set(&[0, 1, 2]));
        assert_eq!(p.accept, vec![RotationId(1)]);
        assert_eq!(p.retire, vec![RotationId(0)]);
        assert!(p.announce.is_empty());
    }

    #[test]
    fn a_quarantined_key_is_never_accepted_and_retires_on_schedule() {
        let s = schedule();
        let p = plan(&s, 11_000, &set(&[0, 1]), &set(&[0, 1]), &set(&[0, 1]));
        assert!(
            p.accept.is_empty(),
            "both live keys were in use at the crash"
        );
        let p = plan(&s, 21_000, &set(&[0, 1, 2]), &set(&[0, 1]), &set(&[1, 2]));
        assert_eq!(
            p.accept,
            vec![RotationId(2)],
            "the next rotation's key was never exposed"
        );
        assert_eq!(p.retire, vec![RotationId(0)]);
    }
}
