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
//! The client–gateway protocol itself is the `gateway-protocol` crate (what clients link);
//! what every node shares (homes, keys, `[engine]`, the topology window, the run lifecycle,
//! bonding) is the `node` crate. Here:
//! * [`config`]: `config.toml` (`[gateway]`, `[clients]`, `[mailbox]` and the shared
//!   `[engine]`);
//! * [`store`]: the redb database (client keys and bandwidth, mailbox, spent credentials);
//! * [`delivery`]: from the shards' delivery handler to clients or the mailbox, acks after;
//! * [`connection`]: the websocket server, one task per client;
//! * [`credentials`]: Coconut credential checks and the validators' spent set;
//! * [`forwarder`]: framed TCP to layer-1 mixnodes for client packets and acks;
//! * [`entry_policy`]: which first hops are allowed (the topology window's layer 1);
//! * [`rate`]: the token bucket (a client's packets and controls, a source's
//!   registrations); [`source_limits`]: connections, handshakes and registrations per
//!   source address; [`stats`]: the gateway's metrics;
//! * [`commands`]: `init`, `node-details`, `run`; [`error`]: what they fail with.
//!
//! What it does not do: build packets or choose routes (the client does), or mix (a packet
//! that names a next hop after the gateway is dropped as `next_hop_not_in_topology`).

pub mod commands;
pub mod config;
pub mod connection;
pub mod credentials;
pub mod delivery;
pub mod entry_policy;
pub mod error;
pub mod forwarder;
pub mod rate;
pub mod source_limits;
pub mod stats;
pub mod store;

/// The wall clock, Unix ms (handshake timestamps, mailbox ages).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
