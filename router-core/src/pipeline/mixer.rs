//! One shard's packet pipeline, without sockets or clocks: batch unwrap, verdict, delay, departure.
//!
//! The runtime hands [`Mixer::handle_batch`] a batch of frames (each stamped with its arrival)
//! and "now"; the mixer unwraps them together ([`MultiKeyUnwrapper`]), judges each (MAC, replay,
//! next hop), and either sends it on at once (zero delay), holds it in the timing wheel,
//! delivers it (gateway exit role) or drops it, counting every drop by reason with one tracing
//! event. The runtime asks [`Mixer::poll_timeout`] when to wake and [`Mixer::poll_expired`] for
//! what is due. What leaves goes to a [`MixerSink`], which the runtime implements with per-peer
//! queues and tests implement with vectors, so the whole pipeline runs on a virtual clock.
//!
//! A held packet costs its buffer plus one wheel entry and one slot here (see
//! [`Mixer::held_packet_overhead`]).
//!
//! # Keys
//!
//! The mixer holds the node's [`KeyRing`]: one or two Sphinx keys, each with its replay
//! filter. The key-rotation byte of each frame picks the key ([`KeyRing::choose`]); the filter
//! of the key that opened a packet judges its replay tag; the frame it leaves in names that
//! key's rotation (for a static key, the byte it arrived with), which a held packet remembers.
//! [`Mixer::set_keys`] swaps the ring between batches: the unwrapper takes the keys with each
//! batch and keeps none, and packets already in the wheel are unwrapped and leave as planned.
//!
//! # Accepted tags
//!
//! With [`Mixer::record_accepted_tags`] on, every tag a filter accepts is also kept, grouped by
//! key rotation, in a bounded buffer the runtime drains ([`Mixer::drain_accepted_tags`]) to the
//! node's replay journal (see `accepted`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use accepted::AcceptedTags;

use super::assembler::ReceivedFrame;
use super::buffers::PacketBuf;
use super::outbound::OutPacket;
use super::stats::ShardStats;
use crate::mix::{
    judge_with, DropReason, InsertOutcome, KeyRing, Timestamp, TimingWheel, Verdict, WheelConfig,
    WheelError,
};
use crate::sphinx::{
    DestinationAddress, KeyedResult, MultiKeyUnwrapper, ReplayTag, SurbIdentifier,
};
use crate::wire::{FrameHeader, FramingVersion, KeyRotation, PacketType};

/// What happens to packets whose last hop is this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalHops {
    /// A mixnode is never a last hop: such packets are dropped as `unexpected_final_hop`.
    Drop,
    /// The gateway exit role: hand them to [`MixerSink::deliver`].
    Deliver,
}

/// Which next hops this node forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHopPolicy {
    /// Any address (tests and benchmarks only: a mix that forwards anywhere can be used to
    /// reflect traffic at arbitrary hosts).
    Any,
    /// Only these addresses: the nodes of the current topology.
    Only(HashSet<SocketAddr>),
}

impl NextHopPolicy {
    /// How many addresses it allows, `u64::MAX` for any.
    pub fn allowed_count(&self) -> u64 {
        match self {
            NextHopPolicy::Any => u64::MAX,
            NextHopPolicy::Only(set) => set.len() as u64,
        }
    }

    /// Whether a packet may go to `next_hop`.
    pub fn allows(&self, next_hop: &SocketAddr) -> bool {
        match self {
            NextHopPolicy::Any => true,
            NextHopPolicy::Only(allowed) => allowed.contains(next_hop),
        }
    }
}

/// Mixer settings.
#[derive(Debug, Clone, Copy)]
pub struct MixerConfig {
    /// The framing version of outgoing frames (8 unless talking to old nodes).
    pub outgoing_version: FramingVersion,
    /// The delay wheel: capacity, maximum delay, what to drop when full.
    pub wheel: WheelConfig,
    /// Mixnode or gateway behaviour for last hops.
    pub final_hops: FinalHops,
    /// Most accepted replay tags one shard buffers for the journal between two drains (see
    /// [`Mixer::record_accepted_tags`]); tags beyond it are not journaled, and counted.
    pub accepted_tags_capacity: usize,
}

