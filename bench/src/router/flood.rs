//! The flood: `connections` TCP connections each write their share of `packets` zero-delay
//! packets as fast as the router takes them, towards a sink that reads at full speed. What
//! counts is the share of the flood the router forwards (a router that reads faster than it
//! can write throws the rest away) and the rate at which it does.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::load::{self, SinkState};
use super::packets::PacketSet;
use super::process::{self, RouterProcess};

/// How long the sink may stay without a new packet before the flood counts as over.
const QUIET_END: Duration = Duration::from_secs(2);
/// The longest a flood is waited for, writing and draining together.
const FLOOD_LIMIT: Duration = Duration::from_secs(120);

/// One flood's figures.
#[derive(Debug, Clone, Serialize)]
pub struct FloodPoint {
    pub connections: usize,
    /// Packets written into the router.
    pub sent: u64,
    /// Packets the sink received from the router.
    pub forwarded: u64,
    /// `forwarded / sent`.
    pub forwarded_share: f64,
    /// Forwarded packets per second, from the first write to the last packet at the sink.
    pub forwarded_pps: f64,
    /// Seconds from the first write to the last packet at the sink.
    pub seconds: f64,
    /// The router's drop counters that grew during the flood, by reason (ours only).
    pub node_drops: Vec<(String, f64)>,
}

/// Floods `router` with packets `from..from + count` over `connections` connections.
pub fn flood(
    router: &RouterProcess,
    packets: &PacketSet,
    sink: &SinkState,
    from: usize,
    count: usize,
    connections: usize,
    load_cpu: usize,
) -> Result<FloodPoint, String> {
    let count = count.min(packets.len().saturating_sub(from));
    let connections = connections.clamp(1, count.max(1));
    let node_before = router.metrics.map(process::scrape).transpose()?;
    let streams = (0..connections)
        .map(|_| {
            let stream = TcpStream::connect(router.addr).map_err(|e| e.to_string())?;
            let _ = stream.set_nodelay(true);
            Ok(stream)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let before = sink.received();
    let start = Instant::now();
    let written = std::thread::scope(|scope| {
        let writers: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, stream)| {
                let (a, b) = share(from, count, connections, i);
                scope.spawn(move || {
                    let _ = crate::affinity::pin_current_thread(load_cpu);
                    let mut writer = super::noise_link::Writer::plain(stream);
                    load::send_flat_out(&mut writer, packets, sink, a..b, FLOOD_LIMIT)
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| "a flood writer panicked".to_string())?
            })
            .sum::<Result<usize, String>>()
    })?;
    let (received, last) = wait_quiet(sink, before, before + written as u64, start);
    let seconds = last.duration_since(start).as_secs_f64().max(1e-3);
    let node_after = router.metrics.map(process::scrape).transpose()?;
    let node_drops = match (node_before, node_after) {
        (Some(before), Some(after)) => grown_drops(&before, &after),
        _ => Vec::new(),
    };
    let forwarded = received - before;
    Ok(FloodPoint {
        connections,
        sent: written as u64,
        forwarded,
        forwarded_share: forwarded as f64 / written.max(1) as f64,
        forwarded_pps: forwarded as f64 / seconds,
        seconds,
        node_drops,
    })
}

/// Connection `i`'s contiguous share of `count` packets from `from`.
fn share(from: usize, count: usize, connections: usize, i: usize) -> (usize, usize) {
    let per = count / connections;
    let extra = count % connections;
    let start = from + i * per + i.min(extra);
    let len = per + usize::from(i < extra);
    (start, start + len)
}

/// Waits until the sink holds `target` packets or has received nothing for [`QUIET_END`];
/// returns its count and when it last grew.
fn wait_quiet(sink: &SinkState, before: u64, target: u64, start: Instant) -> (u64, Instant) {
    let mut last_count = sink.received();
    let mut last_change = if last_count > before {
        Instant::now()
    } else {
        start
    };
    loop {
        let count = sink.received();
        let now = Instant::now();
        if count != last_count {
            last_count = count;
            last_change = now;
        }
        if count >= target
            || now.duration_since(last_change) > QUIET_END
            || now.duration_since(start) > FLOOD_LIMIT
        {
            return (count, last_change);
        }
        // Polling a counter another thread advances, with a bound: not synchronisation.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `mixnet_packets_dropped_total{reason=...}` series that grew between two scrapes.
fn grown_drops(before: &str, after: &str) -> Vec<(String, f64)> {
    const FAMILY: &str = "mixnet_packets_dropped_total{";
    after
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(FAMILY)?;
            let (labels, value) = rest.rsplit_once("} ")?;
            let series = format!("{FAMILY}{labels}}}");
            let grown =
                value.parse::<f64>().ok()? - process::sample(before, &series).unwrap_or(0.0);
            let reason = labels
                .split(',')
                .find_map(|l| l.strip_prefix("reason=\""))
                .map_or(labels, |r| r.trim_end_matches('"'));
            (grown > 0.0).then(|| (reason.to_string(), grown))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_packet_once_in_order() {
        for (count, connections) in [(10, 3), (60_000, 4), (3, 4), (7, 1)] {
            let connections = connections.min(count);
            let mut next = 5;
            for i in 0..connections {
                let (a, b) = share(5, count, connections, i);
                assert_eq!(a, next);
                assert!(b > a);
                next = b;
            }
            assert_eq!(next, 5 + count);
        }
    }

    #[test]
    fn only_drop_reasons_that_grew_are_reported() {
        let before = "mixnet_packets_dropped_total{reason=\"replay\"} 3\n\
                      mixnet_packets_dropped_total{reason=\"peer_queue_full\"} 10\n";
        let after = "mixnet_packets_dropped_total{reason=\"replay\"} 3\n\
                     mixnet_packets_dropped_total{reason=\"peer_queue_full\"} 25\n\
                     mixnet_packets_dropped_total{reason=\"expired_key\"} 1\n";
        assert_eq!(
            grown_drops(before, after),
            vec![
                ("peer_queue_full".to_string(), 15.0),
                ("expired_key".to_string(), 1.0)
            ]
        );
    }
}
