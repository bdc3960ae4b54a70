//! Packet buffers and the per-shard pool they come from.
//!
//! A [`PacketBuf`] holds one frame exactly where the socket put it: [`HEADROOM`] bytes for a
//! frame header, then the Sphinx packet. A version-8 header fills the headroom; a version-7
//! header sits in its last three bytes. The packet is unwrapped in place, the outgoing header is
//! written into the same headroom, and the frame leaves from the same bytes. Buffers move between
//! the reader, the delay wheel and the writer as owned boxes: a move is a pointer copy, never a
//! copy of packet bytes.
//!
//! On a Noise link each frame travels as one Noise transport message: an 8-byte Noise header
//! before the frame and a 16-byte tag after it. Every buffer has room for both
//! ([`NOISE_FRONT`] before the headroom, [`NOISE_BACK`] after the packet), so a frame is
//! received, decrypted, unwrapped, re-encrypted and sent without moving
//! ([`PacketBuf::message`]).
//!
//! The pool keeps freed buffers per size class so a busy shard allocates nothing in the steady
//! state, and it knows how many buffers are out so the runtime can stop reading (TCP
//! back-pressure) instead of growing without bound.

use crate::wire::{FrameHeader, PacketSize, MAX_HEADER_LEN};

/// Bytes reserved in front of every packet for its frame header (the longest, version 8).
pub const HEADROOM: usize = MAX_HEADER_LEN;
/// Bytes reserved in front of the headroom for a Noise transport message's header.
pub const NOISE_FRONT: usize = 8;
/// Bytes reserved after the packet for a Noise transport message's tag.
pub const NOISE_BACK: usize = 16;
/// Where the packet starts in the buffer.
const BODY: usize = NOISE_FRONT + HEADROOM;

/// One pooled buffer: room for a Noise header, headroom for a frame header, exactly one
/// packet of its size class, and room for a Noise tag.
#[derive(Debug)]
pub struct PacketBuf {
    bytes: Box<[u8]>,
    size: PacketSize,
}

impl PacketBuf {
    fn new(size: PacketSize) -> Self {
        PacketBuf {
            bytes: vec![0u8; BODY + size.size() + NOISE_BACK].into_boxed_slice(),
            size,
        }
    }

    /// The size class this buffer holds.
    pub fn size(&self) -> PacketSize {
        self.size
    }

    fn body_end(&self) -> usize {
        BODY + self.size.size()
    }

    /// The Sphinx packet.
    pub fn body(&self) -> &[u8] {
        let end = self.body_end();
        self.bytes.get(BODY..end).unwrap_or_default()
    }

    /// The Sphinx packet, for unwrapping in place.
    pub fn body_mut(&mut self) -> &mut [u8] {
        let end = self.body_end();
        self.bytes.get_mut(BODY..end).unwrap_or_default()
    }

    /// The frame as it sits on the wire for a header of `header_len` bytes (3 or 4).
    pub fn frame(&self, header_len: usize) -> &[u8] {
        let start = BODY.saturating_sub(header_len);
        let end = self.body_end();
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// [`Self::frame`], writable: where the socket reads an incoming frame to.
    pub fn frame_mut(&mut self, header_len: usize) -> &mut [u8] {
        let start = BODY.saturating_sub(header_len);
        let end = self.body_end();
        self.bytes.get_mut(start..end).unwrap_or_default()
    }

    /// The frame with a header of `header_len` bytes as one Noise transport message: the
    /// Noise header's room, the frame, the tag's room. What a Noise link sends (once sealed
    /// in place) and receives into.
    pub fn message(&self, header_len: usize) -> &[u8] {
        let start = BODY.saturating_sub(header_len + NOISE_FRONT);
        self.bytes.get(start..).unwrap_or_default()
    }

    /// [`Self::message`], writable: for sealing in place, or reading a message into.
    pub fn message_mut(&mut self, header_len: usize) -> &mut [u8] {
        let start = BODY.saturating_sub(header_len + NOISE_FRONT);
        self.bytes.get_mut(start..).unwrap_or_default()
    }

    /// Writes `header` into the headroom, just in front of the packet, and returns the
    /// header length: the outgoing frame is then [`Self::frame`] of that length. The header must
    /// announce this buffer's size class.
    pub fn write_header(&mut self, header: &FrameHeader) -> usize {
        debug_assert_eq!(
            header.size, self.size,
            "a header must match its buffer's class"
        );
        let len = header.encoded_len();
        // `len <= HEADROOM`, and a 4-byte slice always fits any header.
        let _ = header.encode(self.frame_mut(len));
        len
    }
}

impl AsMut<[u8]> for PacketBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.body_mut()
    }
}

fn class(size: PacketSize) -> usize {
    match size {
        PacketSize::Regular => 0,
        PacketSize::Ack => 1,
        PacketSize::Extended8 => 2,
        PacketSize::Extended16 => 3,
        PacketSize::Extended32 => 4,
    }
}

