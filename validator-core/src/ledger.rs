//! The ledger: account balances and nonces, the registry of bonded nodes, and paid deposits.
//!
//! # Determinism
//!
//! Every validator must compute the same ledger. On the chain ([`crate::chain`]) statements
//! are transactions and apply in **block order**: consensus fixes the order, and each
//! statement of a decided block is applied at its turn by the rules below (a statement that
//! does not apply makes the whole block invalid, so a proposer includes only statements that
//! apply). Applying is a pure function of the state and the statement, so validators that
//! apply the same blocks reach the same [`Ledger::state_hash`]. The chain checks signatures
//! before it takes any lock and then applies with the crate-internal `apply_verified`, which
//! runs every rule but the signature check.
//!
//! # Rules of [`Ledger::apply`]
//!
//! * The statement is for this chain and verifies (well formed, node consent, account
//!   signature).
//! * The account exists (accounts are created at genesis only).
//! * Its nonce equals the account's next nonce: nonces run 0, 1, 2, ... without gaps; a lower
//!   nonce is a replay, a higher one waits for its predecessors. Of two different statements
//!   with the same account and nonce, the first to apply (in block order on the chain) wins
//!   and the other is then a replay.
//! * Bond: the amount is at most the balance; the node identity, its Sphinx key and its
//!   announced address are not already in the registry (unbond first to change a node).
//! * Unbond: the node is bonded by this very account; its stake returns to the balance.
//! * Deposit: the amount is at most the balance; the credential request digest has not been
//!   paid for before. The amount leaves circulation (it pays for the credential).
//!
//! Applying is atomic: on error nothing changes, and in particular the nonce is not used up, so
//! a statement rejected for lack of funds may apply if it is submitted again later. A client
//! that abandons a statement replaces it by another with the same nonce.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::genesis::{Amount, Genesis, GenesisHash};
use crate::primitives::{hash32_type, Encoder, IdentityKey, SphinxKey};
use crate::statement::{
    CredentialRequestDigest, NodeDescriptor, SignedStatement, StatementBody, StatementError,
    StatementId,
};

/// Domain-separation prefix of the ledger state hash.
pub const LEDGER_STATE_DOMAIN: &[u8] = b"mixnet-validator-ledger-state-v1";

hash32_type!(
    /// SHA-256 of a ledger's canonical state encoding (see [`Ledger::state_hash`]).
    StateHash
);

/// Why a statement was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The statement is malformed or its signature does not verify.
    #[error("invalid statement: {0}")]
    Statement(#[from] StatementError),
    /// The statement names another chain.
    #[error("statement is for chain {got}, this chain is {expected}")]
    WrongChain {
        /// This ledger's genesis hash.
        expected: GenesisHash,
        /// The statement's.
        got: GenesisHash,
    },
    /// No such account.
    #[error("unknown account {0}")]
    UnknownAccount(IdentityKey),
    /// The nonce was already used (a replay or a losing duplicate).
    #[error("nonce {nonce} already used; next is {next}")]
    NonceReused {
        /// The statement's nonce.
        nonce: u64,
        /// The account's next nonce.
        next: u64,
    },
    /// The nonce skips ahead of the account's next nonce.
    #[error("nonce {nonce} is ahead of the account's next nonce {next}")]
    NonceGap {
        /// The statement's nonce.
        nonce: u64,
        /// The account's next nonce.
        next: u64,
    },
    /// The balance does not cover the amount.
    #[error("insufficient balance: needs {needed} units, account has {available}")]
    InsufficientBalance {
        /// Amount of the bond or deposit.
        needed: Amount,
        /// The account's balance.
        available: Amount,
    },
    /// The node identity is already bonded.
    #[error("node {identity} is already bonded by account {owner}")]
    IdentityAlreadyBonded {
        /// The node.
        identity: IdentityKey,
        /// The account that bonded it.
        owner: IdentityKey,
    },
    /// Another bonded node announces the same Sphinx key.
    #[error("sphinx key {sphinx_key} is already used by node {identity}")]
    SphinxKeyInUse {
        /// The key.
        sphinx_key: SphinxKey,
        /// The node using it.
        identity: IdentityKey,
    },
    /// Another bonded node announces the same address.
    #[error("address {address} is already announced by node {identity}")]
    AddressInUse {
        /// The address.
        address: std::net::SocketAddr,
        /// The node announcing it.
        identity: IdentityKey,
    },
    /// Unbond of a node that is not bonded.
    #[error("node {0} is not bonded")]
    NotBonded(IdentityKey),
    /// Unbond by an account that did not bond the node.
    #[error("node {identity} is bonded by account {owner}, not by {account}")]
    NotOwner {
        /// The node.
        identity: IdentityKey,
        /// Its bonding account.
        owner: IdentityKey,
        /// The account that asked.
        account: IdentityKey,
    },
    /// The credential request was already paid for.
    #[error("credential request {0} already has a deposit")]
    DuplicateDeposit(CredentialRequestDigest),
    /// A balance would exceed `u64::MAX` (cannot happen while genesis supply fits a u64).
    #[error("balance overflow")]
    BalanceOverflow,
}

