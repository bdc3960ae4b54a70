//! The SOCKS handshake an app performs with the local proxy, as a sans-IO parser.
//!
//! Three dialects are understood, told apart by the first byte:
//!
//! ```text
//! SOCKS5 (RFC 1928)    greeting  05 NMETHODS METHODS...           -> 05 METHOD
//!                      [RFC 1929 01 ULEN UNAME PLEN PASSWD         -> 01 STATUS]
//!                      request   05 CMD 00 ATYP DST.ADDR DST.PORT
//!                                ATYP 01: 4 bytes, 03: LEN + name, 04: 16 bytes
//! SOCKS4               request   04 CD DSTPORT DSTIP USERID 00
//! SOCKS4a              request   04 CD DSTPORT 0.0.0.x USERID 00 DOMAIN 00   (x != 0)
//! ```
//!
//! (ports big-endian). Only CONNECT is supported: BIND and UDP ASSOCIATE are answered with
//! "command not supported". Authentication methods are "no authentication" (00) and
//! username/password (02); see [`Auth`] for which one is picked.
//!
//! Domain names are passed on as the app sent them, never resolved here: DNS happens at the
//! exit, so a local resolver neither leaks the names an app visits nor decides where its
//! traffic goes. A name is only checked to be printable ASCII (no NUL or control bytes that
//! could truncate or confuse it further along) and 1..=255 bytes long.
//!
//! [`Handshake`] owns no buffer and does no IO: the caller appends what it reads from the app
//! to its own buffer, hands the buffer to [`Handshake::handle_input`], writes the reply it gets
//! back, drops the consumed bytes from the front and reads more while the request is not
//! complete. Every decision depends only on bytes already seen, in order, so the outcome is
//! the same however the app's bytes are split into reads, and bytes after the request (an app
//! may pipeline its first data) are left in the caller's buffer. The final answer to the
//! request, sent once the exit has connected or failed, is [`connect_reply`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The longest SOCKS4 user id and SOCKS4a domain name accepted, in bytes (without the NUL).
pub const MAX_SOCKS4_FIELD: usize = 255;

const SOCKS4: u8 = 0x04;
const SOCKS5: u8 = 0x05;
const METHOD_NO_AUTH: u8 = 0x00;
const METHOD_USER_PASS: u8 = 0x02;
const METHOD_NONE_ACCEPTABLE: u8 = 0xFF;
const USER_PASS_VERSION: u8 = 0x01;
const USER_PASS_OK: u8 = 0x00;
const USER_PASS_FAILED: u8 = 0x01;
const CMD_CONNECT: u8 = 0x01;
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;
const SOCKS4_GRANTED: u8 = 0x5A;
const SOCKS4_REJECTED: u8 = 0x5B;

/// Where the app wants to connect: a domain name (resolved at the exit) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name as the app sent it: printable ASCII, 1..=255 bytes.
    Domain(String),
    /// An IP address.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(name) => f.write_str(name),
            Host::Ip(ip) => ip.fmt(f),
        }
    }
}

/// A host and port to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetAddr {
    /// The host.
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl fmt::Display for TargetAddr {
    /// `host:port`, with an IPv6 address in brackets (`[::1]:443`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Domain(name) => write!(f, "{name}:{}", self.port),
            Host::Ip(ip) => SocketAddr::new(*ip, self.port).fmt(f),
        }
    }
}

/// The SOCKS version an app speaks (SOCKS4a counts as [`Version::V4`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// SOCKS4 or SOCKS4a.
    V4,
    /// SOCKS5.
    V5,
}

/// The authentication the proxy requires. Credentials are wiped from memory on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub enum Auth {
    /// No credentials needed. An app that offers "no authentication" gets it; an app that only
    /// offers username/password is accepted with any credentials (some apps always send them).
    /// SOCKS4 apps are accepted whatever their user id.
    None,
    /// SOCKS5 username/password (RFC 1929) with exactly these credentials. SOCKS4 apps, which
    /// cannot send a password, are refused.
    UserPass {
        /// The username.
        username: Vec<u8>,
        /// The password.
        password: Vec<u8>,
    },
}

impl fmt::Debug for Auth {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPass { username, .. } => f
                .debug_struct("UserPass")
                .field("username", &String::from_utf8_lossy(username))
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// A complete CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// The app's SOCKS version: the final reply must be in it (see [`connect_reply`]).
    pub version: Version,
    /// Where to connect.
    pub target: TargetAddr,
    /// The SOCKS5 username if the app authenticated with username/password (possibly empty),
    /// or the SOCKS4 user id if it is not empty.
    pub username: Option<Vec<u8>>,
}

/// What one call to [`Handshake::handle_input`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input used; the caller drops them from the front of its buffer.
    pub consumed: usize,
    /// Bytes to write to the app now (method selection, authentication status); may be empty.
    pub reply: Vec<u8>,
    /// The request, once complete. The app then waits for [`connect_reply`].
    pub request: Option<ConnectRequest>,
}

/// The reply codes of RFC 1928 §6. SOCKS4 has only "granted" (`Succeeded`) and "rejected"
/// (everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReplyCode {
    /// Succeeded.
    Succeeded = 0,
    /// General SOCKS server failure.
    GeneralFailure = 1,
    /// Connection not allowed by ruleset.
    NotAllowed = 2,
    /// Network unreachable.
    NetworkUnreachable = 3,
    /// Host unreachable.
    HostUnreachable = 4,
    /// Connection refused.
    ConnectionRefused = 5,
    /// TTL expired.
    TtlExpired = 6,
    /// Command not supported.
    CommandNotSupported = 7,
    /// Address type not supported.
    AddressTypeNotSupported = 8,
}

impl From<ReplyCode> for u8 {
    fn from(code: ReplyCode) -> u8 {
        code as u8
    }
}

