//! What `bench localnet` is asked to do: the command-line arguments, the validated
//! [`Options`] the library takes, and the checks between them (pure: no IO).

use std::path::PathBuf;
use std::time::Duration;

use super::Error;

/// Defaults, shared by the command line and [`Options::default`].
pub mod defaults {
    /// Validators: four tolerate one faulty (3f + 1).
    pub const VALIDATORS: usize = 4;
    /// Topology signatures and credential shares needed.
    pub const THRESHOLD: usize = 3;
    /// Mixnodes in each of the three layers.
    pub const MIXNODES_PER_LAYER: usize = 2;
    /// Gateways.
    pub const GATEWAYS: usize = 2;
    /// Clients, spread over the gateways.
    pub const CLIENTS: usize = 4;
    /// Seconds of sending (0: until Ctrl-C).
    pub const DURATION_SECS: u64 = 60;
    /// Messages per second each client sends.
    pub const RATE: f64 = 5.0;
    /// Bytes per message (text).
    pub const MESSAGE_SIZE: usize = 500;
    /// Seconds to wait for messages still in flight once sending stops.
    pub const DRAIN_SECS: u64 = 15;
    /// Epoch length, milliseconds.
    pub const EPOCH_MS: u64 = 4_000;
    /// Sphinx key rotation length, seconds: an hour (a public network rotates daily; an hour
    /// keeps each local node's replay filters at a few tens of MB).
    pub const KEY_ROTATION_SECS: u64 = 3600;
    /// Bandwidth bought for each client, bytes.
    pub const BANDWIDTH: u64 = 1 << 30;
    /// `RUST_LOG` of every process started.
    pub const LOG: &str = "info";
    /// Longest start-up (validators to the last client ready), seconds.
    pub const STARTUP_TIMEOUT_SECS: u64 = 180;
    /// The network requester's allow list when `--socks5` is given without `--allow`: the
    /// loopback servers a local test serves from.
    pub const ALLOW: [&str; 2] = ["127.0.0.1", "localhost"];
    /// Funded genesis accounts for browser pages, with `web` (`w0.key`, ...): each page the
    /// web server serves gets the next one, so pages buying bandwidth at once do not race
    /// for one account's nonces.
    pub const WEB_ACCOUNTS: usize = 16;
}

/// The limits the checks enforce.
pub mod limits {
    /// Most validators.
    pub const MAX_VALIDATORS: usize = 16;
    /// Most mixnodes per layer.
    pub const MAX_MIXNODES_PER_LAYER: usize = 32;
    /// Most gateways.
    pub const MAX_GATEWAYS: usize = 32;
    /// Most clients.
    pub const MAX_CLIENTS: usize = 256;
    /// Highest rate per client, messages per second.
    pub const MAX_RATE: f64 = 10_000.0;
    /// Smallest message: the traffic header always fits (see `message::MAX_HEADER_LEN`).
    pub const MIN_MESSAGE_SIZE: usize = 80;
    /// Largest message.
    pub const MAX_MESSAGE_SIZE: usize = 1 << 20;
    /// Shortest epoch: a quarter of it is the lead of each cutoff, in which the chain
    /// builds the next topology and then decides the validators' signatures over it (a
    /// block or two at the local block interval of 250 ms, more on a loaded 2-core machine).
    pub const MIN_EPOCH_MS: u64 = 2_000;
    /// Most bandwidth per client (2^50 bytes): every client's account holds twice its
    /// bandwidth, and the genesis balances must sum to less than 2^64.
    pub const MAX_BANDWIDTH: u64 = 1 << 50;
    /// Longest drain.
    pub const MAX_DRAIN_SECS: u64 = 600;
    /// Longest run (a week; 0 means until Ctrl-C).
    pub const MAX_DURATION_SECS: u64 = 7 * 24 * 3600;
    /// Shortest key rotation, seconds.
    pub const MIN_KEY_ROTATION_SECS: u64 = 4;
    /// Most `--allow` entries.
    pub const MAX_ALLOW_ENTRIES: usize = 1_024;
    /// Longest `--allow` entry (a domain name is at most 253 characters).
    pub const MAX_ALLOW_ENTRY_LEN: usize = 255;
}

