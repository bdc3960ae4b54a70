//! Nym's own client–gateway protocol (version 6) on a real gateway process, spoken by the
//! protocol's client end in `gateway_protocol::nym` (Nym's real client, nym-sdk, drives it in
//! the `nym-compat` crate): registration, packets through three mixnode processes to a Nym
//! client at another gateway, the SURB-ACK back, the mailbox, reconnection with
//! `authenticateV2`, and the refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::{SinkExt, StreamExt};
use gateway_protocol::nym::authenticate::AuthenticateV2;
use gateway_protocol::nym::frames::{self, FORWARD_SPHINX_V2, PUSHED_MIX_MESSAGE};
use gateway_protocol::nym::handshake::{check_finalization, ClientRegistration};
use gateway_protocol::nym::NymSharedKey;
use router_core::wire::KeyRotation;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const FLAGS: [&str; 2] = [
    "--danger-allow-any-next-hop",
    "--free-bandwidth-for-testing",
];

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The next message: a text frame as JSON, a binary frame as bytes, or `None` once closed.
async fn next(ws: &mut Ws) -> Option<Result<Value, Vec<u8>>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("nothing from the gateway within 20 s");
        match message {
            Some(Ok(Message::Text(text))) => return Some(Ok(serde_json::from_str(&text).unwrap())),
            Some(Ok(Message::Binary(bytes))) => return Some(Err(bytes.to_vec())),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn next_text(ws: &mut Ws) -> Value {
    match next(ws).await {
        Some(Ok(value)) => value,
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// A Nym client's connection once authenticated.
struct NymClient {
    ws: Ws,
    key: NymSharedKey,
}

impl NymClient {
    /// Registers `identity` at the gateway `gateway` serves at `url`, as Nym's client does.
    async fn register(url: &str, identity: &SigningKey, gateway: &VerifyingKey) -> NymClient {
        let mut ws = open(url).await.ws;
        send(&mut ws, json!({"type": "supportedProtocol"})).await;
        assert_eq!(
            next_text(&mut ws).await,
            json!({"type": "supportedProtocol", "version": 6})
        );
        let (state, init) = ClientRegistration::start(identity, [3; 32], [4; 16]);
        send(
            &mut ws,
            json!({"type": "handshakePayload", "protocol_version": 6, "data": init}),
        )
        .await;
        let material = next_text(&mut ws).await;
        assert_eq!(material["type"], "handshakePayload");
        assert_eq!(material["protocol_version"], 6);
        let data: Vec<u8> = serde_json::from_value(material["data"].clone()).unwrap();
        let (key, reply) = state.on_material(gateway, &data, [5; 12]).unwrap();
        send(
            &mut ws,
            json!({"type": "handshakePayload", "protocol_version": 6, "data": reply}),
        )
        .await;
        let done = next_text(&mut ws).await;
        let data: Vec<u8> = serde_json::from_value(done["data"].clone()).unwrap();
        check_finalization(&data).unwrap();
        assert_eq!(
            next_text(&mut ws).await,
            json!({"type": "register", "protocol_version": 6, "status": true, "upgrade_mode": false})
        );
        // as Nym's client does right after registering
        send(&mut ws, json!({"type": "supportedProtocol"})).await;
        assert_eq!(next_text(&mut ws).await["version"], 6);
        NymClient { ws, key }
    }

    /// Authenticates with a stored key; the gateway's answer and the connection.
    async fn authenticate(url: &str, request: &AuthenticateV2) -> (Value, Ws) {
        let mut ws = open(url).await.ws;
        let mut value = serde_json::to_value(request).unwrap();
        value["type"] = json!("authenticateV2");
        send(&mut ws, value).await;
        let answer = next_text(&mut ws).await;
        (answer, ws)
    }

    async fn send_packet(&mut self, first_hop: &SocketAddr, packet: &[u8]) {
        let body = frames::forward_body(KeyRotation::Unknown, first_hop, packet);
        let frame = frames::seal(&self.key, FORWARD_SPHINX_V2, [6; 12], &body);
        self.ws.send(Message::binary(frame)).await.unwrap();
    }

    /// The next delivered message.
    async fn delivery(&mut self) -> Vec<u8> {
        match next(&mut self.ws).await {
            Some(Err(frame)) => {
                let (kind, body) = frames::open(&self.key, &frame).unwrap();
                assert_eq!(kind, PUSHED_MIX_MESSAGE);
                body
            }
            other => panic!("expected a delivery, got {other:?}"),
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nym_clients_register_send_through_the_mixnet_and_come_back_with_authenticate_v2() {
    let home = tempfile::tempdir().unwrap();
    let mut mixes: Vec<Process> = (1..=3)
        .map(|i| Process::mixnode(home.path(), &format!("m{i}")))
        .collect();
    for m in &mut mixes {
        m.start(&["--danger-allow-any-next-hop"]);
    }
    let mut ga = Process::gateway(home.path(), "ga", &[]);
    let mut gb = Process::gateway(home.path(), "gb", &[]);
    ga.start(&FLAGS);
    gb.start(&FLAGS);
    let layers = [&mixes[0], &mixes[1], &mixes[2]];
    let (alice_id, bob_id) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (alice_addr, bob_addr) = (
        alice_id.verifying_key().to_bytes(),
        bob_id.verifying_key().to_bytes(),
    );
    let mut alice = NymClient::register(&ga.ws_url(), &alice_id, &ga.gateway_key()).await;
    let mut bob = NymClient::register(&gb.ws_url(), &bob_id, &gb.gateway_key()).await;

    // Live: Bob gets the message without its SURB-ACK, Alice the ack's 21 bytes.
    let packet = message_with_ack(&layers, &gb, bob_addr, &ga, alice_addr, b"hi bob", [7; 21]);
    alice.send_packet(&mixes[0].addr, &packet).await;
    assert_eq!(bob.delivery().await, b"hi bob");
    assert_eq!(alice.delivery().await, [7; 21]);

    // Offline: the message waits in Bob's mailbox; Bob comes back with authenticateV2 and
    // gets it, and its ack reaches Alice.
    let bob_key = bob.key.clone();
    bob.ws.close(None).await.unwrap();
    drop(bob);
    gb.wait_metric("gateway_clients_connected", |n| n == 0);
    let packet = message_with_ack(&layers, &gb, bob_addr, &ga, alice_addr, b"later", [8; 21]);
    alice.send_packet(&mixes[0].addr, &packet).await;
    assert_eq!(alice.delivery().await, [8; 21], "acked once stored");
    let request = AuthenticateV2::new(&bob_id, &bob_key, [9; 12], now_secs(), 6);
    let (answer, ws) = NymClient::authenticate(&gb.ws_url(), &request).await;
    assert_eq!(answer["type"], "authenticate", "{answer}");
    assert_eq!(answer["status"], true);
    assert_eq!(answer["protocol_version"], 6);
    assert!(answer["bandwidth_remaining"].as_i64().unwrap() >= 40_000_000);
    let mut bob = NymClient {
        ws,
        key: bob_key.clone(),
    };
    assert_eq!(bob.delivery().await, b"later");

    // The same request again is refused (its time is not after the last accepted), also by
    // a restarted gateway; Bob's open connection is untouched.
    // (once the delivered message left the mailbox: delivery is at least once, so a crash
    // before that would deliver it again)
    gb.wait_metric("gateway_mailbox_messages", |n| n == 0);
    gb.kill();
    gb.start(&FLAGS);
    let (answer, mut ws) = NymClient::authenticate(&gb.ws_url(), &request).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("reused"),
        "{answer}"
    );
    assert!(next(&mut ws).await.is_none(), "closed after the refusal");
    // a fresh request from Bob, after the last accepted second, is taken
    let later = AuthenticateV2::new(
        &bob_id,
        &bob_key,
        [10; 12],
        now_secs().max(request.request_unix_timestamp + 1),
        6,
    );
    let (answer, ws) = NymClient::authenticate(&gb.ws_url(), &later).await;
    assert_eq!(answer["type"], "authenticate", "{answer}");
    let mut bob = NymClient { ws, key: bob_key };
    // The last mixnode's link to the restarted gateway comes back on its own; a packet sent
    // while it reconnects may be lost (as on any mixnet; Nym's client retransmits), so Alice
    // tries a bounded number of times.
    let mut arrived = None;
    for attempt in 0..5u8 {
        let text = format!("again {attempt}");
        let packet = message_with_ack(
            &layers,
            &gb,
            bob_addr,
            &ga,
            alice_addr,
            text.as_bytes(),
            [11 + attempt; 21],
        );
        alice.send_packet(&mixes[0].addr, &packet).await;
        let waited = tokio::time::timeout(Duration::from_secs(5), bob.delivery()).await;
        if let Ok(bytes) = waited {
            arrived = Some((bytes, text, attempt));
            break;
        }
    }
    let (bytes, text, attempt) =
        arrived.expect("nothing reached Bob through the restarted gateway");
    assert_eq!(bytes, text.as_bytes());
    assert_eq!(alice.delivery().await, [11 + attempt; 21]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_nym_requests_get_an_error_and_end_only_their_own_connection() {
    let home = tempfile::tempdir().unwrap();
    let mut gw = Process::gateway(home.path(), "gw", &[]);
    gw.start(&FLAGS);
    let url = gw.ws_url();
    let keeper_id = SigningKey::from_bytes(&[1; 32]);
    let mut keeper = NymClient::register(&url, &keeper_id, &gw.gateway_key()).await;

    // an old protocol version
    let mut ws = open(&url).await.ws;
    let (_, init) = ClientRegistration::start(&SigningKey::from_bytes(&[2; 32]), [3; 32], [4; 16]);
    send(
        &mut ws,
        json!({"type": "handshakePayload", "protocol_version": 3, "data": init}),
    )
    .await;
    let answer = next_text(&mut ws).await;
    assert_eq!(answer["type"], "handshakeError", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("version 3"),
        "{answer}"
    );
    assert!(next(&mut ws).await.is_none());

    // a malformed first handshake message (79 bytes)
    let mut ws = open(&url).await.ws;
    send(
        &mut ws,
        json!({"type": "handshakePayload", "protocol_version": 6, "data": vec![1u8; 79]}),
    )
    .await;
    let answer = next_text(&mut ws).await;
    assert_eq!(answer["type"], "handshakeError", "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("80 bytes"),
        "{answer}"
    );
    assert!(next(&mut ws).await.is_none());

    // a third message that does not open under the key
    let mut ws = open(&url).await.ws;
    let (state, init) =
        ClientRegistration::start(&SigningKey::from_bytes(&[2; 32]), [3; 32], [4; 16]);
    send(
        &mut ws,
        json!({"type": "handshakePayload", "protocol_version": 6, "data": init}),
    )
    .await;
    let material: Vec<u8> =
        serde_json::from_value(next_text(&mut ws).await["data"].clone()).unwrap();
    let (_, mut reply) = state
        .on_material(&gw.gateway_key(), &material, [5; 12])
        .unwrap();
    reply[0] ^= 1;
    send(
        &mut ws,
        json!({"type": "handshakePayload", "protocol_version": 6, "data": reply}),
    )
    .await;
    assert_eq!(next_text(&mut ws).await["type"], "handshakeError");
    assert!(next(&mut ws).await.is_none());

    // authenticateV2 from a client never registered here, and one signed for another time
    let stranger = SigningKey::from_bytes(&[9; 32]);
    let unknown = AuthenticateV2::new(
        &stranger,
        &NymSharedKey::from_bytes([1; 32]),
        [1; 12],
        now_secs(),
        6,
    );
    let (answer, mut ws) = NymClient::authenticate(&url, &unknown).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("not registered"),
        "{answer}"
    );
    assert!(next(&mut ws).await.is_none());
    let mut forged = AuthenticateV2::new(&keeper_id, &keeper.key, [1; 12], now_secs(), 6);
    forged.request_unix_timestamp += 1;
    let (answer, _) = NymClient::authenticate(&url, &forged).await;
    assert!(
        answer["message"].as_str().unwrap().contains("signature"),
        "{answer}"
    );

    // not JSON, and a packet before authenticating
    let mut ws = open(&url).await.ws;
    ws.send(Message::text(r#"{"type":"supportedProtocol""#))
        .await
        .unwrap();
    // (not a Nym opening, so it is read as ours and refused as ours)
    assert_eq!(next_text(&mut ws).await["type"], "error");
    let mut ws = open(&url).await.ws;
    send(&mut ws, json!({"type": "supportedProtocol"})).await;
    next_text(&mut ws).await;
    ws.send(Message::binary(vec![2u8, 1, 0])).await.unwrap();
    let answer = next_text(&mut ws).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert!(next(&mut ws).await.is_none());

    // The registered client is still served: a garbage frame is dropped without an error
    // frame (which would stop Nym's client), and its requests are answered.
    keeper
        .ws
        .send(Message::binary(vec![2u8, 1, 0, 0]))
        .await
        .unwrap();
    send(&mut keeper.ws, json!({"type": "supportedProtocol"})).await;
    assert_eq!(
        next_text(&mut keeper.ws).await,
        json!({"type": "supportedProtocol", "version": 6})
    );
    send(&mut keeper.ws, json!({"type": "claimFreeTestnetBandwidth"})).await;
    let answer = next_text(&mut keeper.ws).await;
    assert_eq!(answer["type"], "bandwidth", "{answer}");
    assert!(answer["available_total"].as_i64().unwrap() >= 40_000_000);
    assert!(gw.metric("gateway_client_errors_total{kind=\"bad_frame\"}") >= 1);
}
