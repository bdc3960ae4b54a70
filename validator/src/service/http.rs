//! The axum router: refuses what is over its address's limits or not signed by a peer
//! ([`super::admission`]), decodes requests, checks their cryptography outside any lock
//! (on the blocking pool, a bounded number at once), admits transactions to the mempool
//! and relays them, reads the committed chain state, waits for decisions where an answer must be final, and maps every
//! failure to a status and an [`ApiError`] body. The calls a browser client makes answer
//! pages of any origin (CORS); the others (spends, node and peer calls) do not.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower_http::cors::{Any, CorsLayer};

use super::admission::{peer_sender, rate_limit, Admission};
use super::error::ServiceError;
use super::issuer::{check_deposit, Issuer};
use super::peers::Peers;
use crate::chain::shared::{ChainShared, Poisoned};
use crate::chain::store::ChainStore;
use validator_core::api::{
    self, AccountView, ApiError, BlindSignBody, BlockSummary, PeerStatus, SpendAnswer, SpendBody,
    SpentAnswer, SpentRecord, StatementAccepted, Status,
};
use validator_core::chain::dkg::KeyEpochId;
use validator_core::chain::sphinx_keys::SphinxKeyAnnouncement;
use validator_core::chain::{
    Block, ChainParams, ChainState, ChainStateHash, Inserted, Transaction, VerifiedTx,
};
use validator_core::coconut::verification::ZETA_BYTES;
use validator_core::credential::{request_digest, zeta_to_bs58};
use validator_core::peer_auth::PeerAuth;
use validator_core::primitives::IdentityKey;
use validator_core::statement::{SignedStatement, StatementBody};
use validator_core::topology::EpochId;

/// What every handler shares.
pub struct Shared {
    /// The chain: committed state, mempool, decisions.
    pub chain: Arc<ChainShared>,
    /// Decided blocks.
    pub store: Arc<ChainStore>,
    /// The chain's parameters (genesis, validators, epochs).
    pub params: Arc<ChainParams>,
    /// This validator.
    pub identity: IdentityKey,
    /// Blind signing and presentation checks (the keys come from the chain).
    pub issuer: Arc<Issuer>,
    /// Relays to the other validators.
    pub peers: Peers,
    /// The genesis file as served.
    pub genesis_toml: String,
    /// How long a blind-sign or spend request waits for its transaction's block.
    pub decision_timeout: Duration,
    /// Per-address rate limits and the verification slots.
    pub admission: Arc<Admission>,
}

impl From<Poisoned> for ServiceError {
    fn from(e: Poisoned) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl Shared {
    pub(super) fn committed(&self) -> Result<Arc<ChainState>, ServiceError> {
        Ok(self.chain.committed()?)
    }

    /// Checks `tx`'s cryptography on the blocking pool (a spend is a pairing check), in a
    /// verification slot.
    async fn verify(&self, tx: Transaction) -> Result<VerifiedTx, ServiceError> {
        let committed = self.committed()?;
        let issuer = Arc::clone(&self.issuer);
        let slot = self.admission.check_slot().await?;
        blocking(move || {
            let _slot = slot;
            Ok(VerifiedTx::verify(tx, &committed, issuer.as_ref())?)
        })
        .await
    }

    /// Admits a verified transaction; relays it when it is new here.
    fn admit(&self, tx: VerifiedTx, relay: bool) -> Result<Inserted, ServiceError> {
        let raw = relay.then(|| tx.tx().clone());
        let inserted = self.chain.submit(tx)??;
        if let (Inserted::New, Some(raw)) = (inserted, raw) {
            self.peers.broadcast(raw);
        }
        Ok(inserted)
    }
}

pub(super) type AppState = Arc<Shared>;
pub(super) type ApiResult = Result<Response, ServiceError>;

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        let body = ApiError {
            kind: self.kind().to_owned(),
            error: self.to_string(),
        };
        match self.retry_after_secs() {
            Some(secs) => (
                status,
                [(header::RETRY_AFTER, secs.to_string())],
                Json(body),
            )
                .into_response(),
            None => (status, Json(body)).into_response(),
        }
    }
}

pub(super) fn json<T: Serialize>(value: &T) -> ApiResult {
    Ok(Json(value).into_response())
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|e| ServiceError::BadRequest(e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal(format!("worker: {e}")))?
}

