//! `bench router`: one mixnode shard against the Nym-style baseline, same core, same load, one
//! run.
//!
//! 1. Crypto-only: batched unwrap (batches of 32) on the router's core, in this process: the
//!    ceiling a router could reach if IO were free.
//! 2. Unique regular packets are built on every core ([`packets`]); each router gets the same
//!    ones (each has its own replay filter).
//! 3. For each router, a process pinned to the router core ([`process`]): flat-out load for the
//!    maximum forwarded rate, then paced load at 50% and 90% of that maximum for latency
//!    (send-to-sink, HDR histogram) and CPU use ([`load`]). The load generator and sink run on
//!    the other core.
//! 4. A flood ([`flood`]): several connections write zero-delay packets as fast as the router
//!    takes them, the sink reads at full speed; the share forwarded and the rate.
//! 5. Memory: a fresh mixnode holds 100,000 delayed packets; RSS before and after.
//! 6. With `--noise`: router-core once more with its links on Noise (the generator's link in
//!    and the link to the sink out, [`noise_link`]), flat out and at the same load points,
//!    for the ratio to the plain run of the same invocation.

pub mod flood;
pub mod load;
pub mod noise_link;
pub mod packets;
mod print;
pub mod process;

pub use print::print;

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use process::RouterProcess;

/// Options of `bench router`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Core of the router under test.
    pub router_cpu: usize,
    /// Core of the load generator and sink.
    pub load_cpu: usize,
    /// Length of each measured phase.
    pub phase: Duration,
    /// Skip the baseline.
    pub skip_baseline: bool,
    /// Packets held for the memory measurement (0 skips it).
    pub held: usize,
    /// The mixnode's `engine.batch_linger_us` for each measured run of router-core, in order
    /// (empty: one run with the node's default).
    pub linger_us: Vec<u64>,
    /// The mixnode's `engine.busy_poll_us` for each measured run, combined with every linger
    /// (empty: the node's default).
    pub busy_poll_us: Vec<u64>,
    /// Load points measured after 50% and 90%, as fractions of the maximum.
    pub extra_loads: Vec<f64>,
    /// Measure the maximum again (flat out, one phase) right before each load point and set
    /// the point's rate from it, rather than from the run's first maximum.
    pub max_before_each_load: bool,
    /// Packets of the flood after the load points (0 skips it).
    pub flood_packets: usize,
    /// Connections the flood is written over.
    pub flood_connections: usize,
    /// Also measure router-core with Noise links.
    pub noise: bool,
}

/// One load point.
#[derive(Debug, Clone, Serialize)]
pub struct LoadPoint {
    pub fraction_of_max: f64,
    /// The maximum the offered rate is a fraction of.
    pub of_max_pps: f64,
    pub offered_pps: f64,
    pub delivered_pps: f64,
    pub lost: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub router_cpu_percent: f64,
    /// Upper bound of the node's own arrival-to-write p99 (its metrics buckets), ours only.
    pub node_p99_le_us: Option<f64>,
    /// Upper bound of the p99 of how long the node's reads found their newest bytes waiting
    /// in the socket buffer (its metrics buckets), ours only.
    pub node_socket_wait_p99_le_us: Option<f64>,
    /// Mean frames per unwrap batch in the node, ours only.
    pub node_mean_batch: Option<f64>,
    /// The node's busy time over the phase (`mixnet_busy_seconds_total`: tasks and IO, idle
    /// polling left out), percent of one core; ours only. With busy polling the process's
    /// CPU use shows the core taken, this how much of it was work.
    pub node_busy_percent: Option<f64>,
}

/// One router's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RouterRun {
    pub name: String,
    /// The mixnode's batch linger in this run (router-core only; `None`: its default).
    pub batch_linger_us: Option<u64>,
    /// The mixnode's busy polling in this run (router-core only; `None`: its default).
    pub busy_poll_us: Option<u64>,
    pub max_pps: f64,
    pub max_cpu_percent: f64,
    /// The maximum measured again after the load points: how far the machine's capacity
    /// drifted while they ran (a load point is only at its stated fraction if it held).
    pub max_after_pps: f64,
    pub at_50: LoadPoint,
    pub at_90: LoadPoint,
    /// The `extra_loads` points, in order.
    pub other_loads: Vec<LoadPoint>,
    /// The flood, when measured.
    pub flood: Option<flood::FloodPoint>,
}

