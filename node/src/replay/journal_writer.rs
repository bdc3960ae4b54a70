//! The thread that makes accepted replay tags durable.
//!
//! The shards hand their accepted tags over every housekeeping tick through the router's
//! [`AcceptedTagSink`] ([`JournalWriter::sink`]): a bounded channel, so a shard never waits on
//! a disk. This thread appends each batch to its key's journal, fsyncs every journal each
//! sync interval, and counts the tags made durable. When a journal has grown past a quarter
//! of its filter's size, the filter's snapshot is rewritten and the journal started over
//! (every tag already appended was inserted into the filter before it was sent here, so the
//! snapshot holds it; tags still in the channel go to the new journal).
//!
//! A batch that finds the channel full is not journaled (counted in
//! `mixnet_replay_journal_dropped_tags_total`): those tags are protected until the next
//! clean stop or crash, like every tag was before journals existed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use router_core::mix::replay::journal::ReplayJournal;
use router_core::mix::ReplayFilter;
use router_core::runtime::AcceptedTagSink;

use super::{save_snapshot, FilterFiles};
use crate::error::NodeError;

/// Batches of tags waiting for the writer (each one shard's tick of one key).
const CHANNEL_BATCHES: usize = 4096;

/// A key's filter, its files and its open journal.
#[derive(Debug)]
pub struct TrackedFilter {
    /// The filter the shards insert into.
    pub filter: Arc<ReplayFilter>,
    /// Where its snapshot and journal live.
    pub files: FilterFiles,
    /// The journal, open for appending.
    pub journal: ReplayJournal,
}

/// Tags whose key rotation (`None`: the static key) and bytes were accepted.
type Batch = (Option<u64>, Vec<[u8; 32]>);

#[derive(Default)]
struct Counters {
    durable: AtomicU64,
    dropped: AtomicU64,
    failures: AtomicU64,
}

