//! The network requester's allow list: which hosts the exit connects to. Deny by default.
//!
//! An open exit relays anything for anyone, so its operator becomes the apparent source of
//! all abuse sent through it; Nym's network requester therefore only connects to hosts its
//! operator listed. The list is a text file, one entry per line:
//!
//! ```text
//! # a comment, to the end of the line; blank lines are ignored
//! example.com          # exactly this name (case-insensitive, a trailing dot ignored)
//! *.example.com        # any name strictly below example.com, at any depth (not example.com)
//! 192.0.2.7            # one IPv4 or IPv6 address
//! 10.0.0.0/8           # a CIDR range
//! fd00::/8
//! ```
//!
//! Names are made of labels of ASCII letters, digits, `-` and `_`, 1..=63 bytes each, 253
//! bytes in all; a name whose last label is a number (`1.2.3`, `0x7f`) is refused, since
//! resolvers read such names as IPv4 addresses (see below). A CIDR range with host bits set
//! (`10.0.0.1/8`) is an error rather than silently widened to its network: the operator meant
//! either one host or the range, and guessing wrong opens the exit wider than intended. Any
//! other entry is an error naming its line, so a typo cannot silently deny (or allow) a host.
//!
//! Requests name their target as the app sent it, before any DNS (DNS happens here, at the
//! exit). A name that is an IP literal is checked against the address rules, never the name
//! rules: `127.0.0.1`, `::1` and `[::1]`, and also the legacy IPv4 forms that `getaddrinfo`
//! and browsers accept (`2130706433`, `0x7f.1`, `0177.0.0.1`: any name whose last label is a
//! number, as the WHATWG URL standard treats it), which would otherwise slip past a wildcard
//! such as `*.1` and reach an address nobody allowed. IPv4-mapped IPv6 addresses
//! (`::ffff:a.b.c.d`) are the IPv4 addresses they carry, in queries and in entries alike, so
//! `::ffff:10.0.0.0/104` is the same rule as `10.0.0.0/8` and `::/0` covers IPv6 only.
//!
//! Matching a name costs one hash lookup per label, whatever the size of the list; ranges are
//! scanned (lists hold few of them). The list checks the name an app asked for; whether the
//! addresses that name resolves to must also be allowed is the caller's policy
//! ([`AllowList::allows_ip`]).

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest domain name, in bytes, without a trailing dot (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 253;
/// The longest label of a domain name, in bytes (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// A line of the allow-list file that is not a valid entry.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct AllowListError {
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong, quoting the entry.
    pub message: String,
}

/// An address range. Host bits are zero (checked at parse time), and an IPv4-mapped IPv6
/// range of prefix 96 or more is stored as the IPv4 range it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Net {
    V4 { base: u32, prefix: u8 },
    V6 { base: u128, prefix: u8 },
}

/// The mask of a `prefix`-bit network in a `bits`-bit address, as a u128.
fn mask(bits: u32, prefix: u8) -> u128 {
    let host_bits = bits.saturating_sub(u32::from(prefix));
    let all = u128::MAX >> (128u32.saturating_sub(bits));
    // A shift by the whole width is `None`: prefix 0, nothing is fixed.
    all & all.checked_shl(host_bits).unwrap_or(0)
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Net::V4 { base, prefix }, IpAddr::V4(ip)) => {
                u128::from(u32::from(ip)) & mask(32, prefix) == u128::from(base)
            }
            (Net::V6 { base, prefix }, IpAddr::V6(ip)) => {
                u128::from(ip) & mask(128, prefix) == base
            }
            _ => false,
        }
    }
}

