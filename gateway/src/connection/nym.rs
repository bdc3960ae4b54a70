//! Nym's own clients ([`gateway_protocol::nym`]): a connection whose first text frame is one
//! of Nym's opening requests is served here, on the same mailbox, delivery, entry policy,
//! bandwidth and limits as ours. The connection-level limits (per source, the handshake
//! deadline, the connection cap, the frame size) were applied before the first frame.
//!
//! Before authentication a refusal is an `error` frame (`handshakeError` inside the
//! registration handshake) and the connection closes. After it, Nym's client stops
//! receiving for good on an `error` frame or on a frame it cannot open, so a bad packet is
//! dropped, counted and logged, and only answers the client understands are sent
//! (`typedError` for a packet over the client's bandwidth).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rand_core::{OsRng, RngCore};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::{
    attach, blocking, now_ns, random32, write, BandwidthMode, ClientStream, Shared, Sink, Source,
    SourceHold, PUSH_QUEUE,
};
use crate::delivery::{send_ack, Inbound, Push};
use crate::rate::TokenBucket;
use crate::source_limits::SourceRefusal;
use crate::stats::{ClientRefusal, GatewayStats};
use crate::store::ClientId;
use gateway_protocol::handshake::SharedKey;
use gateway_protocol::nym::authenticate::{AuthError, AuthenticateV2};
use gateway_protocol::nym::frames::{self, PUSHED_MIX_MESSAGE};
use gateway_protocol::nym::handshake::{GatewayRegistration, Init, FINALIZATION};
use gateway_protocol::nym::messages::{bandwidth_field, TypedError};
use gateway_protocol::nym::{
    NymRequest, NymResponse, NymSharedKey, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
use gateway_protocol::ErrorKind;

/// Serves a Nym client whose first text frame was `first`.
pub(super) async fn serve<S: ClientStream>(
    mut sink: Sink<S>,
    mut source: Source<S>,
    first: String,
    shared: &Shared,
    peer: IpAddr,
    mut hold: SourceHold,
    deadline: Instant,
) {
    let opened =
        tokio::time::timeout_at(deadline, open(&mut sink, &mut source, first, shared, peer)).await;
    hold.handshake_done();
    let (client, key) = match opened {
        Ok(Some(parts)) => parts,
        Ok(None) => return,
        Err(_) => {
            refuse(
                &mut sink,
                shared,
                ErrorKind::NotAuthenticated,
                "no registration or authentication within the handshake timeout".into(),
            )
            .await;
            return;
        }
    };
    let (tx, rx) = mpsc::channel(PUSH_QUEUE);
    let Some((id, bandwidth)) = attach(shared, client, tx).await else {
        return;
    };
    tracing::debug!(%peer, client = %bs58::encode(client).into_string(), "Nym client authenticated");
    GatewayStats::add(&shared.stats.clients_connected, 1);
    let mut session = NymSession {
        shared,
        client,
        key,
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
        origin: Instant::now(),
        progress: false,
    };
    session.run(&mut sink, &mut source, rx).await;
    session.save_bandwidth().await;
    shared.online.detach(&client, id);
    shared
        .stats
        .clients_connected
        .fetch_sub(1, Ordering::Relaxed);
}

fn text(response: &NymResponse) -> Message {
    Message::text(response.to_json())
}

fn random12() -> [u8; 12] {
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// An `error` frame and the end of the connection (before authentication).
async fn refuse<S: ClientStream>(
    sink: &mut Sink<S>,
    shared: &Shared,
    kind: ErrorKind,
    message: String,
) {
    refuse_with(sink, shared, kind, NymResponse::error(message)).await;
}

/// `handshakeError` (what Nym's client reads during registration) and the end.
async fn refuse_handshake<S: ClientStream>(
    sink: &mut Sink<S>,
    shared: &Shared,
    kind: ErrorKind,
    message: String,
) {
    refuse_with(sink, shared, kind, NymResponse::HandshakeError { message }).await;
}

async fn refuse_with<S: ClientStream>(
    sink: &mut Sink<S>,
    shared: &Shared,
    kind: ErrorKind,
    response: NymResponse,
) {
    shared.stats.count_error(kind);
    tracing::debug!(kind = kind.label(), response = %response.to_json(), "Nym client refused");
    if write(sink, text(&response)).await.is_ok() {
        let close = CloseFrame {
            code: CloseCode::Policy,
            reason: kind.label().into(),
        };
        let _ = write(sink, Message::Close(Some(close))).await;
    }
}

/// The next text frame before authentication; anything but text (pings aside) is refused.
async fn next_text<S: ClientStream>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    shared: &Shared,
) -> Option<String> {
    loop {
        match source.next().await? {
            Ok(Message::Text(text)) => return Some(text.as_str().to_string()),
            Ok(Message::Binary(_)) => {
                refuse(
                    sink,
                    shared,
                    ErrorKind::NotAuthenticated,
                    "register or authenticate before sending packets".into(),
                )
                .await;
                return None;
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            // pings are answered by the websocket layer (Nym's latency probe sends them)
            Ok(_) => continue,
        }
    }
}

fn parse(text: &str) -> Result<NymRequest, String> {
    serde_json::from_str(text).map_err(|e| format!("not a request: {e}"))
}

/// Negotiation, then registration or authentication: the client and its key.
async fn open<S: ClientStream>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    first: String,
    shared: &Shared,
    peer: IpAddr,
) -> Option<(ClientId, NymSharedKey)> {
    let mut frame = first;
    loop {
        let request = match parse(&frame) {
            Ok(request) => request,
            Err(message) => {
                refuse(sink, shared, ErrorKind::BadRequest, message).await;
                return None;
            }
        };
        match request {
            NymRequest::SupportedProtocol {} => {
                let answer = NymResponse::SupportedProtocol {
                    version: PROTOCOL_VERSION,
                };
                write(sink, text(&answer)).await.ok()?;
            }
            NymRequest::HandshakePayload {
                protocol_version,
                data,
            } => return register(sink, source, shared, peer, protocol_version, &data).await,
            NymRequest::AuthenticateV2(request) => {
                return authenticate(sink, shared, &request).await
            }
            _ => {
                refuse(
                    sink,
                    shared,
                    ErrorKind::NotAuthenticated,
                    "before authentication only supportedProtocol, a registration handshake \
                     or authenticateV2"
                        .into(),
                )
                .await;
                return None;
            }
        }
        frame = next_text(sink, source, shared).await?;
    }
}

/// The registration handshake from its first message; the key is stored once the client's
/// third message proves it holds its identity and the new key.
async fn register<S: ClientStream>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    shared: &Shared,
    peer: IpAddr,
    client_version: u8,
    init: &[u8],
) -> Option<(ClientId, NymSharedKey)> {
    let version = client_version.min(PROTOCOL_VERSION);
    if version < MIN_PROTOCOL_VERSION {
        let message = format!(
            "protocol version {client_version} is not supported: this gateway speaks \
             {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
        );
        refuse_handshake(sink, shared, ErrorKind::BadRequest, message).await;
        return None;
    }
    let init = match Init::parse(init) {
        Ok(init) => init,
        Err(error) => {
            refuse_handshake(sink, shared, ErrorKind::BadRequest, error.to_string()).await;
            return None;
        }
    };
    let allowed = shared.sources().register(peer, now_ns(shared.origin));
    if let Err(SourceRefusal::Registrations(wait)) = allowed {
        shared
            .stats
            .count_refusal(ClientRefusal::SourceRegistrations);
        let message = format!(
            "this address registered too often; the next registration is possible in {} s",
            wait.as_secs() + 1
        );
        refuse_handshake(sink, shared, ErrorKind::TooManyRegistrations, message).await;
        return None;
    }
    let (state, material) =
        match GatewayRegistration::respond(&shared.identity, &init, random32(), random12()) {
            Ok(parts) => parts,
            Err(error) => {
                refuse_handshake(sink, shared, ErrorKind::BadRequest, error.to_string()).await;
                return None;
            }
        };
    let payload = |data: Vec<u8>| NymResponse::HandshakePayload {
        protocol_version: version,
        data,
    };
    write(sink, text(&payload(material))).await.ok()?;
    let reply = next_text(sink, source, shared).await?;
    let data = match parse(&reply) {
        Ok(NymRequest::HandshakePayload { data, .. }) => data,
        Ok(NymRequest::HandshakeError { message }) => {
            tracing::debug!(%message, "a Nym client gave up its registration");
            return None;
        }
        Ok(_) => {
            let message = "the registration handshake expects its third message".to_string();
            refuse_handshake(sink, shared, ErrorKind::BadRequest, message).await;
            return None;
        }
        Err(message) => {
            refuse_handshake(sink, shared, ErrorKind::BadRequest, message).await;
            return None;
        }
    };
    let (identity, key) = match state.finish(&data) {
        Ok(parts) => parts,
        Err(error) => {
            refuse_handshake(sink, shared, ErrorKind::BadSignature, error.to_string()).await;
            return None;
        }
    };
    let client: ClientId = identity.to_bytes();
    let store = shared.store.clone();
    let stored_key = SharedKey::from_bytes(*key.as_bytes());
    let now = crate::now_ms();
    if let Err((kind, message)) = blocking(move || store.register(&client, &stored_key, now)).await
    {
        refuse_handshake(sink, shared, kind, message).await;
        return None;
    }
    write(sink, text(&payload(FINALIZATION.to_vec())))
        .await
        .ok()?;
    let registered = NymResponse::Register {
        protocol_version: version,
        status: true,
        upgrade_mode: false,
    };
    write(sink, text(&registered)).await.ok()?;
    Some((client, key))
}

