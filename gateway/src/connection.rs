//! The client websocket server: one tokio task per connection.
//!
//! A connection first has to register or authenticate ([`crate::protocol::handshake`])
//! within the handshake timeout; anything else before that is refused and closes it. Once
//! authenticated it carries:
//! * from the client, binary frames (AEAD) with Sphinx packets, checked against the entry
//!   policy, the client's bandwidth and its rate (a fast client is slowed down by not being
//!   read, not dropped), and text frames presenting credentials or confirming stored
//!   messages;
//! * to the client, live messages and acks from the pump, and the mailbox in batches: a
//!   batch goes out, the client names the ids it received, those are deleted, the next batch
//!   follows.
//!
//! A malformed frame, a frame above the size limit or one that fails authentication gets an
//! error naming it and closes that connection only. A connection never sees another client's
//! messages: deliveries are routed by the identity the handshake proved, and the mailbox is
//! keyed by it.
//!
//! Why tokio and not the glommio shards: the client side holds many mostly idle connections,
//! waits on the database and the validators, and needs tungstenite's tokio integration; the
//! shards stay dedicated to the packet path (DESIGN §4) and the two meet at one bounded
//! channel each way (deliveries in, ready frames out through [`Forwarder`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures::{SinkExt, StreamExt};
use rand_core::{OsRng, RngCore};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::config::ClientsSection;
use crate::credentials::CredentialVerifier;
use crate::delivery::{send_ack, store_and_ack, Inbound, Online, Push};
use crate::entry_policy::EntryPolicy;
use crate::forwarder::{ForwardError, Forwarder};
use crate::protocol::handshake::{AuthenticateRequest, RegisterRequest, ReplayWindow};
use crate::protocol::{
    ClientControl, ClientFrame, ErrorKind, GatewayControl, GatewayFrame, SessionCipher,
};
use crate::rate::TokenBucket;
use crate::stats::GatewayStats;
use crate::store::{ClientId, Store};

/// How the gateway charges for bandwidth.
#[derive(Debug)]
pub enum BandwidthMode {
    /// Everything is free: local testing only (`--free-bandwidth-for-testing`).
    FreeForTesting,
    /// Clients pay with Coconut credentials.
    Credentials(Box<CredentialVerifier>),
}

/// What every connection task shares.
#[derive(Debug)]
pub struct Shared {
    /// The gateway's identity (signs handshake answers).
    pub identity: SigningKey,
    /// The database.
    pub store: Arc<Store>,
    /// Connected clients.
    pub online: Arc<Online>,
    /// Packets to layer 1.
    pub forwarder: Forwarder,
    /// Allowed first hops.
    pub policy: Arc<EntryPolicy>,
    /// Free or paid.
    pub bandwidth: BandwidthMode,
    /// Counters.
    pub stats: Arc<GatewayStats>,
    /// Register/authenticate requests seen within the window.
    pub replay: Mutex<ReplayWindow>,
    /// Limits.
    pub settings: ClientsSection,
    /// Stored messages per batch.
    pub mailbox_batch: usize,
    /// Connection ids.
    pub sessions: AtomicU64,
}

type Ws = WebSocketStream<TcpStream>;
type Sink = futures::stream::SplitSink<Ws, Message>;
type Source = futures::stream::SplitStream<Ws>;

/// Accepts client connections until the task is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.settings.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a client failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    handle(stream, peer, &shared).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    if let Some(ws) = accept(stream, &shared).await {
                        let (mut sink, _) = ws.split();
                        let _ = fail(
                            &mut sink,
                            &shared.stats,
                            ErrorKind::TooManyConnections,
                            "the gateway is at its connection limit; try later".into(),
                        )
                        .await;
                    }
                });
            }
        }
    }
}

async fn accept(stream: TcpStream, shared: &Shared) -> Option<Ws> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(shared.settings.max_frame_bytes))
        .max_frame_size(Some(shared.settings.max_frame_bytes));
    let timeout = Duration::from_millis(shared.settings.handshake_timeout_ms);
    match tokio::time::timeout(
        timeout,
        tokio_tungstenite::accept_async_with_config(stream, Some(config)),
    )
    .await
    {
        Ok(Ok(ws)) => Some(ws),
        Ok(Err(error)) => {
            tracing::debug!(%error, "websocket upgrade failed");
            None
        }
        Err(_) => None,
    }
}

