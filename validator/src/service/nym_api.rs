//! The routes of Nym's directory API ([`crate::nym_api`]): every answer comes from the
//! current epoch's topology in the committed state, and only once a threshold of validators
//! has signed it (checked on each request, like a client would); until then they answer 503
//! `topology_not_ready`. Open to pages of any origin, for Nym's browser SDK.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::error::ServiceError;
use super::http::{json, ApiResult, AppState};
use super::node::unix_now_ms;
use crate::nym_api::directory::{key_rotation_info, Directory, DirectoryError, NodeSet};
use validator_core::topology::{verify_signed_topology_for, SignedTopology};

/// Paths, as Nym's clients append them to their directory URL.
pub const KEY_ROTATION_INFO: &str = "/v1/epoch/key-rotation-info";
/// The layers and gateways of the epoch.
pub const REWARDED_SET: &str = "/v1/nym-nodes/rewarded-set";
/// Every node.
pub const SKIMMED: &str = "/v2/unstable/nym-nodes/skimmed";
/// The mixnodes.
pub const SKIMMED_MIXNODES: &str = "/v2/unstable/nym-nodes/skimmed/mixnodes/active";
/// The gateways.
pub const SKIMMED_ENTRY_GATEWAYS: &str = "/v2/unstable/nym-nodes/skimmed/entry-gateways";

/// The routes, to merge into the API router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(KEY_ROTATION_INFO, get(rotation_info))
        .route(REWARDED_SET, get(rewarded_set))
        .route(SKIMMED, get(all_nodes))
        .route(SKIMMED_MIXNODES, get(mixnodes))
        .route(SKIMMED_ENTRY_GATEWAYS, get(gateways))
}

/// The query of the node lists. Nym's clients also send `output=bincode` (they decode by the
/// answer's content type, and ours is JSON) and may send `per_page` (every node is on page
/// 0); unknown parameters are ignored.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// The page, from 0.
    page: Option<u32>,
}

impl From<DirectoryError> for ServiceError {
    fn from(e: DirectoryError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

/// The current epoch's topology, once a threshold of validators signed it.
fn verified(s: &AppState) -> Result<SignedTopology, ServiceError> {
    let epoch = s.params.schedule().epoch_at(unix_now_ms());
    let signed = s.committed()?.topology(epoch).ok_or_else(|| {
        ServiceError::TopologyNotReady(format!("epoch {epoch} has no topology yet"))
    })?;
    verify_signed_topology_for(&signed, s.params.genesis()).map_err(|e| {
        ServiceError::TopologyNotReady(format!("the topology of epoch {epoch}: {e}"))
    })?;
    Ok(signed)
}

async fn rotation_info(State(s): State<AppState>) -> ApiResult {
    json(&key_rotation_info(
        s.params.schedule(),
        s.params.rotation(),
        unix_now_ms(),
    )?)
}

async fn rewarded_set(State(s): State<AppState>) -> ApiResult {
    let signed = verified(&s)?;
    json(&Directory::new(&signed.topology, unix_now_ms())?.rewarded_set())
}

async fn node_list(s: &AppState, set: NodeSet, query: &PageQuery) -> ApiResult {
    let signed = verified(s)?;
    let directory = Directory::new(&signed.topology, unix_now_ms())?;
    json(&directory.nodes(set, query.page.unwrap_or(0)))
}

async fn all_nodes(State(s): State<AppState>, Query(q): Query<PageQuery>) -> ApiResult {
    node_list(&s, NodeSet::All, &q).await
}

async fn mixnodes(State(s): State<AppState>, Query(q): Query<PageQuery>) -> ApiResult {
    node_list(&s, NodeSet::Mixnodes, &q).await
}

async fn gateways(State(s): State<AppState>, Query(q): Query<PageQuery>) -> ApiResult {
    node_list(&s, NodeSet::Gateways, &q).await
}
