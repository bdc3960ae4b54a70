//! What a page passes to `MixnetClient.start`, read and checked before anything connects: a
//! mistake is an error that names the option, never a client that half starts.

use std::time::Duration;

use client::core::CoreConfig;
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use validator_core::genesis::GenesisHash;
use zeroize::Zeroizing;

/// Bandwidth bought with an account key when the page does not say how much (bytes).
pub const DEFAULT_BANDWIDTH: u64 = 64 << 20;
/// The most bandwidth one start buys (bytes).
pub const MAX_BANDWIDTH: u64 = 1 << 40;
/// Most validator URLs a page may list.
pub const MAX_VALIDATORS: usize = 64;
/// Longest storage name (the IndexedDB key the client's keys live under).
pub const MAX_STORAGE_NAME: usize = 128;
/// The shortest gap a page may set for a cover or sending stream: shorter would be a flood
/// the gateway's rate limits refuse anyway.
pub const MIN_GAP_MS: f64 = 1.0;
/// The longest gap (one hour).
pub const MAX_GAP_MS: f64 = 3_600_000.0;

/// The options as the page writes them (JSON, camelCase).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartOptions {
    /// Validator API base URLs (`http://…` or `https://…`).
    #[serde(default)]
    pub validators: Vec<String>,
    /// The gateway's identity (base58); chosen at random from the topology when absent.
    #[serde(default)]
    pub gateway: Option<String>,
    /// A funded account's secret key (64 hex digits or base58) that pays for bandwidth.
    #[serde(default)]
    pub account_key: Option<String>,
    /// Bandwidth to buy with the account key (bytes).
    #[serde(default)]
    pub bandwidth: Option<u64>,
    /// A name to keep the client's keys under in IndexedDB (the address survives a reload);
    /// absent: keys in memory only.
    #[serde(default)]
    pub storage: Option<String>,
    /// The chain's genesis hash, when the page knows it from a source it trusts.
    #[serde(default)]
    pub genesis_hash: Option<String>,
    /// Sending and cover timing; the native client's defaults otherwise.
    #[serde(default)]
    pub timing: Timing,
}

/// Timing the page may set (milliseconds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timing {
    /// Mean gap of the real-traffic Poisson stream.
    #[serde(default)]
    pub send_gap_ms: Option<f64>,
    /// Mean gap of the loop-cover stream; `0` turns it off.
    #[serde(default)]
    pub loop_cover_gap_ms: Option<f64>,
    /// Mean Sphinx delay per hop.
    #[serde(default)]
    pub per_hop_delay_ms: Option<f64>,
    /// Whether idle slots of the real stream carry loop cover.
    #[serde(default)]
    pub cover_in_idle_slots: Option<bool>,
}

/// Why the options were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum OptionsError {
    /// Not the JSON shape of the options.
    #[error("options: {0}")]
    Json(String),
    /// No validator URL.
    #[error("options.validators: at least one validator URL is needed")]
    NoValidators,
    /// Too many validator URLs.
    #[error("options.validators: at most {MAX_VALIDATORS} URLs")]
    TooManyValidators,
    /// A validator URL that is not http(s).
    #[error("options.validators: {0:?} is not an http:// or https:// URL")]
    BadValidator(String),
    /// The account key is not 32 bytes in hex or base58.
    #[error("options.accountKey: not a 32-byte key in hex or base58")]
    BadAccountKey,
    /// The gateway identity is not a 32-byte base58 key.
    #[error("options.gateway: {0:?} is not a 32-byte base58 identity")]
    BadGateway(String),
    /// The bandwidth is zero or above the limit.
    #[error("options.bandwidth: between 1 and {MAX_BANDWIDTH} bytes")]
    BadBandwidth,
    /// The storage name is empty or too long.
    #[error("options.storage: a name of 1 to {MAX_STORAGE_NAME} characters")]
    BadStorage,
    /// The genesis hash does not parse.
    #[error("options.genesisHash: {0}")]
    BadGenesisHash(String),
    /// A timing value out of range.
    #[error("options.timing.{field}: {value} ms is outside {MIN_GAP_MS}..={MAX_GAP_MS}")]
    BadTiming {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
}

