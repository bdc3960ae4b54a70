#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `bench localnet` end to end: the command's own function on a small network of real
//! processes on loopback (four validators on the BFT chain, one mixnode per layer, two
//! gateways, two clients), five seconds of traffic, the JSON report read back from the file
//! it wrote. Node links are Noise (keys from the topology), client links TLS.

use std::time::Duration;

use testnet::{run, ClientTiming, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_delivers_every_message_and_writes_the_json_report() {
    let out = tempfile::tempdir().unwrap();
    let json_path = out.path().join("report.json");
    let options = Options {
        mixnodes_per_layer: 1,
        gateways: 2,
        clients: 2,
        duration: Some(Duration::from_secs(5)),
        rate: 5.0,
        message_size: 300,
        drain: Duration::from_secs(30),
        report_json: Some(json_path.clone()),
        progress: false,
        // Lighter cover traffic than the client's default: the nodes here are debug builds
        // sharing two CPUs with whatever else runs.
        client_timing: ClientTiming {
            send_gap_ms: Some(50.0),
            ..ClientTiming::default()
        },
        ..Options::default()
    };
    let report = run(&options).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.interrupted);

    let text = std::fs::read_to_string(&json_path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let count = |field: &str| {
        json[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {field} in {json}"))
    };
    let (sent, received, lost) = (count("sent"), count("received"), count("lost"));
    // Two clients at 5 messages/s for 5 s: about 50, give or take the first and last tick.
    assert!(sent >= 40, "sent {sent}: {json}");
    assert_eq!(received, sent, "{json}");
    assert_eq!(lost, 0, "{json}");
    assert_eq!(count("misdelivered"), 0, "{json}");
    for field in ["p50", "p99", "max"] {
        let ms = json["latency_ms"][field]
            .as_f64()
            .unwrap_or_else(|| panic!("no latency_ms.{field} in {json}"));
        assert!(ms > 0.0 && ms < 30_000.0, "latency_ms.{field} = {ms}");
    }
    assert!(json["latency_ms"]["p50"].as_f64() <= json["latency_ms"]["max"].as_f64());
    assert_eq!(json["nodes"]["mixnodes"], 3);
    assert_eq!(json["nodes"]["clients"], 2);
    assert!(json["duration_secs"].as_f64().unwrap() >= 5.0);
    // Messages (and cover traffic) crossed every layer while the clients sent.
    let layers = json["packets_per_second"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for (i, rate) in layers.iter().enumerate() {
        assert!(rate.as_f64().unwrap() > 0.0, "layer {}: {json}", i + 1);
    }
    // Every node-to-node link was Noise: each mixnode accepted at least one, the gateways'
    // and mixnodes' links to their next hops opened as Noise, and none failed or was refused.
    let links = &json["links"];
    assert_eq!(links["mixnodes_without_noise"], 0, "{json}");
    assert!(links["noise_outbound"].as_u64().unwrap() >= 4, "{json}");
    assert!(links["noise_inbound"].as_u64().unwrap() >= 4, "{json}");
    assert_eq!(links["failures"], serde_json::json!({}), "{json}");
    // The returned report is the one written.
    assert_eq!(report.sent, sent);
    assert_eq!(report.received, received);
}

/// `bench localnet --duration 60 --key-rotation-secs 10`: every node announces a key per
/// rotation and switches at each boundary under traffic; nothing is lost, and no packet is
/// refused for its key (built for a retired key, or for a key the hop does not hold).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_across_six_key_rotations_loses_nothing() {
    let options = Options {
        mixnodes_per_layer: 1,
        gateways: 2,
        clients: 2,
        duration: Some(Duration::from_secs(60)),
        rate: 2.0,
        message_size: 300,
        drain: Duration::from_secs(30),
        epoch: Duration::from_millis(2_500),
        key_rotation: Duration::from_secs(10),
        progress: false,
        client_timing: ClientTiming {
            send_gap_ms: Some(50.0),
            ..ClientTiming::default()
        },
        ..Options::default()
    };
    let report = run(&options).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.interrupted);
    assert!(report.sent >= 200, "sent {}", report.sent);
    assert_eq!(report.received, report.sent, "{report:?}");
    assert_eq!(report.lost, 0, "{report:?}");
    for reason in ["expired_key", "header_mac", "replayed"] {
        assert_eq!(report.dropped.get(reason), None, "{reason}: {report:?}");
    }
}