/// The address a query or an entry stands for: an IPv4-mapped IPv6 address is IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Why a name is not a valid domain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameError {
    Empty,
    TooLong,
    EmptyLabel,
    LongLabel,
    Character(char),
    EndsInNumber,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("empty name"),
            NameError::TooLong => write!(f, "name longer than {MAX_NAME_LEN} bytes"),
            NameError::EmptyLabel => f.write_str("empty label"),
            NameError::LongLabel => write!(f, "label longer than {MAX_LABEL_LEN} bytes"),
            NameError::Character(c) => write!(
                f,
                "{c:?} is not allowed in a name (letters, digits, '-' and '_' only)"
            ),
            NameError::EndsInNumber => f.write_str(
                "the last label is a number, so resolvers read the name as an IPv4 address",
            ),
        }
    }
}

/// Whether a label is a number in the syntax of `inet_aton` (decimal, `0x` hex, or octal).
fn is_numeric_label(label: &str) -> bool {
    match label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
    {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Checks a domain name (one trailing dot already removed) and returns it in lower case.
fn normalise_name(name: &str) -> Result<String, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LongLabel);
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameError::Character(c));
        }
        last = label;
    }
    if is_numeric_label(last) {
        return Err(NameError::EndsInNumber);
    }
    Ok(name.to_ascii_lowercase())
}

/// One number of a legacy IPv4 address: decimal, `0x` hexadecimal (`0x` alone is 0) or, with
/// a leading zero, octal. `None` if it is not one or exceeds 32 bits.
fn legacy_number(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() {
            return Some(0);
        }
        (hex, 16)
    } else if let Some(octal) = s.strip_prefix('0').filter(|o| !o.is_empty()) {
        (octal, 8)
    } else {
        (s, 10)
    };
    // `from_str_radix` also takes a sign, which `inet_aton` does not.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// The IPv4 address a name like `127.1`, `0x7f000001` or `0177.0.0.1` stands for, as
/// `inet_aton` and the WHATWG URL standard read it: 1 to 4 numbers, each but the last one
/// byte, the last filling the remaining bytes.
fn legacy_ipv4(name: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let numbers = parts
        .iter()
        .map(|p| legacy_number(p))
        .collect::<Option<Vec<u32>>>()?;
    let (last, bytes) = numbers.split_last()?;
    let mut value: u32 = 0;
    for (i, byte) in bytes.iter().enumerate() {
        let byte = u8::try_from(*byte).ok()?;
        // `i < 3`: at most 4 parts.
        value |= u32::from(byte) << (24 - 8 * i);
    }
    // The last number fills the bytes left: 32 bits after no byte, 8 after three.
    let bits_left = 32 - 8 * bytes.len();
    if bits_left < 32 && u64::from(*last) >= 1u64 << bits_left {
        return None;
    }
    Some(Ipv4Addr::from(value | *last))
}

/// An IP address or CIDR range entry, or a reason it is not one.
fn parse_net(entry: &str) -> Option<Result<Net, String>> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        // Not an address: a CIDR suffix makes it a bad range, else it may be a name.
        return prefix.map(|_| Err(format!("`{addr}` is not an IP address")));
    };
    let bits: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => bits,
        Some(p) if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Some(Err(format!("`{p}` is not a prefix length")));
        }
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= bits => n,
            _ => return Some(Err(format!("prefix length {p} is beyond {bits}"))),
        },
    };
    let net = match ip {
        IpAddr::V4(v4) => Net::V4 {
            base: u32::from(v4),
            prefix,
        },
        IpAddr::V6(v6) => Net::V6 {
            base: u128::from(v6),
            prefix,
        },
    };
    let (base, width) = match net {
        Net::V4 { base, .. } => (u128::from(base), 32),
        Net::V6 { base, .. } => (base, 128),
    };
    let network = base & mask(width, prefix);
    if network != base {
        let network = match ip {
            // `network <= base`, which came from a u32.
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(network as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(network)),
        };
        return Some(Err(format!(
            "host bits are set (the network is {network}/{prefix})"
        )));
    }
    // An IPv4-mapped range is the IPv4 range it maps.
    if let Net::V6 { base, prefix } = net {
        if let (Some(v4), Some(prefix)) = (
            Ipv6Addr::from(base).to_ipv4_mapped(),
            prefix.checked_sub(96),
        ) {
            return Some(Ok(Net::V4 {
                base: u32::from(v4),
                prefix,
            }));
        }
    }
    Some(Ok(net))
}

