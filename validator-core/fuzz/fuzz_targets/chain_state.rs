//! Drives the chain the way a validator does (`validator/src/chain/app.rs` and the HTTP
//! handlers) from the test genesis, with a sequence of steps read with `arbitrary`, under small
//! fuzzed mempool limits:
//!
//! * submissions verified with [`VerifiedTx::verify`] and offered to the [`Mempool`]:
//!   statements (bond, unbond, deposit) signed by the test accounts with fuzzed nonces,
//!   amounts and nodes, some then mutated (a flipped signature bit, another nonce or amount,
//!   another chain); credential spends of a handful of serials (so they collide), some
//!   forged; topology votes by the validators for a kept topology, some by a non-validator or
//!   naming another hash; the key generation message a validator owes; Sphinx key
//!   announcements, some signed by the wrong key; raw bytes and byte-flipped real encodings
//!   decoded as transactions;
//! * the proposer's path: [`Mempool::select`] under fuzzed limits, a header,
//!   [`ChainState::apply_verified_block`], [`Block::encode`]; the receiver's path on a twin
//!   state: [`Block::decode`] and [`ChainState::validate_block`]; then the commit and
//!   [`Mempool::on_commit`];
//! * foreign blocks: transactions seen so far (refused ones included) in a fuzzed order under
//!   a header that may be wrong, validated on both states;
//! * the clock moving on (across epoch cutoffs and key rotations), and the twin replaced by
//!   the committed state restored from its snapshot.
//!
//! After every step it checks that:
//!
//! * the mempool is within its limits (transactions, bytes, per account), holds no
//!   transaction twice and no two spends of one tag, counts its bytes right, and holds no
//!   spend of a tag the committed state has spent;
//! * a mutated or forged submission never verifies, and a vote naming another hash is never
//!   admitted;
//! * a mempool selection applies on the committed state (unless the header alone is refused),
//!   and the block another validator decodes from its bytes validates there to the same state
//!   hash;
//! * both states (one fed blocks as their proposer, one as a receiver or restored from a
//!   snapshot) have the same state hash after the same blocks;
//! * no credential tag is accepted in two committed blocks (the model's spent set and the
//!   state's agree);
//! * balances, stakes and paid deposits always add up to the genesis supply (overflow
//!   checks are on in this crate's release profile, so an overflow panics).
#![no_main]

#[path = "common.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use ed25519_dalek::Signature;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use validator_core::api::SpendBody;
use validator_core::chain::dkg::Participant;
use validator_core::chain::sphinx_keys::SphinxKeyAnnouncement;
use validator_core::chain::{
    Block, BlockHeader, BlockId, ChainError, ChainState, ChainStateHash, Mempool, MempoolLimits,
    StateSnapshot, TopologyVote, Transaction, VerifiedTx, MAX_BLOCK_TXS, MAX_BLOCK_TX_BYTES,
    MAX_SPENDS_PER_BLOCK,
};
use validator_core::coconut::verification::ZETA_BYTES;
use validator_core::credential::SpendNonce;
use validator_core::genesis::GenesisHash;
use validator_core::rotation::RotationId;
use validator_core::statement::{
    CredentialRequestDigest, NodeRole, SignedStatement, Statement, StatementBody,
};
use validator_core::test_util::{
    account_key, fake_spend, identity, node, node_key, sphinx_key, validator_key, FakeSpends,
    FORGED_CREDENTIAL_TYPE,
};
use validator_core::topology::TopologyHash;

use common::{genesis, genesis_hash, genesis_state, ACCOUNTS, VALIDATORS};

/// Node seeds the statements pick from.
const NODES: u32 = 6;
/// Credential serials the spends pick from.
const SERIALS: u64 = 6;
/// Transactions kept for foreign blocks.
const SEEN: usize = 24;

fn genesis_supply() -> u128 {
    genesis()
        .accounts
        .iter()
        .map(|a| u128::from(a.balance))
        .sum()
}

struct Run {
    committed: ChainState,
    /// The same chain at another validator (a receiver of every block, or restored).
    twin: ChainState,
    mempool: Mempool,
    /// Tags of every spend in a committed block.
    spent: BTreeSet<[u8; ZETA_BYTES]>,
    /// Deposits paid in committed blocks: digest -> amount.
    deposits: BTreeMap<CredentialRequestDigest, u64>,
    /// Transactions built or decoded so far, for foreign blocks.
    seen: Vec<Transaction>,
    now: u64,
}

