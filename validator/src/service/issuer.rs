//! This validator's Coconut authority: blind signatures with its share of the current key
//! epoch's key (derived from the chain's key generation, `chain::dkg`), and presentations
//! checked under the chain's key set of their key epoch. The crypto runs off the async
//! workers.

use validator_core::api::{BlindSignAnswer, BlindSignBody, SpendBody};
use validator_core::chain::dkg::KeyEpochId;
use validator_core::chain::SpendVerifier;
use validator_core::coconut::verification::ZETA_BYTES;
use validator_core::coconut::{blind_sign, verify_credential, KeyPair, Parameters};
use validator_core::credential::{parameters, request_digest, VerificationKeySet};
use validator_core::statement::{CredentialRequestDigest, SignedStatement, StatementBody};

use super::error::ServiceError;

/// The Coconut operations of a validator: stateless, the keys are given.
pub struct Issuer {
    params: Parameters,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

impl Default for Issuer {
    fn default() -> Self {
        Self::new()
    }
}

impl Issuer {
    /// The issuer of this network's credentials.
    pub fn new() -> Self {
        Self {
            params: parameters(),
        }
    }

    /// Checks that the deposit pays for the request and the request's proof holds, then signs
    /// with `key`, this validator's share of key epoch `key_epoch`. Whether the deposit is
    /// decided is the caller's business (the HTTP handler waits for it).
    pub fn blind_sign(
        &self,
        key_epoch: KeyEpochId,
        key: &KeyPair,
        body: &BlindSignBody,
    ) -> Result<BlindSignAnswer, ServiceError> {
        body.public_attributes.validate()?;
        let digest = request_digest(&body.request, &body.public_attributes);
        check_deposit(&body.deposit, body.public_attributes.bandwidth, &digest)?;
        let blinded = blind_sign(
            &self.params,
            key.secret_key(),
            &body.request,
            &body.public_attributes.scalars(),
        )
        .map_err(|e| ServiceError::Credential(e.to_string()))?;
        Ok(BlindSignAnswer {
            key_epoch,
            signer_index: key.index(),
            blinded_signature: blinded,
        })
    }

    /// Verifies a presentation under the aggregate key of `keys`, for the gateway and nonce
    /// it names; returns its spent tag.
    pub fn verify_presentation(
        &self,
        keys: &VerificationKeySet,
        body: &SpendBody,
    ) -> Result<[u8; ZETA_BYTES], ServiceError> {
        body.public_attributes.validate()?;
        verify_credential(
            &self.params,
            &keys.aggregate,
            &body.theta,
            &body.public_attributes.scalars(),
            &body.context().to_bytes(),
        )
        .map_err(|e| ServiceError::Credential(e.to_string()))?;
        Ok(body.theta.zeta_bytes())
    }
}

impl SpendVerifier for Issuer {
    fn verify_spend(
        &self,
        spend: &SpendBody,
        keys: Option<&VerificationKeySet>,
    ) -> Result<[u8; ZETA_BYTES], String> {
        let keys = keys.ok_or_else(|| {
            format!(
                "the chain holds no keys of key epoch {} (not generated yet, or retired)",
                spend.key_epoch
            )
        })?;
        self.verify_presentation(keys, spend)
            .map_err(|e| e.to_string())
    }
}

/// Checks that `deposit` pays `amount` for `digest`.
pub fn check_deposit(
    deposit: &SignedStatement,
    amount: u64,
    digest: &CredentialRequestDigest,
) -> Result<(), ServiceError> {
    match &deposit.statement.body {
        StatementBody::Deposit {
            amount: paid,
            credential_request_digest,
        } if *paid == amount && credential_request_digest == digest => Ok(()),
        StatementBody::Deposit { .. } => Err(ServiceError::DepositMismatch),
        _ => Err(ServiceError::NotADeposit),
    }
}
