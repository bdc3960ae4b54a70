//! `network-requester run`: a service provider on the mixnet that opens the TCP connections
//! SOCKS5 clients ask for, subject to an allow list, and relays their bytes both ways.
//!
//! Requests arrive as anonymous messages; everything goes back through the sender's SURBs
//! (the core asks for more when a download needs them), so the requester never learns who
//! it works for. Connections are keyed by (sender tag, connection id). The allow list is
//! read at start and again on SIGHUP (a list that does not parse leaves the old one in
//! force). Limits bound the connections per sender and in total.
//!
//! A requested name is checked against the list before DNS, and each address it resolves to
//! after ([`AllowList::allows_resolved`]): a name on the list reaches globally routable
//! addresses, and internal ones (loopback, private, carrier-grade NAT, link-local,
//! unique-local, ...) only if an address rule allows them, so DNS cannot point an allowed
//! name into the exit's own network. The allowed addresses are tried in the resolver's
//! order; a name whose every address is refused gets the same SOCKS error as a host off the
//! list ("not allowed by ruleset"), and the refused addresses are logged for the operator,
//! never sent to the client. An IP-address request is checked against the address rules
//! alone, as it always was.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::driver::{connect, DriverOptions, MixnetError, MixnetEvent, MixnetSender};
use super::error::NativeError;
use super::files::ClientPaths;
use super::pump::{Pump, PumpEvent};
use super::run::shutdown_signal;
use crate::requester::allow::AllowList;
use crate::socks::handshake::{Host, ReplyCode, TargetAddr};
use crate::socks::message::{ConnectionId, Message};
use crate::socks::stream::Stream;

/// `network-requester run` options.
#[derive(Debug, Clone)]
pub struct RequesterOptions {
    /// The allow-list file.
    pub allow_list: PathBuf,
    /// Open connections at most, over all senders.
    pub max_connections: usize,
    /// Open connections at most per sender.
    pub max_per_sender: usize,
    /// Bytes buffered per connection from the client.
    pub window: u32,
    /// How long opening a TCP connection (with name resolution) may take.
    pub connect_timeout: Duration,
    /// The mixnet client's settings.
    pub driver: DriverOptions,
}

impl RequesterOptions {
    /// Defaults around the given essentials.
    pub fn new(allow_list: PathBuf, driver: DriverOptions) -> Self {
        Self {
            allow_list,
            max_connections: 1024,
            max_per_sender: 64,
            window: 1 << 20,
            connect_timeout: Duration::from_secs(15),
            driver,
        }
    }
}

/// The allow-list file `network-requester init` writes: it allows nothing.
pub const ALLOW_LIST_TEMPLATE: &str = "\
# Hosts this network requester connects to, one per line; anything else is refused.
#   example.com        exactly this name
#   *.example.com      any name below example.com (not example.com itself)
#   203.0.113.7        this address        2001:db8::/32, 10.0.0.0/8   these ranges
# A name that resolves to an internal address (127.0.0.1, 10.x, 192.168.x, fd00::/8, ...)
# reaches it only if that address is listed too. Reloaded on SIGHUP.
";

fn load_allow_list(path: &PathBuf) -> Result<AllowList, NativeError> {
    let text =
        std::fs::read_to_string(path).map_err(NativeError::io("reading the allow list", path))?;
    AllowList::parse(&text).map_err(|source| NativeError::AllowList {
        path: path.clone(),
        source,
    })
}

