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
//! scanned (lists hold few of them).
//!
//! A name on the list is not yet a connection: DNS may answer with any address, and an
//! allowed name that resolves to `127.0.0.1`, `10.0.0.1` or `fd00::1` would reach the exit
//! operator's internal network (DNS rebinding). [`AllowList::allows_resolved`] decides each
//! resolved address: a globally routable one ([`is_globally_routable`]) is allowed, since the
//! name rule allowed the host; any other (loopback, private, carrier-grade NAT, link-local,
//! unique-local, multicast, broadcast, documentation, and their IPv4-mapped forms) only if
//! an address rule holds it. So `localhost` on the list reaches nothing unless `127.0.0.1`
//! (or `::1`) is on it too. A wide rule counts like any other: `0.0.0.0/0` allows every
//! IPv4 address a name resolves to, internal ones included.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use super::routable::is_globally_routable;

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
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
enum NameError {
    #[error("empty name")]
    Empty,
    #[error("name longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    #[error("empty label")]
    EmptyLabel,
    #[error("label longer than {MAX_LABEL_LEN} bytes")]
    LongLabel,
    #[error("{0:?} is not allowed in a name (letters, digits, '-' and '_' only)")]
    Character(char),
    #[error("the last label is a number, so resolvers read the name as an IPv4 address")]
    EndsInNumber,
}

/// Why an entry (one line of the file, comment removed) is not valid. The caller quotes the
/// entry; these say what is wrong with it.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
enum EntryError {
    #[error("one entry per line")]
    Whitespace,
    #[error("a wildcard is only allowed as a whole first label, `*.`")]
    Wildcard,
    /// A range whose address part is not an address.
    #[error("`{0}` is not an IP address")]
    NotAnAddress(String),
    /// A range whose prefix part is not a number.
    #[error("`{0}` is not a prefix length")]
    PrefixSyntax(String),
    #[error("prefix length {prefix} is beyond {bits}")]
    PrefixTooLong { prefix: String, bits: u8 },
    /// A range with host bits set: `network/prefix` is what the operator may have meant.
    #[error("host bits are set (the network is {network}/{prefix})")]
    HostBits { network: IpAddr, prefix: u8 },
    #[error(transparent)]
    Name(#[from] NameError),
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
fn parse_net(entry: &str) -> Option<Result<Net, EntryError>> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        // Not an address: a CIDR suffix makes it a bad range, else it may be a name.
        return prefix.map(|_| Err(EntryError::NotAnAddress(addr.to_owned())));
    };
    let bits: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => bits,
        Some(p) if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Some(Err(EntryError::PrefixSyntax(p.to_owned())));
        }
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= bits => n,
            _ => {
                return Some(Err(EntryError::PrefixTooLong {
                    prefix: p.to_owned(),
                    bits,
                }))
            }
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
        return Some(Err(EntryError::HostBits { network, prefix }));
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

    fn add(&mut self, entry: &str) -> Result<(), EntryError> {
        if entry.contains(char::is_whitespace) {
            return Err(EntryError::Whitespace);
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
            return Err(EntryError::Wildcard);
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        set.insert(normalise_name(name)?);
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

    /// Whether a connection to `ip`, one of the addresses the requested `name` resolved to,
    /// is allowed: the name must be allowed ([`AllowList::allows_domain`]; the caller has
    /// usually checked already, and this repeats it so a `true` is the whole decision), and
    /// `ip` must be globally routable ([`is_globally_routable`]) or held by an address rule
    /// ([`AllowList::allows_ip`]). An IPv4-mapped address is judged as its IPv4 address.
    ///
    /// For a name that is an IP literal the address rules decide, as in `allows_domain`.
    pub fn allows_resolved(&self, name: &str, ip: IpAddr) -> bool {
        self.allows_domain(name) && (is_globally_routable(ip) || self.allows_ip(ip))
    }
}

#[cfg(test)]
mod tests;
