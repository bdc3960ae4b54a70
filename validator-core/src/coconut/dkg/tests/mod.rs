//! Tests of the DKG across its modules, with shared fixtures: a driver that runs the whole
//! protocol through [`DkgTranscript`] with every receiver behaving honestly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod end_to_end;
mod faults;
mod properties;
mod vectors;
mod wire;

use bls12_381::{G2Projective, Scalar};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::polynomials::DealerPolynomials;
use super::*;
use crate::coconut::{
    aggregate_signatures, blind_sign, hash_to_attribute, prepare_blind_sign, prove_credential,
    unblind_and_verify, verify_credential, CoconutError, KeyPair, Signature, SignerIndex,
    VerificationKey,
};
use crate::credential::{parameters, NUM_ATTRIBUTES};

/// A run's fixed inputs: parameters, receivers' secret keys and dealers' seeds.
pub(super) struct Setup {
    pub params: DkgParams,
    pub sks: Vec<DkgSecretKey>,
    pub seeds: Vec<[u8; 32]>,
}

impl Setup {
    pub fn sk(&self, j: SignerIndex) -> &DkgSecretKey {
        &self.sks[j as usize - 1]
    }

    pub fn seed(&self, i: SignerIndex) -> &[u8; 32] {
        &self.seeds[i as usize - 1]
    }

    pub fn n(&self) -> u64 {
        self.params.participants()
    }
}

pub(super) fn seed(tag: u8, role: u8, index: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[0] = tag;
    s[1] = role;
    s[2..10].copy_from_slice(&index.to_le_bytes());
    s
}

pub(super) fn setup(t: u64, n: u64, tag: u8) -> Setup {
    let sks: Vec<DkgSecretKey> = (1..=n)
        .map(|j| DkgSecretKey::derive(&seed(tag, b'r', j)))
        .collect();
    let params = DkgParams::new(
        t,
        sks.iter().map(DkgSecretKey::public).collect(),
        [tag; 32],
        NUM_ATTRIBUTES,
    )
    .unwrap();
    Setup {
        params,
        sks,
        seeds: (1..=n).map(|i| seed(tag, b'd', i)).collect(),
    }
}

pub(super) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Honest dealings of every dealer.
pub(super) fn honest_dealings(s: &Setup) -> Vec<Dealing> {
    (1..=s.n())
        .map(|i| deal(&s.params, i, s.seed(i)).unwrap())
        .collect()
}

/// What a run produced.
pub(super) struct Run {
    pub transcript: DkgTranscript,
    pub outcome: DkgOutcome,
    pub keys: Vec<KeyPair>,
}

