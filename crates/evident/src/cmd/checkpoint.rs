//! `evident checkpoint --key` and `evident checkpoint --tenant T`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::client::{Api, Connection, describe_problem};

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Print the server's verifier key (for `evident verify --key`).
    #[arg(long = "key", id = "print_key")]
    pub print_key: bool,
    /// Print the latest signed checkpoint of this tenant's log.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The server's base URL.
    #[arg(long, env = "EVIDENT_URL", default_value = "http://127.0.0.1:7070")]
    pub url: String,
    /// An API key with the read scope (for --tenant).
    #[arg(long, env = "EVIDENT_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

fn text(request: reqwest::blocking::RequestBuilder) -> anyhow::Result<String> {
    let response = request
        .send()
        .context("reaching the server (is `evident serve` running?)")?;
    let status = response.status();
    let body = response.text()?;
    if !status.is_success() {
        let problem = serde_json::from_str(&body).unwrap_or_default();
        bail!(describe_problem(&problem, status.as_u16()));
    }
    Ok(body)
}

pub fn run(args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    if args.print_key == args.tenant.is_some() {
        bail!("give either --key or --tenant T");
    }
    if args.print_key {
        let client = reqwest::blocking::Client::new();
        let url = format!("{}/v1/log/key", args.url.trim_end_matches('/'));
        print!("{}", text(client.get(url))?);
        return Ok(ExitCode::SUCCESS);
    }
    let api = Api::new(&Connection {
        url: args.url.clone(),
        key: args.api_key.clone(),
    })?;
    let tenant = args.tenant.unwrap_or_default();
    print!(
        "{}",
        text(api.get(&format!("/v1/tenants/{tenant}/log/checkpoint")))?
    );
    Ok(ExitCode::SUCCESS)
}