/// Default of [`MixerConfig::accepted_tags_capacity`]: 2 MiB of tags, 65,536 packets per
/// 20 ms housekeeping interval, far above what one core unwraps.
pub const DEFAULT_ACCEPTED_TAGS_CAPACITY: usize = 1 << 16;

impl Default for MixerConfig {
    fn default() -> Self {
        MixerConfig {
            outgoing_version: FramingVersion::LATEST,
            wheel: WheelConfig::default(),
            final_hops: FinalHops::Drop,
            accepted_tags_capacity: DEFAULT_ACCEPTED_TAGS_CAPACITY,
        }
    }
}

/// A packet for which this node is the last hop (gateway exit role).
#[derive(Debug)]
pub struct Delivery {
    /// The destination from the routing information.
    pub destination: DestinationAddress,
    /// The SURB identifier from the routing information.
    pub identifier: SurbIdentifier,
    /// The buffer; its body now holds the decrypted payload.
    pub buf: PacketBuf,
    /// When the packet arrived.
    pub arrived: Timestamp,
    /// The key rotation of the key that opened it (for a static key, the byte it arrived
    /// with): its SURB-ACK was built with the same rotation's keys and leaves with it.
    pub key_rotation: KeyRotation,
}

/// Where the mixer's output goes.
pub trait MixerSink {
    /// `packet` is due now at `next_hop`; its outgoing header is written.
    fn depart(&mut self, next_hop: SocketAddr, packet: OutPacket);
    /// A last-hop packet (only with [`FinalHops::Deliver`]).
    fn deliver(&mut self, delivery: Delivery);
    /// The buffer of a dropped packet (already counted), to reuse.
    fn recycle(&mut self, buf: PacketBuf);
}

struct Held {
    buf: PacketBuf,
    next_hop: SocketAddr,
    arrived: Timestamp,
    /// The key-rotation byte of the frame it leaves in.
    key_rotation: KeyRotation,
    /// The connection it arrived on.
    source: u32,
}

/// Where and how a packet leaves (its buffer apart).
struct Leaving {
    next_hop: SocketAddr,
    arrived: Timestamp,
    key_rotation: KeyRotation,
    source: u32,
}

