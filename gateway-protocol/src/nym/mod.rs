//! Nym's own client–gateway protocol (version 6), the gateway's end and a client end for
//! tests, without IO: what lets Nym's clients (`nym-sdk`, `nym-client`,
//! `nym-socks5-client`) register at our gateways, send through our mixnet and receive.
//! The gateway serves it beside ours and tells them apart by a connection's first text frame
//! ([`messages::is_nym_request`]).
//!
//! * [`messages`]: the JSON text frames, both ways.
//! * [`shared_key`]: the AES-256-GCM-SIV key a registration derives, and its HKDF.
//! * [`handshake`]: registration (four messages), both ends.
//! * [`authenticate`]: `authenticateV2`, a returning client with its stored key.
//! * [`frames`]: the binary frames: forwarded Sphinx packets in, delivered messages out.
//!
//! # Facts this follows, checked against Nym's source (nym-gateway-requests and
//! nym-gateway-client 1.22, the versions nym-sdk 1.21 uses)
//! * **Negotiation**: the client first asks `supportedProtocol`, and again right after it
//!   registered (so it is answered in every state); we say [`PROTOCOL_VERSION`] (6). A client
//!   refuses a gateway below 4, and sends what the gateway's handshake messages and
//!   `authenticate` answer name as `protocol_version` (a missing field reads as 0, which
//!   would make it send the older packet frame), so every answer names it.
//! * **JSON**: tagged by `"type"` in camelCase; fields of most messages stay snake_case;
//!   `authenticateV2`'s are camelCase. Byte strings are arrays of numbers, except
//!   `authenticateV2`'s `addressCiphertext` and `nonce` (standard base64, padded).
//! * **Registration**: `handshakePayload` messages carrying 80, 124, 92 and 1 bytes (see
//!   [`handshake`]), then `register` with `status: true`; only then binary frames (the client
//!   has no key before it reads `register`).
//! * **Keys**: X25519 between ephemeral keys, HKDF over HMAC-BLAKE3 with the client's 16-byte
//!   salt and empty info, 32 bytes: an AES-256-GCM-SIV key. Every encryption draws a random
//!   12-byte nonce; the tag follows the ciphertext; no associated data.
//! * **Binary frames**: `kind ‖ encrypted flag (1) ‖ nonce (12) ‖ ciphertext`. In: kind 2
//!   (kind 1 from version 4 clients: the same without the rotation byte), a packet type (0: Sphinx), the key-rotation byte (0 unknown, 1 odd, 2 even), the first
//!   hop as a 7- or 19-byte node address (no padding) and the Sphinx packet, exactly one of
//!   the five packet sizes. Out: kind 1, one frame per delivered message.
//! * **Deliveries**: a message is the plaintext after its 405-byte SURB-ACK (its ack goes
//!   back into the mixnet with the incoming packet's rotation byte); an ack packet's whole
//!   21-byte plaintext is delivered. The client tells them apart by length alone (21 is an
//!   ack; a regular packet's message is 1,643 bytes).
//! * **Bandwidth**: Nym's clients run without credentials by default and ask for
//!   `claimFreeTestnetBandwidth` whenever the gateway reports under
//!   [`CLIENT_CLAIM_THRESHOLD`] bytes. Nym's credentials today are offline e-cash, which our
//!   gateways do not take, so Nym clients can only use a gateway that grants free bandwidth
//!   (a gateway setting, off by default). They never count down locally; the gateway's
//!   `send` answer after a packet reports what is left.
//! * **Errors**: before authentication an `error` frame fails the client's pending request
//!   and the connection ends (during the handshake it is `handshakeError`). After it, an
//!   `error` frame or a frame the client cannot open stops its receiving for good, so the
//!   gateway then drops a bad packet with a log line, and answers only what the client
//!   understands (`typedError` `out_of_bandwidth` keeps it running).
//! * **Replays**: `authenticateV2` is refused unless its timestamp (seconds) is after the last
//!   one accepted for that client.
//!
//! Where we differ from Nym's gateway, on purpose: stored messages are sent only after
//! `register`/`authenticate` (Nym pushes them before `register`, which its own client cannot
//! read); a duplicate connection for one client replaces the older one; packets are checked
//! against the entry policy (a first hop of the topology's layer 1).

pub mod authenticate;
pub mod frames;
pub mod handshake;
pub mod messages;
pub mod shared_key;

pub use messages::{NymRequest, NymResponse};
pub use shared_key::NymSharedKey;

/// The protocol version we speak (Nym's current).
pub const PROTOCOL_VERSION: u8 = 6;

/// The oldest client version we take (Nym's clients refuse gateways below it too): 4
/// introduced `authenticateV2`; 5 added the key-rotation byte to forwarded packets (a
/// version 4 client's packets are forwarded with an unknown rotation).
pub const MIN_PROTOCOL_VERSION: u8 = 4;

/// A Nym client asks for more free bandwidth when the gateway reports less than this
/// (bytes); reporting at least this much keeps it from asking before every packet.
pub const CLIENT_CLAIM_THRESHOLD: i64 = 40_000_000;
