//! The issue's end-to-end scenarios on one local mixnet of real processes on loopback (three
//! validators, two mixnodes per layer, two gateways, two clients on different gateways),
//! driven through the clients' app websocket API, one after another:
//!
//! 1. a text message from a client on one gateway to a client on the other arrives intact;
//! 2. a 1 MB byte message is fragmented (linked sets) and reassembled intact;
//! 3. an anonymous message is answered through SURBs, and the replier never sees the sender's
//!    address;
//! 4. the recipient offline: messages sent meanwhile arrive when it comes back;
//! 5. the Python example app sends and receives through the API;
//! 6. one mixnode killed mid-run: everything still arrives, by retransmission over other
//!    routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use client::api::{encode_binary_received, BinaryRequest, Request, Response};
use futures::{SinkExt, StreamExt};
use testnet::{ClientTiming, Network, Options};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What an app received.
#[derive(Debug)]
enum Got {
    Json(Response),
    Bytes(Vec<u8>),
}

struct App {
    ws: Ws,
}

impl App {
    async fn connect(url: &str) -> App {
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async_with_config(url, Some(config), false),
        )
        .await
        .expect("connecting to the client timed out")
        .unwrap();
        App { ws }
    }

    async fn request(&mut self, r: &Request) {
        self.ws
            .send(Message::text(serde_json::to_string(r).unwrap()))
            .await
            .unwrap();
    }

    async fn binary(&mut self, r: &BinaryRequest) {
        self.ws.send(Message::binary(r.encode())).await.unwrap();
    }

    /// The next frame, waiting at most `within`.
    async fn next(&mut self, within: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("nothing arrived within {within:?}"))
                .expect("the client closed the app connection")
                .unwrap();
            match m {
                Message::Text(t) => return Got::Json(serde_json::from_str(t.as_str()).unwrap()),
                Message::Binary(b) => return Got::Bytes(b.to_vec()),
                _ => continue,
            }
        }
    }

    async fn received_text(&mut self, within: Duration) -> (String, Option<String>, bool) {
        match self.next(within).await {
            Got::Json(Response::Received {
                message,
                sender_tag,
                is_reply,
            }) => (message, sender_tag, is_reply),
            other => panic!("expected a received message, got {other:?}"),
        }
    }

    async fn address(&mut self) -> String {
        self.request(&Request::SelfAddress).await;
        match self.next(Duration::from_secs(10)).await {
            Got::Json(Response::SelfAddress { address }) => address,
            other => panic!("{other:?}"),
        }
    }
}

/// Messages committed to the gateways' mailboxes so far.
async fn stored(net: &Network) -> f64 {
    net.scrape_gateways()
        .await
        .iter()
        .flatten()
        .filter_map(|s| s.get("gateway_stored_total"))
        .sum()
}

