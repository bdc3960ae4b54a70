//! The client's identity as it is kept between page loads: its three secrets, the key it
//! shares with its gateway, and which gateway that is. Encoded as JSON (base58 fields) for
//! IndexedDB; a record that does not decode is an error, never a silently new identity.

use client::core::{ClientKeys, Recipient};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// A registered client: keys and gateway.
#[derive(Clone)]
pub struct StoredClient {
    /// ed25519 identity secret.
    pub identity: Zeroizing<[u8; 32]>,
    /// x25519 encryption secret.
    pub encryption: Zeroizing<[u8; 32]>,
    /// The ack key.
    pub ack: Zeroizing<[u8; 16]>,
    /// The key shared with the gateway at registration.
    pub shared: Zeroizing<[u8; 32]>,
    /// The gateway's identity.
    pub gateway: [u8; 32],
    /// The gateway's client websocket URL.
    pub gateway_url: String,
}

impl std::fmt::Debug for StoredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets stay out of logs.
        f.debug_struct("StoredClient")
            .field("gateway", &bs58::encode(self.gateway).into_string())
            .field("gateway_url", &self.gateway_url)
            .finish_non_exhaustive()
    }
}

/// The JSON form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    version: u32,
    identity: String,
    encryption: String,
    ack: String,
    shared: String,
    gateway: String,
    gateway_url: String,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.identity.zeroize();
        self.encryption.zeroize();
        self.ack.zeroize();
        self.shared.zeroize();
    }
}

/// The record's format version.
const VERSION: u32 = 1;

/// Why a stored record is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoredError {
    /// Not the record's JSON.
    #[error("the stored client is not a client record: {0}")]
    Json(String),
    /// A version this build does not read.
    #[error("the stored client has format version {0}; this client reads {VERSION}")]
    Version(u32),
    /// A field of the wrong length.
    #[error("the stored client's {0} is not a key of the right length")]
    Field(&'static str),
}

/// A fresh identity's three secrets (identity, encryption, ack).
pub fn fresh_secrets(rng: &mut (impl RngCore + CryptoRng)) -> ([u8; 32], [u8; 32], [u8; 16]) {
    let (mut identity, mut encryption, mut ack) = ([0u8; 32], [0u8; 32], [0u8; 16]);
    rng.fill_bytes(&mut identity);
    rng.fill_bytes(&mut encryption);
    rng.fill_bytes(&mut ack);
    (identity, encryption, ack)
}

fn decode<const N: usize>(
    text: &str,
    field: &'static str,
) -> Result<Zeroizing<[u8; N]>, StoredError> {
    let mut out = Zeroizing::new([0u8; N]);
    match bs58::decode(text).onto(&mut out[..]) {
        Ok(n) if n == N => Ok(out),
        _ => Err(StoredError::Field(field)),
    }
}

impl StoredClient {
    /// The client's keys.
    pub fn keys(&self) -> ClientKeys {
        ClientKeys::from_secrets(&self.identity, &self.encryption, &self.ack)
    }

    /// The client's address.
    pub fn address(&self) -> Recipient {
        self.keys().address(self.gateway)
    }

    /// The JSON to store.
    pub fn to_json(&self) -> String {
        let record = Record {
            version: VERSION,
            identity: bs58::encode(&self.identity[..]).into_string(),
            encryption: bs58::encode(&self.encryption[..]).into_string(),
            ack: bs58::encode(&self.ack[..]).into_string(),
            shared: bs58::encode(&self.shared[..]).into_string(),
            gateway: bs58::encode(self.gateway).into_string(),
            gateway_url: self.gateway_url.clone(),
        };
        // A struct of strings always serialises.
        serde_json::to_string(&record).unwrap_or_default()
    }

    /// Reads a stored record.
    pub fn from_json(json: &str) -> Result<StoredClient, StoredError> {
        let record: Record =
            serde_json::from_str(json).map_err(|e| StoredError::Json(e.to_string()))?;
        if record.version != VERSION {
            return Err(StoredError::Version(record.version));
        }
        Ok(StoredClient {
            identity: decode(&record.identity, "identity")?,
            encryption: decode(&record.encryption, "encryption key")?,
            ack: decode(&record.ack, "ack key")?,
            shared: decode(&record.shared, "gateway key")?,
            gateway: *decode::<32>(&record.gateway, "gateway identity")?,
            gateway_url: record.gateway_url.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredClient {
        StoredClient {
            identity: Zeroizing::new([1; 32]),
            encryption: Zeroizing::new([2; 32]),
            ack: Zeroizing::new([3; 16]),
            shared: Zeroizing::new([4; 32]),
            gateway: *ed25519_dalek::SigningKey::from_bytes(&[5; 32])
                .verifying_key()
                .as_bytes(),
            gateway_url: "ws://127.0.0.1:9000".into(),
        }
    }

    #[test]
    fn a_stored_client_comes_back_with_the_same_address() {
        let c = sample();
        let back = StoredClient::from_json(&c.to_json()).unwrap();
        assert_eq!(back.address().to_string(), c.address().to_string());
        assert_eq!(*back.shared, *c.shared);
        assert_eq!(back.gateway_url, c.gateway_url);
    }

    #[test]
    fn damaged_records_are_errors() {
        let json = sample().to_json();
        let short = json.replace(&bs58::encode([3u8; 16]).into_string(), "abc");
        assert_eq!(
            StoredClient::from_json(&short).unwrap_err(),
            StoredError::Field("ack key")
        );
        let v2 = json.replace("\"version\":1", "\"version\":2");
        assert_eq!(
            StoredClient::from_json(&v2).unwrap_err(),
            StoredError::Version(2)
        );
        assert!(matches!(
            StoredClient::from_json("[]").unwrap_err(),
            StoredError::Json(_)
        ));
    }
}
