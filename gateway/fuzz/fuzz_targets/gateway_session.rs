//! Drives the gateway's client connections (`gateway/src/connection`: the upgrade, the
//! handshake and the authenticated session, with the real store, delivery pump, forwarder,
//! entry policy and credential checks) with a sequence of actions read with `arbitrary`. One
//! run is one client: it registers over an in-process websocket
//! ([`gateway::connection::serve_connection`] over `tokio::io::duplex`) with the real client
//! side of the handshake, then, reconnecting (authenticate) whenever the gateway closed it:
//!
//! * packets (sealed, to the allowed first hop or another, in bursts), controls (`received`
//!   naming delivered, stored-but-undelivered and fuzzed ids; `bandwidth` with presentations of
//!   a real Coconut credential under fuzzed public attributes, gateway, nonce and key epoch, or
//!   with garbage; `ready`; `register` and `authenticate` again), fuzzed sealed plaintexts,
//!   garbage binary and text frames, replays of earlier sealed frames;
//! * messages for the client through the real delivery path (the pump: live if online,
//!   else the mailbox; or straight to the mailbox, as the pump does when a queue is full),
//!   with or without a SURB-ACK;
//! * the clock moving on (idle timeouts, the periodic bandwidth save), closing (gracefully or
//!   not), a second connection replacing the first, and, while offline, bandwidth credited in
//!   the database (what an earlier redemption left).
//!
//! The gateway runs with free bandwidth or with credentials (a verifier asking no validator:
//! a presentation that passes the local checks is refused `busy`, one spent here `spent`).
//! One current-thread runtime on a paused clock, two gateways (one per bandwidth mode) and
//! their databases live for the whole process; a run ends by reading the mailbox empty.
//!
//! After every action, once the gateway has answered a ping (everything before it is handled)
//! and nothing is left to run, it checks that:
//!
//! * every message is delivered live once, or stored, or dropped as the gateway's counters
//!   say, never two of these; a stored message is never lost (it leaves the mailbox only once
//!   confirmed), never delivered twice on one connection, never again once confirmed; a
//!   confirmed message leaves the mailbox; a connection with nothing unconfirmed has been sent
//!   all of its mailbox; the mailbox stays within its limits; and at the end, every stored
//!   message was delivered;
//! * with credentials, the balance (live and saved) is exactly the credited amount minus the
//!   packets forwarded, never more: a packet is refused `out_of_bandwidth` exactly when the
//!   balance cannot pay for it, and only packets the model forwards are counted forwarded;
//! * every answer is the expected one (refusals in the credential checks' order, the
//!   `max_refused_credentials`-th refusal closing the connection), a fatal error is followed by
//!   the connection's close and a non-fatal one is not, and nothing else closes it;
//! * the connection task ends when the client goes away, without panicking, and the gateway's
//!   connection counts (connected clients, online registry, per-source counts) return to zero.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use gateway::config::ClientsSection;
use gateway::connection::{serve_connection, BandwidthMode, Shared};
use gateway::credentials::CredentialVerifier;
use gateway::delivery::{run_pump, store_and_ack, Ack, Inbound, Online};
use gateway::entry_policy::EntryPolicy;
use gateway::forwarder::{Forwarder, ForwarderSettings};
use gateway::source_limits::{SourceLimits, SourceRefusal};
use gateway::stats::{ExitDrop, GatewayStats};
use gateway::store::{ClientId, MailboxLimits, Store};
use gateway_protocol::handshake::{start_authentication, start_registration, ReplayWindow};
use gateway_protocol::{
    ClientControl, ClientFrame, DeliveryKind, ErrorKind, GatewayControl, GatewayFrame,
    SessionCipher, SharedKey,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use router_core::wire::{FramingVersion, KeyRotation, PacketSize};
use tokio::io::DuplexStream;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use validator_core::api::SpendBody;
use validator_core::chain::dkg::KeyEpochId;
use validator_core::coconut::{
    blind_sign, prepare_blind_sign, prove_credential, ttp_keygen, unblind, Theta,
};
use validator_core::credential::{parameters, PublicAttributes, SpendContext, SpendNonce};
use validator_core::primitives::IdentityKey;

/// Where the fuzzed client connects from.
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40_000);
/// Mailbox limits: small, so the fuzzer reaches them.
const MAX_MESSAGES: u64 = 6;
const MAX_BYTES: u64 = 2_000;
/// Stored messages per batch.
const BATCH: usize = 3;
const MAX_REFUSED: u32 = 3;
/// Longer than anything the gateway may legitimately wait for (on the paused clock): waiting
/// this long for an answer means the gateway hangs.
const HANG: Duration = Duration::from_secs(24 * 3600);

struct Gateway {
    shared: Arc<Shared>,
    pump: mpsc::Sender<Inbound>,
    paid: bool,
}

struct World {
    runtime: Runtime,
    free: Gateway,
    paid: Gateway,
    /// The one first hop the entry policy allows (a loopback listener that reads and drops).
    hop: SocketAddr,
    /// This gateway's identity, as credentials name it.
    gateway_id: IdentityKey,
    /// Presentations of real credentials for this gateway; the first one's credential is
    /// spent here.
    thetas: Vec<Theta>,
    clients: AtomicU64,
    nonces: AtomicU64,
}

