//! The `validator` binary's commands and its errors for bad files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_validator");

fn validator(home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("--home")
        .arg(home)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keygen(home: &Path, threshold: u64, validators: u64, out: &str) -> (bool, String, String) {
    let (t, n) = (threshold.to_string(), validators.to_string());
    validator(
        home,
        &[
            "keygen",
            "--danger-trusted-dealer",
            "--threshold",
            &t,
            "--validators",
            &n,
            "--out",
            out,
        ],
    )
}

fn genesis_for(identity: &str, extra: &str) -> String {
    format!(
        "chain_id = \"cli\"\ngenesis_time_unix_ms = 0\nepoch_length_ms = 60000\nthreshold = 1\n\
         minimum_bond = 1\n{extra}[active_set]\nmixnodes = 3\ngateways = 1\n\
         [[validators]]\nidentity_key = \"{identity}\"\napi_url = \"http://127.0.0.1:1\"\n\
         p2p_address = \"127.0.0.1:{p2p}\"\n",
        p2p = testnet::free_port().unwrap()
    )
}

#[test]
fn init_writes_a_private_key_and_refuses_to_run_without_a_genesis() {
    let home = tempfile::tempdir().unwrap();
    let (ok, out, err) = validator(
        home.path(),
        &["init", "--id", "v0", "--listen", "127.0.0.1:7001"],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let dir = Path::new(v["dir"].as_str().unwrap());
    let mode = std::fs::metadata(dir.join("identity.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(v["identity_key"].as_str().unwrap().len() >= 43);

    let (ok, _, err) = validator(home.path(), &["init", "--id", "v0"]);
    assert!(!ok && err.contains("already initialised"), "{err}");

    let (ok, _, err) = validator(home.path(), &["run", "--id", "v0"]);
    assert!(!ok && err.contains("genesis.toml"), "{err}");

    let (ok, _, err) = validator(home.path(), &["run", "--id", "nobody"]);
    assert!(!ok && err.contains("config.toml"), "{err}");

    let (ok, _, err) = validator(home.path(), &["run", "--id", "../escape"]);
    assert!(!ok && err.contains("invalid id"), "{err}");
}

#[test]
fn bad_genesis_bad_keys_and_foreign_identities_are_named() {
    let home = tempfile::tempdir().unwrap();
    let (_, out, _) = validator(
        home.path(),
        &["init", "--id", "v0", "--listen", "127.0.0.1:7002"],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let dir = Path::new(v["dir"].as_str().unwrap()).to_path_buf();
    let me = v["identity_key"].as_str().unwrap().to_owned();

    std::fs::write(dir.join("genesis.toml"), genesis_for(&me, "surprise = 1\n")).unwrap();
    let (ok, _, err) = validator(home.path(), &["run", "--id", "v0"]);
    assert!(
        !ok && err.contains("genesis.toml") && err.contains("surprise"),
        "{err}"
    );

    // A genesis that does not list this validator.
    let other = "8NtwEV1YrWH21qfsjtNQq1vH4EtBFzzKTwPCsyi6BfUQ";
    std::fs::write(dir.join("genesis.toml"), genesis_for(other, "")).unwrap();
    let (ok, _, err) = validator(home.path(), &["run", "--id", "v0"]);
    assert!(!ok && err.contains("not a validator"), "{err}");

    // Its consensus address is taken: a clear error, not a validator that never decides.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let genesis = genesis_for(&me, "");
    let at = genesis.find("p2p_address").unwrap();
    let genesis = format!("{}p2p_address = \"127.0.0.1:{port}\"\n", &genesis[..at]);
    std::fs::write(dir.join("genesis.toml"), genesis).unwrap();
    let (ok, _, err) = validator(home.path(), &["run", "--id", "v0"]);
    assert!(
        !ok && err.contains("consensus address") && err.contains(&port.to_string()),
        "{err}"
    );
    drop(taken);

    std::fs::write(dir.join("genesis.toml"), genesis_for(&me, "")).unwrap();
    let key = dir.join("identity.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = validator(home.path(), &["run", "--id", "v0"]);
    assert!(!ok && err.contains("chmod 600"), "{err}");
}

#[test]
fn keygen_checks_its_arguments_and_never_overwrites() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("keys");
    let out_s = out.to_str().unwrap();
    let (ok, _, err) = keygen(home.path(), 3, 2, out_s);
    assert!(!ok && err.contains("threshold"), "{err}");
    let (ok, _, err) = keygen(home.path(), 2, 3, out_s);
    assert!(ok, "{err}");
    for i in 1..=3 {
        let mode = std::fs::metadata(out.join(format!("coconut-{i}.key")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let set: validator_core::credential::VerificationKeySet =
        serde_json::from_str(&std::fs::read_to_string(out.join("verification-keys.json")).unwrap())
            .unwrap();
    set.validate().unwrap();
    assert_eq!((set.threshold, set.authorities.len()), (2, 3));
    let before = std::fs::read(out.join("coconut-1.key")).unwrap();
    let (ok, _, err) = keygen(home.path(), 2, 3, out_s);
    assert!(!ok && err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(out.join("coconut-1.key")).unwrap(), before);

    // Without the flag that names the danger, nothing is generated.
    let (ok, _, err) = validator(
        home.path(),
        &[
            "keygen",
            "--threshold",
            "2",
            "--validators",
            "3",
            "--out",
            "elsewhere",
        ],
    );
    assert!(!ok && err.contains("--danger-trusted-dealer"), "{err}");
    assert!(!home.path().join("elsewhere").exists());
}
