//! `evident export --tenant T [--query Q] --format csv|ndjson|bundle [--out FILE]`:
//! streams the export endpoint to a file or stdout, with a progress bar on a terminal.

use std::fs::File;
use std::io::{IsTerminal as _, Read as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::client::{Api, Connection, describe_problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    /// One event per line, as the query API returns it.
    Ndjson,
    /// Leaves with inclusion proofs against a signed checkpoint (`evident verify --bundle`).
    Bundle,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Bundle => "bundle",
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub tenant: String,
    /// The query language, e.g. 'action:user.* from:30d' (default: every event).
    #[arg(long, default_value = "")]
    pub query: String,
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write here instead of stdout (replaced only once the export is complete).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Include the tenant's sub-accounts (CSV and NDJSON).
    #[arg(long)]
    pub include_descendants: bool,
    /// Oldest first (CSV and NDJSON; a bundle is always in log order).
    #[arg(long)]
    pub asc: bool,
    /// CSV columns, comma-separated (docs/export.md).
    #[arg(long)]
    pub columns: Option<String>,
    /// CSV: an IANA time zone for the Time column (default UTC).
    #[arg(long)]
    pub tz: Option<String>,
    /// CSV: cells as stored, without the spreadsheet formula defence.
    #[arg(long)]
    pub raw: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// Counts records in a stream of CSV or NDJSON bytes: newlines outside CSV quotes.
#[derive(Default)]
struct RecordCounter {
    in_quotes: bool,
    csv: bool,
    records: u64,
}

impl RecordCounter {
    fn feed(&mut self, bytes: &[u8]) {
        for byte in bytes {
            match byte {
                b'"' if self.csv => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => self.records += 1,
                _ => {}
            }
        }
    }
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let api = Api::streaming(&args.connection)?;
    let mut params = vec![("format", args.format.as_str().to_owned())];
    if !args.query.trim().is_empty() {
        params.push(("query", args.query.clone()));
    }
    if args.include_descendants {
        params.push(("include", "descendants".to_owned()));
    }
    if args.asc {
        params.push(("sort", "asc".to_owned()));
    }
    if let Some(columns) = &args.columns {
        params.push(("columns", columns.clone()));
    }
    if let Some(tz) = &args.tz {
        params.push(("tz", tz.clone()));
    }
    if args.raw {
        params.push(("raw", "true".to_owned()));
    }
    let mut response = api
        .get(&format!("/v1/tenants/{}/events/export", args.tenant))
        .query(&params)
        .send()
        .context("reaching the server (is `evident serve` running?)")?;
    let status = response.status();
    if !status.is_success() {
        let body: Value = response
            .json()
            .with_context(|| format!("reading the server's answer ({status})"))?;
        return Err(anyhow!(describe_problem(&body, status.as_u16())));
    }
    let tree_size = response
        .headers()
        .get("evident-tree-size")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let partial = args.out.as_ref().map(|out| {
        let mut name = out.clone().into_os_string();
        name.push(".partial");
        PathBuf::from(name)
    });
    let mut sink: Box<dyn Write> = match &partial {
        Some(path) => Box::new(std::io::BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let progress = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {pos} rows, {per_sec} {msg}")
            .map_err(|error| anyhow!("progress template: {error}"))?,
    );
    progress.set_message(format!("(tree size {tree_size})"));
    let mut counter = RecordCounter {
        csv: args.format == ExportFormat::Csv,
        ..RecordCounter::default()
    };
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = response
            .read(&mut buffer)
            .context("the export was cut off before its end")?;
        if read == 0 {
            break;
        }
        sink.write_all(&buffer[..read])?;
        counter.feed(&buffer[..read]);
        progress.set_position(counter.records);
    }
    sink.flush()?;
    drop(sink);
    progress.finish_and_clear();
    // Header rows (CSV's column names, a bundle's description) are not events.
    let rows = counter
        .records
        .saturating_sub(u64::from(args.format != ExportFormat::Ndjson));
    if let (Some(partial), Some(out)) = (&partial, &args.out) {
        std::fs::rename(partial, out).with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "wrote {rows} events to {} (tree size {tree_size})",
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_outside_quotes_across_chunks() {
        let mut counter = RecordCounter {
            csv: true,
            ..RecordCounter::default()
        };
        let text = b"Time,Event\n\"a\nb\",x\n\"c\"\"\n\",y\n";
        for chunk in text.chunks(3) {
            counter.feed(chunk);
        }
        assert_eq!(counter.records, 3);
        let mut ndjson = RecordCounter::default();
        ndjson.feed(b"{\"a\":\"\\\"\"}\n{}\n");
        assert_eq!(ndjson.records, 2);
    }
}
