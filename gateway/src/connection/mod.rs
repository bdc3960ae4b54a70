//! The client websocket server: one tokio task per connection.
//!
//! A connection first has to register or authenticate ([`gateway_protocol::handshake`]) and
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
//! Abuse limits ([`crate::source_limits`]): a source address holds a bounded number of
//! connections and of handshakes in progress (over either it gets an HTTP 429 before the
//! websocket upgrade), and makes a bounded number of registrations per hour; one deadline,
//! the handshake timeout, covers the upgrade, the handshake and `ready` together, whatever
//! the client sends meanwhile. A registration carries proof of work
//! ([`gateway_protocol::registration_work`]), checked before anything else. Once
//! authenticated, only progress (a packet forwarded, a credential redeemed, stored messages
//! confirmed) keeps a connection from its idle timeout; control requests have their own
//! rate; a connection whose credentials are refused `max_refused_credentials` times is
//! closed; credential checks run on a bounded number of slots of their own.
//!
//! Layout: this module accepts connections and holds what they share; `handshake` takes a
//! connection to a confirmed session key; `session` serves it from then on.
//!
//! Why tokio and not the glommio shards: the client side holds many mostly idle connections,
//! waits on the database and the validators, and needs tungstenite's tokio integration; the
//! shards stay dedicated to the packet path (DESIGN §4) and the two meet at one bounded
//! channel each way (deliveries in, ready frames out through [`Forwarder`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::{SinkExt, StreamExt};
use rand_core::{OsRng, RngCore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::either::Either;

use crate::config::ClientsSection;
use crate::credentials::CredentialVerifier;
use crate::delivery::Online;
use crate::entry_policy::EntryPolicy;
use crate::forwarder::Forwarder;
use crate::rate::TokenBucket;
use crate::source_limits::{SourceLimits, SourceRefusal};
use crate::stats::{ClientRefusal, GatewayStats};
use crate::store::Store;
use gateway_protocol::handshake::ReplayWindow;
use gateway_protocol::{ErrorKind, GatewayControl};
use tls::server::{HandshakeFailure, ServerTls};

mod handshake;
mod nym;
mod session;

use handshake::{confirm, handshake};
use session::Session;

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
    /// What each source address holds.
    pub sources: Mutex<SourceLimits>,
    /// The clock of the per-source registration buckets (the runtime's clock).
    pub origin: Instant,
    /// TLS on the client port (`[tls]` in the config), or plain websockets.
    pub tls: Option<Arc<ServerTls>>,
}

/// A client connection from the listener: plain TCP, or TLS over it.
type Conn = Either<TcpStream, TlsStream<TcpStream>>;

/// The connection's byte stream once TLS (if the port has it) is up, by `deadline`; a
/// failed or late handshake drops the connection, and is counted if `count` (a connection
/// being refused was counted already, under its refusal).
async fn secure(
    stream: TcpStream,
    shared: &Shared,
    deadline: Instant,
    count: bool,
) -> Option<Conn> {
    let Some(tls) = &shared.tls else {
        return Some(Either::Left(stream));
    };
    let left = deadline.saturating_duration_since(Instant::now());
    match tls::server::handshake(tls, stream, left).await {
        Ok(stream) => Some(Either::Right(stream)),
        Err(failure) => {
            if count {
                shared.stats.count_refusal(match failure {
                    HandshakeFailure::Timeout => ClientRefusal::TlsTimeout,
                    HandshakeFailure::Failed => ClientRefusal::TlsHandshake,
                });
            }
            None
        }
    }
}

impl Shared {
    fn sources(&self) -> std::sync::MutexGuard<'_, SourceLimits> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connection's share of its source's counts: in its handshake until
/// [`SourceHold::handshake_done`], open until dropped.
struct SourceHold {
    shared: Arc<Shared>,
    ip: IpAddr,
    handshaking: bool,
}

impl SourceHold {
    /// Takes a connection's share of `ip`'s counts, unless the source holds its share of
    /// them already.
    fn open(shared: &Arc<Shared>, ip: IpAddr) -> Result<Self, SourceRefusal> {
        shared.sources().open(ip)?;
        Ok(SourceHold {
            shared: shared.clone(),
            ip,
            handshaking: true,
        })
    }

