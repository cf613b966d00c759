//! Tenants: accounts and sub-accounts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use evident_core::access::{Scope, is_valid_name, is_valid_tenant_id};
use evident_store::{NewTenant, Tenant};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::Caller;
use crate::blocking;
use crate::body::JsonBody;
use crate::problem::{Problem, ProblemDetails};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The Account ID: 1–64 of `[a-z0-9_-]`.
    #[schema(example = "northwind")]
    pub id: String,
    /// The Company name.
    #[schema(example = "Northwind Partners")]
    pub name: String,
    /// Makes the new tenant a sub-account of this one.
    pub parent: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameTenant {
    pub name: String,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<Tenant>,
}

fn check_name(name: &str) -> Result<(), Problem> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            "name",
            "format",
            "1–256 characters, not blank, no control characters",
        ))
    }
}

/// Creates a tenant (admin). A tenant-bound key may only create sub-accounts within its own subtree.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])),
    request_body = CreateTenant,
    responses(
        (status = 201, body = Tenant),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "The parent does not exist", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json")
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), Problem> {
    caller.require(Scope::Admin)?;
    if !is_valid_tenant_id(&request.id) {
        return Err(Problem::invalid_field(
            "id",
            "pattern",
            "1–64 characters of a-z, 0-9, _ and -",
        ));
    }
    check_name(&request.name)?;
    match (&request.parent, caller.is_operator()) {
        (Some(parent), _) => {
            caller.tenant(&state, parent).await?;
        }
        (None, false) => {
            return Err(Problem::forbidden(
                "a tenant's key can only create sub-accounts: give a parent",
            ));
        }
        (None, true) => {}
    }
    let store = state.store.clone();
    let new = NewTenant {
        id: request.id,
        name: request.name.trim().to_owned(),
        parent: request.parent,
    };
    let tenant = blocking(move || store.create_tenant(&new)).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// Lists the tenants this key can see.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = TenantList), (status = 401, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TenantList>, Problem> {
    let visible = caller.visible_tenants(&state).await?;
    let store = state.store.clone();
    let mut tenants = blocking(move || store.tenants()).await?;
    if let Some(visible) = visible {
        tenants.retain(|tenant| visible.contains(&tenant.id));
    }
    Ok(Json(TenantList { tenants }))
}

/// One tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    responses((status = 200, body = Tenant), (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Tenant>, Problem> {
    Ok(Json(caller.tenant(&state, &tenant).await?))
}

/// Renames a tenant (admin).
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    request_body = RenameTenant,
    responses((status = 200, body = Tenant),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    JsonBody(request): JsonBody<RenameTenant>,
) -> Result<Json<Tenant>, Problem> {
    caller.tenant_with(&state, &tenant, Scope::Admin).await?;
    check_name(&request.name)?;
    let store = state.store.clone();
    let name = request.name.trim().to_owned();
    Ok(Json(
        blocking(move || store.rename_tenant(&tenant, &name)).await?,
    ))
}
