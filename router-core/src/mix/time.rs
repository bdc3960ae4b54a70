//! Caller-supplied time.
//!
//! The mix core never reads a clock. The runtime maps its monotonic clock
//! onto [`Timestamp`] and passes it into every call that needs "now"; tests
//! drive the same code with a virtual clock. This keeps the core
//! deterministic and lets tests cover hours of traffic in microseconds.

use std::time::Duration;

const NANOS_PER_MILLI: u64 = 1_000_000;

/// Nanoseconds since an arbitrary origin chosen by the caller.
///
/// Only differences between timestamps are meaningful, so the origin can be
/// process start, boot, or zero in a test. A `u64` of nanoseconds covers
/// more than 584 years, so saturating arithmetic never clips in practice
/// but also never panics or wraps if a caller passes a nonsense value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// A timestamp `millis` milliseconds after the origin (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis.saturating_mul(NANOS_PER_MILLI))
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at the largest representable timestamp
    /// rather than wrapping (a wrapped deadline would fire immediately).
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(add))
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later
    /// (a caller's clock mapping may be non-monotonic across cores).
    pub fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_saturation() {
        let t = Timestamp::from_millis(1_500);
        assert_eq!(t.as_nanos(), 1_500_000_000);
        assert_eq!(Timestamp::from_nanos(7).as_nanos(), 7);
        assert_eq!(Timestamp::from_millis(u64::MAX).as_nanos(), u64::MAX);
        assert_eq!(
            t.saturating_add(Duration::from_millis(500)),
            Timestamp::from_millis(2_000)
        );
        assert_eq!(
            Timestamp::from_nanos(u64::MAX - 1).saturating_add(Duration::MAX),
            Timestamp::from_nanos(u64::MAX)
        );
        assert_eq!(
            Timestamp::from_millis(2_000).saturating_duration_since(t),
            Duration::from_millis(500)
        );
        assert_eq!(
            t.saturating_duration_since(Timestamp::from_millis(2_000)),
            Duration::ZERO
        );
        assert_eq!(Timestamp::default().as_nanos(), 0);
    }
}
