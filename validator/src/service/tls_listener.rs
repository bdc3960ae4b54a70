//! The HTTP API over TLS: TCP connections accepted, their TLS handshakes run concurrently
//! (at most [`CONCURRENT_HANDSHAKES`], each within [`tls::server::HANDSHAKE_TIMEOUT`]), and
//! the finished ones handed to axum as its listener. A client that opens connections and
//! says nothing holds a handshake slot for the timeout at most, and past the limit new
//! connections are closed at once rather than queued behind it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;

use tls::server::{handshake, ServerTls, HANDSHAKE_TIMEOUT};

/// TLS handshakes in progress at once.
pub const CONCURRENT_HANDSHAKES: usize = 256;

/// Finished TLS connections, for `axum::serve`.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener` (until the returned listener is dropped) with `tls`'s
    /// certificate.
    pub fn start(listener: TcpListener, tls: Arc<ServerTls>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let slots = Arc::new(Semaphore::new(CONCURRENT_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "accepting an API connection failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = tx.closed() => return,
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tracing::debug!(%peer, "TLS handshake refused: too many in progress");
                    continue;
                };
                let tls = Arc::clone(&tls);
                let tx = tx.clone();
                tokio::spawn(async move {
                    match handshake(&tls, stream, HANDSHAKE_TIMEOUT).await {
                        Ok(stream) => {
                            drop(slot);
                            let _ = tx.send((stream, peer)).await;
                        }
                        Err(failure) => {
                            tracing::debug!(%peer, reason = failure.label(), "API connection dropped");
                        }
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
