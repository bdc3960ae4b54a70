//! The axum router: decodes requests, runs them against the shared [`ValidatorState`], hands
//! outbound messages to the peers, and maps every failure to a status and an
//! [`ApiError`] body. Credential crypto runs on the blocking pool.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ServiceError;
use super::issuer::Issuer;
use super::peers::Peers;
use super::state::{Outbound, ValidatorState};
use validator_core::api::{self, ApiError, BlindSignBody, SpendAnswer, SpendBody, SpentAnswer};
use validator_core::coconut::verification::ZETA_BYTES;
use validator_core::credential::{request_digest, zeta_to_bs58};
use validator_core::primitives::IdentityKey;
use validator_core::topology::EpochId;

/// What every handler shares.
pub struct Shared {
    /// The state machine.
    pub state: Mutex<ValidatorState>,
    /// Coconut keys, if this validator issues credentials.
    pub issuer: Option<Arc<Issuer>>,
    /// Outbound links to the other validators.
    pub peers: Peers,
    /// The genesis file as served.
    pub genesis_toml: String,
    /// Wall clock, Unix ms.
    pub clock: fn() -> u64,
}

impl Shared {
    /// Locks the state; a poisoned lock (a panic while holding it) is an internal error.
    pub fn state(&self) -> Result<MutexGuard<'_, ValidatorState>, ServiceError> {
        self.state
            .lock()
            .map_err(|_| ServiceError::Internal("state lock poisoned".into()))
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    fn issuer(&self) -> Result<Arc<Issuer>, ServiceError> {
        self.issuer.clone().ok_or(ServiceError::NoCredentials)
    }

    fn send(&self, out: Vec<Outbound>) {
        for message in out {
            self.peers.broadcast(message);
        }
    }
}

type AppState = Arc<Shared>;
type ApiResult = Result<Response, ServiceError>;

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
        (status, Json(body)).into_response()
    }
}

fn json<T: Serialize>(value: &T) -> ApiResult {
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

/// The API router.
pub fn router(shared: AppState) -> Router {
    Router::new()
        .route(api::GENESIS, get(genesis))
        .route(api::STATUS, get(status))
        .route(api::TOPOLOGY, get(topology))
        .route("/v1/topology/{epoch}", get(topology_at))
        .route(api::STATEMENTS, post(submit))
        .route("/v1/accounts/{key}", get(account))
        .route(api::NODES, get(nodes))
        .route(api::VERIFICATION_KEYS, get(verification_keys))
        .route(api::BLIND_SIGN, post(blind_sign))
        .route(api::SPEND, post(spend))
        .route("/v1/credentials/spent/{zeta}", get(spent))
        .route(api::PEER_STATEMENTS, post(peer_statement))
        .route(api::PEER_TOPOLOGY_SIGNATURES, post(peer_signature))
        .route(api::PEER_SPENT, post(peer_spent))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .with_state(shared)
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
    let now = s.now();
    json(&s.state()?.status(now))
}

async fn topology(State(s): State<AppState>) -> ApiResult {
    let now = s.now();
    let state = s.state()?;
    let epoch = state.schedule().epoch_at(now);
    json(
        &state
            .current_topology(now)
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
        &s.state()?
            .signed_topology(epoch)
            .ok_or(ServiceError::UnknownEpoch(epoch))?,
    )
}

async fn submit(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let statement = decode(&body)?;
    let now = s.now();
    let (accepted, out) = s.state()?.submit(statement, now)?;
    tracing::info!(
        statement = %accepted.statement_id,
        epoch = %accepted.applies_at_end_of,
        "statement accepted"
    );
    s.send(out);
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

async fn account(State(s): State<AppState>, Path(key): Path<String>) -> ApiResult {
    let key: IdentityKey = key
        .parse()
        .map_err(|e| ServiceError::BadRequest(format!("account key: {e}")))?;
    json(
        &s.state()?
            .account_view(&key)
            .ok_or(ServiceError::UnknownAccount(key))?,
    )
}

async fn nodes(State(s): State<AppState>) -> ApiResult {
    json(&s.state()?.bonded_nodes())
}

async fn verification_keys(State(s): State<AppState>) -> ApiResult {
    json(s.issuer()?.keys())
}

async fn blind_sign(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let body: BlindSignBody = decode(&body)?;
    let issuer = s.issuer()?;
    let deposit = body.deposit.clone();
    // A request that is not paid for is refused before the expensive proof check.
    body.public_attributes.validate()?;
    let digest = request_digest(&body.request, &body.public_attributes);
    ValidatorState::check_deposit(&deposit, body.public_attributes.bandwidth, &digest)?;
    {
        let state = s.state()?;
        if !state.deposit_known(&deposit) {
            state.check_submission(&deposit, s.now())?;
        }
    }
    let answer = blocking(move || issuer.blind_sign(&body)).await?;
    // The request is well formed and paid for by this deposit; debit it unless it already is.
    let now = s.now();
    let out = {
        let mut state = s.state()?;
        if state.deposit_known(&deposit) {
            Vec::new()
        } else {
            state.submit(deposit, now)?.1
        }
    };
    s.send(out);
    tracing::info!(index = answer.signer_index, "partial credential issued");
    json(&answer)
}

async fn spend(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let body: SpendBody = decode(&body)?;
    let issuer = s.issuer()?;
    let checked = body.clone();
    let zeta = blocking(move || issuer.verify_presentation(&checked)).await?;
    s.state()?.mark_spent(zeta)?;
    s.send(vec![Outbound::Spent(Box::new(body))]);
    json(&SpendAnswer {
        zeta: zeta_to_bs58(&zeta),
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
    let spent = s.state()?.is_spent(&bytes);
    json(&SpentAnswer { zeta, spent })
}

async fn peer_statement(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let relayed = decode(&body)?;
    let now = s.now();
    s.state()?.accept_relay(relayed, now)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn peer_signature(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let sig = decode(&body)?;
    s.state()?.accept_topology_signature(sig)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn peer_spent(State(s): State<AppState>, body: Bytes) -> ApiResult {
    let body: SpendBody = decode(&body)?;
    let issuer = s.issuer()?;
    let zeta = blocking(move || issuer.verify_presentation(&body)).await?;
    match s.state()?.mark_spent(zeta) {
        Ok(()) | Err(ServiceError::AlreadySpent(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
