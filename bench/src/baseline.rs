//! The Nym-style baseline router: how nym-node's mixnet handler processes packets, rebuilt here
//! so both routers run on the same core, with the same load, in the same benchmark run.
//!
//! Its shape follows nym-node's: a tokio runtime; a task per inbound connection that decodes
//! frames with a `tokio_util` codec (the body copied into its own buffer), parses the packet and
//! expands the shared secret and calls `sphinx-packet`'s `process_with_expanded_secret()` (what
//! `process()` does), checks the replay tag, and sends the result over an mpsc
//! channel to one forwarder task; the forwarder holds a `DelayQueue` for delayed packets and
//! hands due packets to a per-next-hop connection task, which writes them with a framed codec.
//! Zero-delay packets skip the queue, as in nym-node. The replay check uses this project's
//! lock-free filter, so the baseline is not slowed by a lock the comparison is not about.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use router_core::mix::{ReplayCheck, ReplayFilter, ReplayFilterParams};
use router_core::wire::{
    decode_header, decode_node_address, FrameError, FrameHeader, KeyRotation, PacketSize,
};
use sphinx_packet::crypto::PrivateKey;
use sphinx_packet::{ProcessedPacketData, SphinxPacket};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};
use tokio_util::time::DelayQueue;

/// Nym's framing as a tokio codec: one frame in, the packet bytes out (a copy, as `BytesMut`).
#[derive(Debug, Default)]
pub struct NymCodec;

impl Decoder for NymCodec {
    type Item = (FrameHeader, BytesMut);
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        let header = match decode_header(src) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(None),
            Err(error) => return Err(std::io::Error::other(error)),
        };
        if src.len() < header.frame_len() {
            src.reserve(header.frame_len() - src.len());
            return Ok(None);
        }
        src.advance(header.encoded_len());
        let body = src.split_to(header.size.size());
        Ok(Some((header, body)))
    }
}

impl Encoder<Vec<u8>> for NymCodec {
    type Error = std::io::Error;

    fn encode(&mut self, packet: Vec<u8>, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let size = PacketSize::from_packet_len(packet.len())
            .ok_or_else(|| std::io::Error::other(FrameError::UnknownSizeTag(0)))?;
        let header = FrameHeader::v8(size, KeyRotation::Unknown);
        let mut bytes = [0u8; 4];
        let len = header.encode(&mut bytes).map_err(std::io::Error::other)?;
        dst.reserve(len + packet.len());
        dst.put_slice(bytes.get(..len).unwrap_or_default());
        dst.put_slice(&packet);
        Ok(())
    }
}

struct Forward {
    next_hop: SocketAddr,
    delay: Duration,
    packet: Vec<u8>,
}

/// Runs the baseline on the current thread's tokio runtime until the process is killed.
pub async fn serve(
    listen: SocketAddr,
    secret: [u8; 32],
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    let key = Arc::new(PrivateKey::from(secret));
    let params =
        ReplayFilterParams::for_capacity(4_000_000, 1e-7).map_err(std::io::Error::other)?;
    let replay = Arc::new(ReplayFilter::new(params, [0; 32]));
    let (forward_tx, forward_rx) = mpsc::unbounded_channel();
    tokio::spawn(forwarder(forward_rx));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            key.clone(),
            replay.clone(),
            forward_tx.clone(),
        ));
    }
}

async fn connection(
    stream: TcpStream,
    key: Arc<PrivateKey>,
    replay: Arc<ReplayFilter>,
    forward: mpsc::UnboundedSender<Forward>,
) {
    let mut frames = FramedRead::new(stream, NymCodec);
    while let Some(Ok((_header, body))) = frames.next().await {
        let Ok(packet) = SphinxPacket::from_bytes(&body) else {
            continue;
        };
        // As nym-node does: expand the shared secret once, keep its replay tag, process.
        let expanded = packet.header.compute_expanded_shared_secret(&key);
        let tag = *expanded.replay_tag();
        let Ok(processed) = packet.process_with_expanded_secret(&expanded) else {
            continue;
        };
        if replay.check_and_insert(&tag) == ReplayCheck::Replayed {
            continue;
        }
        if let ProcessedPacketData::ForwardHop {
            next_hop_packet,
            next_hop_address,
            delay,
        } = processed.data
        {
            let Ok(next_hop) = decode_node_address(&next_hop_address.to_bytes()) else {
                continue;
            };
            let _ = forward.send(Forward {
                next_hop,
                delay: Duration::from_nanos(delay.to_nanos()),
                packet: next_hop_packet.to_bytes(),
            });
        }
    }
}

async fn forwarder(mut incoming: mpsc::UnboundedReceiver<Forward>) {
    let mut delayed: DelayQueue<(SocketAddr, Vec<u8>)> = DelayQueue::new();
    let mut links: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    loop {
        tokio::select! {
            item = incoming.recv() => {
                let Some(item) = item else { return };
                if item.delay.is_zero() {
                    send(&mut links, item.next_hop, item.packet);
                } else {
                    delayed.insert((item.next_hop, item.packet), item.delay);
                }
            }
            Some(expired) = delayed.next(), if !delayed.is_empty() => {
                let (next_hop, packet) = expired.into_inner();
                send(&mut links, next_hop, packet);
            }
        }
    }
}

fn send(
    links: &mut HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    next_hop: SocketAddr,
    packet: Vec<u8>,
) {
    let link = links.entry(next_hop).or_insert_with(|| {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(link(next_hop, rx));
        tx
    });
    // A full link drops the packet, as nym-node's bounded client buffers do.
    let _ = link.try_send(packet);
}

async fn link(next_hop: SocketAddr, mut packets: mpsc::Receiver<Vec<u8>>) {
    let Ok(stream) = TcpStream::connect(next_hop).await else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut framed = FramedWrite::new(stream, NymCodec);
    while let Some(packet) = packets.recv().await {
        if framed.feed(packet).await.is_err() {
            return;
        }
        // Flush once the channel is drained, so bursts go out in one write.
        while let Ok(packet) = packets.try_recv() {
            if framed.feed(packet).await.is_err() {
                return;
            }
        }
        if framed.flush().await.is_err() {
            return;
        }
    }
}
