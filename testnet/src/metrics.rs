//! The nodes' Prometheus metrics: fetching `/metrics` over loopback, and parsing the text
//! into samples (pure).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest a scrape may take.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);
/// The most bytes read from one endpoint.
const MAX_BYTES: u64 = 4 << 20;

/// Samples by series name with labels as written (`mixnet_packets_dropped_total{reason="x"}`).
pub type Samples = BTreeMap<String, f64>;

/// Series the report uses.
pub mod series {
    /// Packets a mixnode wrote to their next hop.
    pub const FORWARDED: &str = "mixnet_packets_forwarded_total";
    /// Frames a node received.
    pub const RECEIVED: &str = "mixnet_packets_received_total";
    /// Packets dropped, one series per reason.
    pub const DROPPED: &str = "mixnet_packets_dropped_total";
    /// Next-hop addresses a mixnode's policy allows.
    pub const NEXT_HOPS: &str = "mixnet_next_hops_allowed";
    /// Last hops a gateway peeled.
    pub const FINAL_HOPS: &str = "mixnet_packets_final_hop_total";
    /// Messages a gateway delivered to an online client.
    pub const DELIVERED_LIVE: &str = "gateway_delivered_live_total";
    /// Messages a gateway stored for an offline client.
    pub const STORED: &str = "gateway_stored_total";
    /// Client packets a gateway forwarded to layer 1.
    pub const CLIENT_FORWARDED: &str = "gateway_client_packets_forwarded_total";
}

/// Parses the Prometheus text format: one sample per line, `name{labels} value`; comments
/// and unparsable lines are skipped. `+Inf` parses as infinity.
pub fn parse(text: &str) -> Samples {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().ok()?,
            };
            Some((name.trim().to_owned(), value))
        })
        .collect()
}

/// The label value of `label` in a series name (`reason` of `x{reason="y"}` is `y`).
pub fn label<'a>(series: &'a str, label: &str) -> Option<&'a str> {
    let labels = series.split_once('{')?.1.strip_suffix('}')?;
    labels.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == label).then(|| value.trim().trim_matches('"'))
    })
}

/// `after - before` of a counter, 0 if either is missing or it went backwards (a restart).
pub fn delta(before: &Samples, after: &Samples, series: &str) -> f64 {
    match (before.get(series), after.get(series)) {
        (Some(b), Some(a)) if a >= b => a - b,
        _ => 0.0,
    }
}

/// The request every scrape sends.
const REQUEST: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: localnet\r\nConnection: close\r\n\r\n";

/// Why a node's metrics could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// Connecting, writing or reading failed.
    #[error("{addr}: {source}")]
    Io {
        /// The metrics endpoint.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// No whole answer within [`SCRAPE_TIMEOUT`].
    #[error("{addr}: no answer within {SCRAPE_TIMEOUT:?}")]
    Timeout {
        /// The metrics endpoint.
        addr: SocketAddr,
    },
    /// The answer is not HTTP, or not 200.
    #[error("{addr}: {status}")]
    Answer {
        /// The metrics endpoint.
        addr: SocketAddr,
        /// The status line, or what was wrong with the answer.
        status: String,
    },
    /// The series is not among the metrics.
    #[error("{addr}: no series {series}")]
    NoSeries {
        /// The metrics endpoint.
        addr: SocketAddr,
        /// The series asked for.
        series: String,
    },
}

/// Fetches `http://addr/metrics` and parses it.
pub async fn scrape(addr: SocketAddr) -> Result<Samples, ScrapeError> {
    let io = |source| ScrapeError::Io { addr, source };
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
        stream.write_all(REQUEST).await.map_err(io)?;
        let mut bytes = Vec::new();
        stream
            .take(MAX_BYTES)
            .read_to_end(&mut bytes)
            .await
            .map_err(io)?;
        Ok::<_, ScrapeError>(bytes)
    };
    let bytes = tokio::time::timeout(SCRAPE_TIMEOUT, fetch)
        .await
        .map_err(|_| ScrapeError::Timeout { addr })??;
    Ok(parse(&body(addr, &bytes)?))
}

