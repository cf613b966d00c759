//! Viewer links: a product's server asks for one and hands it to its
//! customer, whose browser it signs in to that tenant's audit log page,
//! read-only, once. And each tenant's page settings (accent colour, the
//! origins that may frame the page).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use evident_core::Violation;
use evident_core::access::Scope;
use evident_core::ui::UiSettings;
use evident_store::{NewViewerLink, ViewerLink};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::{Caller, hash_key, mint_id, mint_secret};
use crate::blocking;
use crate::body::JsonBody;
use crate::problem::{Problem, ProblemDetails};

/// The longest a viewer link may live.
pub const MAX_EXPIRES_IN: u64 = 24 * 60 * 60;
/// Longest title of a viewer link.
pub const TITLE_MAX: usize = 200;
/// Prefix of a viewer link's token, so that a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "evv_";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateViewerLink {
    /// Seconds until the link and its session end: 1 to 86400 (24 h).
    #[schema(example = 3600)]
    pub expires_in: u64,
    /// Whether the holder may also see the tenant's sub-accounts (default false).
    #[serde(default)]
    pub include_descendants: bool,
    /// A fixed filter in the query language, ANDed with whatever the holder chooses.
    #[schema(example = "target:license:lic_93jd")]
    pub query: Option<String>,
    /// Shown as the page's heading.
    #[schema(example = "License lic_93jd")]
    pub title: Option<String>,
}

/// A new link: `url` is shown only in this answer and starts one session.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedViewerLink {
    pub id: String,
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    pub tenant: String,
    pub include_descendants: bool,
    pub query: Option<String>,
    pub title: Option<String>,
}

/// A key may hand out its tenant's page with the read or admin scope.
fn require_read_or_admin(caller: &Caller) -> Result<(), Problem> {
    if caller.key.scopes.contains(&Scope::Admin) || caller.key.scopes.contains(&Scope::Read) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "this key lacks the read and admin scopes; viewer links need one",
        ))
    }
}

/// Creates a link that signs its holder in to this tenant's audit log page, read-only, once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/viewer-links", tag = "viewer links", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    request_body = CreateViewerLink,
    responses((status = 201, body = CreatedViewerLink),
        (status = 400, description = "The query does not parse", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key has neither the read nor the admin scope", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    JsonBody(request): JsonBody<CreateViewerLink>,
) -> Result<(StatusCode, Json<CreatedViewerLink>), Problem> {
    let tenant = caller.tenant(&state, &tenant).await?;
    require_read_or_admin(&caller)?;
    if !(1..=MAX_EXPIRES_IN).contains(&request.expires_in) {
        return Err(Problem::invalid_field(
            "expires_in",
            "range",
            format!("expires_in must be 1 to {MAX_EXPIRES_IN} seconds (24 hours)"),
        ));
    }
    let query = request
        .query
        .map(|query| query.trim().to_owned())
        .filter(|query| !query.is_empty());
    if let Some(query) = &query {
        evident_core::query::parse(query).map_err(|error| Problem::query("query", &error))?;
    }
    let title = request.title.map(|title| title.trim().to_owned());
    if let Some(title) = &title
        && (title.is_empty()
            || title.chars().count() > TITLE_MAX
            || title.chars().any(char::is_control))
    {
        return Err(Problem::invalid_field(
            "title",
            "format",
            format!("a title is 1 to {TITLE_MAX} characters without control characters"),
        ));
    }
    let token = mint_secret(TOKEN_PREFIX);
    let expires_at = Timestamp::now()
        + SignedDuration::from_secs(i64::try_from(request.expires_in).unwrap_or(i64::MAX));
    let new = NewViewerLink {
        id: mint_id("vl_"),
        tenant: tenant.id.clone(),
        token_hash: hash_key(&token),
        include_descendants: request.include_descendants,
        query,
        title,
        created_by: caller.key.id.clone(),
        expires_at: evident_core::event::truncate_to_micros(expires_at),
    };
    let store = state.store.clone();
    let link = blocking(move || store.create_viewer_link(&new)).await?;
    let url = format!("{}/ui/v/{token}", state.ui.public_url.trim_end_matches('/'));
    Ok((
        StatusCode::CREATED,
        Json(CreatedViewerLink {
            id: link.id,
            url,
            expires_at: link.expires_at,
            tenant: link.tenant,
            include_descendants: link.include_descendants,
            query: link.query,
            title: link.title,
        }),
    ))
}

/// A tenant's viewer links.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewerLinkList {
    pub links: Vec<ViewerLink>,
}

/// Lists a tenant's viewer links, newest first (their tokens are never kept, so never shown).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/viewer-links", tag = "viewer links", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    responses((status = 200, body = ViewerLinkList),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<ViewerLinkList>, Problem> {
    let tenant = caller.tenant(&state, &tenant).await?;
    require_read_or_admin(&caller)?;
    let store = state.store.clone();
    Ok(Json(ViewerLinkList {
        links: blocking(move || store.viewer_links(&tenant.id)).await?,
    }))
}

/// Revokes a viewer link: it starts no session, and the session it started ends at its next request.
#[utoipa::path(delete, path = "/v1/viewer-links/{id}", tag = "viewer links", security(("bearer" = [])),
    params(("id" = String, Path, description = "Viewer link id")),
    responses((status = 200, body = ViewerLink),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ViewerLink>, Problem> {
    let not_found = || Problem::not_found(format!("viewer link {id:?} does not exist"));
    let store = state.store.clone();
    let lookup = id.clone();
    let link = blocking(move || store.viewer_link(&lookup))
        .await?
        .ok_or_else(not_found)?;
    caller
        .tenant(&state, &link.tenant)
        .await
        .map_err(|_| not_found())?;
    require_read_or_admin(&caller)?;
    let store = state.store.clone();
    Ok(Json(blocking(move || store.revoke_viewer_link(&id)).await?))
}

/// A tenant's audit log page settings.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/ui", tag = "viewer links", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    responses((status = 200, body = UiSettings),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn show_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<UiSettings>, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Read).await?;
    Ok(Json(crate::ui::settings_of(&state, &tenant.id).await?))
}

/// Sets (replaces) a tenant's page settings (admin): its accent colour and the origins that may frame it.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/ui", tag = "viewer links", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID")),
    request_body = UiSettings,
    responses((status = 200, body = UiSettings),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json")))]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    JsonBody(settings): JsonBody<UiSettings>,
) -> Result<Json<UiSettings>, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Admin).await?;
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(Problem::validation(
            problems
                .into_iter()
                .map(|(field, detail)| Violation {
                    index: None,
                    field,
                    rule: "format".to_owned(),
                    detail,
                })
                .collect(),
        ));
    }
    let body = serde_json::to_string(&settings).map_err(Problem::internal)?;
    let store = state.store.clone();
    blocking(move || store.put_tenant_ui(&tenant.id, &body)).await?;
    Ok(Json(settings))
}