/// Delays the clients are run with (`client run` flags); `None` leaves the client's default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientTiming {
    /// `--send-gap-ms`: mean gap of the Poisson sending loop.
    pub send_gap_ms: Option<f64>,
    /// `--loop-cover-gap-ms`: mean gap of loop cover traffic.
    pub loop_cover_gap_ms: Option<f64>,
    /// `--per-hop-delay-ms`: mean mixing delay chosen for each hop.
    pub per_hop_delay_ms: Option<f64>,
}

impl ClientTiming {
    /// The `client run` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, value) in [
            ("--send-gap-ms", self.send_gap_ms),
            ("--loop-cover-gap-ms", self.loop_cover_gap_ms),
            ("--per-hop-delay-ms", self.per_hop_delay_ms),
        ] {
            if let Some(v) = value {
                args.push(flag.to_owned());
                args.push(v.to_string());
            }
        }
        args
    }
}

/// Where the node and client binaries come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinarySource {
    /// Beside the running executable (`target/<profile>`), built first with `$CARGO` when
    /// running under cargo.
    BesideExecutable,
    /// Beside the running executable, used as they are.
    BesideExecutableNoBuild,
    /// In this directory, used as they are.
    Directory(PathBuf),
}

/// A validated description of the local network and its traffic. Build it with
/// [`Options::default`] and adjust the fields, then [`Options::validate`]; [`super::run`] and
/// [`super::Network::start`] validate again.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Validators (each with a Coconut key share).
    pub validators: usize,
    /// Signatures (and credential shares) needed, between 1 and `validators`.
    pub threshold: usize,
    /// Mixnodes per layer; there are three layers.
    pub mixnodes_per_layer: usize,
    /// Gateways; at least two, so that traffic crosses gateways.
    pub gateways: usize,
    /// Clients, assigned to gateways in turn; at least two (or none with `socks5`: only the
    /// proxy).
    pub clients: usize,
    /// How long clients send; `None` until Ctrl-C or SIGTERM (zero: nothing is sent, for
    /// callers that only want the network).
    pub duration: Option<Duration>,
    /// Messages per second each client sends.
    pub rate: f64,
    /// Bytes per message.
    pub message_size: usize,
    /// Longest wait for messages in flight after sending stops (ends early once all arrived).
    pub drain: Duration,
    /// Epoch length of the chain.
    pub epoch: Duration,
    /// Sphinx key rotation length: a whole number of epochs.
    pub key_rotation: Duration,
    /// Bandwidth (bytes) each client buys with a Coconut credential at `client init`.
    pub bandwidth: u64,
    /// Client delays.
    pub client_timing: ClientTiming,
    /// Also write the report as JSON here.
    pub report_json: Option<PathBuf>,
    /// Keep the temporary directory (configs, keys, logs) even after a clean run.
    pub keep_dir: bool,
    /// Where the binaries come from.
    pub binaries: BinarySource,
    /// `RUST_LOG` of the processes started.
    pub log: String,
    /// Print a progress line on stderr every second.
    pub progress: bool,
    /// Longest start-up.
    pub startup_timeout: Duration,
    /// Also run a network requester and a SOCKS5 client (`socks5-client`, its provider the
    /// requester), each on a gateway of its own in the clients' rotation, each with bandwidth
    /// bought like a client's.
    pub socks5: bool,
    /// The requester's allow list, one entry per line of its file (domains, `*.` wildcards,
    /// IP addresses, CIDR ranges); empty means [`defaults::ALLOW`] (see
    /// [`Options::allow_entries`]). Only with `socks5`.
    pub allow: Vec<String>,
    /// `--fast` for the SOCKS5 client and the requester (small delays, for measurements)
    /// instead of [`Options::client_timing`]; the clients keep theirs. Only with `socks5`.
    pub fast: bool,
    /// Also fund [`defaults::WEB_ACCOUNTS`] accounts for browser pages and serve the browser
    /// client's demo page (the `web` module).
    pub web: bool,
    /// The validators' APIs over HTTPS and the gateways' client ports over WSS, with
    /// certificates of a CA the network makes for itself (`tls/ca.pem` in its directory),
    /// which every process of the network is told to trust. Off with `web` (a browser does
    /// not trust that CA) and for measurements without TLS (`--no-tls`).
    pub tls: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            validators: defaults::VALIDATORS,
            threshold: defaults::THRESHOLD,
            mixnodes_per_layer: defaults::MIXNODES_PER_LAYER,
            gateways: defaults::GATEWAYS,
            clients: defaults::CLIENTS,
            duration: Some(Duration::from_secs(defaults::DURATION_SECS)),
            rate: defaults::RATE,
            message_size: defaults::MESSAGE_SIZE,
            drain: Duration::from_secs(defaults::DRAIN_SECS),
            epoch: Duration::from_millis(defaults::EPOCH_MS),
            key_rotation: Duration::from_secs(defaults::KEY_ROTATION_SECS),
            bandwidth: defaults::BANDWIDTH,
            client_timing: ClientTiming::default(),
            report_json: None,
            keep_dir: false,
            binaries: BinarySource::BesideExecutable,
            log: defaults::LOG.to_owned(),
            progress: true,
            startup_timeout: Duration::from_secs(defaults::STARTUP_TIMEOUT_SECS),
            socks5: false,
            allow: Vec::new(),
            fast: false,
            web: false,
            tls: true,
        }
    }
}