impl From<u8> for ReplyCode {
    /// An unknown code is a general failure.
    fn from(code: u8) -> ReplyCode {
        match code {
            0 => ReplyCode::Succeeded,
            2 => ReplyCode::NotAllowed,
            3 => ReplyCode::NetworkUnreachable,
            4 => ReplyCode::HostUnreachable,
            5 => ReplyCode::ConnectionRefused,
            6 => ReplyCode::TtlExpired,
            7 => ReplyCode::CommandNotSupported,
            8 => ReplyCode::AddressTypeNotSupported,
            _ => ReplyCode::GeneralFailure,
        }
    }
}

/// The final reply to a CONNECT request, in the app's SOCKS version.
///
/// SOCKS5: `05 CODE 00 ATYP BND.ADDR BND.PORT`, with 0.0.0.0:0 when no bound address is given.
/// SOCKS4: `00 5A|5B DSTPORT DSTIP` where any failure is 5B, with the bound address if it is
/// IPv4 and zeros otherwise (apps ignore these fields).
pub fn connect_reply(version: Version, code: ReplyCode, bound: Option<SocketAddr>) -> Vec<u8> {
    match version {
        Version::V5 => {
            let bound = bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
            let mut out = Vec::with_capacity(22);
            out.extend_from_slice(&[SOCKS5, code.into(), 0x00]);
            match bound.ip() {
                IpAddr::V4(ip) => {
                    out.push(ATYP_IPV4);
                    out.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    out.push(ATYP_IPV6);
                    out.extend_from_slice(&ip.octets());
                }
            }
            out.extend_from_slice(&bound.port().to_be_bytes());
            out
        }
        Version::V4 => {
            let status = if code == ReplyCode::Succeeded {
                SOCKS4_GRANTED
            } else {
                SOCKS4_REJECTED
            };
            let (port, ip) = match bound {
                Some(SocketAddr::V4(a)) => (a.port(), a.ip().octets()),
                _ => (0, [0; 4]),
            };
            let mut out = Vec::with_capacity(8);
            out.extend_from_slice(&[0x00, status]);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(&ip);
            out
        }
    }
}

/// What was wrong with the app's handshake.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum HandshakeErrorKind {
    /// The first byte is neither 4 nor 5: not a SOCKS client (no reply is sent).
    #[error("not a SOCKS handshake (first byte {0:#04x})")]
    UnsupportedVersion(u8),
    /// No method the app offers is acceptable (reply `05 FF`).
    #[error("no acceptable authentication method among those offered: {0:02x?}")]
    NoAcceptableMethod(Vec<u8>),
    /// The RFC 1929 sub-negotiation has a version other than 1 (reply `01 01`).
    #[error("username/password sub-negotiation version {0:#04x}, expected 0x01")]
    AuthVersion(u8),
    /// Wrong username or password (reply `01 01`).
    #[error("wrong username or password")]
    AuthFailed,
    /// A SOCKS4 app, which cannot send a password, when one is required (reply 5B).
    #[error("SOCKS4 cannot send the password this proxy requires")]
    PasswordRequired,
    /// A SOCKS5 request with a version byte other than 5 (reply 01, general failure).
    #[error("SOCKS5 request with version byte {0:#04x}")]
    RequestVersion(u8),
    /// A command other than CONNECT (SOCKS5 reply 07, SOCKS4 reply 5B).
    #[error("command {0:#04x} is not supported, only CONNECT (0x01)")]
    CommandNotSupported(u8),
    /// A SOCKS5 address type other than 1, 3 and 4 (reply 08).
    #[error("address type {0:#04x} is not supported")]
    AddressTypeNotSupported(u8),
    /// A domain name of length 0 (SOCKS5 reply 01, SOCKS4 reply 5B).
    #[error("empty domain name")]
    EmptyDomain,
    /// A SOCKS4a domain name longer than 255 bytes (reply 5B).
    #[error("domain name longer than {MAX_SOCKS4_FIELD} bytes")]
    DomainTooLong,
    /// A domain name with a byte outside printable ASCII (SOCKS5 reply 01, SOCKS4 reply 5B).
    #[error("domain name contains byte {0:#04x}, outside printable ASCII")]
    InvalidDomain(u8),
    /// A SOCKS4 user id longer than 255 bytes (reply 5B).
    #[error("SOCKS4 user id longer than {MAX_SOCKS4_FIELD} bytes")]
    UserIdTooLong,
    /// [`Handshake::handle_input`] was called after the request or an error.
    #[error("the handshake has already ended")]
    Finished,
}

/// A failed handshake: what was wrong, and what to tell the app before closing.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("{kind}")]
pub struct HandshakeError {
    kind: HandshakeErrorKind,
    version: Option<Version>,
    /// Replies of stages completed in the same call, not yet written (an app that pipelines
    /// its greeting and request reads the method selection before the error).
    earlier_replies: Vec<u8>,
}

impl HandshakeError {
    /// What was wrong.
    pub fn kind(&self) -> &HandshakeErrorKind {
        &self.kind
    }

    /// The app's SOCKS version, if its first byte named one.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The bytes to write to the app before closing the connection, if any: the replies of
    /// any stage completed in the failing call, then the error reply of the protocol (SOCKS5
    /// reply 07 or 08, method FF, RFC 1929 status 01, SOCKS4 reply 5B...).
    pub fn error_reply(&self) -> Option<Vec<u8>> {
        use HandshakeErrorKind as K;
        let own = match (&self.kind, self.version) {
            (K::UnsupportedVersion(_) | K::Finished, _) | (_, None) => Vec::new(),
            (K::NoAcceptableMethod(_), _) => vec![SOCKS5, METHOD_NONE_ACCEPTABLE],
            (K::AuthVersion(_) | K::AuthFailed, _) => vec![USER_PASS_VERSION, USER_PASS_FAILED],
            (K::PasswordRequired, Some(v)) => connect_reply(v, ReplyCode::NotAllowed, None),
            (K::CommandNotSupported(_), Some(v)) => {
                connect_reply(v, ReplyCode::CommandNotSupported, None)
            }
            (K::AddressTypeNotSupported(_), Some(v)) => {
                connect_reply(v, ReplyCode::AddressTypeNotSupported, None)
            }
            (
                K::RequestVersion(_)
                | K::EmptyDomain
                | K::DomainTooLong
                | K::InvalidDomain(_)
                | K::UserIdTooLong,
                Some(v),
            ) => connect_reply(v, ReplyCode::GeneralFailure, None),
        };
        let mut out = self.earlier_replies.clone();
        out.extend_from_slice(&own);
        (!out.is_empty()).then_some(out)
    }
}

