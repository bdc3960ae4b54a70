//! Which addresses are on the public internet, and so safe to connect a name to.
//!
//! An allowed name resolves to whatever its DNS answer says: `127.0.0.1`, `10.0.0.1`, the
//! cloud metadata address `169.254.169.254`. Connecting to that would let any mixnet user
//! reach the exit operator's internal network through a name the list allows (DNS
//! rebinding), so the requester connects a name only to globally routable addresses unless an
//! address rule holds the address ([`super::allow::AllowList::allows_resolved`]).
//!
//! [`is_globally_routable`] errs on the side of refusing:
//!
//! - IPv4 is global unless it is in a block of the IANA special-purpose registry that the
//!   internet does not route: `0.0.0.0/8` (this host: `0.0.0.0` reaches local services on
//!   Linux), `10/8`, `172.16/12`, `192.168/16` (RFC 1918), `100.64/10` (carrier-grade NAT),
//!   `127/8`, `169.254/16`, `192.0.0/24` (IETF protocol assignments), the documentation
//!   ranges `192.0.2/24`, `198.51.100/24` and `203.0.113/24`, `198.18/15` (benchmarking),
//!   `224/4` (multicast) and `240/4` (reserved, with the broadcast address).
//! - IPv6 is global only inside the global unicast block `2000::/3`, and there not in
//!   `2001::/23` (IETF protocol assignments: Teredo, ORCHID, benchmarking), `2001:db8::/32`
//!   or `3fff::/20` (documentation). Everything outside `2000::/3` is refused, so no list of
//!   exceptions can miss `::1`, `::`, `fc00::/7`, `fe80::/10`, `fec0::/10`, `ff00::/8`,
//!   `100::/64` or the deprecated IPv4-compatible `::a.b.c.d`.
//! - An address that carries an IPv4 address is that IPv4 address: IPv4-mapped
//!   `::ffff:a.b.c.d` (a dual-stack socket connects to the IPv4 address), the NAT64
//!   well-known prefix `64:ff9b::/96` (a NAT64 at the exit translates it; DNS64 answers
//!   with it for IPv4-only hosts) and 6to4 `2002::/16` (the IPv4 address in bits 16..48).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 block, as (network, prefix length).
type V4Block = (u32, u8);
/// An IPv6 block, as (network, prefix length).
type V6Block = (u128, u8);

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> V4Block {
    (u32::from_be_bytes([a, b, c, d]), prefix)
}

/// IPv4 blocks that std has no stable method for: this host, carrier-grade NAT, IETF
/// protocol assignments, benchmarking, reserved (which holds the broadcast address).
const NON_GLOBAL_V4: [V4Block; 5] = [
    v4(0, 0, 0, 0, 8),
    v4(100, 64, 0, 0, 10),
    v4(192, 0, 0, 0, 24),
    v4(198, 18, 0, 0, 15),
    v4(240, 0, 0, 0, 4),
];

/// The IPv6 global unicast block.
const GLOBAL_UNICAST: V6Block = (0x2000 << 112, 3);
/// Special-purpose blocks inside it: IETF protocol assignments, documentation (twice).
const NON_GLOBAL_V6: [V6Block; 3] = [
    (0x2001 << 112, 23),
    (0x2001_0db8 << 96, 32),
    (0x3fff << 112, 20),
];
/// The NAT64 well-known prefix (RFC 6052): the last 32 bits are an IPv4 address.
const NAT64: V6Block = (0x0064_ff9b << 96, 96);
/// 6to4 (RFC 3056): bits 16..48 are an IPv4 address.
const SIX_TO_FOUR: V6Block = (0x2002 << 112, 16);

fn in_v4(ip: u32, (network, prefix): V4Block) -> bool {
    // `prefix` is 4..=24 here, so the shift is in range.
    let mask = u32::MAX << (32 - u32::from(prefix));
    ip & mask == network
}

fn in_v6(ip: u128, (network, prefix): V6Block) -> bool {
    // `prefix` is 3..=96 here, so the shift is in range.
    let mask = u128::MAX << (128 - u32::from(prefix));
    ip & mask == network
}

