//! The 32-byte next-hop address carried in Sphinx routing information.
//!
//! Layout (Nym-compatible):
//!
//! ```text
//! byte 0      4 (IPv4) or 6 (IPv6)
//! bytes 1..3  port, u16 big-endian
//! bytes 3..   4 or 16 IP octets
//! rest        zero padding up to 32 bytes
//! ```
//!
//! # Padding policy
//!
//! [`encode_node_address`] always writes zero padding, as Nym does.
//! [`decode_node_address`] *ignores* the padding, exactly like Nym's decoder:
//! a packet a Nym node would forward must not be dropped by us, and the
//! padding carries no meaning. [`decode_node_address_strict`] additionally
//! requires zero padding, for callers that want a canonical (one address ↔ one
//! encoding) form, e.g. when comparing encoded addresses.
//!
//! IPv6 flow info and scope id are not representable and are dropped by the
//! encoder (decoded addresses have them set to 0).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// Size of the address field in Sphinx routing information.
pub const NODE_ADDRESS_LEN: usize = 32;

const IPV4_TAG: u8 = 4;
const IPV6_TAG: u8 = 6;

/// Why 32 routing bytes are not a node address.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Byte 0 is neither 4 nor 6.
    #[error("unknown IP version byte {0} in node address (expected 4 or 6)")]
    UnknownIpVersion(u8),
    /// Strict decoding only: bytes after the IP address are not all zero.
    #[error("non-zero padding after the IP address in node address")]
    NonZeroPadding,
}

/// Encodes `addr` as the 32-byte routing field (always zero-padded).
pub fn encode_node_address(addr: &SocketAddr) -> [u8; NODE_ADDRESS_LEN] {
    let port = addr.port().to_be_bytes();
    let (tag, v4, v6);
    let ip: &[u8] = match addr {
        SocketAddr::V4(a) => {
            tag = IPV4_TAG;
            v4 = a.ip().octets();
            &v4
        }
        SocketAddr::V6(a) => {
            tag = IPV6_TAG;
            v6 = a.ip().octets();
            &v6
        }
    };
    let mut out = [0u8; NODE_ADDRESS_LEN];
    // At most 1 + 2 + 16 = 19 bytes: `zip` never runs out of `out`, and the
    // remaining bytes stay zero (the padding).
    let fields = core::iter::once(&tag).chain(&port).chain(ip);
    for (dst, src) in out.iter_mut().zip(fields) {
        *dst = *src;
    }
    out
}

/// Decodes a routing field, ignoring the padding (Nym's behaviour).
pub fn decode_node_address(bytes: &[u8; NODE_ADDRESS_LEN]) -> Result<SocketAddr, AddressError> {
    decode(bytes).map(|(addr, _)| addr)
}

/// Decodes a routing field and rejects non-zero padding.
pub fn decode_node_address_strict(
    bytes: &[u8; NODE_ADDRESS_LEN],
) -> Result<SocketAddr, AddressError> {
    let (addr, padding_is_zero) = decode(bytes)?;
    if padding_is_zero {
        Ok(addr)
    } else {
        Err(AddressError::NonZeroPadding)
    }
}

