//! `evident catalog check FILE` and `evident catalog show --tenant T`.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write as _;

use anyhow::Context as _;
use clap::Subcommand;
use evident_core::catalog::Catalog;
use evident_server::catalogs::summary;
use serde_json::Value;

use crate::client::{Api, Connection, send};

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Check a catalog file (TOML) and print its summary.
    Check { file: PathBuf },
    /// Print a tenant's effective catalog from a running server.
    Show {
        /// The tenant (default: the key's own; an operator key without it sees the deployment's).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: CatalogCommand) -> anyhow::Result<ExitCode> {
    match command {
        CatalogCommand::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let catalog = match Catalog::from_toml(&text) {
                Ok(catalog) => catalog,
                Err(error) => {
                    eprintln!("{}: {error}", file.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let overview = summary(&catalog);
            println!(
                "{}: {} ({} mode): {} event types in {} categories",
                file.display(),
                overview.name.as_deref().unwrap_or("unnamed catalog"),
                overview.mode,
                overview.event_types,
                overview.categories
            );
            let mut categories: std::collections::BTreeMap<&str, usize> =
                std::collections::BTreeMap::new();
            for event_type in catalog.event_types() {
                *categories
                    .entry(event_type.spec.category.as_str())
                    .or_default() += 1;
            }
            for (category, count) in categories {
                println!("  {category}: {count}");
            }
        }
        CatalogCommand::Show {
            tenant,
            json,
            connection,
        } => {
            let api = Api::new(&connection)?;
            let mut request = api.get("/v1/catalog");
            if let Some(tenant) = &tenant {
                request = request.query(&[("tenant", tenant)]);
            }
            let catalog: Value = send(request)?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&catalog)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "{} ({} mode)",
                catalog["name"].as_str().unwrap_or("no catalog"),
                catalog["mode"].as_str().unwrap_or("")
            )?;
            for category in catalog["categories"].as_array().into_iter().flatten() {
                writeln!(out, "\n{}", category["name"].as_str().unwrap_or(""))?;
                for event_type in category["event_types"].as_array().into_iter().flatten() {
                    writeln!(
                        out,
                        "  {:<42} {}",
                        event_type["action"].as_str().unwrap_or(""),
                        event_type["description"].as_str().unwrap_or("")
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
