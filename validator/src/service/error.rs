//! Everything a request to a validator can fail with, and the HTTP status and stable kind
//! each maps to.

use validator_core::chain::sphinx_keys::SphinxKeyError;
use validator_core::chain::ChainError;
use validator_core::credential::AttributeError;
use validator_core::ledger::LedgerError;
use validator_core::peer_auth::PeerAuthError;
use validator_core::primitives::IdentityKey;
use validator_core::topology::EpochId;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The body is not the JSON expected.
    #[error("malformed request body: {0}")]
    BadRequest(String),
    /// The transaction was refused (signature, chain rules, mempool bounds).
    #[error("{0}")]
    Chain(#[from] ChainError),
    /// A peer relay without a valid signature of another validator of the chain.
    #[error("{0}")]
    PeerAuth(#[from] PeerAuthError),
    /// This address sent more requests of this kind than its limit allows
    /// ([`super::rate_limit`]).
    #[error("too many {class} requests from this address; retry in {retry_after_secs} s")]
    RateLimited {
        /// The request's cost class.
        class: &'static str,
        /// When the address may send again.
        retry_after_secs: u64,
    },
    /// Too many checks are waiting already; retrying later is safe.
    #[error("busy: too many checks waiting; retry in {retry_after_secs} s")]
    Busy {
        /// A suggested wait.
        retry_after_secs: u64,
    },
    /// The transaction is valid but no block included it in time; retrying is safe.
    #[error("not decided within {0} s; the transaction stays pending, ask again")]
    NotDecided(u64),
    /// A conflicting transaction was decided instead (same account nonce, or the same
    /// credential spent for another gateway or nonce).
    #[error("a conflicting transaction was decided: {0}")]
    Conflict(String),
    /// No decided block at that height here.
    #[error("no decided block at height {0} here")]
    UnknownBlock(u64),
    /// No topology kept for that epoch.
    #[error("no topology for epoch {0}")]
    UnknownEpoch(EpochId),
    /// No route matches the request.
    #[error("no such endpoint: {0}")]
    NoEndpoint(String),
    /// No such account.
    #[error("unknown account {0}")]
    UnknownAccount(IdentityKey),
    /// Bad public attributes.
    #[error("invalid public attributes: {0}")]
    Attributes(#[from] AttributeError),
    /// The deposit's amount or digest does not match the request.
    #[error("the deposit must pay exactly the bandwidth for the digest of this request")]
    DepositMismatch,
    /// The statement is not a deposit.
    #[error("the deposit field must hold a deposit statement")]
    NotADeposit,
    /// A Coconut check failed (request proof, presentation, encoding).
    #[error("credential check failed: {0}")]
    Credential(String),
    /// The presentation's serial number was spent before.
    #[error("credential already spent (zeta {0})")]
    AlreadySpent(String),
    /// The chain's key generation has not completed yet (or this validator holds no share
    /// of its keys).
    #[error("no credential keys yet: the validators' key generation has not completed (see /v1/key-epochs)")]
    KeysNotReady,
    /// The chain keeps no run of this key epoch.
    #[error("unknown key epoch {0}")]
    UnknownKeyEpoch(validator_core::chain::dkg::KeyEpochId),
    /// The current epoch has no topology signed by a threshold of validators yet (the
    /// directory answers only from verified ones).
    #[error("no verified topology yet: {0}")]
    TopologyNotReady(String),
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Attributes(_) => 400,
            Self::PeerAuth(PeerAuthError::NotAPeer(_)) => 403,
            Self::PeerAuth(_) => 401,
            Self::RateLimited { .. } => 429,
            Self::Busy { .. } => 503,
            Self::UnknownEpoch(_)
            | Self::UnknownAccount(_)
            | Self::NoEndpoint(_)
            | Self::UnknownBlock(_)
            | Self::UnknownKeyEpoch(_) => 404,
            Self::AlreadySpent(_) | Self::Conflict(_) => 409,
            Self::Chain(e) => match e.root() {
                ChainError::MempoolFull { .. } | ChainError::AccountFull { .. } => 503,
                // A nonce already used conflicts with the committed state: the same answer as
                // losing a race in the mempool, whichever of the two came first.
                ChainError::DoubleSpend { .. }
                | ChainError::Ledger(LedgerError::NonceReused { .. })
                | ChainError::SlotTaken(_)
                | ChainError::SphinxKeyRefused(SphinxKeyError::AlreadyAnnounced { .. }) => 409,
                _ => 422,
            },
            Self::DepositMismatch | Self::NotADeposit | Self::Credential(_) => 422,
            Self::KeysNotReady | Self::TopologyNotReady(_) => 503,
            Self::NotDecided(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The `Retry-After` of a refusal that asks to come back later, in seconds.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            }
            | Self::Busy { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// A stable machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Chain(e) => e.root().kind(),
            Self::PeerAuth(e) => e.kind(),
            Self::RateLimited { .. } => "rate_limited",
            Self::Busy { .. } => "busy",
            Self::NotDecided(_) => "not_decided",
            Self::Conflict(_) => "conflict",
            Self::UnknownEpoch(_)
            | Self::UnknownAccount(_)
            | Self::NoEndpoint(_)
            | Self::UnknownBlock(_)
            | Self::UnknownKeyEpoch(_) => "not_found",
            Self::Attributes(_) => "invalid_attributes",
            Self::DepositMismatch | Self::NotADeposit => "invalid_deposit",
            Self::Credential(_) => "invalid_credential",
            Self::AlreadySpent(_) => "already_spent",
            Self::KeysNotReady => "keys_not_ready",
            Self::TopologyNotReady(_) => "topology_not_ready",
            Self::Internal(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: ChainError) -> ServiceError {
        ServiceError::Chain(e)
    }

    #[test]
    fn a_used_nonce_is_a_conflict_whichever_way_the_race_went() {
        let used = chain(ChainError::from(LedgerError::NonceReused {
            nonce: 4,
            next: 5,
        }));
        assert_eq!(used.status(), 409);
        // A nonce from the future is the sender's mistake, not a conflict.
        let gap = chain(ChainError::from(LedgerError::NonceGap {
            nonce: 7,
            next: 5,
        }));
        assert_eq!((gap.status(), gap.kind()), (422, "statement_refused"));
    }

    #[test]
    fn come_back_later_refusals_carry_their_retry_after() {
        let limited = ServiceError::RateLimited {
            class: "write",
            retry_after_secs: 1,
        };
        assert_eq!(
            (limited.status(), limited.kind(), limited.retry_after_secs()),
            (429, "rate_limited", Some(1))
        );
        let busy = ServiceError::Busy {
            retry_after_secs: 2,
        };
        assert_eq!(
            (busy.status(), busy.kind(), busy.retry_after_secs()),
            (503, "busy", Some(2))
        );
        assert_eq!(ServiceError::KeysNotReady.retry_after_secs(), None);
    }

    #[test]
    fn a_stranger_is_forbidden_and_a_bad_envelope_unauthorized() {
        let key = validator_core::test_util::identity(&validator_core::test_util::validator_key(1));
        let stranger = ServiceError::from(PeerAuthError::NotAPeer(key));
        assert_eq!((stranger.status(), stranger.kind()), (403, "not_a_peer"));
        let forged = ServiceError::from(PeerAuthError::BadSignature);
        assert_eq!(
            (forged.status(), forged.kind()),
            (401, "peer_auth_bad_signature")
        );
    }
}
