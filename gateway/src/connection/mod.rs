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
//! Layout: this module accepts connections and holds what they share; `handshake` takes a
//! connection to a confirmed session key; `session` serves it from then on.
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
use crate::delivery::Online;
use crate::entry_policy::EntryPolicy;
use crate::forwarder::Forwarder;
use crate::rate::TokenBucket;
use crate::stats::GatewayStats;
use crate::store::Store;
use gateway_protocol::handshake::ReplayWindow;
use gateway_protocol::{ErrorKind, GatewayControl};

mod handshake;
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

async fn handle(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let Some(ws) = accept(stream, shared).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let timeout = Duration::from_millis(shared.settings.handshake_timeout_ms);
    let opened = tokio::time::timeout(timeout, async {
        let (client, mut cipher, pending) = handshake(&mut sink, &mut source, shared).await?;
        confirm(&mut sink, &mut source, shared, &mut cipher).await?;
        if let Some(key) = pending {
            // `ready` proved the client holds the key: now it may replace the stored one.
            let store = shared.store.clone();
            let stored = blocking(move || store.register(&client, &key)).await;
            if let Err((kind, message)) = stored {
                let _ = fail(&mut sink, &shared.stats, kind, message).await;
                return None;
            }
        }
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