/// An account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// Spendable units.
    pub balance: Amount,
    /// The nonce its next statement must carry.
    pub next_nonce: u64,
}

/// A bonded node: the registry entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondRecord {
    /// The node as announced.
    pub node: NodeDescriptor,
    /// Units bonded.
    pub stake: Amount,
    /// The account that bonded it (and alone may unbond it).
    pub owner: IdentityKey,
}

/// A paid credential request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositRecord {
    /// The paying account.
    pub account: IdentityKey,
    /// Units paid.
    pub amount: Amount,
    /// The deposit statement.
    pub statement_id: StatementId,
}

/// What an applied statement did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// A node was registered.
    Bonded {
        /// The node.
        identity_key: IdentityKey,
        /// Its stake.
        stake: Amount,
    },
    /// A node was removed and its stake returned to its owner.
    Unbonded {
        /// The node.
        identity_key: IdentityKey,
        /// The stake returned.
        returned_stake: Amount,
    },
    /// A deposit was debited.
    Deposited {
        /// Units debited.
        amount: Amount,
        /// What it pays for.
        credential_request_digest: CredentialRequestDigest,
    },
}

/// What one valid statement changes: the account's new balance and nonce, and its effect on
/// the registry or the deposits.
struct Change {
    account: IdentityKey,
    balance: Amount,
    next_nonce: u64,
    effect: Effect,
    applied: Applied,
}

enum Effect {
    Bond(BondRecord),
    Unbond(IdentityKey),
    Deposit(CredentialRequestDigest, DepositRecord),
}

/// Balances, nonces, the node registry and deposits. See the module docs for the rules.
#[derive(Debug, PartialEq, Eq)]
pub struct Ledger {
    genesis_hash: GenesisHash,
    accounts: BTreeMap<IdentityKey, AccountState>,
    bonds: BTreeMap<IdentityKey, BondRecord>,
    deposits: BTreeMap<CredentialRequestDigest, DepositRecord>,
}

impl Clone for Ledger {
    fn clone(&self) -> Self {
        // Tests count ledger copies to show which paths copy the state (see `chain::mempool`).
        #[cfg(test)]
        crate::test_util::clone_probe::note("ledger");
        Self {
            genesis_hash: self.genesis_hash,
            accounts: self.accounts.clone(),
            bonds: self.bonds.clone(),
            deposits: self.deposits.clone(),
        }
    }
}

/// A ledger's maps: accounts, bonds by node identity, deposits by request digest.
pub(crate) type LedgerParts<'a> = (
    GenesisHash,
    &'a BTreeMap<IdentityKey, AccountState>,
    &'a BTreeMap<IdentityKey, BondRecord>,
    &'a BTreeMap<CredentialRequestDigest, DepositRecord>,
);

