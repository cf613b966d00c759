//! `evident ingest FILE.ndjson`: streams a file of events to the server in
//! batches, reporting each rejected line by number.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::client::{Api, Connection, describe_problem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Stop at the first rejected line (its batch is not stored).
    Stop,
    /// Report rejected lines and store the rest.
    Skip,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// NDJSON: one event per line, in the ingest shape. A line may carry a
    /// "tenant" field naming its tenant; it is removed before sending.
    pub file: PathBuf,
    /// The tenant to write to (required unless every line names its tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Events per request (at most the server's limit, 1000 by default).
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    #[arg(long, value_enum, default_value_t = OnError::Stop)]
    pub on_error: OnError,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// Bodies stay under the server's default 1 MiB limit.
const MAX_BATCH_BYTES: usize = 900 * 1024;

struct Line {
    number: usize,
    event: Value,
}

#[derive(Default)]
struct Totals {
    stored: usize,
    rejected: usize,
}

struct Ingest<'a> {
    api: &'a Api,
    on_error: OnError,
    totals: Totals,
    progress: ProgressBar,
}

impl Ingest<'_> {
    fn reject(&mut self, number: usize, reason: &str) -> anyhow::Result<()> {
        self.totals.rejected += 1;
        self.progress
            .suspend(|| eprintln!("line {number}: {reason}"));
        if self.on_error == OnError::Stop {
            bail!(
                "stopped at line {number}; {} events stored before it",
                self.totals.stored
            );
        }
        Ok(())
    }

    /// Sends one tenant's batch; with `skip`, drops rejected events and sends the rest again.
    fn flush(&mut self, tenant: &str, mut lines: Vec<Line>) -> anyhow::Result<()> {
        while !lines.is_empty() {
            let events: Vec<&Value> = lines.iter().map(|line| &line.event).collect();
            let response = self
                .api
                .post(&format!("/v1/tenants/{tenant}/events"))
                .json(&json!({ "events": events }))
                .send()
                .context("reaching the server (is `evident serve` running?)")?;
            let status = response.status().as_u16();
            let body: Value = response
                .json()
                .with_context(|| format!("reading the server's answer ({status})"))?;
            if status == 201 {
                self.totals.stored += lines.len();
                self.progress
                    .set_message(format!("{} stored", self.totals.stored));
                return Ok(());
            }
            if status != 422 {
                bail!(
                    "line {}: {}",
                    lines[0].number,
                    describe_problem(&body, status)
                );
            }
            let mut reasons: HashMap<usize, Vec<String>> = HashMap::new();
            for error in body["errors"].as_array().into_iter().flatten() {
                let index = error["index"]
                    .as_u64()
                    .map(|index| index as usize)
                    .unwrap_or(0);
                reasons.entry(index).or_default().push(format!(
                    "{}: {} ({})",
                    error["field"].as_str().unwrap_or(""),
                    error["detail"].as_str().unwrap_or(""),
                    error["rule"].as_str().unwrap_or("")
                ));
            }
            if reasons.is_empty() {
                bail!(
                    "line {}: {}",
                    lines[0].number,
                    describe_problem(&body, status)
                );
            }
            let mut kept = Vec::with_capacity(lines.len());
            for (index, line) in lines.into_iter().enumerate() {
                match reasons.get(&index) {
                    Some(why) => self.reject(line.number, &why.join("; "))?,
                    None => kept.push(line),
                }
            }
            lines = kept;
        }
        Ok(())
    }
}

pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    if args.batch_size == 0 || args.batch_size > 1000 {
        bail!("--batch-size must be from 1 to 1000");
    }
    let api = Api::new(&args.connection)?;
    let file =
        File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let length = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let progress = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(length)
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
            .map_err(|error| anyhow!("progress template: {error}"))?,
    );
    let mut ingest = Ingest {
        api: &api,
        on_error: args.on_error,
        totals: Totals::default(),
        progress,
    };
    let mut buffers: HashMap<String, (Vec<Line>, usize)> = HashMap::new();
    let reader = BufReader::new(file);
    for (offset, text) in reader.lines().enumerate() {
        let number = offset + 1;
        let text = text.with_context(|| format!("reading line {number}"))?;
        ingest.progress.inc(text.len() as u64 + 1);
        if text.trim().is_empty() {
            continue;
        }
        let mut event: Value = match serde_json::from_str(&text) {
            Ok(event) => event,
            Err(error) => {
                ingest.reject(number, &format!("not JSON: {error}"))?;
                continue;
            }
        };
        let named = event
            .as_object_mut()
            .and_then(|object| object.remove("tenant"));
        let tenant = match (named.as_ref().and_then(Value::as_str), &args.tenant) {
            (Some(named), Some(given)) if named != given => {
                ingest.reject(
                    number,
                    &format!("the line names tenant {named:?}, not --tenant {given:?}"),
                )?;
                continue;
            }
            (_, Some(given)) => given.clone(),
            (Some(named), None) => named.to_owned(),
            (None, None) => {
                ingest.reject(
                    number,
                    "no tenant: pass --tenant or give each line a \"tenant\" field",
                )?;
                continue;
            }
        };
        let (lines, bytes) = buffers.entry(tenant.clone()).or_default();
        if !lines.is_empty() && *bytes + text.len() > MAX_BATCH_BYTES {
            let full = std::mem::take(lines);
            *bytes = 0;
            ingest.flush(&tenant, full)?;
        }
        let (lines, bytes) = buffers.entry(tenant.clone()).or_default();
        lines.push(Line { number, event });
        *bytes += text.len();
        if lines.len() >= args.batch_size {
            let full = std::mem::take(lines);
            *bytes = 0;
            ingest.flush(&tenant, full)?;
        }
    }
    let mut remaining: Vec<(String, Vec<Line>)> = buffers
        .into_iter()
        .map(|(tenant, (lines, _))| (tenant, lines))
        .filter(|(_, lines)| !lines.is_empty())
        .collect();
    remaining.sort_by_key(|(_, lines)| lines[0].number);
    for (tenant, lines) in remaining {
        ingest.flush(&tenant, lines)?;
    }
    ingest.progress.finish_and_clear();
    let Totals { stored, rejected } = ingest.totals;
    println!("stored {stored} events; rejected {rejected} lines");
    Ok(ExitCode::SUCCESS)
}
