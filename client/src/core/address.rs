//! Client addresses in Nym's form: `bs58(identity).bs58(encryption)@bs58(gateway)`.
//!
//! The identity (ed25519) is what the recipient's gateway delivers to (the Sphinx
//! destination); the encryption key (x25519) is what senders encrypt each fragment to, so the
//! gateway never reads a message; the gateway identity says which gateway is the packet's
//! last hop.

use std::fmt;
use std::str::FromStr;

/// Where messages to a client go.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Recipient {
    /// The client's ed25519 identity key: the Sphinx destination at its gateway.
    pub identity: [u8; 32],
    /// The client's x25519 key that fragments are encrypted to.
    pub encryption: [u8; 32],
    /// The ed25519 identity of the client's gateway.
    pub gateway: [u8; 32],
}

/// Why a string is not an address.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Not `identity.encryption@gateway`.
    #[error("an address has the form identity.encryption@gateway")]
    Shape,
    /// A part is not 32 bytes of base58.
    #[error("the {0} part of the address is not a 32-byte base58 key")]
    Key(&'static str),
}

fn key(part: &str, name: &'static str) -> Result<[u8; 32], AddressError> {
    let mut out = [0u8; 32];
    match bs58::decode(part).onto(&mut out) {
        Ok(32) => Ok(out),
        _ => Err(AddressError::Key(name)),
    }
}

impl FromStr for Recipient {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (client, gateway) = s.split_once('@').ok_or(AddressError::Shape)?;
        let (identity, encryption) = client.split_once('.').ok_or(AddressError::Shape)?;
        if gateway.contains(['@', '.']) || encryption.contains('.') {
            return Err(AddressError::Shape);
        }
        Ok(Recipient {
            identity: key(identity, "identity")?,
            encryption: key(encryption, "encryption")?,
            gateway: key(gateway, "gateway")?,
        })
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}@{}",
            bs58::encode(self.identity).into_string(),
            bs58::encode(self.encryption).into_string(),
            bs58::encode(self.gateway).into_string()
        )
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn display_and_parse_round_trip(i in any::<[u8; 32]>(), e in any::<[u8; 32]>(), g in any::<[u8; 32]>()) {
            let r = Recipient { identity: i, encryption: e, gateway: g };
            prop_assert_eq!(r.to_string().parse::<Recipient>().unwrap(), r);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in ".{0,200}") {
            let _ = s.parse::<Recipient>();
        }
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        let k = bs58::encode([7u8; 32]).into_string();
        let short = bs58::encode([7u8; 31]).into_string();
        assert_eq!(
            format!("{k}.{k}").parse::<Recipient>(),
            Err(AddressError::Shape)
        );
        assert_eq!(
            format!("{k}@{k}").parse::<Recipient>(),
            Err(AddressError::Shape)
        );
        assert_eq!(
            format!("{k}.{k}@{k}@{k}").parse::<Recipient>(),
            Err(AddressError::Shape)
        );
        assert_eq!(
            format!("{short}.{k}@{k}").parse::<Recipient>(),
            Err(AddressError::Key("identity"))
        );
        assert_eq!(
            format!("{k}.{k}@0OIl").parse::<Recipient>(),
            Err(AddressError::Key("gateway"))
        );
        assert!(format!("{k}.{k}@{k}").parse::<Recipient>().is_ok());
    }
}
