//! The client's side of a gateway session, without IO: what each websocket message from the
//! gateway means, and what a link that keeps a session open does about it. The native link
//! (tokio-tungstenite) and the browser's (the `client-wasm` crate, on the browser's
//! WebSocket) are both thin plumbing around these functions.
//!
//! The cryptography of the handshake is `gateway_protocol::handshake`; this module reads the
//! answers and the frames that follow.

use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use gateway_protocol::handshake::{
    start_authentication, start_registration, PendingAuthentication, PendingRegistration,
};
use gateway_protocol::{
    CipherError, DeliveryKind, ErrorKind, FrameError, GatewayControl, GatewayFrame, HandshakeError,
    SessionCipher, SharedKey,
};
use rand_core::{CryptoRng, RngCore};

/// A client's side of a handshake, between its request and the gateway's answer: register
/// (a new shared key) or authenticate (with the key from registration). The request goes as
/// the websocket's first text message; [`ClientHandshake::finish`] takes the answer.
pub struct ClientHandshake(Step);

enum Step {
    Register(PendingRegistration),
    Authenticate(PendingAuthentication, SharedKey),
}

/// An open session's keys: the cipher for its frames and the key shared with the gateway.
/// The client's first frame on it is `ClientControl::Ready`: the gateway starts delivering
/// after it.
pub struct Opened {
    /// The session's frame cipher.
    pub cipher: SessionCipher,
    /// The key shared with the gateway (new after a registration).
    pub shared: SharedKey,
}

