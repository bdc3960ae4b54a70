//! Parses arbitrary UTF-8 as an allow-list file and checks that nothing panics and, when it
//! parses, that every entry allows what it names:
//!
//! * an address or a range allows its (first) address, as an IP and as an IP-literal name;
//! * an exact name allows itself, in any case, with or without a trailing dot;
//! * `*.name` allows a name below it.
//!
//! Every line is also queried as a name, whatever it holds.
#![no_main]

use std::net::IpAddr;

use client::requester::allow::{AllowList, MAX_NAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(list) = AllowList::parse(text) else {
        return;
    };
    let mut entries = 0;
    for line in text.lines() {
        let _ = list.allows_domain(line);
        let entry = line.split('#').next().unwrap_or_default().trim();
        if entry.is_empty() {
            continue;
        }
        entries += 1;
        if let Ok(ip) = entry.parse::<IpAddr>() {
            assert!(list.allows_ip(ip), "{entry}");
            assert!(list.allows_domain(entry), "{entry}");
            if ip.is_ipv6() {
                assert!(list.allows_domain(&format!("[{entry}]")), "{entry}");
            }
        } else if let Some((addr, _)) = entry.split_once('/') {
            let ip: IpAddr = addr.parse().expect("a parsed range starts with an address");
            assert!(list.allows_ip(ip), "{entry}");
        } else if let Some(parent) = entry.strip_prefix("*.") {
            for below in [
                format!("x.{parent}"),
                format!("A.b.{}", parent.to_ascii_uppercase()),
            ] {
                if below.trim_end_matches('.').len() <= MAX_NAME_LEN {
                    assert!(list.allows_domain(&below), "{entry}");
                }
            }
        } else {
            assert!(list.allows_domain(entry), "{entry}");
            assert!(list.allows_domain(&entry.to_ascii_uppercase()), "{entry}");
            if !entry.ends_with('.') {
                assert!(list.allows_domain(&format!("{entry}.")), "{entry}");
            }
        }
    }
    assert!(list.len() <= entries);
    assert!(entries > 0 || list.is_empty());
});
