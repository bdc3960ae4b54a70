//! Registration and authentication, both ends, as pure functions.
//!
//! Everything random (ephemeral secrets, nonces) and the clock are arguments; the gateway's
//! replay memory is [`ReplayWindow`]. Signed byte strings start with a domain string naming
//! the message, so no signature can be moved from one message kind to another, and they bind
//! the gateway's identity, so a request meant for one gateway is useless at another.
//!
//! Keys:
//! * shared key = HKDF-SHA256(salt = client ephemeral ‖ gateway ephemeral,
//!   ikm = X25519(ephemerals), info = `SHARED_KEY_INFO` ‖ client identity ‖ gateway identity);
//! * session keys = HKDF-SHA256(salt = client nonce ‖ gateway nonce, ikm = shared key,
//!   info = `SESSION_INFO`), 64 bytes: client→gateway key, then gateway→client key. On
//!   registration the nonces are the two ephemeral public keys.

use std::collections::{BTreeMap, HashMap, HashSet};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::control::{ClientControl, ErrorKind, GatewayControl};

const REGISTER_DOMAIN: &[u8] = b"mixnet/gateway/register/v1";
const REGISTERED_DOMAIN: &[u8] = b"mixnet/gateway/registered/v1";
const AUTHENTICATE_DOMAIN: &[u8] = b"mixnet/gateway/authenticate/v1";
const AUTHENTICATED_DOMAIN: &[u8] = b"mixnet/gateway/authenticated/v1";
const SHARED_KEY_INFO: &[u8] = b"mixnet/gateway/shared-key/v1";
const SESSION_INFO: &[u8] = b"mixnet/gateway/session/v1";

/// A handshake step that failed; [`HandshakeError::kind`] is what the gateway reports.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// A field is not valid bs58 or has the wrong length.
    #[error("field `{field}`: {reason}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A signature does not verify.
    #[error("the {0} signature does not verify")]
    BadSignature(&'static str),
    /// The timestamp is too far from the verifier's clock.
    #[error(
        "timestamp {timestamp_ms} is {skew_ms} ms from the gateway's clock (window {window_ms} ms)"
    )]
    Stale {
        /// The request's timestamp.
        timestamp_ms: u64,
        /// How far off.
        skew_ms: u64,
        /// The allowed distance.
        window_ms: u64,
    },
    /// Seen before within the window.
    #[error("this request was already used")]
    Replayed,
    /// The replay memory is full of live entries.
    #[error("too many handshakes in flight; retry shortly")]
    Busy,
    /// The other side answered with something else.
    #[error("unexpected answer: {0}")]
    UnexpectedAnswer(String),
    /// An x25519 key that gives the all-zero shared secret.
    #[error("the ephemeral key is a low-order point")]
    WeakKey,
    /// A registration without enough proof of work.
    #[error("a registration here needs proof of work of {0} bits")]
    WorkRequired(u8),
}

impl HandshakeError {
    /// The protocol error kind to report.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HandshakeError::Malformed { .. } | HandshakeError::WeakKey => ErrorKind::BadRequest,
            HandshakeError::BadSignature(_) => ErrorKind::BadSignature,
            HandshakeError::Stale { .. } => ErrorKind::Stale,
            HandshakeError::Replayed => ErrorKind::Replayed,
            HandshakeError::Busy => ErrorKind::Busy,
            HandshakeError::UnexpectedAnswer(_) => ErrorKind::BadRequest,
            HandshakeError::WorkRequired(_) => ErrorKind::WorkRequired,
        }
    }
}

/// The long-term key a registered client shares with its gateway.
#[derive(Clone)]
pub struct SharedKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedKey(..)")
    }
}

impl SharedKey {
    /// Wraps stored bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SharedKey(Zeroizing::new(bytes))
    }

    /// The bytes, to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// One session's two keys.
pub struct SessionKeys {
    c2g: Zeroizing<[u8; 32]>,
    g2c: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

impl SessionKeys {
    /// Key of frames from the client.
    pub fn client_to_gateway(&self) -> &[u8; 32] {
        &self.c2g
    }

