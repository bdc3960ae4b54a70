#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! curl through the SOCKS5 proxy of one local mixnet of real processes on loopback (one
//! validator, one mixnode per layer, two gateways, a network requester and a SOCKS5 client on
//! different gateways; `--fast` in release builds, light timing in debug builds), fetching
//! from a loopback HTTP server
//! (`testnet::http_server`) whose bodies are a known pattern; one step after another, each
//! with a deadline:
//!
//! a. 1 KiB arrives byte-identical;
//! b. 5 MiB arrives byte-identical (curl's own timing is printed);
//! c. ten concurrent downloads of 100,000 bytes all arrive byte-identical;
//! d. a domain and an IP address the allow list does not hold are refused with a SOCKS
//!    error, quickly (the domain goes to the proxy unresolved: `--socks5-hostname`);
//! e. the requester restarted during a slow download: the download fails (short, non-zero
//!    exit) within a bounded time, and a fresh download through the same proxy succeeds;
//! f. 127.0.0.2 added to the allow list and SIGHUP sent: it is allowed now.
//!
//! Needs `curl` on PATH; without it the test is skipped with a message, unless
//! `REQUIRE_CURL=1` (then it fails).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use testnet::http_server::{pattern, HttpServer};
use testnet::process::tail;
use testnet::{ClientTiming, Network, Options};
use tokio::process::Command;

/// Proxy settings in the environment that would change where curl connects (`NO_PROXY`
/// would send loopback requests around the proxy).
const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];
/// curl's `--write-out`: when the first byte came, when it ended, bytes per second.
const TIMING: &str = "%{time_starttransfer} %{time_total} %{speed_download}";
/// How often files and processes are polled.
const POLL: Duration = Duration::from_millis(50);

/// Whether curl runs here; without it the test is skipped, unless `REQUIRE_CURL=1`.
fn curl_available() -> bool {
    let ok = std::process::Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("REQUIRE_CURL").as_deref() != Ok("1"),
            "curl is required here (REQUIRE_CURL=1) but is not on PATH"
        );
        eprintln!("skipping the SOCKS5 test: curl is not on PATH (REQUIRE_CURL=1 makes this fail)");
    }
    ok
}

