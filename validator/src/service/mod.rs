//! The validator service around the chain (see [`crate::chain`]).
//!
//! Pure:
//! * [`issuer`]: this validator's Coconut key share: blind signing of paid requests and
//!   verification of presentations (also the chain's spend verifier).
//! * [`error`]: every refusal with its HTTP status.
//!
//! IO:
//! * [`config`]: the TOML file and the key files it names.
//! * [`http`]: the axum router (paths in [`validator_core::api`]).
//! * [`peers`]: relay of admitted transactions to the other validators' mempools.
//! * [`node`]: the running validator: store replay, consensus engine and application, HTTP
//!   server, relays.

pub mod config;
pub mod error;
pub mod http;
pub mod issuer;
pub mod node;
pub mod peers;
