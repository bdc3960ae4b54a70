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
//!   across restarts: snapshots, and the journal of the tags accepted since
//!   ([`replay::journal`]).
//! * [`keys`]: [`KeyRing`], the one or two Sphinx keys (current rotation and,
//!   during the overlap, the previous one) each with its own filter, and
//!   which of them a packet is tried with.
//! * [`wheel`]: [`TimingWheel`], the per-core delay queue that holds each
//!   packet for its Loopix delay. Owned by one core, so plain `&mut self`,
//!   no allocation per packet, bounded memory with an explicit drop policy.
//! * [`verdict`]: [`Verdict`], what happens to a packet, and [`DropReason`],
//!   the closed vocabulary for why a packet is dropped: one metric label and
//!   one tracing event per drop.
//! * [`judge`](mod@judge): from an unwrap result to a [`Verdict`] (replay check
//!   after the MAC, next-hop decoding).

pub mod judge;
pub mod keys;
pub mod replay;
pub mod time;
pub mod verdict;
pub mod wheel;

pub use crate::sphinx::KeyChoice;
pub use judge::{judge, judge_with};
pub use keys::{rotation_hint, KeyRing, KeyRingError, RotationKey};
pub use replay::{
    FreshReason, LoadOutcome, ReplayCheck, ReplayError, ReplayFilter, ReplayFilterParams,
};
pub use time::Timestamp;
pub use verdict::{DropReason, Verdict};
pub use wheel::{DropPolicy, InsertOutcome, TimingWheel, WheelConfig, WheelError};
