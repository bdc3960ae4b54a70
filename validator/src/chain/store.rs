//! The chain on disk (redb, one file `<data>/chain.redb`, mode 0600):
//!
//! | table | key | value |
//! |---|---|---|
//! | `blocks` | height | the decided block's encoded bytes |
//! | `certificates` | height | borsh of its commit certificate |
//! | `state_hashes` | height | the application state hash after it |
//! | `undecided` | height ‖ round ‖ block id | encoded bytes of a block proposed (by us or a peer) and not yet decided |
//! | `snapshots` | height | the application state after that block (`validator_core::chain::StateSnapshot`), the latest two |
//!
//! A decision is written in one transaction (block, certificate, state hash; undecided blocks
//! of that height dropped) that redb makes durable (fsync) at commit, before consensus is
//! told to move on; a block is written to `undecided` before we propose or vote for it, so a
//! validator killed at any moment finds on restart every block its WAL may refer to. The
//! application state is the deterministic result of the decided blocks: every so many blocks
//! it is written with the decision, and a restart restores the latest snapshot (checked
//! against the state hash recorded for its height), then replays the blocks after it,
//! checking each state hash.

use std::path::Path;

use malachitebft_core_types::{CommitCertificate, Round};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::context::{ChainContext, Height, ValueId};

const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const CERTIFICATES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("certificates");
const STATE_HASHES: TableDefinition<'_, u64, &[u8; 32]> = TableDefinition::new("state_hashes");
const UNDECIDED: TableDefinition<'_, &[u8; 48], &[u8]> = TableDefinition::new("undecided");
const SNAPSHOTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("snapshots");
/// Snapshots kept: the latest, and the one before in case the latest is unreadable.
const KEPT_SNAPSHOTS: usize = 2;

/// A database failure (IO, corruption); the validator stops on it rather than guess.
#[derive(Debug, thiserror::Error)]
#[error("chain store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn undecided_key(height: Height, round: Round, id: &ValueId) -> [u8; 48] {
    let mut key = [0u8; 48];
    key[..8].copy_from_slice(&height.0.to_be_bytes());
    key[8..16].copy_from_slice(&round.as_i64().to_be_bytes());
    key[16..].copy_from_slice(&id.0);
    key
}

fn height_range(height: Height) -> std::ops::RangeInclusive<[u8; 48]> {
    let mut low = [0u8; 48];
    low[..8].copy_from_slice(&height.0.to_be_bytes());
    let mut high = [0xffu8; 48];
    high[..8].copy_from_slice(&height.0.to_be_bytes());
    low..=high
}

/// A block decided at a height, with its certificate.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The block's encoded bytes.
    pub block: Vec<u8>,
    /// The commit certificate.
    pub certificate: CommitCertificate<ChainContext>,
}

/// The chain database.
#[derive(Debug)]
pub struct ChainStore {
    db: Database,
}