/// Shared decoder: the address and whether the padding was all zeros.
fn decode(bytes: &[u8; NODE_ADDRESS_LEN]) -> Result<(SocketAddr, bool), AddressError> {
    let [version, port_hi, port_lo, rest @ ..] = *bytes;
    let port = u16::from_be_bytes([port_hi, port_lo]);
    // `rest` is 29 bytes, longer than either octet array, so the `zip`s below
    // fill the whole array.
    let (addr, ip_len) = match version {
        IPV4_TAG => {
            let mut octets = [0u8; 4];
            octets.iter_mut().zip(&rest).for_each(|(d, s)| *d = *s);
            (SocketAddr::from((Ipv4Addr::from(octets), port)), 4)
        }
        IPV6_TAG => {
            let mut octets = [0u8; 16];
            octets.iter_mut().zip(&rest).for_each(|(d, s)| *d = *s);
            (SocketAddr::from((Ipv6Addr::from(octets), port)), 16)
        }
        other => return Err(AddressError::UnknownIpVersion(other)),
    };
    let padding_is_zero = rest.iter().skip(ip_len).all(|&b| b == 0);
    Ok((addr, padding_is_zero))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{SocketAddrV4, SocketAddrV6};

    #[test]
    fn localhost_1789_exact_bytes() {
        let addr: SocketAddr = "127.0.0.1:1789".parse().expect("literal");
        let mut expected = [0u8; 32];
        expected[..7].copy_from_slice(&[4, 0x06, 0xfd, 127, 0, 0, 1]);
        assert_eq!(encode_node_address(&addr), expected);
        assert_eq!(decode_node_address(&expected), Ok(addr));
        assert_eq!(decode_node_address_strict(&expected), Ok(addr));
    }

    #[test]
    fn ipv6_exact_bytes() {
        let addr: SocketAddr = "[2001:db8::1]:443".parse().expect("literal");
        let mut expected = [0u8; 32];
        expected[..3].copy_from_slice(&[6, 0x01, 0xbb]);
        expected[3..19]
            .copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(encode_node_address(&addr), expected);
        assert_eq!(decode_node_address(&expected), Ok(addr));
    }

    #[test]
    fn unknown_ip_version_rejected() {
        for v in [0u8, 5, 7, 46, 255] {
            let mut bytes = encode_node_address(&"127.0.0.1:1789".parse().expect("literal"));
            bytes[0] = v;
            assert_eq!(
                decode_node_address(&bytes),
                Err(AddressError::UnknownIpVersion(v))
            );
            assert_eq!(
                decode_node_address_strict(&bytes),
                Err(AddressError::UnknownIpVersion(v))
            );
        }
    }

    #[test]
    fn padding_ignored_by_default_rejected_by_strict() {
        let addr: SocketAddr = "10.1.2.3:9000".parse().expect("literal");
        let mut bytes = encode_node_address(&addr);
        bytes[7] = 1; // first padding byte after an IPv4 address
        assert_eq!(decode_node_address(&bytes), Ok(addr));
        assert_eq!(
            decode_node_address_strict(&bytes),
            Err(AddressError::NonZeroPadding)
        );

        let addr6: SocketAddr = "[::1]:1".parse().expect("literal");
        let mut bytes = encode_node_address(&addr6);
        bytes[31] = 0xff;
        assert_eq!(decode_node_address(&bytes), Ok(addr6));
        assert_eq!(
            decode_node_address_strict(&bytes),
            Err(AddressError::NonZeroPadding)
        );
        // Byte 18 is the last IPv6 octet, not padding.
        let mut bytes = encode_node_address(&addr6);
        bytes[18] = 2;
        assert_eq!(
            decode_node_address_strict(&bytes),
            Ok("[::2]:1".parse().expect("literal"))
        );
    }

    #[test]
    fn ipv6_scope_and_flowinfo_dropped() {
        let addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5, 77, 3));
        let decoded = decode_node_address(&encode_node_address(&addr)).expect("valid");
        assert_eq!(
            decoded,
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5, 0, 0))
        );
    }

    proptest! {
        #[test]
        fn ipv4_round_trip(ip in any::<u32>(), port in any::<u16>()) {
            let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port));
            let bytes = encode_node_address(&addr);
            prop_assert_eq!(bytes[0], 4);
            prop_assert_eq!(&bytes[1..3], &port.to_be_bytes());
            prop_assert_eq!(&bytes[3..7], &ip.to_be_bytes());
            prop_assert!(bytes[7..].iter().all(|&b| b == 0));
            prop_assert_eq!(decode_node_address_strict(&bytes), Ok(addr));
        }

        #[test]
        fn ipv6_round_trip(ip in any::<u128>(), port in any::<u16>()) {
            let addr = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0));
            let bytes = encode_node_address(&addr);
            prop_assert_eq!(bytes[0], 6);
            prop_assert_eq!(&bytes[1..3], &port.to_be_bytes());
            prop_assert_eq!(&bytes[3..19], &ip.to_be_bytes());
            prop_assert!(bytes[19..].iter().all(|&b| b == 0));
            prop_assert_eq!(decode_node_address_strict(&bytes), Ok(addr));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in any::<[u8; 32]>()) {
            match decode_node_address(&bytes) {
                Ok(addr) => {
                    // The meaningful prefix re-encodes identically.
                    let re = encode_node_address(&addr);
                    let n = if bytes[0] == 4 { 7 } else { 19 };
                    prop_assert_eq!(&re[..n], &bytes[..n]);
                    prop_assert_eq!(
                        decode_node_address_strict(&bytes).is_ok(),
                        re == bytes
                    );
                }
                Err(e) => prop_assert_eq!(e, AddressError::UnknownIpVersion(bytes[0])),
            }
        }
    }
}