/// The text at `http://addr/metrics`, fetched without a runtime (for synchronous tests and
/// benchmarks); the same limits as [`scrape`].
pub fn fetch_blocking(addr: SocketAddr) -> Result<String, ScrapeError> {
    use std::io::{Read, Write};
    let io = |source| ScrapeError::Io { addr, source };
    let mut stream = std::net::TcpStream::connect_timeout(&addr, SCRAPE_TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).map_err(io)?;
    stream.write_all(REQUEST).map_err(io)?;
    let mut bytes = Vec::new();
    stream.take(MAX_BYTES).read_to_end(&mut bytes).map_err(io)?;
    body(addr, &bytes)
}

/// One sample of `addr`'s metrics by exact series name (with labels, as written).
pub fn sample_blocking(addr: SocketAddr, series: &str) -> Result<f64, ScrapeError> {
    parse(&fetch_blocking(addr)?)
        .get(series)
        .copied()
        .ok_or_else(|| ScrapeError::NoSeries {
            addr,
            series: series.to_owned(),
        })
}

/// The body of a 200 answer.
fn body(addr: SocketAddr, bytes: &[u8]) -> Result<String, ScrapeError> {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(ScrapeError::Answer {
            addr,
            status: "not an HTTP answer".into(),
        });
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(ScrapeError::Answer {
            addr,
            status: head.lines().next().unwrap_or_default().to_owned(),
        });
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP mixnet_packets_forwarded_total Packets written.\n\
        # TYPE mixnet_packets_forwarded_total counter\n\
        mixnet_packets_forwarded_total 42\n\
        mixnet_shard_packets_forwarded_total{shard=\"0\"} 42\n\
        mixnet_next_hops_allowed +Inf\n\
        mixnet_packets_dropped_total{reason=\"replay\"} 3\n\
        mixnet_packets_dropped_total{shard=\"0\",reason=\"next_hop_not_in_topology\"} 1\n\
        garbage line\n\
        mixnet_processing_latency_seconds_bucket{le=\"0.001\"} 7.5\n";

    #[test]
    fn samples_parse_with_their_labels() {
        let s = parse(TEXT);
        assert_eq!(s[series::FORWARDED], 42.0);
        assert_eq!(s["mixnet_shard_packets_forwarded_total{shard=\"0\"}"], 42.0);
        assert_eq!(s[series::NEXT_HOPS], f64::INFINITY);
        assert_eq!(
            s["mixnet_processing_latency_seconds_bucket{le=\"0.001\"}"],
            7.5
        );
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn labels_are_read_by_name() {
        assert_eq!(
            label("mixnet_packets_dropped_total{reason=\"replay\"}", "reason"),
            Some("replay")
        );
        assert_eq!(
            label("x{shard=\"0\",reason=\"next_hop\"}", "reason"),
            Some("next_hop")
        );
        assert_eq!(label("x{shard=\"0\"}", "reason"), None);
        assert_eq!(label("x", "reason"), None);
    }

    #[test]
    fn deltas_ignore_missing_and_restarted_counters() {
        let before = parse("a 10\nb 5\n");
        let after = parse("a 25\nb 2\nc 1\n");
        assert_eq!(delta(&before, &after, "a"), 15.0);
        assert_eq!(delta(&before, &after, "b"), 0.0);
        assert_eq!(delta(&before, &after, "c"), 0.0);
    }

    #[tokio::test]
    async fn a_scrape_reads_the_body_of_the_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await.unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nx_total 9\n")
                .await
                .unwrap();
        });
        let samples = scrape(addr).await.unwrap();
        assert_eq!(samples["x_total"], 9.0);
        server.await.unwrap();
    }
}
