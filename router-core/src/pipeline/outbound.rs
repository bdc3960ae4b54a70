//! The bounded queue of frames waiting for one next hop, written with one `sendmsg` per batch.
//!
//! Frames leave from the buffers they arrived in: the outgoing header was written into the
//! buffer's headroom, so a queued packet is a buffer plus its header length, and a write is a
//! gather list over the front of the queue ([`OutboundQueue::with_write_targets`]). A short
//! write leaves the front frame partly sent; the next write resumes inside it.
//!
//! On a Noise link every frame is sealed, in place and in queue order, just before it is
//! first offered to a write ([`OutboundQueue::seal_front`]): the buffer's room around the
//! frame takes the Noise header and tag, and the frame's bytes are encrypted where they lie.
//! A frame sealed for one connection cannot go out on another (its nonce belongs to that
//! session), so when the link fails those are dropped ([`OutboundQueue::drain_sealed`]).

use std::collections::VecDeque;
use std::io::IoSlice;

use super::buffers::PacketBuf;
use crate::mix::Timestamp;

/// Most frames handed to one write.
pub const MAX_WRITE_FRAMES: usize = 64;

/// A frame ready to go: its buffer, with the outgoing header already in the headroom.
#[derive(Debug)]
pub struct OutPacket {
    /// The buffer holding header and packet.
    pub buf: PacketBuf,
    /// Length of the header written in front of the packet.
    pub header_len: u8,
    /// When the packet's bytes arrived, for the processing-latency histogram.
    pub arrived: Timestamp,
    /// The connection it arrived on ([`super::ReceivedFrame::source`]).
    pub source: u32,
    /// Sealed as a Noise transport message for the current link: what goes on the wire is
    /// then [`PacketBuf::message`], not the plain frame.
    pub sealed: bool,
}

impl OutPacket {
    /// The bytes this packet puts on the wire: the frame, or the Noise message around it.
    pub fn wire(&self) -> &[u8] {
        let header_len = usize::from(self.header_len);
        if self.sealed {
            self.buf.message(header_len)
        } else {
            self.buf.frame(header_len)
        }
    }
}

/// Frames queued for one peer, at most `capacity` of them.
#[derive(Debug)]
pub struct OutboundQueue {
    queue: VecDeque<OutPacket>,
    capacity: usize,
    /// Bytes of the front frame already written.
    front_sent: usize,
}

