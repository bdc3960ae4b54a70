//! The entry role's outgoing side: client packets and SURB-ACKs to layer-1 mixnodes.
//!
//! One task per first hop owns a TCP connection and a bounded queue of ready frames (Nym
//! framing, version 8 unless configured otherwise). A connection that fails is reopened with
//! capped exponential backoff; the frame being written when it failed is lost and counted, as
//! is any frame that finds its queue full. The set of peers is bounded by the entry policy
//! (callers only send to layer-1 nodes of the topology) and a task with nothing to send for
//! two minutes ends.
//!
//! This runs on tokio, beside the websocket server, rather than on the glommio shards: the
//! packets are already whole (no unwrap), arrive at client rates from tokio tasks, and a
//! cross-runtime hop into the shards would cost more than the write itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use router_core::wire::{encode_frame, FrameHeader, FramingVersion, KeyRotation, PacketSize};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::stats::GatewayStats;

/// Connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ForwarderSettings {
    /// Frames queued per first hop.
    pub queue_capacity: usize,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// First wait after a failure; doubles per failure.
    pub backoff_initial: Duration,
    /// Longest wait.
    pub backoff_max: Duration,
    /// Framing version written.
    pub version: FramingVersion,
}

/// Why a packet was not queued.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardError {
    /// The first hop's queue is full.
    #[error("the queue to {0} is full")]
    QueueFull(SocketAddr),
    /// Not a Sphinx packet size.
    #[error("a packet of {0} bytes is not a Sphinx packet size")]
    Size(usize),
}

/// Sends packets to first hops; cheap to clone.
#[derive(Clone, Debug)]
pub struct Forwarder {
    peers: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>,
    settings: ForwarderSettings,
    stats: Arc<GatewayStats>,
}

impl Forwarder {
    /// A forwarder whose peer tasks run on the current tokio runtime.
    pub fn new(settings: ForwarderSettings, stats: Arc<GatewayStats>) -> Self {
        Forwarder {
            peers: Arc::default(),
            settings,
            stats,
        }
    }

    /// Queues `packet` for `first_hop`, framing it with `key_rotation` (the rotation whose
    /// keys it was built with, as its sender said; v8 frames only).
    pub fn send(
        &self,
        first_hop: SocketAddr,
        key_rotation: KeyRotation,
        packet: &[u8],
    ) -> Result<(), ForwardError> {
        let size =
            PacketSize::from_packet_len(packet.len()).ok_or(ForwardError::Size(packet.len()))?;
        let header = match self.settings.version {
            FramingVersion::V7 => FrameHeader::v7(size),
            _ => FrameHeader::v8(size, key_rotation),
        };
        let mut frame = vec![0u8; header.frame_len()];
        encode_frame(&header, packet, &mut frame).map_err(|_| ForwardError::Size(packet.len()))?;
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        // A peer task that idled out has closed its queue: start a new one.
        if peers.get(&first_hop).is_some_and(|tx| tx.is_closed()) {
            peers.remove(&first_hop);
        }
        let sender = peers.entry(first_hop).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(self.settings.queue_capacity);
            tokio::spawn(run_peer(first_hop, rx, self.settings, self.stats.clone()));
            tx
        });
        sender.try_send(frame).map_err(|_| {
            GatewayStats::add(&self.stats.forward_dropped, 1);
            ForwardError::QueueFull(first_hop)
        })
    }
}

/// Connection attempts for one frame before it is dropped (the next frame tries again).
const CONNECT_ATTEMPTS: u32 = 5;

/// How long a first hop's task lives without frames.
const PEER_IDLE: Duration = Duration::from_secs(120);

async fn connect(addr: SocketAddr, settings: &ForwarderSettings) -> Option<tokio::net::TcpStream> {
    let mut backoff = settings.backoff_initial;
    for attempt in 1..=CONNECT_ATTEMPTS {
        match tokio::time::timeout(
            settings.connect_timeout,
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Some(stream);
            }
            Ok(Err(error)) => tracing::debug!(%addr, %error, "cannot connect to first hop"),
            Err(_) => tracing::debug!(%addr, "connecting to first hop timed out"),
        }
        if attempt < CONNECT_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(settings.backoff_max);
        }
    }
    None
}

async fn run_peer(
    addr: SocketAddr,
    mut queue: mpsc::Receiver<Vec<u8>>,
    settings: ForwarderSettings,
    stats: Arc<GatewayStats>,
) {
    let mut stream: Option<tokio::net::TcpStream> = None;
    // A peer with nothing to send for a while gives up its connection and its task (the
    // topology changes; old first hops must not be kept forever).
    while let Ok(Some(frame)) = tokio::time::timeout(PEER_IDLE, queue.recv()).await {
        if stream.is_none() {
            stream = connect(addr, &settings).await;
        }
        let Some(conn) = stream.as_mut() else {
            continue;
        };
        if let Err(error) = conn.write_all(&frame).await {
            tracing::debug!(%addr, %error, "first hop connection lost; frame dropped");
            GatewayStats::add(&stats.forward_dropped, 1);
            stream = None;
        }
    }
}
