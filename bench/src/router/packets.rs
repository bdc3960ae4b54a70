//! The load: unique regular packets built by `sphinx-packet`, whose first hop is the router under
//! test and whose second is the sink, stored as one contiguous run of version-8 frames so the
//! load generator writes many with one call.
//!
//! Every packet must be new to the router (a repeat is a replay and is dropped), so the set is
//! built up front, on every core, before anything is measured. The sink recognises each
//! forwarded packet by the first bytes of its new alpha, computed here by unwrapping a copy with
//! the router's key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use router_core::sphinx::{BatchUnwrapper, SphinxSecretKey};
use router_core::wire::{encode_frame, encode_node_address, FrameHeader, KeyRotation, PacketSize};
use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::SphinxPacketBuilder;

/// Bytes of one frame: a version-8 header and a regular packet.
pub const FRAME_LEN: usize = 4 + 2413;

/// Pre-built frames and the index of each forwarded packet by its alpha prefix.
#[derive(Debug, Default)]
pub struct PacketSet {
    /// `count` frames back to back.
    pub frames: Vec<u8>,
    /// Forwarded-packet alpha prefix → packet index.
    pub ids: HashMap<u64, u32>,
}

impl PacketSet {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len() / FRAME_LEN
    }

    /// No frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frames `range` as one slice.
    pub fn frames(&self, range: std::ops::Range<usize>) -> &[u8] {
        self.frames
            .get(range.start * FRAME_LEN..range.end * FRAME_LEN)
            .unwrap_or_default()
    }
}

/// One builder thread's frames and the ids of their forwarded packets.
type Part = (Vec<u8>, Vec<u64>);

/// The id the sink reads off a forwarded packet.
pub fn forwarded_id(packet: &[u8]) -> Option<u64> {
    let prefix: [u8; 8] = packet.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(prefix))
}

/// Builds `count` packets through `router` (its secret) to `sink`, held `delay` at the router,
/// on `threads` threads; with `index` the sink ids are computed too.
pub fn build(
    count: usize,
    router_secret: [u8; 32],
    sink: SocketAddr,
    delay: Duration,
    threads: usize,
    index: bool,
) -> Result<PacketSet, String> {
    let router_public = PublicKey::from(&PrivateKey::from(router_secret));
    let route = [
        Node::new(NodeAddressBytes::from_bytes([0; 32]), router_public),
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&sink)),
            PublicKey::from(&PrivateKey::from([0x5a; 32])),
        ),
    ];
    let delays = [
        Delay::new_from_nanos(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX)),
        Delay::new_from_nanos(0),
    ];
    let destination = Destination::new(DestinationAddressBytes::from_bytes([1; 32]), [2; 16]);
    let threads = threads.max(1);
    let per_thread = count.div_ceil(threads);
    let parts: Vec<Result<Part, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let n = per_thread.min(count.saturating_sub(t * per_thread));
                let (route, delays, destination) = (&route, &delays, &destination);
                scope.spawn(move || {
                    let mut frames = vec![0u8; n * FRAME_LEN];
                    let mut ids = Vec::with_capacity(if index { n } else { 0 });
                    let mut unwrapper =
                        BatchUnwrapper::new(SphinxSecretKey::from_bytes(router_secret));
                    let mut results = Vec::new();
                    let header = FrameHeader::v8(PacketSize::Regular, KeyRotation::Unknown);
                    for frame in frames.chunks_mut(FRAME_LEN) {
                        let packet = SphinxPacketBuilder::new()
                            .with_payload_size(PacketSize::Regular.size() - 348)
                            .build_packet(b"router benchmark", route, destination, delays)
                            .map_err(|e| format!("building a packet: {e}"))?;
                        let body = packet.to_bytes();
                        encode_frame(&header, &body, frame).map_err(|e| e.to_string())?;
                        if index {
                            let mut copy = [body];
                            unwrapper.unwrap_batch(&mut copy, &mut results);
                            let [body] = copy;
                            ids.push(forwarded_id(&body).ok_or("short packet")?);
                        }
                    }
                    Ok((frames, ids))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a builder thread panicked".into()))
            })
            .collect()
    });
    let mut set = PacketSet::default();
    for part in parts {
        let (frames, ids) = part?;
        let base = set.len();
        set.frames.extend_from_slice(&frames);
        for (i, id) in ids.into_iter().enumerate() {
            set.ids.insert(id, (base + i) as u32);
        }
    }
    Ok(set)
}