/// Sends an error; a fatal one also closes the connection.
async fn fail(
    sink: &mut Sink,
    stats: &GatewayStats,
    kind: ErrorKind,
    message: String,
) -> Result<(), WsError> {
    stats.count_error(kind);
    tracing::debug!(kind = kind.label(), %message, "client error");
    let fatal = kind.is_fatal();
    sink.send(Message::text(
        GatewayControl::error(kind, message).to_json(),
    ))
    .await?;
    if fatal {
        sink.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: kind.label().into(),
        })))
        .await?;
    }
    Ok(())
}

fn now_ns(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn random32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// An authenticated connection.
struct Session<'a> {
    shared: &'a Shared,
    client: ClientId,
    id: u64,
    cipher: SessionCipher,
    bandwidth: Arc<AtomicU64>,
    saved_bandwidth: u64,
    bucket: TokenBucket,
    origin: Instant,
    outstanding: Vec<u64>,
    next_stored: u64,
}

async fn handle(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let Some(ws) = accept(stream, shared).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let timeout = Duration::from_millis(shared.settings.handshake_timeout_ms);
    let (tx, rx) = mpsc::channel(1024);
    let session =
        match tokio::time::timeout(timeout, handshake(&mut sink, &mut source, shared, tx)).await {
            Ok(Some(session)) => session,
            Ok(None) => return,
            Err(_) => {
                let _ = fail(
                    &mut sink,
                    &shared.stats,
                    ErrorKind::NotAuthenticated,
                    "no register or authenticate within the handshake timeout".into(),
                )
                .await;
                return;
            }
        };
    tracing::debug!(%peer, client = %bs58::encode(session.client).into_string(), "client authenticated");
    GatewayStats::add(&shared.stats.clients_connected, 1);
    let client = session.client;
    let id = session.id;
    let mut session = session;
    session.run(&mut sink, &mut source, rx).await;
    session.save_bandwidth().await;
    shared.online.detach(&client, id);
    shared
        .stats
        .clients_connected
        .fetch_sub(1, Ordering::Relaxed);
}

/// Reads the first message: it must be register or authenticate.
async fn handshake<'a>(
    sink: &mut Sink,
    source: &mut Source,
    shared: &'a Shared,
    pushes: mpsc::Sender<Push>,
) -> Option<Session<'a>> {
    let stats = &shared.stats;
    let text = loop {
        match source.next().await? {
            Ok(Message::Text(text)) => break text,
            Ok(Message::Binary(_)) => {
                let _ = fail(
                    sink,
                    stats,
                    ErrorKind::NotAuthenticated,
                    "register or authenticate before sending packets".into(),
                )
                .await;
                return None;
            }
            Ok(Message::Close(_)) => return None,
            Ok(_) => continue,
            Err(error) => {
                let _ = reject_read_error(sink, stats, error).await;
                return None;
            }
        }
    };
    let request: ClientControl = match serde_json::from_str(text.as_str()) {
        Ok(request) => request,
        Err(error) => {
            let _ = fail(
                sink,
                stats,
                ErrorKind::BadRequest,
                format!("not a request: {error}"),
            )
            .await;
            return None;
        }
    };
    let gateway = shared.identity.verifying_key().to_bytes();
    let window = shared.settings.auth_window_ms;
    let now = crate::now_ms();
    let free = matches!(shared.bandwidth, BandwidthMode::FreeForTesting);
    let outcome = match request {
        ClientControl::Register {
            identity,
            ephemeral,
            timestamp_ms,
            signature,
        } => {
            register(
                shared,
                &gateway,
                &identity,
                &ephemeral,
                timestamp_ms,
                &signature,
                now,
                window,
            )
            .await
        }
        ClientControl::Authenticate {
            identity,
            timestamp_ms,
            nonce,
            signature,
        } => {
            authenticate(
                shared,
                &gateway,
                &identity,
                timestamp_ms,
                &nonce,
                &signature,
                now,
                window,
            )
            .await
        }
        _ => Err((
            ErrorKind::NotAuthenticated,
            "register or authenticate first".into(),
        )),
    };
    let (client, answer, keys, bandwidth) = match outcome {
        Ok(parts) => parts,
        Err((kind, message)) => {
            let _ = fail(sink, stats, kind, message).await;
            return None;
        }
    };
    let id = shared.sessions.fetch_add(1, Ordering::Relaxed);
    let counter = shared.online.attach(client, id, pushes, bandwidth);
    let answer = match answer {
        GatewayControl::Registered {
            ephemeral,
            signature,
            stored,
            ..
        } => GatewayControl::Registered {
            ephemeral,
            signature,
            stored,
            bandwidth: if free {
                u64::MAX
            } else {
                counter.load(Ordering::Relaxed)
            },
        },
        GatewayControl::Authenticated {
            nonce,
            signature,
            stored,
            ..
        } => GatewayControl::Authenticated {
            nonce,
            signature,
            stored,
            bandwidth: if free {
                u64::MAX
            } else {
                counter.load(Ordering::Relaxed)
            },
        },
        other => other,
    };
    if sink.send(Message::text(answer.to_json())).await.is_err() {
        shared.online.detach(&client, id);
        return None;
    }
    let origin = Instant::now();
    Some(Session {
        shared,
        client,
        id,
        cipher: SessionCipher::gateway(&keys),
        saved_bandwidth: counter.load(Ordering::Relaxed),
        bandwidth: counter,
        bucket: TokenBucket::new(
            shared.settings.packets_per_second,
            shared.settings.burst_packets,
            0,
        ),
        origin,
        outstanding: Vec::new(),
        next_stored: 0,
    })
}

