#![forbid(unsafe_code)]
//! # validator
//!
//! The directory authority: the genesis ledger and stake registry, epochs and stake-weighted
//! active-set selection, the signed topology clients route by, and Coconut threshold
//! credentials on BLS12-381 (DESIGN.md §5). Types that nodes and clients need (topology,
//! statements, credentials, and later an API client) are usable without the server parts.
//!
//! # Layout
//!
//! ## The pure registry / epoch / topology core
//! Nothing here does I/O (except [`genesis::Genesis::load`] reading one file), reads a clock
//! or owns randomness: times and seeds are arguments, and every function is deterministic, so
//! every validator that starts from the same genesis and applies the same statements computes
//! the same ledger state, the same active set and the same topology bytes.
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
//!
//! ## Not built yet
//! * the HTTP server exposing the topology, statement submission and credential issuance;
//! * the `validator` binary (`init`, `run`, `keygen`);
//! * statement gossip between validators (today every validator must be fed the same
//!   statements for the same epoch by other means);
//! * the client library that fetches and verifies topologies and obtains credentials.
//!
//! # Trust model
//! * **Topology and ledger.** The validator set and its threshold are fixed in the genesis. A
//!   topology is accepted only with signatures from a threshold of the genesis validators over
//!   the same bytes; since honest validators compute identical bytes from identical inputs, as
//!   long as a threshold of validators is honest no forged topology (wrong nodes, wrong
//!   layers, wrong keys) can gather enough signatures, and fewer than a threshold of
//!   colluding validators cannot make clients accept one.
//! * **Credentials.** With a threshold `t` of `n` authorities, fewer than `t` colluding
//!   authorities can neither forge a credential nor learn a user's private attributes, and a
//!   presentation cannot be linked to its issuance or to other presentations. Private
//!   attributes stay hidden even from all authorities together.
//! * **Trusted dealer.** Coconut keys currently come from [`coconut::ttp_keygen`], a trusted
//!   dealer: it generates the master secret and every authority's secret key share, so
//!   whoever runs it (or keeps its state) knows every share and can forge credentials alone,
//!   no threshold needed. It must be run as a one-off ceremony and its state destroyed. A
//!   distributed key generation (e.g. Pedersen's DKG in the form of Gennaro, Jarecki, Krawczyk
//!   and Rabin) in which each authority deals a share of the secret and no party ever holds
//!   the master secret is to replace it.

pub mod api;
#[cfg(feature = "client")]
pub mod client;
pub mod coconut;
pub mod credential;
pub mod files;
pub mod genesis;
pub mod ledger;
pub mod primitives;
pub mod selection;
#[cfg(feature = "server")]
pub mod service;
pub mod statement;
pub mod topology;

#[cfg(test)]
mod test_util;
