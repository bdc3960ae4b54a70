//! `socks5-client run`: a local SOCKS5/SOCKS4a proxy whose connections go through the mixnet
//! to a network requester, which opens them for us.
//!
//! Each app connection gets a random connection id; its bytes travel as numbered tunnel
//! messages ([`crate::socks::message`]) sent anonymously to the requester with a few SURBs,
//! and the requester answers through SURBs (the core asks for more when they run low), so it
//! never learns our address. The connection table below is the only owner of connection
//! state; the sockets are moved by [`super::pump`] tasks.
//!
//! A connection the requester has said nothing about for a while is probed. A restarted
//! requester answers a probe for a connection it does not know with a reset; a requester
//! that has gone quiet altogether (about every connection) for the probe timeout is taken
//! for gone and its connections are closed. Either way apps see their connections fail
//! instead of hanging, while a requester that is merely busy is only probed again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::driver::{connect, DriverOptions, MixnetError, MixnetEvent, MixnetSender};
use super::error::NativeError;
use super::files::ClientPaths;
use super::pump::{Pump, PumpEvent};
use super::run::shutdown_signal;
use crate::core::Recipient;
use crate::socks::handshake::{
    connect_reply, Auth, Handshake, HandshakeError, ReplyCode, TargetAddr, Version,
};
use crate::socks::message::{ConnectionId, Message};
use crate::socks::stream::Stream;

/// `socks5-client run` options.
#[derive(Debug, Clone)]
pub struct Socks5Options {
    /// Where apps connect.
    pub listen: SocketAddr,
    /// The network requester.
    pub provider: Recipient,
    /// What apps must authenticate with.
    pub auth: Auth,
    /// The mixnet client's settings.
    pub driver: DriverOptions,
    /// Bytes buffered per connection from the requester.
    pub window: u32,
    /// How long a CONNECT may wait for the requester's answer.
    pub connect_timeout: Duration,
    /// Silence from the requester after which an open connection is probed.
    pub probe_after: Duration,
    /// How long a probe may go unanswered before the connection is closed.
    pub probe_timeout: Duration,
}

impl Socks5Options {
    /// Defaults around the given essentials.
    pub fn new(listen: SocketAddr, provider: Recipient, driver: DriverOptions) -> Self {
        Self {
            listen,
            provider,
            auth: Auth::None,
            driver,
            window: 1 << 20,
            connect_timeout: Duration::from_secs(60),
            probe_after: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(30),
        }
    }
}

/// SURBs sent with a connect (the requester's first answers ride on them).
const SURBS_WITH_CONNECT: u16 = 10;
/// SURBs sent with every other message; the core asks for more when a long answer needs them.
const SURBS_WITH_MESSAGE: u16 = 2;
/// Longest SOCKS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// App connections waiting for the connection table.
const OPEN_QUEUE: usize = 256;

