//! File descriptors: a node holds one per connection, so it raises its soft limit to the hard
//! one at start, and keeps a reserve for its own outgoing connections, files and the metrics
//! port, so inbound connections can never take the last descriptors.

/// Descriptors kept out of the inbound connections' reach.
pub const RESERVED_DESCRIPTORS: u64 = 256;

pub use router_core::runtime::raise_open_files_limit;

/// The inbound connection cap that fits `open_files` with the reserve kept: the configured
/// one, or fewer (at least one).
pub fn inbound_cap(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => {
            let room =
                usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
            configured.min(room).max(1)
        }
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve() {
        assert_eq!(inbound_cap(8192, Some(1024)), 768);
        assert_eq!(inbound_cap(500, Some(1024)), 500);
        assert_eq!(inbound_cap(8192, Some(100)), 1);
        assert_eq!(inbound_cap(8192, None), 8192);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let now = raise_open_files_limit().expect("RLIMIT_NOFILE is readable");
        let hard = std::fs::read_to_string("/proc/self/limits")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
            .unwrap();
        assert_eq!(now.to_string(), hard, "soft raised to hard");
        assert_eq!(
            raise_open_files_limit(),
            Some(now),
            "raising again changes nothing"
        );
    }
}
