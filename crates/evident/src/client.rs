//! The command-line client: talks to a running server over HTTP.

use anyhow::{Context as _, anyhow};
use clap::Args;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where the server is and which key to use.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(
        long,
        env = "EVIDENT_URL",
        default_value = "http://127.0.0.1:7070",
        global = true
    )]
    pub url: String,
    /// An API key (the admin key `evident serve` printed, or one from `evident keys create`).
    #[arg(long, env = "EVIDENT_KEY", global = true, hide_env_values = true)]
    pub key: Option<String>,
}

pub struct Api {
    http: Client,
    base: String,
    key: String,
}

impl Api {
    pub fn new(connection: &Connection) -> anyhow::Result<Api> {
        let key = connection
            .key
            .clone()
            .ok_or_else(|| anyhow!("no API key: pass --key or set EVIDENT_KEY"))?;
        let http = Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Api {
            http,
            base: connection.url.trim_end_matches('/').to_owned(),
            key,
        })
    }

    /// A client without an overall deadline, for answers that stream for as long as they need.
    pub fn streaming(connection: &Connection) -> anyhow::Result<Api> {
        let mut api = Api::new(connection)?;
        api.http = Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(None)
            .build()?;
        Ok(api)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }
}

/// Sends a request; a problem answer becomes an error naming its title, detail and field errors.
pub fn send<T: DeserializeOwned>(request: RequestBuilder) -> anyhow::Result<T> {
    let response = request
        .send()
        .context("reaching the server (is `evident serve` running?)")?;
    decode(response)
}

pub fn decode<T: DeserializeOwned>(response: Response) -> anyhow::Result<T> {
    let status = response.status();
    let body: Value = response
        .json()
        .with_context(|| format!("reading the server's answer ({status})"))?;
    if status.is_success() {
        return serde_json::from_value(body).context("the server's answer has an unexpected shape");
    }
    Err(anyhow!(describe_problem(&body, status.as_u16())))
}

/// One line (plus one per field error) describing a problem+json answer.
pub fn describe_problem(problem: &Value, status: u16) -> String {
    let mut text = format!(
        "{status} {}",
        problem["title"].as_str().unwrap_or("request failed")
    );
    if let Some(detail) = problem["detail"].as_str() {
        text.push_str(": ");
        text.push_str(detail);
    }
    for error in problem["errors"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n  {}: {} ({})",
            error["field"].as_str().unwrap_or(""),
            error["detail"].as_str().unwrap_or(""),
            error["rule"].as_str().unwrap_or("")
        ));
    }
    text
}