impl Report {
    /// router-core's runs, the headline first.
    pub fn ours_runs(&self) -> impl Iterator<Item = &RouterRun> {
        std::iter::once(&self.ours)
            .chain(&self.ours_other_settings)
            .chain(&self.ours_noise)
    }

    /// Every measured run: router-core's, then the baseline's.
    pub fn runs(&self) -> impl Iterator<Item = &RouterRun> {
        self.ours_runs().chain(self.baseline.as_ref())
    }
}

impl RouterRun {
    /// The mean of the maxima measured before and after the load points.
    pub fn mean_max_pps(&self) -> f64 {
        (self.max_pps + self.max_after_pps) / 2.0
    }
}

/// Memory with packets held in the timing wheel.
#[derive(Debug, Clone, Serialize)]
pub struct HeldMemory {
    pub packets: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub bytes_per_held_packet: f64,
    pub buffer_bytes_per_packet: usize,
    pub overhead_bytes_per_packet: f64,
    pub static_overhead_bytes: usize,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub router_cpu: usize,
    pub load_cpu: usize,
    pub phase_seconds: f64,
    pub crypto_only_pps: f64,
    pub ours: RouterRun,
    /// router-core with the other `--linger-us` and `--busy-poll-us` settings, in order.
    pub ours_other_settings: Vec<RouterRun>,
    /// router-core with Noise links (`--noise`), the default settings.
    pub ours_noise: Option<RouterRun>,
    /// Its mean maximum over the plain run's (the headline run of the same invocation).
    pub noise_over_plain: Option<f64>,
    pub baseline: Option<RouterRun>,
    /// Ratio of the routers' maxima, each the mean of its measurements before and after its
    /// load points (the machine's speed drifts between the two routers' runs).
    pub ours_over_baseline: Option<f64>,
    /// router-core's mean maximum over the crypto-only rate.
    pub ours_over_crypto_only: f64,
    pub held: Option<HeldMemory>,
}

/// Runs the benchmark.
pub fn run(options: &Options) -> Result<Report, String> {
    let threads = crate::affinity::online_cpus();
    for cpu in [options.router_cpu, options.load_cpu] {
        if cpu >= threads {
            return Err(format!(
                "CPU {cpu} does not exist (this machine has {threads})"
            ));
        }
    }
    let mixnode_bin = process::ensure_mixnode_built()?;
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (router_addr, secret) = process::init_mixnode(&mixnode_bin, home.path())?;

    let crypto_only = crypto_only_on(options.router_cpu, secret)?;
    let secs = options.phase.as_secs_f64();
    let (packets, sink) = build_load(options, secret, crypto_only, threads)?;

    crate::affinity::pin_current_thread(options.load_cpu)?;
    let mut runs = run_ours(
        options,
        &mixnode_bin,
        home.path(),
        router_addr,
        &packets,
        &sink,
    )?
    .into_iter();
    let ours = runs.next().ok_or("no router-core run")?;
    let ours_other_settings: Vec<RouterRun> = runs.collect();
    let ours_noise = if options.noise {
        Some(run_noise(
            options,
            &mixnode_bin,
            home.path(),
            router_addr,
            &packets,
            &sink,
        )?)
    } else {
        None
    };
    let baseline = if options.skip_baseline {
        None
    } else {
        Some(run_baseline(options, home.path(), &packets, &sink)?)
    };

    let held = if options.held > 0 {
        Some(held_memory(
            &mixnode_bin,
            home.path(),
            router_addr,
            secret,
            options,
        )?)
    } else {
        None
    };

    Ok(Report {
        router_cpu: options.router_cpu,
        load_cpu: options.load_cpu,
        phase_seconds: secs,
        crypto_only_pps: crypto_only,
        ours_over_baseline: baseline
            .as_ref()
            .map(|b| ours.mean_max_pps() / b.mean_max_pps().max(1.0)),
        ours_over_crypto_only: ours.mean_max_pps() / crypto_only.max(1.0),
        noise_over_plain: ours_noise
            .as_ref()
            .map(|n| n.mean_max_pps() / ours.mean_max_pps().max(1.0)),
        ours_noise,
        ours,
        ours_other_settings,
        baseline,
        held,
    })
}