type Accepted = (ClientId, GatewayControl, crate::protocol::SessionKeys, u64);

fn check_replay(
    shared: &Shared,
    token: ([u8; 32], u64),
    now: u64,
) -> Result<(), (ErrorKind, String)> {
    let mut replay = shared.replay.lock().unwrap_or_else(|p| p.into_inner());
    replay
        .check_and_insert(token, now)
        .map_err(|e| (e.kind(), e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, (ErrorKind, String)> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(%error, "database");
            Err((ErrorKind::Internal, "the gateway's database failed".into()))
        }
        Err(error) => Err((ErrorKind::Internal, error.to_string())),
    }
}

#[allow(clippy::too_many_arguments)]
async fn register(
    shared: &Shared,
    gateway: &[u8; 32],
    identity: &str,
    ephemeral: &str,
    timestamp_ms: u64,
    signature: &str,
    now: u64,
    window: u64,
) -> Result<Accepted, (ErrorKind, String)> {
    let request = RegisterRequest::verify(
        gateway,
        identity,
        ephemeral,
        timestamp_ms,
        signature,
        now,
        window,
    )
    .map_err(|e| (e.kind(), e.to_string()))?;
    check_replay(shared, request.replay_token(), now)?;
    let (answer, shared_key, keys) = request
        .accept(&shared.identity, random32(), 0, 0)
        .map_err(|e| (e.kind(), e.to_string()))?;
    let client = request.client;
    let store = shared.store.clone();
    let (bandwidth, stored) = blocking(move || {
        let bandwidth = store.register(&client, &shared_key)?;
        Ok((bandwidth, store.pending_count(&client)?))
    })
    .await?;
    let answer = match answer {
        GatewayControl::Registered {
            ephemeral,
            signature,
            bandwidth,
            ..
        } => GatewayControl::Registered {
            ephemeral,
            signature,
            bandwidth,
            stored,
        },
        other => other,
    };
    Ok((client, answer, keys, bandwidth))
}

#[allow(clippy::too_many_arguments)]
async fn authenticate(
    shared: &Shared,
    gateway: &[u8; 32],
    identity: &str,
    timestamp_ms: u64,
    nonce: &str,
    signature: &str,
    now: u64,
    window: u64,
) -> Result<Accepted, (ErrorKind, String)> {
    let request = AuthenticateRequest::verify(
        gateway,
        identity,
        timestamp_ms,
        nonce,
        signature,
        now,
        window,
    )
    .map_err(|e| (e.kind(), e.to_string()))?;
    check_replay(shared, request.replay_token(), now)?;
    let client = request.client;
    let store = shared.store.clone();
    let (record, stored) =
        blocking(move || Ok((store.client(&client)?, store.pending_count(&client)?))).await?;
    let record = record.ok_or((
        ErrorKind::UnknownClient,
        "this identity never registered at this gateway; register first".to_string(),
    ))?;
    let (answer, keys) = request.accept(&shared.identity, &record.shared, random32(), 0, stored);
    Ok((client, answer, keys, record.bandwidth))
}

async fn reject_read_error(
    sink: &mut Sink,
    stats: &GatewayStats,
    error: WsError,
) -> Result<(), WsError> {
    match error {
        WsError::Capacity(reason) => {
            fail(
                sink,
                stats,
                ErrorKind::FrameTooLarge,
                format!("frame too large: {reason}"),
            )
            .await
        }
        WsError::Protocol(reason) => {
            fail(
                sink,
                stats,
                ErrorKind::BadFrame,
                format!("websocket protocol error: {reason}"),
            )
            .await
        }
        _ => Ok(()),
    }
}

