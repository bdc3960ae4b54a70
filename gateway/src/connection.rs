//! The client websocket server: one tokio task per connection.
//!
//! A connection first has to register or authenticate ([`crate::protocol::handshake`]) and
//! then prove it holds the session key with a sealed `ready`, all within the handshake
//! timeout; anything else before that is refused and closes it. Only then is it attached as
//! the client's connection. It then carries:
//! * from the client, sealed binary frames: Sphinx packets, checked against the entry
//!   policy, the client's bandwidth and its rate (a fast client is slowed down by not being
//!   read, not dropped), and control requests presenting credentials or confirming stored
//!   messages;
//! * to the client, live messages and acks from the pump, and the mailbox in batches: a
//!   batch goes out, the client names the ids it received, those are deleted, the next batch
//!   follows.
//!
//! A malformed frame, a frame above the size limit or one that fails authentication gets an
//! error naming it and closes that connection only. So does a client that sends nothing for
//! the idle timeout, or does not read what it is sent within the write timeout (what was
//! queued for it goes to the mailbox). Connections beyond the limit get a short refusal, and
//! only a bounded number of refusals run at once. A connection never sees another client's
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

/// Live deliveries queued per connection; beyond that they go to the mailbox.
const PUSH_QUEUE: usize = 256;
/// Refusals (over the connection limit) handled at once; beyond that the TCP connection is
/// just closed.
const CONCURRENT_REFUSALS: usize = 64;
/// How long one write to a client may take before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts client connections until the task is dropped.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.settings.max_connections));
    let refusals = Arc::new(Semaphore::new(CONCURRENT_REFUSALS));
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
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            tokio::spawn(async move {
                handle(stream, peer, &shared).await;
                drop(permit);
            });
            continue;
        }
        shared.stats.count_error(ErrorKind::TooManyConnections);
        let Ok(refusing) = refusals.clone().try_acquire_owned() else {
            continue; // dropping the stream closes it
        };
        tokio::spawn(async move {
            let refused = async {
                if let Some(ws) = accept(stream, &shared).await {
                    let (mut sink, _) = ws.split();
                    let error = GatewayControl::error(
                        ErrorKind::TooManyConnections,
                        "the gateway is at its connection limit; try later",
                    );
                    let _ = sink.send(Message::text(error.to_json())).await;
                    let _ = sink.close().await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), refused).await;
            drop(refusing);
        });
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

