//! Server settings: flags, then `EVIDENT_*` variables, then the TOML file
//! given with `--config`, then defaults (docs/operations.md lists them all).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use evident_core::redact::Redactor;
use evident_server::Limits;
use jiff::SignedDuration;
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./evident-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings shared by `serve` and `demo`.
#[derive(Debug, Args)]
pub struct ServerFlags {
    /// A TOML file with any of the settings below.
    #[arg(long, env = "EVIDENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7070].
    #[arg(long, env = "EVIDENT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Log format on stderr [default: text].
    #[arg(long, env = "EVIDENT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Most events in one ingest request [default: 1000].
    #[arg(long, env = "EVIDENT_MAX_EVENTS_PER_REQUEST")]
    pub max_events_per_request: Option<usize>,
    /// Largest ingest body in bytes [default: 1048576].
    #[arg(long, env = "EVIDENT_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Ingest bodies parsed and not yet stored at once, in bytes of JSON; more wait unparsed [default: 4194304].
    #[arg(long, env = "EVIDENT_INGEST_BYTES_IN_FLIGHT")]
    pub ingest_bytes_in_flight: Option<usize>,
    /// How far in the future occurred_at may lie, in seconds [default: 86400].
    #[arg(long, env = "EVIDENT_MAX_FUTURE_SECONDS")]
    pub max_future_seconds: Option<u32>,
    /// The deployment's event catalog (TOML); reloaded on SIGHUP [default: none, open mode].
    #[arg(long, env = "EVIDENT_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Metadata key names redacted wherever they occur, comma-separated
    /// [default: password,passwd,secret,secret_key,client_secret,token,access_token,refresh_token,api_key,authorization,private_key,cookie].
    #[arg(long, env = "EVIDENT_REDACT_KEYS", value_delimiter = ',')]
    pub redact_keys: Option<Vec<String>>,
    /// The deployment's origin: checkpoints name a tenant's log `<origin>/<tenant>` [default: the listen host].
    #[arg(long, env = "EVIDENT_ORIGIN")]
    pub origin: Option<String>,
    /// A file holding the checkpoint signing key [default: signing.key in the data dir, created on first start].
    #[arg(long, env = "EVIDENT_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// How often tenants whose log grew get a signed checkpoint, in seconds [default: 5].
    #[arg(long, env = "EVIDENT_CHECKPOINT_INTERVAL_SECONDS")]
    pub checkpoint_interval_seconds: Option<u64>,
    /// Where browsers reach this server, e.g. https://audit.example.com: viewer links start with it,
    /// and https makes the page's cookies Secure [default: http://<listen address>].
    #[arg(long, env = "EVIDENT_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub store: Option<crate::store::Location>,
    pub listen: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
    pub max_events_per_request: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub ingest_bytes_in_flight: Option<usize>,
    pub max_future_seconds: Option<u32>,
    pub catalog: Option<PathBuf>,
    pub redact_keys: Option<Vec<String>>,
    pub origin: Option<String>,
    pub signing_key: Option<PathBuf>,
    pub checkpoint_interval_seconds: Option<u64>,
    pub public_url: Option<String>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

/// Settings after every source is merged.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub origin: String,
    pub signing_key: Option<PathBuf>,
    pub catalog: Option<PathBuf>,
    pub redactor: Redactor,
    pub log_format: LogFormat,
    pub limits: Limits,
    pub public_url: Option<String>,
}

impl ServerFlags {
    pub fn settings(&self, file: &FileConfig) -> anyhow::Result<Settings> {
        let defaults = Limits::default();
        let listen = match self.listen.or(file.listen) {
            Some(listen) => listen,
            None => DEFAULT_LISTEN
                .parse()
                .context("the default listen address")?,
        };
        let max_events = self
            .max_events_per_request
            .or(file.max_events_per_request)
            .unwrap_or(defaults.max_events_per_request);
        let max_body = self
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(defaults.max_body_bytes);
        anyhow::ensure!(max_events >= 1, "max_events_per_request must be at least 1");
        anyhow::ensure!(max_body >= 1024, "max_body_bytes must be at least 1024");
        let in_flight = self
            .ingest_bytes_in_flight
            .or(file.ingest_bytes_in_flight)
            .unwrap_or(defaults.ingest_bytes_in_flight);
        anyhow::ensure!(
            in_flight >= 1024,
            "ingest_bytes_in_flight must be at least 1024"
        );
        let mut limits = Limits {
            max_events_per_request: max_events,
            max_body_bytes: max_body,
            ingest_bytes_in_flight: in_flight,
            ..defaults
        };
        if let Some(seconds) = self.max_future_seconds.or(file.max_future_seconds) {
            limits.event.max_future = SignedDuration::from_secs(i64::from(seconds));
        }
        let redactor = match self.redact_keys.as_ref().or(file.redact_keys.as_ref()) {
            Some(keys) => Redactor::new(
                keys.iter()
                    .map(|key| key.trim())
                    .filter(|key| !key.is_empty()),
            ),
            None => Redactor::default(),
        };
        let interval = self
            .checkpoint_interval_seconds
            .or(file.checkpoint_interval_seconds)
            .unwrap_or(5);
        anyhow::ensure!(
            interval >= 1,
            "checkpoint_interval_seconds must be at least 1"
        );
        limits.checkpoint_interval = std::time::Duration::from_secs(interval);
        let public_url = self
            .public_url
            .clone()
            .or_else(|| file.public_url.clone())
            .map(|url| url.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url {
            let host = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            anyhow::ensure!(
                host.is_some_and(|host| !host.is_empty() && !host.contains('/')),
                "public_url must be http(s)://host[:port] with no path, got {url:?}"
            );
        }
        Ok(Settings {
            listen,
            origin: self
                .origin
                .clone()
                .or_else(|| file.origin.clone())
                .unwrap_or_else(|| listen.ip().to_string()),
            signing_key: self
                .signing_key
                .clone()
                .or_else(|| file.signing_key.clone()),
            catalog: self.catalog.clone().or_else(|| file.catalog.clone()),
            redactor,
            log_format: self
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            limits,
            public_url,
        })
    }
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVIDENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
