//! # testnet
//!
//! A whole mixnet as real processes on loopback, with traffic and a report: what
//! `bench localnet` (the project's main job) runs, and what the end-to-end tests of several
//! crates start. Also the pieces single-crate tests share: [`local_chain`] (a one-validator
//! chain in-process), [`free_port`], [`now_ms`], and [`metrics`] (scraping and parsing
//! Prometheus text).
//!
//! [`run`] starts validators (threshold Coconut keys, a genesis with short epochs), three
//! layers of mixnodes and several gateways, all bonded and run through their own binaries;
//! waits until the validators' threshold-signed topology lists every node; starts clients
//! spread over the gateways (each paying for bandwidth with a credential from its own
//! genesis account); drives messages between clients of different gateways through the
//! clients' app websocket API at a fixed rate; and reports what arrived, the latency
//! (send to receipt, HDR histogram) and the packet rates through the mix layers (the nodes'
//! Prometheus metrics). Every process is stopped at the end, on error, on panic and on
//! Ctrl-C/SIGTERM (which end the run early, still with a report).
//!
//! With `--socks5` it also runs a network requester and a SOCKS5 client (the `client`
//! package's `network-requester` and `socks5-client`) on gateways of their own, prints the
//! proxy's address, and the requester opens what `--allow` lists (loopback by default).
//!
//! The same network is a library for end-to-end tests: [`Network::start`] returns it
//! running, with each client's websocket URL and address, each mixnode's layer, and
//! `kill_mixnode`, `stop_client`, `start_client`, and with `socks5` the proxy's address,
//! `stop_requester` and `start_requester`; [`AppConnection`] speaks the app API, and
//! [`http_server`] serves deterministic bytes on loopback to fetch through the proxy.
//!
//! # Layout
//! Pure (no IO, unit-tested):
//! * [`options`]: the command-line arguments and validated [`Options`].
//! * [`plan`]: the genesis, stakes and balances, client-to-gateway assignment, who sends to
//!   whom, CPU spreading, reading layers from a topology.
//! * [`message`]: the app API's JSON and the benchmark's message text (sender, recipient,
//!   sequence, send time, padding).
//! * [`tally`]: sent, received, duplicate and outstanding messages; the latency histogram.
//! * [`report`]: [`Report`] from the tally and the metric deltas, as text and JSON; the
//!   progress line.
//!
//! IO:
//! * [`binaries`]: finding and building the binaries.
//! * [`process`]: child processes that die with their owner, their logs.
//! * [`network`]: starting and stopping the network ([`Network`]).
//! * [`metrics`]: scraping `/metrics` (the parsing is pure).
//! * [`app`]: a websocket connection to a client's app API.
//! * [`traffic`]: the sending and receiving tasks, the drain, the live progress.
//! * [`signals`]: Ctrl-C and SIGTERM.
//! * [`http_server`]: a loopback HTTP server with deterministic bodies.
//! * [`local_chain`]: the validator service on a thread of the calling process.
//! * [`web`]: with `--web`, the browser client's page, module, WebAssembly and a config with
//!   funded test accounts, served on loopback.
//!
//! The cross-crate end-to-end tests live in `tests/`: the main job's run
//! (`localnet.rs`), clients' messages, restarts and a killed mixnode (`network.rs`), and curl
//! through the SOCKS5 proxy (`socks5.rs`).
//!
//! # What it does not do
//! It measures what a user of the clients sees on one machine: every process shares the same
//! CPUs, so the figures compare runs on the same machine, not deployments. The send time is
//! this process's clock; no clock agreement is needed because everything is local.

pub mod app;
pub mod binaries;
pub mod http_server;
pub mod local_chain;
pub mod message;
pub mod metrics;
pub mod network;
pub mod options;
pub mod plan;
pub mod process;
pub mod report;
pub mod signals;
pub mod tally;
pub mod traffic;
pub mod web;

use std::fmt;
use std::path::{Path, PathBuf};

/// A loopback port nobody listens on right now (the OS's choice; another process may take
/// it before the caller binds it, so callers that can should bind port 0 themselves).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The wall clock, Unix ms.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub use app::AppConnection;
pub use network::{
    ClientInfo, GatewayInfo, MixnodeInfo, Network, RequesterInfo, Socks5Info, ValidatorInfo,
    REQUESTER_READY,
};
pub use options::{Args, BinarySource, ClientTiming, Options};
pub use plan::LOCAL_BLOCK_INTERVAL_MS;
pub use report::Report;
pub use signals::Interrupts;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The options are inconsistent.
    Options,
    /// A binary is missing or could not be built.
    Binaries,
    /// A process could not be started, failed or exited.
    Process,
    /// The network did not come up (a timeout, a wrong answer).
    Network,
    /// Talking to a client's app API failed.
    Traffic,
    /// Ctrl-C or SIGTERM during start-up.
    Interrupted,
    /// A local file or socket.
    Io,
}

/// A failure, with the end of the relevant log and the kept directory when there are.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    log: Option<(PathBuf, String)>,
    kept: Option<PathBuf>,
}

impl Error {
    fn new(kind: ErrorKind, message: String) -> Error {
        Error {
            kind,
            message,
            log: None,
            kept: None,
        }
    }

    pub(crate) fn options(message: String) -> Error {
        Error::new(ErrorKind::Options, message)
    }