/// Sends one message, giving up after the write timeout.
async fn write(sink: &mut Sink, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Sends an error; a fatal one also closes the connection.
async fn fail(
    sink: &mut Sink,
    stats: &GatewayStats,
    kind: ErrorKind,
    message: String,
) -> Result<(), ()> {
    stats.count_error(kind);
    tracing::debug!(kind = kind.label(), %message, "client error");
    write(
        sink,
        Message::text(GatewayControl::error(kind, message).to_json()),
    )
    .await?;
    if kind.is_fatal() {
        let close = CloseFrame {
            code: CloseCode::Policy,
            reason: kind.label().into(),
        };
        write(sink, Message::Close(Some(close))).await?;
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

/// An authenticated, key-confirmed connection.
struct Session<'a> {
    shared: &'a Shared,
    client: ClientId,
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
    let opened = tokio::time::timeout(timeout, async {
        let (client, mut cipher) = handshake(&mut sink, &mut source, shared).await?;
        confirm(&mut sink, &mut source, shared, &mut cipher).await?;
        Some((client, cipher))
    })
    .await;
    let (client, cipher) = match opened {
        Ok(Some(parts)) => parts,
        Ok(None) => return,
        Err(_) => {
            let _ = fail(
                &mut sink,
                &shared.stats,
                ErrorKind::NotAuthenticated,
                "no handshake and `ready` within the handshake timeout".into(),
            )
            .await;
            return;
        }
    };
    let id = shared.sessions.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(PUSH_QUEUE);
    // The bandwidth counter: shared with a connection of the same client still open, else
    // read from the database (under the registry's lock, after any older connection of this
    // client saved its balance and detached, so no debit is lost between them).
    let attached = {
        let (online, store) = (shared.online.clone(), shared.store.clone());
        tokio::task::spawn_blocking(move || {
            online.attach(client, id, tx, || {
                store
                    .client(&client)
                    .ok()
                    .flatten()
                    .map_or(0, |r| r.bandwidth)
            })
        })
        .await
    };
    let Ok(bandwidth) = attached else { return };
    tracing::debug!(%peer, client = %bs58::encode(client).into_string(), "client authenticated");
    GatewayStats::add(&shared.stats.clients_connected, 1);
    let mut session = Session {
        shared,
        client,
        cipher,
        saved_bandwidth: bandwidth.load(Ordering::Relaxed),
        bandwidth,
        bucket: TokenBucket::new(
            shared.settings.packets_per_second,
            shared.settings.burst_packets,
            0,
        ),
        origin: Instant::now(),
        outstanding: Vec::new(),
        next_stored: 0,
    };
    session.run(&mut sink, &mut source, rx).await;
    session.save_bandwidth().await;
    shared.online.detach(&client, id);
    shared
        .stats
        .clients_connected
        .fetch_sub(1, Ordering::Relaxed);
}

/// Reads the first message: it must be register or authenticate. Answers it and returns the
/// client and the session cipher.
async fn handshake(
    sink: &mut Sink,
    source: &mut Source,
    shared: &Shared,
) -> Option<(ClientId, SessionCipher)> {
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
    let (client, answer, keys, stored_bandwidth) = match outcome {
        Ok(parts) => parts,
        Err((kind, message)) => {
            let _ = fail(sink, stats, kind, message).await;
            return None;
        }
    };
    let bandwidth = match &shared.bandwidth {
        BandwidthMode::FreeForTesting => u64::MAX,
        BandwidthMode::Credentials(_) => shared
            .online
            .bandwidth(&client)
            .map_or(stored_bandwidth, |c| c.load(Ordering::Relaxed)),
    };
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
            bandwidth,
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
            bandwidth,
        },
        other => other,
    };
    write(sink, Message::text(answer.to_json())).await.ok()?;
    Some((client, SessionCipher::gateway(&keys)))
}

