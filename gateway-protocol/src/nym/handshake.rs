//! Nym's registration handshake, both ends. Each message travels as the `data` of a
//! `handshakePayload` text frame:
//!
//! 1. client → gateway, 80 bytes: client identity (ed25519, 32) ‖ client ephemeral x25519
//!    key `X` (32) ‖ salt (16).
//! 2. gateway → client, 124 bytes: gateway ephemeral key `Y` (32) ‖ the gateway's signature
//!    over `Y ‖ X`, sealed (64 + 16) ‖ nonce (12). Both ends now hold the shared key:
//!    [`NymSharedKey::derive`] of `DH(X, Y)` with the salt. The client checks the signature
//!    against the gateway identity it found in the directory: this is how the gateway proves
//!    who it is.
//! 3. client → gateway, 92 bytes: the client's signature over `X ‖ Y`, sealed (64 + 16) ‖
//!    nonce (12): the client holds its identity key and the shared key.
//! 4. gateway → client, 1 byte: `1`.
//!
//! Randomness (ephemeral secrets, salt, nonces) comes in as arguments.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use x25519_dalek::{PublicKey, StaticSecret};

use super::shared_key::{NymSharedKey, NONCE_LEN, SALT_LEN, TAG_LEN};

/// Message 1's length.
pub const INIT_LEN: usize = 32 + 32 + SALT_LEN;
/// Message 2's length.
pub const GATEWAY_MATERIAL_LEN: usize = 32 + SEALED_SIGNATURE_LEN + NONCE_LEN;
/// Message 3's length.
pub const CLIENT_MATERIAL_LEN: usize = SEALED_SIGNATURE_LEN + NONCE_LEN;
/// Message 4.
pub const FINALIZATION: [u8; 1] = [1];

const SEALED_SIGNATURE_LEN: usize = 64 + TAG_LEN;

/// Why a handshake message is refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum NymHandshakeError {
    /// Not the length its place in the handshake requires.
    #[error("handshake message {message} must be {expected} bytes, not {got}")]
    Length {
        /// Which message (1 to 4).
        message: u8,
        /// Its length.
        expected: usize,
        /// What came.
        got: usize,
    },
    /// The identity is not an ed25519 public key.
    #[error("the client identity is not an ed25519 public key")]
    Identity,
    /// An ephemeral key of low order (no shared secret).
    #[error("the ephemeral key is of low order")]
    LowOrderKey,
    /// The sealed signature does not open under the derived key.
    #[error("the sealed signature does not open under the derived key")]
    Sealed,
    /// The signature does not verify.
    #[error("the handshake signature does not verify")]
    Signature,
    /// The gateway's last message is not success.
    #[error("the gateway did not finish the handshake")]
    NotFinished,
}

fn length(message: u8, expected: usize, got: &[u8]) -> Result<(), NymHandshakeError> {
    if got.len() == expected {
        Ok(())
    } else {
        Err(NymHandshakeError::Length {
            message,
            expected,
            got: got.len(),
        })
    }
}

/// The key both ends derive, refusing a low-order peer key.
fn shared(
    own: &StaticSecret,
    remote: &[u8; 32],
    salt: &[u8; SALT_LEN],
) -> Result<NymSharedKey, NymHandshakeError> {
    let dh = own.diffie_hellman(&PublicKey::from(*remote));
    if !dh.was_contributory() {
        return Err(NymHandshakeError::LowOrderKey);
    }
    Ok(NymSharedKey::derive(dh.as_bytes(), salt))
}

fn concat(a: &[u8; 32], b: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(a);
    out[32..].copy_from_slice(b);
    out
}

/// A sealed signature ‖ nonce, opened and checked: `signer` signed `signed`.
fn open_signature(
    key: &NymSharedKey,
    sealed_then_nonce: &[u8],
    signer: &VerifyingKey,
    signed: &[u8; 64],
) -> Result<(), NymHandshakeError> {
    let (sealed, nonce) = sealed_then_nonce.split_at(SEALED_SIGNATURE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| NymHandshakeError::Sealed)?;
    let signature = key
        .open(&nonce, sealed)
        .map_err(|_| NymHandshakeError::Sealed)?;
    let signature = Signature::from_slice(&signature).map_err(|_| NymHandshakeError::Signature)?;
    signer
        .verify_strict(signed, &signature)
        .map_err(|_| NymHandshakeError::Signature)
}

fn seal_signature(
    key: &NymSharedKey,
    signer: &SigningKey,
    signed: &[u8; 64],
    nonce: [u8; 12],
) -> Vec<u8> {
    let mut out = key.seal(&nonce, &signer.sign(signed).to_bytes());
    out.extend_from_slice(&nonce);
    out
}