    pub(crate) fn binaries(message: String) -> Error {
        Error::new(ErrorKind::Binaries, message)
    }

    pub(crate) fn process(message: String) -> Error {
        Error::new(ErrorKind::Process, message)
    }

    pub(crate) fn network(message: String) -> Error {
        Error::new(ErrorKind::Network, message)
    }

    pub(crate) fn traffic(message: String) -> Error {
        Error::new(ErrorKind::Traffic, message)
    }

    pub(crate) fn io(message: String) -> Error {
        Error::new(ErrorKind::Io, message)
    }

    pub(crate) fn interrupted() -> Error {
        Error::new(ErrorKind::Interrupted, "interrupted during start-up".into())
    }

    /// Attaches the tail of `log` (unless a log is attached already).
    pub(crate) fn with_log(mut self, log: &Path) -> Error {
        if self.log.is_none() {
            self.log = Some((log.to_path_buf(), process::tail(log)));
        }
        self
    }

    /// Records that the network's files were kept in `dir`.
    pub(crate) fn kept_in(mut self, dir: &Path) -> Error {
        self.kept = Some(dir.to_path_buf());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The log file whose tail the message shows.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_ref().map(|(path, _)| path.as_path())
    }

    /// Where the network's files were kept.
    pub fn kept_dir(&self) -> Option<&Path> {
        self.kept.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some((path, tail)) = &self.log {
            write!(f, "\n--- last lines of {} ---", path.display())?;
            if !tail.is_empty() {
                write!(f, "\n{tail}")?;
            }
            write!(f, "\n---")?;
        }
        if let Some(dir) = &self.kept {
            write!(f, "\nfiles kept in {}", dir.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The whole command: start the network, drive the traffic, stop everything, report (and
/// write the JSON report if asked). Catches Ctrl-C and SIGTERM for the rest of the process's
/// life: the first ends sending (the drain and the report follow), the next ends the drain;
/// during start-up one stops everything and returns [`ErrorKind::Interrupted`].
pub async fn run(options: &Options) -> Result<Report, Error> {
    options.validate()?;
    let interrupts = Interrupts::install()?;
    run_with(options, &interrupts).await
}

/// [`run`] with signals handled by the caller.
pub async fn run_with(options: &Options, interrupts: &Interrupts) -> Result<Report, Error> {
    options.validate()?;
    let binaries = tokio::select! {
        binaries = binaries::Binaries::prepare(&options.binaries) => binaries?,
        () = interrupts.reached(1) => return Err(Error::interrupted()),
    };
    let started = std::time::Instant::now();
    // Dropping the start-up future on a signal drops the processes started so far: they
    // are killed.
    let mut network = tokio::select! {
        network = Network::start_with(options, binaries) => network?,
        () = interrupts.reached(1) => return Err(Error::interrupted()),
    };
    eprintln!(
        "localnet: {} validators, {} mixnodes, {} gateways and {} clients{} up in {:.1} s \
         (files in {}; {})",
        network.validators().len(),
        network.mixnodes().len(),
        network.gateways().len(),
        network.clients().len(),
        if options.socks5 {
            ", a network requester and a SOCKS5 client"
        } else {
            ""
        },
        started.elapsed().as_secs_f64(),
        network.dir().display(),
        if options.tls {
            "over TLS, CA in tls/ca.pem there"
        } else {
            "plain HTTP and websockets"
        }
    );
    let _web = if options.web {
        let root = web::build_package(false).await?;
        let server = web::WebServer::start(&network, &root).await?;
        // On stdout, like the proxy's address: what a user of the run opens.
        println!("Web client: {}", server.url());
        Some(server)
    } else {
        None
    };
    let socks5_proxy = network.socks5_proxy();
    if let Some(proxy) = socks5_proxy {
        // On stdout, where the report goes: the address is what a user of the run needs.
        println!("{}", report::socks5_line(proxy));
    }
    let traffic = match traffic::drive(&mut network, options, interrupts).await {
        Ok(traffic) => traffic,
        Err(e) => {
            network.keep_files();
            let e = e.kept_in(network.dir());
            network.stop().await;
            return Err(e);
        }
    };
    let dir = options.keep_dir.then(|| network.dir().to_path_buf());
    network.stop().await;
    let report = report::build(report::Inputs {
        options,
        totals: traffic.totals,
        last_api_error: traffic.last_api_error,
        histogram: &traffic.histogram,
        sending: traffic.sending,
        drain: traffic.drain,
        interrupted: traffic.interrupted,
        metrics: &traffic.metrics,
        socks5_proxy,
        dir,
    });
    if let Some(path) = &options.report_json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::io(format!("the JSON report: {e}")))?;
        std::fs::write(path, json + "\n")
            .map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_the_log_tail_and_the_kept_directory() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("m0.log");
        std::fs::write(&log, "starting\npanicked at the disco\n").unwrap();
        let e = Error::process("mixnode m0 exited: exit status: 101".into())
            .with_log(&log)
            .kept_in(dir.path());
        assert_eq!(e.kind(), ErrorKind::Process);
        assert_eq!(e.log(), Some(log.as_path()));
        let text = e.to_string();
        assert!(text.starts_with("mixnode m0 exited"), "{text}");
        assert!(text.contains("panicked at the disco"), "{text}");
        assert!(text.ends_with(&format!("files kept in {}", dir.path().display())));
    }
}
