//! # gateway
//!
//! The clients' door to the mixnet. Entry role: clients connect over a websocket,
//! authenticate, pay for bandwidth with Coconut credentials and send Sphinx packets, which
//! the gateway forwards, unpeeled, to layer 1 of the topology. Exit role: the last mix layer
//! sends packets here; the gateway peels the final layer on router-core's engine, delivers
//! the message to its client if online or commits it to the mailbox until the client
//! returns, and only then sends the packet's SURB-ACK back into the mixnet.
//!
//! # Layout
//!
//! Built always (what clients link, with `default-features = false`: no glommio, no
//! database, no server):
//! * [`protocol`]: the client–gateway protocol, both ends, without IO: handshake, session
//!   cipher, text and binary frame formats.
//! * [`final_hop`]: Nym's SURB-ACK layout at the front of a delivered plaintext.
//!
//! Feature `server` (default), the gateway process:
//! * [`config`]: `config.toml` and the directory layout;
//! * [`store`]: the redb database (client keys and bandwidth, mailbox, spent credentials);
//! * [`delivery`]: from the shards' delivery handler to clients or the mailbox, acks after;
//! * [`connection`]: the websocket server, one task per client;
//! * [`credentials`]: Coconut credential checks and the validators' spent set;
//! * [`forwarder`]: framed TCP to layer-1 mixnodes for client packets and acks;
//! * [`entry_policy`]: which first hops are allowed, from the validators' topology;
//! * [`rate`]: the per-client token bucket; [`stats`]: the gateway's metrics;
//! * [`commands`]: `init`, `node-details`, `bond`, `run`.
//!
//! What it does not do: build packets or choose routes (the client does), or mix (a packet
//! that names a next hop after the gateway is dropped as `next_hop_not_in_topology`).

pub mod final_hop;
pub mod protocol;

#[cfg(feature = "server")]
pub mod commands;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod connection;
#[cfg(feature = "server")]
pub mod credentials;
#[cfg(feature = "server")]
pub mod delivery;
#[cfg(feature = "server")]
pub mod entry_policy;
#[cfg(feature = "server")]
pub mod forwarder;
#[cfg(feature = "server")]
pub mod rate;
#[cfg(feature = "server")]
pub mod stats;
#[cfg(feature = "server")]
pub mod store;

/// The wall clock, Unix ms (handshake timestamps, mailbox ages).
#[cfg(feature = "server")]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