impl Options {
    /// Mixnodes in all.
    pub fn mixnodes(&self) -> usize {
        self.mixnodes_per_layer.saturating_mul(3)
    }

    /// The lines of the requester's allow list: [`Options::allow`], or [`defaults::ALLOW`]
    /// when that is empty (so loopback servers work without any `--allow`).
    pub fn allow_entries(&self) -> Vec<String> {
        if self.allow.is_empty() {
            defaults::ALLOW.iter().map(|e| (*e).to_owned()).collect()
        } else {
            self.allow.clone()
        }
    }

    /// The `run` timing flags of the SOCKS5 client and the requester: `--fast`, or else the
    /// clients' timing.
    pub fn socks5_timing_args(&self) -> Vec<String> {
        if self.fast {
            vec!["--fast".to_owned()]
        } else {
            self.client_timing.args()
        }
    }

    /// Checks every field against the others and the limits.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_shape()?;
        self.validate_traffic()?;
        self.validate_processes()?;
        if self.web && self.tls {
            return Err(Error::options(
                "the browser client (web) needs the network without TLS: a browser does not \
                 trust the network's own CA"
                    .into(),
            ));
        }
        self.validate_socks5()
    }

    /// Validators, threshold, nodes and clients.
    fn validate_shape(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::options(message));
        if !(1..=limits::MAX_VALIDATORS).contains(&self.validators) {
            return bad(format!(
                "--validators must be between 1 and {}",
                limits::MAX_VALIDATORS
            ));
        }
        if !(1..=self.validators).contains(&self.threshold) {
            return bad(format!(
                "--threshold must be between 1 and the number of validators ({})",
                self.validators
            ));
        }
        if !(1..=limits::MAX_MIXNODES_PER_LAYER).contains(&self.mixnodes_per_layer) {
            return bad(format!(
                "--mixnodes-per-layer must be between 1 and {}",
                limits::MAX_MIXNODES_PER_LAYER
            ));
        }
        if !(2..=limits::MAX_GATEWAYS).contains(&self.gateways) {
            return bad(format!(
                "--gateways must be between 2 and {} (traffic goes between clients of \
                 different gateways)",
                limits::MAX_GATEWAYS
            ));
        }
        let proxy_only = self.socks5 && self.clients == 0;
        if !proxy_only && !(2..=limits::MAX_CLIENTS).contains(&self.clients) {
            return bad(format!(
                "--clients must be between 2 and {} (or 0 with --socks5)",
                limits::MAX_CLIENTS
            ));
        }
        Ok(())
    }

    /// Duration, rate, message size, drain, epoch and bandwidth.
    fn validate_traffic(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::options(message));
        if self
            .duration
            .is_some_and(|d| d > Duration::from_secs(limits::MAX_DURATION_SECS))
        {
            return bad(format!(
                "--duration must be at most {} s",
                limits::MAX_DURATION_SECS
            ));
        }
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= limits::MAX_RATE) {
            return bad(format!(
                "--rate must be above 0 and at most {} messages/s",
                limits::MAX_RATE
            ));
        }
        if !(limits::MIN_MESSAGE_SIZE..=limits::MAX_MESSAGE_SIZE).contains(&self.message_size) {
            return bad(format!(
                "--message-size must be between {} and {} bytes",
                limits::MIN_MESSAGE_SIZE,
                limits::MAX_MESSAGE_SIZE
            ));
        }
        if self.drain > Duration::from_secs(limits::MAX_DRAIN_SECS) {
            return bad(format!(
                "--drain must be at most {} s",
                limits::MAX_DRAIN_SECS
            ));
        }
        if self.epoch < Duration::from_millis(limits::MIN_EPOCH_MS)
            || self.epoch > Duration::from_secs(3600)
        {
            return bad(format!(
                "--epoch-ms must be between {} and 3600000",
                limits::MIN_EPOCH_MS
            ));
        }
        let (epoch_ms, rotation_ms) = (self.epoch.as_millis(), self.key_rotation.as_millis());
        if self.key_rotation < Duration::from_secs(limits::MIN_KEY_ROTATION_SECS)
            || epoch_ms == 0
            || rotation_ms % epoch_ms != 0
        {
            return bad(format!(
                "--key-rotation-secs must be at least {} and a whole number of epochs                  ({epoch_ms} ms; choose --epoch-ms to divide it)",
                limits::MIN_KEY_ROTATION_SECS
            ));
        }
        if !(1..=limits::MAX_BANDWIDTH).contains(&self.bandwidth) {
            return bad(format!(
                "--bandwidth must be between 1 and {} bytes",
                limits::MAX_BANDWIDTH
            ));
        }
        Ok(())
    }

    /// What the processes are started with: client timing, log filter, start-up time.
    fn validate_processes(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::options(message));
        for (flag, value) in [
            ("--send-gap-ms", self.client_timing.send_gap_ms),
            ("--loop-cover-gap-ms", self.client_timing.loop_cover_gap_ms),
            ("--per-hop-delay-ms", self.client_timing.per_hop_delay_ms),
        ] {
            if let Some(v) = value {
                if !(v.is_finite() && (0.0..=60_000.0).contains(&v)) {
                    return bad(format!("{flag} must be between 0 and 60000"));
                }
            }
        }
        if self.client_timing.send_gap_ms == Some(0.0) {
            return bad("--send-gap-ms must be above 0".into());
        }
        if self.log.is_empty() || self.log.chars().any(char::is_control) {
            return bad("--log must be a RUST_LOG filter".into());
        }
        if self.startup_timeout < Duration::from_secs(5) {
            return bad("--startup-timeout must be at least 5 s".into());
        }
        Ok(())
    }

    /// The SOCKS5 pair's flags and the requester's allow list.
    fn validate_socks5(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::options(message));
        if !self.socks5 && !self.allow.is_empty() {
            return bad("--allow needs --socks5".into());
        }
        if !self.socks5 && self.fast {
            return bad("--fast needs --socks5".into());
        }
        if self.allow.len() > limits::MAX_ALLOW_ENTRIES {
            return bad(format!(
                "--allow may be given at most {} times",
                limits::MAX_ALLOW_ENTRIES
            ));
        }
        for entry in &self.allow {
            // One line of the allow-list file each: no blank entry, no line break, no
            // comment (the requester parses the entries themselves).
            let one_line = !entry.is_empty()
                && entry.len() <= limits::MAX_ALLOW_ENTRY_LEN
                && !entry.contains('#')
                && !entry.chars().any(|c| c.is_whitespace() || c.is_control());
            if !one_line {
                return bad(format!(
                    "--allow {entry:?}: an entry is a domain, `*.domain`, an IP address or a \
                     CIDR range, without spaces or `#`, at most {} characters",
                    limits::MAX_ALLOW_ENTRY_LEN
                ));
            }
        }
        Ok(())
    }
}

