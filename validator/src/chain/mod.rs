//! The validators' chain on Malachite (Tendermint consensus).
//!
//! What a block is and how it changes the application state is `validator_core::chain`
//! (pure and deterministic). This module is the glue to the engine:
//! * [`context`]: heights, addresses, the validator set, votes, proposals and proposal parts
//!   as Malachite's `Context` wants them;
//! * [`signing`]: ed25519 consensus signatures bound to the genesis hash;
//! * [`codec`]: borsh for the engine's network and WAL messages;
//! * [`streaming`]: blocks cut into proposal parts and put back together, bounded;
//! * [`store`]: decided blocks, certificates and undecided proposals in redb;
//! * [`shared`]: the committed state, mempool and status the HTTP handlers read;
//! * [`app`]: the application loop answering the engine (propose, validate, decide);
//! * [`dkg`]: this validator's messages in the key generation and its derived key share;
//! * [`engine`]: the engine's configuration and start.
pub mod app;
pub mod codec;
pub mod context;
pub mod dkg;
pub mod engine;
pub mod shared;
pub mod signing;
pub mod store;
pub mod streaming;
