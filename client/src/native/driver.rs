//! The mixnet side of a native client process, shared by `client run` (apps over a
//! websocket), the SOCKS5 client and the network requester: one task owns the
//! [`ClientCore`] and feeds it from the gateway link, topology refreshes and the frontend's
//! commands, and calls `poll_transmit` at the core's Poisson times. The core needs no lock.
//!
//! [`connect`] returns once the gateway answered, so a frontend that starts serving after it
//! serves through a working client. Dropping the [`Mixnet`] handle stops the task.

use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use gateway_protocol::SharedKey;
use rand_core::OsRng;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use validator_client::{load_or_fetch_genesis, TopologyFetcher};
use validator_core::topology::{EpochId, Topology};

use super::error::NativeError;
use super::files::{ClientPaths, Config};
use super::link::{run_link, LinkEvent, LinkParams, Outgoing};
use crate::core::gateway_session::RefreshSchedule;
use crate::core::{
    ClientCore, ClientKeys, CoreConfig, CoreStats, Event, Received, Recipient, SendError,
};

/// How the driver runs.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// The core's settings.
    pub core: CoreConfig,
    /// How often to fetch the topology.
    pub topology_refresh: Duration,
}

/// Packets queued for the gateway link (while it reconnects, more are dropped and recovered
/// by retransmission).
const LINK_QUEUE: usize = 1024;
/// Commands queued for the driver.
const COMMAND_QUEUE: usize = 1024;

/// Wall-clock Unix ms.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long [`connect`] waits for a routable topology.
const TOPOLOGY_PATIENCE: Duration = Duration::from_secs(60);
/// How long [`connect`] waits for the gateway to answer.
const GATEWAY_PATIENCE: Duration = Duration::from_secs(30);

/// Why the mixnet did not take a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MixnetError {
    /// The driver task is gone (the client is stopping).
    #[error("the mixnet client stopped")]
    Stopped,
    /// The core refused the message (too long, too much queued, no route, no SURBs).
    #[error(transparent)]
    Send(#[from] SendError),
}

/// What a frontend asks of the mixnet.
enum Command {
    Send {
        recipient: Recipient,
        payload: Vec<u8>,
        text: bool,
        reply_surbs: Option<u16>,
        done: oneshot::Sender<Result<u64, SendError>>,
    },
    Reply {
        sender_tag: [u8; 16],
        payload: Vec<u8>,
        text: bool,
        done: oneshot::Sender<Result<u64, SendError>>,
    },
    Stats(oneshot::Sender<CoreStats>),
}

/// What the mixnet tells the frontend.
#[derive(Debug)]
pub enum MixnetEvent {
    /// A whole message arrived.
    Received(Received),
    /// A fragment of one of our messages was given up.
    FragmentLost {
        /// The message.
        message_id: u64,
        /// Why.
        reason: String,
    },
}

/// A cloneable way to send through the driver.
#[derive(Clone)]
pub struct MixnetSender {
    commands: mpsc::Sender<Command>,
}

impl MixnetSender {
    async fn ask<T>(&self, command: Command, rx: oneshot::Receiver<T>) -> Result<T, MixnetError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| MixnetError::Stopped)?;
        rx.await.map_err(|_| MixnetError::Stopped)
    }

    /// Queues `payload` for `recipient`, anonymously with `reply_surbs` SURBs when given;
    /// returns the message id.
    pub async fn send(
        &self,
        recipient: Recipient,
        payload: Vec<u8>,
        text: bool,
        reply_surbs: Option<u16>,
    ) -> Result<u64, MixnetError> {
        let (done, rx) = oneshot::channel();
        let command = Command::Send {
            recipient,
            payload,
            text,
            reply_surbs,
            done,
        };
        Ok(self.ask(command, rx).await??)
    }

    /// Queues an answer to the anonymous sender with `sender_tag`, through its SURBs.
    pub async fn reply(
        &self,
        sender_tag: [u8; 16],
        payload: Vec<u8>,
        text: bool,
    ) -> Result<u64, MixnetError> {
        let (done, rx) = oneshot::channel();
        let command = Command::Reply {
            sender_tag,
            payload,
            text,
            done,
        };
        Ok(self.ask(command, rx).await??)
    }

    /// The core's counters.
    pub async fn stats(&self) -> Result<CoreStats, MixnetError> {
        let (done, rx) = oneshot::channel();
        self.ask(Command::Stats(done), rx).await
    }
}

/// A running mixnet client.
pub struct Mixnet {
    /// This client's address.
    pub address: Recipient,
    /// Messages and losses, in arrival order.
    pub events: mpsc::UnboundedReceiver<MixnetEvent>,
    sender: MixnetSender,
    task: JoinHandle<()>,
}

impl Mixnet {
    /// A handle to send with.
    pub fn sender(&self) -> MixnetSender {
        self.sender.clone()
    }
}

