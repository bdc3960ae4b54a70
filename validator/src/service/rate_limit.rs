//! Per-address rate limits: a token bucket per address and cost class, in a table of
//! bounded size. Pure: the caller passes the time (a [`Duration`] since an origin it
//! picks) and acts on the verdict.
//!
//! * A request draws one token from its address's bucket of its [`Class`]; a bucket holds at
//!   most `burst` tokens and refills at `per_second`. An empty bucket refuses, saying when
//!   the next token arrives.
//! * Addresses are keyed as [`AddressKey`]: an IPv4 address, or the /64 prefix of an IPv6
//!   one (one host usually holds a whole /64, so keying by full address would give it
//!   billions of buckets).
//! * The table tracks at most `capacity` addresses. An address whose buckets are all full
//!   again behaves exactly like one never seen, so dropping it loses nothing: when a new
//!   address finds the table full, the table drops every such entry (at most once per
//!   [`SWEEP_EVERY`], so a stream of new addresses cannot make each request scan the
//!   table). If that frees no room, the new address draws from one **overflow** bucket set
//!   shared by every address the table has no room for: while the table is full of active
//!   addresses, all newcomers together get what one address gets. That is the conservative
//!   choice: an attacker with many addresses cannot multiply its allowance past
//!   `capacity + 1` addresses' worth, at the price of newcomers sharing one allowance while
//!   it lasts.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// How often at most a full table is swept for entries that are idle again.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What a request costs, and so which bucket it draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reads of the committed state (status, topology, genesis, accounts, blocks, ...).
    Read,
    /// Submissions whose check is cryptography: statements, Sphinx keys, blind signing,
    /// spends.
    Write,
    /// Relays from other validators (signed by them; the relays of a whole network's
    /// transactions).
    Peer,
}

impl Class {
    fn index(self) -> usize {
        match self {
            Self::Read => 0,
            Self::Write => 1,
            Self::Peer => 2,
        }
    }

    /// Its name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Peer => "peer",
        }
    }
}

/// A bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second (at least 1).
    pub per_second: u32,
    /// Most tokens held (at least 1): how many requests an idle address may send at once.
    pub burst: u32,
}

/// The rate of each class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// [`Class::Read`].
    pub read: Rate,
    /// [`Class::Write`].
    pub write: Rate,
    /// [`Class::Peer`].
    pub peer: Rate,
}

impl Rates {
    fn of(&self, class: Class) -> Rate {
        match class {
            Class::Read => self.read,
            Class::Write => self.write,
            Class::Peer => self.peer,
        }
    }
}

/// A token bucket; its tokens as of `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at: Duration,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(rate: Rate, now: Duration) -> Self {
        Self {
            tokens: f64::from(rate.burst),
            at: now,
        }
    }

    /// The tokens at `now` (a `now` before the last update counts as the last update).
    fn tokens_at(&self, rate: Rate, now: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        (self.tokens + elapsed * f64::from(rate.per_second)).min(f64::from(rate.burst))
    }

    /// Takes a token at `now`, or says how long until one is there.
    pub fn take(&mut self, rate: Rate, now: Duration) -> Result<(), Duration> {
        let tokens = self.tokens_at(rate, now);
        self.at = self.at.max(now);
        if tokens >= 1.0 {
            self.tokens = tokens - 1.0;
            Ok(())
        } else {
            self.tokens = tokens;
            Err(Duration::from_secs_f64(
                (1.0 - tokens) / f64::from(rate.per_second),
            ))
        }
    }

    /// Whether it is full at `now`: it then behaves like a new one.
    pub fn is_full(&self, rate: Rate, now: Duration) -> bool {
        self.tokens_at(rate, now) >= f64::from(rate.burst)
    }
}

/// What an address is tracked by: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of `addr` (an IPv4-mapped IPv6 address is its IPv4 address).
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

type Buckets = [Bucket; 3];

fn full_buckets(rates: &Rates, now: Duration) -> Buckets {
    [
        Bucket::full(rates.read, now),
        Bucket::full(rates.write, now),
        Bucket::full(rates.peer, now),
    ]
}

