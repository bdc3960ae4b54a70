//! The app websocket server: accepts apps on the listen address, decodes their requests
//! ([`crate::api`]) and hands them to the driver; writes the driver's responses back.
//!
//! Each app connection has a bounded outgoing queue; an app that does not read is
//! disconnected rather than allowed to hold the client's memory.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::api::{decode_sender_tag, BinaryRequest, Request};

/// Frames queued for one app before it is disconnected.
const APP_QUEUE: usize = 4096;
/// Largest frame an app may send.
const MAX_APP_FRAME: usize = 64 << 20;

/// An app's request, decoded.
#[derive(Debug)]
pub enum AppRequest {
    /// Send to an address.
    Send {
        /// The address text (parsed by the driver).
        recipient: String,
        /// Bytes.
        payload: Vec<u8>,
        /// Sent as text.
        text: bool,
        /// Reply SURBs to include (anonymous when some).
        reply_surbs: Option<u16>,
    },
    /// Answer an anonymous sender.
    Reply {
        /// Its tag.
        sender_tag: [u8; 16],
        /// Bytes.
        payload: Vec<u8>,
        /// Sent as text.
        text: bool,
    },
    /// Our address.
    SelfAddress,
    /// Could not be decoded: the reason.
    Invalid(String),
}

/// What the app server tells the driver.
#[derive(Debug)]
pub enum AppEvent {
    /// An app connected; frames for it go to `sender`.
    Connected {
        /// Its connection number.
        id: u64,
        /// Its outgoing queue.
        sender: mpsc::Sender<Message>,
    },
    /// A request from app `id`.
    Request {
        /// The app.
        id: u64,
        /// The request.
        request: AppRequest,
    },
    /// App `id` left.
    Gone {
        /// The app.
        id: u64,
    },
}

/// Why an app connection ended early (logged, at debug).
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    /// The websocket handshake or a read failed.
    #[error(transparent)]
    Websocket(Box<tungstenite::Error>),
    /// The driver is gone.
    #[error("the client is shutting down")]
    ShuttingDown,
}

impl From<tungstenite::Error> for ConnectionError {
    fn from(e: tungstenite::Error) -> Self {
        ConnectionError::Websocket(Box::new(e))
    }
}

fn decode_text(text: &str) -> AppRequest {
    match serde_json::from_str::<Request>(text) {
        Ok(Request::Send { message, recipient }) => AppRequest::Send {
            recipient,
            payload: message.into_bytes(),
            text: true,
            reply_surbs: None,
        },
        Ok(Request::SendAnonymous {
            message,
            recipient,
            reply_surbs,
        }) => AppRequest::Send {
            recipient,
            payload: message.into_bytes(),
            text: true,
            reply_surbs: Some(reply_surbs),
        },
        Ok(Request::Reply {
            message,
            sender_tag,
        }) => match decode_sender_tag(&sender_tag) {
            Some(tag) => AppRequest::Reply {
                sender_tag: tag,
                payload: message.into_bytes(),
                text: true,
            },
            None => AppRequest::Invalid(format!("senderTag {sender_tag:?} is not a sender tag")),
        },
        Ok(Request::SelfAddress) => AppRequest::SelfAddress,
        Err(e) => AppRequest::Invalid(format!("not a request: {e}")),
    }
}

fn decode_binary(frame: &[u8]) -> AppRequest {
    match BinaryRequest::decode(frame) {
        Ok(BinaryRequest::Send { recipient, payload }) => AppRequest::Send {
            recipient,
            payload,
            text: false,
            reply_surbs: None,
        },
        Ok(BinaryRequest::SendAnonymous {
            recipient,
            reply_surbs,
            payload,
        }) => AppRequest::Send {
            recipient,
            payload,
            text: false,
            reply_surbs: Some(reply_surbs),
        },
        Ok(BinaryRequest::Reply {
            sender_tag,
            payload,
        }) => AppRequest::Reply {
            sender_tag,
            payload,
            text: false,
        },
        Err(e) => AppRequest::Invalid(e.to_string()),
    }
}

/// Accepts apps on `listener` until the driver goes away.
pub async fn serve(listener: TcpListener, events: mpsc::Sender<AppEvent>) {
    let mut next_id = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accepting an app connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        next_id += 1;
        let id = next_id;
        let events = events.clone();
        if events.is_closed() {
            return;
        }
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, id, events.clone()).await {
                tracing::debug!(%peer, error = %e, "app connection ended");
            }
            let _ = events.send(AppEvent::Gone { id }).await;
        });
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    id: u64,
    events: mpsc::Sender<AppEvent>,
) -> Result<(), ConnectionError> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_APP_FRAME))
        .max_frame_size(Some(MAX_APP_FRAME));
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    tracing::info!(%peer, id, "app connected");
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(APP_QUEUE);
    events
        .send(AppEvent::Connected { id, sender: tx })
        .await
        .map_err(|_| ConnectionError::ShuttingDown)?;
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(message) = source.next().await {
        let request = match message? {
            Message::Text(text) => decode_text(text.as_str()),
            Message::Binary(bytes) => decode_binary(&bytes),
            Message::Close(_) => break,
            _ => continue,
        };
        if events
            .send(AppEvent::Request { id, request })
            .await
            .is_err()
        {
            break;
        }
    }
    writer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    #[test]
    fn text_requests_decode_to_what_the_driver_needs() {
        match decode_text(r#"{"type":"send","message":"hi","recipient":"r"}"#) {
            AppRequest::Send {
                recipient,
                payload,
                text,
                reply_surbs,
            } => {
                assert_eq!((recipient.as_str(), payload.as_slice()), ("r", &b"hi"[..]));
                assert!(text && reply_surbs.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_text(r#"{"type":"reply","message":"m","senderTag":"not base58 0OIl"}"#),
            AppRequest::Invalid(_)
        ));
        assert!(matches!(decode_text("{"), AppRequest::Invalid(_)));
        assert!(matches!(decode_binary(&[]), AppRequest::Invalid(_)));
    }
}
