//! [`DkgParams`]: what every participant of one key generation agrees on beforehand.

use serde::{Deserialize, Serialize};

use super::encryption::DkgPublicKey;
use super::error::DkgError;
use crate::coconut::SignerIndex;

/// Largest number of participants accepted (also bounds decoding).
pub const MAX_PARTICIPANTS: usize = 256;

/// Largest number of secrets per key (`x` and the `y`s) accepted (also bounds decoding).
pub const MAX_SECRETS: usize = 64;

/// The public parameters of one DKG run: threshold `t`, the receivers' keys (receiver `j` is
/// at position `j - 1`, so `n = receivers.len()`), the context every hash is bound to, and the
/// number of secrets `q + 1` per key.
///
/// Built only through [`DkgParams::new`] (deserialising validates too), so every value is
/// consistent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDkgParams", into = "RawDkgParams")]
pub struct DkgParams {
    threshold: u64,
    receivers: Vec<DkgPublicKey>,
    context: [u8; 32],
    num_secrets: usize,
}

/// The serde form of [`DkgParams`], validated on the way in.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDkgParams {
    threshold: u64,
    receivers: Vec<DkgPublicKey>,
    context: [u8; 32],
    num_attributes: usize,
}

impl TryFrom<RawDkgParams> for DkgParams {
    type Error = DkgError;

    fn try_from(raw: RawDkgParams) -> Result<Self, DkgError> {
        DkgParams::new(
            raw.threshold,
            raw.receivers,
            raw.context,
            raw.num_attributes,
        )
    }
}

impl From<DkgParams> for RawDkgParams {
    fn from(params: DkgParams) -> Self {
        RawDkgParams {
            threshold: params.threshold,
            num_attributes: params.num_attributes(),
            receivers: params.receivers,
            context: params.context,
        }
    }
}

impl DkgParams {
    /// Parameters for keys supporting `num_attributes` attributes (4 for this network's
    /// credentials, [`crate::credential::NUM_ATTRIBUTES`]).
    ///
    /// `context` should identify the run uniquely (the chain uses the hash of its genesis and
    /// the key epoch). Rejects `threshold` outside `1..=n`, more than [`MAX_PARTICIPANTS`]
    /// receivers, zero attributes or more than `MAX_SECRETS - 1`, and identity or repeated
    /// receiver keys.
    pub fn new(
        threshold: u64,
        receivers: Vec<DkgPublicKey>,
        context: [u8; 32],
        num_attributes: usize,
    ) -> Result<Self, DkgError> {
        if receivers.len() > MAX_PARTICIPANTS {
            return Err(DkgError::TooLarge {
                what: "receivers",
                max: MAX_PARTICIPANTS,
                actual: receivers.len(),
            });
        }
        let participants = receivers.len() as u64;
        if threshold == 0 || threshold > participants {
            return Err(DkgError::InvalidThreshold {
                threshold,
                participants,
            });
        }
        if num_attributes == 0 {
            return Err(DkgError::ZeroAttributes);
        }
        if num_attributes >= MAX_SECRETS {
            return Err(DkgError::TooLarge {
                what: "attributes",
                max: MAX_SECRETS - 1,
                actual: num_attributes,
            });
        }
        let mut seen = std::collections::BTreeMap::new();
        for (index, key) in (1..).zip(&receivers) {
            if key.is_identity() {
                return Err(DkgError::IdentityReceiverKey { receiver: index });
            }
            if let Some(first) = seen.insert(key.to_bytes(), index) {
                return Err(DkgError::DuplicateReceiverKey {
                    first,
                    second: index,
                });
            }
        }
        Ok(DkgParams {
            threshold,
            receivers,
            context,
            num_secrets: num_attributes + 1,
        })
    }

    /// `t`: shares needed, and the number of coefficients of every polynomial.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// `t` as a length.
    pub(crate) fn coefficients(&self) -> usize {
        // threshold <= receivers.len() <= MAX_PARTICIPANTS, so it fits.
        self.threshold as usize
    }

    /// `n`: the number of participants.
    pub fn participants(&self) -> u64 {
        self.receivers.len() as u64
    }

    /// The receivers' keys, receiver `j` at position `j - 1`.
    pub fn receivers(&self) -> &[DkgPublicKey] {
        &self.receivers
    }

    /// The context every hash of this run is bound to.
    pub fn context(&self) -> &[u8; 32] {
        &self.context
    }

    /// `q + 1`: secrets per key (`x` and `y_1..y_q`).
    pub fn num_secrets(&self) -> usize {
        self.num_secrets
    }

    /// `q`: attributes the resulting keys support.
    pub fn num_attributes(&self) -> usize {
        self.num_secrets - 1
    }

    /// Fails unless `dealer` is in `1..=n`.
    pub fn check_dealer(&self, dealer: SignerIndex) -> Result<(), DkgError> {
        if dealer == 0 || dealer > self.participants() {
            return Err(DkgError::DealerOutOfRange {
                dealer,
                participants: self.participants(),
            });
        }
        Ok(())
    }

    /// Receiver `j`'s key, or an error unless `j` is in `1..=n`.
    pub fn receiver(&self, receiver: SignerIndex) -> Result<&DkgPublicKey, DkgError> {
        let out_of_range = DkgError::ReceiverOutOfRange {
            receiver,
            participants: self.participants(),
        };
        let position = receiver
            .checked_sub(1)
            .and_then(|p| usize::try_from(p).ok())
            .ok_or(out_of_range.clone())?;
        self.receivers.get(position).ok_or(out_of_range)
    }
}
