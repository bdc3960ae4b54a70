//! The chain's types as Malachite sees them: heights, validator addresses and sets, the
//! value consensus agrees on (a block id), votes, proposals and the parts a block is streamed
//! in, and the proposer rotation.
//!
//! Everything here has a borsh encoding (the engine's wire and WAL format, see
//! [`crate::codec`]) and nothing else; what a block *contains* is `validator_core::chain`.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::VerifyingKey;
use malachitebft_core_types::{
    self as mc, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};

use crate::signing::Ed25519;
use validator_core::genesis::Genesis;
use validator_core::primitives::IdentityKey;

/// A block height; the first block is height 1.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its ed25519 identity key bytes (the key it signs votes with).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The identity key this address names (`None` if the bytes are not a curve point, which
    /// no genesis member's address is).
    pub fn identity(&self) -> Option<IdentityKey> {
        IdentityKey::from_bytes(&self.0).ok()
    }
}

impl From<IdentityKey> for Address {
    fn from(key: IdentityKey) -> Self {
        Address(*key.as_bytes())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl mc::Address for Address {}

/// What consensus agrees on: the id (SHA-256) of a block's encoded bytes. The bytes travel
/// as proposal parts and are checked against this id.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct ValueId(pub [u8; 32]);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl mc::Value for ValueId {
    type Id = ValueId;

    fn id(&self) -> ValueId {
        *self
    }
}

/// A member of the validator set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    address: Address,
    public_key: VerifyingKey,
    voting_power: VotingPower,
}

impl mc::Validator<ChainContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// The genesis validators, sorted by address. Fixed for the chain's life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    /// The set a genesis names (validated genesis: keys distinct, powers nonzero).
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let mut validators: Vec<Validator> = genesis
            .validators
            .iter()
            .map(|v| Validator {
                address: Address::from(v.identity_key),
                public_key: v.identity_key.verifying_key(),
                voting_power: v.voting_power,
            })
            .collect();
        validators.sort_by_key(|v| v.address);
        Self { validators }
    }

    /// Whether `address` is a member.
    pub fn contains(&self, address: &Address) -> bool {
        self.index_of(address).is_some()
    }

    fn index_of(&self, address: &Address) -> Option<usize> {
        self.validators
            .binary_search_by_key(address, |v| v.address)
            .ok()
    }

    /// The members' public keys, by address.
    pub fn public_key(&self, address: &Address) -> Option<&VerifyingKey> {
        self.index_of(address)
            .map(|i| &self.validators[i].public_key)
    }
}

impl mc::ValidatorSet<ChainContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.validators
            .iter()
            .map(|v| v.voting_power)
            .fold(0, u64::saturating_add)
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.index_of(address).map(|i| &self.validators[i])
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A prevote or precommit. Vote extensions are not used.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height voted at.
    pub height: Height,
    /// Round voted in.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<ValueId>,
    /// The voter.
    pub validator: Address,
}

impl mc::Vote<ChainContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<ValueId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<ValueId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<ChainContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<ChainContext>> {
        None
    }

    fn extend(self, _extension: SignedExtension<ChainContext>) -> Self {
        self
    }
}

/// A proposer's signed claim that `value` is its block for `(height, round)`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Height proposed at.
    pub height: Height,
    /// Round proposed in.
    pub round: Round,
    /// The block's id.
    pub value: ValueId,
    /// The round in which the proposer saw a polka for this value, if any.
    pub pol_round: Round,
    /// The proposer.
    pub validator: Address,
}

impl mc::Proposal<ChainContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &ValueId {
        &self.value
    }

    fn take_value(self) -> ValueId {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }
}

/// One message of a block's stream: `Init`, one or more `Data` chunks, `Fin`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    /// Opens the stream: which height and round, and who proposes.
    Init {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// The proposer.
        proposer: Address,
    },
    /// A chunk of the block's encoded bytes, in order.
    Data(Vec<u8>),
    /// Closes the stream: the proposer's signature over height, round and the block bytes'
    /// hash (see [`crate::streaming`]).
    Fin(crate::signing::Signature),
}

impl mc::ProposalPart<ChainContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// The Malachite context of our chain.
#[derive(Clone, Debug, Default)]
pub struct ChainContext;

impl ChainContext {
    /// The proposer of `(height, round)`: the validators take turns in address order,
    /// shifted by one each height and each round. (Voting power weighs votes, not turns.)
    pub fn proposer_index(count: usize, height: Height, round: Round) -> usize {
        let count = u64::try_from(count.max(1)).unwrap_or(u64::MAX);
        let round = u64::from(round.as_u32().unwrap_or(0));
        let turn = height.0.saturating_sub(1).wrapping_add(round) % count;
        usize::try_from(turn).unwrap_or(0)
    }
}

impl mc::Context for ChainContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = ValueId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let index = Self::proposer_index(validator_set.validators.len(), height, round);
        validator_set
            .validators
            .get(index)
            .or_else(|| validator_set.validators.first())
            .expect("a validator set built from a validated genesis has at least one member")
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: ValueId,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            validator: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            vote_type: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }
}