/// Where a request's token came from (or would have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawn {
    /// The address's own buckets.
    Own,
    /// The overflow buckets newcomers share while the table is full.
    Overflow,
}

/// A refusal: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// When the next token arrives.
    pub retry_after: Duration,
    /// Which buckets refused.
    pub drawn: Drawn,
}

/// The buckets of at most `capacity` addresses, and the overflow buckets.
#[derive(Debug)]
pub struct RateTable {
    rates: Rates,
    capacity: usize,
    entries: HashMap<AddressKey, Buckets>,
    overflow: Buckets,
    next_sweep: Duration,
}

impl RateTable {
    /// An empty table for at most `capacity` addresses (at least 1).
    pub fn new(rates: Rates, capacity: usize, now: Duration) -> Self {
        Self {
            rates,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            overflow: full_buckets(&rates, now),
            next_sweep: now,
        }
    }

    /// Addresses tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Charges one request of `class` from `addr` at `now`.
    pub fn check(&mut self, addr: IpAddr, class: Class, now: Duration) -> Result<Drawn, Refused> {
        let key = AddressKey::of(addr);
        let rate = self.rates.of(class);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.sweep(now);
        }
        let (buckets, drawn) = if let Some(own) = self.entries.get_mut(&key) {
            (own, Drawn::Own)
        } else if self.entries.len() < self.capacity {
            let fresh = full_buckets(&self.rates, now);
            (self.entries.entry(key).or_insert(fresh), Drawn::Own)
        } else {
            (&mut self.overflow, Drawn::Overflow)
        };
        buckets[class.index()]
            .take(rate, now)
            .map(|()| drawn)
            .map_err(|retry_after| Refused { retry_after, drawn })
    }

    /// Drops the entries that are idle again, if the last sweep is [`SWEEP_EVERY`] ago.
    fn sweep(&mut self, now: Duration) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_EVERY;
        let rates = self.rates;
        self.entries.retain(|_, buckets| {
            let idle = [Class::Read, Class::Write, Class::Peer]
                .iter()
                .all(|c| buckets[c.index()].is_full(rates.of(*c), now));
            !idle
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv4Addr;

    const RATE: Rate = Rate {
        per_second: 10,
        burst: 5,
    };

    fn rates() -> Rates {
        Rates {
            read: Rate {
                per_second: 100,
                burst: 50,
            },
            write: RATE,
            peer: Rate {
                per_second: 1,
                burst: 1,
            },
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn a_bucket_gives_its_burst_then_refills_at_its_rate_up_to_the_burst() {
        let mut b = Bucket::full(RATE, ms(0));
        for _ in 0..5 {
            b.take(RATE, ms(0)).unwrap();
        }
        // Empty: the next token is 100 ms away (10 per second).
        assert_eq!(b.take(RATE, ms(0)), Err(ms(100)));
        assert_eq!(b.take(RATE, ms(40)), Err(ms(60)));
        b.take(RATE, ms(100)).unwrap();
        assert!(b.take(RATE, ms(150)).is_err());
        // A long idle time refills to the burst, no more.
        assert!(b.is_full(RATE, ms(10_000)));
        for _ in 0..5 {
            b.take(RATE, ms(10_000)).unwrap();
        }
        assert!(b.take(RATE, ms(10_000)).is_err());
    }

    #[test]
    fn time_going_backwards_grants_nothing() {
        let mut b = Bucket::full(RATE, ms(1_000));
        for _ in 0..5 {
            b.take(RATE, ms(1_000)).unwrap();
        }
        assert!(b.take(RATE, ms(0)).is_err());
        assert!(b.take(RATE, ms(1_050)).is_err());
        b.take(RATE, ms(1_100)).unwrap();
    }

    #[test]
    fn addresses_and_classes_have_their_own_buckets() {
        let mut t = RateTable::new(rates(), 10, ms(0));
        for _ in 0..5 {
            t.check(ip(1), Class::Write, ms(0)).unwrap();
        }
        let refused = t.check(ip(1), Class::Write, ms(0)).unwrap_err();
        assert_eq!(refused.retry_after, ms(100));
        assert_eq!(refused.drawn, Drawn::Own);
        // The same address still reads; another address still writes.
        assert_eq!(t.check(ip(1), Class::Read, ms(0)), Ok(Drawn::Own));
        assert_eq!(t.check(ip(2), Class::Write, ms(0)), Ok(Drawn::Own));
        assert_eq!(t.check(ip(2), Class::Peer, ms(0)), Ok(Drawn::Own));
        assert!(t.check(ip(2), Class::Peer, ms(0)).is_err());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddressKey::of(a), AddressKey::of(b));
        assert_ne!(AddressKey::of(a), AddressKey::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(AddressKey::of(mapped), AddressKey::of(ip(1)));
        let mut t = RateTable::new(rates(), 10, ms(0));
        for _ in 0..5 {
            t.check(a, Class::Write, ms(0)).unwrap();
        }
        assert!(t.check(b, Class::Write, ms(0)).is_err());
        assert!(t.check(c, Class::Write, ms(0)).is_ok());
    }

    #[test]
    fn a_full_table_of_active_addresses_puts_newcomers_on_one_shared_overflow_allowance() {
        let mut t = RateTable::new(rates(), 3, ms(0));
        for n in 1..=3 {
            t.check(ip(n), Class::Write, ms(0)).unwrap();
        }
        // Table full, every entry active (a token short of full): newcomers share the
        // overflow buckets, five writes between them all.
        for n in 10..15 {
            assert_eq!(t.check(ip(n), Class::Write, ms(0)), Ok(Drawn::Overflow));
        }
        let refused = t.check(ip(20), Class::Write, ms(0)).unwrap_err();
        assert_eq!(refused.drawn, Drawn::Overflow);
        assert!(t.check(ip(21), Class::Write, ms(0)).is_err());
        assert_eq!(t.len(), 3, "the table never grows past its capacity");
        // The tracked addresses keep their own allowance.
        assert_eq!(t.check(ip(1), Class::Write, ms(0)), Ok(Drawn::Own));
    }

    #[test]
    fn entries_idle_again_are_dropped_for_newcomers_at_most_once_per_sweep_interval() {
        let mut t = RateTable::new(rates(), 2, ms(0));
        t.check(ip(1), Class::Write, ms(0)).unwrap();
        t.check(ip(2), Class::Write, ms(0)).unwrap();
        // ip(1) and ip(2) refill within 100 ms, but the first sweep (at 50 ms) found them
        // active and the next may only run a sweep interval later.
        assert_eq!(t.check(ip(3), Class::Write, ms(50)), Ok(Drawn::Overflow));
        assert_eq!(t.check(ip(3), Class::Write, ms(500)), Ok(Drawn::Overflow));
        // ip(2) is busy again; ip(1) idle: the sweep drops ip(1) only.
        t.check(ip(2), Class::Write, ms(1_049)).unwrap();
        assert_eq!(t.check(ip(3), Class::Write, ms(1_050)), Ok(Drawn::Own));
        assert_eq!(t.len(), 2);
        // ip(1) comes back to a full table of active addresses: overflow.
        assert_eq!(t.check(ip(1), Class::Write, ms(1_050)), Ok(Drawn::Overflow));
    }

    #[test]
    fn a_dropped_idle_address_comes_back_with_exactly_what_it_had() {
        let mut t = RateTable::new(rates(), 1, ms(0));
        for _ in 0..5 {
            t.check(ip(1), Class::Write, ms(0)).unwrap();
        }
        // Refilled after 500 ms: dropped for ip(2), then back as new with a full burst,
        // which is what it would have had if kept.
        assert_eq!(t.check(ip(2), Class::Read, ms(600)), Ok(Drawn::Own));
        assert_eq!(t.check(ip(1), Class::Write, ms(2_000)), Ok(Drawn::Own));
        for _ in 0..4 {
            t.check(ip(1), Class::Write, ms(2_000)).unwrap();
        }
        assert!(t.check(ip(1), Class::Write, ms(2_000)).is_err());
    }
}
