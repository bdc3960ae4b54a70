//! The Prometheus endpoint: `GET /metrics` renders every shard's counters and the node totals.
//!
//! A plain thread with a blocking listener: scrapes come every few seconds, so this stays off
//! the shards entirely. One request per connection, a read timeout, and a cap on request size,
//! so a misbehaving client cannot hold it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::pipeline::{render_prometheus, ShardStats};

/// A running metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Extra text appended to every scrape (the binary's own gauges).
pub type ExtraMetrics = Box<dyn Fn(&mut String) + Send>;

impl MetricsServer {
    /// Serves `stats` at `http://addr/metrics`.
    pub fn start(
        addr: SocketAddr,
        stats: Vec<Arc<ShardStats>>,
        extra: Option<ExtraMetrics>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if thread_stop.load(Ordering::Acquire) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let _ = answer(stream, &stats, extra.as_ref());
                    }
                }
            })?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(
    mut stream: TcpStream,
    stats: &[Arc<ShardStats>],
    extra: Option<&ExtraMetrics>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let line = request.split(|b| *b == b'\r').next().unwrap_or_default();
    let (status, body) = if line.starts_with(b"GET /metrics ") || line == b"GET /metrics" {
        let shards: Vec<&ShardStats> = stats.iter().map(Arc::as_ref).collect();
        let mut body = String::with_capacity(16 * 1024);
        render_prometheus(&shards, &mut body);
        if let Some(extra) = extra {
            extra(&mut body);
        }
        ("200 OK", body)
    } else if line.starts_with(b"GET /health") {
        ("200 OK", "ok\n".to_string())
    } else {
        ("404 Not Found", "try /metrics\n".to_string())
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    stream.write_all(body.as_bytes())
}
