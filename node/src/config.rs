//! Config files: one way to read, parse and check every node's `config.toml`.
//!
//! Unknown fields are refused, so a misspelt setting is an error naming it rather than a
//! silently ignored line; every error names the file, and a value that parses but cannot be
//! used names its dotted field. A role's config implements [`ConfigFile`] (its `validate`)
//! and gets `load`, `parse` and `to_toml` from it.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A config file that cannot be used, with the file and field named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Cannot read or write it.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not valid TOML, or a field has the wrong type, is missing or unknown (toml's message
    /// names the field and line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's description.
        message: String,
    },
    /// The config could not be encoded as TOML.
    #[error("cannot encode the config: {0}")]
    Encode(String),
    /// A field parsed but its value is not allowed.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The dotted field name.
        field: &'static str,
        /// Why.
        message: String,
    },
}

/// A node's `config.toml`: a serde type with checks beyond its types.
pub trait ConfigFile: Serialize + DeserializeOwned {
    /// Checks every value, naming the field of the file at `path`.
    fn validate(&self, path: &Path) -> Result<(), ConfigError>;

    /// Reads and checks `path`.
    fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&read_config_text(path)?, path)
    }

    /// Parses and checks the text of `path`.
    fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = parse_toml(text, path)?;
        config.validate(path)?;
        Ok(config)
    }

    /// The file's text.
    fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Encode(e.to_string()))
    }
}

/// The text of the config file at `path`.
pub fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Parses TOML `text` of the file at `path` into `T`; toml's message names the field.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// Refuses validator URLs that are not http(s), naming `field` of the file at `path`.
pub fn validate_validator_urls(
    urls: &[String],
    path: &Path,
    field: &'static str,
) -> Result<(), ConfigError> {
    for url in urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                field,
                message: format!("{url:?} is not an http:// or https:// URL"),
            });
        }
    }
    Ok(())
}

/// A field's value that cannot be used, naming the file at `path`.
pub fn invalid(path: &Path, field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.display().to_string(),
        field,
        message: message.into(),
    }
}

/// Makes the process trust `section`'s CA files (relative to the config file at `config`)
/// besides the platform's roots, for `https://` validators and `wss://` gateways.
pub fn trust_ca_files(
    section: &tls::config::TlsSection,
    config: &Path,
) -> Result<(), crate::NodeError> {
    section
        .resolved(config.parent().unwrap_or(Path::new(".")))
        .trust()?;
    Ok(())
}
