//! Moves one tunnelled TCP connection's bytes between its socket and the owner of its
//! [`crate::socks::stream::Stream`] (the SOCKS5 client's or the network requester's
//! connection table), on two tasks.
//!
//! The reader reads only as much as the owner has granted ([`Pump::grant`], the peer's window
//! as it opens), so a socket faster than the mixnet waits in the kernel instead of in our
//! memory. The writer writes in-order chunks and reports each write, which is what the owner
//! reports to the peer as consumed.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use crate::socks::message::ConnectionId;
use crate::socks::stream::Chunk;

/// Most bytes one read takes (one tunnel data message).
pub const MAX_READ: usize = 32 * 1024;

/// Why a pump stopped early: the socket failed.
#[derive(Debug, thiserror::Error)]
pub enum PumpError {
    /// Reading from the socket failed.
    #[error("reading: {0}")]
    Read(std::io::Error),
    /// Writing to the socket failed.
    #[error("writing: {0}")]
    Write(std::io::Error),
}

/// What a pump tells its owner.
#[derive(Debug)]
pub enum PumpEvent {
    /// Bytes read from the socket; `eof` once it has no more to give.
    Read {
        /// The connection.
        id: ConnectionId,
        /// The bytes (empty with `eof`).
        data: Vec<u8>,
        /// The socket's read direction ended.
        eof: bool,
    },
    /// Bytes written to the socket.
    Written {
        /// The connection.
        id: ConnectionId,
        /// How many.
        n: u64,
    },
    /// The socket failed; the connection must be reset.
    Failed {
        /// The connection.
        id: ConnectionId,
        /// Why.
        error: PumpError,
    },
}

/// A running pump. Dropping it stops the reader and lets the writer finish what is queued
/// (then the socket closes); [`Pump::abort`] stops both at once.
pub struct Pump {
    credit: Arc<Semaphore>,
    to_socket: mpsc::UnboundedSender<Chunk>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Pump {
    /// Starts pumping `socket`: `preamble` is written first and not reported (the SOCKS
    /// reply), `pending` is sent to the owner first as if read (bytes an app sent after its
    /// SOCKS request), `credit` bytes may be read before the first grant.
    pub fn start(
        id: ConnectionId,
        socket: TcpStream,
        preamble: Vec<u8>,
        pending: Vec<u8>,
        credit: u64,
        events: mpsc::UnboundedSender<PumpEvent>,
    ) -> Pump {
        let _ = socket.set_nodelay(true);
        let (rd, wr) = socket.into_split();
        let semaphore = Arc::new(Semaphore::new(0));
        semaphore.add_permits(permits(credit));
        let reader = tokio::spawn(read_socket(
            id,
            rd,
            pending,
            semaphore.clone(),
            events.clone(),
        ));
        let (to_socket, chunks) = mpsc::unbounded_channel::<Chunk>();
        let writer = tokio::spawn(write_socket(id, wr, preamble, chunks, events));
        Pump {
            credit: semaphore,
            to_socket,
            reader,
            writer,
        }
    }

    /// Lets the reader read `bytes` more.
    pub fn grant(&self, bytes: u64) {
        self.credit.add_permits(permits(bytes));
    }

    /// Queues in-order bytes for the socket.
    pub fn write(&self, chunk: Chunk) {
        // A writer that stopped has reported why.
        let _ = self.to_socket.send(chunk);
    }
}

/// Waits for at least one byte of read credit, then takes what there is (up to
/// [`MAX_READ`]); returns how many bytes may be read.
async fn take_credit(credit: &Semaphore) -> Option<usize> {
    let first = credit.acquire().await.ok()?;
    first.forget();
    let extra = credit.available_permits().min(MAX_READ - 1);
    if let Ok(more) = credit.try_acquire_many(extra as u32) {
        more.forget();
    }
    Some(1 + extra)
}

/// The reader task: hands `pending`, then what the socket gives, to the owner, never more
/// than the credit granted; stops at end of file, on an error or when the owner is gone.
async fn read_socket(
    id: ConnectionId,
    mut rd: OwnedReadHalf,
    mut pending: Vec<u8>,
    credit: Arc<Semaphore>,
    events: mpsc::UnboundedSender<PumpEvent>,
) {
    let mut buf = vec![0u8; MAX_READ];
    loop {
        let Some(allowed) = take_credit(&credit).await else {
            return;
        };
        let (data, eof) = if pending.is_empty() {
            match rd.read(&mut buf[..allowed]).await {
                Ok(0) => (Vec::new(), true),
                Ok(n) => (buf[..n].to_vec(), false),
                Err(e) => {
                    let error = PumpError::Read(e);
                    let _ = events.send(PumpEvent::Failed { id, error });
                    return;
                }
            }
        } else {
            let take = pending.len().min(allowed);
            let rest = pending.split_off(take);
            (std::mem::replace(&mut pending, rest), false)
        };
        credit.add_permits(allowed - data.len());
        if events.send(PumpEvent::Read { id, data, eof }).is_err() || eof {
            return;
        }
    }
}

/// The writer task: writes `preamble`, then each in-order chunk (reporting it), and
/// half-closes the socket when the peer's direction ends.
async fn write_socket(
    id: ConnectionId,
    mut wr: OwnedWriteHalf,
    preamble: Vec<u8>,
    mut chunks: mpsc::UnboundedReceiver<Chunk>,
    events: mpsc::UnboundedSender<PumpEvent>,
) {
    let fail = |e| {
        let error = PumpError::Write(e);
        let _ = events.send(PumpEvent::Failed { id, error });
    };
    if !preamble.is_empty() {
        if let Err(e) = wr.write_all(&preamble).await {
            fail(e);
            return;
        }
    }
    while let Some(chunk) = chunks.recv().await {
        if !chunk.data.is_empty() {
            if let Err(e) = wr.write_all(&chunk.data).await {
                fail(e);
                return;
            }
            let n = chunk.data.len() as u64;
            if events.send(PumpEvent::Written { id, n }).is_err() {
                return;
            }
        }
        if chunk.close {
            // The peer's direction ended: half-close ours.
            let _ = wr.shutdown().await;
            return;
        }
    }
}

/// Permits for `bytes`, within what a semaphore holds.
fn permits(bytes: u64) -> usize {
    usize::try_from(bytes)
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS / 2)
}

impl Pump {
    /// Stops both tasks now (a reset): queued bytes are not written.
    pub fn abort(self) {
        self.writer.abort();
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
