//! The `bench` command: measurements that compare this project with its reference in one run.
//!
//! - `bench unwrap [--json]`: Sphinx unwrapping on one core against `sphinx-packet`.
//! - `bench router [--json]`: a mixnode shard against the Nym-style baseline, same core, same
//!   load.
//! - `bench localnet [--report-json PATH]`: a whole local mixnet as processes on loopback,
//!   traffic between its clients, and a report (see the `testnet` crate).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bench", about = "Benchmarks for the mixnet engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sphinx unwrap: sphinx-packet process() vs in-place vs batched, and X25519 alone.
    Unwrap {
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Interleaved measurement rounds per variant.
        #[arg(long, default_value_t = 9)]
        rounds: usize,
        /// Length of one round, in milliseconds.
        #[arg(long, default_value_t = 300)]
        slice_ms: u64,
    },
    /// A mixnode shard vs the Nym-style baseline router: max rate, latency, CPU, a flood,
    /// memory.
    Router {
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 2.0)]
        duration_secs: f64,
        /// CPU of the router under test.
        #[arg(long, default_value_t = 0)]
        router_core: usize,
        /// CPU of the load generator and the sink.
        #[arg(long, default_value_t = 1)]
        load_core: usize,
        /// Measure only router-core.
        #[arg(long)]
        skip_baseline: bool,
        /// Packets held in the wheel for the memory measurement (0 skips it).
        #[arg(long, default_value_t = 100_000)]
        held: usize,
        /// Measure router-core once per batch linger (µs, comma-separated; the mixnode's
        /// `engine.batch_linger_us`), the first as the headline; default: the node's default.
        #[arg(long, value_delimiter = ',')]
        linger_us: Vec<u64>,
        /// Measure router-core once per busy-poll setting (µs, comma-separated; the
        /// mixnode's `engine.busy_poll_us`), each with every `--linger-us`; default: the
        /// node's default.
        #[arg(long, value_delimiter = ',')]
        busy_poll_us: Vec<u64>,
        /// Load points to measure after 50% and 90%, in percent of the maximum
        /// (comma-separated, each above 0 and at most 150), e.g. `70,80` to find the knee.
        #[arg(long, value_delimiter = ',')]
        extra_loads: Vec<f64>,
        /// Measure the maximum again, flat out for a phase, right before each load point and
        /// take the point's rate from it (this machine's speed drifts within seconds).
        #[arg(long)]
        max_before_each_load: bool,
        /// Packets of the flood measured after the load points (0 skips it): zero-delay
        /// packets written as fast as the router takes them over `--flood-connections`.
        #[arg(long, default_value_t = 60_000)]
        flood_packets: usize,
        /// Connections the flood is written over.
        #[arg(long, default_value_t = 4)]
        flood_connections: usize,
        /// Also measure router-core with Noise links (the generator's link in, the sink's
        /// out), for the ratio to the plain run of the same invocation.
        #[arg(long)]
        noise: bool,
    },
    /// A whole local mixnet (validators, mixnodes, gateways, clients) as processes on
    /// loopback, messages between clients of different gateways, and a report.
    Localnet(testnet::Args),
    /// Four validators on the BFT chain as processes on loopback: committed statements and
    /// spends per second, submission to decision, catch-up, refusals with 20,000 pending.
    Chain {
        /// Print the report as JSON as well.
        #[arg(long)]
        json: bool,
        /// Bond statements to commit.
        #[arg(long, default_value_t = 4_000)]
        statements: usize,
        /// Credentials to spend.
        #[arg(long, default_value_t = 200)]
        spends: usize,
        /// Seconds one validator stays down before it catches up.
        #[arg(long, default_value_t = 60)]
        downtime_secs: u64,
    },
    /// (internal) Runs the Nym-style baseline router; `bench router` starts it.
    #[command(hide = true)]
    BaselineRouter {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        cpu: usize,
        #[arg(long)]
        secret_file: std::path::PathBuf,
    },
}

