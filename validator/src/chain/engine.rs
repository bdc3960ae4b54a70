//! Starting Malachite for this validator: its configuration (from the genesis and the
//! `[chain]` section), the `Node` trait the engine reads keys and its home directory
//! through, and the engine handle.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use ed25519_dalek::{SigningKey, VerifyingKey};
use malachitebft_app_channel::app::config::{
    ConsensusConfig, P2pConfig, TimeoutConfig, ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::events::RxEvent;
use malachitebft_app_channel::app::node::{EngineHandle, Node, NodeConfig, NodeHandle};
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::Channels;
use serde::{Deserialize, Serialize};

use super::codec::BorshCodec;
use super::context::{Address, ChainContext, Height, ValidatorSet};
use super::signing::Provider;
use crate::service::config::ChainSection;
use validator_core::genesis::{Genesis, GenesisHash};
use validator_core::primitives::IdentityKey;

/// What the engine reads through [`NodeConfig`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Names this validator in the engine's metrics.
    pub moniker: String,
    /// Consensus and networking.
    pub consensus: ConsensusConfig,
    /// Catch-up.
    pub value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
}

/// Why the engine could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// This validator is not in the genesis.
    #[error("identity {0} is not a validator of this genesis")]
    NotAValidator(IdentityKey),
    /// An address does not make a multiaddr.
    #[error("p2p address {0}: {1}")]
    Address(SocketAddr, String),
    /// The engine failed to start.
    #[error("consensus engine: {0}")]
    Start(String),
    /// The consensus address cannot be bound (the engine would only log this and never
    /// decide, so it is checked before it starts).
    #[error("cannot listen on the consensus address {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

fn multiaddr<T: std::str::FromStr>(addr: SocketAddr) -> Result<T, EngineError>
where
    T::Err: std::fmt::Display,
{
    let text = match addr {
        SocketAddr::V4(a) => format!("/ip4/{}/tcp/{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("/ip6/{}/tcp/{}", a.ip(), a.port()),
    };
    text.parse()
        .map_err(|e: T::Err| EngineError::Address(addr, e.to_string()))
}

/// The engine configuration of validator `me`: listen where the genesis (or `[chain]
/// p2p_listen`) says, dial every other genesis validator, carry blocks as proposal parts.
pub fn engine_config(
    genesis: &Genesis,
    me: IdentityKey,
    chain: &ChainSection,
) -> Result<EngineConfig, EngineError> {
    let own = genesis
        .validators
        .iter()
        .find(|v| v.identity_key == me)
        .ok_or(EngineError::NotAValidator(me))?;
    let listen = chain.p2p_listen.unwrap_or(own.p2p_address);
    std::net::TcpListener::bind(listen).map_err(|source| EngineError::Listen {
        addr: listen,
        source,
    })?;
    let peers = genesis
        .validators
        .iter()
        .filter(|v| v.identity_key != me)
        .map(|v| multiaddr(v.p2p_address))
        .collect::<Result<Vec<_>, _>>()?;
    let propose = Duration::from_millis(chain.timeout_propose_ms);
    let vote = Duration::from_millis(chain.timeout_vote_ms);
    let timeouts = TimeoutConfig {
        timeout_propose: propose,
        timeout_propose_delta: propose / 2,
        timeout_prevote: vote,
        timeout_prevote_delta: vote / 2,
        timeout_precommit: vote,
        timeout_precommit_delta: vote / 2,
        timeout_rebroadcast: propose + vote + vote,
    };
    let status_interval = Duration::from_millis(chain.sync_status_interval_ms);
    Ok(EngineConfig {
        moniker: format!("validator-{me}"),
        consensus: ConsensusConfig {
            timeouts,
            p2p: P2pConfig {
                listen_addr: multiaddr(listen)?,
                persistent_peers: peers,
                ..P2pConfig::default()
            },
            // The proposal carries the block id; the block itself streams as parts, which
            // is where this application validates it before voting.
            value_payload: ValuePayload::ProposalAndParts,
            queue_capacity: 0,
        },
        value_sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: status_interval,
            request_timeout: (status_interval * 3).max(Duration::from_secs(5)),
            ..ValueSyncConfig::default()
        },
    })
}

