//! Fragmentation and reassembly.
//!
//! A message is cut into fragments that each fit one packet. Fragments are grouped in sets of
//! at most 255 (a set numbers its fragments with one byte, as Nym's does), and a message longer
//! than one set is a chain of linked sets. Every fragment carries a 14-byte header:
//!
//! ```text
//! message id u64 | set index u16 | set count u16 | fragments in this set u8 | position u8
//! ```
//!
//! (all big-endian). Nym links sets by naming the previous and next set's id in the first and
//! last fragment; here every fragment names its message and its set's place in the chain, so a
//! receiver knows the whole shape from any one fragment, can bound what it buffers up front and
//! never holds a set it cannot place. Message id 0 is reserved for loop cover traffic.
//!
//! The reassembler is bounded three ways (bytes per message, partial messages, total bytes)
//! and forgets a partial message that made no progress for `partial_timeout`; it remembers
//! recently completed ids so a retransmitted fragment (its ack was lost) is not delivered twice.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

/// Header bytes in front of every fragment's data.
pub const FRAGMENT_HEADER_LEN: usize = 14;
/// Fragments in a full set.
pub const MAX_SET_FRAGMENTS: usize = 255;
/// The message id of loop cover traffic.
pub const COVER_MESSAGE_ID: u64 = 0;

/// A fragment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentHeader {
    /// The message (random, nonzero for real messages).
    pub message_id: u64,
    /// This fragment's set in the chain.
    pub set_index: u16,
    /// Sets in the chain.
    pub set_count: u16,
    /// Fragments in this set (1..=255).
    pub set_len: u8,
    /// This fragment's place in its set.
    pub position: u8,
}

/// Why bytes are not a fragment.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum FragmentError {
    /// Shorter than the header.
    #[error("a fragment of {0} bytes is shorter than its 14-byte header")]
    Short(usize),
    /// Header fields contradict each other.
    #[error("inconsistent fragment header: {0}")]
    Header(&'static str),
}

impl FragmentHeader {
    /// Decodes the header at the front of `bytes` and the data after it.
    pub fn decode(bytes: &[u8]) -> Result<(FragmentHeader, &[u8]), FragmentError> {
        let Some((head, data)) = bytes.split_first_chunk::<FRAGMENT_HEADER_LEN>() else {
            return Err(FragmentError::Short(bytes.len()));
        };
        let [m0, m1, m2, m3, m4, m5, m6, m7, s0, s1, c0, c1, set_len, position] = *head;
        let header = FragmentHeader {
            message_id: u64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
            set_index: u16::from_be_bytes([s0, s1]),
            set_count: u16::from_be_bytes([c0, c1]),
            set_len,
            position,
        };
        header.check()?;
        Ok((header, data))
    }

    fn check(&self) -> Result<(), FragmentError> {
        if self.set_count == 0 || self.set_index >= self.set_count {
            return Err(FragmentError::Header("set index outside the chain"));
        }
        if self.set_len == 0 || self.position >= self.set_len {
            return Err(FragmentError::Header("position outside the set"));
        }
        if self.set_index + 1 < self.set_count && usize::from(self.set_len) != MAX_SET_FRAGMENTS {
            return Err(FragmentError::Header("only the last set may be short"));
        }
        Ok(())
    }

    /// Appends the encoded header to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.set_index.to_be_bytes());
        out.extend_from_slice(&self.set_count.to_be_bytes());
        out.push(self.set_len);
        out.push(self.position);
    }
}

/// Why a message cannot be split.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// More sets than a chain can number.
    #[error("a message of {0} bytes needs more than 65535 sets of fragments")]
    TooLong(usize),
    /// No room for data in a fragment.
    #[error("a fragment capacity of {0} bytes leaves no room for data")]
    Capacity(usize),
}

/// Splits `message` into encoded fragments (header + data) of at most `capacity` bytes each.
/// An empty message is one fragment with no data.
pub fn split(message_id: u64, message: &[u8], capacity: usize) -> Result<Vec<Vec<u8>>, SplitError> {
    let per = capacity
        .checked_sub(FRAGMENT_HEADER_LEN)
        .filter(|p| *p > 0)
        .ok_or(SplitError::Capacity(capacity))?;
    let count = message.len().div_ceil(per).max(1);
    let sets = count.div_ceil(MAX_SET_FRAGMENTS);
    let set_count = u16::try_from(sets).map_err(|_| SplitError::TooLong(message.len()))?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let set = i / MAX_SET_FRAGMENTS;
        let set_len = (count - set * MAX_SET_FRAGMENTS).min(MAX_SET_FRAGMENTS);
        let header = FragmentHeader {
            message_id,
            // `set < sets`, which fits in u16 (checked above); positions and set lengths are
            // at most 255.
            set_index: set as u16,
            set_count,
            set_len: set_len as u8,
            position: (i % MAX_SET_FRAGMENTS) as u8,
        };
        let data = &message[(i * per).min(message.len())..((i + 1) * per).min(message.len())];
        let mut fragment = Vec::with_capacity(FRAGMENT_HEADER_LEN + data.len());
        header.encode_into(&mut fragment);
        fragment.extend_from_slice(data);
        out.push(fragment);
    }
    Ok(out)
}