/// Waits for the client's sealed `ready`: proof that it holds the session key.
async fn confirm(
    sink: &mut Sink,
    source: &mut Source,
    shared: &Shared,
    cipher: &mut SessionCipher,
) -> Option<()> {
    let stats = &shared.stats;
    let sealed = loop {
        match source.next().await? {
            Ok(Message::Binary(sealed)) => break sealed,
            Ok(Message::Close(_)) => return None,
            Ok(Message::Text(_)) => {
                let _ = fail(
                    sink,
                    stats,
                    ErrorKind::BadRequest,
                    "after the handshake, requests are sealed binary frames; the first is `ready`"
                        .into(),
                )
                .await;
                return None;
            }
            Ok(_) => continue,
            Err(error) => {
                let _ = reject_read_error(sink, stats, error).await;
                return None;
            }
        }
    };
    let ready = cipher
        .open(&sealed)
        .ok()
        .and_then(|opened| match ClientFrame::decode(&opened) {
            Ok(ClientFrame::Control(json)) => serde_json::from_slice::<ClientControl>(json).ok(),
            _ => None,
        });
    if matches!(ready, Some(ClientControl::Ready)) {
        return Some(());
    }
    let _ = fail(
        sink,
        stats,
        ErrorKind::BadFrame,
        "the first sealed frame must be `ready` under the session key".into(),
    )
    .await;
    None
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
) -> Result<(), ()> {
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
        let idle = Duration::from_millis(self.shared.settings.idle_timeout_ms);
        let mut idle_deadline = tokio::time::Instant::now() + idle;
        let mut open = self.send_stored_batch(sink).await.is_ok();
        while open {
            open = tokio::select! {
                message = source.next() => {
                    idle_deadline = tokio::time::Instant::now() + idle;
                    match message {
                        None | Some(Ok(Message::Close(_))) => false,
                        Some(Ok(Message::Text(_))) => {
                            self.fail(sink, ErrorKind::BadRequest, "after the handshake, requests are sealed binary frames".into()).await
                        }
                        Some(Ok(Message::Binary(frame))) => self.on_binary(sink, &frame).await,
                        Some(Ok(_)) => true,
                        Some(Err(error)) => {
                            let _ = reject_read_error(sink, &self.shared.stats, error).await;
                            false
                        }
                    }
                },
                push = pushes.recv() => match push {
                    Some(Push::Live(item)) => self.deliver(sink, item).await,
                    Some(Push::MailboxReady) => self.send_stored_batch(sink).await.is_ok(),
                    Some(Push::Replaced) | None => {
                        let _ = write(sink, Message::Close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "replaced by a newer connection of this client".into(),
                        }))).await;
                        false
                    }
                },
                _ = tokio::time::sleep_until(idle_deadline) => {
                    GatewayStats::add(&self.shared.stats.connections_timed_out, 1);
                    let _ = write(sink, Message::Close(Some(CloseFrame {
                        code: CloseCode::Away,
                        reason: "idle".into(),
                    }))).await;
                    false
                },
                _ = persist.tick() => {
                    self.save_bandwidth().await;
                    true
                }
            };
        }
        // Whatever was pushed but not written goes to the mailbox (and is acked from there).
        pushes.close();
        let mut left = Vec::new();
        while let Ok(push) = pushes.try_recv() {
            if let Push::Live(item) = push {
                left.push(item);
            }
        }
        self.to_mailbox(left).await;
    }

    async fn to_mailbox(&self, items: Vec<Inbound>) {
        let shared = self.shared;
        store_and_ack(
            items,
            &shared.store,
            &shared.online,
            &shared.forwarder,
            &shared.policy,
            &shared.stats,
        )
        .await;
    }

    async fn fail(&self, sink: &mut Sink, kind: ErrorKind, message: String) -> bool {
        let sent = fail(sink, &self.shared.stats, kind, message).await;
        sent.is_ok() && !kind.is_fatal()
    }

    async fn on_control(&mut self, sink: &mut Sink, json: &[u8]) -> bool {
        let request: ClientControl = match serde_json::from_slice(json) {
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
            ClientControl::Ready => true,
            ClientControl::Received { ids } => self.on_received(sink, ids).await,
            ClientControl::Bandwidth { credential } => {
                let shared = self.shared;
                let answer = match &shared.bandwidth {
                    BandwidthMode::FreeForTesting => Ok(u64::MAX),
                    BandwidthMode::Credentials(verifier) => {
                        verifier
                            .redeem(
                                &shared.store,
                                &shared.stats,
                                self.client,
                                &self.bandwidth,
                                *credential,
                            )
                            .await
                    }
                };
                match answer {
                    Ok(remaining) => {
                        self.saved_bandwidth = remaining;
                        write(
                            sink,
                            Message::text(GatewayControl::Bandwidth { remaining }.to_json()),
                        )
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
            self.outstanding.push(item.id);
            self.next_stored = item.id + 1;
            if write(sink, Message::binary(sealed)).await.is_err() {
                GatewayStats::add(&self.shared.stats.connections_timed_out, 1);
                return Err(());
            }
        }
        Ok(())
    }

    /// Writes a live delivery, then sends its ack. "Delivered" means handed to this client's
    /// connection: written to the socket within the write timeout. If the write fails the
    /// message goes to the mailbox instead (and is acked from there).
    async fn deliver(&mut self, sink: &mut Sink, item: Inbound) -> bool {
        let frame = GatewayFrame {
            kind: item.kind,
            stored_id: None,
            bytes: &item.bytes,
        }
        .encode();
        let written = match self.cipher.seal(&frame) {
            Ok(sealed) => write(sink, Message::binary(sealed)).await,
            Err(_) => Err(()),
        };
        match written {
            Ok(()) => {
                GatewayStats::add(&self.shared.stats.delivered_live, 1);
                send_ack(
                    &self.shared.forwarder,
                    &self.shared.policy,
                    &self.shared.stats,
                    item.ack,
                );
                true
            }
            Err(()) => {
                GatewayStats::add(&self.shared.stats.connections_timed_out, 1);
                self.to_mailbox(vec![item]).await;
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
            Ok(ClientFrame::Control(json)) => return self.on_control(sink, json).await,
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
