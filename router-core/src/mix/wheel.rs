//! Hierarchical timing wheel holding delayed packets (Loopix per-hop delay).
//!
//! # Why this shape
//!
//! Every packet a mix forwards waits an exponentially distributed delay, so
//! the wheel sees one insert and one expiry per packet at line rate. A heap
//! costs `O(log n)` and allocates; this wheel is `O(1)` per insert and per
//! expiry and never allocates after construction.
//!
//! * Resolution is one tick = 1 ms. A deadline is rounded *up* to its tick,
//!   so an item is never released before its deadline, and (if the runtime
//!   polls at [`TimingWheel::poll_timeout`]) at most one tick after it.
//! * Level 0 has 256 one-tick slots and holds the current 256-tick block.
//!   Level 1 has 64 slots of 256 ticks and holds the next 63 blocks. A
//!   level-1 slot is cascaded into level 0 when time enters its block.
//!   Delays are clamped to `max_delay`, which must not exceed
//!   [`MAX_SUPPORTED_DELAY`] (16 s: the 63 future blocks guarantee 16,128
//!   ticks from any position within a block, minus rounding), so two
//!   levels are enough.
//! * Entries live in a slab preallocated to `capacity`, linked into
//!   per-slot intrusive doubly-linked lists by `u32` indices, with a free
//!   list. Occupancy bitmaps let advancing and [`TimingWheel::poll_timeout`]
//!   jump straight to occupied slots: crossing an idle gap of any length
//!   costs `O(occupied slots)`, not `O(ticks)`.
//!
//! # Ordering guarantee
//!
//! Given non-decreasing `now` arguments, items are released in order of
//! deadline tick, and in insertion order within a tick (cascading appends
//! in list order, and a block's level-0 slots only receive direct inserts
//! after its cascade). A zero delay counts as a deadline at the tick of
//! `now` and is released by the next poll, even at the same `now`.
//!
//! # Overload
//!
//! When `capacity` items are held, [`DropPolicy`] decides: reject the new
//! packet, or (as Katzenpost does) evict a uniformly random held one, using
//! the caller's `entropy`. Random eviction means an attacker who floods the
//! node cannot choose which honest packets are lost; the runtime counts
//! both outcomes as `DropReason::DelayQueueFull`.

use std::time::Duration;

use super::time::Timestamp;

const TICK_NANOS: u64 = 1_000_000;
const L0_SLOTS: usize = 256;
const L1_SLOTS: usize = 64;
const BLOCK_SHIFT: u32 = 8; // log2(L0_SLOTS)
/// Index of the ready list in `lists`, after the level-0 and level-1 slots.
const READY: usize = L0_SLOTS + L1_SLOTS;
const NUM_LISTS: usize = READY + 1;
const NIL: u32 = u32::MAX;

/// Largest accepted `max_delay`. See the module docs for the derivation.
pub const MAX_SUPPORTED_DELAY: Duration = Duration::from_secs(16);

/// What to do with a packet when the wheel is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropPolicy {
    /// Reject the packet being inserted.
    DropNewest,
    /// Evict a uniformly random held packet and insert the new one.
    DropRandom,
}

/// Construction parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WheelConfig {
    /// Most items held at once (slab size).
    pub capacity: u32,
    /// Longer delays are clamped to this; at most [`MAX_SUPPORTED_DELAY`].
    pub max_delay: Duration,
    /// Behaviour when full.
    pub drop_policy: DropPolicy,
}

impl Default for WheelConfig {
    /// 65,536 packets, 10 s maximum delay, random eviction.
    fn default() -> Self {
        Self {
            capacity: 1 << 16,
            max_delay: Duration::from_secs(10),
            drop_policy: DropPolicy::DropRandom,
        }
    }
}

