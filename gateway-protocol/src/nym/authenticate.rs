//! `authenticateV2`: a client that registered before comes back with its stored key.
//!
//! The request names the client (its identity, which is its address), seals that identity
//! under the shared key with a fresh nonce, carries a Unix time in seconds, and is signed by
//! the identity over `protocol version (1) ‖ identity (32) ‖ sealed identity (48) ‖ nonce
//! (12) ‖ time (u64 big-endian)`. The gateway checks, cheapest first: the version, the time
//! against its window, the signature, then (with the stored key) the sealed identity, and
//! last that the time is after the last one it accepted for that client, which makes every
//! request usable once.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::shared_key::{NymSharedKey, NONCE_LEN};
use super::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};

/// The request, as Nym's client writes it (camelCase; identity and signature as arrays of
/// numbers, sealed identity and nonce in base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateV2 {
    /// The client's protocol version.
    pub protocol_version: u8,
    /// Its ed25519 identity.
    pub client_identity: Vec<u8>,
    /// The identity sealed under the shared key.
    #[serde(with = "base64_bytes")]
    pub address_ciphertext: Vec<u8>,
    /// The seal's nonce.
    #[serde(with = "base64_bytes")]
    pub nonce: Vec<u8>,
    /// Unix time, seconds.
    pub request_unix_timestamp: u64,
    /// The identity's signature.
    pub request_signature: Vec<u8>,
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Why an `authenticateV2` is refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// A version we do not speak.
    #[error("protocol version {0} is not supported (this gateway speaks 4 to 6)")]
    Version(u8),
    /// Outside the gateway's clock window.
    #[error("request time {time} s is more than {window} s from the gateway's clock")]
    Stale {
        /// The request's time.
        time: u64,
        /// The window.
        window: u64,
    },
    /// Malformed fields.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The signature does not verify.
    #[error("the request signature does not verify")]
    Signature,
    /// The sealed identity is not the identity under the stored key.
    #[error("the client does not hold the key it registered")]
    WrongKey,
    /// A time at or before the last accepted one.
    #[error("request reused: its time {time} s is not after the last accepted ({last} s)")]
    Replayed {
        /// The request's time.
        time: u64,
        /// The last accepted.
        last: u64,
    },
}

