//! One authenticated session with the gateway over the browser's WebSocket: register or
//! authenticate (the handshake is `gateway_protocol::handshake`, the answers are read by
//! `client::core::gateway_session`), then sealed frames both ways.

use std::time::Duration;

use client::core::gateway_session::{
    handshake_answer, incoming_binary, incoming_text, registration_work, AnswerError,
    ClientHandshake, Incoming, IncomingError,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::{SinkExt, StreamExt};
use gateway_protocol::{
    CipherError, ClientControl, ClientFrame, ErrorKind, GatewayControl, HandshakeError,
    SessionCipher, SharedKey,
};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, WebSocketError};
use rand_core::{OsRng, RngCore};
use router_core::wire::KeyRotation;

use crate::browser::{timeout, unix_ms};

/// How long opening the websocket and the handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the gateway may take to answer a bandwidth credential (it waits for the spend to
/// be final on the chain).
const CREDENTIAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a session could not be opened, or ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The browser refused to open the websocket (a malformed URL, a blocked port).
    #[error("the gateway at {url} is unreachable: {message}")]
    Open {
        /// The gateway's client URL.
        url: String,
        /// The browser's words.
        message: String,
    },
    /// The gateway did not answer the handshake in time.
    #[error("the gateway at {url} did not answer within {HANDSHAKE_TIMEOUT:?}")]
    Timeout {
        /// The gateway's client URL.
        url: String,
    },
    /// The connection closed or failed before the gateway answered.
    #[error("the gateway at {url} is unreachable (the connection closed before it answered)")]
    Unreachable {
        /// The gateway's client URL.
        url: String,
    },
    /// The gateway's answer is not an acceptance.
    #[error(transparent)]
    Answer(#[from] AnswerError),
    /// The gateway asks for more proof of work than a client does, or asked again.
    #[error("the gateway asks for proof of work of {bits} bits, which this client does not do")]
    WorkRefused {
        /// What it asked for.
        bits: u8,
    },
    /// The answer does not complete the handshake.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The session's frame counter is used up.
    #[error("a frame could not be sealed: {0}")]
    Seal(CipherError),
    /// A message from the gateway is unusable.
    #[error(transparent)]
    Incoming(#[from] IncomingError),
    /// The gateway closed the session, with its reason when it gave one.
    #[error("the gateway closed the connection{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    Closed {
        /// The close frame's reason.
        reason: String,
    },
    /// The websocket failed.
    #[error("the connection to the gateway failed: {0}")]
    Transport(String),
    /// The gateway reported an error after which it closes the session.
    #[error("the gateway ended the session: {}: {message}", kind.label())]
    Fatal {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
    /// The gateway did not answer a credential in time.
    #[error("the gateway did not answer the bandwidth credential within {CREDENTIAL_TIMEOUT:?}")]
    CredentialTimeout,
    /// The gateway refused a credential.
    #[error("the gateway refused the bandwidth credential: {} ({message})", kind.label())]
    CredentialRefused {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
}

/// The reason a gateway gives when another connection of the same client takes a session's
/// place (`gateway::connection`).
const REPLACED: &str = "replaced by a newer connection";

impl SessionError {
    /// Whether another connection of this client took the session's place.
    pub fn is_replaced(&self) -> bool {
        matches!(self, SessionError::Closed { reason } if reason.starts_with(REPLACED))
    }
}

impl From<WebSocketError> for SessionError {
    fn from(e: WebSocketError) -> Self {
        match e {
            WebSocketError::ConnectionClose(close) => SessionError::Closed {
                reason: close.reason,
            },
            other => SessionError::Transport(other.to_string()),
        }
    }
}

/// An authenticated session.
pub struct Session {
    ws: WebSocket,
    cipher: SessionCipher,
    /// The gateway's answer to the handshake (bandwidth, stored messages).
    pub answer: GatewayControl,
}

fn open(url: &str) -> Result<WebSocket, SessionError> {
    WebSocket::open(url).map_err(|e| SessionError::Open {
        url: url.to_owned(),
        message: e.to_string(),
    })
}

/// Sends `request` and reads the gateway's answer, within the handshake timeout.
async fn ask(
    ws: &mut WebSocket,
    url: &str,
    request: String,
) -> Result<GatewayControl, SessionError> {
    let exchange = async {
        ws.send(Message::Text(request))
            .await
            .map_err(|_| SessionError::Unreachable {
                url: url.to_owned(),
            })?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(handshake_answer(&text)?),
                Some(Ok(Message::Bytes(_))) => continue,
                Some(Err(_)) | None => {
                    return Err(SessionError::Unreachable {
                        url: url.to_owned(),
                    })
                }
            }
        }
    };
    timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .ok_or_else(|| SessionError::Timeout {
            url: url.to_owned(),
        })?
}

