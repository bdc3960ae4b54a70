//! A client's files under `HOME/clients/ID/`: `config.toml`, the pinned `genesis.toml`, and
//! the secrets (base58, mode 0600): `identity.key` (ed25519), `encryption.key` (x25519),
//! `ack.key` (the first 16 bytes are the AES-128 ack key) and `gateway_shared.key` (the key
//! agreed with the gateway at registration).

use std::path::{Path, PathBuf};
use validator_core::genesis::GenesisHash;

use serde::{Deserialize, Serialize};
use validator_core::files::{read_secret, validate_id, write_secret};

use super::error::NativeError;
use crate::core::ClientKeys;

/// Where a client's files are.
#[derive(Debug, Clone)]
pub struct ClientPaths {
    dir: PathBuf,
}

impl ClientPaths {
    /// The files of client `id` under `home`.
    pub fn new(home: &Path, id: &str) -> Result<Self, NativeError> {
        validate_id(id)?;
        Ok(Self {
            dir: home.join("clients").join(id),
        })
    }

    /// The client's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// The pinned genesis.
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.toml")
    }
    fn identity_key(&self) -> PathBuf {
        self.dir.join("identity.key")
    }
    fn encryption_key(&self) -> PathBuf {
        self.dir.join("encryption.key")
    }
    fn ack_key(&self) -> PathBuf {
        self.dir.join("ack.key")
    }
    fn shared_key(&self) -> PathBuf {
        self.dir.join("gateway_shared.key")
    }

    /// Writes new key files (refusing to overwrite any).
    pub fn write_keys(
        &self,
        identity: &[u8; 32],
        encryption: &[u8; 32],
        ack: &[u8; 32],
        shared: &[u8; 32],
    ) -> Result<(), NativeError> {
        for (path, secret) in [
            (self.identity_key(), identity),
            (self.encryption_key(), encryption),
            (self.ack_key(), ack),
            (self.shared_key(), shared),
        ] {
            write_secret(&path, secret)?;
        }
        Ok(())
    }

    /// The client's keys and the gateway shared key.
    pub fn read_keys(&self) -> Result<(ClientKeys, [u8; 32]), NativeError> {
        let read = |p: PathBuf| read_secret(&p);
        let identity = read(self.identity_key())?;
        let encryption = read(self.encryption_key())?;
        let ack = read(self.ack_key())?;
        let shared = read(self.shared_key())?;
        let mut ack16 = [0u8; 16];
        ack16.copy_from_slice(&ack[..16]);
        Ok((
            ClientKeys::from_secrets(&identity, &encryption, &ack16),
            *shared,
        ))
    }
}

/// `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The client.
    pub client: ClientSection,
    /// Its gateway.
    pub gateway: GatewaySection,
}

/// `[client]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// Its name.
    pub id: String,
    /// Validator API URLs (topology and credentials).
    pub validators: Vec<String>,
    /// The chain's genesis hash, when pinned at `init --genesis-hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<GenesisHash>,
    /// CA certificates (PEM, absolute paths) trusted besides the platform's roots, for
    /// `https://` validators and a `wss://` gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_files: Vec<PathBuf>,
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The gateway's identity key (base58).
    pub identity: String,
    /// Its client websocket URL.
    pub url: String,
}

impl Config {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, NativeError> {
        let text = std::fs::read_to_string(path).map_err(|source| NativeError::NotInitialised {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| NativeError::Config {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    /// Writes it to `path`.
    pub fn save(&self, path: &Path) -> Result<(), NativeError> {
        let text = toml::to_string(self).map_err(|e| NativeError::Encode {
            what: "the client config",
            source: Box::new(e),
        })?;
        std::fs::write(path, text).map_err(NativeError::io("writing", path))
    }

    /// The gateway's identity bytes.
    pub fn gateway_identity(&self) -> Result<[u8; 32], NativeError> {
        let mut out = [0u8; 32];
        match bs58::decode(&self.gateway.identity).onto(&mut out) {
            Ok(32) => Ok(out),
            _ => Err(NativeError::GatewayIdentity {
                identity: self.gateway.identity.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_and_config_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ClientPaths::new(dir.path(), "alice").unwrap();
        std::fs::create_dir_all(paths.dir()).unwrap();
        paths
            .write_keys(&[1; 32], &[2; 32], &[3; 32], &[4; 32])
            .unwrap();
        let (keys, shared) = paths.read_keys().unwrap();
        assert_eq!(shared, [4; 32]);
        assert_eq!(*keys.ack_key, [3; 16]);
        assert!(paths
            .write_keys(&[9; 32], &[9; 32], &[9; 32], &[9; 32])
            .is_err());
        let config = Config {
            client: ClientSection {
                id: "alice".into(),
                validators: vec!["http://127.0.0.1:1".into()],
                genesis_hash: None,
                ca_files: vec!["/etc/mixnet/ca.pem".into()],
            },
            gateway: GatewaySection {
                identity: bs58::encode([7u8; 32]).into_string(),
                url: "ws://127.0.0.1:2".into(),
            },
        };
        config.save(&paths.config()).unwrap();
        let loaded = Config::load(&paths.config()).unwrap();
        assert_eq!(loaded, config);
        assert_eq!(loaded.gateway_identity().unwrap(), [7; 32]);
        assert!(ClientPaths::new(dir.path(), "../escape").is_err());
    }
}