    /// Key of frames from the gateway.
    pub fn gateway_to_client(&self) -> &[u8; 32] {
        &self.g2c
    }
}

/// Derives a session's keys from the shared key and both ends' nonces.
pub fn derive_session_keys(
    shared: &SharedKey,
    client_nonce: &[u8; 32],
    gateway_nonce: &[u8; 32],
) -> SessionKeys {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(client_nonce);
    salt[32..].copy_from_slice(gateway_nonce);
    let mut okm = Zeroizing::new([0u8; 64]);
    Hkdf::<Sha256>::new(Some(&salt), shared.as_bytes())
        .expand(SESSION_INFO, okm.as_mut())
        .expect("64 bytes is within HKDF-SHA256's 8160-byte output limit");
    let mut c2g = Zeroizing::new([0u8; 32]);
    let mut g2c = Zeroizing::new([0u8; 32]);
    c2g.copy_from_slice(&okm[..32]);
    g2c.copy_from_slice(&okm[32..]);
    SessionKeys { c2g, g2c }
}

fn derive_shared_key(
    dh: &[u8; 32],
    client_ephemeral: &[u8; 32],
    gateway_ephemeral: &[u8; 32],
    client: &[u8; 32],
    gateway: &[u8; 32],
) -> SharedKey {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(client_ephemeral);
    salt[32..].copy_from_slice(gateway_ephemeral);
    let mut info = Vec::with_capacity(SHARED_KEY_INFO.len() + 64);
    info.extend_from_slice(SHARED_KEY_INFO);
    info.extend_from_slice(client);
    info.extend_from_slice(gateway);
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), dh)
        .expand(&info, okm.as_mut())
        .expect("32 bytes is within HKDF-SHA256's output limit");
    SharedKey(okm)
}

fn signing_bytes(domain: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + parts.iter().map(|p| p.len()).sum::<usize>());
    out.extend_from_slice(domain);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// What a client signs to register.
pub fn register_signing_bytes(
    gateway: &[u8; 32],
    client: &[u8; 32],
    client_ephemeral: &[u8; 32],
    timestamp_ms: u64,
) -> Vec<u8> {
    signing_bytes(
        REGISTER_DOMAIN,
        &[
            gateway,
            client,
            client_ephemeral,
            &timestamp_ms.to_be_bytes(),
        ],
    )
}

/// What a gateway signs to accept a registration.
pub fn registered_signing_bytes(
    gateway: &[u8; 32],
    client: &[u8; 32],
    client_ephemeral: &[u8; 32],
    gateway_ephemeral: &[u8; 32],
) -> Vec<u8> {
    signing_bytes(
        REGISTERED_DOMAIN,
        &[gateway, client, client_ephemeral, gateway_ephemeral],
    )
}

/// What a client signs to authenticate.
pub fn authenticate_signing_bytes(
    gateway: &[u8; 32],
    client: &[u8; 32],
    timestamp_ms: u64,
    nonce: &[u8; 32],
) -> Vec<u8> {
    signing_bytes(
        AUTHENTICATE_DOMAIN,
        &[gateway, client, &timestamp_ms.to_be_bytes(), nonce],
    )
}

/// What a gateway signs to accept an authentication.
pub fn authenticated_signing_bytes(
    gateway: &[u8; 32],
    client: &[u8; 32],
    client_nonce: &[u8; 32],
    gateway_nonce: &[u8; 32],
) -> Vec<u8> {
    signing_bytes(
        AUTHENTICATED_DOMAIN,
        &[gateway, client, client_nonce, gateway_nonce],
    )
}

/// Decodes a bs58 field of exactly `N` bytes.
pub fn decode_fixed<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], HandshakeError> {
    let bytes = bs58::decode(text)
        .into_vec()
        .map_err(|e| HandshakeError::Malformed {
            field,
            reason: e.to_string(),
        })?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| HandshakeError::Malformed {
        field,
        reason: format!("{} bytes, expected {N}", bytes.len()),
    })
}

fn encode(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

fn verifying_key(field: &'static str, text: &str) -> Result<VerifyingKey, HandshakeError> {
    let bytes = decode_fixed::<32>(field, text)?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| HandshakeError::Malformed {
        field,
        reason: e.to_string(),
    })
}

fn verify(
    key: &VerifyingKey,
    message: &[u8],
    signature: &str,
    who: &'static str,
) -> Result<(), HandshakeError> {
    let signature = Signature::from_bytes(&decode_fixed::<64>("signature", signature)?);
    // Strict: refuses small-order keys and non-canonical signatures, with which anyone could
    // "sign" for an identity nobody holds the key of.
    key.verify_strict(message, &signature)
        .map_err(|_| HandshakeError::BadSignature(who))
}

