//! The chain as real processes on loopback: four validators (f = 1), killed, restarted,
//! one of them Byzantine, credentials raced across validators, bad input.
//!
//! The networks of these tests run one at a time (a process-wide lock): four validators and
//! their consensus traffic are enough for a 2-core machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{bond, eventually, Network, Shape};
use ed25519_dalek::SigningKey;
use validator_client::{obtain_credential, ValidatorClient};
use validator_core::api::{self, ApiError, BlindSignBody};
use validator_core::coconut::prepare_blind_sign;
use validator_core::credential::{parameters, request_digest, PrivateAttributes, PublicAttributes};
use validator_core::primitives::IdentityKey;
use validator_core::statement::{NodeRole, SignedStatement, Statement};
use validator_core::topology::EpochId;

static ONE_NETWORK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const LONG: Duration = Duration::from_secs(60);

/// Every validator in `which` holds the same blocks (ids and state hashes) at `heights`.
async fn same_chain(net: &Network, which: &[usize], heights: std::ops::RangeInclusive<u64>) {
    for h in heights {
        let first = net.validators[which[0]].client.block(h).await.unwrap();
        for &i in &which[1..] {
            let other = net.validators[i].client.block(h).await.unwrap();
            assert_eq!(
                (other.id, other.state_hash),
                (first.id, first.state_hash),
                "validators {} and {i} differ at height {h}",
                which[0]
            );
        }
    }
}

