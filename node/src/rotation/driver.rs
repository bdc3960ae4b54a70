//! The thread that rotates the keys (see the module docs of [`crate::rotation`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use router_core::mix::{KeyRing, ReplayFilter, ReplayFilterParams, RotationKey};
use router_core::runtime::KeySetter;
use router_core::sphinx::SphinxSecretKey;
use validator_client::ValidatorClient;
use validator_core::chain::sphinx_keys::SphinxKeyAnnouncement;
use validator_core::genesis::{Genesis, GenesisHash};
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::rotation::{RotationId, RotationSchedule};

use super::files::RotationFiles;
use super::plan::plan;
use super::status::RotationStatus;
use super::ChainSource;
use crate::engine::EngineSection;
use crate::error::NodeError;
use crate::replay::{open_filter, JournalWriter, TrackedFilter};

/// How often the thread looks at the clock and the filters.
const TICK: Duration = Duration::from_millis(200);
/// How often the chain is asked which of our keys it holds (sooner after an announcement).
const CHAIN_POLL: Duration = Duration::from_secs(2);
/// Least time between two announcements of one key (a node announces before its bond is on
/// the chain too; it is refused until then).
const ANNOUNCE_RETRY: Duration = Duration::from_secs(1);

/// Wall-clock Unix ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What the thread needs.
pub struct DriverSetup {
    pub setter: KeySetter,
    pub chain: Option<ChainSource>,
    pub identity: SigningKey,
    pub files: RotationFiles,
    pub writer: Arc<JournalWriter>,
    pub status: Arc<RotationStatus>,
    pub engine: EngineSection,
    pub quarantine: bool,
}