/// The command-line form of [`Options`] (`bench localnet --help`).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Validators (threshold-signing the topology, issuing credentials).
    #[arg(long, default_value_t = defaults::VALIDATORS)]
    pub validators: usize,
    /// Validator signatures and credential shares needed.
    #[arg(long, default_value_t = defaults::THRESHOLD)]
    pub threshold: usize,
    /// Mixnodes in each of the three layers.
    #[arg(long, default_value_t = defaults::MIXNODES_PER_LAYER)]
    pub mixnodes_per_layer: usize,
    /// Gateways (at least 2: traffic goes between clients of different gateways).
    #[arg(long, default_value_t = defaults::GATEWAYS)]
    pub gateways: usize,
    /// Clients, assigned to the gateways in turn.
    #[arg(long, default_value_t = defaults::CLIENTS)]
    pub clients: usize,
    /// Seconds of sending; 0 sends until Ctrl-C.
    #[arg(long, default_value_t = defaults::DURATION_SECS)]
    pub duration: u64,
    /// Messages per second each client sends.
    #[arg(long, default_value_t = defaults::RATE)]
    pub rate: f64,
    /// Bytes per message.
    #[arg(long, default_value_t = defaults::MESSAGE_SIZE)]
    pub message_size: usize,
    /// Longest wait, in seconds, for messages in flight once sending stops (ends early once
    /// everything arrived).
    #[arg(long, default_value_t = defaults::DRAIN_SECS)]
    pub drain: u64,
    /// Epoch length of the local chain, in milliseconds (default 4000, or with
    /// --key-rotation-secs the longest of 2000-4000 that divides the rotation).
    #[arg(long)]
    pub epoch_ms: Option<u64>,
    /// Sphinx key rotation length, in seconds (a whole number of epochs; default an hour).
    /// Short rotations show keys changing under traffic: each node announces its next key on
    /// the chain and switches at the boundary, keeping the previous key for an overlap of
    /// half a rotation (at most ten minutes).
    #[arg(long)]
    pub key_rotation_secs: Option<u64>,
    /// Bandwidth, in bytes, each client buys with a credential.
    #[arg(long, default_value_t = defaults::BANDWIDTH)]
    pub bandwidth: u64,
    /// Client `--send-gap-ms` (default: the client's).
    #[arg(long)]
    pub send_gap_ms: Option<f64>,
    /// Client `--loop-cover-gap-ms` (default: the client's).
    #[arg(long)]
    pub loop_cover_gap_ms: Option<f64>,
    /// Client `--per-hop-delay-ms` (default: the client's).
    #[arg(long)]
    pub per_hop_delay_ms: Option<f64>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// Keep the temporary directory (configs, keys, logs) after a clean run too.
    #[arg(long)]
    pub keep_dir: bool,
    /// Use the binaries beside this one as they are, without `cargo build`.
    #[arg(long, conflicts_with = "bin_dir")]
    pub no_build: bool,
    /// Take validator, mixnode, gateway and client from this directory (no build).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// RUST_LOG of the processes started (their logs are files in the temporary directory).
    #[arg(long, default_value = defaults::LOG)]
    pub log: String,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Longest start-up, in seconds.
    #[arg(long, default_value_t = defaults::STARTUP_TIMEOUT_SECS)]
    pub startup_timeout: u64,
    /// Also start a network requester and a SOCKS5 client (each on its own gateway) and print
    /// the proxy's address (`curl --socks5-hostname ADDRESS http://...`); with --clients 0
    /// only the proxy runs (add --duration 0 to keep it until Ctrl-C).
    #[arg(long)]
    pub socks5: bool,
    /// An entry of the network requester's allow list: a domain, `*.domain`, an IP address or
    /// a CIDR range (repeat; with --socks5; default: 127.0.0.1 and localhost).
    #[arg(long = "allow", value_name = "ENTRY")]
    pub allow: Vec<String>,
    /// Run the SOCKS5 client and the network requester with `--fast` (small delays, for
    /// measurements; with --socks5); the clients keep their timing.
    #[arg(long)]
    pub fast: bool,
    /// Also serve the browser client (WebAssembly, built by client-wasm/build when missing)
    /// and its demo chat page on loopback, with funded test accounts, and print its URL
    /// (`Web client: http://127.0.0.1:PORT/`); add --duration 0 to keep it until Ctrl-C.
    #[arg(long)]
    pub web: bool,
    /// Plain HTTP and websockets instead of HTTPS and WSS between the network's processes
    /// (for measurements; --web implies it: a browser would not trust the network's own CA).
    #[arg(long)]
    pub no_tls: bool,
}

