//! Loopback ports for the nodes.
//!
//! A port is chosen when a node is initialised and bound only when it runs, seconds later. A
//! port from `bind(0)` lies in the kernel's ephemeral range, where meanwhile an outgoing
//! connection (a node asking a validator) may be given it; ports below that range are never
//! handed out that way. So ports are taken below the range, distinct within the run, starting
//! at a random offset so that concurrent runs rarely probe the same ones first.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::Error;

/// The lowest port used.
const LOW: u16 = 10_000;
/// Ports tried before falling back to one the kernel picks.
const ATTEMPTS: usize = 2_000;

/// Hands out free loopback addresses.
#[derive(Debug)]
pub(super) struct Ports {
    used: HashSet<u16>,
    next: u16,
    low: u16,
    end: u16,
}

impl Ports {
    /// Ports in `[10000, start of the ephemeral range)`.
    pub(super) fn new() -> Ports {
        let end = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32_768);
        Ports::in_range(LOW.min(end), end, rand::random::<u16>())
    }

    fn in_range(low: u16, end: u16, seed: u16) -> Ports {
        let span = end.saturating_sub(low).max(1);
        Ports {
            used: HashSet::new(),
            next: low.saturating_add(seed % span),
            low,
            end,
        }
    }

    /// The next port to try, going round the range.
    fn candidate(&mut self) -> u16 {
        let port = self.next;
        self.next = if port.saturating_add(1) >= self.end {
            self.low
        } else {
            port + 1
        };
        port
    }

    /// A loopback address nothing listens on now and not handed out before.
    pub(super) fn next(&mut self) -> Result<SocketAddr, Error> {
        for _ in 0..ATTEMPTS {
            let port = self.candidate();
            if port == 0 || !self.used.insert(port) {
                continue;
            }
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if std::net::TcpListener::bind(addr).is_ok() {
                return Ok(addr);
            }
        }
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::io(format!("no free loopback port: {e}")))?;
        self.used.insert(addr.port());
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_loopback_ports_below_the_ephemeral_range() {
        let mut ports = Ports::new();
        let end = ports.end;
        let mut seen = HashSet::new();
        for _ in 0..50 {
            let addr = ports.next().unwrap();
            assert!(addr.ip().is_loopback());
            assert!(seen.insert(addr.port()));
            assert!(addr.port() < end || end <= LOW, "{addr}");
        }
    }

    #[test]
    fn the_search_wraps_around_the_range() {
        let mut ports = Ports::in_range(40_000, 40_003, 5);
        let order: Vec<u16> = (0..4).map(|_| ports.candidate()).collect();
        assert_eq!(order, [40_002, 40_000, 40_001, 40_002]);
        let mut edge = Ports::in_range(65_534, 65_535, 0);
        assert_eq!([edge.candidate(), edge.candidate()], [65_534, 65_534]);
    }
}