/// The API router; serve it with its peers' addresses
/// (`into_make_service_with_connect_info::<SocketAddr>`), which its rate limits key on.
pub fn router(shared: AppState) -> Router {
    let peer_route =
        post(peer_transaction).route_layer(from_fn_with_state(Arc::clone(&shared), peer_sender));
    // What a client needs (the genesis to pin, the topology and keys, its account, a
    // deposit, blind signatures): open to browser pages. `layer` covers the routes above it.
    Router::new()
        .route(api::GENESIS, get(genesis))
        .route(api::STATUS, get(status))
        .route(api::TOPOLOGY, get(topology))
        .route("/v1/topology/{epoch}", get(topology_at))
        .route(api::STATEMENTS, post(submit))
        .route("/v1/accounts/{key}", get(account))
        .route(api::NODES, get(nodes))
        .route(api::VERIFICATION_KEYS, get(verification_keys))
        .route(
            "/v1/credentials/verification-keys/{epoch}",
            get(verification_keys_at),
        )
        .route(api::BLIND_SIGN, post(blind_sign))
        .route(api::KEY_EPOCHS, get(key_epochs))
        .route("/v1/sphinx-keys/{node}", get(sphinx_keys))
        .merge(super::nym_api::routes())
        .layer(browser_cors())
        .route(api::SPEND, post(spend))
        .route("/v1/credentials/spent/{zeta}", get(spent))
        .route("/v1/blocks/{height}", get(block))
        .route(api::SPHINX_KEYS, post(announce_sphinx_key))
        .route(api::PEER_TRANSACTIONS, peer_route)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(from_fn_with_state(
            Arc::clone(&shared.admission),
            rate_limit,
        ))
        .with_state(shared)
}

/// CORS for the browser client's calls: any origin, no cookies or credentials (the API has
/// none), GET and JSON POST; preflights cached for an hour.
fn browser_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
}

async fn not_found(uri: axum::http::Uri) -> ServiceError {
    ServiceError::NoEndpoint(uri.path().chars().take(200).collect())
}

async fn genesis(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/toml")],
        s.genesis_toml.clone(),
    )
        .into_response()
}

async fn status(State(s): State<AppState>) -> ApiResult {
    let committed = s.committed()?;
    let engine = s.chain.status()?;
    let pending = s.chain.mempool()?.len();
    json(&Status {
        identity_key: s.identity,
        genesis_hash: s.params.genesis_hash(),
        height: committed.height(),
        last_block: committed.last_block(),
        last_block_time_ms: committed.last_time_ms(),
        state_hash: committed.state_hash(),
        ledger_state_hash: committed.ledger().state_hash(),
        consensus_height: engine.working_height,
        consensus_round: engine.round,
        signers_of_last_commit: engine.signers_of_last_commit,
        peers: s
            .params
            .genesis()
            .validators
            .iter()
            .filter(|v| v.identity_key != s.identity)
            .map(|v| PeerStatus {
                identity_key: v.identity_key,
                p2p_address: v.p2p_address,
                last_signed_height: engine.last_signed.get(&v.identity_key).copied(),
            })
            .collect(),
        syncing: engine.syncing,
        conflicting_proposals: engine.conflicting_proposals,
        current_epoch: s.params.schedule().epoch_at(committed.last_time_ms()),
        pending_transactions: pending,
        bonded_nodes: committed.ledger().bonded_nodes().count(),
        coconut_index: s.chain.issuing_key()?.map(|k| k.pair.index()),
    })
}

async fn topology(State(s): State<AppState>) -> ApiResult {
    let epoch = s.params.schedule().epoch_at(super::node::unix_now_ms());
    json(
        &s.committed()?
            .topology(epoch)
            .ok_or(ServiceError::UnknownEpoch(epoch))?,
    )
}

async fn topology_at(State(s): State<AppState>, Path(epoch): Path<String>) -> ApiResult {
    let epoch = EpochId(
        epoch
            .parse()
            .map_err(|_| ServiceError::BadRequest(format!("epoch `{epoch}` is not a number")))?,
    );
    json(
        &s.committed()?
            .topology(epoch)
            .ok_or(ServiceError::UnknownEpoch(epoch))?,
    )
}

async fn submit(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let statement: SignedStatement = decode(&body)?;
    let statement_id = statement.id();
    let tx = s.verify(Transaction::Statement(statement)).await?;
    s.admit(tx, true)?;
    let admitted_at_height = s.committed()?.height();
    tracing::info!(statement = %statement_id, admitted_at_height, "statement admitted");
    Ok((
        StatusCode::ACCEPTED,
        Json(StatementAccepted {
            statement_id,
            admitted_at_height,
        }),
    )
        .into_response())
}

/// A node's Sphinx key for a rotation: verified, admitted, relayed like a statement.
async fn announce_sphinx_key(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let announcement: SphinxKeyAnnouncement = decode(&body)?;
    let (node, rotation) = (announcement.node, announcement.rotation);
    let tx = s.verify(Transaction::SphinxKey(announcement)).await?;
    let id = tx.id();
    s.admit(tx, true)?;
    let admitted_at_height = s.committed()?.height();
    tracing::info!(%node, %rotation, admitted_at_height, "Sphinx key announcement admitted");
    Ok((
        StatusCode::ACCEPTED,
        Json(api::SphinxKeyAccepted {
            tx: id,
            admitted_at_height,
        }),
    )
        .into_response())
}

