//! Per-shard counters and their Prometheus text rendering.
//!
//! Each shard owns one [`ShardStats`] and is its only writer; the metrics endpoint reads them
//! from another thread. Relaxed atomics on a line the shard owns cost what a plain add costs, so
//! counting never becomes shared hot-path state. The counters are padded apart from each other
//! shard's by living in separate allocations.
//!
//! Families: per-shard series carry a `shard` label and the `mixnet_shard_` prefix; node totals
//! (sums over shards) have the same names without `shard_`, so `sum()` over a family never counts
//! a packet twice.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::mix::DropReason;

/// Upper bounds (inclusive) of the batch-size histogram buckets.
pub const BATCH_BUCKETS: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Upper bounds of the processing-latency histogram buckets, in microseconds.
/// Fine around the 2 ms per-hop target, so its p99 can be read off.
pub const LATENCY_BUCKETS_US: [u64; 18] = [
    25, 50, 100, 250, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 25_000, 100_000,
    1_000_000, 5_000_000, 15_000_000, 60_000_000,
];

/// A fixed-bucket histogram on atomics (cumulative only when rendered).
#[derive(Debug)]
pub struct AtomicHistogram<const N: usize> {
    bounds: [u64; N],
    /// One count per bucket, then the overflow (`+Inf`) bucket.
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
}

