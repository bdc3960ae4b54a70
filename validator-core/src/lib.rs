#![forbid(unsafe_code)]
//! # validator-core
//!
//! What every party of the network computes or verifies about the validators' chain, without
//! IO: the genesis ledger and stake registry, epochs and stake-weighted active-set selection,
//! the signed topology clients route by, the HTTP API's bodies, and Coconut threshold
//! credentials on BLS12-381 (DESIGN.md §5). The validator service, its API client
//! (`validator-client`), the nodes and the clients all build on it; it links no runtime, no
//! HTTP stack and no database, so the client core can target WebAssembly with it.
//!
//! # Layout
//!
//! ## The registry / epoch / topology core
//! Nothing here does I/O (except [`genesis::Genesis::load`] and [`files`] reading and writing
//! files), reads a clock or owns randomness: times and seeds are arguments, and every function
//! is deterministic, so every validator that starts from the same genesis and applies the same
//! statements computes the same ledger state, the same active set and the same topology bytes.
//!
//! * [`genesis`]: the shared TOML genesis, its validation and its hash (the chain id bound
//!   into every signature).
//! * [`statement`]: statements accounts sign (bond, unbond, deposit) and their canonical
//!   signing bytes.
//! * [`ledger`]: balances, nonces, the node registry and deposits; statements are applied per
//!   epoch in a canonical order so arrival order does not matter.
//! * [`selection`]: the stake-weighted, seeded choice of each epoch's mixnodes (and their
//!   layers) and gateways.
//! * [`topology`]: epoch timing, the topology clients route by, validator signatures over it
//!   and the threshold verifier clients run.
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
//! * [`files`]: home directory, node ids, 0600 secret key files (used by every binary).
//! * `test_util` (tests, or feature `test-util`): deterministic keys and a small genesis.
//!
//! # Trust model
//! * **Topology and ledger.** The validator set and its threshold are fixed in the genesis. A
//!   topology is accepted only with signatures from a threshold of the genesis validators over
//!   the same bytes; since honest validators compute identical bytes from identical inputs, as
//!   long as a threshold of validators is honest no forged topology (wrong nodes, wrong
//!   layers, wrong keys) can gather enough signatures, and fewer than a threshold of
//!   colluding validators cannot make clients accept one. Statements are signed by their
//!   accounts, so no validator can forge or alter one; a dishonest validator can only
//!   withhold.
//! * **Synchrony.** Agreement on each batch assumes a relay reaches every honest validator
//!   within the relay grace (an eighth of an epoch, at most 10 s) and that clocks agree to
//!   well within it. A relay later than that is refused as `relay_too_late` and logged, and
//!   that validator's ledger then differs from the others: its topologies stop gathering the
//!   others' signatures, which is visible to clients as fewer signatures, never as a wrong
//!   topology. This is not Byzantine agreement: a validator that relays one statement to
//!   some peers and not others can split the honest validators the same way. A BFT
//!   ordering of batches (e.g. a Tendermint-style round per epoch) would remove both
//!   assumptions.
//! * **State.** A validator keeps its ledger in memory. One that restarts begins from the
//!   genesis and cannot rejoin a chain with bonds; catching up from peers' applied batches is
//!   future work.
//! * **Credentials.** With a threshold `t` of `n` authorities, fewer than `t` colluding
//!   authorities can neither forge a credential nor learn a user's private attributes, and a
//!   presentation cannot be linked to its issuance or to other presentations. Private
//!   attributes stay hidden even from all authorities together. A validator signs a request
//!   once its deposit is accepted as pending (not yet applied): two different deposits
//!   racing to different validators within one relay delay could both be signed while the
//!   ledger later rejects one; waiting for the batch would close that window at the cost of
//!   an epoch of latency.
//! * **Trusted dealer.** Coconut keys come from [`coconut::ttp_keygen`] (`validator keygen`),
//!   a trusted dealer: it generates the master secret and every authority's secret key share,
//!   so whoever runs it (or keeps its state) knows every share and can forge credentials
//!   alone, no threshold needed. It must be run as a one-off ceremony and its state
//!   destroyed. A distributed key generation (e.g. Pedersen's DKG in the form of Gennaro,
//!   Jarecki, Krawczyk and Rabin) in which each authority deals a share of the secret and no
//!   party ever holds the master secret is to replace it.

pub mod api;
pub mod coconut;
pub mod credential;
pub mod files;
pub mod genesis;
pub mod ledger;
pub mod primitives;
pub mod selection;
pub mod statement;
pub mod topology;

#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
