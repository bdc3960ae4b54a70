//! A loopback HTTP/1.1 server with deterministic bodies, to fetch through the local mixnet's
//! SOCKS5 proxy (`bench localnet --socks5`) and compare byte for byte.
//!
//! * `GET /bytes/N`: N bytes of [`pattern`] (byte `i` is `(i * 31 + 7) % 251`: no period that
//!   divides a packet or piece size, so a lost, repeated or reordered piece changes the body),
//!   with `Content-Length` and `Connection: close`.
//! * `GET /slow/N`: the same N bytes in [`SLOW_PIECE`]-byte pieces, [`SLOW_PAUSE`] apart: a
//!   download that lasts, for tests that break something while it runs.
//!
//! Anything else is answered 400, 404 or 405 with an empty body. One request per connection.
//! The server runs as a tokio task; dropping the [`HttpServer`] ends it and every connection
//! it serves. It is bounded: at most [`MAX_CONNECTIONS`] at a time (more are closed at once),
//! request heads of at most 8 KiB read within 30 s, bodies of at most [`MAX_BODY`] bytes,
//! every write given 60 s.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Largest body served.
pub const MAX_BODY: u64 = 1 << 30;
/// Bytes per piece of `/slow/N`.
pub const SLOW_PIECE: usize = 1024;
/// The pause between two pieces of `/slow/N`.
pub const SLOW_PAUSE: Duration = Duration::from_millis(200);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Longest request head.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one write may wait for the client to read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes per write of `/bytes/N`.
const CHUNK: usize = 64 * 1024;
/// The pause after a failed `accept` (out of file descriptors, ...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Byte `i` of every body.
pub fn pattern_byte(i: u64) -> u8 {
    // (i * 31 + 7) mod 251, computed from i mod 251 so it cannot overflow; < 251 fits a byte.
    (((i % 251) * 31 + 7) % 251) as u8
}

/// The first `len` bytes of every body: what `GET /bytes/len` answers.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut body = vec![0; len];
    fill(0, &mut body);
    body
}

/// `buf` with the body's bytes from `offset` on.
fn fill(offset: u64, buf: &mut [u8]) {
    for (i, b) in (offset..).zip(buf.iter_mut()) {
        *b = pattern_byte(i);
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `/bytes/N`.
    Bytes(u64),
    /// `/slow/N`.
    Slow(u64),
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    NotFound,
    MethodNotAllowed,
}

impl Refusal {
    fn status_line(self) -> &'static str {
        match self {
            Refusal::BadRequest => "400 Bad Request",
            Refusal::NotFound => "404 Not Found",
            Refusal::MethodNotAllowed => "405 Method Not Allowed",
        }
    }
}

/// The route of a request head (the request line is all that matters).
fn route(head: &[u8]) -> Result<Route, Refusal> {
    let line = head
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or(Refusal::BadRequest)?
        .trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Refusal::BadRequest);
    }
    if method != "GET" {
        return Err(Refusal::MethodNotAllowed);
    }
    let path = target.split('?').next().unwrap_or(target);
    let (kind, count) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .ok_or(Refusal::NotFound)?;
    let n = if !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()) {
        count
            .parse::<u64>()
            .ok()
            .filter(|&n| n <= MAX_BODY)
            .ok_or(Refusal::NotFound)?
    } else {
        return Err(Refusal::NotFound);
    };
    match kind {
        "bytes" => Ok(Route::Bytes(n)),
        "slow" => Ok(Route::Slow(n)),
        _ => Err(Refusal::NotFound),
    }
}

/// A running server; it stops when dropped.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Listens on 127.0.0.1, on a port the kernel picks.
    pub async fn start() -> io::Result<HttpServer> {
        HttpServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// Listens on `ip`, which must be a loopback address (127.0.0.0/8 or ::1), on a port
    /// the kernel picks.
    pub async fn start_on(ip: IpAddr) -> io::Result<HttpServer> {
        if !ip.is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{ip} is not a loopback address"),
            ));
        }
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener));
        Ok(HttpServer { addr, task })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDRESS{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // Dropping the task drops its listener and its `JoinSet`, which aborts every
        // connection task.
        self.task.abort();
    }
}

async fn serve(listener: TcpListener) {
    let mut connections = JoinSet::new();
    // Ends when the task is aborted.
    loop {
        let accepted = listener.accept().await;
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                connections.spawn(handle(stream));
            }
            // Over the limit: closed at once.
            Ok(_) => {}
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

/// Serves one request; any IO failure or timeout just ends the connection.
async fn handle(mut stream: TcpStream) {
    let Ok(Some(head)) = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await else {
        return;
    };
    let _ = respond(&mut stream, route(&head)).await;
}

/// The request head, up to the blank line; `None` if the client closes or sends too much.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while head.len() <= MAX_HEAD {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(buf.get(..n)?);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(head);
        }
    }
    None
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))?
}