impl ClientHandshake {
    /// A registration of `identity` at `gateway`, with `work` if the gateway asked for proof
    /// of work; returns the handshake and the request's JSON.
    pub fn register(
        identity: &SigningKey,
        gateway: &VerifyingKey,
        now_ms: u64,
        work: Option<u64>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> (ClientHandshake, String) {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let (pending, request) = start_registration(identity, gateway, secret, now_ms, work);
        (ClientHandshake(Step::Register(pending)), request.to_json())
    }

    /// An authentication of a registered client; returns the handshake and the request's
    /// JSON.
    pub fn authenticate(
        identity: &SigningKey,
        gateway: &VerifyingKey,
        shared: SharedKey,
        now_ms: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> (ClientHandshake, String) {
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let (pending, request) = start_authentication(identity, gateway, nonce, now_ms);
        let step = Step::Authenticate(pending, shared);
        (ClientHandshake(step), request.to_json())
    }

    /// Checks the gateway's accepting answer (read by [`handshake_answer`]) and opens the
    /// session.
    pub fn finish(self, answer: &GatewayControl) -> Result<Opened, HandshakeError> {
        let (shared, keys) = match self.0 {
            Step::Register(pending) => pending.finish(answer)?,
            Step::Authenticate(pending, shared) => {
                let keys = pending.finish(&shared, answer)?;
                (shared, keys)
            }
        };
        Ok(Opened {
            cipher: SessionCipher::client(&keys),
            shared,
        })
    }
}

/// Why the gateway's answer to a register or authenticate request is not an acceptance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The answer is not a control message.
    #[error("the gateway's answer: {0}")]
    BadAnswer(serde_json::Error),
    /// The gateway asks a registration for proof of work of `bits` bits.
    #[error("the gateway asks for proof of work of {bits} bits")]
    WorkRequired {
        /// How much.
        bits: u8,
    },
    /// The gateway refused the handshake.
    #[error("the gateway refused: {} ({message})", kind.label())]
    Refused {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
}

/// Reads the gateway's text answer to a handshake request: its control message, or why it
/// refused (proof of work asked for is its own case: the client may do it and ask again).
pub fn handshake_answer(text: &str) -> Result<GatewayControl, AnswerError> {
    let control: GatewayControl = serde_json::from_str(text).map_err(AnswerError::BadAnswer)?;
    match control {
        GatewayControl::Error {
            kind: ErrorKind::WorkRequired,
            work_bits: Some(bits),
            ..
        } => Err(AnswerError::WorkRequired { bits }),
        GatewayControl::Error { kind, message, .. } => Err(AnswerError::Refused { kind, message }),
        control => Ok(control),
    }
}

/// Does the proof of work a gateway asked a registration for (`bits` leading zero bits over
/// the gateway's and the client's identities), searching from `start`: `None` when it asks
/// for more than a client does ([`gateway_protocol::registration_work::MAX_WORK_BITS`]).
pub fn registration_work(
    gateway: &[u8; 32],
    client: &[u8; 32],
    bits: u8,
    start: u64,
) -> Option<u64> {
    if bits > gateway_protocol::registration_work::MAX_WORK_BITS {
        return None;
    }
    gateway_protocol::registration_work::solve(gateway, client, bits, start, u64::MAX)
}

/// The bandwidth left and the messages stored at the gateway, as its handshake answer says.
pub fn answer_counts(answer: &GatewayControl) -> (u64, u64) {
    match answer {
        GatewayControl::Registered {
            bandwidth, stored, ..
        }
        | GatewayControl::Authenticated {
            bandwidth, stored, ..
        } => (*bandwidth, *stored),
        _ => (0, 0),
    }
}

/// What the gateway sent on an open session.
#[derive(Debug)]
pub enum Incoming {
    /// A JSON control (an answer or an error).
    Control(GatewayControl),
    /// A message or ack; stored ones carry the mailbox id to confirm.
    Delivery {
        /// Message or ack.
        kind: DeliveryKind,
        /// The mailbox id, for stored deliveries.
        stored_id: Option<u64>,
        /// The bytes.
        bytes: Vec<u8>,
    },
}

/// Why a message from the gateway on an open session is unusable (the session must end).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncomingError {
    /// A sealed frame did not open.
    #[error("a frame from the gateway: {0}")]
    Open(CipherError),
    /// A frame opened but does not parse.
    #[error("a frame from the gateway: {0}")]
    Frame(FrameError),
    /// A text message is not a control message.
    #[error("a control from the gateway: {0}")]
    BadControl(serde_json::Error),
}

/// Reads a text message of an open session.
pub fn incoming_text(text: &str) -> Result<Incoming, IncomingError> {
    serde_json::from_str(text)
        .map(Incoming::Control)
        .map_err(IncomingError::BadControl)
}

/// Opens and reads a binary message of an open session.
pub fn incoming_binary(
    cipher: &mut SessionCipher,
    sealed: &[u8],
) -> Result<Incoming, IncomingError> {
    let opened = cipher.open(sealed).map_err(IncomingError::Open)?;
    let frame = GatewayFrame::decode(&opened).map_err(IncomingError::Frame)?;
    Ok(Incoming::Delivery {
        kind: frame.kind,
        stored_id: frame.stored_id,
        bytes: frame.bytes.to_vec(),
    })
}

/// What a link does with one message from the gateway.
#[derive(Debug)]
pub enum LinkStep {
    /// Hand a delivery to the client core (and confirm `stored_id` once it is there).
    Deliver {
        /// Message or ack.
        kind: DeliveryKind,
        /// The mailbox id to confirm.
        stored_id: Option<u64>,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The gateway holds this much bandwidth for the client now.
    Bandwidth(u64),
    /// A refusal after which the session goes on (out of bandwidth, busy).
    Refusal {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
    /// A refusal after which the gateway closes the session.
    Fatal {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
    /// Nothing to do (a late handshake answer).
    Ignore,
}

/// Classifies a message of an open session.
pub fn link_step(incoming: Incoming) -> LinkStep {
    match incoming {
        Incoming::Delivery {
            kind,
            stored_id,
            bytes,
        } => LinkStep::Deliver {
            kind,
            stored_id,
            bytes,
        },
        Incoming::Control(GatewayControl::Bandwidth { remaining }) => {
            LinkStep::Bandwidth(remaining)
        }
        Incoming::Control(GatewayControl::Error { kind, message, .. }) if kind.is_fatal() => {
            LinkStep::Fatal { kind, message }
        }
        Incoming::Control(GatewayControl::Error { kind, message, .. }) => {
            LinkStep::Refusal { kind, message }
        }
        Incoming::Control(_) => LinkStep::Ignore,
    }
}

/// The wait between reconnection attempts: doubles from [`Backoff::MIN`] after each failed
/// attempt up to [`Backoff::MAX`], and starts again from the minimum only after a session
/// that lasted [`Backoff::STABLE`]: a gateway that accepts and then drops at once (or another
/// connection of the same client that keeps taking its place) is not hammered.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Self::MIN }
    }
}

impl Backoff {
    /// The first wait.
    pub const MIN: Duration = Duration::from_millis(200);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_secs(10);
    /// How long a session must have lasted for the next wait to be the minimum again.
    pub const STABLE: Duration = Duration::from_secs(10);

