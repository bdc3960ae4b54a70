//! The gateway link: a task that keeps one session open, reconnecting with backoff after a
//! drop (`core::gateway_session::Backoff`), and moves frames between it and the client's
//! driver over bounded channels.

use ed25519_dalek::{SigningKey, VerifyingKey};
use gateway_protocol::{ClientControl, DeliveryKind, ErrorKind, SharedKey};
use tokio::sync::mpsc;

use super::session::{Session, SessionError};
use crate::core::gateway_session::{answer_counts, link_step, Backoff, LinkStep};
use crate::core::Transmit;

/// What the driver sends the gateway.
#[derive(Debug)]
pub enum Outgoing {
    /// A packet.
    Packet(Transmit),
    /// Mailbox ids the client has.
    Received(Vec<u64>),
}

/// What the link tells the driver.
#[derive(Debug)]
pub enum LinkEvent {
    /// A session is up.
    Connected {
        /// Bandwidth left at the gateway.
        bandwidth: u64,
        /// Messages waiting in the mailbox.
        stored: u64,
    },
    /// A delivery.
    Delivery {
        /// Message or ack.
        kind: DeliveryKind,
        /// Mailbox id to confirm.
        stored_id: Option<u64>,
        /// Bytes.
        bytes: Vec<u8>,
    },
    /// A non-fatal error from the gateway (for example, out of bandwidth).
    GatewayError {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
    /// The session ended or could not be opened; the link retries.
    Disconnected(SessionError),
}

/// Who connects where.
pub struct LinkParams {
    /// The gateway's client URL.
    pub url: String,
    /// Our identity.
    pub identity: SigningKey,
    /// The gateway's identity.
    pub gateway: VerifyingKey,
    /// The registration key.
    pub shared: SharedKey,
}

/// Runs the link until the driver drops its sender.
pub async fn run_link(
    params: LinkParams,
    mut outgoing: mpsc::Receiver<Outgoing>,
    events: mpsc::Sender<LinkEvent>,
) {
    let mut backoff = Backoff::default();
    loop {
        let mut session = match Session::authenticate(
            &params.url,
            &params.identity,
            &params.gateway,
            &params.shared,
        )
        .await
        {
            Ok(s) => s,
            Err(reason) => {
                if events.send(LinkEvent::Disconnected(reason)).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff.failed()).await;
                continue;
            }
        };
        let up = tokio::time::Instant::now();
        let (bandwidth, stored) = answer_counts(&session.answer);
        if events
            .send(LinkEvent::Connected { bandwidth, stored })
            .await
            .is_err()
        {
            return;
        }
        let reason = loop {
            tokio::select! {
                out = outgoing.recv() => {
                    let sent = match out {
                        None => return,
                        Some(Outgoing::Packet(t)) => session.send_packet(&t.first_hop, t.key_rotation, &t.packet).await,
                        Some(Outgoing::Received(ids)) => {
                            session.send_control(&ClientControl::Received { ids }).await
                        }
                    };
                    if let Err(e) = sent {
                        break e;
                    }
                }
                incoming = session.next() => {
                    let step = match incoming {
                        Err(e) => break e,
                        Ok(incoming) => link_step(incoming),
                    };
                    let event = match step {
                        LinkStep::Deliver { kind, stored_id, bytes } => {
                            LinkEvent::Delivery { kind, stored_id, bytes }
                        }
                        LinkStep::Refusal { kind, message } => {
                            LinkEvent::GatewayError { kind, message }
                        }
                        LinkStep::Fatal { kind, message } => {
                            break SessionError::Fatal { kind, message };
                        }
                        LinkStep::Bandwidth(_) | LinkStep::Ignore => continue,
                    };
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
            }
        };
        if events.send(LinkEvent::Disconnected(reason)).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff.ended(up.elapsed())).await;
    }
}
