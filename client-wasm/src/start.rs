//! Starting a browser client: the genesis every listed validator serves, a routable
//! threshold-verified topology, the client's identity (from IndexedDB, or new and registered
//! at a gateway), bandwidth bought with a Coconut credential when an account key is given,
//! then the running [`Driver`].

use std::time::Duration;

use client::core::gateway_choice::{choose_gateway, gateway_endpoint, GatewayChoiceError};
use client::core::gateway_session::{answer_counts, Incoming};
use client::core::ClientCore;
use ed25519_dalek::{SigningKey, VerifyingKey};
use gateway_protocol::SharedKey;
use rand_core::OsRng;
use validator_client::{fetch_genesis, obtain_credential, ClientError, PinError, TopologyFetcher};
use validator_core::genesis::Genesis;
use validator_core::primitives::IdentityKey;
use validator_core::topology::Topology;
use zeroize::Zeroizing;

use crate::browser::{sleep, Clock};
use crate::driver::{Driver, EventSink, LinkParams, Parts};
use crate::options::Checked;
use crate::session::{Session, SessionError};
use crate::storage::{self, StorageError};
use crate::stored::{fresh_secrets, StoredClient, StoredError};

/// How long to wait for a topology that can route.
const TOPOLOGY_PATIENCE: Duration = Duration::from_secs(60);
/// How often the topology is fetched again (and just after each epoch ends).
const TOPOLOGY_REFRESH: Duration = Duration::from_secs(30);

