//! Bad clients against a real gateway process: each is refused with a clear error and closes
//! only its own connection, while a good client on the same gateway keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use common::*;
use ed25519_dalek::SigningKey;
use futures::{SinkExt, StreamExt};
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
        Some(alice.work(gateway::config::DEFAULT_REGISTRATION_WORK_BITS)),
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

/// A gateway with small per-source limits, fast handshake and idle timeouts, and cheap work.
fn limited_gateway(home: &std::path::Path) -> Process {
    let gw = Process::gateway(home, "g", &[]);
    for (key, value) in [
        ("max_connections_per_source", "3"),
        ("max_handshakes_per_source", "2"),
        ("registration_burst_per_source", "5"),
        ("registrations_per_hour_per_source", "1"),
        ("registration_work_bits", "8"),
        ("handshake_timeout_ms", "3000"),
        ("idle_timeout_ms", "4000"),
    ] {
        gw.set_config("clients", key, value);
    }
    gw
}

const FLOODER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);
const HONEST: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 1);

/// A registration flood from one address (fresh identities, each with valid work) is cut
/// off after its burst, while a client on another address registers, authenticates and
/// sends; a registration without work is told how much work to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_flood_from_one_address_is_cut_off_while_another_registers() {
    let home = tempfile::tempdir().unwrap();
    let mut gw = limited_gateway(home.path());
    gw.start(&[
        "--danger-allow-any-next-hop",
        "--free-bandwidth-for-testing",
    ]);

    // No work: refused, naming the bits (and costing no registration of the allowance).
    let lazy = TestClient::new(200, &gw);
    let mut conn = open_from(&gw.ws_url(), FLOODER).await.unwrap();
    let (answer, _) = lazy.send_registration(&mut conn, None).await;
    let GatewayControl::Error {
        kind: ErrorKind::WorkRequired,
        work_bits: Some(8),
        ..
    } = answer
    else {
        panic!("expected work_required with 8 bits, got {answer:?}")
    };
    // Too little work: a nonce that is not enough for 8 bits.
    let short = (0u64..)
        .find(|n| {
            !gateway_protocol::registration_work::is_enough(
                lazy.gateway.as_bytes(),
                &lazy.destination(),
                *n,
                8,
            )
        })
        .unwrap();
    let mut conn = open_from(&gw.ws_url(), FLOODER).await.unwrap();
    let (answer, _) = lazy.send_registration(&mut conn, Some(short)).await;
    assert!(
        matches!(
            answer,
            GatewayControl::Error {
                kind: ErrorKind::WorkRequired,
                ..
            }
        ),
        "{answer:?}"
    );

    // The flood: fresh identities from 127.0.0.2, bounded by count and time.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (mut registered, mut refused) = (0u32, 0u32);
    for seed in 0..40u8 {
        assert!(
            std::time::Instant::now() < deadline,
            "the flood took too long"
        );
        let flooder = TestClient::new(100 + seed, &gw);
        let mut conn = open_from(&gw.ws_url(), FLOODER).await.unwrap();
        let work = flooder.work(8);
        match flooder.send_registration(&mut conn, Some(work)).await.0 {
            GatewayControl::Registered { .. } => {
                assert_eq!(refused, 0, "once cut off, every registration is refused");
                registered += 1;
            }
            GatewayControl::Error {
                kind: ErrorKind::TooManyRegistrations,
                message,
                ..
            } => {
                assert!(message.contains("registered too often"), "{message}");
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
        if refused == 10 {
            break;
        }
    }
    assert_eq!(registered, 5, "the burst, then nothing");
    assert_eq!(refused, 10);

    // Meanwhile another address registers, authenticates and sends.
    let mut honest = TestClient::new(1, &gw);
    let mut conn = open_from(&gw.ws_url(), HONEST).await.unwrap();
    honest.register_on(&mut conn, 8).await;
    drop(conn);
    let mut session = honest.authenticate().await;
    let (hop, frames) = first_hop();
    let packet = vec![0x5A; PacketSize::Regular.size()];
    session.send_packet(&hop, &packet).await;
    frames
        .recv_timeout(Duration::from_secs(10))
        .expect("the honest client's packet is forwarded");

    assert_eq!(gw.metric("gateway_registrations_total"), 6);
    assert_eq!(
        gw.metric("gateway_client_refused_total{reason=\"source_registrations\"}"),
        10
    );
    assert_eq!(
        gw.metric("gateway_client_refused_total{reason=\"registration_work\"}"),
        2
    );
    assert_eq!(
        gw.metric("gateway_client_errors_total{kind=\"too_many_registrations\"}"),
        10
    );
}

/// One address holds at most `max_handshakes_per_source` connections in their handshake
/// and `max_connections_per_source` in all; more are refused with HTTP 429 before the
/// upgrade, other addresses are not affected, and a closed connection frees its place. A
/// connection that only pings is closed by the handshake timeout before authenticating and
/// by the idle timeout after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_bounded_number_of_connections_and_handshakes() {
    let home = tempfile::tempdir().unwrap();
    let mut gw = limited_gateway(home.path());
    gw.start(&[
        "--danger-allow-any-next-hop",
        "--free-bandwidth-for-testing",
    ]);
    let url = gw.ws_url();

    // Two silent handshakes from 127.0.0.2: a third is refused before the upgrade.
    let mut a = open_from(&url, FLOODER).await.unwrap();
    let b_opened = std::time::Instant::now();
    let mut b = open_from(&url, FLOODER).await.unwrap();
    let refused = open_from(&url, FLOODER).await.err().expect("refused");
    let (status, body) = http_refusal(&refused).expect("an HTTP refusal");
    assert_eq!(status, 429);
    assert!(body.contains("handshakes"), "{body}");
    // Another address is not affected.
    let mut honest = TestClient::new(1, &gw);
    let mut conn = open_from(&url, HONEST).await.unwrap();
    honest.register_on(&mut conn, 8).await;
    drop(conn);

    // Finishing a handshake frees its place: once `a` is a session, a new one is accepted
    // (polled: the gateway counts the handshake done after it read `ready`).
    let mut alice = TestClient::new(2, &gw);
    alice.register_on(&mut a, 8).await;
    let a_session = std::time::Instant::now();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut c = loop {
        match open_from(&url, FLOODER).await {
            Ok(conn) => break conn,
            Err(e) => assert_eq!(http_refusal(&e).map(|r| r.0), Some(429), "{e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the handshake place never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Three open (a session, two handshakes): a fourth is refused for connections.
    let refused = open_from(&url, FLOODER).await.err().expect("refused");
    let (status, body) = http_refusal(&refused).expect("an HTTP refusal");
    assert_eq!(status, 429);
    assert!(body.contains("too many connections"), "{body}");

    // `b` only pings: the handshake timeout (3 s from its accept) closes it whatever it
    // sends.
    ping_until_closed(&mut b).await;
    let waited = b_opened.elapsed();
    assert!(waited >= Duration::from_millis(2900), "{waited:?}");

    // After authenticating, pings are no activity either: `a` is closed by the idle timeout
    // (4 s from the start of its session) although it pings every 100 ms.
    ping_until_closed(&mut a).await;
    let waited = a_session.elapsed();
    assert!(waited >= Duration::from_millis(3900), "{waited:?}");
    assert!(gw.metric("gateway_connections_timed_out_total") >= 1);
    let _ = c.ws.close(None).await;

    // Everything from 127.0.0.2 closed: its places come back (polled).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open_from(&url, FLOODER).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "places never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gw.metric("gateway_client_refused_total{reason=\"source_handshakes\"}") >= 1);
    assert!(gw.metric("gateway_client_refused_total{reason=\"source_connections\"}") >= 1);
}

/// Pings every 100 ms until the gateway closes the connection (at most 10 s).
async fn ping_until_closed(conn: &mut Connection) {
    let closed = async {
        loop {
            if conn.ws.send(Message::Ping(vec![1].into())).await.is_err() {
                return;
            }
            match tokio::time::timeout(Duration::from_millis(100), conn.ws.next()).await {
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the gateway closed the connection");
}

/// The client port over TLS (`init --tls-cert --tls-key`): a client trusting the CA
/// registers and sends over `wss://`; a plain websocket, garbage and a connection that never
/// starts its handshake are each dropped and counted by reason, and the good client's
/// session carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_port_over_tls_serves_clients_and_drops_bad_handshakes() {
    use std::io::Write;
    let home = tempfile::tempdir().unwrap();
    let ca = tls::local_ca::LocalCa::new("gateway test CA").unwrap();
    let ca_file = home.path().join("ca.pem");
    ca.write_cert(&ca_file).unwrap();
    tls::client::trust_ca_files(std::slice::from_ref(&ca_file)).unwrap();
    let leaf = tls::local_ca::Leaf {
        names: &[],
        addresses: &[std::net::Ipv4Addr::LOCALHOST.into()],
        expired: false,
    };
    let files = ca
        .issue(&leaf, &home.path().join("tls"), "clients")
        .unwrap();
    let (cert, key) = (files.cert.to_str().unwrap(), files.key.to_str().unwrap());
    let mut gw = Process::gateway(home.path(), "g", &["--tls-cert", cert, "--tls-key", key]);
    gw.set_config("clients", "handshake_timeout_ms", "1000");
    gw.start(&[
        "--danger-allow-any-next-hop",
        "--free-bandwidth-for-testing",
    ]);
    assert!(gw.ws_url().starts_with("wss://"));
    let (hop, frames) = first_hop();
    let packet = vec![0x5A; PacketSize::Regular.size()];

    let mut alice = TestClient::new(1, &gw);
    let mut good = alice.register().await;

    // A plain websocket to the TLS port: no upgrade, counted as a failed TLS handshake.
    let plain = format!("ws://{}", gw.clients.unwrap());
    let refused = tokio_tungstenite::connect_async(&plain).await;
    assert!(refused.is_err(), "a plain websocket was upgraded");
    gw.wait_metric(
        "gateway_client_refused_total{reason=\"tls_handshake\"}",
        |n| n >= 1,
    );
    // Garbage where the ClientHello should be.
    let mut garbage = std::net::TcpStream::connect(gw.clients.unwrap()).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4])
        .unwrap();
    gw.wait_metric(
        "gateway_client_refused_total{reason=\"tls_handshake\"}",
        |n| n >= 2,
    );
    // A connection that says nothing: dropped at the handshake timeout.
    let _silent = std::net::TcpStream::connect(gw.clients.unwrap()).unwrap();
    gw.wait_metric(
        "gateway_client_refused_total{reason=\"tls_timeout\"}",
        |n| n >= 1,
    );

    // Alice's session was never touched: a packet still goes out.
    good.send_packet(&hop, &packet).await;
    let frame = frames.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(&frame[frame.len() - packet.len()..], &packet[..]);
}