/// Invalid [`WheelConfig`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WheelError {
    /// A wheel must hold at least one item.
    #[error("timing wheel capacity must be at least 1")]
    ZeroCapacity,
    /// `u32::MAX` is reserved as the null link.
    #[error("timing wheel capacity {0} exceeds {max}", max = u32::MAX - 1)]
    CapacityTooLarge(u32),
    /// `max_delay` beyond what two levels can represent.
    #[error("max_delay {max_delay:?} exceeds the wheel's range {limit:?}")]
    MaxDelayTooLarge {
        /// Requested.
        max_delay: Duration,
        /// [`MAX_SUPPORTED_DELAY`].
        limit: Duration,
    },
    /// The slab could not be allocated.
    #[error("cannot allocate a timing wheel of {capacity} entries")]
    OutOfMemory {
        /// Requested capacity.
        capacity: u32,
    },
}

/// Result of [`TimingWheel::insert`]. `clamped` reports that the requested
/// delay exceeded `max_delay` and was shortened (the runtime counts it: a
/// client asking for long delays is misbehaving or misconfigured).
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome<T> {
    /// Held until its deadline.
    Scheduled {
        /// The delay was clamped to `max_delay`.
        clamped: bool,
    },
    /// Held, but the wheel was full and this previously held item was
    /// evicted to make room ([`DropPolicy::DropRandom`]).
    ScheduledEvicting {
        /// The evicted item; the caller drops it as `DelayQueueFull`.
        evicted: T,
        /// The delay was clamped to `max_delay`.
        clamped: bool,
    },
    /// Not held: the wheel was full ([`DropPolicy::DropNewest`]).
    Rejected(T),
}

/// One slab slot. `item` is `None` exactly when the slot is on the free
/// list. `deadline` is the absolute deadline tick; for items in the ready
/// list it is any tick before `next_tick`, which is what identifies the
/// ready list (see [`TimingWheel::list_of`]).
struct Entry<T> {
    item: Option<T>,
    deadline: u64,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// Timing wheel of items `T` (small buffer handles).
///
/// Internal invariants (slab indices are only produced by this type, so
/// indexing with them cannot go out of bounds):
/// * every tick `< next_tick` has been processed: items due by then are in
///   the ready list;
/// * level 0 holds items whose deadline is in the block of `next_tick`
///   (`deadline >> 8 == next_tick >> 8`), one tick per slot;
/// * level 1 slot `b & 63` holds items whose deadline block `b` satisfies
///   `1 <= b - (next_tick >> 8) <= 63`, so each slot holds a single block;
/// * bitmap bits are set exactly for non-empty slots, and `l1_min[s]` is
///   the least deadline in level-1 slot `s`;
/// * `len == capacity` implies the free list is empty and every slab slot
///   holds an item (the slab never grows beyond `capacity`).
pub struct TimingWheel<T> {
    slab: Vec<Entry<T>>,
    free_head: u32,
    lists: [List; NUM_LISTS],
    l0_occupied: [u64; L0_SLOTS / 64],
    l1_occupied: u64,
    l1_min: [u64; L1_SLOTS],
    next_tick: u64,
    len: u32,
    capacity: u32,
    max_delay: Duration,
    drop_policy: DropPolicy,
}

impl<T> std::fmt::Debug for TimingWheel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimingWheel")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("next_tick", &self.next_tick)
            .field("max_delay", &self.max_delay)
            .field("drop_policy", &self.drop_policy)
            .finish_non_exhaustive()
    }
}

fn floor_tick(t: Timestamp) -> u64 {
    t.as_nanos() / TICK_NANOS
}

impl<T> TimingWheel<T> {
    /// An empty wheel whose clock starts at `start`. Reserves the whole
    /// slab now so that inserts never allocate.
    pub fn new(config: WheelConfig, start: Timestamp) -> Result<Self, WheelError> {
        if config.capacity == 0 {
            return Err(WheelError::ZeroCapacity);
        }
        if config.capacity == u32::MAX {
            return Err(WheelError::CapacityTooLarge(config.capacity));
        }
        if config.max_delay > MAX_SUPPORTED_DELAY {
            return Err(WheelError::MaxDelayTooLarge {
                max_delay: config.max_delay,
                limit: MAX_SUPPORTED_DELAY,
            });
        }
        let mut slab = Vec::new();
        slab.try_reserve_exact(config.capacity as usize)
            .map_err(|_| WheelError::OutOfMemory {
                capacity: config.capacity,
            })?;
        Ok(Self {
            slab,
            free_head: NIL,
            lists: [List::EMPTY; NUM_LISTS],
            l0_occupied: [0; L0_SLOTS / 64],
            l1_occupied: 0,
            l1_min: [u64::MAX; L1_SLOTS],
            next_tick: floor_tick(start) + 1,
            len: 0,
            capacity: config.capacity,
            max_delay: config.max_delay,
            drop_policy: config.drop_policy,
        })
    }

