//! Starting and stopping the whole network as processes on loopback.
//!
//! [`Network::start`] sets everything up through the binaries' own commands, in a fresh
//! temporary directory (module `setup`):
//!
//! 1. `validator init` for each validator; account keys for the operator and every client
//!    (`accounts/*.key`, bs58, 0600); the genesis (short epochs, every node in the active
//!    set, see [`plan`](super::plan)) written beside each validator's config; then
//!    `validator run`, until every API answers and serves the Coconut keys (threshold t of
//!    n) the validators generate together on their chain (no dealer).
//! 2. For each mixnode and gateway: `init` with every validator, the genesis pinned in its
//!    directory, its config tuned for short epochs (module `files`), then `bond` from the
//!    operator account (one after the other: each takes the account's next nonce).
//! 3. A wait, through [`TopologyFetcher`](validator_client::TopologyFetcher), until the
//!    threshold-signed current topology lists every bonded node and is routable; each
//!    mixnode's layer is taken from it. Nodes start only then, so their first topology fetch
//!    already finds every peer.
//! 4. `run` for every node, one shard each, the shards spread over the CPUs; ready once its
//!    ports accept connections and, for mixnodes, once their forwarding policy holds every
//!    node (`mixnet_next_hops_allowed`).
//! 5. `client init` for every client, in parallel (each buys its bandwidth from its own
//!    account, at its gateway), then `client run`, ready once its app port accepts.
//! 6. With `socks5` (module `socks5`): `network-requester init` (its allow list written
//!    into the file init made), `socks5-client init --provider` the requester's address, each
//!    on the next gateway of the clients' rotation with its own account; then the requester
//!    runs, ready once its log says `network requester ready` (its SOCKS side has no port to
//!    probe), then the SOCKS5 client, ready once its proxy port accepts.
//!
//! Layout of the directory: `home/` (the `--home` of every binary: `validators/`,
//! `mixnodes/`, `gateways/`, `clients/`), `accounts/`,
//! `genesis.toml`, and `logs/ID.log`, one per node with every command run for it and its
//! output (`requester.log` and `socks5.log` for the SOCKS5 pair). The directory is deleted on drop unless kept ([`Network::keep_files`], a failed
//! start, a panic, or `keep_dir`).

mod command;
mod files;
mod ports;
mod setup;
mod socks5;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use validator_core::genesis::Genesis;

use super::binaries::Binaries;
use super::metrics::{self, Samples};
use super::options::Options;
use super::process::{stop_all, NodeProcess};
use super::Error;
use ports::Ports;
pub use socks5::REQUESTER_READY;

/// Grace given to clients to stop.
const CLIENT_GRACE: Duration = Duration::from_secs(5);
/// Grace given to mixnodes and gateways: a mixnode's own shutdown grace is set to 2 s, a
/// gateway waits up to 10 s for its delivery pump and 2 s for its client runtime.
const NODE_GRACE: Duration = Duration::from_secs(15);
/// Grace given to validators.
const VALIDATOR_GRACE: Duration = Duration::from_secs(5);

/// A validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorInfo {
    /// Its id (`v0`, ...).
    pub id: String,
    /// Its API URL.
    pub url: String,
    /// Its identity key, bs58.
    pub identity_key: String,
}

/// A mixnode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixnodeInfo {
    /// Its id (`m0`, ...).
    pub id: String,
    /// Its identity key, bs58.
    pub identity_key: String,
    /// Its mix address.
    pub address: SocketAddr,
    /// Its Prometheus endpoint.
    pub metrics: SocketAddr,
    /// Its layer (1 to 3) in the topology the network started with (stable while the bonds
    /// are: layers are assigned by stake, then identity key).
    pub layer: u8,
    /// The CPU of its shard.
    pub cpu: usize,
}

