//! The rotation's metrics, and the filters' (each key's fill and modelled false positives).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use router_core::mix::ReplayFilter;

/// A per-key gauge: name, help, and its value for a filter.
type FilterGauge = (&'static str, &'static str, fn(&ReplayFilter) -> f64);

/// What the driver last saw.
#[derive(Debug)]
pub struct RotationStatus {
    /// Current rotation; -1 with a static key.
    pub rotation: AtomicI64,
    /// When the next rotation starts, Unix ms (0 with a static key).
    pub next_at_ms: AtomicU64,
    /// Keys the router accepts.
    pub accepted_keys: AtomicU64,
    /// Keys refused after an unclean stop.
    pub quarantined_keys: AtomicU64,
    /// Whether the chain holds our key for the current (bit 0) and next (bit 1) rotation.
    pub on_chain: AtomicU64,
    /// Announcements that no validator accepted.
    pub announce_failures: AtomicU64,
}

impl Default for RotationStatus {
    fn default() -> Self {
        Self {
            rotation: AtomicI64::new(-1),
            next_at_ms: AtomicU64::new(0),
            accepted_keys: AtomicU64::new(1),
            quarantined_keys: AtomicU64::new(0),
            on_chain: AtomicU64::new(0),
            announce_failures: AtomicU64::new(0),
        }
    }
}

impl RotationStatus {
    /// Prometheus text; `filters` are the journaled filters by rotation (`None`: static).
    pub fn render(&self, out: &mut String, filters: &[(Option<u64>, Arc<ReplayFilter>)]) {
        let next_at = self.next_at_ms.load(Ordering::Relaxed);
        let to_next = if next_at == 0 {
            0.0
        } else {
            next_at.saturating_sub(super::driver::now_ms()) as f64 / 1000.0
        };
        let on_chain = self.on_chain.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP mixnet_key_rotation The Sphinx key rotation now (-1: a static key).\n\
             # TYPE mixnet_key_rotation gauge\nmixnet_key_rotation {}\n\
             # HELP mixnet_key_rotation_seconds_to_next Seconds until the next rotation starts.\n\
             # TYPE mixnet_key_rotation_seconds_to_next gauge\nmixnet_key_rotation_seconds_to_next {to_next:.3}\n\
             # HELP mixnet_sphinx_keys_accepted Sphinx keys packets are opened with.\n\
             # TYPE mixnet_sphinx_keys_accepted gauge\nmixnet_sphinx_keys_accepted {}\n\
             # HELP mixnet_sphinx_keys_quarantined Keys refused after an unclean stop.\n\
             # TYPE mixnet_sphinx_keys_quarantined gauge\nmixnet_sphinx_keys_quarantined {}\n\
             # HELP mixnet_sphinx_key_on_chain Whether the chain holds this node's key for the rotation (else the node is left out of its topologies).\n\
             # TYPE mixnet_sphinx_key_on_chain gauge\n\
             mixnet_sphinx_key_on_chain{{rotation=\"current\"}} {}\n\
             mixnet_sphinx_key_on_chain{{rotation=\"next\"}} {}\n\
             # HELP mixnet_sphinx_key_announce_failures_total Key announcements no validator accepted.\n\
             # TYPE mixnet_sphinx_key_announce_failures_total counter\n\
             mixnet_sphinx_key_announce_failures_total {}",
            self.rotation.load(Ordering::Relaxed),
            self.accepted_keys.load(Ordering::Relaxed),
            self.quarantined_keys.load(Ordering::Relaxed),
            on_chain & 1,
            (on_chain >> 1) & 1,
            self.announce_failures.load(Ordering::Relaxed),
        );
        let metrics: [FilterGauge; 4] = [
            (
                "mixnet_replay_filter_tags",
                "Tags in the key's replay filter.",
                |f| f.inserted() as f64,
            ),
            (
                "mixnet_replay_filter_capacity",
                "Tags the key's replay filter is sized for.",
                |f| f.capacity() as f64,
            ),
            (
                "mixnet_replay_filter_fill_ratio",
                "Tags over capacity (above 1 the false-positive rate exceeds its target).",
                |f| f.inserted() as f64 / f.capacity().max(1) as f64,
            ),
            (
                "mixnet_replay_filter_false_positive_rate",
                "Modelled rate of fresh packets dropped as replays, at the current fill.",
                |f| f.false_positive_rate(f.inserted()),
            ),
        ];
        for (name, help, value) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (rotation, filter) in filters {
                let label = rotation.map_or_else(|| "static".to_owned(), |r| r.to_string());
                let _ = writeln!(out, "{name}{{key=\"{label}\"}} {}", value(filter));
            }
        }
    }
}