impl Run {
    fn check(&self) {
        let m = &self.mempool;
        let limits = m.limits();
        assert!(
            m.len() <= limits.max_txs,
            "{} pooled, limit {}",
            m.len(),
            limits.max_txs
        );
        assert!(m.bytes() <= limits.max_bytes, "{} bytes pooled", m.bytes());
        let mut ids = BTreeSet::new();
        let mut tags = BTreeSet::new();
        let mut per_account: BTreeMap<_, usize> = BTreeMap::new();
        let mut bytes = 0usize;
        for tx in m.iter() {
            assert!(ids.insert(tx.id()), "transaction {} pooled twice", tx.id());
            assert!(m.contains(&tx.id()));
            if let Some(tag) = tx.spend_tag() {
                assert!(tags.insert(*tag), "two pooled spends of one tag");
                assert!(m.pending_spend(tag));
                assert!(
                    self.committed.spend(tag).is_none(),
                    "a spend of a spent tag stays pooled"
                );
            }
            if let Some(account) = tx.tx().account() {
                *per_account.entry(account).or_default() += 1;
            }
            bytes += tx.encoded_len();
        }
        assert_eq!(ids.len(), m.len());
        assert_eq!(bytes, m.bytes(), "pooled bytes");
        assert!(per_account.values().all(|n| *n <= limits.per_account));

        assert_eq!(
            self.twin.state_hash(),
            self.committed.state_hash(),
            "two validators with the same blocks disagree"
        );
        assert_eq!(self.committed.spent_count(), self.spent.len());
        for tag in &self.spent {
            assert!(self.committed.spend(tag).is_some(), "a spent tag forgotten");
        }
        for (digest, amount) in &self.deposits {
            let record = self
                .committed
                .deposit(digest)
                .expect("a paid deposit is kept");
            assert_eq!(record.amount, *amount);
        }
        let balances: u128 = self
            .committed
            .ledger()
            .accounts()
            .map(|(_, a)| u128::from(a.balance))
            .sum();
        let stakes: u128 = self
            .committed
            .bonded_nodes()
            .map(|b| u128::from(b.stake))
            .sum();
        let paid: u128 = self.deposits.values().map(|a| u128::from(*a)).sum();
        assert_eq!(
            balances + stakes + paid,
            genesis_supply(),
            "supply not conserved"
        );
    }

    fn remember(&mut self, tx: &Transaction) {
        if self.seen.len() >= SEEN {
            self.seen.remove(0);
        }
        self.seen.push(tx.clone());
    }

    /// Verifies and offers `tx` as a validator does; `bad`: it must not verify.
    fn submit(&mut self, tx: Transaction, bad: bool) {
        self.remember(&tx);
        let verified = VerifiedTx::verify(tx, &self.committed, &FakeSpends);
        if bad {
            assert!(
                verified.is_err(),
                "a mutated or forged transaction verified"
            );
        }
        if let Ok(verified) = verified {
            let checked = self.mempool.check(&verified);
            // What holds this id's slot in the pool, if anything: the same transaction, or
            // another one (a vote, DKG message or Sphinx key for the same slot).
            let pooled = self
                .mempool
                .get(&verified.id())
                .map(|p| p.tx() == verified.tx());
            let inserted = self.mempool.insert(verified.clone());
            assert_eq!(
                checked.is_ok(),
                inserted.is_ok(),
                "check and insert disagree"
            );
            match pooled {
                Some(true) => assert!(inserted.is_ok(), "the pooled transaction again"),
                Some(false) => assert_eq!(
                    inserted,
                    Err(ChainError::SlotTaken(verified.id())),
                    "another transaction in a pooled one's slot"
                ),
                None => {}
            }
            if inserted.is_ok() {
                assert!(self.mempool.contains(&verified.id()));
                // Checked here rather than after every step: a spend's encoding is base58
                // of a kilobyte, quadratic.
                assert_eq!(verified.id(), verified.tx().id());
                assert_eq!(
                    verified.encoded_len(),
                    verified.tx().encoded_len(),
                    "a verified transaction's length"
                );
            }
        }
    }