/// Whether `ip` is a globally routable address (see the module docs for what is not). An
/// IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
pub fn is_globally_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || NON_GLOBAL_V4.iter().any(|block| in_v4(bits, *block)))
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    if in_v6(bits, NAT64) {
        // The low 32 bits, by definition of the prefix.
        return is_global_v4(Ipv4Addr::from(bits as u32));
    }
    if in_v6(bits, SIX_TO_FOUR) {
        // Bits 16..48 from the top: the 32 bits left after dropping the low 80.
        return is_global_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    in_v6(bits, GLOBAL_UNICAST) && !NON_GLOBAL_V6.iter().any(|block| in_v6(bits, *block))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn global(s: &str) -> bool {
        is_globally_routable(s.parse().unwrap())
    }

    /// Every IPv4 address of a class, its IPv4-mapped form, and its NAT64 and 6to4 forms.
    fn v4_forms(s: &str) -> Vec<String> {
        let v4: Ipv4Addr = s.parse().unwrap();
        let o = v4.octets();
        vec![
            s.to_owned(),
            format!("::ffff:{s}"),
            v4.to_ipv6_mapped().to_string(),
            format!("64:ff9b::{s}"),
            format!("2002:{:02x}{:02x}:{:02x}{:02x}::1", o[0], o[1], o[2], o[3]),
        ]
    }

    #[test]
    fn internal_ipv4_classes_are_refused_in_every_form() {
        let classes = [
            ("unspecified", &["0.0.0.0"][..]),
            ("this network", &["0.1.2.3", "0.255.255.255"]),
            ("loopback", &["127.0.0.1", "127.255.255.254", "127.0.0.0"]),
            ("RFC 1918 10/8", &["10.0.0.0", "10.1.2.3", "10.255.255.255"]),
            (
                "RFC 1918 172.16/12",
                &["172.16.0.0", "172.20.1.1", "172.31.255.255"],
            ),
            (
                "RFC 1918 192.168/16",
                &["192.168.0.0", "192.168.1.1", "192.168.255.255"],
            ),
            (
                "carrier-grade NAT",
                &["100.64.0.0", "100.100.1.1", "100.127.255.255"],
            ),
            ("link-local", &["169.254.0.1", "169.254.169.254"]),
            ("IETF protocol assignments", &["192.0.0.1", "192.0.0.255"]),
            ("TEST-NET-1", &["192.0.2.0", "192.0.2.255"]),
            ("TEST-NET-2", &["198.51.100.7"]),
            ("TEST-NET-3", &["203.0.113.7"]),
            ("benchmarking", &["198.18.0.0", "198.19.255.255"]),
            ("multicast", &["224.0.0.1", "239.255.255.250"]),
            ("reserved", &["240.0.0.1", "254.255.255.255"]),
            ("broadcast", &["255.255.255.255"]),
        ];
        for (class, addresses) in classes {
            for address in addresses {
                for form in v4_forms(address) {
                    assert!(!global(&form), "{class}: {form}");
                }
            }
        }
    }

    #[test]
    fn global_ipv4_is_allowed_in_every_form_and_the_edges_are_exact() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            // Just outside the blocks around them.
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.114.0",
            "223.255.255.255",
        ] {
            for form in v4_forms(address) {
                assert!(global(&form), "{form}");
            }
        }
    }

    #[test]
    fn internal_ipv6_classes_are_refused() {
        let classes = [
            ("unspecified", &["::"][..]),
            ("loopback", &["::1"]),
            ("IPv4-compatible", &["::127.0.0.1", "::8.8.8.8"]),
            ("IPv4-translated", &["::ffff:0:8.8.8.8"]),
            ("unique local", &["fc00::1", "fd12:3456::1", "fdff:ffff::1"]),
            ("link-local", &["fe80::1", "febf:ffff::1"]),
            ("site-local (deprecated)", &["fec0::1"]),
            ("multicast", &["ff02::1", "ff0e::1"]),
            ("discard", &["100::1"]),
            ("local-use NAT64", &["64:ff9b:1::808:808"]),
            ("Teredo", &["2001::1", "2001:0:4136:e378::1"]),
            ("IETF protocol assignments", &["2001:2::1", "2001:1ff::1"]),
            (
                "documentation",
                &["2001:db8::1", "2001:db8:ffff::1", "3fff::1"],
            ),
            ("unallocated", &["4000::1", "1fff::1", "e000::1"]),
        ];
        for (class, addresses) in classes {
            for address in addresses {
                assert!(!global(address), "{class}: {address}");
            }
        }
    }

    #[test]
    fn global_ipv6_is_allowed() {
        for address in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2000::",
            "2001:200::1",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "3ffe:ffff::1",
            "3fff:1000::1",
            "3fff:ffff::1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(global(address), "{address}");
        }
    }

    /// The reference: the blocks written out in full, checked with string-parsed networks.
    fn reference_global(ip: IpAddr) -> bool {
        let contains = |block: &str, ip: IpAddr| -> bool {
            let (net, prefix) = block.split_once('/').unwrap();
            let prefix: u32 = prefix.parse().unwrap();
            match (net.parse::<IpAddr>().unwrap(), ip) {
                (IpAddr::V4(n), IpAddr::V4(a)) => {
                    (u32::from(n) ^ u32::from(a)).checked_shr(32 - prefix) == Some(0)
                }
                (IpAddr::V6(n), IpAddr::V6(a)) => {
                    (u128::from(n) ^ u128::from(a)).checked_shr(128 - prefix) == Some(0)
                }
                _ => false,
            }
        };
        let v4_global = |a: Ipv4Addr| {
            ![
                "0.0.0.0/8",
                "10.0.0.0/8",
                "100.64.0.0/10",
                "127.0.0.0/8",
                "169.254.0.0/16",
                "172.16.0.0/12",
                "192.0.0.0/24",
                "192.0.2.0/24",
                "192.168.0.0/16",
                "198.18.0.0/15",
                "198.51.100.0/24",
                "203.0.113.0/24",
                "224.0.0.0/4",
                "240.0.0.0/4",
            ]
            .iter()
            .any(|b| contains(b, IpAddr::V4(a)))
        };
        match ip {
            IpAddr::V4(a) => v4_global(a),
            IpAddr::V6(a) => {
                let o = a.octets();
                if contains("::ffff:0:0/96", ip) || contains("64:ff9b::/96", ip) {
                    v4_global(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
                } else if contains("2002::/16", ip) {
                    v4_global(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
                } else {
                    contains("2000::/3", ip)
                        && !["2001::/23", "2001:db8::/32", "3fff::/20"]
                            .iter()
                            .any(|b| contains(b, ip))
                }
            }
        }
    }

    /// Addresses near the interesting blocks often, random ones too.
    fn address_strategy() -> impl Strategy<Value = IpAddr> {
        let v4 = prop_oneof![
            any::<u32>(),
            // First octet fixed to a special one, the rest random.
            (
                prop::sample::select(vec![
                    0u8, 10, 100, 127, 169, 172, 192, 198, 203, 223, 224, 239, 240, 255
                ]),
                any::<u32>()
            )
                .prop_map(|(first, rest)| (u32::from(first) << 24) | (rest >> 8)),
        ];
        let v4_addr = v4.prop_map(Ipv4Addr::from);
        let v6_prefixes = vec![
            0u128,
            0xffff << 32,
            0x0064_ff9b << 96,
            0x2002 << 112,
            0x2001 << 112,
            0x2001_0db8 << 96,
            0x3fff << 112,
            0x2000 << 112,
            0xfc00 << 112,
            0xfe80 << 112,
        ];
        prop_oneof![
            v4_addr.clone().prop_map(IpAddr::V4),
            v4_addr.clone().prop_map(|a| IpAddr::V6(a.to_ipv6_mapped())),
            any::<u128>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
            // A special prefix with random low bits: below the prefix's 96 or 16 bits.
            (prop::sample::select(v6_prefixes), any::<u128>(), 8u32..=112).prop_map(
                |(prefix, random, low_bits)| {
                    let low = random & (u128::MAX >> (128 - low_bits));
                    IpAddr::V6(Ipv6Addr::from(prefix | low))
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_the_written_out_blocks(ip in address_strategy()) {
            prop_assert_eq!(is_globally_routable(ip), reference_global(ip), "{}", ip);
            if let IpAddr::V4(v4) = ip {
                let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                prop_assert_eq!(is_globally_routable(mapped), is_globally_routable(ip));
            }
        }
    }
}