impl ChainStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
        }
        let txn = db.begin_write().map_err(err)?;
        {
            txn.open_table(BLOCKS).map_err(err)?;
            txn.open_table(CERTIFICATES).map_err(err)?;
            txn.open_table(STATE_HASHES).map_err(err)?;
            txn.open_table(UNDECIDED).map_err(err)?;
            txn.open_table(SNAPSHOTS).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(Self { db })
    }

    /// The highest decided height (0 if none).
    pub fn max_height(&self) -> Result<Height, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(BLOCKS).map_err(err)?;
        let last = table.last().map_err(err)?;
        Ok(Height(last.map_or(0, |(k, _)| k.value())))
    }

    /// The lowest decided height kept (1 if any are, since nothing is pruned).
    pub fn min_height(&self) -> Result<Height, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(BLOCKS).map_err(err)?;
        let first = table.first().map_err(err)?;
        Ok(Height(first.map_or(1, |(k, _)| k.value())))
    }

    /// Records a decision durably: block, certificate, resulting state hash and, when given,
    /// a snapshot of that state; drops the height's undecided blocks and old snapshots.
    /// Writing the same height again (a restart between the engine's decision and ours)
    /// overwrites it with the same content.
    pub fn commit(
        &self,
        height: Height,
        block: &[u8],
        certificate: &CommitCertificate<ChainContext>,
        state_hash: &[u8; 32],
        snapshot: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let cert = borsh::to_vec(certificate).map_err(err)?;
        let txn = self.db.begin_write().map_err(err)?;
        {
            txn.open_table(BLOCKS)
                .map_err(err)?
                .insert(height.0, block)
                .map_err(err)?;
            txn.open_table(CERTIFICATES)
                .map_err(err)?
                .insert(height.0, cert.as_slice())
                .map_err(err)?;
            txn.open_table(STATE_HASHES)
                .map_err(err)?
                .insert(height.0, state_hash)
                .map_err(err)?;
            let mut undecided = txn.open_table(UNDECIDED).map_err(err)?;
            let upto = *height_range(height).end();
            let stale: Vec<[u8; 48]> = undecided
                .range::<&[u8; 48]>(..=&upto)
                .map_err(err)?
                .filter_map(|e| e.ok().map(|(k, _)| *k.value()))
                .collect();
            for key in stale {
                undecided.remove(&key).map_err(err)?;
            }
            if let Some(snapshot) = snapshot {
                let mut snapshots = txn.open_table(SNAPSHOTS).map_err(err)?;
                snapshots.insert(height.0, snapshot).map_err(err)?;
                let heights: Vec<u64> = snapshots
                    .iter()
                    .map_err(err)?
                    .filter_map(|e| e.ok().map(|(k, _)| k.value()))
                    .collect();
                for old in heights.iter().rev().skip(KEPT_SNAPSHOTS) {
                    snapshots.remove(*old).map_err(err)?;
                }
            }
        }
        txn.commit().map_err(err)
    }

    /// The stored snapshots, newest first: (height, bytes).
    pub fn snapshots(&self) -> Result<Vec<(Height, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(SNAPSHOTS).map_err(err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(err)?.rev() {
            let (k, v) = entry.map_err(err)?;
            out.push((Height(k.value()), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The decided block and certificate at `height`.
    pub fn decided(&self, height: Height) -> Result<Option<Decided>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let blocks = txn.open_table(BLOCKS).map_err(err)?;
        let certs = txn.open_table(CERTIFICATES).map_err(err)?;
        let (Some(block), Some(cert)) = (
            blocks.get(height.0).map_err(err)?,
            certs.get(height.0).map_err(err)?,
        ) else {
            return Ok(None);
        };
        let certificate = borsh::from_slice(cert.value()).map_err(err)?;
        Ok(Some(Decided {
            block: block.value().to_vec(),
            certificate,
        }))
    }

    /// The state hash recorded after `height`.
    pub fn state_hash(&self, height: Height) -> Result<Option<[u8; 32]>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(STATE_HASHES).map_err(err)?;
        Ok(table.get(height.0).map_err(err)?.map(|v| *v.value()))
    }

    /// Stores a block proposed for `(height, round)` with id `id`, durably.
    pub fn put_undecided(
        &self,
        height: Height,
        round: Round,
        id: &ValueId,
        block: &[u8],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut table = txn.open_table(UNDECIDED).map_err(err)?;
            table
                .insert(&undecided_key(height, round, id), block)
                .map_err(err)?;
        }
        txn.commit().map_err(err)
    }

    /// An undecided block of `height` with id `id`, proposed in any round.
    pub fn undecided_by_id(
        &self,
        height: Height,
        id: &ValueId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .undecided_at(height)?
            .into_iter()
            .find(|(_, i, _)| i == id)
            .map(|(_, _, bytes)| bytes))
    }

    /// Every undecided block of `height`: (round, id, bytes).
    pub fn undecided_at(&self, height: Height) -> Result<Vec<(i64, ValueId, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(UNDECIDED).map_err(err)?;
        let mut out = Vec::new();
        let range = height_range(height);
        for entry in table
            .range::<&[u8; 48]>(range.start()..=range.end())
            .map_err(err)?
        {
            let (k, v) = entry.map_err(err)?;
            let key = k.value();
            let mut round = [0u8; 8];
            round.copy_from_slice(&key[8..16]);
            let mut id = [0u8; 32];
            id.copy_from_slice(&key[16..]);
            out.push((i64::from_be_bytes(round), ValueId(id), v.value().to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(height: u64, id: u8) -> CommitCertificate<ChainContext> {
        CommitCertificate {
            height: Height(height),
            round: Round::new(0),
            value_id: ValueId([id; 32]),
            commit_signatures: Vec::new(),
        }
    }

    #[test]
    fn decisions_survive_reopening_and_drop_that_heights_undecided_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.redb");
        {
            let store = ChainStore::open(&path).unwrap();
            assert_eq!(store.max_height().unwrap(), Height(0));
            store
                .put_undecided(Height(1), Round::new(0), &ValueId([1; 32]), b"one")
                .unwrap();
            store
                .put_undecided(Height(1), Round::new(1), &ValueId([2; 32]), b"two")
                .unwrap();
            store
                .put_undecided(Height(7), Round::new(0), &ValueId([3; 32]), b"three")
                .unwrap();
            assert_eq!(store.undecided_at(Height(1)).unwrap().len(), 2);
            assert_eq!(
                store.undecided_by_id(Height(1), &ValueId([2; 32])).unwrap(),
                Some(b"two".to_vec())
            );
            store
                .commit(Height(1), b"two", &cert(1, 2), &[9; 32], None)
                .unwrap();
            for h in 2..=5u64 {
                store
                    .commit(
                        Height(h),
                        b"b",
                        &cert(h, 1),
                        &[1; 32],
                        Some(&h.to_be_bytes()),
                    )
                    .unwrap();
            }
        }
        let store = ChainStore::open(&path).unwrap();
        assert_eq!(store.max_height().unwrap(), Height(5));
        let snapshots = store.snapshots().unwrap();
        assert_eq!(
            snapshots,
            vec![
                (Height(5), 5u64.to_be_bytes().to_vec()),
                (Height(4), 4u64.to_be_bytes().to_vec())
            ],
            "the latest two snapshots, newest first"
        );
        let decided = store.decided(Height(1)).unwrap().unwrap();
        assert_eq!(decided.block, b"two");
        assert_eq!(decided.certificate.value_id, ValueId([2; 32]));
        assert_eq!(store.state_hash(Height(1)).unwrap(), Some([9; 32]));
        assert!(store.undecided_at(Height(1)).unwrap().is_empty());
        assert_eq!(
            store.undecided_at(Height(7)).unwrap(),
            vec![(0, ValueId([3; 32]), b"three".to_vec())],
            "a later height's proposal is kept"
        );
        assert!(store.decided(Height(6)).unwrap().is_none());
    }
}