    /// How long to wait before the next attempt, after one failed.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    /// How long to wait before the next attempt, after a session that was up for `lived`
    /// ended.
    pub fn ended(&mut self, lived: Duration) -> Duration {
        if lived >= Self::STABLE {
            self.next = Self::MIN;
        }
        self.failed()
    }
}

/// How long after an epoch's end the next topology is fetched (so the validators serve the
/// new one).
pub const EPOCH_TURN_MARGIN: Duration = Duration::from_millis(50);

/// When to fetch the topology next: every refresh period, and just after the current
/// topology's epoch ends (a new epoch may bring a key rotation whose keys packets must be
/// built with from its start). Past the end with nothing new yet (validators late, an epoch
/// that cannot route, a clock ahead of theirs), fetches back off from
/// [`RefreshSchedule::RETRY`] doubling up to the refresh period instead of repeating every
/// few milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct RefreshSchedule {
    refresh: Duration,
    retry: Duration,
}

impl RefreshSchedule {
    /// The first wait once an epoch's end has passed without a new topology.
    pub const RETRY: Duration = Duration::from_millis(250);

    /// A schedule with this refresh period.
    pub fn new(refresh: Duration) -> RefreshSchedule {
        RefreshSchedule {
            refresh,
            retry: Self::RETRY,
        }
    }