/// The crypto-only batched unwrap rate on `cpu`: the ceiling a router could reach.
fn crypto_only_on(cpu: usize, secret: [u8; 32]) -> Result<f64, String> {
    eprintln!("router: crypto-only batched unwrap on CPU {cpu} ...");
    let rate = std::thread::spawn(move || {
        crate::affinity::pin_current_thread(cpu)?;
        crypto_only_rate(secret)
    })
    .join()
    .map_err(|_| "the crypto-only measurement panicked".to_string())??;
    eprintln!("router: crypto-only {rate:.0} packets/s");
    Ok(rate)
}

/// The packets every run sends (enough for every phase, see [`packets_needed`]), all routed
/// to the sink, and the sink, listening on the load CPU.
fn build_load(
    options: &Options,
    secret: [u8; 32],
    crypto_only: f64,
    threads: usize,
) -> Result<(packets::PacketSet, Arc<load::SinkState>), String> {
    let count = packets_needed(crypto_only, options);
    let started = Instant::now();
    // The sink address goes into every packet, so bind it before building.
    let placeholder = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let sink_addr_reserved = placeholder.local_addr().map_err(|e| e.to_string())?;
    drop(placeholder);
    eprintln!("router: building {count} packets on {threads} threads ...");
    let packets = packets::build(
        count,
        secret,
        sink_addr_reserved,
        Duration::ZERO,
        threads,
        true,
    )?;
    eprintln!("router: built in {:.1} s", started.elapsed().as_secs_f64());
    let (sink_addr, sink) = load::start_sink_at(&packets, sink_addr_reserved, options.load_cpu)?;
    debug_assert_eq!(sink_addr, sink_addr_reserved);
    Ok((packets, sink))
}

/// One run of router-core per engine setting, the first with the defaults.
fn run_ours(
    options: &Options,
    mixnode_bin: &std::path::Path,
    home: &std::path::Path,
    router_addr: std::net::SocketAddr,
    packets: &packets::PacketSet,
    sink: &Arc<load::SinkState>,
) -> Result<Vec<RouterRun>, String> {
    let mut runs = Vec::new();
    for (linger, busy_poll) in engine_settings(options) {
        let name = run_name(linger, busy_poll);
        process::set_engine_option(home, "batch_linger_us", linger)?;
        process::set_engine_option(home, "busy_poll_us", busy_poll)?;
        let router =
            process::start_mixnode(mixnode_bin, home, router_addr, options.router_cpu, &[])?;
        let mut run = measure(&router, &name, packets, sink, options, None)?;
        run.batch_linger_us = linger;
        run.busy_poll_us = busy_poll;
        runs.push(run);
        drop(router);
    }
    process::set_engine_option(home, "batch_linger_us", None)?;
    process::set_engine_option(home, "busy_poll_us", None)?;
    Ok(runs)
}

/// router-core with Noise required on its links: the generator and the sink are its only
/// peers (`--danger-noise-peer`). The flood is left out (its connections are plain).
fn run_noise(
    options: &Options,
    mixnode_bin: &std::path::Path,
    home: &std::path::Path,
    router_addr: std::net::SocketAddr,
    packets: &packets::PacketSet,
    sink: &Arc<load::SinkState>,
) -> Result<RouterRun, String> {
    process::set_engine_text(home, "noise", Some("required"))?;
    let router_key = process::noise_public(home)?;
    let peers = [
        noise_link::peer_flag(sink.addr(), &noise_link::sink_key()),
        noise_link::peer_flag(([127, 0, 0, 1], 1).into(), &noise_link::load_key()),
    ];
    let extra: Vec<&str> = peers
        .iter()
        .flat_map(|peer| ["--danger-noise-peer", peer.as_str()])
        .collect();
    let router =
        process::start_mixnode(mixnode_bin, home, router_addr, options.router_cpu, &extra)?;
    let no_flood = Options {
        flood_packets: 0,
        ..options.clone()
    };
    let run = measure(
        &router,
        "router-core (1 shard, Noise links)",
        packets,
        sink,
        &no_flood,
        Some(&router_key),
    );
    drop(router);
    process::set_engine_text(home, "noise", None)?;
    run
}

/// The Nym-style baseline router with the same key, load and sink.
fn run_baseline(
    options: &Options,
    home: &std::path::Path,
    packets: &packets::PacketSet,
    sink: &Arc<load::SinkState>,
) -> Result<RouterRun, String> {
    let router =
        process::start_baseline(&home.join("mixnodes/bench/sphinx.key"), options.router_cpu)?;
    measure(
        &router,
        "Nym-style baseline (tokio + sphinx-packet)",
        packets,
        sink,
        options,
        None,
    )
}

