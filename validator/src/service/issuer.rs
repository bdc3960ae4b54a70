//! This validator's Coconut authority: its secret key share, and the published key set it
//! verifies presentations with. Pure and stateless; the crypto runs off the async workers.

use validator_core::api::{BlindSignAnswer, BlindSignBody, SpendBody};
use validator_core::chain::SpendVerifier;
use validator_core::coconut::verification::ZETA_BYTES;
use validator_core::coconut::{blind_sign, verify_credential, Parameters, SecretKey, SignerIndex};
use validator_core::credential::{parameters, request_digest, VerificationKeySet};
use validator_core::statement::{CredentialRequestDigest, SignedStatement, StatementBody};

use super::error::ServiceError;

/// A validator's share of the issuing key.
pub struct Issuer {
    params: Parameters,
    index: SignerIndex,
    secret: SecretKey,
    keys: VerificationKeySet,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Why a key share does not fit the published key set.
#[derive(Debug, thiserror::Error)]
pub enum IssuerKeyError {
    /// The key set itself is inconsistent.
    #[error("verification keys: {0}")]
    KeySet(#[from] validator_core::credential::KeySetError),
    /// The index is not in the key set.
    #[error("signer index {0} is not in the verification key set")]
    UnknownIndex(SignerIndex),
    /// The secret does not match the published key of its index.
    #[error("the secret key does not match the published verification key of index {0}")]
    KeyMismatch(SignerIndex),
}

impl Issuer {
    /// Checks that `secret` is the share of `index` in `keys`.
    pub fn new(
        index: SignerIndex,
        secret: SecretKey,
        keys: VerificationKeySet,
    ) -> Result<Self, IssuerKeyError> {
        keys.validate()?;
        let params = parameters();
        let published = keys
            .authority(index)
            .ok_or(IssuerKeyError::UnknownIndex(index))?;
        if secret.verification_key(&params) != *published {
            return Err(IssuerKeyError::KeyMismatch(index));
        }
        Ok(Self {
            params,
            index,
            secret,
            keys,
        })
    }

    /// The signer index.
    pub fn index(&self) -> SignerIndex {
        self.index
    }

    /// The published key set.
    pub fn keys(&self) -> &VerificationKeySet {
        &self.keys
    }

    /// Checks that the deposit pays for the request and the request's proof holds, then signs.
    /// Whether the deposit is decided is the caller's business (the HTTP handler waits for
    /// it).
    pub fn blind_sign(&self, body: &BlindSignBody) -> Result<BlindSignAnswer, ServiceError> {
        body.public_attributes.validate()?;
        let digest = request_digest(&body.request, &body.public_attributes);
        check_deposit(&body.deposit, body.public_attributes.bandwidth, &digest)?;
        let blinded = blind_sign(
            &self.params,
            &self.secret,
            &body.request,
            &body.public_attributes.scalars(),
        )
        .map_err(|e| ServiceError::Credential(e.to_string()))?;
        Ok(BlindSignAnswer {
            signer_index: self.index,
            blinded_signature: blinded,
        })
    }

    /// Verifies a presentation under the aggregate key, for the gateway and nonce it names;
    /// returns its spent tag.
    pub fn verify_presentation(&self, body: &SpendBody) -> Result<[u8; ZETA_BYTES], ServiceError> {
        body.public_attributes.validate()?;
        verify_credential(
            &self.params,
            &self.keys.aggregate,
            &body.theta,
            &body.public_attributes.scalars(),
            &body.context().to_bytes(),
        )
        .map_err(|e| ServiceError::Credential(e.to_string()))?;
        Ok(body.theta.zeta_bytes())
    }
}

impl SpendVerifier for Issuer {
    fn verify_spend(&self, spend: &SpendBody) -> Result<[u8; ZETA_BYTES], String> {
        self.verify_presentation(spend).map_err(|e| e.to_string())
    }
}

/// The verifier of a validator without Coconut keys: it cannot check a presentation, so it
/// refuses every spend (and votes against blocks holding one). Every validator of a chain
/// that spends credentials needs the verification keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

impl SpendVerifier for NoKeys {
    fn verify_spend(&self, _spend: &SpendBody) -> Result<[u8; ZETA_BYTES], String> {
        Err("this validator has no coconut verification keys".into())
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
