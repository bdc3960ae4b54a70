#![forbid(unsafe_code)]
//! # validator
//!
//! The validator service and the `validator` binary: the HTTP API, the epoch schedule and
//! state machine, the Coconut issuer, relays to peer validators. What it computes (ledger,
//! selection, topology, credentials) is `validator-core`; what nodes and clients use to talk
//! to it is `validator-client`. Nothing else links this crate except the tests and the local
//! network harness.
//!
//! # Layout
//! * [`service`]: epoch schedule and state machine (pure), Coconut issuer, HTTP router, peer
//!   relays, and the running node.
//! * [`commands`]: `init`, `run`, `keygen` with their [`commands::CommandError`];
//!   `src/main.rs` is the `validator` binary's command line.
//!
//! # How validators agree
//! A statement submitted to any validator is checked against its ledger and pending
//! statements, put in the batch of the current *intake epoch* and relayed, signed by that
//! validator, to every other validator. At each epoch's cutoff (a quarter epoch, at most 60 s,
//! before it ends) every validator applies the batch in canonical order, selects the next
//! active set with a seed chained from the previous nonempty topology, signs the topology and
//! pushes its signature to the others. Clients pool the signatures validators serve and accept
//! the topology once `threshold` of them signed the same bytes. See
//! [`service::schedule`] for the timing rule.
//!
pub mod commands;
pub mod service;
