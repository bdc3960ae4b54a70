//! One inbound connection: scatter reads into pooled buffers, then the batch goes to the mixer.
//!
//! Each read completes as many frames as arrived; they join the shard's pending batch (see
//! [`crate::pipeline::batching`]), which a busy link fills at once and quiet ones, together,
//! within the linger. When the shard's buffers are used up the reader stops reading and TCP
//! pushes back on the sender; so it does while a next hop its packets went to is congested
//! ([`super::backpressure`]). A corrupt frame header closes only this connection, and so does
//! silence: no complete frame within the first-frame timeout, or no byte within the idle
//! timeout ([`super::limits`]). A new connection takes no packet buffer until its first byte
//! arrives (it is peeked into the stack), so silent connections cost the shard no memory.
//!
//! That first byte also says what the connection is: a Noise header (version 1) starts a
//! handshake ([`super::link`]), after which frames arrive as transport messages
//! ([`SealedAssembler`]); Nym's plain framing (7 or 8) is served when the node's Noise mode
//! accepts plain links, and refused, counted and logged when it requires Noise.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use super::limits::Admitted;
use super::link;
use super::shard::Shard;
use super::sys;
use crate::mix::{DropReason, Timestamp};
use crate::noise::header::VERSION as NOISE_VERSION;
use crate::pipeline::{
    BufferPool, FrameAssembler, LinkDirection, LinkError, ReceivedFrame, SealedAssembler,
    ShardStats, MAX_READ_FRAMES,
};
use crate::wire::FrameError;

/// What one read gave.
enum Read {
    /// Bytes (0: the peer closed).
    Bytes(usize),
    /// Nothing within the time allowed.
    TimedOut,
    /// The connection failed, or the shard is stopping.
    Over,
}

/// A connection's reassembly: plain frames, or frames in Noise transport messages.
enum Reassembly {
    Plain(FrameAssembler),
    Sealed(Box<SealedAssembler>),
}

/// Why a connection's byte stream became unusable.
enum Corrupt {
    Frame(FrameError),
    Link(LinkError),
}

impl Reassembly {
    fn prepare(&mut self, pool: &mut BufferPool) {
        match self {
            Self::Plain(a) => a.prepare(pool),
            Self::Sealed(a) => a.prepare(pool),
        }
    }

    fn held_buffers(&self) -> usize {
        match self {
            Self::Plain(a) => a.held_buffers(),
            Self::Sealed(a) => a.held_buffers(),
        }
    }

