//! `evident tenants create|list|show`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Api, Connection, send};

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant (with --parent: a sub-account).
    Create {
        /// The Account ID: 1–64 of a-z, 0-9, _ and -.
        id: String,
        /// The Company name.
        #[arg(long)]
        name: String,
        #[arg(long)]
        parent: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the tenants the key can see.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Change a tenant's Company name.
    Rename {
        id: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show one tenant.
    Show {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
}

fn line(tenant: &Value) -> String {
    let parent = tenant["parent"]
        .as_str()
        .map(|parent| format!("  (sub-account of {parent})"))
        .unwrap_or_default();
    format!(
        "{:<24} {}{parent}",
        tenant["id"].as_str().unwrap_or(""),
        tenant["name"].as_str().unwrap_or("")
    )
}

pub fn run(command: TenantsCommand) -> anyhow::Result<ExitCode> {
    match command {
        TenantsCommand::Create {
            id,
            name,
            parent,
            connection,
        } => {
            let api = Api::new(&connection)?;
            let tenant: Value = send(
                api.post("/v1/tenants")
                    .json(&json!({"id": id, "name": name, "parent": parent})),
            )?;
            println!("created {}", line(&tenant));
        }
        TenantsCommand::List { json, connection } => {
            let api = Api::new(&connection)?;
            let answer: Value = send(api.get("/v1/tenants"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer["tenants"])?);
            } else {
                for tenant in answer["tenants"].as_array().into_iter().flatten() {
                    println!("{}", line(tenant));
                }
            }
        }
        TenantsCommand::Rename {
            id,
            name,
            connection,
        } => {
            let api = Api::new(&connection)?;
            let tenant: Value = send(
                api.patch(&format!("/v1/tenants/{id}"))
                    .json(&json!({"name": name})),
            )?;
            println!("renamed {}", line(&tenant));
        }
        TenantsCommand::Show { id, connection } => {
            let api = Api::new(&connection)?;
            let tenant: Value = send(api.get(&format!("/v1/tenants/{id}")))?;
            println!("{}", serde_json::to_string_pretty(&tenant)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
