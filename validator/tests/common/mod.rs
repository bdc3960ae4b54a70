//! A network of `validator` processes on loopback, set up through the binary's own commands
//! (`init`) and a genesis written like an operator would; the Coconut keys come from the
//! validators' own key generation on the chain, which `start` waits for.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use validator_client::ValidatorClient;
use validator_core::genesis::Genesis;
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::statement::{NodeDescriptor, NodeRole, SignedStatement, Statement};
use validator_core::topology::EpochId;

pub const BIN: &str = env!("CARGO_BIN_EXE_validator");

/// Network shape.
pub struct Shape {
    pub validators: usize,
    pub threshold: u32,
    pub epoch_ms: u64,
    /// Least time between blocks.
    pub block_interval_ms: u64,
    /// Validators started as the Byzantine test double.
    pub byzantine: Vec<usize>,
    /// How they misbehave (`MIXNET_TEST_BYZANTINE_VALIDATOR`).
    pub byzantine_as: &'static str,
    /// The genesis `[dkg] phase_blocks`.
    pub dkg_phase_blocks: u64,
    /// `[dkg] key_epoch_blocks` and `grace_blocks`, if not the defaults.
    pub dkg_rotation: Option<(u64, u64)>,
    /// Whether `start` waits for the first key generation to complete.
    pub wait_for_keys: bool,
    /// `[limits] pending_transactions` of every validator, if not the default.
    pub pending_limit: Option<usize>,
    pub mixnodes: u32,
    pub gateways: u32,
    pub minimum_bond: u64,
    pub accounts: usize,
    pub balance: u64,
    /// Every API over HTTPS, with certificates of a CA of the test's own (`Network::ca`).
    pub tls: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            validators: 4,
            threshold: 3,
            epoch_ms: 3_000,
            block_interval_ms: 200,
            byzantine: Vec::new(),
            byzantine_as: "invalid-proposals",
            dkg_phase_blocks: 10,
            dkg_rotation: None,
            wait_for_keys: true,
            pending_limit: None,
            mixnodes: 3,
            gateways: 1,
            minimum_bond: 100,
            accounts: 2,
            balance: 1_000_000,
            tls: false,
        }
    }
}

pub struct Validator {
    pub id: String,
    pub url: String,
    pub dir: PathBuf,
    pub client: ValidatorClient,
    byzantine: Option<&'static str>,
    child: Option<Child>,
}

