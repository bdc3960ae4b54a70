//! Receivers' keys, the encryption of shares, and disclosures.
//!
//! # Encryption
//! Receiver `j` holds `sk_j` and registers `pk_j = g1^{sk_j}`. A dealing carries one
//! ephemeral `R = g1^r`; the key for receiver `j` is `K_j = pk_j^r = R^{sk_j}` (hashed
//! ElGamal). The plaintext — `f_0(j)..f_q(j)` then `f'_0(j)..f'_q(j)`, 32-byte little-endian
//! scalars — is XORed with the keystream whose block `c` is
//! `SHA-256(DST_SHARE_KEYSTREAM ‖ context ‖ dealer:u64 ‖ receiver:u64 ‖ K_j ‖ c:u32)`.
//! There is no MAC: the chain stores the ciphertext and shares are checked against the
//! dealer's commitments. Decryption reduces each 32-byte block modulo the group order, so it
//! never fails; a dealer that encrypts garbage is caught by the commitment check.
//!
//! # Disclosure
//! To complain, or to help reconstruct a dealer, receiver `j` publishes `K_j` with a
//! Chaum-Pedersen proof that `log_{g1} pk_j = log_R K_j`: for a random `w`,
//! `A1 = g1^w`, `A2 = R^w`, `c = H(context, dealer, j, pk_j, R, K_j, A1, A2)`,
//! `z = w - c·sk_j`; the verifier recomputes `A1 = g1^z pk_j^c`, `A2 = R^z K_j^c` and the
//! challenge. Anyone can then decrypt `j`'s shares of that dealing.

use core::fmt;

use bls12_381::{G1Affine, G1Projective, Scalar};
use ff::Field;
use rand_core_v010::CryptoRng;
use sha2_v010::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::dealing::Dealing;
use super::domains::{DST_DLEQ_CHALLENGE, DST_RECEIVER_KEY, DST_SHARE_KEYSTREAM};
use super::error::DkgError;
use super::params::DkgParams;
use super::shares::Shares;
use crate::coconut::encoding::SCALAR_BYTES;
use crate::coconut::hash::{hash_to_scalar, Transcript};
use crate::coconut::vartime::mul_g1;
use crate::coconut::SignerIndex;

/// A receiver's DKG secret key `sk`; wiped when dropped, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DkgSecretKey(Scalar);

impl fmt::Debug for DkgSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DkgSecretKey(..)")
    }
}

impl DkgSecretKey {
    /// The key derived from a 32-byte seed: `hash_to_scalar(seed, DST_RECEIVER_KEY)`.
    pub fn derive(seed: &[u8; 32]) -> Self {
        DkgSecretKey(hash_to_scalar(seed, DST_RECEIVER_KEY))
    }

    /// `pk = g1^sk`.
    pub fn public(&self) -> DkgPublicKey {
        DkgPublicKey(G1Affine::from(G1Projective::generator() * self.0))
    }
}

/// A receiver's DKG public key `pk = g1^sk`, registered before the run.
///
/// Ordered and hashed by its compressed encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DkgPublicKey(pub(crate) G1Affine);

impl core::hash::Hash for DkgPublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.to_bytes().hash(state);
    }
}

impl PartialOrd for DkgPublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DkgPublicKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.to_bytes().cmp(&other.to_bytes())
    }
}

impl DkgPublicKey {
    /// Whether this is the identity point (refused by [`DkgParams::new`]).
    pub fn is_identity(&self) -> bool {
        bool::from(self.0.is_identity())
    }

    pub(crate) fn point(&self) -> G1Projective {
        G1Projective::from(self.0)
    }
}

/// A Chaum-Pedersen proof of equal discrete logarithms `(c, z)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DleqProof {
    pub(crate) challenge: Scalar,
    pub(crate) response: Scalar,
}

/// Receiver `j`'s disclosure of its decryption key `K_j` for one dealer's dealing, with the
/// proof that it is `R^{sk_j}`. It is both a complaint and a contribution to reconstruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    pub(crate) dealer: SignerIndex,
    pub(crate) receiver: SignerIndex,
    pub(crate) key: G1Projective,
    pub(crate) proof: DleqProof,
}