/// The hosts the network requester may connect to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Exact names, lower case, no trailing dot.
    exact: HashSet<String>,
    /// Names whose strict subdomains are allowed (`*.example.com` is `example.com` here).
    wildcard: HashSet<String>,
    /// Address ranges, sorted, without duplicates.
    nets: Vec<Net>,
}

impl AllowList {
    /// A list that denies everything.
    pub fn empty() -> AllowList {
        AllowList::default()
    }

    /// Parses the allow-list file format (see the module docs). Duplicate entries count once.
    pub fn parse(text: &str) -> Result<AllowList, AllowListError> {
        let mut list = AllowList::default();
        for (index, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or_default().trim();
            if entry.is_empty() {
                continue;
            }
            list.add(entry).map_err(|why| AllowListError {
                line: index.saturating_add(1),
                message: format!("`{entry}`: {why}"),
            })?;
        }
        list.nets.sort_unstable();
        list.nets.dedup();
        Ok(list)
    }

    fn add(&mut self, entry: &str) -> Result<(), String> {
        if entry.contains(char::is_whitespace) {
            return Err("one entry per line".into());
        }
        if let Some(net) = parse_net(entry) {
            self.nets.push(net?);
            return Ok(());
        }
        let (set, name) = match entry.strip_prefix("*.") {
            Some(parent) => (&mut self.wildcard, parent),
            None => (&mut self.exact, entry),
        };
        if name.contains('*') {
            return Err("a wildcard is only allowed as a whole first label, `*.`".into());
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        set.insert(normalise_name(name).map_err(|e| e.to_string())?);
        Ok(())
    }

    /// The number of distinct entries.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len() + self.nets.len()
    }

