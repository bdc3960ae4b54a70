//! Who may hold a connection to the mix port, and for how long.
//!
//! A connection costs the node a descriptor and a task (and, once bytes arrive, a packet
//! buffer), so an attacker who opens many and sends nothing could starve honest peers. The
//! node therefore caps inbound connections in total and per source address across all
//! shards ([`ConnectionTable`], one for the router, consulted only at accept: off the hot
//! path), closes a connection that has not completed a frame within the first-frame timeout,
//! and one that has sent nothing for the idle timeout. Honest peers (other nodes) hold a few
//! connections each and send cover traffic all the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The mix port's connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundLimits {
    /// Inbound connections in all (every shard together).
    pub max_connections: usize,
    /// Inbound connections from one source: an IPv4 address or an IPv6 /64 ([`source_of`]).
    pub max_per_source: usize,
    /// How long a new connection may take to deliver its first complete frame.
    pub first_frame_timeout: Duration,
    /// How long a connection may send nothing at all.
    pub idle_timeout: Duration,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            max_connections: 8192,
            max_per_source: 128,
            first_frame_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The node holds `max_connections` already.
    Full,
    /// Its source holds `max_per_source` already.
    PerSource,
}

/// The source an address counts as: an IPv4 address (also when written as an IPv4-mapped
/// IPv6 address), or an IPv6 address's /64 (one host usually holds a whole /64, so a cap per
/// IPv6 address would cap nothing).
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The inbound connections of every shard, by source address.
#[derive(Debug, Default)]
pub struct ConnectionTable {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

impl ConnectionTable {
    /// Counts a new connection from `address`, or refuses it.
    pub fn admit(&mut self, address: IpAddr, limits: &InboundLimits) -> Result<(), Refusal> {
        if self.total >= limits.max_connections {
            return Err(Refusal::Full);
        }
        let held = self.per_source.entry(source_of(address)).or_insert(0);
        if *held >= limits.max_per_source {
            return Err(Refusal::PerSource);
        }
        *held += 1;
        self.total += 1;
        Ok(())
    }

    /// A connection from `address` closed.
    pub fn release(&mut self, address: IpAddr) {
        let source = source_of(address);
        if let Some(held) = self.per_source.get_mut(&source) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.per_source.remove(&source);
            }
            self.total = self.total.saturating_sub(1);
        }
    }

    /// Connections held in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Source addresses holding at least one.
    pub fn sources(&self) -> usize {
        self.per_source.len()
    }
}

/// A counted connection; releases its place when dropped.
#[derive(Debug)]
pub(super) struct Admitted {
    table: Arc<Mutex<ConnectionTable>>,
    source: IpAddr,
}

impl Admitted {
    /// Admits a connection from `source` into `table`.
    pub(super) fn try_new(
        table: &Arc<Mutex<ConnectionTable>>,
        source: IpAddr,
        limits: &InboundLimits,
    ) -> Result<Self, Refusal> {
        let mut guard = table.lock().unwrap_or_else(|p| p.into_inner());
        guard.admit(source, limits)?;
        Ok(Self {
            table: Arc::clone(table),
            source,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut guard = self.table.lock().unwrap_or_else(|p| p.into_inner());
        guard.release(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_source: usize) -> InboundLimits {
        InboundLimits {
            max_connections: total,
            max_per_source: per_source,
            ..InboundLimits::default()
        }
    }

    #[test]
    fn a_source_gets_its_share_and_the_node_its_total() {
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        );
        let l = limits(5, 2);
        let mut t = ConnectionTable::default();
        assert_eq!(t.admit(a, &l), Ok(()));
        assert_eq!(t.admit(a, &l), Ok(()));
        assert_eq!(t.admit(a, &l), Err(Refusal::PerSource));
        assert_eq!(t.admit(b, &l), Ok(()));
        assert_eq!(t.admit(b, &l), Ok(()));
        assert_eq!(t.admit(c, &l), Ok(()));
        assert_eq!(t.admit(c, &l), Err(Refusal::Full));
        assert_eq!((t.total(), t.sources()), (5, 3));
        t.release(a);
        assert_eq!(t.admit(c, &l), Ok(()), "a place freed by anyone");
        t.release("192.0.2.9".parse().unwrap());
        assert_eq!(t.total(), 5, "releasing an unknown source changes nothing");
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_a_mapped_ipv4_address_its_ipv4_one() {
        let l = limits(100, 2);
        let mut t = ConnectionTable::default();
        let same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::7"];
        assert_eq!(t.admit(same_64[0].parse().unwrap(), &l), Ok(()));
        assert_eq!(t.admit(same_64[1].parse().unwrap(), &l), Ok(()));
        assert_eq!(
            t.admit(same_64[2].parse().unwrap(), &l),
            Err(Refusal::PerSource)
        );
        assert_eq!(t.admit("2001:db8:1:3::1".parse().unwrap(), &l), Ok(()));
        assert_eq!(t.admit("192.0.2.1".parse().unwrap(), &l), Ok(()));
        assert_eq!(t.admit("::ffff:192.0.2.1".parse().unwrap(), &l), Ok(()));
        assert_eq!(
            t.admit("192.0.2.1".parse().unwrap(), &l),
            Err(Refusal::PerSource)
        );
        t.release("2001:db8:1:2::dead".parse().unwrap());
        assert_eq!(
            t.admit(same_64[2].parse().unwrap(), &l),
            Ok(()),
            "released by /64"
        );
        assert_eq!((t.total(), t.sources()), (5, 3));
    }

    #[test]
    fn a_dropped_admission_gives_its_place_back() {
        let table = Arc::new(Mutex::new(ConnectionTable::default()));
        let source: IpAddr = "192.0.2.1".parse().unwrap();
        let l = limits(10, 1);
        let first = Admitted::try_new(&table, source, &l).unwrap();
        assert_eq!(
            Admitted::try_new(&table, source, &l).unwrap_err(),
            Refusal::PerSource
        );
        drop(first);
        assert!(Admitted::try_new(&table, source, &l).is_ok());
        let t = table.lock().unwrap();
        assert_eq!(
            (t.total(), t.sources()),
            (0, 0),
            "the second was dropped too"
        );
    }
}