/// `curl URL -o OUT` through `proxy`, the name resolved by the proxy's side, ending by
/// itself after `max_time`; killed if dropped.
fn curl(proxy: SocketAddr, url: &str, out: &Path, max_time: Duration) -> Command {
    let mut command = Command::new("curl");
    // -q first: no ~/.curlrc.
    command
        .args(["-q", "--silent", "--show-error"])
        .args(["--socks5-hostname", &proxy.to_string()])
        .args(["--max-time", &max_time.as_secs().to_string()])
        .arg("-o")
        .arg(out)
        .args(["-w", TIMING, url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// How a curl run ended.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    /// The `--write-out` timing.
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    /// `time_starttransfer`, `time_total` (s) and `speed_download` (bytes/s).
    fn timing(&self) -> (f64, f64, f64) {
        let v: Vec<f64> = self
            .stdout
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(v.len(), 3, "curl --write-out: {:?}", self.stdout);
        (v[0], v[1], v[2])
    }
}

/// Runs `command`, which must end within `deadline` (curl's own `--max-time` is a
/// little longer, so a hang shows here, as a hang).
async fn run(mut command: Command, deadline: Duration) -> Outcome {
    let started = Instant::now();
    let output = tokio::time::timeout(deadline, command.output())
        .await
        .unwrap_or_else(|_| panic!("curl did not finish within {deadline:?}"))
        .expect("curl runs");
    Outcome {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Downloads `url` through `proxy` into `out` within `deadline`; asserts curl succeeded and
/// the file holds exactly the first `len` bytes of the pattern.
async fn download(net: &Network, url: &str, out: &Path, len: usize, deadline: Duration) -> Outcome {
    let proxy = net.socks5_proxy().unwrap();
    let outcome = run(
        curl(proxy, url, out, deadline + Duration::from_secs(30)),
        deadline,
    )
    .await;
    assert!(
        outcome.status.success(),
        "curl {url}: {} after {:?}: {}{}",
        outcome.status,
        outcome.elapsed,
        outcome.stderr,
        logs(net)
    );
    assert_body(out, len);
    outcome
}

/// The file holds exactly the first `len` bytes of the pattern.
fn assert_body(path: &Path, len: usize) {
    let got = std::fs::read(path).unwrap();
    let want = pattern(len);
    if got != want {
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "{}: {} bytes, expected {len}; first differing byte at {first:?}",
            path.display(),
            got.len()
        );
    }
}

/// The ends of the requester's and the SOCKS5 client's logs, for failure messages.
fn logs(net: &Network) -> String {
    ["requester", "socks5"]
        .iter()
        .map(|id| {
            let path = net.log(id);
            format!("\n--- end of {} ---\n{}", path.display(), tail(&path))
        })
        .collect()
}

/// Fails the test, with the log of whatever exited, if a process of the network died.
fn check(net: &mut Network) {
    if let Err(e) = net.check_running() {
        panic!("{e}");
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_the_socks5_proxy_of_a_local_mixnet() {
    if !curl_available() {
        return;
    }
    let server = HttpServer::start().await.unwrap();
    // A loopback server off the allow list: a refusal there is the allow list's doing, not
    // a failed connection. (Where 127.0.0.2 cannot be bound, its port is simply closed.)
    let off_list = HttpServer::start_on("127.0.0.2".parse::<IpAddr>().unwrap())
        .await
        .ok();
    let options = Options {
        validators: 1,
        threshold: 1,
        mixnodes_per_layer: 1,
        gateways: 2,
        clients: 0,
        duration: Some(Duration::ZERO),
        progress: false,
        // There are no ordinary clients: this is the pair's timing unless `fast`. Debug
        // builds get it instead of --fast: there the pair's idle cover traffic at --fast
        // rates alone kept both CPUs of a 2-core machine busy (the requester ~60%, the SOCKS5
        // client ~50%), acknowledgements came late, the connect took 35 s and 20
        // transmissions, and the requester's retransmitted answers used up the connect's
        // SURBs; at these rates 1 MiB took 23 s.
        client_timing: ClientTiming {
            send_gap_ms: Some(20.0),
            loop_cover_gap_ms: Some(1000.0),
            per_hop_delay_ms: Some(5.0),
        },
        socks5: true,
        // Default allow list: 127.0.0.1 and localhost.
        allow: Vec::new(),
        fast: !cfg!(debug_assertions),
        ..Options::default()
    };
    let started = Instant::now();
    let mut net = Network::start(&options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = net.socks5_proxy().unwrap();
    let (requester, socks5) = (net.requester().unwrap(), net.socks5_client().unwrap());
    assert_ne!(
        requester.gateway, socks5.gateway,
        "the pair uses two gateways"
    );
    eprintln!(
        "socks5 test: network up in {:.1} s, proxy {proxy}, pair timing {:?}, files in {}",
        started.elapsed().as_secs_f64(),
        options.socks5_timing_args(),
        net.dir().display()
    );
    let files = tempfile::tempdir().unwrap();
    let out = |name: &str| -> PathBuf { files.path().join(name) };

    // a. 1 KiB.
    check(&mut net);
    let a = download(
        &net,
        &server.url("/bytes/1024"),
        &out("a"),
        1024,
        Duration::from_secs(120),
    )
    .await;
    eprintln!("socks5 test: (a) 1 KiB in {:?}", a.elapsed);

    // b. 5 MiB, timed by curl.
    check(&mut net);
    let len = 5 * 1024 * 1024;
    let b = download(
        &net,
        &server.url(&format!("/bytes/{len}")),
        &out("b"),
        len,
        Duration::from_secs(600),
    )
    .await;
    let (first_byte, total, speed) = b.timing();
    eprintln!(
        "socks5 test: (b) 5 MiB: time_starttransfer {first_byte:.3} s, time_total {total:.3} s, \
         speed_download {speed:.0} B/s ({:.1} KiB/s)",
        speed / 1024.0
    );

    // c. Ten at once.
    check(&mut net);
    let started = Instant::now();
    let downloads = (0..10).map(|i| {
        let (net, url, path) = (&net, server.url("/bytes/100000"), out(&format!("c{i}")));
        async move { download(net, &url, &path, 100_000, Duration::from_secs(300)).await }
    });
    let outcomes = futures::future::join_all(downloads).await;
    let slowest = outcomes.iter().map(|o| o.elapsed).max().unwrap();
    eprintln!(
        "socks5 test: (c) 10 x 100000 bytes at once in {:?} (slowest curl {slowest:?})",
        started.elapsed()
    );

    // d. Off the allow list: a domain (never resolved here: curl hands the name to the
    //    proxy) and an IP address. Refused with a SOCKS5 reply, code 2 ("connection not
    //    allowed by ruleset", RFC 1928 section 6), which curl reports as "Can't complete
    //    SOCKS5 connection to HOST. (2)".
    check(&mut net);
    let off_list_port = off_list
        .as_ref()
        .map_or(server.addr().port(), |s| s.addr().port());
    for url in [
        "http://forbidden.example:80/".to_owned(),
        format!("http://127.0.0.2:{off_list_port}/bytes/10"),
    ] {
        let file = out("d");
        let refused = run(
            curl(proxy, &url, &file, Duration::from_secs(90)),
            Duration::from_secs(60),
        )
        .await;
        assert!(
            !refused.status.success(),
            "{url} was fetched although it is not on the allow list{}",
            logs(&net)
        );
        assert!(
            refused.stderr.contains("SOCKS5") && refused.stderr.contains("(2)"),
            "{url}: expected a SOCKS5 refusal (reply 2), curl said {}: {}{}",
            refused.status,
            refused.stderr.trim(),
            logs(&net)
        );
        assert!(
            refused.elapsed < Duration::from_secs(30),
            "{url} took {:?} to be refused",
            refused.elapsed
        );
        assert_eq!(file_len(&file), 0);
        eprintln!(
            "socks5 test: (d) {url} refused in {:?}: {}",
            refused.elapsed,
            refused.stderr.trim()
        );
    }

    // e. The requester restarted under a slow download (200 pieces, 200 ms apart: 40 s).
    check(&mut net);
    let slow_len = 200_000;
    let slow_file = out("e-slow");
    let mut slow = curl(
        proxy,
        &server.url(&format!("/slow/{slow_len}")),
        &slow_file,
        Duration::from_secs(600),
    )
    .spawn()
    .expect("curl runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    while file_len(&slow_file) == 0 {
        if let Some(status) = slow.try_wait().unwrap() {
            panic!(
                "the slow download ended ({status}) before any byte arrived{}",
                logs(&net)
            );
        }
        assert!(
            Instant::now() < deadline,
            "no byte of the slow download within 120 s{}",
            logs(&net)
        );
        tokio::time::sleep(POLL).await;
    }
    eprintln!(
        "socks5 test: (e) {} bytes of the slow download arrived; restarting the requester",
        file_len(&slow_file)
    );
    net.stop_requester().await.unwrap();
    net.start_requester()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let restarted = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(60), slow.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the slow download still ran 60 s after the requester restarted{}",
                logs(&net)
            )
        })
        .unwrap();
    let got = file_len(&slow_file);
    assert!(
        !ended.status.success(),
        "the slow download succeeded across the restart ({got} bytes)"
    );
    assert!(got < slow_len, "{got} bytes arrived across the restart");
    eprintln!(
        "socks5 test: (e) the slow download ended {:?} after the restart ({}, {got} bytes): {}",
        restarted.elapsed(),
        ended.status,
        String::from_utf8_lossy(&ended.stderr).trim()
    );
    let again = download(
        &net,
        &server.url("/bytes/1024"),
        &out("e-again"),
        1024,
        Duration::from_secs(120),
    )
    .await;
    eprintln!(
        "socks5 test: (e) 1 KiB through the restarted requester in {:?}",
        again.elapsed
    );

    // f. The operator adds 127.0.0.2 to the allow list and sends SIGHUP: what was refused
    //    in (d) now goes through, without a restart.
    if let Some(off_list) = &off_list {
        let entries: Vec<String> = ["127.0.0.1", "localhost", "127.0.0.2"]
            .map(String::from)
            .to_vec();
        net.set_allow_list(&entries).await.unwrap();
        let allowed = download(
            &net,
            &off_list.url("/bytes/2048"),
            &out("f"),
            2048,
            Duration::from_secs(120),
        )
        .await;
        eprintln!(
            "socks5 test: (f) after SIGHUP, 127.0.0.2 is allowed: 2 KiB in {:?}",
            allowed.elapsed
        );
    }

    check(&mut net);
    net.stop().await;
}
