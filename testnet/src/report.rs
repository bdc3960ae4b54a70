//! The report of a run (pure): counts, the latency histogram and the nodes' metric deltas
//! in, a [`Report`] out, as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::metrics::{self, series, Samples};
use super::options::Options;
use super::tally::Totals;

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Messages handed to the clients.
    pub sent: u64,
    /// Messages that arrived at their recipient (first copies).
    pub received: u64,
    /// Messages that had not arrived when the drain ended.
    pub lost: u64,
    /// Further copies of received messages.
    pub duplicates: u64,
    /// Messages that reached the wrong client.
    pub misdelivered: u64,
    /// `error` answers of the clients' app API.
    pub api_errors: u64,
    /// The last of them.
    pub last_api_error: Option<String>,
    /// Send-to-receipt latency of received messages.
    pub latency_ms: Latency,
    /// Seconds the clients sent for.
    pub duration_secs: f64,
    /// Seconds waited after sending for messages in flight.
    pub drain_secs: f64,
    /// Whether Ctrl-C or SIGTERM ended the run.
    pub interrupted: bool,
    /// Messages per second each client sent (asked).
    pub rate_per_client: f64,
    /// Bytes per message.
    pub message_size: usize,
    /// The network.
    pub nodes: Nodes,
    /// Packet rates from the nodes' metrics while the clients sent (cover traffic included).
    pub packets_per_second: PacketRates,
    /// Packets the mixnodes dropped while the clients sent, by reason (nonzero only).
    pub dropped: BTreeMap<String, u64>,
    /// The nodes' links at the end of the sending window.
    pub links: LinkFigures,
    /// The SOCKS5 proxy's address (`--socks5`), as `"127.0.0.1:PORT"`.
    pub socks5_proxy: Option<SocketAddr>,
    /// The network's files, when kept.
    pub dir: Option<PathBuf>,
}

/// Latency percentiles, milliseconds; `null` without any received message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Highest.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Messages measured.
    pub samples: u64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        let ms = |us: u64| Some(us as f64 / 1_000.0);
        if histogram.is_empty() {
            return Latency {
                p50: None,
                p90: None,
                p99: None,
                max: None,
                mean: None,
                samples: 0,
            };
        }
        Latency {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
            mean: Some(histogram.mean() / 1_000.0),
            samples: histogram.len(),
        }
    }
}

/// The shape of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Nodes {
    /// Validators.
    pub validators: usize,
    /// Their threshold.
    pub threshold: usize,
    /// Mixnodes.
    pub mixnodes: usize,
    /// Per layer.
    pub mixnodes_per_layer: usize,
    /// Gateways.
    pub gateways: usize,
    /// Clients.
    pub clients: usize,
}

impl Nodes {
    /// The shape `options` describe.
    pub fn of(options: &Options) -> Nodes {
        Nodes {
            validators: options.validators,
            threshold: options.threshold,
            mixnodes: options.mixnodes(),
            mixnodes_per_layer: options.mixnodes_per_layer,
            gateways: options.gateways,
            clients: options.clients,
        }
    }
}

/// Packets per second from metric deltas over the sending window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PacketRates {
    /// The window, seconds.
    pub window_secs: f64,
    /// Forwarded by all mixnodes together (each packet counts once per layer it crosses).
    pub mix_forwarded: f64,
    /// Forwarded by the mixnodes of layer 1, 2 and 3.
    pub layers: [f64; 3],
    /// Last hops peeled by the gateways.
    pub gateway_final_hops: f64,
    /// Client packets the gateways sent into layer 1.
    pub gateway_client_forwarded: f64,
    /// Nodes whose metrics could not be read at the start or end of the window.
    pub unreadable_nodes: usize,
}

/// One node's metrics at both ends of the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeWindow {
    /// Mix layer (1 to 3); 0 for a gateway.
    pub layer: u8,
    /// At the start.
    pub before: Option<Samples>,
    /// At the end.
    pub after: Option<Samples>,
}

