//! The gateway's own counters, rendered after the engine's in the Prometheus text.
//!
//! Every refusal and every drop has a typed reason with one label (DESIGN §6.4):
//! [`ErrorKind`] for what a client is told, [`ExitDrop`] for last-hop packets the gateway
//! could not deliver, [`ClientRefusal`] for what the client port's abuse limits refused or
//! slowed down (some of which the client is never told: a refusal before the websocket
//! upgrade is an HTTP 429).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use gateway_protocol::ErrorKind;

/// Why a packet that reached its last hop here was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitDrop {
    /// The payload's padding or integrity prefix is wrong.
    BadPayload,
    /// The SURB-ACK at its front does not parse.
    BadSurbAck,
    /// The delivery queue to the client side is full.
    DeliveryQueueFull,
    /// Nobody registered with this identity here.
    UnknownRecipient,
    /// The recipient's mailbox is full.
    MailboxFull,
    /// The recipient is offline and holds no bandwidth: it gets no mailbox space.
    RecipientWithoutBandwidth,
    /// The database failed.
    StoreFailed,
}

impl ExitDrop {
    const ALL: [ExitDrop; 7] = [
        ExitDrop::BadPayload,
        ExitDrop::BadSurbAck,
        ExitDrop::DeliveryQueueFull,
        ExitDrop::UnknownRecipient,
        ExitDrop::MailboxFull,
        ExitDrop::RecipientWithoutBandwidth,
        ExitDrop::StoreFailed,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ExitDrop::BadPayload => "bad_payload",
            ExitDrop::BadSurbAck => "bad_surb_ack",
            ExitDrop::DeliveryQueueFull => "delivery_queue_full",
            ExitDrop::UnknownRecipient => "unknown_recipient",
            ExitDrop::MailboxFull => "mailbox_full",
            ExitDrop::RecipientWithoutBandwidth => "recipient_without_bandwidth",
            ExitDrop::StoreFailed => "store_failed",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }
}

/// What the client port's abuse limits refused or slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientRefusal {
    /// A connection over the gateway's limit (`max_connections`).
    ConnectionLimit,
    /// A connection over its source's limit (`max_connections_per_source`).
    SourceConnections,
    /// A connection over its source's handshakes in progress (`max_handshakes_per_source`).
    SourceHandshakes,
    /// A registration over its source's allowance.
    SourceRegistrations,
    /// A registration without enough proof of work.
    RegistrationWork,
    /// A connection closed after too many refused credentials.
    RefusedCredentials,
    /// A credential refused `busy`: no check slot within the wait.
    CredentialChecksBusy,
    /// A control request held back by its connection's control rate.
    ControlRate,
    /// A TLS handshake that failed (not TLS, or the client refused our certificate).
    TlsHandshake,
    /// A TLS handshake not done within `handshake_timeout_ms`.
    TlsTimeout,
}

impl ClientRefusal {
    const ALL: [ClientRefusal; 10] = [
        ClientRefusal::ConnectionLimit,
        ClientRefusal::SourceConnections,
        ClientRefusal::SourceHandshakes,
        ClientRefusal::SourceRegistrations,
        ClientRefusal::RegistrationWork,
        ClientRefusal::RefusedCredentials,
        ClientRefusal::CredentialChecksBusy,
        ClientRefusal::ControlRate,
        ClientRefusal::TlsHandshake,
        ClientRefusal::TlsTimeout,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ClientRefusal::ConnectionLimit => "connection_limit",
            ClientRefusal::SourceConnections => "source_connections",
            ClientRefusal::SourceHandshakes => "source_handshakes",
            ClientRefusal::SourceRegistrations => "source_registrations",
            ClientRefusal::RegistrationWork => "registration_work",
            ClientRefusal::RefusedCredentials => "refused_credentials",
            ClientRefusal::CredentialChecksBusy => "credential_checks_busy",
            ClientRefusal::ControlRate => "control_rate",
            ClientRefusal::TlsHandshake => "tls_handshake",
            ClientRefusal::TlsTimeout => "tls_timeout",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }
}

