//! Health, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::blocking;
use crate::problem::{Problem, ProblemDetails};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The store answers queries.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready", body = Object),
    (status = 503, description = "The store does not answer", body = ProblemDetails, content_type = "application/problem+json")
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let store = state.store.clone();
    blocking(move || store.stats())
        .await
        .map_err(|problem| Problem::unavailable(problem.detail.clone().unwrap_or_default()))?;
    Ok(Json(json!({"status": "ready"})))
}

/// Prometheus metrics: ingested events, request latencies, store size.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store.clone();
    if let Ok(stats) = blocking(move || store.stats()).await {
        metrics::gauge!("evident_store_events").set(stats.events as f64);
        metrics::gauge!("evident_store_bytes").set(stats.bytes_on_disk as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The OpenAPI 3.1 description of this API.
pub async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
}
