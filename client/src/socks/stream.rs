//! One tunnelled connection's byte streams, as seen from one end: numbering what we send,
//! putting what we receive back in order, and the windows that bound both (pure; the
//! SOCKS5 client and the network requester each keep one per connection).
//!
//! Mixing reorders messages (each hop holds each packet for its own random delay), so data
//! arrives out of order and is held until the gap is filled. The peer may send at most our
//! window beyond what we have consumed (written to our socket); we report consumption in
//! `window` messages once a quarter of the window has been consumed since the last report.
//! So a peer that respects the protocol can never make us hold more than the window, and one
//! that does not is cut off ([`StreamError::WindowExceeded`]).
//!
//! Bytes are not the only thing a peer could pile up: the reorder buffer holds an entry per
//! message. An honest sender never sends an empty message except its close (a read of zero
//! bytes is end of file), and never runs more than [`MAX_AHEAD`] messages ahead of what we
//! have put in order (each message is a mix packet: that many in flight on one connection
//! is far past any window). So an empty message without close, or one numbered
//! [`MAX_AHEAD`] or more past the next expected, cuts the peer off too, and the buffer holds
//! at most [`MAX_AHEAD`] entries whatever it sends.

/// How far ahead of the next expected message a peer's message may be numbered; also the
/// most entries the reorder buffer holds.
pub const MAX_AHEAD: u64 = 4096;

use std::collections::BTreeMap;

/// In-order bytes for the local socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes (may be empty when only `close` is news).
    pub data: Vec<u8>,
    /// The peer sends nothing more after these bytes.
    pub close: bool,
}

/// Why the peer's data was refused (the connection must be reset).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// More bytes than our window allows.
    #[error("the peer sent {held} bytes beyond what was consumed, over the window of {window}")]
    WindowExceeded {
        /// Bytes that would be held.
        held: u64,
        /// Our window.
        window: u64,
    },
    /// Data numbered after the peer's close.
    #[error("data after the peer closed its direction")]
    AfterClose,
    /// An empty message that does not close: no honest sender makes one.
    #[error("an empty data message without close")]
    EmptyData,
    /// A message numbered too far ahead of the next expected one.
    #[error("message {seq} is {MAX_AHEAD} or more past the next expected, {next_expected}")]
    TooFarAhead {
        /// Its number.
        seq: u64,
        /// The next in-order number.
        next_expected: u64,
    },
    /// A consumption report beyond what we sent.
    #[error("the peer reports {consumed} bytes consumed but only {sent} were sent")]
    ConsumedTooMuch {
        /// Reported.
        consumed: u64,
        /// Sent.
        sent: u64,
    },
}

/// One connection's stream state at one end.
#[derive(Debug)]
pub struct Stream {
    // Sending.
    next_seq: u64,
    sent: u64,
    peer_consumed: u64,
    peer_window: u64,
    closed_sending: bool,
    // Receiving.
    window: u64,
    next_expected: u64,
    reorder: BTreeMap<u64, Chunk>,
    /// Bytes received and not yet consumed (in the reorder buffer or handed out).
    held: u64,
    consumed: u64,
    reported: u64,
    close_seq: Option<u64>,
    delivered_close: bool,
}

impl Stream {
    /// A stream that buffers at most `window` bytes from a peer buffering `peer_window`.
    pub fn new(window: u32, peer_window: u32) -> Self {
        Self {
            next_seq: 0,
            sent: 0,
            peer_consumed: 0,
            peer_window: u64::from(peer_window),
            closed_sending: false,
            window: u64::from(window),
            next_expected: 0,
            reorder: BTreeMap::new(),
            held: 0,
            consumed: 0,
            reported: 0,
            close_seq: None,
            delivered_close: false,
        }
    }

    /// Sets the peer's window once it is known (the requester's comes in `connected`).
    pub fn set_peer_window(&mut self, window: u32) {
        self.peer_window = u64::from(window);
    }

    /// Bytes we may send now.
    pub fn send_credit(&self) -> u64 {
        (self.peer_consumed + self.peer_window).saturating_sub(self.sent)
    }

