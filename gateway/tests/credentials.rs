//! Bandwidth credentials against a real validator (in this process, threshold 1 of 1, with a
//! Coconut key) and two gateway processes: no credential, no sending; a credential credits
//! its bandwidth once; a second presentation is refused at the same gateway (its own spent
//! store) and at another (the validators' spent set); a tampered one does not verify.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::*;
use ed25519_dalek::SigningKey;
use gateway_protocol::{ClientControl, ErrorKind, GatewayControl};
use router_core::wire::PacketSize;
use testnet::local_chain::{LocalChain, LocalValidator};
use validator_client::{obtain_credential, ValidatorClient};
use validator_core::files::write_secret;
use validator_core::primitives::IdentityKey;

fn sink() -> (SocketAddr, std::sync::mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut frame = vec![0u8; 4 + PacketSize::Regular.size()];
                while stream.read_exact(&mut frame).is_ok() {
                    if tx.send(frame.len()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_pay_for_bandwidth_once_across_gateways() {
    let home = tempfile::tempdir().unwrap();
    let account = SigningKey::from_bytes(&[8; 32]);
    let validator = LocalValidator::start(
        &home.path().join("validator"),
        &LocalChain {
            chain_id: "gateway-test".into(),
            epoch_length_ms: 60_000,
            account: IdentityKey::from(&account),
            balance: 1_000_000,
            minimum_bond: 10,
            mixnodes: 3,
            gateways: 1,
            key_rotation: None,
        },
    )
    .unwrap();
    validator
        .wait_for_keys(Duration::from_secs(30))
        .await
        .unwrap();
    let api = ValidatorClient::new(&validator.url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.status().await.is_err() {
        assert!(Instant::now() < deadline, "the validator did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let with_validator = ["--validator", validator.url.as_str()];
    let mut g1 = Process::gateway(home.path(), "g1", &with_validator);
    let mut g2 = Process::gateway(home.path(), "g2", &with_validator);
    g1.start(&["--danger-allow-any-next-hop"]);
    g2.start(&["--danger-allow-any-next-hop"]);
    let (at_g1, at_g2) = (
        IdentityKey::from_bytes(&g1.identity).unwrap(),
        IdentityKey::from_bytes(&g2.identity).unwrap(),
    );
    let (hop, forwarded) = sink();
    let packet = vec![0x42; PacketSize::Regular.size()];

    // No credential, no bandwidth: a clear error, nothing sent, the connection stays.
    let mut alice = TestClient::new(1, &g1);
    let mut a = alice.register().await;
    assert!(matches!(
        a.answer,
        Some(GatewayControl::Registered { bandwidth: 0, .. })
    ));
    a.send_packet(&hop, &packet).await;
    a.expect_error(ErrorKind::OutOfBandwidth).await;

    // Paid: 3 packets' worth.
    let worth = 3 * PacketSize::Regular.size() as u64;
    let credential = obtain_credential(&validator.genesis, &account, worth)
        .await
        .unwrap();
    a.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(credential.present(at_g1).unwrap()),
    })
    .await;
    assert_eq!(
        a.expect_control().await,
        GatewayControl::Bandwidth { remaining: worth }
    );
    for _ in 0..3 {
        a.send_packet(&hop, &packet).await;
    }
    for _ in 0..3 {
        forwarded.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    a.send_packet(&hop, &packet).await;
    a.expect_error(ErrorKind::OutOfBandwidth).await;
    assert_eq!(g1.metric("gateway_bandwidth_debited_bytes_total"), worth);

    // Spent: again here (a fresh, unlinkable presentation of the same credential), and at
    // the other gateway through the validators' spent set.
    a.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(credential.present(at_g1).unwrap()),
    })
    .await;
    a.expect_error(ErrorKind::CredentialSpent).await;
    let mut bob = TestClient::new(2, &g2);
    let mut b = bob.register().await;
    b.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(credential.present(at_g2).unwrap()),
    })
    .await;
    b.expect_error(ErrorKind::CredentialSpent).await;

    // Bound to its gateway: an unspent presentation for g1, replayed at g2 as it was seen on
    // the wire, or with its gateway field rewritten to g2, is refused there and spends
    // nothing; g1 still credits it.
    let bound = obtain_credential(&validator.genesis, &account, 500)
        .await
        .unwrap();
    let for_g1 = bound.present(at_g1).unwrap();
    b.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(for_g1.clone()),
    })
    .await;
    let refused = b.expect_error(ErrorKind::CredentialRefused).await;
    assert!(refused.contains("is for gateway"), "{refused}");
    let mut rewritten = for_g1.clone();
    rewritten.gateway = at_g2;
    b.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(rewritten),
    })
    .await;
    // The third refused credential of a connection closes it, naming the last refusal.
    let refused = b.expect_error(ErrorKind::TooManyRefusedCredentials).await;
    assert!(refused.contains("does not verify"), "{refused}");
    let mut b = bob.authenticate().await;
    a.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(for_g1),
    })
    .await;
    assert_eq!(
        a.expect_control().await,
        GatewayControl::Bandwidth { remaining: 500 }
    );

    // Tampered: claims more bandwidth than was signed.
    let fresh = obtain_credential(&validator.genesis, &account, 1000)
        .await
        .unwrap();
    let mut forged = fresh.present(at_g2).unwrap();
    forged.public_attributes.bandwidth = 1_000_000;
    b.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(forged),
    })
    .await;
    b.expect_error(ErrorKind::CredentialRefused).await;
    // The genuine one still works there, and the bandwidth survives a reconnect.
    b.send_sealed(&ClientControl::Bandwidth {
        credential: Box::new(fresh.present(at_g2).unwrap()),
    })
    .await;
    assert_eq!(
        b.expect_control().await,
        GatewayControl::Bandwidth { remaining: 1000 }
    );
    drop(b);
    let again = bob.authenticate().await;
    assert!(
        matches!(
            again.answer,
            Some(GatewayControl::Authenticated {
                bandwidth: 1000,
                ..
            })
        ),
        "{:?}",
        again.answer
    );
    assert_eq!(g2.metric("gateway_credentials_redeemed_total"), 1);

    // A burst of bad credentials (spent ones: the cheapest to send) ends the connection at
    // the third; the client can connect again. (On the connection just opened: a newer one
    // would replace it, and whichever of two the gateway attached last is the one kept.)
    let mut burst = again;
    for _ in 0..3 {
        burst
            .send_sealed(&ClientControl::Bandwidth {
                credential: Box::new(fresh.present(at_g2).unwrap()),
            })
            .await;
    }
    burst.expect_error(ErrorKind::CredentialSpent).await;
    burst.expect_error(ErrorKind::CredentialSpent).await;
    let why = burst
        .expect_error(ErrorKind::TooManyRefusedCredentials)
        .await;
    assert!(why.contains("3 credentials refused"), "{why}");
    assert_eq!(
        g2.metric("gateway_client_refused_total{reason=\"refused_credentials\"}"),
        2,
        "bob's two connections"
    );
    let _ = bob.authenticate().await;

    // Without the testing flag, first hops must be layer-1 nodes of the validators' topology
    // (none is bonded here): the packet is refused, not sent.
    let mut g3 = Process::gateway(home.path(), "g3", &with_validator);
    g3.start(&["--free-bandwidth-for-testing"]);
    let mut carol = TestClient::new(3, &g3);
    let mut c = carol.register().await;
    c.send_packet(&hop, &packet).await;
    c.expect_error(ErrorKind::NotInTopology).await;
    assert!(forwarded.try_recv().is_err(), "nothing reached the sink");

    // Registration with the validators: `gateway bond` submits a gateway descriptor with the
    // client URL, signed by the gateway, paid from the account.
    let account_file = home.path().join("account.key");
    write_secret(&account_file, &account.to_bytes()).unwrap();
    let out = run(
        &g1.bin,
        home.path(),
        &[
            "bond",
            "--id",
            "g1",
            "--account-key",
            account_file.to_str().unwrap(),
            "--amount",
            "100",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bonded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(bonded["validator"], validator.url.as_str());
    assert!(bonded["statement_id"].is_string(), "{bonded}");
}