/// Where the handshake is.
#[derive(Debug, Clone)]
enum State {
    /// Waiting for the first byte.
    Start,
    /// SOCKS5, username/password chosen: waiting for the RFC 1929 sub-negotiation.
    Socks5Auth,
    /// SOCKS5 authenticated: waiting for the request.
    Socks5Request { username: Option<Vec<u8>> },
    /// The request was returned, or an error.
    Finished,
}

/// The handshake with one app connection.
#[derive(Debug, Clone)]
pub struct Handshake {
    auth: Auth,
    state: State,
    version: Option<Version>,
}

/// Why a stage stopped: it needs more bytes, or the input is wrong.
enum Halt {
    Incomplete,
    Fail(HandshakeErrorKind),
}

impl From<HandshakeErrorKind> for Halt {
    fn from(kind: HandshakeErrorKind) -> Halt {
        Halt::Fail(kind)
    }
}

/// A completed stage.
struct Stage {
    reply: Vec<u8>,
    next: State,
    request: Option<ConnectRequest>,
}

/// Reads the front of the unconsumed input; every read checks the length first.
struct Reader<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Reader {
            rest: input,
            len: input.len(),
        }
    }

    /// Bytes read so far.
    fn consumed(&self) -> usize {
        // `rest` is a suffix of the input, so never longer than it.
        self.len - self.rest.len()
    }

    fn u8(&mut self) -> Result<u8, Halt> {
        let (first, rest) = self.rest.split_first().ok_or(Halt::Incomplete)?;
        self.rest = rest;
        Ok(*first)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Halt> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or(Halt::Incomplete)?;
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Halt> {
        let (head, rest) = self.rest.split_first_chunk::<N>().ok_or(Halt::Incomplete)?;
        self.rest = rest;
        Ok(*head)
    }

    /// A NUL-terminated field of at most `max` bytes (the NUL is read, not returned).
    fn nul_terminated(
        &mut self,
        max: usize,
        too_long: HandshakeErrorKind,
    ) -> Result<&'a [u8], Halt> {
        let window = self.rest.get(..=max).unwrap_or(self.rest);
        match window.iter().position(|b| *b == 0) {
            Some(end) => {
                let (field, rest) = self.rest.split_at_checked(end).ok_or(Halt::Incomplete)?;
                // `rest` starts with the NUL.
                self.rest = rest.get(1..).unwrap_or_default();
                Ok(field)
            }
            None if window.len() > max => Err(Halt::Fail(too_long)),
            None => Err(Halt::Incomplete),
        }
    }
}

/// Compares without stopping at the first difference (the lengths may leak, not the bytes).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A domain name as sent by the app: 1..=255 bytes of printable ASCII.
fn domain(bytes: &[u8]) -> Result<Host, HandshakeErrorKind> {
    if bytes.is_empty() {
        return Err(HandshakeErrorKind::EmptyDomain);
    }
    if bytes.len() > 255 {
        return Err(HandshakeErrorKind::DomainTooLong);
    }
    if let Some(bad) = bytes.iter().find(|b| !b.is_ascii_graphic()) {
        return Err(HandshakeErrorKind::InvalidDomain(*bad));
    }
    Ok(Host::Domain(bytes.iter().map(|b| char::from(*b)).collect()))
}

impl Handshake {
    /// A handshake that requires `auth`.
    pub fn new(auth: Auth) -> Self {
        Handshake {
            auth,
            state: State::Start,
            version: None,
        }
    }

    /// Takes the bytes read from the app so far and not yet consumed (the caller's buffer).
    ///
    /// Runs every stage the input completes (an app may pipeline its greeting, credentials and
    /// request) and returns the bytes consumed, the replies to write now and, once complete,
    /// the request. An incomplete stage consumes nothing and waits for the caller to append
    /// more and call again. Bytes after the request are not consumed.
    ///
    /// On error, write [`HandshakeError::error_reply`] (which includes the replies of stages
    /// completed in this call) and close. After the request or an error, every call fails
    /// with [`HandshakeErrorKind::Finished`].
    pub fn handle_input(&mut self, input: &[u8]) -> Result<Progress, HandshakeError> {
        let mut progress = Progress::default();
        loop {
            if matches!(self.state, State::Finished) {
                return Err(self.error(HandshakeErrorKind::Finished, progress.reply));
            }
            let mut reader = Reader::new(input.get(progress.consumed..).unwrap_or_default());
            match self.stage(&mut reader) {
                Ok(stage) => {
                    progress.consumed = progress.consumed.saturating_add(reader.consumed());
                    progress.reply.extend_from_slice(&stage.reply);
                    self.state = stage.next;
                    if stage.request.is_some() {
                        progress.request = stage.request;
                        return Ok(progress);
                    }
                }
                Err(Halt::Incomplete) => return Ok(progress),
                Err(Halt::Fail(kind)) => {
                    self.state = State::Finished;
                    return Err(self.error(kind, progress.reply));
                }
            }
        }
    }

    fn error(&self, kind: HandshakeErrorKind, earlier_replies: Vec<u8>) -> HandshakeError {
        HandshakeError {
            kind,
            version: self.version,
            earlier_replies,
        }
    }

