//! One authenticated websocket session with the gateway (the protocol is the gateway crate's
//! `protocol`): register or authenticate, key confirmation, then sealed frames both ways.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::{SinkExt, StreamExt};
use gateway_protocol::{
    CipherError, ClientControl, ClientFrame, ErrorKind, GatewayControl, HandshakeError,
    SessionCipher, SharedKey,
};
use rand_core::{OsRng, RngCore};
use router_core::wire::KeyRotation;
use tokio_tungstenite::tungstenite::{self, Message};

pub use crate::core::gateway_session::Incoming;
use crate::core::gateway_session::{
    handshake_answer, incoming_binary, incoming_text, registration_work, AnswerError,
    ClientHandshake, IncomingError,
};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long connecting and the handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session with the gateway could not be opened, or ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The websocket connection was not up within the handshake timeout.
    #[error("{url}: connecting timed out")]
    ConnectTimeout {
        /// The gateway's client URL.
        url: String,
    },
    /// The websocket connection could not be opened.
    #[error("{url}: {source}")]
    Connect {
        /// The gateway's client URL.
        url: String,
        /// The websocket error.
        source: Box<tungstenite::Error>,
    },
    /// The gateway did not answer the handshake within the timeout.
    #[error("the gateway did not answer the handshake in time")]
    HandshakeTimeout,
    /// The gateway's answer to the handshake is not an acceptance (a refusal, a request for
    /// proof of work, or not a control message).
    #[error(transparent)]
    Answer(#[from] AnswerError),
    /// The gateway asks a registration for more proof of work than a client does
    /// ([`gateway_protocol::registration_work::MAX_WORK_BITS`]), or asked again after the
    /// client did the work.
    #[error("the gateway asks for proof of work of {bits} bits, which this client does not do")]
    WorkRefused {
        /// What it asked for.
        bits: u8,
    },
    /// The gateway closed the connection before it answered.
    #[error("the gateway closed the connection during the handshake")]
    ClosedDuringHandshake,
    /// The websocket failed during the handshake.
    #[error("during the handshake: {0}")]
    HandshakeTransport(Box<tungstenite::Error>),
    /// The gateway's answer does not complete the handshake (a bad signature, a stale or
    /// unexpected answer).
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The websocket failed after the handshake.
    #[error(transparent)]
    Transport(Box<tungstenite::Error>),
    /// A frame could not be sealed (the session used up its counter).
    #[error(transparent)]
    Seal(CipherError),
    /// A message from the gateway is unusable (a frame that does not open or parse, a text
    /// that is not a control message).
    #[error(transparent)]
    Incoming(#[from] IncomingError),
    /// The gateway closed the session.
    #[error("the gateway closed")]
    Closed,
    /// The gateway reported an error after which it closes the session.
    #[error("{}: {message}", kind.label())]
    Fatal {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
    /// The gateway did not answer a bandwidth credential within the timeout.
    #[error("the gateway did not answer the credential in time")]
    CredentialTimeout,
    /// The gateway refused a bandwidth credential.
    #[error("the gateway refused the credential: {} ({message})", kind.label())]
    CredentialRefused {
        /// Why, as the gateway classes it.
        kind: ErrorKind,
        /// The gateway's words.
        message: String,
    },
}

impl SessionError {
    fn transport(e: tungstenite::Error) -> Self {
        SessionError::Transport(Box::new(e))
    }
}

/// An authenticated session.
pub struct Session {
    ws: Ws,
    cipher: SessionCipher,
    /// The gateway's answer to the handshake (bandwidth, stored messages).
    pub answer: GatewayControl,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn open(url: &str) -> Result<Ws, SessionError> {
    // `wss://` gateways with the process's trust roots (`tls::client`).
    let connector = tokio_tungstenite::Connector::Rustls(tls::client::config());
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector));
    let (ws, _) = tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| SessionError::ConnectTimeout {
            url: url.to_owned(),
        })?
        .map_err(|e| SessionError::Connect {
            url: url.to_owned(),
            source: Box::new(e),
        })?;
    Ok(ws)
}

async fn answer(ws: &mut Ws) -> Result<GatewayControl, SessionError> {
    loop {
        let message = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next())
            .await
            .map_err(|_| SessionError::HandshakeTimeout)?;
        match message {
            Some(Ok(Message::Text(text))) => return Ok(handshake_answer(text.as_str())?),
            Some(Ok(Message::Close(_))) | None => return Err(SessionError::ClosedDuringHandshake),
            Some(Err(e)) => return Err(SessionError::HandshakeTransport(Box::new(e))),
            Some(Ok(_)) => continue,
        }
    }
}

impl Session {
    /// Registers `identity` at the gateway: a new shared key. If the gateway asks for proof
    /// of work (its refusal names the bits), the work is done on the blocking pool and the
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
        let work =
            tokio::task::spawn_blocking(move || registration_work(&g, &c, bits, OsRng.next_u64()))
                .await
                .ok()
                .flatten()
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
            ClientHandshake::register(identity, gateway, now_ms(), work, &mut OsRng);
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
            ClientHandshake::authenticate(identity, gateway, shared.clone(), now_ms(), &mut OsRng);
        Ok(Self::open_with(url, handshake, request).await?.0)
    }

    /// Connects, sends the handshake's request, and opens the session with the answer.
    async fn open_with(
        url: &str,
        handshake: ClientHandshake,
        request: String,
    ) -> Result<(Session, SharedKey), SessionError> {
        let mut ws = open(url).await?;
        ws.send(Message::text(request))
            .await
            .map_err(SessionError::transport)?;
        let answer = answer(&mut ws).await?;
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
        self.ws
            .send(Message::binary(sealed))
            .await
            .map_err(SessionError::transport)
    }

    /// A sealed control.
    pub async fn send_control(&mut self, control: &ClientControl) -> Result<(), SessionError> {
        self.send_sealed(&ClientFrame::encode_control(control))
            .await
    }

    /// A packet for the gateway to forward to `first_hop`, in a frame naming the key
    /// rotation it was built for.
    pub async fn send_packet(
        &mut self,
        first_hop: &SocketAddr,
        key_rotation: KeyRotation,
        packet: &[u8],
    ) -> Result<(), SessionError> {
        self.send_sealed(&ClientFrame::encode_packet(first_hop, key_rotation, packet))
            .await
    }

    /// The next control or delivery; an error when the session ended.
    pub async fn next(&mut self) -> Result<Incoming, SessionError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(incoming_text(text.as_str())?),
                Some(Ok(Message::Binary(sealed))) => {
                    return Ok(incoming_binary(&mut self.cipher, &sealed)?)
                }
                Some(Ok(Message::Close(_))) | None => return Err(SessionError::Closed),
                Some(Err(e)) => return Err(SessionError::transport(e)),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the gateway's answer to a bandwidth credential.
    pub async fn bandwidth_answer(&mut self) -> Result<u64, SessionError> {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(60), self.next())
                .await
                .map_err(|_| SessionError::CredentialTimeout)??;
            match next {
                Incoming::Control(GatewayControl::Bandwidth { remaining }) => return Ok(remaining),
                Incoming::Control(GatewayControl::Error { kind, message, .. }) => {
                    return Err(SessionError::CredentialRefused { kind, message })
                }
                _ => continue,
            }
        }
    }
}