impl Session {
    /// Registers `identity` at the gateway: a new shared key. Proof of work, if the gateway
    /// asks for it, is done here (the worker's thread is the client's own) and the
    /// registration sent again, once.
    pub async fn register(
        url: &str,
        identity: &SigningKey,
        gateway: &VerifyingKey,
    ) -> Result<(Session, SharedKey), SessionError> {
        let bits = match Self::register_with(url, identity, gateway, None).await {
            Err(SessionError::Answer(AnswerError::WorkRequired { bits })) => bits,
            done => return done,
        };
        let (g, c) = (gateway.to_bytes(), identity.verifying_key().to_bytes());
        let work = registration_work(&g, &c, bits, OsRng.next_u64())
            .ok_or(SessionError::WorkRefused { bits })?;
        match Self::register_with(url, identity, gateway, Some(work)).await {
            Err(SessionError::Answer(AnswerError::WorkRequired { bits })) => {
                Err(SessionError::WorkRefused { bits })
            }
            done => done,
        }
    }

    async fn register_with(
        url: &str,
        identity: &SigningKey,
        gateway: &VerifyingKey,
        work: Option<u64>,
    ) -> Result<(Session, SharedKey), SessionError> {
        let (handshake, request) =
            ClientHandshake::register(identity, gateway, unix_ms(), work, &mut OsRng);
        Self::open_with(url, handshake, request).await
    }

    /// Authenticates a registered client.
    pub async fn authenticate(
        url: &str,
        identity: &SigningKey,
        gateway: &VerifyingKey,
        shared: &SharedKey,
    ) -> Result<Session, SessionError> {
        let (handshake, request) =
            ClientHandshake::authenticate(identity, gateway, shared.clone(), unix_ms(), &mut OsRng);
        Ok(Self::open_with(url, handshake, request).await?.0)
    }

    /// Opens the websocket, sends the handshake's request, and opens the session with the
    /// answer.
    async fn open_with(
        url: &str,
        handshake: ClientHandshake,
        request: String,
    ) -> Result<(Session, SharedKey), SessionError> {
        let mut ws = open(url)?;
        let answer = ask(&mut ws, url, request).await?;
        let opened = handshake.finish(&answer)?;
        let mut session = Session {
            ws,
            cipher: opened.cipher,
            answer,
        };
        session.send_control(&ClientControl::Ready).await?;
        Ok((session, opened.shared))
    }

    async fn send_sealed(&mut self, frame: &[u8]) -> Result<(), SessionError> {
        let sealed = self.cipher.seal(frame).map_err(SessionError::Seal)?;
        Ok(self.ws.send(Message::Bytes(sealed)).await?)
    }

    /// A sealed control.
    pub async fn send_control(&mut self, control: &ClientControl) -> Result<(), SessionError> {
        self.send_sealed(&ClientFrame::encode_control(control))
            .await
    }

    /// A packet for the gateway to forward to `first_hop`.
    pub async fn send_packet(
        &mut self,
        first_hop: &std::net::SocketAddr,
        key_rotation: KeyRotation,
        packet: &[u8],
    ) -> Result<(), SessionError> {
        self.send_sealed(&ClientFrame::encode_packet(first_hop, key_rotation, packet))
            .await
    }

    /// The next control or delivery; an error when the session ended.
    pub async fn next(&mut self) -> Result<Incoming, SessionError> {
        match self.ws.next().await {
            Some(Ok(Message::Text(text))) => Ok(incoming_text(&text)?),
            Some(Ok(Message::Bytes(sealed))) => Ok(incoming_binary(&mut self.cipher, &sealed)?),
            Some(Err(e)) => Err(e.into()),
            None => Err(SessionError::Closed {
                reason: String::new(),
            }),
        }
    }

    /// Presents a bandwidth credential and waits for the gateway's answer: the bandwidth it
    /// holds for the client now. Deliveries that arrive meanwhile are handed to `deliver`.
    pub async fn redeem(
        &mut self,
        credential: validator_core::api::SpendBody,
        mut deliver: impl FnMut(Incoming),
    ) -> Result<u64, SessionError> {
        self.send_control(&ClientControl::Bandwidth {
            credential: Box::new(credential),
        })
        .await?;
        let answer = async {
            loop {
                match self.next().await? {
                    Incoming::Control(GatewayControl::Bandwidth { remaining }) => {
                        return Ok(remaining)
                    }
                    Incoming::Control(GatewayControl::Error { kind, message, .. }) => {
                        return Err(SessionError::CredentialRefused { kind, message })
                    }
                    other => deliver(other),
                }
            }
        };
        timeout(CREDENTIAL_TIMEOUT, answer)
            .await
            .ok_or(SessionError::CredentialTimeout)?
    }

    /// Closes the websocket.
    pub fn close(self) {
        let _ = self.ws.close(None, None);
    }
}