    /// Numbers `len` bytes read from our socket (the caller keeps within
    /// [`Stream::send_credit`]); `close` if our socket's direction ended. Returns the
    /// sequence number for the `data` message.
    pub fn next_send(&mut self, len: usize, close: bool) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.sent += len as u64;
        self.closed_sending |= close;
        seq
    }

    /// Whether we sent our close.
    pub fn closed_sending(&self) -> bool {
        self.closed_sending
    }

    /// The peer's report of our bytes consumed; returns how much more we may send now
    /// (what to grant the reader).
    pub fn handle_window(&mut self, consumed: u64) -> Result<u64, StreamError> {
        if consumed > self.sent {
            return Err(StreamError::ConsumedTooMuch {
                consumed,
                sent: self.sent,
            });
        }
        let before = self.send_credit();
        self.peer_consumed = self.peer_consumed.max(consumed);
        Ok(self.send_credit() - before)
    }

    /// Data from the peer. Duplicates (a retransmitted message delivered twice) are ignored.
    pub fn handle_data(&mut self, seq: u64, data: Vec<u8>, close: bool) -> Result<(), StreamError> {
        if seq < self.next_expected || self.reorder.contains_key(&seq) {
            return Ok(());
        }
        if data.is_empty() && !close {
            return Err(StreamError::EmptyData);
        }
        if seq - self.next_expected >= MAX_AHEAD {
            return Err(StreamError::TooFarAhead {
                seq,
                next_expected: self.next_expected,
            });
        }
        if let Some(end) = self.close_seq {
            if seq > end {
                return Err(StreamError::AfterClose);
            }
        }
        if close {
            if self.close_seq.is_some_and(|end| end != seq) || self.reorder.keys().any(|&s| s > seq)
            {
                return Err(StreamError::AfterClose);
            }
            self.close_seq = Some(seq);
        }
        let held = self.held + data.len() as u64;
        if held > self.window {
            return Err(StreamError::WindowExceeded {
                held,
                window: self.window,
            });
        }
        self.held = held;
        self.reorder.insert(seq, Chunk { data, close });
        Ok(())
    }

    /// The next in-order bytes for our socket.
    pub fn poll_chunk(&mut self) -> Option<Chunk> {
        let chunk = self.reorder.remove(&self.next_expected)?;
        self.next_expected += 1;
        self.delivered_close |= chunk.close;
        Some(chunk)
    }

    /// Bytes held out of order, waiting for a gap to fill.
    pub fn out_of_order(&self) -> usize {
        self.reorder.len()
    }

    /// `n` bytes handed out by [`Stream::poll_chunk`] were written to our socket.
    pub fn handle_consumed(&mut self, n: u64) {
        self.consumed += n;
        self.held = self.held.saturating_sub(n);
    }

    /// Bytes consumed so far (what a `window` message reports).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// A consumption report to send, when a quarter of the window was consumed since the
    /// last one.
    pub fn poll_window_update(&mut self) -> Option<u64> {
        if self.consumed - self.reported >= (self.window / 4).max(1) {
            self.reported = self.consumed;
            return Some(self.consumed);
        }
        None
    }

    /// The peer closed its direction and everything before the close was handed out.
    pub fn peer_closed(&self) -> bool {
        self.delivered_close
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn drain(s: &mut Stream) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut closed = false;
        while let Some(c) = s.poll_chunk() {
            s.handle_consumed(c.data.len() as u64);
            out.extend(c.data);
            closed |= c.close;
        }
        (out, closed)
    }

    #[test]
    fn data_is_put_back_in_order_and_held_until_the_gap_fills() {
        let mut s = Stream::new(100, 100);
        s.handle_data(2, b"cc".to_vec(), true).unwrap();
        s.handle_data(1, b"bb".to_vec(), false).unwrap();
        assert_eq!(s.poll_chunk(), None, "seq 0 is missing");
        assert_eq!(s.out_of_order(), 2);
        s.handle_data(0, b"aa".to_vec(), false).unwrap();
        assert_eq!(drain(&mut s), (b"aabbcc".to_vec(), true));
        assert!(s.peer_closed());
        // A late duplicate changes nothing.
        s.handle_data(1, b"bb".to_vec(), false).unwrap();
        assert_eq!(s.poll_chunk(), None);
    }

    #[test]
    fn the_window_bounds_what_a_peer_can_make_us_hold() {
        let mut s = Stream::new(10, 10);
        s.handle_data(1, vec![0; 6], false).unwrap();
        assert_eq!(
            s.handle_data(2, vec![0; 5], false),
            Err(StreamError::WindowExceeded {
                held: 11,
                window: 10
            })
        );
        s.handle_data(0, vec![0; 4], false).unwrap();
        let (got, _) = drain(&mut s);
        assert_eq!(got.len(), 10);
        // Consumed: room again, and a report is due.
        s.handle_data(2, vec![0; 10], false).unwrap();
        assert_eq!(s.poll_window_update(), Some(10));
        assert_eq!(s.poll_window_update(), None);
    }

    #[test]
    fn sending_stops_at_the_peers_window_until_it_reports_consumption() {
        let mut s = Stream::new(10, 8);
        assert_eq!(s.send_credit(), 8);
        assert_eq!(s.next_send(5, false), 0);
        assert_eq!(s.next_send(3, false), 1);
        assert_eq!(s.send_credit(), 0);
        assert_eq!(s.handle_window(6).unwrap(), 6, "six more may go");
        assert_eq!(s.send_credit(), 6);
        assert_eq!(
            s.handle_window(2).unwrap(),
            0,
            "a stale report grants nothing"
        );
        assert_eq!(s.send_credit(), 6);
        assert!(s.handle_window(9).is_err(), "more than was sent");
    }

    #[test]
    fn a_peer_cannot_pile_up_entries_with_empty_or_far_messages() {
        let mut s = Stream::new(1 << 20, 100);
        assert_eq!(
            s.handle_data(5, Vec::new(), false),
            Err(StreamError::EmptyData)
        );
        assert_eq!(
            s.handle_data(MAX_AHEAD, vec![1], false),
            Err(StreamError::TooFarAhead {
                seq: MAX_AHEAD,
                next_expected: 0
            })
        );
        s.handle_data(MAX_AHEAD - 1, vec![1], false).unwrap();
        assert_eq!(s.out_of_order(), 1);
        // The window moves with what is put in order.
        s.handle_data(0, vec![2], false).unwrap();
        assert_eq!(drain(&mut s).0, vec![2]);
        // An empty close is honest.
        s.handle_data(MAX_AHEAD, Vec::new(), true).unwrap();
        assert_eq!(s.out_of_order(), 2);
    }

    proptest! {
        /// Whatever a peer sends, the buffer holds at most MAX_AHEAD entries and the window
        /// in bytes.
        #[test]
        fn the_buffer_is_bounded_in_entries_and_bytes(
            messages in proptest::collection::vec((0u64..20_000, 0usize..64, any::<bool>()), 0..3000),
        ) {
            let mut s = Stream::new(4096, 100);
            for (seq, len, close) in messages {
                let _ = s.handle_data(seq, vec![0; len], close);
                prop_assert!(s.out_of_order() as u64 <= MAX_AHEAD);
                prop_assert!(s.held <= 4096);
                if seq % 7 == 0 {
                    let _ = drain(&mut s);
                }
            }
        }
    }

    #[test]
    fn nothing_may_follow_a_close() {
        let mut s = Stream::new(100, 100);
        s.handle_data(3, vec![1], true).unwrap();
        assert_eq!(
            s.handle_data(4, vec![1], false),
            Err(StreamError::AfterClose)
        );
        let mut t = Stream::new(100, 100);
        t.handle_data(5, vec![1], false).unwrap();
        assert_eq!(
            t.handle_data(4, vec![1], true),
            Err(StreamError::AfterClose)
        );
    }

    proptest! {
        /// Any delivery order, with duplicates, yields the original bytes once, in order.
        #[test]
        fn any_order_with_duplicates_reassembles(
            // honest pieces are never empty (only a close may be)
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 1..30),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 1..90),
        ) {
            let total: usize = pieces.iter().map(Vec::len).sum();
            let mut s = Stream::new(total as u32 + 1, 0);
            let last = pieces.len() - 1;
            let mut deliveries: Vec<usize> = order.iter().map(|i| i.index(pieces.len())).collect();
            deliveries.extend(0..pieces.len());
            let mut got = Vec::new();
            let mut closed = false;
            for i in deliveries {
                s.handle_data(i as u64, pieces[i].clone(), i == last).unwrap();
                let (bytes, c) = drain(&mut s);
                got.extend(bytes);
                closed |= c;
            }
            prop_assert_eq!(got, pieces.concat());
            prop_assert!(closed);
        }
    }
}
