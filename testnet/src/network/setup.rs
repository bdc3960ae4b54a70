//! The start-up sequence (see the parent module's docs for the steps and why in this order).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use validator_client::{TopologyFetcher, ValidatorClient};
use validator_core::genesis::Genesis;
use validator_core::primitives::IdentityKey;

use super::command::{accepts, arg, args, command, poll_until};
use super::files::{
    create_dir, new_account, serve_tls, tune_gateway_config, tune_node_config,
    tune_validator_config, write_file,
};
use super::ports::Ports;
use super::tls::NetworkCa;
use super::{ClientInfo, GatewayInfo, Member, MixnodeInfo, Network, ValidatorInfo};
use crate::binaries::Binaries;
use crate::metrics::{self, series};
use crate::options::Options;
use crate::plan::{self, ValidatorEntry};
use crate::Error;

/// What exists before any process runs.
pub(super) struct Chain {
    pub(super) genesis: Genesis,
    pub(super) validators: Vec<Member<ValidatorInfo>>,
    pub(super) ports: Ports,
    pub(super) ca: Option<Arc<NetworkCa>>,
}

/// `validator init`'s answer.
#[derive(Debug, serde::Deserialize)]
struct ValidatorInit {
    identity_key: String,
    dir: String,
}

/// `client init`'s answer (and `network-requester init`'s and `socks5-client init`'s).
#[derive(Debug, serde::Deserialize)]
pub(super) struct ClientInit {
    pub(super) address: String,
    pub(super) gateway: String,
    /// The client's directory.
    #[serde(default)]
    pub(super) dir: Option<String>,
}

/// `node-details`' answer (mixnodes and gateways).
#[derive(Debug, serde::Deserialize)]
struct NodeDetails {
    identity_key: String,
}

/// Keygen, validator inits, accounts and the genesis: everything before any process runs.
pub(super) async fn prepare_chain(
    options: &Options,
    binaries: &Binaries,
    path: &Path,
    deadline: Instant,
) -> Result<Chain, Error> {
    let dirs = ChainDirs {
        home: path.join("home"),
        logs: path.join("logs"),
        ca: if options.tls {
            Some(Arc::new(NetworkCa::create(&path.join("tls"))?))
        } else {
            None
        },
    };
    let accounts = path.join("accounts");
    for dir in [&dirs.home, &dirs.logs, &accounts] {
        create_dir(dir)?;
    }
    let mut ports = Ports::new();
    let rust_log = &options.log;
    let program = &binaries.validator;
    let mut validators = Vec::new();
    let mut entries = Vec::new();
    for i in 0..options.validators {
        let (listen, p2p) = (ports.next()?, ports.next()?);
        let (member, entry) =
            init_validator(i, listen, p2p, program, &dirs, rust_log, deadline).await?;
        validators.push(member);
        entries.push(entry);
    }
    let genesis = write_genesis(options, path, &accounts, &entries, &dirs.home, &validators)?;
    Ok(Chain {
        genesis,
        validators,
        ports,
        ca: dirs.ca,
    })
}

/// Where the validators' files go, and the CA that issues their API certificates (with
/// [`Options::tls`]).
struct ChainDirs {
    home: PathBuf,
    logs: PathBuf,
    ca: Option<Arc<NetworkCa>>,
}

/// `validator init` for the `i`-th validator of the genesis, serving its API on `listen` and
/// consensus on `p2p`, with its Coconut key share; returns it and its genesis entry.
async fn init_validator(
    i: usize,
    listen: std::net::SocketAddr,
    p2p: std::net::SocketAddr,
    program: &Path,
    dirs: &ChainDirs,
    rust_log: &str,
    deadline: Instant,
) -> Result<(Member<ValidatorInfo>, ValidatorEntry), Error> {
    let id = format!("v{i}");
    let log = dirs.logs.join(format!("{id}.log"));
    let name = format!("validator {id}");
    let init = args(&["--home", &arg(&dirs.home), "init", "--id", &id]);
    let init = [init, args(&["--listen", &listen.to_string()])].concat();
    let out = command(&name, program, &init, &log, rust_log, deadline).await?;
    let answer: ValidatorInit = parse_json(&name, "validator init", &out, &log)?;
    let dir = PathBuf::from(&answer.dir);
    tune_validator_config(&dir.join("config.toml"))?;
    let url = match &dirs.ca {
        Some(ca) => {
            let files = ca.issue(&dir.join("tls"), "api")?;
            serve_tls(&dir.join("config.toml"), &files, ca.file())?;
            format!("https://{listen}")
        }
        None => format!("http://{listen}"),
    };
    let identity_key = answer
        .identity_key
        .parse::<IdentityKey>()
        .map_err(|e| Error::process(format!("{name}: identity key: {e}")))?;
    let entry = ValidatorEntry {
        identity_key,
        api_url: url.clone(),
        p2p_address: p2p,
    };
    let member = Member {
        run_args: args(&["--home", &arg(&dirs.home), "run", "--id", &id]),
        info: ValidatorInfo {
            id,
            url,
            identity_key: answer.identity_key,
        },
        name,
        program: program.to_path_buf(),
        log,
        process: None,
    };
    Ok((member, entry))
}