/// Runs the protocol through a transcript: `dealings` are published, every receiver checks
/// every dealing and complains when it must, qualified dealers publish `opening(dealer)` (or
/// nothing), receivers complain about bad openings, every receiver discloses for dealers that
/// need reconstruction, and every receiver derives its key pair.
pub(super) fn run(
    s: &Setup,
    dealings: Vec<Dealing>,
    opening: impl Fn(SignerIndex) -> Option<Opening>,
) -> Run {
    let params = &s.params;
    let mut rng = rng(99);
    let mut transcript = DkgTranscript::new(params.clone());
    for dealing in dealings {
        transcript.add_dealing(dealing).unwrap();
    }
    assert_eq!(transcript.advance().unwrap(), DkgPhase::Complaints);

    // Every receiver's good shares, by receiver.
    let mut received: Vec<Vec<Shares>> = vec![Vec::new(); s.n() as usize];
    for j in 1..=s.n() {
        for dealing in transcript.dealings().to_vec() {
            match receive(params, &dealing, j, s.sk(j)) {
                Ok(shares) => received[j as usize - 1].push(shares),
                Err(fault) => {
                    assert!(fault.warrants_complaint(), "{fault}");
                    let complaint = disclose(params, &dealing, j, s.sk(j), &mut rng).unwrap();
                    let verdict = transcript.add_complaint(complaint).unwrap();
                    assert_eq!(verdict, ComplaintVerdict::Upheld);
                }
            }
        }
    }
    assert_eq!(transcript.advance().unwrap(), DkgPhase::Opening);

    let qualified = transcript.qualification().unwrap().qualified.clone();
    for dealer in &qualified {
        if let Some(o) = opening(*dealer) {
            transcript.add_opening(o).unwrap();
        }
    }
    for j in 1..=s.n() {
        for opening in transcript.openings().to_vec() {
            let shares = received[j as usize - 1]
                .iter()
                .find(|sh| sh.dealer() == opening.dealer())
                .unwrap();
            if opening.verify_shares(shares).is_err() {
                let dealing = transcript.dealing(opening.dealer()).unwrap().clone();
                let complaint = disclose(params, &dealing, j, s.sk(j), &mut rng).unwrap();
                let verdict = transcript.add_opening_complaint(complaint).unwrap();
                assert_eq!(verdict, ComplaintVerdict::Upheld);
            }
        }
    }
    assert_eq!(transcript.advance().unwrap(), DkgPhase::Reconstruction);

    for dealer in transcript.needs_reconstruction() {
        let dealing = transcript.dealing(dealer).unwrap().clone();
        for j in 1..=s.n() {
            let disclosure = disclose(params, &dealing, j, s.sk(j), &mut rng).unwrap();
            transcript
                .add_reconstruction_disclosure(disclosure)
                .unwrap();
        }
    }
    let outcome = transcript.finish().unwrap();
    let keys = (1..=s.n())
        .map(|j| derive_key_pair(params, &outcome, j, &received[j as usize - 1]).unwrap())
        .collect();
    Run {
        transcript,
        outcome,
        keys,
    }
}

/// Everyone honest.
pub(super) fn honest_run(s: &Setup) -> Run {
    run(s, honest_dealings(s), |i| {
        Some(open(&s.params, i, s.seed(i)).unwrap())
    })
}

/// The oracle: `g2^{Σ_{i ∈ dealers} f^{(i)}_0(0)}`, from the seeds.
pub(super) fn expected_alpha(s: &Setup, dealers: &[SignerIndex]) -> G2Projective {
    let x: Scalar = dealers
        .iter()
        .map(|i| DealerPolynomials::derive(&s.params, *i, s.seed(*i)).values[0][0])
        .sum();
    G2Projective::generator() * x
}

pub(super) fn vk_pairs(keys: &[KeyPair], which: &[usize]) -> Vec<(SignerIndex, VerificationKey)> {
    which
        .iter()
        .map(|&p| (keys[p].index(), keys[p].verification_key().clone()))
        .collect()
}

/// Issues a credential with the keys at positions `signers`, presents it and verifies the
/// presentation under `vk`.
pub(crate) fn issue_and_verify(
    keys: &[KeyPair],
    signers: &[usize],
    vk: &VerificationKey,
    seed: u64,
) -> Result<(), CoconutError> {
    let params = parameters();
    let mut rng = rng(seed);
    let private = [
        hash_to_attribute(&seed.to_le_bytes()),
        hash_to_attribute(b"binding"),
    ];
    let public = [
        Scalar::from(1024u64),
        hash_to_attribute(b"BandwidthVoucher"),
    ];
    let (openings, request) = prepare_blind_sign(&params, &private, &public, &mut rng).unwrap();
    let partials: Vec<(SignerIndex, Signature)> = signers
        .iter()
        .map(|&p| {
            let key = &keys[p];
            let blinded = blind_sign(&params, key.secret_key(), &request, &public).unwrap();
            let sig = unblind_and_verify(
                &params,
                key.verification_key(),
                &request,
                &blinded,
                &openings,
                &private,
                &public,
            )
            .unwrap();
            (key.index(), sig)
        })
        .collect();
    let signature = aggregate_signatures(&partials)?;
    let context: &[u8] = b"dkg test";
    let theta = prove_credential(&params, vk, &signature, &private, context, &mut rng)?;
    verify_credential(&params, vk, &theta, &public, context)
}
