//! Per-source-address limits on the client port: connections open at once, handshakes in
//! progress at once, and registrations over time. Pure: time is an argument, and the caller
//! holds the counts (one [`SourceLimits`] behind a lock) and releases what it took.
//!
//! A source is an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64, so
//! counting single IPv6 addresses would limit nothing). IPv4-mapped IPv6 addresses count as
//! their IPv4 address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::rate::TokenBucket;

/// The limits, from `[clients]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSettings {
    /// Connections one source may hold open at once.
    pub max_connections: u32,
    /// Connections of one source that may be in their handshake (not yet authenticated and
    /// confirmed) at once.
    pub max_handshakes: u32,
    /// Registrations one source may make in a burst.
    pub registration_burst: u32,
    /// Registrations one source may make per hour, sustained.
    pub registrations_per_hour: u32,
}

/// Why a source was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRefusal {
    /// It holds `max_connections` already.
    Connections,
    /// It has `max_handshakes` in progress already.
    Handshakes,
    /// Its registrations are used up; the next is possible after this long.
    Registrations(Duration),
}

/// Registration buckets kept before full ones are forgotten (a full bucket is the same as
/// none).
const BUCKETS_BEFORE_PRUNING: usize = 4096;

/// The counts of every source; see the module docs.
#[derive(Debug)]
pub struct SourceLimits {
    settings: SourceSettings,
    connections: HashMap<IpAddr, u32>,
    handshakes: HashMap<IpAddr, u32>,
    registrations: HashMap<IpAddr, TokenBucket>,
    /// When the buckets were last pruned (ns), and how many there were after.
    pruned: (u64, usize),
}

/// The source `ip` counts as: the same rule as the mix port's caps.
pub use router_core::runtime::source_of;

impl SourceLimits {
    /// No source holds anything yet.
    pub fn new(settings: SourceSettings) -> Self {
        SourceLimits {
            settings,
            connections: HashMap::new(),
            handshakes: HashMap::new(),
            registrations: HashMap::new(),
            pruned: (0, 0),
        }
    }

    /// A new connection from `ip`: it counts as open and in its handshake until
    /// [`SourceLimits::handshake_done`] and [`SourceLimits::closed`]. Refused when the
    /// source holds its share of either.
    pub fn open(&mut self, ip: IpAddr) -> Result<(), SourceRefusal> {
        let source = source_of(ip);
        let open = self.connections.get(&source).copied().unwrap_or(0);
        if open >= self.settings.max_connections {
            return Err(SourceRefusal::Connections);
        }
        let shaking = self.handshakes.get(&source).copied().unwrap_or(0);
        if shaking >= self.settings.max_handshakes {
            return Err(SourceRefusal::Handshakes);
        }
        *self.connections.entry(source).or_insert(0) += 1;
        *self.handshakes.entry(source).or_insert(0) += 1;
        Ok(())
    }

    /// A connection of `ip` finished its handshake (confirmed, refused or timed out).
    pub fn handshake_done(&mut self, ip: IpAddr) {
        release(&mut self.handshakes, source_of(ip));
    }

    /// A connection of `ip` closed.
    pub fn closed(&mut self, ip: IpAddr) {
        release(&mut self.connections, source_of(ip));
    }

    /// Takes one registration of `ip`'s allowance at `now_ns`.
    pub fn register(&mut self, ip: IpAddr, now_ns: u64) -> Result<(), SourceRefusal> {
        self.prune(now_ns);
        let settings = self.settings;
        let bucket = self.registrations.entry(source_of(ip)).or_insert_with(|| {
            TokenBucket::per_hour(
                settings.registrations_per_hour,
                settings.registration_burst,
                now_ns,
            )
        });
        match bucket.take(now_ns) {
            None => Ok(()),
            Some(wait) => Err(SourceRefusal::Registrations(wait)),
        }
    }

    /// Connections `ip`'s source holds open.
    pub fn connections_of(&self, ip: IpAddr) -> u32 {
        self.connections.get(&source_of(ip)).copied().unwrap_or(0)
    }