/// The accounts (operator, clients, the SOCKS5 pair) and the genesis that funds them,
/// written beside the network and into every validator's directory.
fn write_genesis(
    options: &Options,
    path: &Path,
    accounts: &Path,
    entries: &[ValidatorEntry],
    home: &Path,
    validators: &[Member<ValidatorInfo>],
) -> Result<Genesis, Error> {
    let operator = new_account(&accounts.join("operator.key"))?;
    let mut clients = (0..options.clients)
        .map(|c| new_account(&accounts.join(format!("c{c}.key"))))
        .collect::<Result<Vec<_>, _>>()?;
    if options.socks5 {
        // Funded like clients: each buys its bandwidth at `init`.
        for id in super::socks5::IDS {
            clients.push(new_account(&accounts.join(format!("{id}.key")))?);
        }
    }
    if options.web {
        for w in 0..crate::options::defaults::WEB_ACCOUNTS {
            clients.push(new_account(&accounts.join(format!("w{w}.key")))?);
        }
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_millis()).ok())
        .ok_or_else(|| Error::io("the system clock is unusable".into()))?;
    let genesis = plan::genesis(options, now_ms, entries, &operator, &clients)?;
    let text = genesis
        .to_toml_string()
        .map_err(|e| Error::io(format!("genesis: {e}")))?;
    write_file(&path.join("genesis.toml"), &text)?;
    for v in validators {
        let file = home
            .join("validators")
            .join(&v.info.id)
            .join("genesis.toml");
        write_file(&file, &text)?;
    }
    Ok(genesis)
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    name: &str,
    what: &str,
    out: &str,
    log: &Path,
) -> Result<T, Error> {
    serde_json::from_str(out.trim()).map_err(|e| {
        Error::process(format!(
            "{name}: `{what}` printed no JSON of the expected shape ({e})"
        ))
        .with_log(log)
    })
}

/// What mixnodes and gateways share in their set-up.
struct NodeSetup {
    home: PathBuf,
    logs: PathBuf,
    operator_key: PathBuf,
    validator_flags: Vec<String>,
    genesis_text: String,
    topology_refresh_ms: u64,
    rust_log: String,
    deadline: Instant,
}

/// A mixnode or gateway set up and bonded, not yet running.
struct Prepared {
    name: String,
    log: PathBuf,
    identity_key: String,
    run_args: Vec<String>,
}

impl NodeSetup {
    /// `init` (with `listen` flags and every validator), `node-details`, the genesis pinned,
    /// the config tuned, `bond` from the operator; `kind` is `mixnode` or `gateway`.
    async fn node(
        &self,
        kind: &str,
        program: &Path,
        id: &str,
        listen: &[String],
        metrics: SocketAddr,
        cpu: usize,
    ) -> Result<Prepared, Error> {
        let name = format!("{kind} {id}");
        let log = self.logs.join(format!("{id}.log"));
        let home = arg(&self.home);
        let run = |list: Vec<String>| {
            let (name, log) = (&name, &log);
            async move { command(name, program, &list, log, &self.rust_log, self.deadline).await }
        };

        let init = [
            args(&["init", "--id", id, "--home", &home]),
            listen.to_vec(),
            self.validator_flags.clone(),
        ]
        .concat();
        run(init).await?;
        let details = args(&["node-details", "--id", id, "--home", &home]);
        let details: NodeDetails = parse_json(&name, "node-details", &run(details).await?, &log)?;
        let dir = self.home.join(format!("{kind}s")).join(id);
        write_file(&dir.join("genesis.toml"), &self.genesis_text)?;
        tune_node_config(&dir.join("config.toml"), self.topology_refresh_ms)?;
        if kind == "gateway" {
            tune_gateway_config(&dir.join("config.toml"))?;
        }
        let bond = args(&["bond", "--id", id, "--home", &home, "--account-key"]);
        let amount = args(&["--amount", &plan::BOND.to_string()]);
        run([bond, vec![arg(&self.operator_key)], amount].concat()).await?;

        let run_args = args(&[
            "run",
            "--id",
            id,
            "--home",
            &home,
            "--cpus",
            &cpu.to_string(),
            "--metrics-listen",
            &metrics.to_string(),
        ]);
        Ok(Prepared {
            name,
            log,
            identity_key: details.identity_key,
            run_args,
        })
    }
}