    /// Items held, including due items not yet polled.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No items held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most items held at once.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Bytes of slab per held item, for reporting per-packet overhead
    /// (24 for `T = u32`).
    pub fn entry_size_bytes() -> usize {
        std::mem::size_of::<Entry<T>>()
    }

    /// Hold `item` until `now + delay` (delay clamped to `max_delay`).
    ///
    /// First advances the wheel to `now`, so the range invariant holds for
    /// the new deadline. `entropy` is only used by
    /// [`DropPolicy::DropRandom`] when full: the victim is slab index
    /// `entropy % capacity` (every slab slot is occupied when full), so
    /// uniform entropy gives a uniform victim.
    pub fn insert(
        &mut self,
        now: Timestamp,
        delay: Duration,
        item: T,
        entropy: u64,
    ) -> InsertOutcome<T> {
        let now_tick = floor_tick(now);
        self.advance(now_tick);
        let clamped = delay > self.max_delay;
        let delay = delay.min(self.max_delay);

        let evicted = if self.len >= self.capacity {
            match self.drop_policy {
                DropPolicy::DropNewest => return InsertOutcome::Rejected(item),
                DropPolicy::DropRandom => {
                    // < capacity <= u32::MAX - 1, so the cast is lossless.
                    let victim = (entropy % u64::from(self.capacity)) as u32;
                    self.remove(victim)
                }
            }
        } else {
            None
        };

        let deadline = if delay.is_zero() {
            // Due now: straight to the ready list, whatever the sub-tick
            // position of `now`. Stored as the tick of `now` (or earlier if
            // the wheel is ahead of `now`), which identifies the ready list.
            now_tick.min(self.next_tick - 1)
        } else {
            let ns = now.saturating_add(delay).as_nanos();
            // Round up: never release early.
            let tick = ns.div_ceil(TICK_NANOS);
            // Unreachable clamp: with max_delay <= MAX_SUPPORTED_DELAY the
            // deadline is at most 16,001 ticks past `next_tick - 1`, inside
            // the 63 future blocks. Kept so a logic error can never index
            // the wrong level-1 block.
            let last = (((self.next_tick >> BLOCK_SHIFT) + 63) << BLOCK_SHIFT) | 0xff;
            tick.min(last)
        };

        let idx = self.alloc(item, deadline);
        self.place(idx);
        match evicted {
            Some(evicted) => InsertOutcome::ScheduledEvicting { evicted, clamped },
            None => InsertOutcome::Scheduled { clamped },
        }
    }

    /// Next due item at `now`, in deadline order; call until `None`.
    pub fn poll_expired(&mut self, now: Timestamp) -> Option<T> {
        self.advance(floor_tick(now));
        let idx = self.pop_front(READY)?;
        let item = self.slab[idx as usize].item.take();
        self.free(idx);
        item
    }

