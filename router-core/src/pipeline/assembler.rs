//! Frames out of a TCP byte stream, received straight into packet buffers.
//!
//! Nym's framing has no length prefix: a frame's length follows from its size tag. A reader that
//! received into one big buffer would have to copy each packet out of it (or pin the whole
//! buffer while any of its packets waits in the delay wheel). Instead the assembler *predicts*
//! that the next frames have the shape (framing version and size class) of the last one, which
//! holds for every peer in practice, and offers the socket a scatter list of buffers, one frame
//! each ([`FrameAssembler::with_read_targets`], for `recvmsg` with one `iovec` per frame). When a
//! read returns, [`FrameAssembler::commit`] checks each header as its bytes arrive, hands out the
//! complete frames, and keeps a partial one for the next read. The kernel's copy into the
//! buffers is then the only copy of packet bytes on the way in.
//!
//! A wrong prediction (a peer switching size class or version) is detected at the first header
//! byte that differs; the bytes received since are copied once into a spill buffer and
//! redistributed into buffers of the right class. That slow path is counted
//! ([`FrameAssembler::copied_bytes`]) so tests and metrics show that uniform traffic is never
//! copied.
//!
//! Any invalid header byte is fatal for the connection (see [`crate::wire::frame`]): the stream
//! can no longer be resynchronised.

use std::collections::VecDeque;
use std::io::IoSliceMut;

use super::buffers::{BufferPool, PacketBuf};
use crate::mix::Timestamp;
use crate::wire::{decode_header, FrameError, FrameHeader, FramingVersion, PacketSize};

/// Most frames one read is offered buffers for.
pub const MAX_READ_FRAMES: usize = 32;

/// A complete frame, its packet in its own buffer.
#[derive(Debug)]
pub struct ReceivedFrame {
    /// The frame's header as received.
    pub header: FrameHeader,
    /// The buffer; its body is the Sphinx packet.
    pub buf: PacketBuf,
    /// When the read that completed it returned: the start of the node's processing latency
    /// and of the packet's delay.
    pub arrived: Timestamp,
    /// The connection it arrived on (the runtime's id, 0 for none), so that a congested next
    /// hop can pause the connection that feeds it ([`super::pressure`]).
    pub source: u32,
}

impl AsMut<[u8]> for ReceivedFrame {
    fn as_mut(&mut self) -> &mut [u8] {
        self.buf.body_mut()
    }
}

/// A frame's framing version and size class: what its length follows from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) version: FramingVersion,
    pub(crate) size: PacketSize,
}

impl Shape {
    /// What the assemblers expect of a new connection: regular packets, version 8.
    pub(crate) const FIRST: Shape = Shape {
        version: FramingVersion::V8,
        size: PacketSize::Regular,
    };

    pub(crate) fn of(header: &FrameHeader) -> Self {
        Shape {
            version: header.version,
            size: header.size,
        }
    }

    pub(crate) fn header_len(self) -> usize {
        self.version.header_len()
    }

    pub(crate) fn frame_len(self) -> usize {
        self.header_len() + self.size.size()
    }

    /// The shape whose frame is `frame_len` bytes long. Every version and size class gives a
    /// different length, so a length names at most one shape.
    pub(crate) fn with_frame_len(frame_len: usize) -> Option<Self> {
        [FramingVersion::V7, FramingVersion::V8]
            .into_iter()
            .flat_map(|version| PacketSize::ALL.map(|size| Shape { version, size }))
            .find(|shape| shape.frame_len() == frame_len)
    }
}

/// Per-connection frame reassembly; see the module docs.
#[derive(Debug)]
pub struct FrameAssembler {
    /// Predicted shape of the frames to come; every buffer in `slots` is of its class.
    shape: Shape,
    /// Buffers offered to the next read, in stream order.
    slots: VecDeque<PacketBuf>,
    /// Bytes of the front slot's frame already received.
    filled: usize,
    /// The front slot's header, once its bytes arrived and checked out.
    header: Option<FrameHeader>,
    /// How many buffers to offer: grows while reads fill them all, shrinks on idle links, so an
    /// idle connection holds one buffer and a busy one reads whole batches.
    want: usize,
    spill: Vec<u8>,
    copied_bytes: u64,
    /// Stamped on every frame ([`ReceivedFrame::source`]).
    source: u32,
}

