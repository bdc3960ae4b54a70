//! Errors of the DKG: [`DkgError`] for refused inputs and failed checks, [`ShareFault`] for
//! what a receiver finds when it decrypts a dealing.

use thiserror::Error;

use super::transcript::DkgPhase;
use crate::coconut::{CoconutError, SignerIndex};
use crate::credential::KeySetError;

/// Everything the DKG can refuse or fail at, naming the dealer, receiver, secret or field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DkgError {
    /// The threshold must satisfy `1 <= threshold <= participants`.
    #[error("invalid threshold {threshold} for {participants} participants")]
    InvalidThreshold {
        /// Requested threshold.
        threshold: u64,
        /// Number of participants.
        participants: u64,
    },

    /// A count exceeds the limit this implementation accepts.
    #[error("{what}: {actual} exceeds the maximum of {max}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The limit.
        max: usize,
        /// The count found.
        actual: usize,
    },

    /// A hex text form does not decode.
    #[error("invalid hex: {0}")]
    InvalidHex(String),

    /// Keys must support at least one attribute.
    #[error("the keys must support at least one attribute")]
    ZeroAttributes,

    /// Two receivers registered the same key.
    #[error("receivers {first} and {second} registered the same key")]
    DuplicateReceiverKey {
        /// The first receiver with that key.
        first: SignerIndex,
        /// The second.
        second: SignerIndex,
    },

    /// A receiver key is the identity point.
    #[error("receiver {receiver}'s key is the identity")]
    IdentityReceiverKey {
        /// The receiver.
        receiver: SignerIndex,
    },

    /// A dealer index is 0 or above the number of participants.
    #[error("dealer index {dealer} is not in 1..={participants}")]
    DealerOutOfRange {
        /// The index found.
        dealer: SignerIndex,
        /// Number of participants.
        participants: u64,
    },

    /// A receiver index is 0 or above the number of participants.
    #[error("receiver index {receiver} is not in 1..={participants}")]
    ReceiverOutOfRange {
        /// The index found.
        receiver: SignerIndex,
        /// Number of participants.
        participants: u64,
    },

    /// A list in a dealing, opening, disclosure or share set has the wrong length.
    #[error("dealer {dealer}: {what} has {actual} entries, expected {expected}")]
    WrongShape {
        /// The dealer the item is about.
        dealer: SignerIndex,
        /// Which list.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },

    /// A dealing's ephemeral key `R` is the identity, which would make its encryption void.
    #[error("dealer {dealer}'s ephemeral key is the identity")]
    IdentityEphemeral {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// The secret key given is not the one registered for this receiver.
    #[error("the secret key is not receiver {receiver}'s registered key")]
    WrongSecretKey {
        /// The receiver.
        receiver: SignerIndex,
    },

    /// An item names a dealer other than the dealing or opening it is checked against.
    #[error("the item is for dealer {actual}, but dealer {expected}'s data was given")]
    DealerMismatch {
        /// The dealer of the dealing / opening.
        expected: SignerIndex,
        /// The dealer named by the item.
        actual: SignerIndex,
    },

    /// The DLEQ proof of a disclosure does not verify.
    #[error("receiver {receiver}'s disclosure for dealer {dealer} has an invalid proof")]
    InvalidDisclosureProof {
        /// The dealer.
        dealer: SignerIndex,
        /// The receiver who disclosed.
        receiver: SignerIndex,
    },

    /// Disclosed shares do not match the dealer's Pedersen commitments, so they cannot be used
    /// to reconstruct its polynomials.
    #[error("receiver {receiver}'s disclosed shares of dealer {dealer} fail its commitments (secret {secret})")]
    SharesFailCommitments {
        /// The dealer.
        dealer: SignerIndex,
        /// The receiver.
        receiver: SignerIndex,
        /// The first secret whose check failed.
        secret: usize,
    },

    /// Shares do not match a dealer's opening.
    #[error("receiver {receiver}'s shares of dealer {dealer} do not match its opening (secret {secret})")]
    SharesFailOpening {
        /// The dealer.
        dealer: SignerIndex,
        /// The receiver.
        receiver: SignerIndex,
        /// The first secret whose check failed.
        secret: usize,
    },

    /// An opening's G1 and G2 commitments do not hide the same exponents.
    #[error("dealer {dealer}'s opening has G1 and G2 commitments to different values")]
    InconsistentOpening {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// A second dealing from the same dealer.
    #[error("dealer {dealer} already has a dealing")]
    DuplicateDealing {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// A second opening from the same dealer.
    #[error("dealer {dealer} already has an opening")]
    DuplicateOpening {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// A second disclosure by the same receiver for the same dealer in the same phase.
    #[error("receiver {receiver} already disclosed for dealer {dealer} in this phase")]
    DuplicateDisclosure {
        /// The dealer.
        dealer: SignerIndex,
        /// The receiver.
        receiver: SignerIndex,
    },

    /// An item refers to a dealer without an accepted dealing.
    #[error("dealer {dealer} has no accepted dealing")]
    NoDealing {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// An item refers to a dealer outside QUAL.
    #[error("dealer {dealer} is not qualified")]
    NotQualified {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// An opening complaint names a dealer whose opening is not there.
    #[error("dealer {dealer} has no opening")]
    NoOpening {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// A disclosure for reconstruction names a dealer that does not need reconstructing.
    #[error("dealer {dealer} opened correctly and needs no reconstruction")]
    NoReconstructionNeeded {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// A complaint in a transcript is not valid (the chain should have refused it).
    #[error("receiver {receiver}'s complaint against dealer {dealer} is invalid: {reason}")]
    InvalidComplaint {
        /// The dealer complained about.
        dealer: SignerIndex,
        /// The complaining receiver.
        receiver: SignerIndex,
        /// Why it is invalid.
        reason: String,
    },

    /// Fewer than `t` valid disclosures to reconstruct a dealer's polynomials.
    #[error("dealer {dealer}: {have} disclosures to reconstruct from, {need} needed")]
    NotEnoughDisclosures {
        /// The dealer.
        dealer: SignerIndex,
        /// Valid distinct disclosures available.
        have: usize,
        /// The threshold.
        need: usize,
    },

    /// A qualified dealer has no final opening.
    #[error("qualified dealer {dealer} has no opening")]
    MissingOpening {
        /// The dealer.
        dealer: SignerIndex,
    },

    /// A receiver lacks its shares from a qualified dealer.
    #[error("receiver {receiver} has no shares from qualified dealer {dealer}")]
    MissingShares {
        /// The dealer.
        dealer: SignerIndex,
        /// The receiver.
        receiver: SignerIndex,
    },

    /// Shares given for one receiver are for another.
    #[error("shares for receiver {actual} were given for receiver {expected}")]
    ReceiverMismatch {
        /// The receiver the caller is.
        expected: SignerIndex,
        /// The receiver the shares are for.
        actual: SignerIndex,
    },

    /// The qualified set is empty: no key can be formed.
    #[error("no dealer is qualified")]
    EmptyQualifiedSet,

    /// A receiver's derived secret key does not match its publicly computed key.
    #[error("receiver {receiver}'s derived key does not match its public verification key")]
    KeyMismatch {
        /// The receiver.
        receiver: SignerIndex,
    },

    /// A transcript item arrived in the wrong phase.
    #[error("{item} belongs to the {expected:?} phase, the transcript is in {actual:?}")]
    WrongPhase {
        /// The kind of item.
        item: &'static str,
        /// The phase it belongs to.
        expected: DkgPhase,
        /// The transcript's phase.
        actual: DkgPhase,
    },

    /// Bytes could not be decoded, or Coconut refused a computation.
    #[error(transparent)]
    Coconut(#[from] CoconutError),

    /// The resulting verification-key set is inconsistent.
    #[error(transparent)]
    KeySet(#[from] KeySetError),
}

impl DkgError {
    /// [`DkgError::WrongShape`] of `dealer`'s `what` unless `actual` is `expected`.
    pub(crate) fn check_shape(
        dealer: SignerIndex,
        what: &'static str,
        expected: usize,
        actual: usize,
    ) -> Result<(), DkgError> {
        if expected == actual {
            Ok(())
        } else {
            Err(DkgError::WrongShape {
                dealer,
                what,
                expected,
                actual,
            })
        }
    }
}

/// What a receiver finds wrong with a dealing addressed to it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShareFault {
    /// The decrypted shares fail the dealer's Pedersen commitments: file a complaint
    /// (a [`super::Disclosure`]) against the dealer.
    #[error(
        "dealer {dealer}'s shares for receiver {receiver} fail its commitments (secret {secret})"
    )]
    BadShares {
        /// The dealer.
        dealer: SignerIndex,
        /// The receiver.
        receiver: SignerIndex,
        /// The first secret whose check failed.
        secret: usize,
    },

    /// The inputs were refused before any share was checked (wrong index, wrong key,
    /// malformed dealing): no complaint is warranted.
    #[error(transparent)]
    Refused(#[from] DkgError),
}

impl ShareFault {
    /// Whether the receiver should complain (publish a disclosure) about this dealing.
    pub fn warrants_complaint(&self) -> bool {
        matches!(self, ShareFault::BadShares { .. })
    }
}