/// Reassembly limits.
#[derive(Debug, Clone, Copy)]
pub struct ReassemblyLimits {
    /// Largest message accepted.
    pub max_message_bytes: usize,
    /// Partial messages held at once (the oldest is dropped beyond it).
    pub max_partial_messages: usize,
    /// Bytes held in partial messages (the oldest are dropped beyond it).
    pub max_partial_bytes: usize,
    /// A partial message with no new fragment for this long is dropped.
    pub partial_timeout: Duration,
    /// Completed message ids remembered to ignore duplicates.
    pub remembered_completed: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 << 20,
            max_partial_messages: 1024,
            max_partial_bytes: 256 << 20,
            partial_timeout: Duration::from_secs(600),
            remembered_completed: 65_536,
        }
    }
}

/// What one fragment did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled {
    /// Stored; the message is not complete yet.
    Pending,
    /// The message is complete.
    Complete(Vec<u8>),
    /// Seen before (a retransmission whose ack was lost), or of a message already delivered.
    Duplicate,
    /// Refused, with the reason.
    Refused(&'static str),
}

/// A message being reassembled. Sets are allocated as their first fragment arrives, so a
/// header claiming 65 535 sets costs one set, not all of them.
struct Partial {
    set_count: u16,
    /// Per set seen, per position.
    sets: BTreeMap<u16, Vec<Option<Vec<u8>>>>,
    /// Fragments still missing in the sets seen.
    missing: usize,
    /// Message bytes received.
    data: usize,
    /// Memory held: the data and the sets' slots (what the limits count).
    bytes: usize,
    last_progress: Duration,
}

