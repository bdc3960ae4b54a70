//! `client init`: keys, the pinned genesis, a gateway (chosen from the verified topology when
//! none is named), registration, and optionally a bandwidth credential redeemed at once.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use gateway_protocol::ClientControl;
use rand_core::{OsRng, RngCore};
use validator_client::{load_or_fetch_genesis, obtain_credential, TopologyFetcher};
use validator_core::files::read_secret;
use validator_core::genesis::{Genesis, GenesisHash};
use validator_core::primitives::IdentityKey;

use super::error::NativeError;
use super::files::{ClientPaths, ClientSection, Config, GatewaySection};
use super::session::Session;
use crate::core::gateway_choice::{choose_gateway, gateway_endpoint};
use crate::core::ClientKeys;

/// `client init` options.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Validator API URLs.
    pub validators: Vec<String>,
    /// The gateway's identity (base58); chosen at random from the topology when `None`.
    pub gateway: Option<String>,
    /// A genesis account key file to pay for a bandwidth credential.
    pub account_key: Option<PathBuf>,
    /// Bandwidth to buy, bytes.
    pub bandwidth: u64,
    /// The chain's genesis hash from a source the user trusts; `None` trusts the first
    /// download.
    pub genesis_hash: Option<GenesisHash>,
    /// CA certificates (PEM) trusted besides the platform's roots for `https://` validators
    /// and a `wss://` gateway; kept in the config.
    pub ca_files: Vec<PathBuf>,
}

/// What `init` prints.
#[derive(Debug, serde::Serialize)]
pub struct Initialised {
    /// The client's id.
    pub id: String,
    /// Its address.
    pub address: String,
    /// Its gateway's identity.
    pub gateway: String,
    /// Its directory.
    pub dir: String,
    /// Bandwidth at the gateway after init.
    pub bandwidth: u64,
}

/// Buys `bytes` of bandwidth with `account`'s funds and redeems the credential at the
/// gateway of `session` (whose identity is `gateway`: the presentation is made for it alone);
/// returns the bandwidth the gateway holds for us now.
async fn buy_bandwidth(
    session: &mut Session,
    gateway: IdentityKey,
    genesis: &Genesis,
    account: &SigningKey,
    bytes: u64,
) -> Result<u64, NativeError> {
    let credential = obtain_credential(genesis, account, bytes)
        .await
        .map_err(|source| NativeError::Credential { source })?;
    let body = credential.present(gateway)?;
    session
        .send_control(&ClientControl::Bandwidth {
            credential: Box::new(body),
        })
        .await?;
    Ok(session.bandwidth_answer().await?)
}

/// Creates client `id`.
pub async fn init(
    paths: &ClientPaths,
    id: &str,
    options: InitOptions,
) -> Result<Initialised, NativeError> {
    if paths.config().exists() {
        return Err(NativeError::AlreadyInitialised {
            path: paths.config(),
            id: id.to_owned(),
        });
    }
    if options.validators.is_empty() {
        return Err(NativeError::NoValidators);
    }
    let account = match &options.account_key {
        Some(path) => Some(SigningKey::from_bytes(&*read_secret(path)?)),
        None => None,
    };
    let ca_files = options
        .ca_files
        .iter()
        .map(|p| std::path::absolute(p).map_err(NativeError::io("resolving", p)))
        .collect::<Result<Vec<_>, _>>()?;
    tls::client::trust_ca_files(&ca_files)?;
    std::fs::create_dir_all(paths.dir()).map_err(NativeError::io("creating", paths.dir()))?;
    let genesis =
        load_or_fetch_genesis(&options.validators, &paths.genesis(), options.genesis_hash).await?;
    let fetcher = TopologyFetcher::new(genesis.clone())?;
    let topology = fetcher.fetch(None).await?;
    let gateway = choose_gateway(&topology.gateways, options.gateway.as_deref(), &mut OsRng)?;
    let (url, gateway_key) = gateway_endpoint(gateway)?;

    let mut secrets = [[0u8; 32]; 3];
    for s in &mut secrets {
        OsRng.fill_bytes(s);
    }
    let [identity, encryption, ack] = secrets;
    let signing = SigningKey::from_bytes(&identity);
    let (mut session, shared) = Session::register(&url, &signing, &gateway_key).await?;
    let bandwidth = match &account {
        Some(account) => {
            let at = gateway.identity_key;
            buy_bandwidth(&mut session, at, &genesis, account, options.bandwidth).await?
        }
        None => match &session.answer {
            gateway_protocol::GatewayControl::Registered { bandwidth, .. } => *bandwidth,
            _ => 0,
        },
    };
    paths.write_keys(&identity, &encryption, &ack, shared.as_bytes())?;
    let config = Config {
        client: ClientSection {
            id: id.to_owned(),
            validators: options.validators.clone(),
            genesis_hash: options.genesis_hash,
            ca_files,
        },
        gateway: GatewaySection {
            identity: gateway.identity_key.to_string(),
            url,
        },
    };
    config.save(&paths.config())?;
    let mut ack16 = [0u8; 16];
    ack16.copy_from_slice(&ack[..16]);
    let keys = ClientKeys::from_secrets(&identity, &encryption, &ack16);
    Ok(Initialised {
        id: id.to_owned(),
        address: keys.address(*gateway.identity_key.as_bytes()).to_string(),
        gateway: gateway.identity_key.to_string(),
        dir: paths.dir().display().to_string(),
        bandwidth,
    })
}