    fn handshake_done(&mut self) {
        if std::mem::take(&mut self.handshaking) {
            self.shared.sources().handshake_done(self.ip);
        }
    }
}

impl Drop for SourceHold {
    fn drop(&mut self) {
        self.handshake_done();
        self.shared.sources().closed(self.ip);
    }
}

/// What a client connection runs over: the listener's TCP streams, or any other byte stream
/// (in-process pipes in tests and fuzzing, see [`serve_connection`]).
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientStream for S {}

type Ws<S> = WebSocketStream<S>;
type Sink<S> = futures::stream::SplitSink<Ws<S>, Message>;
type Source<S> = futures::stream::SplitStream<Ws<S>>;

/// Live deliveries queued per connection; beyond that they go to the mailbox.
const PUSH_QUEUE: usize = 256;
/// Refusals (over the connection limit) handled at once; beyond that the TCP connection is
/// just closed.
const CONCURRENT_REFUSALS: usize = 64;
/// How long a refusal may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);
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
        let hold = match SourceHold::open(&shared, peer.ip()) {
            Ok(hold) => hold,
            Err(refusal) => {
                let (reason, why) = match refusal {
                    SourceRefusal::Connections => (
                        ClientRefusal::SourceConnections,
                        "too many connections from this address",
                    ),
                    _ => (
                        ClientRefusal::SourceHandshakes,
                        "too many handshakes in progress from this address",
                    ),
                };
                shared.stats.count_refusal(reason);
                if let Ok(refusing) = refusals.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        let deadline = Instant::now() + REFUSAL_TIMEOUT;
                        let refused = async {
                            if let Some(conn) = secure(stream, &shared, deadline, false).await {
                                refuse_upgrade(conn, why).await;
                            }
                        };
                        let _ = tokio::time::timeout_at(deadline, refused).await;
                        drop(refusing);
                    });
                }
                continue;
            }
        };
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            tokio::spawn(async move {
                let deadline = handshake_deadline(&shared);
                if let Some(conn) = secure(stream, &shared, deadline, true).await {
                    handle(conn, peer, &shared, hold, deadline).await;
                }
                drop(permit);
            });
            continue;
        }
        drop(hold);
        shared.stats.count_error(ErrorKind::TooManyConnections);
        shared.stats.count_refusal(ClientRefusal::ConnectionLimit);
        let Ok(refusing) = refusals.clone().try_acquire_owned() else {
            continue; // dropping the stream closes it
        };
        tokio::spawn(async move {
            let refused = async {
                let deadline = tokio::time::Instant::now() + REFUSAL_TIMEOUT;
                let Some(conn) = secure(stream, &shared, deadline, false).await else {
                    return;
                };
                if let Some(ws) = accept(conn, &shared, deadline).await {
                    let (mut sink, _) = ws.split();
                    let error = GatewayControl::error(
                        ErrorKind::TooManyConnections,
                        "the gateway is at its connection limit; try later",
                    );
                    let _ = sink.send(Message::text(error.to_json())).await;
                    let _ = sink.close().await;
                }
            };
            let _ = tokio::time::timeout(REFUSAL_TIMEOUT, refused).await;
            drop(refusing);
        });
    }
}

/// Serves one client connection over `stream` from `peer`: the websocket upgrade, the
/// handshake and the session, until either side closes it. What [`serve`] runs for each
/// connection it accepts, with the same per-source limits (a refused source is returned, and
/// nothing is sent) but without the gateway's connection limit; for connections that do not
/// come from the listener (in-process streams in tests and fuzzing).
pub async fn serve_connection<S: ClientStream>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(), SourceRefusal> {
    let hold = SourceHold::open(&shared, peer.ip())?;
    handle(stream, peer, &shared, hold, handshake_deadline(&shared)).await;
    Ok(())
}

/// When a connection accepted now must have finished its TLS handshake, websocket upgrade,
/// gateway handshake and `ready`: a silent or slow client holds its slot no longer than
/// this, whatever it sends meanwhile.
fn handshake_deadline(shared: &Shared) -> Instant {
    Instant::now() + Duration::from_millis(shared.settings.handshake_timeout_ms)
}

/// Answers the websocket upgrade request with HTTP 429 naming `why`, without upgrading.
async fn refuse_upgrade<S: ClientStream>(stream: S, why: &'static str) {
    // The callback's signature is tungstenite's: its error is the response to send.
    #[allow(clippy::result_large_err)]
    let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
        let mut response = ErrorResponse::new(Some(why.to_string()));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        Err(response)
    };
    let _ = tokio_tungstenite::accept_hdr_async(stream, refuse).await;
}

