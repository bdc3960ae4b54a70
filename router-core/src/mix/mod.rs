//! The sans-IO mix core: the parts of a Loopix-style router that decide
//! what happens to a packet, independent of threads, sockets and clocks.
//!
//! # Layout
//!
//! * [`time`]: [`Timestamp`], caller-supplied time. Nothing in this module
//!   reads a clock, owns an RNG or opens a socket: "now" and randomness are
//!   arguments (as in quinn-proto), so the runtime decides how they are
//!   produced and tests drive everything on a virtual clock.
//! * [`replay`]: [`ReplayFilter`], the per-key Sphinx replay filter. It is
//!   the one structure shared by all cores (thread-per-core runtime), so it
//!   is lock-free: one atomic `fetch_or` per packet. Also persistence
//!   across restarts.
//! * [`wheel`]: [`TimingWheel`], the per-core delay queue that holds each
//!   packet for its Loopix delay. Owned by one core, so plain `&mut self`,
//!   no allocation per packet, bounded memory with an explicit drop policy.
//! * [`verdict`]: [`Verdict`], what happens to a packet, and [`DropReason`],
//!   the closed vocabulary for why a packet is dropped: one metric label and
//!   one tracing event per drop.
//! * [`judge`](mod@judge): from an unwrap result to a [`Verdict`] (replay check
//!   after the MAC, next-hop decoding).

pub mod judge;
pub mod replay;
pub mod time;
pub mod verdict;
pub mod wheel;

pub use judge::judge;
pub use replay::{
    FreshReason, LoadOutcome, ReplayCheck, ReplayError, ReplayFilter, ReplayFilterParams,
};
pub use time::Timestamp;
pub use verdict::{DropReason, Verdict};
pub use wheel::{DropPolicy, InsertOutcome, TimingWheel, WheelConfig, WheelError};