/// Per-shard free lists of [`PacketBuf`]s, one per size class, with a soft budget.
#[derive(Debug)]
pub struct BufferPool {
    free: [Vec<PacketBuf>; 5],
    outstanding_bytes: usize,
    budget_bytes: usize,
    allocated: u64,
}

impl BufferPool {
    /// A pool that reports [`Self::is_exhausted`] once `budget_bytes` of buffers are in use.
    pub fn new(budget_bytes: usize) -> Self {
        BufferPool {
            free: Default::default(),
            outstanding_bytes: 0,
            budget_bytes,
            allocated: 0,
        }
    }

    /// A buffer for one packet of `size`. Never fails: the budget is enforced by readers
    /// checking [`Self::is_exhausted`] before they read, so bytes already received always find
    /// a buffer.
    pub fn take(&mut self, size: PacketSize) -> PacketBuf {
        self.outstanding_bytes += BODY + size.size() + NOISE_BACK;
        match self.free.get_mut(class(size)).and_then(Vec::pop) {
            Some(buf) => buf,
            None => {
                self.allocated += 1;
                PacketBuf::new(size)
            }
        }
    }

    /// Returns a buffer for reuse.
    pub fn give(&mut self, buf: PacketBuf) {
        self.outstanding_bytes = self
            .outstanding_bytes
            .saturating_sub(BODY + buf.size.size() + NOISE_BACK);
        if let Some(list) = self.free.get_mut(class(buf.size)) {
            list.push(buf);
        }
    }

    /// More bytes are out than the budget allows: readers should wait for buffers to return.
    pub fn is_exhausted(&self) -> bool {
        self.outstanding_bytes >= self.budget_bytes
    }

    /// Bytes of buffers currently handed out.
    pub fn outstanding_bytes(&self) -> usize {
        self.outstanding_bytes
    }

    /// Buffers allocated since the pool was created (the rest were reused).
    pub fn allocated(&self) -> u64 {
        self.allocated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::KeyRotation;

    #[test]
    fn buffers_are_reused_per_class_and_counted() {
        let mut pool = BufferPool::new(3 * (HEADROOM + PacketSize::Regular.size()));
        let a = pool.take(PacketSize::Regular);
        let b = pool.take(PacketSize::Ack);
        assert_eq!(a.body().len(), 2413);
        assert_eq!(b.body().len(), 386);
        assert_eq!(pool.allocated(), 2);
        let a_ptr = a.body().as_ptr();
        pool.give(a);
        let again = pool.take(PacketSize::Regular);
        assert_eq!(
            again.body().as_ptr(),
            a_ptr,
            "a freed buffer is handed out again"
        );
        assert_eq!(pool.allocated(), 2);
        assert!(!pool.is_exhausted());
        let c = pool.take(PacketSize::Regular);
        let d = pool.take(PacketSize::Regular);
        assert!(pool.is_exhausted());
        for buf in [again, b, c, d] {
            pool.give(buf);
        }
        assert_eq!(pool.outstanding_bytes(), 0);
    }

    #[test]
    fn headers_go_just_in_front_of_the_packet() {
        let mut pool = BufferPool::new(1 << 20);
        let mut buf = pool.take(PacketSize::Ack);
        buf.body_mut()[0] = 0xAB;
        let len = buf.write_header(&FrameHeader::v8(PacketSize::Ack, KeyRotation::Even));
        assert_eq!(len, 4);
        assert_eq!(&buf.frame(4)[..5], &[8, 2, 0, 2, 0xAB]);
        let len = buf.write_header(&FrameHeader::v7(PacketSize::Ack));
        assert_eq!(len, 3);
        assert_eq!(&buf.frame(3)[..4], &[7, 2, 0, 0xAB]);
        assert_eq!(buf.frame(3).len(), 3 + 386);
        assert_eq!(buf.body().len(), 386);
    }

    #[test]
    fn a_noise_message_wraps_the_frame_with_room_for_header_and_tag() {
        let mut pool = BufferPool::new(1 << 20);
        let mut buf = pool.take(PacketSize::Ack);
        buf.body_mut().fill(0xCD);
        let len = buf.write_header(&FrameHeader::v8(PacketSize::Ack, KeyRotation::Odd));
        let message = buf.message(len);
        assert_eq!(message.len(), NOISE_FRONT + 4 + 386 + NOISE_BACK);
        assert_eq!(&message[NOISE_FRONT..NOISE_FRONT + 4], &[8, 2, 0, 1]);
        assert_eq!(
            &message[NOISE_FRONT..message.len() - NOISE_BACK],
            buf.frame(len)
        );
        let len = buf.write_header(&FrameHeader::v7(PacketSize::Ack));
        assert_eq!(buf.message(len).len(), NOISE_FRONT + 3 + 386 + NOISE_BACK);
        assert_eq!(&buf.message(len)[NOISE_FRONT..NOISE_FRONT + 3], &[7, 2, 0]);
    }
}