    /// Handshakes `ip`'s source has in progress.
    pub fn handshakes_of(&self, ip: IpAddr) -> u32 {
        self.handshakes.get(&source_of(ip)).copied().unwrap_or(0)
    }

    /// Sources with a registration bucket that is not full.
    pub fn registration_buckets(&self) -> usize {
        self.registrations.len()
    }

    /// Forgets full buckets once their number doubled since the last pruning (amortized
    /// O(1) per registration).
    fn prune(&mut self, now_ns: u64) {
        if self.registrations.len() < BUCKETS_BEFORE_PRUNING.max(2 * self.pruned.1) {
            return;
        }
        self.registrations.retain(|_, b| !b.is_full(now_ns));
        self.pruned = (now_ns, self.registrations.len());
    }
}

fn release(counts: &mut HashMap<IpAddr, u32>, source: IpAddr) {
    if let Some(n) = counts.get_mut(&source) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: SourceSettings = SourceSettings {
        max_connections: 3,
        max_handshakes: 2,
        registration_burst: 2,
        registrations_per_hour: 60,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn handshakes_and_connections_are_capped_per_source_and_released() {
        let mut limits = SourceLimits::new(SETTINGS);
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.1"));
        assert_eq!(limits.open(a), Ok(()));
        assert_eq!(limits.open(a), Ok(()));
        assert_eq!(limits.open(a), Err(SourceRefusal::Handshakes));
        assert_eq!(limits.open(b), Ok(()), "another source is not affected");
        limits.handshake_done(a);
        assert_eq!(limits.open(a), Ok(()));
        limits.handshake_done(a);
        limits.handshake_done(a);
        assert_eq!(limits.connections_of(a), 3);
        assert_eq!(limits.handshakes_of(a), 0);
        assert_eq!(limits.open(a), Err(SourceRefusal::Connections));
        limits.closed(a);
        assert_eq!(limits.open(a), Ok(()));
        for _ in 0..3 {
            limits.handshake_done(a);
            limits.closed(a);
        }
        limits.closed(a); // more releases than takes do not underflow
        assert_eq!(limits.connections_of(a), 0);
        assert!(!limits.connections.contains_key(&a), "empty entries go");
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_mapped_ipv4_is_ipv4() {
        let mut limits = SourceLimits::new(SETTINGS);
        assert_eq!(limits.open(ip("2001:db8::1")), Ok(()));
        assert_eq!(limits.open(ip("2001:db8::ffff:2")), Ok(()));
        assert_eq!(
            limits.open(ip("2001:db8::3")),
            Err(SourceRefusal::Handshakes)
        );
        assert_eq!(limits.open(ip("2001:db8:0:1::1")), Ok(()), "another /64");
        assert_eq!(source_of(ip("::ffff:127.0.0.2")), ip("127.0.0.2"), "mapped");
    }

    #[test]
    fn registrations_burst_then_follow_the_hourly_rate() {
        let mut limits = SourceLimits::new(SETTINGS);
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.1"));
        assert_eq!(limits.register(a, 0), Ok(()));
        assert_eq!(limits.register(a, 0), Ok(()));
        let Err(SourceRefusal::Registrations(wait)) = limits.register(a, 0) else {
            panic!("the third is refused")
        };
        assert!(
            wait.abs_diff(Duration::from_secs(60)) < Duration::from_millis(1),
            "60 an hour: one a minute, {wait:?}"
        );
        assert_eq!(
            limits.register(b, 0),
            Ok(()),
            "another source is not affected"
        );
        assert!(limits.register(a, 59_000_000_000).is_err());
        assert_eq!(limits.register(a, 60_001_000_000), Ok(()));
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let mut limits = SourceLimits::new(SETTINGS);
        for i in 0..BUCKETS_BEFORE_PRUNING as u32 {
            let source = IpAddr::V4(std::net::Ipv4Addr::from(i));
            limits.register(source, 0).unwrap();
        }
        assert_eq!(limits.registration_buckets(), BUCKETS_BEFORE_PRUNING);
        // An hour later every bucket is full again: the next registration prunes them.
        limits.register(ip("127.0.0.1"), 3_600_000_000_000).unwrap();
        assert_eq!(limits.registration_buckets(), 1);
    }
}