/// The metrics of every node over the sending window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsWindow {
    /// Its length.
    pub duration: Duration,
    /// Mixnodes.
    pub mixnodes: Vec<NodeWindow>,
    /// Gateways.
    pub gateways: Vec<NodeWindow>,
}

impl MetricsWindow {
    /// Rates and drops from the deltas.
    pub fn rates(&self) -> (PacketRates, BTreeMap<String, u64>) {
        let secs = self.duration.as_secs_f64();
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let mut layers = [0.0; 3];
        let mut total = 0.0;
        let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
        let mut unreadable = 0;
        for node in &self.mixnodes {
            let (Some(before), Some(after)) = (&node.before, &node.after) else {
                unreadable += 1;
                continue;
            };
            let forwarded = metrics::delta(before, after, series::FORWARDED);
            total += forwarded;
            if let Some(slot) = usize::from(node.layer)
                .checked_sub(1)
                .and_then(|i| layers.get_mut(i))
            {
                *slot += forwarded;
            }
            // The node totals, one series per reason (per-shard series have another name).
            let family = format!("{}{{", series::DROPPED);
            for name in after.keys().filter(|k| k.starts_with(&family)) {
                let Some(reason) = metrics::label(name, "reason") else {
                    continue;
                };
                let n = metrics::delta(before, after, name) as u64;
                if n > 0 {
                    *dropped.entry(reason.to_owned()).or_default() += n;
                }
            }
        }
        let (mut final_hops, mut client_forwarded) = (0.0, 0.0);
        for node in &self.gateways {
            let (Some(before), Some(after)) = (&node.before, &node.after) else {
                unreadable += 1;
                continue;
            };
            final_hops += metrics::delta(before, after, series::FINAL_HOPS);
            client_forwarded += metrics::delta(before, after, series::CLIENT_FORWARDED);
        }
        let rates = PacketRates {
            window_secs: secs,
            mix_forwarded: per_sec(total),
            layers: layers.map(per_sec),
            gateway_final_hops: per_sec(final_hops),
            gateway_client_forwarded: per_sec(client_forwarded),
            unreadable_nodes: unreadable,
        };
        (rates, dropped)
    }
}

/// Noise on the nodes' links (mixnodes and gateways), from their metrics at the end of the
/// sending window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LinkFigures {
    /// Noise links the nodes accepted.
    pub noise_inbound: u64,
    /// Noise links the nodes opened.
    pub noise_outbound: u64,
    /// Mixnodes that accepted no Noise link (each receives from layer 1's side at least
    /// one when links are Noise).
    pub mixnodes_without_noise: usize,
    /// Failed or refused links, `direction/reason` (nonzero only).
    pub failures: BTreeMap<String, u64>,
}

/// The series of Noise handshakes completed.
const NOISE_LINKS: &str = "mixnet_noise_links_total";
/// The series of Noise links that failed.
const NOISE_FAILURES: &str = "mixnet_noise_link_failures_total";

impl MetricsWindow {
    /// The link figures from every node's last samples.
    pub fn links(&self) -> LinkFigures {
        let mut figures = LinkFigures::default();
        let nodes = self.mixnodes.iter().chain(&self.gateways);
        for node in nodes {
            let Some(after) = &node.after else { continue };
            let get = |series: String| after.get(&series).copied().unwrap_or(0.0) as u64;
            let inbound = get(format!("{NOISE_LINKS}{{direction=\"inbound\"}}"));
            figures.noise_inbound += inbound;
            figures.noise_outbound += get(format!("{NOISE_LINKS}{{direction=\"outbound\"}}"));
            if node.layer > 0 && inbound == 0 {
                figures.mixnodes_without_noise += 1;
            }
            let family = format!("{NOISE_FAILURES}{{");
            for (name, value) in after.iter().filter(|(k, _)| k.starts_with(&family)) {
                let (Some(direction), Some(reason)) = (
                    metrics::label(name, "direction"),
                    metrics::label(name, "reason"),
                ) else {
                    continue;
                };
                if *value > 0.0 {
                    *figures
                        .failures
                        .entry(format!("{direction}/{reason}"))
                        .or_default() += *value as u64;
                }
            }
        }
        figures
    }
}