    /// How long to wait before the next fetch, with the current topology valid until
    /// `valid_until_ms` and the wall clock at `now_ms`.
    pub fn next_wait(&mut self, valid_until_ms: u64, now_ms: u64) -> Duration {
        if now_ms < valid_until_ms {
            self.retry = Self::RETRY;
            let to_end = Duration::from_millis(valid_until_ms - now_ms);
            return self.refresh.min(to_end + EPOCH_TURN_MARGIN);
        }
        let wait = self.retry.min(self.refresh);
        self.retry = (self.retry * 2).min(self.refresh);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_acceptances_work_or_refusals() {
        let work = r#"{"type":"error","kind":"work_required","message":"m","work_bits":12}"#;
        assert!(matches!(
            handshake_answer(work),
            Err(AnswerError::WorkRequired { bits: 12 })
        ));
        let refused = r#"{"type":"error","kind":"stale","message":"old"}"#;
        match handshake_answer(refused) {
            Err(AnswerError::Refused { kind, message }) => {
                assert_eq!(kind, ErrorKind::Stale);
                assert_eq!(message, "old");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            handshake_answer("{"),
            Err(AnswerError::BadAnswer(_))
        ));
        let ok = GatewayControl::Bandwidth { remaining: 7 };
        let text = serde_json::to_string(&ok).unwrap();
        assert!(matches!(
            handshake_answer(&text),
            Ok(GatewayControl::Bandwidth { remaining: 7 })
        ));
    }

    /// The gateway's side of a handshake from its request's JSON, as the gateway runs it.
    fn gateway_answers(
        gateway: &SigningKey,
        request: &str,
        shared: &SharedKey,
        now_ms: u64,
    ) -> (GatewayControl, SessionCipher) {
        use gateway_protocol::handshake::{AuthenticateRequest, RegisterRequest};
        use gateway_protocol::ClientControl;
        let ours = gateway.verifying_key().to_bytes();
        match serde_json::from_str::<ClientControl>(request).unwrap() {
            ClientControl::Register {
                identity,
                ephemeral,
                timestamp_ms,
                signature,
                ..
            } => {
                let request = RegisterRequest::verify(
                    &ours,
                    &identity,
                    &ephemeral,
                    timestamp_ms,
                    &signature,
                    now_ms,
                    30_000,
                )
                .unwrap();
                let (answer, _, keys) = request.accept(gateway, [5; 32], 0, 0).unwrap();
                (answer, SessionCipher::gateway(&keys))
            }
            ClientControl::Authenticate {
                identity,
                timestamp_ms,
                nonce,
                signature,
            } => {
                let request = AuthenticateRequest::verify(
                    &ours,
                    &identity,
                    timestamp_ms,
                    &nonce,
                    &signature,
                    now_ms,
                    30_000,
                )
                .unwrap();
                let (answer, keys) = request.accept(gateway, shared, [6; 32], 0, 0);
                (answer, SessionCipher::gateway(&keys))
            }
            other => panic!("not a handshake request: {other:?}"),
        }
    }

    #[test]
    fn a_registration_then_an_authentication_open_sessions_the_gateway_shares() {
        let (client, gateway) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let now = 1_700_000_000_000;
        let mut rng = rand_core::OsRng;
        let (handshake, request) =
            ClientHandshake::register(&client, &gateway.verifying_key(), now, None, &mut rng);
        let unused = SharedKey::from_bytes([0; 32]);
        let (answer, mut at_gateway) = gateway_answers(&gateway, &request, &unused, now);
        let mut opened = handshake.finish(&answer).unwrap();
        let frame = opened.cipher.seal(b"ready").unwrap();
        assert_eq!(at_gateway.open(&frame).unwrap(), b"ready");

        let shared = opened.shared.clone();
        let (handshake, request) =
            ClientHandshake::authenticate(&client, &gateway.verifying_key(), shared, now, &mut rng);
        let (answer, mut at_gateway) = gateway_answers(&gateway, &request, &opened.shared, now);
        let mut again = handshake.finish(&answer).unwrap();
        let frame = at_gateway.seal(b"delivery").unwrap();
        assert_eq!(again.cipher.open(&frame).unwrap(), b"delivery");
        // An answer to another handshake does not open this one.
        let (handshake, _) = ClientHandshake::authenticate(
            &client,
            &gateway.verifying_key(),
            again.shared,
            now,
            &mut rng,
        );
        assert!(handshake.finish(&answer).is_err());
    }

    #[test]
    fn registration_work_is_done_within_the_clients_limit_only() {
        use gateway_protocol::registration_work::{is_enough, MAX_WORK_BITS};
        let (g, c) = ([1u8; 32], [2u8; 32]);
        let nonce = registration_work(&g, &c, 8, 0).unwrap();
        assert!(is_enough(&g, &c, nonce, 8));
        assert_eq!(registration_work(&g, &c, MAX_WORK_BITS + 1, 0), None);
    }

    #[test]
    fn fatal_errors_end_the_session_others_do_not() {
        let error = |kind| {
            Incoming::Control(GatewayControl::Error {
                kind,
                message: "x".into(),
                work_bits: None,
            })
        };
        assert!(matches!(
            link_step(error(ErrorKind::OutOfBandwidth)),
            LinkStep::Refusal {
                kind: ErrorKind::OutOfBandwidth,
                ..
            }
        ));
        assert!(ErrorKind::BadFrame.is_fatal());
        assert!(matches!(
            link_step(error(ErrorKind::BadFrame)),
            LinkStep::Fatal { .. }
        ));
        let bandwidth = Incoming::Control(GatewayControl::Bandwidth { remaining: 3 });
        assert!(matches!(link_step(bandwidth), LinkStep::Bandwidth(3)));
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_lasting_session() {
        let mut b = Backoff::default();
        let waits: Vec<_> = (0..9).map(|_| b.failed()).collect();
        assert_eq!(waits[0], Backoff::MIN);
        assert_eq!(waits[1], Backoff::MIN * 2);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), Backoff::MAX);
        // A session dropped at once does not reset it: no reconnect storm.
        assert_eq!(b.ended(Duration::from_millis(5)), Backoff::MAX);
        assert_eq!(b.ended(Backoff::STABLE), Backoff::MIN);
        assert_eq!(b.failed(), Backoff::MIN * 2);
    }

    #[test]
    fn the_topology_is_fetched_just_after_its_epoch_ends_then_backs_off() {
        let refresh = Duration::from_secs(30);
        let mut s = RefreshSchedule::new(refresh);
        assert_eq!(
            s.next_wait(10_000, 9_000),
            Duration::from_millis(1_000) + EPOCH_TURN_MARGIN
        );
        assert_eq!(s.next_wait(100_000, 0), refresh);
        // Past the end, nothing new: 250 ms, 500 ms, ... up to the refresh period.
        let waits: Vec<_> = (0..10).map(|i| s.next_wait(10_000, 10_100 + i)).collect();
        assert_eq!(waits[0], RefreshSchedule::RETRY);
        assert_eq!(waits[1], RefreshSchedule::RETRY * 2);
        assert_eq!(*waits.last().unwrap(), refresh);
        // A new topology starts over.
        assert_eq!(s.next_wait(20_000, 19_950), Duration::from_millis(100));
        assert_eq!(s.next_wait(20_000, 20_060), RefreshSchedule::RETRY);
    }
}