impl Network {
    pub(super) async fn bring_up(&mut self, deadline: Instant) -> Result<(), Error> {
        self.start_validators(deadline).await?;
        self.init_and_bond_nodes(deadline).await?;
        // The nodes run before the topology lists them: each announces its Sphinx key for
        // the rotation, and a topology lists only nodes whose key is on the chain.
        self.start_nodes(deadline).await?;
        self.wait_for_topology(deadline).await?;
        self.wait_for_next_hops(deadline).await?;
        self.start_clients(deadline).await?;
        if self.options.socks5 {
            self.start_socks5(deadline).await?;
        }
        Ok(())
    }

    /// `--validator URL` for each validator, and the CA to trust them (and the gateways)
    /// by, for every `init` of a node or client.
    pub(super) fn validator_flags(&self) -> Vec<String> {
        let mut flags: Vec<String> = self
            .validators
            .iter()
            .flat_map(|v| ["--validator".to_owned(), v.info.url.clone()])
            .collect();
        if let Some(ca) = &self.ca {
            flags.extend(ca.flags());
        }
        flags
    }

    pub(super) async fn start_validators(&mut self, deadline: Instant) -> Result<(), Error> {
        let rust_log = self.options.log.clone();
        for v in &mut self.validators {
            v.spawn(&rust_log)?;
        }
        for i in 0..self.validators.len() {
            self.wait_for_validator(i, deadline).await?;
        }
        // Credentials can be had once the validators' key generation has completed (a few
        // blocks after the chain starts).
        for i in 0..self.validators.len() {
            self.wait_for_keys(i, deadline).await?;
        }
        Ok(())
    }

    /// Waits until validator `i` serves the Coconut keys of the chain's key generation.
    async fn wait_for_keys(&mut self, i: usize, deadline: Instant) -> Result<(), Error> {
        let Some(v) = self.validators.get_mut(i) else {
            return Ok(());
        };
        let api = ValidatorClient::new(&v.info.url)
            .map_err(|e| Error::network(format!("{}: {e}", v.info.url)))?;
        let api = &api;
        let what = format!("{} to serve the generated Coconut keys", v.name);
        poll_until(&what, deadline, v, || async move {
            api.verification_keys().await.ok()
        })
        .await?;
        Ok(())
    }

    /// Starts validator `i` (not running) and waits until it answers.
    pub(super) async fn spawn_validator(
        &mut self,
        i: usize,
        deadline: Instant,
    ) -> Result<(), Error> {
        let rust_log = self.options.log.clone();
        let v = self
            .validators
            .get_mut(i)
            .ok_or_else(|| Error::network(format!("there is no validator {i}")))?;
        v.spawn(&rust_log)?;
        self.wait_for_validator(i, deadline).await
    }

    async fn wait_for_validator(&mut self, i: usize, deadline: Instant) -> Result<(), Error> {
        let Some(v) = self.validators.get_mut(i) else {
            return Ok(());
        };
        let api = ValidatorClient::new(&v.info.url)
            .map_err(|e| Error::network(format!("{}: {e}", v.info.url)))?;
        let api = &api;
        let what = format!("{} to answer at {}", v.name, v.info.url);
        poll_until(
            &what,
            deadline,
            v,
            || async move { api.status().await.ok() },
        )
        .await?;
        Ok(())
    }

