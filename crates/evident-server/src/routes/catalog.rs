//! The catalog: what the events are, per tenant.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use evident_core::access::Scope;
use evident_core::catalog::{Catalog, CatalogFile, Mode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::blocking;
use crate::body::read_text;
use crate::catalogs::CatalogSummary;
use crate::problem::{Problem, ProblemDetails};

/// The effective catalog, grouped by category (for clients and the event-type filter).
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogView {
    pub name: Option<String>,
    /// `strict`: unknown actions are refused; `open`: accepted as `uncategorized`.
    pub mode: String,
    /// Channel names and their labels.
    pub channels: BTreeMap<String, String>,
    pub categories: Vec<CategoryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    pub name: String,
    pub description: Option<String>,
    pub event_types: Vec<EventTypeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeView {
    pub action: String,
    pub description: String,
    pub display: Option<String>,
    pub targets: Vec<String>,
    pub channels: Vec<String>,
}

fn view(catalog: &Catalog) -> CatalogView {
    let mut categories: BTreeMap<String, Vec<EventTypeView>> = BTreeMap::new();
    for event_type in catalog.event_types() {
        let spec = &event_type.spec;
        categories
            .entry(spec.category.clone())
            .or_default()
            .push(EventTypeView {
                action: spec.action.clone(),
                description: spec.description.clone(),
                display: spec.display.clone(),
                targets: spec.targets.clone(),
                channels: spec.channels.clone(),
            });
    }
    CatalogView {
        name: catalog.name.clone(),
        mode: match catalog.mode {
            Mode::Strict => "strict".to_owned(),
            Mode::Open => "open".to_owned(),
        },
        channels: catalog.channels.clone(),
        categories: categories
            .into_iter()
            .map(|(name, event_types)| CategoryView {
                description: catalog
                    .categories
                    .get(&name)
                    .and_then(|category| category.description.clone()),
                name,
                event_types,
            })
            .collect(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogParams {
    /// Whose effective catalog; defaults to the key's tenant (an operator key without it gets the deployment's).
    tenant: Option<String>,
}

/// The effective catalog for a tenant: the deployment's plus the additions of the tenant and its ancestors.
#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", security(("bearer" = [])),
    params(CatalogParams),
    responses((status = 200, body = CatalogView),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<CatalogParams>,
) -> Result<Json<CatalogView>, Problem> {
    let tenant = match params.tenant.or_else(|| caller.key.tenant.clone()) {
        Some(tenant) => Some(caller.tenant(&state, &tenant).await?.id),
        None => None,
    };
    let set = state.catalogs.snapshot();
    let store = state.store.clone();
    let catalog = match tenant {
        Some(tenant) => {
            let set = set.clone();
            blocking(move || set.effective(store.as_ref(), &tenant)).await?
        }
        None => std::sync::Arc::new(set.deployment().clone()),
    };
    Ok(Json(view(&catalog)))
}

/// Re-reads the deployment's catalog file (operator keys with admin scope). A broken file is refused and changes nothing.
#[utoipa::path(post, path = "/v1/catalog/reload", tag = "catalog", security(("bearer" = [])),
    responses((status = 200, body = CatalogSummary),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The file is invalid; the catalogs in force are unchanged", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn reload(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CatalogSummary>, Problem> {
    caller.require(Scope::Admin)?;
    if !caller.is_operator() {
        return Err(Problem::forbidden(
            "only an operator key reloads the deployment's catalog",
        ));
    }
    let (catalogs, store) = (state.catalogs.clone(), state.store.clone());
    Ok(Json(
        blocking(move || catalogs.reload(store.as_ref())).await?,
    ))
}

/// Sets a tenant's additions to the catalog (admin): they apply to it and its descendants.
/// The body is a catalog file as JSON, or as TOML with `Content-Type: application/toml`.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/catalog", tag = "catalog", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    request_body(content = Object, description = "A catalog file (docs/catalog.md) as JSON or TOML"),
    responses((status = 200, description = "The tenant's effective catalog", body = CatalogSummary),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The catalog is invalid or clashes with the one it extends", body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn put_tenant(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    request: Request,
) -> Result<Json<CatalogSummary>, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Admin).await?.id;
    let is_toml = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/toml"));
    let limit = state.limits.max_body_bytes;
    let addition: CatalogFile = if is_toml {
        let text = read_text(request, limit).await?;
        toml::from_str(&text)
            .map_err(|error| Problem::invalid_field("catalog", "toml", error.to_string()))?
    } else {
        let value = crate::body::read_json(request, limit).await?;
        serde_json::from_value(value)
            .map_err(|error| Problem::invalid_field("catalog", "schema", error.to_string()))?
    };
    let (catalogs, store) = (state.catalogs.clone(), state.store.clone());
    Ok(Json(
        blocking(move || catalogs.set_tenant(store.as_ref(), &tenant, addition)).await?,
    ))
}
