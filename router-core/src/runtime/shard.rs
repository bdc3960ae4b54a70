//! One shard: the state its tasks share (on one thread, so `RefCell`s and no locks) and the sink
//! through which the mixer's output reaches the per-peer queues.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backpressure::Inflow;
use super::event::LocalEvent;
use super::peer::Peer;
use super::{Delivered, DeliveryHandler};
use crate::mix::{DropReason, Timestamp};
use crate::noise::handshake::StaticKey;
use crate::noise::peers::{LinkPeers, NoiseMode};
use crate::pipeline::{
    BatchPolicy, BufferPool, Delivery, Mixer, MixerSink, OutPacket, OutboundQueue, PacketBuf,
    PendingBatch, ReceivedFrame, ShardStats,
};
use crate::sphinx::constants::HEADER_SIZE;

/// Maps the process's monotonic clock onto the pipeline's [`Timestamp`]s. All shards share one
/// origin, so timestamps compare across shards.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Clock {
            origin: Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Timestamp::from_nanos(nanos)
    }

    /// How long from now until `deadline` (zero if it has passed).
    pub fn until(&self, deadline: Timestamp) -> Duration {
        deadline.saturating_duration_since(self.now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Settings every task of a shard reads.
#[derive(Debug, Clone)]
pub struct ShardSettings {
    /// Frames queued per next hop before new ones are dropped.
    pub peer_queue_capacity: usize,
    /// How long a congested next hop may pause the connections feeding it before it counts
    /// as slow and its excess is dropped instead ([`crate::pipeline::pressure`]).
    pub peer_queue_patience: Duration,
    /// How long a connection attempt to a next hop may take.
    pub connect_timeout: Duration,
    /// How long a link to a next hop may stay without a packet to write before it is closed
    /// (it is opened again for the next packet). Shorter than the next hops' inbound idle
    /// timeout, so the sender, not the receiver, closes an idle link.
    pub outbound_idle: Duration,
    /// First wait after a failed connection attempt; doubles per failure.
    pub backoff_initial: Duration,
    /// Longest wait between connection attempts.
    pub backoff_max: Duration,
    /// How received frames are batched for unwrapping.
    pub batch: BatchPolicy,
    /// Inbound connection limits (caps per node and per source, timeouts).
    pub inbound: super::InboundLimits,
    /// Noise on links: required, optional or off ([`NoiseMode`]).
    pub noise_mode: NoiseMode,
    /// How long a Noise handshake may take, either side, before the connection is closed.
    pub noise_handshake_timeout: Duration,
}

/// The state a shard's tasks share.
pub struct Shard {
    pub(super) index: usize,
    pub(super) clock: Clock,
    pub(super) settings: ShardSettings,
    pub(super) mixer: RefCell<Mixer>,
    /// Frames of all connections waiting for a fuller batch.
    pub(super) pending: RefCell<PendingBatch>,
    /// Notified when a frame starts waiting in an empty [`Self::pending`].
    pub(super) pending_started: LocalEvent,
    pub(super) pool: RefCell<BufferPool>,
    pub(super) peers: RefCell<HashMap<SocketAddr, Rc<Peer>>>,
    /// The inbound connections being served, by the source id their frames carry.
    pub(super) inflows: RefCell<HashMap<u32, Rc<Inflow>>>,
    next_source: Cell<u32>,
    pub(super) stats: Arc<ShardStats>,
    /// Notified when the wheel's next deadline may have moved earlier.
    pub(super) wheel_changed: LocalEvent,
    /// Notified when buffers go back to the pool (readers waiting on back-pressure).
    pub(super) buffers_freed: LocalEvent,
    /// Notified when the shard starts shutting down.
    pub(super) stopping_event: LocalEvent,
    pub(super) stopping: Cell<bool>,
    /// The deadline the timer task sleeps towards, if it sleeps on one.
    pub(super) timer_deadline: Cell<Option<Timestamp>>,
    rng: Cell<u64>,
    /// The exit role's handler (gateways), set before the shard starts.
    pub(super) deliveries: Option<DeliveryHandler>,
    /// The node's static Noise key, set before the shard starts.
    pub(super) noise_key: Option<StaticKey>,
    /// The peers' Noise keys, as the last topology gave them.
    pub(super) links: RefCell<Arc<LinkPeers>>,
    /// Bumped each time [`Self::links`] is replaced: open links check their key again.
    pub(super) links_generation: Cell<u64>,
}

impl Shard {
    pub(super) fn new(
        index: usize,
        clock: Clock,
        settings: ShardSettings,
        mixer: Mixer,
        pool: BufferPool,
        stats: Arc<ShardStats>,
        seed: u64,
    ) -> Self {
        Shard {
            index,
            clock,
            mixer: RefCell::new(mixer),
            pending: RefCell::new(PendingBatch::new(settings.batch)),
            pending_started: LocalEvent::default(),
            pool: RefCell::new(pool),
            peers: RefCell::new(HashMap::new()),
            inflows: RefCell::new(HashMap::new()),
            next_source: Cell::new(0),
            stats,
            wheel_changed: LocalEvent::default(),
            buffers_freed: LocalEvent::default(),
            stopping_event: LocalEvent::default(),
            stopping: Cell::new(false),
            timer_deadline: Cell::new(None),
            rng: Cell::new(seed | 1),
            settings,
            deliveries: None,
            noise_key: None,
            links: RefCell::new(Arc::new(LinkPeers::open())),
            links_generation: Cell::new(0),
        }
    }

    /// Sets the Noise peers gauge from the installed [`LinkPeers`].
    pub(super) fn count_noise_peers(&self) {
        let initiators = self.links.borrow().initiators();
        let value = initiators.map_or(u64::MAX, |n| n as u64);
        ShardStats::set(&self.stats.noise_peers, value);
    }

    /// A xorshift64* draw: only used to pick which held packet a full wheel evicts, where the
    /// requirement is that a sender cannot choose the victim, not cryptographic strength.
    pub(super) fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The frames one read completed at `now` (emptied): unwrapped now if they complete a
    /// batch, else left waiting for more or for their deadline (the `linger` task).
    pub(super) fn offer(self: &Rc<Self>, now: Timestamp, frames: &mut Vec<ReceivedFrame>) {
        let started = {
            let mut pending = self.pending.borrow_mut();
            let was_empty = pending.is_empty();
            pending.push(frames);
            pending.take_ready(now, frames);
            was_empty && !pending.is_empty()
        };
        self.mix(now, frames);
        if started {
            self.pending_started.notify();
        }
    }

    /// Registers a new inbound connection: its source id (never 0) and its back-pressure
    /// state, until [`Self::forget_inflow`].
    pub(super) fn register_inflow(&self) -> (u32, Rc<Inflow>) {
        let inflows = &mut self.inflows.borrow_mut();
        let mut id = self.next_source.get();
        loop {
            id = id.wrapping_add(1).max(1);
            if !inflows.contains_key(&id) {
                break;
            }
        }
        self.next_source.set(id);
        let inflow = Rc::new(Inflow::default());
        inflows.insert(id, inflow.clone());
        (id, inflow)
    }

    /// The connection `source` is closed: packets of it still queued or held no longer pause
    /// anyone.
    pub(super) fn forget_inflow(&self, source: u32) {
        self.inflows.borrow_mut().remove(&source);
    }

    /// Unwraps and routes `batch` (emptied) at `now`.
    pub(super) fn mix(self: &Rc<Self>, now: Timestamp, batch: &mut Vec<ReceivedFrame>) {
        if batch.is_empty() {
            return;
        }
        self.mixer.borrow_mut().handle_batch(
            now,
            batch,
            &mut || self.next_random(),
            &mut ShardSink { shard: self },
        );
        self.after_mixing();
    }

    pub(super) fn give_buffer(&self, buf: PacketBuf) {
        self.pool.borrow_mut().give(buf);
        self.buffers_freed.notify();
    }

    /// Accounts for a frame fully written to its next hop.
    pub(super) fn sent(&self, packet: OutPacket) {
        ShardStats::add(&self.stats.forwarded, 1);
        self.stats
            .record_latency(self.clock.now().saturating_duration_since(packet.arrived));
        self.give_buffer(packet.buf);
    }

    /// Drops frames that will never be written, counting them.
    pub(super) fn drop_queued(&self, queue: &mut OutboundQueue, reason: DropReason) {
        let mut count = 0u64;
        queue.drain(|packet| {
            count += 1;
            self.give_buffer(packet.buf);
        });
        // (The caller relieves the peer's pressure: the queue is empty now.)
        if count > 0 {
            self.stats.count_drop(reason, count);
            self.stats
                .peer_queue_depth
                .fetch_sub(count, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(reason = reason.label(), count, "queued packets dropped");
        }
    }

    /// After a batch or a shutdown step: wake the timer task if the wheel now has an earlier
    /// deadline than the one it sleeps towards.
    pub(super) fn after_mixing(&self) {
        let next = self.mixer.borrow().poll_timeout();
        match (next, self.timer_deadline.get()) {
            (Some(next), Some(sleeping_until)) if next >= sleeping_until => {}
            (None, _) => {}
            _ => self.wheel_changed.notify(),
        }
        let pool = self.pool.borrow();
        ShardStats::set(&self.stats.buffer_bytes, pool.outstanding_bytes() as u64);
    }
}

/// The mixer's output, routed into this shard's peer queues and pool.
pub(super) struct ShardSink<'a> {
    pub(super) shard: &'a Rc<Shard>,
}

impl MixerSink for ShardSink<'_> {
    fn depart(&mut self, next_hop: SocketAddr, packet: OutPacket) {
        let peer = Peer::get_or_spawn(self.shard, next_hop);
        let source = packet.source;
        let pushed = peer.queue.borrow_mut().push(packet);
        let len = peer.queue.borrow().len();
        match pushed {
            Ok(()) => {
                ShardStats::add(&self.shard.stats.peer_queue_depth, 1);
                peer.ready.notify();
            }
            Err(packet) => {
                self.shard.stats.count_drop(DropReason::PeerQueueFull, 1);
                tracing::debug!(reason = DropReason::PeerQueueFull.label(), %next_hop, "packet dropped");
                self.shard.give_buffer(packet.buf);
            }
        }
        let holds_back = {
            let mut pressure = peer.pressure.borrow_mut();
            pressure.may_hold_back(len) && pressure.after_push(len, self.shard.clock.now())
        };
        if holds_back {
            if let Some(inflow) = self.shard.inflows.borrow().get(&source) {
                inflow.hold_for(&peer);
            }
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        if let Some(handler) = &self.shard.deliveries {
            handler(Delivered {
                destination: &delivery.destination,
                identifier: &delivery.identifier,
                size: delivery.buf.size(),
                key_rotation: delivery.key_rotation,
                payload: delivery.buf.body().get(HEADER_SIZE..).unwrap_or_default(),
            });
        }
        self.shard.give_buffer(delivery.buf);
    }

    fn recycle(&mut self, buf: PacketBuf) {
        self.shard.give_buffer(buf);
    }
}
