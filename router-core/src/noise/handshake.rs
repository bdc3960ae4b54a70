//! The three handshake messages, each side a type-state machine over `snow`:
//!
//! ```text
//! initiator                              responder
//!   Initiator::start  --- 1: e, es (48) --->  Responder::read_first
//!   AwaitingSecond    <-- 2: e, ee (48) ----  AwaitingThird
//!   read_second       --- 3: s, se, psk (64) -> read_third
//!   Session                                    Session (remote_static: check it)
//! ```
//! Each message goes behind a [`Header`]; the caller reads a header, checks it with
//! [`expect_handshake`] (so it never reads more than the pattern's bytes for that step),
//! reads the body and hands it to the next state.

use snow::{Builder, HandshakeState};

use super::header::{Header, MessageType, HEADER_LEN};
use super::transport::Transport;
use super::{psk, NoiseError, KEY_LEN, PROTOCOL, PSK_POSITION};

/// The body lengths of messages 1, 2 and 3.
pub const MESSAGE_LENS: [usize; 3] = [48, 48, 64];

/// A node's static Noise key.
#[derive(Clone)]
pub struct StaticKey {
    secret: [u8; KEY_LEN],
    public: [u8; KEY_LEN],
}

impl std::fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Drop for StaticKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl StaticKey {
    /// The key with this X25519 secret (clamped by X25519 itself).
    pub fn from_secret(secret: [u8; KEY_LEN]) -> Self {
        let mut base = [0u8; KEY_LEN];
        base[0] = 9;
        let public = crate::crypto::x25519::x25519(&secret, &base);
        Self { secret, public }
    }

    /// Its public half, as the topology publishes it.
    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// The secret, to be written to the node's key file.
    pub fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }
}

/// A finished handshake.
#[derive(Debug)]
pub struct Session {
    /// The peer's static key: for a responder, the key the initiator proved it holds, to be
    /// checked against the topology; for an initiator, the key it asked for.
    pub remote_static: [u8; KEY_LEN],
    /// The link's cipher.
    pub transport: Transport,
}

/// Checks the header of handshake message `step` (1, 2 or 3) before its body is read.
pub fn expect_handshake(header: &[u8; HEADER_LEN], step: u8) -> Result<(), NoiseError> {
    let header = Header::decode(header)?;
    if header.kind != MessageType::Handshake {
        return Err(NoiseError::UnexpectedMessage {
            got: header.kind.name(),
            expected: MessageType::Handshake.name(),
        });
    }
    let expected = MESSAGE_LENS[usize::from(step.clamp(1, 3) - 1)];
    if header.body_len != expected {
        return Err(NoiseError::HandshakeLength {
            step,
            got: header.body_len,
            expected,
        });
    }
    Ok(())
}

fn builder<'a>(params: &'a snow::params::NoiseParams, psk: &'a [u8; 32]) -> Builder<'a> {
    Builder::new(params.clone()).psk(PSK_POSITION, psk)
}

fn params() -> snow::params::NoiseParams {
    // The constant name parses: this cannot fail.
    #[allow(clippy::expect_used)]
    PROTOCOL.parse().expect("a valid Noise protocol name")
}

/// Writes the next message of `state` (with an empty payload) behind its header.
fn write(state: &mut HandshakeState, step: u8) -> Result<Vec<u8>, NoiseError> {
    let len = MESSAGE_LENS[usize::from(step - 1)];
    let mut message = vec![0u8; HEADER_LEN + len];
    message[..HEADER_LEN].copy_from_slice(&Header::encode(MessageType::Handshake, len));
    let written = state
        .write_message(&[], &mut message[HEADER_LEN..])
        .map_err(|_| NoiseError::HandshakeFailed { step })?;
    debug_assert_eq!(written, len);
    Ok(message)
}

/// Reads message `step`'s body into `state`; it must carry no payload.
fn read(state: &mut HandshakeState, step: u8, body: &[u8]) -> Result<(), NoiseError> {
    let expected = MESSAGE_LENS[usize::from(step - 1)];
    if body.len() != expected {
        return Err(NoiseError::HandshakeLength {
            step,
            got: body.len(),
            expected,
        });
    }
    let mut payload = [0u8; 64];
    match state.read_message(body, &mut payload) {
        Ok(0) => Ok(()),
        _ => Err(NoiseError::HandshakeFailed { step }),
    }
}

fn session(mut state: HandshakeState, initiator: bool) -> Result<Session, NoiseError> {
    let remote_static: [u8; KEY_LEN] = state
        .get_remote_static()
        .and_then(|k| k.try_into().ok())
        .ok_or(NoiseError::HandshakeFailed { step: 3 })?;
    // Noise's Split: the first key encrypts what the initiator sends.
    let (initiator_to_responder, responder_to_initiator) = state.dangerously_get_raw_split();
    let transport = if initiator {
        Transport::new(&initiator_to_responder, &responder_to_initiator)
    } else {
        Transport::new(&responder_to_initiator, &initiator_to_responder)
    };
    Ok(Session {
        remote_static,
        transport,
    })
}

/// An initiator that sent message 1.
pub struct AwaitingSecond {
    state: HandshakeState,
}

impl std::fmt::Debug for AwaitingSecond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwaitingSecond").finish_non_exhaustive()
    }
}

/// Starts a handshake with the node whose static key is `responder`; returns the state and
/// message 1 (header and body) to send.
pub fn initiate(
    local: &StaticKey,
    responder: &[u8; KEY_LEN],
) -> Result<(AwaitingSecond, Vec<u8>), NoiseError> {
    let params = params();
    let psk = psk(responder);
    let mut state = builder(&params, &psk)
        .local_private_key(&local.secret)
        .remote_public_key(responder)
        .build_initiator()
        .map_err(|_| NoiseError::HandshakeFailed { step: 1 })?;
    let first = write(&mut state, 1)?;
    Ok((AwaitingSecond { state }, first))
}

impl AwaitingSecond {
    /// Reads message 2's body; returns message 3 to send and the session.
    pub fn read_second(mut self, body: &[u8]) -> Result<(Vec<u8>, Session), NoiseError> {
        read(&mut self.state, 2, body)?;
        let third = write(&mut self.state, 3)?;
        Ok((third, session(self.state, true)?))
    }
}

/// A responder that answered message 1.
pub struct AwaitingThird {
    state: HandshakeState,
}

impl std::fmt::Debug for AwaitingThird {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwaitingThird").finish_non_exhaustive()
    }
}

/// Reads message 1's body at a responder with static key `local`; returns the state and
/// message 2 to send.
pub fn respond(local: &StaticKey, body: &[u8]) -> Result<(AwaitingThird, Vec<u8>), NoiseError> {
    let params = params();
    let psk = psk(&local.public);
    let mut state = builder(&params, &psk)
        .local_private_key(&local.secret)
        .build_responder()
        .map_err(|_| NoiseError::HandshakeFailed { step: 1 })?;
    read(&mut state, 1, body)?;
    let second = write(&mut state, 2)?;
    Ok((AwaitingThird { state }, second))
}

impl AwaitingThird {
    /// Reads message 3's body; returns the session, whose `remote_static` the caller checks
    /// against the topology.
    pub fn read_third(mut self, body: &[u8]) -> Result<Session, NoiseError> {
        read(&mut self.state, 3, body)?;
        session(self.state, false)
    }
}
