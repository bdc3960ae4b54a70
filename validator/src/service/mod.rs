//! The validator service around the chain (see [`crate::chain`]).
//!
//! Pure:
//! * [`issuer`]: this validator's Coconut key share: blind signing of paid requests and
//!   verification of presentations (also the chain's spend verifier).
//! * [`error`]: every refusal with its HTTP status.
//! * [`rate_limit`]: per-address token buckets in a table of bounded size.
//!
//! IO:
//! * [`config`]: the TOML file and the key files it names.
//! * [`admission`]: what a request passes before any work: its address's rate limit, the
//!   peer relay's signature envelope, a bounded number of verifications at once.
//! * [`http`]: the axum router (paths in [`validator_core::api`]).
//! * [`nym_api`]: the routes of Nym's directory API ([`crate::nym_api`]).
//! * [`tls_listener`]: the API over TLS (`[tls]` in the config), handshakes bounded.
//! * [`peers`]: relay of admitted transactions to the other validators' mempools.
//! * [`node`]: the running validator: store replay, consensus engine and application, HTTP
//!   server, relays.

pub mod admission;
pub mod config;
pub mod error;
pub mod http;
pub mod issuer;
pub mod node;
pub mod nym_api;
pub mod peers;
pub mod rate_limit;
pub mod tls_listener;
