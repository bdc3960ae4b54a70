//! The `socks5-client` command: a local SOCKS5/SOCKS4a proxy whose connections go through
//! the mixnet to a network requester (see `client::native::socks5` and README).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client::core::Recipient;
use client::native::cli::{main_with, print_initialised, InitArgs, TimingArgs};
use client::native::error::NativeError;
use client::native::files::ClientPaths;
use client::native::socks5::{run, Socks5Options};
use client::socks::handshake::Auth;

#[derive(Parser)]
#[command(
    name = "socks5-client",
    about = "A SOCKS5 proxy over the mixnet: existing apps, unchanged"
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
    /// Create the proxy's mixnet client and choose its network requester.
    Init {
        #[command(flatten)]
        init: InitArgs,
        /// The network requester's address (identity.encryption@gateway).
        #[arg(long)]
        provider: String,
    },
    /// Run the proxy.
    Run {
        /// The client's name.
        #[arg(long)]
        id: String,
        /// Where apps connect.
        #[arg(long, default_value = "127.0.0.1:1080")]
        listen: SocketAddr,
        /// Another network requester than the one chosen at init.
        #[arg(long)]
        provider: Option<String>,
        /// Require this username from apps (with --password).
        #[arg(long, requires = "password")]
        username: Option<String>,
        /// Require this password from apps (with --username).
        #[arg(long, requires = "username")]
        password: Option<String>,
        #[command(flatten)]
        timing: TimingArgs,
    },
}

/// The file beside the client's config that names its network requester.
fn provider_file(paths: &ClientPaths) -> PathBuf {
    paths.dir().join("provider")
}

/// `--provider`'s value.
fn parse_provider(text: &str) -> Result<Recipient, NativeError> {
    text.trim()
        .parse::<Recipient>()
        .map_err(NativeError::ProviderFlag)
}

/// The network requester chosen at init.
fn read_provider(path: &Path) -> Result<Recipient, NativeError> {
    let text = std::fs::read_to_string(path).map_err(NativeError::io("reading", path))?;
    text.trim()
        .parse::<Recipient>()
        .map_err(|source| NativeError::ProviderFile {
            path: path.to_path_buf(),
            source,
        })
}

async fn main_async(cli: Cli) -> Result<(), NativeError> {
    let home = validator_core::files::resolve_home(cli.home.as_deref())?;
    match cli.command {
        Command::Init { init, provider } => {
            // Checked before anything is created.
            let recipient = parse_provider(&provider)?;
            let (paths, done) = init.run(&home).await?;
            let file = provider_file(&paths);
            std::fs::write(&file, format!("{recipient}\n"))
                .map_err(NativeError::io("writing", &file))?;
            print_initialised(&done)
        }
        Command::Run {
            id,
            listen,
            provider,
            username,
            password,
            timing,
        } => {
            let paths = ClientPaths::new(&home, &id)?;
            let provider = match provider {
                Some(p) => parse_provider(&p)?,
                None => read_provider(&provider_file(&paths))?,
            };
            let mut options = Socks5Options::new(listen, provider, timing.driver_options()?);
            if let (Some(username), Some(password)) = (username, password) {
                options.auth = Auth::UserPass {
                    username: username.into_bytes(),
                    password: password.into_bytes(),
                };
            }
            run(&paths, options).await
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    main_with(main_async(cli))
}
