//! # router-core: the mixnet engine
//!
//! Everything a mixnode or gateway does with packets, apart from the binaries around it.
//!
//! The crate keeps a pure, deterministic part apart from the part that does IO:
//!
//! - [`wire`]: Nym's node-to-node framing (versions 7 and 8), the packet-size table and the
//!   socket-address encoding used inside Sphinx routing information. Decoders never panic.
//! - [`crypto`]: batched X25519 (an AVX-512 IFMA multi-buffer ladder chosen at run time, and a
//!   portable path), the dominant cost of a hop.
//! - [`sphinx`]: in-place processing of one Sphinx packet, byte-compatible with the
//!   `sphinx-packet` crate Nym uses, with no allocation per packet, one at a time or in
//!   batches.
//! - [`mix`]: the sans-IO pieces the pipeline uses: the node's Sphinx keys (one or two during a
//!   key rotation) each with its replay filter shared by all cores, the filters' snapshots and
//!   journal, the timing wheel that holds delayed packets, and the typed verdicts and drop
//!   reasons.
//! - [`noise`] (feature `noise`, part of `runtime`): Noise links between nodes, sans-IO:
//!   the XKpsk3 handshake (Nym's construction, on `snow`) and the transport cipher sealing and
//!   opening in place.
//! - [`pipeline`]: one shard's packet path without IO: pooled packet buffers, frame assembly
//!   straight into them, the [`pipeline::Mixer`] (batch unwrap, verdicts, delays, departures),
//!   bounded per-peer queues and the shard's counters with their Prometheus rendering.
//!
//! None of these read a clock, open a socket or own an RNG: time and randomness are arguments,
//! so tests drive them with a virtual clock. They build with `--no-default-features`.
//!
//! Behind the default feature `runtime`, [`runtime`] is the glommio thread-per-core shell: one
//! pinned executor per shard with its own `SO_REUSEPORT` listener, scatter reads and gather
//! writes over pooled buffers (the kernel's copies are the only copies of packet bytes), the
//! per-next-hop connections with backoff, the delay timer, graceful shutdown and the metrics
//! endpoint. What this crate does not do: build packets (clients use `sphinx-packet`), choose
//! routes, or speak to validators (the binaries feed it a next-hop policy).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod crypto;
pub mod mix;
#[cfg(feature = "noise")]
pub mod noise;
pub mod pipeline;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod sphinx;
pub mod wire;

#[cfg(test)]
mod test_rng;