impl Drop for Mixnet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fetch_topology(
    fetcher: &TopologyFetcher,
    patience: Duration,
) -> Result<Topology, NativeError> {
    let deadline = Instant::now() + patience;
    loop {
        match fetcher.fetch(None).await {
            Ok(t) if t.is_routable() => return Ok(t),
            Ok(t) => {
                if Instant::now() >= deadline {
                    return Err(NativeError::Unroutable { epoch: t.epoch_id });
                }
            }
            Err(source) => {
                if Instant::now() >= deadline {
                    return Err(NativeError::Topology { source });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What [`connect`] reads from the client's files and the validators before it starts.
struct Loaded {
    config: Config,
    keys: ClientKeys,
    shared: [u8; 32],
    gateway_id: [u8; 32],
    gateway_key: VerifyingKey,
    fetcher: TopologyFetcher,
    topology: Topology,
}

/// Reads the client's config and keys, pins the genesis and waits for a routable topology.
async fn load_client(paths: &ClientPaths) -> Result<Loaded, NativeError> {
    let config = Config::load(&paths.config())?;
    // `init` writes absolute paths; a relative one (edited by hand) is from the client's
    // directory, as every other config resolves its files.
    let ca_files: Vec<_> = config
        .client
        .ca_files
        .iter()
        .map(|p| paths.dir().join(p))
        .collect();
    tls::client::trust_ca_files(&ca_files)?;
    let (keys, shared) = paths.read_keys()?;
    let gateway_id = config.gateway_identity()?;
    let gateway_key =
        VerifyingKey::from_bytes(&gateway_id).map_err(|source| NativeError::GatewayKey {
            identity: config.gateway.identity.clone(),
            source,
        })?;
    let genesis = load_or_fetch_genesis(
        &config.client.validators,
        &paths.genesis(),
        config.client.genesis_hash,
    )
    .await?;
    let fetcher = TopologyFetcher::new(genesis)?;
    let topology = fetch_topology(&fetcher, TOPOLOGY_PATIENCE).await?;
    Ok(Loaded {
        config,
        keys,
        shared,
        gateway_id,
        gateway_key,
        fetcher,
        topology,
    })
}

/// Waits until the link's first session is up; returns what else the link reported
/// meanwhile, for the driver to handle first.
async fn wait_for_gateway(
    link_rx: &mut mpsc::Receiver<LinkEvent>,
    url: &str,
) -> Result<Vec<LinkEvent>, NativeError> {
    let mut pending_link_events = Vec::new();
    let connect_deadline = Instant::now() + GATEWAY_PATIENCE;
    loop {
        let event = tokio::time::timeout_at(connect_deadline, link_rx.recv())
            .await
            .map_err(|_| NativeError::GatewayUnreachable {
                url: url.to_owned(),
            })?
            .ok_or(NativeError::LinkStopped)?;
        match event {
            LinkEvent::Connected { bandwidth, stored } => {
                tracing::info!(bandwidth, stored, url = %url, "connected to the gateway");
                return Ok(pending_link_events);
            }
            LinkEvent::Disconnected(reason) => {
                tracing::warn!(%reason, "connecting to the gateway");
            }
            other => pending_link_events.push(other),
        }
    }
}

/// Fetches the topology every `refresh`, and as soon as the current one's epoch ends (a new
/// epoch may bring a new key rotation, whose keys packets must be built with from its
/// start), and sends each new routable one (after `epoch`) to the driver, until the driver
/// goes away.
fn spawn_topology_refresh(
    fetcher: TopologyFetcher,
    epoch: EpochId,
    valid_until_ms: u64,
    refresh: Duration,
) -> (mpsc::Receiver<Topology>, JoinHandle<()>) {
    let (topo_tx, topo_rx) = mpsc::channel::<Topology>(4);
    let task = tokio::spawn(async move {
        let mut current = epoch;
        let mut until_ms = valid_until_ms;
        let mut schedule = RefreshSchedule::new(refresh);
        loop {
            tokio::time::sleep(schedule.next_wait(until_ms, unix_ms())).await;
            match fetcher.fetch(None).await {
                Ok(t) if t.epoch_id != current && t.is_routable() => {
                    current = t.epoch_id;
                    until_ms = t.valid_until_ms;
                    if topo_tx.send(t).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "topology refresh"),
            }
        }
    });
    (topo_rx, task)
}

/// Loads the client in `paths`, fetches the topology, connects to the gateway and starts the
/// driver task.
pub async fn connect(paths: &ClientPaths, options: DriverOptions) -> Result<Mixnet, NativeError> {
    let Loaded {
        config,
        keys,
        shared,
        gateway_id,
        gateway_key,
        fetcher,
        topology,
    } = load_client(paths).await?;

    let origin = Instant::now();
    let identity = keys.identity.clone();
    let mut core_config = options.core;
    if let Some(rotation) = fetcher.genesis().key_rotation {
        // Replies may still use SURBs of the previous rotation for half the network's
        // overlap: their first hop keeps that key for the whole overlap.
        core_config.previous_rotation_surbs_for = Duration::from_millis(rotation.overlap_ms / 2);
    }
    let mut core = ClientCore::new(core_config, keys, gateway_id, origin.elapsed(), &mut OsRng);
    core.handle_topology(&topology);
    let address = core.address();

    let (out_tx, out_rx) = mpsc::channel(LINK_QUEUE);
    let (link_tx, mut link_rx) = mpsc::channel(LINK_QUEUE);
    let params = LinkParams {
        url: config.gateway.url.clone(),
        identity,
        gateway: gateway_key,
        shared: SharedKey::from_bytes(shared),
    };
    let link = tokio::spawn(run_link(params, out_rx, link_tx));
    let pending_link_events = wait_for_gateway(&mut link_rx, &config.gateway.url).await?;
    let (topo_rx, topo_task) = spawn_topology_refresh(
        fetcher,
        topology.epoch_id,
        topology.valid_until_ms,
        options.topology_refresh,
    );

    let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
    let (event_tx, events) = mpsc::unbounded_channel();
    let mut driver = Driver {
        core,
        out: out_tx,
        events: event_tx,
        dropped_packets: 0,
        origin,
    };
    for event in pending_link_events {
        driver.link_event(event);
    }
    let task = tokio::spawn(async move {
        driver.run(link_rx, command_rx, topo_rx).await;
        link.abort();
        topo_task.abort();
    });
    Ok(Mixnet {
        address,
        events,
        sender: MixnetSender { commands },
        task,
    })
}

struct Driver {
    core: ClientCore,
    out: mpsc::Sender<Outgoing>,
    events: mpsc::UnboundedSender<MixnetEvent>,
    dropped_packets: u64,
    origin: Instant,
}

impl Driver {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    async fn run(
        &mut self,
        mut link_rx: mpsc::Receiver<LinkEvent>,
        mut command_rx: mpsc::Receiver<Command>,
        mut topo_rx: mpsc::Receiver<Topology>,
    ) {
        let mut rng = OsRng;
        loop {
            let wake = self.origin + self.core.poll_timeout();
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => self.transmit(&mut rng),
                Some(event) = link_rx.recv() => self.link_event(event),
                command = command_rx.recv() => match command {
                    Some(command) => self.command(command, &mut rng),
                    // Every handle is gone.
                    None => break,
                },
                Some(t) = topo_rx.recv() => {
                    tracing::info!(epoch = %t.epoch_id, "new topology");
                    self.core.handle_topology(&t);
                }
            }
        }
        tracing::info!(
            stats = ?self.core.stats(),
            dropped_packets = self.dropped_packets,
            "mixnet client stopping"
        );
    }

    fn command(&mut self, command: Command, rng: &mut OsRng) {
        match command {
            Command::Send {
                recipient,
                payload,
                text,
                reply_surbs,
                done,
            } => {
                let result = match reply_surbs {
                    None => self.core.send(&recipient, payload, text, rng),
                    Some(n) => self.core.send_anonymous(&recipient, payload, text, n, rng),
                };
                let _ = done.send(result);
            }
            Command::Reply {
                sender_tag,
                payload,
                text,
                done,
            } => {
                let result = self.core.reply(&sender_tag, payload, text, rng);
                let _ = done.send(result);
            }
            Command::Stats(done) => {
                let _ = done.send(self.core.stats());
            }
        }
    }

    fn transmit(&mut self, rng: &mut OsRng) {
        let now = self.now();
        while let Some(t) = self.core.poll_transmit(now, rng) {
            if self.out.try_send(Outgoing::Packet(t)).is_err() {
                self.dropped_packets += 1;
            }
        }
        self.drain_events();
    }

    fn link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Delivery {
                kind,
                stored_id,
                bytes,
            } => {
                self.core.handle_delivery(kind, &bytes, self.now());
                if let Some(id) = stored_id {
                    // The message is in the core (reassembly or the frontend's queue) now.
                    let _ = self.out.try_send(Outgoing::Received(vec![id]));
                }
                self.drain_events();
            }
            LinkEvent::Connected { bandwidth, stored } => {
                tracing::info!(bandwidth, stored, "reconnected to the gateway");
            }
            LinkEvent::GatewayError { kind, message } => {
                tracing::warn!(
                    error = %format_args!("{}: {message}", kind.label()),
                    "the gateway refused"
                );
            }
            LinkEvent::Disconnected(reason) => {
                tracing::warn!(%reason, "gateway connection lost; reconnecting");
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            let event = match event {
                Event::Received(r) => MixnetEvent::Received(r),
                Event::FragmentLost { message_id, reason } => {
                    tracing::warn!(message_id, %reason, "a message fragment was given up");
                    MixnetEvent::FragmentLost { message_id, reason }
                }
            };
            // A frontend that stopped listening is stopping too.
            let _ = self.events.send(event);
        }
    }
}