async fn sphinx_keys(State(s): State<AppState>, Path(node): Path<String>) -> ApiResult {
    let node: IdentityKey = node
        .parse()
        .map_err(|e| ServiceError::BadRequest(format!("node key: {e}")))?;
    let committed = s.committed()?;
    let current_rotation = committed
        .params()
        .rotation()
        .map(|r| r.rotation_at(committed.last_time_ms()))
        .unwrap_or_default();
    json(&api::NodeSphinxKeys {
        node,
        current_rotation,
        keys: committed
            .sphinx_keys()
            .entries()
            .filter(|e| e.node == node)
            .collect(),
    })
}

async fn account(State(s): State<AppState>, Path(key): Path<String>) -> ApiResult {
    let key: IdentityKey = key
        .parse()
        .map_err(|e| ServiceError::BadRequest(format!("account key: {e}")))?;
    let committed = s.committed()?;
    let state = committed
        .ledger()
        .account(&key)
        .copied()
        .ok_or(ServiceError::UnknownAccount(key))?;
    let next_free_nonce = s
        .chain
        .mempool()?
        .provisional()
        .ledger()
        .account(&key)
        .map_or(state.next_nonce, |a| a.next_nonce.max(state.next_nonce));
    json(&AccountView {
        account: key,
        balance: state.balance,
        next_nonce: state.next_nonce,
        next_free_nonce,
    })
}

async fn nodes(State(s): State<AppState>) -> ApiResult {
    let committed = s.committed()?;
    let nodes: Vec<_> = committed.ledger().bonded_nodes().cloned().collect();
    json(&nodes)
}

async fn key_epochs(State(s): State<AppState>) -> ApiResult {
    let committed = s.committed()?;
    let runs: Vec<api::KeyEpochView> = committed
        .key_epochs()
        .runs()
        .map(api::KeyEpochView::of)
        .collect();
    json(&runs)
}

/// The key set credentials are issued under now: the newest completed key epoch's.
async fn verification_keys(State(s): State<AppState>) -> ApiResult {
    let committed = s.committed()?;
    let (_, keys) = committed
        .key_epochs()
        .current()
        .ok_or(ServiceError::KeysNotReady)?;
    json(&keys.key_set)
}

/// The key set of a key epoch the chain keeps.
async fn verification_keys_at(State(s): State<AppState>, Path(epoch): Path<String>) -> ApiResult {
    let id =
        KeyEpochId(epoch.parse().map_err(|_| {
            ServiceError::BadRequest(format!("key epoch `{epoch}` is not a number"))
        })?);
    let committed = s.committed()?;
    let run = committed
        .key_epochs()
        .get(id)
        .ok_or(ServiceError::UnknownKeyEpoch(id))?;
    let keys = run.keys_out.as_ref().ok_or(ServiceError::KeysNotReady)?;
    json(&keys.key_set)
}

/// What the chain decided about a deposit statement.
enum DepositOutcome {
    /// It is applied: the request is paid.
    Paid,
    /// Something else took its place (another deposit for the digest, or another statement
    /// with its account nonce).
    Conflict(String),
}

fn deposit_outcome(state: &ChainState, deposit: &SignedStatement) -> Option<DepositOutcome> {
    let StatementBody::Deposit {
        credential_request_digest,
        ..
    } = &deposit.statement.body
    else {
        return Some(DepositOutcome::Conflict("not a deposit".into()));
    };
    if let Some(record) = state.ledger().deposit(credential_request_digest) {
        return Some(if record.statement_id == deposit.id() {
            DepositOutcome::Paid
        } else {
            DepositOutcome::Conflict(format!(
                "the request was paid by another deposit statement ({})",
                record.statement_id
            ))
        });
    }
    let account = state.ledger().account(&deposit.statement.account)?;
    (account.next_nonce > deposit.statement.nonce).then(|| {
        DepositOutcome::Conflict(format!(
            "nonce {} of account {} was used by another statement",
            deposit.statement.nonce, deposit.statement.account
        ))
    })
}

