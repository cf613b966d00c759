//! `evident query 'QUERY' --tenant T`: pages through a tenant's events and
//! prints them as a table, NDJSON or CSV.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use evident_core::Event;
use evident_core::export::{CsvLayout, targets_label, user_label};
use serde::Deserialize as _;
use serde_json::Value;

use crate::client::{Api, Connection, send};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    /// One event per line (NDJSON), as the API returns it.
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The query language, e.g. 'action:user.* actor:ada@* from:7d "secret key"' (empty: everything).
    #[arg(default_value = "")]
    pub query: String,
    #[arg(long)]
    pub tenant: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Most events to print; 0 prints all.
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// Oldest first.
    #[arg(long)]
    pub asc: bool,
    /// Include the tenant's sub-accounts.
    #[arg(long)]
    pub include_descendants: bool,
    #[command(flatten)]
    pub connection: Connection,
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn table_row(event: &Event, several: bool) -> String {
    let mut row = format!(
        "{:<27} {:<34} {:<36} {:<40} {:<16} {:<7} {}",
        event.occurred_at.to_string(),
        event.action,
        user_label(event),
        targets_label(event),
        event
            .context
            .ip
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        event.channel.as_deref().unwrap_or(""),
        event.outcome.as_str(),
    );
    if several {
        row = format!("{:<20} {row}", event.tenant);
    }
    row
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.connection)?;
    let tenant: Value = send(api.get(&format!("/v1/tenants/{}", args.tenant)))?;
    let tenant_name = text(&tenant, "name").to_owned();
    // Table and JSON go through `out`; CSV through its own writer on stdout.
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let layout = CsvLayout::default();
    let mut csv = (args.format == Format::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
    if let Some(writer) = csv.as_mut() {
        writer.write_record(layout.header())?;
    }
    if args.format == Format::Table {
        let header = format!(
            "{:<27} {:<34} {:<36} {:<40} {:<16} {:<7} {}",
            "TIME", "EVENT", "USER", "TARGETS", "IP ADDRESS", "CHANNEL", "OUTCOME"
        );
        if args.include_descendants {
            writeln!(out, "{:<20} {header}", "ACCOUNT ID")?;
        } else {
            writeln!(out, "{header}")?;
        }
    }
    let mut printed: u64 = 0;
    let mut cursor: Option<String> = None;
    loop {
        let remaining = if args.limit == 0 {
            1000
        } else {
            (args.limit - printed).min(1000)
        };
        if remaining == 0 {
            break;
        }
        let mut params = vec![
            ("query", args.query.clone()),
            ("limit", remaining.to_string()),
            ("sort", if args.asc { "asc" } else { "desc" }.to_owned()),
        ];
        if args.include_descendants {
            params.push(("include", "descendants".to_owned()));
        }
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor.clone()));
        }
        let page: Value = send(
            api.get(&format!("/v1/tenants/{}/events", args.tenant))
                .query(&params),
        )?;
        for value in page["events"].as_array().into_iter().flatten() {
            if args.format == Format::Json {
                writeln!(out, "{}", serde_json::to_string(value)?)?;
                printed += 1;
                continue;
            }
            let event =
                Event::deserialize(value).context("the server's event has an unexpected shape")?;
            match &mut csv {
                Some(writer) => writer.write_record(
                    layout
                        .row(&event, &tenant_name)
                        .iter()
                        .map(|cell| cell.as_bytes()),
                )?,
                None => writeln!(out, "{}", table_row(&event, args.include_descendants))?,
            }
            printed += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    if let Some(mut writer) = csv {
        writer.flush().context("writing the CSV")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
