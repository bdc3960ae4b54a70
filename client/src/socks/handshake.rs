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
mod tests;