/// Packets one router's run uses at most: every flat-out phase (before and after the load
/// points, and before each of them with `max_before_each_load`) at the crypto-only rate, and
/// the paced phases.
fn packets_needed(crypto_only_pps: f64, options: &Options) -> usize {
    let points = 2 + options.extra_loads.len();
    let flat_phases = if options.max_before_each_load {
        2 + points
    } else {
        2
    };
    let paced: f64 = 0.5 + 0.9 + options.extra_loads.iter().sum::<f64>();
    let phases = flat_phases as f64 + paced;
    ((crypto_only_pps * options.phase.as_secs_f64() * phases) as usize).max(10_000)
        + options.flood_packets
}

/// Every (linger, busy poll) pair to measure router-core with, lingers outermost; `None`
/// leaves the node's default.
fn engine_settings(options: &Options) -> Vec<(Option<u64>, Option<u64>)> {
    let or_default = |values: &[u64]| -> Vec<Option<u64>> {
        if values.is_empty() {
            vec![None]
        } else {
            values.iter().copied().map(Some).collect()
        }
    };
    let polls = or_default(&options.busy_poll_us);
    or_default(&options.linger_us)
        .into_iter()
        .flat_map(|linger| polls.iter().map(move |poll| (linger, *poll)))
        .collect()
}

fn run_name(linger: Option<u64>, busy_poll: Option<u64>) -> String {
    let mut settings = vec!["1 shard".to_string()];
    if let Some(us) = linger {
        settings.push(format!("linger {us} µs"));
    }
    if let Some(us) = busy_poll {
        settings.push(format!("poll {us} µs"));
    }
    format!("router-core ({})", settings.join(", "))
}