fn clients_section() -> ClientsSection {
    ClientsSection {
        registration_work_bits: 0,
        packets_per_second: 20,
        burst_packets: 4,
        controls_per_second: 10,
        burst_controls: 4,
        max_refused_credentials: MAX_REFUSED,
        registration_burst_per_source: 1 << 30,
        registrations_per_hour_per_source: 1 << 30,
        ..ClientsSection::default()
    }
}

/// Presentations of two credentials (different serial numbers) for `gateway`, two each.
fn presentations(gateway: IdentityKey) -> Vec<Theta> {
    let mut rng = rand::rng();
    let params = parameters();
    let keys = ttp_keygen(&params, 1, 1, &mut rng).expect("1 of 1");
    let key = &keys[0];
    let public = PublicAttributes::bandwidth_voucher(1 << 20).scalars();
    let mut thetas = Vec::new();
    for serial in [&b"serial one"[..], b"serial two"] {
        let private = [
            validator_core::coconut::hash_to_attribute(serial),
            validator_core::coconut::hash_to_attribute(b"binding"),
        ];
        let (openings, request) =
            prepare_blind_sign(&params, &private, &public, &mut rng).expect("valid input");
        let blinded = blind_sign(&params, key.secret_key(), &request, &public).expect("signs");
        let signature = unblind(key.verification_key(), &blinded, &openings).expect("unblinds");
        for nonce in [1u8, 2] {
            let context = SpendContext {
                gateway,
                nonce: SpendNonce([nonce; 32]),
            };
            thetas.push(
                prove_credential(
                    &params,
                    key.verification_key(),
                    &signature,
                    &private,
                    &context.to_bytes(),
                    &mut rng,
                )
                .expect("proves"),
            );
        }
    }
    thetas
}

fn gateway(
    runtime: &Runtime,
    dir: &std::path::Path,
    paid: bool,
    identity: &SigningKey,
    policy: &Arc<EntryPolicy>,
) -> Gateway {
    let settings = clients_section();
    let stats = Arc::new(GatewayStats::default());
    let store = Arc::new(
        Store::open(
            &dir.join(if paid { "paid.redb" } else { "free.redb" }),
            MailboxLimits {
                max_messages: MAX_MESSAGES,
                max_bytes: MAX_BYTES,
                max_total_bytes: 1 << 40,
                max_age_ms: 7 * 24 * 3600 * 1000,
                require_bandwidth: paid,
            },
        )
        .expect("opens"),
    );
    let forwarder = Forwarder::new(
        ForwarderSettings {
            queue_capacity: 4,
            connect_timeout: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            version: FramingVersion::V8,
        },
        stats.clone(),
    );
    let online = Arc::new(Online::default());
    let bandwidth = if paid {
        let verifier = CredentialVerifier::new(IdentityKey::from(identity), &[]).expect("no URL");
        BandwidthMode::Credentials(Box::new(verifier))
    } else {
        BandwidthMode::FreeForTesting
    };
    let shared = Arc::new(Shared {
        identity: identity.clone(),
        store: store.clone(),
        online: online.clone(),
        forwarder: forwarder.clone(),
        policy: policy.clone(),
        bandwidth,
        stats: stats.clone(),
        replay: Mutex::new(ReplayWindow::new(settings.auth_window_ms, 1 << 20, 1 << 10)),
        sources: Mutex::new(SourceLimits::new(settings.source_settings())),
        settings,
        mailbox_batch: BATCH,
        sessions: AtomicU64::new(0),
        origin: runtime.block_on(async { tokio::time::Instant::now() }),
    });
    let (pump, rx) = mpsc::channel(64);
    runtime.spawn(run_pump(
        rx,
        online,
        store,
        forwarder,
        policy.clone(),
        stats,
    ));
    Gateway { shared, pump, paid }
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let sink = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("loopback");
        let hop = sink.local_addr().expect("bound");
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = sink.accept().await {
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
                });
            }
        });
        let policy = Arc::new(EntryPolicy::empty());
        policy.set([hop].into());
        // The databases live in a directory removed once they are open (the open files stay).
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("gateway-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let identity = SigningKey::from_bytes(&[200; 32]);
        let free = gateway(&runtime, &dir, false, &identity, &policy);
        let paid = gateway(&runtime, &dir, true, &identity, &policy);
        let _ = std::fs::remove_dir_all(&dir);
        let gateway_id = IdentityKey::from(&identity);
        let thetas = presentations(gateway_id);
        // The first credential was spent here (by someone else).
        let spender: ClientId = [0xEE; 32];
        let store = &paid.shared.store;
        store
            .register(&spender, &SharedKey::from_bytes([1; 32]), gateway::now_ms())
            .expect("registers");
        assert!(store
            .redeem(&thetas[0].zeta_bytes(), &spender, 1, gateway::now_ms())
            .expect("redeems"));
        World {
            runtime,
            free,
            paid,
            hop,
            gateway_id,
            thetas,
            clients: AtomicU64::new(1),
            nonces: AtomicU64::new(1),
        }
    })
}