/// Runs the proxy until Ctrl-C or SIGTERM.
pub async fn run(paths: &ClientPaths, options: Socks5Options) -> Result<(), NativeError> {
    let mut mixnet = connect(paths, options.driver.clone()).await?;
    let listener =
        TcpListener::bind(options.listen)
            .await
            .map_err(|source| NativeError::Listen {
                address: options.listen,
                source,
            })?;
    tracing::info!(
        listen = %options.listen,
        provider = %options.provider,
        address = %mixnet.address,
        "socks5 proxy ready"
    );
    let (open_tx, mut open_rx) = mpsc::channel(OPEN_QUEUE);
    let auth = options.auth.clone();
    let acceptor = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((socket, peer)) => {
                    tokio::spawn(handshake(socket, peer, auth.clone(), open_tx.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an app connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    let (pump_tx, mut pump_rx) = mpsc::unbounded_channel();
    let mut table = Table {
        mixnet: mixnet.sender(),
        options,
        last_heard: Instant::now(),
        conns: HashMap::new(),
        pump_events: pump_tx,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(opened) = open_rx.recv() => table.open(opened).await,
            event = mixnet.events.recv() => match event {
                Some(MixnetEvent::Received(r)) if r.is_reply => {
                    match Message::decode(&r.payload) {
                        Ok(m) => table.handle_requester_message(m).await,
                        Err(e) => tracing::warn!(error = %e, "an undecodable answer from the requester"),
                    }
                }
                Some(MixnetEvent::Received(_)) => {
                    tracing::debug!("ignored a message that is not an answer from the requester");
                }
                Some(MixnetEvent::FragmentLost { .. }) => {}
                None => return Err(MixnetError::Stopped.into()),
            },
            Some(event) = pump_rx.recv() => table.pump_event(event).await,
            _ = tick.tick() => table.tick().await,
        }
    }
    acceptor.abort();
    tracing::info!(open = table.conns.len(), "socks5 proxy stopping");
    Ok(())
}

/// Why an app's SOCKS handshake failed (logged).
#[derive(Debug, thiserror::Error)]
enum HandshakeFailure {
    #[error("reading: {0}")]
    Read(std::io::Error),
    #[error("writing: {0}")]
    Write(std::io::Error),
    #[error("the app closed during the handshake")]
    Closed,
    #[error(transparent)]
    Socks(#[from] HandshakeError),
}

/// An app connection that finished its SOCKS handshake.
struct Opened {
    version: Version,
    target: TargetAddr,
    socket: TcpStream,
    /// Bytes the app sent after its request.
    pending: Vec<u8>,
}

async fn handshake(
    mut socket: TcpStream,
    peer: SocketAddr,
    auth: Auth,
    open: mpsc::Sender<Opened>,
) {
    let work = async {
        let mut hs = Handshake::new(auth);
        let mut buf = Vec::new();
        let mut read = [0u8; 1024];
        loop {
            let n = socket
                .read(&mut read)
                .await
                .map_err(HandshakeFailure::Read)?;
            if n == 0 {
                return Err(HandshakeFailure::Closed);
            }
            buf.extend_from_slice(&read[..n]);
            loop {
                match hs.handle_input(&buf) {
                    Ok(p) => {
                        buf.drain(..p.consumed);
                        if !p.reply.is_empty() {
                            socket
                                .write_all(&p.reply)
                                .await
                                .map_err(HandshakeFailure::Write)?;
                        }
                        if let Some(request) = p.request {
                            return Ok((request, buf));
                        }
                        if p.consumed == 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        if let Some(reply) = e.error_reply() {
                            let _ = socket.write_all(&reply).await;
                        }
                        return Err(e.into());
                    }
                }
            }
        }
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, work).await {
        Ok(Ok((request, pending))) => {
            tracing::debug!(%peer, target = %request.target, "socks request");
            let opened = Opened {
                version: request.version,
                target: request.target,
                socket,
                pending,
            };
            // A full queue means the proxy is stopping.
            let _ = open.send(opened).await;
        }
        Ok(Err(e)) => tracing::info!(%peer, error = %e, "socks handshake failed"),
        Err(_) => tracing::info!(%peer, "socks handshake timed out"),
    }
}

struct Connecting {
    version: Version,
    socket: TcpStream,
    pending: Vec<u8>,
    deadline: Instant,
}

enum ConnState {
    /// Waiting for the requester's answer.
    Connecting(Connecting),
    Open(Pump),
    /// Moving between states (never seen outside one method).
    Moving,
}

struct Conn {
    target: TargetAddr,
    state: ConnState,
    stream: Stream,
    last_heard: Instant,
    probed_at: Option<Instant>,
}

struct Table {
    mixnet: MixnetSender,
    options: Socks5Options,
    /// When the requester last said anything, about any connection.
    last_heard: Instant,
    conns: HashMap<ConnectionId, Conn>,
    pump_events: mpsc::UnboundedSender<PumpEvent>,
}

/// Tells the app its connection failed, then closes it.
fn refuse(version: Version, mut socket: TcpStream, code: ReplyCode) {
    tokio::spawn(async move {
        let _ = socket.write_all(&connect_reply(version, code, None)).await;
        let _ = socket.shutdown().await;
    });
}

impl Table {
    async fn send(&self, message: &Message, surbs: u16) -> Result<(), MixnetError> {
        self.mixnet
            .send(self.options.provider, message.encode(), false, Some(surbs))
            .await
            .map(drop)
    }

    async fn open(&mut self, opened: Opened) {
        let id = loop {
            let id = OsRng.next_u64();
            if !self.conns.contains_key(&id) {
                break id;
            }
        };
        let connect = Message::Connect {
            id,
            target: opened.target.clone(),
            window: self.options.window,
        };
        if let Err(e) = self.send(&connect, SURBS_WITH_CONNECT).await {
            tracing::warn!(target = %opened.target, error = %e, "could not send a connect");
            refuse(opened.version, opened.socket, ReplyCode::GeneralFailure);
            return;
        }
        tracing::info!(id, target = %opened.target, "connecting through the mixnet");
        let now = Instant::now();
        self.conns.insert(
            id,
            Conn {
                target: opened.target,
                state: ConnState::Connecting(Connecting {
                    version: opened.version,
                    socket: opened.socket,
                    pending: opened.pending,
                    deadline: now + self.options.connect_timeout,
                }),
                stream: Stream::new(self.options.window, 0),
                last_heard: now,
                probed_at: None,
            },
        );
    }

    /// Ends a connection: tells the requester (unless it told us) and closes the socket,
    /// with a SOCKS error if the app is still waiting for its answer.
    async fn reset(&mut self, id: ConnectionId, code: ReplyCode, reason: &str, tell: bool) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        tracing::info!(id, target = %conn.target, reason, "connection closed");
        match conn.state {
            ConnState::Connecting(c) => refuse(c.version, c.socket, code),
            ConnState::Open(pump) => pump.abort(),
            ConnState::Moving => {}
        }
        if tell {
            let reset = Message::Reset {
                id,
                reason: reason.to_owned(),
            };
            if let Err(e) = self.send(&reset, SURBS_WITH_MESSAGE).await {
                tracing::debug!(id, error = %e, "could not send a reset");
            }
        }
    }

    /// Hands in-order bytes to the socket, and forgets the connection once both directions
    /// are closed.
    fn flush(&mut self, id: ConnectionId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let ConnState::Open(pump) = &conn.state else {
            return;
        };
        while let Some(chunk) = conn.stream.poll_chunk() {
            pump.write(chunk);
        }
        if conn.stream.closed_sending() && conn.stream.peer_closed() {
            tracing::debug!(id, "connection finished");
            // Dropping the pump lets its writer finish what is queued.
            self.conns.remove(&id);
        }
    }

    async fn handle_requester_message(&mut self, message: Message) {
        self.last_heard = Instant::now();
        let id = message.id();
        let Some(conn) = self.conns.get_mut(&id) else {
            tracing::debug!(id, "a tunnel message for no connection");
            return;
        };
        conn.last_heard = Instant::now();
        conn.probed_at = None;
        match message {
            Message::Connected { window, .. } => {
                if !matches!(conn.state, ConnState::Connecting(_)) {
                    // A second `connected` (a duplicate, or a confused peer) changes nothing.
                    return;
                }
                let ConnState::Connecting(c) =
                    std::mem::replace(&mut conn.state, ConnState::Moving)
                else {
                    return;
                };
                conn.stream.set_peer_window(window);
                let preamble = connect_reply(c.version, ReplyCode::Succeeded, None);
                let pump = Pump::start(
                    id,
                    c.socket,
                    preamble,
                    c.pending,
                    conn.stream.send_credit(),
                    self.pump_events.clone(),
                );
                conn.state = ConnState::Open(pump);
                tracing::info!(id, target = %conn.target, "connected");
                self.flush(id);
            }
            Message::Refused { code, reason, .. } => {
                tracing::info!(id, target = %conn.target, ?code, %reason, "the requester refused");
                self.reset(id, code, &reason, false).await;
            }
            Message::Data {
                seq, close, data, ..
            } => match conn.stream.handle_data(seq, data, close) {
                Ok(()) => self.flush(id),
                Err(e) => {
                    self.reset(id, ReplyCode::GeneralFailure, &e.to_string(), true)
                        .await;
                }
            },
            Message::Window { consumed, .. } => match conn.stream.handle_window(consumed) {
                Ok(more) => {
                    if let ConnState::Open(pump) = &conn.state {
                        pump.grant(more);
                    }
                }
                Err(e) => {
                    self.reset(id, ReplyCode::GeneralFailure, &e.to_string(), true)
                        .await;
                }
            },
            Message::Reset { reason, .. } => {
                self.reset(id, ReplyCode::GeneralFailure, &reason, false)
                    .await;
            }
            Message::Connect { .. } | Message::Probe { .. } => {
                tracing::debug!(id, "a client-side message from the requester");
            }
        }
    }

    async fn pump_event(&mut self, event: PumpEvent) {
        match event {
            PumpEvent::Read { id, data, eof } => {
                let Some(conn) = self.conns.get_mut(&id) else {
                    return;
                };
                let seq = conn.stream.next_send(data.len(), eof);
                let message = Message::Data {
                    id,
                    seq,
                    close: eof,
                    data,
                };
                if let Err(e) = self.send(&message, SURBS_WITH_MESSAGE).await {
                    self.reset(id, ReplyCode::GeneralFailure, &e.to_string(), true)
                        .await;
                    return;
                }
                self.flush(id);
            }
            PumpEvent::Written { id, n } => {
                let Some(conn) = self.conns.get_mut(&id) else {
                    return;
                };
                conn.stream.handle_consumed(n);
                if let Some(consumed) = conn.stream.poll_window_update() {
                    let message = Message::Window { id, consumed };
                    if let Err(e) = self.send(&message, SURBS_WITH_MESSAGE).await {
                        tracing::debug!(id, error = %e, "could not send a window update");
                    }
                }
            }
            PumpEvent::Failed { id, error } => {
                self.reset(id, ReplyCode::GeneralFailure, &error.to_string(), true)
                    .await;
            }
        }
    }

    /// Connect timeouts and probes of silent connections.
    async fn tick(&mut self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut probe = Vec::new();
        for (id, conn) in &self.conns {
            match (&conn.state, conn.probed_at) {
                (ConnState::Connecting(c), _) if now >= c.deadline => {
                    expired.push((*id, "no answer from the requester to the connect"));
                }
                (ConnState::Open(_), Some(at)) if now >= at + self.options.probe_timeout => {
                    // A requester that answers other connections is alive, only busy (its
                    // answers queue behind everyone's data): ask again. One that went quiet
                    // altogether is gone; a restarted one answers the probe with a reset.
                    if now >= self.last_heard + self.options.probe_timeout {
                        expired.push((*id, "the requester stopped answering"));
                    } else {
                        probe.push(*id);
                    }
                }
                (ConnState::Open(_), None) if now >= conn.last_heard + self.options.probe_after => {
                    probe.push(*id);
                }
                _ => {}
            }
        }
        for (id, reason) in expired {
            self.reset(id, ReplyCode::TtlExpired, reason, true).await;
        }
        for id in probe {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.probed_at = Some(now);
            }
            if let Err(e) = self.send(&Message::Probe { id }, SURBS_WITH_MESSAGE).await {
                tracing::debug!(id, error = %e, "could not send a probe");
            }
        }
    }
}