impl<const N: usize> AtomicHistogram<N> {
    /// A histogram with these bucket upper bounds (ascending).
    pub fn new(bounds: [u64; N]) -> Self {
        AtomicHistogram {
            bounds,
            counts: (0..=N).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn record(&self, value: u64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Per-bucket counts (not cumulative), the last being `+Inf`, and the sum.
    pub fn snapshot(&self) -> (Vec<u64>, u64) {
        (
            self.counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            self.sum.load(Ordering::Relaxed),
        )
    }

    /// Bucket upper bounds.
    pub fn bounds(&self) -> &[u64; N] {
        &self.bounds
    }
}

/// The reasons a Noise link fails or is refused, as counted (labels of
/// `mixnet_noise_link_failures_total`): the Noise layer's own ([`crate::noise`]), a frame that
/// does not fit its message, and the runtime's.
pub const LINK_FAILURE_REASONS: [&str; 14] = [
    "bad_header",
    "unexpected_message",
    "handshake_length",
    "handshake_failed",
    "bad_tag",
    "bad_length",
    "nonces_exhausted",
    "bad_frame",
    "unaligned_message",
    // The initiator's key is not in the topology.
    "unknown_peer",
    // A plain connection to a node that requires Noise.
    "plain_refused",
    // The handshake did not finish in time.
    "handshake_timeout",
    // Noise is required and the next hop's key is unknown.
    "no_key",
    // The connection failed (closed, reset) during the handshake.
    "closed",
];

/// Which side of a link a count is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDirection {
    /// Opened by a peer.
    Inbound,
    /// Opened by this node to a next hop.
    Outbound,
}

impl LinkDirection {
    const ALL: [LinkDirection; 2] = [Self::Inbound, Self::Outbound];

    fn label(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Inbound => 0,
            Self::Outbound => 1,
        }
    }
}

/// Everything one shard counts.
#[derive(Debug)]
pub struct ShardStats {
    /// Frames received complete.
    pub received: AtomicU64,
    /// Packets written to their next hop.
    pub forwarded: AtomicU64,
    /// Packets for which this node was the last hop.
    pub final_hop: AtomicU64,
    dropped: Vec<AtomicU64>,
    /// Noise links that failed or were refused, by direction and reason.
    link_failures: Vec<AtomicU64>,
    /// Noise handshakes completed, by direction.
    noise_links: [AtomicU64; 2],
    /// Packets held in the delay wheel.
    pub wheel_depth: AtomicU64,
    /// Frames queued towards next hops, all peers together.
    pub peer_queue_depth: AtomicU64,
    /// Open inbound connections.
    pub inbound_connections: AtomicU64,
    /// Outbound connections currently established.
    pub outbound_connections: AtomicU64,
    /// Packet bytes copied in user space (zero unless a peer switches frame shape).
    pub copied_bytes: AtomicU64,
    /// Bytes of packet buffers in use.
    pub buffer_bytes: AtomicU64,
    /// Accepted replay tags that did not fit the shard's journal buffer: a crash would forget
    /// them (see `Mixer::record_accepted_tags`).
    pub unjournaled_tags: AtomicU64,
    /// Next hops the shard's policy allows right now; `u64::MAX` for any.
    pub next_hops_allowed: AtomicU64,
    /// Peers whose Noise key the shard knows (next hops with a key; `u64::MAX` while any
    /// key may open a link).
    pub noise_peers: AtomicU64,
    /// Sphinx keys the shard opens packets with right now (two around a rotation boundary).
    pub sphinx_keys: AtomicU64,
    /// Inbound connections refused at accept: the node held its total.
    pub inbound_refused_full: AtomicU64,
    /// Inbound connections refused at accept: their source held its share.
    pub inbound_refused_per_source: AtomicU64,
    /// Inbound connections closed for not completing a frame in time.
    pub inbound_first_frame_timeouts: AtomicU64,
    /// Inbound connections closed for sending nothing for the idle timeout.
    pub inbound_idle_timeouts: AtomicU64,
    /// Times an inbound connection was not read while a next hop it fed was congested.
    pub inbound_pauses: AtomicU64,
    /// Time inbound connections spent paused so, in nanoseconds (summed over connections).
    pub inbound_paused_nanos: AtomicU64,
    /// Frames per unwrap batch.
    pub batch_size: AtomicHistogram<7>,
    /// Arrival to write (or delivery), in microseconds, delays included.
    pub processing_latency: AtomicHistogram<18>,
    /// How long the newest bytes of each read had waited in the kernel's socket buffer (µs):
    /// time before "arrival" that the processing latency cannot see. Grows when the shard
    /// falls behind its sockets.
    pub socket_wait: AtomicHistogram<18>,
    /// Nanoseconds the shard spent running its tasks and its IO submissions, idle polling
    /// left out: over wall time, how loaded the shard is (its CPU time includes the polling).
    pub busy_nanos: AtomicU64,
}

impl Default for ShardStats {
    fn default() -> Self {
        ShardStats {
            received: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            final_hop: AtomicU64::new(0),
            dropped: DropReason::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            link_failures: (0..LinkDirection::ALL.len() * LINK_FAILURE_REASONS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            noise_links: Default::default(),
            wheel_depth: AtomicU64::new(0),
            peer_queue_depth: AtomicU64::new(0),
            inbound_connections: AtomicU64::new(0),
            outbound_connections: AtomicU64::new(0),
            next_hops_allowed: AtomicU64::new(0),
            noise_peers: AtomicU64::new(0),
            sphinx_keys: AtomicU64::new(0),
            inbound_refused_full: AtomicU64::new(0),
            inbound_refused_per_source: AtomicU64::new(0),
            inbound_first_frame_timeouts: AtomicU64::new(0),
            inbound_idle_timeouts: AtomicU64::new(0),
            inbound_pauses: AtomicU64::new(0),
            inbound_paused_nanos: AtomicU64::new(0),
            copied_bytes: AtomicU64::new(0),
            buffer_bytes: AtomicU64::new(0),
            unjournaled_tags: AtomicU64::new(0),
            batch_size: AtomicHistogram::new(BATCH_BUCKETS),
            processing_latency: AtomicHistogram::new(LATENCY_BUCKETS_US),
            socket_wait: AtomicHistogram::new(LATENCY_BUCKETS_US),
            busy_nanos: AtomicU64::new(0),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl ShardStats {
    /// Counts `n` packets dropped for `reason`.
    pub fn count_drop(&self, reason: DropReason, n: u64) {
        if let Some(counter) = self.dropped.get(reason.index()) {
            add(counter, n);
        }
    }

    /// Packets dropped for `reason` so far.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn link_failure_index(direction: LinkDirection, reason: &str) -> Option<usize> {
        let reason = LINK_FAILURE_REASONS.iter().position(|r| *r == reason)?;
        Some(direction.index() * LINK_FAILURE_REASONS.len() + reason)
    }

    /// Counts a Noise link that failed or was refused for `reason` (one of
    /// [`LINK_FAILURE_REASONS`]; another is a bug, counted nowhere).
    pub fn count_link_failure(&self, direction: LinkDirection, reason: &str) {
        debug_assert!(
            LINK_FAILURE_REASONS.contains(&reason),
            "unknown reason {reason}"
        );
        if let Some(counter) = Self::link_failure_index(direction, reason)
            .and_then(|index| self.link_failures.get(index))
        {
            add(counter, 1);
        }
    }

    /// Noise links that failed or were refused for `reason` so far.
    pub fn link_failures(&self, direction: LinkDirection, reason: &str) -> u64 {
        Self::link_failure_index(direction, reason)
            .and_then(|index| self.link_failures.get(index))
            .map_or(0, load)
    }

    /// Counts a Noise handshake completed.
    pub fn count_noise_link(&self, direction: LinkDirection) {
        add(&self.noise_links[direction.index()], 1);
    }

    /// Noise handshakes completed so far.
    pub fn noise_links(&self, direction: LinkDirection) -> u64 {
        load(&self.noise_links[direction.index()])
    }

    /// Packets dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Records the time from a packet's arrival to its departure.
    pub fn record_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.processing_latency.record(micros);
    }

    /// Records how long a read's newest bytes waited in the socket buffer.
    pub fn record_socket_wait(&self, wait: Duration) {
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.socket_wait.record(micros);
    }

    /// Adds `n` to a counter (for the runtime's own counters).
    pub fn add(counter: &AtomicU64, n: u64) {
        add(counter, n);
    }

    /// Sets a gauge.
    pub fn set(gauge: &AtomicU64, value: u64) {
        gauge.store(value, Ordering::Relaxed);
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&ShardStats) -> u64,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "packets_received_total",
        kind: "counter",
        help: "Complete frames received.",
        value: |s| load(&s.received),
    },
    Family {
        name: "packets_forwarded_total",
        kind: "counter",
        help: "Packets written to their next hop.",
        value: |s| load(&s.forwarded),
    },
    Family {
        name: "packets_final_hop_total",
        kind: "counter",
        help: "Packets for which this node was the last hop.",
        value: |s| load(&s.final_hop),
    },
    Family {
        name: "wheel_depth",
        kind: "gauge",
        help: "Packets held in the delay wheel.",
        value: |s| load(&s.wheel_depth),
    },
    Family {
        name: "peer_queue_depth",
        kind: "gauge",
        help: "Frames queued towards next hops.",
        value: |s| load(&s.peer_queue_depth),
    },
    Family {
        name: "inbound_connections",
        kind: "gauge",
        help: "Open inbound connections.",
        value: |s| load(&s.inbound_connections),
    },
    Family {
        name: "outbound_connections",
        kind: "gauge",
        help: "Established connections to next hops.",
        value: |s| load(&s.outbound_connections),
    },
    Family {
        name: "copied_packet_bytes_total",
        kind: "counter",
        help: "Packet bytes copied in user space (the kernel's copies excluded).",
        value: |s| load(&s.copied_bytes),
    },
    Family {
        name: "buffer_bytes",
        kind: "gauge",
        help: "Bytes of packet buffers in use.",
        value: |s| load(&s.buffer_bytes),
    },
    Family {
        name: "installed_sphinx_keys",
        kind: "gauge",
        help: "Sphinx keys packets are opened with, as the shards have installed them (summed over shards).",
        value: |s| load(&s.sphinx_keys),
    },
    Family {
        name: "inbound_refused_full_total",
        kind: "counter",
        help: "Inbound connections refused: the node held engine.max_inbound_connections.",
        value: |s| load(&s.inbound_refused_full),
    },
    Family {
        name: "inbound_refused_per_source_total",
        kind: "counter",
        help: "Inbound connections refused: their address held engine.max_inbound_per_source.",
        value: |s| load(&s.inbound_refused_per_source),
    },
    Family {
        name: "inbound_first_frame_timeouts_total",
        kind: "counter",
        help: "Inbound connections closed: no complete frame within engine.first_frame_timeout_ms.",
        value: |s| load(&s.inbound_first_frame_timeouts),
    },
    Family {
        name: "inbound_idle_timeouts_total",
        kind: "counter",
        help: "Inbound connections closed: nothing received for engine.idle_timeout_ms.",
        value: |s| load(&s.inbound_idle_timeouts),
    },
    Family {
        name: "inbound_backpressure_pauses_total",
        kind: "counter",
        help: "Times an inbound connection was not read while a next hop it fed was congested.",
        value: |s| load(&s.inbound_pauses),
    },
    Family {
        name: "unjournaled_replay_tags_total",
        kind: "counter",
        help: "Accepted replay tags not journaled (shard buffer full): a crash would forget them.",
        value: |s| load(&s.unjournaled_tags),
    },
];

/// One family rendered for the node (`mixnet_NAME`) and per shard (`mixnet_shard_NAME`),
/// values already formatted.
fn render_node_and_shards(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    node: &str,
    shards: &[String],
) {
    let _ = writeln!(out, "# HELP mixnet_{name} {help}");
    let _ = writeln!(out, "# TYPE mixnet_{name} {kind}");
    let _ = writeln!(out, "mixnet_{name} {node}");
    let _ = writeln!(out, "# HELP mixnet_shard_{name} {help}");
    let _ = writeln!(out, "# TYPE mixnet_shard_{name} {kind}");
    for (index, value) in shards.iter().enumerate() {
        let _ = writeln!(out, "mixnet_shard_{name}{{shard=\"{index}\"}} {value}");
    }
}

/// The next-hop gauge: per shard what its policy allows, and for the node the least of them
/// (what every shard enforces), `+Inf` meaning any address.
fn render_next_hops(shards: &[&ShardStats], out: &mut String) {
    render_least_of_shards(
        shards,
        out,
        "next_hops_allowed",
        "Next-hop addresses the forwarding policy allows (+Inf: any).",
        |s| load(&s.next_hops_allowed),
    );
    render_least_of_shards(
        shards,
        out,
        "noise_peers",
        "Peers whose Noise key the node knows (+Inf: any key may open a link).",
        |s| load(&s.noise_peers),
    );
}

/// A gauge per shard and, for the node, the least of them (what every shard has installed),
/// `u64::MAX` rendered as `+Inf`.
fn render_least_of_shards(
    shards: &[&ShardStats],
    out: &mut String,
    name: &str,
    help: &str,
    value: fn(&ShardStats) -> u64,
) {
    let text = |v: u64| {
        if v == u64::MAX {
            "+Inf".to_owned()
        } else {
            v.to_string()
        }
    };
    let values: Vec<u64> = shards.iter().map(|s| value(s)).collect();
    let node = values.iter().copied().min().unwrap_or(0);
    render_node_and_shards(
        out,
        name,
        "gauge",
        help,
        &text(node),
        &values.iter().map(|v| text(*v)).collect::<Vec<_>>(),
    );
}

/// A nanosecond counter as seconds (a float counter), per shard and for the node.
fn render_seconds(
    shards: &[&ShardStats],
    out: &mut String,
    name: &str,
    help: &str,
    nanos: fn(&ShardStats) -> u64,
) {
    let seconds = |nanos: u64| (nanos as f64 / 1e9).to_string();
    let values: Vec<u64> = shards.iter().map(|s| nanos(s)).collect();
    render_node_and_shards(
        out,
        name,
        "counter",
        help,
        &seconds(values.iter().sum()),
        &values.iter().map(|v| seconds(*v)).collect::<Vec<_>>(),
    );
}

/// Renders every shard's figures and the node totals in the Prometheus text format.
pub fn render_prometheus(shards: &[&ShardStats], out: &mut String) {
    for family in FAMILIES {
        let total: u64 = shards.iter().map(|s| (family.value)(s)).sum();
        let _ = writeln!(out, "# HELP mixnet_{} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE mixnet_{} {}", family.name, family.kind);
        let _ = writeln!(out, "mixnet_{} {total}", family.name);
        let _ = writeln!(out, "# HELP mixnet_shard_{} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE mixnet_shard_{} {}", family.name, family.kind);
        for (index, shard) in shards.iter().enumerate() {
            let value = (family.value)(shard);
            let _ = writeln!(
                out,
                "mixnet_shard_{}{{shard=\"{index}\"}} {value}",
                family.name
            );
        }
    }

    render_next_hops(shards, out);
    render_seconds(
        shards,
        out,
        "busy_seconds_total",
        "Time spent running tasks and IO submissions, idle polling excluded.",
        |s| load(&s.busy_nanos),
    );
    render_seconds(
        shards,
        out,
        "inbound_backpressure_seconds_total",
        "Time inbound connections were not read for a congested next hop, summed over connections.",
        |s| load(&s.inbound_paused_nanos),
    );

    let _ = writeln!(
        out,
        "# HELP mixnet_packets_dropped_total Packets dropped, by reason."
    );
    let _ = writeln!(out, "# TYPE mixnet_packets_dropped_total counter");
    for reason in DropReason::ALL {
        let total: u64 = shards.iter().map(|s| s.dropped(*reason)).sum();
        let label = reason.label();
        let _ = writeln!(
            out,
            "mixnet_packets_dropped_total{{reason=\"{label}\"}} {total}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mixnet_shard_packets_dropped_total Packets dropped, by reason."
    );
    let _ = writeln!(out, "# TYPE mixnet_shard_packets_dropped_total counter");
    for (index, shard) in shards.iter().enumerate() {
        for reason in DropReason::ALL {
            let _ = writeln!(
                out,
                "mixnet_shard_packets_dropped_total{{shard=\"{index}\",reason=\"{}\"}} {}",
                reason.label(),
                shard.dropped(*reason)
            );
        }
    }

    render_links(shards, out);

    render_histogram(
        out,
        "batch_size",
        "Frames per unwrap batch.",
        &BATCH_BUCKETS,
        1.0,
        shards.iter().map(|s| &s.batch_size),
    );
    render_histogram(
        out,
        "processing_latency_seconds",
        "Arrival to write, delays included.",
        &LATENCY_BUCKETS_US,
        1e-6,
        shards.iter().map(|s| &s.processing_latency),
    );
    render_histogram(
        out,
        "socket_wait_seconds",
        "How long the newest bytes of a read waited in the socket buffer before the read.",
        &LATENCY_BUCKETS_US,
        1e-6,
        shards.iter().map(|s| &s.socket_wait),
    );
}

/// The Noise link counters, for the node (shards summed).
fn render_links(shards: &[&ShardStats], out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP mixnet_noise_links_total Noise handshakes completed, by direction."
    );
    let _ = writeln!(out, "# TYPE mixnet_noise_links_total counter");
    for direction in LinkDirection::ALL {
        let total: u64 = shards.iter().map(|s| s.noise_links(direction)).sum();
        let label = direction.label();
        let _ = writeln!(
            out,
            "mixnet_noise_links_total{{direction=\"{label}\"}} {total}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mixnet_noise_link_failures_total Noise links that failed or were refused, by direction and reason."
    );
    let _ = writeln!(out, "# TYPE mixnet_noise_link_failures_total counter");
    for direction in LinkDirection::ALL {
        for reason in LINK_FAILURE_REASONS {
            let total: u64 = shards
                .iter()
                .map(|s| s.link_failures(direction, reason))
                .sum();
            let _ = writeln!(
                out,
                "mixnet_noise_link_failures_total{{direction=\"{}\",reason=\"{reason}\"}} {total}",
                direction.label()
            );
        }
    }
}

fn render_histogram<'a, const N: usize>(
    out: &mut String,
    name: &str,
    help: &str,
    bounds: &[u64; N],
    scale: f64,
    histograms: impl Iterator<Item = &'a AtomicHistogram<N>>,
) {
    let snapshots: Vec<(Vec<u64>, u64)> = histograms.map(|h| h.snapshot()).collect();
    let mut total = vec![0u64; N + 1];
    let mut total_sum = 0u64;
    for (counts, sum) in &snapshots {
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
        total_sum += sum;
    }
    let bounds: Vec<f64> = bounds.iter().map(|b| *b as f64 * scale).collect();
    let _ = writeln!(out, "# HELP mixnet_{name} {help}");
    let _ = writeln!(out, "# TYPE mixnet_{name} histogram");
    write_series(
        out,
        &format!("mixnet_{name}"),
        "",
        &bounds,
        &total,
        total_sum,
        scale,
    );
    let _ = writeln!(out, "# HELP mixnet_shard_{name} {help}");
    let _ = writeln!(out, "# TYPE mixnet_shard_{name} histogram");
    for (index, (counts, sum)) in snapshots.iter().enumerate() {
        let labels = format!("shard=\"{index}\"");
        write_series(
            out,
            &format!("mixnet_shard_{name}"),
            &labels,
            &bounds,
            counts,
            *sum,
            scale,
        );
    }
}

fn write_series(
    out: &mut String,
    family: &str,
    labels: &str,
    bounds: &[f64],
    counts: &[u64],
    sum: u64,
    scale: f64,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (le, count) in bounds.iter().zip(counts) {
        cumulative += count;
        let _ = writeln!(
            out,
            "{family}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    cumulative += counts.get(bounds.len()).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "{family}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
    );
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{family}_sum{braces} {}", sum as f64 * scale);
    let _ = writeln!(out, "{family}_count{braces} {cumulative}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_inclusive_upper_bounds() {
        let h = AtomicHistogram::new([1, 2, 4]);
        for v in [0, 1, 2, 3, 4, 5, 100] {
            h.record(v);
        }
        let (counts, sum) = h.snapshot();
        assert_eq!(counts, vec![2, 1, 2, 2]);
        assert_eq!(sum, 115);
    }

    #[test]
    fn totals_sum_the_shards_and_every_drop_reason_is_exported() {
        let a = ShardStats::default();
        let b = ShardStats::default();
        ShardStats::add(&a.received, 3);
        ShardStats::add(&b.received, 4);
        a.count_drop(DropReason::Replayed, 2);
        b.count_drop(DropReason::Replayed, 1);
        a.batch_size.record(3);
        b.batch_size.record(64);
        b.record_latency(Duration::from_micros(700));
        ShardStats::add(&a.busy_nanos, 1_500_000_000);
        ShardStats::add(&b.busy_nanos, 250_000_000);
        a.count_link_failure(LinkDirection::Inbound, "unknown_peer");
        b.count_link_failure(LinkDirection::Inbound, "unknown_peer");
        b.count_link_failure(LinkDirection::Outbound, "bad_tag");
        a.count_noise_link(LinkDirection::Outbound);
        let mut text = String::new();
        render_prometheus(&[&a, &b], &mut text);
        assert!(text.contains("\nmixnet_packets_received_total 7\n"));
        assert!(text.contains("mixnet_shard_packets_received_total{shard=\"1\"} 4\n"));
        assert!(text.contains("mixnet_packets_dropped_total{reason=\"replayed\"} 3\n"));
        assert!(text.contains("mixnet_packets_dropped_total{reason=\"header_mac\"} 0\n"));
        assert!(text.contains("mixnet_batch_size_bucket{le=\"4\"} 1\n"));
        assert!(text.contains("mixnet_batch_size_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("mixnet_shard_batch_size_count{shard=\"1\"} 1\n"));
        assert!(text.contains("mixnet_processing_latency_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("mixnet_processing_latency_seconds_bucket{le=\"0.0005\"} 0\n"));
        assert!(text.contains("\nmixnet_busy_seconds_total 1.75\n"));
        assert!(text.contains("mixnet_shard_busy_seconds_total{shard=\"1\"} 0.25\n"));
        assert!(text.contains(
            "mixnet_noise_link_failures_total{direction=\"inbound\",reason=\"unknown_peer\"} 2\n"
        ));
        assert!(text.contains(
            "mixnet_noise_link_failures_total{direction=\"outbound\",reason=\"bad_tag\"} 1\n"
        ));
        assert!(text.contains("mixnet_noise_links_total{direction=\"outbound\"} 1\n"));
        for reason in LINK_FAILURE_REASONS {
            assert!(text.contains(&format!("direction=\"inbound\",reason=\"{reason}\"}} ")));
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad sample line {line}");
        }
    }
}