/// The engine's view of this validator: its home (for the WAL) and its key.
#[derive(Clone)]
pub struct ValidatorNode {
    home: PathBuf,
    key: SigningKey,
    genesis_hash: GenesisHash,
    validators: ValidatorSet,
    config: EngineConfig,
}

impl std::fmt::Debug for ValidatorNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorNode")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

/// The key as the engine stores it (never written: this validator's key file is ours).
#[derive(Serialize, Deserialize)]
pub struct KeySeed([u8; 32]);

/// [`NodeHandle`] over the running engine.
pub struct RunningEngine {
    handle: EngineHandle,
    events: malachitebft_app_channel::app::events::TxEvent<ChainContext>,
}

#[async_trait]
impl NodeHandle<ChainContext> for RunningEngine {
    fn subscribe(&self) -> RxEvent<ChainContext> {
        self.events.subscribe()
    }

    async fn kill(&self, _reason: Option<String>) -> eyre::Result<()> {
        self.handle.actor.kill_and_wait(None).await?;
        Ok(())
    }
}

#[async_trait]
impl Node for ValidatorNode {
    type Context = ChainContext;
    type Config = EngineConfig;
    type Genesis = ();
    type PrivateKeyFile = KeySeed;
    type SigningProvider = Provider;
    type NodeHandle = RunningEngine;

    async fn start(&self) -> eyre::Result<RunningEngine> {
        let (channels, handle) = self.start_engine().await?;
        Ok(RunningEngine {
            handle,
            events: channels.events,
        })
    }

    async fn run(self) -> eyre::Result<()> {
        let running = self.start().await?;
        running.handle.handle.await?;
        Ok(())
    }

    fn get_home_dir(&self) -> PathBuf {
        self.home.clone()
    }

    fn load_config(&self) -> eyre::Result<EngineConfig> {
        Ok(self.config.clone())
    }

    fn get_address(&self, pk: &VerifyingKey) -> Address {
        Address(pk.to_bytes())
    }

    fn get_public_key(&self, pk: &SigningKey) -> VerifyingKey {
        pk.verifying_key()
    }

    fn get_keypair(&self, pk: SigningKey) -> Keypair {
        let mut seed = pk.to_bytes();
        // An ed25519 secret is any 32 bytes, so this cannot fail; a keypair from the
        // same seed gives the validator a peer id derived from its identity key.
        Keypair::ed25519_from_bytes(&mut seed).unwrap_or_else(|_| Keypair::generate_ed25519())
    }

    fn load_private_key(&self, file: KeySeed) -> SigningKey {
        SigningKey::from_bytes(&file.0)
    }

    fn load_private_key_file(&self) -> eyre::Result<KeySeed> {
        Ok(KeySeed(self.key.to_bytes()))
    }

    fn load_genesis(&self) -> eyre::Result<()> {
        Ok(())
    }

    fn get_signing_provider(&self, private_key: SigningKey) -> Provider {
        Provider::new(private_key, self.genesis_hash)
    }
}

impl ValidatorNode {
    /// The node for `key` with its consensus files (the WAL) under `home`.
    pub fn new(home: PathBuf, key: SigningKey, genesis: &Genesis, config: EngineConfig) -> Self {
        Self {
            home,
            key,
            genesis_hash: genesis.genesis_hash(),
            validators: ValidatorSet::from_genesis(genesis),
            config,
        }
    }

    /// Starts the engine (inside a tokio runtime). The real start height is what the
    /// application answers to `ConsensusReady`.
    pub async fn start_engine(&self) -> eyre::Result<(Channels<ChainContext>, EngineHandle)> {
        malachitebft_app_channel::start_engine(
            ChainContext,
            self.clone(),
            self.config.clone(),
            BorshCodec,
            BorshCodec,
            Some(Height(1)),
            self.validators.clone(),
        )
        .await
    }
}
