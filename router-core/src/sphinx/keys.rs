//! Key material: the node's Sphinx secret and everything a hop derives from a shared secret.
//!
//! Per hop, `s = X25519(node_secret, alpha)` is expanded with HKDF-SHA256 into the stream key,
//! the MAC key, the payload key (or its seed), the blinding factor and the replay tag. All of it
//! lives in a single zeroize-on-drop array on the stack: nothing here touches the heap.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::constants::{
    BLINDING_FACTOR_SIZE, EXPANDED_SECRET_SIZE, HOP_HKDF_INFO, HOP_HKDF_SALT, MAC_KEY_SIZE,
    PAYLOAD_KEY_HKDF_INFO, PAYLOAD_KEY_HKDF_SALT, PAYLOAD_KEY_SEED_SIZE, PAYLOAD_KEY_SIZE,
    REPLAY_TAG_SIZE, STREAM_KEY_SIZE,
};
use super::version::{PayloadKeyKind, SphinxVersion};
use crate::crypto::x25519::x25519;

/// A replay tag: the last 32 bytes of a hop's expansion. Equal tags mean the same packet was
/// processed twice by the same key.
pub type ReplayTag = [u8; REPLAY_TAG_SIZE];

/// A shared secret, `X25519(node_secret, alpha)`. Wiped on drop.
pub type SharedSecret = Zeroizing<[u8; 32]>;

/// The node's X25519 Sphinx key. Wiped on drop; its `Debug` output never shows it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SphinxSecretKey([u8; 32]);

impl SphinxSecretKey {
    /// Wraps 32 secret bytes. Clamping happens inside X25519, as in `x25519-dalek`'s
    /// `StaticSecret`, so any 32 bytes are a valid key and give the same results.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SphinxSecretKey(bytes)
    }

    /// The secret bytes, for persisting the key.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0)
    }

    /// The public key clients build packets for: `X25519(secret, 9)`.
    pub fn public_key(&self) -> [u8; 32] {
        const BASEPOINT: [u8; 32] = {
            let mut u = [0u8; 32];
            u[0] = 9;
            u
        };
        x25519(&self.0, &BASEPOINT)
    }

    /// `X25519(self, alpha)`: the shared secret for a packet whose header starts with `alpha`.
    pub fn shared_secret(&self, alpha: &[u8; 32]) -> SharedSecret {
        Zeroizing::new(x25519(&self.0, alpha))
    }
}

impl AsRef<SphinxSecretKey> for SphinxSecretKey {
    fn as_ref(&self) -> &SphinxSecretKey {
        self
    }
}

impl std::fmt::Debug for SphinxSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SphinxSecretKey(..)")
    }
}

/// The expansion of one hop's shared secret.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct ExpandedSecret([u8; EXPANDED_SECRET_SIZE]);

const STREAM_KEY_AT: usize = 0;
const MAC_KEY_AT: usize = STREAM_KEY_AT + STREAM_KEY_SIZE;
const PAYLOAD_KEY_AT: usize = MAC_KEY_AT + MAC_KEY_SIZE;
const BLINDING_AT: usize = PAYLOAD_KEY_AT + PAYLOAD_KEY_SIZE;
const REPLAY_TAG_AT: usize = BLINDING_AT + BLINDING_FACTOR_SIZE;
const _: () = assert!(REPLAY_TAG_AT + REPLAY_TAG_SIZE == EXPANDED_SECRET_SIZE);

/// A fixed sub-array of a fixed array; the bounds are checked when the constants are
/// substituted, so the slice cannot fail at run time.
pub(crate) fn sub<const N: usize, const AT: usize, const LEN: usize>(
    bytes: &[u8; N],
) -> &[u8; LEN] {
    const { assert!(AT + LEN <= N) };
    bytes[AT..AT + LEN]
        .try_into()
        .expect("AT + LEN <= N is asserted at compile time")
}