impl Disclosure {
    /// The dealer whose dealing this opens.
    pub fn dealer(&self) -> SignerIndex {
        self.dealer
    }

    /// The disclosing receiver `j`.
    pub fn receiver(&self) -> SignerIndex {
        self.receiver
    }

    /// `K_j = R^{sk_j}`.
    pub fn key(&self) -> &G1Projective {
        &self.key
    }

    /// The DLEQ proof.
    pub fn proof(&self) -> &DleqProof {
        &self.proof
    }
}

/// `len` bytes of receiver `receiver`'s keystream for `dealer`'s dealing under key `key`.
fn keystream(
    params: &DkgParams,
    dealer: SignerIndex,
    receiver: SignerIndex,
    key: &G1Projective,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let key_bytes = Zeroizing::new(G1Affine::from(key).to_compressed());
    let mut out = Zeroizing::new(Vec::with_capacity(len + 32));
    let mut counter = 0u32;
    while out.len() < len {
        let mut hasher = Sha256::new();
        hasher.update(DST_SHARE_KEYSTREAM);
        hasher.update(params.context());
        hasher.update(dealer.to_le_bytes());
        hasher.update(receiver.to_le_bytes());
        hasher.update(key_bytes.as_slice());
        hasher.update(counter.to_le_bytes());
        let block = Zeroizing::new(<[u8; 32]>::from(hasher.finalize()));
        out.extend_from_slice(block.as_slice());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// Bytes of one receiver's ciphertext: `2 (q + 1)` scalars.
pub(crate) fn ciphertext_len(params: &DkgParams) -> usize {
    2 * params.num_secrets() * SCALAR_BYTES
}

/// Encrypts `shares` for their receiver under `K_j = pk_j^r`.
pub(crate) fn encrypt_shares(
    params: &DkgParams,
    shares: &Shares,
    pk: &DkgPublicKey,
    ephemeral: &Scalar,
) -> Vec<u8> {
    let key = Zeroizing::new(pk.point() * ephemeral);
    let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext_len(params)));
    for value in shares.values.iter().chain(&shares.blinds) {
        plaintext.extend_from_slice(&value.to_bytes());
    }
    let stream = keystream(
        params,
        shares.dealer,
        shares.receiver,
        &key,
        plaintext.len(),
    );
    plaintext
        .iter()
        .zip(stream.iter())
        .map(|(p, k)| p ^ k)
        .collect()
}

/// Decrypts receiver `receiver`'s shares of `dealing` with `K_j`. Never fails on content:
/// each 32-byte block is reduced modulo the group order.
pub(crate) fn decrypt_shares(
    params: &DkgParams,
    dealing: &Dealing,
    receiver: SignerIndex,
    key: &G1Projective,
) -> Result<Shares, DkgError> {
    let expected = ciphertext_len(params);
    let ciphertext = usize::try_from(receiver)
        .ok()
        .and_then(|j| j.checked_sub(1))
        .and_then(|position| dealing.ciphertexts.get(position))
        .ok_or(DkgError::WrongShape {
            dealer: dealing.dealer,
            what: "ciphertexts",
            expected: params.receivers().len(),
            actual: dealing.ciphertexts.len(),
        })?;
    if ciphertext.len() != expected {
        return Err(DkgError::WrongShape {
            dealer: dealing.dealer,
            what: "ciphertext bytes",
            expected,
            actual: ciphertext.len(),
        });
    }
    let stream = keystream(params, dealing.dealer, receiver, key, expected);
    let plaintext: Zeroizing<Vec<u8>> = Zeroizing::new(
        ciphertext
            .iter()
            .zip(stream.iter())
            .map(|(c, k)| c ^ k)
            .collect(),
    );
    let scalars: Zeroizing<Vec<Scalar>> = Zeroizing::new(
        plaintext
            .chunks_exact(SCALAR_BYTES)
            .map(|block| {
                let mut wide = Zeroizing::new([0u8; 64]);
                wide[..SCALAR_BYTES].copy_from_slice(block);
                Scalar::from_bytes_wide(&wide)
            })
            .collect(),
    );
    let (values, blinds) = scalars.split_at(params.num_secrets());
    Ok(Shares {
        dealer: dealing.dealer,
        receiver,
        values: values.to_vec(),
        blinds: blinds.to_vec(),
    })
}

