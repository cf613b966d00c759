//! `evident keys create|list|revoke`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Api, Connection, send};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// Bind the key to this tenant (and its sub-accounts); without it the key is operator-wide.
        #[arg(long)]
        tenant: Option<String>,
        /// Comma list of ingest, read, export, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List keys (never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Revoke a key: requests with it fail at once.
    Revoke {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

fn scopes(key: &Value) -> String {
    key["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Create {
            name,
            tenant,
            scopes: wanted,
            connection,
        } => {
            let api = Api::new(&connection)?;
            let created: Value = send(
                api.post("/v1/keys")
                    .json(&json!({"name": name, "tenant": tenant, "scopes": wanted})),
            )?;
            println!("id:     {}", created["id"].as_str().unwrap_or(""));
            println!("scopes: {}", scopes(&created));
            println!(
                "tenant: {}",
                created["tenant"].as_str().unwrap_or("(operator-wide)")
            );
            println!("key:    {}", created["key"].as_str().unwrap_or(""));
            println!("(shown once: it is stored only as a hash)");
        }
        KeysCommand::List { json, connection } => {
            let api = Api::new(&connection)?;
            let answer: Value = send(api.get("/v1/keys"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer["keys"])?);
            } else {
                for key in answer["keys"].as_array().into_iter().flatten() {
                    let state = if key["revoked_at"].is_null() {
                        "active"
                    } else {
                        "revoked"
                    };
                    println!(
                        "{:<22} {:<8} {:<24} {:<26} {}",
                        key["id"].as_str().unwrap_or(""),
                        state,
                        key["tenant"].as_str().unwrap_or("(operator)"),
                        scopes(key),
                        key["name"].as_str().unwrap_or("")
                    );
                }
            }
        }
        KeysCommand::Revoke { id, connection } => {
            let api = Api::new(&connection)?;
            let key: Value = send(api.delete(&format!("/v1/keys/{id}")))?;
            println!(
                "revoked {} ({})",
                key["id"].as_str().unwrap_or(""),
                key["name"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