    fn nonce(&self, u: &mut Unstructured<'_>, account: u32) -> Result<u64> {
        let next = self
            .mempool
            .provisional()
            .account(&identity(&account_key(account)))
            .map_or(0, |a| a.next_nonce);
        Ok(if u.ratio(1, 5)? {
            u.int_in_range(0..=next.saturating_add(2))?
        } else {
            next
        })
    }

    fn statement(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let a = u.int_in_range(0..=ACCOUNTS)?;
        let key = account_key(a);
        let nonce = self.nonce(u, a)?;
        let amount = match u.int_in_range(0..=3u8)? {
            0 => u.arbitrary::<u64>()?,
            1 => u.int_in_range(0..=200u64)?,
            _ => u.int_in_range(100..=5_000u64)?,
        };
        let seed = u.int_in_range(0..=NODES - 1)?;
        let chain = if u.ratio(1, 16)? {
            GenesisHash([7; 32])
        } else {
            genesis_hash()
        };
        let statement = match u.int_in_range(0..=2u8)? {
            0 => {
                let role = if u.arbitrary()? {
                    NodeRole::Gateway
                } else {
                    NodeRole::Mixnode
                };
                match Statement::bond(
                    chain,
                    identity(&key),
                    nonce,
                    node(seed, role),
                    amount,
                    &node_key(seed),
                ) {
                    Ok(s) => s,
                    Err(_) => return Ok(()),
                }
            }
            1 => Statement::unbond(chain, identity(&key), nonce, identity(&node_key(seed))),
            _ => Statement::deposit(
                chain,
                identity(&key),
                nonce,
                amount,
                CredentialRequestDigest([u.int_in_range(0..=7u8)?; 32]),
            ),
        };
        let Ok(mut signed) = SignedStatement::sign(statement, &key) else {
            return Ok(());
        };
        let mut bad = chain != genesis_hash();
        match u.int_in_range(0..=7u8)? {
            0 => {
                let mut bytes = signed.signature.to_bytes();
                let bit = u.choose_index(bytes.len() * 8)?;
                bytes[bit / 8] ^= 1 << (bit % 8);
                signed.signature = Signature::from_bytes(&bytes);
                bad = true;
            }
            1 => {
                let other = u.arbitrary::<u64>()?;
                bad |= other != signed.statement.nonce;
                signed.statement.nonce = other;
            }
            2 => {
                let other = u.arbitrary::<u64>()?;
                match &mut signed.statement.body {
                    StatementBody::Bond { amount, .. } | StatementBody::Deposit { amount, .. } => {
                        bad |= *amount != other;
                        *amount = other;
                    }
                    StatementBody::Unbond { .. } => {}
                }
            }
            _ => {}
        }
        self.submit(Transaction::Statement(signed), bad);
        Ok(())
    }

    fn spend(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let serial = u.int_in_range(0..=SERIALS - 1)?;
        let gateway = u.int_in_range(0..=NODES - 1)?;
        let nonce = u.arbitrary()?;
        let forged = u.ratio(1, 8)?;
        // `fake_spend`'s presentation costs four scalar multiplications: made once per serial.
        static SPENDS: OnceLock<Vec<SpendBody>> = OnceLock::new();
        let spends = SPENDS.get_or_init(|| (0..SERIALS).map(|s| fake_spend(s, 0, 0)).collect());
        let mut spend = spends[serial as usize].clone();
        spend.gateway = identity(&node_key(gateway));
        spend.nonce = SpendNonce([nonce; 32]);
        if forged {
            spend.public_attributes.credential_type = FORGED_CREDENTIAL_TYPE.to_owned();
        }
        self.submit(Transaction::Spend(Box::new(spend)), forged);
        Ok(())
    }

    fn vote(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let records: Vec<_> = self.committed.topology_records().collect();
        let Some(record) = records.get(u.choose_index(records.len())?) else {
            return Ok(());
        };
        let outsider = u.ratio(1, 8)?;
        let v = if outsider {
            VALIDATORS
        } else {
            u.int_in_range(0..=VALIDATORS - 1)?
        };
        let mut vote = TopologyVote::sign(&record.topology, &genesis_hash(), &validator_key(v));
        let other_hash = u.ratio(1, 8)?;
        if other_hash {
            vote.topology_hash = TopologyHash(u.arbitrary()?);
        }
        let wrong = other_hash && vote.topology_hash != record.hash;
        self.remember(&Transaction::TopologySignature(vote.clone()));
        let verified = VerifiedTx::verify(
            Transaction::TopologySignature(vote),
            &self.committed,
            &FakeSpends,
        );
        if outsider {
            assert!(verified.is_err(), "a vote by a non-validator verified");
        }
        if let Ok(verified) = verified {
            let inserted = self.mempool.insert(verified);
            // Refused by the state, or, with that validator's vote pooled already (a vote's
            // id is its epoch and signer), as another transaction in that vote's slot: never
            // answered as if it were pooled.
            if wrong {
                assert!(
                    inserted.is_err(),
                    "a vote naming another hash was answered {inserted:?}"
                );
            }
        }
        Ok(())
    }

