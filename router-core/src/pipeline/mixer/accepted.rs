//! The replay tags a shard accepted since the runtime last collected them, for the journal.
//!
//! A filter lives in memory; a crash forgets it. The node therefore journals every accepted
//! tag ([`crate::mix::replay::journal`]). The mixer cannot write files (it runs on the shard's
//! hot path and does no IO), so it keeps the tags here, grouped by the rotation of the key
//! that accepted them, and the runtime's housekeeping drains them every few milliseconds to
//! the node's sink, which hands them to a writer thread.
//!
//! The buffer is bounded: a sink that is not drained (or a burst beyond the bound within one
//! housekeeping interval) cannot grow a shard's memory. A tag that does not fit is not
//! journaled (the packet is still processed), and counted, so an operator sees the window a
//! crash would reopen. Each group's allocation is kept from one drain to the next; a group
//! that stayed empty for a whole interval (its key was retired) is freed.

use crate::sphinx::ReplayTag;

/// The tags accepted under one key rotation (`None`: a static key).
type Group = (Option<u64>, Vec<ReplayTag>);

/// The tags one shard accepted, grouped by key rotation; see the module docs.
#[derive(Debug, Default)]
pub(super) struct AcceptedTags {
    /// Most tags held at once; 0 records nothing.
    capacity: usize,
    /// Tags held, all groups together.
    len: usize,
    /// Tags that did not fit since the last drain.
    lost: u64,
    /// One group per rotation that accepted tags recently (at most a few: the ring holds two
    /// keys).
    groups: Vec<Group>,
}

impl AcceptedTags {
    /// Records nothing until [`Self::set_capacity`] is called.
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Holds at most `capacity` tags from now on (0: record nothing and free the buffers).
    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        if capacity == 0 {
            self.groups = Vec::new();
            self.len = 0;
        }
    }

    /// Tags held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Keeps `tag`, accepted by the key of `rotation`. False if the buffer is full (the tag
    /// is counted as lost) or off.
    pub(super) fn record(&mut self, rotation: Option<u64>, tag: &ReplayTag) -> bool {
        if self.capacity == 0 {
            return false;
        }
        if self.len >= self.capacity {
            self.lost += 1;
            return false;
        }
        let group = match self.groups.iter().position(|(r, _)| *r == rotation) {
            Some(at) => self.groups.get_mut(at),
            None => {
                self.groups.push((rotation, Vec::new()));
                self.groups.last_mut()
            }
        };
        if let Some((_, tags)) = group {
            tags.push(*tag);
            self.len += 1;
        }
        true
    }

    /// Hands every group's tags to `sink` (one call per rotation with tags) and empties the
    /// buffer; returns how many tags did not fit since the last drain.
    pub(super) fn drain(&mut self, mut sink: impl FnMut(Option<u64>, &[ReplayTag])) -> u64 {
        self.groups.retain(|(_, tags)| !tags.is_empty());
        for (rotation, tags) in &mut self.groups {
            sink(*rotation, tags);
            tags.clear();
        }
        self.len = 0;
        std::mem::take(&mut self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(buffer: &mut AcceptedTags) -> (Vec<Group>, u64) {
        let mut out = Vec::new();
        let lost = buffer.drain(|rotation, tags| out.push((rotation, tags.to_vec())));
        (out, lost)
    }

    #[test]
    fn off_records_nothing() {
        let mut buffer = AcceptedTags::new();
        assert!(!buffer.record(Some(1), &[1; 32]));
        assert_eq!(drained(&mut buffer), (vec![], 0));
    }

    #[test]
    fn tags_come_out_grouped_by_rotation_in_order_and_once() {
        let mut buffer = AcceptedTags::new();
        buffer.set_capacity(10);
        for (rotation, byte) in [(Some(4), 1), (Some(3), 2), (Some(4), 3), (None, 4)] {
            assert!(buffer.record(rotation, &[byte; 32]));
        }
        assert_eq!(buffer.len(), 4);
        let (groups, lost) = drained(&mut buffer);
        assert_eq!(lost, 0);
        assert_eq!(
            groups,
            vec![
                (Some(4), vec![[1; 32], [3; 32]]),
                (Some(3), vec![[2; 32]]),
                (None, vec![[4; 32]]),
            ]
        );
        assert_eq!(buffer.len(), 0);
        assert_eq!(drained(&mut buffer), (vec![], 0));
    }

    #[test]
    fn the_bound_holds_and_what_does_not_fit_is_counted() {
        let mut buffer = AcceptedTags::new();
        buffer.set_capacity(3);
        let recorded: Vec<bool> = (0..5u8).map(|b| buffer.record(Some(1), &[b; 32])).collect();
        assert_eq!(recorded, [true, true, true, false, false]);
        let (groups, lost) = drained(&mut buffer);
        assert_eq!((groups[0].1.len(), lost), (3, 2));
        // room again after a drain, and the count starts over
        assert!(buffer.record(Some(1), &[9; 32]));
        assert_eq!(drained(&mut buffer).1, 0);
    }

    #[test]
    fn a_retired_rotations_group_is_freed_and_active_ones_keep_their_allocation() {
        let mut buffer = AcceptedTags::new();
        buffer.set_capacity(100);
        buffer.record(Some(1), &[1; 32]);
        buffer.record(Some(2), &[2; 32]);
        drained(&mut buffer);
        buffer.record(Some(2), &[3; 32]);
        let before = buffer
            .groups
            .iter()
            .find(|(r, _)| *r == Some(2))
            .unwrap()
            .1
            .as_ptr();
        drained(&mut buffer);
        // rotation 1 stayed empty for a whole interval: freed
        assert_eq!(buffer.groups.len(), 1);
        buffer.record(Some(2), &[4; 32]);
        let after = buffer
            .groups
            .iter()
            .find(|(r, _)| *r == Some(2))
            .unwrap()
            .1
            .as_ptr();
        assert_eq!(before, after, "the group's buffer is reused");
        buffer.set_capacity(0);
        assert!(buffer.groups.is_empty() && !buffer.record(Some(2), &[5; 32]));
    }
}
