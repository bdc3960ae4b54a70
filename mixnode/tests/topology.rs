//! A mixnode process that takes its next hops from a validator's threshold-signed topology:
//! it registers with `mixnode bond` (publishing its Noise key), pins the genesis, forwards to
//! bonded nodes and drops packets for anyone else, and lets only the topology's Noise keys
//! open links to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use ed25519_dalek::SigningKey;
use router_core::noise::handshake::StaticKey;
use testnet::local_chain::{LocalChain, LocalValidator};
use validator_client::{TopologyFetcher, ValidatorClient};
use validator_core::files::write_secret;
use validator_core::primitives::{IdentityKey, NoiseKey, SphinxKey};
use validator_core::statement::{NodeDescriptor, NodeRole, SignedStatement, Statement};

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
    let validator = LocalValidator::start(
        &home.path().join("validator"),
        &LocalChain {
            chain_id: "mixnode-test".into(),
            epoch_length_ms: 1000,
            account: IdentityKey::from(&account),
            balance: 1000,
            minimum_bond: 10,
            mixnodes: 3,
            gateways: 1,
            key_rotation: None,
        },
    )
    .unwrap();
    let client = ValidatorClient::new(&validator.url).unwrap();
    wait_until("the validator answers", || block_on(client.status()).ok());

    // A node told another chain's genesis hash at init refuses this chain: its bond fails,
    // naming the mismatch, and it pins nothing.
    let mut wrong = validator.genesis.genesis_hash();
    wrong.0[31] ^= 1;
    let wrong = wrong.to_hex();
    TestNode::init_with(
        home.path(),
        "m0",
        &["--validator", &validator.url, "--genesis-hash", &wrong],
    );
    let account_arg = account_file.to_str().unwrap();
    let bond_m0 = [
        "bond",
        "--id",
        "m0",
        "--account-key",
        account_arg,
        "--amount",
        "100",
    ];
    let out = mixnode(home.path(), &bond_m0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "bonded on a chain it was told not to trust"
    );
    assert!(
        stderr.contains("--genesis-hash") && stderr.contains(&wrong),
        "{stderr}"
    );
    assert!(!home.path().join("mixnodes/m0/genesis.toml").exists());

    // m1 is told the right hash (as an operator would be, out of band).
    let right = validator.genesis.genesis_hash().to_hex();
    let mut node = TestNode::init_with(
        home.path(),
        "m1",
        &["--validator", &validator.url, "--genesis-hash", &right],
    );
    // The node registers itself, with its own consent, from the account.
    let out = bond(home.path(), "m1", &account_file);
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
        noise_key: None,
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
    block_on(client.submit(&SignedStatement::sign(st, &account).unwrap())).unwrap();
    // A third node that announces a Noise key (the test holds it): it may open links to m1.
    let peer_noise = StaticKey::from_secret([0x31; 32]);
    let peer_key = SigningKey::from_bytes(&[10; 32]);
    let peer_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let descriptor = NodeDescriptor {
        identity_key: IdentityKey::from(&peer_key),
        sphinx_key: SphinxKey::from_bytes([0x44; 32]).unwrap(),
        role: NodeRole::Mixnode,
        address: peer_addr,
        clients_address: None,
        noise_key: Some(NoiseKey::from_bytes(*peer_noise.public()).unwrap()),
    };
    let st = Statement::bond(
        validator.genesis.genesis_hash(),
        IdentityKey::from(&account),
        2,
        descriptor,
        100,
        &peer_key,
    )
    .unwrap();
    block_on(client.submit(&SignedStatement::sign(st, &account).unwrap())).unwrap();

    let fetcher = TopologyFetcher::new(validator.genesis.clone()).unwrap();
    let hops = |t: &validator_core::topology::Topology| -> Vec<SocketAddr> {
        t.mixnodes.iter().map(|m| m.address).collect()
    };
    let topology = wait_until("the three nodes in the current topology", || {
        block_on(fetcher.fetch(None)).ok().filter(|t| {
            [sink.addr, node.addr, peer_addr]
                .iter()
                .all(|a| hops(t).contains(a))
        })
    });
    // `bond` published m1's Noise key; the sink announced none.
    let noise_of = |addr| {
        topology
            .mixnodes
            .iter()
            .find(|m| m.address == addr)
            .and_then(|m| m.noise_key)
            .map(|k| *k.as_bytes())
    };
    assert_eq!(noise_of(node.addr), Some(node.noise_public));
    assert_eq!(noise_of(sink.addr), None);

    let config = node.home.join("mixnodes/m1/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("topology_refresh_ms = 10000", "topology_refresh_ms = 100"),
    )
    .unwrap();
    // Optional Noise: the test's plain final hop has no key; the probes below arrive plain.
    node.set_engine_text("noise", "optional");
    node.start_checked(&["--shards", "1"]);
    // The shards enforce the topology (the gauge counts what their policy allows), and only
    // its Noise keys (m1's own and the peer's) may open links.
    node.wait_metric("mixnet_next_hops_allowed", |n| n == 3);
    node.wait_metric("mixnet_noise_peers", |n| n == 2);
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

    // A Noise link from the bonded peer's key is served.
    let (mut link, mut link_tx) = noise_dial(node.addr, &peer_noise, &node.noise_public);
    let packet = build_packet(
        &[node.route_node(), sink.route_node()],
        &zero,
        b"over noise",
    );
    link.write_all(&sealed(&mut link_tx, &frame(&packet)))
        .unwrap();
    assert_eq!(sink.recv().1, b"over noise");
    // A key outside the topology completes the handshake and is refused.
    let outsider = StaticKey::from_secret([0x32; 32]);
    let (mut refused, _) = noise_dial(node.addr, &outsider, &node.noise_public);
    assert!(closed_by_peer(&mut refused));
    node.wait_metric(
        r#"mixnet_noise_link_failures_total{direction="inbound",reason="unknown_peer"}"#,
        |n| n == 1,
    );
    assert_eq!(
        node.metric(r#"mixnet_noise_links_total{direction="inbound"}"#),
        1,
        "the outsider's handshake did not make a link"
    );
}