    fn with_read_targets<R>(
        &mut self,
        read: impl FnOnce(&mut [std::io::IoSliceMut<'_>]) -> R,
    ) -> R {
        match self {
            Self::Plain(a) => a.with_read_targets(read),
            Self::Sealed(a) => a.with_read_targets(read),
        }
    }

    fn first_target(&mut self) -> &mut [u8] {
        match self {
            Self::Plain(a) => a.first_target(),
            Self::Sealed(a) => a.first_target(),
        }
    }

    fn commit(
        &mut self,
        received: usize,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), Corrupt> {
        match self {
            Self::Plain(a) => a.commit(received, now, pool, out).map_err(Corrupt::Frame),
            Self::Sealed(a) => a.commit(received, now, pool, out).map_err(Corrupt::Link),
        }
    }

    fn release(&mut self, pool: &mut BufferPool) {
        match self {
            Self::Plain(a) => a.release(pool),
            Self::Sealed(a) => a.release(pool),
        }
    }

    fn has_partial_frame(&self) -> bool {
        match self {
            Self::Plain(a) => a.has_partial_frame(),
            Self::Sealed(a) => a.has_partial_frame(),
        }
    }

    fn copied_bytes(&self) -> u64 {
        match self {
            Self::Plain(a) => a.copied_bytes(),
            Self::Sealed(a) => a.copied_bytes(),
        }
    }
}

/// Serves one inbound connection until the peer closes it, it turns out corrupt or silent,
/// or the shard stops. `admitted` holds its place in the node's connection table.
pub(super) async fn serve(
    shard: Rc<Shard>,
    mut stream: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
) {
    let _admitted = admitted;
    let limits = shard.settings.inbound;
    let opened = Instant::now();
    let mut last_bytes = opened;
    let mut framed = false;
    ShardStats::add(&shard.stats.inbound_connections, 1);
    let fd = stream.as_raw_fd();
    if let Err(error) = sys::enable_receive_timestamps(fd) {
        tracing::debug!(%peer, %error, "no receive timestamps: socket wait not measured");
    }
    // A new connection takes no packet buffer until its first byte is there, and none
    // before its Noise handshake is done.
    let mut first = [0u8; 1];
    let transport = match wait_first_byte(
        &shard,
        &stream,
        peer,
        limits.first_frame_timeout,
        &mut first,
    )
    .await
    {
        Read::Bytes(0) | Read::Over => Err(()),
        Read::TimedOut => {
            count_silent(&shard, peer, false);
            Err(())
        }
        Read::Bytes(_) if first[0] == NOISE_VERSION => {
            match link::accept(&shard, &mut stream).await {
                Ok(session) => Ok(Some(session)),
                Err(failed) => {
                    failed.report(&shard, LinkDirection::Inbound, peer);
                    Err(())
                }
            }
        }
        Read::Bytes(_) if !shard.settings.noise_mode.accepts_plain() => {
            shard
                .stats
                .count_link_failure(LinkDirection::Inbound, "plain_refused");
            tracing::info!(
                %peer,
                "refusing a plain TCP link: this node requires Noise (engine.noise = \"required\")"
            );
            Err(())
        }
        Read::Bytes(_) => Ok(None),
    };
    let started = transport.is_ok();
    let (source, inflow) = shard.register_inflow();
    // The initiator's key, checked again whenever the node installs new peers.
    let mut remote = None;
    let mut links_seen = shard.links_generation.get();
    let mut assembler = match transport {
        Ok(Some((transport, key))) => {
            remote = Some(key);
            Reassembly::Sealed(Box::new(SealedAssembler::new(transport, source)))
        }
        _ => Reassembly::Plain(FrameAssembler::with_source(source)),
    };
    let mut frames: Vec<ReceivedFrame> = Vec::with_capacity(MAX_READ_FRAMES);
    let mut copied = 0u64;
    loop {
        if !started || shard.stopping.get() {
            break;
        }
        if links_seen != shard.links_generation.get() {
            links_seen = shard.links_generation.get();
            if remote.is_some_and(|key| !shard.links.borrow().admits(&key)) {
                shard
                    .stats
                    .count_link_failure(LinkDirection::Inbound, "unknown_peer");
                tracing::info!(%peer, "closing a Noise link: its key is no longer in the topology");
                break;
            }
        }
        inflow.wait_for_room(&shard).await;
        if assembler.held_buffers() == 0 && shard.pool.borrow().is_exhausted() {
            futures_lite::future::or(shard.buffers_freed.wait(), shard.stopping_event.wait()).await;
            continue;
        }
        assembler.prepare(&mut shard.pool.borrow_mut());
        let allowed = if framed {
            limits.idle_timeout.saturating_sub(last_bytes.elapsed())
        } else {
            limits.first_frame_timeout.saturating_sub(opened.elapsed())
        };
        let received = match read_some(&shard, &mut stream, &mut assembler, peer, allowed).await {
            Read::Bytes(0) | Read::Over => break,
            Read::Bytes(received) => received,
            Read::TimedOut => {
                count_silent(&shard, peer, framed);
                break;
            }
        };
        last_bytes = Instant::now();
        let now = shard.clock.now();
        let committed = assembler.commit(received, now, &mut shard.pool.borrow_mut(), &mut frames);
        framed |= !frames.is_empty();
        let copied_now = assembler.copied_bytes();
        if copied_now > copied {
            ShardStats::add(&shard.stats.copied_bytes, copied_now - copied);
            copied = copied_now;
        }
        shard.offer(now, &mut frames);
        // A busy link always has data, so this loop would never await on its own: let the
        // writers, the timer and the other connections run after every batch.
        futures_lite::future::yield_now().await;
        match committed {
            Ok(()) => {}
            Err(Corrupt::Frame(error)) => {
                let reason = DropReason::from(error);
                shard.stats.count_drop(reason, 1);
                tracing::info!(%peer, %error, reason = reason.label(), "closing connection: corrupt frame");
                break;
            }
            Err(Corrupt::Link(error)) => {
                shard
                    .stats
                    .count_link_failure(LinkDirection::Inbound, error.label());
                tracing::info!(%peer, %error, reason = error.label(), "closing a Noise link");
                break;
            }
        }
    }
    if assembler.has_partial_frame() {
        shard.stats.count_drop(DropReason::MalformedFrame, 1);
        tracing::debug!(%peer, reason = DropReason::MalformedFrame.label(), "connection closed mid-frame");
    }
    assembler.release(&mut shard.pool.borrow_mut());
    shard.forget_inflow(source);
    shard.buffers_freed.notify();
    shard
        .stats
        .inbound_connections
        .fetch_sub(1, Ordering::Relaxed);
}

/// Counts a connection closed for silence: before its first frame, or (`framed`) after.
fn count_silent(shard: &Shard, peer: SocketAddr, framed: bool) {
    let (counter, what) = if framed {
        (&shard.stats.inbound_idle_timeouts, "idle")
    } else {
        (
            &shard.stats.inbound_first_frame_timeouts,
            "no complete frame",
        )
    };
    ShardStats::add(counter, 1);
    tracing::debug!(%peer, what, "closing a silent inbound connection");
}

/// Waits, for at most `allowed`, until the connection has a byte to read (peeked into the
/// stack, not read), or is closed, or the shard stops.
async fn wait_first_byte(
    shard: &Shard,
    stream: &TcpStream,
    peer: SocketAddr,
    allowed: Duration,
    byte: &mut [u8; 1],
) -> Read {
    let peek = async { stream.peek(byte).await.map_err(std::io::Error::from) };
    within(shard, allowed, peek, peer).await
}

/// Races `read` (or a peek) against the shard's stop and `allowed`.
async fn within(
    shard: &Shard,
    allowed: Duration,
    read: impl std::future::Future<Output = std::io::Result<usize>>,
    peer: SocketAddr,
) -> Read {
    let outcome = futures_lite::future::or(
        async { Some(read.await) },
        futures_lite::future::or(
            async {
                shard.stopping_event.wait().await;
                None
            },
            async {
                glommio::timer::sleep(allowed).await;
                Some(Err(std::io::ErrorKind::TimedOut.into()))
            },
        ),
    )
    .await;
    match outcome {
        None => Read::Over,
        Some(Ok(received)) => Read::Bytes(received),
        Some(Err(error)) if error.kind() == std::io::ErrorKind::TimedOut => Read::TimedOut,
        Some(Err(error)) => {
            tracing::debug!(%peer, %error, "inbound connection failed");
            Read::Over
        }
    }
}

/// Reads what the socket has into the assembler's targets: at once when bytes are buffered
/// (with their kernel timestamp), else waiting through glommio for at most `allowed`.
async fn read_some(
    shard: &Shard,
    stream: &mut TcpStream,
    assembler: &mut Reassembly,
    peer: SocketAddr,
    allowed: Duration,
) -> Read {
    let fd = stream.as_raw_fd();
    match assembler.with_read_targets(|targets| sys::recv_scatter(fd, targets)) {
        Ok(Some(read)) => {
            if let Some(waited) = read.waited {
                shard.stats.record_socket_wait(waited);
            }
            Read::Bytes(read.len)
        }
        Ok(None) => {
            // Nothing buffered: wait for data through glommio, reading into the first
            // target so no byte is read twice.
            within(shard, allowed, stream.read(assembler.first_target()), peer).await
        }
        Err(error) => {
            tracing::debug!(%peer, %error, "inbound connection failed");
            Read::Over
        }
    }
}
