//! `client run`: the driver. It owns the [`ClientCore`] and feeds it from three sources (the
//! gateway link, the apps, topology refreshes), and calls `poll_transmit` at the core's
//! Poisson times, on one task: the core needs no lock.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use gateway::protocol::SharedKey;
use rand_core::OsRng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use validator::client::{load_or_fetch_genesis, TopologyFetcher};
use validator::topology::Topology;

use super::app::{serve, AppEvent, AppRequest};
use super::files::{ClientPaths, Config};
use super::link::{run_link, LinkEvent, LinkParams, Outgoing};
use crate::api::{encode_binary_received, encode_sender_tag, Response};
use crate::core::{ClientCore, CoreConfig, Event, Recipient};

/// `client run` options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// App websocket listen address.
    pub listen: SocketAddr,
    /// The core's settings.
    pub core: CoreConfig,
    /// How often to fetch the topology.
    pub topology_refresh: Duration,
}

/// Messages kept for apps while none is connected.
const UNDELIVERED_LIMIT: usize = 10_000;
/// Packets queued for the gateway link (while it reconnects, more are dropped and recovered
/// by retransmission).
const LINK_QUEUE: usize = 1024;

async fn fetch_topology(fetcher: &TopologyFetcher, patience: Duration) -> Result<Topology, String> {
    let deadline = Instant::now() + patience;
    loop {
        match fetcher.fetch(None).await {
            Ok(t) if t.is_routable() => return Ok(t),
            Ok(t) => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "the topology of epoch {} is not routable",
                        t.epoch_id
                    ));
                }
            }
            Err(e) => {
                if Instant::now() >= deadline {
                    return Err(format!("no verified topology: {e}"));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Runs the client until Ctrl-C or SIGTERM.
pub async fn run(paths: &ClientPaths, options: RunOptions) -> Result<(), String> {
    let config = Config::load(&paths.config())?;
    let (keys, shared) = paths.read_keys()?;
    let gateway_id = config.gateway_identity()?;
    let gateway_key = VerifyingKey::from_bytes(&gateway_id)
        .map_err(|e| format!("the configured gateway identity: {e}"))?;
    let genesis = load_or_fetch_genesis(&config.client.validators, &paths.genesis()).await?;
    let fetcher = TopologyFetcher::new(genesis).map_err(|e| e.to_string())?;
    let topology = fetch_topology(&fetcher, Duration::from_secs(60)).await?;

    let origin = Instant::now();
    let identity = keys.identity.clone();
    let mut rng = OsRng;
    let mut core = ClientCore::new(options.core, keys, gateway_id, origin.elapsed(), &mut rng);
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

    // Apps are served once the gateway answered, so a listening client is a working one.
    let mut pending_link_events = Vec::new();
    let connect_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(connect_deadline, link_rx.recv())
            .await
            .map_err(|_| format!("could not connect to the gateway at {}", config.gateway.url))?
            .ok_or("the gateway link stopped")?;
        match event {
            LinkEvent::Connected { bandwidth, stored } => {
                tracing::info!(bandwidth, stored, url = %config.gateway.url, "connected to the gateway");
                break;
            }
            LinkEvent::Disconnected(reason) => {
                tracing::warn!(%reason, "connecting to the gateway");
            }
            other => pending_link_events.push(other),
        }
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", options.listen))?;
    let (app_tx, mut app_rx) = mpsc::channel(1024);
    let apps_task = tokio::spawn(serve(listener, app_tx));
    tracing::info!(listen = %options.listen, %address, "client ready");

    let (topo_tx, mut topo_rx) = mpsc::channel::<Topology>(4);
    let refresh = options.topology_refresh;
    let topo_task = tokio::spawn(async move {
        let mut current = topology.epoch_id;
        loop {
            tokio::time::sleep(refresh).await;
            match fetcher.fetch(None).await {
                Ok(t) if t.epoch_id != current && t.is_routable() => {
                    current = t.epoch_id;
                    if topo_tx.send(t).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "topology refresh"),
            }
        }
    });

    let mut driver = Driver {
        core,
        address,
        out: out_tx,
        apps: HashMap::new(),
        undelivered: VecDeque::new(),
        dropped_packets: 0,
        origin,
    };
    for event in pending_link_events {
        driver.link_event(event);
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let wake = origin + driver.core.poll_timeout();
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep_until(wake) => driver.transmit(&mut rng),
            Some(event) = link_rx.recv() => driver.link_event(event),
            Some(event) = app_rx.recv() => driver.app_event(event, &mut rng),
            Some(t) = topo_rx.recv() => {
                tracing::info!(epoch = %t.epoch_id, "new topology");
                driver.core.handle_topology(&t);
            }
        }
    }
    let stats = driver.core.stats();
    tracing::info!(
        ?stats,
        dropped_packets = driver.dropped_packets,
        "client stopping"
    );
    link.abort();
    apps_task.abort();
    topo_task.abort();
    Ok(())
}

struct Driver {
    core: ClientCore,
    address: Recipient,
    out: mpsc::Sender<Outgoing>,
    apps: HashMap<u64, mpsc::Sender<Message>>,
    undelivered: VecDeque<Message>,
    dropped_packets: u64,
    origin: Instant,
}

impl Driver {
    fn now(&self) -> Duration {
        self.origin.elapsed()
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
                    // The message is in the core (reassembly or the app queue) now.
                    let _ = self.out.try_send(Outgoing::Received(vec![id]));
                }
                self.drain_events();
            }
            LinkEvent::Connected { bandwidth, stored } => {
                tracing::info!(bandwidth, stored, "reconnected to the gateway");
            }
            LinkEvent::GatewayError(e) => tracing::warn!(error = %e, "the gateway refused"),
            LinkEvent::Disconnected(reason) => {
                tracing::warn!(%reason, "gateway connection lost; reconnecting");
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match event {
                Event::Received(r) => {
                    let tag = r.sender_tag.as_ref();
                    let binary = |payload: &[u8]| {
                        Message::binary(encode_binary_received(tag, r.is_reply, payload))
                    };
                    let message = if r.text {
                        match String::from_utf8(r.payload) {
                            Ok(text) => Message::text(
                                Response::Received {
                                    message: text,
                                    sender_tag: tag.map(encode_sender_tag),
                                    is_reply: r.is_reply,
                                }
                                .to_json(),
                            ),
                            // The core checks text is UTF-8; this is only defensive.
                            Err(e) => binary(e.as_bytes()),
                        }
                    } else {
                        binary(&r.payload)
                    };
                    self.deliver_to_apps(message);
                }
                Event::FragmentLost { message_id, reason } => {
                    tracing::warn!(message_id, %reason, "a message fragment was given up");
                }
            }
        }
    }

    /// Delivers to every connected app, or keeps it until one connects.
    fn deliver_to_apps(&mut self, message: Message) {
        if self.apps.is_empty() {
            if self.undelivered.len() >= UNDELIVERED_LIMIT {
                self.undelivered.pop_front();
                tracing::warn!("no app connected: the oldest kept message was dropped");
            }
            self.undelivered.push_back(message);
            return;
        }
        self.apps
            .retain(|id, tx| match tx.try_send(message.clone()) {
                Ok(()) => true,
                Err(_) => {
                    tracing::warn!(app = id, "an app does not read its messages: disconnected");
                    false
                }
            });
    }

    fn respond(&mut self, id: u64, response: Response) {
        if let Some(tx) = self.apps.get(&id) {
            if tx.try_send(Message::text(response.to_json())).is_err() {
                self.apps.remove(&id);
            }
        }
    }

    fn app_event(&mut self, event: AppEvent, rng: &mut OsRng) {
        match event {
            AppEvent::Connected { id, sender } => {
                for m in self.undelivered.drain(..) {
                    let _ = sender.try_send(m);
                }
                self.apps.insert(id, sender);
            }
            AppEvent::Gone { id } => {
                self.apps.remove(&id);
            }
            AppEvent::Request { id, request } => {
                let outcome = match request {
                    AppRequest::SelfAddress => {
                        let address = self.address.to_string();
                        self.respond(id, Response::SelfAddress { address });
                        return;
                    }
                    AppRequest::Invalid(message) => Err(message),
                    AppRequest::Send {
                        recipient,
                        payload,
                        text,
                        reply_surbs,
                    } => match recipient.parse::<Recipient>() {
                        Err(e) => Err(format!("recipient {recipient:?}: {e}")),
                        Ok(r) => match reply_surbs {
                            None => self.core.send(&r, payload, text, rng),
                            Some(n) => self.core.send_anonymous(&r, payload, text, n, rng),
                        }
                        .map_err(|e| e.to_string()),
                    },
                    AppRequest::Reply {
                        sender_tag,
                        payload,
                        text,
                    } => self
                        .core
                        .reply(&sender_tag, payload, text, rng)
                        .map_err(|e| e.to_string()),
                };
                if let Err(message) = outcome {
                    self.respond(id, Response::Error { message });
                }
            }
        }
    }
}