    fn dkg(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let v = u.int_in_range(0..=VALIDATORS - 1)?;
        let Some(run) = self.committed.key_epochs().running() else {
            return Ok(());
        };
        let mut rng = StdRng::seed_from_u64(u.arbitrary()?);
        let participant = Participant::new(validator_key(v));
        if let Ok(Some(message)) = participant.message(genesis(), &genesis_hash(), run, &mut rng) {
            self.submit(Transaction::Dkg(Box::new(message)), false);
        }
        Ok(())
    }

    fn sphinx_key(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let seed = u.int_in_range(0..=NODES - 1)?;
        let schedule = self
            .committed
            .params()
            .rotation()
            .expect("the fuzz genesis rotates keys");
        let current = schedule.rotation_at(self.committed.last_time_ms()).0;
        let rotation = RotationId(current.saturating_add(u.int_in_range(0..=2)?));
        let key = sphinx_key(u.int_in_range(0..=3 * NODES)?);
        let forged = u.ratio(1, 8)?;
        let mut announcement =
            SphinxKeyAnnouncement::sign(&genesis_hash(), &node_key(seed), rotation, key);
        if forged {
            let other =
                SphinxKeyAnnouncement::sign(&genesis_hash(), &node_key(seed + 1), rotation, key);
            announcement.signature = other.signature;
        }
        self.submit(Transaction::SphinxKey(announcement), forged);
        Ok(())
    }

    fn raw(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let bytes: Vec<u8> = if !self.seen.is_empty() && u.arbitrary()? {
            let mut bytes = self.seen[u.choose_index(self.seen.len())?].encode();
            for _ in 0..u.int_in_range(1..=3)? {
                let i = u.choose_index(bytes.len())?;
                bytes[i] = u.arbitrary()?;
            }
            bytes
        } else {
            let len = u.arbitrary_len::<u8>()?.min(2048);
            u.bytes(len)?.to_vec()
        };
        if let Ok(tx) = serde_json::from_slice::<Transaction>(&bytes) {
            self.submit(tx, false);
        }
        Ok(())
    }

    fn header(&self, proposer: u32) -> BlockHeader {
        BlockHeader {
            height: self.committed.height().saturating_add(1),
            time_ms: self
                .now
                .max(self.committed.last_time_ms().saturating_add(1)),
            parent: self.committed.last_block(),
            proposer: identity(&validator_key(proposer)),
            state_hash: self.committed.state_hash(),
        }
    }

    /// `block` was decided with `after` (the proposer's or the receiver's result) and
    /// `twin_after`.
    fn commit(&mut self, block: &Block, after: ChainState, twin_after: ChainState) {
        assert_eq!(
            after.state_hash(),
            twin_after.state_hash(),
            "validators diverge"
        );
        assert_eq!(after.last_block(), block.id());
        for tx in &block.transactions {
            match tx {
                Transaction::Spend(spend) => {
                    let tag = spend.theta.zeta_bytes();
                    assert!(self.spent.insert(tag), "a credential spent twice");
                }
                Transaction::Statement(s) => {
                    if let StatementBody::Deposit {
                        amount,
                        credential_request_digest,
                    } = &s.statement.body
                    {
                        let first = self.deposits.insert(*credential_request_digest, *amount);
                        assert!(first.is_none(), "a credential request paid twice");
                    }
                }
                _ => {}
            }
        }
        let included: Vec<_> = block.transactions.iter().map(Transaction::id).collect();
        let dropped = self.mempool.on_commit(&after, &included);
        for id in included.iter().chain(dropped.iter().map(|(id, _)| id)) {
            assert!(
                !self.mempool.contains(id),
                "an included or dropped tx stays pooled"
            );
        }
        self.committed = after;
        self.twin = twin_after;
    }

