//! Cross-module tests of the whole protocol, with shared fixtures.

mod double_spend;
mod end_to_end;
mod serialization;
mod tampering;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::coconut::*;

/// Two private (serial, binding) and two public (bandwidth, type) attributes.
pub(super) const PRIVATE: usize = 2;
pub(super) const PUBLIC: usize = 2;
/// What the presentations of these tests are for (a gateway and a nonce, in the network).
pub(super) const CONTEXT: &[u8] = b"gateway g1, nonce 1";

pub(super) struct Authorities {
    pub params: Parameters,
    pub keys: Vec<KeyPair>,
    /// Aggregate of all `n` partial keys.
    pub vk: VerificationKey,
    pub threshold: usize,
}

pub(super) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub(super) fn authorities(threshold: u64, n: u64, rng: &mut StdRng) -> Authorities {
    let params = Parameters::new(PRIVATE + PUBLIC).unwrap();
    let keys = ttp_keygen(&params, threshold, n, rng).unwrap();
    let vk = aggregate_verification_keys(&vk_shares(&keys, &(0..keys.len()).collect::<Vec<_>>()))
        .unwrap();
    Authorities {
        params,
        keys,
        vk,
        threshold: threshold as usize,
    }
}

pub(super) fn vk_shares(keys: &[KeyPair], which: &[usize]) -> Vec<(SignerIndex, VerificationKey)> {
    which
        .iter()
        .map(|&i| (keys[i].index(), keys[i].verification_key().clone()))
        .collect()
}

pub(super) struct User {
    pub private: Vec<Scalar>,
    pub public: Vec<Scalar>,
}

pub(super) fn user(rng: &mut StdRng) -> User {
    use ff::Field;
    User {
        private: vec![Scalar::random(&mut *rng), Scalar::random(&mut *rng)],
        public: vec![
            Scalar::from(1_000_000u64),
            hash_to_attribute(b"BandwidthVoucher"),
        ],
    }
}

/// Runs blind issuance with every authority and returns all verified partial signatures.
pub(super) fn partial_signatures(
    auth: &Authorities,
    user: &User,
    rng: &mut StdRng,
) -> Vec<(SignerIndex, Signature)> {
    let (openings, request) =
        prepare_blind_sign(&auth.params, &user.private, &user.public, rng).unwrap();
    auth.keys
        .iter()
        .map(|key| {
            let blinded =
                blind_sign(&auth.params, key.secret_key(), &request, &user.public).unwrap();
            let signature = unblind_and_verify(
                &auth.params,
                key.verification_key(),
                &request,
                &blinded,
                &openings,
                &user.private,
                &user.public,
            )
            .unwrap();
            (key.index(), signature)
        })
        .collect()
}

/// `count` distinct random positions among the authorities.
pub(super) fn random_subset(n: usize, count: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    all.shuffle(rng);
    all.truncate(count);
    all
}

/// A full credential: aggregated from a random set of `t` authorities.
pub(super) fn credential(auth: &Authorities, user: &User, rng: &mut StdRng) -> Signature {
    let partials = partial_signatures(auth, user, rng);
    let chosen = random_subset(partials.len(), auth.threshold, rng);
    let subset: Vec<_> = chosen.iter().map(|&i| partials[i]).collect();
    aggregate_signatures(&subset).unwrap()
}

pub(super) fn all_attributes(user: &User) -> Vec<Scalar> {
    user.private.iter().chain(&user.public).copied().collect()
}
