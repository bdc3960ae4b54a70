//! Selective-disclosure presentation: Coconut `ProveCred` and `VerifyCred` (Sonnino et al.,
//! NDSS 2019, §IV-A, with the serial-number extension of §V-A used for double-spend
//! protection).
//!
//! The user re-randomises the credential, `sigma' = (h', s') = (h^{r'}, (s · h^r)^{r'})`, and
//! hides its private attributes in `kappa = alpha · Π_private beta_g2_j^{m_j} · g2^r`; the
//! blinder `r` is the one folded into `s'`, so `e(h', kappa) = e(s', g2)` still holds. It also
//! reveals `zeta = g2^{serial}` and proves with `pi_v` that `kappa` and `zeta` were built from
//! the same secrets. Public attributes are given to the verifier in clear and folded into
//! `kappa` by it.
//!
//! `zeta` is deterministic in the serial number, so a verifier that records every `zeta` it
//! has accepted (see [`Theta::zeta_bytes`]) detects a credential being spent twice, while two
//! presentations of one credential are otherwise unlinkable.
//!
//! A presentation is made for a *context* (any bytes: this network puts the verifying
//! gateway's identity and a fresh nonce there, see `credential::SpendContext`), hashed into
//! the Fiat–Shamir challenge of `pi_v` with the statement. It verifies only in the same
//! context, so a presentation seen on the wire cannot be presented anywhere else. (The paper's
//! `pi_v` binds no context; this is the usual way to make a Schnorr-type proof a signature of
//! knowledge on a message.)

use bls12_381::{G2Affine, G2Projective, Scalar};
use ff::Field;
use rand_core_v010::CryptoRng;
use zeroize::Zeroizing;

use super::error::{CoconutError, Result};
use super::keygen::VerificationKey;
use super::params::Parameters;
use super::proofs::{g2_sum, CredentialProof, CredentialStatement, CredentialWitness};
use super::signature::{check_pairing, Signature};
use super::vartime::sum_g2;

/// Length in bytes of [`Theta::zeta_bytes`] (a compressed G2 point).
pub const ZETA_BYTES: usize = 96;

/// A credential presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theta {
    pub(crate) blinded_message: G2Projective,
    pub(crate) blinded_serial_number: G2Projective,
    pub(crate) credential: Signature,
    pub(crate) pi_v: CredentialProof,
}

impl Theta {
    /// `kappa = alpha · Π_private beta_g2_j^{m_j} · g2^r`.
    pub fn blinded_message(&self) -> &G2Projective {
        &self.blinded_message
    }

    /// `zeta = g2^{serial}`.
    pub fn blinded_serial_number(&self) -> &G2Projective {
        &self.blinded_serial_number
    }

    /// The re-randomised credential `sigma' = (h', s')`.
    pub fn credential(&self) -> &Signature {
        &self.credential
    }

    /// The proof `pi_v`.
    pub fn pi_v(&self) -> &CredentialProof {
        &self.pi_v
    }

    /// Canonical bytes of `zeta`: the double-spend tag a gateway or validator keeps in its
    /// spent set. Equal for every presentation of the same credential, different across
    /// credentials with different serial numbers.
    pub fn zeta_bytes(&self) -> [u8; ZETA_BYTES] {
        G2Affine::from(self.blinded_serial_number).to_compressed()
    }
}

/// Builds a presentation of `signature` (the aggregated credential) for `context` that
/// discloses nothing about `private_attributes` (first = serial number) except `zeta`; the
/// public attributes are not part of it and must be sent alongside.
pub fn prove_credential<R: CryptoRng + ?Sized>(
    params: &Parameters,
    verification_key: &VerificationKey,
    signature: &Signature,
    private_attributes: &[Scalar],
    context: &[u8],
    rng: &mut R,
) -> Result<Theta> {
    let Some(serial_number) = private_attributes.first() else {
        return Err(CoconutError::NoPrivateAttributes);
    };
    verification_key.check_attribute_count(private_attributes.len())?;
    params.check_attribute_count(private_attributes.len())?;
    if bool::from(signature.h.is_identity()) {
        return Err(CoconutError::IdentitySignature);
    }

    let g2 = G2Projective::from(params.gen2());
    let blinder = Zeroizing::new(Scalar::random(&mut *rng));
    let randomiser = Zeroizing::new(loop {
        let candidate = Scalar::random(&mut *rng);
        if !bool::from(candidate.is_zero()) {
            break candidate;
        }
    });
    let h_prime = signature.h * *randomiser;
    let s_prime = (signature.s + signature.h * *blinder) * *randomiser;
    let credential = Signature {
        h: h_prime,
        s: s_prime,
    };

    let kappa = verification_key.alpha
        + g2_sum(&verification_key.beta_g2, private_attributes)
        + g2 * *blinder;
    let zeta = g2 * serial_number;

    let statement = CredentialStatement {
        params,
        verification_key,
        credential: &credential,
        kappa: &kappa,
        zeta: &zeta,
        context,
    };
    let witness = CredentialWitness {
        private_attributes,
        blinder: &blinder,
    };
    let pi_v = CredentialProof::construct(&statement, &witness, rng);
    Ok(Theta {
        blinded_message: kappa,
        blinded_serial_number: zeta,
        credential,
        pi_v,
    })
}

/// Verifies a presentation made for `context` under the aggregated verification key, with
/// the public attributes disclosed beside it: checks `pi_v` (in that context), `h' ≠ 1` and
/// `e(h', kappa · Π_public beta_g2_k^{m_k}) = e(s', g2)`.
///
/// This does not check for double spending: the caller looks up [`Theta::zeta_bytes`] in its
/// spent set.
pub fn verify_credential(
    params: &Parameters,
    verification_key: &VerificationKey,
    theta: &Theta,
    public_attributes: &[Scalar],
    context: &[u8],
) -> Result<()> {
    let private_count = theta.pi_v.num_private_attributes();
    verification_key.check_attribute_count(private_count + public_attributes.len())?;
    if bool::from(theta.credential.h.is_identity()) {
        return Err(CoconutError::IdentitySignature);
    }
    let statement = CredentialStatement {
        params,
        verification_key,
        credential: &theta.credential,
        kappa: &theta.blinded_message,
        zeta: &theta.blinded_serial_number,
        context,
    };
    theta.pi_v.verify(&statement)?;

    let public_betas = verification_key.beta_g2.iter().skip(private_count);
    let kappa = theta.blinded_message + sum_g2(public_betas, public_attributes);
    check_pairing(params, &theta.credential.h, &theta.credential.s, &kappa)
}
