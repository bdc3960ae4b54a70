//! Coconut threshold-issuance, selective-disclosure credentials.
//!
//! Implements Sonnino, Al-Bassam, Bano, Meiklejohn and Danezis, *"Coconut: Threshold Issuance
//! Selective Disclosure Credentials with Applications to Distributed Ledgers"*, NDSS 2019, on
//! BLS12-381, in the Pedersen-commitment variant used by Nym (no ElGamal encryption of the
//! private attributes).
//!
//! # What it gives
//! * **Blind issuance**: a user obtains a credential on private attributes (serial number,
//!   binding number) and public ones (bandwidth value, credential type) without the issuing
//!   authorities learning the private ones.
//! * **Threshold issuance**: any `t` of the `n` authorities suffice; their partial credentials
//!   are aggregated into one short credential `(h, s)` verifiable with one aggregated key.
//! * **Unlinkable selective disclosure**: every presentation ([`Theta`]) re-randomises the
//!   credential and proves knowledge of the private attributes in zero knowledge, revealing
//!   only `zeta = g2^{serial}`, which lets a verifier detect double spending.
//!
//! # Trust model
//! Keys come from [`ttp_keygen`], a *trusted dealer*: it sees every secret, so it must be run
//! by (or on behalf of) the authorities as a one-off ceremony and its state destroyed; whoever
//! keeps the polynomials can forge credentials alone. With the dealer honest, fewer than `t`
//! colluding authorities can neither forge credentials nor learn private attributes; a user's
//! private attributes stay hidden even from all authorities together (the commitments are
//! perfectly hiding and the proofs zero knowledge).
//!
//! [`dkg`] replaces the trusted dealer with a distributed key generation (Pedersen VSS in the
//! form of Gennaro, Jarecki, Krawczyk and Rabin): each authority deals shares of its own
//! random polynomials, and no party ever holds the master secret.
//!
//! # Layout
//! | module | paper | contents |
//! | --- | --- | --- |
//! | [`params`] | §IV-A Setup | [`Parameters`]: generators, hashed `h_i` |
//! | [`hash`] | §III | domain separation tags, hash to G1 / scalar |
//! | [`keygen`] | §IV-A TTPKeyGen | [`SecretKey`], [`VerificationKey`], [`ttp_keygen`] |
//! | [`lagrange`] | §III-D | Shamir polynomials, Lagrange coefficients at zero |
//! | [`dkg`] | GJKR 2007 | distributed key generation replacing the trusted dealer |
//! | [`proofs`] | §IV-A, Appendix | `pi_s` ([`BlindSignProof`]), `pi_v` ([`CredentialProof`]) |
//! | [`issuance`] | §IV-A PrepareBlindSign, BlindSign, Unblind | request, blind sign, unblind |
//! | [`signature`] | §III-B | [`Signature`], [`BlindedSignature`], pairing check |
//! | [`aggregation`] | §IV-A AggCred | aggregate signatures and verification keys |
//! | [`verification`] | §IV-A ProveCred, VerifyCred, §V-A | [`Theta`], prove and verify |
//! | [`encoding`] | — | byte and base58/serde encodings of all wire types |
//! | [`error`] | — | [`CoconutError`] |
//!
//! # Flow
//! Marked `ignore` because its import path depends on the crate this module lives in; the same
//! code runs as the unit test `tests::end_to_end::documented_flow`.
//! ```ignore
//! use crate::coconut::*;
//! let mut rng = rand::rng();
//! let params = Parameters::new(4)?;
//! let keys = ttp_keygen(&params, 2, 3, &mut rng)?;
//!
//! let private = [hash_to_attribute(b"serial"), hash_to_attribute(b"binding")];
//! let public = [Scalar::from(1024u64), hash_to_attribute(b"BandwidthVoucher")];
//! let (openings, request) = prepare_blind_sign(&params, &private, &public, &mut rng)?;
//!
//! let mut partials = Vec::new();
//! for key in &keys[..2] {
//!     let blinded = blind_sign(&params, key.secret_key(), &request, &public)?;
//!     let vk = key.verification_key();
//!     let sig = unblind_and_verify(&params, vk, &request, &blinded, &openings, &private, &public)?;
//!     partials.push((key.index(), sig));
//! }
//! let signature = aggregate_signatures(&partials)?;
//! let vks: Vec<_> = keys.iter().map(|k| (k.index(), k.verification_key().clone())).collect();
//! let vk = aggregate_verification_keys(&vks)?;
//!
//! let context: &[u8] = b"gateway g1, nonce 1"; // what the presentation is for
//! let theta = prove_credential(&params, &vk, &signature, &private, context, &mut rng)?;
//! verify_credential(&params, &vk, &theta, &public, context)?;
//! let spent_tag: [u8; 96] = theta.zeta_bytes(); // look up / insert in the spent set
//! ```
//!
//! The first private attribute is always the serial number.

pub mod aggregation;
pub mod dkg;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod issuance;
pub mod keygen;
pub mod lagrange;
pub mod params;
pub mod proofs;
pub mod signature;
mod vartime;
pub mod verification;

#[cfg(test)]
mod tests;

pub use aggregation::{aggregate_signatures, aggregate_verification_keys};
pub use bls12_381::Scalar;
pub use error::{CoconutError, Result};
pub use hash::hash_to_attribute;
pub use issuance::{
    blind_sign, prepare_blind_sign, unblind, unblind_and_verify, BlindSignRequest,
    CommitmentOpenings,
};
pub use keygen::{ttp_keygen, KeyPair, SecretKey, VerificationKey};
pub use lagrange::SignerIndex;
pub use params::Parameters;
pub use proofs::{BlindSignProof, CredentialProof};
pub use signature::{BlindedSignature, Signature};
pub use verification::{prove_credential, verify_credential, Theta};

/// An attribute is a scalar. Integers map with `Scalar::from(u64)`, strings and bytes with
/// [`hash_to_attribute`].
pub type Attribute = Scalar;
