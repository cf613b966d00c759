//! A tenant's verifiable log: inclusion and consistency proofs (RFC 9162),
//! with hashes in standard base64, in RFC 9162 order.

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use evident_core::access::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::blocking;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The event's seq: its leaf index.
    seq: u64,
    /// The tree size the proof is for (at most the log's size).
    size: u64,
}

/// An inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Standard base64 hashes, in RFC 9162 order.
    pub hashes: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older tree size (at least 1).
    from: u64,
    /// The newer tree size (at most the log's size).
    to: u64,
}

/// A consistency proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// Standard base64 hashes, in RFC 9162 order.
    pub hashes: Vec<String>,
}

fn encode(hashes: Vec<[u8; 32]>) -> Vec<String> {
    hashes.iter().map(|hash| BASE64.encode(hash)).collect()
}

/// The inclusion proof of an event (by seq) in the tenant's tree of a given size.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/log/proof/inclusion", tag = "log", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID"), InclusionParams),
    responses((status = 200, body = InclusionProof),
        (status = 400, description = "Not a seq and size of this log", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(params): Query<InclusionParams>,
) -> Result<Json<InclusionProof>, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Read).await?.id;
    let store = state.store.clone();
    let (seq, size) = (params.seq, params.size);
    let proof = blocking(move || store.inclusion_proof(&tenant, seq, size))
        .await?
        .ok_or_else(|| Problem::not_found("no such tenant"))?;
    Ok(Json(InclusionProof {
        leaf_index: seq,
        tree_size: size,
        hashes: encode(proof),
    }))
}

/// The consistency proof between two sizes of the tenant's tree.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/log/proof/consistency", tag = "log", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID"), ConsistencyParams),
    responses((status = 200, body = ConsistencyProof),
        (status = 400, description = "Not sizes of this log", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(params): Query<ConsistencyParams>,
) -> Result<Json<ConsistencyProof>, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Read).await?.id;
    let store = state.store.clone();
    let (from, to) = (params.from, params.to);
    let proof = blocking(move || store.consistency_proof(&tenant, from, to))
        .await?
        .ok_or_else(|| Problem::not_found("no such tenant"))?;
    Ok(Json(ConsistencyProof {
        from,
        to,
        hashes: encode(proof),
    }))
}
