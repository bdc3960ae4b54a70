//! # mixnode
//!
//! The mixnode role on the [`node`] crate: what differs from every other node is its config
//! (`[node]`: one mix listener) and that it forwards only to nodes of the verified topology.
//!
//! * [`config`]: `config.toml` (`[node]` and the shared `[engine]`).
//! * [`commands`]: `init`, `node-details`, `bond`, `run`.
//!
//! The packet work itself is router-core's runtime in mix mode: this crate only configures and
//! starts it. A mixnode never delivers: a packet whose last hop is a mixnode is dropped as
//! `unexpected_final_hop`.

pub mod commands;
pub mod config;