impl Session<'_> {
    async fn run(
        &mut self,
        sink: &mut Sink,
        source: &mut Source,
        mut pushes: mpsc::Receiver<Push>,
    ) {
        let mut persist = tokio::time::interval(Duration::from_secs(5));
        if self.send_stored_batch(sink).await.is_err() {
            return;
        }
        loop {
            let keep_going = tokio::select! {
                message = source.next() => match message {
                    None | Some(Ok(Message::Close(_))) => false,
                    Some(Ok(Message::Text(text))) => self.on_text(sink, text.as_str()).await,
                    Some(Ok(Message::Binary(frame))) => self.on_binary(sink, &frame).await,
                    Some(Ok(_)) => true,
                    Some(Err(error)) => {
                        let _ = reject_read_error(sink, &self.shared.stats, error).await;
                        false
                    }
                },
                push = pushes.recv() => match push {
                    Some(Push::Live(item)) => self.deliver(sink, item).await,
                    Some(Push::MailboxReady) => self.send_stored_batch(sink).await.is_ok(),
                    Some(Push::Replaced) | None => {
                        let _ = sink.send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "replaced by a newer connection of this client".into(),
                        }))).await;
                        false
                    }
                },
                _ = persist.tick() => {
                    self.save_bandwidth().await;
                    true
                }
            };
            if !keep_going {
                break;
            }
        }
        // Whatever was pushed but not written goes to the mailbox (and is acked from there).
        pushes.close();
        let mut left = Vec::new();
        while let Ok(push) = pushes.try_recv() {
            if let Push::Live(item) = push {
                left.push(item);
            }
        }
        let shared = self.shared;
        store_and_ack(
            left,
            &shared.store,
            &shared.online,
            &shared.forwarder,
            &shared.stats,
        )
        .await;
    }

    async fn fail(&self, sink: &mut Sink, kind: ErrorKind, message: String) -> bool {
        let sent = fail(sink, &self.shared.stats, kind, message).await;
        sent.is_ok() && !kind.is_fatal()
    }

    async fn on_text(&mut self, sink: &mut Sink, text: &str) -> bool {
        let request: ClientControl = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(error) => {
                return self
                    .fail(
                        sink,
                        ErrorKind::BadRequest,
                        format!("not a request: {error}"),
                    )
                    .await
            }
        };
        match request {
            ClientControl::Register { .. } | ClientControl::Authenticate { .. } => {
                self.fail(
                    sink,
                    ErrorKind::AlreadyAuthenticated,
                    "this connection is already authenticated".into(),
                )
                .await
            }
            ClientControl::Received { ids } => self.on_received(sink, ids).await,
            ClientControl::Bandwidth { credential } => {
                let shared = self.shared;
                let answer = match &shared.bandwidth {
                    BandwidthMode::FreeForTesting => Ok(u64::MAX),
                    BandwidthMode::Credentials(verifier) => {
                        verifier
                            .redeem(
                                &shared.store,
                                &shared.online,
                                &shared.stats,
                                self.client,
                                *credential,
                            )
                            .await
                    }
                };
                match answer {
                    Ok(remaining) => {
                        self.saved_bandwidth = remaining;
                        sink.send(Message::text(
                            GatewayControl::Bandwidth { remaining }.to_json(),
                        ))
                        .await
                        .is_ok()
                    }
                    Err((kind, message)) => self.fail(sink, kind, message).await,
                }
            }
        }
    }

    async fn on_received(&mut self, sink: &mut Sink, ids: Vec<u64>) -> bool {
        let confirmed: Vec<u64> = ids
            .into_iter()
            .filter(|id| self.outstanding.contains(id))
            .collect();
        if !confirmed.is_empty() {
            let store = self.shared.store.clone();
            let client = self.client;
            let ids = confirmed.clone();
            match blocking(move || store.remove(&client, &ids)).await {
                Ok(removed) => {
                    GatewayStats::add(&self.shared.stats.delivered_from_mailbox, removed);
                    let gauge = &self.shared.stats.mailbox_messages;
                    let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                        Some(v.saturating_sub(removed))
                    });
                }
                Err((kind, message)) => return self.fail(sink, kind, message).await,
            }
            self.outstanding.retain(|id| !confirmed.contains(id));
        }
        self.send_stored_batch(sink).await.is_ok()
    }

    /// Sends the next mailbox batch unless one is still unconfirmed.
    async fn send_stored_batch(&mut self, sink: &mut Sink) -> Result<(), ()> {
        if !self.outstanding.is_empty() {
            return Ok(());
        }
        let store = self.shared.store.clone();
        let (client, from, limit) = (self.client, self.next_stored, self.shared.mailbox_batch);
        let batch = blocking(move || store.pending(&client, from, limit))
            .await
            .map_err(|_| ())?;
        for item in batch {
            let frame = GatewayFrame {
                kind: item.kind,
                stored_id: Some(item.id),
                bytes: &item.bytes,
            }
            .encode();
            let sealed = self.cipher.seal(&frame).map_err(|_| ())?;
            sink.send(Message::binary(sealed)).await.map_err(|_| ())?;
            self.outstanding.push(item.id);
            self.next_stored = item.id + 1;
        }
        Ok(())
    }

    async fn deliver(&mut self, sink: &mut Sink, item: Inbound) -> bool {
        let frame = GatewayFrame {
            kind: item.kind,
            stored_id: None,
            bytes: &item.bytes,
        }
        .encode();
        let Ok(sealed) = self.cipher.seal(&frame) else {
            let shared = self.shared;
            store_and_ack(
                vec![item],
                &shared.store,
                &shared.online,
                &shared.forwarder,
                &shared.stats,
            )
            .await;
            return false;
        };
        match sink.send(Message::binary(sealed)).await {
            Ok(()) => {
                GatewayStats::add(&self.shared.stats.delivered_live, 1);
                send_ack(&self.shared.forwarder, &self.shared.stats, item.ack);
                true
            }
            Err(_) => {
                let shared = self.shared;
                store_and_ack(
                    vec![item],
                    &shared.store,
                    &shared.online,
                    &shared.forwarder,
                    &shared.stats,
                )
                .await;
                false
            }
        }
    }

    async fn on_binary(&mut self, sink: &mut Sink, sealed: &[u8]) -> bool {
        let opened = match self.cipher.open(sealed) {
            Ok(opened) => opened,
            Err(error) => {
                return self
                    .fail(sink, ErrorKind::BadFrame, error.to_string())
                    .await
            }
        };
        let (first_hop, size, packet) = match ClientFrame::decode(&opened) {
            Ok(ClientFrame::Packet {
                first_hop,
                size,
                packet,
            }) => (first_hop, size, packet),
            Err(error) => {
                return self
                    .fail(sink, ErrorKind::BadFrame, error.to_string())
                    .await
            }
        };
        if !self.shared.policy.allows(&first_hop) {
            return self
                .fail(
                    sink,
                    ErrorKind::NotInTopology,
                    format!("{first_hop} is not a layer-1 mixnode of the current topology"),
                )
                .await;
        }
        let cost = size.size() as u64;
        let free = matches!(self.shared.bandwidth, BandwidthMode::FreeForTesting);
        if !free {
            let debited =
                self.bandwidth
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(cost)
                    });
            if debited.is_err() {
                return self
                    .fail(sink, ErrorKind::OutOfBandwidth, format!("{} bytes of bandwidth left, the packet needs {cost}; present a credential", self.bandwidth.load(Ordering::Relaxed)))
                    .await;
            }
            GatewayStats::add(&self.shared.stats.bandwidth_debited_bytes, cost);
        }
        while let Some(wait) = self.bucket.take(now_ns(self.origin)) {
            tokio::time::sleep(wait).await;
        }
        match self.shared.forwarder.send(first_hop, packet) {
            Ok(()) => {
                GatewayStats::add(&self.shared.stats.client_packets_forwarded, 1);
                true
            }
            Err(ForwardError::QueueFull(_)) => {
                if !free {
                    self.bandwidth.fetch_add(cost, Ordering::Relaxed);
                }
                self.fail(
                    sink,
                    ErrorKind::Busy,
                    format!("the queue to {first_hop} is full; packet not sent"),
                )
                .await
            }
            Err(error) => {
                self.fail(sink, ErrorKind::BadFrame, error.to_string())
                    .await
            }
        }
    }

    async fn save_bandwidth(&mut self) {
        if matches!(self.shared.bandwidth, BandwidthMode::FreeForTesting) {
            return;
        }
        let now = self.bandwidth.load(Ordering::Relaxed);
        if now == self.saved_bandwidth {
            return;
        }
        let store = self.shared.store.clone();
        let client = self.client;
        if blocking(move || store.save_bandwidth(&[(client, now)]))
            .await
            .is_ok()
        {
            self.saved_bandwidth = now;
        }
    }
}