    /// Runs the current stage over the front of the input.
    fn stage(&mut self, r: &mut Reader<'_>) -> Result<Stage, Halt> {
        match &self.state {
            State::Start => match r.u8()? {
                SOCKS5 => {
                    self.version = Some(Version::V5);
                    self.greeting(r)
                }
                SOCKS4 => {
                    self.version = Some(Version::V4);
                    self.socks4_request(r)
                }
                other => Err(HandshakeErrorKind::UnsupportedVersion(other).into()),
            },
            State::Socks5Auth => self.user_pass(r),
            State::Socks5Request { username } => {
                let username = username.clone();
                socks5_request(r, username)
            }
            State::Finished => Err(HandshakeErrorKind::Finished.into()),
        }
    }

    /// SOCKS5 greeting after the version byte: `NMETHODS METHODS...`.
    fn greeting(&self, r: &mut Reader<'_>) -> Result<Stage, Halt> {
        let count = r.u8()?;
        let methods = r.bytes(usize::from(count))?;
        let offers = |m| methods.contains(&m);
        let method = match self.auth {
            Auth::None if offers(METHOD_NO_AUTH) => METHOD_NO_AUTH,
            Auth::None | Auth::UserPass { .. } if offers(METHOD_USER_PASS) => METHOD_USER_PASS,
            _ => return Err(HandshakeErrorKind::NoAcceptableMethod(methods.to_vec()).into()),
        };
        let next = if method == METHOD_USER_PASS {
            State::Socks5Auth
        } else {
            State::Socks5Request { username: None }
        };
        Ok(Stage {
            reply: vec![SOCKS5, method],
            next,
            request: None,
        })
    }

    /// RFC 1929: `01 ULEN UNAME PLEN PASSWD`. Lengths of 0 are accepted (RFC 1929 says 1..=255
    /// but some apps send an empty password); the comparison decides.
    fn user_pass(&self, r: &mut Reader<'_>) -> Result<Stage, Halt> {
        let version = r.u8()?;
        if version != USER_PASS_VERSION {
            return Err(HandshakeErrorKind::AuthVersion(version).into());
        }
        let ulen = r.u8()?;
        let username = r.bytes(usize::from(ulen))?;
        let plen = r.u8()?;
        let password = r.bytes(usize::from(plen))?;
        if let Auth::UserPass {
            username: want_user,
            password: want_pass,
        } = &self.auth
        {
            // `&`, not `&&`: both are compared whatever the first says.
            if !(constant_time_eq(username, want_user) & constant_time_eq(password, want_pass)) {
                return Err(HandshakeErrorKind::AuthFailed.into());
            }
        }
        Ok(Stage {
            reply: vec![USER_PASS_VERSION, USER_PASS_OK],
            next: State::Socks5Request {
                username: Some(username.to_vec()),
            },
            request: None,
        })
    }

    /// SOCKS4 after the version byte: `CD DSTPORT DSTIP USERID 00 [DOMAIN 00]`.
    fn socks4_request(&self, r: &mut Reader<'_>) -> Result<Stage, Halt> {
        if matches!(self.auth, Auth::UserPass { .. }) {
            return Err(HandshakeErrorKind::PasswordRequired.into());
        }
        let command = r.u8()?;
        if command != CMD_CONNECT {
            return Err(HandshakeErrorKind::CommandNotSupported(command).into());
        }
        let port = u16::from_be_bytes(r.array::<2>()?);
        let ip = r.array::<4>()?;
        let user_id = r.nul_terminated(MAX_SOCKS4_FIELD, HandshakeErrorKind::UserIdTooLong)?;
        let host = match ip {
            // SOCKS4a: 0.0.0.x, x != 0, is not an address but "a domain name follows".
            [0, 0, 0, x] if x != 0 => {
                domain(r.nul_terminated(MAX_SOCKS4_FIELD, HandshakeErrorKind::DomainTooLong)?)?
            }
            _ => Host::Ip(IpAddr::V4(Ipv4Addr::from(ip))),
        };
        Ok(Stage {
            reply: Vec::new(),
            next: State::Finished,
            request: Some(ConnectRequest {
                version: Version::V4,
                target: TargetAddr { host, port },
                username: (!user_id.is_empty()).then(|| user_id.to_vec()),
            }),
        })
    }
}

