//! # client
//!
//! The mixnet client (DESIGN.md §5).
//!
//! - [`core`]: the sans-IO client core: addresses, packet building with `sphinx-packet`,
//!   Poisson sending with loop and drop cover, fragmentation and reassembly, SURB-ACKs and
//!   retransmission, anonymous replies through SURBs. It takes time and randomness as
//!   arguments and does no IO, so it is tested on a virtual clock and could run in a browser.
//! - [`api`]: the app websocket API's messages (JSON and binary frames), pure.
//! - `native` (feature `native`, on by default): the native client process on tokio: keys and
//!   config on disk, registration and credentials at the gateway, the gateway connection
//!   with reconnects, topology refresh from the validators, and the app websocket server.
//!
//! Not here yet: the SOCKS5 client and the network requester.

pub mod api;
pub mod core;
#[cfg(feature = "native")]
pub mod native;
