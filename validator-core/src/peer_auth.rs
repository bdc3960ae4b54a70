//! The envelope a validator signs a request to another validator with (the relay of
//! admitted transactions, [`crate::api::PEER_TRANSACTIONS`]): its identity key signs
//! [`PEER_AUTH_DOMAIN`] ‖ the chain's genesis hash ‖ the request path ‖ a Unix time in ms ‖
//! SHA-256 of the body, and three headers carry the key, the time and the signature.
//!
//! The receiver checks in two steps so that a stranger costs it little:
//! 1. [`PeerAuth::from_headers`] and [`PeerAuth::check_sender`], before the body is read:
//!    the headers parse, the key is another validator of the chain, the time is within
//!    [`MAX_CLOCK_SKEW_MS`] of its clock;
//! 2. [`PeerAuth::verify_body`], once the (size-capped) body is read: one ed25519
//!    verification; only then is the body decoded and its transaction verified.
//!
//! Bound to the genesis hash, a signature is worth nothing on another chain; bound to the
//! path, nothing at another endpoint; bound to the time, nothing after the window. Within the
//! window a captured request can be replayed; what it carries is a transaction the mempool
//! already holds or refuses, so a replay costs the receiver one more check, no more. Pure:
//! times are arguments.

use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::genesis::GenesisHash;
use crate::primitives::{sha256, Encoder, IdentityKey};

/// Domain separator of the signed envelope.
pub const PEER_AUTH_DOMAIN: &[u8] = b"mixnet-validator-peer-request-v1";
/// Header: the sender's identity key (base58).
pub const HEADER_KEY: &str = "x-mixnet-peer-key";
/// Header: the sender's Unix time in ms when it signed (decimal).
pub const HEADER_TIME: &str = "x-mixnet-peer-time";
/// Header: the ed25519 signature (base58).
pub const HEADER_SIGNATURE: &str = "x-mixnet-peer-signature";
/// How far a request's time may be from the receiver's clock, either way.
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// Why a peer request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerAuthError {
    /// A header is absent.
    #[error("peer request without the `{0}` header")]
    Missing(&'static str),
    /// A header does not parse.
    #[error("peer request header `{header}`: {reason}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// Why.
        reason: String,
    },
    /// The key is not another validator of this chain.
    #[error("{0} is not another validator of this chain")]
    NotAPeer(IdentityKey),
    /// The time is outside the window.
    #[error("peer request signed at {time_ms} ms, {skew_ms} ms from this validator's clock (at most {MAX_CLOCK_SKEW_MS} ms)")]
    Expired {
        /// The request's time.
        time_ms: u64,
        /// Its distance to our clock.
        skew_ms: u64,
    },
    /// The signature does not verify over this chain, path, time and body.
    #[error("peer request signature does not verify")]
    BadSignature,
}

impl PeerAuthError {
    /// A stable machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing(_) => "peer_auth_missing",
            Self::Malformed { .. } => "peer_auth_malformed",
            Self::NotAPeer(_) => "not_a_peer",
            Self::Expired { .. } => "peer_auth_expired",
            Self::BadSignature => "peer_auth_bad_signature",
        }
    }
}

/// The bytes signed for a request.
pub fn signing_bytes(genesis: &GenesisHash, path: &str, time_ms: u64, body: &[u8]) -> Vec<u8> {
    let mut enc = Encoder::new(PEER_AUTH_DOMAIN);
    enc.fixed(genesis.as_bytes())
        .str(path)
        .u64(time_ms)
        .fixed(&sha256(&[body]));
    enc.finish()
}

/// A request's envelope as carried in its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuth {
    /// The sender.
    pub key: IdentityKey,
    /// When it signed, Unix ms.
    pub time_ms: u64,
    /// Its signature over [`signing_bytes`].
    pub signature: Signature,
}

impl PeerAuth {
    /// Signs a request to `path` with `body` at `time_ms`.
    pub fn sign(
        key: &SigningKey,
        genesis: &GenesisHash,
        path: &str,
        time_ms: u64,
        body: &[u8],
    ) -> Self {
        Self {
            key: IdentityKey::from(key),
            time_ms,
            signature: key.sign(&signing_bytes(genesis, path, time_ms, body)),
        }
    }