fn chain(json: bool, options: &bench::chain::Options) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(bench::chain::run(options))?;
    print!("{}", bench::chain::to_text(&report));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, result) = match cli.command {
        Command::Unwrap {
            json,
            rounds,
            slice_ms,
        } => ("unwrap", unwrap(json, rounds, slice_ms)),
        Command::Router {
            json,
            duration_secs,
            router_core,
            load_core,
            skip_baseline,
            held,
            linger_us,
            busy_poll_us,
            extra_loads,
            max_before_each_load,
            flood_packets,
            flood_connections,
            noise,
        } => {
            let checked = check_router_flags(duration_secs, &extra_loads);
            let run = checked.and_then(|()| {
                let options = bench::router::Options {
                    router_cpu: router_core,
                    load_cpu: load_core,
                    phase: Duration::from_secs_f64(duration_secs),
                    skip_baseline,
                    held,
                    linger_us,
                    busy_poll_us,
                    extra_loads: extra_loads.iter().map(|l| l / 100.0).collect(),
                    max_before_each_load,
                    flood_packets,
                    flood_connections,
                    noise,
                };
                router(json, &options)
            });
            ("router", run)
        }
        Command::Localnet(args) => return localnet(&args),
        Command::Chain {
            json,
            statements,
            spends,
            downtime_secs,
        } => {
            let options = bench::chain::Options {
                statements,
                spends,
                downtime: Duration::from_secs(downtime_secs),
                ..bench::chain::Options::default()
            };
            ("chain", chain(json, &options))
        }
        Command::BaselineRouter {
            listen,
            cpu,
            secret_file,
        } => (
            "baseline-router",
            baseline_router(listen, cpu, &secret_file),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn unwrap(json: bool, rounds: usize, slice_ms: u64) -> Result<(), String> {
    let options = bench::unwrap::Options {
        rounds: rounds.max(1),
        slice: Duration::from_millis(slice_ms.max(1)),
    };
    let report = bench::unwrap::run(&options)?;
    if json {
        println!("{}", to_json(&report)?);
    } else {
        bench::unwrap::print(&report, &options);
    }
    Ok(())
}

fn check_router_flags(duration_secs: f64, extra_loads: &[f64]) -> Result<(), String> {
    if !(0.2..=600.0).contains(&duration_secs) {
        return Err("--duration-secs must be between 0.2 and 600".into());
    }
    if let Some(bad) = extra_loads.iter().find(|l| !(**l > 0.0 && **l <= 150.0)) {
        return Err(format!("--extra-loads {bad} is not in (0, 150]"));
    }
    Ok(())
}

fn router(json: bool, options: &bench::router::Options) -> Result<(), String> {
    let report = bench::router::run(options)?;
    if json {
        println!("{}", to_json(&report)?);
    } else {
        bench::router::print(&report);
    }
    Ok(())
}

fn to_json(report: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(report).map_err(|e| e.to_string())
}

fn localnet(args: &testnet::Args) -> ExitCode {
    let options = match args.to_options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench localnet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench localnet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(testnet::run(&options)) {
        Ok(report) => {
            print!("{}", report.to_text());
            if let Some(path) = &options.report_json {
                eprintln!("bench localnet: report written to {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench localnet: {e}");
            ExitCode::FAILURE
        }
    }
}

fn baseline_router(
    listen: std::net::SocketAddr,
    cpu: usize,
    secret_file: &std::path::Path,
) -> Result<(), String> {
    let text = std::fs::read_to_string(secret_file).map_err(|e| e.to_string())?;
    let mut secret = [0u8; 32];
    match bs58::decode(text.trim()).onto(&mut secret) {
        Ok(32) => {}
        _ => return Err(format!("{}: not a key file", secret_file.display())),
    }
    // Pin before the runtime starts, so every tokio thread inherits the mask.
    bench::affinity::pin_current_thread(cpu)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(bench::baseline::serve(listen, secret, |addr| {
            println!("listening {addr}");
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }))
        .map_err(|e| e.to_string())
}
