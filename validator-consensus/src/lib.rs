//! The validators' consensus messages as the Malachite engine sees them, without the engine:
//! everything a peer validator's bytes go through before the application acts on them.
//!
//! * [`context`]: heights, addresses, the validator set, votes, proposals and proposal parts
//!   as Malachite's `Context` wants them, and the proposer rotation;
//! * [`signing`]: ed25519 consensus signatures bound to the genesis hash;
//! * [`codec`]: borsh for the engine's network and WAL messages;
//! * [`streaming`]: blocks cut into proposal parts and put back together, bounded.
//!
//! The engine, the network and the store are the `validator` crate's (`validator::chain`);
//! this crate stays free of them so that its parsers and its stream reassembly can be fuzzed
//! (`fuzz/`) without building a libp2p stack. What a block contains and how it changes the
//! state is `validator_core::chain`.
pub mod codec;
pub mod context;
pub mod signing;
pub mod streaming;