fn check_fresh(timestamp_ms: u64, now_ms: u64, window_ms: u64) -> Result<(), HandshakeError> {
    let skew_ms = timestamp_ms.abs_diff(now_ms);
    if skew_ms > window_ms {
        return Err(HandshakeError::Stale {
            timestamp_ms,
            skew_ms,
            window_ms,
        });
    }
    Ok(())
}

fn diffie_hellman(secret: &StaticSecret, public: &[u8; 32]) -> Result<[u8; 32], HandshakeError> {
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(HandshakeError::WeakKey);
    }
    Ok(*shared.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Client side

/// A registration the client has sent and waits to complete.
pub struct PendingRegistration {
    client: [u8; 32],
    gateway: VerifyingKey,
    ephemeral: StaticSecret,
    ephemeral_public: [u8; 32],
}

impl std::fmt::Debug for PendingRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRegistration")
            .finish_non_exhaustive()
    }
}

/// Starts a registration: the request to send and the state to finish it with. `work` is
/// the proof of work ([`registration_work`](crate::registration_work)) if the client knows
/// the gateway asks for it.
pub fn start_registration(
    identity: &SigningKey,
    gateway: &VerifyingKey,
    ephemeral_secret: [u8; 32],
    now_ms: u64,
    work: Option<u64>,
) -> (PendingRegistration, ClientControl) {
    let client = identity.verifying_key().to_bytes();
    let ephemeral = StaticSecret::from(ephemeral_secret);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let signature = identity.sign(&register_signing_bytes(
        gateway.as_bytes(),
        &client,
        &ephemeral_public,
        now_ms,
    ));
    let request = ClientControl::Register {
        identity: encode(&client),
        ephemeral: encode(&ephemeral_public),
        timestamp_ms: now_ms,
        signature: encode(&signature.to_bytes()),
        work,
    };
    (
        PendingRegistration {
            client,
            gateway: *gateway,
            ephemeral,
            ephemeral_public,
        },
        request,
    )
}

impl PendingRegistration {
    /// Checks the gateway's answer and derives the shared key and the first session's keys.
    pub fn finish(
        self,
        answer: &GatewayControl,
    ) -> Result<(SharedKey, SessionKeys), HandshakeError> {
        let GatewayControl::Registered {
            ephemeral,
            signature,
            ..
        } = answer
        else {
            return Err(HandshakeError::UnexpectedAnswer(format!("{answer:?}")));
        };
        let gateway_ephemeral = decode_fixed::<32>("ephemeral", ephemeral)?;
        verify(
            &self.gateway,
            &registered_signing_bytes(
                self.gateway.as_bytes(),
                &self.client,
                &self.ephemeral_public,
                &gateway_ephemeral,
            ),
            signature,
            "gateway",
        )?;
        let dh = Zeroizing::new(diffie_hellman(&self.ephemeral, &gateway_ephemeral)?);
        let shared = derive_shared_key(
            &dh,
            &self.ephemeral_public,
            &gateway_ephemeral,
            &self.client,
            self.gateway.as_bytes(),
        );
        let session = derive_session_keys(&shared, &self.ephemeral_public, &gateway_ephemeral);
        Ok((shared, session))
    }
}

/// An authentication the client has sent and waits to complete.
#[derive(Debug)]
pub struct PendingAuthentication {
    client: [u8; 32],
    gateway: VerifyingKey,
    nonce: [u8; 32],
}

/// Starts an authentication with a fresh random `nonce`.
pub fn start_authentication(
    identity: &SigningKey,
    gateway: &VerifyingKey,
    nonce: [u8; 32],
    now_ms: u64,
) -> (PendingAuthentication, ClientControl) {
    let client = identity.verifying_key().to_bytes();
    let signature = identity.sign(&authenticate_signing_bytes(
        gateway.as_bytes(),
        &client,
        now_ms,
        &nonce,
    ));
    let request = ClientControl::Authenticate {
        identity: encode(&client),
        timestamp_ms: now_ms,
        nonce: encode(&nonce),
        signature: encode(&signature.to_bytes()),
    };
    (
        PendingAuthentication {
            client,
            gateway: *gateway,
            nonce,
        },
        request,
    )
}

