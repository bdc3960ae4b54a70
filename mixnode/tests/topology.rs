//! A mixnode process that takes its next hops from a validator's threshold-signed topology:
//! it registers with `mixnode bond`, pins the genesis, forwards to bonded nodes and drops
//! packets for anyone else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use ed25519_dalek::SigningKey;
use validator::client::{TopologyFetcher, ValidatorClient};
use validator::files::write_secret;
use validator::genesis::Genesis;
use validator::primitives::{IdentityKey, SphinxKey};
use validator::service::config::Config;
use validator::statement::{NodeDescriptor, NodeRole, SignedStatement, Statement};

/// One validator (threshold 1) serving on loopback from a thread of this test.
struct TestValidator {
    url: String,
    genesis: Genesis,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestValidator {
    fn start(dir: &Path, account: &SigningKey) -> TestValidator {
        std::fs::create_dir_all(dir).unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        write_secret(&dir.join("identity.key"), &key.to_bytes()).unwrap();
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let genesis = format!(
            "chain_id = \"mixnode-test\"\ngenesis_time_unix_ms = {now}\nepoch_length_ms = 1000\n\
             threshold = 1\nminimum_bond = 10\n[active_set]\nmixnodes = 3\ngateways = 1\n\
             [[accounts]]\npublic_key = \"{}\"\nbalance = 1000\n\
             [[validators]]\nidentity_key = \"{}\"\napi_url = \"{url}\"\n",
            IdentityKey::from(account),
            IdentityKey::from(&key)
        );
        std::fs::write(dir.join("genesis.toml"), &genesis).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "[validator]\nlisten = \"127.0.0.1:{port}\"\ngenesis = \"genesis.toml\"\n\
                 identity_key = \"identity.key\"\n"
            ),
        )
        .unwrap();
        let loaded = Config::load(&dir.join("config.toml")).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let shutdown = async {
                    let _ = stopped.await;
                };
                validator::service::node::run(loaded, shutdown, |_| {})
                    .await
                    .unwrap();
            });
        });
        TestValidator {
            url,
            genesis: Genesis::from_toml_str(&genesis).unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
}

impl Drop for TestValidator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bonded_node_forwards_only_within_the_signed_topology() {
    let home = tempfile::tempdir().unwrap();
    let account = SigningKey::from_bytes(&[8; 32]);
    let account_file = home.path().join("account.key");
    write_secret(&account_file, &account.to_bytes()).unwrap();
    let validator = TestValidator::start(&home.path().join("validator"), &account);
    let client = ValidatorClient::new(&validator.url).unwrap();
    wait_until("the validator answers", || {
        TestValidator::block_on(client.status()).ok()
    });

    let mut node = TestNode::init_with(home.path(), "m1", &["--validator", &validator.url]);
    // The node registers itself, with its own consent, from the account.
    let out = mixnode(
        home.path(),
        &[
            "bond",
            "--id",
            "m1",
            "--account-key",
            account_file.to_str().unwrap(),
            "--amount",
            "100",
        ],
    );
    assert!(
        out.status.success(),
        "bond: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bonded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bonded["validator"], validator.url.as_str());

    // The sink is bonded as another mixnode; `stranger` never is.
    let sink = FinalHop::start();
    let stranger = FinalHop::start();
    let sink_key = SigningKey::from_bytes(&[9; 32]);
    let sink_public = *sphinx_packet::crypto::PublicKey::from(
        &sphinx_packet::crypto::PrivateKey::from(sink.secret),
    )
    .as_bytes();
    let descriptor = NodeDescriptor {
        identity_key: IdentityKey::from(&sink_key),
        sphinx_key: SphinxKey::from_bytes(sink_public).unwrap(),
        role: NodeRole::Mixnode,
        address: sink.addr,
        clients_address: None,
    };
    let st = Statement::bond(
        validator.genesis.genesis_hash(),
        IdentityKey::from(&account),
        1,
        descriptor,
        100,
        &sink_key,
    )
    .unwrap();
    TestValidator::block_on(client.submit(&SignedStatement::sign(st, &account).unwrap())).unwrap();

    let fetcher = TopologyFetcher::new(validator.genesis.clone()).unwrap();
    let hops = |t: &validator::topology::Topology| -> Vec<SocketAddr> {
        t.mixnodes.iter().map(|m| m.address).collect()
    };
    wait_until("both nodes in the current topology", || {
        TestValidator::block_on(fetcher.fetch(None))
            .ok()
            .filter(|t| hops(t).contains(&sink.addr) && hops(t).contains(&node.addr))
    });

    let config = node.home.join("mixnodes/m1/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("topology_refresh_ms = 10000", "topology_refresh_ms = 100"),
    )
    .unwrap();
    node.start_checked(&["--shards", "1"]);
    // The shards enforce the topology (the gauge counts what their policy allows).
    node.wait_metric("mixnet_next_hops_allowed", |n| n == 2);
    assert!(node.metric("mixnet_topology_epoch") >= 1);
    assert!(
        node.home.join("mixnodes/m1/genesis.toml").exists(),
        "genesis pinned"
    );

    let mut entry = connect(node.addr);
    let zero = [Duration::ZERO; 2];
    entry
        .write_all(&frame(&build_packet(
            &[node.route_node(), stranger.route_node()],
            &zero,
            b"to a stranger",
        )))
        .unwrap();
    entry
        .write_all(&frame(&build_packet(
            &[node.route_node(), sink.route_node()],
            &zero,
            b"to a bonded node",
        )))
        .unwrap();
    assert_eq!(sink.recv().1, b"to a bonded node");
    node.wait_metric(
        r#"mixnet_packets_dropped_total{reason="next_hop_not_in_topology"}"#,
        |n| n == 1,
    );
    stranger.assert_nothing_more();
    assert_eq!(node.metric("mixnet_packets_forwarded_total"), 1);
}
