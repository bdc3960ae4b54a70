//! Driving messages through the clients' app websockets and measuring them.
//!
//! Each client gets one app connection. Its sending task writes `send` requests at a fixed
//! rate on an absolute schedule (message `k` at `start + k / rate`, clients phase-shifted
//! so their sends interleave), to the next client on another gateway
//! ([`plan::recipients`]); its receiving task parses `received` answers into the shared
//! [`Tally`]. The run ends at the duration (or the first Ctrl-C); then, for at most the
//! drain time, it waits for messages still in flight, ending early once nothing is
//! outstanding (or at the next Ctrl-C). The nodes' metrics are read when sending starts and
//! when it stops. A client or node that dies, or a websocket that closes, fails the run with
//! that process's log.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::app::{AppConnection, AppReceiver, AppSender};
use super::metrics::Samples;
use super::network::Network;
use super::options::{limits, Options};
use super::plan;
use super::report::{progress_line, MetricsWindow, NodeWindow};
use super::signals::Interrupts;
use super::tally::{Tally, Totals};
use super::Error;
use client::api::Response as AppResponse;

/// How long connecting to a client's app API and its first answer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long sending tasks get to finish once told to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the drain checks for completion.
const DRAIN_POLL: Duration = Duration::from_millis(100);
/// How often progress is shown and processes are checked.
const TICK: Duration = Duration::from_secs(1);

/// What the traffic measured.
#[derive(Debug)]
pub struct Traffic {
    /// Counts at the end of the drain.
    pub totals: Totals,
    /// Latencies, microseconds.
    pub histogram: Histogram<u64>,
    /// The last app API error.
    pub last_api_error: Option<String>,
    /// How long the clients sent.
    pub sending: Duration,
    /// How long the drain took.
    pub drain: Duration,
    /// Whether a signal ended sending or the drain.
    pub interrupted: bool,
    /// Node metrics over the sending window.
    pub metrics: MetricsWindow,
}

/// Tasks aborted when dropped, so an early return leaves none running.
struct Tasks<T>(Vec<JoinHandle<T>>);

