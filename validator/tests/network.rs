//! Three validators as real processes on loopback.
//!
//! The networks of these tests run one at a time (a process-wide lock): each has three
//! validators with short epochs, and the relay grace of a short epoch is tens of
//! milliseconds, which concurrent networks on a 2-core machine could exceed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{bond, eventually, node, Network, Shape};
use ed25519_dalek::SigningKey;
use validator_client::{obtain_credential, ClientError, TopologyFetcher};
use validator_core::api::{self, ApiError, BlindSignBody};
use validator_core::coconut::prepare_blind_sign;
use validator_core::credential::{parameters, PrivateAttributes, PublicAttributes};
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
    let mut applies = EpochId(0);
    for s in &statements {
        let accepted = net.validators[0].client.submit(s).await.unwrap();
        assert_eq!(accepted.statement_id, s.id());
        applies = applies.max(accepted.applies_at_end_of);
    }
    let target = applies.next();
    for i in 0..3 {
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
        let signed = eventually("all three signatures", Duration::from_secs(10), || async {
            v.client
                .topology_at(target)
                .await
                .ok()
                .filter(|s| s.signatures.len() == 3)
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
    let hashes: Vec<_> = futures_hashes(&net).await;
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");

    // Unbond node 0 at another validator: it leaves every topology.
    let unbond = SignedStatement::sign(
        Statement::unbond(g.genesis_hash(), IdentityKey::from(acct), 6, id(0)),
        acct,
    )
    .unwrap();
    let accepted = net.validators[2].client.submit(&unbond).await.unwrap();
    let after = accepted.applies_at_end_of.next();
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

/// Polls until the client library accepts the topology of `epoch`.
async fn verified_topology(
    fetcher: &TopologyFetcher,
    epoch: Option<EpochId>,
    what: &str,
    timeout: Duration,
) -> validator_core::topology::Topology {
    eventually(what, timeout, || async { fetcher.fetch(epoch).await.ok() }).await
}

async fn futures_hashes(net: &Network) -> Vec<validator_core::ledger::StateHash> {
    let mut out = Vec::new();
    for v in &net.validators {
        out.push(v.client.status().await.unwrap().ledger_state_hash);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_frequency_follows_stake_over_many_epochs() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let net = Network::start(Shape {
        epoch_ms: 800,
        ..Shape::default()
    })
    .await;
    let g = &net.genesis;
    let acct = &net.accounts[0];
    // One heavy mixnode (2000), five light ones (100 each), one under-bonded, one gateway.
    let stakes = [2000, 100, 100, 100, 100, 100, 99];
    let mut applies = EpochId(0);
    for (i, stake) in stakes.iter().enumerate() {
        let s = bond(g, acct, i as u64, i, NodeRole::Mixnode, *stake);
        applies = applies.max(
            net.validators[1]
                .client
                .submit(&s)
                .await
                .unwrap()
                .applies_at_end_of,
        );
    }
    let gw = bond(g, acct, stakes.len() as u64, 99, NodeRole::Gateway, 500);
    applies = applies.max(
        net.validators[1]
            .client
            .submit(&gw)
            .await
            .unwrap()
            .applies_at_end_of,
    );

    const EPOCHS: u64 = 25;
    let first = applies.next();
    let last = EpochId(first.0 + EPOCHS - 1);
    for i in 0..3 {
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
    let mut net = Network::start(Shape::default()).await;
    let fetcher = TopologyFetcher::new(net.genesis.clone()).unwrap();
    let next = net.epoch_now().next();
    verified_topology(
        &fetcher,
        Some(next),
        "the next topology verifies",
        Duration::from_secs(15),
    )
    .await;

    net.kill(1);
    net.kill(2);
    // Built after the kill: only validator 0's signature.
    let lonely = EpochId(net.epoch_now().0 + 2);
    net.wait_for_topology(0, lonely).await;
    let signed = net.validators[0].client.topology_at(lonely).await.unwrap();
    assert_eq!(signed.signatures.len(), 1);
    let refused = verify_signed_topology_for(&signed, &net.genesis).unwrap_err();
    assert!(refused.to_string().contains("threshold 2"), "{refused}");
    let err = fetcher.fetch(Some(lonely)).await.unwrap_err();
    assert!(err.to_string().contains("1 valid signatures"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_issue_with_two_of_three_and_a_spend_is_seen_everywhere() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Network::start(Shape::default()).await;
    let account = net.accounts[0].clone();
    let account_id = IdentityKey::from(&account);
    net.kill(2);

    let credential = obtain_credential(&net.genesis, &account, 4096)
        .await
        .unwrap();
    // Validators check the presentation in the context it names (any gateway here).
    let gateway = IdentityKey::from(&SigningKey::from_bytes(&[7; 32]));
    let presentation = credential.present(gateway).unwrap();
    let spent = net.validators[0].client.spend(&presentation).await.unwrap();

    // The spent tag reaches validator 1; a fresh, unlinkable presentation of the same
    // credential is then refused there as a double spend.
    let v1 = &net.validators[1].client;
    eventually(
        "validator 1 learns the spend",
        Duration::from_secs(10),
        || async { v1.is_spent(&spent.zeta).await.ok().filter(|a| a.spent) },
    )
    .await;
    let again = credential.present(gateway).unwrap();
    assert_ne!(again.theta, presentation.theta);
    let refused = v1.spend(&again).await.unwrap_err();
    assert_eq!(refused.status(), Some(409), "{refused}");

    // A presentation with a changed public attribute does not verify.
    let mut inflated = credential.present(gateway).unwrap();
    inflated.public_attributes.bandwidth = 1 << 40;
    let refused = net.validators[0].client.spend(&inflated).await.unwrap_err();
    assert_eq!(refused.status(), Some(422), "{refused}");

    // So does one whose gateway was rewritten after it was made.
    let mut moved = credential.present(gateway).unwrap();
    moved.gateway = IdentityKey::from(&SigningKey::from_bytes(&[8; 32]));
    let refused = net.validators[0].client.spend(&moved).await.unwrap_err();
    assert_eq!(refused.status(), Some(422), "{refused}");

    // Both live validators debited the deposit exactly once.
    for v in &net.validators[..2] {
        eventually(
            "the deposit is applied",
            Duration::from_secs(10),
            || async {
                v.client
                    .account(&account_id)
                    .await
                    .ok()
                    .filter(|a| a.next_nonce == 1)
            },
        )
        .await;
        let view = v.client.account(&account_id).await.unwrap();
        assert_eq!(view.balance, 1_000_000 - 4096);
    }

    // With two of three down, fewer than the threshold vouch for the verification keys: the
    // client refuses before it pays (no deposit reaches the live validator).
    net.kill(1);
    let err = obtain_credential(&net.genesis, &account, 4096)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::NoAgreedKeys { needed: 2, .. }),
        "{err}"
    );
    let view = net.validators[0].client.account(&account_id).await.unwrap();
    assert_eq!(view.next_free_nonce, 1, "no second deposit was submitted");
    assert_eq!(view.balance, 1_000_000 - 4096);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let net = Network::start(Shape::default()).await;
    let g = &net.genesis;
    let base = &net.validators[0].url;
    let http = reqwest::Client::new();
    let post = |path: &str, body: String| {
        let req = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (status, text)
        }
    };
    let get = |path: &str| {
        let req = http.get(format!("{base}{path}"));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let kind = |text: &str| serde_json::from_str::<ApiError>(text).unwrap().kind;

    let (s, t) = post(api::STATEMENTS, "{not json".into()).await;
    assert_eq!((s, kind(&t).as_str()), (400, "bad_request"), "{t}");

    let good = bond(g, &net.accounts[0], 0, 0, NodeRole::Mixnode, 500);
    let mut value = serde_json::to_value(&good).unwrap();
    value["surprise"] = 1.into();
    let (s, t) = post(api::STATEMENTS, value.to_string()).await;
    assert_eq!(s, 400, "unknown field: {t}");

    let mut forged = good.clone();
    forged.statement.nonce = 7;
    let (s, t) = post(api::STATEMENTS, serde_json::to_string(&forged).unwrap()).await;
    assert_eq!((s, kind(&t).as_str()), (422, "invalid_statement"), "{t}");
    assert!(t.contains("signature"), "{t}");

    let overspend = bond(g, &net.accounts[0], 0, 1, NodeRole::Mixnode, 2_000_000);
    let (s, t) = post(api::STATEMENTS, serde_json::to_string(&overspend).unwrap()).await;
    assert_eq!(s, 422, "{t}");
    assert!(t.contains("insufficient balance"), "{t}");

    net.validators[0].client.submit(&good).await.unwrap();
    let reuse = bond(g, &net.accounts[0], 0, 2, NodeRole::Mixnode, 500);
    let (s, t) = post(api::STATEMENTS, serde_json::to_string(&reuse).unwrap()).await;
    assert_eq!(s, 422, "{t}");
    assert!(t.contains("nonce 0 already used"), "{t}");

    let (s, t) = get("/v1/accounts/not-a-key").await;
    assert_eq!(s, 400, "{t}");
    let stranger = IdentityKey::from(&common::key(9, 9));
    let (s, _) = get(&api::account(&stranger)).await;
    assert_eq!(s, 404);
    let (s, _) = get("/v1/topology/yesterday").await;
    assert_eq!(s, 400);
    let (s, _) = get(&api::topology_at(EpochId(1_000_000))).await;
    assert_eq!(s, 404);
    let (s, _) = get("/v1/nothing-here").await;
    assert_eq!(s, 404);
    let (s, _) = get(&api::spent("short")).await;
    assert_eq!(s, 400);

    let (s, t) = post(
        api::SPEND,
        r#"{"theta":"abc","public_attributes":{"bandwidth":1,"credential_type":"BandwidthVoucher"}}"#
            .into(),
    )
    .await;
    assert_eq!(s, 400, "{t}");

    // A well-formed request paid with a bond instead of a deposit.
    let params = parameters();
    let private = PrivateAttributes::random(&mut rand::rng());
    let public = PublicAttributes::bandwidth_voucher(10);
    let (_, request) = prepare_blind_sign(
        &params,
        &private.scalars(),
        &public.scalars(),
        &mut rand::rng(),
    )
    .unwrap();
    let body = BlindSignBody {
        deposit: bond(g, &net.accounts[1], 0, 3, NodeRole::Mixnode, 500),
        request,
        public_attributes: public,
    };
    let (s, t) = post(api::BLIND_SIGN, serde_json::to_string(&body).unwrap()).await;
    assert_eq!((s, kind(&t).as_str()), (422, "invalid_deposit"), "{t}");

    // A request whose deposit the account cannot afford.
    let public = PublicAttributes::bandwidth_voucher(2_000_000);
    let (_, request) = prepare_blind_sign(
        &params,
        &private.scalars(),
        &public.scalars(),
        &mut rand::rng(),
    )
    .unwrap();
    let digest = validator_core::credential::request_digest(&request, &public);
    let unpaid = Statement::deposit(
        g.genesis_hash(),
        IdentityKey::from(&net.accounts[1]),
        0,
        2_000_000,
        digest,
    );
    let body = BlindSignBody {
        deposit: SignedStatement::sign(unpaid, &net.accounts[1]).unwrap(),
        request,
        public_attributes: public,
    };
    let (s, t) = post(api::BLIND_SIGN, serde_json::to_string(&body).unwrap()).await;
    assert_eq!((s, kind(&t).as_str()), (422, "invalid_statement"), "{t}");
    assert!(t.contains("insufficient balance"), "{t}");

    // Peer endpoints only take messages signed by another genesis validator.
    let relay = validator_core::api::RelayedStatement::sign(
        good,
        EpochId(0),
        &g.genesis_hash(),
        &common::key(9, 1),
    );
    let (s, t) = post(api::PEER_STATEMENTS, serde_json::to_string(&relay).unwrap()).await;
    assert_eq!((s, kind(&t).as_str()), (403, "not_a_peer"), "{t}");

    let (s, _) = post(api::STATEMENTS, "x".repeat(api::MAX_BODY_BYTES + 1)).await;
    assert_eq!(s, 413);

    // The validator is still serving.
    net.validators[0].client.status().await.unwrap();
}