/// A returning client: its request checked against the stored key and the last time
/// accepted for it (in the database, so a request is good once, across restarts).
async fn authenticate<S: ClientStream>(
    sink: &mut Sink<S>,
    shared: &Shared,
    request: &AuthenticateV2,
) -> Option<(ClientId, NymSharedKey)> {
    let now = crate::now_ms();
    let window = (shared.settings.auth_window_ms / 1000).max(1);
    let refused = |error: &AuthError| match error {
        AuthError::Stale { .. } => ErrorKind::Stale,
        AuthError::Replayed { .. } => ErrorKind::Replayed,
        AuthError::Signature => ErrorKind::BadSignature,
        AuthError::WrongKey => ErrorKind::UnknownClient,
        _ => ErrorKind::BadRequest,
    };
    let identity = match request.check(now / 1000, window) {
        Ok(identity) => identity,
        Err(error) => {
            refuse(sink, shared, refused(&error), error.to_string()).await;
            return None;
        }
    };
    let client: ClientId = identity.to_bytes();
    let store = shared.store.clone();
    let record = match blocking(move || store.client(&client)).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            let message = "failed to authenticate: the client is not registered here".into();
            refuse(sink, shared, ErrorKind::UnknownClient, message).await;
            return None;
        }
        Err((kind, message)) => {
            refuse(sink, shared, kind, message).await;
            return None;
        }
    };
    let key = NymSharedKey::from_bytes(*record.shared.as_bytes());
    let time = match request.check_with(&key, None) {
        Ok(time) => time,
        Err(error) => {
            refuse(sink, shared, refused(&error), error.to_string()).await;
            return None;
        }
    };
    let store = shared.store.clone();
    match blocking(move || store.nym_authenticate(&client, time, now)).await {
        Ok(Ok(())) => {}
        Ok(Err(last)) => {
            let error = AuthError::Replayed { time, last };
            refuse(sink, shared, ErrorKind::Replayed, error.to_string()).await;
            return None;
        }
        Err((kind, message)) => {
            refuse(sink, shared, kind, message).await;
            return None;
        }
    }
    let bandwidth = super::bandwidth_now(shared, &client, record.bandwidth);
    let answer = NymResponse::Authenticate {
        protocol_version: request.protocol_version,
        status: true,
        bandwidth_remaining: bandwidth_field(bandwidth),
        upgrade_mode: false,
    };
    write(sink, text(&answer)).await.ok()?;
    Some((client, key))
}

