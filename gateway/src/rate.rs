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
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
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
}
