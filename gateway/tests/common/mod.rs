//! Real gateway and mixnode processes on loopback, a websocket test client speaking the
//! gateway protocol, and packets built by `sphinx-packet`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::{SinkExt, StreamExt};
use gateway_protocol::final_hop::surb_ack_prefix;
use gateway_protocol::handshake::{start_authentication, start_registration};
use gateway_protocol::{
    ClientControl, ClientFrame, DeliveryKind, GatewayControl, GatewayFrame, SessionCipher,
    SharedKey,
};
use router_core::wire::{encode_node_address, PacketSize};
use sphinx_packet::crypto::PublicKey;
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::SphinxPacketBuilder;
use tokio_tungstenite::tungstenite::Message;

pub const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");

/// The mixnode binary beside ours in the target directory, built if a `cargo test -p gateway`
/// did not build it.
pub fn mixnode_bin() -> PathBuf {
    let path = Path::new(GATEWAY).with_file_name("mixnode");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "mixnode", "--bin", "mixnode"])
            .status()
            .unwrap();
        assert!(status.success(), "building the mixnode binary failed");
    }
    path
}

pub fn run(bin: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .arg("--home")
        .arg(home)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    testnet::free_port().expect("binding a loopback port")
}

pub use testnet::now_ms;

/// A mixnode or gateway process.
pub struct Process {
    pub bin: PathBuf,
    pub home: PathBuf,
    pub id: String,
    /// The mix address.
    pub addr: SocketAddr,
    /// Gateways: the client websocket address.
    pub clients: Option<SocketAddr>,
    pub identity: [u8; 32],
    pub sphinx_public: [u8; 32],
    pub metrics: SocketAddr,
    pub child: Option<Child>,
    /// Gateways initialised with `--tls-cert`: the client port speaks WSS.
    pub tls: bool,
}

fn key32(json: &serde_json::Value, field: &str) -> [u8; 32] {
    bs58::decode(json[field].as_str().unwrap())
        .into_vec()
        .unwrap()
        .try_into()
        .unwrap()
}

impl Process {
    /// `mixnode init` on a free port.
    pub fn mixnode(home: &Path, id: &str) -> Process {
        let bin = mixnode_bin();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let out = run(
            &bin,
            home,
            &["init", "--id", id, "--listen", &addr.to_string()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self::described(bin, home, id, addr, None)
    }

    /// `gateway init` on free ports, with `extra` arguments (validators).
    pub fn gateway(home: &Path, id: &str, extra: &[&str]) -> Process {
        let bin = PathBuf::from(GATEWAY);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let clients: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let (a, c) = (addr.to_string(), clients.to_string());
        let mut args = vec![
            "init",
            "--id",
            id,
            "--mix-listen",
            &a,
            "--clients-listen",
            &c,
        ];
        args.extend_from_slice(extra);
        let out = run(&bin, home, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut gateway = Self::described(bin, home, id, addr, Some(clients));
        gateway.tls = extra.contains(&"--tls-cert");
        gateway
    }

    fn described(
        bin: PathBuf,
        home: &Path,
        id: &str,
        addr: SocketAddr,
        clients: Option<SocketAddr>,
    ) -> Process {
        let details = run(&bin, home, &["node-details", "--id", id]);
        assert!(details.status.success());
        let json: serde_json::Value = serde_json::from_slice(&details.stdout).unwrap();
        Process {
            identity: key32(&json, "identity_key"),
            sphinx_public: key32(&json, "sphinx_key"),
            bin,
            home: home.to_path_buf(),
            id: id.to_string(),
            addr,
            clients,
            metrics: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            child: None,
            tls: false,
        }
    }

    /// Runs it with one shard and `extra` flags, and waits until it listens.
    pub fn start(&mut self, extra: &[&str]) {
        let child = Command::new(&self.bin)
            .args(["run", "--id", &self.id, "--shards", "1"])
            .arg("--home")
            .arg(&self.home)
            .args(["--metrics-listen", &self.metrics.to_string()])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("TEST_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = TcpStream::connect(self.metrics).is_ok()
                && TcpStream::connect(self.addr).is_ok()
                && self.clients.is_none_or(|c| TcpStream::connect(c).is_ok());
            if up {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{} exited during start-up: {status}", self.id);
            }
            assert!(Instant::now() < deadline, "{} did not start", self.id);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn route_node(&self) -> Node {
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&self.addr)),
            PublicKey::from(self.sphinx_public),
        )
    }

    pub fn metrics(&self) -> String {
        testnet::metrics::fetch_blocking(self.metrics).unwrap()
    }

    pub fn metric(&self, series: &str) -> u64 {
        testnet::metrics::sample_blocking(self.metrics, series).unwrap() as u64
    }

    /// Polls a metric until `done` holds (bounded).
    pub fn wait_metric(&self, series: &str, done: impl Fn(u64) -> bool) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.metric(series);
            if done(value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {series} stuck at {value}",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Sets `key = value` in `[section]` of the gateway's `config.toml` (before `start`).
    pub fn set_config(&self, section: &str, key: &str, value: &str) {
        let path = self
            .home
            .join("gateways")
            .join(&self.id)
            .join("config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let (mut current, mut done) = (String::new(), false);
        let mut out = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                current = trimmed.trim_matches(['[', ']']).to_string();
            }
            if current == section && trimmed.split('=').next().map(str::trim) == Some(key) {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        assert!(done, "no {key} in [{section}] of {}", path.display());
        std::fs::write(&path, out).unwrap();
    }

    pub fn gateway_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.identity).unwrap()
    }

    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}", self.clients.unwrap())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client of a gateway: its identity and, once registered, the shared key.
pub struct TestClient {
    pub identity: SigningKey,
    pub gateway: VerifyingKey,
    pub url: String,
    pub shared: Option<SharedKey>,
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a connection received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Control(GatewayControl),
    Delivery {
        kind: DeliveryKind,
        stored_id: Option<u64>,
        bytes: Vec<u8>,
    },
    Closed,
}

/// An open websocket (authenticated or not).
pub struct Connection {
    pub ws: Ws,
    pub cipher: Option<SessionCipher>,
    pub answer: Option<GatewayControl>,
}

pub async fn open(url: &str) -> Connection {
    // `wss://` with the roots the test process trusts (`tls::client`).
    let connector = tokio_tungstenite::Connector::Rustls(tls::client::config());
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector)),
    )
    .await
    .expect("connect timed out")
    .unwrap();
    Connection {
        ws,
        cipher: None,
        answer: None,
    }
}

