//! The `client` command: `init` and `run` (see the crate docs and README).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client::native::cli::{main_with, print_initialised, InitArgs, TimingArgs};
use client::native::error::NativeError;
use client::native::files::ClientPaths;
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
    Init(InitArgs),
    /// Run a client.
    Run {
        /// The client's name.
        #[arg(long)]
        id: String,
        /// App websocket address.
        #[arg(long, default_value = "127.0.0.1:1977")]
        listen: SocketAddr,
        #[command(flatten)]
        timing: TimingArgs,
    },
}

async fn main_async(cli: Cli) -> Result<(), NativeError> {
    let home = validator_core::files::resolve_home(cli.home.as_deref())?;
    match cli.command {
        Command::Init(args) => {
            let (_, done) = args.run(&home).await?;
            print_initialised(&done)
        }
        Command::Run { id, listen, timing } => {
            let paths = ClientPaths::new(&home, &id)?;
            let driver = timing.driver_options()?;
            let options = RunOptions {
                listen,
                core: driver.core,
                topology_refresh: driver.topology_refresh,
            };
            run(&paths, options).await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    main_with(main_async(cli))
}