const ERROR_KINDS: [ErrorKind; 19] = [
    ErrorKind::BadRequest,
    ErrorKind::NotAuthenticated,
    ErrorKind::AlreadyAuthenticated,
    ErrorKind::Stale,
    ErrorKind::Replayed,
    ErrorKind::UnknownClient,
    ErrorKind::BadSignature,
    ErrorKind::BadFrame,
    ErrorKind::FrameTooLarge,
    ErrorKind::CredentialRefused,
    ErrorKind::CredentialSpent,
    ErrorKind::OutOfBandwidth,
    ErrorKind::NotInTopology,
    ErrorKind::TooManyConnections,
    ErrorKind::Busy,
    ErrorKind::WorkRequired,
    ErrorKind::TooManyRegistrations,
    ErrorKind::TooManyRefusedCredentials,
    ErrorKind::Internal,
];

/// Counters and gauges shared by the gateway's tasks.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// Open authenticated client connections.
    pub clients_connected: AtomicU64,
    /// Packets from clients sent on to layer 1.
    pub client_packets_forwarded: AtomicU64,
    /// Messages and acks pushed to an online client.
    pub delivered_live: AtomicU64,
    /// Messages and acks committed to the mailbox.
    pub stored: AtomicU64,
    /// Stored messages a client confirmed (and that were deleted).
    pub delivered_from_mailbox: AtomicU64,
    /// Messages purged for age.
    pub purged: AtomicU64,
    /// Messages waiting in the mailbox (gauge).
    pub mailbox_messages: AtomicU64,
    /// SURB-ACKs sent into the mixnet.
    pub acks_sent: AtomicU64,
    /// SURB-ACKs not sent: their first hop is outside the topology.
    pub acks_refused: AtomicU64,
    /// Connections closed for idling or not reading.
    pub connections_timed_out: AtomicU64,
    /// Credentials redeemed.
    pub credentials_redeemed: AtomicU64,
    /// Bandwidth credited by credentials, bytes.
    pub bandwidth_credited_bytes: AtomicU64,
    /// Bandwidth used by forwarded packets, bytes.
    pub bandwidth_debited_bytes: AtomicU64,
    /// Packets dropped towards layer 1 (queue full, connection lost).
    pub forward_dropped: AtomicU64,
    /// Registrations accepted (new identities stored).
    pub registrations: AtomicU64,
    /// Registrations deleted unused.
    pub registrations_expired: AtomicU64,
    errors: [AtomicU64; 19],
    exit_drops: [AtomicU64; 7],
    refusals: [AtomicU64; ClientRefusal::ALL.len()],
}

/// A counter or gauge with no labels: name, type, help, and where its value is.
type PlainSeries = (
    &'static str,
    &'static str,
    &'static str,
    fn(&GatewayStats) -> &AtomicU64,
);