fn send(message: &str, recipient: &str) -> Request {
    Request::Send {
        message: message.into(),
        recipient: recipient.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issues_scenarios_on_one_local_mixnet() {
    let options = Options {
        clients: 2,
        mixnodes_per_layer: 2,
        duration: Some(Duration::ZERO),
        progress: false,
        client_timing: ClientTiming {
            send_gap_ms: Some(20.0),
            loop_cover_gap_ms: Some(1000.0),
            per_hop_delay_ms: Some(5.0),
        },
        ..Options::default()
    };
    let mut net = Network::start(&options).await.unwrap();
    // Over TLS by default: validators on https://, and each client's gateway on wss:// (its
    // config holds what it connects to), both under the network's own CA.
    assert!(net
        .validators()
        .all(|v| v.url.starts_with("https://127.0.0.1:")));
    for c in ["c0", "c1"] {
        let config = net.dir().join("home/clients").join(c).join("config.toml");
        let config: toml::Table = std::fs::read_to_string(config).unwrap().parse().unwrap();
        let url = config["gateway"]["url"].as_str().unwrap();
        assert!(url.starts_with("wss://127.0.0.1:"), "{c}: {url}");
    }
    let (url_a, url_b) = (net.client_ws_url(0).unwrap(), net.client_ws_url(1).unwrap());
    let address_b = net.client_address(1).unwrap().to_owned();
    let mut a = App::connect(&url_a).await;
    let mut b = App::connect(&url_b).await;
    let address_a = a.address().await;
    assert_eq!(b.address().await, address_b);
    assert_ne!(
        address_a.split('@').nth(1),
        address_b.split('@').nth(1),
        "the two clients are on different gateways"
    );
    let wait = Duration::from_secs(60);

    // 1. Across gateways, intact.
    a.request(&send("hello across the mixnet ✓", &address_b))
        .await;
    let (message, tag, is_reply) = b.received_text(wait).await;
    assert_eq!(message, "hello across the mixnet ✓");
    assert!(tag.is_none() && !is_reply);

    // 2. One megabyte of bytes: 600-odd fragments in three linked sets.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i ^ (i >> 8)) as u8).collect();
    a.binary(&BinaryRequest::Send {
        recipient: address_b.clone(),
        payload: big.clone(),
    })
    .await;
    match b.next(Duration::from_secs(120)).await {
        Got::Bytes(frame) => assert!(
            frame == encode_binary_received(None, false, &big),
            "the 1 MB message arrived intact ({} bytes)",
            frame.len()
        ),
        other => panic!("{other:?}"),
    }

    // 3. Anonymous, answered through SURBs.
    a.request(&Request::SendAnonymous {
        message: "reply without knowing me".into(),
        recipient: address_b.clone(),
        reply_surbs: 3,
    })
    .await;
    let (message, tag, _) = b.received_text(wait).await;
    assert_eq!(message, "reply without knowing me");
    let tag = tag.expect("an anonymous message carries a sender tag");
    assert!(!tag.contains(&address_a) && !address_a.contains(&tag));
    b.request(&Request::Reply {
        message: "answered blind".into(),
        sender_tag: tag,
    })
    .await;
    let (message, tag, is_reply) = a.received_text(wait).await;
    assert_eq!(message, "answered blind");
    assert!(is_reply && tag.is_none());

    // 4. The recipient offline; the messages wait in its gateway's mailbox.
    drop(b);
    net.stop_client(1).await.unwrap();
    let stored_before = stored(&net).await;
    for i in 0..3 {
        a.request(&send(&format!("while you were away {i}"), &address_b))
            .await;
    }
    // Only once the gateway has stored all three does B come back.
    let deadline = Instant::now() + wait;
    while stored(&net).await < stored_before + 3.0 {
        assert!(
            Instant::now() < deadline,
            "the messages were not stored in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.start_client(1).await.unwrap();
    let mut b = App::connect(&url_b).await;
    // A restarted client forgets which messages it completed (that memory is in RAM), so a
    // retransmission of an earlier message that was still in flight may arrive once more;
    // anything else is a failure.
    let earlier = ["reply without knowing me", "hello across the mixnet ✓"];
    let mut got = std::collections::BTreeSet::new();
    while got.len() < 3 {
        let (m, _, _) = b.received_text(wait).await;
        if m.starts_with("while you were away") {
            got.insert(m);
        } else {
            assert!(earlier.contains(&m.as_str()), "unexpected {m:?}");
        }
    }
    assert_eq!(
        got,
        (0..3).map(|i| format!("while you were away {i}")).collect()
    );

    // 5. The Python example: B echoes anonymous messages, A sends one and waits.
    drop((a, b));
    if python_websockets() {
        python_example(&url_a, &url_b, &address_b).await;
    }

    // 6. Kill a layer-2 mixnode while messages are in flight: retransmission over the other
    //    layer-2 node delivers everything.
    let mut a = App::connect(&url_a).await;
    let mut b = App::connect(&url_b).await;
    let victim = (0..net.mixnodes().len())
        .find(|i| net.mixnode_layer(*i) == Some(2))
        .unwrap();
    let count = 20;
    for i in 0..count {
        a.request(&send(&format!("through the gap {i}"), &address_b))
            .await;
        if i == 2 {
            net.kill_mixnode(victim).unwrap();
        }
    }
    // Each retry takes a fresh route, so a fragment misses the dead node with probability
    // 1/2 per transmission; the waits double up to 10 s, so 12 transmissions take about
    // 100 s (one message in 4096 needs more). The deadline is for all of them together.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(150);
    let mut got = std::collections::BTreeSet::new();
    while got.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let (m, _, _) = b.received_text(left).await;
        got.insert(m);
    }
    assert_eq!(got.len(), count, "all arrived in {:?}", started.elapsed());
    net.stop().await;
}

/// Whether python3 with `websockets` is here. CI installs it and sets
/// `REQUIRE_PYTHON_EXAMPLE=1`, so there its absence fails instead of skipping.
fn python_websockets() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("REQUIRE_PYTHON_EXAMPLE").is_none(),
            "python3 with websockets is required here (pip install websockets)"
        );
        eprintln!("skipping the Python example: python3 lacks websockets (pip install websockets)");
    }
    ok
}

/// The example app on both clients: B echoes anonymous messages, A sends one and waits.
async fn python_example(url_a: &str, url_b: &str, address_b: &str) {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../client/examples/echo.py");
    let echo = Command::new("python3")
        .args([
            example,
            "--url",
            url_b,
            "--receive",
            "1",
            "--echo",
            "--timeout",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let sender = tokio::task::spawn_blocking({
        let url_a = url_a.to_owned();
        let address_b = address_b.to_owned();
        move || {
            Command::new("python3")
                .args([
                    example,
                    "--url",
                    &url_a,
                    "--send",
                    &address_b,
                    "hello from python",
                    "--anonymous",
                    "--receive",
                    "1",
                    "--timeout",
                    "60",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let echo = tokio::task::spawn_blocking(move || echo.wait_with_output().unwrap())
        .await
        .unwrap();
    let lines = |o: &std::process::Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert!(
        echo.status.success(),
        "{}",
        String::from_utf8_lossy(&echo.stderr)
    );
    assert!(
        sender.status.success(),
        "{}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let (echoed, answered) = (lines(&echo), lines(&sender));
    assert_eq!(echoed[0]["address"], address_b);
    assert_eq!(echoed[1]["received"], "hello from python");
    assert_eq!(answered[1]["sent"], "hello from python");
    assert_eq!(answered[2]["received"], "echo: hello from python");
    assert_eq!(answered[2]["isReply"], true);
}