/// The running thread; stops when dropped.
pub struct Driver {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Driver {
    pub fn start(setup: DriverSetup) -> Result<Self, NodeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| NodeError::System {
                what: "cannot start the key rotation runtime",
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("key-rotation".into())
            .spawn(move || {
                let mut state = State::new(setup);
                while !thread_stop.load(Ordering::Acquire) {
                    runtime.block_on(state.tick());
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|source| NodeError::System {
                what: "cannot start the key rotation thread",
                source,
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The chain as far as the thread knows it.
struct Chain {
    source: ChainSource,
    genesis: Option<(Genesis, GenesisHash)>,
    clients: Vec<ValidatorClient>,
    on_chain: BTreeSet<RotationId>,
    last_poll: Option<Instant>,
    /// The rotation whose missing key was last warned about.
    warned_missing: Option<RotationId>,
    /// When each rotation's key was last announced.
    announced_at: BTreeMap<RotationId, Instant>,
}

struct State {
    setup: DriverSetup,
    chain: Option<Chain>,
    /// `None` until the chain is known to rotate keys (and forever on one that does not).
    schedule: Option<RotationSchedule>,
    keys: BTreeMap<RotationId, SphinxSecretKey>,
    installed: Vec<RotationId>,
    quarantined: BTreeSet<RotationId>,
    over_capacity_warned: BTreeSet<Option<u64>>,
}

impl State {
    fn new(setup: DriverSetup) -> Self {
        let chain = setup.chain.clone().map(|source| Chain {
            source,
            genesis: None,
            clients: Vec::new(),
            on_chain: BTreeSet::new(),
            last_poll: None,
            warned_missing: None,
            announced_at: BTreeMap::new(),
        });
        // Decided before any filter of a rotating key is opened (opening starts a new
        // journal): the keys whose journals survived were live at the unclean stop.
        let quarantined: BTreeSet<RotationId> = if setup.quarantine {
            setup
                .files
                .on_disk()
                .into_iter()
                .filter(|r| setup.files.filter(*r).has_journal())
                .collect()
        } else {
            BTreeSet::new()
        };
        if !quarantined.is_empty() {
            tracing::error!(
                rotations = ?quarantined,
                "after the unclean stop, the keys of these rotations may have lost replay tags: \
                 they are quarantined (packets for them are refused) and the node moves to its \
                 next key early (engine.after_unclean_stop = \"quarantine\")"
            );
        }
        setup
            .status
            .quarantined_keys
            .store(quarantined.len() as u64, Ordering::Relaxed);
        Self {
            setup,
            chain,
            schedule: None,
            keys: BTreeMap::new(),
            installed: Vec::new(),
            quarantined,
            over_capacity_warned: BTreeSet::new(),
        }
    }

    async fn tick(&mut self) {
        self.learn_schedule().await;
        if let Some(schedule) = self.schedule {
            self.rotate(&schedule).await;
        }
        self.warn_over_capacity();
    }

    /// Fetches the genesis until it is known; on a chain that rotates keys, the schedule.
    async fn learn_schedule(&mut self) {
        let Some(chain) = &mut self.chain else { return };
        if chain.genesis.is_some() {
            return;
        }
        let source = &chain.source;
        let genesis = match crate::topology::load_or_fetch_genesis(
            &source.validators,
            &source.genesis_pin,
            source.expected_genesis,
        )
        .await
        {
            Ok(genesis) => genesis,
            Err(error) => {
                tracing::warn!(%error, "cannot get the chain's genesis yet: keeping the static Sphinx key");
                return;
            }
        };
        match genesis.rotation_schedule() {
            Some(schedule) => {
                tracing::info!(
                    length_ms = schedule.params().length_ms,
                    overlap_ms = schedule.params().overlap_ms,
                    "the chain rotates Sphinx keys"
                );
                self.schedule = Some(schedule);
            }
            None => tracing::info!("the chain does not rotate Sphinx keys: keeping the static key"),
        }
        chain.clients = validator_client::clients_for(&genesis).unwrap_or_default();
        let hash = genesis.genesis_hash();
        chain.genesis = Some((genesis, hash));
    }

    async fn rotate(&mut self, schedule: &RotationSchedule) {
        let now = now_ms();
        let current = schedule.rotation_at(now);
        for rotation in [current, current.next()] {
            if let Err(error) = self.key(rotation) {
                tracing::error!(%rotation, %error, "cannot make or read a Sphinx key");
            }
        }
        let on_chain = self.poll_chain().await;
        let plan = plan(
            schedule,
            now,
            &self.setup.files.on_disk(),
            &self.quarantined,
            &on_chain,
        );
        self.announce(&plan.announce).await;
        let mut accept = plan.accept.clone();
        if accept.is_empty() {
            // Every live key is quarantined: move to the next key early.
            accept.push(plan.keep[1]);
        }
        if accept != self.installed {
            match self.install(&accept, schedule) {
                Ok(()) => self.installed = accept,
                Err(error) => tracing::error!(%error, "cannot install the rotation's keys"),
            }
        }
        for rotation in plan.retire {
            self.retire(rotation);
        }
        let status = &self.setup.status;
        status.rotation.store(
            i64::try_from(current.0).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
        status
            .next_at_ms
            .store(schedule.end(current), Ordering::Relaxed);
        status
            .accepted_keys
            .store(self.installed.len() as u64, Ordering::Relaxed);
        let bits = u64::from(on_chain.contains(&current))
            | (u64::from(on_chain.contains(&current.next())) << 1);
        status.on_chain.store(bits, Ordering::Relaxed);
        self.warn_missing(current, &on_chain);
    }

    /// `rotation`'s key, loaded or made.
    fn key(&mut self, rotation: RotationId) -> Result<SphinxSecretKey, NodeError> {
        if let Some(key) = self.keys.get(&rotation) {
            return Ok(key.clone());
        }
        let key = self.setup.files.load_or_create(rotation)?;
        self.keys.insert(rotation, key.clone());
        Ok(key)
    }

    /// The rotations the chain holds our key for; asked every [`CHAIN_POLL`].
    async fn poll_chain(&mut self) -> BTreeSet<RotationId> {
        let identity = IdentityKey::from(&self.setup.identity);
        let mine: BTreeMap<RotationId, [u8; 32]> = self
            .keys
            .iter()
            .map(|(r, k)| (*r, k.public_key()))
            .collect();
        let Some(chain) = &mut self.chain else {
            return BTreeSet::new();
        };
        if chain.last_poll.is_some_and(|t| t.elapsed() < CHAIN_POLL) {
            return chain.on_chain.clone();
        }
        chain.last_poll = Some(Instant::now());
        for client in &chain.clients {
            match client.sphinx_keys(&identity).await {
                Ok(view) => {
                    let mut held = BTreeSet::new();
                    for entry in view.keys {
                        match mine.get(&entry.rotation) {
                            Some(key) if key == entry.sphinx_key.as_bytes() => {
                                held.insert(entry.rotation);
                            }
                            Some(_) => tracing::error!(
                                rotation = %entry.rotation,
                                "the chain holds another Sphinx key of this node for the rotation \
                                 (its key file was replaced?): packets for it cannot be opened"
                            ),
                            None => {}
                        }
                    }
                    chain.on_chain = held;
                    break;
                }
                Err(error) => {
                    tracing::debug!(validator = client.base_url(), %error, "cannot ask for our keys")
                }
            }
        }
        chain.on_chain.clone()
    }

    /// Signs and posts our key for each rotation in `rotations` to the validators (the first
    /// that admits it relays it to the others).
    async fn announce(&mut self, rotations: &[RotationId]) {
        let Some(chain) = &mut self.chain else { return };
        let Some(genesis_hash) = chain.genesis.as_ref().map(|(_, hash)| *hash) else {
            return;
        };
        chain.announced_at.retain(|r, _| rotations.contains(r));
        for rotation in rotations {
            let recently = chain
                .announced_at
                .get(rotation)
                .is_some_and(|t| t.elapsed() < ANNOUNCE_RETRY);
            let Some(secret) = self.keys.get(rotation).filter(|_| !recently) else {
                continue;
            };
            chain.announced_at.insert(*rotation, Instant::now());
            let Ok(sphinx_key) = SphinxKey::from_bytes(secret.public_key()) else {
                continue;
            };
            let announcement = SphinxKeyAnnouncement::sign(
                &genesis_hash,
                &self.setup.identity,
                *rotation,
                sphinx_key,
            );
            let mut admitted = false;
            for client in &chain.clients {
                match client.announce_sphinx_key(&announcement).await {
                    Ok(_) => {
                        tracing::info!(%rotation, validator = client.base_url(), "Sphinx key announced");
                        admitted = true;
                        break;
                    }
                    // already announced (pooled or decided): the poll will see it
                    Err(e) if e.status() == Some(409) => {
                        admitted = true;
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(%rotation, validator = client.base_url(), %error, "announcement refused")
                    }
                }
            }
            if admitted {
                // look again soon
                chain.last_poll = None;
            } else {
                self.setup
                    .status
                    .announce_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%rotation, "no validator accepted this node's Sphinx key announcement");
            }
        }
    }

    /// Builds and installs the ring of `accept`'s keys, journaling their filters.
    fn install(
        &mut self,
        accept: &[RotationId],
        schedule: &RotationSchedule,
    ) -> Result<(), NodeError> {
        let params = self.filter_params(schedule)?;
        let tracked: BTreeMap<Option<u64>, Arc<ReplayFilter>> =
            self.setup.writer.filters().into_iter().collect();
        let mut ring = Vec::with_capacity(accept.len());
        for rotation in accept {
            let secret = self.key(*rotation)?;
            let filter = match tracked.get(&Some(rotation.0)) {
                Some(filter) => filter.clone(),
                None => {
                    let files = self.setup.files.filter(*rotation);
                    let (filter, journal) = open_filter(&files, secret.public_key(), params)?;
                    self.setup.writer.track(
                        Some(rotation.0),
                        TrackedFilter {
                            filter: filter.clone(),
                            files,
                            journal,
                        },
                    );
                    filter
                }
            };
            ring.push(RotationKey {
                rotation: Some(rotation.0),
                secret,
                filter,
            });
        }
        let ring = KeyRing::new(ring)
            .map_err(|e| NodeError::Refused(format!("key ring of rotations {accept:?}: {e}")))?;
        self.setup.setter.set(ring);
        tracing::info!(rotations = ?accept, "Sphinx keys installed");
        // The static key is out of use once the rotation's keys are in.
        if let Some(static_filter) = self.setup.writer.untrack(None) {
            if let Err(error) =
                crate::replay::save_snapshot(&static_filter.filter, &static_filter.files.snapshot)
            {
                tracing::warn!(%error, "cannot save the static key's replay filter");
            }
            drop(static_filter.journal);
            let _ = std::fs::remove_file(&static_filter.files.journal);
        }
        Ok(())
    }

    /// A rotating key's filter holds one rotation and its overlap at the configured rate.
    fn filter_params(&self, schedule: &RotationSchedule) -> Result<ReplayFilterParams, NodeError> {
        let p = schedule.params();
        let window_ms = p.length_ms.saturating_add(p.overlap_ms);
        let capacity = self
            .setup
            .engine
            .replay_rate_per_sec
            .saturating_mul(window_ms)
            .div_ceil(1000)
            .max(1);
        ReplayFilterParams::for_capacity(capacity, self.setup.engine.replay_false_positive_rate)
            .map_err(|e| {
                NodeError::Refused(format!(
                    "engine.replay_rate_per_sec: a filter for {capacity} tags per rotation: {e}"
                ))
            })
    }

    fn retire(&mut self, rotation: RotationId) {
        drop(self.setup.writer.untrack(Some(rotation.0)));
        self.keys.remove(&rotation);
        self.quarantined.remove(&rotation);
        self.setup
            .status
            .quarantined_keys
            .store(self.quarantined.len() as u64, Ordering::Relaxed);
        self.setup.files.wipe(rotation);
    }

    fn warn_missing(&mut self, current: RotationId, on_chain: &BTreeSet<RotationId>) {
        let Some(chain) = &mut self.chain else { return };
        if on_chain.contains(&current) || chain.last_poll.is_none() {
            return;
        }
        if chain.warned_missing != Some(current) {
            chain.warned_missing = Some(current);
            tracing::warn!(
                rotation = %current,
                "the chain holds no Sphinx key of this node for the current rotation: it is left \
                 out of the topology until its key is on the chain (announced late, or no \
                 validator reachable)"
            );
        }
    }

    fn warn_over_capacity(&mut self) {
        for (rotation, filter) in self.setup.writer.filters() {
            if filter.is_over_capacity() && self.over_capacity_warned.insert(rotation) {
                tracing::warn!(
                    key = ?rotation,
                    tags = filter.inserted(),
                    capacity = filter.capacity(),
                    false_positive_rate = filter.false_positive_rate(filter.inserted()),
                    "a replay filter passed its design capacity: fresh packets are now dropped \
                     as replays above the target rate (raise engine.replay_rate_per_sec or \
                     rotate keys more often)"
                );
            }
        }
    }
}