impl<T> Drop for Tasks<T> {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    // A panicking task cannot leave the tally half-updated in a way that matters here:
    // every update is a few counter increments.
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

fn micros_since(clock: Instant) -> u64 {
    u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The progress line on stderr: rewritten in place on a terminal, one line per tick
/// otherwise.
struct Progress {
    enabled: bool,
    tty: bool,
    shown: bool,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            tty: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn show(&mut self, line: &str) {
        if !self.enabled {
            return;
        }
        if self.tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
        self.shown = true;
    }

    fn finish(&mut self) {
        if self.enabled && self.tty && self.shown {
            eprintln!();
        }
        self.shown = false;
    }
}

/// Runs the traffic over a started network (see the module docs).
pub async fn drive(
    network: &mut Network,
    options: &Options,
    interrupts: &Interrupts,
) -> Result<Traffic, Error> {
    let connections = connect_all(network).await?;
    let (failed_tx, failed) = mpsc::unbounded_channel::<(usize, Error)>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut run = Run {
        tally: Arc::new(Mutex::new(Tally::new(connections.len()))),
        failed,
        progress: Progress::new(options.progress),
        overdue_age_us: u64::try_from(options.drain.max(Duration::from_secs(1)).as_micros())
            .unwrap_or(u64::MAX),
        clock: Instant::now(),
        interrupted: false,
    };
    let before = scrape(network).await;
    run.clock = Instant::now();
    let (receivers, mut senders) =
        run.spawn_clients(network, options, connections, failed_tx, stop_rx)?;

    let sending = run.send(network, options, interrupts).await?;
    let _ = stop_tx.send(true);
    let mut open = Vec::new();
    for task in std::mem::take(&mut senders.0) {
        if let Ok(Ok(Some(sender))) = tokio::time::timeout(STOP_TIMEOUT, task).await {
            open.push(sender);
        }
    }
    let after = scrape(network).await;
    let drain = run.drain(network, options, interrupts).await?;
    for sender in open {
        sender.close().await;
    }
    drop(receivers);

    let t = lock(&run.tally);
    Ok(Traffic {
        totals: t.totals(),
        histogram: t.histogram().clone(),
        last_api_error: t.last_error().map(str::to_owned),
        sending,
        drain,
        interrupted: run.interrupted,
        metrics: window(network, sending, before, after),
    })
}

/// One app connection per client, each checked to report the address `client init` printed.
async fn connect_all(network: &mut Network) -> Result<Vec<AppConnection>, Error> {
    let addresses: Vec<String> = network.clients().map(|c| c.address.clone()).collect();
    let mut connections = Vec::new();
    for (c, expected) in addresses.iter().enumerate() {
        let url = network
            .client_ws_url(c)
            .ok_or_else(|| Error::traffic(format!("no client {c}")))?;
        let connected = async {
            let mut conn = AppConnection::connect(&url, CONNECT_TIMEOUT).await?;
            let address = conn.self_address(CONNECT_TIMEOUT).await?;
            Ok::<_, Error>((conn, address))
        };
        let (conn, address) = match connected.await {
            Ok(v) => v,
            Err(e) => return Err(client_failure(network, c, e)),
        };
        if address != *expected {
            return Err(client_failure(
                network,
                c,
                Error::traffic(format!(
                    "client {c} reports address {address}; `client init` printed {expected}"
                )),
            ));
        }
        connections.push(conn);
    }
    Ok(connections)
}

/// The state of a traffic run shared by its phases.
struct Run {
    tally: Arc<Mutex<Tally>>,
    failed: mpsc::UnboundedReceiver<(usize, Error)>,
    progress: Progress,
    overdue_age_us: u64,
    /// When sending started: send times and latencies count from here.
    clock: Instant,
    /// Whether a signal ended sending or the drain.
    interrupted: bool,
}

impl Run {
    /// A receiving task per client, and a sending task per client that has a recipient.
    fn spawn_clients(
        &self,
        network: &Network,
        options: &Options,
        connections: Vec<AppConnection>,
        failed: mpsc::UnboundedSender<(usize, Error)>,
        stop: watch::Receiver<bool>,
    ) -> Result<(Tasks<()>, Tasks<Option<AppSender>>), Error> {
        let n = connections.len();
        let gateway_of: Vec<usize> = network.clients().map(|c| c.gateway).collect();
        let addresses: Vec<String> = network.clients().map(|c| c.address.clone()).collect();
        let recipients = plan::recipients(&gateway_of);
        let longest = Duration::from_secs(limits::MAX_DURATION_SECS);
        let period = Duration::from_secs_f64(1.0 / options.rate);
        let mut receivers = Tasks(Vec::new());
        let mut senders = Tasks(Vec::new());
        for (c, conn) in connections.into_iter().enumerate() {
            let (sender, receiver) = conn.split();
            let index = u32::try_from(c).map_err(|_| Error::traffic("too many clients".into()))?;
            receivers.0.push(tokio::spawn(receive_loop(
                receiver,
                index,
                self.clock,
                self.tally.clone(),
                failed.clone(),
            )));
            let Some(to) = recipients[c] else {
                senders.0.push(tokio::spawn(async move { Some(sender) }));
                continue;
            };
            let schedule = Schedule {
                start: tokio::time::Instant::from_std(self.clock)
                    + period.mul_f64(c as f64 / n.max(1) as f64),
                period,
            };
            let job = SendJob {
                index,
                to: u32::try_from(to).map_err(|_| Error::traffic("too many clients".into()))?,
                address: addresses[to].clone(),
                size: options.message_size,
                clock: self.clock,
                limit: (options.rate * longest.as_secs_f64()).ceil() as u64 + 1,
            };
            let (tally, failed, stop) = (self.tally.clone(), failed.clone(), stop.clone());
            senders.0.push(tokio::spawn(async move {
                send_loop(sender, job, schedule, stop, tally, failed, c).await
            }));
        }
        Ok((receivers, senders))
    }

    /// Lets the senders run until the duration ends or a signal comes; returns how long
    /// they sent. A failed client or a dead process fails the run.
    async fn send(
        &mut self,
        network: &mut Network,
        options: &Options,
        interrupts: &Interrupts,
    ) -> Result<Duration, Error> {
        let longest = Duration::from_secs(limits::MAX_DURATION_SECS);
        let end = tokio::time::Instant::from_std(self.clock) + options.duration.unwrap_or(longest);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(end) => break,
                () = interrupts.reached(1) => {
                    self.interrupted = true;
                    break;
                }
                Some((c, e)) = self.failed.recv() => {
                    self.progress.finish();
                    return Err(client_failure(network, c, e));
                }
                _ = ticker.tick() => {
                    self.progress.show(&status(&self.tally, self.clock, self.overdue_age_us));
                    if let Err(e) = network.check_running() {
                        self.progress.finish();
                        return Err(e);
                    }
                }
            }
        }
        Ok(self.clock.elapsed())
    }

