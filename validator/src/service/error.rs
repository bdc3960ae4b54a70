//! Everything a request to a validator can fail with, and the HTTP status and stable kind
//! each maps to.

use validator_core::credential::AttributeError;
use validator_core::ledger::LedgerError;
use validator_core::primitives::IdentityKey;
use validator_core::topology::{EpochId, TopologyHash};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The body is not the JSON expected.
    #[error("malformed request body: {0}")]
    BadRequest(String),
    /// The statement was refused by the ledger rules.
    #[error("{0}")]
    Statement(LedgerError),
    /// The identity is not among the genesis validators.
    #[error("{0} is not a validator of this chain")]
    NotAValidator(IdentityKey),
    /// A peer message from someone who is not another genesis validator.
    #[error("{0} is not another validator of this chain")]
    NotAPeer(IdentityKey),
    /// A peer message whose signature does not verify.
    #[error("signature by {0} does not verify")]
    BadPeerSignature(IdentityKey),
    /// A relayed statement for an epoch already applied here.
    #[error(
        "relay for epoch {epoch} arrived after its cutoff (applied through {applied_through})"
    )]
    RelayTooLate {
        /// The relay's epoch.
        epoch: EpochId,
        /// The last epoch applied here.
        applied_through: EpochId,
    },
    /// A relayed statement for an epoch too far ahead.
    #[error("relay for epoch {epoch} is beyond this validator's horizon ({horizon})")]
    RelayTooEarly {
        /// The relay's epoch.
        epoch: EpochId,
        /// The furthest epoch accepted now.
        horizon: EpochId,
    },
    /// A peer signed a different topology than ours.
    #[error("topology of epoch {epoch} differs: ours {ours}, theirs {theirs}")]
    TopologyMismatch {
        /// The epoch.
        epoch: EpochId,
        /// Our topology hash.
        ours: TopologyHash,
        /// The peer's.
        theirs: TopologyHash,
    },
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
    /// This validator has no Coconut keys.
    #[error("this validator does not issue or verify credentials (no coconut keys configured)")]
    NoCredentials,
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::Attributes(_) => 400,
            Self::NotAPeer(_) | Self::BadPeerSignature(_) | Self::NotAValidator(_) => 403,
            Self::UnknownEpoch(_) | Self::UnknownAccount(_) | Self::NoEndpoint(_) => 404,
            Self::AlreadySpent(_) | Self::TopologyMismatch { .. } | Self::RelayTooLate { .. } => {
                409
            }
            Self::Statement(LedgerError::PoolFull { .. }) => 503,
            Self::Statement(_)
            | Self::RelayTooEarly { .. }
            | Self::DepositMismatch
            | Self::NotADeposit
            | Self::Credential(_) => 422,
            Self::NoCredentials => 501,
            Self::Internal(_) => 500,
        }
    }

    /// A stable machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Statement(_) => "invalid_statement",
            Self::NotAValidator(_) | Self::NotAPeer(_) => "not_a_peer",
            Self::BadPeerSignature(_) => "bad_signature",
            Self::RelayTooLate { .. } => "relay_too_late",
            Self::RelayTooEarly { .. } => "relay_too_early",
            Self::TopologyMismatch { .. } => "topology_mismatch",
            Self::UnknownEpoch(_) | Self::UnknownAccount(_) | Self::NoEndpoint(_) => "not_found",
            Self::Attributes(_) => "invalid_attributes",
            Self::DepositMismatch | Self::NotADeposit => "invalid_deposit",
            Self::Credential(_) => "invalid_credential",
            Self::AlreadySpent(_) => "already_spent",
            Self::NoCredentials => "no_credentials",
            Self::Internal(_) => "internal",
        }
    }
}