impl ExpandedSecret {
    /// HKDF-SHA256 with an empty salt and the legacy info string.
    pub(crate) fn expand(shared_secret: &[u8; 32]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(HOP_HKDF_SALT), shared_secret);
        let mut out = ExpandedSecret([0; EXPANDED_SECRET_SIZE]);
        hkdf.expand(HOP_HKDF_INFO, &mut out.0)
            .expect("EXPANDED_SECRET_SIZE is within HKDF-SHA256's limit (asserted in constants)");
        out
    }

    pub(crate) fn stream_key(&self) -> &[u8; STREAM_KEY_SIZE] {
        sub::<EXPANDED_SECRET_SIZE, STREAM_KEY_AT, STREAM_KEY_SIZE>(&self.0)
    }

    pub(crate) fn mac_key(&self) -> &[u8; MAC_KEY_SIZE] {
        sub::<EXPANDED_SECRET_SIZE, MAC_KEY_AT, MAC_KEY_SIZE>(&self.0)
    }

    pub(crate) fn blinding_factor(&self) -> &[u8; BLINDING_FACTOR_SIZE] {
        sub::<EXPANDED_SECRET_SIZE, BLINDING_AT, BLINDING_FACTOR_SIZE>(&self.0)
    }

    pub(crate) fn replay_tag(&self) -> &ReplayTag {
        sub::<EXPANDED_SECRET_SIZE, REPLAY_TAG_AT, REPLAY_TAG_SIZE>(&self.0)
    }

    /// The Lioness key for this hop, as the header's version says to obtain it.
    pub(crate) fn payload_key(&self, version: SphinxVersion) -> Zeroizing<[u8; PAYLOAD_KEY_SIZE]> {
        let material = sub::<EXPANDED_SECRET_SIZE, PAYLOAD_KEY_AT, PAYLOAD_KEY_SIZE>(&self.0);
        match version.payload_key_kind() {
            PayloadKeyKind::Explicit => Zeroizing::new(*material),
            PayloadKeyKind::Seed => {
                let seed = sub::<PAYLOAD_KEY_SIZE, 0, PAYLOAD_KEY_SEED_SIZE>(material);
                derive_payload_key(seed)
            }
        }
    }
}

/// Expands a 16-byte payload key seed (versions 259 and 260) into a Lioness key.
pub(crate) fn derive_payload_key(
    seed: &[u8; PAYLOAD_KEY_SEED_SIZE],
) -> Zeroizing<[u8; PAYLOAD_KEY_SIZE]> {
    let hkdf = Hkdf::<Sha256>::new(Some(PAYLOAD_KEY_HKDF_SALT), seed);
    let mut key = Zeroizing::new([0; PAYLOAD_KEY_SIZE]);
    hkdf.expand(PAYLOAD_KEY_HKDF_INFO, key.as_mut())
        .expect("192 bytes is within HKDF-SHA256's limit of 255 * 32");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_matches_x25519_dalek() {
        let secret = x25519_dalek::StaticSecret::from([7u8; 32]);
        let ours = SphinxSecretKey::from_bytes([7u8; 32]);
        assert_eq!(
            ours.public_key(),
            *x25519_dalek::PublicKey::from(&secret).as_bytes()
        );
    }

    #[test]
    fn debug_output_hides_the_key() {
        let key = SphinxSecretKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }

    #[test]
    fn expansion_fields_are_disjoint_slices_of_one_hkdf_output() {
        let expanded = ExpandedSecret::expand(&[3; 32]);
        let mut full = [0u8; EXPANDED_SECRET_SIZE];
        Hkdf::<Sha256>::new(Some(b""), &[3; 32])
            .expand(HOP_HKDF_INFO, &mut full)
            .unwrap();
        assert_eq!(expanded.stream_key()[..], full[..16]);
        assert_eq!(expanded.mac_key()[..], full[16..32]);
        assert_eq!(expanded.blinding_factor()[..], full[224..256]);
        assert_eq!(expanded.replay_tag()[..], full[256..288]);
        let explicit = expanded.payload_key(SphinxVersion::ExplicitPayloadKeys);
        assert_eq!(explicit[..], full[32..224]);
        let seeded = expanded.payload_key(SphinxVersion::SingleSeedSurbs);
        let seed: [u8; 16] = full[32..48].try_into().unwrap();
        assert_eq!(seeded[..], derive_payload_key(&seed)[..]);
        assert_ne!(seeded[..], explicit[..]);
    }
}
