//! Router assembly: state, routes, the OpenAPI document, middleware.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use evident_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Limits;
use crate::catalogs::Catalogs;
use crate::checkpointer::Checkpointer;
use crate::routes::{catalog, checkpoint, events, export, keys, log, ops, tenants, viewer_links};
use crate::writer::WriterHandle;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Keys and tenant ancestries known from earlier requests.
    pub access: Arc<crate::access_cache::AccessCache>,
    pub catalogs: Arc<Catalogs>,
    pub checkpointer: Arc<Checkpointer>,
    pub writer: WriterHandle,
    /// Permits for `Limits::ingest_bytes_in_flight`.
    pub ingest_bytes: Arc<tokio::sync::Semaphore>,
    pub limits: Arc<Limits>,
    pub ui: Arc<crate::ui::UiConfig>,
    pub metrics: PrometheusHandle,
    pub openapi: Arc<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Evident",
        description = "Audit log service: append-only, multi-tenant, searchable. Errors are RFC 9457 problem+json.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::routes::events::EventWithProof)),
    tags(
        (name = "tenants", description = "Accounts and sub-accounts"),
        (name = "keys", description = "API keys and their scopes"),
        (name = "events", description = "Ingest and query audit events"),
        (name = "catalog", description = "Event types: categories, descriptions, schemas, redaction"),
        (name = "viewer links", description = "The audit log page: links that sign a product's customers in to it, and each tenant's page settings"),
        (name = "log", description = "Each tenant's verifiable log: Merkle proofs (RFC 9162)"),
        (name = "operations", description = "Health, readiness, metrics")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API's routes with their OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::show, tenants::rename))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(events::ingest, events::list))
        .routes(routes!(export::export))
        .routes(routes!(events::show))
        .routes(routes!(catalog::show))
        .routes(routes!(catalog::reload))
        .routes(routes!(catalog::put_tenant))
        .routes(routes!(log::inclusion))
        .routes(routes!(log::consistency))
        .routes(routes!(checkpoint::key))
        .routes(routes!(checkpoint::latest))
        .routes(routes!(checkpoint::list))
        .routes(routes!(viewer_links::create, viewer_links::list))
        .routes(routes!(viewer_links::revoke))
        .routes(routes!(
            viewer_links::show_settings,
            viewer_links::put_settings
        ))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> String {
    let (_, api) = api_routes().split_for_parts();
    api.to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    routes
        .route("/openapi.json", axum::routing::get(ops::openapi))
        .merge(crate::ui::router())
        // Ingest reads its body itself, to answer an oversize body with problem+json.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(record_request))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Counts requests and records their latency per route.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("evident_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("evident_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}
