//! A connection to a client's app websocket API (`ws://127.0.0.1:PORT/`), as an app would
//! use it: ask for the address, send text, receive text. For the benchmark's traffic and for
//! end-to-end tests.

use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Error;
use client::api::{Request as AppRequest, Response as AppResponse};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// An open app connection.
#[derive(Debug)]
pub struct AppConnection {
    ws: Ws,
}

/// The writing half of a split connection.
#[derive(Debug)]
pub struct AppSender {
    sink: SplitSink<Ws, Message>,
}

/// The reading half of a split connection.
#[derive(Debug)]
pub struct AppReceiver {
    stream: SplitStream<Ws>,
}

impl AppConnection {
    /// Connects to `url` (`ws://127.0.0.1:PORT/`) within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<AppConnection, Error> {
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| Error::traffic(format!("{url}: no websocket within {timeout:?}")))?
            .map_err(|e| Error::traffic(format!("{url}: {e}")))?;
        Ok(AppConnection { ws })
    }

    /// Sends a request.
    pub async fn request(&mut self, request: &AppRequest) -> Result<(), Error> {
        self.ws
            .send(Message::text(
                serde_json::to_string(&request)
                    .map_err(|e| Error::traffic(format!("app request: {e}")))?,
            ))
            .await
            .map_err(|e| Error::traffic(format!("app websocket: {e}")))
    }

    /// Sends `message` to `recipient`.
    pub async fn send(&mut self, recipient: &str, message: &str) -> Result<(), Error> {
        self.request(&AppRequest::Send {
            message: message.to_owned(),
            recipient: recipient.to_owned(),
        })
        .await
    }

    /// The next answer within `timeout`: `Ok(None)` on timeout, an error once the connection
    /// is closed.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<AppResponse>, Error> {
        next_response(&mut self.ws, timeout).await
    }

    /// The client's own address; answers other than `selfAddress` that arrive meanwhile are
    /// discarded.
    pub async fn self_address(&mut self, timeout: Duration) -> Result<String, Error> {
        self.request(&AppRequest::SelfAddress).await?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await? {
                Some(AppResponse::SelfAddress { address }) => return Ok(address),
                Some(AppResponse::Error { message }) => {
                    return Err(Error::traffic(format!("selfAddress: {message}")))
                }
                Some(_) => {}
                None => {
                    return Err(Error::traffic(format!(
                        "no selfAddress answer within {timeout:?}"
                    )))
                }
            }
        }
    }

    /// The next received message's text within `timeout` (other answers are discarded);
    /// `Ok(None)` on timeout.
    pub async fn next_received(&mut self, timeout: Duration) -> Result<Option<String>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await? {
                Some(AppResponse::Received { message, .. }) => return Ok(Some(message)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// Separate halves for a sending and a receiving task.
    pub fn split(self) -> (AppSender, AppReceiver) {
        let (sink, stream) = self.ws.split();
        (AppSender { sink }, AppReceiver { stream })
    }
}

impl AppSender {
    /// Sends `message` to `recipient`.
    pub async fn send(&mut self, recipient: &str, message: &str) -> Result<(), Error> {
        let request = AppRequest::Send {
            message: message.to_owned(),
            recipient: recipient.to_owned(),
        };
        self.sink
            .send(Message::text(
                serde_json::to_string(&request)
                    .map_err(|e| Error::traffic(format!("app request: {e}")))?,
            ))
            .await
            .map_err(|e| Error::traffic(format!("app websocket: {e}")))
    }

    /// Closes the connection (bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.sink.close()).await;
    }
}

impl AppReceiver {
    /// The next answer: `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Result<AppResponse, Error>> {
        loop {
            match self.stream.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(
                        serde_json::from_str::<AppResponse>(text.as_str())
                            .ok()
                            .ok_or_else(|| {
                                Error::traffic(format!("the client sent unparsable JSON: {text}"))
                            }),
                    )
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(Error::traffic(format!("app websocket: {e}")))),
            }
        }
    }
}

async fn next_response(ws: &mut Ws, timeout: Duration) -> Result<Option<AppResponse>, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let message = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Ok(None),
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err(Error::traffic("the client closed the app websocket".into()))
            }
            Ok(Some(Err(e))) => return Err(Error::traffic(format!("app websocket: {e}"))),
            Ok(Some(Ok(message))) => message,
        };
        if let Message::Text(text) = message {
            return serde_json::from_str::<AppResponse>(text.as_str())
                .ok()
                .map(Some)
                .ok_or_else(|| Error::traffic(format!("the client sent unparsable JSON: {text}")));
        }
    }
}