impl Validator {
    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

pub struct Network {
    pub dir: tempfile::TempDir,
    pub genesis: Genesis,
    pub validators: Vec<Validator>,
    pub accounts: Vec<SigningKey>,
    home: PathBuf,
    /// The CA of a [`Shape::tls`] network, and its certificate file.
    pub ca: Option<(tls::local_ca::LocalCa, PathBuf)>,
}

/// A port nobody listens on right now and not in `taken` (the kernel may hand out a port it
/// just gave back), which it joins.
fn free_port(taken: &mut std::collections::HashSet<u16>) -> u16 {
    loop {
        let port = testnet::free_port().expect("binding a loopback port");
        if taken.insert(port) {
            return port;
        }
    }
}

use testnet::now_ms;

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "validator {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A deterministic key per (tag, index), distinct across tags.
pub fn key(tag: u8, i: usize) -> SigningKey {
    let mut b = [0x11u8; 32];
    b[0] = tag;
    b[1..9].copy_from_slice(&(i as u64).to_be_bytes());
    SigningKey::from_bytes(&b)
}

impl Network {
    pub async fn start(shape: Shape) -> Network {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");

        let ca = shape.tls.then(|| {
            let ca = tls::local_ca::LocalCa::new("validator test CA").unwrap();
            let path = dir.path().join("ca.pem");
            ca.write_cert(&path).unwrap();
            // This process's clients trust it too.
            tls::client::trust_ca_files(std::slice::from_ref(&path)).unwrap();
            (ca, path)
        });
        let mut entries = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for i in 0..shape.validators {
            let port = free_port(&mut taken);
            let id = format!("v{i}");
            let out = run_ok(&[
                "--home",
                home.to_str().unwrap(),
                "init",
                "--id",
                &id,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ]);
            let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
            let vdir = PathBuf::from(v["dir"].as_str().unwrap());
            let config = vdir.join("config.toml");
            let text = std::fs::read_to_string(&config).unwrap().replace(
                "# block_interval_ms = 1000",
                &format!(
                    "block_interval_ms = {}\ntimeout_propose_ms = {}\ntimeout_vote_ms = 500\n\
                         sync_status_interval_ms = 500\nsnapshot_interval_blocks = 7",
                    shape.block_interval_ms,
                    shape.block_interval_ms + 1_500
                ),
            );
            let text = match shape.pending_limit {
                Some(n) => format!("{text}\n[limits]\npending_transactions = {n}\n"),
                None => text,
            };
            let text = match &ca {
                Some((ca, ca_file)) => {
                    let leaf = tls::local_ca::Leaf {
                        names: &[],
                        addresses: &[std::net::Ipv4Addr::LOCALHOST.into()],
                        expired: false,
                    };
                    let files = ca.issue(&leaf, &vdir.join("tls"), "api").unwrap();
                    format!(
                        "{text}\n[tls]\ncert_file = {:?}\nkey_file = {:?}\nca_files = [{:?}]\n",
                        files.cert, files.key, ca_file
                    )
                }
                None => text,
            };
            std::fs::write(&config, text).unwrap();
            let scheme = if shape.tls { "https" } else { "http" };
            entries.push((
                id,
                vdir,
                v["identity_key"].as_str().unwrap().to_owned(),
                format!("{scheme}://127.0.0.1:{port}"),
                free_port(&mut taken),
            ));
        }

        let accounts: Vec<SigningKey> = (0..shape.accounts).map(|i| key(1, i)).collect();
        let mut g = format!(
            "chain_id = \"process-test\"\ngenesis_time_unix_ms = {}\nepoch_length_ms = {}\n\
             threshold = {}\nminimum_bond = {}\n[active_set]\nmixnodes = {}\ngateways = {}\n",
            now_ms(),
            shape.epoch_ms,
            shape.threshold,
            shape.minimum_bond,
            shape.mixnodes,
            shape.gateways
        );
        for a in &accounts {
            g += &format!(
                "[[accounts]]\npublic_key = \"{}\"\nbalance = {}\n",
                IdentityKey::from(a),
                shape.balance
            );
        }
        for (_, _, identity, url, p2p) in &entries {
            g += &format!(
                "[[validators]]\nidentity_key = \"{identity}\"\napi_url = \"{url}\"\n\
                 p2p_address = \"127.0.0.1:{p2p}\"\n"
            );
        }
        g += &format!("[dkg]\nphase_blocks = {}\n", shape.dkg_phase_blocks);
        if let Some((every, grace)) = shape.dkg_rotation {
            g += &format!("key_epoch_blocks = {every}\ngrace_blocks = {grace}\n");
        }
        let genesis = Genesis::from_toml_str(&g).unwrap();

        let mut validators = Vec::new();
        for (i, (id, vdir, _, url, _)) in entries.into_iter().enumerate() {
            std::fs::write(vdir.join("genesis.toml"), &g).unwrap();
            validators.push(Validator {
                id,
                client: ValidatorClient::new(&url).unwrap(),
                url,
                dir: vdir,
                byzantine: shape.byzantine.contains(&i).then_some(shape.byzantine_as),
                child: None,
            });
        }
        let mut net = Network {
            dir,
            genesis,
            validators,
            accounts,
            home,
            ca,
        };
        for i in 0..net.validators.len() {
            net.spawn(i);
        }
        for i in 0..net.validators.len() {
            net.wait_ready(i).await;
        }
        if shape.wait_for_keys {
            net.wait_for_keys().await;
        }
        net
    }

    /// A client of every validator, in order.
    pub fn validators_clients(&self) -> Vec<ValidatorClient> {
        self.validators.iter().map(|v| v.client.clone()).collect()
    }

    /// Waits until every validator serves the key set of the chain's first key generation.
    pub async fn wait_for_keys(&self) {
        for (i, v) in self.validators.iter().enumerate() {
            eventually(
                &format!("validator {i} serves the generated Coconut keys"),
                Duration::from_secs(60),
                || async { v.client.verification_keys().await.ok() },
            )
            .await;
        }
    }

    fn spawn(&mut self, i: usize) {
        let v = &mut self.validators[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(v.dir.join("validator.log"))
            .unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["--home", self.home.to_str().unwrap(), "run", "--id", &v.id])
            .env(
                "RUST_LOG",
                std::env::var("TEST_VALIDATOR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(mode) = v.byzantine {
            command.env("MIXNET_TEST_BYZANTINE_VALIDATOR", mode);
        }
        v.child = Some(command.spawn().unwrap());
    }

    async fn wait_ready(&self, i: usize) {
        let client = &self.validators[i].client;
        eventually(
            "validator answers /v1/status",
            Duration::from_secs(30),
            || async { client.status().await.ok() },
        )
        .await;
    }

    /// Starts validator `i` again (after [`Network::kill`]) from its data directory.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_ready(i).await;
    }