/// A gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayInfo {
    /// Its id (`g0`, ...).
    pub id: String,
    /// Its identity key, bs58 (what `client init --gateway` takes).
    pub identity_key: String,
    /// Its mix address.
    pub address: SocketAddr,
    /// Its client websocket address.
    pub clients: SocketAddr,
    /// Its Prometheus endpoint.
    pub metrics: SocketAddr,
    /// The CPU of its shard.
    pub cpu: usize,
}

/// A client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Its id (`c0`, ...).
    pub id: String,
    /// Its mixnet address, `<identity>.<encryption>@<gateway>`, from `client init`.
    pub address: String,
    /// The index of its gateway.
    pub gateway: usize,
    /// Its app websocket address.
    pub listen: SocketAddr,
}

impl ClientInfo {
    /// Its app websocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.listen)
    }
}

/// The network requester (`--socks5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequesterInfo {
    /// Its id (`requester`).
    pub id: String,
    /// Its mixnet address (the SOCKS5 client's `--provider`).
    pub address: String,
    /// The index of its gateway.
    pub gateway: usize,
    /// Its allow-list file.
    pub allow_list: PathBuf,
}

/// The SOCKS5 client (`--socks5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socks5Info {
    /// Its id (`socks5`).
    pub id: String,
    /// Its mixnet address.
    pub address: String,
    /// The index of its gateway.
    pub gateway: usize,
    /// Its SOCKS5 proxy address.
    pub listen: SocketAddr,
}

/// One process of the network: what it is, its command line, and the process while it runs.
#[derive(Debug)]
struct Member<I> {
    info: I,
    /// `mixnode m0`, ... for messages.
    name: String,
    program: PathBuf,
    run_args: Vec<String>,
    log: PathBuf,
    /// `None` before it starts and after it was stopped or killed on purpose.
    process: Option<NodeProcess>,
}

impl<I> Member<I> {
    fn spawn(&mut self, rust_log: &str) -> Result<(), Error> {
        self.process = Some(NodeProcess::spawn(
            &self.name,
            &self.program,
            &self.run_args,
            &self.log,
            rust_log,
        )?);
        Ok(())
    }

    /// An error if its process exited although nobody stopped it.
    fn check(&mut self) -> Result<(), Error> {
        match self.process.as_mut() {
            Some(p) => p.check_running(),
            None => Ok(()),
        }
    }
}

/// A running local network; every process is stopped when it is dropped.
#[derive(Debug)]
pub struct Network {
    options: Options,
    binaries: Binaries,
    path: PathBuf,
    home: PathBuf,
    genesis: Genesis,
    validators: Vec<Member<ValidatorInfo>>,
    mixnodes: Vec<Member<MixnodeInfo>>,
    gateways: Vec<Member<GatewayInfo>>,
    clients: Vec<Member<ClientInfo>>,
    requester: Option<Member<RequesterInfo>>,
    socks5: Option<Member<Socks5Info>>,
    ports: Ports,
    /// The network's CA, with [`Options::tls`].
    ca: Option<std::sync::Arc<tls::NetworkCa>>,
    keep: bool,
    /// Deleted on drop unless kept; `None` once kept.
    dir: Option<tempfile::TempDir>,
}

impl Network {
    /// Prepares the binaries ([`Binaries::prepare`]) and starts a network of the shape
    /// `options` describe; returns once every client's app port accepts connections (and,
    /// with `socks5`, the requester is ready and the proxy port accepts).
    pub async fn start(options: &Options) -> Result<Network, Error> {
        options.validate()?;
        let binaries = Binaries::prepare(&options.binaries).await?;
        Network::start_with(options, binaries).await
    }

    /// Starts a network with these binaries. On failure every process started is stopped and
    /// the directory is kept; the error names it and shows the relevant log's tail.
    pub async fn start_with(options: &Options, binaries: Binaries) -> Result<Network, Error> {
        Network::start_parts(options, binaries, false).await
    }

    /// Starts only the validators of the network `options` describe (accounts, genesis,
    /// every validator answering and serving its generated keys): the chain alone, for
    /// measuring it.
    pub async fn start_chain(options: &Options) -> Result<Network, Error> {
        options.validate()?;
        let binaries = Binaries::prepare(&options.binaries).await?;
        Network::start_parts(options, binaries, true).await
    }

