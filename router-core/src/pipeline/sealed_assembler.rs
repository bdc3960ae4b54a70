//! Frames out of a Noise link, received and decrypted in their packet buffers.
//!
//! Our nodes send one frame per Noise transport message: the 8-byte Noise header, the frame
//! (sealed), the 16-byte tag. A [`PacketBuf`] has room for exactly that around its frame
//! ([`PacketBuf::message`]), so this assembler works as [`super::FrameAssembler`] does, one
//! message per buffer instead of one frame: it predicts that the next messages carry frames
//! of the shape of the last one, offers the socket a scatter list of message-sized targets,
//! and checks each Noise header as it arrives. A complete message is opened in place (the
//! cipher writes the plaintext over the ciphertext, where the frame belongs) and its frame
//! header checked against the shape its length announced. The kernel's copy and the
//! cipher's write are then the only writes of packet bytes on the way in.
//!
//! A message whose length announces another frame shape (a peer sending acks after regular
//! packets) is handled like a misprediction of the plain assembler: the bytes received since
//! it started are copied once and redistributed into buffers of the right class (counted in
//! [`SealedAssembler::copied_bytes`]). A message whose length is no frame's is refused
//! ([`LinkError::Unaligned`]): a sender that splits the frame stream at arbitrary points (as
//! Nym's own Noise streams do) is not one of ours.
//!
//! Any failure ends the link: a bad Noise header, a message that fails its tag (tampered,
//! replayed, reordered), or a frame header that does not match its message's length.

use std::collections::VecDeque;
use std::io::IoSliceMut;

use super::assembler::{ReceivedFrame, Shape, MAX_READ_FRAMES};
use super::buffers::{BufferPool, PacketBuf, NOISE_BACK, NOISE_FRONT};
use crate::mix::Timestamp;
use crate::noise::header::{Header, MessageType, HEADER_LEN};
use crate::noise::transport::Transport;
use crate::noise::NoiseError;
use crate::wire::{decode_header, FrameError};

/// Why a Noise link's byte stream is unusable: the link ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The Noise layer refused a message.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// A message opened, but its plaintext is not one valid frame of the shape its length
    /// announced.
    #[error("Noise message holds a bad frame: {0}")]
    Frame(#[from] FrameError),
    /// A message opened, but its plaintext starts with a frame header of another shape than
    /// its length announced.
    #[error("Noise message of {0} bytes holds a frame of another length")]
    FrameLength(usize),
    /// A data message whose length is not that of one frame (with its tag).
    #[error("Noise message of {0} bytes does not hold exactly one frame")]
    Unaligned(usize),
}

impl LinkError {
    /// The reason a link that failed this way is counted under.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Noise(error) => error.label(),
            Self::Frame(_) | Self::FrameLength(_) => "bad_frame",
            Self::Unaligned(_) => "unaligned_message",
        }
    }
}

/// The length of the message carrying one frame of `shape`.
fn message_len(shape: Shape) -> usize {
    NOISE_FRONT + shape.frame_len() + NOISE_BACK
}

/// Per-connection reassembly and decryption of a Noise link; see the module docs.
#[derive(Debug)]
pub struct SealedAssembler {
    transport: Transport,
    /// Predicted frame shape of the messages to come; every buffer in `slots` is of its class.
    shape: Shape,
    /// Buffers offered to the next read, in stream order.
    slots: VecDeque<PacketBuf>,
    /// Bytes of the front slot's message received.
    filled: usize,
    /// Whether the front slot's Noise header arrived and matched the prediction.
    header_checked: bool,
    /// How many buffers to offer (as [`super::FrameAssembler`] adapts it).
    want: usize,
    spill: Vec<u8>,
    copied_bytes: u64,
    source: u32,
}

impl SealedAssembler {
    /// An assembler for a link whose handshake gave `transport`, stamping `source` on every
    /// frame ([`ReceivedFrame::source`]).
    pub fn new(transport: Transport, source: u32) -> Self {
        SealedAssembler {
            transport,
            shape: Shape::FIRST,
            slots: VecDeque::with_capacity(MAX_READ_FRAMES),
            filled: 0,
            header_checked: false,
            want: 1,
            spill: Vec::new(),
            copied_bytes: 0,
            source,
        }
    }