impl Ledger {
    /// Its maps, for a snapshot (`chain::snapshot`).
    pub(crate) fn parts(&self) -> LedgerParts<'_> {
        (
            self.genesis_hash,
            &self.accounts,
            &self.bonds,
            &self.deposits,
        )
    }

    /// A ledger from a snapshot's maps.
    pub(crate) fn from_parts(
        genesis_hash: GenesisHash,
        accounts: BTreeMap<IdentityKey, AccountState>,
        bonds: BTreeMap<IdentityKey, BondRecord>,
        deposits: BTreeMap<CredentialRequestDigest, DepositRecord>,
    ) -> Self {
        Self {
            genesis_hash,
            accounts,
            bonds,
            deposits,
        }
    }

    /// The state at genesis: funded accounts at nonce 0, no nodes, no deposits.
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let accounts = genesis
            .accounts
            .iter()
            .map(|a| {
                (
                    a.public_key,
                    AccountState {
                        balance: a.balance,
                        next_nonce: 0,
                    },
                )
            })
            .collect();
        Self {
            genesis_hash: genesis.genesis_hash(),
            accounts,
            bonds: BTreeMap::new(),
            deposits: BTreeMap::new(),
        }
    }

    /// The chain this ledger belongs to.
    pub fn genesis_hash(&self) -> GenesisHash {
        self.genesis_hash
    }

    /// An account's state.
    pub fn account(&self, key: &IdentityKey) -> Option<&AccountState> {
        self.accounts.get(key)
    }

    /// All accounts, by key.
    pub fn accounts(&self) -> impl Iterator<Item = (&IdentityKey, &AccountState)> + '_ {
        self.accounts.iter()
    }

    /// The registry: every bonded node with its stake and owner, ordered by node identity key.
    pub fn bonded_nodes(&self) -> impl Iterator<Item = &BondRecord> + '_ {
        self.bonds.values()
    }

    /// The registry entry of one node.
    pub fn bond(&self, identity: &IdentityKey) -> Option<&BondRecord> {
        self.bonds.get(identity)
    }

    /// The deposit paying for a credential request, if any.
    pub fn deposit(&self, digest: &CredentialRequestDigest) -> Option<&DepositRecord> {
        self.deposits.get(digest)
    }

    /// Applies one statement now (see the module docs for the rules). Atomic: on error the
    /// ledger is unchanged.
    pub fn apply(&mut self, signed: &SignedStatement) -> Result<Applied, LedgerError> {
        self.check_chain(signed)?;
        signed.verify()?;
        self.apply_verified(signed)
    }

    /// [`Ledger::apply`] for a statement whose signatures and form were already checked
    /// ([`SignedStatement::verify`], done by `chain::VerifiedTx` outside any lock): every
    /// ledger rule except the signature check. Atomic.
    pub(crate) fn apply_verified(
        &mut self,
        signed: &SignedStatement,
    ) -> Result<Applied, LedgerError> {
        let change = self.plan(signed)?;
        Ok(self.commit(change))
    }

    /// Whether [`Ledger::apply_verified`] would succeed, and what it would do, without
    /// changing anything.
    pub(crate) fn check_verified(&self, signed: &SignedStatement) -> Result<Applied, LedgerError> {
        self.plan(signed).map(|change| change.applied)
    }

    fn check_chain(&self, signed: &SignedStatement) -> Result<(), LedgerError> {
        let got = signed.statement.genesis_hash;
        if got != self.genesis_hash {
            return Err(LedgerError::WrongChain {
                expected: self.genesis_hash,
                got,
            });
        }
        Ok(())
    }

    /// Every check of a statement against the state, and the change it makes; nothing is
    /// modified here, so applying is atomic by construction.
    fn plan(&self, signed: &SignedStatement) -> Result<Change, LedgerError> {
        self.check_chain(signed)?;
        let st = &signed.statement;
        let account = *self
            .accounts
            .get(&st.account)
            .ok_or(LedgerError::UnknownAccount(st.account))?;
        check_nonce(st.nonce, account.next_nonce)?;
        let next_nonce = account.next_nonce.saturating_add(1);
        let (balance, effect, applied) = match &st.body {
            StatementBody::Bond { node, amount, .. } => {
                let balance = debit(account.balance, *amount)?;
                self.check_bondable(node)?;
                let record = BondRecord {
                    node: node.clone(),
                    stake: *amount,
                    owner: st.account,
                };
                let applied = Applied::Bonded {
                    identity_key: node.identity_key,
                    stake: *amount,
                };
                (balance, Effect::Bond(record), applied)
            }
            StatementBody::Unbond { identity_key } => {
                let bond = self
                    .bonds
                    .get(identity_key)
                    .ok_or(LedgerError::NotBonded(*identity_key))?;
                if bond.owner != st.account {
                    return Err(LedgerError::NotOwner {
                        identity: *identity_key,
                        owner: bond.owner,
                        account: st.account,
                    });
                }
                let stake = bond.stake;
                let balance = account
                    .balance
                    .checked_add(stake)
                    .ok_or(LedgerError::BalanceOverflow)?;
                let applied = Applied::Unbonded {
                    identity_key: *identity_key,
                    returned_stake: stake,
                };
                (balance, Effect::Unbond(*identity_key), applied)
            }
            StatementBody::Deposit {
                amount,
                credential_request_digest,
            } => {
                let balance = debit(account.balance, *amount)?;
                if self.deposits.contains_key(credential_request_digest) {
                    return Err(LedgerError::DuplicateDeposit(*credential_request_digest));
                }
                let record = DepositRecord {
                    account: st.account,
                    amount: *amount,
                    statement_id: signed.id(),
                };
                let applied = Applied::Deposited {
                    amount: *amount,
                    credential_request_digest: *credential_request_digest,
                };
                (
                    balance,
                    Effect::Deposit(*credential_request_digest, record),
                    applied,
                )
            }
        };
        Ok(Change {
            account: st.account,
            balance,
            next_nonce,
            effect,
            applied,
        })
    }

    fn commit(&mut self, change: Change) -> Applied {
        match change.effect {
            Effect::Bond(record) => {
                self.bonds.insert(record.node.identity_key, record);
            }
            Effect::Unbond(identity) => {
                self.bonds.remove(&identity);
            }
            Effect::Deposit(digest, record) => {
                self.deposits.insert(digest, record);
            }
        }
        self.set_account(change.account, change.balance, change.next_nonce);
        change.applied
    }

    /// SHA-256 of the canonical state encoding:
    ///
    /// ```text
    /// "mixnet-validator-ledger-state-v1" || genesis_hash
    /// || n:u64 || n * (account[32] || balance:u64 || next_nonce:u64)          by account
    /// || n:u64 || n * (owner[32] || stake:u64 || node)                        by node identity
    /// || n:u64 || n * (digest[32] || account[32] || amount:u64 || statement_id[32])  by digest
    /// ```
    ///
    /// with `node` encoded as in statement signing bytes.
    pub fn state_hash(&self) -> StateHash {
        let mut enc = Encoder::new(LEDGER_STATE_DOMAIN);
        enc.fixed(self.genesis_hash.as_bytes());
        enc.count(self.accounts.len());
        for (key, a) in &self.accounts {
            enc.fixed(key.as_bytes()).u64(a.balance).u64(a.next_nonce);
        }
        enc.count(self.bonds.len());
        for b in self.bonds.values() {
            enc.fixed(b.owner.as_bytes()).u64(b.stake);
            b.node.encode(&mut enc);
        }
        enc.count(self.deposits.len());
        for (digest, d) in &self.deposits {
            enc.fixed(digest.as_bytes())
                .fixed(d.account.as_bytes())
                .u64(d.amount)
                .fixed(d.statement_id.as_bytes());
        }
        StateHash(crate::primitives::sha256(&[&enc.finish()]))
    }

    fn check_bondable(&self, node: &NodeDescriptor) -> Result<(), LedgerError> {
        if let Some(existing) = self.bonds.get(&node.identity_key) {
            return Err(LedgerError::IdentityAlreadyBonded {
                identity: node.identity_key,
                owner: existing.owner,
            });
        }
        for b in self.bonds.values() {
            if b.node.sphinx_key == node.sphinx_key {
                return Err(LedgerError::SphinxKeyInUse {
                    sphinx_key: node.sphinx_key,
                    identity: b.node.identity_key,
                });
            }
            if b.node.address == node.address {
                return Err(LedgerError::AddressInUse {
                    address: node.address,
                    identity: b.node.identity_key,
                });
            }
        }
        Ok(())
    }

    fn set_account(&mut self, key: IdentityKey, balance: Amount, next_nonce: u64) {
        self.accounts.insert(
            key,
            AccountState {
                balance,
                next_nonce,
            },
        );
    }
}

fn check_nonce(nonce: u64, next: u64) -> Result<(), LedgerError> {
    match nonce.cmp(&next) {
        std::cmp::Ordering::Less => Err(LedgerError::NonceReused { nonce, next }),
        std::cmp::Ordering::Greater => Err(LedgerError::NonceGap { nonce, next }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

fn debit(balance: Amount, amount: Amount) -> Result<Amount, LedgerError> {
    balance
        .checked_sub(amount)
        .ok_or(LedgerError::InsufficientBalance {
            needed: amount,
            available: balance,
        })
}

#[cfg(test)]
mod tests;