    async fn start_parts(
        options: &Options,
        binaries: Binaries,
        only_chain: bool,
    ) -> Result<Network, Error> {
        options.validate()?;
        if options.socks5 {
            binaries.require_socks5()?;
        }
        let deadline = Instant::now() + options.startup_timeout;
        let dir = tempfile::Builder::new()
            .prefix("localnet-")
            .tempdir()
            .map_err(|e| Error::io(format!("cannot create a temporary directory: {e}")))?;
        let path = dir.path().to_path_buf();
        let chain = match setup::prepare_chain(options, &binaries, &path, deadline).await {
            Ok(chain) => chain,
            Err(e) => {
                let kept = dir.keep();
                return Err(e.kept_in(&kept));
            }
        };
        let mut network = Network {
            options: options.clone(),
            binaries,
            home: path.join("home"),
            path,
            genesis: chain.genesis,
            validators: chain.validators,
            mixnodes: Vec::new(),
            gateways: Vec::new(),
            clients: Vec::new(),
            requester: None,
            socks5: None,
            ports: chain.ports,
            ca: chain.ca,
            keep: options.keep_dir,
            dir: Some(dir),
        };
        let started = if only_chain {
            network.start_validators(deadline).await
        } else {
            network.bring_up(deadline).await
        };
        match started {
            Ok(()) => Ok(network),
            Err(e) => {
                network.keep = true;
                Err(e.kept_in(&network.path))
            }
        }
    }

    /// The network's directory (configs, keys, logs).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory when the network is dropped.
    pub fn keep_files(&mut self) {
        self.keep = true;
    }

