//! A validator's side of the key generation: what it sends in each phase, and the key share
//! it derives at the end. Pure: the validator calls it after each decided block with the
//! committed state.
//!
//! A validator's receiver key and dealer polynomials for a run are derived from its identity
//! secret and the run's context (SHA-256 with their own domains), so it stores nothing: after
//! a crash it recomputes the same dealing, opening and share from the chain.

use ed25519_dalek::SigningKey;
use rand_core_v010::CryptoRng;
use zeroize::Zeroizing;

use super::key_epoch::{KeyEpoch, Phase};
use super::message::{DkgBody, DkgMessage};
use crate::coconut::dkg::{
    deal, derive_key_pair, disclose, open, receive, Dealing, Disclosure, DkgParams, DkgSecretKey,
    ShareFault, Shares,
};
use crate::coconut::{KeyPair, SignerIndex};
use crate::genesis::{Genesis, GenesisHash};
use crate::primitives::{sha256, IdentityKey};

/// Domain of a run's receiver-key seed.
pub const RECEIVER_SEED_DOMAIN: &[u8] = b"mixnet-dkg-receiver-seed-v1";
/// Domain of a run's dealer seed.
pub const DEALER_SEED_DOMAIN: &[u8] = b"mixnet-dkg-dealer-seed-v1";

/// A genesis validator taking part in the key generation.
pub struct Participant {
    identity: SigningKey,
    key: IdentityKey,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("identity", &self.key)
            .finish_non_exhaustive()
    }
}

impl Participant {
    /// The validator with this identity key.
    pub fn new(identity: SigningKey) -> Self {
        let key = IdentityKey::from(&identity);
        Self { identity, key }
    }

    /// Its identity.
    pub fn identity(&self) -> IdentityKey {
        self.key
    }

    /// `body` signed as this validator's message in run `key_epoch`.
    pub fn sign(
        &self,
        genesis_hash: &GenesisHash,
        key_epoch: super::message::KeyEpochId,
        body: DkgBody,
    ) -> DkgMessage {
        DkgMessage::sign(genesis_hash, key_epoch, body, &self.identity)
    }