/// Message 1, parsed by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// Who registers: its address at this gateway.
    pub identity: VerifyingKey,
    ephemeral: [u8; 32],
    salt: [u8; SALT_LEN],
}

impl Init {
    /// Parses message 1.
    pub fn parse(data: &[u8]) -> Result<Self, NymHandshakeError> {
        length(1, INIT_LEN, data)?;
        let identity = VerifyingKey::from_bytes(data[..32].try_into().expect("32 bytes"))
            .map_err(|_| NymHandshakeError::Identity)?;
        Ok(Self {
            identity,
            ephemeral: data[32..64].try_into().expect("32 bytes"),
            salt: data[64..].try_into().expect("16 bytes"),
        })
    }
}

/// The gateway between messages 2 and 3.
#[derive(Debug)]
pub struct GatewayRegistration {
    key: NymSharedKey,
    client: VerifyingKey,
    client_ephemeral: [u8; 32],
    gateway_ephemeral: [u8; 32],
}

impl GatewayRegistration {
    /// Answers message 1: the state to finish with message 3, and message 2.
    pub fn respond(
        identity: &SigningKey,
        init: &Init,
        ephemeral_secret: [u8; 32],
        nonce: [u8; NONCE_LEN],
    ) -> Result<(Self, Vec<u8>), NymHandshakeError> {
        let secret = StaticSecret::from(ephemeral_secret);
        let gateway_ephemeral = PublicKey::from(&secret).to_bytes();
        let key = shared(&secret, &init.ephemeral, &init.salt)?;
        let signed = concat(&gateway_ephemeral, &init.ephemeral);
        let mut message = gateway_ephemeral.to_vec();
        message.extend(seal_signature(&key, identity, &signed, nonce));
        Ok((
            Self {
                key,
                client: init.identity,
                client_ephemeral: init.ephemeral,
                gateway_ephemeral,
            },
            message,
        ))
    }

    /// Checks message 3: the client and its key, to store; answer with [`FINALIZATION`].
    pub fn finish(self, data: &[u8]) -> Result<(VerifyingKey, NymSharedKey), NymHandshakeError> {
        length(3, CLIENT_MATERIAL_LEN, data)?;
        let signed = concat(&self.client_ephemeral, &self.gateway_ephemeral);
        open_signature(&self.key, data, &self.client, &signed)?;
        Ok((self.client, self.key.clone()))
    }
}

/// A client between messages 1 and 2 (what Nym's client does; for tests and tools).
pub struct ClientRegistration {
    identity: SigningKey,
    secret: StaticSecret,
    ephemeral: [u8; 32],
    salt: [u8; SALT_LEN],
}

impl ClientRegistration {
    /// Message 1.
    pub fn start(
        identity: &SigningKey,
        ephemeral_secret: [u8; 32],
        salt: [u8; SALT_LEN],
    ) -> (Self, Vec<u8>) {
        let secret = StaticSecret::from(ephemeral_secret);
        let ephemeral = PublicKey::from(&secret).to_bytes();
        let mut message = identity.verifying_key().to_bytes().to_vec();
        message.extend_from_slice(&ephemeral);
        message.extend_from_slice(&salt);
        (
            Self {
                identity: identity.clone(),
                secret,
                ephemeral,
                salt,
            },
            message,
        )
    }

    /// Checks message 2 against `gateway`'s identity: the shared key and message 3.
    pub fn on_material(
        self,
        gateway: &VerifyingKey,
        data: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<(NymSharedKey, Vec<u8>), NymHandshakeError> {
        length(2, GATEWAY_MATERIAL_LEN, data)?;
        let gateway_ephemeral: [u8; 32] = data[..32].try_into().expect("32 bytes");
        let key = shared(&self.secret, &gateway_ephemeral, &self.salt)?;
        open_signature(
            &key,
            &data[32..],
            gateway,
            &concat(&gateway_ephemeral, &self.ephemeral),
        )?;
        let signed = concat(&self.ephemeral, &gateway_ephemeral);
        let message = seal_signature(&key, &self.identity, &signed, nonce);
        Ok((key, message))
    }
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("identity", &self.identity.verifying_key())
            .finish_non_exhaustive()
    }
}

/// Checks message 4.
pub fn check_finalization(data: &[u8]) -> Result<(), NymHandshakeError> {
    length(4, FINALIZATION.len(), data)?;
    if data == FINALIZATION {
        Ok(())
    } else {
        Err(NymHandshakeError::NotFinished)
    }
}

#[cfg(test)]
mod tests;
