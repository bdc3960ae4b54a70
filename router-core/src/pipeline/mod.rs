//! The sans-IO shard pipeline the runtime drives: buffers, frame reassembly, the mixer, outbound
//! queues and counters.
//!
//! # Layout
//!
//! * [`buffers`]: [`PacketBuf`] (headroom for a frame header, then one packet) and the per-shard
//!   [`BufferPool`]. A packet lives in one buffer from the socket read to the socket write.
//! * [`assembler`]: [`FrameAssembler`], frames out of a TCP stream, received straight into
//!   buffers with one scatter read per batch; copies only when a peer changes frame shape.
//! * [`sealed_assembler`] (feature `noise`): [`SealedAssembler`], the same for a Noise link,
//!   one frame per transport message, decrypted in the buffer it was received into.
//! * [`batching`]: [`PendingBatch`], the frames of all connections waiting (briefly) to fill a
//!   batch as wide as the batched X25519's ladder.
//! * [`mixer`]: [`Mixer`], batch unwrap, verdicts, the delay wheel and departures, on a caller's
//!   clock.
//! * [`outbound`]: [`OutboundQueue`], the bounded per-peer queue written with gather writes
//!   (sealed in place first on a Noise link).
//! * [`pressure`]: [`QueuePressure`], when a peer queue's fill pauses the connections that
//!   feed it.
//! * [`stats`]: [`ShardStats`], per-shard counters and their Prometheus rendering.
//!
//! Nothing here opens a socket, reads a clock or spawns a task; the glommio runtime
//! (`crate::runtime`) does, and the tests drive all of it with virtual time and vectors.

pub mod assembler;
pub mod batching;
pub mod buffers;
pub mod mixer;
pub mod outbound;
pub mod pressure;
#[cfg(feature = "noise")]
pub mod sealed_assembler;
pub mod stats;

pub use assembler::{FrameAssembler, ReceivedFrame, MAX_READ_FRAMES};
pub use batching::{BatchPolicy, PendingBatch, DEFAULT_LINGER};
pub use buffers::{BufferPool, PacketBuf, HEADROOM, NOISE_BACK, NOISE_FRONT};
pub use mixer::{
    Delivery, FinalHops, Mixer, MixerConfig, MixerSink, NextHopPolicy,
    DEFAULT_ACCEPTED_TAGS_CAPACITY,
};
pub use outbound::{OutPacket, OutboundQueue, MAX_WRITE_FRAMES};
pub use pressure::QueuePressure;
#[cfg(feature = "noise")]
pub use sealed_assembler::{LinkError, SealedAssembler};
pub use stats::{render_prometheus, LinkDirection, ShardStats, LINK_FAILURE_REASONS};
