//! One inbound connection: scatter reads into pooled buffers, then the batch goes to the mixer.
//!
//! Each read completes as many frames as arrived; they join the shard's pending batch (see
//! [`crate::pipeline::batching`]), which a busy link fills at once and quiet ones, together,
//! within the linger. When the shard's buffers are used up the reader stops reading and TCP
//! pushes back on the sender. A corrupt frame header closes only this connection.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use super::shard::Shard;
use super::sys;
use crate::mix::DropReason;
use crate::pipeline::{FrameAssembler, ReceivedFrame, ShardStats, MAX_READ_FRAMES};

/// Serves one inbound connection until the peer closes it, it turns out corrupt, or the shard
/// stops.
pub(super) async fn serve(shard: Rc<Shard>, mut stream: TcpStream, peer: SocketAddr) {
    ShardStats::add(&shard.stats.inbound_connections, 1);
    let fd = stream.as_raw_fd();
    if let Err(error) = sys::enable_receive_timestamps(fd) {
        tracing::debug!(%peer, %error, "no receive timestamps: socket wait not measured");
    }
    let mut assembler = FrameAssembler::new();
    let mut frames: Vec<ReceivedFrame> = Vec::with_capacity(MAX_READ_FRAMES);
    let mut copied = 0u64;
    loop {
        if shard.stopping.get() {
            break;
        }
        if assembler.held_buffers() == 0 && shard.pool.borrow().is_exhausted() {
            futures_lite::future::or(shard.buffers_freed.wait(), shard.stopping_event.wait()).await;
            continue;
        }
        assembler.prepare(&mut shard.pool.borrow_mut());
        let Some(received) = read_some(&shard, &mut stream, &mut assembler, peer).await else {
            break;
        };
        if received == 0 {
            break;
        }
        let now = shard.clock.now();
        let committed = assembler.commit(received, now, &mut shard.pool.borrow_mut(), &mut frames);
        let copied_now = assembler.copied_bytes();
        if copied_now > copied {
            ShardStats::add(&shard.stats.copied_bytes, copied_now - copied);
            copied = copied_now;
        }
        shard.offer(now, &mut frames);
        // A busy link always has data, so this loop would never await on its own: let the
        // writers, the timer and the other connections run after every batch.
        futures_lite::future::yield_now().await;
        if let Err(error) = committed {
            let reason = DropReason::from(error);
            shard.stats.count_drop(reason, 1);
            tracing::info!(%peer, %error, reason = reason.label(), "closing connection: corrupt frame");
            break;
        }
    }
    if assembler.has_partial_frame() {
        shard.stats.count_drop(DropReason::MalformedFrame, 1);
        tracing::debug!(%peer, reason = DropReason::MalformedFrame.label(), "connection closed mid-frame");
    }
    assembler.release(&mut shard.pool.borrow_mut());
    shard.buffers_freed.notify();
    shard
        .stats
        .inbound_connections
        .fetch_sub(1, Ordering::Relaxed);
}

/// Reads what the socket has into the assembler's targets: at once when bytes are buffered
/// (with their kernel timestamp), else waiting through glommio. `None` when the connection
/// failed or the shard is stopping; `Some(0)` when the peer closed.
async fn read_some(
    shard: &Shard,
    stream: &mut TcpStream,
    assembler: &mut FrameAssembler,
    peer: SocketAddr,
) -> Option<usize> {
    let fd = stream.as_raw_fd();
    match assembler.with_read_targets(|targets| sys::recv_scatter(fd, targets)) {
        Ok(Some(read)) => {
            if let Some(waited) = read.waited {
                shard.stats.record_socket_wait(waited);
            }
            Some(read.len)
        }
        Ok(None) => {
            // Nothing buffered: wait for data through glommio, reading into the first
            // target so no byte is read twice.
            let read = futures_lite::future::or(
                async { Some(stream.read(assembler.first_target()).await) },
                async {
                    shard.stopping_event.wait().await;
                    None
                },
            )
            .await;
            match read? {
                Ok(received) => Some(received),
                Err(error) => {
                    tracing::debug!(%peer, %error, "inbound connection failed");
                    None
                }
            }
        }
        Err(error) => {
            tracing::debug!(%peer, %error, "inbound connection failed");
            None
        }
    }
}