/// Checked options, ready to use.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Validator URLs.
    pub validators: Vec<String>,
    /// The gateway asked for (base58).
    pub gateway: Option<String>,
    /// The account that pays, with the bandwidth to buy.
    pub account: Option<(SigningKey, u64)>,
    /// The IndexedDB name.
    pub storage: Option<String>,
    /// The expected chain.
    pub genesis_hash: Option<GenesisHash>,
    /// The core's settings.
    pub core: CoreConfig,
}

impl StartOptions {
    /// Reads the options from the page's JSON.
    pub fn from_json(json: &str) -> Result<StartOptions, OptionsError> {
        serde_json::from_str(json).map_err(|e| OptionsError::Json(e.to_string()))
    }

    /// Checks every option.
    pub fn check(self) -> Result<Checked, OptionsError> {
        if self.validators.is_empty() {
            return Err(OptionsError::NoValidators);
        }
        if self.validators.len() > MAX_VALIDATORS {
            return Err(OptionsError::TooManyValidators);
        }
        for v in &self.validators {
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                return Err(OptionsError::BadValidator(v.clone()));
            }
        }
        if let Some(g) = &self.gateway {
            let mut out = [0u8; 32];
            if bs58::decode(g).onto(&mut out) != Ok(32) {
                return Err(OptionsError::BadGateway(g.clone()));
            }
        }
        let bandwidth = self.bandwidth.unwrap_or(DEFAULT_BANDWIDTH);
        if bandwidth == 0 || bandwidth > MAX_BANDWIDTH {
            return Err(OptionsError::BadBandwidth);
        }
        let account = match &self.account_key {
            Some(text) => Some((parse_secret_key(text)?, bandwidth)),
            None => None,
        };
        if let Some(s) = &self.storage {
            if s.is_empty() || s.chars().count() > MAX_STORAGE_NAME {
                return Err(OptionsError::BadStorage);
            }
        }
        let genesis_hash = match &self.genesis_hash {
            Some(h) => Some(
                h.parse::<GenesisHash>()
                    .map_err(|e| OptionsError::BadGenesisHash(e.to_string()))?,
            ),
            None => None,
        };
        let core = self.timing.core_config()?;
        Ok(Checked {
            validators: self.validators,
            gateway: self.gateway,
            account,
            storage: self.storage,
            genesis_hash,
            core,
        })
    }
}

impl Timing {
    /// The core's settings: the native client's defaults with the page's timing.
    pub fn core_config(&self) -> Result<CoreConfig, OptionsError> {
        let mut core = CoreConfig::default();
        if let Some(ms) = self.send_gap_ms {
            core.send_gap = gap("sendGapMs", ms)?;
        }
        if let Some(ms) = self.per_hop_delay_ms {
            // A zero delay is a valid choice (a test network); only the range is checked.
            if ms != 0.0 {
                core.per_hop_delay = gap("perHopDelayMs", ms)?;
            } else {
                core.per_hop_delay = Duration::ZERO;
            }
        }
        match self.loop_cover_gap_ms {
            Some(0.0) => core.loop_cover_gap = None,
            Some(ms) => core.loop_cover_gap = Some(gap("loopCoverGapMs", ms)?),
            None => {}
        }
        if let Some(idle) = self.cover_in_idle_slots {
            core.cover_in_idle_slots = idle;
        }
        Ok(core)
    }
}

fn gap(field: &'static str, value: f64) -> Result<Duration, OptionsError> {
    if !(MIN_GAP_MS..=MAX_GAP_MS).contains(&value) {
        return Err(OptionsError::BadTiming { field, value });
    }
    Ok(Duration::from_secs_f64(value / 1000.0))
}