async fn blind_sign(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let body: BlindSignBody = decode(&body)?;
    let key = s.chain.issuing_key()?.ok_or(ServiceError::KeysNotReady)?;
    let issuer = Arc::clone(&s.issuer);
    // A request that is not paid for is refused before any expensive check.
    body.public_attributes.validate()?;
    let digest = request_digest(&body.request, &body.public_attributes);
    check_deposit(&body.deposit, body.public_attributes.bandwidth, &digest)?;
    let deposit = body.deposit.clone();
    let decided = deposit_outcome(&*s.committed()?, &deposit);
    if decided.is_none() {
        let tx = s.verify(Transaction::Statement(deposit.clone())).await?;
        s.admit(tx, true)?;
    }
    let outcome = match decided {
        Some(outcome) => outcome,
        None => s
            .chain
            .wait_for(s.decision_timeout, |state| deposit_outcome(state, &deposit))
            .await?
            .ok_or(ServiceError::NotDecided(s.decision_timeout.as_secs()))?,
    };
    if let DepositOutcome::Conflict(reason) = outcome {
        return Err(ServiceError::Conflict(reason));
    }
    let slot = s.admission.check_slot().await?;
    let answer = blocking(move || {
        let _slot = slot;
        issuer.blind_sign(key.key_epoch, &key.pair, &body)
    })
    .await?;
    tracing::info!(index = answer.signer_index, "partial credential issued");
    json(&answer)
}

fn spend_outcome(
    state: &ChainState,
    zeta: &[u8; ZETA_BYTES],
    body: &SpendBody,
) -> Option<Result<u64, ServiceError>> {
    let record = state.spend(zeta)?;
    Some(
        if record.gateway == body.gateway && record.nonce == body.nonce {
            Ok(record.height)
        } else {
            Err(ServiceError::AlreadySpent(zeta_to_bs58(zeta)))
        },
    )
}

async fn spend(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let body: SpendBody = decode(&body)?;
    let tx = s.verify(Transaction::Spend(Box::new(body.clone()))).await?;
    let zeta = body.theta.zeta_bytes();
    if spend_outcome(&*s.committed()?, &zeta, &body).is_none() {
        match s.admit(tx, true) {
            Ok(_) => {}
            // Another spend of this credential is pending: whichever a block takes first
            // wins, and the answer below says which.
            Err(ServiceError::Chain(e))
                if matches!(
                    e.root(),
                    validator_core::chain::ChainError::DoubleSpend { .. }
                ) => {}
            Err(e) => return Err(e),
        }
    }
    let height = s
        .chain
        .wait_for(s.decision_timeout, |state| {
            spend_outcome(state, &zeta, &body)
        })
        .await?
        .ok_or(ServiceError::NotDecided(s.decision_timeout.as_secs()))??;
    json(&SpendAnswer {
        zeta: zeta_to_bs58(&zeta),
        height,
    })
}

async fn spent(State(s): State<AppState>, Path(zeta): Path<String>) -> ApiResult {
    let mut bytes = [0u8; ZETA_BYTES];
    match bs58::decode(&zeta).onto(&mut bytes[..]) {
        Ok(ZETA_BYTES) => {}
        _ => {
            return Err(ServiceError::BadRequest(format!(
                "zeta must be {ZETA_BYTES} bytes in base58"
            )))
        }
    }
    let spend = s.committed()?.spend(&bytes).map(|r| SpentRecord {
        gateway: r.gateway,
        nonce: r.nonce,
        height: r.height,
    });
    json(&SpentAnswer {
        zeta,
        spent: spend.is_some(),
        spend,
    })
}

async fn block(State(s): State<AppState>, Path(height): Path<String>) -> ApiResult {
    let height: u64 = height
        .parse()
        .map_err(|_| ServiceError::BadRequest(format!("height `{height}` is not a number")))?;
    let not_found = || ServiceError::UnknownBlock(height);
    let store = Arc::clone(&s.store);
    let (decided, state_hash) = blocking(move || {
        let h = crate::chain::context::Height(height);
        let internal = |e: crate::chain::store::StoreError| ServiceError::Internal(e.to_string());
        Ok((
            store.decided(h).map_err(internal)?,
            store.state_hash(h).map_err(internal)?,
        ))
    })
    .await?;
    let (decided, state_hash) = decided.zip(state_hash).ok_or_else(not_found)?;
    let block = Block::decode(&decided.block).map_err(|e| ServiceError::Internal(e.to_string()))?;
    json(&BlockSummary {
        height,
        id: Block::id_of(&decided.block),
        time_ms: block.header.time_ms,
        proposer: block.header.proposer,
        transactions: block.transactions.len(),
        state_hash: ChainStateHash(state_hash),
        signers: decided.certificate.commit_signatures.len(),
    })
}

/// A transaction another validator admitted: its sender and time were checked before the
/// body was read ([`peer_sender`]); its signature over the body is checked before decoding.
async fn peer_transaction(
    State(s): State<AppState>,
    Extension(auth): Extension<PeerAuth>,
    body: Bytes,
) -> ApiResult {
    auth.verify_body(&s.params.genesis_hash(), api::PEER_TRANSACTIONS, &body)?;
    let tx: Transaction = decode(&body)?;
    let tx = s.verify(tx).await?;
    s.admit(tx, false)?;
    Ok(StatusCode::ACCEPTED.into_response())
}