/// Everything a report is made of.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The run's options.
    pub options: &'a Options,
    /// Message counts at the end of the drain.
    pub totals: Totals,
    /// The last app API error.
    pub last_api_error: Option<String>,
    /// Latencies, microseconds.
    pub histogram: &'a Histogram<u64>,
    /// How long the clients sent.
    pub sending: Duration,
    /// How long the drain took.
    pub drain: Duration,
    /// Whether a signal ended the run.
    pub interrupted: bool,
    /// Node metrics over the sending window.
    pub metrics: &'a MetricsWindow,
    /// The SOCKS5 proxy's address.
    pub socks5_proxy: Option<SocketAddr>,
    /// The kept directory.
    pub dir: Option<PathBuf>,
}

/// Builds the report.
pub fn build(inputs: Inputs<'_>) -> Report {
    let (packets_per_second, dropped) = inputs.metrics.rates();
    Report {
        sent: inputs.totals.sent,
        received: inputs.totals.received,
        lost: inputs.totals.outstanding,
        duplicates: inputs.totals.duplicates,
        misdelivered: inputs.totals.misdelivered,
        api_errors: inputs.totals.api_errors,
        last_api_error: inputs.last_api_error,
        latency_ms: Latency::of(inputs.histogram),
        duration_secs: round3(inputs.sending.as_secs_f64()),
        drain_secs: round3(inputs.drain.as_secs_f64()),
        interrupted: inputs.interrupted,
        rate_per_client: inputs.options.rate,
        message_size: inputs.options.message_size,
        nodes: Nodes::of(inputs.options),
        packets_per_second,
        dropped,
        links: inputs.metrics.links(),
        socks5_proxy: inputs.socks5_proxy,
        dir: inputs.dir,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"))
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl Report {
    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let n = &self.nodes;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "network:   {} validators (threshold {}), {} mixnodes ({} per layer), {} gateways, \
             {} clients",
            n.validators, n.threshold, n.mixnodes, n.mixnodes_per_layer, n.gateways, n.clients
        );
        let _ = writeln!(
            out,
            "traffic:   {:.1} s at {} msg/s per client, {}-byte messages, drain {:.1} s{}",
            self.duration_secs,
            self.rate_per_client,
            self.message_size,
            self.drain_secs,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            out,
            "messages:  sent {}, received {}, lost {} ({:.2}%), duplicates {}, misdelivered {}",
            self.sent,
            self.received,
            self.lost,
            percent(self.lost, self.sent),
            self.duplicates,
            self.misdelivered
        );
        let l = &self.latency_ms;
        let _ = writeln!(
            out,
            "latency:   p50 {}, p90 {}, p99 {}, max {} ({} samples)",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max),
            l.samples
        );
        let p = &self.packets_per_second;
        let _ = writeln!(
            out,
            "mix:       {:.1} packets/s forwarded (layer 1 {:.1}, layer 2 {:.1}, layer 3 {:.1}); \
             gateways: {:.1}/s in from clients, {:.1}/s last hops{}",
            p.mix_forwarded,
            p.layers[0],
            p.layers[1],
            p.layers[2],
            p.gateway_client_forwarded,
            p.gateway_final_hops,
            if p.unreadable_nodes > 0 {
                format!(" ({} nodes' metrics unreadable)", p.unreadable_nodes)
            } else {
                String::new()
            }
        );
        if !self.dropped.is_empty() {
            let reasons: Vec<String> = self
                .dropped
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            let _ = writeln!(out, "dropped:   {}", reasons.join(", "));
        }
        let links = &self.links;
        let _ = writeln!(
            out,
            "links:     Noise {} accepted, {} opened{}",
            links.noise_inbound,
            links.noise_outbound,
            if links.failures.is_empty() {
                String::new()
            } else {
                let failures: Vec<String> = links
                    .failures
                    .iter()
                    .map(|(reason, n)| format!("{reason} {n}"))
                    .collect();
                format!("; failed: {}", failures.join(", "))
            }
        );
        if self.api_errors > 0 {
            let _ = writeln!(
                out,
                "errors:    {} from the client API, last: {}",
                self.api_errors,
                self.last_api_error.as_deref().unwrap_or("-")
            );
        }
        if let Some(proxy) = self.socks5_proxy {
            let _ = writeln!(out, "socks5:    {}", socks5_line(proxy));
        }
        if let Some(dir) = &self.dir {
            let _ = writeln!(out, "files:     {}", dir.display());
        }
        out
    }
}

