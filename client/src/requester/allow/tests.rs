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
    assert!(v6.allows_ip(ip("::")) && v6.allows_ip(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
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
fn names_reach_internal_addresses_only_through_address_rules() {
    let l = list("*.example.com\nlocalhost\n");
    let internal = [
        "127.0.0.1",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "::",
        "::1",
        "fc00::1",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
    ];
    for addr in internal {
        assert!(!l.allows_resolved("localhost", ip(addr)), "{addr}");
        assert!(!l.allows_resolved("a.example.com", ip(addr)), "{addr}");
    }
    for addr in ["93.184.216.34", "2606:4700::1111", "::ffff:1.1.1.1"] {
        assert!(l.allows_resolved("www.example.com", ip(addr)), "{addr}");
        assert!(l.allows_resolved("localhost", ip(addr)), "{addr}");
        // The name must be allowed too.
        assert!(!l.allows_resolved("example.com", ip(addr)), "{addr}");
        assert!(!l.allows_resolved("evil.net", ip(addr)), "{addr}");
    }
    assert!(!AllowList::empty().allows_resolved("localhost", ip("1.1.1.1")));

    // An address rule lets exactly its addresses through, in mapped form too.
    let l = list("localhost\n127.0.0.1\n*.corp.example\n10.1.0.0/16\nfd00:1::/32");
    assert!(l.allows_resolved("localhost", ip("127.0.0.1")));
    assert!(l.allows_resolved("localhost", ip("::ffff:127.0.0.1")));
    assert!(!l.allows_resolved("localhost", ip("127.0.0.2")));
    assert!(!l.allows_resolved("localhost", ip("::1")));
    assert!(l.allows_resolved("db.corp.example", ip("10.1.255.255")));
    assert!(l.allows_resolved("db.corp.example", ip("::ffff:10.1.0.1")));
    assert!(!l.allows_resolved("db.corp.example", ip("10.2.0.1")));
    assert!(!l.allows_resolved("db.corp.example", ip("192.168.0.1")));
    assert!(l.allows_resolved("db.corp.example", ip("fd00:1:ffff::1")));
    assert!(!l.allows_resolved("db.corp.example", ip("fd00:2::1")));
    // The address rule does not allow a name by itself.
    assert!(!l.allows_resolved("other.example", ip("10.1.0.1")));

    // IP-literal names: the address rules decide, as for `allows_domain`.
    assert!(l.allows_resolved("127.0.0.1", ip("127.0.0.1")));
    assert!(l.allows_resolved("2130706433", ip("127.0.0.1")));
    assert!(!l.allows_resolved("127.0.0.2", ip("127.0.0.2")));
    assert!(!l.allows_resolved("8.8.8.8", ip("8.8.8.8")));
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
    let text =
        "# allow list\n\n   \n\texample.com   # the apex\r\n# 10.0.0.0/8\n*.example.net#no space\n";
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
        (any::<[u8; 4]>(), prefix_strategy(32)).prop_map(|(o, p)| (network(IpAddr::from(o), p), p)),
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
        let mut text: String = nets.iter().map(|(ip, p)| format!("{ip}/{p}\n")).collect();
        text.push_str("host.example\n");
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
            // A name on the list reaches global addresses, and others by address rule.
            prop_assert_eq!(
                l.allows_resolved("host.example", q),
                expected || is_globally_routable(q)
            );
            prop_assert!(!l.allows_resolved("other.example", q));
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
