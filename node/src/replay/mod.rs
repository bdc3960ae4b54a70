//! A Sphinx key's replay filter across restarts and crashes.
//!
//! Each key's filter lives in two files next to each other:
//!
//! * the **snapshot** (`*.bin`, [`ReplayFilter::save`]): the whole filter, written at a clean
//!   stop and whenever the journal has grown past a quarter of the filter's size;
//! * the **journal** (`*.journal`, [`ReplayJournal`]): every tag accepted since the snapshot,
//!   appended by the [`JournalWriter`] thread and fsynced every `engine.replay_sync_ms`.
//!
//! At start the snapshot is loaded and the journal replayed into it ([`open_filter`]); a torn
//! last chunk (the crash hit a write) is dropped with a warning, anything else unreadable
//! refuses the start: an empty filter would accept replays of packets seen before. A crash
//! therefore forgets at most the tags accepted in the last sync interval (plus the 20 ms the
//! shards batch them for). Whether the node then trusts the key at all is
//! [`crate::rotation`]'s decision (`engine.after_unclean_stop`).

mod journal_writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use router_core::mix::replay::journal::{replay_journal, ReplayJournal};
use router_core::mix::{FreshReason, LoadOutcome, ReplayFilter, ReplayFilterParams};

pub use journal_writer::{JournalWriter, TrackedFilter};

use crate::error::NodeError;

/// The files of one key's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterFiles {
    /// The snapshot.
    pub snapshot: PathBuf,
    /// The journal of tags accepted since.
    pub journal: PathBuf,
}

impl FilterFiles {
    /// The snapshot at `snapshot` and its journal beside it (`.journal` for `.bin`).
    pub fn beside(snapshot: PathBuf) -> Self {
        let journal = snapshot.with_extension("journal");
        Self { snapshot, journal }
    }

    /// Removes both files (a retired key's filter is of no use to anyone).
    pub fn remove(&self) {
        for path in [&self.snapshot, &self.journal] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot remove a retired replay filter file")
                }
            }
        }
    }

    /// Whether a journal exists: the key was in use when the node last stopped without
    /// saving (a clean stop snapshots and removes the journal).
    pub fn has_journal(&self) -> bool {
        self.journal.exists()
    }
}

/// The filter of the key `key_id` as it was before the node stopped, and a fresh journal to
/// record what it accepts from now on. See the module docs.
pub fn open_filter(
    files: &FilterFiles,
    key_id: [u8; 32],
    params: ReplayFilterParams,
) -> Result<(Arc<ReplayFilter>, ReplayJournal), NodeError> {
    let refuse = |path: &Path, message: String| NodeError::ReplayFilter {
        path: path.to_path_buf(),
        message,
    };
    let filter = match ReplayFilter::load(&files.snapshot, key_id, params) {
        Ok(LoadOutcome::Restored(filter)) => {
            tracing::info!(path = %files.snapshot.display(), tags = filter.inserted(), "replay filter restored");
            filter
        }
        Ok(LoadOutcome::Fresh(filter, reason)) => {
            match reason {
                FreshReason::NoFile => {}
                FreshReason::KeyMismatch => tracing::info!(
                    path = %files.snapshot.display(),
                    "saved replay filter belongs to an older Sphinx key: starting empty"
                ),
                FreshReason::ParamsMismatch => tracing::warn!(
                    path = %files.snapshot.display(),
                    "replay filter size changed in the config: the saved one cannot be used, starting empty"
                ),
            }
            filter
        }
        Err(error) => {
            return Err(refuse(
                &files.snapshot,
                format!(
                    "{error}. Refusing to start with an empty filter, which would accept \
                     replays of packets seen before the restart; move the file away to start \
                     anyway"
                ),
            ))
        }
    };
    if files.journal.exists() {
        let replayed = replay_journal(&files.journal, key_id, &filter).map_err(|error| {
            refuse(
                &files.journal,
                format!(
                    "{error}. The journal holds the tags accepted since the last snapshot; \
                     refusing to start without them (move the file away to start anyway)"
                ),
            )
        })?;
        if replayed.torn_tail {
            tracing::warn!(
                path = %files.journal.display(),
                "the replay journal ends in a torn write (the node stopped mid-write): its last \
                 unsynced chunk is dropped"
            );
        }
        tracing::info!(path = %files.journal.display(), tags = replayed.tags, "replay journal replayed");
        // The snapshot now holds everything; the journal starts over.
        save_snapshot(&filter, &files.snapshot)?;
    }
    let journal = ReplayJournal::create(&files.journal, key_id)
        .map_err(|error| refuse(&files.journal, format!("cannot start the journal: {error}")))?;
    Ok((Arc::new(filter), journal))
}

/// Saves `filter`'s snapshot to `path`.
pub fn save_snapshot(filter: &ReplayFilter, path: &Path) -> Result<(), NodeError> {
    filter.save(path).map_err(|e| NodeError::ReplayFilter {
        path: path.to_path_buf(),
        message: format!("cannot persist it: {e}"),
    })?;
    tracing::debug!(path = %path.display(), tags = filter.inserted(), "replay filter saved");
    Ok(())
}
