//! Real mixnode processes on loopback, packets built by `sphinx-packet`, and a test listener
//! that peels the last layer with its own key.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use router_core::noise::handshake::{self, StaticKey};
use router_core::noise::header::HEADER_LEN;
use router_core::noise::transport::{Transport, OVERHEAD};
use router_core::wire::{
    decode_frame, encode_frame, encode_node_address, FrameHeader, KeyRotation, PacketSize,
};
use sphinx_packet::crypto::{PrivateKey, PublicKey};
use sphinx_packet::header::delays::Delay;
use sphinx_packet::route::{Destination, DestinationAddressBytes, Node, NodeAddressBytes};
use sphinx_packet::{ProcessedPacketData, SphinxPacket, SphinxPacketBuilder};

pub const BIN: &str = env!("CARGO_BIN_EXE_mixnode");

pub fn mixnode(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--home")
        .arg(home)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

/// Runs a future to completion on a fresh current-thread runtime (the validator client is
/// async, the tests are not).
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `mixnode bond --id ID --account-key FILE --amount 100`, which must succeed; its output.
pub fn bond(home: &Path, id: &str, account_key: &Path) -> Output {
    let account = account_key.to_str().unwrap();
    let out = mixnode(
        home,
        &[
            "bond",
            "--id",
            id,
            "--account-key",
            account,
            "--amount",
            "100",
        ],
    );
    assert!(
        out.status.success(),
        "bond: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    testnet::free_port().expect("binding a loopback port")
}

/// A node that has been initialised; `start` runs it.
pub struct TestNode {
    pub home: PathBuf,
    pub id: String,
    pub addr: SocketAddr,
    pub sphinx_public: [u8; 32],
    pub noise_public: [u8; 32],
    pub metrics: SocketAddr,
    pub child: Option<Child>,
    /// Where the node's log goes once [`Self::capture_log`] was called (else the test's
    /// stderr).
    pub log: Option<PathBuf>,
}

impl TestNode {
    pub fn init(home: &Path, id: &str) -> TestNode {
        Self::init_with(home, id, &[])
    }

    /// `init` with extra arguments (e.g. `--validator URL`).
    pub fn init_with(home: &Path, id: &str, extra: &[&str]) -> TestNode {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut args = vec!["init", "--id", id, "--listen"];
        let addr_text = addr.to_string();
        args.push(&addr_text);
        args.extend_from_slice(extra);
        let out = mixnode(home, &args);
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let details = mixnode(home, &["node-details", "--id", id]);
        assert!(details.status.success());
        let json: serde_json::Value = serde_json::from_slice(&details.stdout).unwrap();
        let sphinx = bs58::decode(json["sphinx_key"].as_str().unwrap())
            .into_vec()
            .unwrap();
        let noise = bs58::decode(json["noise_key"].as_str().unwrap())
            .into_vec()
            .unwrap();
        TestNode {
            home: home.to_path_buf(),
            id: id.to_string(),
            addr,
            sphinx_public: sphinx.try_into().unwrap(),
            noise_public: noise.try_into().unwrap(),
            metrics: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            child: None,
            log: None,
        }
    }

    /// Starts the node as an open relay (`--danger-allow-any-next-hop`) and waits until it
    /// accepts connections.
    pub fn start(&mut self, extra: &[&str]) {
        let mut args = vec!["--danger-allow-any-next-hop"];
        args.extend_from_slice(extra);
        self.start_checked(&args);
    }

    /// Starts the node (forwarding only within its validators' topology unless `extra` says
    /// otherwise) and waits until it accepts connections.
    pub fn start_checked(&mut self, extra: &[&str]) {
        self.start_limited(None, extra);
    }

    /// [`Self::start_checked`] with the open-files limit (soft and hard) set to `open_files`.
    pub fn start_limited(&mut self, open_files: Option<u64>, extra: &[&str]) {
        let mut command = match open_files {
            None => Command::new(BIN),
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.args([
                    "-c",
                    &format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
                    BIN,
                ]);
                sh
            }
        };
        let child = command
            .args(["run", "--id", &self.id])
            .arg("--home")
            .arg(&self.home)
            .args(["--metrics-listen", &self.metrics.to_string()])
            .args(extra)
            .env("RUST_LOG", if self.log.is_some() { "info" } else { "warn" })
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(match &self.log {
                Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                None => Stdio::inherit(),
            })
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(self.metrics).is_ok() && TcpStream::connect(self.addr).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mixnode {} exited during start-up: {status}", self.id);
            }
            assert!(
                Instant::now() < deadline,
                "mixnode {} did not start",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn route_node(&self) -> Node {
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&self.addr)),
            PublicKey::from(self.sphinx_public),
        )
    }

    /// The node's Prometheus text.
    pub fn metrics(&self) -> String {
        testnet::metrics::fetch_blocking(self.metrics).unwrap()
    }

    /// One sample of the node's metrics, by exact series name (with labels).
    pub fn metric(&self, series: &str) -> u64 {
        self.metric_f64(series) as u64
    }

    /// [`Self::metric`] for series that are not whole numbers (seconds).
    pub fn metric_f64(&self, series: &str) -> f64 {
        testnet::metrics::sample_blocking(self.metrics, series).unwrap()
    }

    /// Sets `engine.KEY = VALUE` in the node's config file (before `start`).
    pub fn set_engine(&self, key: &str, value: u64) {
        let path = self.home.join(format!("mixnodes/{}/config.toml", self.id));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut config: toml::Table = text.parse().unwrap();
        config["engine"]
            .as_table_mut()
            .unwrap()
            .insert(key.into(), toml::Value::Integer(value as i64));
        std::fs::write(&path, config.to_string()).unwrap();
    }

    /// Sets `engine.KEY = "VALUE"` in the node's config file (before `start`).
    pub fn set_engine_text(&self, key: &str, value: &str) {
        let path = self.home.join(format!("mixnodes/{}/config.toml", self.id));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut config: toml::Table = text.parse().unwrap();
        config["engine"]
            .as_table_mut()
            .unwrap()
            .insert(key.into(), toml::Value::String(value.into()));
        std::fs::write(&path, config.to_string()).unwrap();
    }

    /// Sends the node's log (at `info`) to a file from the next start on ([`Self::log_text`]).
    pub fn capture_log(&mut self) {
        self.log = Some(self.home.join(format!("{}.log", self.id)));
    }

    /// What the node logged so far (see [`Self::capture_log`]).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.as_ref().expect("capture_log first")).unwrap_or_default()
    }

    /// Waits (bounded) until the node's log has a line containing every one of `parts`.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.log_text();
            if let Some(line) = text
                .lines()
                .find(|line| parts.iter().all(|part| line.contains(part)))
            {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {parts:?} in:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `--danger-noise-peer` for this node: its address and Noise key.
    pub fn noise_peer(&self) -> String {
        format!(
            "{}={}",
            self.addr,
            bs58::encode(self.noise_public).into_string()
        )
    }

    /// User plus system CPU time the running process has used, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.child.as_ref().unwrap().id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let rest = stat.rsplit_once(')').unwrap().1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // /proc counts in USER_HZ, which the kernel's ABI fixes at 100 per second.
        ticks as f64 / 100.0
    }

    /// Polls a metric until `done` holds (bounded).
    pub fn wait_metric(&self, series: &str, done: impl Fn(u64) -> bool) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.metric(series);
            if done(value) {
                return value;
            }
            assert!(Instant::now() < deadline, "{series} stuck at {value}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit and returns its status code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            assert!(Instant::now() < deadline, "mixnode did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A listener standing in for the last hop: it peels the final layer with its own key and
/// reports each message with the time it arrived.
pub struct FinalHop {
    pub addr: SocketAddr,
    pub secret: [u8; 32],
    pub received: mpsc::Receiver<(Instant, Vec<u8>)>,
}

impl FinalHop {
    pub fn start() -> FinalHop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let secret = [0x42; 32];
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = vec![0u8; 64 * 1024];
                    loop {
                        let n = match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let now = Instant::now();
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(frame) = decode_frame(&buf).unwrap() {
                            let packet = SphinxPacket::from_bytes(frame.body).unwrap();
                            let consumed = frame.consumed;
                            let processed = packet.process(&PrivateKey::from(secret)).unwrap();
                            let ProcessedPacketData::FinalHop { payload, .. } = processed.data
                            else {
                                panic!("the test listener is always the last hop");
                            };
                            let message = payload.recover_plaintext().unwrap();
                            if tx.send((now, message)).is_err() {
                                return;
                            }
                            buf.drain(..consumed);
                        }
                    }
                });
            }
        });
        FinalHop {
            addr,
            secret,
            received: rx,
        }
    }

    pub fn route_node(&self) -> Node {
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&self.addr)),
            PublicKey::from(&PrivateKey::from(self.secret)),
        )
    }

    pub fn recv(&self) -> (Instant, Vec<u8>) {
        self.received
            .recv_timeout(Duration::from_secs(20))
            .expect("no packet reached the final hop")
    }

    /// Asserts nothing more arrives within `wait` (used after a later packet proved that the
    /// earlier ones were processed).
    pub fn assert_nothing_more(&self) {
        if let Ok((_, message)) = self.received.try_recv() {
            panic!(
                "unexpected extra packet {:?}",
                String::from_utf8_lossy(&message)
            );
        }
    }
}

