//! The single error type of the Coconut module.

use thiserror::Error;

/// Everything that can go wrong while setting up, issuing, aggregating, proving, verifying or
/// decoding Coconut credentials.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoconutError {
    /// `Parameters::new` was asked for zero attributes.
    #[error("the parameters must support at least one attribute")]
    ZeroAttributes,

    /// More attributes were supplied than the parameters or the keys support.
    #[error("{requested} attributes were supplied but only {supported} are supported")]
    TooManyAttributes {
        /// Number of attributes supplied (private + public).
        requested: usize,
        /// Number of attributes the parameters / key supports.
        supported: usize,
    },

    /// A credential needs at least one private attribute: the first is its serial number.
    #[error("at least one private attribute (the serial number) is required")]
    NoPrivateAttributes,

    /// The threshold must satisfy `1 <= threshold <= num_authorities`.
    #[error("invalid threshold {threshold} for {authorities} authorities")]
    InvalidThreshold {
        /// Requested threshold.
        threshold: u64,
        /// Requested number of authorities.
        authorities: u64,
    },

    /// Two lists that must have matching lengths do not.
    #[error("length mismatch in {what}: expected {expected}, got {actual}")]
    LengthMismatch {
        /// What was being compared.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },

    /// The commitment hash `h` of a blind-sign request is not `H(cm)`.
    #[error("the commitment hash does not match the hash of the commitment")]
    CommitmentHashMismatch,

    /// The zero-knowledge proof `pi_s` of a blind-sign request did not verify.
    #[error("the blind-sign request proof (pi_s) is invalid")]
    InvalidBlindSignProof,

    /// The zero-knowledge proof `pi_v` of a credential presentation did not verify.
    #[error("the credential proof (pi_v) is invalid")]
    InvalidCredentialProof,

    /// A signature has the identity as its first element, which would verify anything.
    #[error("the signature's first element is the identity")]
    IdentitySignature,

    /// The pairing check of a signature or credential failed.
    #[error("signature verification failed")]
    SignatureVerificationFailed,

    /// A blinded signature does not belong to the request it is being unblinded for.
    #[error("the blinded signature was not issued for this request")]
    ForeignBlindedSignature,

    /// Aggregation was asked to combine nothing.
    #[error("nothing to aggregate")]
    EmptyAggregation,

    /// Shares are indexed from 1; index 0 is where the secret lives.
    #[error("share index 0 is invalid (indices start at 1)")]
    ZeroIndex,

    /// The same share index appears twice.
    #[error("share index {0} appears more than once")]
    DuplicateIndex(u64),

    /// Partial signatures to be aggregated are on different `h`.
    #[error("partial signatures do not share the same commitment hash h")]
    MismatchedCommitmentHashes,

    /// Input bytes have the wrong length.
    #[error("cannot decode {what}: expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// The type or field being decoded.
        what: &'static str,
        /// Expected number of bytes (or at least this many).
        expected: usize,
        /// Actual number of bytes available.
        actual: usize,
    },

    /// Input bytes are not a valid compressed point of the prime-order subgroup.
    #[error("cannot decode {what}: not a valid compressed group element")]
    InvalidPoint {
        /// The type or field being decoded.
        what: &'static str,
    },

    /// Input bytes are not a canonical scalar encoding.
    #[error("cannot decode {what}: not a canonical scalar")]
    InvalidScalar {
        /// The type or field being decoded.
        what: &'static str,
    },

    /// Input bytes continue after a complete value.
    #[error("cannot decode {what}: {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// The type being decoded.
        what: &'static str,
        /// Number of bytes left over.
        extra: usize,
    },

    /// A serde string was not valid base58.
    #[error("invalid base58 string: {0}")]
    InvalidBase58(String),
}

/// Result alias used across the module.
pub type Result<T> = core::result::Result<T, CoconutError>;
