//! The sans-IO client core: no sockets, no clock, no tokio (it would compile to WebAssembly).
//!
//! - [`address`]: `identity.encryption@gateway` addresses.
//! - [`keys`]: the client's identity, encryption and ack keys.
//! - [`config`]: rates, delays, retransmission and memory limits (Nym's defaults).
//! - [`poisson`]: exponential gaps and delays, Poisson streams.
//! - [`route`]: the topology as routes: uniform per layer, exponential per-hop delays.
//! - [`packets`]: Sphinx packets, SURB-ACKs and reply SURBs with `sphinx-packet`.
//! - [`crypto`]: end-to-end encryption of fragments, reply keys, ack ids.
//! - [`fragment`]: fragmentation into linked sets and bounded reassembly.
//! - [`envelope`]: what a reassembled message holds (kind, text flag, reply SURBs).
//! - [`client`]: the state machine tying them together.
//! - [`gateway_choice`]: which gateway a new client registers at.
//! - [`gateway_session`]: what the gateway's websocket messages mean to a client, and the
//!   link's reconnect backoff and topology refresh timing (for the native and the browser
//!   drivers).

pub mod address;
pub mod client;
pub mod config;
pub mod crypto;
pub mod envelope;
pub mod fragment;
pub mod gateway_choice;
pub mod gateway_session;
pub mod keys;
pub mod packets;
pub mod poisson;
pub mod route;

pub use address::{AddressError, Recipient};
pub use client::{
    ClientCore, CoreHoldings, CoreRng, CoreStats, Event, Received, SendError, FRAGMENT_CAPACITY,
};
pub use config::CoreConfig;
pub use keys::ClientKeys;
pub use packets::Transmit;
