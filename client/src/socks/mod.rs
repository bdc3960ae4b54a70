//! The SOCKS side of the client, pure (no IO):
//!
//! - [`handshake`]: the SOCKS5 (RFC 1928, RFC 1929 username/password) and SOCKS4a handshakes
//!   an app performs with the local proxy, as a sans-IO parser, and the replies.
//! - [`message`]: the tunnel protocol between the SOCKS5 client and the network requester.
//! - [`stream`]: one tunnelled connection's ordering and flow-control state at one end.
pub mod handshake;
pub mod message;
pub mod stream;