/// Why the client did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// No usable genesis.
    #[error("the validators: {0}")]
    Genesis(#[from] PinError),
    /// No topology, or none that routes.
    #[error("the topology: {0}")]
    Topology(String),
    /// No gateway to register at.
    #[error(transparent)]
    Gateway(#[from] GatewayChoiceError),
    /// IndexedDB failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The stored client is unusable.
    #[error(transparent)]
    Stored(#[from] StoredError),
    /// The gateway refused or could not be reached.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Buying bandwidth failed.
    #[error("buying bandwidth: {0}")]
    Credential(ClientError),
}

/// Waits for a routable topology.
async fn routable_topology(fetcher: &TopologyFetcher) -> Result<Topology, StartError> {
    let clock = Clock::start();
    loop {
        let last = match fetcher.fetch(None).await {
            Ok(t) if t.is_routable() => return Ok(t),
            Ok(t) => format!(
                "epoch {} cannot route (a layer or the gateways are empty)",
                t.epoch_id
            ),
            Err(e) => e.to_string(),
        };
        if clock.now() >= TOPOLOGY_PATIENCE {
            return Err(StartError::Topology(last));
        }
        sleep(Duration::from_millis(500)).await;
    }
}

/// The stored client named `name`, if there is one.
async fn load_stored(name: Option<&str>) -> Result<Option<StoredClient>, StartError> {
    let Some(name) = name else {
        return Ok(None);
    };
    match storage::load(name).await? {
        Some(json) => Ok(Some(StoredClient::from_json(&json)?)),
        None => Ok(None),
    }
}

/// A new identity registered at a gateway of `topology`.
async fn register(
    topology: &Topology,
    wanted: Option<&str>,
) -> Result<(StoredClient, Session), StartError> {
    let gateway = choose_gateway(&topology.gateways, wanted, &mut OsRng)?;
    let (url, gateway_key) = gateway_endpoint(gateway)?;
    let (identity, encryption, ack) = fresh_secrets(&mut OsRng);
    let signing = SigningKey::from_bytes(&identity);
    let (session, shared) = Session::register(&url, &signing, &gateway_key).await?;
    let stored = StoredClient {
        identity: Zeroizing::new(identity),
        encryption: Zeroizing::new(encryption),
        ack: Zeroizing::new(ack),
        shared: Zeroizing::new(*shared.as_bytes()),
        gateway: gateway_key.to_bytes(),
        gateway_url: url,
    };
    Ok((stored, session))
}

/// Buys `amount` bytes with `account` and redeems the credential on `session`; returns the
/// bandwidth the gateway holds now. Deliveries that arrive meanwhile go to `early`.
async fn buy_bandwidth(
    session: &mut Session,
    genesis: &Genesis,
    gateway: &VerifyingKey,
    account: &SigningKey,
    amount: u64,
    early: &mut Vec<Incoming>,
) -> Result<u64, StartError> {
    let credential = obtain_credential(genesis, account, amount)
        .await
        .map_err(StartError::Credential)?;
    let at = IdentityKey::from_bytes(gateway.as_bytes())
        .map_err(|e| StartError::Credential(ClientError::Credential(e.to_string())))?;
    let body = credential.present(at).map_err(StartError::Credential)?;
    Ok(session
        .redeem(body, |incoming| early.push(incoming))
        .await?)
}

/// Who the link connects as, and to which gateway, for a stored client.
fn link_params(stored: &StoredClient) -> Result<LinkParams, StartError> {
    let gateway = VerifyingKey::from_bytes(&stored.gateway).map_err(|source| {
        GatewayChoiceError::GatewayKey {
            identity: bs58::encode(stored.gateway).into_string(),
            source,
        }
    })?;
    Ok(LinkParams {
        url: stored.gateway_url.clone(),
        identity: SigningKey::from_bytes(&stored.identity),
        gateway,
        shared: SharedKey::from_bytes(*stored.shared),
    })
}

/// Starts a client with the page's checked options; `events` receives its events.
pub async fn start(options: Checked, events: EventSink) -> Result<Driver, StartError> {
    let genesis = fetch_genesis(&options.validators, options.genesis_hash).await?;
    let fetcher =
        TopologyFetcher::new(genesis.clone()).map_err(|e| StartError::Topology(e.to_string()))?;
    let topology = routable_topology(&fetcher).await?;

    let (stored, mut session) = match load_stored(options.storage.as_deref()).await? {
        Some(stored) => {
            let p = link_params(&stored)?;
            let session = Session::authenticate(&p.url, &p.identity, &p.gateway, &p.shared).await?;
            (stored, session)
        }
        None => {
            let (stored, session) = register(&topology, options.gateway.as_deref()).await?;
            if let Some(name) = &options.storage {
                storage::save(name, &stored.to_json()).await?;
            }
            (stored, session)
        }
    };
    let params = link_params(&stored)?;

    let mut early = Vec::new();
    let mut bandwidth = answer_counts(&session.answer).0;
    if let Some((account, amount)) = &options.account {
        // Topped up when less than half of what the page asks for is left.
        if bandwidth < amount / 2 {
            bandwidth = buy_bandwidth(
                &mut session,
                &genesis,
                &params.gateway,
                account,
                *amount,
                &mut early,
            )
            .await?;
        }
    }

    let mut config = options.core;
    if let Some(rotation) = genesis.key_rotation {
        // Replies may use SURBs of the previous rotation for half the network's overlap, as
        // the native client does.
        config.previous_rotation_surbs_for = Duration::from_millis(rotation.overlap_ms / 2);
    }
    let clock = Clock::start();
    let mut core = ClientCore::new(
        config,
        stored.keys(),
        stored.gateway,
        clock.now(),
        &mut OsRng,
    );
    core.handle_topology(&topology);
    // What arrived while the credential was redeemed (stored messages pushed at once): into
    // the core, then confirmed, so the mailbox does not send it again.
    let mut confirm = Vec::new();
    for incoming in early {
        if let Incoming::Delivery {
            kind,
            stored_id,
            bytes,
        } = incoming
        {
            core.handle_delivery(kind, &bytes, clock.now());
            confirm.extend(stored_id);
        }
    }
    if !confirm.is_empty() {
        session
            .send_control(&gateway_protocol::ClientControl::Received { ids: confirm })
            .await?;
    }
    let parts = Parts {
        core,
        clock,
        session,
        params,
        fetcher,
        topology: (topology.epoch_id, topology.valid_until_ms),
        refresh: TOPOLOGY_REFRESH,
        bandwidth,
    };
    Ok(Driver::start(parts, events))
}