    /// Sets up and bonds every mixnode, then every gateway, one after the other (the bonds
    /// take the operator account's nonces in turn).
    async fn init_and_bond_nodes(&mut self, deadline: Instant) -> Result<(), Error> {
        let setup = NodeSetup {
            home: self.home.clone(),
            logs: self.path.join("logs"),
            operator_key: self.path.join("accounts").join("operator.key"),
            validator_flags: self.validator_flags(),
            genesis_text: self
                .genesis
                .to_toml_string()
                .map_err(|e| Error::io(format!("genesis: {e}")))?,
            topology_refresh_ms: plan::topology_refresh_ms(self.genesis.epoch_length_ms),
            rust_log: self.options.log.clone(),
            deadline,
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());

        for i in 0..self.options.mixnodes() {
            let id = format!("m{i}");
            let (address, metrics) = (self.ports.next()?, self.ports.next()?);
            let cpu = plan::cpu_for(i, cpus);
            let listen = args(&["--listen", &address.to_string()]);
            let program = self.binaries.mixnode.clone();
            let p = setup
                .node("mixnode", &program, &id, &listen, metrics, cpu)
                .await?;
            self.mixnodes.push(Member {
                info: MixnodeInfo {
                    id,
                    identity_key: p.identity_key,
                    address,
                    metrics,
                    layer: 0,
                    cpu,
                },
                name: p.name,
                program,
                run_args: p.run_args,
                log: p.log,
                process: None,
            });
        }

        for i in 0..self.options.gateways {
            let id = format!("g{i}");
            let address = self.ports.next()?;
            let (clients, metrics) = (self.ports.next()?, self.ports.next()?);
            let cpu = plan::cpu_for(self.options.mixnodes() + i, cpus);
            let mut listen = args(&[
                "--mix-listen",
                &address.to_string(),
                "--clients-listen",
                &clients.to_string(),
            ]);
            if let Some(ca) = &self.ca {
                let files = ca.issue(&self.path.join("tls").join(&id), "clients")?;
                listen.extend(args(&[
                    "--tls-cert",
                    &arg(&files.cert),
                    "--tls-key",
                    &arg(&files.key),
                ]));
            }
            let program = self.binaries.gateway.clone();
            let p = setup
                .node("gateway", &program, &id, &listen, metrics, cpu)
                .await?;
            self.gateways.push(Member {
                info: GatewayInfo {
                    id,
                    identity_key: p.identity_key,
                    address,
                    clients,
                    metrics,
                    cpu,
                },
                name: p.name,
                program,
                run_args: p.run_args,
                log: p.log,
                process: None,
            });
        }
        Ok(())
    }

    /// Waits for a verified topology with every node; records the mixnodes' layers.
    async fn wait_for_topology(&mut self, deadline: Instant) -> Result<(), Error> {
        let parse = |key: &str| {
            key.parse::<IdentityKey>()
                .map_err(|e| Error::network(format!("node identity key {key:?}: {e}")))
        };
        let mixnodes: Vec<IdentityKey> = self
            .mixnodes
            .iter()
            .map(|m| parse(&m.info.identity_key))
            .collect::<Result<_, _>>()?;
        let gateways: Vec<IdentityKey> = self
            .gateways
            .iter()
            .map(|g| parse(&g.info.identity_key))
            .collect::<Result<_, _>>()?;
        let fetcher = TopologyFetcher::new(self.genesis.clone())
            .map_err(|e| Error::network(format!("topology client: {e}")))?;
        let Some(first) = self.validators.first_mut() else {
            return Err(Error::network("no validator".into()));
        };
        let (fetcher, mixnodes, gateways) = (&fetcher, &mixnodes, &gateways);
        let what = "a threshold-signed topology listing every bonded node";
        let layers = poll_until(what, deadline, first, || async move {
            let topology = fetcher.fetch(None).await.ok()?;
            plan::layers_in(&topology, mixnodes, gateways)
        })
        .await?;
        for (m, layer) in self.mixnodes.iter_mut().zip(layers) {
            m.info.layer = layer;
        }
        self.check_running()
    }