    /// Whether the list has no entry (and so denies everything).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a connection to `host` (a domain as the app sent it, or an IP) is allowed.
    ///
    /// An IP literal (`127.0.0.1`, `::1`, `[::1]`, or a legacy IPv4 form such as `2130706433`)
    /// is checked against the address rules, never the name rules. Domain matching is
    /// case-insensitive and ignores one trailing dot. A malformed name is denied.
    pub fn allows_domain(&self, domain: &str) -> bool {
        let name = domain.strip_suffix('.').unwrap_or(domain);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return self.allows_ip(ip);
        }
        if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .is_ok_and(|ip| self.allows_ip(IpAddr::V6(ip)));
        }
        let name = match normalise_name(name) {
            Ok(name) => name,
            Err(NameError::EndsInNumber) => {
                return legacy_ipv4(name).is_some_and(|ip| self.allows_ip(IpAddr::V4(ip)));
            }
            Err(_) => return false,
        };
        if self.exact.contains(&name) {
            return true;
        }
        // Every proper suffix after a dot: a.b.example.com tries b.example.com, example.com, com.
        let mut rest = name.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if self.wildcard.contains(parent) {
                return true;
            }
            rest = parent;
        }
        false
    }

    /// Whether a connection to `ip` is allowed. An IPv4-mapped IPv6 address is checked as the
    /// IPv4 address it carries.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn list(text: &str) -> AllowList {
        AllowList::parse(text).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn error_line(text: &str) -> usize {
        AllowList::parse(text).unwrap_err().line
    }

    #[test]
    fn exact_names_ignore_case_and_one_trailing_dot() {
        let l = list("Example.COM\nfoo.example.org.\n");
        assert_eq!(l.len(), 2);
        for yes in [
            "example.com",
            "EXAMPLE.com",
            "example.com.",
            "foo.example.org",
            "FOO.Example.Org.",
        ] {
            assert!(l.allows_domain(yes), "{yes}");
        }
        for no in [
            "www.example.com",
            "example.com..",
            "example.co",
            "xexample.com",
            "example.org",
            "bar.example.org",
            "",
            ".",
        ] {
            assert!(!l.allows_domain(no), "{no}");
        }
    }

    #[test]
    fn wildcards_match_strictly_below_at_any_depth() {
        let l = list("*.example.com");
        for yes in [
            "a.example.com",
            "A.B.C.Example.Com.",
            "_srv.example.com",
            "x-1.example.com",
        ] {
            assert!(l.allows_domain(yes), "{yes}");
        }
        for no in [
            "example.com",
            "example.com.",
            "evilexample.com",
            "a.evilexample.com",
            "example.com.evil.net",
            "com",
            ".example.com",
            "a..example.com",
            "a b.example.com",
            "a\0.example.com",
            "é.example.com",
        ] {
            assert!(!l.allows_domain(no), "{no}");
        }
        // Both forms together allow the apex and everything below.
        let l = list("example.com\n*.example.com");
        assert!(l.allows_domain("example.com") && l.allows_domain("x.example.com"));
    }

    #[test]
    fn ipv4_ranges_include_exactly_their_addresses() {
        let l = list("10.1.0.0/16\n192.0.2.7\n");
        assert!(l.allows_ip(ip("10.1.0.0")));
        assert!(l.allows_ip(ip("10.1.255.255")));
        assert!(!l.allows_ip(ip("10.0.255.255")));
        assert!(!l.allows_ip(ip("10.2.0.0")));
        assert!(l.allows_ip(ip("192.0.2.7")));
        assert!(!l.allows_ip(ip("192.0.2.6")));
        assert!(!l.allows_ip(ip("192.0.2.8")));
        // IPv4 rules do not cover IPv6 addresses.
        assert!(!l.allows_ip(ip("::a01:0")));
    }

    #[test]
    fn ipv6_ranges_include_exactly_their_addresses() {
        let l = list("2001:db8:0:100::/56\n::1\n");
        assert!(l.allows_ip(ip("2001:db8:0:100::")));
        assert!(l.allows_ip(ip("2001:db8:0:1ff:ffff:ffff:ffff:ffff")));
        assert!(!l.allows_ip(ip("2001:db8:0:ff:ffff:ffff:ffff:ffff")));
        assert!(!l.allows_ip(ip("2001:db8:0:200::")));
        assert!(l.allows_ip(ip("::1")));
        assert!(!l.allows_ip(ip("::2")));
        assert!(!l.allows_ip(ip("0.0.0.1")));
    }

    #[test]
    fn zero_prefixes_cover_one_family() {
        let v4 = list("0.0.0.0/0");
        assert!(v4.allows_ip(ip("0.0.0.0")) && v4.allows_ip(ip("255.255.255.255")));
        assert!(!v4.allows_ip(ip("::")) && !v4.allows_ip(ip("2001:db8::1")));
        let v6 = list("::/0");
        assert!(
            v6.allows_ip(ip("::")) && v6.allows_ip(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        );
        assert!(!v6.allows_ip(ip("1.2.3.4")));
        // A mapped IPv4 address is IPv4, not covered by ::/0.
        assert!(!v6.allows_ip(ip("::ffff:1.2.3.4")));
        assert!(v4.allows_ip(ip("::ffff:1.2.3.4")));
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let l = list("10.0.0.0/8");
        assert!(l.allows_ip(ip("::ffff:10.2.3.4")));
        assert!(!l.allows_ip(ip("::ffff:11.0.0.0")));
        assert!(l.allows_domain("::ffff:10.0.0.1"));
        assert!(l.allows_domain("[::ffff:a00:1]"));
        // Entries in mapped form are IPv4 entries too.
        let l = list("::ffff:192.0.2.0/120\n::ffff:198.51.100.1");
        assert_eq!(l, list("192.0.2.0/24\n198.51.100.1/32"));
        assert!(l.allows_ip(ip("192.0.2.255")));
        assert!(l.allows_ip(ip("::ffff:198.51.100.1")));
        assert!(!l.allows_ip(ip("192.0.3.0")));
    }

    #[test]
    fn ip_literal_names_follow_the_ip_rules() {
        let l = list("127.0.0.1\n::1\n*.example.com");
        assert!(l.allows_domain("127.0.0.1"));
        assert!(l.allows_domain("127.0.0.1."));
        assert!(l.allows_domain("::1"));
        assert!(l.allows_domain("[::1]"));
        assert!(!l.allows_domain("[::2]"));
        assert!(!l.allows_domain("[127.0.0.1]"));
        assert!(!l.allows_domain("::1%lo"));
        // Legacy forms of 127.0.0.1 that resolvers accept are addresses too.
        for legacy in [
            "2130706433",
            "0x7f000001",
            "127.1",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "127.0.1",
        ] {
            assert_eq!(legacy_ipv4(legacy), Some(Ipv4Addr::LOCALHOST), "{legacy}");
            assert!(l.allows_domain(legacy), "{legacy}");
        }
        // ... and only the address rules decide for them (`*.0.1` is not a valid entry).
        assert!(!l.allows_domain("10.0.0.1"));
        assert!(!l.allows_domain("0xa.0.1"));
        // Names ending in a number that are no address are denied.
        for bad in [
            "a.example.com.1",
            "256.256.256.256",
            "1.2.3.4.5",
            "0x1.0x100000000",
            "08.1",
        ] {
            assert!(!l.allows_domain(bad), "{bad}");
        }
        assert_eq!(legacy_ipv4("1.16777216"), None);
        assert_eq!(
            legacy_ipv4("1.16777215"),
            Some(Ipv4Addr::new(1, 255, 255, 255))
        );
        assert_eq!(legacy_ipv4("0x"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(legacy_ipv4("4294967295"), Some(Ipv4Addr::BROADCAST));
        assert_eq!(legacy_ipv4("4294967296"), None);
        assert_eq!(legacy_ipv4("+1"), None);
    }

    #[test]
    fn comments_and_blank_lines_are_ignored() {
        let text = "# allow list\n\n   \n\texample.com   # the apex\r\n# 10.0.0.0/8\n*.example.net#no space\n";
        let l = list(text);
        assert_eq!(l.len(), 2);
        assert!(l.allows_domain("example.com"));
        assert!(l.allows_domain("a.example.net"));
        assert!(!l.allows_ip(ip("10.0.0.1")));
        assert!(list("# nothing\n\n").is_empty());
        // Duplicates count once.
        assert_eq!(
            list("a.com\nA.com.\n10.0.0.0/8\n10.0.0.0/8\n*.a.com").len(),
            3
        );
    }

    #[test]
    fn bad_entries_name_their_line() {
        let bad = [
            ("exa mple.com", "one entry per line"),
            ("foo..com", "empty label"),
            (".foo.com", "empty label"),
            ("ex@mple.com", "'@' is not allowed"),
            ("bücher.de", "'ü' is not allowed"),
            ("*", "wildcard"),
            ("*.", "empty name"),
            ("**.com", "wildcard"),
            ("foo.*.com", "wildcard"),
            ("*.*.com", "wildcard"),
            ("*example.com", "wildcard"),
            ("1.2.3", "last label is a number"),
            ("*.10", "last label is a number"),
            ("[::1]", "not allowed"),
            ("10.0.0.0/33", "beyond 32"),
            ("10.0.0.0/300", "beyond 32"),
            ("fd00::/129", "beyond 128"),
            (
                "10.0.0.1/8",
                "host bits are set (the network is 10.0.0.0/8)",
            ),
            ("fd00::1/8", "host bits are set (the network is fd00::/8)"),
            ("10.0.0.0/", "not a prefix length"),
            ("10.0.0.0/+8", "not a prefix length"),
            ("10.0.0.0/0008", "not a prefix length"),
            ("10.0.0.0/8/8", "not a prefix length"),
            ("example.com/8", "not an IP address"),
            ("10.0.0.256", "last label is a number"),
        ];
        for (entry, why) in bad {
            let text = format!("# header\nok.example\n\n{entry}\n10.0.0.0/8\n");
            let e = AllowList::parse(&text).unwrap_err();
            assert_eq!(e.line, 4, "{entry}");
            assert!(e.message.contains(entry), "{entry}: {e}");
            assert!(e.message.contains(why), "{entry}: {e}");
            assert!(e.to_string().starts_with("line 4: `"), "{e}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(AllowList::parse(&long_label)
            .unwrap_err()
            .message
            .contains("label longer"));
        assert!(AllowList::parse(&format!("{}.com", "a".repeat(63))).is_ok());
        let long_name = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(long_name.len(), 253);
        assert!(list(&long_name).allows_domain(&format!("{long_name}.")));
        let too_long = format!("{long_name}e");
        assert!(AllowList::parse(&too_long)
            .unwrap_err()
            .message
            .contains("longer than 253"));
        assert!(!list(&long_name).allows_domain(&too_long));
        assert_eq!(error_line("a.com\r\nb.com\r\nc..com\r\n"), 3);
    }

    #[test]
    fn an_empty_list_denies_everything() {
        for l in [AllowList::empty(), list(""), list("# only comments\n")] {
            assert!(l.is_empty());
            assert_eq!(l.len(), 0);
            for name in [
                "example.com",
                "localhost",
                "127.0.0.1",
                "[::1]",
                "2130706433",
            ] {
                assert!(!l.allows_domain(name), "{name}");
            }
            for addr in ["0.0.0.0", "127.0.0.1", "::", "::1", "::ffff:1.2.3.4"] {
                assert!(!l.allows_ip(ip(addr)), "{addr}");
            }
        }
    }

    /// The reference: compare the first `prefix` bits one at a time.
    fn reference_contains(net: (IpAddr, u8), query: IpAddr) -> bool {
        let bits = |a: IpAddr| -> Vec<bool> {
            let bytes = match a {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            bytes
                .iter()
                .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1))
                .collect()
        };
        let (net_ip, prefix) = net;
        let query = match query {
            IpAddr::V6(q) if q.octets()[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] => {
                let o = q.octets();
                IpAddr::from([o[12], o[13], o[14], o[15]])
            }
            q => q,
        };
        let (n, q) = (bits(net_ip), bits(query));
        n.len() == q.len()
            && n.iter()
                .zip(&q)
                .take(usize::from(prefix))
                .all(|(a, b)| a == b)
    }

    /// Clears the bits after `prefix`.
    fn network(ip: IpAddr, prefix: u8) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let mut o = a.octets();
                for i in usize::from(prefix)..32 {
                    o[i / 8] &= !(0x80 >> (i % 8));
                }
                IpAddr::from(o)
            }
            IpAddr::V6(a) => {
                let mut o = a.octets();
                for i in usize::from(prefix)..128 {
                    o[i / 8] &= !(0x80 >> (i % 8));
                }
                IpAddr::from(o)
            }
        }
    }

    /// Flips bit `i` (from the most significant), if the address has one.
    fn flip(ip: IpAddr, i: usize) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let mut o = a.octets();
                if let Some(b) = o.get_mut(i / 8) {
                    *b ^= 0x80 >> (i % 8);
                }
                IpAddr::from(o)
            }
            IpAddr::V6(a) => {
                let mut o = a.octets();
                if let Some(b) = o.get_mut(i / 8) {
                    *b ^= 0x80 >> (i % 8);
                }
                IpAddr::from(o)
            }
        }
    }

    /// Prefix lengths, the edges often.
    fn prefix_strategy(width: u8) -> impl Strategy<Value = u8> {
        prop_oneof![Just(0), Just(1), Just(width - 1), Just(width), 0..=width]
    }

    fn net_strategy() -> impl Strategy<Value = (IpAddr, u8)> {
        prop_oneof![
            (any::<[u8; 4]>(), prefix_strategy(32))
                .prop_map(|(o, p)| (network(IpAddr::from(o), p), p)),
            (any::<[u8; 16]>(), prefix_strategy(128))
                // Not in the mapped range (those are IPv4 rules, tested above).
                .prop_filter("mapped", |(o, p)| *p < 96
                    || o[..12] != [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])
                .prop_map(|(o, p)| (network(IpAddr::from(o), p), p)),
        ]
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,300}") {
            let _ = AllowList::parse(&text);
        }

        #[test]
        fn parsing_entry_like_text_never_panics(
            text in "[0-9a-fA-F.:/*#_\\[\\]x\n \t-]{0,200}",
            query in "[0-9a-fA-F.:*\\[\\]x-]{0,40}",
        ) {
            if let Ok(l) = AllowList::parse(&text) {
                let _ = l.allows_domain(&query);
            }
            let _ = legacy_ipv4(&query);
        }

        #[test]
        fn ranges_allow_exactly_what_the_reference_says(
            nets in proptest::collection::vec(net_strategy(), 0..8),
            randoms in proptest::collection::vec(
                prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)],
                0..8,
            ),
            bits in proptest::collection::vec(any::<usize>(), 8),
        ) {
            let text: String = nets.iter().map(|(ip, p)| format!("{ip}/{p}\n")).collect();
            let l = list(&text);
            // Queries near every range's edges (first address, inside, just outside), and random ones.
            let mut queries = randoms;
            for (i, (net_ip, prefix)) in nets.iter().enumerate() {
                let width = if net_ip.is_ipv4() { 32 } else { 128 };
                let b = bits[i % bits.len()];
                queries.push(*net_ip);
                queries.push(flip(*net_ip, width - 1));
                if *prefix > 0 {
                    queries.push(flip(*net_ip, usize::from(*prefix) - 1));
                }
                queries.push(flip(*net_ip, b % width));
                queries.push(flip(*net_ip, 0));
            }
            for q in queries {
                let expected = nets.iter().any(|n| reference_contains(*n, q));
                prop_assert_eq!(l.allows_ip(q), expected, "{} in {:?}", q, nets);
                prop_assert_eq!(l.allows_domain(&q.to_string()), expected);
                if let IpAddr::V4(v4) = q {
                    prop_assert_eq!(l.allows_ip(IpAddr::V6(v4.to_ipv6_mapped())), expected);
                    prop_assert_eq!(l.allows_domain(&u32::from(v4).to_string()), expected);
                }
            }
        }

        #[test]
        fn case_and_a_trailing_dot_do_not_matter(
            labels in proptest::collection::vec("[a-zA-Z0-9_-]{1,10}", 1..5),
            entry_labels in 1usize..4,
            wildcard in any::<bool>(),
        ) {
            let name = format!("{}.example", labels.join("."));
            let suffix: Vec<&str> = name.split('.').rev().take(entry_labels).collect();
            let entry_name = suffix.into_iter().rev().collect::<Vec<_>>().join(".");
            let entry = if wildcard { format!("*.{entry_name}") } else { entry_name.clone() };
            let l = list(&entry);
            let expected = if wildcard {
                name.to_ascii_lowercase().ends_with(&format!(".{}", entry_name.to_ascii_lowercase()))
            } else {
                name.eq_ignore_ascii_case(&entry_name)
            };
            for q in [name.clone(), name.to_ascii_uppercase(), name.to_ascii_lowercase(), format!("{name}.")] {
                prop_assert_eq!(l.allows_domain(&q), expected, "{} against {}", q, entry);
            }
        }
    }
}
