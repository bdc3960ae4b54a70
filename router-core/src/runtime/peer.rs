//! The connection to one next hop: a bounded queue and the task that writes it.
//!
//! The task connects on the first packet (with a timeout), writes the queue with gather writes,
//! and on failure drops what is queued (`next_hop_unreachable`: a packet that waits out a
//! reconnect would leave with a delay its sender did not choose), then retries with capped
//! exponential backoff while new packets queue up to the bound.
//!
//! Each turn the writer empties the queue as far as the socket takes it (up to
//! [`WRITE_BUDGET`] frames) before it yields: one writer must keep up with every reader that
//! feeds it, each of which completes up to a read's worth of frames per turn. When the socket
//! does not take more, the queue grows, and past its high-water mark the readers feeding it
//! pause ([`super::backpressure`]).
//!
//! A link to a next hop whose Noise key is known runs a Noise handshake right after the
//! connect ([`super::link`]); its frames are then sealed in place just before their first
//! write ([`OutboundQueue::seal_front`]). When such a link fails, the frames sealed for it are
//! dropped (`next_hop_unreachable`): their nonces belong to the lost session.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use futures_lite::AsyncWriteExt;

use glommio::net::TcpStream;

use super::event::LocalEvent;
use super::link;
use super::shard::Shard;
use super::sys;
use crate::mix::DropReason;
use crate::noise::peers::OutboundLink;
use crate::noise::transport::Transport;
use crate::pipeline::{LinkDirection, OutboundQueue, QueuePressure, ShardStats, MAX_WRITE_FRAMES};
use std::cell::{Cell, RefCell};

/// Most frames written to one next hop per turn of its task (when the socket takes them).
pub const WRITE_BUDGET: usize = 16 * MAX_WRITE_FRAMES;

/// A link lost sooner than this after it opened counts as refused: the next one waits.
const REFUSED_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a link's writer returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkEnd {
    /// Nothing to write for the idle time: this node closed it.
    Idle,
    /// The connection failed, or the link's cipher did.
    Lost,
}

/// One next hop, as seen from one shard.
pub struct Peer {
    pub(super) addr: SocketAddr,
    pub(super) queue: RefCell<OutboundQueue>,
    /// Notified when a frame is queued.
    pub(super) ready: LocalEvent,
    /// Whether the queue is congested, and since when.
    pub(super) pressure: RefCell<QueuePressure>,
    /// Notified when a congestion ends.
    pub(super) drained: LocalEvent,
    /// Whether a reset plain link was already reported at `warn` (once per next hop).
    warned_plain_reset: Cell<bool>,
}

impl Peer {
    /// The shard's peer for `addr`, starting its writer task on first use.
    pub(super) fn get_or_spawn(shard: &Rc<Shard>, addr: SocketAddr) -> Rc<Peer> {
        if let Some(peer) = shard.peers.borrow().get(&addr) {
            return peer.clone();
        }
        let peer = Rc::new(Peer {
            addr,
            queue: RefCell::new(OutboundQueue::new(shard.settings.peer_queue_capacity)),
            ready: LocalEvent::default(),
            pressure: RefCell::new(QueuePressure::new(
                shard.settings.peer_queue_capacity,
                shard.settings.peer_queue_patience,
            )),
            drained: LocalEvent::default(),
            warned_plain_reset: Cell::new(false),
        });
        shard.peers.borrow_mut().insert(addr, peer.clone());
        glommio::spawn_local(run(shard.clone(), peer.clone())).detach();
        peer
    }
}

async fn run(shard: Rc<Shard>, peer: Rc<Peer>) {
    let mut backoff = shard.settings.backoff_initial;
    loop {
        while peer.queue.borrow().is_empty() {
            peer.ready.wait().await;
        }
        let link = shard
            .links
            .borrow()
            .outbound(shard.settings.noise_mode, peer.addr);
        let connected = match link {
            OutboundLink::NoKey => Err(link::Failed {
                reason: "no_key",
                detail: "Noise is required and the topology has no key for this next hop".into(),
            }),
            OutboundLink::Plain | OutboundLink::Noise(_) => connect(&shard, &peer, link).await,
        };
        let (stream, transport) = match connected {
            Ok(connected) => connected,
            Err(failed) => {
                if failed.reason != "connect" {
                    failed.report(&shard, LinkDirection::Outbound, peer.addr);
                }
                tracing::warn!(peer = %peer.addr, error = %failed.detail, retry_in = ?backoff, "cannot reach next hop");
                shard.drop_queued(&mut peer.queue.borrow_mut(), DropReason::NextHopUnreachable);
                peer.relieve_if_drained();
                if shard.stopping.get() {
                    return;
                }
                glommio::timer::sleep(backoff).await;
                backoff = (backoff * 2).min(shard.settings.backoff_max);
                continue;
            }
        };
        ShardStats::add(&shard.stats.outbound_connections, 1);
        let sealed = transport.is_some();
        tracing::debug!(peer = %peer.addr, noise = sealed, "connected to next hop");
        let opened = std::time::Instant::now();
        let ended = write_queue(&shard, &peer, stream, transport).await;
        // A link lost within a second was most likely refused after the connect (a next hop
        // that does not admit this node's key, or that requires Noise): back off as for a
        // failed connect, or every batch would cost a connection and a handshake. A link
        // that lasted, or that this node closed for idleness, starts the backoff over.
        let short_lived = ended == LinkEnd::Lost && opened.elapsed() < REFUSED_WITHIN;
        let backoff_now = backoff;
        if short_lived {
            backoff = (backoff * 2).min(shard.settings.backoff_max);
        } else {
            backoff = shard.settings.backoff_initial;
        }
        shard
            .stats
            .outbound_connections
            .fetch_sub(1, Ordering::Relaxed);
        if sealed {
            let mut queue = peer.queue.borrow_mut();
            let mut dropped = 0u64;
            queue.drain_sealed(|packet| {
                dropped += 1;
                shard.give_buffer(packet.buf);
            });
            if dropped > 0 {
                shard
                    .stats
                    .count_drop(DropReason::NextHopUnreachable, dropped);
                shard
                    .stats
                    .peer_queue_depth
                    .fetch_sub(dropped, Ordering::Relaxed);
            }
            drop(queue);
            peer.relieve_if_drained();
        } else {
            // A frame cut off mid-way is resent whole on the next connection.
            peer.queue.borrow_mut().restart_front();
        }
        if short_lived && !shard.stopping.get() {
            glommio::timer::sleep(backoff_now).await;
        }
    }
}