/// A websocket to `url` from the loopback address `local` (127.0.0.0/8), for tests of
/// per-source limits; the upgrade's error (an HTTP 429 refusal) if there is one.
pub async fn open_from(
    url: &str,
    local: std::net::Ipv4Addr,
) -> Result<Connection, tokio_tungstenite::tungstenite::Error> {
    assert!(local.is_loopback(), "tests stay on loopback");
    let server: SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local.into(), 0)).unwrap();
    let stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(server))
        .await
        .expect("connect timed out")
        .unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(url, stream),
    )
    .await
    .expect("the upgrade timed out")?;
    Ok(Connection {
        ws,
        cipher: None,
        answer: None,
    })
}

/// The status and body of an HTTP refusal of the upgrade.
pub fn http_refusal(error: &tokio_tungstenite::tungstenite::Error) -> Option<(u16, String)> {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => Some((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        _ => None,
    }
}

impl TestClient {
    pub fn new(seed: u8, gateway: &Process) -> TestClient {
        TestClient {
            identity: SigningKey::from_bytes(&[seed; 32]),
            gateway: gateway.gateway_key(),
            url: gateway.ws_url(),
            shared: None,
        }
    }

    pub fn destination(&self) -> [u8; 32] {
        self.identity.verifying_key().to_bytes()
    }

    /// Proof of work of `bits` for this client at its gateway.
    pub fn work(&self, bits: u8) -> u64 {
        gateway_protocol::registration_work::solve(
            self.gateway.as_bytes(),
            &self.destination(),
            bits,
            0,
            u64::MAX,
        )
        .unwrap()
    }

    /// Registers: first without work, and again with the work the gateway names if it asks
    /// for some (what a real client does).
    pub async fn register(&mut self) -> Connection {
        let mut conn = open(&self.url).await;
        let mut answer = self.send_registration(&mut conn, None).await;
        if let (
            GatewayControl::Error {
                work_bits: Some(bits),
                ..
            },
            _,
        ) = &answer
        {
            let work = self.work(*bits);
            conn = open(&self.url).await;
            answer = self.send_registration(&mut conn, Some(work)).await;
        }
        self.confirm_registration(&mut conn, answer).await;
        conn
    }

    /// Registers on an open connection with work of `bits`, through `ready`.
    pub async fn register_on(&mut self, conn: &mut Connection, bits: u8) {
        let answer = self.send_registration(conn, Some(self.work(bits))).await;
        self.confirm_registration(conn, answer).await;
    }

    /// Finishes a registration from the gateway's answer and confirms it with `ready`.
    async fn confirm_registration(
        &mut self,
        conn: &mut Connection,
        (answer, pending): (
            GatewayControl,
            gateway_protocol::handshake::PendingRegistration,
        ),
    ) {
        let (shared, keys) = pending
            .finish(&answer)
            .unwrap_or_else(|e| panic!("{e}: {answer:?}"));
        self.shared = Some(shared);
        conn.cipher = Some(SessionCipher::client(&keys));
        conn.answer = Some(answer);
        conn.send_sealed(&ClientControl::Ready).await;
    }

    /// Sends a registration request with `work` on `conn`; the answer and the state to
    /// finish it with.
    pub async fn send_registration(
        &self,
        conn: &mut Connection,
        work: Option<u64>,
    ) -> (
        GatewayControl,
        gateway_protocol::handshake::PendingRegistration,
    ) {
        let mut secret = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        let (pending, request) =
            start_registration(&self.identity, &self.gateway, secret, now_ms(), work);
        conn.send_control(&request).await;
        (conn.expect_control().await, pending)
    }

    /// The authenticate request, for tests that tamper with it.
    pub fn authenticate_request(
        &self,
        at_ms: u64,
    ) -> (
        gateway_protocol::handshake::PendingAuthentication,
        ClientControl,
    ) {
        let mut nonce = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        start_authentication(&self.identity, &self.gateway, nonce, at_ms)
    }

    pub async fn authenticate(&self) -> Connection {
        let mut conn = open(&self.url).await;
        let (pending, request) = self.authenticate_request(now_ms());
        conn.send_control(&request).await;
        let answer = conn.expect_control().await;
        let keys = pending
            .finish(self.shared.as_ref().unwrap(), &answer)
            .unwrap_or_else(|e| panic!("{e}: {answer:?}"));
        conn.cipher = Some(SessionCipher::client(&keys));
        conn.answer = Some(answer);
        conn.send_sealed(&ClientControl::Ready).await;
        conn
    }
}

impl Connection {
    pub async fn send_control(&mut self, request: &ClientControl) {
        self.ws
            .send(Message::text(request.to_json()))
            .await
            .unwrap();
    }

    /// A control request inside the session cipher (what an authenticated client sends).
    pub async fn send_sealed(&mut self, request: &ClientControl) {
        let frame = ClientFrame::encode_control(request);
        let sealed = self.cipher.as_mut().unwrap().seal(&frame).unwrap();
        self.ws.send(Message::binary(sealed)).await.unwrap();
    }

    pub async fn send_packet(&mut self, first_hop: &SocketAddr, packet: &[u8]) {
        let frame =
            ClientFrame::encode_packet(first_hop, router_core::wire::KeyRotation::Unknown, packet);
        let sealed = self.cipher.as_mut().unwrap().seal(&frame).unwrap();
        self.ws.send(Message::binary(sealed)).await.unwrap();
    }

    /// The next event (bounded wait).
    pub async fn next(&mut self) -> Event {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("nothing arrived within 20 s");
            match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Event::Closed,
                Some(Ok(Message::Text(text))) => {
                    return Event::Control(serde_json::from_str(text.as_str()).unwrap())
                }
                Some(Ok(Message::Binary(sealed))) => {
                    let opened = self.cipher.as_mut().unwrap().open(&sealed).unwrap();
                    let frame = GatewayFrame::decode(&opened).unwrap();
                    return Event::Delivery {
                        kind: frame.kind,
                        stored_id: frame.stored_id,
                        bytes: frame.bytes.to_vec(),
                    };
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn expect_control(&mut self) -> GatewayControl {
        match self.next().await {
            Event::Control(c) => c,
            other => panic!("expected a control frame, got {other:?}"),
        }
    }

    /// Expects an error of `kind` (and, if fatal, the close after it).
    pub async fn expect_error(&mut self, kind: gateway_protocol::ErrorKind) -> String {
        match self.next().await {
            Event::Control(GatewayControl::Error {
                kind: got, message, ..
            }) => {
                assert_eq!(got, kind, "{message}");
                if kind.is_fatal() {
                    assert_eq!(self.next().await, Event::Closed, "a fatal error closes");
                }
                message
            }
            other => panic!("expected a {kind:?} error, got {other:?}"),
        }
    }
}

/// A Sphinx packet of `size` over `route` to `destination` carrying `plaintext`, zero delays.
pub fn packet(
    route: &[Node],
    destination: [u8; 32],
    plaintext: &[u8],
    size: PacketSize,
) -> Vec<u8> {
    let delays = vec![Delay::new_from_nanos(0); route.len()];
    SphinxPacketBuilder::new()
        .with_payload_size(size.size() - 348)
        .build_packet(
            plaintext,
            route,
            &Destination::new(DestinationAddressBytes::from_bytes(destination), [0; 16]),
            &delays,
        )
        .unwrap()
        .to_bytes()
}

/// A regular packet carrying `message` to `recipient` over `mixes` and `exit`, with a
/// SURB-ACK back to `sender` over `mixes` and `entry` whose plaintext is `ack_id` (21 bytes),
/// in Nym's layout.
pub fn message_with_ack(
    mixes: &[&Process],
    exit: &Process,
    recipient: [u8; 32],
    entry: &Process,
    sender: [u8; 32],
    message: &[u8],
    ack_id: [u8; 21],
) -> Vec<u8> {
    let mut ack_route: Vec<Node> = mixes.iter().map(|m| m.route_node()).collect();
    ack_route.push(entry.route_node());
    let ack = packet(&ack_route, sender, &ack_id, PacketSize::Ack);
    let mut plaintext = surb_ack_prefix(&mixes[0].addr, &ack).unwrap();
    plaintext.extend_from_slice(message);
    let mut route: Vec<Node> = mixes.iter().map(|m| m.route_node()).collect();
    route.push(exit.route_node());
    packet(&route, recipient, &plaintext, PacketSize::Regular)
}
