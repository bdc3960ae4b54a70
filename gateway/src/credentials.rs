//! Bandwidth credentials: a client presents a Coconut credential, the gateway checks it and
//! credits the bandwidth it is worth.
//!
//! Checks, cheapest first: the public attributes are a bandwidth voucher; the presentation
//! names this gateway (its proof is bound to the gateway's identity and the holder's nonce,
//! so one copied off the wire is worthless elsewhere); the serial commitment (zeta) was not
//! spent here; the presentation verifies, in that context, under the validators' aggregate
//! key (on tokio's blocking pool, at most `[clients] concurrent_credential_checks` at once
//! for all clients together, so a stream of credentials cannot take the threads the database
//! also uses; a check that finds no slot within `credential_check_wait_ms` is refused
//! `busy`: it costs pairings); the spend is decided on the
//! validators' chain (a validator answers once a block holds it, 409 if a block holds
//! another spend of the same credential), and a majority of the configured validators
//! report that same decided spend (this gateway, this nonce), so no single validator can
//! confirm a spend alone. Then the spend and the credit commit in one transaction, so a crash
//! cannot credit twice or spend without credit.
//!
//! The aggregate key of the presentation's key epoch (the validators' key generation runs in
//! key epochs) comes from the validators at the first redemption of that epoch, and is
//! accepted only when a majority of the configured validators serve the same, internally
//! consistent key set for it (one lying validator cannot make the gateway accept forged
//! credentials). At most [`KEPT_KEY_SETS`] epochs' sets are kept.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use validator_client::ValidatorClient;
use validator_core::api::SpendBody;
use validator_core::chain::dkg::KeyEpochId;
use validator_core::coconut::verify_credential;
use validator_core::credential::{parameters, VerificationKeySet};
use validator_core::primitives::IdentityKey;

use crate::stats::{ClientRefusal, GatewayStats};
use crate::store::{ClientId, Store};
use gateway_protocol::ErrorKind;

/// A redemption refused, with what the client is told.
pub type Refusal = (ErrorKind, String);

/// Checks credentials against the validators; see the module docs.
#[derive(Debug)]
pub struct CredentialVerifier {
    /// This gateway's identity: presentations must be made for it.
    gateway: IdentityKey,
    validators: Vec<ValidatorClient>,
    keys: tokio::sync::Mutex<BTreeMap<KeyEpochId, VerificationKeySet>>,
    /// Pairing checks running at once.
    check_slots: tokio::sync::Semaphore,
    /// How long a check waits for a slot.
    check_wait: std::time::Duration,
}

/// Key sets kept, newest epochs first (a key epoch lasts days; two are live at a change).
pub const KEPT_KEY_SETS: usize = 4;