impl Default for FrameAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAssembler {
    /// An assembler that expects regular-size, version-8 frames until told otherwise.
    pub fn new() -> Self {
        FrameAssembler {
            shape: Shape::FIRST,
            slots: VecDeque::with_capacity(MAX_READ_FRAMES),
            filled: 0,
            header: None,
            want: 1,
            spill: Vec::new(),
            copied_bytes: 0,
            source: 0,
        }
    }

    /// An assembler whose frames name `source` as the connection they arrived on.
    pub fn with_source(source: u32) -> Self {
        FrameAssembler {
            source,
            ..Self::new()
        }
    }

    /// Tops up the buffers offered to the next read. With the pool exhausted only the partial
    /// frame's buffer (or a single one) is kept, so a slow shard reads one frame at a time and
    /// TCP pushes back on the sender.
    pub fn prepare(&mut self, pool: &mut BufferPool) {
        let target = if pool.is_exhausted() { 1 } else { self.want };
        while self.slots.len() < target {
            self.slots.push_back(pool.take(self.shape.size));
        }
    }

    /// Buffers currently held for reading (returned by [`Self::release`]).
    pub fn held_buffers(&self) -> usize {
        self.slots.len()
    }

    /// Calls `read` with one target slice per offered buffer, in stream order: the rest of the
    /// partial frame first, then whole frames. `read` returns how many bytes it wrote, which the
    /// caller then passes to [`Self::commit`]. Call [`Self::prepare`] first.
    pub fn with_read_targets<R>(&mut self, read: impl FnOnce(&mut [IoSliceMut<'_>]) -> R) -> R {
        let header_len = self.shape.header_len();
        let filled = self.filled;
        let mut targets: [IoSliceMut<'_>; MAX_READ_FRAMES] =
            std::array::from_fn(|_| IoSliceMut::new(&mut []));
        let mut count = 0;
        for (index, (slot, target)) in self.slots.iter_mut().zip(targets.iter_mut()).enumerate() {
            let frame = slot.frame_mut(header_len);
            let start = if index == 0 { filled } else { 0 };
            *target = IoSliceMut::new(frame.get_mut(start..).unwrap_or_default());
            count += 1;
        }
        read(targets.get_mut(..count).unwrap_or_default())
    }

    /// The rest of the partial frame (or the next whole frame): the target of a plain read, used
    /// to wait for data when a non-blocking scatter read found none. Call [`Self::prepare`]
    /// first; empty if it was not called.
    pub fn first_target(&mut self) -> &mut [u8] {
        let header_len = self.shape.header_len();
        let filled = self.filled;
        match self.slots.front_mut() {
            Some(slot) => slot
                .frame_mut(header_len)
                .get_mut(filled..)
                .unwrap_or_default(),
            None => &mut [],
        }
    }

    /// Accounts for `received` bytes written into the targets (in order), read at `now`, and
    /// appends every frame they completed to `out`. An error means the stream is corrupt: close
    /// the connection.
    pub fn commit(
        &mut self,
        received: usize,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), FrameError> {
        let offered = self.slots.len();
        let completed_before = out.len();
        let mut remaining = received;
        while remaining > 0 {
            let shape = self.shape;
            let frame_len = shape.frame_len();
            let Some(slot) = self.slots.front() else {
                break; // more bytes than targets: a caller bug, nothing to attribute them to
            };
            let have = self.filled;
            let take = remaining.min(frame_len - have);
            let now_filled = have + take;
            remaining -= take;
            if self.header.is_none() {
                let frame = slot.frame(shape.header_len());
                let prefix = frame.get(..now_filled.min(4)).unwrap_or_default();
                match decode_header(prefix)? {
                    None => {}
                    Some(header) if Shape::of(&header) == shape => self.header = Some(header),
                    Some(_) => return self.mispredicted(now_filled, remaining, now, pool, out),
                }
            }
            if now_filled < frame_len {
                self.filled = now_filled;
                break;
            }
            if let (Some(buf), Some(header)) = (self.slots.pop_front(), self.header.take()) {
                out.push(ReceivedFrame {
                    header,
                    buf,
                    arrived: now,
                    source: self.source,
                });
            }
            self.filled = 0;
        }
        let completed = out.len() - completed_before;
        if completed >= offered && self.want < MAX_READ_FRAMES {
            self.want = (self.want * 2).min(MAX_READ_FRAMES);
        } else if completed * 4 < self.want && self.want > 1 {
            self.want /= 2;
        }
        Ok(())
    }

    /// The front frame's header differs from the prediction. Gathers every byte received since
    /// the frame started (`filled` in the front slot, then `remaining` spread over the following
    /// slots) into the spill buffer, returns the mispredicted buffers, and re-parses.
    fn mispredicted(
        &mut self,
        filled: usize,
        mut remaining: usize,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), FrameError> {
        let header_len = self.shape.header_len();
        let frame_len = self.shape.frame_len();
        self.spill.clear();
        let mut first = true;
        while let Some(slot) = self.slots.pop_front() {
            let take = if first {
                filled
            } else {
                let take = remaining.min(frame_len);
                remaining -= take;
                take
            };
            first = false;
            self.spill
                .extend_from_slice(slot.frame(header_len).get(..take).unwrap_or_default());
            pool.give(slot);
        }
        self.copied_bytes += self.spill.len() as u64;
        self.filled = 0;
        self.header = None;
        self.absorb_spill(now, pool, out)
    }

    /// Parses the spill buffer by copying: complete frames go to `out`, a trailing partial frame
    /// becomes the front slot.
    fn absorb_spill(
        &mut self,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), FrameError> {
        let spill = std::mem::take(&mut self.spill);
        let mut rest = spill.as_slice();
        let result = loop {
            if rest.is_empty() {
                break Ok(());
            }
            let header = match decode_header(rest) {
                Err(error) => break Err(error),
                Ok(header) => header,
            };
            if let Some(header) = header {
                self.shape = Shape::of(&header);
            }
            let shape = self.shape;
            let mut buf = pool.take(shape.size);
            let take = rest.len().min(shape.frame_len());
            let (head, tail) = rest.split_at(take);
            if let Some(dst) = buf.frame_mut(shape.header_len()).get_mut(..take) {
                dst.copy_from_slice(head);
            }
            self.copied_bytes += take as u64;
            rest = tail;
            match header {
                Some(header) if take == shape.frame_len() => {
                    out.push(ReceivedFrame {
                        header,
                        buf,
                        arrived: now,
                        source: self.source,
                    });
                }
                partial => {
                    // A partial frame, or a partial header kept under the current prediction
                    // (checked again when the rest of it arrives).
                    self.slots.push_front(buf);
                    self.filled = take;
                    self.header = partial;
                    break Ok(());
                }
            }
        };
        self.spill = spill;
        self.spill.clear();
        result
    }

    /// Returns every held buffer to the pool (the connection is closing). A partial frame is
    /// lost with its connection.
    pub fn release(&mut self, pool: &mut BufferPool) {
        for slot in self.slots.drain(..) {
            pool.give(slot);
        }
        self.filled = 0;
        self.header = None;
    }

    /// Whether a frame is partly received (bytes that a closing connection loses).
    pub fn has_partial_frame(&self) -> bool {
        self.filled > 0
    }

    /// Packet bytes copied in user space so far: zero unless a peer changed frame shape.
    pub fn copied_bytes(&self) -> u64 {
        self.copied_bytes
    }
}

#[cfg(test)]
mod tests;