fn dleq_challenge(
    params: &DkgParams,
    dealer: SignerIndex,
    receiver: SignerIndex,
    points: [&G1Projective; 6],
) -> Scalar {
    let mut transcript = Transcript::new();
    transcript.append_bytes(params.context());
    transcript.append_bytes(&dealer.to_le_bytes());
    transcript.append_bytes(&receiver.to_le_bytes());
    for point in points {
        transcript.append_g1(point);
    }
    transcript.challenge(DST_DLEQ_CHALLENGE)
}

/// Receiver `receiver` discloses its key for `dealing` (to complain about it, or to help
/// reconstruct its dealer). `sk` must be the receiver's registered key.
pub fn disclose<R: CryptoRng + ?Sized>(
    params: &DkgParams,
    dealing: &Dealing,
    receiver: SignerIndex,
    sk: &DkgSecretKey,
    rng: &mut R,
) -> Result<Disclosure, DkgError> {
    let pk = params.receiver(receiver)?;
    if sk.public() != *pk {
        return Err(DkgError::WrongSecretKey { receiver });
    }
    let g1 = G1Projective::generator();
    let key = dealing.ephemeral * sk.0;
    let w = Zeroizing::new(Scalar::random(&mut *rng));
    let a1 = g1 * *w;
    let a2 = dealing.ephemeral * *w;
    let challenge = dleq_challenge(
        params,
        dealing.dealer,
        receiver,
        [&pk.point(), &dealing.ephemeral, &key, &a1, &a2, &g1],
    );
    let response = *w - challenge * sk.0;
    Ok(Disclosure {
        dealer: dealing.dealer,
        receiver,
        key,
        proof: DleqProof {
            challenge,
            response,
        },
    })
}

/// Checks `disclosure` against `dealing` and returns the disclosed receiver's shares
/// (not yet checked against the commitments).
///
/// Refuses a disclosure for another dealer, for a receiver outside `1..=n`, or whose proof
/// does not verify.
pub fn verify_disclosure(
    params: &DkgParams,
    dealing: &Dealing,
    disclosure: &Disclosure,
) -> Result<Shares, DkgError> {
    if disclosure.dealer != dealing.dealer {
        return Err(DkgError::DealerMismatch {
            expected: dealing.dealer,
            actual: disclosure.dealer,
        });
    }
    let pk = params.receiver(disclosure.receiver)?.point();
    let g1 = G1Projective::generator();
    let DleqProof {
        challenge,
        response,
    } = disclosure.proof;
    let a1 = mul_g1(&g1, &response) + mul_g1(&pk, &challenge);
    let a2 = mul_g1(&dealing.ephemeral, &response) + mul_g1(&disclosure.key, &challenge);
    let expected = dleq_challenge(
        params,
        dealing.dealer,
        disclosure.receiver,
        [&pk, &dealing.ephemeral, &disclosure.key, &a1, &a2, &g1],
    );
    if expected != challenge {
        return Err(DkgError::InvalidDisclosureProof {
            dealer: dealing.dealer,
            receiver: disclosure.receiver,
        });
    }
    decrypt_shares(params, dealing, disclosure.receiver, &disclosure.key)
}

/// Receiver `receiver` decrypts its own shares of `dealing` with `sk`.
pub(crate) fn decrypt_own(
    params: &DkgParams,
    dealing: &Dealing,
    receiver: SignerIndex,
    sk: &DkgSecretKey,
) -> Result<Shares, DkgError> {
    let pk = params.receiver(receiver)?;
    if sk.public() != *pk {
        return Err(DkgError::WrongSecretKey { receiver });
    }
    let key = Zeroizing::new(dealing.ephemeral * sk.0);
    decrypt_shares(params, dealing, receiver, &key)
}
