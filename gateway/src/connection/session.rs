//! An authenticated connection: packets and controls in, deliveries and the mailbox out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::{
    blocking, fail, now_ns, reject_read_error, write, BandwidthMode, ClientStream, Shared, Sink,
    Source,
};
use crate::delivery::{send_ack, Inbound, Push};
use crate::forwarder::ForwardError;
use crate::rate::TokenBucket;
use crate::stats::{ClientRefusal, GatewayStats};
use crate::store::ClientId;
use gateway_protocol::{
    ClientControl, ClientFrame, ErrorKind, GatewayControl, GatewayFrame, SessionCipher,
};

/// An authenticated, key-confirmed connection.
pub(super) struct Session<'a> {
    pub(super) shared: &'a Shared,
    pub(super) client: ClientId,
    pub(super) cipher: SessionCipher,
    pub(super) bandwidth: Arc<AtomicU64>,
    pub(super) saved_bandwidth: u64,
    pub(super) bucket: TokenBucket,
    /// The control requests' rate.
    pub(super) controls: TokenBucket,
    /// Credentials refused on this connection.
    pub(super) refused_credentials: u32,
    /// Whether the frame being handled made progress (resets the idle timer).
    pub(super) progress: bool,
    pub(super) origin: Instant,
    pub(super) outstanding: Vec<u64>,
    pub(super) next_stored: u64,
}

impl Session<'_> {
    pub(super) async fn run<S: ClientStream>(
        &mut self,
        sink: &mut Sink<S>,
        source: &mut Source<S>,
        mut pushes: mpsc::Receiver<Push>,
    ) {
        let mut persist = tokio::time::interval(Duration::from_secs(5));
        let idle = Duration::from_millis(self.shared.settings.idle_timeout_ms);
        let mut idle_deadline = tokio::time::Instant::now() + idle;
        let mut open = self.send_stored_batch(sink).await.is_ok();
        while open {
            open = tokio::select! {
                // Only progress resets the idle timer: pings, pongs and no-op requests do not,
                // so a client cannot hold its slot by sending them.
                message = source.next() => {
                    match message {
                        None | Some(Ok(Message::Close(_))) => false,
                        Some(Ok(Message::Text(_))) => {
                            self.fail(sink, ErrorKind::BadRequest, "after the handshake, requests are sealed binary frames".into()).await
                        }
                        Some(Ok(Message::Binary(frame))) => {
                            self.progress = false;
                            let open = self.on_binary(sink, &frame).await;
                            if self.progress {
                                idle_deadline = tokio::time::Instant::now() + idle;
                            }
                            open
                        }
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
        super::to_mailbox(self.shared, items).await;
    }

    async fn fail<S: ClientStream>(
        &self,
        sink: &mut Sink<S>,
        kind: ErrorKind,
        message: String,
    ) -> bool {
        let sent = fail(sink, &self.shared.stats, kind, message).await;
        sent.is_ok() && !kind.is_fatal()
    }

    async fn on_control<S: ClientStream>(&mut self, sink: &mut Sink<S>, json: &[u8]) -> bool {
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
        // Controls have their own rate: a client over it is not read until a token is there.
        while let Some(wait) = self.controls.take(now_ns(self.origin)) {
            self.shared.stats.count_refusal(ClientRefusal::ControlRate);
            tokio::time::sleep(wait).await;
        }
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
                        self.progress = true;
                        self.saved_bandwidth = remaining;
                        write(
                            sink,
                            Message::text(GatewayControl::Bandwidth { remaining }.to_json()),
                        )
                        .await
                        .is_ok()
                    }
                    Err((kind, message)) => self.credential_refused(sink, kind, message).await,
                }
            }
        }
    }

    /// Tells the client its credential was refused; the `max_refused_credentials`-th refused
    /// credential of a connection closes it.
    async fn credential_refused<S: ClientStream>(
        &mut self,
        sink: &mut Sink<S>,
        kind: ErrorKind,
        message: String,
    ) -> bool {
        if !matches!(
            kind,
            ErrorKind::CredentialRefused | ErrorKind::CredentialSpent
        ) {
            return self.fail(sink, kind, message).await;
        }
        self.refused_credentials += 1;
        let most = self.shared.settings.max_refused_credentials;
        if self.refused_credentials < most {
            return self.fail(sink, kind, message).await;
        }
        self.shared
            .stats
            .count_refusal(ClientRefusal::RefusedCredentials);
        self.fail(
            sink,
            ErrorKind::TooManyRefusedCredentials,
            format!(
                "{most} credentials refused on this connection (the last: {}: {message}); \
                 closing it",
                kind.label()
            ),
        )
        .await
    }

    async fn on_received<S: ClientStream>(&mut self, sink: &mut Sink<S>, ids: Vec<u64>) -> bool {
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
                    self.progress |= removed > 0;
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
    async fn send_stored_batch<S: ClientStream>(&mut self, sink: &mut Sink<S>) -> Result<(), ()> {
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
    async fn deliver<S: ClientStream>(&mut self, sink: &mut Sink<S>, item: Inbound) -> bool {
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

    async fn on_binary<S: ClientStream>(&mut self, sink: &mut Sink<S>, sealed: &[u8]) -> bool {
        let opened = match self.cipher.open(sealed) {
            Ok(opened) => opened,
            Err(error) => {
                return self
                    .fail(sink, ErrorKind::BadFrame, error.to_string())
                    .await
            }
        };
        let (first_hop, size, key_rotation, packet) = match ClientFrame::decode(&opened) {
            Ok(ClientFrame::Packet {
                first_hop,
                size,
                key_rotation,
                packet,
            }) => (first_hop, size, key_rotation, packet),
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
        }
        while let Some(wait) = self.bucket.take(now_ns(self.origin)) {
            tokio::time::sleep(wait).await;
        }
        match self.shared.forwarder.send(first_hop, key_rotation, packet) {
            Ok(()) => {
                self.progress = true;
                GatewayStats::add(&self.shared.stats.client_packets_forwarded, 1);
                if !free {
                    GatewayStats::add(&self.shared.stats.bandwidth_debited_bytes, cost);
                }
                true
            }
            Err(error) => {
                // Not sent, so not paid for.
                if !free {
                    self.bandwidth.fetch_add(cost, Ordering::Relaxed);
                }
                let (kind, message) = match error {
                    ForwardError::QueueFull(_) => (
                        ErrorKind::Busy,
                        format!("the queue to {first_hop} is full; packet not sent"),
                    ),
                    ForwardError::Size(_) => (ErrorKind::BadFrame, error.to_string()),
                };
                self.fail(sink, kind, message).await
            }
        }
    }

    pub(super) async fn save_bandwidth(&mut self) {
        super::save_bandwidth(
            self.shared,
            self.client,
            &self.bandwidth,
            &mut self.saved_bandwidth,
        )
        .await;
    }
}
