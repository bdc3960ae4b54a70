//! One authenticated websocket session with the gateway (the protocol is the gateway crate's
//! `protocol`): register or authenticate, key confirmation, then sealed frames both ways.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::{SinkExt, StreamExt};
use gateway_protocol::handshake::{start_authentication, start_registration};
use gateway_protocol::{
    ClientControl, ClientFrame, DeliveryKind, GatewayControl, GatewayFrame, SessionCipher,
    SharedKey,
};
use rand_core::{OsRng, RngCore};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long connecting and the handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the gateway sent.
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

async fn open(url: &str) -> Result<Ws, String> {
    let (ws, _) = tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| format!("{url}: connecting timed out"))?
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(ws)
}

async fn answer(ws: &mut Ws) -> Result<GatewayControl, String> {
    loop {
        let message = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next())
            .await
            .map_err(|_| "the gateway did not answer the handshake in time".to_owned())?;
        match message {
            Some(Ok(Message::Text(text))) => {
                let control: GatewayControl = serde_json::from_str(text.as_str())
                    .map_err(|e| format!("the gateway's answer: {e}"))?;
                if let GatewayControl::Error { kind, message } = &control {
                    return Err(format!("the gateway refused: {} ({message})", kind.label()));
                }
                return Ok(control);
            }
            Some(Ok(Message::Close(_))) | None => {
                return Err("the gateway closed the connection during the handshake".into())
            }
            Some(Err(e)) => return Err(format!("during the handshake: {e}")),
            Some(Ok(_)) => continue,
        }
    }
}

impl Session {
    /// Registers `identity` at the gateway: a new shared key.
    pub async fn register(
        url: &str,
        identity: &SigningKey,
        gateway: &VerifyingKey,
    ) -> Result<(Session, SharedKey), String> {
        let mut ws = open(url).await?;
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let (pending, request) = start_registration(identity, gateway, secret, now_ms());
        ws.send(Message::text(request.to_json()))
            .await
            .map_err(|e| e.to_string())?;
        let answer = answer(&mut ws).await?;
        let (shared, keys) = pending.finish(&answer).map_err(|e| e.to_string())?;
        let mut session = Session {
            ws,
            cipher: SessionCipher::client(&keys),
            answer,
        };
        session.send_control(&ClientControl::Ready).await?;
        Ok((session, shared))
    }

    /// Authenticates a registered client.
    pub async fn authenticate(
        url: &str,
        identity: &SigningKey,
        gateway: &VerifyingKey,
        shared: &SharedKey,
    ) -> Result<Session, String> {
        let mut ws = open(url).await?;
        let mut nonce = [0u8; 32];
        OsRng.fill_bytes(&mut nonce);
        let (pending, request) = start_authentication(identity, gateway, nonce, now_ms());
        ws.send(Message::text(request.to_json()))
            .await
            .map_err(|e| e.to_string())?;
        let answer = answer(&mut ws).await?;
        let keys = pending.finish(shared, &answer).map_err(|e| e.to_string())?;
        let mut session = Session {
            ws,
            cipher: SessionCipher::client(&keys),
            answer,
        };
        session.send_control(&ClientControl::Ready).await?;
        Ok(session)
    }

    async fn send_sealed(&mut self, frame: &[u8]) -> Result<(), String> {
        let sealed = self.cipher.seal(frame).map_err(|e| e.to_string())?;
        self.ws
            .send(Message::binary(sealed))
            .await
            .map_err(|e| e.to_string())
    }

    /// A sealed control.
    pub async fn send_control(&mut self, control: &ClientControl) -> Result<(), String> {
        self.send_sealed(&ClientFrame::encode_control(control))
            .await
    }

    /// A packet for the gateway to forward to `first_hop`.
    pub async fn send_packet(
        &mut self,
        first_hop: &SocketAddr,
        packet: &[u8],
    ) -> Result<(), String> {
        self.send_sealed(&ClientFrame::encode_packet(first_hop, packet))
            .await
    }

    /// The next control or delivery; an error when the session ended.
    pub async fn next(&mut self) -> Result<Incoming, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let control = serde_json::from_str(text.as_str())
                        .map_err(|e| format!("a control from the gateway: {e}"))?;
                    return Ok(Incoming::Control(control));
                }
                Some(Ok(Message::Binary(sealed))) => {
                    let opened = self
                        .cipher
                        .open(&sealed)
                        .map_err(|e| format!("a frame from the gateway: {e}"))?;
                    let frame = GatewayFrame::decode(&opened)
                        .map_err(|e| format!("a frame from the gateway: {e}"))?;
                    return Ok(Incoming::Delivery {
                        kind: frame.kind,
                        stored_id: frame.stored_id,
                        bytes: frame.bytes.to_vec(),
                    });
                }
                Some(Ok(Message::Close(_))) | None => return Err("the gateway closed".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the gateway's answer to a bandwidth credential.
    pub async fn bandwidth_answer(&mut self) -> Result<u64, String> {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(60), self.next())
                .await
                .map_err(|_| "the gateway did not answer the credential in time".to_owned())??;
            match next {
                Incoming::Control(GatewayControl::Bandwidth { remaining }) => return Ok(remaining),
                Incoming::Control(GatewayControl::Error { kind, message }) => {
                    return Err(format!(
                        "the gateway refused the credential: {} ({message})",
                        kind.label()
                    ))
                }
                _ => continue,
            }
        }
    }
}