impl AuthenticateV2 {
    /// A request by `identity` holding `key` at `time_secs` (what Nym's client sends).
    pub fn new(
        identity: &SigningKey,
        key: &NymSharedKey,
        nonce: [u8; NONCE_LEN],
        time_secs: u64,
        protocol_version: u8,
    ) -> Self {
        let public = identity.verifying_key().to_bytes();
        let mut request = Self {
            protocol_version,
            client_identity: public.to_vec(),
            address_ciphertext: key.seal(&nonce, &public),
            nonce: nonce.to_vec(),
            request_unix_timestamp: time_secs,
            request_signature: Vec::new(),
        };
        request.request_signature = identity.sign(&request.signed_bytes()).to_bytes().to_vec();
        request
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![self.protocol_version];
        bytes.extend_from_slice(&self.client_identity);
        bytes.extend_from_slice(&self.address_ciphertext);
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.request_unix_timestamp.to_be_bytes());
        bytes
    }

    /// The checks that need no stored state: version, time within `window_secs` of
    /// `now_secs`, signature. The client it names, if they pass.
    pub fn check(&self, now_secs: u64, window_secs: u64) -> Result<VerifyingKey, AuthError> {
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&self.protocol_version) {
            return Err(AuthError::Version(self.protocol_version));
        }
        let time = self.request_unix_timestamp;
        if time.abs_diff(now_secs) > window_secs {
            return Err(AuthError::Stale {
                time,
                window: window_secs,
            });
        }
        let identity: [u8; 32] = self
            .client_identity
            .as_slice()
            .try_into()
            .map_err(|_| AuthError::Malformed("the identity is not 32 bytes"))?;
        let identity = VerifyingKey::from_bytes(&identity)
            .map_err(|_| AuthError::Malformed("the identity is not a key"))?;
        if self.nonce.len() != NONCE_LEN {
            return Err(AuthError::Malformed("the nonce is not 12 bytes"));
        }
        let signature = Signature::from_slice(&self.request_signature)
            .map_err(|_| AuthError::Malformed("the signature is not 64 bytes"))?;
        identity
            .verify_strict(&self.signed_bytes(), &signature)
            .map_err(|_| AuthError::Signature)?;
        Ok(identity)
    }

    /// With the client's stored key and the time of the last request accepted for it:
    /// whether it holds the key and the request is new. The time to store on success.
    pub fn check_with(&self, key: &NymSharedKey, last_time: Option<u64>) -> Result<u64, AuthError> {
        let nonce: [u8; NONCE_LEN] = self
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| AuthError::Malformed("the nonce is not 12 bytes"))?;
        let opened = key
            .open(&nonce, &self.address_ciphertext)
            .map_err(|_| AuthError::WrongKey)?;
        if opened != self.client_identity {
            return Err(AuthError::WrongKey);
        }
        let time = self.request_unix_timestamp;
        match last_time {
            Some(last) if time <= last => Err(AuthError::Replayed { time, last }),
            _ => Ok(time),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_780_000_000;

    fn identity() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn key() -> NymSharedKey {
        NymSharedKey::from_bytes([6; 32])
    }

    fn request(time: u64) -> AuthenticateV2 {
        AuthenticateV2::new(&identity(), &key(), [7; 12], time, 6)
    }

    #[test]
    fn the_wire_form_is_nyms() {
        let value = serde_json::to_value(request(NOW)).unwrap();
        let object = value.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "addressCiphertext",
                "clientIdentity",
                "nonce",
                "protocolVersion",
                "requestSignature",
                "requestUnixTimestamp"
            ]
        );
        assert_eq!(value["nonce"], json!(STANDARD.encode([7; 12])));
        assert_eq!(
            value["addressCiphertext"].as_str().unwrap().len(),
            64,
            "48 bytes"
        );
        assert_eq!(value["clientIdentity"].as_array().unwrap().len(), 32);
        assert_eq!(value["requestSignature"].as_array().unwrap().len(), 64);
        let back: AuthenticateV2 = serde_json::from_value(value).unwrap();
        assert_eq!(back, request(NOW));
    }

    #[test]
    fn a_fresh_request_with_the_right_key_passes_once() {
        let r = request(NOW);
        assert_eq!(r.check(NOW + 5, 30).unwrap(), identity().verifying_key());
        assert_eq!(r.check_with(&key(), None), Ok(NOW));
        assert_eq!(
            r.check_with(&key(), Some(NOW)),
            Err(AuthError::Replayed {
                time: NOW,
                last: NOW
            })
        );
        assert_eq!(request(NOW + 1).check_with(&key(), Some(NOW)), Ok(NOW + 1));
    }

    #[test]
    fn stale_tampered_and_foreign_requests_are_refused() {
        assert_eq!(
            request(NOW - 31).check(NOW, 30),
            Err(AuthError::Stale {
                time: NOW - 31,
                window: 30
            })
        );
        assert!(request(NOW + 31).check(NOW, 30).is_err());
        let mut old = request(NOW);
        old.protocol_version = 3;
        assert_eq!(old.check(NOW, 30), Err(AuthError::Version(3)));
        let mut moved = request(NOW);
        moved.request_unix_timestamp += 1;
        assert_eq!(moved.check(NOW, 30), Err(AuthError::Signature));
        let mut short = request(NOW);
        short.nonce.pop();
        assert!(matches!(short.check(NOW, 30), Err(AuthError::Malformed(_))));
        let other = NymSharedKey::from_bytes([8; 32]);
        assert_eq!(
            request(NOW).check_with(&other, None),
            Err(AuthError::WrongKey)
        );
        // a request signed by the client but sealing someone else's identity
        let mut swapped = AuthenticateV2::new(&identity(), &key(), [7; 12], NOW, 6);
        swapped.address_ciphertext = key().seal(&[7; 12], &[9; 32]);
        assert_eq!(swapped.check_with(&key(), None), Err(AuthError::WrongKey));
    }
}