    /// The three headers, as `(name, value)`.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_KEY, self.key.to_bs58()),
            (HEADER_TIME, self.time_ms.to_string()),
            (
                HEADER_SIGNATURE,
                bs58::encode(self.signature.to_bytes()).into_string(),
            ),
        ]
    }

    /// Parses the headers' values (`None`: the header is absent).
    pub fn from_headers(
        key: Option<&str>,
        time_ms: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Self, PeerAuthError> {
        let key = key.ok_or(PeerAuthError::Missing(HEADER_KEY))?;
        let time_ms = time_ms.ok_or(PeerAuthError::Missing(HEADER_TIME))?;
        let signature = signature.ok_or(PeerAuthError::Missing(HEADER_SIGNATURE))?;
        let malformed = |header, reason: String| PeerAuthError::Malformed { header, reason };
        let key = key
            .parse::<IdentityKey>()
            .map_err(|e| malformed(HEADER_KEY, e.to_string()))?;
        let time_ms = time_ms
            .parse::<u64>()
            .map_err(|e| malformed(HEADER_TIME, e.to_string()))?;
        // A base58 signature is at most 88 characters; longer text is not decoded.
        let mut bytes = [0u8; 64];
        let decoded = if signature.len() <= 2 * 64 {
            bs58::decode(signature).onto(&mut bytes[..]).ok()
        } else {
            None
        };
        if decoded != Some(64) {
            return Err(malformed(
                HEADER_SIGNATURE,
                "not 64 bytes in base58".to_owned(),
            ));
        }
        Ok(Self {
            key,
            time_ms,
            signature: Signature::from_bytes(&bytes),
        })
    }

    /// The checks before the body is read: the sender is a validator of the chain other
    /// than `me` (`is_validator`), and the time is within [`MAX_CLOCK_SKEW_MS`] of `now_ms`.
    pub fn check_sender(
        &self,
        is_validator: impl Fn(&IdentityKey) -> bool,
        me: &IdentityKey,
        now_ms: u64,
    ) -> Result<(), PeerAuthError> {
        if self.key == *me || !is_validator(&self.key) {
            return Err(PeerAuthError::NotAPeer(self.key));
        }
        let skew_ms = self.time_ms.abs_diff(now_ms);
        if skew_ms > MAX_CLOCK_SKEW_MS {
            return Err(PeerAuthError::Expired {
                time_ms: self.time_ms,
                skew_ms,
            });
        }
        Ok(())
    }

    /// The signature verifies over this chain, `path`, the time and `body`.
    pub fn verify_body(
        &self,
        genesis: &GenesisHash,
        path: &str,
        body: &[u8],
    ) -> Result<(), PeerAuthError> {
        let message = signing_bytes(genesis, path, self.time_ms, body);
        if self.key.verify(&message, &self.signature) {
            Ok(())
        } else {
            Err(PeerAuthError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PATH: &str = "/v1/peer/transactions";
    const NOW: u64 = 1_700_000_000_000;

    fn key(tag: u8) -> SigningKey {
        SigningKey::from_bytes(&[tag; 32])
    }

    fn genesis(tag: u8) -> GenesisHash {
        GenesisHash([tag; 32])
    }

    /// The sender is validator 1, the receiver validator 2; validator 3 exists too.
    fn is_validator(k: &IdentityKey) -> bool {
        [1, 2, 3].iter().any(|t| IdentityKey::from(&key(*t)) == *k)
    }

    fn me() -> IdentityKey {
        IdentityKey::from(&key(2))
    }

    /// Parsed back from its headers, as the receiver sees it.
    fn received(auth: &PeerAuth) -> Result<PeerAuth, PeerAuthError> {
        let [k, t, s] = auth.headers();
        PeerAuth::from_headers(Some(&k.1), Some(&t.1), Some(&s.1))
    }

    fn accept(auth: &PeerAuth, body: &[u8]) -> Result<(), PeerAuthError> {
        auth.check_sender(is_validator, &me(), NOW)?;
        auth.verify_body(&genesis(7), PATH, body)
    }

    #[test]
    fn a_signed_request_from_another_validator_is_accepted_within_the_window() {
        for time in [NOW, NOW - MAX_CLOCK_SKEW_MS, NOW + MAX_CLOCK_SKEW_MS] {
            let auth = PeerAuth::sign(&key(1), &genesis(7), PATH, time, b"{\"tx\":1}");
            let auth = received(&auth).unwrap();
            assert_eq!(accept(&auth, b"{\"tx\":1}"), Ok(()));
        }
    }

    #[test]
    fn a_missing_header_is_named() {
        let auth = PeerAuth::sign(&key(1), &genesis(7), PATH, NOW, b"x");
        let [k, t, s] = auth.headers();
        let cases = [
            (None, Some(&t.1), Some(&s.1), HEADER_KEY),
            (Some(&k.1), None, Some(&s.1), HEADER_TIME),
            (Some(&k.1), Some(&t.1), None, HEADER_SIGNATURE),
        ];
        for (k, t, s, name) in cases {
            let e = PeerAuth::from_headers(
                k.map(|v| v.as_str()),
                t.map(|v| v.as_str()),
                s.map(|v| v.as_str()),
            )
            .unwrap_err();
            assert_eq!(e, PeerAuthError::Missing(name));
            assert_eq!(e.kind(), "peer_auth_missing");
        }
    }

    #[test]
    fn malformed_headers_are_refused_by_name() {
        let auth = PeerAuth::sign(&key(1), &genesis(7), PATH, NOW, b"x");
        let [k, t, s] = auth.headers();
        let long = "1".repeat(10_000);
        let cases = [
            ("not-a-key", t.1.as_str(), s.1.as_str(), HEADER_KEY),
            (k.1.as_str(), "-5", s.1.as_str(), HEADER_TIME),
            (k.1.as_str(), "12x", s.1.as_str(), HEADER_TIME),
            (k.1.as_str(), t.1.as_str(), "abc", HEADER_SIGNATURE),
            (k.1.as_str(), t.1.as_str(), long.as_str(), HEADER_SIGNATURE),
        ];
        for (k, t, s, name) in cases {
            match PeerAuth::from_headers(Some(k), Some(t), Some(s)) {
                Err(e @ PeerAuthError::Malformed { header, .. }) => {
                    assert_eq!(header, name);
                    assert_eq!(e.kind(), "peer_auth_malformed");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_key_outside_the_validator_set_or_our_own_is_not_a_peer() {
        let stranger = PeerAuth::sign(&key(9), &genesis(7), PATH, NOW, b"x");
        let e = accept(&stranger, b"x").unwrap_err();
        assert_eq!(e, PeerAuthError::NotAPeer(IdentityKey::from(&key(9))));
        assert_eq!(e.kind(), "not_a_peer");
        let ourselves = PeerAuth::sign(&key(2), &genesis(7), PATH, NOW, b"x");
        assert_eq!(
            accept(&ourselves, b"x").unwrap_err(),
            PeerAuthError::NotAPeer(me())
        );
    }

    #[test]
    fn a_time_outside_the_window_is_expired_either_way() {
        for time in [NOW - MAX_CLOCK_SKEW_MS - 1, NOW + MAX_CLOCK_SKEW_MS + 1, 0] {
            let auth = PeerAuth::sign(&key(1), &genesis(7), PATH, time, b"x");
            let e = accept(&auth, b"x").unwrap_err();
            assert!(matches!(e, PeerAuthError::Expired { .. }), "{e:?}");
            assert_eq!(e.kind(), "peer_auth_expired");
        }
    }

    #[test]
    fn the_signature_binds_body_chain_path_time_and_key() {
        let auth = PeerAuth::sign(&key(1), &genesis(7), PATH, NOW, b"body");
        let bad = Err(PeerAuthError::BadSignature);
        assert_eq!(auth.verify_body(&genesis(7), PATH, b"body"), Ok(()));
        assert_eq!(auth.verify_body(&genesis(7), PATH, b"bodY"), bad);
        assert_eq!(auth.verify_body(&genesis(8), PATH, b"body"), bad);
        assert_eq!(
            auth.verify_body(&genesis(7), "/v1/statements", b"body"),
            bad
        );
        let mut later = auth.clone();
        later.time_ms += 1;
        assert_eq!(later.verify_body(&genesis(7), PATH, b"body"), bad);
        // Another validator's key on this signature: it passes the sender check, not this.
        let mut claimed = auth.clone();
        claimed.key = IdentityKey::from(&key(3));
        assert_eq!(claimed.check_sender(is_validator, &me(), NOW), Ok(()));
        let e = claimed.verify_body(&genesis(7), PATH, b"body").unwrap_err();
        assert_eq!(e.kind(), "peer_auth_bad_signature");
    }
}