/// An authenticated Nym client.
struct NymSession<'a> {
    shared: &'a Shared,
    client: ClientId,
    key: NymSharedKey,
    bandwidth: Arc<AtomicU64>,
    saved_bandwidth: u64,
    bucket: TokenBucket,
    controls: TokenBucket,
    origin: Instant,
    /// Whether the frame being handled made progress (resets the idle timer).
    progress: bool,
}

impl NymSession<'_> {
    async fn run<S: ClientStream>(
        &mut self,
        sink: &mut Sink<S>,
        source: &mut Source<S>,
        mut pushes: mpsc::Receiver<Push>,
    ) {
        let mut persist = tokio::time::interval(Duration::from_secs(5));
        let idle = Duration::from_millis(self.shared.settings.idle_timeout_ms);
        let mut idle_deadline = Instant::now() + idle;
        let mut open = self.drain_mailbox(sink).await;
        while open {
            open = tokio::select! {
                message = source.next() => match message {
                    None | Some(Ok(Message::Close(_))) | Some(Err(_)) => false,
                    Some(Ok(Message::Text(request))) => self.on_text(sink, request.as_str()).await,
                    Some(Ok(Message::Binary(frame))) => {
                        self.progress = false;
                        let open = self.on_packet(sink, &frame).await;
                        if self.progress {
                            idle_deadline = Instant::now() + idle;
                        }
                        open
                    }
                    Some(Ok(_)) => true,
                },
                push = pushes.recv() => match push {
                    Some(Push::Live(item)) => self.deliver(sink, item).await,
                    Some(Push::MailboxReady) => self.drain_mailbox(sink).await,
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
        super::to_mailbox(self.shared, items).await;
    }

    /// One delivered message per frame, sealed under the client's key.
    fn seal(&self, bytes: &[u8]) -> Message {
        Message::binary(frames::seal(
            &self.key,
            PUSHED_MIX_MESSAGE,
            random12(),
            bytes,
        ))
    }

    /// Writes a live delivery, then sends its ack; a failed write sends it to the mailbox.
    async fn deliver<S: ClientStream>(&mut self, sink: &mut Sink<S>, item: Inbound) -> bool {
        if write(sink, self.seal(&item.bytes)).await.is_ok() {
            GatewayStats::add(&self.shared.stats.delivered_live, 1);
            let shared = self.shared;
            send_ack(&shared.forwarder, &shared.policy, &shared.stats, item.ack);
            return true;
        }
        GatewayStats::add(&self.shared.stats.connections_timed_out, 1);
        self.to_mailbox(vec![item]).await;
        false
    }

    /// Sends everything stored for the client, batch by batch, deleting each batch once it
    /// is written (Nym's client does not confirm what it received).
    async fn drain_mailbox<S: ClientStream>(&mut self, sink: &mut Sink<S>) -> bool {
        let mut from = 0;
        loop {
            let store = self.shared.store.clone();
            let (client, limit) = (self.client, self.shared.mailbox_batch);
            let Ok(batch) = blocking(move || store.pending(&client, from, limit)).await else {
                return false;
            };
            if batch.is_empty() {
                return true;
            }
            let mut ids = Vec::with_capacity(batch.len());
            for item in &batch {
                if write(sink, self.seal(&item.bytes)).await.is_err() {
                    GatewayStats::add(&self.shared.stats.connections_timed_out, 1);
                    return false;
                }
                ids.push(item.id);
                from = item.id + 1;
            }
            let store = self.shared.store.clone();
            let Ok(removed) = blocking(move || store.remove(&client, &ids)).await else {
                return false;
            };
            GatewayStats::add(&self.shared.stats.delivered_from_mailbox, removed);
            let gauge = &self.shared.stats.mailbox_messages;
            let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(removed))
            });
            if batch.len() < limit {
                return true;
            }
        }
    }

    /// A text request once authenticated. Refusals are `error` frames, which Nym's client
    /// only reads while it waits for an answer; the connection stays.
    async fn on_text<S: ClientStream>(&mut self, sink: &mut Sink<S>, request: &str) -> bool {
        while let Some(wait) = self.controls.take(now_ns(self.origin)) {
            self.shared.stats.count_refusal(ClientRefusal::ControlRate);
            tokio::time::sleep(wait).await;
        }
        let answer = match parse(request) {
            Ok(NymRequest::SupportedProtocol {}) => NymResponse::SupportedProtocol {
                version: PROTOCOL_VERSION,
            },
            Ok(NymRequest::ClaimFreeTestnetBandwidth) => self.claim().await,
            Ok(NymRequest::EncryptedRequest { .. }) => {
                // forget-me / remember-me: Nym's statistics and data-removal requests; this
                // gateway keeps no statistics per client. Sent without waiting for an answer.
                return true;
            }
            Ok(NymRequest::HandshakePayload { .. } | NymRequest::AuthenticateV2(_)) => {
                self.shared
                    .stats
                    .count_error(ErrorKind::AlreadyAuthenticated);
                NymResponse::error("this connection is already authenticated")
            }
            Ok(_) => {
                self.shared.stats.count_error(ErrorKind::CredentialRefused);
                NymResponse::error(
                    "this gateway does not take Nym's credentials (e-cash, upgrade-mode \
                     tokens); ask for free bandwidth where the gateway grants it",
                )
            }
            Err(message) => {
                self.shared.stats.count_error(ErrorKind::BadRequest);
                NymResponse::error(message)
            }
        };
        write(sink, text(&answer)).await.is_ok()
    }

    /// `claimFreeTestnetBandwidth`: unlimited on a gateway that is free for testing, the
    /// configured grant on one that charges, or a refusal when it grants none.
    async fn claim(&mut self) -> NymResponse {
        let total = match &self.shared.bandwidth {
            BandwidthMode::FreeForTesting => u64::MAX,
            BandwidthMode::Credentials(_) => {
                let grant = self.shared.settings.nym_free_testnet_bandwidth_bytes;
                if grant == 0 {
                    self.shared.stats.count_error(ErrorKind::CredentialRefused);
                    return NymResponse::error(
                        "this gateway grants no free bandwidth to Nym clients and does not \
                         take Nym's e-cash credentials",
                    );
                }
                let previous = self
                    .bandwidth
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        Some(left.saturating_add(grant))
                    })
                    .unwrap_or_default();
                self.progress = true;
                self.save_bandwidth().await;
                previous.saturating_add(grant)
            }
        };
        NymResponse::Bandwidth {
            available_total: bandwidth_field(total),
            upgrade_mode: false,
        }
    }

    /// A packet to forward. Anything wrong with it drops it (counted and logged): an error
    /// frame would stop the client's receiving.
    async fn on_packet<S: ClientStream>(&mut self, sink: &mut Sink<S>, frame: &[u8]) -> bool {
        let drop = |kind: ErrorKind, why: String| {
            self.shared.stats.count_error(kind);
            tracing::debug!(client = %bs58::encode(self.client).into_string(), %why, "dropped a Nym client's frame");
            true
        };
        let (kind, body) = match frames::open(&self.key, frame) {
            Ok(opened) => opened,
            Err(error) => return drop(ErrorKind::BadFrame, error.to_string()),
        };
        let packet = match frames::parse_forward(kind, &body) {
            Ok(packet) => packet,
            Err(error) => return drop(ErrorKind::BadFrame, error.to_string()),
        };
        if !self.shared.policy.allows(&packet.first_hop) {
            let why = format!(
                "{} is not a layer-1 mixnode of the topology",
                packet.first_hop
            );
            return drop(ErrorKind::NotInTopology, why);
        }
        let cost = packet.size.size() as u64;
        let free = matches!(self.shared.bandwidth, BandwidthMode::FreeForTesting);
        if !free {
            let debited =
                self.bandwidth
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(cost)
                    });
            if debited.is_err() {
                self.shared.stats.count_error(ErrorKind::OutOfBandwidth);
                let answer = NymResponse::TypedError {
                    error: TypedError::OutOfBandwidth {
                        required: bandwidth_field(cost),
                        available: bandwidth_field(self.bandwidth.load(Ordering::Relaxed)),
                    },
                };
                return write(sink, text(&answer)).await.is_ok();
            }
        }
        while let Some(wait) = self.bucket.take(now_ns(self.origin)) {
            tokio::time::sleep(wait).await;
        }
        match self
            .shared
            .forwarder
            .send(packet.first_hop, packet.key_rotation, packet.packet)
        {
            Ok(()) => {
                self.progress = true;
                GatewayStats::add(&self.shared.stats.client_packets_forwarded, 1);
                if !free {
                    GatewayStats::add(&self.shared.stats.bandwidth_debited_bytes, cost);
                }
                true
            }
            Err(error) => {
                if !free {
                    self.bandwidth.fetch_add(cost, Ordering::Relaxed);
                }
                drop(ErrorKind::Busy, error.to_string())
            }
        }
    }

    async fn save_bandwidth(&mut self) {
        super::save_bandwidth(
            self.shared,
            self.client,
            &self.bandwidth,
            &mut self.saved_bandwidth,
        )
        .await;
    }
}
