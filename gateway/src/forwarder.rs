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
//!
//! Links are Noise as the node's engine's are ([`ForwarderLinks`], the same mode and keys):
//! each frame is built with room for a Noise header and tag around it and, on a Noise link,
//! sealed in place as one transport message just before it is written.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use router_core::noise::handshake::{self, expect_handshake, StaticKey, MESSAGE_LENS};
use router_core::noise::header::HEADER_LEN;
use router_core::noise::peers::{LinkPeers, NoiseMode, OutboundLink};
use router_core::noise::transport::Transport;
use router_core::noise::TAG_LEN;
use router_core::wire::{encode_frame, FrameHeader, FramingVersion, KeyRotation, PacketSize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::stats::GatewayStats;

/// Noise on the links to first hops: the node's mode and key, the peers' keys (replaced when
/// the topology changes).
#[derive(Debug)]
pub struct ForwarderLinks {
    /// Required, optional or off.
    pub mode: NoiseMode,
    /// The gateway's static Noise key.
    pub key: StaticKey,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
    peers: RwLock<Arc<LinkPeers>>,
}

impl ForwarderLinks {
    /// Links in `mode` with `key`, to `peers` until [`Self::set_peers`].
    pub fn new(
        mode: NoiseMode,
        key: StaticKey,
        handshake_timeout: Duration,
        peers: LinkPeers,
    ) -> Self {
        ForwarderLinks {
            mode,
            key,
            handshake_timeout,
            peers: RwLock::new(Arc::new(peers)),
        }
    }

    /// Replaces the peers' keys (new links use them).
    pub fn set_peers(&self, peers: LinkPeers) {
        *self.peers.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(peers);
    }

    fn outbound(&self, addr: SocketAddr) -> OutboundLink {
        self.peers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .outbound(self.mode, addr)
    }
}

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
    links: Arc<ForwarderLinks>,
    stats: Arc<GatewayStats>,
}

impl Forwarder {
    /// A forwarder whose peer tasks run on the current tokio runtime.
    pub fn new(
        settings: ForwarderSettings,
        links: Arc<ForwarderLinks>,
        stats: Arc<GatewayStats>,
    ) -> Self {
        Forwarder {
            peers: Arc::default(),
            settings,
            links,
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
        // Room for a Noise header before the frame and a tag after it.
        let mut frame = vec![0u8; HEADER_LEN + header.frame_len() + TAG_LEN];
        let room = frame.get_mut(HEADER_LEN..HEADER_LEN + header.frame_len());
        encode_frame(&header, packet, room.unwrap_or_default())
            .map_err(|_| ForwardError::Size(packet.len()))?;
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        // A peer task that idled out has closed its queue: start a new one.
        if peers.get(&first_hop).is_some_and(|tx| tx.is_closed()) {
            peers.remove(&first_hop);
        }
        let sender = peers.entry(first_hop).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(self.settings.queue_capacity);
            tokio::spawn(run_peer(
                first_hop,
                rx,
                self.settings,
                self.links.clone(),
                self.stats.clone(),
            ));
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

/// A connection to a first hop: plain, or Noise with its session.
struct Link {
    stream: tokio::net::TcpStream,
    transport: Option<Transport>,
}

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

/// Reads handshake message `step`, its header checked before its body is read.
async fn read_handshake(stream: &mut tokio::net::TcpStream, step: u8) -> Result<Vec<u8>, String> {
    let mut header = [0u8; HEADER_LEN];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|e| e.to_string())?;
    expect_handshake(&header, step).map_err(|e| e.to_string())?;
    let mut body = vec![0u8; MESSAGE_LENS[usize::from(step - 1)]];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(body)
}

/// The initiator's side of the Noise handshake with the first hop whose key is `responder`.
async fn open_noise(
    stream: &mut tokio::net::TcpStream,
    local: &StaticKey,
    responder: &[u8; 32],
) -> Result<Transport, String> {
    let (waiting, first) = handshake::initiate(local, responder).map_err(|e| e.to_string())?;
    stream.write_all(&first).await.map_err(|e| e.to_string())?;
    let second = read_handshake(stream, 2).await?;
    let (third, session) = waiting.read_second(&second).map_err(|e| e.to_string())?;
    stream.write_all(&third).await.map_err(|e| e.to_string())?;
    Ok(session.transport)
}

/// A link to `addr` as the links' mode and keys ask, or why there is none.
async fn open_link(
    addr: SocketAddr,
    settings: &ForwarderSettings,
    links: &ForwarderLinks,
) -> Result<Link, String> {
    let plan = links.outbound(addr);
    if plan == OutboundLink::NoKey {
        return Err("Noise is required and the topology has no key for this first hop".into());
    }
    let mut stream = connect(addr, settings)
        .await
        .ok_or_else(|| "cannot connect".to_string())?;
    let transport = match plan {
        OutboundLink::Noise(key) => {
            let handshake = open_noise(&mut stream, &links.key, &key);
            match tokio::time::timeout(links.handshake_timeout, handshake).await {
                Ok(result) => Some(result?),
                Err(_) => return Err("the Noise handshake timed out".into()),
            }
        }
        OutboundLink::Plain | OutboundLink::NoKey => None,
    };
    Ok(Link { stream, transport })
}

async fn run_peer(
    addr: SocketAddr,
    mut queue: mpsc::Receiver<Vec<u8>>,
    settings: ForwarderSettings,
    links: Arc<ForwarderLinks>,
    stats: Arc<GatewayStats>,
) {
    let mut link: Option<Link> = None;
    let mut warned = false;
    // A peer with nothing to send for a while gives up its connection and its task (the
    // topology changes; old first hops must not be kept forever).
    while let Ok(Some(mut frame)) = tokio::time::timeout(PEER_IDLE, queue.recv()).await {
        if link.is_none() {
            match open_link(addr, &settings, &links).await {
                Ok(opened) => {
                    link = Some(opened);
                    warned = false;
                }
                Err(error) => {
                    // Said once per failing stretch: a first hop that stays unreachable
                    // would otherwise log every frame.
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(%addr, %error, "no link to first hop; frames dropped");
                    } else {
                        tracing::debug!(%addr, %error, "no link to first hop; frame dropped");
                    }
                    GatewayStats::add(&stats.forward_dropped, 1);
                    continue;
                }
            }
        }
        let Some(conn) = link.as_mut() else {
            continue;
        };
        let wire = match conn.transport.as_mut() {
            Some(transport) => match transport.seal(&mut frame) {
                Ok(()) => frame.as_slice(),
                Err(error) => {
                    tracing::warn!(%addr, %error, "closing a Noise link to a first hop");
                    GatewayStats::add(&stats.forward_dropped, 1);
                    link = None;
                    continue;
                }
            },
            None => frame
                .get(HEADER_LEN..frame.len() - TAG_LEN)
                .unwrap_or_default(),
        };
        if let Err(error) = conn.stream.write_all(wire).await {
            tracing::debug!(%addr, %error, "first hop connection lost; frame dropped");
            GatewayStats::add(&stats.forward_dropped, 1);
            link = None;
        }
    }
}
