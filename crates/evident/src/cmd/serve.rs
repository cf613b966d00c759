//! `evident serve`: the HTTP API, on the embedded SQLite store or on PostgreSQL.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use evident_server::Server;
use evident_server::auth::bootstrap_admin_key;
use evident_server::catalogs::{Catalogs, summary};
use evident_server::checkpointer::Checkpointer;
use evident_server::ui::UiConfig;
use evident_server::ui::session::SessionKey;
use evident_store::Store;

use crate::config::{DEFAULT_DATA_DIR, FileConfig, ServerFlags, Settings, init_logging};
use crate::store::Location;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the store lives (unless --store names another place) and the
    /// signing key is created; made on first start [default: ./evident-data].
    #[arg(long, env = "EVIDENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store: a PostgreSQL URL (postgres://user@host:port/database), which
    /// several servers may share, or a data directory [default: the data dir].
    #[arg(long, env = "EVIDENT_STORE", value_name = "URL|DIR")]
    pub store: Option<Location>,
    #[command(flatten)]
    pub server: ServerFlags,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(args.server.config.as_deref())?;
    let settings = args.server.settings(&file)?;
    init_logging(settings.log_format);
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let location = Location::or_data_dir(args.store.or(file.store), &data_dir);
    let store = location
        .open()
        .with_context(|| format!("opening {location}"))?;
    let preset = std::env::var("EVIDENT_ADMIN_KEY")
        .ok()
        .filter(|key| !key.is_empty());
    if let Some(key) = bootstrap_admin_key(store.as_ref(), preset.as_deref())? {
        println!("admin key: {key}");
        println!("(shown once: it is stored only as a hash)");
    }
    tracing::info!(store = %location, "store open");
    let catalogs = Catalogs::load(
        settings.catalog.clone(),
        settings.redactor.clone(),
        store.as_ref(),
    )?;
    let deployment = summary(catalogs.snapshot().deployment());
    tracing::info!(event_types = deployment.event_types, mode = %deployment.mode, "catalog loaded");
    let signer = crate::signing_key::load_or_create(
        settings.signing_key.as_deref(),
        &data_dir,
        &settings.origin,
    )?;
    let session_key = SessionKey::derive(signer.encode().as_bytes());
    let checkpointer = Arc::new(Checkpointer::new(signer, settings.origin.clone()));
    serve(
        store,
        Arc::new(catalogs),
        checkpointer,
        session_key,
        settings,
        |_| {},
    )
}

/// Serves until SIGINT or SIGTERM; `ready` runs once the socket is bound.
pub fn serve(
    store: Arc<dyn Store>,
    catalogs: Arc<Catalogs>,
    checkpointer: Arc<Checkpointer>,
    session_key: SessionKey,
    settings: Settings,
    ready: impl FnOnce(std::net::SocketAddr) + Send + 'static,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let server = Server::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let address = server.local_addr()?;
        println!("listening on http://{address}");
        std::io::stdout().flush().ok();
        tracing::info!(%address, "listening");
        let ui = UiConfig {
            session_key,
            public_url: settings
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{address}")),
        };
        ready(address);
        server
            .run(
                store,
                catalogs,
                checkpointer,
                settings.limits,
                ui,
                shutdown_signal(),
            )
            .await?;
        tracing::info!("stopped; every acknowledged event is on disk");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
