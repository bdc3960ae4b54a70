//! Bad clients against a real gateway process: each is refused with a clear error and closes
//! only its own connection, while a good client on the same gateway keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use common::*;
use ed25519_dalek::SigningKey;
use futures::SinkExt;
use gateway_protocol::{ClientControl, ErrorKind, GatewayControl};
use router_core::wire::PacketSize;
use tokio_tungstenite::tungstenite::Message;

/// Stands in for a layer-1 mixnode: counts the bytes of frames it receives.
fn first_hop() -> (SocketAddr, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let frame_len = 4 + PacketSize::Regular.size();
        loop {
            let mut frame = vec![0u8; frame_len];
            if stream.read_exact(&mut frame).is_err() || tx.send(frame).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_are_refused_and_close_only_their_own_connection() {
    let home = tempfile::tempdir().unwrap();
    let mut gw = Process::gateway(home.path(), "g", &[]);
    gw.start(&[
        "--danger-allow-any-next-hop",
        "--free-bandwidth-for-testing",
    ]);
    let (hop, frames) = first_hop();
    let packet = vec![0x5A; PacketSize::Regular.size()];

    let mut alice = TestClient::new(1, &gw);
    let mut good = alice.register().await;

    // Packets before authenticating.
    let mut conn = open(&gw.ws_url()).await;
    conn.ws.send(Message::binary(vec![1u8; 100])).await.unwrap();
    conn.expect_error(ErrorKind::NotAuthenticated).await;

    // Not JSON, unknown type, a request that is not a handshake.
    for text in [
        "hello",
        r#"{"type":"steal"}"#,
        r#"{"type":"received","ids":[0]}"#,
    ] {
        let mut conn = open(&gw.ws_url()).await;
        conn.ws.send(Message::text(text)).await.unwrap();
        let kind = if text.contains("received") {
            ErrorKind::NotAuthenticated
        } else {
            ErrorKind::BadRequest
        };
        conn.expect_error(kind).await;
    }

    // Stale on both sides of the window.
    for skew in [-120_000i64, 120_000] {
        let (_, request) = alice.authenticate_request(now_ms().saturating_add_signed(skew));
        let mut conn = open(&gw.ws_url()).await;
        conn.send_control(&request).await;
        conn.expect_error(ErrorKind::Stale).await;
    }

    // Replayed: the same signed authenticate twice. And a relayed handshake is useless without
    // the session key: the first sealed frame must be `ready` under it, or nothing is delivered.
    let (_, request) = alice.authenticate_request(now_ms());
    let mut first = open(&gw.ws_url()).await;
    first.send_control(&request).await;
    assert!(matches!(
        first.expect_control().await,
        GatewayControl::Authenticated { .. }
    ));
    let mut second = open(&gw.ws_url()).await;
    second.send_control(&request).await;
    second.expect_error(ErrorKind::Replayed).await;
    first.ws.send(Message::binary(vec![3u8; 64])).await.unwrap();
    first.expect_error(ErrorKind::BadFrame).await;

    // Mallory claims Alice's identity with her own signature.
    let mallory = TestClient {
        identity: SigningKey::from_bytes(&[66; 32]),
        ..TestClient::new(66, &gw)
    };
    let (_, forged) = mallory.authenticate_request(now_ms());
    let ClientControl::Authenticate {
        timestamp_ms,
        nonce,
        signature,
        ..
    } = forged
    else {
        unreachable!()
    };
    let claim = ClientControl::Authenticate {
        identity: bs58::encode(alice.destination()).into_string(),
        timestamp_ms,
        nonce,
        signature,
    };
    let mut conn = open(&gw.ws_url()).await;
    conn.send_control(&claim).await;
    conn.expect_error(ErrorKind::BadSignature).await;

    // Authenticate without ever registering.
    let stranger = TestClient::new(77, &gw);
    let mut conn = open(&gw.ws_url()).await;
    conn.send_control(&stranger.authenticate_request(now_ms()).1)
        .await;
    conn.expect_error(ErrorKind::UnknownClient).await;

    // Authenticated, then garbage: a frame that does not open, a packet of a wrong size, a
    // second handshake, a frame above the size limit.
    let mut bob = TestClient::new(2, &gw);
    let mut conn = bob.register().await;
    conn.ws.send(Message::binary(vec![7u8; 500])).await.unwrap();
    conn.expect_error(ErrorKind::BadFrame).await;
    let mut conn = bob.authenticate().await;
    conn.send_packet(&hop, &packet[1..]).await;
    conn.expect_error(ErrorKind::BadFrame).await;
    let mut conn = bob.authenticate().await;
    conn.send_sealed(&bob.authenticate_request(now_ms()).1)
        .await;
    conn.expect_error(ErrorKind::AlreadyAuthenticated).await;
    let mut conn = bob.authenticate().await;
    conn.send_control(&ClientControl::Received { ids: vec![0] })
        .await;
    conn.expect_error(ErrorKind::BadRequest).await;
    let mut conn = bob.authenticate().await;
    conn.ws
        .send(Message::binary(vec![0u8; 100 * 1024]))
        .await
        .unwrap();
    conn.expect_error(ErrorKind::FrameTooLarge).await;

    // The good client was never disturbed: its packet reaches the first hop, framed (v8).
    good.send_packet(&hop, &packet).await;
    let frame = frames.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(&frame[..4], &[8, PacketSize::Regular.tag(), 0, 0]);
    assert_eq!(&frame[4..], &packet[..]);
    assert_eq!(gw.metric("gateway_client_packets_forwarded_total"), 1);
    assert_eq!(
        gw.metric("gateway_client_errors_total{kind=\"bad_frame\"}"),
        3,
        "the relayed handshake, the garbage frame, the wrong packet size"
    );
    assert!(
        gw.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "still running"
    );
}

/// A registration replayed after a restart (when the replay memory is empty) is answered, but
/// the replayer cannot send `ready` under the new session key, so the client's stored key
/// stays; and authentication requests of an identity that never registered are refused
/// without touching the replay memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_registration_never_replaces_a_clients_key() {
    let home = tempfile::tempdir().unwrap();
    let flags = [
        "--danger-allow-any-next-hop",
        "--free-bandwidth-for-testing",
    ];
    let mut gw = Process::gateway(home.path(), "g", &[]);
    gw.start(&flags);

    // Alice registers; an observer keeps a copy of her registration request.
    let mut alice = TestClient::new(1, &gw);
    let mut conn = open(&gw.ws_url()).await;
    let (pending, request) = gateway_protocol::handshake::start_registration(
        &alice.identity,
        &alice.gateway,
        [42; 32],
        now_ms(),
    );
    conn.send_control(&request).await;
    let answer = conn.expect_control().await;
    let (shared, keys) = pending.finish(&answer).unwrap();
    alice.shared = Some(shared);
    conn.cipher = Some(gateway_protocol::SessionCipher::client(&keys));
    conn.send_sealed(&ClientControl::Ready).await;
    // Her key is stored once `ready` came, before her session starts: a packet forwarded in
    // that session shows it, and then she can authenticate.
    let (hop, frames) = first_hop();
    let packet = vec![0x5A; PacketSize::Regular.size()];
    conn.send_packet(&hop, &packet).await;
    frames
        .recv_timeout(Duration::from_secs(10))
        .expect("her first session works");
    drop(conn);
    let _ = alice.authenticate().await;

    // The gateway restarts: its replay memory is gone. The copy is replayed; the gateway
    // answers it (the signature is hers and fresh) but no `ready` can follow.
    gw.kill();
    gw.start(&flags);
    let mut replay = open(&gw.ws_url()).await;
    replay.send_control(&request).await;
    assert!(matches!(
        replay.expect_control().await,
        GatewayControl::Registered { .. }
    ));
    drop(replay);

    // Alice's key is untouched: her session works, so a packet she sends is forwarded (had
    // the replay replaced her key, the gateway could not open her `ready` and would close).
    let mut again = alice.authenticate().await;
    assert!(matches!(
        again.answer,
        Some(GatewayControl::Authenticated { .. })
    ));
    let (hop, frames) = first_hop();
    again.send_packet(&hop, &packet).await;
    let frame = frames
        .recv_timeout(Duration::from_secs(10))
        .expect("her packet is forwarded");
    assert_eq!(frame.len(), 4 + PacketSize::Regular.size());

    // Someone who never registered is refused as unknown, however many requests they send,
    // and Alice is never told `busy`.
    let stranger = TestClient::new(9, &gw);
    for _ in 0..100 {
        let mut c = open(&gw.ws_url()).await;
        let (_, request) = stranger.authenticate_request(now_ms());
        c.send_control(&request).await;
        c.expect_error(ErrorKind::UnknownClient).await;
    }
    let _ = alice.authenticate().await;
}
