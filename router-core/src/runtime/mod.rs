//! The glommio thread-per-core shell around the [`pipeline`](crate::pipeline).
//!
//! One glommio executor per shard, pinned to its CPU. Each shard binds its own `SO_REUSEPORT`
//! listener on the node's address (the kernel spreads connections over the shards), and owns
//! its connections, buffer pool, mixer (batch unwrap, delay wheel) and outgoing connections to
//! next hops. Shards share only the replay filters (lock-free, DESIGN §4) and their counters
//! (read by the metrics endpoint); nothing on the hot path takes a lock or crosses cores.
//!
//! # Layout
//!
//! * [`Router`] / [`RouterHandle`] (here): start the shards, change the next-hop policy and
//!   the Sphinx keys, hand accepted replay tags to the journal, shut down.
//! * `shard`: the state one shard's tasks share, the clock, and the mixer's sink.
//! * `inbound`: one task per inbound connection: scatter reads, batches into the mixer.
//! * `limits`: who may hold an inbound connection, and for how long.
//! * `peer`: one task per next hop: connect, gather writes, reconnect with backoff.
//! * `link`: the Noise handshake on a connection, either side, bounded in time and bytes.
//! * `backpressure`: a congested next hop pauses the connections that feed it.
//! * `timer`: the task that releases delayed packets when their time comes.
//! * `linger`: the task that unwraps a partial batch when its oldest frame has waited long
//!   enough.
//! * `metrics`: the Prometheus text endpoint (a plain thread: it is off the hot path).
//! * `sys`: the scatter/gather system calls glommio does not wrap.
//! * `event`: a single-threaded wake-up signal between a shard's tasks.
//!
//! # Copies
//!
//! A packet is received by the kernel straight into its pooled buffer, unwrapped in place, held
//! by handle, and written from the same buffer: the kernel's copies in and out are the only
//! ones. The `mixnet_copied_packet_bytes_total` counter shows any user-space copy (only a peer
//! switching frame shape causes one).
//!
//! # Noise links
//!
//! With [`ShardSettings::noise_mode`] required (the node's default) or optional, links run
//! Noise XKpsk3 ([`crate::noise`]). A connection's first byte says which it is: 1 is a Noise
//! header, 7 and 8 are Nym's plain framing. The handshake runs before the connection takes
//! any packet buffer, within [`ShardSettings::noise_handshake_timeout`], with exact reads of
//! the pattern's message lengths; the initiator's static key must be in the [`LinkPeers`] the
//! node installed (with [`LinkSetter`]), or the link is refused. Every frame is then one
//! transport message, sealed and opened in place in its packet buffer, in the shard that
//! reads or writes it: the cipher's writes replace no copy. Failures are counted by reason
//! (`mixnet_noise_link_failures_total`).
//!
//! # Keys and the replay journal
//!
//! The node's [`KeyRing`] (one or two Sphinx keys, each with its replay filter) changes at
//! every key rotation: [`KeySetter::set`] publishes a new ring, and each shard installs it at
//! its next housekeeping tick (every [`HOUSEKEEPING_INTERVAL`]), as it does a new next-hop
//! policy. The same tick hands the replay tags the shard accepted since the last one to
//! [`RouterConfig::accepted_tags`], grouped by key rotation, and so does the shutdown once the
//! last packet has been judged: the node journals them, so a crash forgets at most the tags
//! of one interval.

mod backpressure;
mod event;
mod inbound;
mod limits;
mod linger;
mod link;
mod metrics;
mod peer;
mod shard;
mod sys;
mod timer;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

pub use limits::{source_of, ConnectionTable, InboundLimits, Refusal};
pub use metrics::{ExtraMetrics, MetricsServer};
pub use shard::{Clock, ShardSettings};
pub use sys::raise_open_files_limit;

use crate::mix::{KeyRing, WheelError};
use crate::noise::handshake::StaticKey;
use crate::noise::peers::{LinkPeers, NoiseMode};
use crate::pipeline::{BatchPolicy, BufferPool, Mixer, MixerConfig, NextHopPolicy, ShardStats};
use crate::sphinx::{DestinationAddress, SurbIdentifier};
use crate::wire::{KeyRotation, PacketSize};
use limits::Admitted;
use shard::{Shard, ShardSink};

