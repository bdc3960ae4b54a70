//! Exponential gaps and delays (Loopix §4.1: sending as a Poisson process, per-hop delays
//! drawn from an exponential distribution), from a caller-supplied RNG.

use std::time::Duration;

use rand_core::RngCore;

/// A uniform sample in `[0, 1)` with 53 bits of precision.
fn unit(rng: &mut dyn RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// An exponentially distributed duration with the given mean (zero mean gives zero).
pub fn exponential(rng: &mut dyn RngCore, mean: Duration) -> Duration {
    if mean.is_zero() {
        return Duration::ZERO;
    }
    // 1 - u is in (0, 1], so the logarithm is finite and the result non-negative.
    let sample = -mean.as_secs_f64() * (1.0 - unit(rng)).ln();
    // A sample beyond a day (probability e^-86400/mean) is clamped, not an error.
    Duration::try_from_secs_f64(sample.min(86_400.0)).unwrap_or(Duration::ZERO)
}

/// A Poisson stream: when its next event is due. A stream that fell far behind (the caller
/// was busy) restarts from `now` instead of bursting to catch up.
#[derive(Debug, Clone, Copy)]
pub struct PoissonStream {
    mean: Duration,
    next: Duration,
}

/// How far behind a stream may fall before it restarts from now.
const MAX_LAG: Duration = Duration::from_secs(1);

impl PoissonStream {
    /// A stream whose first event is one gap after `now`.
    pub fn new(mean: Duration, now: Duration, rng: &mut dyn RngCore) -> Self {
        Self {
            mean,
            next: now + exponential(rng, mean),
        }
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Duration {
        self.next
    }

    /// Whether an event is due at `now`.
    pub fn is_due(&self, now: Duration) -> bool {
        self.next <= now
    }

    /// Consumes the due event and schedules the next one.
    pub fn advance(&mut self, now: Duration, rng: &mut dyn RngCore) {
        let base = if now.saturating_sub(self.next) > MAX_LAG {
            now
        } else {
            self.next
        };
        self.next = base + exponential(rng, self.mean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn gaps_have_the_configured_mean_and_spread() {
        // 20 000 samples of an exponential with mean 20 ms: the sample mean has a standard
        // error of 20/sqrt(20000) = 0.14 ms, so +-0.7 ms is five standard errors. The
        // exponential's standard deviation equals its mean; a constant gap would fail that.
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mean = Duration::from_millis(20);
        let n = 20_000;
        let samples: Vec<f64> = (0..n)
            .map(|_| exponential(&mut rng, mean).as_secs_f64() * 1000.0)
            .collect();
        let m = samples.iter().sum::<f64>() / n as f64;
        let var = samples.iter().map(|s| (s - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!((m - 20.0).abs() < 0.7, "sample mean {m} ms");
        assert!(
            (var.sqrt() - 20.0).abs() < 1.0,
            "sample sd {} ms",
            var.sqrt()
        );
        // P(gap > mean) = e^-1 = 0.368.
        let above = samples.iter().filter(|s| **s > 20.0).count() as f64 / n as f64;
        assert!((above - 0.368).abs() < 0.02, "{above}");
    }

    #[test]
    fn a_stream_does_not_burst_after_a_long_stall() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mean = Duration::from_millis(20);
        let mut s = PoissonStream::new(mean, Duration::ZERO, &mut rng);
        let late = Duration::from_secs(60);
        assert!(s.is_due(late));
        s.advance(late, &mut rng);
        assert!(s.next_at() >= late);
    }
}
