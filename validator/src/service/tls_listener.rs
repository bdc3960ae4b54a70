//! The HTTP API over TLS: TCP connections accepted, their TLS handshakes run concurrently,
//! and the finished ones handed to axum as its listener. At most [`CONCURRENT_HANDSHAKES`]
//! are in progress, at most [`HANDSHAKES_PER_SOURCE`] of them from one address (an IPv4
//! address or an IPv6 /64), each within [`HANDSHAKE_TIMEOUT`]: one host that opens
//! connections and says nothing holds a few slots for a few seconds, and everyone else's
//! handshakes go on. Past a limit a new connection is closed at once rather than queued.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;

use tls::server::{handshake, ServerTls};

/// TLS handshakes in progress at once.
pub const CONCURRENT_HANDSHAKES: usize = 256;
/// TLS handshakes in progress at once from one source address.
pub const HANDSHAKES_PER_SOURCE: usize = 8;
/// How long a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A source address as the limits count it: an IPv4 address, or an IPv6 /64 (one host
/// usually holds a whole /64).
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

/// Handshakes in progress per source.
#[derive(Default)]
struct PerSource(Mutex<HashMap<IpAddr, usize>>);

/// One source's place among the handshakes in progress, given back on drop.
struct SourceSlot {
    table: Arc<PerSource>,
    source: IpAddr,
}

impl PerSource {
    fn take(table: &Arc<PerSource>, ip: IpAddr) -> Option<SourceSlot> {
        let source = source(ip);
        let mut counts = table.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(source).or_insert(0);
        if *count >= HANDSHAKES_PER_SOURCE {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            table: Arc::clone(table),
            source,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = self.table.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.source);
            }
        }
    }
}

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
        let per_source = Arc::new(PerSource::default());
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "accepting an API connection failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = tx.closed() => return,
                };
                let Some(source_slot) = PerSource::take(&per_source, peer.ip()) else {
                    tracing::debug!(%peer, "TLS handshake refused: too many in progress from this source");
                    continue;
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
                            // The slots are held until axum takes the connection, so
                            // finished handshakes cannot pile up while it does not.
                            let _ = tx.send((stream, peer)).await;
                        }
                        Err(failure) => {
                            tracing::debug!(%peer, reason = failure.label(), "API connection dropped");
                        }
                    }
                    drop((slot, source_slot));
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
