//! What the three client binaries (`client`, `socks5-client`, `network-requester`) share on
//! their command lines: `init`'s arguments, the traffic timing flags, and the process setup
//! (logging to stderr, the tokio runtime, errors as exit codes).

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::driver::DriverOptions;
use super::error::NativeError;
use super::files::ClientPaths;
use super::init::{init, InitOptions, Initialised};
use crate::core::CoreConfig;

/// `init`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct InitArgs {
    /// The client's name.
    #[arg(long)]
    pub id: String,
    /// A validator API URL (repeat for each).
    #[arg(long = "validator", required = true)]
    pub validators: Vec<String>,
    /// The gateway's identity key; chosen from the topology when absent.
    #[arg(long)]
    pub gateway: Option<String>,
    /// A funded genesis account's key file, to buy a bandwidth credential.
    #[arg(long)]
    pub account_key: Option<PathBuf>,
    /// Bandwidth to buy, bytes.
    #[arg(long, default_value_t = 1 << 30)]
    pub bandwidth: u64,
    /// The chain's genesis hash (hex), from a source you trust: the genesis the validators
    /// serve is checked against it instead of being trusted on first use.
    #[arg(long)]
    pub genesis_hash: Option<validator_core::genesis::GenesisHash>,
    /// A CA certificate (PEM) to trust for `https://` validators and a `wss://` gateway,
    /// besides the platform's roots; repeat for several.
    #[arg(long = "ca-file")]
    pub ca_files: Vec<PathBuf>,
}

impl InitArgs {
    /// Creates the client: keys, gateway, registration, bandwidth.
    pub async fn run(
        &self,
        home: &std::path::Path,
    ) -> Result<(ClientPaths, Initialised), NativeError> {
        let paths = ClientPaths::new(home, &self.id)?;
        let done = init(
            &paths,
            &self.id,
            InitOptions {
                validators: self.validators.clone(),
                gateway: self.gateway.clone(),
                account_key: self.account_key.clone(),
                bandwidth: self.bandwidth,
                genesis_hash: self.genesis_hash,
                ca_files: self.ca_files.clone(),
            },
        )
        .await?;
        if self.account_key.is_none() && done.bandwidth == 0 {
            eprintln!(
                "note: no bandwidth; pass --account-key to buy some, unless the gateway runs \
                 with --free-bandwidth-for-testing"
            );
        }
        Ok((paths, done))
    }
}

/// Prints what `init` did, as JSON on stdout.
pub fn print_initialised(done: &Initialised) -> Result<(), NativeError> {
    let json = serde_json::to_string_pretty(done).map_err(|e| NativeError::Encode {
        what: "what init did",
        source: Box::new(e),
    })?;
    println!("{json}");
    Ok(())
}

/// Traffic timing flags of `run`.
#[derive(clap::Args, Debug, Clone)]
pub struct TimingArgs {
    /// Mean gap of the real-traffic stream, milliseconds [default: 20; 5 with --fast].
    #[arg(long)]
    pub send_gap_ms: Option<f64>,
    /// Mean gap of the loop cover stream, milliseconds, 0 turns it off [default: 200; 500
    /// with --fast].
    #[arg(long)]
    pub loop_cover_gap_ms: Option<f64>,
    /// Mean gap of the drop cover stream, milliseconds (0, the default, turns it off).
    #[arg(long, default_value_t = 0.0)]
    pub drop_cover_gap_ms: f64,
    /// Mean delay per mix hop, milliseconds [default: 15; 1 with --fast].
    #[arg(long)]
    pub per_hop_delay_ms: Option<f64>,
    /// Small delays, for measurements: 5 ms send gap, 1 ms per hop, 500 ms loop cover.
    /// Weaker anonymity; the explicit flags above override it.
    #[arg(long)]
    pub fast: bool,
    /// Send nothing in idle real-traffic slots (no cover there; for measurements only).
    #[arg(long)]
    pub no_idle_cover: bool,
    /// Seconds between topology refreshes.
    #[arg(long, default_value_t = 30)]
    pub topology_refresh_secs: u64,
}

fn ms(value: f64, flag: &'static str) -> Result<Duration, NativeError> {
    Duration::try_from_secs_f64(value / 1000.0).map_err(|_| NativeError::Flag {
        flag,
        requirement: "a non-negative number of milliseconds",
    })
}

impl TimingArgs {
    /// The driver's settings these flags describe.
    pub fn driver_options(&self) -> Result<DriverOptions, NativeError> {
        let (gap, cover, hop) = if self.fast {
            (5.0, 500.0, 1.0)
        } else {
            (20.0, 200.0, 15.0)
        };
        let send_gap = ms(self.send_gap_ms.unwrap_or(gap), "send-gap-ms")?;
        if send_gap.is_zero() {
            return Err(NativeError::Flag {
                flag: "send-gap-ms",
                requirement: "positive",
            });
        }
        let optional =
            |v: f64, flag| Ok::<_, NativeError>(Some(ms(v, flag)?).filter(|d| !d.is_zero()));
        let core = CoreConfig {
            send_gap,
            loop_cover_gap: optional(self.loop_cover_gap_ms.unwrap_or(cover), "loop-cover-gap-ms")?,
            drop_cover_gap: optional(self.drop_cover_gap_ms, "drop-cover-gap-ms")?,
            per_hop_delay: ms(self.per_hop_delay_ms.unwrap_or(hop), "per-hop-delay-ms")?,
            cover_in_idle_slots: !self.no_idle_cover,
            ..CoreConfig::default()
        };
        Ok(DriverOptions {
            core,
            topology_refresh: Duration::from_secs(self.topology_refresh_secs.max(1)),
        })
    }
}

/// Runs `main` on a tokio runtime with logs (level from `RUST_LOG`, default info) on stderr;
/// an error is printed (its `Display`) and becomes exit code 1.
pub fn main_with<F, E>(main: F) -> ExitCode
where
    F: Future<Output = Result<(), E>>,
    E: Display,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        timing: TimingArgs,
    }

    fn options(args: &[&str]) -> Result<DriverOptions, String> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.timing.driver_options().map_err(|e| e.to_string())
    }

    #[test]
    fn fast_sets_small_delays_and_explicit_flags_win() {
        let default = options(&[]).unwrap().core;
        assert_eq!(default.send_gap, Duration::from_millis(20));
        assert_eq!(default.per_hop_delay, Duration::from_millis(15));
        let fast = options(&["--fast"]).unwrap().core;
        assert_eq!(fast.send_gap, Duration::from_millis(5));
        assert_eq!(fast.per_hop_delay, Duration::from_millis(1));
        assert_eq!(fast.loop_cover_gap, Some(Duration::from_millis(500)));
        let mixed = options(&[
            "--fast",
            "--per-hop-delay-ms",
            "3",
            "--loop-cover-gap-ms",
            "0",
        ])
        .unwrap()
        .core;
        assert_eq!(mixed.per_hop_delay, Duration::from_millis(3));
        assert_eq!(mixed.loop_cover_gap, None);
        assert!(options(&["--send-gap-ms", "0"]).is_err());
        assert!(options(&["--per-hop-delay-ms=-1"]).is_err());
        assert_eq!(
            options(&["--send-gap-ms", "0"]).unwrap_err(),
            "--send-gap-ms must be positive"
        );
        assert_eq!(
            options(&["--per-hop-delay-ms=-1"]).unwrap_err(),
            "--per-hop-delay-ms must be a non-negative number of milliseconds"
        );
    }
}