    fn propose(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let (max_txs, max_bytes, max_spends) = if u.arbitrary()? {
            (MAX_BLOCK_TXS, MAX_BLOCK_TX_BYTES, MAX_SPENDS_PER_BLOCK)
        } else {
            (
                u.int_in_range(0..=6)?,
                u.int_in_range(0..=8_000)?,
                u.int_in_range(0..=3)?,
            )
        };
        let txs = self.mempool.select(max_txs, max_bytes, max_spends);
        assert!(txs.len() <= max_txs);
        assert!(txs.iter().map(VerifiedTx::encoded_len).sum::<usize>() <= max_bytes);
        let spends = txs
            .iter()
            .filter(|t| matches!(t.tx(), Transaction::Spend(_)))
            .count();
        assert!(spends <= max_spends);
        let header = self.header(u.int_in_range(0..=VALIDATORS - 1)?);
        let after = match self.committed.apply_verified_block(&header, &txs) {
            Ok(after) => after,
            Err(e) => {
                assert!(
                    self.committed.apply_verified_block(&header, &[]).is_err(),
                    "a mempool selection does not apply on the committed state: {e}"
                );
                return Ok(());
            }
        };
        let block = Block {
            header,
            transactions: txs.into_iter().map(VerifiedTx::into_tx).collect(),
        };
        let bytes = block.encode();
        let received = Block::decode(&bytes).expect("a proposed block decodes");
        assert_eq!(received, block);
        let twin_after = self
            .twin
            .validate_block(&received, &FakeSpends)
            .expect("a proposer's valid block validates at another validator");
        self.commit(&block, after, twin_after);
        Ok(())
    }

    fn foreign(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let mut transactions = Vec::new();
        if !self.seen.is_empty() {
            for _ in 0..u.int_in_range(0..=4)? {
                transactions.push(self.seen[u.choose_index(self.seen.len())?].clone());
            }
        }
        let mut header = self.header(u.int_in_range(0..=VALIDATORS)?);
        match u.int_in_range(0..=9u8)? {
            0 => header.height = u.arbitrary()?,
            1 => header.parent = BlockId(u.arbitrary()?),
            2 => header.time_ms = u.arbitrary()?,
            3 => header.state_hash = ChainStateHash(u.arbitrary()?),
            _ => {}
        }
        let block = Block {
            header,
            transactions,
        };
        let Ok(received) = Block::decode(&block.encode()) else {
            return Ok(());
        };
        let after = self.committed.validate_block(&received, &FakeSpends);
        let twin_after = self.twin.validate_block(&received, &FakeSpends);
        assert_eq!(
            after.is_ok(),
            twin_after.is_ok(),
            "validators disagree on a block"
        );
        if let (Ok(after), Ok(twin_after)) = (after, twin_after) {
            self.commit(&received, after, twin_after);
        }
        Ok(())
    }

    fn restore_twin(&mut self) {
        let bytes = self.committed.snapshot().encode();
        let snapshot = StateSnapshot::decode(&bytes).expect("a snapshot decodes");
        let restored = ChainState::from_snapshot(Arc::clone(self.committed.params()), snapshot)
            .expect("a snapshot restores");
        assert_eq!(restored.state_hash(), self.committed.state_hash());
        self.twin = restored;
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let limits = MempoolLimits {
        max_txs: u.int_in_range(1..=8)?,
        max_bytes: u.int_in_range(0..=40_000)?,
        per_account: u.int_in_range(1..=4)?,
    };
    let committed = genesis_state().clone();
    let mut run = Run {
        mempool: Mempool::new(&committed, limits),
        twin: committed.clone(),
        now: committed.last_time_ms(),
        committed,
        spent: BTreeSet::new(),
        deposits: BTreeMap::new(),
        seen: Vec::new(),
    };
    while !u.is_empty() {
        match u.int_in_range(0..=10u8)? {
            0 | 1 => run.statement(u)?,
            2 => run.spend(u)?,
            3 => run.vote(u)?,
            4 => run.dkg(u)?,
            5 => run.sphinx_key(u)?,
            6 => run.raw(u)?,
            7 | 8 => run.propose(u)?,
            9 => run.foreign(u)?,
            _ => {
                if u.arbitrary()? {
                    run.now = run.now.saturating_add(u.int_in_range(0..=150_000)?);
                } else {
                    run.restore_twin();
                }
            }
        }
        run.check();
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
