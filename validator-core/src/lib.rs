#![forbid(unsafe_code)]
//! # validator-core
//!
//! What every party of the network computes or verifies about the validators' chain, without
//! IO: the replicated state machine the validators agree on by BFT consensus (transactions,
//! blocks, the state they decide, the mempool), the genesis ledger and stake registry,
//! epochs and stake-weighted active-set selection, the signed topology clients route by, the
//! HTTP API's bodies, and Coconut threshold credentials on BLS12-381 (DESIGN.md §5). The
//! validator service, its API client (`validator-client`), the nodes and the clients all
//! build on it; it links no runtime, no consensus engine, no HTTP stack and no database, so
//! the client core can target WebAssembly with it.
//!
//! # Layout
//!
//! Nothing here does I/O (except [`genesis::Genesis::load`] and `files` reading and writing
//! files), reads a clock or owns randomness: times and seeds are arguments, and every function
//! is deterministic, so every validator that starts from the same genesis and applies the same
//! blocks computes the same ledger, the same active sets and the same topology bytes.
//!
//! ## The chain
//! * [`chain`]: the state machine the consensus engine replicates: [`chain::Transaction`]s
//!   (statements, credential spends, topology votes) verified outside any lock into
//!   [`chain::VerifiedTx`], [`chain::Block`]s and their byte encoding, [`chain::ChainState`]
//!   (ledger, spent credentials, topologies with their votes; changed only by applying a
//!   block), epoch cutoffs, and the [`chain::Mempool`] proposers select blocks from.
//!
//! ## The registry / epoch / topology core
//! * [`genesis`]: the shared TOML genesis, its validation and its hash (the chain id bound
//!   into every signature).
//! * [`statement`]: statements accounts sign (bond, unbond, deposit) and their canonical
//!   signing bytes.
//! * [`ledger`]: balances, nonces, the node registry and deposits; statements apply in block
//!   order (and, for the older epoch-batch service, per epoch in a canonical order).
//! * [`selection`]: the stake-weighted, seeded choice of each epoch's mixnodes (and their
//!   layers) and gateways.
//! * [`topology`]: epoch timing, the topology clients route by, validator signatures over it
//!   and the threshold verifier clients run.
//! * [`rotation`]: the Sphinx key rotation schedule (rotation windows in whole epochs, the
//!   overlap, which keys a node holds when); the keys themselves are announced on the chain
//!   ([`chain::sphinx_keys`]).
//! * [`primitives`]: key, signature and hash types with their text and binary encodings.
//!
//! ## Coconut credentials
//! * [`coconut`]: Coconut threshold-issuance, selective-disclosure credentials (Sonnino et
//!   al., NDSS 2019) on BLS12-381: blind issuance, aggregation of `t` of `n` partial
//!   credentials, unlinkable presentations with a double-spend tag. Also pure: randomness is
//!   passed in.
//! * [`credential`]: what this network puts in a credential (attributes, the deposit digest
//!   a payment names) and the published verification-key set.
//!
//! ## Shared by the service and its clients
//! * [`api`]: HTTP paths, request and answer bodies, the error body.
//! * `files`: home directory, node ids, 0600 secret key files (used by every binary; not
//!   built for WebAssembly, which has no Unix file modes).
//! * [`peer_auth`]: the envelope validators sign their requests to each other with (key,
//!   time and signature headers over chain, path, time and body) and its checks.
//! * `test_util` (tests, or feature `test-util`): deterministic keys, a small genesis, fake
//!   credential spends and a fake spend verifier, block builders.
//!
//! # Trust model
//! * **Agreement.** The validators agree on the ledger, the spent credentials and the
//!   topologies by BFT consensus on blocks (Malachite, a Tendermint implementation, runs in
//!   the validator crate; [`chain`] is the state machine it replicates). With `3f + 1`
//!   validators, up to `f` faulty ones, however they behave, cannot make honest validators
//!   decide different blocks (safety does not depend on timing), nor stop the chain once
//!   the network delivers messages in bounded time (liveness, under partial synchrony).
//!   Honest validators apply the same decided blocks in the same order with a deterministic
//!   function, so they hold the same state, and each header names the state hash it builds
//!   on, so a divergence would stop the chain rather than spread. What counts is what is in
//!   a decided block, not who relayed what when: withholding a transaction from some
//!   validators only delays it. Block times come from proposers and must strictly
//!   increase; honest validators vote only for proposals whose time is close to their clock
//!   (the caller's check), so epoch cutoffs follow real time within that tolerance.
//! * **Topology and ledger.** The validator set and the topology threshold are fixed in the
//!   genesis. Every validator signs the topology the chain built, and the signatures are
//!   themselves transactions ([`chain::TopologyVote`]). A client accepts a topology only with
//!   signatures from a threshold of the genesis validators over the same bytes, so fewer
//!   than a threshold of colluding validators cannot make clients accept a forged one
//!   (wrong nodes, wrong layers, wrong keys). Statements are signed by their accounts, so
//!   no validator can forge or alter one.
//! * **State.** [`chain::ChainState`] is a value in memory; storing decided blocks (or
//!   states) and catching up from peers after a restart is the validator crate's job.
//! * **Credentials.** With a threshold `t` of `n` authorities, fewer than `t` colluding
//!   authorities can neither forge a credential nor learn a user's private attributes, and a
//!   presentation cannot be linked to its issuance or to other presentations. Private
//!   attributes stay hidden even from all authorities together. On the chain a deposit is
//!   paid, and a spend credited, only once a decided block includes it
//!   ([`chain::ChainState::deposit`], [`chain::ChainState::spend`]), so a validator that
//!   signs a credential request only for a deposit in a decided block (DESIGN.md §5) never
//!   signs for a payment the ledger later rejects, and a credential is credited at most
//!   once network-wide.
//! * **No dealer.** Coconut keys come from a distributed key generation on the chain
//!   ([`chain::dkg`], Pedersen VSS in the form of Gennaro, Jarecki, Krawczyk and Rabin,
//!   [`coconut::dkg`]): each validator deals, complaints are publicly verifiable, the
//!   qualified set and the key set are functions of the committed transcript, and no party
//!   ever holds the master secret; fewer than `t` colluding validators learn nothing about
//!   it. Key epochs retire old keys after a grace period. [`coconut::ttp_keygen`], the
//!   trusted dealer, remains for tests and benchmarks only (`validator keygen
//!   --danger-trusted-dealer`).

pub mod api;
pub mod chain;
pub mod coconut;
pub mod credential;
#[cfg(not(target_family = "wasm"))]
pub mod files;
pub mod genesis;
pub mod ledger;
pub mod peer_auth;
pub mod primitives;
pub mod rotation;
pub mod selection;
pub mod statement;
pub mod topology;

#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