impl PendingAuthentication {
    /// Checks the gateway's answer and derives the session's keys.
    pub fn finish(
        self,
        shared: &SharedKey,
        answer: &GatewayControl,
    ) -> Result<SessionKeys, HandshakeError> {
        let GatewayControl::Authenticated {
            nonce, signature, ..
        } = answer
        else {
            return Err(HandshakeError::UnexpectedAnswer(format!("{answer:?}")));
        };
        let gateway_nonce = decode_fixed::<32>("nonce", nonce)?;
        verify(
            &self.gateway,
            &authenticated_signing_bytes(
                self.gateway.as_bytes(),
                &self.client,
                &self.nonce,
                &gateway_nonce,
            ),
            signature,
            "gateway",
        )?;
        Ok(derive_session_keys(shared, &self.nonce, &gateway_nonce))
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway side

/// Checks a registration's proof of work for `bits` (one hash, before the signature is
/// verified): the identity must be well-formed and `work` enough for it at `gateway`.
pub fn check_registration_work(
    gateway: &[u8; 32],
    identity: &str,
    work: Option<u64>,
    bits: u8,
) -> Result<(), HandshakeError> {
    if bits == 0 {
        return Ok(());
    }
    let client = decode_fixed::<32>("identity", identity)?;
    match work {
        Some(nonce) if crate::registration_work::is_enough(gateway, &client, nonce, bits) => Ok(()),
        _ => Err(HandshakeError::WorkRequired(bits)),
    }
}

/// A verified registration request, before the gateway answers it.
#[derive(Debug)]
pub struct RegisterRequest {
    /// The client's identity.
    pub client: [u8; 32],
    ephemeral: [u8; 32],
    timestamp_ms: u64,
}

impl RegisterRequest {
    /// Parses and verifies the request: well-formed, signed by the identity it names for this
    /// gateway, fresh. The caller then checks [`RegisterRequest::replay_token`].
    pub fn verify(
        gateway: &[u8; 32],
        identity: &str,
        ephemeral: &str,
        timestamp_ms: u64,
        signature: &str,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Self, HandshakeError> {
        let key = verifying_key("identity", identity)?;
        let client = key.to_bytes();
        let ephemeral = decode_fixed::<32>("ephemeral", ephemeral)?;
        verify(
            &key,
            &register_signing_bytes(gateway, &client, &ephemeral, timestamp_ms),
            signature,
            "client",
        )?;
        check_fresh(timestamp_ms, now_ms, window_ms)?;
        Ok(RegisterRequest {
            client,
            ephemeral,
            timestamp_ms,
        })
    }

    /// What identifies this request for the replay memory, and until when it matters.
    pub fn replay_token(&self) -> ([u8; 32], u64) {
        (
            replay_token(b"r", &self.client, &self.ephemeral),
            self.timestamp_ms,
        )
    }

    /// Answers it: the gateway's signed ephemeral key, the shared key to store and the
    /// session's keys.
    pub fn accept(
        &self,
        gateway: &SigningKey,
        ephemeral_secret: [u8; 32],
        bandwidth: u64,
        stored: u64,
    ) -> Result<(GatewayControl, SharedKey, SessionKeys), HandshakeError> {
        let gateway_public = gateway.verifying_key().to_bytes();
        let secret = StaticSecret::from(ephemeral_secret);
        let gateway_ephemeral = PublicKey::from(&secret).to_bytes();
        let dh = Zeroizing::new(diffie_hellman(&secret, &self.ephemeral)?);
        let shared = derive_shared_key(
            &dh,
            &self.ephemeral,
            &gateway_ephemeral,
            &self.client,
            &gateway_public,
        );
        let session = derive_session_keys(&shared, &self.ephemeral, &gateway_ephemeral);
        let signature = gateway.sign(&registered_signing_bytes(
            &gateway_public,
            &self.client,
            &self.ephemeral,
            &gateway_ephemeral,
        ));
        let answer = GatewayControl::Registered {
            ephemeral: encode(&gateway_ephemeral),
            signature: encode(&signature.to_bytes()),
            bandwidth,
            stored,
        };
        Ok((answer, shared, session))
    }
}

/// A verified authentication request, before the gateway answers it.
#[derive(Debug)]
pub struct AuthenticateRequest {
    /// The client's identity.
    pub client: [u8; 32],
    nonce: [u8; 32],
    timestamp_ms: u64,
}

impl AuthenticateRequest {
    /// Parses and verifies the request (see [`RegisterRequest::verify`]).
    pub fn verify(
        gateway: &[u8; 32],
        identity: &str,
        timestamp_ms: u64,
        nonce: &str,
        signature: &str,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Self, HandshakeError> {
        let key = verifying_key("identity", identity)?;
        let client = key.to_bytes();
        let nonce = decode_fixed::<32>("nonce", nonce)?;
        verify(
            &key,
            &authenticate_signing_bytes(gateway, &client, timestamp_ms, &nonce),
            signature,
            "client",
        )?;
        check_fresh(timestamp_ms, now_ms, window_ms)?;
        Ok(AuthenticateRequest {
            client,
            nonce,
            timestamp_ms,
        })
    }

    /// What identifies this request for the replay memory, and until when it matters.
    pub fn replay_token(&self) -> ([u8; 32], u64) {
        (
            replay_token(b"a", &self.client, &self.nonce),
            self.timestamp_ms,
        )
    }

    /// Answers it with a fresh `gateway_nonce`: the signed answer and the session's keys.
    pub fn accept(
        &self,
        gateway: &SigningKey,
        shared: &SharedKey,
        gateway_nonce: [u8; 32],
        bandwidth: u64,
        stored: u64,
    ) -> (GatewayControl, SessionKeys) {
        let gateway_public = gateway.verifying_key().to_bytes();
        let signature = gateway.sign(&authenticated_signing_bytes(
            &gateway_public,
            &self.client,
            &self.nonce,
            &gateway_nonce,
        ));
        let answer = GatewayControl::Authenticated {
            nonce: encode(&gateway_nonce),
            signature: encode(&signature.to_bytes()),
            bandwidth,
            stored,
        };
        (
            answer,
            derive_session_keys(shared, &self.nonce, &gateway_nonce),
        )
    }
}

fn replay_token(kind: &[u8], client: &[u8; 32], unique: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    let mut hash = Sha256::new();
    hash.update(kind);
    hash.update(client);
    hash.update(unique);
    hash.finalize().into()
}

/// The requests seen within the freshness window. A request is remembered until its timestamp
/// falls out of the window, after which the freshness check refuses it anyway, so the memory is
/// bounded by the rate of valid, signed requests. Each identity may hold at most
/// `per_identity` of the `capacity` places: the gateway consults the window only once it knows
/// the identity is registered (or is registering with a valid signature), and one identity
/// replaying fresh requests fills its own share, not everyone's.
#[derive(Debug)]
pub struct ReplayWindow {
    window_ms: u64,
    capacity: usize,
    per_identity: usize,
    seen: HashSet<[u8; 32]>,
    by_expiry: BTreeMap<(u64, [u8; 32]), [u8; 32]>,
    held: HashMap<[u8; 32], usize>,
}

impl ReplayWindow {
    /// Remembers at most `capacity` live requests, `per_identity` of them from one identity.
    pub fn new(window_ms: u64, capacity: usize, per_identity: usize) -> Self {
        ReplayWindow {
            window_ms,
            capacity,
            per_identity,
            seen: HashSet::new(),
            by_expiry: BTreeMap::new(),
            held: HashMap::new(),
        }
    }

    /// Records `token` (from a `replay_token`) of `identity`'s request; refuses one seen
    /// before, and one more than the identity's share or the window's capacity.
    pub fn check_and_insert(
        &mut self,
        identity: &[u8; 32],
        (token, timestamp_ms): ([u8; 32], u64),
        now_ms: u64,
    ) -> Result<(), HandshakeError> {
        while let Some((&(expiry, old), owner)) = self.by_expiry.iter().next() {
            if expiry >= now_ms {
                break;
            }
            let owner = *owner;
            self.by_expiry.remove(&(expiry, old));
            self.seen.remove(&old);
            if let Some(n) = self.held.get_mut(&owner) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.held.remove(&owner);
                }
            }
        }
        if self.seen.contains(&token) {
            return Err(HandshakeError::Replayed);
        }
        let held = self.held.get(identity).copied().unwrap_or(0);
        if held >= self.per_identity || self.seen.len() >= self.capacity {
            return Err(HandshakeError::Busy);
        }
        let expiry = timestamp_ms.saturating_add(self.window_ms);
        self.seen.insert(token);
        self.by_expiry.insert((expiry, token), *identity);
        *self.held.entry(*identity).or_insert(0) += 1;
        Ok(())
    }

    /// Requests remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none are remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests;
