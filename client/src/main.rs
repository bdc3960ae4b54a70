//! The `client` command: `init` and `run` (see the crate docs and README).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use client::core::CoreConfig;
use client::native::files::ClientPaths;
use client::native::init::{init, InitOptions};
use client::native::run::{run, RunOptions};

#[derive(Parser)]
#[command(
    name = "client",
    about = "The mixnet client: apps talk to it over a websocket"
)]
struct Cli {
    /// Home directory (default: $MIXNET_HOME, else ~/.mixnet).
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a client: keys, a gateway, registration, optionally bandwidth.
    Init {
        /// The client's name.
        #[arg(long)]
        id: String,
        /// A validator API URL (repeat for each).
        #[arg(long = "validator", required = true)]
        validators: Vec<String>,
        /// The gateway's identity key; chosen from the topology when absent.
        #[arg(long)]
        gateway: Option<String>,
        /// A funded genesis account's key file, to buy a bandwidth credential.
        #[arg(long)]
        account_key: Option<PathBuf>,
        /// Bandwidth to buy, bytes.
        #[arg(long, default_value_t = 1 << 30)]
        bandwidth: u64,
    },
    /// Run a client.
    Run {
        /// The client's name.
        #[arg(long)]
        id: String,
        /// App websocket address.
        #[arg(long, default_value = "127.0.0.1:1977")]
        listen: SocketAddr,
        /// Mean gap of the real-traffic stream, milliseconds.
        #[arg(long, default_value_t = 20.0)]
        send_gap_ms: f64,
        /// Mean gap of the loop cover stream, milliseconds (0 turns it off).
        #[arg(long, default_value_t = 200.0)]
        loop_cover_gap_ms: f64,
        /// Mean gap of the drop cover stream, milliseconds (0, the default, turns it off).
        #[arg(long, default_value_t = 0.0)]
        drop_cover_gap_ms: f64,
        /// Mean delay per mix hop, milliseconds.
        #[arg(long, default_value_t = 15.0)]
        per_hop_delay_ms: f64,
        /// Send nothing in idle real-traffic slots (no cover there; for measurements only).
        #[arg(long)]
        no_idle_cover: bool,
        /// Seconds between topology refreshes.
        #[arg(long, default_value_t = 30)]
        topology_refresh_secs: u64,
    },
}

fn ms(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value / 1000.0)
        .map_err(|_| format!("--{flag} must be a non-negative number of milliseconds"))
}

fn optional_ms(value: f64, flag: &str) -> Result<Option<Duration>, String> {
    Ok(Some(ms(value, flag)?).filter(|d| !d.is_zero()))
}

async fn main_async(cli: Cli) -> Result<(), String> {
    let home = validator::files::resolve_home(cli.home.as_deref())?;
    match cli.command {
        Command::Init {
            id,
            validators,
            gateway,
            account_key,
            bandwidth,
        } => {
            let paths = ClientPaths::new(&home, &id)?;
            let done = init(
                &paths,
                &id,
                InitOptions {
                    validators,
                    gateway,
                    account_key: account_key.clone(),
                    bandwidth,
                },
            )
            .await?;
            if account_key.is_none() && done.bandwidth == 0 {
                eprintln!(
                    "note: no bandwidth; pass --account-key to buy some, unless the gateway runs \
                     with --free-bandwidth-for-testing"
                );
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&done).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Run {
            id,
            listen,
            send_gap_ms,
            loop_cover_gap_ms,
            drop_cover_gap_ms,
            per_hop_delay_ms,
            no_idle_cover,
            topology_refresh_secs,
        } => {
            let paths = ClientPaths::new(&home, &id)?;
            let send_gap = ms(send_gap_ms, "send-gap-ms")?;
            if send_gap.is_zero() {
                return Err("--send-gap-ms must be positive".into());
            }
            let core = CoreConfig {
                send_gap,
                loop_cover_gap: optional_ms(loop_cover_gap_ms, "loop-cover-gap-ms")?,
                drop_cover_gap: optional_ms(drop_cover_gap_ms, "drop-cover-gap-ms")?,
                per_hop_delay: ms(per_hop_delay_ms, "per-hop-delay-ms")?,
                cover_in_idle_slots: !no_idle_cover,
                ..CoreConfig::default()
            };
            run(
                &paths,
                RunOptions {
                    listen,
                    core,
                    topology_refresh: Duration::from_secs(topology_refresh_secs.max(1)),
                },
            )
            .await
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
    match runtime.block_on(main_async(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
