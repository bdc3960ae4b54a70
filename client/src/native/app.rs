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

use crate::api::AppRequest;

/// Frames queued for one app before it is disconnected.
const APP_QUEUE: usize = 4096;
/// Largest frame an app may send.
const MAX_APP_FRAME: usize = 64 << 20;

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
            Message::Text(text) => AppRequest::from_text(text.as_str()),
            Message::Binary(bytes) => AppRequest::from_binary(&bytes),
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