/// A 32-byte ed25519 secret key, as 64 hex digits or base58.
pub fn parse_secret_key(text: &str) -> Result<SigningKey, OptionsError> {
    let text = text.trim();
    let mut bytes = Zeroizing::new([0u8; 32]);
    let hex_ok = text.len() == 64
        && text.is_ascii()
        && (0..32).all(|i| {
            u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map(|b| bytes[i] = b)
                .is_ok()
        });
    if !hex_ok && bs58::decode(text).onto(&mut bytes[..]) != Ok(32) {
        return Err(OptionsError::BadAccountKey);
    }
    Ok(SigningKey::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Checked, OptionsError> {
        StartOptions::from_json(json)?.check()
    }

    #[test]
    fn the_smallest_options_take_the_native_defaults() {
        let c = parse(r#"{"validators":["http://127.0.0.1:1"]}"#).unwrap();
        let d = CoreConfig::default();
        assert_eq!(c.core.send_gap, d.send_gap);
        assert_eq!(c.core.loop_cover_gap, d.loop_cover_gap);
        assert_eq!(c.core.per_hop_delay, d.per_hop_delay);
        assert!(c.account.is_none() && c.storage.is_none() && c.gateway.is_none());
    }

    #[test]
    fn timing_is_taken_and_checked() {
        let c = parse(
            r#"{"validators":["https://v"],"timing":{"sendGapMs":5,"loopCoverGapMs":0,"perHopDelayMs":0}}"#,
        )
        .unwrap();
        assert_eq!(c.core.send_gap, Duration::from_millis(5));
        assert_eq!(c.core.loop_cover_gap, None);
        assert_eq!(c.core.per_hop_delay, Duration::ZERO);
        let e = parse(r#"{"validators":["https://v"],"timing":{"sendGapMs":0.01}}"#).unwrap_err();
        assert!(matches!(
            e,
            OptionsError::BadTiming {
                field: "sendGapMs",
                ..
            }
        ));
        let e =
            parse(r#"{"validators":["https://v"],"timing":{"loopCoverGapMs":-5}}"#).unwrap_err();
        assert!(e.to_string().contains("loopCoverGapMs"), "{e}");
    }

    #[test]
    fn bad_options_are_named() {
        assert_eq!(parse("{}").unwrap_err(), OptionsError::NoValidators);
        assert!(matches!(
            parse(r#"{"validators":["ftp://x"]}"#).unwrap_err(),
            OptionsError::BadValidator(_)
        ));
        assert_eq!(
            parse(r#"{"validators":["http://x"],"accountKey":"nope"}"#).unwrap_err(),
            OptionsError::BadAccountKey
        );
        assert!(matches!(
            parse(r#"{"validators":["http://x"],"gateway":"0OIl"}"#).unwrap_err(),
            OptionsError::BadGateway(_)
        ));
        assert_eq!(
            parse(r#"{"validators":["http://x"],"bandwidth":0}"#).unwrap_err(),
            OptionsError::BadBandwidth
        );
        assert_eq!(
            parse(r#"{"validators":["http://x"],"storage":""}"#).unwrap_err(),
            OptionsError::BadStorage
        );
        let unknown = parse(r#"{"validators":["http://x"],"gatway":"x"}"#).unwrap_err();
        assert!(unknown.to_string().contains("gatway"), "{unknown}");
    }

    #[test]
    fn account_keys_read_as_hex_or_base58() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let b58 = bs58::encode(key.to_bytes()).into_string();
        for text in [hex, b58] {
            let parsed = parse_secret_key(&text).unwrap();
            assert_eq!(parsed.to_bytes(), key.to_bytes());
        }
        assert_eq!(
            parse_secret_key(&"zz".repeat(32)).unwrap_err(),
            OptionsError::BadAccountKey
        );
    }
}
