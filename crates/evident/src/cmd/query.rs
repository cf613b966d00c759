//! `evident query 'QUERY' --tenant T`: pages through a tenant's events and
//! prints them as a table, NDJSON or CSV.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
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

/// CSV columns, in the words of the audit log pages users know.
const CSV_HEADER: [&str; 14] = [
    "Time",
    "Event",
    "Description",
    "Area",
    "User",
    "Actor type",
    "Company name",
    "Account ID",
    "Targets",
    "IP address",
    "Channel",
    "Outcome",
    "Event ID",
    "Seq",
];

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn user(event: &Value) -> &str {
    let actor = &event["actor"];
    ["email", "name", "id"]
        .into_iter()
        .map(|key| text(actor, key))
        .find(|part| !part.is_empty())
        .unwrap_or(actor["type"].as_str().unwrap_or(""))
}

fn targets(event: &Value) -> String {
    event["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|target| {
            let label = [text(target, "name"), text(target, "email")]
                .into_iter()
                .find(|part| !part.is_empty());
            match label {
                Some(label) => format!("{}:{} ({label})", text(target, "type"), text(target, "id")),
                None => format!("{}:{}", text(target, "type"), text(target, "id")),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn csv_row(event: &Value, tenant_name: &str) -> Vec<String> {
    let company = event["tenant_name"].as_str().unwrap_or(tenant_name);
    vec![
        text(event, "occurred_at").to_owned(),
        text(event, "action").to_owned(),
        text(event, "description").to_owned(),
        text(event, "category").to_owned(),
        user(event).to_owned(),
        text(&event["actor"], "type").to_owned(),
        company.to_owned(),
        text(event, "tenant").to_owned(),
        targets(event),
        text(&event["context"], "ip").to_owned(),
        text(event, "channel").to_owned(),
        text(event, "outcome").to_owned(),
        text(event, "id").to_owned(),
        event["seq"].to_string(),
    ]
}

fn table_row(event: &Value, several: bool) -> String {
    let mut row = format!(
        "{:<27} {:<34} {:<36} {:<40} {:<16} {:<7} {}",
        text(event, "occurred_at"),
        text(event, "action"),
        user(event),
        targets(event),
        text(&event["context"], "ip"),
        text(event, "channel"),
        text(event, "outcome"),
    );
    if several {
        row = format!("{:<20} {row}", text(event, "tenant"));
    }
    row
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.connection)?;
    let tenant: Value = send(api.get(&format!("/v1/tenants/{}", args.tenant)))?;
    let tenant_name = text(&tenant, "name").to_owned();
    // Table and JSON go through `out`; CSV through its own writer on stdout.
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut csv = (args.format == Format::Csv).then(|| csv::Writer::from_writer(std::io::stdout()));
    if let Some(writer) = csv.as_mut() {
        writer.write_record(CSV_HEADER)?;
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
        for event in page["events"].as_array().into_iter().flatten() {
            match (&mut csv, args.format) {
                (Some(writer), _) => writer.write_record(csv_row(event, &tenant_name))?,
                (None, Format::Json) => writeln!(out, "{}", serde_json::to_string(event)?)?,
                (None, _) => writeln!(out, "{}", table_row(event, args.include_descendants))?,
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
