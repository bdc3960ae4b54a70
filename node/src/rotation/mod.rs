//! The node's Sphinx keys over time: the static key, or one key per rotation of the chain's
//! schedule ([`validator_core::rotation`]), each with its replay filter ([`crate::replay`]).
//!
//! # Start
//!
//! [`SphinxKeyService::prepare`], before the router: the marker file (`running`) says
//! whether the last stop was clean; the static key's filter (the key made at `init`) is
//! restored with its journal, and the router starts with it alone. The journal writer
//! thread starts and the router gets its sink.
//!
//! [`SphinxKeyService::start`], once the router runs: a thread fetches the chain's genesis
//! from the configured validators (if any). On a chain that rotates keys it takes over the
//! router's keys:
//!
//! * it keeps on disk the key of the current rotation and of the next (generated ahead),
//!   announces both on the chain ([`validator_core::chain::sphinx_keys`]) until the chain
//!   holds them, and warns when the current rotation's key is not on the chain (the node is
//!   then left out of the topology for that rotation);
//! * it installs the live keys in the router ([`plan`]): the current rotation's, and the
//!   previous one's during the overlap; a key that leaves the overlap is removed from the
//!   router, and its secret and filter files are wiped.
//!
//! Without validators (`--danger-allow-any-next-hop` alone), or on a chain without
//! rotation, the static key stays: it accepts every key-rotation byte, so Nym's own v7 and
//! v8 frames are opened by it.
//!
//! # After an unclean stop
//!
//! A crash forgets the tags accepted in the last `engine.replay_sync_ms`; a packet
//! forwarded then could be replayed. With `engine.after_unclean_stop = "quarantine"` (the
//! default) the keys whose journals were open at the crash are never accepted again: the
//! node **moves to its next key early** (installed at once, though clients only use it
//! from the next rotation on), so it drops the traffic of the rest of the rotation (the
//! price of a crash), and rejoins at the next rotation with a key no crash exposed.
//! `"trust-journal"` keeps the keys and accepts the bounded loss. A static key has no next
//! key and always trusts its journal (with a warning).
//!
//! # Layout
//!
//! * [`plan`]: pure: what to accept, keep, announce and wipe at a moment.
//! * [`files`]: the per-rotation key files.
//! * `driver`: the thread.
//! * `status`: its metrics.

mod driver;
pub mod files;
pub mod plan;
mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use router_core::mix::{KeyRing, ReplayFilterParams};
use router_core::runtime::{AcceptedTagSink, KeySetter};
use validator_core::genesis::GenesisHash;

use crate::config::invalid;
use crate::engine::EngineSection;
use crate::error::NodeError;
use crate::home::NodePaths;
use crate::keys::NodeKeys;
use crate::replay::{open_filter, FilterFiles, JournalWriter, TrackedFilter};
use status::RotationStatus;

/// Where the chain is asked about keys.
#[derive(Debug, Clone)]
pub struct ChainSource {
    /// The configured validators' API URLs.
    pub validators: Vec<String>,
    /// The pinned genesis file.
    pub genesis_pin: PathBuf,
    /// The genesis hash the config names, if any.
    pub expected_genesis: Option<GenesisHash>,
}

/// The node's keys and filters over its run; see the module docs.
pub struct SphinxKeyService {
    writer: Arc<JournalWriter>,
    status: Arc<RotationStatus>,
    driver: Option<driver::Driver>,
    marker: PathBuf,
    unclean: bool,
    rotation_dir: PathBuf,
    engine: EngineSection,
}

impl std::fmt::Debug for SphinxKeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SphinxKeyService")
            .field("unclean", &self.unclean)
            .finish_non_exhaustive()
    }
}

impl SphinxKeyService {
    /// Before the router starts: returns the service and the router's first key ring (the
    /// static key). See the module docs.
    pub fn prepare(
        paths: &NodePaths,
        keys: &NodeKeys,
        engine: &EngineSection,
        config_path: &Path,
    ) -> Result<(Self, KeyRing), NodeError> {
        let marker = paths.dir.join("running");
        let unclean = marker.exists();
        if unclean {
            tracing::warn!(
                marker = %marker.display(),
                "the node did not stop cleanly last time (crash, SIGKILL or power cut): replay \
                 tags accepted in its last {} ms may be lost",
                engine.replay_sync_ms
            );
        }
        let params = ReplayFilterParams::for_capacity(
            engine.replay_capacity,
            engine.replay_false_positive_rate,
        )
        .map_err(|e| invalid(config_path, "engine.replay_capacity", e.to_string()))?;
        let files = FilterFiles::beside(paths.replay_filter());
        if unclean && files.has_journal() {
            tracing::warn!(
                "the static Sphinx key has no next key to move to: it trusts its journal"
            );
        }
        let (filter, journal) = open_filter(&files, keys.sphinx.public_key(), params)?;
        let writer = JournalWriter::start(Duration::from_millis(engine.replay_sync_ms))?;
        writer.track(
            None,
            TrackedFilter {
                filter: filter.clone(),
                files,
                journal,
            },
        );
        std::fs::write(&marker, format!("{}\n", std::process::id())).map_err(|source| {
            NodeError::Io {
                action: "cannot write",
                path: marker.clone(),
                source,
            }
        })?;
        let ring = KeyRing::single(keys.sphinx.clone(), filter);
        let service = Self {
            writer: Arc::new(writer),
            status: Arc::new(RotationStatus::default()),
            driver: None,
            marker,
            unclean,
            rotation_dir: paths.dir.join("rotation"),
            engine: engine.clone(),
        };
        Ok((service, ring))
    }

    /// The sink the router hands accepted tags to.
    pub fn sink(&self) -> AcceptedTagSink {
        self.writer.sink()
    }

    /// Once the router runs: the thread that watches the filters and, on a chain that
    /// rotates keys, rotates them (`chain`: `None` without validators).
    pub fn start(
        &mut self,
        setter: KeySetter,
        chain: Option<ChainSource>,
        identity: SigningKey,
    ) -> Result<(), NodeError> {
        let quarantine = self.unclean && self.engine.after_unclean_stop == "quarantine";
        self.driver = Some(driver::Driver::start(driver::DriverSetup {
            setter,
            chain,
            identity,
            files: files::RotationFiles::new(self.rotation_dir.clone()),
            writer: self.writer.clone(),
            status: self.status.clone(),
            engine: self.engine.clone(),
            quarantine,
        })?);
        Ok(())
    }

    /// The Prometheus text of rotation, keys, filters and journal, as a callback that outlives
    /// `&self` (for the node's metrics endpoint).
    pub fn renderer(&self) -> impl Fn(&mut String) + Send + Sync + 'static {
        let (status, writer) = (self.status.clone(), self.writer.clone());
        move |out: &mut String| {
            status.render(out, &writer.filters());
            writer.render(out);
        }
    }

    /// The clean end, once the router has stopped: the thread stops, every filter is saved
    /// and its journal removed, the marker goes.
    pub fn finish(mut self) -> Result<(), NodeError> {
        drop(self.driver.take());
        let writer = Arc::try_unwrap(self.writer).map_err(|_| {
            NodeError::Refused("the replay journal is still in use at shutdown".into())
        });
        let saved = writer.and_then(JournalWriter::finish);
        if saved.is_ok() {
            let _ = std::fs::remove_file(&self.marker);
        }
        saved
    }
}
