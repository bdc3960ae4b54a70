//! A running node's surroundings, the same for every role: SIGINT/SIGTERM caught before the
//! engine starts (so an early signal still shuts down cleanly), the Prometheus endpoint, the
//! pid file, and the shutdown order (stop accepting, let held packets leave, save the replay
//! filters, remove the pid file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use router_core::pipeline::ShardStats;
use router_core::runtime::{ExtraMetrics, MetricsServer, RouterHandle, RuntimeError};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::NodeError;
use crate::rotation::SphinxKeyService;

/// Signals, metrics and pid file of a running node.
pub struct Lifecycle {
    signals: Signals,
    metrics: Option<MetricsServer>,
    pid_file: Option<PathBuf>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field(
                "metrics",
                &self.metrics.as_ref().map(MetricsServer::local_addr),
            )
            .field("pid_file", &self.pid_file)
            .finish()
    }
}

impl Lifecycle {
    /// Catches SIGINT and SIGTERM from now on; call before starting the engine.
    pub fn catch_signals() -> Result<Self, NodeError> {
        let signals = Signals::new([SIGINT, SIGTERM]).map_err(|source| NodeError::System {
            what: "cannot install signal handlers",
            source,
        })?;
        Ok(Lifecycle {
            signals,
            metrics: None,
            pid_file: None,
        })
    }

    /// Serves `stats` and `extra` as Prometheus text at `http://listen/metrics`, if asked.
    pub fn serve_metrics(
        &mut self,
        listen: Option<SocketAddr>,
        stats: &[Arc<ShardStats>],
        extra: ExtraMetrics,
    ) -> Result<(), NodeError> {
        let Some(addr) = listen else { return Ok(()) };
        let server = MetricsServer::start(addr, stats.to_vec(), Some(extra)).map_err(|source| {
            NodeError::System {
                what: "cannot serve metrics (--metrics-listen)",
                source,
            }
        })?;
        tracing::info!(addr = %server.local_addr(), "metrics at /metrics");
        self.metrics = Some(server);
        Ok(())
    }

    /// Writes this process's pid to `path` (removed at shutdown). A failure is logged, not
    /// fatal: the pid file is a convenience for operators' scripts.
    pub fn write_pid_file(&mut self, path: &Path) {
        match std::fs::write(path, format!("{}\n", std::process::id())) {
            Ok(()) => self.pid_file = Some(path.to_path_buf()),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot write the pid file")
            }
        }
    }

    /// Blocks until SIGINT or SIGTERM.
    pub fn wait_for_signal(&mut self) {
        if let Some(signal) = self.signals.forever().next() {
            tracing::info!(
                signal,
                "shutting down: no new connections, letting held packets leave"
            );
        }
    }

    /// The end of a run, once the engine has stopped (`stopped` is how it stopped): the
    /// metrics endpoint closes, the keys' replay filters are saved (and the unclean-stop
    /// marker removed), the pid file is removed. The engine's error comes first, then the
    /// save's.
    pub fn finish(
        self,
        stopped: Result<(), RuntimeError>,
        keys: SphinxKeyService,
    ) -> Result<(), NodeError> {
        drop(self.metrics);
        let saved = keys.finish();
        if let Some(pid_file) = &self.pid_file {
            let _ = std::fs::remove_file(pid_file);
        }
        stopped?;
        saved?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Stops `router` gracefully: no new connections, held packets leave within the shutdown
/// grace, then the shards exit.
pub fn stop_router(router: RouterHandle) -> Result<(), RuntimeError> {
    router.stopper().stop();
    router.join()
}
