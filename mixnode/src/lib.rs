//! # mixnode
//!
//! The mixnode binary and the pieces of it other binaries reuse (the gateway follows the same
//! conventions for homes, keys and configs).
//!
//! * [`home`]: where a node's files live (`HOME/mixnodes/ID/`).
//! * [`keys`]: the ed25519 identity and x25519 Sphinx keys, in 0600 files.
//! * [`config`]: `config.toml`, with errors that name the file and the field.
//! * [`topology`]: keeps the router's next-hop policy equal to the validators'
//!   threshold-signed topology, with the chain's genesis pinned in the node directory.
//! * [`commands`]: `init`, `node-details`, `bond` (registration: stake bonded from an account,
//!   with the node's consent), `run`.
//!
//! The packet work itself is router-core's runtime in mix mode: this crate only configures and
//! starts it, and persists its replay filter across restarts. A mixnode never delivers: a packet
//! whose last hop is a mixnode is dropped as `unexpected_final_hop`.

pub mod commands;
pub mod config;
pub mod home;
pub mod keys;
pub mod topology;