async fn respond(stream: &mut TcpStream, route: Result<Route, Refusal>) -> io::Result<()> {
    let (len, piece, pause) = match route {
        Ok(Route::Bytes(n)) => (n, CHUNK, None),
        Ok(Route::Slow(n)) => (n, SLOW_PIECE, Some(SLOW_PAUSE)),
        Err(refusal) => {
            let head = format!(
                "HTTP/1.1 {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                refusal.status_line()
            );
            write(stream, head.as_bytes()).await?;
            return stream.shutdown().await;
        }
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: \
         {len}\r\nConnection: close\r\n\r\n"
    );
    write(stream, head.as_bytes()).await?;
    let mut buf = vec![0u8; piece];
    let mut offset = 0u64;
    while offset < len {
        if offset > 0 {
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
        }
        // At most `piece` (a usize), so the conversion cannot fail.
        let n = usize::try_from((len - offset).min(piece as u64)).unwrap_or(piece);
        let chunk = buf.get_mut(..n).unwrap_or_default();
        fill(offset, chunk);
        write(stream, chunk).await?;
        offset += n as u64;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_pattern_is_the_formula_for_any_offset() {
        assert_eq!(pattern(4), [7, 38, 69, 100]);
        assert_eq!(pattern_byte(250), ((250 * 31 + 7) % 251) as u8);
        let big = 5 * 1024 * 1024 * 1024u64 + 3;
        assert_eq!(u64::from(pattern_byte(big)), (big * 31 + 7) % 251);
        let mut tail = [0u8; 3];
        fill(1_000, &mut tail);
        assert_eq!(tail, pattern(1_003)[1_000..]);
    }

    #[test]
    fn routes_come_from_the_request_line() {
        let r = |line: &str| route(format!("{line}\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(r("GET /bytes/1024 HTTP/1.1"), Ok(Route::Bytes(1024)));
        assert_eq!(r("GET /bytes/0 HTTP/1.0"), Ok(Route::Bytes(0)));
        assert_eq!(r("GET /slow/200000?x=1 HTTP/1.1"), Ok(Route::Slow(200_000)));
        assert_eq!(r("POST /bytes/1 HTTP/1.1"), Err(Refusal::MethodNotAllowed));
        assert_eq!(r("GET /bytes/1"), Err(Refusal::BadRequest));
        assert_eq!(r("GET /bytes/1 SPDY/3"), Err(Refusal::BadRequest));
        for path in [
            "/",
            "/bytes",
            "/bytes/",
            "/bytes/-1",
            "/bytes/+1",
            "/bytes/1/2",
            "/bytes/1073741825",
            "/bytes/99999999999999999999999",
            "/other/1",
        ] {
            assert_eq!(
                r(&format!("GET {path} HTTP/1.1")),
                Err(Refusal::NotFound),
                "{path}"
            );
        }
        assert_eq!(route(b"\xff\xfe\r\n\r\n"), Err(Refusal::BadRequest));
    }

    async fn get(server: &HttpServer, path: &str) -> (String, Vec<u8>) {
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut all))
            .await
            .unwrap()
            .unwrap();
        let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let body = all.split_off(end);
        (String::from_utf8(all).unwrap(), body)
    }

    #[tokio::test]
    async fn it_serves_exact_bodies_slowly_on_request_and_stops_when_dropped() {
        let server = HttpServer::start().await.unwrap();
        assert!(server.addr().ip().is_loopback());
        assert_eq!(
            server.url("/bytes/1"),
            format!("http://127.0.0.1:{}/bytes/1", server.addr().port())
        );

        let (head, body) = get(&server, "/bytes/200000").await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Length: 200000\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        assert!(body == pattern(200_000));

        let started = Instant::now();
        let (_, body) = get(&server, "/slow/2500").await;
        assert!(body == pattern(2_500));
        // Three pieces: two pauses.
        assert!(
            started.elapsed() >= 2 * SLOW_PAUSE,
            "{:?}",
            started.elapsed()
        );

        let (head, body) = get(&server, "/nothing").await;
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
        assert!(body.is_empty());

        let addr = server.addr();
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).await.is_ok() {
            assert!(Instant::now() < deadline, "still listening after the drop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn only_loopback_addresses_are_served() {
        let e = HttpServer::start_on("192.0.2.1".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let other = HttpServer::start_on("127.0.0.2".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(other.addr().ip(), "127.0.0.2".parse::<IpAddr>().unwrap());
    }
}
