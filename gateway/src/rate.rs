//! A token bucket: one client's packet or control rate, one source's registrations. Pure:
//! time is an argument.

use std::time::Duration;

/// Allows `rate` packets per second on average and bursts of `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket at time `now_ns`.
    pub fn new(rate: u32, burst: u32, now_ns: u64) -> Self {
        TokenBucket {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last_ns: now_ns,
        }
    }

    /// A full bucket at `now_ns` refilling `per_hour` tokens an hour.
    pub fn per_hour(per_hour: u32, burst: u32, now_ns: u64) -> Self {
        TokenBucket {
            rate: f64::from(per_hour.max(1)) / 3600.0,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last_ns: now_ns,
        }
    }

    /// Whether the bucket would be full at `now_ns` (it then holds no information).
    pub fn is_full(&self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.tokens + elapsed * self.rate >= self.burst
    }

    /// Takes one token: `None` if there was one, else how long until there is one (the
    /// caller waits that long and asks again, reading nothing more from the client meanwhile:
    /// back-pressure, nothing dropped).
    pub fn take(&mut self, now_ns: u64) -> Option<Duration> {
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            // Rounded up to whole nanoseconds and never zero: a wait that rounded down to
            // nothing would have the caller ask again at the same instant, forever on a clock
            // that moves only when its tasks wait (tokio's paused clock).
            let ns = ((1.0 - self.tokens) / self.rate * 1e9).ceil().max(1.0);
            Some(Duration::from_nanos(ns as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let mut bucket = TokenBucket::new(100, 3, 0);
        for _ in 0..3 {
            assert_eq!(bucket.take(0), None);
        }
        let wait = bucket.take(0).expect("empty after the burst");
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
        assert_eq!(
            bucket.take(10_000_000),
            None,
            "after waiting, the token is there"
        );
        assert!(bucket.take(10_000_000).is_some());
        // Over one second, at most rate + burst tokens pass.
        let mut bucket = TokenBucket::new(100, 3, 0);
        let passed = (0..1000u64)
            .filter(|i| bucket.take(i * 1_000_000).is_none())
            .count();
        assert!((100..=103).contains(&passed), "{passed}");
    }

    /// Found by the `gateway_session` fuzz target: a bucket just short of a token (by float
    /// rounding) asked to wait zero, and a caller that waits and asks again (the session's
    /// packet and control limits) spun forever on a clock that does not move by itself.
    #[test]
    fn waiting_what_it_says_brings_the_token() {
        for (rate, burst) in [(20, 4), (10, 4), (7, 1), (3, 2), (500, 1000), (1, 1)] {
            let mut bucket = TokenBucket::new(rate, burst, 0);
            let mut now = 0u64;
            for i in 0..2_000u64 {
                // Callers arrive at odd instants, like a client's frames.
                now += i.wrapping_mul(7_919_993) % 40_000_000;
                let mut asked = 0;
                while let Some(wait) = bucket.take(now) {
                    assert!(!wait.is_zero(), "rate {rate}: a zero wait at {now} ns");
                    now += u64::try_from(wait.as_nanos()).expect("short");
                    asked += 1;
                    assert!(
                        asked <= 2,
                        "rate {rate}: no token after waiting at {now} ns"
                    );
                }
            }
        }
    }
}
