//! The validator service (feature `server`).
//!
//! Pure parts:
//! * [`schedule`]: when each epoch's statement batch closes, and which batch a new statement
//!   joins.
//! * [`state`]: the state machine: pending batches, ledger, topologies and their collected
//!   signatures, spent credentials. Time is an argument; messages for the peers are returned.
//! * [`issuer`]: this validator's Coconut key share: blind signing of paid requests and
//!   verification of presentations.
//! * [`error`]: every refusal with its HTTP status.
//!
//! IO:
//! * [`config`]: the TOML file and the key files it names.
//! * [`http`]: the axum router (paths in [`validator_core::api`]).
//! * [`peers`]: delivery of relays, topology signatures and spent tags to the other
//!   validators.
//! * [`node`]: the running validator: server, epoch ticker, peer links.

pub mod config;
pub mod error;
pub mod http;
pub mod issuer;
pub mod node;
pub mod peers;
pub mod schedule;
pub mod state;