    /// Waits until validator `i` has decided `height`.
    pub async fn wait_for_height(&self, i: usize, height: u64, timeout: Duration) {
        let client = &self.validators[i].client;
        eventually(
            &format!("validator {i} at height {height}"),
            timeout,
            || async { client.status().await.ok().filter(|s| s.height >= height) },
        )
        .await;
    }

    /// The epoch of validator `i`'s last block.
    pub async fn current_epoch(&self, i: usize) -> EpochId {
        self.validators[i]
            .client
            .status()
            .await
            .unwrap()
            .current_epoch
    }

    /// The highest height every running validator in `which` has decided.
    pub async fn common_height(&self, which: &[usize]) -> u64 {
        let mut min = u64::MAX;
        for &i in which {
            min = min.min(self.validators[i].client.status().await.unwrap().height);
        }
        min
    }

    /// Stops validator `i` (SIGKILL: no goodbye to its peers).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.validators[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until validator `i` has built the topology of `epoch`.
    pub async fn wait_for_topology(&self, i: usize, epoch: EpochId) {
        let client = &self.validators[i].client;
        eventually(
            &format!("validator {i} has the topology of epoch {epoch}"),
            Duration::from_millis(
                (epoch.0.saturating_sub(self.epoch_now().0) + 4) * self.genesis.epoch_length_ms
                    + 5_000,
            ),
            || async { client.topology_at(epoch).await.ok() },
        )
        .await;
    }

    /// The epoch now.
    pub fn epoch_now(&self) -> EpochId {
        EpochId((now_ms() - self.genesis.genesis_time_unix_ms) / self.genesis.epoch_length_ms)
    }

    /// Waits until validator 0's last block is in `epoch` or later.
    pub async fn wait_for_epoch(&self, epoch: EpochId) {
        let client = &self.validators[0].client;
        let timeout =
            (epoch.0.saturating_sub(self.epoch_now().0) + 2) * self.genesis.epoch_length_ms;
        eventually(
            &format!("epoch {epoch}"),
            Duration::from_millis(timeout + 5_000),
            || async {
                client
                    .status()
                    .await
                    .ok()
                    .filter(|s| s.current_epoch >= epoch)
            },
        )
        .await;
    }

    fn dump_logs(&self) {
        for v in &self.validators {
            let log = std::fs::read_to_string(v.dir.join("validator.log")).unwrap_or_default();
            // The application's own lines and every warning: the engine's vote chatter
            // would hide them.
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .filter(|l| !l.contains("informalsystems_malachitebft") || !l.contains(" INFO "))
                .take(40)
                .collect();
            eprintln!(
                "--- {} (last lines but consensus chatter) ---",
                v.dir.display()
            );
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        for i in 0..self.validators.len() {
            self.kill(i);
        }
    }
}

/// Polls `check` every 50 ms until it yields a value; panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node descriptor for node key `key(3, i)` on loopback.
pub fn node(i: usize, role: NodeRole) -> (SigningKey, NodeDescriptor) {
    let node_key = key(3, i);
    let mut sphinx = [0u8; 32];
    sphinx[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    sphinx[31] = 0x40;
    let descriptor = NodeDescriptor {
        identity_key: IdentityKey::from(&node_key),
        sphinx_key: SphinxKey::from_bytes(sphinx).unwrap(),
        role,
        address: format!("127.0.0.1:{}", 20_000 + i).parse().unwrap(),
        clients_address: (role == NodeRole::Gateway)
            .then(|| format!("ws://127.0.0.1:{}", 30_000 + i)),
        noise_key: None,
    };
    (node_key, descriptor)
}

/// Account `account` bonds node `i` with `amount`, nonce `nonce`.
pub fn bond(
    genesis: &Genesis,
    account: &SigningKey,
    nonce: u64,
    i: usize,
    role: NodeRole,
    amount: u64,
) -> SignedStatement {
    let (node_key, descriptor) = node(i, role);
    let st = Statement::bond(
        genesis.genesis_hash(),
        IdentityKey::from(account),
        nonce,
        descriptor,
        amount,
        &node_key,
    )
    .unwrap();
    SignedStatement::sign(st, account).unwrap()
}
