//! The validator API over HTTPS, as real processes on loopback: reached with the CA, by our
//! client and by curl; a certificate for another host, an expired one (swapped in with a
//! SIGHUP) and a plain-HTTP or garbage client are each refused, with the reason named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use common::{eventually, Network, Shape};
use tls::local_ca::Leaf;
use validator_client::ValidatorClient;

/// Whether curl runs here; CI sets `REQUIRE_CURL=1`, and then a missing curl fails.
fn curl_available() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    if !found && std::env::var("REQUIRE_CURL").as_deref() == Ok("1") {
        panic!("curl is not installed and REQUIRE_CURL=1");
    }
    found
}

fn sighup(pid: u32) {
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_over_https_serves_who_trusts_the_ca_and_refuses_bad_certificates_by_name() {
    let net = Network::start(Shape {
        validators: 1,
        threshold: 1,
        wait_for_keys: false,
        tls: true,
        ..Shape::default()
    })
    .await;
    let v = &net.validators[0];
    assert!(v.url.starts_with("https://127.0.0.1:"), "{}", v.url);
    let (ca, ca_file) = net.ca.as_ref().unwrap();
    // Our client, trusting the CA (the test process installed it), reads the API.
    let status = v.client.status().await.unwrap();
    assert_eq!(status.peers.len(), 0);

    if curl_available() {
        let url = format!("{}/v1/status", v.url);
        let ok = Command::new("curl")
            .args(["-sS", "--fail", "--cacert", ca_file.to_str().unwrap(), &url])
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let body: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
        assert_eq!(body["identity_key"], status.identity_key.to_string());
        // Without the CA, curl refuses the certificate (exit 60: peer certificate cannot
        // be authenticated).
        let refused = Command::new("curl").args(["-sS", &url]).output().unwrap();
        assert_eq!(refused.status.code(), Some(60), "{refused:?}");
    }

    // The certificate names 127.0.0.1 only: `localhost` is refused, and the error names
    // the URL and why.
    let port = v.url.rsplit(':').next().unwrap();
    let by_name = ValidatorClient::new(&format!("https://localhost:{port}")).unwrap();
    let e = by_name.status().await.unwrap_err().to_string();
    assert!(e.contains("https://localhost:"), "{e}");
    assert!(e.contains("not valid for name"), "{e}");

    // Plain HTTP to the TLS port, and garbage: that connection ends, the API stays up.
    let plain = ValidatorClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    assert!(plain.status().await.is_err());
    let mut raw = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    raw.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3])
        .unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert!(v.client.status().await.is_ok());

    // One source holding as many silent handshakes as it may is refused more, at once,
    // while another source still gets through; once they go, it is served again.
    if curl_available() {
        use validator::service::tls_listener::HANDSHAKES_PER_SOURCE;
        let addr = format!("127.0.0.1:{port}");
        let silent: Vec<_> = (0..HANDSHAKES_PER_SOURCE)
            .map(|_| std::net::TcpStream::connect(&addr).unwrap())
            .collect();
        let url = format!("{}/v1/status", v.url);
        let curl = |from: &str| {
            Command::new("curl")
                .args(["-sS", "--fail", "--max-time", "4", "--interface", from])
                .args(["--cacert", ca_file.to_str().unwrap(), &url])
                .output()
                .unwrap()
        };
        let refused = curl("127.0.0.1");
        assert!(
            !refused.status.success(),
            "a ninth handshake from one source was served"
        );
        let other = curl("127.0.0.2");
        assert!(
            other.status.success(),
            "{}",
            String::from_utf8_lossy(&other.stderr)
        );
        drop(silent);
        eventually(
            "the source is served again",
            Duration::from_secs(10),
            || async { curl("127.0.0.1").status.success().then_some(()) },
        )
        .await;
    }

    // An expired certificate, swapped in with a SIGHUP: refused as expired.
    let pid = v.pid().unwrap();
    let loopback = [std::net::Ipv4Addr::LOCALHOST.into()];
    let leaf = |expired| Leaf {
        names: &[],
        addresses: &loopback,
        expired,
    };
    let served = v.dir.join("tls");
    let expired = ca
        .issue(&leaf(true), &net.dir.path().join("old"), "api")
        .unwrap();
    std::fs::copy(&expired.cert, served.join("api.crt")).unwrap();
    std::fs::copy(&expired.key, served.join("api.key")).unwrap();
    sighup(pid);
    let e = eventually(
        "the expired certificate is served",
        Duration::from_secs(10),
        // A new client each time: a pooled connection keeps the certificate it started with.
        || async { ValidatorClient::new(&v.url).unwrap().status().await.err() },
    )
    .await
    .to_string();
    assert!(e.contains("expired"), "{e}");
    assert!(e.contains("https://127.0.0.1:"), "{e}");

    // A renewed one: served from the next connection on, the process never restarted.
    let fresh = ca
        .issue(&leaf(false), &net.dir.path().join("new"), "api")
        .unwrap();
    std::fs::copy(&fresh.cert, served.join("api.crt")).unwrap();
    std::fs::copy(&fresh.key, served.join("api.key")).unwrap();
    sighup(pid);
    eventually(
        "the renewed certificate is served",
        Duration::from_secs(10),
        || async { ValidatorClient::new(&v.url).unwrap().status().await.ok() },
    )
    .await;
    assert_eq!(v.pid(), Some(pid));
}