/// Connects to the next hop and, for a Noise link, runs the handshake.
async fn connect(
    shard: &Shard,
    peer: &Peer,
    link: OutboundLink,
) -> Result<(TcpStream, Option<Transport>), link::Failed> {
    let connect = TcpStream::connect_timeout(peer.addr, shard.settings.connect_timeout);
    let mut stream = connect.await.map_err(|error| link::Failed {
        reason: "connect",
        detail: error.to_string(),
    })?;
    let _ = stream.set_nodelay(true);
    match link {
        OutboundLink::Noise(key) => {
            let transport = link::open(shard, &mut stream, &key).await?;
            Ok((stream, Some(transport)))
        }
        OutboundLink::Plain | OutboundLink::NoKey => Ok((stream, None)),
    }
}

/// Writes the queue until the connection fails. The task keeps running through a shutdown's
/// grace period (packets released from the wheel still leave) and ends with the shard.
/// A link with nothing to write for [`super::ShardSettings::outbound_idle`] is closed, before the
/// next hop's own idle timeout can close it under a packet being written.
async fn write_queue(
    shard: &Rc<Shard>,
    peer: &Rc<Peer>,
    mut stream: TcpStream,
    mut transport: Option<Transport>,
) -> LinkEnd {
    let fd = stream.as_raw_fd();
    let sealed = transport.is_some();
    let mut written_this_turn = 0usize;
    loop {
        if peer.queue.borrow().is_empty() {
            written_this_turn = 0;
            let idle = shard.settings.outbound_idle;
            let woken = futures_lite::future::or(
                async {
                    peer.ready.wait().await;
                    true
                },
                async {
                    glommio::timer::sleep(idle).await;
                    false
                },
            )
            .await;
            if !woken && peer.queue.borrow().is_empty() {
                tracing::debug!(peer = %peer.addr, ?idle, "closing an idle link to a next hop");
                return LinkEnd::Idle;
            }
            continue;
        }
        if let Some(transport) = transport.as_mut() {
            let result = peer
                .queue
                .borrow_mut()
                .seal_front(|message| transport.seal(message));
            if let Err(error) = result {
                shard
                    .stats
                    .count_link_failure(LinkDirection::Outbound, error.label());
                tracing::warn!(peer = %peer.addr, %error, "closing a Noise link");
                return LinkEnd::Lost;
            }
        }
        let result = peer
            .queue
            .borrow()
            .with_write_targets(sealed, |sources| sys::send_gather(fd, sources));
        let written = match result {
            Ok(Some(written)) => written,
            Ok(None) => {
                // The socket buffer is full: wait for room by writing the front frame's rest
                // through glommio. The frame is taken out of the queue while the write is in
                // flight, so other tasks can keep queueing behind it.
                let Some((packet, sent)) = peer.queue.borrow_mut().take_front() else {
                    continue;
                };
                let written = stream
                    .write(packet.wire().get(sent..).unwrap_or_default())
                    .await;
                let written = match written {
                    Ok(written) => written,
                    Err(error) => {
                        peer.queue.borrow_mut().restore_front(packet, 0);
                        link_lost(peer, sealed, &error);
                        return LinkEnd::Lost;
                    }
                };
                peer.queue.borrow_mut().restore_front(packet, sent);
                written
            }
            Err(error) => {
                link_lost(peer, sealed, &error);
                return LinkEnd::Lost;
            }
        };
        let mut completed = 0u64;
        peer.queue.borrow_mut().advance(written, |packet| {
            completed += 1;
            shard.sent(packet);
        });
        shard
            .stats
            .peer_queue_depth
            .fetch_sub(completed, Ordering::Relaxed);
        peer.relieve_if_drained();
        // Take turns with the readers once the budget is spent: a fast socket would otherwise
        // keep this loop running.
        written_this_turn += usize::try_from(completed).unwrap_or(usize::MAX);
        if written_this_turn >= WRITE_BUDGET {
            written_this_turn = 0;
            futures_lite::future::yield_now().await;
        }
    }
}

/// Logs a lost link. A plain link the next hop resets is what a node that requires Noise
/// does to it: said once per next hop at `warn`, with what to do.
fn link_lost(peer: &Peer, sealed: bool, error: &std::io::Error) {
    let reset = matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    );
    if !sealed && reset && !peer.warned_plain_reset.replace(true) {
        tracing::warn!(
            peer = %peer.addr,
            %error,
            "next hop reset a plain TCP link: if it requires Noise, give its key (the topology, \
             or --danger-noise-peer) and keep engine.noise at \"required\" or \"optional\""
        );
    } else {
        tracing::debug!(peer = %peer.addr, %error, "next hop connection lost");
    }
}