/// Batched unwrap on this thread (pinned to the router core) for about a second.
fn crypto_only_rate(secret: [u8; 32]) -> Result<f64, String> {
    use router_core::sphinx::{BatchUnwrapper, SphinxSecretKey};
    let sink: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
    let set = packets::build(64, secret, sink, Duration::ZERO, 1, false)?;
    let pristine: Vec<Vec<u8>> = (0..set.len())
        .map(|i| set.frames(i..i + 1).get(4..).unwrap_or_default().to_vec())
        .collect();
    let mut batch: Vec<Vec<u8>> = pristine.iter().take(32).cloned().collect();
    let mut unwrapper = BatchUnwrapper::new(SphinxSecretKey::from_bytes(secret));
    let mut results = Vec::new();
    let mut done = 0u64;
    let start = Instant::now();
    let mut round = 0usize;
    while start.elapsed() < Duration::from_secs(1) {
        for (i, packet) in batch.iter_mut().enumerate() {
            if let Some(source) = pristine.get((round * 32 + i) % pristine.len()) {
                packet.copy_from_slice(source);
            }
        }
        unwrapper.unwrap_batch(&mut batch, &mut results);
        if results.iter().any(Result::is_err) {
            return Err("crypto-only: a packet failed to unwrap".into());
        }
        done += batch.len() as u64;
        round += 1;
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

/// Writes flat out for a phase and returns the forwarded rate and the router's CPU use
/// (percent of a core), both after a warm-up of a fifth of the phase; waits (bounded) for
/// what was sent to reach the sink.
fn flat_out(
    router: &RouterProcess,
    stream: &mut noise_link::Writer,
    packets: &packets::PacketSet,
    sink: &load::SinkState,
    cursor: &mut usize,
    options: &Options,
) -> Result<(f64, f64), String> {
    let base = sink.received();
    let cpu_before = process::cpu_seconds(router.pid()).unwrap_or(0.0);
    let start = Instant::now();
    let warmup = options.phase / 5;
    let mut at_warm = None;
    let mut sent_total = 0usize;
    while start.elapsed() < options.phase && *cursor < packets.len() {
        let n = load::send_flat_out(
            stream,
            packets,
            sink,
            *cursor..packets.len(),
            Duration::from_millis(50),
        )?;
        *cursor += n;
        sent_total += n;
        if at_warm.is_none() && start.elapsed() >= warmup {
            at_warm = Some((
                Instant::now(),
                sink.received(),
                process::cpu_seconds(router.pid()).unwrap_or(0.0),
            ));
        }
    }
    let (t_warm, r_warm, cpu_warm) = at_warm.unwrap_or((start, base, cpu_before));
    let received_end = sink.received();
    let elapsed = t_warm.elapsed().as_secs_f64().max(1e-3);
    let pps = (received_end - r_warm) as f64 / elapsed;
    let cpu = (process::cpu_seconds(router.pid()).unwrap_or(0.0) - cpu_warm) / elapsed * 100.0;
    load::wait_received(sink, base + sent_total as u64, Duration::from_secs(10));
    Ok((pps, cpu))
}

fn measure(
    router: &RouterProcess,
    name: &str,
    packets: &packets::PacketSet,
    sink: &load::SinkState,
    options: &Options,
    noise_key: Option<&[u8; 32]>,
) -> Result<RouterRun, String> {
    let mut stream = TcpStream::connect(router.addr).map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let stream = match noise_key {
        Some(key) => {
            let transport = noise_link::initiate(&mut stream, key)
                .map_err(|e| format!("Noise handshake with the router: {e}"))?;
            noise_link::Writer::noise(stream, transport, packets::FRAME_LEN)
        }
        None => noise_link::Writer::plain(stream),
    };
    let mut session = Session {
        router,
        name,
        packets,
        sink,
        options,
        stream,
        cursor: 0,
    };
    eprintln!(
        "router: {name}: flat out for {:.1} s ...",
        options.phase.as_secs_f64()
    );
    let (max_pps, max_cpu) = session.flat_out()?;
    eprintln!("router: {name}: max {max_pps:.0} packets/s at {max_cpu:.0}% CPU");
    session.show_node_counters()?;
    let at_50 = session.load_point(0.5, max_pps)?;
    let at_90 = session.load_point(0.9, max_pps)?;
    let other_loads = options
        .extra_loads
        .iter()
        .map(|fraction| session.load_point(*fraction, max_pps))
        .collect::<Result<Vec<_>, _>>()?;
    // The load points assume the maximum held while they ran; measure it again to see.
    let (max_after_pps, _) = session.flat_out()?;
    eprintln!(
        "router: {name}: max again after the load points: {max_after_pps:.0} packets/s ({:+.0}% from the first)",
        (max_after_pps / max_pps.max(1.0) - 1.0) * 100.0
    );
    let flood = session.flood()?;
    Ok(RouterRun {
        name: name.to_string(),
        batch_linger_us: None,
        busy_poll_us: None,
        max_pps,
        max_after_pps,
        max_cpu_percent: max_cpu,
        at_50,
        at_90,
        other_loads,
        flood,
    })
}

/// One router under load: its connection and how far into the packets the load has got.
struct Session<'a> {
    router: &'a RouterProcess,
    name: &'a str,
    packets: &'a packets::PacketSet,
    sink: &'a load::SinkState,
    options: &'a Options,
    stream: noise_link::Writer,
    cursor: usize,
}

impl Session<'_> {
    /// The forwarded rate and CPU use flat out.
    fn flat_out(&mut self) -> Result<(f64, f64), String> {
        let (router, packets, sink) = (self.router, self.packets, self.sink);
        flat_out(
            router,
            &mut self.stream,
            packets,
            sink,
            &mut self.cursor,
            self.options,
        )
    }

    /// What the node itself counted so far (received, forwarded, dropped by reason).
    fn flood(&mut self) -> Result<Option<flood::FloodPoint>, String> {
        let options = self.options;
        if options.flood_packets == 0 {
            return Ok(None);
        }
        eprintln!(
            "router: {}: flood of {} packets over {} connections ...",
            self.name, options.flood_packets, options.flood_connections
        );
        let point = flood::flood(
            self.router,
            self.packets,
            self.sink,
            self.cursor,
            options.flood_packets,
            options.flood_connections,
            options.load_cpu,
        )?;
        self.cursor += point.sent as usize;
        eprintln!(
            "router: {}: flood: {} of {} forwarded ({:.2}%) at {:.0} packets/s; node drops {:?}",
            self.name,
            point.forwarded,
            point.sent,
            point.forwarded_share * 100.0,
            point.forwarded_pps,
            point.node_drops
        );
        Ok(Some(point))
    }

    fn show_node_counters(&self) -> Result<(), String> {
        let Some(metrics) = self.router.metrics else {
            return Ok(());
        };
        let text = process::scrape(metrics)?;
        let dropped: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("mixnet_packets_dropped_total{") && !l.ends_with(" 0"))
            .map(str::to_string)
            .collect();
        eprintln!(
            "router: {}: node counted {} received, {} forwarded, dropped: {dropped:?}; sink: {} unrecognised",
            self.name,
            process::sample(&text, "mixnet_packets_received_total").unwrap_or(0.0),
            process::sample(&text, "mixnet_packets_forwarded_total").unwrap_or(0.0),
            self.sink.unknown(),
        );
        Ok(())
    }

    /// Paced load at `fraction` of the maximum (`max_pps`, or measured again right before
    /// with `max_before_each_load`): latencies at the sink, CPU, and the node's own figures.
    fn load_point(&mut self, fraction: f64, max_pps: f64) -> Result<LoadPoint, String> {
        let (router, sink, name) = (self.router, self.sink, self.name);
        let of_max = if self.options.max_before_each_load {
            let (pps, _) = self.flat_out()?;
            eprintln!("router: {name}: max just before this load point: {pps:.0} packets/s");
            pps
        } else {
            max_pps
        };
        let rate = of_max * fraction;
        let before = sink.received();
        let node_before = router.metrics.map(process::scrape).transpose()?;
        let cpu0 = process::cpu_seconds(router.pid()).unwrap_or(0.0);
        sink.start_recording();
        let t0 = Instant::now();
        let sent = load::send_paced(
            &mut self.stream,
            self.packets,
            sink,
            self.cursor,
            rate,
            self.options.phase,
        )?;
        let received =
            load::wait_received(sink, before + sent as u64, Duration::from_secs(10)) - before;
        let histogram = sink.stop_recording().ok_or("latency histogram poisoned")?;
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = (process::cpu_seconds(router.pid()).unwrap_or(0.0) - cpu0) / elapsed * 100.0;
        let node_after = router.metrics.map(process::scrape).transpose()?;
        self.cursor += sent;
        let node = match (node_before, node_after) {
            (Some(before), Some(after)) => NodeFigures::between(&before, &after, elapsed),
            _ => NodeFigures::default(),
        };
        let mut point = load_point(rate, received, sent, &histogram, cpu, node.p99);
        point.fraction_of_max = fraction;
        point.of_max_pps = of_max;
        point.node_mean_batch = node.batch;
        point.node_socket_wait_p99_le_us = node.wait_p99;
        point.node_busy_percent = node.busy;
        eprintln!(
            "router: {name}: {:.0}% of max ({rate:.0}/s): p50 {} µs, p99 {} µs, p999 {} µs, CPU {cpu:.0}%{}{}{}{}",
            fraction * 100.0,
            point.p50_us,
            point.p99_us,
            point.p999_us,
            busy_text(&point),
            node.batch
                .map(|b| format!(", mean batch {b:.1}"))
                .unwrap_or_default(),
            node.p99
                .map(|p| format!(", node arrival-to-write p99 <= {p:.0} µs"))
                .unwrap_or_default(),
            node.wait_p99
                .map(|p| format!(", socket wait p99 <= {p:.0} µs"))
                .unwrap_or_default()
        );
        Ok(point)
    }
}