    /// Runs every mixnode and gateway and waits until they listen.
    async fn start_nodes(&mut self, deadline: Instant) -> Result<(), Error> {
        let rust_log = self.options.log.clone();
        for m in &mut self.mixnodes {
            m.spawn(&rust_log)?;
        }
        for g in &mut self.gateways {
            g.spawn(&rust_log)?;
        }
        for m in &mut self.mixnodes {
            let (address, metrics) = (m.info.address, m.info.metrics);
            let what = format!("{} to listen on {address} and {metrics}", m.name);
            poll_until(&what, deadline, m, || async move {
                (accepts(address).await && accepts(metrics).await).then_some(())
            })
            .await?;
        }
        for g in &mut self.gateways {
            let (address, clients, metrics) = (g.info.address, g.info.clients, g.info.metrics);
            let what = format!("{} to listen on {address}, {clients} and {metrics}", g.name);
            poll_until(&what, deadline, g, || async move {
                let all = accepts(address).await && accepts(clients).await;
                (all && accepts(metrics).await).then_some(())
            })
            .await?;
        }
        self.check_running()
    }

    /// Waits until every mixnode allows every node of the topology as a next hop (the union
    /// of the kept epochs' nodes).
    async fn wait_for_next_hops(&mut self, deadline: Instant) -> Result<(), Error> {
        let nodes = (self.mixnodes.len() + self.gateways.len()) as f64;
        for m in &mut self.mixnodes {
            let metrics = m.info.metrics;
            let what = format!("{} to allow every node as a next hop", m.name);
            poll_until(&what, deadline, m, || async move {
                let samples = metrics::scrape(metrics).await.ok()?;
                let allowed = samples.get(series::NEXT_HOPS).copied()?;
                (allowed >= nodes).then_some(())
            })
            .await?;
        }
        self.check_running()
    }

    /// `client init` for every client (in parallel), then `client run` for each.
    async fn start_clients(&mut self, deadline: Instant) -> Result<(), Error> {
        let gateway_of = plan::client_gateways(self.options.clients, self.options.gateways);
        let program = self.binaries.client.clone();
        let home = arg(&self.home);
        let mut inits = Vec::new();
        for (c, &g) in gateway_of.iter().enumerate() {
            let id = format!("c{c}");
            let gateway = self
                .gateways
                .get(g)
                .ok_or_else(|| Error::network(format!("no gateway {g}")))?;
            let key = self.path.join("accounts").join(format!("{id}.key"));
            let init = [
                args(&["init", "--home", &home, "--id", &id]),
                self.validator_flags(),
                args(&["--gateway", &gateway.info.identity_key]),
                args(&["--account-key", &arg(&key)]),
                args(&["--bandwidth", &self.options.bandwidth.to_string()]),
            ]
            .concat();
            let gateway_key = gateway.info.identity_key.clone();
            inits.push((id.clone(), g, gateway_key, init, self.log(&id)));
        }
        let rust_log = &self.options.log;
        let runs = inits.iter().map(|(id, _, _, init, log)| {
            let (program, name) = (&program, format!("client {id}"));
            async move { command(&name, program, init, log, rust_log, deadline).await }
        });
        let outputs = futures::future::try_join_all(runs).await?;

        for ((id, g, gateway_key, _, log), out) in inits.into_iter().zip(outputs) {
            let name = format!("client {id}");
            let answer: ClientInit = parse_json(&name, "client init", &out, &log)?;
            if answer.gateway != gateway_key {
                let message = format!(
                    "{name}: `client init` chose gateway {} instead of {gateway_key}",
                    answer.gateway
                );
                return Err(Error::process(message).with_log(&log));
            }
            let listen = self.ports.next()?;
            let run_args = [
                args(&["run", "--home", &home, "--id", &id]),
                args(&["--listen", &listen.to_string()]),
                self.options.client_timing.args(),
            ]
            .concat();
            self.clients.push(Member {
                info: ClientInfo {
                    id,
                    address: answer.address,
                    gateway: g,
                    listen,
                },
                name,
                program: program.clone(),
                run_args,
                log,
                process: None,
            });
        }
        for c in 0..self.clients.len() {
            self.spawn_client(c, deadline).await?;
        }
        Ok(())
    }

    /// Runs client `index` and waits until its app port accepts connections.
    pub(super) async fn spawn_client(
        &mut self,
        index: usize,
        deadline: Instant,
    ) -> Result<(), Error> {
        let rust_log = self.options.log.clone();
        let client = self.client_mut(index)?;
        client.spawn(&rust_log)?;
        let listen = client.info.listen;
        let what = format!("{} to listen on {listen}", client.name);
        poll_until(&what, deadline, client, || async move {
            accepts(listen).await.then_some(())
        })
        .await
    }
}
