//! The files the network is set up with: configs edited as TOML, account keys, plain writes.

use std::path::Path;

use ed25519_dalek::SigningKey;
use validator_core::files::write_secret;

use crate::Error;

/// How long the nodes let held packets leave on shutdown, ms (the node default is 5 s; the
/// run has drained by then).
pub(super) const NODE_SHUTDOWN_GRACE_MS: i64 = 2_000;

/// Packets per second each local node's replay filters are sized for: several times what a
/// default local run sends through one node (about 220/s), and small enough that a filter of
/// an hour's rotation is about 23 MiB, not the hundreds of a public node's.
pub(super) const NODE_REPLAY_RATE_PER_SEC: i64 = 1_000;

/// Node config changes for a short-epoch local chain: the topology refreshed within an
/// epoch, a short shutdown grace, replay filters sized for local traffic.
pub(super) fn tune_node_config(path: &Path, topology_refresh_ms: u64) -> Result<(), Error> {
    edit_toml(path, |table| {
        let engine = table
            .get_mut("engine")
            .and_then(toml::Value::as_table_mut)
            .ok_or("no [engine] section".to_string())?;
        let refresh =
            i64::try_from(topology_refresh_ms).map_err(|_| "refresh too long".to_string())?;
        engine.insert("topology_refresh_ms".into(), toml::Value::Integer(refresh));
        engine.insert(
            "shutdown_grace_ms".into(),
            toml::Value::Integer(NODE_SHUTDOWN_GRACE_MS),
        );
        engine.insert(
            "replay_rate_per_sec".into(),
            toml::Value::Integer(NODE_REPLAY_RATE_PER_SEC),
        );
        Ok(())
    })
}

/// Proof-of-work bits a local gateway asks of a registration: a few hundred hashes, so local
/// runs with many clients do not spend their setup on it (public gateways ask 16).
pub(super) const LOCAL_REGISTRATION_WORK_BITS: i64 = 8;

/// Per-source limits of a local gateway: every local client connects from 127.0.0.1, so the
/// public defaults (64 connections, 8 handshakes, 10 registrations and 60 an hour per
/// address) would refuse a large local run.
const LOCAL_PER_SOURCE: i64 = 100_000;

/// Gateway config changes for a local network: cheap registration work, per-source limits
/// that all clients sharing 127.0.0.1 fit in.
pub(super) fn tune_gateway_config(path: &Path) -> Result<(), Error> {
    edit_toml(path, |table| {
        let clients = section(table, "clients")?;
        clients.insert(
            "registration_work_bits".into(),
            toml::Value::Integer(LOCAL_REGISTRATION_WORK_BITS),
        );
        for key in [
            "max_connections_per_source",
            "max_handshakes_per_source",
            "registration_burst_per_source",
            "registrations_per_hour_per_source",
        ] {
            clients.insert(key.into(), toml::Value::Integer(LOCAL_PER_SOURCE));
        }
        Ok(())
    })
}

/// A validator's config for a local chain: its block interval, and per-address API limits
/// that one address carrying the whole network does not reach.
pub(super) fn tune_validator_config(path: &Path) -> Result<(), Error> {
    edit_toml(path, |table| {
        let api = section(table, "api")?;
        for class in ["read", "write", "peer"] {
            for what in ["per_second", "burst"] {
                api.insert(
                    format!("{class}_{what}"),
                    toml::Value::Integer(crate::plan::LOCAL_API_RATE),
                );
            }
        }
        let chain = section(table, "chain")?;
        chain.insert(
            "block_interval_ms".into(),
            toml::Value::Integer(crate::plan::LOCAL_BLOCK_INTERVAL_MS),
        );
        Ok(())
    })
}

/// `[tls]` of a validator's config: its API over HTTPS with `files`, and `ca_file` trusted
/// for its peers' APIs.
pub(super) fn serve_tls(
    path: &Path,
    files: &tls::local_ca::IssuedFiles,
    ca_file: &Path,
) -> Result<(), Error> {
    let text = |p: &Path| toml::Value::String(p.display().to_string());
    edit_toml(path, |table| {
        let tls = section(table, "tls")?;
        tls.insert("cert_file".into(), text(&files.cert));
        tls.insert("key_file".into(), text(&files.key));
        tls.insert("ca_files".into(), toml::Value::Array(vec![text(ca_file)]));
        Ok(())
    })
}

