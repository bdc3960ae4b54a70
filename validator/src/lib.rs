#![forbid(unsafe_code)]
//! # validator
//!
//! The validator service and the `validator` binary: a BFT chain on Malachite (Tendermint
//! consensus), its HTTP API, the Coconut issuer and the relays to peer validators. What a
//! block is and how it changes the state (ledger, registry, deposits, spent credentials,
//! epochs and topologies) is `validator_core::chain`, pure and deterministic; what nodes and
//! clients use to talk to a validator is `validator-client`. Nothing else links this crate
//! except the tests and the local network harness.
//!
//! # Layout
//! * [`chain`]: the glue to the consensus engine: Malachite's context and signing, the wire
//!   codec, block streaming, the block store, the application loop (propose, validate,
//!   decide) and the engine's configuration.
//! * [`service`]: configuration, the HTTP router, the Coconut issuer, relays, and the running
//!   validator.
//! * [`nym_api`]: the part of Nym's directory API that Nym's own clients read, made from the
//!   chain's signed topology (pure; served by `service`).
//! * [`commands`]: `init`, `run`, `keygen` (a trusted dealer, for tests and benchmarks only)
//!   with their [`commands::CommandError`];
//!   `src/main.rs` is the `validator` binary's command line.
//!
//! # How validators agree
//! The genesis names the validator set (identity keys, voting power, consensus addresses).
//! Transactions (account statements, credential spends, validators' topology signatures)
//! enter a bounded mempool at any validator after their signatures or proofs check and they
//! apply on the mempool's running state; they are relayed to the others. Each height, the
//! round's proposer (validators take turns) builds a block from its mempool and streams it;
//! every validator checks the block against its committed state before voting, and a block
//! is decided by precommits of more than two thirds of the voting power, so the chain stays
//! safe and live with faulty validators holding less than a third. A decision is on disk
//! (block, commit certificate, state hash) before the next height starts; a restarted
//! validator replays its blocks and catches up the rest from its peers.
//!
//! Epochs advance by block time: the first block at or after an epoch's cutoff (a quarter
//! epoch, at most 60 s, before it ends) builds the next epoch's topology from the state after
//! it; each validator then signs it in a transaction, so the signatures are themselves on
//! the chain and every validator serves the same set.
//!
//! Credentials are final: a blind signature is given only once its deposit is decided, and a
//! spend is answered only once a block holds it; the chain refuses a second spend of a
//! credential at any time.
//!
//! The Coconut keys are the chain's: every validator takes part in the key generation that
//! runs on the chain ([`chain::dkg`]: its message of each phase after each decided block),
//! derives its share from the committed transcript when a run completes (and again at
//! start, from its replayed state), and issues with it; presentations are checked under the
//! chain's key set of their key epoch, and the chain refuses those of a retired epoch.
pub mod chain;
pub mod commands;
pub mod nym_api;
pub mod service;