/// The gateway's series without labels, in the order they are rendered.
const PLAIN_SERIES: [PlainSeries; 16] = [
    (
        "gateway_clients_connected",
        "gauge",
        "Authenticated client connections.",
        |s| &s.clients_connected,
    ),
    (
        "gateway_client_packets_forwarded_total",
        "counter",
        "Client packets sent to layer 1.",
        |s| &s.client_packets_forwarded,
    ),
    (
        "gateway_delivered_live_total",
        "counter",
        "Messages and acks pushed to online clients.",
        |s| &s.delivered_live,
    ),
    (
        "gateway_stored_total",
        "counter",
        "Messages and acks committed to the mailbox.",
        |s| &s.stored,
    ),
    (
        "gateway_delivered_from_mailbox_total",
        "counter",
        "Stored messages confirmed by their client.",
        |s| &s.delivered_from_mailbox,
    ),
    (
        "gateway_purged_total",
        "counter",
        "Stored messages purged for age.",
        |s| &s.purged,
    ),
    (
        "gateway_mailbox_messages",
        "gauge",
        "Messages waiting in the mailbox.",
        |s| &s.mailbox_messages,
    ),
    (
        "gateway_acks_sent_total",
        "counter",
        "SURB-ACKs sent into the mixnet.",
        |s| &s.acks_sent,
    ),
    (
        "gateway_acks_refused_total",
        "counter",
        "SURB-ACKs not sent: their first hop is outside the topology.",
        |s| &s.acks_refused,
    ),
    (
        "gateway_connections_timed_out_total",
        "counter",
        "Client connections closed for idling or not reading.",
        |s| &s.connections_timed_out,
    ),
    (
        "gateway_credentials_redeemed_total",
        "counter",
        "Bandwidth credentials redeemed.",
        |s| &s.credentials_redeemed,
    ),
    (
        "gateway_bandwidth_credited_bytes_total",
        "counter",
        "Bandwidth credited by credentials.",
        |s| &s.bandwidth_credited_bytes,
    ),
    (
        "gateway_bandwidth_debited_bytes_total",
        "counter",
        "Bandwidth used by forwarded packets.",
        |s| &s.bandwidth_debited_bytes,
    ),
    (
        "gateway_forward_dropped_total",
        "counter",
        "Client packets and acks dropped towards layer 1.",
        |s| &s.forward_dropped,
    ),
    (
        "gateway_registrations_total",
        "counter",
        "New client identities registered.",
        |s| &s.registrations,
    ),
    (
        "gateway_registrations_expired_total",
        "counter",
        "Registrations deleted unused (no bandwidth, no mail, not seen for the expiry).",
        |s| &s.registrations_expired,
    ),
];

impl GatewayStats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an error sent to a client.
    pub fn count_error(&self, kind: ErrorKind) {
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == kind) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a last-hop packet not delivered, with one tracing event.
    pub fn count_exit_drop(&self, reason: ExitDrop, n: u64) {
        self.exit_drops[reason.index()].fetch_add(n, Ordering::Relaxed);
        tracing::debug!(reason = reason.label(), n, "last-hop packet dropped");
    }

    /// Counts what an abuse limit refused or slowed down, with one tracing event.
    pub fn count_refusal(&self, reason: ClientRefusal) {
        self.refusals[reason.index()].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(reason = reason.label(), "client refused by an abuse limit");
    }

    /// Refusals of this reason so far.
    pub fn refusals(&self, reason: ClientRefusal) -> u64 {
        self.refusals[reason.index()].load(Ordering::Relaxed)
    }

    /// Errors of this kind sent so far.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        ERROR_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.errors[i].load(Ordering::Relaxed))
    }

    /// Exit drops of this reason so far.
    pub fn exit_drops(&self, reason: ExitDrop) -> u64 {
        self.exit_drops[reason.index()].load(Ordering::Relaxed)
    }

    /// Appends the Prometheus text.
    pub fn render(&self, out: &mut String) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (name, kind, help, value) in PLAIN_SERIES {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                load(value(self))
            );
        }
        let _ = writeln!(out, "# HELP gateway_client_errors_total Errors sent to clients, by kind.\n# TYPE gateway_client_errors_total counter");
        for (kind, count) in ERROR_KINDS.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "gateway_client_errors_total{{kind=\"{}\"}} {}",
                kind.label(),
                load(count)
            );
        }
        let _ = writeln!(out, "# HELP gateway_client_refused_total Clients refused or slowed down by an abuse limit, by reason.\n# TYPE gateway_client_refused_total counter");
        for (reason, count) in ClientRefusal::ALL.iter().zip(&self.refusals) {
            let _ = writeln!(
                out,
                "gateway_client_refused_total{{reason=\"{}\"}} {}",
                reason.label(),
                load(count)
            );
        }
        let _ = writeln!(out, "# HELP gateway_exit_dropped_total Last-hop packets not delivered, by reason.\n# TYPE gateway_exit_dropped_total counter");
        for (reason, count) in ExitDrop::ALL.iter().zip(&self.exit_drops) {
            let _ = writeln!(
                out,
                "gateway_exit_dropped_total{{reason=\"{}\"}} {}",
                reason.label(),
                load(count)
            );
        }
    }
}