/// Everything a router needs to start.
#[derive(Clone)]
pub struct RouterConfig {
    /// Address every shard listens on.
    pub listen: SocketAddr,
    /// One shard per entry, pinned to that CPU.
    pub cpus: Vec<usize>,
    /// The node's Sphinx keys, each with the replay filter all shards share (replace them on
    /// a running router with [`KeySetter`]).
    pub keys: KeyRing,
    /// Where the replay tags accepted by the shards go (the node's journal); without one,
    /// none are kept.
    pub accepted_tags: Option<AcceptedTagSink>,
    /// Framing out, delay wheel, last-hop behaviour.
    pub mixer: MixerConfig,
    /// Which next hops packets may go to.
    pub policy: NextHopPolicy,
    /// Connection handling per next hop.
    pub shard: ShardSettings,
    /// Bytes of packet buffers one shard may use before it stops reading.
    pub buffer_budget_bytes: usize,
    /// How long a shutdown waits for held and queued packets to leave.
    pub shutdown_grace: Duration,
    /// How long an idle shard keeps polling its rings before it sleeps in the kernel
    /// (zero: it sleeps at once). Polling keeps a core that is given to the node awake and
    /// its caches warm between bursts, at the price of showing that core busy; the time spent
    /// polling is not counted in [`ShardStats::busy_nanos`].
    pub busy_poll: Duration,
    /// Where last-hop packets go with [`FinalHops::Deliver`](crate::pipeline::FinalHops)
    /// (the gateway's exit role); without one they are counted and recycled.
    pub deliveries: Option<DeliveryHandler>,
    /// The node's static Noise key; required unless [`ShardSettings::noise_mode`] is off.
    pub noise_key: Option<StaticKey>,
    /// The peers' Noise keys to start with (replace them with [`LinkSetter`]).
    pub links: LinkPeers,
}

/// A packet whose last hop is this node, as the exit role's handler sees it: borrowed from
/// the shard's buffer, which is recycled as soon as the handler returns.
#[derive(Debug)]
pub struct Delivered<'a> {
    /// The destination from the routing information (for Nym, the recipient's identity key).
    pub destination: &'a DestinationAddress,
    /// The SURB identifier from the routing information.
    pub identifier: &'a SurbIdentifier,
    /// The packet's size class (an ack or a message).
    pub size: PacketSize,
    /// The key rotation of the key that opened it (for a static key, the byte it arrived
    /// with): a gateway forwards the SURB-ACK it carries with it.
    pub key_rotation: KeyRotation,
    /// The peeled payload; [`recover_plaintext`](crate::sphinx::recover_plaintext) gives the
    /// message.
    pub payload: &'a [u8],
}

/// Receives every delivered packet on the shard thread that peeled it. It must not block:
/// copy what it needs and hand it to another thread (the gateway sends it down a channel).
pub type DeliveryHandler = Arc<dyn Fn(Delivered<'_>) + Send + Sync>;

/// Receives the replay tags a shard accepted, on that shard's thread, every
/// [`HOUSEKEEPING_INTERVAL`] and once more at shutdown: one call per key rotation (`None`: a
/// static key) with the tags its filter accepted. It must not block: copy the tags and hand
/// them to a writer thread (the node's journal).
pub type AcceptedTagSink = Arc<dyn Fn(Option<u64>, &[[u8; 32]]) + Send + Sync>;

impl std::fmt::Debug for RouterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterConfig")
            .field("listen", &self.listen)
            .field("cpus", &self.cpus)
            .field("keys", &self.keys)
            .field("mixer", &self.mixer)
            .field("policy", &self.policy)
            .field("shard", &self.shard)
            .field("busy_poll", &self.busy_poll)
            .field("deliveries", &self.deliveries.is_some())
            .field("accepted_tags", &self.accepted_tags.is_some())
            .finish_non_exhaustive()
    }
}

