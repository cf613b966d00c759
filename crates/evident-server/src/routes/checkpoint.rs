//! Checkpoints and the verifier key.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use evident_core::access::Scope;
use evident_store::StoredCheckpoint;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::blocking;
use crate::problem::{Problem, ProblemDetails};

/// The verifier key of the server's checkpoints (`<name>+<hex key id>+<base64 key>`), public.
#[utoipa::path(get, path = "/v1/log/key", tag = "log",
    responses((status = 200, description = "The verifier key", body = String, content_type = "text/plain")))]
pub async fn key(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", state.checkpointer.verifier_key()),
    )
}

/// The tenant log's latest checkpoint, a signed note (signed now if the log grew).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/log/checkpoint", tag = "log", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    responses((status = 200, description = "C2SP tlog-checkpoint in a signed note", body = String, content_type = "text/plain"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Read).await?.id;
    let (checkpointer, store) = (state.checkpointer.clone(), state.store.clone());
    let checkpoint = blocking(move || checkpointer.latest(store.as_ref(), &tenant)).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        checkpoint.note,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointsParams {
    /// Only checkpoints of at least this tree size.
    #[serde(default)]
    from_size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointList {
    pub checkpoints: Vec<StoredCheckpoint>,
}

/// Every checkpoint signed for the tenant's log, smallest tree size first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/log/checkpoints", tag = "log", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID"), CheckpointsParams),
    responses((status = 200, body = CheckpointList),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(params): Query<CheckpointsParams>,
) -> Result<Json<CheckpointList>, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Read).await?.id;
    let store = state.store.clone();
    let checkpoints = blocking(move || store.checkpoints(&tenant, params.from_size)).await?;
    Ok(Json(CheckpointList { checkpoints }))
}