/// SOCKS5 request: `05 CMD RSV ATYP DST.ADDR DST.PORT`. RSV is ignored.
fn socks5_request(r: &mut Reader<'_>, username: Option<Vec<u8>>) -> Result<Stage, Halt> {
    let version = r.u8()?;
    if version != SOCKS5 {
        return Err(HandshakeErrorKind::RequestVersion(version).into());
    }
    let command = r.u8()?;
    if command != CMD_CONNECT {
        return Err(HandshakeErrorKind::CommandNotSupported(command).into());
    }
    let _reserved = r.u8()?;
    let host = match r.u8()? {
        ATYP_IPV4 => Host::Ip(IpAddr::V4(Ipv4Addr::from(r.array::<4>()?))),
        ATYP_IPV6 => Host::Ip(IpAddr::V6(Ipv6Addr::from(r.array::<16>()?))),
        ATYP_DOMAIN => {
            let len = r.u8()?;
            if len == 0 {
                return Err(HandshakeErrorKind::EmptyDomain.into());
            }
            domain(r.bytes(usize::from(len))?)?
        }
        other => return Err(HandshakeErrorKind::AddressTypeNotSupported(other).into()),
    };
    let port = u16::from_be_bytes(r.array::<2>()?);
    Ok(Stage {
        reply: Vec::new(),
        next: State::Finished,
        request: Some(ConnectRequest {
            version: Version::V5,
            target: TargetAddr { host, port },
            username,
        }),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    /// What an app observes: the bytes written back, the request or the error, and the bytes
    /// left unconsumed (after a request) in the caller's buffer.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        wire: Vec<u8>,
        result: Option<Result<ConnectRequest, HandshakeErrorKind>>,
        leftover: Vec<u8>,
    }

    /// Feeds `chunks` the way a connection does: append each read to a buffer, hand the buffer
    /// over, write the reply, drop the consumed bytes.
    fn drive(auth: Auth, chunks: &[&[u8]]) -> Outcome {
        let mut hs = Handshake::new(auth);
        let mut buf = Vec::new();
        let mut wire = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            buf.extend_from_slice(chunk);
            match hs.handle_input(&buf) {
                Ok(p) => {
                    assert!(p.consumed <= buf.len(), "consumed more than given");
                    wire.extend_from_slice(&p.reply);
                    buf.drain(..p.consumed);
                    if let Some(request) = p.request {
                        for rest in &chunks[i + 1..] {
                            buf.extend_from_slice(rest);
                        }
                        return Outcome {
                            wire,
                            result: Some(Ok(request)),
                            leftover: buf,
                        };
                    }
                }
                Err(e) => {
                    wire.extend(e.error_reply().unwrap_or_default());
                    return Outcome {
                        wire,
                        result: Some(Err(e.kind().clone())),
                        leftover: Vec::new(),
                    };
                }
            }
        }
        Outcome {
            wire,
            result: None,
            leftover: buf,
        }
    }

    fn whole(auth: Auth, input: &[u8]) -> Outcome {
        drive(auth, &[input])
    }

    fn user_pass() -> Auth {
        Auth::UserPass {
            username: b"user".to_vec(),
            password: b"pass".to_vec(),
        }
    }

    fn request(version: Version, host: Host, port: u16, username: Option<&[u8]>) -> ConnectRequest {
        ConnectRequest {
            version,
            target: TargetAddr { host, port },
            username: username.map(<[u8]>::to_vec),
        }
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// The SOCKS5 reply with code `code` and bound address 0.0.0.0:0.
    fn v5_reply(code: u8) -> Vec<u8> {
        vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0]
    }

    const SOCKS4_REJECT: [u8; 8] = [0, 0x5B, 0, 0, 0, 0, 0, 0];

    #[test]
    fn socks5_no_auth_connect_by_domain() {
        let input = cat(&[&[5, 1, 0], &[5, 1, 0, 3, 11], b"example.com", &[0x01, 0xBB]]);
        let mut hs = Handshake::new(Auth::None);
        let p = hs.handle_input(&input).unwrap();
        assert_eq!(p.consumed, input.len());
        assert_eq!(p.reply, [5, 0]);
        assert_eq!(
            p.request,
            Some(request(
                Version::V5,
                Host::Domain("example.com".into()),
                443,
                None
            ))
        );
        assert_eq!(p.request.unwrap().target.to_string(), "example.com:443");
    }

    #[test]
    fn socks5_no_auth_connect_by_ipv4_one_stage_at_a_time() {
        let mut hs = Handshake::new(Auth::None);
        let p = hs.handle_input(&[5, 2, 0, 2]).unwrap();
        assert_eq!((p.consumed, p.reply, p.request), (4, vec![5, 0], None));
        let req = [5, 1, 0, 1, 127, 0, 0, 1, 0, 80];
        // Incomplete: nothing consumed, nothing to say.
        assert_eq!(hs.handle_input(&req[..9]).unwrap(), Progress::default());
        let p = hs.handle_input(&req).unwrap();
        assert_eq!(p.consumed, 10);
        assert!(p.reply.is_empty());
        let r = p.request.unwrap();
        assert_eq!(
            r,
            request(Version::V5, Host::Ip([127, 0, 0, 1].into()), 80, None)
        );
        assert_eq!(r.target.to_string(), "127.0.0.1:80");
        // The handshake is over.
        let e = hs.handle_input(&[5]).unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::Finished);
        assert_eq!(e.error_reply(), None);
    }

    #[test]
    fn socks5_no_auth_connect_by_ipv6() {
        let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let input = cat(&[&[5, 1, 0, 5, 1, 0, 4], &ip.octets(), &[0x1F, 0x90]]);
        let out = whole(Auth::None, &input);
        let r = out.result.unwrap().unwrap();
        assert_eq!(r, request(Version::V5, Host::Ip(ip.into()), 8080, None));
        assert_eq!(r.target.to_string(), "[2001:db8::1]:8080");
        assert_eq!(out.wire, [5, 0]);
    }

    #[test]
    fn socks5_username_password_accepted() {
        // The app offers both methods; the proxy requires user/pass, so it picks 02.
        let input = cat(&[
            &[5, 2, 0, 2],
            &[1, 4],
            b"user",
            &[4],
            b"pass",
            &[5, 1, 0, 1, 10, 0, 0, 1, 0, 22],
        ]);
        let out = whole(user_pass(), &input);
        assert_eq!(out.wire, [5, 2, 1, 0]);
        assert_eq!(
            out.result,
            Some(Ok(request(
                Version::V5,
                Host::Ip([10, 0, 0, 1].into()),
                22,
                Some(b"user")
            )))
        );
        assert!(out.leftover.is_empty());
    }

    #[test]
    fn socks5_username_password_rejected() {
        let greeting = [5, 1, 2];
        let wrong_pass = cat(&[&[1, 4], b"user", &[4], b"pasS"]);
        let wrong_user = cat(&[&[1, 3], b"use", &[4], b"pass"]);
        for creds in [&wrong_pass, &wrong_user] {
            let mut hs = Handshake::new(user_pass());
            assert_eq!(hs.handle_input(&greeting).unwrap().reply, [5, 2]);
            let e = hs.handle_input(creds).unwrap_err();
            assert_eq!(e.kind(), &HandshakeErrorKind::AuthFailed);
            assert_eq!(e.version(), Some(Version::V5));
            assert_eq!(e.error_reply(), Some(vec![1, 1]));
        }
        // Pipelined: the error reply carries the method selection the app has not read yet.
        let e = Handshake::new(user_pass())
            .handle_input(&cat(&[&greeting, &wrong_pass]))
            .unwrap_err();
        assert_eq!(e.error_reply(), Some(vec![5, 2, 1, 1]));
        // A wrong sub-negotiation version.
        let e = Handshake::new(user_pass())
            .handle_input(&[5, 1, 2, 5, 1, 0, 1])
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::AuthVersion(5));
        assert_eq!(e.error_reply(), Some(vec![5, 2, 1, 1]));
    }

    #[test]
    fn without_required_auth_any_credentials_are_accepted() {
        // An app that only offers user/pass, to a proxy that needs nothing.
        let input = cat(&[
            &[5, 1, 2, 1, 1],
            b"x",
            &[0],
            &[5, 1, 0, 3, 1],
            b"a",
            &[0, 1],
        ]);
        let out = whole(Auth::None, &input);
        assert_eq!(out.wire, [5, 2, 1, 0]);
        assert_eq!(
            out.result,
            Some(Ok(request(
                Version::V5,
                Host::Domain("a".into()),
                1,
                Some(b"x")
            )))
        );
    }

    #[test]
    fn no_acceptable_method() {
        // GSSAPI only.
        let e = Handshake::new(Auth::None)
            .handle_input(&[5, 1, 1])
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::NoAcceptableMethod(vec![1]));
        assert_eq!(e.error_reply(), Some(vec![5, 0xFF]));
        // No authentication offered to a proxy that requires a password.
        let e = Handshake::new(user_pass())
            .handle_input(&[5, 1, 0])
            .unwrap_err();
        assert_eq!(e.error_reply(), Some(vec![5, 0xFF]));
        // No methods at all.
        let e = Handshake::new(Auth::None)
            .handle_input(&[5, 0])
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::NoAcceptableMethod(vec![]));
    }

    #[test]
    fn socks4_by_ip() {
        let input = cat(&[&[4, 1, 0, 80, 93, 184, 216, 34], b"fred", &[0]]);
        let out = whole(Auth::None, &input);
        assert!(out.wire.is_empty());
        assert_eq!(
            out.result,
            Some(Ok(request(
                Version::V4,
                Host::Ip([93, 184, 216, 34].into()),
                80,
                Some(b"fred")
            )))
        );
        // 0.0.0.0 is an address, not the SOCKS4a marker.
        let out = whole(Auth::None, &[4, 1, 0, 80, 0, 0, 0, 0, 0]);
        assert_eq!(
            out.result,
            Some(Ok(request(
                Version::V4,
                Host::Ip([0, 0, 0, 0].into()),
                80,
                None
            )))
        );
    }

    #[test]
    fn socks4a_by_domain() {
        let input = cat(&[&[4, 1, 1, 0xBB, 0, 0, 0, 1, 0], b"example.com", &[0]]);
        let out = whole(Auth::None, &input);
        assert_eq!(
            out.result,
            Some(Ok(request(
                Version::V4,
                Host::Domain("example.com".into()),
                443,
                None
            )))
        );
        // The domain has not arrived yet: wait.
        let mut hs = Handshake::new(Auth::None);
        assert_eq!(hs.handle_input(&input[..15]).unwrap(), Progress::default());
        assert_eq!(hs.handle_input(&input).unwrap().consumed, input.len());
    }

    #[test]
    fn socks4_limits() {
        let head = [4, 1, 0, 80, 1, 2, 3, 4];
        let id255 = cat(&[&head, &[b'a'; 255], &[0]]);
        let r = whole(Auth::None, &id255).result.unwrap().unwrap();
        assert_eq!(r.username, Some(vec![b'a'; 255]));
        // 256 bytes without a NUL: refused without waiting for more.
        let e = Handshake::new(Auth::None)
            .handle_input(&cat(&[&head, &[b'a'; 256]]))
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::UserIdTooLong);
        assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
        // But 255 without a NUL may still be completed.
        let p = Handshake::new(Auth::None).handle_input(&cat(&[&head, &[b'a'; 255]]));
        assert_eq!(p.unwrap(), Progress::default());

        let head4a = [4, 1, 0, 80, 0, 0, 0, 9, 0];
        let d255 = cat(&[&head4a, &[b'd'; 255], &[0]]);
        let r = whole(Auth::None, &d255).result.unwrap().unwrap();
        assert_eq!(r.target.host, Host::Domain("d".repeat(255)));
        let e = Handshake::new(Auth::None)
            .handle_input(&cat(&[&head4a, &[b'd'; 256]]))
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::DomainTooLong);
        assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
        let e = Handshake::new(Auth::None)
            .handle_input(&cat(&[&head4a, &[0]]))
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::EmptyDomain);
        let e = Handshake::new(Auth::None)
            .handle_input(&cat(&[&head4a, b"a\nb", &[0]]))
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::InvalidDomain(b'\n'));
        assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
    }

    #[test]
    fn socks4_cannot_satisfy_a_password() {
        let e = Handshake::new(user_pass())
            .handle_input(&[4, 1, 0, 80, 1, 2, 3, 4, 0])
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::PasswordRequired);
        assert_eq!(e.version(), Some(Version::V4));
        assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
    }

    #[test]
    fn other_commands_are_not_supported() {
        for command in [2u8, 3, 0, 9] {
            // SOCKS5 BIND, UDP ASSOCIATE and garbage: reply 07 after the method selection.
            let input = [5, 1, 0, 5, command, 0, 1, 1, 2, 3, 4, 0, 80];
            let out = whole(Auth::None, &input);
            assert_eq!(
                out.result,
                Some(Err(HandshakeErrorKind::CommandNotSupported(command)))
            );
            assert_eq!(out.wire, cat(&[&[5, 0], &v5_reply(7)]));
            // The command byte alone decides.
            let e = Handshake::new(Auth::None)
                .handle_input(&input[..5])
                .unwrap_err();
            assert_eq!(e.error_reply(), Some(cat(&[&[5, 0], &v5_reply(7)])));
            // SOCKS4 BIND: 5B.
            let e = Handshake::new(Auth::None)
                .handle_input(&[4, command, 0, 80, 1, 2, 3, 4, 0])
                .unwrap_err();
            assert_eq!(e.kind(), &HandshakeErrorKind::CommandNotSupported(command));
            assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
        }
    }

    #[test]
    fn bad_socks5_requests() {
        let mut hs = Handshake::new(Auth::None);
        hs.handle_input(&[5, 1, 0]).unwrap();
        let e = hs
            .handle_input(&[5, 1, 0, 5, 1, 2, 3, 4, 0, 80])
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::AddressTypeNotSupported(5));
        assert_eq!(e.error_reply(), Some(v5_reply(8)));

        let bad = |request: &[u8]| {
            let mut hs = Handshake::new(Auth::None);
            hs.handle_input(&[5, 1, 0]).unwrap();
            let e = hs.handle_input(request).unwrap_err();
            (e.kind().clone(), e.error_reply())
        };
        assert_eq!(
            bad(&[4, 1, 0, 1, 1, 2, 3, 4, 0, 80]),
            (HandshakeErrorKind::RequestVersion(4), Some(v5_reply(1)))
        );
        assert_eq!(
            bad(&[5, 1, 0, 3, 0, 0, 80]),
            (HandshakeErrorKind::EmptyDomain, Some(v5_reply(1)))
        );
        assert_eq!(
            bad(&[5, 1, 0, 3, 3, b'a', 0, b'b', 0, 80]),
            (HandshakeErrorKind::InvalidDomain(0), Some(v5_reply(1)))
        );
        assert_eq!(
            bad(&[5, 1, 0, 3, 3, b'a', 0xC3, 0xA9, 0, 80]),
            (HandshakeErrorKind::InvalidDomain(0xC3), Some(v5_reply(1)))
        );
    }

    #[test]
    fn not_socks_gets_no_reply() {
        let e = Handshake::new(Auth::None)
            .handle_input(b"GET / HTTP/1.1\r\n")
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::UnsupportedVersion(b'G'));
        assert_eq!(e.version(), None);
        assert_eq!(e.error_reply(), None);
        assert_eq!(
            Handshake::new(Auth::None).handle_input(&[]).unwrap(),
            Progress::default()
        );
    }

    #[test]
    fn pipelined_data_is_not_consumed() {
        let data = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let v5 = cat(&[&[5, 1, 0, 5, 1, 0, 3, 1, b'x', 0, 80], data]);
        let out = whole(Auth::None, &v5);
        assert!(out.result.unwrap().is_ok());
        assert_eq!(out.leftover, data);
        let p = Handshake::new(Auth::None).handle_input(&v5).unwrap();
        assert_eq!(p.consumed, 11);

        let v4 = cat(&[&[4, 1, 0, 80, 1, 2, 3, 4, 0], data]);
        let p = Handshake::new(Auth::None).handle_input(&v4).unwrap();
        assert_eq!(p.consumed, 9);
        assert!(p.request.is_some());
    }

    #[test]
    fn connect_replies_are_exact() {
        assert_eq!(
            connect_reply(Version::V5, ReplyCode::Succeeded, None),
            v5_reply(0)
        );
        assert_eq!(
            connect_reply(
                Version::V5,
                ReplyCode::Succeeded,
                Some("10.0.0.1:1080".parse().unwrap())
            ),
            [5, 0, 0, 1, 10, 0, 0, 1, 0x04, 0x38]
        );
        let mut v6 = vec![5, 5, 0, 4];
        v6.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&[0x01, 0xBB]);
        assert_eq!(
            connect_reply(
                Version::V5,
                ReplyCode::ConnectionRefused,
                Some("[2001:db8::2]:443".parse().unwrap())
            ),
            v6
        );
        assert_eq!(
            connect_reply(
                Version::V4,
                ReplyCode::Succeeded,
                Some("1.2.3.4:80".parse().unwrap())
            ),
            [0, 0x5A, 0, 80, 1, 2, 3, 4]
        );
        assert_eq!(
            connect_reply(Version::V4, ReplyCode::Succeeded, None),
            [0, 0x5A, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            connect_reply(
                Version::V4,
                ReplyCode::Succeeded,
                Some("[::1]:80".parse().unwrap())
            ),
            [0, 0x5A, 0, 0, 0, 0, 0, 0]
        );
        for code in [
            ReplyCode::GeneralFailure,
            ReplyCode::NotAllowed,
            ReplyCode::TtlExpired,
        ] {
            assert_eq!(connect_reply(Version::V4, code, None), SOCKS4_REJECT);
        }
    }

    #[test]
    fn reply_codes_convert_both_ways() {
        for n in 0..=8u8 {
            assert_eq!(u8::from(ReplyCode::from(n)), n);
        }
        for n in 9..=255u8 {
            assert_eq!(ReplyCode::from(n), ReplyCode::GeneralFailure);
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let auth = Auth::UserPass {
            username: b"alice".to_vec(),
            password: b"hunter2".to_vec(),
        };
        let shown = format!("{auth:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    // ----- property tests -----

    /// A valid handshake: the app's bytes, the proxy's auth, and what must come out.
    #[derive(Debug, Clone)]
    struct Case {
        auth: Auth,
        input: Vec<u8>,
        wire: Vec<u8>,
        request: ConnectRequest,
    }

    /// The test's own encoder, straight from the RFCs.
    fn encode_v5_request(target: &TargetAddr) -> Vec<u8> {
        let mut out = vec![5, 1, 0];
        match &target.host {
            Host::Domain(d) => {
                out.push(3);
                out.push(u8::try_from(d.len()).unwrap());
                out.extend_from_slice(d.as_bytes());
            }
            Host::Ip(IpAddr::V4(ip)) => {
                out.push(1);
                out.extend_from_slice(&ip.octets());
            }
            Host::Ip(IpAddr::V6(ip)) => {
                out.push(4);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&target.port.to_be_bytes());
        out
    }

    fn encode_v4_request(target: &TargetAddr, user_id: &[u8]) -> Vec<u8> {
        let mut out = vec![4, 1];
        out.extend_from_slice(&target.port.to_be_bytes());
        match &target.host {
            Host::Ip(IpAddr::V4(ip)) => out.extend_from_slice(&ip.octets()),
            _ => out.extend_from_slice(&[0, 0, 0, 1]),
        }
        out.extend_from_slice(user_id);
        out.push(0);
        if let Host::Domain(d) = &target.host {
            out.extend_from_slice(d.as_bytes());
            out.push(0);
        }
        out
    }

    fn host_strategy() -> impl Strategy<Value = Host> {
        prop_oneof![
            "[a-zA-Z0-9._~!-]{1,255}".prop_map(Host::Domain),
            any::<[u8; 4]>().prop_map(|o| Host::Ip(o.into())),
            any::<[u8; 16]>().prop_map(|o| Host::Ip(o.into())),
        ]
    }

    fn case_strategy() -> impl Strategy<Value = Case> {
        (
            0u8..4,
            host_strategy(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..=255),
            proptest::collection::vec(any::<u8>(), 0..=255),
            proptest::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(|(dialect, host, port, user, pass, extra_methods)| {
                let target = TargetAddr { host, port };
                let creds = |u: &[u8], p: &[u8]| {
                    cat(&[&[1, u.len() as u8], u, &[p.len() as u8], p])
                };
                match dialect {
                    // SOCKS5, no authentication among other methods.
                    0 => {
                        let methods = cat(&[&extra_methods, &[0]]);
                        Case {
                            auth: Auth::None,
                            input: cat(&[&[5, methods.len() as u8], &methods, &encode_v5_request(&target)]),
                            wire: vec![5, 0],
                            request: ConnectRequest { version: Version::V5, target, username: None },
                        }
                    }
                    // SOCKS5, only user/pass offered to a proxy that needs nothing.
                    1 => Case {
                        auth: Auth::None,
                        input: cat(&[&[5, 1, 2], &creds(&user, &pass), &encode_v5_request(&target)]),
                        wire: vec![5, 2, 1, 0],
                        request: ConnectRequest { version: Version::V5, target, username: Some(user) },
                    },
                    // SOCKS5, user/pass required.
                    2 => {
                        let methods = cat(&[&extra_methods, &[2]]);
                        Case {
                            auth: Auth::UserPass { username: user.clone(), password: pass.clone() },
                            input: cat(&[
                                &[5, methods.len() as u8],
                                &methods,
                                &creds(&user, &pass),
                                &encode_v5_request(&target),
                            ]),
                            wire: vec![5, 2, 1, 0],
                            request: ConnectRequest { version: Version::V5, target, username: Some(user) },
                        }
                    }
                    // SOCKS4 (IPv4) or SOCKS4a (domain).
                    _ => {
                        let user_id: Vec<u8> = user.into_iter().filter(|b| *b != 0).collect();
                        let host = match target.host {
                            Host::Ip(IpAddr::V4(ip)) if matches!(ip.octets(), [0, 0, 0, x] if x != 0) => {
                                Host::Ip([1, 0, 0, ip.octets()[3]].into())
                            }
                            Host::Ip(IpAddr::V6(ip)) => {
                                let o = ip.octets();
                                Host::Ip([o[0] | 1, o[1], o[2], o[3]].into())
                            }
                            other => other,
                        };
                        let target = TargetAddr { host, port };
                        Case {
                            auth: Auth::None,
                            input: encode_v4_request(&target, &user_id),
                            wire: Vec::new(),
                            request: ConnectRequest {
                                version: Version::V4,
                                target,
                                username: (!user_id.is_empty()).then_some(user_id),
                            },
                        }
                    }
                }
            })
    }

    /// Cuts `input` at the given points (taken modulo its length, in order).
    fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(&input[start..p]);
            start = p;
        }
        chunks.push(&input[start..]);
        chunks
    }

    fn handshake_like_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            (
                prop_oneof![Just(4u8), Just(5)],
                proptest::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(v, rest)| cat(&[&[v], &rest])),
            // A valid greeting, then anything.
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|rest| cat(&[&[5, 1, 0, 5, 1, 0], &rest])),
            proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|rest| cat(&[&[5, 1, 2, 1], &rest])),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_nor_overconsume(
            bytes in handshake_like_bytes(),
            required in any::<bool>(),
        ) {
            let auth = if required { user_pass() } else { Auth::None };
            let mut hs = Handshake::new(auth);
            if let Ok(p) = hs.handle_input(&bytes) {
                prop_assert!(p.consumed <= bytes.len());
                if p.request.is_none() {
                    // Waiting for more: a second look at the same bytes changes nothing.
                    prop_assert_eq!(hs.handle_input(&bytes[p.consumed..]).unwrap(), Progress::default());
                }
            }
        }

        #[test]
        fn arbitrary_bytes_give_the_same_outcome_however_split(
            bytes in handshake_like_bytes(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
            required in any::<bool>(),
        ) {
            let auth = || if required { user_pass() } else { Auth::None };
            prop_assert_eq!(drive(auth(), &split(&bytes, &cuts)), whole(auth(), &bytes));
        }

        #[test]
        fn valid_requests_parse_however_split(
            case in case_strategy(),
            trailing in proptest::collection::vec(any::<u8>(), 0..16),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let input = cat(&[&case.input, &trailing]);
            let expected = Outcome {
                wire: case.wire.clone(),
                result: Some(Ok(case.request.clone())),
                leftover: trailing.clone(),
            };
            prop_assert_eq!(&whole(case.auth.clone(), &input), &expected);
            prop_assert_eq!(&drive(case.auth.clone(), &split(&input, &cuts)), &expected);
            // Byte by byte.
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(&drive(case.auth, &bytes), &expected);
        }
    }
}