/// Runs the requester until Ctrl-C or SIGTERM.
pub async fn run(paths: &ClientPaths, options: RequesterOptions) -> Result<(), NativeError> {
    let allow = load_allow_list(&options.allow_list)?;
    if allow.is_empty() {
        tracing::warn!(
            file = %options.allow_list.display(),
            "the allow list is empty: every request will be refused"
        );
    }
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|source| NativeError::Signal {
            signal: "SIGHUP",
            source,
        })?;
    let mut mixnet = connect(paths, options.driver.clone()).await?;
    tracing::info!(
        address = %mixnet.address,
        allowed = allow.len(),
        "network requester ready"
    );
    let (pump_tx, mut pump_rx) = mpsc::unbounded_channel();
    let (dial_tx, mut dial_rx) = mpsc::unbounded_channel();
    let mut table = Table {
        mixnet: mixnet.sender(),
        allow: Arc::new(allow),
        options,
        conns: HashMap::new(),
        keys: HashMap::new(),
        per_sender: HashMap::new(),
        next_key: 1,
        pump_events: pump_tx,
        dialled: dial_tx,
    };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hangup.recv() => table.reload(),
            event = mixnet.events.recv() => match event {
                Some(MixnetEvent::Received(r)) => match (r.sender_tag, r.is_reply) {
                    (Some(tag), false) => match Message::decode(&r.payload) {
                        Ok(m) => table.handle_client_message(tag, m).await,
                        Err(e) => tracing::info!(error = %e, "an undecodable request"),
                    },
                    _ => tracing::debug!("ignored a message that cannot be answered"),
                },
                Some(MixnetEvent::FragmentLost { .. }) => {}
                None => return Err(MixnetError::Stopped.into()),
            },
            Some(event) = pump_rx.recv() => table.pump_event(event).await,
            Some(dialled) = dial_rx.recv() => table.dialled(dialled).await,
        }
    }
    tracing::info!(open = table.conns.len(), "network requester stopping");
    Ok(())
}

/// A local key for a connection: pumps report by it.
type Key = u64;

struct Conn {
    tag: [u8; 16],
    id: ConnectionId,
    target: TargetAddr,
    stream: Stream,
    pump: Option<Pump>,
}

/// The outcome of opening a TCP connection.
struct Dialled {
    key: Key,
    result: Result<TcpStream, DialFailure>,
}

struct Table {
    mixnet: MixnetSender,
    /// Shared with the dials under way, which check resolved addresses against the list
    /// their request was checked against.
    allow: Arc<AllowList>,
    options: RequesterOptions,
    conns: HashMap<Key, Conn>,
    keys: HashMap<([u8; 16], ConnectionId), Key>,
    per_sender: HashMap<[u8; 16], usize>,
    next_key: Key,
    pump_events: mpsc::UnboundedSender<PumpEvent>,
    dialled: mpsc::UnboundedSender<Dialled>,
}

/// The SOCKS reply that describes a failed connect.
fn reply_code(e: &io::Error) -> ReplyCode {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ReplyCode::ConnectionRefused,
        io::ErrorKind::TimedOut => ReplyCode::TtlExpired,
        io::ErrorKind::NetworkUnreachable => ReplyCode::NetworkUnreachable,
        io::ErrorKind::HostUnreachable => ReplyCode::HostUnreachable,
        // Name resolution failures come back as other kinds.
        _ => ReplyCode::HostUnreachable,
    }
}

/// Why a dial failed.
enum DialError {
    /// Resolving or connecting failed.
    Io(io::Error),
    /// The name resolved only to addresses the allow list refuses.
    Refused,
}

/// Why a requested connection could not be opened: the refusal the client is told.
#[derive(Debug, thiserror::Error)]
enum DialFailure {
    /// Resolving or connecting failed.
    #[error("connecting to {target}: {source}")]
    Io {
        target: TargetAddr,
        source: io::Error,
    },
    /// The name resolved only to addresses the allow list refuses. Which addresses is logged,
    /// not told: they may be the exit's internal ones.
    #[error("{host} resolves only to addresses the allow list does not allow")]
    Refused { host: Host },
    /// Not connected within the connect timeout.
    #[error("connecting to {target}: timed out")]
    TimedOut { target: TargetAddr },
}

impl DialFailure {
    /// The SOCKS reply that describes it.
    fn reply_code(&self) -> ReplyCode {
        match self {
            DialFailure::Io { source, .. } => reply_code(source),
            DialFailure::Refused { .. } => ReplyCode::NotAllowed,
            DialFailure::TimedOut { .. } => ReplyCode::TtlExpired,
        }
    }
}