type ClientSink = SplitSink<WebSocketStream<DuplexStream>, Message>;

/// One connection, from the client's side.
struct Conn {
    sink: ClientSink,
    /// What the gateway sent, from a reader task; closed when the gateway closed.
    inbox: mpsc::UnboundedReceiver<Message>,
    server: JoinHandle<std::result::Result<(), SourceRefusal>>,
    reader: JoinHandle<()>,
    cipher: SessionCipher,
    /// Sealed frames sent (replayed by some actions).
    sent: Vec<Vec<u8>>,
    pings: u64,
    /// Credentials refused on this connection.
    refused: u32,
    /// Stored ids delivered on this connection, and those not confirmed yet.
    delivered: HashSet<u64>,
    unconfirmed: BTreeSet<u64>,
}

/// What one action got back.
#[derive(Default, Debug)]
struct Answers {
    errors: Vec<ErrorKind>,
    bandwidth: Vec<u64>,
    /// The gateway closed the connection (close frame or end of stream).
    closed: bool,
    close: Option<(u16, String)>,
}

struct Run<'w> {
    w: &'w World,
    gw: &'w Gateway,
    key: SigningKey,
    client: ClientId,
    shared_key: Option<SharedKey>,
    conn: Option<Conn>,
    /// The model.
    bandwidth: u64,
    forwarded: u64,
    /// Bytes of bandwidth the forwarded packets used (credentials mode).
    debited: u64,
    next_tag: u64,
    injected: HashMap<u64, (DeliveryKind, usize)>,
    live: HashSet<u64>,
    ever_stored: HashSet<u64>,
    received_stored: HashSet<u64>,
    /// Confirmed and gone from the mailbox: never to be delivered again.
    removed: HashSet<u64>,
    /// The mailbox as last read: id -> tag.
    mailbox: BTreeMap<u64, u64>,
    tag_of_id: HashMap<u64, u64>,
    /// Ids named in a `received` on the connection that delivered them.
    confirmed: HashSet<u64>,
    base: Counters,
}

#[derive(Clone, Copy, Debug)]
struct Counters {
    drops: u64,
    forwarded: u64,
    debited: u64,
    connected: u64,
}

fn counters(gw: &Gateway) -> Counters {
    let stats = &gw.shared.stats;
    Counters {
        drops: [
            ExitDrop::MailboxFull,
            ExitDrop::RecipientWithoutBandwidth,
            ExitDrop::UnknownRecipient,
            ExitDrop::StoreFailed,
        ]
        .into_iter()
        .map(|d| stats.exit_drops(d))
        .sum(),
        forwarded: stats.client_packets_forwarded.load(Ordering::Relaxed),
        debited: stats.bandwidth_debited_bytes.load(Ordering::Relaxed),
        connected: stats.clients_connected.load(Ordering::Relaxed),
    }
}

fn tag_of(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(
        bytes[..8]
            .try_into()
            .expect("every message starts with its tag"),
    )
}