    /// The options it was started with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The genesis of its chain.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The validators.
    pub fn validators(&self) -> impl ExactSizeIterator<Item = &ValidatorInfo> + '_ {
        self.validators.iter().map(|m| &m.info)
    }

    /// The mixnodes.
    pub fn mixnodes(&self) -> impl ExactSizeIterator<Item = &MixnodeInfo> + '_ {
        self.mixnodes.iter().map(|m| &m.info)
    }

    /// The gateways.
    pub fn gateways(&self) -> impl ExactSizeIterator<Item = &GatewayInfo> + '_ {
        self.gateways.iter().map(|m| &m.info)
    }

    /// The clients.
    pub fn clients(&self) -> impl ExactSizeIterator<Item = &ClientInfo> + '_ {
        self.clients.iter().map(|m| &m.info)
    }

    /// Client `index`.
    pub fn client(&self, index: usize) -> Option<&ClientInfo> {
        self.clients.get(index).map(|m| &m.info)
    }

    /// Client `index`'s app websocket URL.
    pub fn client_ws_url(&self, index: usize) -> Option<String> {
        self.client(index).map(ClientInfo::ws_url)
    }

    /// Client `index`'s mixnet address.
    pub fn client_address(&self, index: usize) -> Option<&str> {
        self.client(index).map(|c| c.address.as_str())
    }

    /// The layer (1 to 3) of mixnode `index`.
    pub fn mixnode_layer(&self, index: usize) -> Option<u8> {
        self.mixnodes.get(index).map(|m| m.info.layer)
    }

    /// The network requester, with `socks5`.
    pub fn requester(&self) -> Option<&RequesterInfo> {
        self.requester.as_ref().map(|m| &m.info)
    }

    /// The SOCKS5 client, with `socks5`.
    pub fn socks5_client(&self) -> Option<&Socks5Info> {
        self.socks5.as_ref().map(|m| &m.info)
    }

    /// The SOCKS5 proxy's address, with `socks5`
    /// (`curl --socks5-hostname ADDRESS http://...`).
    pub fn socks5_proxy(&self) -> Option<SocketAddr> {
        self.socks5_client().map(|s| s.listen)
    }

    /// The log file of a node by id (`v0`, `m3`, `g1`, `c2`, `requester`, `socks5`).
    pub fn log(&self, id: &str) -> PathBuf {
        self.path.join("logs").join(format!("{id}.log"))
    }

    /// Kills mixnode `index` with SIGKILL (a crash: no goodbye to its peers). It stays in the
    /// topology, and its metrics read as missing from then on.
    pub fn kill_mixnode(&mut self, index: usize) -> Result<(), Error> {
        let m = self
            .mixnodes
            .get_mut(index)
            .ok_or_else(|| Error::network(format!("there is no mixnode {index}")))?;
        if let Some(mut p) = m.process.take() {
            p.kill();
        }
        Ok(())
    }

    /// Kills validator `index` with SIGKILL.
    pub fn kill_validator(&mut self, index: usize) -> Result<(), Error> {
        let v = self
            .validators
            .get_mut(index)
            .ok_or_else(|| Error::network(format!("there is no validator {index}")))?;
        if let Some(mut p) = v.process.take() {
            p.kill();
        }
        Ok(())
    }

    /// Starts killed validator `index` again from its directory; returns once it answers.
    pub async fn restart_validator(&mut self, index: usize) -> Result<(), Error> {
        let deadline = Instant::now() + self.options.startup_timeout;
        self.kill_validator(index)?;
        self.spawn_validator(index, deadline).await
    }

    /// Stops gateway `index` (SIGTERM, then SIGKILL after a grace period): its clients lose
    /// their connection. Its stored messages and registrations stay on disk.
    pub async fn stop_gateway(&mut self, index: usize) -> Result<(), Error> {
        let g = self.gateway_mut(index)?;
        if let Some(mut p) = g.process.take() {
            p.stop(NODE_GRACE).await;
        }
        Ok(())
    }

    /// Starts stopped gateway `index` again from its directory; returns once its ports accept
    /// connections.
    pub async fn start_gateway(&mut self, index: usize) -> Result<(), Error> {
        let deadline = Instant::now() + self.options.startup_timeout;
        let rust_log = self.options.log.clone();
        let g = self.gateway_mut(index)?;
        if g.process.is_some() {
            return Err(Error::network(format!("{} is running", g.name)));
        }
        g.spawn(&rust_log)?;
        let (address, clients) = (g.info.address, g.info.clients);
        let what = format!("{} to listen on {address} and {clients}", g.name);
        command::poll_until(&what, deadline, g, || async move {
            (command::accepts(address).await && command::accepts(clients).await).then_some(())
        })
        .await
    }

    fn gateway_mut(&mut self, index: usize) -> Result<&mut Member<GatewayInfo>, Error> {
        self.gateways
            .get_mut(index)
            .ok_or_else(|| Error::network(format!("there is no gateway {index}")))
    }

    /// Validator `index`'s directory (its `config.toml`, keys and chain data).
    pub fn validator_dir(&self, index: usize) -> Option<PathBuf> {
        let v = self.validators.get(index)?;
        Some(self.home.join("validators").join(&v.info.id))
    }

    /// The key of a funded account: `operator`, or client `c<i>`'s.
    pub fn account_key(&self, name: &str) -> Result<ed25519_dalek::SigningKey, Error> {
        let path = self.path.join("accounts").join(format!("{name}.key"));
        let secret = validator_core::files::read_secret(&path)
            .map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
        Ok(ed25519_dalek::SigningKey::from_bytes(&secret))
    }

    /// Stops client `index` (SIGTERM, then SIGKILL after a grace period).
    pub async fn stop_client(&mut self, index: usize) -> Result<(), Error> {
        let client = self.client_mut(index)?;
        if let Some(mut p) = client.process.take() {
            p.stop(CLIENT_GRACE).await;
        }
        Ok(())
    }

    /// Starts stopped client `index` again with the same id and port (it authenticates again
    /// with its gateway); returns once its app port accepts connections.
    pub async fn start_client(&mut self, index: usize) -> Result<(), Error> {
        let deadline = Instant::now() + self.options.startup_timeout;
        let client = self.client_mut(index)?;
        if client.process.is_some() {
            return Err(Error::network(format!("{} is running", client.name)));
        }
        self.spawn_client(index, deadline).await
    }

    /// An error, with the log's tail, if any process that should be running has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        for m in &mut self.validators {
            m.check()?;
        }
        for m in &mut self.mixnodes {
            m.check()?;
        }
        for m in &mut self.gateways {
            m.check()?;
        }
        for m in &mut self.clients {
            m.check()?;
        }
        if let Some(m) = &mut self.requester {
            m.check()?;
        }
        if let Some(m) = &mut self.socks5 {
            m.check()?;
        }
        Ok(())
    }

    /// Client `index`'s exit as an error (with its log) if it exited unexpectedly.
    pub fn check_client(&mut self, index: usize) -> Result<(), Error> {
        self.client_mut(index)?.check()
    }

    /// The log of client `index`.
    pub fn client_log(&self, index: usize) -> Option<&Path> {
        self.clients.get(index).map(|m| m.log.as_path())
    }

    /// Every mixnode's metrics (`None` where unreadable or killed), in mixnode order.
    pub async fn scrape_mixnodes(&self) -> Vec<Option<Samples>> {
        let scrapes = self.mixnodes.iter().map(|m| async move {
            m.process.as_ref()?;
            metrics::scrape(m.info.metrics).await.ok()
        });
        futures::future::join_all(scrapes).await
    }

    /// Every gateway's metrics (`None` where unreadable), in gateway order.
    pub async fn scrape_gateways(&self) -> Vec<Option<Samples>> {
        let scrapes = self.gateways.iter().map(|g| async move {
            g.process.as_ref()?;
            metrics::scrape(g.info.metrics).await.ok()
        });
        futures::future::join_all(scrapes).await
    }

    /// Stops everything in order (clients, the SOCKS5 client and the requester, then the
    /// nodes, then the validators), each group with SIGTERM and a grace period, then SIGKILL.
    pub async fn stop(mut self) {
        let mut clients: Vec<&mut NodeProcess> = self
            .clients
            .iter_mut()
            .filter_map(|m| m.process.as_mut())
            .chain(self.socks5.iter_mut().filter_map(|m| m.process.as_mut()))
            .chain(self.requester.iter_mut().filter_map(|m| m.process.as_mut()))
            .collect();
        stop_all(&mut clients, CLIENT_GRACE).await;
        let mut nodes: Vec<&mut NodeProcess> = self
            .mixnodes
            .iter_mut()
            .filter_map(|m| m.process.as_mut())
            .chain(self.gateways.iter_mut().filter_map(|g| g.process.as_mut()))
            .collect();
        stop_all(&mut nodes, NODE_GRACE).await;
        let mut validators: Vec<&mut NodeProcess> = self
            .validators
            .iter_mut()
            .filter_map(|m| m.process.as_mut())
            .collect();
        stop_all(&mut validators, VALIDATOR_GRACE).await;
    }

    fn client_mut(&mut self, index: usize) -> Result<&mut Member<ClientInfo>, Error> {
        self.clients
            .get_mut(index)
            .ok_or_else(|| Error::network(format!("there is no client {index}")))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // Processes first (clients before the nodes they use), then the directory.
        for m in &mut self.clients {
            drop(m.process.take());
        }
        if let Some(m) = &mut self.socks5 {
            drop(m.process.take());
        }
        if let Some(m) = &mut self.requester {
            drop(m.process.take());
        }
        for m in &mut self.gateways {
            drop(m.process.take());
        }
        for m in &mut self.mixnodes {
            drop(m.process.take());
        }
        for m in &mut self.validators {
            drop(m.process.take());
        }
        if std::thread::panicking() {
            self.keep = true;
            eprintln!("localnet: panicking; files kept in {}", self.path.display());
        }
        if self.keep {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}
