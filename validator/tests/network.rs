//! Topologies from the chain: four validators as real processes on loopback, epochs of a
//! few seconds, bonds and unbonds through the API, topologies checked as clients check them.
//!
//! The networks of these tests run one at a time (a process-wide lock): four validators and
//! their consensus traffic are enough for a 2-core machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{bond, eventually, node, Network, Shape};
use ed25519_dalek::SigningKey;
use validator_client::{obtain_credential, ClientError, TopologyFetcher};
use validator_core::primitives::IdentityKey;
use validator_core::statement::{NodeRole, SignedStatement, Statement};
use validator_core::topology::{verify_signed_topology_for, EpochId};

static ONE_NETWORK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bond_at_one_validator_reaches_every_topology_and_under_bonded_nodes_never() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let net = Network::start(Shape::default()).await;
    let g = &net.genesis;
    let acct = &net.accounts[0];
    let statements = [
        bond(g, acct, 0, 0, NodeRole::Mixnode, 500),
        bond(g, acct, 1, 1, NodeRole::Mixnode, 500),
        bond(g, acct, 2, 2, NodeRole::Mixnode, 500),
        bond(g, acct, 3, 3, NodeRole::Gateway, 500),
        bond(g, acct, 4, 4, NodeRole::Mixnode, 99), // minimum bond is 100
        bond(g, acct, 5, 5, NodeRole::Gateway, 50),
    ];
    for s in &statements {
        let accepted = net.validators[0].client.submit(s).await.unwrap();
        assert_eq!(accepted.statement_id, s.id());
    }
    let target = applied_then_next_topology(&net, 6).await;
    for i in 0..4 {
        net.wait_for_topology(i, target).await;
    }

    // The client library accepts it: signed by the threshold, same bytes everywhere.
    let fetcher = TopologyFetcher::new(g.clone()).unwrap();
    let topology = verified_topology(
        &fetcher,
        Some(target),
        "a threshold-signed topology",
        Duration::from_secs(10),
    )
    .await;
    let selected: Vec<IdentityKey> = topology
        .mixnodes
        .iter()
        .map(|m| m.identity_key)
        .chain(topology.gateways.iter().map(|g| g.identity_key))
        .collect();
    let id = |i| node(i, NodeRole::Mixnode).1.identity_key;
    for i in 0..4 {
        assert!(
            selected.contains(&id(i)),
            "node {i} selected in {topology:#?}"
        );
    }
    for i in 4..6 {
        assert!(
            !selected.contains(&id(i)),
            "under-bonded node {i} not selected"
        );
    }
    assert!(topology.is_routable());

    // Every validator serves the same topology, each eventually with every signature, and
    // holds the same ledger.
    for v in &net.validators {
        let signed = eventually("all four signatures", Duration::from_secs(20), || async {
            v.client
                .topology_at(target)
                .await
                .ok()
                .filter(|s| s.signatures.len() == 4)
        })
        .await;
        assert_eq!(signed.topology, topology);
        verify_signed_topology_for(&signed, g).unwrap();
        assert_eq!(
            v.client.nodes().await.unwrap().len(),
            6,
            "all six registered"
        );
    }
    // Nym's directory API answers from the same verified topology, as Nym's clients read it.
    let nym = eventually(
        "Nym's directory lists the nodes",
        Duration::from_secs(20),
        || async {
            nym_directory(&net.validators[0].url)
                .await
                .filter(|(set, mixnodes, gateways)| {
                    set["layer1"].as_array().is_some_and(|l| !l.is_empty())
                        && mixnodes["nodes"]["data"]
                            .as_array()
                            .is_some_and(|d| d.len() == 3)
                        && gateways["nodes"]["data"]
                            .as_array()
                            .is_some_and(|d| d.len() == 1)
                        && set["epoch_id"] == mixnodes["metadata"]["absolute_epoch_id"]
                        && set["epoch_id"] == gateways["metadata"]["absolute_epoch_id"]
                })
        },
    )
    .await;
    let (set, mixnodes, gateways) = nym;
    let gateway = &gateways["nodes"]["data"][0];
    assert_eq!(
        gateway["ed25519_identity_pubkey"],
        node(3, NodeRole::Gateway).1.identity_key.to_bs58()
    );
    assert_eq!(
        set["entry_gateways"],
        serde_json::json!([gateway["node_id"]])
    );
    let layered: Vec<&serde_json::Value> = ["layer1", "layer2", "layer3"]
        .iter()
        .flat_map(|l| set[*l].as_array().unwrap())
        .collect();
    let listed: Vec<&serde_json::Value> = mixnodes["nodes"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["node_id"])
        .collect();
    assert_eq!(layered, listed, "each mixnode in its layer, in order");
    assert_eq!(mixnodes["nodes"]["pagination"]["total"], 3);
    let rotation: serde_json::Value = reqwest::get(format!(
        "{}/v1/epoch/key-rotation-info",
        net.validators[0].url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        rotation["key_rotation_state"]["validity_epochs"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        rotation["epoch_duration"]["secs"].as_u64().unwrap()
            + rotation["epoch_duration"]["nanos"].as_u64().unwrap()
            > 0
    );

    let height = net.common_height(&[0, 1, 2, 3]).await;
    let mut hashes = Vec::new();
    for v in &net.validators {
        hashes.push(v.client.block(height).await.unwrap().state_hash);
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");

    // Unbond node 0 at another validator: it leaves every topology.
    let unbond = SignedStatement::sign(
        Statement::unbond(g.genesis_hash(), IdentityKey::from(acct), 6, id(0)),
        acct,
    )
    .unwrap();
    net.validators[2].client.submit(&unbond).await.unwrap();
    let after = applied_then_next_topology(&net, 5).await;
    let without = verified_topology(
        &fetcher,
        Some(after),
        "topology without node 0",
        Duration::from_secs(15),
    )
    .await;
    assert!(!without.mixnodes.iter().any(|m| m.identity_key == id(0)));
    assert!(
        !without.is_routable(),
        "only two mixnodes remain for three layers"
    );
}

/// Nym's directory at `url` (rewarded set, mixnodes, gateways), once it answers all three.
async fn nym_directory(
    url: &str,
) -> Option<(serde_json::Value, serde_json::Value, serde_json::Value)> {
    let get = |path: &str| {
        let url = format!("{url}{path}");
        async move {
            let response = reqwest::get(url).await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            response.json::<serde_json::Value>().await.ok()
        }
    };
    Some((
        get("/v1/nym-nodes/rewarded-set").await?,
        get("/v2/unstable/nym-nodes/skimmed/mixnodes/active?page=0").await?,
        get("/v2/unstable/nym-nodes/skimmed/entry-gateways?page=0&output=bincode").await?,
    ))
}

/// Polls until the client library accepts the topology of `epoch`.
async fn verified_topology(
    fetcher: &TopologyFetcher,
    epoch: Option<EpochId>,
    what: &str,
    timeout: Duration,
) -> validator_core::topology::Topology {
    eventually(what, timeout, || async { fetcher.fetch(epoch).await.ok() }).await
}

/// Waits until every validator lists `nodes` bonded nodes; returns the first epoch whose
/// topology is built from a state that includes them (the epoch after the next: the next
/// one's topology may have been built before).
async fn applied_then_next_topology(net: &Network, nodes: usize) -> EpochId {
    for v in &net.validators {
        eventually(
            "the statements are applied",
            Duration::from_secs(30),
            || async { v.client.nodes().await.ok().filter(|n| n.len() == nodes) },
        )
        .await;
    }
    let mut latest = EpochId(0);
    for v in &net.validators {
        latest = latest.max(v.client.status().await.unwrap().current_epoch);
    }
    EpochId(latest.0 + 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_frequency_follows_stake_over_many_epochs() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let net = Network::start(Shape {
        epoch_ms: 1_000,
        ..Shape::default()
    })
    .await;
    let g = &net.genesis;
    let acct = &net.accounts[0];
    // One heavy mixnode (2000), five light ones (100 each), one under-bonded, one gateway.
    let stakes = [2000, 100, 100, 100, 100, 100, 99];
    for (i, stake) in stakes.iter().enumerate() {
        let s = bond(g, acct, i as u64, i, NodeRole::Mixnode, *stake);
        net.validators[1].client.submit(&s).await.unwrap();
    }
    let gw = bond(g, acct, stakes.len() as u64, 99, NodeRole::Gateway, 500);
    net.validators[1].client.submit(&gw).await.unwrap();

    const EPOCHS: u64 = 25;
    let first = applied_then_next_topology(&net, stakes.len() + 1).await;
    let last = EpochId(first.0 + EPOCHS - 1);
    for i in 0..4 {
        net.wait_for_topology(i, last).await;
    }
    let mut counts: BTreeMap<IdentityKey, u64> = BTreeMap::new();
    for e in first.0..=last.0 {
        let mut served = Vec::new();
        for v in &net.validators {
            served.push(v.client.topology_at(EpochId(e)).await.unwrap().topology);
        }
        assert!(
            served.windows(2).all(|w| w[0] == w[1]),
            "validators agree on epoch {e}"
        );
        assert_eq!(served[0].mixnodes.len(), 3);
        for m in &served[0].mixnodes {
            *counts.entry(m.identity_key).or_default() += 1;
        }
    }
    let count = |i| {
        counts
            .get(&node(i, NodeRole::Mixnode).1.identity_key)
            .copied()
            .unwrap_or(0)
    };
    // Stake-weighted: the heavy node is missing from an epoch with probability about 0.004.
    // Uniform selection (3 of 6) would pick it in half the epochs: P(>= 22 of 25) < 1e-4.
    assert!(
        count(0) >= 22,
        "heavy node in {} of {EPOCHS} epochs",
        count(0)
    );
    let light: u64 = (1..6).map(count).sum();
    assert_eq!(count(0) + light, 3 * EPOCHS);
    assert_eq!(count(6), 0, "the under-bonded node is never selected");
    // Different epochs choose different light nodes: the seed changes every epoch.
    assert!((1..6).filter(|&i| count(i) > 0).count() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topology_signed_by_fewer_than_threshold_validators_is_refused() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    // Clients need all four signatures; the chain goes on with three of four.
    let mut net = Network::start(Shape {
        threshold: 4,
        ..Shape::default()
    })
    .await;
    let fetcher = TopologyFetcher::new(net.genesis.clone()).unwrap();
    let next = EpochId(net.current_epoch(0).await.0 + 1);
    verified_topology(
        &fetcher,
        Some(next),
        "the next topology verifies",
        Duration::from_secs(20),
    )
    .await;

    net.kill(3);
    // Built after the kill: signed by the three that remain.
    let lonely = EpochId(net.current_epoch(0).await.0 + 2);
    let v0 = &net.validators[0].client;
    let signed = eventually("three signatures", Duration::from_secs(30), || async {
        v0.topology_at(lonely)
            .await
            .ok()
            .filter(|t| t.signatures.len() == 3)
    })
    .await;
    let refused = verify_signed_topology_for(&signed, &net.genesis).unwrap_err();
    assert!(refused.to_string().contains("threshold 4"), "{refused}");
    let err = fetcher.fetch(Some(lonely)).await.unwrap_err();
    assert!(err.to_string().contains("3 valid signatures"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_pays_for_a_credential_only_when_a_threshold_serves_the_same_keys() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Network::start(Shape::default()).await;
    let account = net.accounts[0].clone();
    let account_id = IdentityKey::from(&account);
    // Three of four issue (threshold 3): one down changes nothing.
    net.kill(3);
    let credential = obtain_credential(&net.genesis, &account, 4096)
        .await
        .unwrap();
    // A presentation with a changed public attribute does not verify.
    let gateway = IdentityKey::from(&SigningKey::from_bytes(&[7; 32]));
    let mut inflated = credential.present(gateway).unwrap();
    inflated.public_attributes.bandwidth = 1 << 40;
    let refused = net.validators[0].client.spend(&inflated).await.unwrap_err();
    assert_eq!(refused.status(), Some(422), "{refused}");
    let view = net.validators[1].client.account(&account_id).await.unwrap();
    assert_eq!((view.next_nonce, view.balance), (1, 1_000_000 - 4096));

    // With two of four down, fewer than the threshold vouch for the verification keys: the
    // client refuses before it pays (no deposit is submitted).
    net.kill(2);
    let err = obtain_credential(&net.genesis, &account, 4096)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NoAgreedKeys { needed: 3, .. }),
        "{err}"
    );
    let view = net.validators[0].client.account(&account_id).await.unwrap();
    assert_eq!(view.next_free_nonce, 1, "no second deposit was submitted");
    assert_eq!(view.balance, 1_000_000 - 4096);
}