/// Resolves `name` and connects to the first of its addresses that `allow` allows for it,
/// trying them in the resolver's order.
async fn connect_name(name: &str, port: u16, allow: &AllowList) -> Result<TcpStream, DialError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(DialError::Io)?
        .collect();
    let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addresses
        .into_iter()
        .partition(|a| allow.allows_resolved(name, a.ip()));
    if !refused.is_empty() {
        let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        let refused = refused.join(", ");
        if allowed.is_empty() {
            tracing::info!(
                name,
                refused = %refused,
                "refused: the name resolves only to internal addresses off the allow list"
            );
            return Err(DialError::Refused);
        }
        tracing::debug!(name, refused = %refused, "skipped internal addresses off the allow list");
    }
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
    for address in allowed {
        match TcpStream::connect(address).await {
            Ok(socket) => return Ok(socket),
            Err(e) => last = e,
        }
    }
    Err(DialError::Io(last))
}

async fn dial(
    target: TargetAddr,
    allow: &AllowList,
    timeout: Duration,
) -> Result<TcpStream, DialFailure> {
    let attempt = async {
        match &target.host {
            Host::Domain(name) => connect_name(name, target.port, allow).await,
            // Already checked against the address rules.
            Host::Ip(ip) => TcpStream::connect((*ip, target.port))
                .await
                .map_err(DialError::Io),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(socket)) => Ok(socket),
        Ok(Err(DialError::Io(source))) => Err(DialFailure::Io { target, source }),
        Ok(Err(DialError::Refused)) => Err(DialFailure::Refused { host: target.host }),
        Err(_) => Err(DialFailure::TimedOut { target }),
    }
}

impl Table {
    fn reload(&mut self) {
        match load_allow_list(&self.options.allow_list) {
            Ok(list) => {
                tracing::info!(entries = list.len(), "allow list reloaded");
                self.allow = Arc::new(list);
            }
            Err(e) => tracing::error!(error = %e, "allow list not reloaded; the old one stays"),
        }
    }

    fn allows(&self, host: &Host) -> bool {
        match host {
            Host::Domain(name) => self.allow.allows_domain(name),
            Host::Ip(ip) => self.allow.allows_ip(*ip),
        }
    }

    async fn answer(&self, tag: [u8; 16], message: &Message) -> Result<(), MixnetError> {
        self.mixnet
            .reply(tag, message.encode(), false)
            .await
            .map(drop)
    }

    async fn refuse(&self, tag: [u8; 16], id: ConnectionId, code: ReplyCode, reason: String) {
        tracing::info!(id, ?code, %reason, "connect refused");
        let refused = Message::Refused { id, code, reason };
        if let Err(e) = self.answer(tag, &refused).await {
            tracing::debug!(id, error = %e, "could not send a refusal");
        }
    }

    fn forget(&mut self, key: Key) -> Option<Conn> {
        let conn = self.conns.remove(&key)?;
        self.keys.remove(&(conn.tag, conn.id));
        if let Some(n) = self.per_sender.get_mut(&conn.tag) {
            *n -= 1;
            if *n == 0 {
                self.per_sender.remove(&conn.tag);
            }
        }
        Some(conn)
    }

    /// Ends a connection, telling the client unless it told us.
    async fn reset(&mut self, key: Key, reason: &str, tell: bool) {
        let Some(conn) = self.forget(key) else {
            return;
        };
        tracing::info!(id = conn.id, target = %conn.target, reason, "connection closed");
        if let Some(pump) = conn.pump {
            pump.abort();
        }
        if tell {
            let reset = Message::Reset {
                id: conn.id,
                reason: reason.to_owned(),
            };
            if let Err(e) = self.answer(conn.tag, &reset).await {
                tracing::debug!(error = %e, "could not send a reset");
            }
        }
    }

