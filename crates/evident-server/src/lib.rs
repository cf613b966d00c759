//! Evident's HTTP API: authentication, routes, problem+json, OpenAPI,
//! metrics, and the writer that group-commits ingest.
//!
//! **Architecture Invariant:** handlers are thin: they extract, call one
//! evident-core or store function, and render. Validation lives in core,
//! persistence in the store; HTTP concerns (status codes, problem+json)
//! live here and nowhere else.
//!
//! **Architecture Invariant:** a 201 from ingest means the events are on
//! disk: the writer answers only after its transaction committed.

pub mod access_cache;
pub mod app;
pub mod auth;
pub mod body;
pub mod catalogs;
pub mod checkpointer;
pub mod problem;
pub mod routes;
pub mod ui;
pub mod writer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::serve::ListenerExt;
use evident_core::EventLimits;
use evident_store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::catalogs::Catalogs;
use crate::checkpointer::Checkpointer;
use crate::problem::Problem;
use crate::writer::Writer;

/// Request limits (all configurable).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_events_per_request: usize,
    pub max_body_bytes: usize,
    /// Ingest bodies parsed and waiting for the writer at once, in bytes of
    /// their JSON: more wait, unparsed, until earlier ones are stored. Each
    /// body counts as at most the whole budget, so a larger one goes alone.
    pub ingest_bytes_in_flight: usize,
    pub event: EventLimits,
    /// How often tenants whose log grew get a new signed checkpoint.
    pub checkpoint_interval: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events_per_request: 1_000,
            max_body_bytes: 1024 * 1024,
            ingest_bytes_in_flight: 4 * 1024 * 1024,
            event: EventLimits::default(),
            checkpoint_interval: std::time::Duration::from_secs(5),
        }
    }
}

/// Runs store work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static, E: Into<Problem> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Problem> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Into::into),
        Err(error) => Err(Problem::internal(error)),
    }
}

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows only its own figures"
                );
            }
            handle
        })
        .clone()
}

/// How often a server looks for tenant catalogs changed through another server sharing its store.
const CATALOG_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes in tenant catalogs that another server sharing the store changed.
async fn refresh_catalogs(store: Arc<dyn Store>, catalogs: Arc<Catalogs>) {
    every(
        CATALOG_REFRESH,
        move || catalogs.refresh_tenants(store.as_ref()),
        |outcome| match outcome {
            Ok(Ok(true)) => tracing::info!("tenant catalogs changed in the store: taken in"),
            Ok(Ok(false)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "tenant catalogs in the store could not be taken in; the catalogs in force are unchanged")
            }
            Err(error) => tracing::warn!(%error, "looking for changed tenant catalogs failed"),
        },
    )
    .await
}

/// Runs `work` on a blocking thread every `interval` (a late tick waits, none
/// is made up), until the task is dropped, handing each outcome to `report`
/// (an `Err` when the blocking task itself failed).
pub(crate) async fn every<T: Send + 'static>(
    interval: std::time::Duration,
    work: impl Fn() -> T + Send + Sync + 'static,
    report: impl Fn(Result<T, tokio::task::JoinError>),
) {
    let work = Arc::new(work);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let work = work.clone();
        report(tokio::task::spawn_blocking(move || work()).await);
    }
}

/// Reloads the catalogs on SIGHUP; a broken file is logged and changes nothing.
async fn reload_on_hangup(store: Arc<dyn Store>, catalogs: Arc<Catalogs>) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!(
                "cannot listen for SIGHUP; reload catalogs with POST /v1/catalog/reload"
            );
            return;
        };
        while hangups.recv().await.is_some() {
            let (store, catalogs) = (store.clone(), catalogs.clone());
            match tokio::task::spawn_blocking(move || catalogs.reload(store.as_ref())).await {
                Ok(Ok(summary)) => {
                    tracing::info!(event_types = summary.event_types, mode = %summary.mode, "catalog reloaded (SIGHUP)")
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "catalog reload refused; the catalogs in force are unchanged")
                }
                Err(error) => tracing::error!(%error, "catalog reload failed"),
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

/// A bound, not yet serving, server.
pub struct Server {
    listener: TcpListener,
}

impl Server {
    pub async fn bind(address: SocketAddr) -> std::io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(address).await?,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops taking connections,
    /// lets in-flight requests finish (their writes included) and stops the writer.
    pub async fn run(
        self,
        store: Arc<dyn Store>,
        catalogs: Arc<Catalogs>,
        checkpointer: Arc<Checkpointer>,
        limits: Limits,
        ui: ui::UiConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (writer, handle) = Writer::start(store.clone());
        let reloader = tokio::spawn(reload_on_hangup(store.clone(), catalogs.clone()));
        let refresher = tokio::spawn(refresh_catalogs(store.clone(), catalogs.clone()));
        let signer = tokio::spawn(checkpointer::run(
            checkpointer.clone(),
            store.clone(),
            limits.checkpoint_interval,
        ));
        let state = AppState {
            store,
            access: Arc::default(),
            catalogs,
            checkpointer,
            writer: handle,
            ingest_bytes: Arc::new(tokio::sync::Semaphore::new(
                limits
                    .ingest_bytes_in_flight
                    .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
            )),
            limits: Arc::new(limits),
            ui: Arc::new(ui),
            metrics: metrics_handle(),
            openapi: Arc::new(app::openapi_json()),
        };
        let router = app::router(state);
        // Small answers go out at once instead of waiting for the client's delayed ACK (Nagle).
        let listener = self.listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY could not be set");
            }
        });
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        reloader.abort();
        refresher.abort();
        signer.abort();
        // Every WriterHandle lived in the router's state, now dropped: the writer drains and stops.
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .ok();
        served
    }
}
