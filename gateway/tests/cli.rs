//! The `gateway` command line: init, node-details, and the refusals an operator should see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use common::*;

#[test]
fn init_details_and_refusals() {
    let home = tempfile::tempdir().unwrap();
    let bin = PathBuf::from(GATEWAY);
    let args = [
        "init",
        "--id",
        "g1",
        "--mix-listen",
        "127.0.0.1:1790",
        "--clients-listen",
        "127.0.0.1:9000",
    ];
    let out = run(&bin, home.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = home.path().join("gateways/g1");
    for key in ["identity.key", "sphinx.key"] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let again = run(&bin, home.path(), &args);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let details = run(&bin, home.path(), &["node-details", "--id", "g1"]);
    let json: serde_json::Value = serde_json::from_slice(&details.stdout).unwrap();
    assert_eq!(json["clients_announce"], "ws://127.0.0.1:9000");
    assert_eq!(json["mix_listen"], "127.0.0.1:1790");
    assert_eq!(
        bs58::decode(json["identity_key"].as_str().unwrap())
            .into_vec()
            .unwrap()
            .len(),
        32
    );

    // No validator and no testing flags: refuses, saying why.
    let out = run(&bin, home.path(), &["run", "--id", "g1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lists no validator") && stderr.contains("--free-bandwidth-for-testing"),
        "{stderr}"
    );

    // A bad config field is named with its file.
    let config = dir.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("packets_per_second = 500", "packets_per_second = \"fast\""),
    )
    .unwrap();
    let out = run(
        &bin,
        home.path(),
        &[
            "run",
            "--id",
            "g1",
            "--danger-allow-any-next-hop",
            "--free-bandwidth-for-testing",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("config.toml") && stderr.contains("packets_per_second"),
        "{stderr}"
    );

    let wildcard = run(
        &bin,
        home.path(),
        &[
            "init",
            "--id",
            "g2",
            "--mix-listen",
            "0.0.0.0:1",
            "--clients-listen",
            "127.0.0.1:2",
        ],
    );
    assert!(String::from_utf8_lossy(&wildcard.stderr).contains("--mix-announce"));
}
