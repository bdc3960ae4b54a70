//! The replay filter across restarts: restored when the node starts (a restart must not
//! reopen the replay window), saved when it stops.

use std::path::Path;
use std::sync::Arc;

use router_core::mix::{FreshReason, LoadOutcome, ReplayFilter, ReplayFilterParams};

use crate::config::invalid;
use crate::engine::EngineSection;
use crate::error::NodeError;

/// The replay filter saved at `path` for this Sphinx key, or a fresh one when there is none or
/// it belongs to an older key or size. A file that exists but cannot be read is an error: an
/// empty filter would accept replays of packets seen before the restart.
pub fn load_replay_filter(
    path: &Path,
    sphinx_public: [u8; 32],
    engine: &EngineSection,
    config_path: &Path,
) -> Result<Arc<ReplayFilter>, NodeError> {
    let params =
        ReplayFilterParams::for_capacity(engine.replay_capacity, engine.replay_false_positive_rate)
            .map_err(|e| invalid(config_path, "engine.replay_capacity", e.to_string()))?;
    let filter = match ReplayFilter::load(path, sphinx_public, params) {
        Ok(LoadOutcome::Restored(filter)) => {
            tracing::info!(path = %path.display(), tags = filter.inserted(), "replay filter restored");
            filter
        }
        Ok(LoadOutcome::Fresh(filter, reason)) => {
            match reason {
                FreshReason::NoFile => tracing::info!("no saved replay filter: starting empty"),
                FreshReason::KeyMismatch => {
                    tracing::info!("saved replay filter belongs to an older Sphinx key: starting empty")
                }
                FreshReason::ParamsMismatch => tracing::warn!(
                    "replay filter size changed in the config: the saved one cannot be used, starting empty"
                ),
            }
            filter
        }
        Err(error) => {
            return Err(NodeError::ReplayFilter {
                path: path.to_path_buf(),
                message: format!(
                    "{error}. Refusing to start with an empty filter, which would accept \
                     replays of packets seen before the restart; move the file away to start \
                     anyway"
                ),
            })
        }
    };
    Ok(Arc::new(filter))
}

/// Saves `filter` to `path` for the next start.
pub fn save_replay_filter(filter: &ReplayFilter, path: &Path) -> Result<(), NodeError> {
    filter.save(path).map_err(|e| NodeError::ReplayFilter {
        path: path.to_path_buf(),
        message: format!("cannot persist it: {e}"),
    })?;
    tracing::info!(path = %path.display(), tags = filter.inserted(), "replay filter saved");
    Ok(())
}