/// One shard's pipeline; see the module docs.
pub struct Mixer {
    unwrapper: MultiKeyUnwrapper,
    results: Vec<KeyedResult>,
    keys: KeyRing,
    accepted: AcceptedTags,
    wheel: TimingWheel<u32>,
    held: Vec<Option<Held>>,
    free_slots: Vec<u32>,
    policy: NextHopPolicy,
    config: MixerConfig,
    stats: Arc<ShardStats>,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("held", &self.wheel.len())
            .field("keys", &self.keys)
            .field("policy", &self.policy)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Mixer {
    /// A pipeline for the node holding `keys` (their filters are shared with the other
    /// shards). Accepted tags are not recorded until [`Self::record_accepted_tags`].
    pub fn new(
        keys: KeyRing,
        policy: NextHopPolicy,
        config: MixerConfig,
        stats: Arc<ShardStats>,
        start: Timestamp,
    ) -> Result<Self, WheelError> {
        ShardStats::set(&stats.next_hops_allowed, policy.allowed_count());
        ShardStats::set(&stats.sphinx_keys, keys.keys().len() as u64);
        Ok(Mixer {
            unwrapper: MultiKeyUnwrapper::new(),
            results: Vec::new(),
            keys,
            accepted: AcceptedTags::new(),
            wheel: TimingWheel::new(config.wheel, start)?,
            held: Vec::new(),
            free_slots: Vec::new(),
            policy,
            config,
            stats,
        })
    }

    /// Bytes a held packet costs beyond its buffer: its wheel entry and its slot here.
    pub fn held_packet_overhead() -> usize {
        TimingWheel::<u32>::entry_size_bytes() + std::mem::size_of::<Option<Held>>()
    }

    /// Replaces the next-hop policy (a new epoch's topology).
    pub fn set_policy(&mut self, policy: NextHopPolicy) {
        ShardStats::set(&self.stats.next_hops_allowed, policy.allowed_count());
        self.policy = policy;
    }

    /// Replaces the keys (a key rotation began, or an overlap ended). The next batch is opened
    /// with the new ring; the old one is dropped here, wiping this copy of its secrets, and
    /// with it this shard's hold on the filters of keys no longer in it. Packets in the delay
    /// wheel are already unwrapped and leave as planned, in frames naming the rotation of the
    /// key that opened them.
    pub fn set_keys(&mut self, keys: KeyRing) {
        ShardStats::set(&self.stats.sphinx_keys, keys.keys().len() as u64);
        self.keys = keys;
    }

    /// The keys packets are opened with.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Starts (or stops) keeping every accepted replay tag for [`Self::drain_accepted_tags`],
    /// at most [`MixerConfig::accepted_tags_capacity`] between two drains. Off by default:
    /// without a journal nobody drains them.
    pub fn record_accepted_tags(&mut self, on: bool) {
        let capacity = if on {
            self.config.accepted_tags_capacity
        } else {
            0
        };
        self.accepted.set_capacity(capacity);
    }

    /// Accepted tags waiting to be drained.
    pub fn accepted_tags_buffered(&self) -> usize {
        self.accepted.len()
    }

    /// Hands the tags accepted since the last drain to `sink`, one call per key rotation
    /// (`None`: a static key), and empties the buffer.
    pub fn drain_accepted_tags(&mut self, sink: impl FnMut(Option<u64>, &[ReplayTag])) {
        let lost = self.accepted.drain(sink);
        if lost > 0 {
            ShardStats::add(&self.stats.unjournaled_tags, lost);
            tracing::warn!(
                lost,
                "accepted-tag buffer full: replay tags not journaled (a crash would forget them)"
            );
        }
    }

    /// Packets held in the delay wheel.
    pub fn held(&self) -> usize {
        self.wheel.len()
    }

    /// Processes a batch of frames at `now`, emptying `frames`. A packet's delay runs from its
    /// own arrival, so time it spent waiting for the batch to fill counts towards it (a packet
    /// whose delay has already passed leaves at once). `entropy` feeds the wheel's random
    /// eviction when it is full.
    pub fn handle_batch(
        &mut self,
        now: Timestamp,
        frames: &mut Vec<ReceivedFrame>,
        entropy: &mut impl FnMut() -> u64,
        sink: &mut impl MixerSink,
    ) {
        if frames.is_empty() {
            return;
        }
        let count = frames.len() as u64;
        ShardStats::add(&self.stats.received, count);
        self.stats.batch_size.record(count);

        let mut results = std::mem::take(&mut self.results);
        let keys = &self.keys;
        self.unwrapper.unwrap_batch_keyed(
            frames,
            keys.keys(),
            |frame| keys.choose(frame.header.key_rotation),
            &mut results,
        );
        for (frame, result) in frames.drain(..).zip(results.drain(..)) {
            let (buf, arrived, source) = (frame.buf, frame.arrived, frame.source);
            let (verdict, key_rotation) = self.judge(result, frame.header.key_rotation);
            match verdict {
                Verdict::Forward { next_hop, delay } => {
                    let delay = delay.saturating_sub(now.saturating_duration_since(arrived));
                    if !self.policy.allows(&next_hop) {
                        self.drop_packet(DropReason::NextHopNotInTopology, buf, sink);
                    } else if delay.is_zero() {
                        let leaving = Leaving {
                            next_hop,
                            arrived,
                            key_rotation,
                            source,
                        };
                        self.depart(leaving, buf, sink);
                    } else {
                        let held = Held {
                            buf,
                            next_hop,
                            arrived,
                            key_rotation,
                            source,
                        };
                        self.hold(now, delay, held, entropy(), sink);
                    }
                }
                Verdict::Deliver {
                    destination,
                    identifier,
                } => {
                    ShardStats::add(&self.stats.final_hop, 1);
                    match self.config.final_hops {
                        FinalHops::Drop => {
                            self.drop_packet(DropReason::UnexpectedFinalHop, buf, sink)
                        }
                        FinalHops::Deliver => sink.deliver(Delivery {
                            destination,
                            identifier,
                            buf,
                            arrived,
                            key_rotation,
                        }),
                    }
                }
                Verdict::Drop(reason) => self.drop_packet(reason, buf, sink),
            }
        }
        self.results = results;
        ShardStats::set(&self.stats.wheel_depth, self.wheel.len() as u64);
    }

    /// The verdict on one unwrap result, by the filter of the key that opened the packet, and
    /// the key-rotation byte it leaves with (see [`crate::mix::RotationKey::forward_hint`]).
    /// A fresh tag is kept for the journal.
    fn judge(&mut self, result: KeyedResult, arrived: KeyRotation) -> (Verdict, KeyRotation) {
        let (unwrapped, index) = match result {
            Ok(opened) => opened,
            Err(error) => return (Verdict::Drop(error.into()), arrived),
        };
        let Some(key) = self.keys.get(index) else {
            // the unwrapper only reports indices of the ring it was given
            return (Verdict::Drop(DropReason::ExpiredKey), arrived);
        };
        let accepted = &mut self.accepted;
        let verdict = judge_with(Ok(unwrapped), &key.filter, |tag| {
            accepted.record(key.rotation, tag);
        });
        (verdict, key.forward_hint(arrived))
    }

    /// When [`Self::poll_expired`] next has something to release; `None` when nothing is held.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.wheel.poll_timeout()
    }