impl RouterConfig {
    /// Defaults for everything but the address, CPUs and keys (no accepted-tag sink).
    pub fn new(listen: SocketAddr, cpus: Vec<usize>, keys: KeyRing) -> Self {
        RouterConfig {
            listen,
            cpus,
            keys,
            accepted_tags: None,
            mixer: MixerConfig::default(),
            policy: NextHopPolicy::Only(Default::default()),
            shard: ShardSettings {
                peer_queue_capacity: 8192,
                peer_queue_patience: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(3),
                outbound_idle: Duration::from_secs(300),
                backoff_initial: Duration::from_millis(100),
                backoff_max: Duration::from_secs(10),
                batch: BatchPolicy::default(),
                inbound: InboundLimits::default(),
                noise_mode: NoiseMode::Off,
                noise_handshake_timeout: Duration::from_secs(5),
            },
            buffer_budget_bytes: 256 << 20,
            shutdown_grace: Duration::from_secs(5),
            busy_poll: Duration::ZERO,
            deliveries: None,
            noise_key: None,
            links: LinkPeers::open(),
        }
    }
}

/// Why the router could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No CPU given.
    #[error("at least one shard (CPU) is required")]
    NoShards,
    /// The executor for a shard could not be created (CPU missing, io_uring unavailable,
    /// locked-memory limit too low).
    #[error("cannot start shard {shard} on CPU {cpu}: {source}")]
    Executor {
        /// Shard index.
        shard: usize,
        /// CPU it was to be pinned to.
        cpu: usize,
        /// What glommio reported.
        source: glommio::GlommioError<()>,
    },
    /// A shard could not bind the listening address.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        message: String,
    },
    /// The delay wheel configuration is invalid.
    #[error("invalid delay wheel configuration: {0}")]
    Wheel(#[from] WheelError),
    /// A shard thread panicked.
    #[error("shard {0} stopped abnormally")]
    ShardFailed(usize),
    /// Noise links are on but the node has no static Noise key.
    #[error("Noise links are {0} but no static Noise key was given")]
    NoNoiseKey(&'static str),
}

struct Control {
    stop: AtomicBool,
    policy_generation: AtomicU64,
    policy: Mutex<NextHopPolicy>,
    keys_generation: AtomicU64,
    keys: Mutex<KeyRing>,
    links_generation: AtomicU64,
    links: Mutex<Arc<LinkPeers>>,
    /// Inbound connections of every shard, by source.
    connections: Arc<Mutex<ConnectionTable>>,
}

/// Starts routers.
#[derive(Debug)]
pub struct Router;

/// A running router.
pub struct RouterHandle {
    local_addr: SocketAddr,
    control: Arc<Control>,
    stats: Vec<Arc<ShardStats>>,
    threads: Vec<glommio::ExecutorJoinHandle<()>>,
}

impl std::fmt::Debug for RouterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterHandle")
            .field("local_addr", &self.local_addr)
            .field("shards", &self.stats.len())
            .finish_non_exhaustive()
    }
}

/// Asks a router to stop; cheap to clone into a signal-handling thread.
#[derive(Clone)]
pub struct Stopper(Arc<Control>);

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stopper")
    }
}

impl Stopper {
    /// Begins a graceful shutdown: stop accepting, let held packets leave within the grace
    /// period, drop (and count) the rest.
    pub fn stop(&self) {
        self.0.stop.store(true, Ordering::Release);
    }
}

/// Changes the next-hop policy of a running router from any thread.
#[derive(Clone)]
pub struct PolicySetter(Arc<Control>);

impl std::fmt::Debug for PolicySetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicySetter")
    }
}

impl PolicySetter {
    /// Installs `policy` on every shard (within a housekeeping interval).
    pub fn set(&self, policy: NextHopPolicy) {
        if let Ok(mut slot) = self.0.policy.lock() {
            *slot = policy;
        }
        self.0.policy_generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Changes the Sphinx keys of a running router from any thread (a key rotation).
#[derive(Clone)]
pub struct KeySetter(Arc<Control>);

impl std::fmt::Debug for KeySetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySetter")
    }
}

impl KeySetter {
    /// Installs `keys` on every shard (within a housekeeping interval). Packets held in the
    /// delay wheels leave as planned; the filters of keys not in `keys` are freed once every
    /// shard has let go of them.
    pub fn set(&self, keys: KeyRing) {
        if let Ok(mut slot) = self.0.keys.lock() {
            *slot = keys;
        }
        self.0.keys_generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Changes the peers' Noise keys of a running router from any thread (a new topology).
/// An open inbound link whose key is no longer admitted is closed when it next reads.
#[derive(Clone)]
pub struct LinkSetter(Arc<Control>);

impl std::fmt::Debug for LinkSetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSetter")
    }
}

