//! Relay of admitted transactions to the other validators' mempools: one task per peer, a
//! bounded queue, messages in order, retried with backoff while the peer is unreachable or
//! busy. Each request is signed with this validator's identity key
//! ([`validator_core::peer_auth`]): the others read relays only from the chain's validators.
//! Consensus does not depend on it (a transaction reaches a block as soon as a
//! validator that holds it proposes); it makes a transaction submitted to one validator
//! show up in the next block whoever proposes it.
//!
//! A transaction the peer refuses with a 4xx other than 429 is not retried (it conflicts
//! with one the peer holds, or a block already decided it). A message still undelivered after the deadline
//! given to [`Peers::start`] is dropped; a full queue drops new messages for that peer.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;

use tokio::sync::mpsc;
use tokio::time::Instant;

use validator_client::ValidatorClient;
use validator_core::api;
use validator_core::chain::Transaction;
use validator_core::genesis::GenesisHash;
use validator_core::primitives::IdentityKey;

/// Messages queued per peer.
pub const PEER_QUEUE: usize = 4096;
/// First retry delay.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(50);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Link {
    key: IdentityKey,
    tx: mpsc::Sender<Transaction>,
}

/// The links to every other validator.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    links: Vec<Link>,
}

impl Peers {
    /// Starts a delivery task per peer (on the current tokio runtime), signing as
    /// `identity` on the chain `genesis`. Messages are given up after `message_deadline`.
    pub fn start(
        peers: Vec<(IdentityKey, ValidatorClient)>,
        message_deadline: Duration,
        identity: SigningKey,
        genesis: GenesisHash,
    ) -> Self {
        let signer = Arc::new(Signer { identity, genesis });
        let links = peers
            .into_iter()
            .map(|(key, client)| {
                let (tx, rx) = mpsc::channel(PEER_QUEUE);
                let signer = Arc::clone(&signer);
                tokio::spawn(deliver(key, client, signer, rx, message_deadline));
                Link { key, tx }
            })
            .collect();
        Self { links }
    }

    /// Queues `message` for every peer.
    pub fn broadcast(&self, message: Transaction) {
        for link in &self.links {
            if link.tx.try_send(message.clone()).is_err() {
                tracing::warn!(peer = %link.key, "peer queue full or closed; message dropped");
            }
        }
    }
}

/// Who relays: this validator's identity on its chain.
struct Signer {
    identity: SigningKey,
    genesis: GenesisHash,
}

async fn post(
    client: &ValidatorClient,
    signer: &Signer,
    message: &Transaction,
) -> Result<(), validator_client::ClientError> {
    client
        .post_as_peer(
            api::PEER_TRANSACTIONS,
            message,
            &signer.identity,
            &signer.genesis,
        )
        .await
}

async fn deliver(
    key: IdentityKey,
    client: ValidatorClient,
    signer: Arc<Signer>,
    mut rx: mpsc::Receiver<Transaction>,
    message_deadline: Duration,
) {
    // After a message was given up on, the peer counts as down: later messages get one attempt
    // each, so a dead peer costs one connection attempt per message rather than a deadline.
    let mut down = false;
    while let Some(message) = rx.recv().await {
        let give_up = Instant::now()
            + if down {
                Duration::ZERO
            } else {
                message_deadline
            };
        let mut backoff = BACKOFF_INITIAL;
        loop {
            match post(&client, &signer, &message).await {
                Ok(()) => {
                    if down {
                        tracing::info!(peer = %key, "peer reachable again");
                    }
                    down = false;
                    break;
                }
                // A 429 (this validator over its peer rate there) is retried like a 503.
                Err(e)
                    if e.status()
                        .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
                {
                    down = false;
                    tracing::debug!(peer = %key, error = %e, "peer refused a transaction");
                    break;
                }
                Err(e) => {
                    if Instant::now() + backoff > give_up {
                        if !down {
                            tracing::warn!(peer = %key, error = %e,
                                "peer unreachable; dropping relays until it answers");
                        }
                        down = true;
                        break;
                    }
                    tracing::debug!(peer = %key, error = %e, "peer unreachable; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}