/// The journal thread; see the module docs.
pub struct JournalWriter {
    tracked: Arc<Mutex<BTreeMap<Option<u64>, TrackedFilter>>>,
    sender: SyncSender<Batch>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("durable", &self.durable_tags())
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Starts the thread, syncing every `sync_every`.
    pub fn start(sync_every: Duration) -> Result<Self, NodeError> {
        let (sender, receiver) = sync_channel(CHANNEL_BATCHES);
        let tracked = Arc::new(Mutex::new(BTreeMap::new()));
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (tracked, counters, stop) = (tracked.clone(), counters.clone(), stop.clone());
            std::thread::Builder::new()
                .name("replay-journal".into())
                .spawn(move || run(receiver, &tracked, &counters, &stop, sync_every))
                .map_err(|source| NodeError::System {
                    what: "cannot start the replay journal thread",
                    source,
                })?
        };
        Ok(Self {
            tracked,
            sender,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// The sink to give the router: sends each batch here without blocking.
    pub fn sink(&self) -> AcceptedTagSink {
        let sender = self.sender.clone();
        let counters = self.counters.clone();
        Arc::new(move |rotation: Option<u64>, tags: &[[u8; 32]]| {
            match sender.try_send((rotation, tags.to_vec())) {
                Ok(()) => {}
                Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => {
                    counters
                        .dropped
                        .fetch_add(batch.1.len() as u64, Ordering::Relaxed);
                }
            }
        })
    }

    /// Journals the tags of `rotation`'s key into `filter`'s journal from now on.
    pub fn track(&self, rotation: Option<u64>, filter: TrackedFilter) {
        lock(&self.tracked).insert(rotation, filter);
    }

    /// Stops journaling `rotation`'s key (it retired): its journal is synced and closed, and
    /// returned so the caller can remove its files.
    pub fn untrack(&self, rotation: Option<u64>) -> Option<TrackedFilter> {
        let mut removed = lock(&self.tracked).remove(&rotation)?;
        if let Err(error) = removed.journal.sync() {
            tracing::warn!(%error, "cannot sync a retired key's replay journal");
        }
        Some(removed)
    }

    /// The filters being journaled, by rotation.
    pub fn filters(&self) -> Vec<(Option<u64>, Arc<ReplayFilter>)> {
        lock(&self.tracked)
            .iter()
            .map(|(rotation, t)| (*rotation, t.filter.clone()))
            .collect()
    }

    /// Tags made durable so far.
    pub fn durable_tags(&self) -> u64 {
        self.counters.durable.load(Ordering::Relaxed)
    }

    /// Prometheus text of the journal's counters.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let c = &self.counters;
        let _ = writeln!(
            out,
            "# HELP mixnet_replay_tags_durable_total Accepted replay tags written and fsynced to a journal.\n\
             # TYPE mixnet_replay_tags_durable_total counter\nmixnet_replay_tags_durable_total {}\n\
             # HELP mixnet_replay_journal_dropped_tags_total Accepted replay tags not journaled (the writer was behind).\n\
             # TYPE mixnet_replay_journal_dropped_tags_total counter\nmixnet_replay_journal_dropped_tags_total {}\n\
             # HELP mixnet_replay_journal_failures_total Journal writes or syncs that failed.\n\
             # TYPE mixnet_replay_journal_failures_total counter\nmixnet_replay_journal_failures_total {}",
            c.durable.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
            c.failures.load(Ordering::Relaxed),
        );
    }

    /// A clean stop, once the router has stopped: the last tags are journaled, every
    /// filter's snapshot is saved and its journal removed (the snapshot holds it all).
    pub fn finish(mut self) -> Result<(), NodeError> {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let tracked = std::mem::take(&mut *lock(&self.tracked));
        let mut result = Ok(());
        for (_, t) in tracked {
            match save_snapshot(&t.filter, &t.files.snapshot) {
                Ok(()) => {
                    drop(t.journal);
                    let _ = std::fs::remove_file(&t.files.journal);
                    tracing::info!(path = %t.files.snapshot.display(), tags = t.filter.inserted(), "replay filter saved");
                }
                Err(error) => result = Err(error),
            }
        }
        result
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The thread: append what arrives, sync on the interval; at stop, drain and sync once more.
fn run(
    receiver: Receiver<Batch>,
    tracked: &Mutex<BTreeMap<Option<u64>, TrackedFilter>>,
    counters: &Counters,
    stop: &AtomicBool,
    sync_every: Duration,
) {
    let mut pending = 0u64;
    let mut last_sync = Instant::now();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let wait = sync_every.saturating_sub(last_sync.elapsed());
        match receiver.recv_timeout(if stopping { Duration::ZERO } else { wait }) {
            Ok((rotation, tags)) => {
                let mut map = lock(tracked);
                // A key that retired between the shard's tick and now took its filter along.
                if let Some(t) = map.get_mut(&rotation) {
                    t.journal.append(&tags);
                    pending += tags.len() as u64;
                }
                if last_sync.elapsed() < sync_every {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if stopping {
                    sync_all(tracked, counters, &mut pending);
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                sync_all(tracked, counters, &mut pending);
                return;
            }
        }
        sync_all(tracked, counters, &mut pending);
        last_sync = Instant::now();
    }
}

/// Syncs every journal; compacts the ones grown past a quarter of their filter.
fn sync_all(
    tracked: &Mutex<BTreeMap<Option<u64>, TrackedFilter>>,
    counters: &Counters,
    pending: &mut u64,
) {
    let mut map = lock(tracked);
    let mut ok = true;
    for t in map.values_mut() {
        if let Err(error) = t.journal.sync() {
            ok = false;
            counters.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(path = %t.files.journal.display(), %error, "cannot sync the replay journal");
        }
        let journal_bytes = t.journal.durable_tags().saturating_mul(32);
        if journal_bytes > t.filter.memory_bytes() / 4 {
            compact(t, counters);
        }
    }
    if ok {
        counters.durable.fetch_add(*pending, Ordering::Relaxed);
        *pending = 0;
    }
}

/// Rewrites the snapshot and starts the journal over (see the module docs).
fn compact(t: &mut TrackedFilter, counters: &Counters) {
    if let Err(error) = save_snapshot(&t.filter, &t.files.snapshot) {
        counters.failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%error, "cannot compact the replay journal: keeping it");
        return;
    }
    match ReplayJournal::create(&t.files.journal, t.filter.key_id()) {
        Ok(journal) => t.journal = journal,
        Err(error) => {
            counters.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, "cannot start a new replay journal after compaction");
        }
    }
}