    /// Sends every packet whose delay has passed at `now`.
    pub fn poll_expired(&mut self, now: Timestamp, sink: &mut impl MixerSink) {
        while let Some(slot) = self.wheel.poll_expired(now) {
            if let Some(held) = self.release(slot) {
                let leaving = Leaving {
                    next_hop: held.next_hop,
                    arrived: held.arrived,
                    key_rotation: held.key_rotation,
                    source: held.source,
                };
                self.depart(leaving, held.buf, sink);
            }
        }
        ShardStats::set(&self.stats.wheel_depth, self.wheel.len() as u64);
    }

    /// Drops everything still held (shutdown after the grace period), counting it.
    pub fn drop_all_held(&mut self, sink: &mut impl MixerSink) {
        for slot in 0..self.held.len() {
            if let Some(held) = self.held.get_mut(slot).and_then(Option::take) {
                self.drop_packet(DropReason::ShuttingDown, held.buf, sink);
            }
        }
        self.free_slots.clear();
        self.free_slots.extend((0..self.held.len() as u32).rev());
        // The wheel's entries now point at empty slots; draining it releases them.
        while self
            .wheel
            .poll_expired(Timestamp::from_nanos(u64::MAX))
            .is_some()
        {}
        ShardStats::set(&self.stats.wheel_depth, 0);
    }

    fn depart(&mut self, leaving: Leaving, mut buf: PacketBuf, sink: &mut impl MixerSink) {
        let header = FrameHeader {
            version: self.config.outgoing_version,
            size: buf.size(),
            packet_type: PacketType::Mix,
            key_rotation: leaving.key_rotation,
        };
        let header_len = buf.write_header(&header) as u8;
        sink.depart(
            leaving.next_hop,
            OutPacket {
                buf,
                header_len,
                arrived: leaving.arrived,
                source: leaving.source,
                sealed: false,
            },
        );
    }

    /// Holds a packet for `delay` from `now` (what is left of its delay).
    fn hold(
        &mut self,
        now: Timestamp,
        delay: std::time::Duration,
        held: Held,
        entropy: u64,
        sink: &mut impl MixerSink,
    ) {
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                if let Some(entry) = self.held.get_mut(slot as usize) {
                    *entry = Some(held);
                }
                slot
            }
            None => {
                self.held.push(Some(held));
                (self.held.len() - 1) as u32
            }
        };
        match self.wheel.insert(now, delay, slot, entropy) {
            InsertOutcome::Scheduled { .. } => {}
            InsertOutcome::ScheduledEvicting { evicted, .. } => {
                if let Some(victim) = self.release(evicted) {
                    self.drop_packet(DropReason::DelayQueueFull, victim.buf, sink);
                }
            }
            InsertOutcome::Rejected(slot) => {
                if let Some(rejected) = self.release(slot) {
                    self.drop_packet(DropReason::DelayQueueFull, rejected.buf, sink);
                }
            }
        }
    }

    fn release(&mut self, slot: u32) -> Option<Held> {
        let held = self.held.get_mut(slot as usize)?.take()?;
        self.free_slots.push(slot);
        Some(held)
    }

    fn drop_packet(&mut self, reason: DropReason, buf: PacketBuf, sink: &mut impl MixerSink) {
        self.stats.count_drop(reason, 1);
        tracing::debug!(reason = reason.label(), "packet dropped");
        sink.recycle(buf);
    }
}

mod accepted;
#[cfg(test)]
mod tests;
