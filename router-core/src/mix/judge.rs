//! From an unwrapped packet to a [`Verdict`]: the replay check and the next-hop decode.
//!
//! The order is the one DESIGN §4 asks for: a replay tag only exists once the header MAC has
//! verified (an [`UnwrapError`] never reaches the filter), so a forged packet can neither fill
//! the filter nor make a genuine packet look replayed. Then the next hop's address is decoded;
//! an address that does not decode is dropped here rather than failing later in the runtime.
//! Whether the next hop is in the current topology is the runtime's check, since the topology
//! changes with epochs.

use super::replay::{ReplayCheck, ReplayFilter};
use super::verdict::{DropReason, Verdict};
use crate::sphinx::{Hop, ReplayTag, UnwrapError, Unwrapped};
use crate::wire::decode_node_address;

/// Decides what happens to one packet after its layer was peeled (or failed to peel).
pub fn judge(result: Result<Unwrapped, UnwrapError>, replay_filter: &ReplayFilter) -> Verdict {
    judge_with(result, replay_filter, |_| {})
}

/// [`judge`], calling `accepted` with the packet's replay tag when the filter accepted it as
/// fresh (the mixer journals those tags, so a restarted node still knows them).
pub fn judge_with(
    result: Result<Unwrapped, UnwrapError>,
    replay_filter: &ReplayFilter,
    accepted: impl FnOnce(&ReplayTag),
) -> Verdict {
    let unwrapped = match result {
        Ok(unwrapped) => unwrapped,
        Err(error) => return Verdict::Drop(error.into()),
    };
    if replay_filter.check_and_insert(&unwrapped.replay_tag) == ReplayCheck::Replayed {
        return Verdict::Drop(DropReason::Replayed);
    }
    accepted(&unwrapped.replay_tag);
    match unwrapped.hop {
        Hop::Forward { next_hop, delay } => match decode_node_address(&next_hop) {
            Ok(next_hop) => Verdict::Forward {
                next_hop,
                delay: delay.as_duration(),
            },
            Err(_) => Verdict::Drop(DropReason::InvalidNextHopAddress),
        },
        Hop::Final {
            destination,
            identifier,
        } => Verdict::Deliver {
            destination,
            identifier,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::ReplayFilterParams;
    use crate::sphinx::{Delay, SphinxVersion};
    use std::time::Duration;

    fn filter() -> ReplayFilter {
        ReplayFilter::new(
            ReplayFilterParams::for_capacity(1000, 1e-6).unwrap(),
            [0; 32],
        )
    }

    fn forward(tag: u8, address: [u8; 32]) -> Result<Unwrapped, UnwrapError> {
        Ok(Unwrapped {
            version: SphinxVersion::SingleSeedSurbs,
            replay_tag: [tag; 32],
            hop: Hop::Forward {
                next_hop: address,
                delay: Delay::from_nanos(15_000_000),
            },
        })
    }

    fn localhost_1789() -> [u8; 32] {
        let mut address = [0u8; 32];
        address[..7].copy_from_slice(&[4, 0x06, 0xfd, 127, 0, 0, 1]);
        address
    }

    #[test]
    fn a_fresh_forward_hop_is_forwarded_and_its_replay_dropped() {
        let filter = filter();
        let expected = Verdict::Forward {
            next_hop: "127.0.0.1:1789".parse().unwrap(),
            delay: Duration::from_millis(15),
        };
        assert_eq!(judge(forward(1, localhost_1789()), &filter), expected);
        assert_eq!(
            judge(forward(1, localhost_1789()), &filter),
            Verdict::Drop(DropReason::Replayed)
        );
        assert_eq!(judge(forward(2, localhost_1789()), &filter), expected);
    }

    #[test]
    fn only_fresh_tags_are_reported_accepted() {
        let filter = filter();
        let mut accepted = Vec::new();
        for packet in [
            forward(1, localhost_1789()),
            forward(1, localhost_1789()),
            Err(UnwrapError::HeaderMac),
            forward(2, localhost_1789()),
        ] {
            judge_with(packet, &filter, |tag| accepted.push(*tag));
        }
        assert_eq!(accepted, [[1; 32], [2; 32]]);
    }

    #[test]
    fn unwrap_errors_never_touch_the_filter() {
        let filter = filter();
        let verdict = judge(Err(UnwrapError::HeaderMac), &filter);
        assert_eq!(verdict, Verdict::Drop(DropReason::HeaderMac));
        assert_eq!(filter.inserted(), 0);
    }

    #[test]
    fn an_undecodable_next_hop_is_dropped() {
        let mut address = localhost_1789();
        address[0] = 5;
        assert_eq!(
            judge(forward(3, address), &filter()),
            Verdict::Drop(DropReason::InvalidNextHopAddress)
        );
    }

    #[test]
    fn a_final_hop_is_delivered() {
        let verdict = judge(
            Ok(Unwrapped {
                version: SphinxVersion::PayloadKeySeeds,
                replay_tag: [9; 32],
                hop: Hop::Final {
                    destination: [1; 32],
                    identifier: [2; 16],
                },
            }),
            &filter(),
        );
        assert_eq!(
            verdict,
            Verdict::Deliver {
                destination: [1; 32],
                identifier: [2; 16]
            }
        );
    }
}