impl CredentialVerifier {
    /// A verifier for the gateway whose identity is `gateway`, asking these validators.
    pub fn new(
        gateway: IdentityKey,
        validator_urls: &[String],
    ) -> Result<Self, validator_client::ClientError> {
        let validators = validator_urls
            .iter()
            .map(|u| ValidatorClient::new(u))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CredentialVerifier {
            gateway,
            validators,
            keys: tokio::sync::Mutex::new(BTreeMap::new()),
            check_slots: tokio::sync::Semaphore::new(2),
            check_wait: std::time::Duration::from_secs(2),
        })
    }

    /// At most `slots` pairing checks at once; one waits at most `wait` for a slot.
    pub fn with_check_slots(mut self, slots: usize, wait: std::time::Duration) -> Self {
        self.check_slots = tokio::sync::Semaphore::new(slots.max(1));
        self.check_wait = wait;
        self
    }

    /// The key set of `epoch` a majority of the configured validators agree on (cached).
    async fn keys_of(
        &self,
        epoch: KeyEpochId,
    ) -> Result<VerificationKeySet, validator_client::ClientError> {
        let mut cache = self.keys.lock().await;
        if let Some(keys) = cache.get(&epoch) {
            return Ok(keys.clone());
        }
        let majority = self.validators.len() / 2 + 1;
        let keys =
            validator_client::agreed_key_set_of(&self.validators, majority, Some(epoch)).await?;
        cache.insert(epoch, keys.clone());
        while cache.len() > KEPT_KEY_SETS {
            cache.pop_first();
        }
        Ok(keys)
    }

    /// Checks `body` and credits its bandwidth to `client`, whose live balance is `counter`;
    /// returns the bandwidth left.
    pub async fn redeem(
        &self,
        store: &Arc<Store>,
        stats: &GatewayStats,
        client: ClientId,
        counter: &AtomicU64,
        body: SpendBody,
    ) -> Result<u64, Refusal> {
        let refused = |m: String| (ErrorKind::CredentialRefused, m);
        body.public_attributes
            .validate()
            .map_err(|e| refused(format!("public attributes: {e}")))?;
        if body.gateway != self.gateway {
            return Err(refused(format!(
                "this presentation is for gateway {}, not this one ({})",
                body.gateway, self.gateway
            )));
        }
        let amount = body.public_attributes.bandwidth;
        let zeta = body.theta.zeta_bytes();
        let spent_here = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.is_spent(&zeta))
                .await
                .map_err(|e| (ErrorKind::Internal, e.to_string()))?
                .map_err(|e| (ErrorKind::Internal, e.to_string()))?
        };
        if spent_here {
            return Err((
                ErrorKind::CredentialSpent,
                "this credential was already spent here".into(),
            ));
        }
        self.verify(&body, stats).await?;
        self.confirm_spend(&body).await?;

        let total = counter.load(Ordering::Relaxed).saturating_add(amount);
        let redeemed = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || {
                store.redeem(&zeta, &client, total, crate::now_ms())
            })
            .await
            .map_err(|e| (ErrorKind::Internal, e.to_string()))?
            .map_err(|e| (ErrorKind::Internal, e.to_string()))?
        };
        if !redeemed {
            return Err((
                ErrorKind::CredentialSpent,
                "this credential was already spent here".into(),
            ));
        }
        counter.fetch_add(amount, Ordering::Relaxed);
        GatewayStats::add(&stats.credentials_redeemed, 1);
        GatewayStats::add(&stats.bandwidth_credited_bytes, amount);
        Ok(total)
    }

    /// Verifies the presentation against the validators' aggregate key of its key epoch.
    async fn verify(&self, body: &SpendBody, stats: &GatewayStats) -> Result<(), Refusal> {
        let keys = self.keys_of(body.key_epoch).await.map_err(|e| {
            (
                ErrorKind::Busy,
                format!(
                    "cannot verify credentials of key epoch {} yet: {e}",
                    body.key_epoch
                ),
            )
        })?;
        let slot = tokio::time::timeout(self.check_wait, self.check_slots.acquire()).await;
        let Ok(Ok(_slot)) = slot else {
            stats.count_refusal(ClientRefusal::CredentialChecksBusy);
            return Err((
                ErrorKind::Busy,
                "every credential check slot is taken; present it again shortly".into(),
            ));
        };
        let checked = body.clone();
        tokio::task::spawn_blocking(move || {
            verify_credential(
                &parameters(),
                &keys.aggregate,
                &checked.theta,
                &checked.public_attributes.scalars(),
                &checked.context().to_bytes(),
            )
        })
        .await
        .map_err(|e| (ErrorKind::Internal, e.to_string()))?
        .map_err(|e| {
            (
                ErrorKind::CredentialRefused,
                format!("the credential does not verify: {e}"),
            )
        })
    }

    /// Puts the spend on the chain through the first validator that can, then waits until a
    /// majority of the configured validators report that decided spend.
    async fn confirm_spend(&self, body: &SpendBody) -> Result<(), Refusal> {
        let spent = || {
            (
                ErrorKind::CredentialSpent,
                "this credential was already spent (decided on the validators' chain)".into(),
            )
        };
        let mut errors = Vec::new();
        let mut decided = None;
        for v in &self.validators {
            match v.spend(body).await {
                Ok(answer) => {
                    decided = Some(answer);
                    break;
                }
                Err(e) if e.status() == Some(409) => return Err(spent()),
                Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => {
                    return Err((
                        ErrorKind::CredentialRefused,
                        format!("validator {}: {e}", v.base_url()),
                    ))
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let Some(answer) = decided else {
            return Err((
                ErrorKind::Busy,
                format!("no validator decided the spend: {}", errors.join("; ")),
            ));
        };
        let needed = self.validators.len() / 2 + 1;
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        loop {
            let mut confirmed = 0;
            for v in &self.validators {
                let Ok(report) = v.is_spent(&answer.zeta).await else {
                    continue;
                };
                match report.spend {
                    Some(r) if r.gateway == self.gateway && r.nonce == body.nonce => confirmed += 1,
                    Some(_) => return Err(spent()),
                    None => {}
                }
            }
            if confirmed >= needed {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err((
                    ErrorKind::Busy,
                    format!(
                        "the spend was decided at height {} but only {confirmed} of the {needed} \
                         validators needed report it",
                        answer.height
                    ),
                ));
            }
            tokio::time::sleep(CONFIRM_POLL).await;
        }
    }
}

/// How long a decided spend may take to show at a majority of validators (a validator a few
/// blocks behind catches up within this).
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often they are asked meanwhile.
const CONFIRM_POLL: std::time::Duration = std::time::Duration::from_millis(100);
