#![forbid(unsafe_code)]
//! # gateway-protocol
//!
//! The client–gateway protocol, both ends, without IO: what clients link (native and
//! WebAssembly) and what the gateway serves. No runtime, no sockets, no clock: timestamps and
//! randomness are arguments.
//!
//! # Layout
//! * [`handshake`]: register and authenticate, both ends, and the replay window;
//!   [`registration_work`]: the proof of work a registration carries.
//! * [`cipher`]: the per-direction session cipher with counter nonces.
//! * [`control`]: the JSON control messages; [`frames`]: the binary frame formats.
//! * [`final_hop`]: Nym's SURB-ACK layout at the front of a delivered plaintext.
//! * [`nym`]: Nym's own protocol (version 6), which the gateway also serves, so Nym's
//!   clients can use our network.
//! # The protocol
//!
//! A client opens a websocket to the gateway and speaks JSON text frames ([`control`]) until
//! it is authenticated:
//!
//! 1. **Register** (first contact, [`handshake`]): the client sends its ed25519 identity, an
//!    ephemeral x25519 key and a timestamp, signed with the identity. The gateway answers with
//!    its own ephemeral key, signed with the gateway's identity. Both derive the long-term
//!    shared key (HKDF-SHA256 over the ephemeral Diffie–Hellman, bound to both identities)
//!    and the gateway stores it. The request carries proof of work for the identity at this
//!    gateway ([`registration_work`]); a gateway that asks for more refuses it with
//!    `work_required` naming the bits, and the client solves and registers again.
//! 2. **Authenticate** (a returning client): the client signs a fresh nonce and a timestamp;
//!    the gateway refuses it when the timestamp is outside its window or the nonce was already
//!    used, and answers with a nonce of its own, signed.
//!
//! Either way both ends then derive **session keys** from the shared key and the two nonces
//! (the ephemeral keys when registering), one per direction, and every binary frame is
//! ChaCha20-Poly1305 under its direction's key with a counter nonce ([`cipher`]): frames
//! cannot be replayed, reordered, dropped unnoticed or moved into another session. The
//! client's first sealed frame is `ready`, which confirms it holds the key: a replayed or
//! relayed handshake gets an answer but never a delivery. What binary frames carry is in
//! [`frames`]: Sphinx packets and control requests (`ready`, `received`, `bandwidth`) from
//! the client, delivered messages and acks (live or from the mailbox) from the gateway. The
//! gateway's answers and errors stay JSON text.
//!
//! Differences from Nym's gateway protocol, on purpose: per-session keys (Nym reuses the
//! shared key for every session), counter nonces that reject replays and reordering (Nym
//! draws random nonces), a signed, timestamped, nonce-checked authenticate (Nym's proves
//! possession of the shared key only), and proof of work on registration (Nym's is free), so
//! identities that fill a gateway's database cost their maker. The Sphinx packets inside are Nym's, byte for byte.

pub mod cipher;
pub mod control;
pub mod final_hop;
pub mod frames;
pub mod handshake;
pub mod nym;
pub mod registration_work;

pub use cipher::{CipherError, SessionCipher};
pub use control::{ClientControl, ErrorKind, GatewayControl};
pub use frames::{ClientFrame, DeliveryKind, FrameError, GatewayFrame};
pub use handshake::{HandshakeError, SessionKeys, SharedKey};

/// How far a register or authenticate timestamp may be from the gateway's clock.
pub const DEFAULT_AUTH_WINDOW_MS: u64 = 30_000;

/// The largest websocket message either end accepts: one extended32 packet plus framing,
/// or a control frame with a credential (a few KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
