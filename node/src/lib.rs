#![forbid(unsafe_code)]
//! # node
//!
//! What every long-running node shares, whatever its role: the mixnode and the gateway are
//! thin roles on this crate, each adding only its own config sections, commands and
//! services.
//!
//! # Layout
//! * [`home`]: where a node's files live (`HOME/<role>s/ID/`) and its roles.
//! * [`keys`]: the ed25519 identity, x25519 Sphinx and x25519 Noise keys, in 0600 files.
//! * [`config`]: reading, parsing and checking `config.toml` ([`config::ConfigFile`]), with
//!   errors that name the file and the field.
//! * [`engine`]: the `[engine]` section, its defaults and bounds, and its mapping to
//!   router-core's `RouterConfig` (the one place both roles get engine settings from).
//! * [`cpus`]: which CPUs the shards are pinned to.
//! * [`fds`]: the open-files limit raised at start, and the descriptors kept from inbound
//!   connections.
//! * [`replay`]: a key's replay filter across restarts and crashes: snapshot, journal, and
//!   the thread that makes accepted tags durable.
//! * [`rotation`]: the node's Sphinx keys over time: the static key, or one per rotation of
//!   the chain's schedule, generated ahead, announced, installed and wiped.
//! * [`topology`]: the verified previous/current/next topology window, fetched from the
//!   validators in the background (next hops for mixnodes, first hops for gateways).
//! * [`lifecycle`]: signals, the metrics endpoint, the pid file, the shutdown order.
//! * [`links`]: Noise on the node's links: the mode, the node's static key, the peers' keys
//!   from the topology (or `--danger-noise-peer`).
//! * [`bond`]: registration with the validators.
//! * [`init`]: a new node directory with config and keys.
//! * [`cli`]: clap argument groups, tracing setup, exit codes.
//! * [`error`]: [`NodeError`], what every command above returns.
//!
//! What it does not hold: any packet processing (router-core), a role's own protocol (the
//! gateway's client side), or anything a client links (this crate links glommio through
//! router-core's runtime).

pub mod bond;
pub mod cli;
pub mod config;
pub mod cpus;
pub mod engine;
pub mod error;
pub mod fds;
pub mod home;
pub mod init;
pub mod keys;
pub mod lifecycle;
pub mod links;
pub mod replay;
pub mod rotation;
pub mod topology;

pub use error::NodeError;
