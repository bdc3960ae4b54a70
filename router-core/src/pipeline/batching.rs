//! When a shard's received frames are unwrapped: at once, or after waiting briefly for a fuller
//! batch.
//!
//! Batched X25519 on AVX-512 IFMA runs eight packets per ladder in the time of one ladder, so a
//! batch of three costs almost as much as a batch of eight. Unwrapping whatever one read brought
//! makes a moderately loaded shard (paced traffic arriving a few packets at a time) spend much of
//! its time in half-empty ladders: at 50 % of its maximum rate it used about 90 % of its core
//! (75 % with the default linger, BENCHMARKS.md). [`PendingBatch`] collects the frames of all of a shard's connections and
//! releases them in whole multiples of the ladder width, and everything once its oldest frame
//! has waited [`BatchPolicy::linger`]. The wait is bounded, counts towards the packet's delay
//! (the mixer measures delays from arrival) and is zero where batching does not pay (the
//! portable backend, or `linger` zero).
//!
//! Pure logic on caller time; the runtime calls [`PendingBatch::take_ready`] after each read and
//! when [`PendingBatch::deadline`] passes.

use std::time::Duration;

use super::assembler::ReceivedFrame;
use crate::crypto::x25519::Backend;
use crate::mix::Timestamp;

/// How a shard batches frames for unwrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Frames unwrapped together without waiting: whole multiples of this go at once. One
    /// means no batching wait at all.
    pub width: usize,
    /// Longest a frame waits for its batch to fill.
    pub linger: Duration,
}

/// Default [`BatchPolicy::linger`]: a quarter of the node's 2 ms latency budget per hop.
pub const DEFAULT_LINGER: Duration = Duration::from_micros(500);

impl BatchPolicy {
    /// The batch width that pays on `backend` (its ladder's lanes: 8 for AVX-512 IFMA; 1 for
    /// the portable backend, whose batch of 32 is only ~10 % cheaper per packet than a single
    /// one), with `linger`.
    pub fn for_backend(backend: Backend, linger: Duration) -> Self {
        BatchPolicy {
            width: backend.lanes(),
            linger,
        }
    }

    fn waits(&self) -> bool {
        self.width > 1 && !self.linger.is_zero()
    }
}

impl Default for BatchPolicy {
    /// [`Self::for_backend`] on the CPU's detected backend, with [`DEFAULT_LINGER`].
    fn default() -> Self {
        Self::for_backend(crate::crypto::x25519::detected_backend(), DEFAULT_LINGER)
    }
}

/// Frames received but not yet unwrapped, oldest first.
#[derive(Debug)]
pub struct PendingBatch {
    policy: BatchPolicy,
    frames: Vec<ReceivedFrame>,
}

impl PendingBatch {
    /// An empty batch under `policy` (a width of 0 is taken as 1).
    pub fn new(policy: BatchPolicy) -> Self {
        PendingBatch {
            policy: BatchPolicy {
                width: policy.width.max(1),
                ..policy
            },
            frames: Vec::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> BatchPolicy {
        self.policy
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Adds the frames of one read (all newer than those waiting), emptying `frames`.
    pub fn push(&mut self, frames: &mut Vec<ReceivedFrame>) {
        self.frames.append(frames);
    }

    /// When the oldest waiting frame has waited long enough; `None` when nothing waits.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.frames
            .first()
            .map(|oldest| oldest.arrived.saturating_add(self.policy.linger))
    }

    /// Moves into `out` what should be unwrapped at `now`: everything if the oldest frame's
    /// deadline has passed (or the policy never waits), otherwise the oldest whole multiple of
    /// the width. Returns how many frames moved.
    pub fn take_ready(&mut self, now: Timestamp, out: &mut Vec<ReceivedFrame>) -> usize {
        let due = !self.policy.waits() || self.deadline().is_some_and(|deadline| deadline <= now);
        let count = if due {
            self.frames.len()
        } else {
            self.frames.len() - self.frames.len() % self.policy.width
        };
        out.extend(self.frames.drain(..count));
        count
    }

    /// Moves every waiting frame into `out` (shutdown).
    pub fn take_all(&mut self, out: &mut Vec<ReceivedFrame>) -> usize {
        let count = self.frames.len();
        out.append(&mut self.frames);
        count
    }
}

#[cfg(test)]
mod tests;