impl LinkSetter {
    /// Installs `links` on every shard (within a housekeeping interval): new links use them,
    /// and every inbound Noise link checks its key again (closed when it next reads if the
    /// key is gone); outbound links stay up until they end.
    pub fn set(&self, links: LinkPeers) {
        if let Ok(mut slot) = self.0.links.lock() {
            *slot = Arc::new(links);
        }
        self.0.links_generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// How often shards look at the stop flag, the policy and the keys, and hand their accepted
/// replay tags to the sink (off the hot path).
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(20);

impl Router {
    /// Starts one pinned shard per CPU of `config.cpus` and returns once all of them listen.
    pub fn start(config: RouterConfig) -> Result<RouterHandle, RuntimeError> {
        if config.cpus.is_empty() {
            return Err(RuntimeError::NoShards);
        }
        if config.noise_key.is_none() && config.shard.noise_mode != NoiseMode::Off {
            return Err(RuntimeError::NoNoiseKey(config.shard.noise_mode.name()));
        }
        let control = Arc::new(Control {
            stop: AtomicBool::new(false),
            policy_generation: AtomicU64::new(0),
            policy: Mutex::new(config.policy.clone()),
            keys_generation: AtomicU64::new(0),
            keys: Mutex::new(config.keys.clone()),
            links_generation: AtomicU64::new(0),
            links: Mutex::new(Arc::new(config.links.clone())),
            connections: Arc::default(),
        });
        let clock = Clock::new();
        let mut listen = config.listen;
        let mut stats = Vec::new();
        let mut threads = Vec::new();
        for (index, cpu) in config.cpus.iter().copied().enumerate() {
            let shard_stats = Arc::new(ShardStats::default());
            stats.push(shard_stats.clone());
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let shard_config = config.clone();
            let shard_control = control.clone();
            let mut builder =
                LocalExecutorBuilder::new(Placement::Fixed(cpu)).name(&format!("shard-{index}"));
            if !config.busy_poll.is_zero() {
                builder = builder.spin_before_park(config.busy_poll);
            }
            let spawned = builder.spawn(move || {
                run_shard(
                    index,
                    listen,
                    shard_config,
                    shard_control,
                    shard_stats,
                    clock,
                    ready_tx,
                )
            });
            let handle = match spawned {
                Ok(handle) => handle,
                Err(source) => {
                    stop_and_join(&control, threads);
                    return Err(RuntimeError::Executor {
                        shard: index,
                        cpu,
                        source: map_error(source),
                    });
                }
            };
            threads.push(handle);
            match ready_rx.recv() {
                Ok(Ok(bound)) => {
                    // Shard 0 picked the port when asked for port 0; the others share it.
                    listen = bound;
                }
                Ok(Err(error)) => {
                    stop_and_join(&control, threads);
                    return Err(error);
                }
                Err(_) => {
                    stop_and_join(&control, threads);
                    return Err(RuntimeError::ShardFailed(index));
                }
            }
        }
        Ok(RouterHandle {
            local_addr: listen,
            control,
            stats,
            threads,
        })
    }
}

/// Adds the time the executor spent running tasks and submitting and reaping IO since the
/// last call (glommio hands the figures over and resets them; polling while idle is left
/// out) to the shard's busy time.
fn count_busy_time(stats: &ShardStats) {
    let ran = glommio::executor().executor_stats().total_runtime();
    ShardStats::add(
        &stats.busy_nanos,
        u64::try_from(ran.as_nanos()).unwrap_or(u64::MAX),
    );
}

fn map_error<T>(error: glommio::GlommioError<T>) -> glommio::GlommioError<()> {
    match error {
        glommio::GlommioError::IoError(e) => glommio::GlommioError::IoError(e),
        other => glommio::GlommioError::IoError(std::io::Error::other(other.to_string())),
    }
}

fn stop_and_join(control: &Control, threads: Vec<glommio::ExecutorJoinHandle<()>>) {
    control.stop.store(true, Ordering::Release);
    for thread in threads {
        let _ = thread.join();
    }
}

impl RouterHandle {
    /// The address the shards listen on (with the port the OS chose, if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every shard's counters, in shard order.
    pub fn stats(&self) -> &[Arc<ShardStats>] {
        &self.stats
    }

    /// Replaces the next-hop policy on every shard (within a housekeeping interval).
    pub fn set_policy(&self, policy: NextHopPolicy) {
        self.policy_setter().set(policy);
    }

    /// A handle that changes the policy from another thread.
    pub fn policy_setter(&self) -> PolicySetter {
        PolicySetter(self.control.clone())
    }

    /// Replaces the Sphinx keys on every shard (within a housekeeping interval).
    pub fn set_keys(&self, keys: KeyRing) {
        self.key_setter().set(keys);
    }

    /// A handle that changes the keys from another thread.
    pub fn key_setter(&self) -> KeySetter {
        KeySetter(self.control.clone())
    }

    /// A handle that changes the peers' Noise keys from another thread.
    pub fn link_setter(&self) -> LinkSetter {
        LinkSetter(self.control.clone())
    }

    /// A handle that can stop the router from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.control.clone())
    }

    /// Begins a graceful shutdown (see [`Stopper::stop`]).
    pub fn shutdown(&self) {
        self.stopper().stop();
    }

    /// Waits for every shard to finish.
    pub fn join(self) -> Result<(), RuntimeError> {
        let mut result = Ok(());
        for (index, thread) in self.threads.into_iter().enumerate() {
            if thread.join().is_err() {
                result = Err(RuntimeError::ShardFailed(index));
            }
        }
        result
    }
}

async fn run_shard(
    index: usize,
    listen: SocketAddr,
    config: RouterConfig,
    control: Arc<Control>,
    stats: Arc<ShardStats>,
    clock: Clock,
    ready: std::sync::mpsc::Sender<Result<SocketAddr, RuntimeError>>,
) {
    let (shard, listener, bound) = match start_shard(index, listen, &config, stats, clock) {
        Ok(parts) => {
            parts.0.count_noise_peers();
            parts
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let _ = ready.send(Ok(bound));
    tracing::info!(shard = index, %bound, "shard listening");

    let acceptor = glommio::spawn_local(accept_loop(
        shard.clone(),
        listener,
        Arc::clone(&control.connections),
    ));
    let timer = glommio::spawn_local(timer::run(shard.clone()));
    let linger = glommio::spawn_local(linger::run(shard.clone()));
    let accepted_tags = config.accepted_tags.as_ref();
    housekeeping(&shard, &control, accepted_tags).await;

    // Shutdown: stop accepting and reading, let what is held leave within the grace period.
    drop(acceptor);
    shard.stopping.set(true);
    shard.stopping_event.notify();
    // Frames waiting for a fuller batch are unwrapped now: their packets leave with the rest.
    drop(linger);
    let mut waiting = Vec::new();
    shard.pending.borrow_mut().take_all(&mut waiting);
    shard.mix(clock.now(), &mut waiting);
    let deadline = clock.now().saturating_add(config.shutdown_grace);
    while clock.now() < deadline && (shard.mixer.borrow().held() > 0 || queued(&shard) > 0) {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    drop(timer);
    drop_what_is_left(&shard);
    // Every packet has been judged: the last accepted tags go to the journal.
    hand_over_accepted_tags(&shard, accepted_tags);
    tracing::info!(shard = index, "shard stopped");
}

/// The shard's mixer, listener and state, or why it cannot run.
fn start_shard(
    index: usize,
    listen: SocketAddr,
    config: &RouterConfig,
    stats: Arc<ShardStats>,
    clock: Clock,
) -> Result<(Rc<Shard>, glommio::net::TcpListener, SocketAddr), RuntimeError> {
    let mut mixer = Mixer::new(
        config.keys.clone(),
        config.policy.clone(),
        config.mixer,
        stats.clone(),
        clock.now(),
    )?;
    mixer.record_accepted_tags(config.accepted_tags.is_some());
    let bind_error = |message: String| RuntimeError::Bind {
        addr: listen,
        message,
    };
    let listener =
        glommio::net::TcpListener::bind(listen).map_err(|e| bind_error(e.to_string()))?;
    let bound = listener
        .local_addr()
        .map_err(|e| bind_error(e.to_string()))?;
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(index);
        hasher.finish()
    };
    let mut shard = Shard::new(
        index,
        clock,
        config.shard.clone(),
        mixer,
        BufferPool::new(config.buffer_budget_bytes),
        stats,
        seed,
    );
    shard.deliveries = config.deliveries.clone();
    shard.noise_key = config.noise_key.clone();
    shard.links = std::cell::RefCell::new(Arc::new(config.links.clone()));
    Ok((Rc::new(shard), listener, bound))
}

/// Until the stop flag is set: busy time, policy and key changes, accepted tags to the
/// journal; off the hot path.
async fn housekeeping(shard: &Shard, control: &Control, accepted_tags: Option<&AcceptedTagSink>) {
    let mut policy_generation = 0u64;
    let mut keys_generation = 0u64;
    let mut links_generation = 0u64;
    while !control.stop.load(Ordering::Acquire) {
        glommio::timer::sleep(HOUSEKEEPING_INTERVAL).await;
        count_busy_time(&shard.stats);
        let current = control.policy_generation.load(Ordering::Acquire);
        if current != policy_generation {
            policy_generation = current;
            if let Ok(policy) = control.policy.lock() {
                shard.mixer.borrow_mut().set_policy(policy.clone());
            }
        }
        let current = control.keys_generation.load(Ordering::Acquire);
        if current != keys_generation {
            keys_generation = current;
            if let Ok(keys) = control.keys.lock() {
                shard.mixer.borrow_mut().set_keys(keys.clone());
            }
        }
        let current = control.links_generation.load(Ordering::Acquire);
        if current != links_generation {
            links_generation = current;
            if let Ok(links) = control.links.lock() {
                *shard.links.borrow_mut() = links.clone();
            }
            shard.links_generation.set(shard.links_generation.get() + 1);
            shard.count_noise_peers();
        }
        hand_over_accepted_tags(shard, accepted_tags);
    }
}

/// The tags the shard accepted since the last call, to the sink, by key rotation.
fn hand_over_accepted_tags(shard: &Shard, sink: Option<&AcceptedTagSink>) {
    if let Some(sink) = sink {
        shard
            .mixer
            .borrow_mut()
            .drain_accepted_tags(|rotation, tags| sink(rotation, tags));
    }
}

/// After the grace period: what is still held or queued is dropped as shutting down.
fn drop_what_is_left(shard: &Rc<Shard>) {
    shard
        .mixer
        .borrow_mut()
        .drop_all_held(&mut ShardSink { shard });
    let peers: Vec<_> = shard.peers.borrow().values().cloned().collect();
    for peer in peers {
        shard.drop_queued(
            &mut peer.queue.borrow_mut(),
            crate::mix::DropReason::ShuttingDown,
        );
        peer.ready.notify();
    }
}

fn queued(shard: &Shard) -> usize {
    shard
        .peers
        .borrow()
        .values()
        .map(|p| p.queue.borrow().len())
        .sum()
}

/// Accepts connections while the node has room for them (see [`limits`]); a refused one is
/// closed at once and counted.
async fn accept_loop(
    shard: Rc<Shard>,
    listener: glommio::net::TcpListener,
    connections: Arc<Mutex<ConnectionTable>>,
) {
    let limits = shard.settings.inbound;
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let peer = stream
                    .peer_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                let admitted = match Admitted::try_new(&connections, peer.ip(), &limits) {
                    Ok(admitted) => admitted,
                    Err(refusal) => {
                        let counter = match refusal {
                            Refusal::Full => &shard.stats.inbound_refused_full,
                            Refusal::PerSource => &shard.stats.inbound_refused_per_source,
                        };
                        ShardStats::add(counter, 1);
                        tracing::debug!(%peer, ?refusal, "inbound connection refused");
                        drop(stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                glommio::spawn_local(inbound::serve(shard.clone(), stream, peer, admitted))
                    .detach();
            }
            Err(error) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(shard = shard.index, %error, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
