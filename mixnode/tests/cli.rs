//! The command line other tools rely on: init, node-details, and run's refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn init_creates_config_and_0600_keys_and_refuses_to_repeat_without_force() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "init",
        "--id",
        "m1",
        "--listen",
        "127.0.0.1:1789",
        "--validator",
        "http://127.0.0.1:8000",
    ];
    assert!(mixnode(home.path(), &args).status.success());
    let dir = home.path().join("mixnodes/m1");
    assert!(dir.join("config.toml").exists());
    for key in ["identity.key", "sphinx.key"] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let first = mixnode(home.path(), &["node-details", "--id", "m1"]);
    let json: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    for field in ["identity_key", "sphinx_key"] {
        let key = bs58::decode(json[field].as_str().unwrap())
            .into_vec()
            .unwrap();
        assert_eq!(key.len(), 32, "{field}");
    }
    assert_eq!(json["listen"], "127.0.0.1:1789");

    let again = mixnode(home.path(), &args);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(mixnode(home.path(), &forced).status.success());
    let second = mixnode(
        home.path(),
        &["node-details", "--id", "m1", "--output", "json"],
    );
    let json2: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_ne!(
        json["identity_key"], json2["identity_key"],
        "--force makes new keys"
    );

    let text = mixnode(
        home.path(),
        &["node-details", "--id", "m1", "--output", "text"],
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains(json2["sphinx_key"].as_str().unwrap()));
}

#[test]
fn home_defaults_to_mixnet_home() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["init", "--id", "envnode", "--listen", "127.0.0.1:1790"])
        .env("MIXNET_HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(home.path().join("mixnodes/envnode/config.toml").exists());
}

#[test]
fn run_refuses_without_validators_unless_dangerously_told_so() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    assert!(mixnode(
        home.path(),
        &["init", "--id", "lonely", "--listen", &listen]
    )
    .status
    .success());
    let out = mixnode(home.path(), &["run", "--id", "lonely"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no validator"), "{stderr}");
    assert!(stderr.contains("--danger-allow-any-next-hop"), "{stderr}");
}

#[test]
fn a_bad_config_names_the_file_and_the_field() {
    let home = tempfile::tempdir().unwrap();
    assert!(mixnode(
        home.path(),
        &["init", "--id", "bad", "--listen", "127.0.0.1:1791"]
    )
    .status
    .success());
    let config = home.path().join("mixnodes/bad/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("max_delay_ms = 10000", "max_delay_ms = \"soon\""),
    )
    .unwrap();
    let out = mixnode(
        home.path(),
        &["run", "--id", "bad", "--danger-allow-any-next-hop"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
    assert!(stderr.contains("max_delay_ms"), "{stderr}");
}