/// The section `name` of a config, created empty if missing.
fn section<'a>(table: &'a mut toml::Table, name: &str) -> Result<&'a mut toml::Table, String> {
    match table
        .entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(section) => Ok(section),
        _ => Err(format!("[{name}] is not a table")),
    }
}

fn edit_toml(
    path: &Path,
    edit: impl FnOnce(&mut toml::Table) -> Result<(), String>,
) -> Result<(), Error> {
    let fail = |e: String| Error::io(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(e.to_string()))?;
    edit(&mut table).map_err(fail)?;
    let text = toml::to_string(&table).map_err(|e| fail(e.to_string()))?;
    write_file(path, &text)
}

/// A fresh random account key, written as a 0600 key file.
pub(super) fn new_account(path: &Path) -> Result<SigningKey, Error> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    write_secret(path, &key.to_bytes())
        .map_err(|e| Error::io(format!("{}: {e}", path.display())))?;
    Ok(key)
}

pub(super) fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("{}: {e}", path.display())))
}

pub(super) fn create_dir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(format!("{}: {e}", path.display())))
}

pub(super) fn append(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| Error::io(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn node_configs_are_edited_as_toml() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("node.toml");
        std::fs::write(
            &node,
            "[node]\nid = \"m0\"\n\n[engine]\ntopology_refresh_ms = 10000\nmax_delay_ms = 5\n",
        )
        .unwrap();
        tune_node_config(&node, 500).unwrap();
        let table: toml::Table = std::fs::read_to_string(&node).unwrap().parse().unwrap();
        assert_eq!(
            table["engine"]["topology_refresh_ms"].as_integer(),
            Some(500)
        );
        assert_eq!(
            table["engine"]["shutdown_grace_ms"].as_integer(),
            Some(NODE_SHUTDOWN_GRACE_MS)
        );
        assert_eq!(table["engine"]["max_delay_ms"].as_integer(), Some(5));
        assert_eq!(table["node"]["id"].as_str(), Some("m0"));

        let bare = dir.path().join("bare.toml");
        std::fs::write(&bare, "[node]\n").unwrap();
        let e = tune_node_config(&bare, 500).unwrap_err().to_string();
        assert!(e.contains("[engine]"), "{e}");
    }

    #[test]
    fn gateways_get_cheap_registration_work_and_wide_per_source_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, "[clients]\nidle_timeout_ms = 5\n").unwrap();
        tune_gateway_config(&path).unwrap();
        let table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let clients = &table["clients"];
        assert_eq!(
            clients["registration_work_bits"].as_integer(),
            Some(LOCAL_REGISTRATION_WORK_BITS)
        );
        assert_eq!(
            clients["max_handshakes_per_source"].as_integer(),
            Some(LOCAL_PER_SOURCE)
        );
        assert_eq!(clients["idle_timeout_ms"].as_integer(), Some(5), "kept");
    }

    #[test]
    fn validators_get_the_local_block_interval_and_api_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator.toml");
        std::fs::write(&path, "[validator]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        tune_validator_config(&path).unwrap();
        let table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        assert_eq!(table["validator"]["listen"].as_str(), Some("127.0.0.1:1"));
        assert_eq!(
            table["chain"]["block_interval_ms"].as_integer(),
            Some(crate::plan::LOCAL_BLOCK_INTERVAL_MS)
        );
        assert_eq!(
            table["api"]["write_per_second"].as_integer(),
            Some(crate::plan::LOCAL_API_RATE)
        );
        assert_eq!(
            table["api"]["peer_burst"].as_integer(),
            Some(crate::plan::LOCAL_API_RATE)
        );
    }

    #[test]
    fn accounts_are_fresh_private_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.key"), dir.path().join("b.key"));
        let (ka, kb) = (new_account(&a).unwrap(), new_account(&b).unwrap());
        assert_ne!(ka.to_bytes(), kb.to_bytes());
        let mode = std::fs::metadata(&a).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let read = validator_core::files::read_secret(&a).unwrap();
        assert_eq!(*read, ka.to_bytes());
    }
}