/// How to use the proxy, as printed once the network is up and in the report.
pub fn socks5_line(proxy: SocketAddr) -> String {
    format!("SOCKS5 proxy: {proxy} (try: curl --socks5-hostname {proxy} http://...)")
}

/// The live progress line.
pub fn progress_line(
    elapsed: Duration,
    totals: &Totals,
    overdue: u64,
    p50_ms: Option<f64>,
) -> String {
    format!(
        "[{:>5.0} s] sent {}, received {}, in flight {}, lost {}, p50 {}",
        elapsed.as_secs_f64(),
        totals.sent,
        totals.received,
        totals.outstanding.saturating_sub(overdue),
        overdue,
        ms(p50_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(text: &str) -> Option<Samples> {
        Some(metrics::parse(text))
    }

    fn window() -> MetricsWindow {
        let mix = |layer, before: &str, after: &str| NodeWindow {
            layer,
            before: samples(before),
            after: samples(after),
        };
        let forwarded = |n: u64| format!("mixnet_packets_forwarded_total {n}\n");
        let replays = |n: u64| {
            format!(
                "mixnet_packets_dropped_total{{reason=\"replay\"}} {n}\n\
                 mixnet_shard_packets_dropped_total{{shard=\"0\",reason=\"replay\"}} {n}\n"
            )
        };
        let gateway = |final_hops: u64, from_clients: u64| {
            samples(&format!(
                "mixnet_packets_final_hop_total {final_hops}\n\
                 gateway_client_packets_forwarded_total {from_clients}\n"
            ))
        };
        MetricsWindow {
            duration: Duration::from_secs(10),
            mixnodes: vec![
                mix(1, &forwarded(100), &forwarded(300)),
                mix(
                    1,
                    &(forwarded(0) + &replays(1)),
                    &(forwarded(100) + &replays(4)),
                ),
                mix(2, &forwarded(0), &forwarded(250)),
                mix(3, &forwarded(0), &forwarded(250)),
                NodeWindow {
                    layer: 3,
                    before: samples(&forwarded(0)),
                    after: None,
                },
            ],
            gateways: vec![NodeWindow {
                layer: 0,
                before: gateway(10, 0),
                after: gateway(260, 300),
            }],
        }
    }

    #[test]
    fn link_figures_sum_the_nodes_and_name_each_failure() {
        let node = |layer, text: &str| NodeWindow {
            layer,
            before: None,
            after: samples(text),
        };
        let window = MetricsWindow {
            duration: Duration::from_secs(1),
            mixnodes: vec![
                node(
                    1,
                    "mixnet_noise_links_total{direction=\"inbound\"} 2\n\
                     mixnet_noise_links_total{direction=\"outbound\"} 1\n\
                     mixnet_noise_link_failures_total{direction=\"inbound\",reason=\"bad_tag\"} 1\n\
                     mixnet_noise_link_failures_total{direction=\"inbound\",reason=\"no_key\"} 0\n",
                ),
                node(2, "mixnet_noise_links_total{direction=\"inbound\"} 0\n"),
            ],
            gateways: vec![node(
                0,
                "mixnet_noise_links_total{direction=\"inbound\"} 1\n\
                 mixnet_noise_link_failures_total{direction=\"outbound\",reason=\"bad_tag\"} 2\n",
            )],
        };
        let links = window.links();
        assert_eq!((links.noise_inbound, links.noise_outbound), (3, 1));
        assert_eq!(links.mixnodes_without_noise, 1);
        assert_eq!(
            links.failures,
            BTreeMap::from([
                ("inbound/bad_tag".to_owned(), 1),
                ("outbound/bad_tag".to_owned(), 2)
            ])
        );
    }

    #[test]
    fn rates_come_from_the_deltas_per_layer() {
        let (rates, dropped) = window().rates();
        assert_eq!(rates.layers, [30.0, 25.0, 25.0]);
        assert_eq!(rates.mix_forwarded, 80.0);
        assert_eq!(rates.gateway_final_hops, 25.0);
        assert_eq!(rates.gateway_client_forwarded, 30.0);
        assert_eq!(rates.unreadable_nodes, 1);
        assert_eq!(dropped, BTreeMap::from([("replay".to_owned(), 3)]));
    }

    fn report(received: u64) -> Report {
        let options = Options::default();
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in 1..=received {
            histogram.record(us * 1_000).unwrap();
        }
        build(Inputs {
            options: &options,
            totals: Totals {
                sent: 100,
                received,
                outstanding: 100 - received,
                ..Totals::default()
            },
            last_api_error: None,
            histogram: &histogram,
            sending: Duration::from_millis(60_000),
            drain: Duration::from_millis(1_500),
            interrupted: false,
            metrics: &window(),
            socks5_proxy: None,
            dir: None,
        })
    }

    #[test]
    fn the_report_has_counts_percentiles_and_rates() {
        let r = report(100);
        assert_eq!((r.sent, r.received, r.lost), (100, 100, 0));
        let p50 = r.latency_ms.p50.unwrap();
        let p99 = r.latency_ms.p99.unwrap();
        assert!((49.9..50.1).contains(&p50), "{p50}");
        assert!((98.9..99.1).contains(&p99), "{p99}");
        assert!((99.9..100.1).contains(&r.latency_ms.max.unwrap()));
        assert_eq!(r.latency_ms.samples, 100);
        assert_eq!(r.duration_secs, 60.0);
        assert_eq!(r.nodes.mixnodes, 6);

        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        for field in ["sent", "received", "lost", "duration_secs", "nodes"] {
            assert!(json.get(field).is_some(), "{field}");
        }
        for field in ["p50", "p99", "max"] {
            assert!(json["latency_ms"][field].is_f64(), "{field}");
        }
        assert_eq!(json["packets_per_second"]["mix_forwarded"], 80.0);

        let text = r.to_text();
        assert!(
            text.contains("sent 100, received 100, lost 0 (0.00%)"),
            "{text}"
        );
        assert!(text.contains("p50 50.0 ms"), "{text}");
        assert!(text.contains("dropped:   replay 3"), "{text}");
        assert!(!text.contains("socks5"), "{text}");
        assert!(json["socks5_proxy"].is_null());
    }

    #[test]
    fn the_socks5_proxy_is_in_the_text_and_the_json() {
        let proxy: SocketAddr = "127.0.0.1:11080".parse().unwrap();
        let r = Report {
            socks5_proxy: Some(proxy),
            ..report(100)
        };
        let text = r.to_text();
        assert!(
            text.contains(
                "socks5:    SOCKS5 proxy: 127.0.0.1:11080 (try: curl --socks5-hostname \
                 127.0.0.1:11080 http://...)"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["socks5_proxy"], "127.0.0.1:11080");
    }

    #[test]
    fn without_arrivals_latency_is_null_and_everything_is_lost() {
        let r = report(0);
        assert_eq!(r.lost, 100);
        assert_eq!(r.latency_ms.p50, None);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["latency_ms"]["p99"].is_null());
        assert!(r.to_text().contains("lost 100 (100.00%)"));
    }

    #[test]
    fn the_progress_line_splits_in_flight_from_lost() {
        let totals = Totals {
            sent: 50,
            received: 40,
            outstanding: 10,
            ..Totals::default()
        };
        assert_eq!(
            progress_line(Duration::from_secs(12), &totals, 3, Some(81.25)),
            "[   12 s] sent 50, received 40, in flight 7, lost 3, p50 81.2 ms"
        );
    }
}