/// The websocket upgrade, by `deadline`.
async fn accept<S: ClientStream>(stream: S, shared: &Shared, deadline: Instant) -> Option<Ws<S>> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(shared.settings.max_frame_bytes))
        .max_frame_size(Some(shared.settings.max_frame_bytes));
    match tokio::time::timeout_at(
        deadline,
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
async fn write<S: ClientStream>(sink: &mut Sink<S>, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Sends an error; a fatal one also closes the connection.
async fn fail<S: ClientStream>(
    sink: &mut Sink<S>,
    stats: &GatewayStats,
    kind: ErrorKind,
    message: String,
) -> Result<(), ()> {
    send_error(sink, stats, GatewayControl::error(kind, message)).await
}

/// Sends an error answer (see [`fail`]).
async fn send_error<S: ClientStream>(
    sink: &mut Sink<S>,
    stats: &GatewayStats,
    error: GatewayControl,
) -> Result<(), ()> {
    let GatewayControl::Error { kind, message, .. } = &error else {
        return write(sink, Message::text(error.to_json())).await;
    };
    let kind = *kind;
    stats.count_error(kind);
    tracing::debug!(kind = kind.label(), %message, "client error");
    write(sink, Message::text(error.to_json())).await?;
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

async fn handle<S: ClientStream>(
    stream: S,
    peer: SocketAddr,
    shared: &Shared,
    mut hold: SourceHold,
    deadline: Instant,
) {
    let Some(ws) = accept(stream, shared, deadline).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    // The first message tells the protocols apart: Nym's clients open with one of Nym's
    // requests, ours with register or authenticate.
    let first = tokio::time::timeout_at(deadline, async {
        loop {
            match source.next().await? {
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                message => return Some(message),
            }
        }
    })
    .await;
    let first = match first {
        Ok(Some(message)) => message,
        Ok(None) => return,
        Err(_) => {
            let _ = fail(
                &mut sink,
                &shared.stats,
                ErrorKind::NotAuthenticated,
                "no handshake within the handshake timeout".into(),
            )
            .await;
            return;
        }
    };
    if let Ok(Message::Text(text)) = &first {
        if gateway_protocol::nym::messages::is_nym_request(text.as_str()) {
            let text = text.as_str().to_string();
            nym::serve(sink, source, text, shared, peer.ip(), hold, deadline).await;
            return;
        }
    }
    let opened = tokio::time::timeout_at(deadline, async {
        let (client, mut cipher, pending) =
            handshake(&mut sink, &mut source, shared, peer.ip(), first).await?;
        confirm(&mut sink, &mut source, shared, &mut cipher).await?;
        if let Some(key) = pending {
            // `ready` proved the client holds the key: now it may replace the stored one.
            let store = shared.store.clone();
            let now = crate::now_ms();
            let stored = blocking(move || store.register(&client, &key, now)).await;
            if let Err((kind, message)) = stored {
                let _ = fail(&mut sink, &shared.stats, kind, message).await;
                return None;
            }
        }
        Some((client, cipher))
    })
    .await;
    hold.handshake_done();
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
    let (tx, rx) = mpsc::channel(PUSH_QUEUE);
    let Some((id, bandwidth)) = attach(shared, client, tx).await else {
        return;
    };
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
        controls: TokenBucket::new(
            shared.settings.controls_per_second,
            shared.settings.burst_controls,
            0,
        ),
        refused_credentials: 0,
        progress: false,
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

/// Registers an authenticated connection of `client` as the one deliveries go to: its id
/// and the client's bandwidth counter, shared with a connection of the same client still
/// open (which is told to close), else read from the database (under the registry's lock,
/// after any older connection of this client saved its balance and detached, so no debit is
/// lost between them).
async fn attach(
    shared: &Shared,
    client: crate::store::ClientId,
    tx: mpsc::Sender<crate::delivery::Push>,
) -> Option<(u64, Arc<AtomicU64>)> {
    let id = shared.sessions.fetch_add(1, Ordering::Relaxed);
    let (online, store) = (shared.online.clone(), shared.store.clone());
    let bandwidth = tokio::task::spawn_blocking(move || {
        online.attach(client, id, tx, || {
            store
                .client(&client)
                .ok()
                .flatten()
                .map_or(0, |r| r.bandwidth)
        })
    })
    .await
    .ok()?;
    Some((id, bandwidth))
}

/// The bandwidth a client has when it authenticates: unlimited when free, else its open
/// connection's counter, else what the database holds (`stored`).
fn bandwidth_now(shared: &Shared, client: &crate::store::ClientId, stored: u64) -> u64 {
    match &shared.bandwidth {
        BandwidthMode::FreeForTesting => u64::MAX,
        BandwidthMode::Credentials(_) => shared
            .online
            .bandwidth(client)
            .map_or(stored, |c| c.load(Ordering::Relaxed)),
    }
}

/// Commits deliveries a connection could not write to the mailbox (and sends their acks).
async fn to_mailbox(shared: &Shared, items: Vec<crate::delivery::Inbound>) {
    crate::delivery::store_and_ack(
        items,
        &shared.store,
        &shared.online,
        &shared.forwarder,
        &shared.policy,
        &shared.stats,
    )
    .await;
}

/// Saves a connection's bandwidth counter when it changed since `saved` (which it updates);
/// nothing to save when bandwidth is free.
async fn save_bandwidth(
    shared: &Shared,
    client: crate::store::ClientId,
    counter: &AtomicU64,
    saved: &mut u64,
) {
    if matches!(shared.bandwidth, BandwidthMode::FreeForTesting) {
        return;
    }
    let now = counter.load(Ordering::Relaxed);
    if now == *saved {
        return;
    }
    let store = shared.store.clone();
    if blocking(move || store.save_bandwidth(&[(client, now)]))
        .await
        .is_ok()
    {
        *saved = now;
    }
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

async fn reject_read_error<S: ClientStream>(
    sink: &mut Sink<S>,
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