/// Lets everything runnable run: the paused clock moves only once every task waits.
async fn quiesce() {
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

impl Run<'_> {
    fn now(&self) -> u64 {
        gateway::now_ms()
    }

    async fn connect(&mut self) {
        assert!(self.conn.is_none());
        self.open().await;
    }

    /// Opens a connection (a registration the first time, else an authentication); an open
    /// connection of the client is replaced by it.
    async fn open(&mut self) {
        let w = self.w;
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(serve_connection(server_io, PEER, self.gw.shared.clone()));
        let (ws, _) = tokio_tungstenite::client_async("ws://gateway.fuzz/", client_io)
            .await
            .expect("websocket upgrade");
        let (mut sink, mut stream) = ws.split();
        let gateway_key = self.gw.shared.identity.verifying_key();
        let n = w.nonces.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; 32];
        nonce[..8].copy_from_slice(&n.to_le_bytes());
        let keys;
        let answer;
        if let Some(shared_key) = &self.shared_key {
            let (pending, request) =
                start_authentication(&self.key, &gateway_key, nonce, self.now());
            sink.send(Message::text(request.to_json()))
                .await
                .expect("sends");
            answer = read_answer(&mut stream).await;
            keys = pending.finish(shared_key, &answer).expect("authenticated");
        } else {
            let (pending, request) =
                start_registration(&self.key, &gateway_key, nonce, self.now(), None);
            sink.send(Message::text(request.to_json()))
                .await
                .expect("sends");
            answer = read_answer(&mut stream).await;
            let (shared_key, session) = pending.finish(&answer).expect("registered");
            self.shared_key = Some(shared_key);
            keys = session;
        }
        let (GatewayControl::Registered {
            bandwidth, stored, ..
        }
        | GatewayControl::Authenticated {
            bandwidth, stored, ..
        }) = answer
        else {
            unreachable!("finish accepted it")
        };
        let expected = if self.gw.paid {
            self.bandwidth
        } else {
            u64::MAX
        };
        assert_eq!(bandwidth, expected, "the handshake's bandwidth");
        assert_eq!(
            stored,
            self.mailbox.len() as u64,
            "the handshake's stored count"
        );
        let mut cipher = SessionCipher::client(&keys);
        let ready = cipher
            .seal(&ClientFrame::encode_control(&ClientControl::Ready))
            .expect("seals");
        sink.send(Message::binary(ready)).await.expect("sends");
        let (tx, inbox) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        if let Some(old) = self.conn.take() {
            // Replaced: the old connection closes, and what it had goes to the mailbox.
            let answers = self.settle_conn(old, true).await;
            assert!(answers.closed, "a replaced connection stays open");
            assert!(answers.errors.is_empty(), "{answers:?}");
        }
        self.conn = Some(Conn {
            sink,
            inbox,
            server,
            reader,
            cipher,
            sent: Vec::new(),
            pings: 0,
            refused: 0,
            delivered: HashSet::new(),
            unconfirmed: BTreeSet::new(),
        });
        let answers = self.settle().await;
        assert!(
            !answers.closed && answers.errors.is_empty(),
            "after ready: {answers:?}"
        );
        self.check();
        assert_eq!(
            counters(self.gw).connected,
            self.base.connected + 1,
            "one connection of this client is counted"
        );
    }

    /// Reads what an old (replaced) connection still got until it ends, and its task's end.
    async fn settle_conn(&mut self, mut conn: Conn, replaced: bool) -> Answers {
        let mut answers = Answers::default();
        while let Ok(Some(message)) = tokio::time::timeout(HANG, conn.inbox.recv()).await {
            self.absorb(&mut conn, message, &mut answers);
        }
        answers.closed = true;
        if replaced {
            assert_eq!(
                answers.close.as_ref().map(|c| c.0),
                Some(1000),
                "a replaced connection closes normally"
            );
        }
        let ended = tokio::time::timeout(HANG, conn.server).await;
        let ended = ended.expect("the connection task ends when its client is gone");
        ended
            .expect("the connection task did not panic")
            .expect("not refused");
        answers
    }

    /// Handles one message from the gateway.
    fn absorb(&mut self, conn: &mut Conn, message: Message, answers: &mut Answers) -> bool {
        match message {
            Message::Binary(sealed) => {
                let opened = conn
                    .cipher
                    .open(&sealed)
                    .expect("the gateway's frame opens");
                let frame = GatewayFrame::decode(&opened).expect("the gateway's frame decodes");
                let tag = tag_of(frame.bytes);
                let (kind, len) = *self.injected.get(&tag).expect("a message that was sent");
                assert_eq!(
                    (frame.kind, frame.bytes.len()),
                    (kind, len),
                    "delivered intact"
                );
                assert!(
                    !self.live.contains(&tag),
                    "message {tag} delivered live, then again"
                );
                match frame.stored_id {
                    None => {
                        assert!(
                            !self.ever_stored.contains(&tag),
                            "message {tag} stored and delivered live"
                        );
                        self.live.insert(tag);
                    }
                    Some(id) => {
                        assert!(
                            !self.removed.contains(&tag),
                            "message {tag} delivered again after it was confirmed"
                        );
                        assert!(
                            conn.delivered.insert(id),
                            "stored message {id} delivered twice on one connection"
                        );
                        assert_eq!(
                            *self.tag_of_id.entry(id).or_insert(tag),
                            tag,
                            "mailbox id {id} names two messages"
                        );
                        conn.unconfirmed.insert(id);
                        self.ever_stored.insert(tag);
                        self.received_stored.insert(tag);
                    }
                }
            }
            Message::Text(text) => {
                let control: GatewayControl =
                    serde_json::from_str(text.as_str()).expect("the gateway's JSON parses");
                match control {
                    GatewayControl::Error { kind, .. } => {
                        assert!(
                            answers.errors.last().is_none_or(|k| !k.is_fatal()),
                            "an answer after the fatal {:?}",
                            answers.errors
                        );
                        answers.errors.push(kind)
                    }
                    GatewayControl::Bandwidth { remaining } => answers.bandwidth.push(remaining),
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            Message::Pong(payload) => {
                return payload.as_ref() == conn.pings.to_le_bytes();
            }
            Message::Close(frame) => {
                answers.close = Some(frame.map_or((0, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                }));
            }
            _ => {}
        }
        false
    }

    /// Waits until the gateway handled everything sent so far (it answered a ping, or closed)
    /// and nothing is left to run, then checks the invariants.
    async fn settle(&mut self) -> Answers {
        let mut answers = Answers::default();
        let Some(mut conn) = self.conn.take() else {
            quiesce().await;
            return answers;
        };
        conn.pings += 1;
        let ping = Message::Ping(conn.pings.to_le_bytes().to_vec().into());
        let mut open = conn.sink.send(ping).await.is_ok();
        while open {
            match tokio::time::timeout(HANG, conn.inbox.recv()).await {
                Err(_) => panic!("the gateway neither answers nor closes"),
                Ok(None) => open = false,
                Ok(Some(message)) => {
                    if self.absorb(&mut conn, message, &mut answers) {
                        break;
                    }
                }
            }
        }
        quiesce().await;
        if open {
            while let Ok(message) = conn.inbox.try_recv() {
                self.absorb(&mut conn, message, &mut answers);
            }
        }
        if !open || answers.close.is_some() {
            let rest = self.settle_conn(conn, false).await;
            answers.errors.extend(rest.errors);
            answers.bandwidth.extend(rest.bandwidth);
            answers.close = answers.close.or(rest.close);
            answers.closed = true;
            // A close is the answer to a fatal error, or the idle timeout (checked by the
            // caller).
            let fatal = answers.errors.last().is_some_and(|k| k.is_fatal());
            if fatal {
                let kind = answers.errors.last().expect("fatal");
                assert_eq!(
                    answers.close.as_ref().map(|c| c.1.as_str()),
                    Some(kind.label()),
                    "the close names the fatal error"
                );
            }
        } else {
            assert!(
                answers.errors.iter().all(|k| !k.is_fatal()),
                "open after a fatal error: {answers:?}"
            );
            self.conn = Some(conn);
        }
        answers
    }

    /// The invariants that hold whenever nothing is running.
    fn check(&mut self) {
        let shared = &self.gw.shared;
        let store = &shared.store;
        let pending = store.pending(&self.client, 0, usize::MAX).expect("reads");
        assert_eq!(
            store.pending_count(&self.client).expect("reads"),
            pending.len() as u64,
            "the mailbox's count"
        );
        assert!(
            pending.len() as u64 <= MAX_MESSAGES,
            "over the message limit"
        );
        let bytes: usize = pending.iter().map(|m| m.bytes.len()).sum();
        assert!(bytes as u64 <= MAX_BYTES, "over the byte limit");
        let mut now = BTreeMap::new();
        for message in &pending {
            let tag = tag_of(&message.bytes);
            let (kind, len) = *self.injected.get(&tag).expect("a message that was sent");
            assert_eq!(
                (message.kind, message.bytes.len()),
                (kind, len),
                "stored intact"
            );
            assert!(
                !self.live.contains(&tag),
                "message {tag} delivered live and stored"
            );
            assert!(!self.removed.contains(&tag), "message {tag} stored again");
            assert_eq!(
                *self.tag_of_id.entry(message.id).or_insert(tag),
                tag,
                "mailbox id {} names two messages",
                message.id
            );
            self.ever_stored.insert(tag);
            now.insert(message.id, tag);
        }
        for (id, tag) in std::mem::replace(&mut self.mailbox, now.clone()) {
            if !now.contains_key(&id) {
                assert!(
                    self.confirmed.contains(&id),
                    "stored message {id} left the mailbox unconfirmed"
                );
                self.removed.insert(tag);
            }
        }
        for id in &self.confirmed {
            assert!(
                !now.contains_key(id),
                "confirmed message {id} is still stored"
            );
        }
        let c = counters(self.gw);
        let accounted = self.live.len() + self.ever_stored.len();
        assert_eq!(
            (self.injected.len() - accounted) as u64,
            c.drops - self.base.drops,
            "messages neither delivered nor stored must be counted dropped"
        );
        assert_eq!(
            c.forwarded - self.base.forwarded,
            self.forwarded,
            "packets forwarded"
        );
        assert_eq!(
            c.debited - self.base.debited,
            self.debited,
            "bandwidth debited: what the forwarded packets used, nothing for refused ones"
        );
        if let Some(conn) = &self.conn {
            if conn.unconfirmed.is_empty() {
                assert!(
                    now.keys().all(|id| conn.delivered.contains(id)),
                    "nothing unconfirmed, yet stored messages {:?} were not sent (sent {:?})",
                    now.keys().collect::<Vec<_>>(),
                    conn.delivered
                );
            }
        }
        if self.gw.paid {
            match shared.online.bandwidth(&self.client) {
                Some(counter) => assert_eq!(
                    counter.load(Ordering::Relaxed),
                    self.bandwidth,
                    "the live balance"
                ),
                None => {
                    assert!(self.conn.is_none(), "connected but not online");
                    let saved = store
                        .client(&self.client)
                        .expect("reads")
                        .map(|r| r.bandwidth);
                    assert_eq!(saved.unwrap_or(0), self.bandwidth, "the saved balance");
                }
            }
        }
        if self.conn.is_none() {
            assert!(
                shared.online.bandwidth(&self.client).is_none(),
                "online while gone"
            );
            assert_eq!(
                c.connected, self.base.connected,
                "connected clients after a close"
            );
            let sources = shared.sources.lock().expect("lock");
            assert_eq!(sources.connections_of(PEER.ip()), 0, "source connections");
            assert_eq!(sources.handshakes_of(PEER.ip()), 0, "source handshakes");
        }
    }

    async fn ensure_connected(&mut self) {
        if self.conn.is_none() {
            self.connect().await;
        }
    }

    async fn send_sealed(&mut self, plaintext: &[u8]) {
        let conn = self.conn.as_mut().expect("connected");
        let sealed = conn.cipher.seal(plaintext).expect("seals");
        conn.sent.push(sealed.clone());
        let _ = conn.sink.send(Message::binary(sealed)).await;
    }

    async fn send_control(&mut self, control: &ClientControl) {
        self.send_sealed(&ClientFrame::encode_control(control))
            .await;
    }

    /// The answers to a step whose errors are all expected, in order, with nothing else.
    fn expect(&mut self, answers: &Answers, expected: &[ErrorKind]) {
        assert_eq!(answers.errors, expected, "{answers:?}");
        let fatal = expected.last().is_some_and(|k| k.is_fatal());
        assert_eq!(answers.closed, fatal, "closed: {answers:?}");
    }

    async fn packets(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        self.ensure_connected().await;
        let allowed = u.ratio(7, 8)?;
        let hop = if allowed {
            self.w.hop
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), u.arbitrary()?)
        };
        let size = if u.ratio(3, 4)? {
            PacketSize::Regular
        } else {
            PacketSize::ALL[u.choose_index(PacketSize::ALL.len())?]
        };
        let rotation =
            [KeyRotation::Unknown, KeyRotation::Odd, KeyRotation::Even][u.choose_index(3)?];
        let count = u.int_in_range(1..=8u8)?;
        let packet = vec![u.arbitrary::<u8>()?; size.size()];
        let frame = ClientFrame::encode_packet(&hop, rotation, &packet);
        for _ in 0..count {
            self.send_sealed(&frame).await;
        }
        let answers = self.settle().await;
        let cost = size.size() as u64;
        let mut errors = answers.errors.iter().copied().peekable();
        let mut forwarded = 0;
        for _ in 0..count {
            if !allowed {
                assert_eq!(errors.next(), Some(ErrorKind::NotInTopology), "{answers:?}");
            } else if self.gw.paid && self.bandwidth < cost {
                assert_eq!(
                    errors.next(),
                    Some(ErrorKind::OutOfBandwidth),
                    "{answers:?}"
                );
            } else if errors.peek() == Some(&ErrorKind::Busy) {
                errors.next();
            } else {
                forwarded += 1;
                if self.gw.paid {
                    self.bandwidth -= cost;
                    self.debited += cost;
                }
            }
        }
        assert_eq!(errors.next(), None, "unexpected errors: {answers:?}");
        self.forwarded += forwarded;
        assert!(!answers.closed, "closed: {answers:?}");
        Ok(())
    }

    async fn received(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        self.ensure_connected().await;
        let conn = self.conn.as_ref().expect("connected");
        let mut ids = Vec::new();
        for &id in &conn.unconfirmed {
            if u.ratio(3, 4)? {
                ids.push(id);
            }
        }
        for &id in self.mailbox.keys() {
            if u.ratio(1, 4)? {
                ids.push(id);
            }
        }
        for _ in 0..u.int_in_range(0..=2u8)? {
            ids.push(u.arbitrary()?);
        }
        if u.arbitrary()? {
            ids.reverse();
        }
        let named: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| conn.unconfirmed.contains(id))
            .collect();
        self.send_control(&ClientControl::Received { ids }).await;
        self.confirmed.extend(&named);
        if let Some(conn) = self.conn.as_mut() {
            for id in &named {
                conn.unconfirmed.remove(id);
            }
        }
        let answers = self.settle().await;
        self.expect(&answers, &[]);
        Ok(())
    }

    async fn credential(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        self.ensure_connected().await;
        let w = self.w;
        let which = u.choose_index(w.thetas.len())?;
        let mut public = PublicAttributes::bandwidth_voucher(u.arbitrary()?);
        if u.ratio(1, 4)? {
            public.credential_type = u.arbitrary()?;
        }
        let gateway = if u.ratio(7, 8)? {
            w.gateway_id
        } else {
            IdentityKey::from(&SigningKey::from_bytes(&u.arbitrary()?))
        };
        let body = SpendBody {
            theta: w.thetas[which].clone(),
            public_attributes: public.clone(),
            gateway,
            nonce: SpendNonce(u.arbitrary()?),
            key_epoch: KeyEpochId(u.arbitrary()?),
        };
        let garbage = u.ratio(1, 8)?;
        if garbage {
            let mut json = ClientControl::Bandwidth {
                credential: Box::new(body),
            }
            .to_json()
            .into_bytes();
            let at = u.choose_index(json.len())?;
            json.truncate(at);
            let extra = u.int_in_range(0..=16)?;
            json.extend_from_slice(u.bytes(extra)?);
            let mut frame = vec![0x02];
            frame.extend_from_slice(&json);
            self.send_sealed(&frame).await;
            let answers = self.settle().await;
            // Still a request only if the garbage kept it one.
            if !answers.closed {
                assert!(answers.errors.iter().all(|k| !k.is_fatal()), "{answers:?}");
                self.conn_refused(&answers);
            } else {
                assert!(answers.close.is_some(), "{answers:?}");
            }
            return Ok(());
        }
        // The checks' order: the attributes, the gateway, the spent set here, then the key
        // set, which no validator serves.
        let refusal = if public.validate().is_err() || gateway != w.gateway_id {
            Some(ErrorKind::CredentialRefused)
        } else if which < 2 {
            Some(ErrorKind::CredentialSpent)
        } else {
            None
        };
        let refused = self.conn.as_ref().expect("connected").refused + 1;
        let expected = match refusal {
            None => ErrorKind::Busy,
            Some(_) if refused >= MAX_REFUSED => ErrorKind::TooManyRefusedCredentials,
            Some(kind) => kind,
        };
        self.send_control(&ClientControl::Bandwidth {
            credential: Box::new(body),
        })
        .await;
        let answers = self.settle().await;
        if !self.gw.paid {
            assert!(answers.errors.is_empty() && !answers.closed, "{answers:?}");
            assert_eq!(answers.bandwidth, [u64::MAX], "free bandwidth");
            return Ok(());
        }
        assert!(
            answers.bandwidth.is_empty(),
            "a credential accepted: {answers:?}"
        );
        self.expect(&answers, &[expected]);
        if let (Some(conn), Some(_)) = (self.conn.as_mut(), refusal) {
            conn.refused = refused;
        }
        Ok(())
    }

    /// Counts the credential refusals among answers the model did not predict (a request
    /// garbled into one that still parses).
    fn conn_refused(&mut self, answers: &Answers) {
        for kind in &answers.errors {
            if matches!(
                kind,
                ErrorKind::CredentialRefused | ErrorKind::CredentialSpent
            ) {
                if let Some(conn) = self.conn.as_mut() {
                    conn.refused += 1;
                }
            }
        }
    }

    async fn inject(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let direct = u.ratio(1, 4)?;
        let mut items = Vec::new();
        for _ in 0..u.int_in_range(1..=4u8)? {
            let tag = self.next_tag;
            self.next_tag += 1;
            let kind = if u.ratio(1, 4)? {
                DeliveryKind::Ack
            } else {
                DeliveryKind::Message
            };
            let len = 8 + usize::from(u.int_in_range(0..=120u8)?) * 8;
            let mut bytes = tag.to_le_bytes().to_vec();
            bytes.resize(len, 0x5A);
            self.injected.insert(tag, (kind, len));
            let ack = if u.arbitrary()? {
                let first_hop = if u.ratio(3, 4)? {
                    self.w.hop
                } else {
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 1789)
                };
                Some(Ack {
                    first_hop,
                    key_rotation: KeyRotation::Even,
                    packet: vec![0xAC; PacketSize::Ack.size()],
                })
            } else {
                None
            };
            items.push(Inbound {
                client: self.client,
                kind,
                bytes,
                ack,
                budget: None,
            });
        }
        if direct {
            let s = &self.gw.shared;
            store_and_ack(
                items,
                &s.store,
                &s.online,
                &s.forwarder,
                &s.policy,
                &s.stats,
            )
            .await;
        } else {
            for item in items {
                self.gw.pump.send(item).await.expect("the pump runs");
            }
        }
        let answers = self.settle().await;
        self.expect(&answers, &[]);
        Ok(())
    }

    /// The client leaves: after everything sent to it arrived, with a close frame, or by
    /// dropping its end of the stream.
    async fn close(&mut self, graceful: bool) {
        let answers = self.settle().await;
        assert!(!answers.closed, "closed: {answers:?}");
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if graceful {
            let _ = conn.sink.send(Message::Close(None)).await;
            let rest = self.settle_conn(conn, false).await;
            assert!(rest.errors.is_empty(), "{rest:?}");
        } else {
            conn.reader.abort();
            drop(conn.sink);
            let ended = tokio::time::timeout(HANG, conn.server).await;
            ended
                .expect("the connection task ends when its client is gone")
                .expect("the connection task did not panic")
                .expect("not refused");
        }
        quiesce().await;
    }

    async fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0..=15u8)? {
            0..=2 => self.packets(u).await?,
            3..=4 => self.received(u).await?,
            5..=6 => self.credential(u).await?,
            7..=9 => self.inject(u).await?,
            10 => {
                // The clock moves on: a few seconds (the periodic save; a run's short waits and
                // rate limits together stay well within the idle timeout), or past the idle
                // timeout.
                let idle = u.ratio(1, 8)?;
                let secs = if idle {
                    u.int_in_range(301..=400u64)?
                } else {
                    u.int_in_range(1..=3u64)?
                };
                let connected = self.conn.is_some();
                tokio::time::sleep(Duration::from_secs(secs)).await;
                let answers = self.settle().await;
                assert!(answers.errors.is_empty(), "{answers:?}");
                assert_eq!(answers.closed, idle && connected, "{answers:?}");
                if answers.closed {
                    assert_eq!(
                        answers.close.as_ref().map(|c| c.0),
                        Some(1001),
                        "{answers:?}"
                    );
                }
            }
            11 => {
                let graceful = u.arbitrary()?;
                self.close(graceful).await;
            }
            12 => {
                // A second connection of the same client replaces the first.
                self.ensure_connected().await;
                self.open().await;
            }
            13 => {
                if self.conn.is_none() && self.gw.paid {
                    // Bandwidth an earlier redemption left in the database.
                    let amount = u.int_in_range(0..=40_000u64)?;
                    self.bandwidth += amount;
                    let store = &self.gw.shared.store;
                    store
                        .save_bandwidth(&[(self.client, self.bandwidth)])
                        .expect("saves");
                }
            }
            14 => {
                // Requests a session does not take: each is fatal.
                self.ensure_connected().await;
                let expected = match u.int_in_range(0..=4u8)? {
                    0 => {
                        let gateway_key = self.gw.shared.identity.verifying_key();
                        let (_, request) =
                            start_authentication(&self.key, &gateway_key, [9; 32], self.now());
                        self.send_control(&request).await;
                        ErrorKind::AlreadyAuthenticated
                    }
                    1 => {
                        let conn = self.conn.as_mut().expect("connected");
                        let len = u.int_in_range(0..=64)?;
                        let _ = conn
                            .sink
                            .send(Message::binary(u.bytes(len)?.to_vec()))
                            .await;
                        ErrorKind::BadFrame
                    }
                    2 => {
                        let conn = self.conn.as_mut().expect("connected");
                        let text: String = u.arbitrary()?;
                        let _ = conn.sink.send(Message::text(text)).await;
                        ErrorKind::BadRequest
                    }
                    3 => {
                        let conn = self.conn.as_mut().expect("connected");
                        if conn.sent.is_empty() {
                            return Ok(());
                        }
                        let old = conn.sent[u.choose_index(conn.sent.len())?].clone();
                        let _ = conn.sink.send(Message::binary(old)).await;
                        ErrorKind::BadFrame
                    }
                    _ => {
                        self.send_control(&ClientControl::Ready).await;
                        let answers = self.settle().await;
                        self.expect(&answers, &[]);
                        return Ok(());
                    }
                };
                let answers = self.settle().await;
                self.expect(&answers, &[expected]);
            }
            _ => {
                // A fuzzed plaintext, sealed: whatever it decodes to.
                self.ensure_connected().await;
                let len = u.arbitrary_len::<u8>()?.min(600);
                let plaintext = u.bytes(len)?.to_vec();
                // Only what the gateway refuses: packets and requests have their own actions.
                let expected = match ClientFrame::decode(&plaintext) {
                    Err(_) => ErrorKind::BadFrame,
                    Ok(ClientFrame::Control(json))
                        if serde_json::from_slice::<ClientControl>(json).is_err() =>
                    {
                        ErrorKind::BadRequest
                    }
                    Ok(_) => return Ok(()),
                };
                self.send_sealed(&plaintext).await;
                let answers = self.settle().await;
                self.expect(&answers, &[expected]);
            }
        }
        self.check();
        Ok(())
    }

    /// The end of a run: connected and confirming, the client gets its whole mailbox; then it
    /// leaves and the gateway forgets the connection.
    async fn finish(&mut self) {
        self.ensure_connected().await;
        for _ in 0..(MAX_MESSAGES as usize / BATCH + 3) {
            let conn = self.conn.as_mut().expect("still connected");
            if conn.unconfirmed.is_empty() && self.mailbox.is_empty() {
                break;
            }
            let ids: Vec<u64> = conn.unconfirmed.iter().copied().collect();
            self.confirmed.extend(&ids);
            conn.unconfirmed.clear();
            self.send_control(&ClientControl::Received { ids }).await;
            let answers = self.settle().await;
            self.expect(&answers, &[]);
            self.check();
        }
        assert!(
            self.mailbox.is_empty(),
            "the mailbox was not delivered: {:?}",
            self.mailbox
        );
        for tag in &self.ever_stored {
            assert!(
                self.received_stored.contains(tag),
                "stored message {tag} never delivered"
            );
        }
        self.close(true).await;
        self.check();
    }
}