    /// Tops up the buffers offered to the next read (one only while the pool is exhausted).
    pub fn prepare(&mut self, pool: &mut BufferPool) {
        let target = if pool.is_exhausted() { 1 } else { self.want };
        while self.slots.len() < target {
            self.slots.push_back(pool.take(self.shape.size));
        }
    }

    /// Buffers currently held for reading.
    pub fn held_buffers(&self) -> usize {
        self.slots.len()
    }

    /// Calls `read` with one target per offered buffer, in stream order: the rest of the
    /// partial message first, then whole messages. Call [`Self::prepare`] first.
    pub fn with_read_targets<R>(&mut self, read: impl FnOnce(&mut [IoSliceMut<'_>]) -> R) -> R {
        let header_len = self.shape.header_len();
        let filled = self.filled;
        let mut targets: [IoSliceMut<'_>; MAX_READ_FRAMES] =
            std::array::from_fn(|_| IoSliceMut::new(&mut []));
        let mut count = 0;
        for (index, (slot, target)) in self.slots.iter_mut().zip(targets.iter_mut()).enumerate() {
            let start = if index == 0 { filled } else { 0 };
            let message = slot.message_mut(header_len);
            *target = IoSliceMut::new(message.get_mut(start..).unwrap_or_default());
            count += 1;
        }
        read(targets.get_mut(..count).unwrap_or_default())
    }

    /// The rest of the partial message (or the next whole one), for a plain read that waits.
    pub fn first_target(&mut self) -> &mut [u8] {
        let header_len = self.shape.header_len();
        let filled = self.filled;
        match self.slots.front_mut() {
            Some(slot) => slot
                .message_mut(header_len)
                .get_mut(filled..)
                .unwrap_or_default(),
            None => &mut [],
        }
    }

    /// Accounts for `received` bytes written into the targets, read at `now`, and appends
    /// every frame they completed (decrypted) to `out`. An error ends the link.
    pub fn commit(
        &mut self,
        received: usize,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), LinkError> {
        let offered = self.slots.len();
        let completed_before = out.len();
        let mut remaining = received;
        while remaining > 0 {
            let shape = self.shape;
            let len = message_len(shape);
            let Some(slot) = self.slots.front() else {
                break; // more bytes than targets: a caller bug
            };
            let take = remaining.min(len - self.filled);
            let now_filled = self.filled + take;
            remaining -= take;
            if !self.header_checked && now_filled >= HEADER_LEN {
                let body_len = data_body_len(slot.message(shape.header_len()))?;
                if HEADER_LEN + body_len != len {
                    return self.mispredicted(now_filled, remaining, now, pool, out);
                }
                self.header_checked = true;
            }
            if now_filled < len {
                self.filled = now_filled;
                break;
            }
            self.filled = 0;
            self.header_checked = false;
            if let Some(buf) = self.slots.pop_front() {
                self.open(buf, shape, now, pool, out)?;
            }
        }
        let completed = out.len() - completed_before;
        if completed >= offered && self.want < MAX_READ_FRAMES {
            self.want = (self.want * 2).min(MAX_READ_FRAMES);
        } else if completed * 4 < self.want && self.want > 1 {
            self.want /= 2;
        }
        Ok(())
    }

    /// Opens the complete message in `buf` (a frame of `shape`) and hands out its frame.
    fn open(
        &mut self,
        mut buf: PacketBuf,
        shape: Shape,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), LinkError> {
        let message = buf.message_mut(shape.header_len());
        let opened = match message.get_mut(HEADER_LEN..) {
            Some(body) => self.transport.open(body).map(|frame| frame.len()),
            None => Err(NoiseError::BadLength(0)),
        };
        let header = match opened {
            Ok(_) => decode_header(buf.frame(shape.header_len())),
            Err(error) => {
                pool.give(buf);
                return Err(error.into());
            }
        };
        match header {
            Ok(Some(header)) if Shape::of(&header) == shape => {
                out.push(ReceivedFrame {
                    header,
                    buf,
                    arrived: now,
                    source: self.source,
                });
                Ok(())
            }
            Ok(_) => {
                pool.give(buf);
                Err(LinkError::FrameLength(message_len(shape)))
            }
            Err(error) => {
                pool.give(buf);
                Err(error.into())
            }
        }
    }

    /// The front message's length differs from the prediction: gathers every byte received
    /// since it started into the spill buffer, returns the mispredicted buffers, re-parses.
    fn mispredicted(
        &mut self,
        filled: usize,
        mut remaining: usize,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), LinkError> {
        let header_len = self.shape.header_len();
        let len = message_len(self.shape);
        self.spill.clear();
        let mut first = true;
        while let Some(slot) = self.slots.pop_front() {
            let take = if first {
                filled
            } else {
                let take = remaining.min(len);
                remaining -= take;
                take
            };
            first = false;
            self.spill
                .extend_from_slice(slot.message(header_len).get(..take).unwrap_or_default());
            pool.give(slot);
        }
        self.filled = 0;
        self.header_checked = false;
        self.absorb_spill(now, pool, out)
    }

    /// Parses the spill buffer by copying each message into a buffer of its class: complete
    /// ones are opened and go to `out`, a trailing partial one becomes the front slot.
    fn absorb_spill(
        &mut self,
        now: Timestamp,
        pool: &mut BufferPool,
        out: &mut Vec<ReceivedFrame>,
    ) -> Result<(), LinkError> {
        let spill = std::mem::take(&mut self.spill);
        let mut rest = spill.as_slice();
        let result = loop {
            if rest.is_empty() {
                break Ok(());
            }
            let shape = if rest.len() >= HEADER_LEN {
                let body_len = match data_body_len(rest) {
                    Ok(body_len) => body_len,
                    Err(error) => break Err(error),
                };
                let frame_len = body_len.saturating_sub(NOISE_BACK);
                match Shape::with_frame_len(frame_len) {
                    Some(shape) if body_len >= NOISE_BACK => shape,
                    _ => break Err(LinkError::Unaligned(HEADER_LEN + body_len)),
                }
            } else {
                // A partial Noise header: kept under the current prediction, checked again
                // when the rest of it arrives.
                self.shape
            };
            self.shape = shape;
            let mut buf = pool.take(shape.size);
            let len = message_len(shape);
            let take = rest.len().min(len);
            let (head, tail) = rest.split_at(take);
            if let Some(dst) = buf.message_mut(shape.header_len()).get_mut(..take) {
                dst.copy_from_slice(head);
            }
            self.copied_bytes += take as u64;
            rest = tail;
            if take == len {
                if let Err(error) = self.open(buf, shape, now, pool, out) {
                    break Err(error);
                }
            } else {
                self.slots.push_front(buf);
                self.filled = take;
                self.header_checked = take >= HEADER_LEN;
                break Ok(());
            }
        };
        self.spill = spill;
        self.spill.clear();
        result
    }

    /// Returns every held buffer to the pool (the link is closing).
    pub fn release(&mut self, pool: &mut BufferPool) {
        for slot in self.slots.drain(..) {
            pool.give(slot);
        }
        self.filled = 0;
        self.header_checked = false;
    }

    /// Whether a message is partly received.
    pub fn has_partial_frame(&self) -> bool {
        self.filled > 0
    }

    /// Packet bytes copied in user space so far: zero unless a peer changed frame shape.
    pub fn copied_bytes(&self) -> u64 {
        self.copied_bytes
    }
}

/// The body length a data message's header (the first [`HEADER_LEN`] bytes of `message`)
/// announces.
fn data_body_len(message: &[u8]) -> Result<usize, LinkError> {
    let Some(header) = message.first_chunk::<HEADER_LEN>() else {
        return Err(NoiseError::BadLength(message.len()).into());
    };
    let header = Header::decode(header)?;
    if header.kind != MessageType::Data {
        return Err(NoiseError::UnexpectedMessage {
            got: header.kind.name(),
            expected: MessageType::Data.name(),
        }
        .into());
    }
    Ok(header.body_len)
}

#[cfg(test)]
mod tests;
