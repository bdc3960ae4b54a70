//! # client
//!
//! The mixnet client (DESIGN.md §5).
//!
//! - [`core`]: the sans-IO client core: addresses, packet building with `sphinx-packet`,
//!   Poisson sending with loop and drop cover, fragmentation and reassembly, SURB-ACKs and
//!   retransmission, anonymous replies through SURBs. It takes time and randomness as
//!   arguments and does no IO, so it is tested on a virtual clock and could run in a browser.
//! - [`api`]: the app websocket API's messages (JSON and binary frames), pure.
//! - [`socks`]: the SOCKS5/SOCKS4a handshake parser, the tunnel protocol between the SOCKS5
//!   client and the network requester, and a tunnelled connection's ordering and window
//!   state, pure.
//! - [`requester`]: the network requester's allow list and its check of resolved
//!   addresses (no name reaches an internal address the list does not hold), pure.
//! - `native` (feature `native`, on by default): the processes on tokio: keys and config on
//!   disk, registration and credentials at the gateway, the gateway connection with
//!   reconnects, topology refresh from the validators (the driver they share), and the three
//!   frontends: `client` (app websocket server), `socks5-client` (a local SOCKS proxy) and
//!   `network-requester` (the service provider that opens TCP connections for it).

pub mod api;
pub mod core;
#[cfg(feature = "native")]
pub mod native;
pub mod requester;
pub mod socks;