    fn seed(&self, domain: &[u8], context: &[u8; 32]) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(sha256(&[domain, self.identity.as_bytes(), context]))
    }

    /// Its receiver key for `run`.
    pub fn receiver_key(&self, genesis_hash: &GenesisHash, run: &KeyEpoch) -> DkgSecretKey {
        let context = KeyEpoch::context(genesis_hash, run.id);
        DkgSecretKey::derive(&self.seed(RECEIVER_SEED_DOMAIN, &context))
    }

    fn dealer_seed(&self, params: &DkgParams) -> Zeroizing<[u8; 32]> {
        self.seed(DEALER_SEED_DOMAIN, params.context())
    }

    /// The message this validator owes in `run`'s current phase, if any (it has not sent
    /// one that the state holds). Errors say why it cannot build one.
    pub fn message<R: CryptoRng + ?Sized>(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
        run: &KeyEpoch,
        rng: &mut R,
    ) -> Result<Option<DkgMessage>, String> {
        if !run.expects(&self.key) || run.has_sent(&self.key) {
            return Ok(None);
        }
        let body = match run.phase {
            Phase::Registration => DkgBody::Register(self.receiver_key(genesis_hash, run).public()),
            Phase::Complete | Phase::Failed => return Ok(None),
            phase => {
                let (params, index) = self.params_and_index(genesis, genesis_hash, run)?;
                match phase {
                    Phase::Dealing => DkgBody::Dealing(Box::new(
                        deal(&params, index, &self.dealer_seed(&params))
                            .map_err(|e| e.to_string())?,
                    )),
                    Phase::Complaints => DkgBody::Complaints(self.complaints(
                        genesis_hash,
                        run,
                        (&params, index),
                        rng,
                    )?),
                    Phase::Opening => DkgBody::Opening(Box::new(
                        open(&params, index, &self.dealer_seed(&params))
                            .map_err(|e| e.to_string())?,
                    )),
                    Phase::OpeningComplaints => DkgBody::OpeningComplaints(
                        self.opening_complaints(genesis_hash, run, (&params, index), rng)?,
                    ),
                    _ => {
                        DkgBody::Reveals(self.reveals(genesis_hash, run, (&params, index), rng)?)
                    }
                }
            }
        };
        Ok(Some(DkgMessage::sign(
            genesis_hash,
            run.id,
            body,
            &self.identity,
        )))
    }

    fn params_and_index(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
        run: &KeyEpoch,
    ) -> Result<(DkgParams, SignerIndex), String> {
        let params = run
            .params(genesis, genesis_hash)
            .map_err(|e| format!("the run's parameters: {e}"))?;
        let index = run
            .index_of(&self.key)
            .ok_or_else(|| format!("{} is not a participant of key epoch {}", self.key, run.id))?;
        Ok((params, index))
    }

    /// Disclosures of our key for every dealing of `run` that `wanted` picks, given our
    /// shares of it as [`receive`] found them.
    fn disclosures<R: CryptoRng + ?Sized>(
        &self,
        genesis_hash: &GenesisHash,
        run: &KeyEpoch,
        (params, index): (&DkgParams, SignerIndex),
        rng: &mut R,
        wanted: impl Fn(&Dealing, &Result<Shares, ShareFault>) -> Result<bool, String>,
    ) -> Result<Vec<Disclosure>, String> {
        let sk = self.receiver_key(genesis_hash, run);
        let mut out = Vec::new();
        for dealing in run.dealings.values() {
            let shares = receive(params, dealing, index, &sk);
            if wanted(dealing, &shares)? {
                out.push(disclose(params, dealing, index, &sk, rng).map_err(|e| e.to_string())?);
            }
        }
        Ok(out)
    }

    /// Phase 1 complaints: every dealing whose shares to us fail their commitments.
    fn complaints<R: CryptoRng + ?Sized>(
        &self,
        genesis_hash: &GenesisHash,
        run: &KeyEpoch,
        at: (&DkgParams, SignerIndex),
        rng: &mut R,
    ) -> Result<Vec<Disclosure>, String> {
        self.disclosures(genesis_hash, run, at, rng, |_, shares| match shares {
            Ok(_) => Ok(false),
            Err(ShareFault::BadShares { .. }) => Ok(true),
            Err(ShareFault::Refused(e)) => Err(e.to_string()),
        })
    }

    /// Phase 2 complaints: every opening our (valid) shares fail.
    fn opening_complaints<R: CryptoRng + ?Sized>(
        &self,
        genesis_hash: &GenesisHash,
        run: &KeyEpoch,
        at: (&DkgParams, SignerIndex),
        rng: &mut R,
    ) -> Result<Vec<Disclosure>, String> {
        self.disclosures(genesis_hash, run, at, rng, |dealing, shares| {
            Ok(match (run.openings.get(&dealing.dealer()), shares) {
                (Some(opening), Ok(shares)) => opening.verify_shares(shares).is_err(),
                _ => false,
            })
        })
    }

    /// Reveals: our shares of every dealer being reconstructed (only shares that pass the
    /// commitments help, and only those are taken).
    fn reveals<R: CryptoRng + ?Sized>(
        &self,
        genesis_hash: &GenesisHash,
        run: &KeyEpoch,
        at: (&DkgParams, SignerIndex),
        rng: &mut R,
    ) -> Result<Vec<Disclosure>, String> {
        self.disclosures(genesis_hash, run, at, rng, |dealing, shares| {
            Ok(run.reconstruct.contains(&dealing.dealer()) && shares.is_ok())
        })
    }

    /// This validator's key pair of a completed `run`: the sum of its shares from every
    /// qualified dealer, checked against the run's public partial key.
    pub fn key_pair(
        &self,
        genesis: &Genesis,
        genesis_hash: &GenesisHash,
        run: &KeyEpoch,
    ) -> Result<KeyPair, String> {
        let (params, index) = self.params_and_index(genesis, genesis_hash, run)?;
        let outcome = run.outcome(genesis, genesis_hash)?;
        let sk = self.receiver_key(genesis_hash, run);
        let mut shares: Vec<Shares> = Vec::new();
        for dealer in outcome.qualified() {
            let dealing = run
                .dealings
                .get(dealer)
                .ok_or_else(|| format!("qualified dealer {dealer} has no dealing"))?;
            shares.push(
                receive(&params, dealing, index, &sk)
                    .map_err(|e| format!("my shares from dealer {dealer}: {e}"))?,
            );
        }
        derive_key_pair(&params, &outcome, index, &shares).map_err(|e| e.to_string())
    }
}