/// A regular packet over `route` with per-hop `delays`, carrying `message`.
pub fn build_packet(route: &[Node], delays: &[Duration], message: &[u8]) -> SphinxPacket {
    build_packet_version(route, delays, message, None)
}

pub fn build_packet_version(
    route: &[Node],
    delays: &[Duration],
    message: &[u8],
    version: Option<u16>,
) -> SphinxPacket {
    let delays: Vec<Delay> = delays
        .iter()
        .map(|d| Delay::new_from_nanos(d.as_nanos() as u64))
        .collect();
    let mut builder =
        SphinxPacketBuilder::new().with_payload_size(PacketSize::Regular.size() - 348);
    if let Some(version) = version {
        builder = builder.with_version(sphinx_packet::version::Version::new(version));
    }
    builder
        .build_packet(
            message,
            route,
            &Destination::new(DestinationAddressBytes::from_bytes([7; 32]), [1; 16]),
            &delays,
        )
        .unwrap()
}

/// The packet as a version-8 frame.
pub fn frame(packet: &SphinxPacket) -> Vec<u8> {
    frame_with(packet, Some(KeyRotation::Unknown))
}

/// The packet as a version-8 frame with this key-rotation byte, or (`None`) a version-7 one.
pub fn frame_with(packet: &SphinxPacket, rotation: Option<KeyRotation>) -> Vec<u8> {
    let body = packet.to_bytes();
    let size = PacketSize::from_packet_len(body.len()).unwrap();
    let header = match rotation {
        Some(rotation) => FrameHeader::v8(size, rotation),
        None => FrameHeader::v7(size),
    };
    let mut out = vec![0u8; header.frame_len()];
    encode_frame(&header, &body, &mut out).unwrap();
    out
}