    /// Waits for messages in flight, at most the drain time, ending early once nothing is
    /// outstanding or at the next signal; returns how long it waited.
    async fn drain(
        &mut self,
        network: &mut Network,
        options: &Options,
        interrupts: &Interrupts,
    ) -> Result<Duration, Error> {
        let drain_start = Instant::now();
        let drain_end = drain_start + options.drain;
        let seen = interrupts.count();
        let mut last_shown = Instant::now();
        loop {
            if lock(&self.tally).totals().outstanding == 0 || Instant::now() >= drain_end {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(DRAIN_POLL) => {}
                () = interrupts.reached(seen.saturating_add(1)) => {
                    self.interrupted = true;
                    break;
                }
                Some((c, e)) = self.failed.recv() => {
                    self.progress.finish();
                    return Err(client_failure(network, c, e));
                }
            }
            if last_shown.elapsed() >= TICK {
                last_shown = Instant::now();
                let line = status(&self.tally, self.clock, self.overdue_age_us);
                self.progress.show(&format!("{line} (draining)"));
            }
        }
        self.progress.finish();
        Ok(drain_start.elapsed())
    }
}

/// Parses what client `index`'s app connection receives into the tally until the connection
/// ends (or the task is aborted after the drain).
async fn receive_loop(
    mut receiver: AppReceiver,
    index: u32,
    clock: Instant,
    tally: Arc<Mutex<Tally>>,
    failed: mpsc::UnboundedSender<(usize, Error)>,
) {
    let c = index as usize;
    loop {
        match receiver.next().await {
            Some(Ok(AppResponse::Received { message, .. })) => {
                lock(&tally).handle_received(index, &message, micros_since(clock));
            }
            Some(Ok(AppResponse::Error { message })) => {
                lock(&tally).handle_api_error(&message);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                let _ = failed.send((c, e));
                return;
            }
            None => {
                let _ = failed.send((
                    c,
                    Error::traffic(format!("client {c} closed its app websocket")),
                ));
                return;
            }
        }
    }
}

/// The progress line now; messages outstanding for longer than `overdue_age_us` count as
/// lost.
fn status(tally: &Mutex<Tally>, clock: Instant, overdue_age_us: u64) -> String {
    let t = lock(tally);
    let overdue = t.overdue(micros_since(clock), overdue_age_us);
    progress_line(clock.elapsed(), &t.totals(), overdue, t.p50_ms())
}

/// When a sender's messages go out.
struct Schedule {
    start: tokio::time::Instant,
    period: Duration,
}

/// Who sends what to whom.
struct SendJob {
    index: u32,
    to: u32,
    address: String,
    size: usize,
    clock: Instant,
    /// Most messages: the rate times the longest run.
    limit: u64,
}

/// Sends on the schedule until told to stop or the connection fails; gives the connection
/// back for a clean close.
async fn send_loop(
    mut sender: AppSender,
    job: SendJob,
    schedule: Schedule,
    mut stop: watch::Receiver<bool>,
    tally: Arc<Mutex<Tally>>,
    failed: mpsc::UnboundedSender<(usize, Error)>,
    client: usize,
) -> Option<AppSender> {
    // Ends at `stop`, which the run sets when it ends; `limit` bounds it regardless.
    for k in 0..job.limit {
        let at = schedule.start + schedule.period.mul_f64(k as f64);
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Some(sender),
            () = tokio::time::sleep_until(at) => {}
        }
        let header = lock(&tally).handle_send(job.index, job.to, micros_since(job.clock))?;
        let text = header.encode(job.size);
        if let Err(e) = sender.send(&job.address, &text).await {
            lock(&tally).handle_send_failed(&header);
            let _ = failed.send((client, e));
            return None;
        }
    }
    Some(sender)
}

/// Metrics of the mixnodes and of the gateways.
type Scrape = (Vec<Option<Samples>>, Vec<Option<Samples>>);

async fn scrape(network: &Network) -> Scrape {
    futures::join!(network.scrape_mixnodes(), network.scrape_gateways())
}

fn window(network: &Network, duration: Duration, before: Scrape, after: Scrape) -> MetricsWindow {
    let mixnodes = network
        .mixnodes()
        .zip(before.0.into_iter().zip(after.0))
        .map(|(m, (before, after))| NodeWindow {
            layer: m.layer,
            before,
            after,
        })
        .collect();
    let gateways = before
        .1
        .into_iter()
        .zip(after.1)
        .map(|(before, after)| NodeWindow {
            layer: 0,
            before,
            after,
        })
        .collect();
    MetricsWindow {
        duration,
        mixnodes,
        gateways,
    }
}

/// The error for client `c`: its exit (with its log) if its process died, else `error` with
/// its log.
fn client_failure(network: &mut Network, c: usize, error: Error) -> Error {
    if let Err(exited) = network.check_client(c) {
        return exited;
    }
    match network.client_log(c) {
        Some(log) => error.with_log(log),
        None => error,
    }
}