impl Args {
    /// `--epoch-ms`, or its default: with `--key-rotation-secs`, the longest epoch between
    /// the shortest allowed and the default that divides the rotation.
    fn epoch_ms(&self) -> u64 {
        if let Some(epoch) = self.epoch_ms {
            return epoch;
        }
        let Some(rotation_ms) = self.key_rotation_secs.map(|s| s.saturating_mul(1000)) else {
            return defaults::EPOCH_MS;
        };
        (limits::MIN_EPOCH_MS..=defaults::EPOCH_MS)
            .rev()
            .find(|e| rotation_ms % e == 0)
            .unwrap_or(defaults::EPOCH_MS)
    }

    /// The options these arguments describe, validated.
    pub fn to_options(&self) -> Result<Options, Error> {
        let options = Options {
            validators: self.validators,
            threshold: self.threshold,
            mixnodes_per_layer: self.mixnodes_per_layer,
            gateways: self.gateways,
            clients: self.clients,
            duration: (self.duration > 0).then(|| Duration::from_secs(self.duration)),
            rate: self.rate,
            message_size: self.message_size,
            drain: Duration::from_secs(self.drain),
            epoch: Duration::from_millis(self.epoch_ms()),
            key_rotation: Duration::from_secs(
                self.key_rotation_secs
                    .unwrap_or(defaults::KEY_ROTATION_SECS),
            ),
            bandwidth: self.bandwidth,
            client_timing: ClientTiming {
                send_gap_ms: self.send_gap_ms,
                loop_cover_gap_ms: self.loop_cover_gap_ms,
                per_hop_delay_ms: self.per_hop_delay_ms,
            },
            report_json: self.report_json.clone(),
            keep_dir: self.keep_dir,
            binaries: match (&self.bin_dir, self.no_build) {
                (Some(dir), _) => BinarySource::Directory(dir.clone()),
                (None, true) => BinarySource::BesideExecutableNoBuild,
                (None, false) => BinarySource::BesideExecutable,
            },
            log: self.log.clone(),
            progress: !self.quiet,
            startup_timeout: Duration::from_secs(self.startup_timeout),
            socks5: self.socks5,
            allow: self.allow.clone(),
            fast: self.fast,
            web: self.web,
            tls: !self.no_tls && !self.web,
        };
        options.validate()?;
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(args: &[&str]) -> Result<Options, Error> {
        let mut all = vec!["localnet"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .map_err(|e| Error::options(e.to_string()))?
            .args
            .to_options()
    }

    #[test]
    fn tls_is_on_unless_turned_off_or_the_browser_client_runs() {
        assert!(parse(&[]).unwrap().tls);
        assert!(!parse(&["--no-tls"]).unwrap().tls);
        assert!(!parse(&["--web"]).unwrap().tls);
        let both = Options {
            web: true,
            ..Options::default()
        };
        let e = both.validate().unwrap_err().to_string();
        assert!(e.contains("without TLS"), "{e}");
    }

    #[test]
    fn the_command_line_defaults_are_the_library_defaults() {
        assert_eq!(parse(&[]).unwrap(), Options::default());
        Options::default().validate().unwrap();
        assert_eq!(Options::default().mixnodes(), 6);
    }

    #[test]
    fn a_short_rotation_picks_an_epoch_that_divides_it() {
        let o = parse(&["--key-rotation-secs", "10"]).unwrap();
        assert_eq!(o.key_rotation, Duration::from_secs(10));
        assert_eq!(o.epoch, Duration::from_millis(2_500));
        let o = parse(&["--key-rotation-secs", "60"]).unwrap();
        assert_eq!(o.epoch, Duration::from_millis(4_000));
        let err = parse(&["--key-rotation-secs", "10", "--epoch-ms", "3000"]).unwrap_err();
        assert!(err.to_string().contains("--key-rotation-secs"), "{err}");
        assert!(parse(&["--key-rotation-secs", "3"]).is_err());
    }

    #[test]
    fn zero_duration_runs_until_interrupted() {
        let o = parse(&["--duration", "0", "--rate", "2.5", "--message-size", "80"]).unwrap();
        assert_eq!(o.duration, None);
        assert_eq!(o.rate, 2.5);
    }

    #[test]
    fn binaries_come_from_the_flags() {
        assert_eq!(
            parse(&["--no-build"]).unwrap().binaries,
            BinarySource::BesideExecutableNoBuild
        );
        assert_eq!(
            parse(&["--bin-dir", "/x"]).unwrap().binaries,
            BinarySource::Directory("/x".into())
        );
        assert!(parse(&["--bin-dir", "/x", "--no-build"]).is_err());
    }

    #[test]
    fn client_timing_becomes_run_flags_only_when_set() {
        assert!(ClientTiming::default().args().is_empty());
        let o = parse(&["--per-hop-delay-ms", "0", "--send-gap-ms", "5.5"]).unwrap();
        assert_eq!(
            o.client_timing.args(),
            ["--send-gap-ms", "5.5", "--per-hop-delay-ms", "0"]
        );
    }

    #[test]
    fn impossible_shapes_are_refused_with_the_flag_named() {
        for (args, flag) in [
            (&["--threshold", "5"][..], "--threshold"),
            (&["--threshold", "0"][..], "--threshold"),
            (&["--validators", "0"][..], "--validators"),
            (&["--gateways", "1"][..], "--gateways"),
            (&["--clients", "1"][..], "--clients"),
            (&["--mixnodes-per-layer", "0"][..], "--mixnodes-per-layer"),
            (&["--rate", "0"][..], "--rate"),
            (&["--rate", "NaN"][..], "--rate"),
            (&["--message-size", "79"][..], "--message-size"),
            (&["--epoch-ms", "1999"][..], "--epoch-ms"),
            (&["--drain", "601"][..], "--drain"),
            (&["--bandwidth", "0"][..], "--bandwidth"),
            (&["--send-gap-ms=-1"][..], "--send-gap-ms"),
            (&["--send-gap-ms", "0"][..], "--send-gap-ms"),
            (&["--duration", "604801"][..], "--duration"),
            (&["--startup-timeout", "1"][..], "--startup-timeout"),
            (&["--clients", "0"][..], "--clients"),
            (&["--socks5", "--clients", "1"][..], "--clients"),
            (&["--allow", "127.0.0.1"][..], "--allow"),
            (&["--fast"][..], "--fast"),
            (&["--socks5", "--allow", ""][..], "--allow"),
            (
                &["--socks5", "--allow", "a.example b.example"][..],
                "--allow",
            ),
            (&["--socks5", "--allow", "a.example\n*"][..], "--allow"),
            (&["--socks5", "--allow", "# all"][..], "--allow"),
        ] {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{args:?}: {error}");
        }
    }

    #[test]
    fn socks5_defaults_to_loopback_and_keeps_the_clients_timing() {
        let o = parse(&["--socks5", "--send-gap-ms", "20"]).unwrap();
        assert!(o.socks5 && !o.fast);
        assert!(o.allow.is_empty());
        assert_eq!(o.allow_entries(), ["127.0.0.1", "localhost"]);
        assert_eq!(o.socks5_timing_args(), ["--send-gap-ms", "20"]);
        assert!(!Options::default().socks5);
    }

    #[test]
    fn socks5_takes_allow_entries_fast_and_no_clients() {
        let o = parse(&[
            "--socks5",
            "--allow",
            "*.example.com",
            "--allow",
            "10.0.0.0/8",
            "--fast",
            "--send-gap-ms",
            "20",
            "--clients",
            "0",
        ])
        .unwrap();
        assert_eq!(o.allow_entries(), ["*.example.com", "10.0.0.0/8"]);
        // --fast replaces the pair's timing flags; the clients keep theirs.
        assert_eq!(o.socks5_timing_args(), ["--fast"]);
        assert_eq!(o.client_timing.args(), ["--send-gap-ms", "20"]);
        assert_eq!(o.clients, 0);
        let too_many = Options {
            socks5: true,
            allow: vec!["127.0.0.1".to_owned(); limits::MAX_ALLOW_ENTRIES + 1],
            ..Options::default()
        };
        assert!(too_many
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--allow"));
    }
}