/// The node's own figures over a load point, from its metrics before and after.
#[derive(Default)]
struct NodeFigures {
    /// Arrival-to-write p99 (upper bucket bound), µs.
    p99: Option<f64>,
    /// Socket wait p99 (upper bucket bound), µs.
    wait_p99: Option<f64>,
    /// Mean unwrap batch.
    batch: Option<f64>,
    /// Busy time, percent of the elapsed time.
    busy: Option<f64>,
}

impl NodeFigures {
    fn between(before: &str, after: &str, elapsed: f64) -> Self {
        NodeFigures {
            p99: node_quantile(before, after, "mixnet_processing_latency_seconds", 0.99),
            wait_p99: node_quantile(before, after, "mixnet_socket_wait_seconds", 0.99),
            batch: node_mean(before, after, "mixnet_batch_size"),
            busy: node_rate(before, after, "mixnet_busy_seconds_total", elapsed).map(|r| r * 100.0),
        }
    }
}

fn load_point(
    offered: f64,
    received: u64,
    sent: usize,
    histogram: &Histogram<u64>,
    cpu: f64,
    node_p99: Option<f64>,
) -> LoadPoint {
    LoadPoint {
        fraction_of_max: 0.0,
        of_max_pps: 0.0,
        offered_pps: offered,
        delivered_pps: offered * received as f64 / (sent.max(1)) as f64,
        lost: (sent as u64).saturating_sub(received),
        p50_us: histogram.value_at_quantile(0.5),
        p99_us: histogram.value_at_quantile(0.99),
        p999_us: histogram.value_at_quantile(0.999),
        max_us: histogram.max(),
        router_cpu_percent: cpu,
        node_p99_le_us: node_p99,
        node_socket_wait_p99_le_us: None,
        node_mean_batch: None,
        node_busy_percent: None,
    }
}