/// Collects fragments into messages.
pub struct Reassembler {
    limits: ReassemblyLimits,
    partial: HashMap<u64, Partial>,
    /// Partial message ids, oldest first (may hold ids already completed or dropped).
    order: VecDeque<u64>,
    bytes: usize,
    completed: HashSet<u64>,
    completed_order: VecDeque<u64>,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            partial: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            completed: HashSet::new(),
            completed_order: VecDeque::new(),
        }
    }

    /// Bytes held in partial messages.
    pub fn partial_bytes(&self) -> usize {
        self.bytes
    }

    /// Partial messages held.
    pub fn partial_messages(&self) -> usize {
        self.partial.len()
    }

    /// Takes one decoded fragment received at `now`.
    pub fn insert(&mut self, header: FragmentHeader, data: &[u8], now: Duration) -> Reassembled {
        if self.completed.contains(&header.message_id) {
            return Reassembled::Duplicate;
        }
        self.expire(now);
        if header.set_count == 1 && header.set_len == 1 {
            // A one-fragment message needs no buffering.
            if data.len() > self.limits.max_message_bytes {
                return Reassembled::Refused("message longer than the limit");
            }
            self.remember_completed(header.message_id);
            return Reassembled::Complete(data.to_vec());
        }
        let id = header.message_id;
        self.start_partial(&header, now);
        match self.store(&header, data, now) {
            Ok(true) => return self.complete(id),
            Ok(false) => {}
            Err(outcome) => return outcome,
        }
        self.enforce_limits(id);
        if self.partial.contains_key(&id) {
            Reassembled::Pending
        } else {
            Reassembled::Refused("dropped to stay within the reassembly limits")
        }
    }

    /// Starts a partial message for the first fragment of `header`'s message.
    fn start_partial(&mut self, header: &FragmentHeader, now: Duration) {
        let id = header.message_id;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.partial.entry(id) {
            slot.insert(Partial {
                set_count: header.set_count,
                sets: BTreeMap::new(),
                missing: 0,
                data: 0,
                bytes: 0,
                last_progress: now,
            });
            self.order.push_back(id);
        }
    }

    /// Stores a fragment of a partial message: whether the message is complete now, or the
    /// fragment's outcome when it is not stored (inconsistent with earlier fragments, a
    /// duplicate, or over the message limit, which drops the whole message).
    fn store(
        &mut self,
        header: &FragmentHeader,
        data: &[u8],
        now: Duration,
    ) -> Result<bool, Reassembled> {
        let id = header.message_id;
        let Some(p) = self.partial.get_mut(&id) else {
            return Err(Reassembled::Refused("internal: partial message vanished"));
        };
        if p.set_count != header.set_count {
            return Err(Reassembled::Refused(
                "set count differs from earlier fragments",
            ));
        }
        let set_len = usize::from(header.set_len);
        let set = p.sets.entry(header.set_index).or_insert_with(|| {
            p.missing += set_len;
            let slots = set_len * std::mem::size_of::<Option<Vec<u8>>>();
            p.bytes += slots;
            self.bytes += slots;
            vec![None; set_len]
        });
        if set.len() != set_len {
            return Err(Reassembled::Refused(
                "set length differs from earlier fragments",
            ));
        }
        let slot = &mut set[usize::from(header.position)];
        if slot.is_some() {
            return Err(Reassembled::Duplicate);
        }
        if p.data + data.len() > self.limits.max_message_bytes {
            let dropped = p.bytes;
            self.partial.remove(&id);
            self.bytes -= dropped;
            // Its remaining fragments must not start it again.
            self.remember_completed(id);
            return Err(Reassembled::Refused("message longer than the limit"));
        }
        *slot = Some(data.to_vec());
        p.data += data.len();
        p.bytes += data.len();
        p.missing -= 1;
        p.last_progress = now;
        self.bytes += data.len();
        Ok(p.missing == 0 && p.sets.len() == usize::from(p.set_count))
    }

    /// Assembles complete message `id`: its sets in chain order, fragments in set order.
    fn complete(&mut self, id: u64) -> Reassembled {
        let Some(p) = self.partial.remove(&id) else {
            return Reassembled::Refused("internal: partial message vanished");
        };
        self.bytes -= p.bytes;
        let mut message = Vec::with_capacity(p.data);
        for part in p.sets.into_values().flatten().flatten() {
            message.extend_from_slice(&part);
        }
        self.remember_completed(id);
        Reassembled::Complete(message)
    }

    fn remember_completed(&mut self, id: u64) {
        if self.completed.insert(id) {
            self.completed_order.push_back(id);
        }
        while self.completed_order.len() > self.limits.remembered_completed {
            if let Some(old) = self.completed_order.pop_front() {
                self.completed.remove(&old);
            }
        }
    }

    /// Drops the oldest partial messages while over a limit (`current` last of all).
    fn enforce_limits(&mut self, current: u64) {
        while self.partial.len() > self.limits.max_partial_messages
            || self.bytes > self.limits.max_partial_bytes
        {
            let Some(oldest) = self.order.pop_front() else {
                return;
            };
            if oldest == current && self.partial.len() > 1 {
                self.order.push_back(oldest);
                continue;
            }
            if let Some(p) = self.partial.remove(&oldest) {
                self.bytes -= p.bytes;
            }
        }
        self.order.retain(|id| self.partial.contains_key(id));
    }

    /// Drops partial messages without progress for the timeout.
    pub fn expire(&mut self, now: Duration) {
        let timeout = self.limits.partial_timeout;
        let mut freed = 0;
        self.partial.retain(|_, p| {
            let keep = now.saturating_sub(p.last_progress) < timeout;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.bytes -= freed;
        if freed > 0 {
            self.order.retain(|id| self.partial.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn feed(r: &mut Reassembler, fragments: &[Vec<u8>]) -> Vec<Reassembled> {
        fragments
            .iter()
            .map(|f| {
                let (h, d) = FragmentHeader::decode(f).unwrap();
                r.insert(h, d, Duration::ZERO)
            })
            .collect()
    }

    proptest! {
        #[test]
        fn any_order_reassembles_the_message(
            len in 0usize..3000,
            capacity in 15usize..64,
            seed in any::<u64>(),
        ) {
            let message: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
            let mut fragments = split(7, &message, capacity).unwrap();
            prop_assert!(fragments.iter().all(|f| f.len() <= capacity));
            // A deterministic shuffle.
            let n = fragments.len();
            for i in (1..n).rev() {
                let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
                fragments.swap(i, j);
            }
            let mut r = Reassembler::new(ReassemblyLimits::default());
            let outcomes = feed(&mut r, &fragments);
            let (last, rest) = outcomes.split_last().unwrap();
            prop_assert!(rest.iter().all(|o| *o == Reassembled::Pending));
            prop_assert_eq!(last, &Reassembled::Complete(message));
            prop_assert_eq!(r.partial_bytes(), 0);
            // Every fragment again is a duplicate.
            prop_assert!(feed(&mut r, &fragments).iter().all(|o| *o == Reassembled::Duplicate));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok((h, _)) = FragmentHeader::decode(&bytes) {
                prop_assert!(h.set_index < h.set_count && h.position < h.set_len);
            }
        }
    }

    #[test]
    fn long_messages_are_chains_of_full_sets() {
        let message = vec![1u8; 600];
        let fragments = split(9, &message, FRAGMENT_HEADER_LEN + 1).unwrap();
        assert_eq!(fragments.len(), 600);
        let headers: Vec<FragmentHeader> = fragments
            .iter()
            .map(|f| FragmentHeader::decode(f).unwrap().0)
            .collect();
        assert!(headers.iter().all(|h| h.set_count == 3));
        assert_eq!(headers[0].set_len, 255);
        assert_eq!(headers[255].set_index, 1);
        assert_eq!(headers[599].set_len, 90);
        assert_eq!(headers[599].position, 89);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(
            feed(&mut r, &fragments).pop().unwrap(),
            Reassembled::Complete(message)
        );
    }

    #[test]
    fn contradicting_fragments_and_oversized_messages_are_refused() {
        let mut bad = split(1, &[0; 40], 20).unwrap();
        // A short set that is not the last one.
        bad[0][13] = 0;
        bad[0][12] = 3;
        bad[0][11] = 5; // five sets
        assert_eq!(
            FragmentHeader::decode(&bad[0]),
            Err(FragmentError::Header("only the last set may be short"))
        );
        let fragments = split(2, &[0; 40], 20).unwrap();
        let mut other = fragments[1].clone();
        other[12] = 9; // a different set length for the same message
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(feed(&mut r, &fragments[..1]), vec![Reassembled::Pending]);
        assert_eq!(
            feed(&mut r, &[other]),
            vec![Reassembled::Refused(
                "set length differs from earlier fragments"
            )]
        );

        let limits = ReassemblyLimits {
            max_message_bytes: 30,
            ..ReassemblyLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let outcomes = feed(&mut r, &split(3, &[0; 40], 20).unwrap());
        assert_eq!(
            outcomes[5],
            Reassembled::Refused("message longer than the limit")
        );
        assert_eq!(outcomes[6], Reassembled::Duplicate, "the rest is ignored");
        assert_eq!(r.partial_bytes(), 0);
    }

    #[test]
    fn a_header_claiming_the_longest_chain_costs_one_set() {
        let header = FragmentHeader {
            message_id: 5,
            set_index: 0,
            set_count: u16::MAX,
            set_len: 255,
            position: 0,
        };
        let mut r = Reassembler::new(ReassemblyLimits::default());
        assert_eq!(
            r.insert(header, &[1; 100], Duration::ZERO),
            Reassembled::Pending
        );
        let one_set = 255 * std::mem::size_of::<Option<Vec<u8>>>() + 100;
        assert_eq!(r.partial_bytes(), one_set);
    }

    #[test]
    fn partial_messages_are_bounded_and_expire() {
        let limits = ReassemblyLimits {
            max_partial_messages: 2,
            partial_timeout: Duration::from_secs(10),
            ..ReassemblyLimits::default()
        };
        let mut r = Reassembler::new(limits);
        let first: Vec<Vec<u8>> = (1..=3)
            .map(|id| split(id, &[5; 30], 30).unwrap().remove(0))
            .collect();
        feed(&mut r, &first);
        assert_eq!(r.partial_messages(), 2, "the oldest partial was dropped");
        let f3 = split(3, &[5; 30], 30).unwrap();
        let (h, d) = FragmentHeader::decode(&f3[1]).unwrap();
        assert_eq!(
            r.insert(h, d, Duration::ZERO),
            Reassembled::Complete(vec![5; 30])
        );
        let f1 = split(1, &[5; 30], 30).unwrap();
        let (h, d) = FragmentHeader::decode(&f1[1]).unwrap();
        assert_eq!(r.insert(h, d, Duration::ZERO), Reassembled::Pending);
        r.expire(Duration::from_secs(11));
        assert_eq!(r.partial_messages(), 0);
        assert_eq!(r.partial_bytes(), 0);
    }
}
