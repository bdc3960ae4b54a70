//! Back-pressure from one next hop's queue to the connections that feed it.
//!
//! A shard reads no more than it can forward. When a next hop's queue passes its high-water
//! mark the hop is *congested*: a connection whose packet has just joined that queue is not
//! read again until the queue is back under the low-water mark, so its sender's TCP window
//! closes and the flood slows down at its source instead of being read, unwrapped and then
//! dropped here. The gap between the marks keeps a connection from flapping between paused
//! and reading at every packet.
//!
//! Pausing is only right for a next hop that keeps up on average. A hop that stays congested
//! longer than the *patience* is slow or stuck: it no longer holds anyone back (one slow hop
//! must not stall every connection that also carries packets for fast ones), and what does not
//! fit in its queue is dropped as `peer_queue_full`, as the timing wheel's releases towards it
//! always are. Its congestion ends, and the patience starts afresh, once it drains to the
//! low-water mark.
//!
//! Pure: time is an argument.

use std::time::Duration;

use crate::mix::Timestamp;

/// The back-pressure state of one next hop's queue.
#[derive(Debug, Clone)]
pub struct QueuePressure {
    high: usize,
    low: usize,
    patience: Duration,
    /// When the queue last passed the high-water mark, while it has not drained since.
    congested_since: Option<Timestamp>,
}

impl QueuePressure {
    /// Marks for a queue of `capacity` frames: congested at three quarters full, relieved at
    /// half, holding readers back for at most `patience` per congestion.
    pub fn new(capacity: usize, patience: Duration) -> Self {
        let capacity = capacity.max(1);
        let high = (capacity * 3 / 4).max(1);
        QueuePressure {
            high,
            low: (capacity / 2).min(high - 1),
            patience,
            congested_since: None,
        }
    }

    /// Whether [`Self::after_push`] with `len` could answer `true` (so the caller only reads
    /// the clock when it might).
    pub fn may_hold_back(&self, len: usize) -> bool {
        len >= self.high || self.congested_since.is_some()
    }

    /// The queue holds `len` frames after a push at `now`: whether the connection the frame
    /// came from should pause until [`Self::relieved`].
    pub fn after_push(&mut self, len: usize, now: Timestamp) -> bool {
        if len >= self.high && self.congested_since.is_none() {
            self.congested_since = Some(now);
        }
        self.holds_back(now)
    }

    /// The queue holds `len` frames after a write (or after it was emptied): `true` when this
    /// ends a congestion, so paused readers should be woken.
    pub fn after_drain(&mut self, len: usize) -> bool {
        if self.congested_since.is_some() && len <= self.low {
            self.congested_since = None;
            true
        } else {
            false
        }
    }

    /// Whether readers feeding this queue should still be paused at `now`.
    pub fn holds_back(&self, now: Timestamp) -> bool {
        self.wait_left(now).is_some()
    }

    /// How much longer, at most, a reader feeding this queue should stay paused at `now`:
    /// `None` when the queue is not congested, or has been for longer than the patience.
    pub fn wait_left(&self, now: Timestamp) -> Option<Duration> {
        let since = self.congested_since?;
        let congested_for = now.saturating_duration_since(since);
        self.patience
            .checked_sub(congested_for)
            .filter(|left| !left.is_zero())
    }

    /// Whether the queue is congested (past the high-water mark and not drained since),
    /// however long it has been.
    pub fn is_congested(&self) -> bool {
        self.congested_since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn readers_pause_from_the_high_mark_until_the_low_mark() {
        let mut p = QueuePressure::new(100, Duration::from_secs(1));
        assert!(!p.may_hold_back(74));
        assert!(!p.after_push(74, at(0)), "below three quarters");
        assert!(p.may_hold_back(75));
        assert!(p.after_push(75, at(1)), "at three quarters");
        assert_eq!(p.wait_left(at(1)), Some(Duration::from_millis(1000)));
        // Draining to between the marks keeps the congestion (no flapping).
        assert!(!p.after_drain(60));
        assert!(p.holds_back(at(2)));
        assert!(
            p.after_push(61, at(3)),
            "still congested below the high mark"
        );
        // Half full relieves it, once.
        assert!(p.after_drain(50));
        assert!(!p.after_drain(10));
        assert!(!p.is_congested());
        assert!(!p.after_push(51, at(4)));
    }

    #[test]
    fn a_hop_congested_past_the_patience_holds_nobody_back_until_it_drains() {
        let mut p = QueuePressure::new(8192, Duration::from_millis(500));
        assert!(p.after_push(6144, at(100)));
        assert_eq!(p.wait_left(at(400)), Some(Duration::from_millis(200)));
        assert!(!p.after_push(8192, at(600)), "slow hop: no more pauses");
        assert!(p.is_congested(), "but still congested");
        assert!(p.after_drain(4096));
        // A fresh congestion gets the whole patience again.
        assert!(p.after_push(6144, at(700)));
        assert_eq!(p.wait_left(at(700)), Some(Duration::from_millis(500)));
    }

    #[test]
    fn tiny_queues_keep_ordered_marks() {
        for capacity in [0, 1, 2, 3] {
            let mut p = QueuePressure::new(capacity, Duration::from_secs(1));
            assert!(p.after_push(capacity.max(1), at(0)), "capacity {capacity}");
            assert!(p.after_drain(0), "capacity {capacity}");
        }
    }
}