/// A Noise link opened to a node as the holder of `local`: the stream and its session.
pub fn noise_dial(
    addr: SocketAddr,
    local: &StaticKey,
    responder: &[u8; 32],
) -> (TcpStream, Transport) {
    use std::io::Write;
    let mut stream = connect(addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (waiting, first) = handshake::initiate(local, responder).unwrap();
    stream.write_all(&first).unwrap();
    let mut second = [0u8; HEADER_LEN + 48];
    stream.read_exact(&mut second).unwrap();
    handshake::expect_handshake(second[..HEADER_LEN].try_into().unwrap(), 2).unwrap();
    let (third, session) = waiting.read_second(&second[HEADER_LEN..]).unwrap();
    stream.write_all(&third).unwrap();
    (stream, session.transport)
}

/// `frame` as one sealed Noise transport message.
pub fn sealed(transport: &mut Transport, frame: &[u8]) -> Vec<u8> {
    let mut message = vec![0u8; frame.len() + OVERHEAD];
    message[HEADER_LEN..HEADER_LEN + frame.len()].copy_from_slice(frame);
    transport.seal(&mut message).unwrap();
    message
}

/// Whether the peer closed `stream` (end of stream or reset) within 10 s.
pub fn closed_by_peer(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A next hop that reads slowly: at most `frames_per_ms` frames each millisecond, counting
/// the frames it got (it does not peel them).
pub struct SlowHop {
    pub addr: SocketAddr,
    pub secret: [u8; 32],
    pub received: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SlowHop {
    pub fn start(frames_per_ms: usize) -> SlowHop {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let frame_len =
                        FrameHeader::v8(PacketSize::Regular, KeyRotation::Unknown).frame_len();
                    let mut chunk = vec![0u8; frame_len * frames_per_ms.max(1)];
                    let mut pending = 0usize;
                    loop {
                        let n = match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        pending += n;
                        counter.fetch_add((pending / frame_len) as u64, Ordering::Relaxed);
                        pending %= frame_len;
                        // The pace of a slow reader (not synchronisation).
                        std::thread::sleep(Duration::from_millis(1));
                    }
                });
            }
        });
        SlowHop {
            addr,
            secret: [0x24; 32],
            received,
        }
    }

    pub fn route_node(&self) -> Node {
        Node::new(
            NodeAddressBytes::from_bytes(encode_node_address(&self.addr)),
            PublicKey::from(&PrivateKey::from(self.secret)),
        )
    }

    pub fn received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
}