    fn flush(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let Some(pump) = &conn.pump else {
            return;
        };
        while let Some(chunk) = conn.stream.poll_chunk() {
            pump.write(chunk);
        }
        if conn.stream.closed_sending() && conn.stream.peer_closed() {
            tracing::debug!(id = conn.id, "connection finished");
            self.forget(key);
        }
    }

    async fn handle_client_message(&mut self, tag: [u8; 16], message: Message) {
        let id = message.id();
        let key = self.keys.get(&(tag, id)).copied();
        match (message, key) {
            (Message::Connect { target, window, .. }, None) => {
                self.connect(tag, id, target, window).await;
            }
            (Message::Connect { .. }, Some(_)) => {
                tracing::debug!(id, "a second connect for an open connection");
            }
            (Message::Probe { .. }, Some(key)) => {
                if let Some(conn) = self.conns.get(&key) {
                    let window = Message::Window {
                        id,
                        consumed: conn.stream.consumed(),
                    };
                    if let Err(e) = self.answer(tag, &window).await {
                        tracing::debug!(id, error = %e, "could not answer a probe");
                    }
                }
            }
            (
                Message::Data {
                    seq, close, data, ..
                },
                Some(key),
            ) => {
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                match conn.stream.handle_data(seq, data, close) {
                    Ok(()) => self.flush(key),
                    Err(e) => self.reset(key, &e.to_string(), true).await,
                }
            }
            (Message::Window { consumed, .. }, Some(key)) => {
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                match conn.stream.handle_window(consumed) {
                    Ok(more) => {
                        if let Some(pump) = &conn.pump {
                            pump.grant(more);
                        }
                    }
                    Err(e) => self.reset(key, &e.to_string(), true).await,
                }
            }
            (Message::Reset { reason, .. }, Some(key)) => self.reset(key, &reason, false).await,
            (Message::Reset { .. }, None) => {}
            (Message::Data { .. } | Message::Window { .. } | Message::Probe { .. }, None) => {
                // Not ours (we restarted, or it was closed): say so, so the app stops waiting.
                let reset = Message::Reset {
                    id,
                    reason: "unknown connection".to_owned(),
                };
                if let Err(e) = self.answer(tag, &reset).await {
                    tracing::debug!(id, error = %e, "could not reset an unknown connection");
                }
            }
            (Message::Connected { .. } | Message::Refused { .. }, _) => {
                tracing::debug!(id, "a requester-side message from a client");
            }
        }
    }

    async fn connect(&mut self, tag: [u8; 16], id: ConnectionId, target: TargetAddr, window: u32) {
        if !self.allows(&target.host) {
            let reason = format!("{} is not on the allow list", target.host);
            self.refuse(tag, id, ReplyCode::NotAllowed, reason).await;
            return;
        }
        if self.conns.len() >= self.options.max_connections {
            let reason = format!(
                "the requester is at its limit of {} connections",
                self.options.max_connections
            );
            self.refuse(tag, id, ReplyCode::GeneralFailure, reason)
                .await;
            return;
        }
        let open = self.per_sender.get(&tag).copied().unwrap_or(0);
        if open >= self.options.max_per_sender {
            let reason = format!(
                "at most {} connections per client",
                self.options.max_per_sender
            );
            self.refuse(tag, id, ReplyCode::GeneralFailure, reason)
                .await;
            return;
        }
        let key = self.next_key;
        self.next_key += 1;
        self.keys.insert((tag, id), key);
        *self.per_sender.entry(tag).or_default() += 1;
        self.conns.insert(
            key,
            Conn {
                tag,
                id,
                target: target.clone(),
                stream: Stream::new(self.options.window, window),
                pump: None,
            },
        );
        let dialled = self.dialled.clone();
        let timeout = self.options.connect_timeout;
        let allow = Arc::clone(&self.allow);
        tokio::spawn(async move {
            let result = dial(target, &allow, timeout).await;
            let _ = dialled.send(Dialled { key, result });
        });
    }

