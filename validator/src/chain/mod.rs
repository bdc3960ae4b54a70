//! The validators' chain on Malachite (Tendermint consensus).
//!
//! What a block is and how it changes the application state is `validator_core::chain`
//! (pure and deterministic). The consensus messages themselves (context types, signatures,
//! their borsh codec, block streams) are the `validator_consensus` crate, re-exported here.
//! This module is the glue to the engine:
//! * [`store`]: decided blocks, certificates and undecided proposals in redb;
//! * [`shared`]: the committed state, mempool and status the HTTP handlers read;
//! * [`app`]: the application loop answering the engine (propose, validate, decide);
//! * [`byzantine`]: the misbehaving test doubles (tests only);
//! * [`dkg`]: this validator's messages in the key generation and its derived key share;
//! * [`engine`]: the engine's configuration and start;
//! * [`wire`]: block streams to and from the engine's stream messages.
pub mod app;
pub mod byzantine;
pub mod dkg;
pub mod engine;
pub mod shared;
pub mod store;
pub mod wire;

pub use validator_consensus::{codec, context, signing, streaming};
