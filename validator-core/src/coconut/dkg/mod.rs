//! Distributed key generation for the Coconut secret key `(x, y_1..y_q)`: Pedersen verifiable
//! secret sharing in the form of Gennaro, Jarecki, Krawczyk and Rabin, *"Secure Distributed Key
//! Generation for Discrete-Log Based Cryptosystems"*, J. Cryptology 2007 (GJKR), replacing the
//! trusted dealer of [`super::ttp_keygen`].
//!
//! # Setting
//! `n` participants with indices `1..=n` are each both a dealer and a receiver; any `t` of
//! them (`1 <= t <= n`) can later issue credentials. Every message is meant to be a public
//! transaction on a BFT chain, and every function here is deterministic in its inputs, so all
//! validators replaying the same committed transcript derive the same outcome. Each
//! participant registers a receiver key [`DkgPublicKey`] `pk_j = g1^{sk_j}` beforehand; the
//! parameters ([`DkgParams`]) fix `t`, the receivers' keys and a 32-byte context (the chain's
//! genesis hash and key epoch), which every hash below is bound to.
//!
//! # Math
//! Write `S = q + 1` for the number of secrets (`x` is secret 0, `y_s` is secret `s`), `g1`,
//! `g2` for the standard generators and `h = hash_to_g1(DST_PEDERSEN_H)` for a second G1
//! generator whose discrete log nobody knows.
//!
//! 1. **Dealing** ([`deal`]). Dealer `i` derives from a 32-byte seed, for every secret `s`,
//!    two polynomials of degree `t - 1`: `f_s(z) = Σ_k a_{s,k} z^k` and the blinding
//!    `f'_s(z) = Σ_k b_{s,k} z^k`. It publishes the Pedersen commitments
//!    `C_{s,k} = g1^{a_{s,k}} h^{b_{s,k}}`, an ephemeral `R = g1^r` and, for every receiver
//!    `j`, its `2S` shares `f_s(j), f'_s(j)` encrypted under `K_j = pk_j^r` (a SHA-256
//!    keystream, [`encryption`]).
//! 2. **Complaints** ([`receive`], [`verify_complaint`]). Receiver `j` decrypts with
//!    `K_j = R^{sk_j}` and checks `g1^{f_s(j)} h^{f'_s(j)} = Π_k C_{s,k}^{j^k}`. If that fails
//!    it publishes a [`Disclosure`] of `K_j` with a Chaum-Pedersen proof that
//!    `log_{g1} pk_j = log_R K_j`, so anyone can decrypt and judge. QUAL is the set of dealers
//!    with a valid dealing and no upheld complaint ([`qualify`]).
//! 3. **Openings** ([`open`]). Each QUAL dealer publishes `A2_{s,k} = g2^{a_{s,k}}` for all
//!    secrets and `A1_{s,k} = g1^{a_{s,k}}` for the `y`s (Coconut keys carry `g1^{y}` too;
//!    a pairing check ties the two). Receiver `j` checks
//!    `g2^{f_s(j)} = Π_k A2_{s,k}^{j^k}` and otherwise discloses again
//!    ([`verify_opening_complaint`]). A QUAL dealer that does not open, or whose opening
//!    complaint is upheld, stays in QUAL: its polynomials are interpolated publicly from `t`
//!    disclosures and its opening recomputed ([`reconstruct_opening`]).
//! 4. **Outcome** ([`compute_outcome`], [`derive_key_pair`]). With `A_{s,k} = Π_{i ∈ QUAL}
//!    A^{(i)}_{s,k}`, the key of any index `j` is public: `alpha_j = Π_k A2_{0,k}^{j^k}`,
//!    `beta_{j,s} = Π_k A_{s,k}^{j^k}`; the aggregate key is the `k = 0` terms. Receiver `j`'s
//!    secret key is `Σ_{i ∈ QUAL} f^{(i)}_s(j)`, checked against its public key. The master
//!    secret `Σ_i f^{(i)}_s(0)` is never computed by anyone.
//!
//! Pedersen commitments hide the dealt polynomials until QUAL is fixed, which is what stops a
//! rushing dealer from biasing the key (GJKR §3); openings after QUAL is fixed reveal only
//! `g^{a_{s,k}}`.
//!
//! [`DkgTranscript`] collects the chain's transactions phase by phase and refuses duplicates
//! and items of the wrong phase.
//!
//! # Layout
//! | module | contents |
//! | --- | --- |
//! | [`params`] | [`DkgParams`]: threshold, receivers' keys, context, number of secrets |
//! | [`domains`] | domain separation tags of every hash of the DKG |
//! | [`polynomials`] | seed-derived dealer polynomials, evaluation, interpolation of coefficients |
//! | [`shares`] | [`Shares`] of one receiver from one dealer, the Pedersen generator `h` |
//! | [`encryption`] | [`DkgSecretKey`], [`DkgPublicKey`], share encryption, [`Disclosure`] with its DLEQ proof |
//! | [`dealing`] | phase 1: [`Dealing`], [`deal`], [`receive`], [`verify_complaint`] |
//! | [`opening`] | phase 2: [`Opening`], [`open`], [`verify_opening_complaint`], [`reconstruct_opening`] |
//! | [`outcome`] | QUAL and exclusions, combined commitments, the key set and a receiver's key pair |
//! | [`transcript`] | [`DkgTranscript`]: the phases as the chain feeds them |
//! | [`wire`] | byte, base58 and serde encodings of the wire types |
//! | [`error`] | [`DkgError`], [`ShareFault`] |

pub mod dealing;
pub mod domains;
pub mod encryption;
pub mod error;
pub mod opening;
pub mod outcome;
pub mod params;
pub mod polynomials;
pub mod shares;
pub mod transcript;
pub mod wire;

#[cfg(test)]
pub(crate) mod tests;

pub use dealing::{deal, receive, verify_complaint, ComplaintVerdict, Dealing};
pub use encryption::{
    disclose, verify_disclosure, Disclosure, DkgPublicKey, DkgSecretKey, DleqProof,
};
pub use error::{DkgError, ShareFault};
pub use opening::{open, reconstruct_opening, verify_opening_complaint, Opening};
pub use outcome::{
    compute_outcome, derive_key_pair, qualify, DkgOutcome, Exclusion, ExclusionReason,
    Qualification,
};
pub use params::DkgParams;
pub use shares::Shares;
pub use transcript::{DkgPhase, DkgTranscript};