/// How fast a node counter grew between two scrapes `seconds` apart, per second.
fn node_rate(before: &str, after: &str, series: &str, seconds: f64) -> Option<f64> {
    let grown = process::sample(after, series)? - process::sample(before, series).unwrap_or(0.0);
    (seconds > 0.0).then_some(grown / seconds)
}

/// The mean of a node histogram family over the observations made between two scrapes.
fn node_mean(before: &str, after: &str, family: &str) -> Option<f64> {
    let delta = |series: &str| {
        let series = format!("{family}_{series}");
        Some(process::sample(after, &series)? - process::sample(before, &series).unwrap_or(0.0))
    };
    let count = delta("count")?;
    (count > 0.0).then(|| delta("sum").map(|sum| sum / count))?
}

/// The smallest bucket bound (µs) of a node latency histogram `family` that covers quantile
/// `q` of the observations made between two scrapes.
fn node_quantile(before: &str, after: &str, family: &str, q: f64) -> Option<f64> {
    let a = process::buckets(before, family);
    let b = process::buckets(after, family);
    let deltas: Vec<(f64, f64)> = b
        .iter()
        .zip(a.iter().chain(std::iter::repeat(&(0.0, 0.0))))
        .map(|((le, after), (_, before))| (*le, after - before))
        .collect();
    let total = deltas.last()?.1;
    if total <= 0.0 {
        return None;
    }
    deltas
        .iter()
        .find(|(_, count)| *count >= q * total)
        .map(|(le, _)| le * 1e6)
}

fn held_memory(
    mixnode_bin: &std::path::Path,
    home: &std::path::Path,
    router_addr: std::net::SocketAddr,
    secret: [u8; 32],
    options: &Options,
) -> Result<HeldMemory, String> {
    use router_core::pipeline::{Mixer, HEADROOM};
    eprintln!(
        "router: building {} delayed packets for the memory measurement ...",
        options.held
    );
    let threads = crate::affinity::online_cpus();
    // The sink never has to answer: these packets stay in the wheel for the whole measurement.
    let nowhere: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
    let set = packets::build(
        options.held,
        secret,
        nowhere,
        Duration::from_secs(10),
        threads,
        false,
    )?;
    let router = process::start_mixnode(mixnode_bin, home, router_addr, options.router_cpu, &[])?;
    let metrics = router.metrics.ok_or("no metrics endpoint")?;
    let rss_before = process::rss_kib(router.pid()).ok_or("cannot read RSS")?;
    let mut stream = TcpStream::connect(router.addr).map_err(|e| e.to_string())?;
    use std::io::Write;
    let start = Instant::now();
    stream.write_all(&set.frames).map_err(|e| e.to_string())?;
    loop {
        let text = process::scrape(metrics)?;
        let held = process::sample(&text, "mixnet_wheel_depth").unwrap_or(0.0) as usize;
        if held >= options.held {
            break;
        }
        if start.elapsed() > Duration::from_secs(9) {
            return Err(format!(
                "only {held} of {} packets were held before their delay ran out",
                options.held
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_after = process::rss_kib(router.pid()).ok_or("cannot read RSS")?;
    drop(router);
    let per_packet = (rss_after.saturating_sub(rss_before) * 1024) as f64 / options.held as f64;
    let buffer = HEADROOM + router_core::wire::PacketSize::Regular.size();
    Ok(HeldMemory {
        packets: options.held,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        bytes_per_held_packet: per_packet,
        buffer_bytes_per_packet: buffer,
        overhead_bytes_per_packet: per_packet - buffer as f64,
        static_overhead_bytes: Mixer::held_packet_overhead(),
    })
}

fn busy_text(point: &LoadPoint) -> String {
    point
        .node_busy_percent
        .map(|b| format!(" (busy {b:.0}%)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
