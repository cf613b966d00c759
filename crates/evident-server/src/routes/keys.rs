//! API keys: created with scopes, shown once, stored as hashes, revocable.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use evident_core::access::{Scope, is_valid_name};
use evident_store::{ApiKey, NewApiKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::{Caller, hash_key, mint_key, mint_key_id};
use crate::blocking;
use crate::body::JsonBody;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(example = "billing-service ingest")]
    pub name: String,
    /// Binds the key to this tenant and its descendants; absent: operator-wide.
    pub tenant: Option<String>,
    pub scopes: Vec<Scope>,
}

/// The new key: `key` is shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub id: String,
    pub key: String,
    pub name: String,
    pub tenant: Option<String>,
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<ApiKey>,
}

/// Creates a key (admin). A tenant-bound key creates keys only within its subtree, with at most its own scopes.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    request_body = CreateKey,
    responses((status = 201, body = CreatedKey),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), Problem> {
    caller.require(Scope::Admin)?;
    if !is_valid_name(&request.name) {
        return Err(Problem::invalid_field(
            "name",
            "format",
            "1–256 characters, not blank, no control characters",
        ));
    }
    if request.scopes.is_empty() {
        return Err(Problem::invalid_field(
            "scopes",
            "min_items",
            "give at least one of ingest, read, export, admin",
        ));
    }
    if let Some(missing) = request
        .scopes
        .iter()
        .find(|scope| !caller.key.scopes.contains(scope))
    {
        return Err(Problem::forbidden(format!(
            "a key cannot grant the {} scope it lacks",
            missing.as_str()
        )));
    }
    let tenant = match (request.tenant, &caller.key.tenant) {
        (Some(tenant), _) => Some(caller.tenant(&state, &tenant).await?.id),
        (None, Some(own)) => Some(own.clone()),
        (None, None) => None,
    };
    let mut scopes = request.scopes;
    scopes.sort();
    scopes.dedup();
    let key = mint_key();
    let new = NewApiKey {
        id: mint_key_id(),
        name: request.name.trim().to_owned(),
        tenant,
        scopes,
        hash: hash_key(&key),
    };
    let store = state.store.clone();
    let stored = blocking(move || store.create_key(&new)).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: stored.id,
            key,
            name: stored.name,
            tenant: stored.tenant,
            scopes: stored.scopes,
        }),
    ))
}

/// Lists keys (admin): all for an operator key, those of its subtree for a tenant's key. Never the keys themselves.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyList),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<KeyList>, Problem> {
    caller.require(Scope::Admin)?;
    let visible = caller.visible_tenants(&state).await?;
    let store = state.store.clone();
    let mut keys = blocking(move || store.keys()).await?;
    if let Some(visible) = visible {
        keys.retain(|key| {
            key.tenant
                .as_ref()
                .is_some_and(|tenant| visible.contains(tenant))
        });
    }
    Ok(Json(KeyList { keys }))
}

/// Revokes a key (admin); requests with it fail at once.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = ApiKey),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, Problem> {
    caller.require(Scope::Admin)?;
    let visible = caller.visible_tenants(&state).await?;
    let store = state.store.clone();
    let lookup = id.clone();
    let existing = blocking(move || store.key(&lookup)).await?;
    let allowed = match (&existing, &visible) {
        (Some(_), None) => true,
        (Some(key), Some(visible)) => key
            .tenant
            .as_ref()
            .is_some_and(|tenant| visible.contains(tenant)),
        (None, _) => false,
    };
    if !allowed {
        return Err(Problem::not_found(format!("key {id:?} does not exist")));
    }
    let store = state.store.clone();
    let revoked = blocking(move || store.revoke_key(&id)).await?;
    state.access.forget_key(&revoked.id);
    Ok(Json(revoked))
}