async fn read_answer(
    stream: &mut futures::stream::SplitStream<WebSocketStream<DuplexStream>>,
) -> GatewayControl {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).expect("the gateway's JSON parses")
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("no handshake answer: {other:?}"),
        }
    }
}

async fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let w = world();
    let gw = if u.arbitrary()? { &w.paid } else { &w.free };
    let n = w.clients.fetch_add(1, Ordering::Relaxed);
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed[31] = 1;
    let key = SigningKey::from_bytes(&seed);
    let client = key.verifying_key().to_bytes();
    let mut run = Run {
        w,
        gw,
        key,
        client,
        shared_key: None,
        conn: None,
        bandwidth: 0,
        forwarded: 0,
        debited: 0,
        next_tag: 0,
        injected: HashMap::new(),
        live: HashSet::new(),
        ever_stored: HashSet::new(),
        received_stored: HashSet::new(),
        removed: HashSet::new(),
        mailbox: BTreeMap::new(),
        tag_of_id: HashMap::new(),
        confirmed: HashSet::new(),
        base: counters(gw),
    };
    assert_eq!(
        run.base.connected, 0,
        "a connection of an earlier run is still counted"
    );
    run.connect().await;
    let mut steps = 0;
    while !u.is_empty() && steps < 64 {
        if run.step(u).await.is_err() {
            break;
        }
        steps += 1;
    }
    run.finish().await;
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let _ = w.runtime.block_on(run(&mut Unstructured::new(data)));
});