    /// Earliest time at which [`Self::poll_expired`] returns something:
    /// exact to the tick, or a time not after the last `now` seen if
    /// something is already due. `None` when empty: sleep until the next
    /// packet arrives.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.lists[READY].head != NIL {
            return Some(Timestamp::from_millis(self.next_tick - 1));
        }
        // Level-0 bits below `next_tick` are always clear (drained), so
        // the lowest set bit is the earliest tick.
        for (w, bits) in self.l0_occupied.iter().enumerate() {
            if *bits != 0 {
                let slot = (w * 64) as u64 + u64::from(bits.trailing_zeros());
                let block = self.next_tick >> BLOCK_SHIFT;
                return Some(Timestamp::from_millis((block << BLOCK_SHIFT) | slot));
            }
        }
        let first = ((self.next_tick >> BLOCK_SHIFT) + 1) & 63;
        self.l1_next_from(first)
            .map(|(slot, _)| Timestamp::from_millis(self.l1_min[slot]))
    }

    /// First occupied level-1 slot at or after `start`, cyclically:
    /// `(slot, distance in blocks)`.
    fn l1_next_from(&self, start: u64) -> Option<(usize, u64)> {
        let rotated = self.l1_occupied.rotate_right(start as u32);
        if rotated == 0 {
            return None;
        }
        let off = u64::from(rotated.trailing_zeros());
        Some((((start + off) & 63) as usize, off))
    }

    /// First occupied level-0 slot in `from..=to` (both < 256).
    fn l0_next_in(&self, from: usize, to: usize) -> Option<usize> {
        for w in from / 64..=to / 64 {
            let mut bits = self.l0_occupied[w];
            if w == from / 64 {
                bits &= u64::MAX << (from % 64);
            }
            if w == to / 64 && to % 64 < 63 {
                bits &= (1u64 << (to % 64 + 1)) - 1;
            }
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
        }
        None
    }

    /// Process every tick up to and including `target`: due items move to
    /// the ready list. Visits only occupied slots.
    fn advance(&mut self, target: u64) {
        let goal = target.saturating_add(1);
        while self.next_tick < goal {
            let block_last = self.next_tick | 0xff;
            let stop = (goal - 1).min(block_last);
            let (from, to) = ((self.next_tick & 0xff) as usize, (stop & 0xff) as usize);
            while let Some(slot) = self.l0_next_in(from, to) {
                self.splice_to_ready(slot);
                self.l0_occupied[slot / 64] &= !(1u64 << (slot % 64));
            }
            if goal <= block_last {
                // Still inside the current block: nothing to cascade.
                self.next_tick = goal;
                return;
            }
            // The current block is done and level 0 is empty. Jump to the
            // next occupied block if it starts by `goal` (including the
            // block `goal` itself starts, which must be cascaded before
            // `next_tick` enters it).
            let next_block = (block_last >> BLOCK_SHIFT) + 1;
            match self.l1_next_from(next_block & 63) {
                Some((slot, off)) if next_block + off <= goal >> BLOCK_SHIFT => {
                    self.next_tick = (next_block + off) << BLOCK_SHIFT;
                    self.cascade(slot);
                }
                _ => {
                    self.next_tick = goal;
                    return;
                }
            }
        }
    }

    /// Move level-1 slot `slot` (whose block is now current) into level 0,
    /// preserving list order.
    fn cascade(&mut self, slot: usize) {
        let list = std::mem::replace(&mut self.lists[L0_SLOTS + slot], List::EMPTY);
        self.l1_occupied &= !(1u64 << slot);
        self.l1_min[slot] = u64::MAX;
        let mut idx = list.head;
        while idx != NIL {
            let next = self.slab[idx as usize].next;
            self.place(idx);
            idx = next;
        }
    }

    /// Which list an entry with this deadline belongs to.
    fn list_of(&self, deadline: u64) -> usize {
        if deadline < self.next_tick {
            READY
        } else if deadline >> BLOCK_SHIFT == self.next_tick >> BLOCK_SHIFT {
            (deadline & 0xff) as usize
        } else {
            L0_SLOTS + ((deadline >> BLOCK_SHIFT) & 63) as usize
        }
    }

    /// Link `idx` at the tail of the list its deadline selects.
    fn place(&mut self, idx: u32) {
        let deadline = self.slab[idx as usize].deadline;
        let list = self.list_of(deadline);
        self.push_back(list, idx);
        if list < L0_SLOTS {
            self.l0_occupied[list / 64] |= 1u64 << (list % 64);
        } else if list < READY {
            let s = list - L0_SLOTS;
            self.l1_occupied |= 1u64 << s;
            self.l1_min[s] = self.l1_min[s].min(deadline);
        }
    }

    fn push_back(&mut self, list: usize, idx: u32) {
        let tail = self.lists[list].tail;
        {
            let e = &mut self.slab[idx as usize];
            e.prev = tail;
            e.next = NIL;
        }
        if tail == NIL {
            self.lists[list].head = idx;
        } else {
            self.slab[tail as usize].next = idx;
        }
        self.lists[list].tail = idx;
    }

    fn pop_front(&mut self, list: usize) -> Option<u32> {
        let idx = self.lists[list].head;
        if idx == NIL {
            return None;
        }
        self.unlink(list, idx);
        Some(idx)
    }

    fn unlink(&mut self, list: usize, idx: u32) {
        let (prev, next) = {
            let e = &self.slab[idx as usize];
            (e.prev, e.next)
        };
        if prev == NIL {
            self.lists[list].head = next;
        } else {
            self.slab[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[list].tail = prev;
        } else {
            self.slab[next as usize].prev = prev;
        }
    }

    /// Append level-0 slot `slot` to the ready list in O(1).
    fn splice_to_ready(&mut self, slot: usize) {
        let list = std::mem::replace(&mut self.lists[slot], List::EMPTY);
        if list.head == NIL {
            return;
        }
        let ready_tail = self.lists[READY].tail;
        if ready_tail == NIL {
            self.lists[READY] = list;
        } else {
            self.slab[ready_tail as usize].next = list.head;
            self.slab[list.head as usize].prev = ready_tail;
            self.lists[READY].tail = list.tail;
        }
    }

    /// Remove a held entry wherever it is. `None` if `idx` is free (cannot
    /// happen when called on a full wheel).
    fn remove(&mut self, idx: u32) -> Option<T> {
        let entry = self.slab.get(idx as usize)?;
        entry.item.as_ref()?;
        let deadline = entry.deadline;
        let list = self.list_of(deadline);
        self.unlink(list, idx);
        if list < L0_SLOTS {
            if self.lists[list].head == NIL {
                self.l0_occupied[list / 64] &= !(1u64 << (list % 64));
            }
        } else if list < READY {
            let s = list - L0_SLOTS;
            if self.lists[s + L0_SLOTS].head == NIL {
                self.l1_occupied &= !(1u64 << s);
                self.l1_min[s] = u64::MAX;
            } else if deadline == self.l1_min[s] {
                self.l1_min[s] = self.rescan_min(list, deadline);
            }
        }
        let item = self.slab[idx as usize].item.take();
        self.free(idx);
        item
    }

    /// New minimum of a level-1 list after removing an entry at the old
    /// minimum. Stops at the first entry still at the old minimum; with a
    /// uniformly random victim the expected cost is O(1).
    fn rescan_min(&self, list: usize, old_min: u64) -> u64 {
        let mut min = u64::MAX;
        let mut idx = self.lists[list].head;
        while idx != NIL {
            let e = &self.slab[idx as usize];
            if e.deadline == old_min {
                return old_min;
            }
            min = min.min(e.deadline);
            idx = e.next;
        }
        min
    }

    fn alloc(&mut self, item: T, deadline: u64) -> u32 {
        self.len += 1;
        let entry = Entry {
            item: Some(item),
            deadline,
            prev: NIL,
            next: NIL,
        };
        if self.free_head != NIL {
            let idx = self.free_head;
            self.free_head = self.slab[idx as usize].next;
            self.slab[idx as usize] = entry;
            idx
        } else {
            // Free list empty and len < capacity, so slab.len() < capacity
            // <= u32::MAX - 1: the cast is lossless and the push stays
            // within the reserved capacity (no reallocation).
            let idx = self.slab.len() as u32;
            self.slab.push(entry);
            idx
        }
    }

    fn free(&mut self, idx: u32) {
        self.len -= 1;
        let e = &mut self.slab[idx as usize];
        e.item = None;
        e.prev = NIL;
        e.next = self.free_head;
        self.free_head = idx;
    }
}

#[cfg(test)]
mod tests;
