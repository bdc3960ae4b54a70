//! Which gateway a new client registers at: the one asked for, or one at random among the
//! topology's gateways that announce a client address; and that gateway's endpoint.

use ed25519_dalek::VerifyingKey;
use rand_core::RngCore;
use validator_core::topology::TopologyGateway;

/// Why no gateway could be chosen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayChoiceError {
    /// The gateway asked for is not in the topology with a client address.
    #[error("gateway {identity} is not in the current topology with a client address")]
    UnknownGateway {
        /// The identity given.
        identity: String,
    },
    /// The topology offers clients no gateway at all.
    #[error("the topology has no gateway with a client address")]
    NoGateway,
    /// The chosen gateway announced no client websocket address.
    #[error("the gateway {identity} announced no client address")]
    NoClientAddress {
        /// The gateway's identity.
        identity: String,
    },
    /// The gateway's identity is 32 bytes but not an ed25519 public key.
    #[error("the gateway identity {identity}: {source}")]
    GatewayKey {
        /// The identity (base58).
        identity: String,
        /// Why it is not a key.
        source: ed25519_dalek::SignatureError,
    },
}

/// The gateway named `wanted` (base58 identity), or one chosen uniformly at random among
/// those with a client address.
pub fn choose_gateway<'a>(
    gateways: &'a [TopologyGateway],
    wanted: Option<&str>,
    rng: &mut impl RngCore,
) -> Result<&'a TopologyGateway, GatewayChoiceError> {
    let usable: Vec<&TopologyGateway> = gateways
        .iter()
        .filter(|g| g.clients_address.is_some())
        .collect();
    match wanted {
        Some(w) => usable
            .into_iter()
            .find(|g| g.identity_key.to_string() == w)
            .ok_or_else(|| GatewayChoiceError::UnknownGateway {
                identity: w.to_owned(),
            }),
        None => {
            if usable.is_empty() {
                return Err(GatewayChoiceError::NoGateway);
            }
            let i = usize::try_from(rng.next_u64() % usable.len() as u64).unwrap_or(0);
            Ok(usable[i])
        }
    }
}

/// The gateway's client URL and identity key.
pub fn gateway_endpoint(
    gateway: &TopologyGateway,
) -> Result<(String, VerifyingKey), GatewayChoiceError> {
    let identity = || gateway.identity_key.to_string();
    let url =
        gateway
            .clients_address
            .clone()
            .ok_or_else(|| GatewayChoiceError::NoClientAddress {
                identity: identity(),
            })?;
    let key = VerifyingKey::from_bytes(gateway.identity_key.as_bytes()).map_err(|source| {
        GatewayChoiceError::GatewayKey {
            identity: identity(),
            source,
        }
    })?;
    Ok((url, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use rand_chacha::rand_core::SeedableRng;
    use validator_core::primitives::{IdentityKey, SphinxKey};

    fn gateway(seed: u8, url: Option<&str>) -> TopologyGateway {
        let identity = SigningKey::from_bytes(&[seed; 32]);
        TopologyGateway {
            identity_key: IdentityKey::from(&identity),
            sphinx_key: SphinxKey::from_bytes([seed; 32]).unwrap(),
            next_sphinx_key: None,
            address: "127.0.0.1:1789".parse().unwrap(),
            clients_address: url.map(str::to_owned),
            noise_key: None,
        }
    }

    #[test]
    fn only_gateways_with_a_client_address_are_chosen() {
        let gateways = [gateway(1, None), gateway(2, Some("ws://127.0.0.1:9000"))];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            let g = choose_gateway(&gateways, None, &mut rng).unwrap();
            assert_eq!(g.identity_key, gateways[1].identity_key);
        }
        let named = gateways[0].identity_key.to_string();
        assert!(matches!(
            choose_gateway(&gateways, Some(&named), &mut rng),
            Err(GatewayChoiceError::UnknownGateway { .. })
        ));
        assert!(matches!(
            choose_gateway(&gateways[..1], None, &mut rng),
            Err(GatewayChoiceError::NoGateway)
        ));
        let (url, key) = gateway_endpoint(&gateways[1]).unwrap();
        assert_eq!(url, "ws://127.0.0.1:9000");
        assert_eq!(key.to_bytes(), *gateways[1].identity_key.as_bytes());
        assert!(matches!(
            gateway_endpoint(&gateways[0]),
            Err(GatewayChoiceError::NoClientAddress { .. })
        ));
    }
}