    async fn dialled(&mut self, dialled: Dialled) {
        let Some(conn) = self.conns.get_mut(&dialled.key) else {
            return; // reset while connecting
        };
        let (tag, id) = (conn.tag, conn.id);
        match dialled.result {
            Ok(socket) => {
                tracing::info!(id, target = %conn.target, "connected");
                let pump = Pump::start(
                    dialled.key,
                    socket,
                    Vec::new(),
                    Vec::new(),
                    conn.stream.send_credit(),
                    self.pump_events.clone(),
                );
                conn.pump = Some(pump);
                let connected = Message::Connected {
                    id,
                    window: self.options.window,
                };
                if let Err(e) = self.answer(tag, &connected).await {
                    self.reset(dialled.key, &e.to_string(), false).await;
                    return;
                }
                self.flush(dialled.key);
            }
            Err(e) => {
                self.forget(dialled.key);
                self.refuse(tag, id, e.reply_code(), e.to_string()).await;
            }
        }
    }

    async fn pump_event(&mut self, event: PumpEvent) {
        match event {
            PumpEvent::Read { id: key, data, eof } => {
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                let seq = conn.stream.next_send(data.len(), eof);
                let (tag, id) = (conn.tag, conn.id);
                let message = Message::Data {
                    id,
                    seq,
                    close: eof,
                    data,
                };
                if let Err(e) = self.answer(tag, &message).await {
                    // No SURB left to say so: the client's probe will find out.
                    self.reset(key, &e.to_string(), false).await;
                    return;
                }
                self.flush(key);
            }
            PumpEvent::Written { id: key, n } => {
                let Some(conn) = self.conns.get_mut(&key) else {
                    return;
                };
                conn.stream.handle_consumed(n);
                if let Some(consumed) = conn.stream.poll_window_update() {
                    let (tag, id) = (conn.tag, conn.id);
                    let message = Message::Window { id, consumed };
                    if let Err(e) = self.answer(tag, &message).await {
                        tracing::debug!(id, error = %e, "could not send a window update");
                    }
                }
            }
            PumpEvent::Failed { id: key, error } => {
                self.reset(key, &error.to_string(), true).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use tokio::net::TcpListener;

    fn list(text: &str) -> AllowList {
        AllowList::parse(text).unwrap()
    }

    fn target(host: Host, port: u16) -> TargetAddr {
        TargetAddr { host, port }
    }

    async fn loopback_listener() -> (TcpListener, u16) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_needs_its_address_on_the_list() {
        let (_listener, port) = loopback_listener().await;
        let localhost = || target(Host::Domain("localhost".into()), port);
        // The name alone: every address `localhost` resolves to is internal.
        let refused = dial(localhost(), &list("localhost"), TIMEOUT).await;
        let refused = refused.expect_err("localhost is refused");
        let (code, reason) = (refused.reply_code(), refused.to_string());
        assert_eq!(code, ReplyCode::NotAllowed);
        assert!(reason.contains("localhost"), "{reason}");
        assert!(
            !reason.contains("127.0.0.1"),
            "addresses are not told: {reason}"
        );
        // With the addresses listed it connects (`::1` first, if it comes first and nothing
        // listens there, is tried and skipped).
        let allowed = list("localhost\n127.0.0.1\n::1");
        assert!(dial(localhost(), &allowed, TIMEOUT).await.is_ok());
        // `127.0.0.1` alone lets through only that address, which is where we listen.
        let only_v4 = list("localhost\n127.0.0.1");
        assert!(dial(localhost(), &only_v4, TIMEOUT).await.is_ok());
    }

    #[tokio::test]
    async fn ip_literal_requests_connect_as_before() {
        let (_listener, port) = loopback_listener().await;
        let allow = list("127.0.0.1");
        let ip = target(Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), port);
        assert!(dial(ip, &allow, TIMEOUT).await.is_ok());
        // An address sent in domain form is resolved to itself and held by the rule.
        let literal = target(Host::Domain("127.0.0.1".into()), port);
        assert!(dial(literal, &allow, TIMEOUT).await.is_ok());
    }
}