impl OutboundQueue {
    /// An empty queue holding at most `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        OutboundQueue {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            front_sent: 0,
        }
    }

    /// Queues a frame, or gives it back when the queue is full (the caller drops it as
    /// `PeerQueueFull`: the newest packet is the one dropped, so frames already partly on the
    /// wire are never abandoned).
    pub fn push(&mut self, packet: OutPacket) -> Result<(), OutPacket> {
        if self.queue.len() >= self.capacity {
            return Err(packet);
        }
        self.queue.push_back(packet);
        Ok(())
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Seals the frames among the first [`MAX_WRITE_FRAMES`] that are not sealed yet, in
    /// order, with `seal` (which gets each one's [`PacketBuf::message`] room). Stops at the
    /// first error: the link must end.
    pub fn seal_front<E>(
        &mut self,
        mut seal: impl FnMut(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        for packet in self.queue.iter_mut().take(MAX_WRITE_FRAMES) {
            if packet.sealed {
                continue;
            }
            seal(packet.buf.message_mut(usize::from(packet.header_len)))?;
            packet.sealed = true;
        }
        Ok(())
    }

    /// Takes out every frame sealed for a link that is gone (they lead the queue), passing
    /// each to `dropped`, and returns how many there were. The frames behind them are sent
    /// on the next link.
    pub fn drain_sealed(&mut self, mut dropped: impl FnMut(OutPacket)) -> u64 {
        self.front_sent = 0;
        let mut count = 0;
        while self.queue.front().is_some_and(|packet| packet.sealed) {
            if let Some(packet) = self.queue.pop_front() {
                count += 1;
                dropped(packet);
            }
        }
        count
    }

    /// Calls `write` with the unsent bytes of up to [`MAX_WRITE_FRAMES`] frames in order; it
    /// returns what it wrote, which goes to [`Self::advance`]. With `sealed_only` (a Noise
    /// link) the list ends at the first frame not sealed.
    pub fn with_write_targets<R>(
        &self,
        sealed_only: bool,
        write: impl FnOnce(&[IoSlice<'_>]) -> R,
    ) -> R {
        let mut targets: [IoSlice<'_>; MAX_WRITE_FRAMES] =
            std::array::from_fn(|_| IoSlice::new(&[]));
        let mut count = 0;
        let offered = self
            .queue
            .iter()
            .take_while(|packet| packet.sealed || !sealed_only);
        for (index, (packet, target)) in offered.zip(targets.iter_mut()).enumerate() {
            let start = if index == 0 { self.front_sent } else { 0 };
            *target = IoSlice::new(packet.wire().get(start..).unwrap_or_default());
            count += 1;
        }
        write(targets.get(..count).unwrap_or_default())
    }

    /// The unsent bytes of the front frame, for a plain write that waits for the socket.
    pub fn front_target(&self) -> &[u8] {
        match self.queue.front() {
            Some(packet) => packet.wire().get(self.front_sent..).unwrap_or_default(),
            None => &[],
        }
    }

    /// Accounts for `written` bytes and passes every frame they completed to `sent`.
    pub fn advance(&mut self, mut written: usize, mut sent: impl FnMut(OutPacket)) {
        while written > 0 {
            let Some(front) = self.queue.front() else {
                break;
            };
            let left = front.wire().len() - self.front_sent;
            if written < left {
                self.front_sent += written;
                break;
            }
            written -= left;
            self.front_sent = 0;
            if let Some(packet) = self.queue.pop_front() {
                sent(packet);
            }
        }
    }

    /// Takes the front frame out with the count of its bytes already written, so a write of
    /// its rest can be awaited without holding the queue; [`Self::restore_front`] puts it back.
    pub fn take_front(&mut self) -> Option<(OutPacket, usize)> {
        let packet = self.queue.pop_front()?;
        let sent = std::mem::take(&mut self.front_sent);
        Some((packet, sent))
    }

    /// Puts back a frame taken by [`Self::take_front`], `sent` bytes of it written.
    pub fn restore_front(&mut self, packet: OutPacket, sent: usize) {
        self.queue.push_front(packet);
        self.front_sent = sent;
    }

    /// Whether the front frame is partly written: dropping it now would corrupt the stream, so a
    /// connection that fails mid-frame must be closed rather than reused.
    pub fn front_is_partial(&self) -> bool {
        self.front_sent > 0
    }

    /// Empties the queue (peer unreachable, or shutdown), passing every frame to `dropped`.
    pub fn drain(&mut self, mut dropped: impl FnMut(OutPacket)) {
        self.front_sent = 0;
        for packet in self.queue.drain(..) {
            dropped(packet);
        }
    }

    /// Forgets that the front frame was partly written: the connection it was going out on is
    /// gone and a new one starts at a frame boundary.
    pub fn restart_front(&mut self) {
        self.front_sent = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::buffers::BufferPool;
    use crate::wire::{FrameHeader, KeyRotation, PacketSize};

    fn packet(pool: &mut BufferPool, fill: u8) -> OutPacket {
        let mut buf = pool.take(PacketSize::Ack);
        buf.body_mut().fill(fill);
        let header_len =
            buf.write_header(&FrameHeader::v8(PacketSize::Ack, KeyRotation::Unknown)) as u8;
        OutPacket {
            buf,
            header_len,
            arrived: Timestamp::from_nanos(u64::from(fill)),
            source: 0,
            sealed: false,
        }
    }

    /// Writes everything queued through a "socket" that accepts at most `limit` bytes per call.
    fn write_all(queue: &mut OutboundQueue, limit: usize, wire: &mut Vec<u8>) -> Vec<u8> {
        let mut order = Vec::new();
        while !queue.is_empty() {
            let n = queue.with_write_targets(false, |targets| {
                let mut n = 0;
                for t in targets {
                    let k = t.len().min(limit - n);
                    wire.extend_from_slice(&t[..k]);
                    n += k;
                    if n == limit {
                        break;
                    }
                }
                n
            });
            queue.advance(n, |p| order.push(p.buf.body()[0]));
        }
        order
    }

    #[test]
    fn short_writes_resume_inside_a_frame_and_keep_order() {
        let mut pool = BufferPool::new(1 << 20);
        for limit in [1, 7, 389, 390, 391, 5000] {
            let mut queue = OutboundQueue::new(10);
            for i in 0..5 {
                queue.push(packet(&mut pool, i)).unwrap();
            }
            let mut wire = Vec::new();
            let order = write_all(&mut queue, limit, &mut wire);
            assert_eq!(order, vec![0, 1, 2, 3, 4], "limit {limit}");
            assert_eq!(wire.len(), 5 * 390);
            for (i, frame) in wire.chunks(390).enumerate() {
                assert_eq!(&frame[..4], &[8, 2, 0, 0]);
                assert!(frame[4..].iter().all(|b| *b == i as u8));
            }
        }
    }

    #[test]
    fn sealed_frames_go_out_as_messages_and_are_dropped_with_their_link() {
        let mut pool = BufferPool::new(1 << 20);
        let mut queue = OutboundQueue::new(200);
        for i in 0..(MAX_WRITE_FRAMES as u8 + 3) {
            queue.push(packet(&mut pool, i)).unwrap();
        }
        // A stand-in for the cipher: marks the header and tag rooms it was given.
        let mut sealed = 0;
        queue
            .seal_front(|message: &mut [u8]| {
                assert_eq!(message.len(), 8 + 390 + 16);
                message[..8].fill(0xEE);
                let tag = message.len() - 16;
                message[tag..].fill(0xFF);
                sealed += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
        assert_eq!(sealed, MAX_WRITE_FRAMES, "only what one write can take");
        let lens = queue.with_write_targets(true, |targets| {
            targets.iter().map(|t| t.len()).collect::<Vec<_>>()
        });
        assert_eq!(lens, vec![414; MAX_WRITE_FRAMES], "never an unsealed frame");
        let first = queue.front_target();
        assert_eq!(
            (&first[..8], &first[8..12]),
            (&[0xEE; 8][..], &[8, 2, 0, 0][..])
        );
        assert_eq!(&first[first.len() - 16..], &[0xFF; 16]);
        // One message and a bit go out, then the link fails.
        queue.advance(414 + 100, |p| assert_eq!(p.buf.body()[0], 0));
        let mut dropped = Vec::new();
        let count = queue.drain_sealed(|p| dropped.push(p.buf.body()[0]));
        assert_eq!(count, MAX_WRITE_FRAMES as u64 - 1);
        assert_eq!(dropped.first(), Some(&1));
        assert_eq!(queue.len(), 3, "the unsealed ones wait for the next link");
        assert_eq!(queue.front_target().len(), 390, "and start whole, in plain");
    }

    #[test]
    fn a_full_queue_gives_the_newest_packet_back() {
        let mut pool = BufferPool::new(1 << 20);
        let mut queue = OutboundQueue::new(2);
        queue.push(packet(&mut pool, 0)).unwrap();
        queue.push(packet(&mut pool, 1)).unwrap();
        let rejected = queue.push(packet(&mut pool, 2)).unwrap_err();
        assert_eq!(rejected.buf.body()[0], 2);
        let mut drained = Vec::new();
        queue.drain(|p| drained.push(p.buf.body()[0]));
        assert_eq!(drained, vec![0, 1]);
        assert!(queue.is_empty());
    }

    #[test]
    fn the_front_target_is_the_unsent_rest_of_the_front_frame() {
        let mut pool = BufferPool::new(1 << 20);
        let mut queue = OutboundQueue::new(4);
        queue.push(packet(&mut pool, 9)).unwrap();
        queue.advance(100, |_| panic!("not complete yet"));
        assert!(queue.front_is_partial());
        assert_eq!(queue.front_target().len(), 290);
        let (packet, sent) = queue.take_front().unwrap();
        assert_eq!(sent, 100);
        assert!(queue.is_empty());
        queue.restore_front(packet, sent);
        assert_eq!(queue.front_target().len(), 290);
        queue.restart_front();
        assert_eq!(queue.front_target().len(), 390);
    }
}
