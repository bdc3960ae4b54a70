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
//!
//! Layout: this file holds the model's types and the run; `gateway_session/` holds the
//! shared world (`setup`), the connection plumbing (`connection`), the fuzzed actions
//! (`actions`) and the checks (`invariants`).
#![no_main]

#[path = "gateway_session/actions.rs"]
mod actions;
#[path = "gateway_session/connection.rs"]
mod connection;
#[path = "gateway_session/invariants.rs"]
mod invariants;
#[path = "gateway_session/setup.rs"]
mod setup;

use setup::world;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::stream::SplitSink;
use futures::StreamExt;
use gateway::connection::Shared;
use gateway::delivery::Inbound;
use gateway::source_limits::SourceRefusal;
use gateway::stats::ExitDrop;
use gateway::store::ClientId;
use gateway_protocol::{DeliveryKind, ErrorKind, GatewayControl, SessionCipher, SharedKey};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tokio::io::DuplexStream;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use validator_core::coconut::Theta;
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