fn gateway(i: u8) -> IdentityKey {
    IdentityKey::from(&SigningKey::from_bytes(&[i; 32]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_killed_mid_run_restarts_from_disk_catches_up_and_signs_the_next_topology() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Network::start(Shape::default()).await;
    let g = net.genesis.clone();
    let acct = net.accounts[0].clone();
    // Long enough for it to hold a snapshot (one every 7 blocks here).
    net.wait_for_height(3, 10, LONG).await;
    for i in 0..3 {
        net.validators[0]
            .client
            .submit(&bond(&g, &acct, i as u64, i, NodeRole::Mixnode, 500))
            .await
            .unwrap();
    }

    net.kill(3);
    let at_kill = net.common_height(&[0, 1, 2]).await;
    // Transactions keep arriving while it is down, at another validator.
    net.validators[1]
        .client
        .submit(&bond(&g, &acct, 3, 3, NodeRole::Gateway, 500))
        .await
        .unwrap();
    // The other three keep deciding blocks, and topologies with their three signatures.
    for i in 0..3 {
        net.wait_for_height(i, at_kill + 15, LONG).await;
    }
    let v0 = &net.validators[0].client;
    let epoch = EpochId(net.current_epoch(0).await.0 + 1);
    let signed = eventually("a topology signed by the three", LONG, || async {
        v0.topology_at(epoch)
            .await
            .ok()
            .filter(|t| t.signatures.len() >= 3)
    })
    .await;
    assert_eq!(
        signed.topology.gateways.len(),
        1,
        "the bond made while it was down"
    );
    // Validator 0's status shows who takes part: the three live ones are in every commit
    // certificate (three of four is the quorum), the killed one in none since.
    let keys: Vec<IdentityKey> = {
        let mut keys = Vec::new();
        for i in 0..3 {
            keys.push(
                net.validators[i]
                    .client
                    .status()
                    .await
                    .unwrap()
                    .identity_key,
            );
        }
        keys
    };
    let status = net.validators[0].client.status().await.unwrap();
    assert_eq!(status.peers.len(), 3, "every other genesis validator");
    for peer in &status.peers {
        let signed = peer.last_signed_height.unwrap_or(0);
        if keys.contains(&peer.identity_key) {
            assert!(
                signed >= at_kill + 15,
                "a live peer last signed at {signed}"
            );
        } else {
            assert!(signed <= at_kill + 1, "the killed one signed at {signed}");
        }
    }

    // Restarted from its directory, it replays its blocks, catches up the rest from its
    // peers and ends with the same chain and state.
    net.restart(3).await;
    let v0 = &net.validators[0].client;
    let target = net.common_height(&[0, 1, 2]).await;
    net.wait_for_height(3, target, LONG).await;
    same_chain(&net, &[0, 1, 2, 3], 1..=target).await;
    eventually(
        "the restarted one is in commit certificates again",
        LONG,
        || async {
            let status = v0.status().await.ok()?;
            status
                .peers
                .iter()
                .any(|p| !keys.contains(&p.identity_key) && p.last_signed_height > Some(target))
                .then_some(())
        },
    )
    .await;
    // It restored its state from a snapshot (one every 7 blocks here), not from genesis.
    let log = std::fs::read_to_string(net.validators[3].dir.join("validator.log")).unwrap();
    let restored = log
        .lines()
        .rfind(|l| l.contains("chain state restored from disk"))
        .expect("a restore line in its log");
    let from: u64 = restored
        .split("from_snapshot=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the snapshot height in the restore line");
    assert!(from >= 7, "restored from genesis: {restored}");

    // It signs the topologies built after it is back.
    let me = net.validators[3]
        .client
        .status()
        .await
        .unwrap()
        .identity_key;
    // One of the next few: under load a topology built while it still catches up is signed
    // only if it is among the two newest when it is back (the votes it sends again), so the
    // first may be skipped; the ones after are built while it runs.
    let next = net.current_epoch(3).await.0 + 2;
    eventually(
        "the restarted validator signs a new topology",
        LONG,
        || async {
            for epoch in next..next + 4 {
                let signed = v0
                    .topology_at(EpochId(epoch))
                    .await
                    .ok()
                    .is_some_and(|t| t.signatures.iter().any(|s| s.validator == me));
                if signed {
                    return Some(());
                }
            }
            None
        },
    )
    .await;
    let top = net.common_height(&[0, 1, 2, 3]).await;
    same_chain(&net, &[0, 1, 2, 3], top.saturating_sub(3)..=top).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_proposing_invalid_blocks_cannot_stop_or_split_the_honest_three() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let net = Network::start(Shape {
        byzantine: vec![0],
        ..Shape::default()
    })
    .await;
    let byzantine = net.validators[0]
        .client
        .status()
        .await
        .unwrap()
        .identity_key;
    // A statement submitted at the Byzantine validator still reaches the chain (it relays,
    // and the honest proposers include it).
    let g = net.genesis.clone();
    let acct = net.accounts[0].clone();
    net.validators[0]
        .client
        .submit(&bond(&g, &acct, 0, 0, NodeRole::Mixnode, 500))
        .await
        .unwrap();
    for i in 1..4 {
        net.wait_for_height(i, 16, LONG).await;
    }
    same_chain(&net, &[1, 2, 3], 1..=16).await;
    for h in 1..=16 {
        let block = net.validators[1].client.block(h).await.unwrap();
        assert_ne!(
            block.proposer, byzantine,
            "a block of the Byzantine proposer was decided at height {h}"
        );
        assert!(
            block.signers >= 3,
            "height {h} decided by {} signers",
            block.signers
        );
    }
    let account = IdentityKey::from(&acct);
    eventually("the bond is applied", LONG, || async {
        net.validators[2]
            .client
            .account(&account)
            .await
            .ok()
            .filter(|a| a.next_nonce == 1)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_proposing_two_blocks_per_round_cannot_split_the_honest_three() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let net = Network::start(Shape {
        byzantine: vec![0],
        byzantine_as: "conflicting-proposals",
        ..Shape::default()
    })
    .await;
    let start = net.common_height(&[1, 2, 3]).await;
    for i in 0..4 {
        net.wait_for_height(i, start + 16, LONG).await;
    }
    // The equivocator proposes at one height in four: its twins reached the honest three.
    let mut seen = 0;
    for i in 1..4 {
        seen += net.validators[i]
            .client
            .status()
            .await
            .unwrap()
            .conflicting_proposals;
    }
    assert!(seen > 0, "no honest validator saw a conflicting proposal");
    same_chain(&net, &[0, 1, 2, 3], start + 1..=start + 16).await;
    for h in start + 1..=start + 16 {
        let block = net.validators[2].client.block(h).await.unwrap();
        assert!(
            block.signers >= 3,
            "height {h} decided by {} signers",
            block.signers
        );
    }
}

/// Spends `a` at validator `x` and `b` at validator `y` at the same time; returns how many
/// succeeded, checking that every refusal is a 409.
async fn race(
    x: &ValidatorClient,
    a: &api::SpendBody,
    y: &ValidatorClient,
    b: &api::SpendBody,
) -> usize {
    let (ra, rb) = tokio::join!(x.spend(a), y.spend(b));
    let mut ok = 0;
    for r in [ra, rb] {
        match r {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.status(), Some(409), "{e}"),
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_credential_presented_at_two_validators_at_once_is_spent_exactly_once() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Network::start(Shape::default()).await;
    let acct = net.accounts[0].clone();
    let mut credentials = Vec::new();
    for round in 0..20 {
        let credential = obtain_credential(&net.genesis, &acct, 1_000).await.unwrap();
        // Two fresh presentations for two gateways, raced at two validators.
        let a = credential.present(gateway(1)).unwrap();
        let b = credential.present(gateway(2)).unwrap();
        let x = &net.validators[round % 4].client;
        let y = &net.validators[(round + 1) % 4].client;
        assert_eq!(race(x, &a, y, &b).await, 1, "round {round}");
        credentials.push(credential);
    }

    // A presentation moved to another gateway does not verify.
    let mut moved = credentials[0].present(gateway(1)).unwrap();
    moved.gateway = gateway(3);
    let refused = net.validators[2].client.spend(&moved).await.unwrap_err();
    assert_eq!(refused.status(), Some(422), "{refused}");

    // After every validator restarts, every credential is still spent, everywhere.
    for i in 0..4 {
        net.kill(i);
    }
    for i in 0..4 {
        net.restart(i).await;
    }
    for (i, credential) in credentials.iter().enumerate() {
        let again = credential.present(gateway(4)).unwrap();
        let refused = net.validators[i % 4]
            .client
            .spend(&again)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(409), "credential {i}: {refused}");
    }
    // And a new credential still races to exactly one spend.
    for round in 0..3 {
        let credential = obtain_credential(&net.genesis, &acct, 1_000).await.unwrap();
        let a = credential.present(gateway(1)).unwrap();
        let b = credential.present(gateway(1)).unwrap();
        let x = &net.validators[round].client;
        let y = &net.validators[3].client;
        assert_eq!(race(x, &a, y, &b).await, 1, "after restart, round {round}");
    }
}

/// A blind-sign request for `bandwidth` paid by `account` with `nonce`.
fn paid_request(net: &Network, account: &SigningKey, nonce: u64, bandwidth: u64) -> BlindSignBody {
    let params = parameters();
    let private = PrivateAttributes::random(&mut rand::rng());
    let public = PublicAttributes::bandwidth_voucher(bandwidth);
    let (_, request) = prepare_blind_sign(
        &params,
        &private.scalars(),
        &public.scalars(),
        &mut rand::rng(),
    )
    .unwrap();
    let digest = request_digest(&request, &public);
    let deposit = Statement::deposit(
        net.genesis.genesis_hash(),
        IdentityKey::from(account),
        nonce,
        bandwidth,
        digest,
    );
    BlindSignBody {
        deposit: SignedStatement::sign(deposit, account).unwrap(),
        request,
        public_attributes: public,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_deposits_at_two_validators_get_exactly_one_signature() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let net = Network::start(Shape::default()).await;
    let acct = net.accounts[1].clone();
    for nonce in 0..5 {
        // Two deposits with the same nonce, for two different requests.
        let a = paid_request(&net, &acct, nonce, 100);
        let b = paid_request(&net, &acct, nonce, 100);
        let x = &net.validators[(nonce as usize) % 4].client;
        let y = &net.validators[(nonce as usize + 2) % 4].client;
        let (ra, rb) = tokio::join!(x.blind_sign(&a), y.blind_sign(&b));
        let signed = [ra, rb]
            .into_iter()
            .filter(|r| match r {
                Ok(_) => true,
                Err(e) => {
                    assert_eq!(e.status(), Some(409), "{e}");
                    false
                }
            })
            .count();
        assert_eq!(signed, 1, "nonce {nonce}");
    }
    // A validator that did not answer applies the last deposit's block when it gets it: ask
    // it until it has (bounded), then check what it holds.
    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        let view = net.validators[3]
            .client
            .account(&IdentityKey::from(&acct))
            .await
            .unwrap();
        if view.next_nonce >= 5 || Instant::now() > deadline {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(view.next_nonce, 5);
    assert_eq!(view.balance, 1_000_000 - 5 * 100, "each nonce paid once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_input_is_a_4xx_with_its_reason_and_a_flood_from_one_address_does_not_delay_another(
) {
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
    let kind = |text: &str| serde_json::from_str::<ApiError>(text).unwrap().kind;
    let account = IdentityKey::from(&net.accounts[0]);
    let unchanged = || async {
        let view = net.validators[0].client.account(&account).await.unwrap();
        assert_eq!(
            (view.next_nonce, view.next_free_nonce),
            (0, 0),
            "nothing applied"
        );
    };

    let (s, t) = post(api::STATEMENTS, "{not json".into()).await;
    assert_eq!((s, kind(&t).as_str()), (400, "bad_request"), "{t}");
    peer_relays_need_another_validators_signature(&net).await;
    browser_pages_reach_the_client_calls_and_nothing_else(&net).await;

    let good = bond(g, &net.accounts[0], 0, 0, NodeRole::Mixnode, 500);
    let mut forged = good.clone();
    forged.statement.nonce = 7;
    let (s, t) = post(api::STATEMENTS, serde_json::to_string(&forged).unwrap()).await;
    assert_eq!((s, kind(&t).as_str()), (422, "invalid_statement"), "{t}");
    assert!(t.contains("signature"), "{t}");

    let gap = bond(g, &net.accounts[0], 3, 1, NodeRole::Mixnode, 500);
    let (s, t) = post(api::STATEMENTS, serde_json::to_string(&gap).unwrap()).await;
    assert_eq!((s, kind(&t).as_str()), (422, "statement_refused"), "{t}");
    assert!(t.contains("nonce"), "{t}");

    let overspend = bond(g, &net.accounts[0], 0, 1, NodeRole::Mixnode, 2_000_000);
    let (s, t) = post(api::STATEMENTS, serde_json::to_string(&overspend).unwrap()).await;
    assert_eq!(s, 422, "{t}");
    assert!(t.contains("insufficient balance"), "{t}");

    let (s, _) = post(api::STATEMENTS, "x".repeat(api::MAX_BODY_BYTES + 1)).await;
    assert_eq!(s, 413);
    unchanged().await;

    // Unloaded: a valid statement from 127.0.0.1, submission to applied at validator 1.
    let v1 = &net.validators[1].client;
    let applied = |nonce: u64| {
        eventually("the valid statement is applied", LONG, move || async move {
            v1.account(&account)
                .await
                .ok()
                .filter(|a| a.next_nonce == nonce)
        })
    };
    let sent = Instant::now();
    net.validators[0].client.submit(&good).await.unwrap();
    applied(1).await;
    let unloaded = sent.elapsed();

    // A flood of statements with bad signatures from 127.0.0.2 (bounded: 20,000 requests,
    // 32 at a time, 60 s), and meanwhile, once the flooder meets its limit, a valid
    // statement from 127.0.0.1: the flooder's verifications stop at its burst and rate; the
    // valid statement lands as fast as without the flood.
    let flooder = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let honest = bond(g, &net.accounts[0], 1, 1, NodeRole::Mixnode, 500);
    let limited = tokio::sync::Notify::new();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (verified, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let flood_started = Instant::now();
    let counts = (&verified, &refused, &limited);
    let flood = async {
        use futures::StreamExt;
        let deadline = flood_started + Duration::from_secs(60);
        futures::stream::iter(0..20_000u64)
            .take_while(|_| {
                let go = !done.load(Ordering::Relaxed) && Instant::now() < deadline;
                async move { go }
            })
            .map(|i| {
                let mut bad = good.clone();
                bad.statement.nonce = i + 2;
                flooder
                    .post(format!("{base}{}", api::STATEMENTS))
                    .header("content-type", "application/json")
                    .body(serde_json::to_string(&bad).unwrap())
                    .send()
            })
            .buffer_unordered(32)
            .for_each(|r| async move {
                let (verified, refused, limited) = counts;
                let r = r.unwrap();
                match r.status().as_u16() {
                    422 => {
                        verified.fetch_add(1, Ordering::Relaxed);
                    }
                    429 => {
                        if refused.fetch_add(1, Ordering::Relaxed) == 0 {
                            let retry: u64 = r.headers()["retry-after"]
                                .to_str()
                                .unwrap()
                                .parse()
                                .unwrap();
                            assert!((1..=60).contains(&retry), "Retry-After {retry}");
                            let t = r.text().await.unwrap();
                            assert_eq!(kind(&t), "rate_limited", "{t}");
                            limited.notify_one();
                        }
                    }
                    other => panic!("flood answered {other}: {}", r.text().await.unwrap()),
                }
            })
            .await;
    };
    let valid = async {
        tokio::time::timeout(Duration::from_secs(30), limited.notified())
            .await
            .expect("the flooder is never limited");
        let sent = Instant::now();
        let accepted = net.validators[0].client.submit(&honest).await.unwrap();
        let answered = sent.elapsed();
        applied(2).await;
        let loaded = sent.elapsed();
        done.store(true, Ordering::Relaxed);
        (accepted, answered, loaded)
    };
    let ((), (accepted, answered, loaded)) = tokio::join!(flood, valid);
    let flood_secs = flood_started.elapsed().as_secs_f64();
    let (verified, refused) = (verified.into_inner(), refused.into_inner());
    eprintln!(
        "flood from 127.0.0.2: {verified} verified (422), {refused} refused (429) in \
         {flood_secs:.1} s; valid statement from 127.0.0.1: applied {unloaded:?} unloaded, \
         {loaded:?} under the flood (answered in {answered:?})"
    );
    let defaults = validator::service::config::ApiSection::default();
    let allowed =
        f64::from(defaults.write_burst) + f64::from(defaults.write_per_second) * (flood_secs + 1.0);
    assert!(
        (verified as f64) <= allowed,
        "{verified} flood statements verified; the limit allows {allowed}"
    );
    assert!(refused > 0);
    assert!(
        loaded <= unloaded * 3 + Duration::from_secs(2),
        "applied in {loaded:?} under the flood, {unloaded:?} without"
    );
    let admitted = accepted.admitted_at_height;
    let mut landed = None;
    for h in admitted + 1..=admitted + 5 {
        if let Ok(block) = v1.block(h).await {
            if block.transactions > 0 {
                landed = Some(h);
                break;
            }
        }
    }
    let landed = landed.expect("the statement's block");
    assert!(
        landed <= admitted + 2,
        "admitted at height {admitted}, decided at {landed}"
    );
    // No invalid statement was kept: the mempool empties (validators' own transactions,
    // such as topology signatures, are decided within a block or two; a kept invalid
    // statement never would be).
    eventually(
        "validator 1's mempool empties",
        Duration::from_secs(20),
        || async {
            let status = v1.status().await.ok()?;
            (status.pending_transactions == 0).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mempool_refuses_with_503_and_what_it_holds_is_decided_once_the_chain_moves() {
    let _one = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Network::start(Shape {
        pending_limit: Some(40),
        ..Shape::default()
    })
    .await;
    // Two of four down: no quorum, nothing is decided, what validator 0 admits stays pending.
    net.kill(2);
    net.kill(3);
    let g = net.genesis.clone();
    let acct = net.accounts[0].clone();
    let v0 = &net.validators[0].client;
    // Statements are admitted until the pool is full (the validators' own transactions
    // pending at the kill, such as topology votes, take room too), then refused with 503.
    let mut admitted = 0u64;
    let refused = loop {
        assert!(admitted <= 40, "more admitted than the pool holds");
        let statement = bond(
            &g,
            &acct,
            admitted,
            admitted as usize,
            NodeRole::Mixnode,
            200,
        );
        match v0.submit(&statement).await {
            Ok(_) => admitted += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(refused.status(), Some(503), "{refused}");
    assert!(refused.to_string().contains("mempool_full"), "{refused}");
    // Besides statements the pool holds at most the votes of the two newest topologies
    // from the four validators.
    assert!(admitted >= 32, "only {admitted} statements were admitted");
    assert_eq!(v0.status().await.unwrap().pending_transactions, 40);

    // The chain moves again: everything held is decided, and there is room again.
    net.restart(2).await;
    net.restart(3).await;
    let account = IdentityKey::from(&acct);
    for i in [0, 2] {
        let v = &net.validators[i].client;
        eventually("the held statements are decided", LONG, || async {
            v.account(&account)
                .await
                .ok()
                .filter(|a| a.next_nonce == admitted)
        })
        .await;
    }
    let v0 = &net.validators[0].client;
    v0.submit(&bond(
        &g,
        &acct,
        admitted,
        admitted as usize,
        NodeRole::Mixnode,
        200,
    ))
    .await
    .unwrap();
}

/// A page of any origin may call what a browser client needs (with a preflight for its JSON
/// posts); the calls of gateways, nodes and peer validators stay closed to pages.
async fn browser_pages_reach_the_client_calls_and_nothing_else(net: &Network) {
    const ORIGIN: &str = "http://127.0.0.1:9";
    let base = &net.validators[0].url;
    let http = reqwest::Client::new();
    let preflight = |path: &str| {
        http.request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("origin", ORIGIN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let get = |path: String| {
        http.get(format!("{base}{path}"))
            .header("origin", ORIGIN)
            .send()
    };
    let allowed = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    for path in [api::STATEMENTS, api::BLIND_SIGN] {
        let r = preflight(path).await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(allowed(&r).as_deref(), Some("*"), "{path}");
        let methods = r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains("POST"), "{path}: {methods}");
        let headers = r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(headers.contains("content-type"), "{path}: {headers}");
    }
    let account = IdentityKey::from(&net.accounts[0]);
    for path in [
        api::GENESIS.to_owned(),
        api::TOPOLOGY.to_owned(),
        api::VERIFICATION_KEYS.to_owned(),
        api::KEY_EPOCHS.to_owned(),
        format!("/v1/accounts/{account}"),
    ] {
        let r = get(path.clone()).await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(allowed(&r).as_deref(), Some("*"), "{path}");
    }

    for path in [api::SPEND, api::SPHINX_KEYS, api::PEER_TRANSACTIONS] {
        let r = preflight(path).await.unwrap();
        assert_eq!(allowed(&r), None, "{path} answered a page's preflight");
    }
    let r = get("/v1/blocks/1".to_owned()).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(allowed(&r), None, "blocks are not a client call");
}

/// The peer relay endpoint of validator 0 refuses what another validator did not sign for
/// this chain, now, over this body: before decoding it.
async fn peer_relays_need_another_validators_signature(net: &Network) {
    use validator_core::peer_auth::PeerAuth;
    let url = format!("{}{}", net.validators[0].url, api::PEER_TRANSACTIONS);
    let genesis = net.genesis.genesis_hash();
    let secret =
        validator_core::files::read_secret(&net.validators[1].dir.join("identity.key")).unwrap();
    let peer = SigningKey::from_bytes(&secret);
    let stranger = net.accounts[0].clone();
    let http = reqwest::Client::new();
    let body = br#"{"statement":{"nonsense":1}}"#.to_vec();
    let send = |auth: Option<PeerAuth>, body: Vec<u8>| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in auth.iter().flat_map(PeerAuth::headers) {
            req = req.header(name, value);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            let kind = serde_json::from_str::<ApiError>(&text)
                .map(|e| e.kind)
                .unwrap_or(text);
            (status, kind)
        }
    };
    let path = api::PEER_TRANSACTIONS;
    let now = testnet::now_ms();
    let signed = |key: &SigningKey, time: u64, body: &[u8]| {
        Some(PeerAuth::sign(key, &genesis, path, time, body))
    };
    let cases = [
        ("unsigned", None, body.clone(), (401, "peer_auth_missing")),
        (
            "signed by a non-validator",
            signed(&stranger, now, &body),
            body.clone(),
            (403, "not_a_peer"),
        ),
        (
            "a validator's key, another key's signature",
            signed(&stranger, now, &body).map(|mut a| {
                a.key = IdentityKey::from(&peer);
                a
            }),
            body.clone(),
            (401, "peer_auth_bad_signature"),
        ),
        (
            "signed for another body",
            signed(&peer, now, b"{}"),
            body.clone(),
            (401, "peer_auth_bad_signature"),
        ),
        (
            "signed ten minutes ago",
            signed(&peer, now - 600_000, &body),
            body.clone(),
            (401, "peer_auth_expired"),
        ),
        (
            "signed by a peer: read, and refused as a transaction",
            signed(&peer, now, &body),
            body.clone(),
            (400, "bad_request"),
        ),
    ];
    for (what, auth, body, (status, kind)) in cases {
        let (s, k) = send(auth, body).await;
        assert_eq!((s, k.as_str()), (status, kind), "{what}");
    }
}
