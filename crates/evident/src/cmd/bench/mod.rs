//! `evident bench`: the benchmark harness (docs/PERFORMANCE.md).
//!
//! On a fresh data directory it starts a real `evident serve`, loads the
//! events of `../shared/bench/gen_events.py` over loopback HTTP (the
//! issue's ingest scenarios, then the rest in bulk), measures the query
//! suite at a tenth of the events and at all of them, exports the largest
//! tenant as CSV and NDJSON, verifies the store, and reports every figure
//! beside the do-it-yourself baselines measured on the same events.

mod baselines;
mod ingest;
mod page;
mod plot;
mod queries;
mod report;
mod server;
mod size;
mod workload;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use self::baselines::BaselineMode;
use self::ingest::IngestResult;
use self::queries::QueryResult;
use self::server::ServerProcess;
use self::workload::Workload;
use crate::store::Location;
use evident_store::postgres::ScratchDatabase;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events in the workload (the generator's count); queries run at a tenth of them and at all.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Runs of each query, each way (keyset page; numbered page with its total).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Where the do-it-yourself baselines come from.
    #[arg(long, value_enum, default_value_t = BaselineMode::Recorded)]
    pub baselines: BaselineMode,
    /// With `--baselines recorded`: a baselines.json, or an earlier run's results.json.
    #[arg(long)]
    pub baselines_file: Option<PathBuf>,
    /// The PostgreSQL server of `--baselines run`.
    #[arg(long, default_value = "postgresql://postgres@127.0.0.1:5432/test")]
    pub baseline_dsn: String,
    /// The shared folder with bench/gen_events.py and bench/baselines.json.
    #[arg(long, default_value = "../shared")]
    pub shared: PathBuf,
    /// Where generated events are cached between runs.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// The server's data directory (a fresh temporary one by default; it must not exist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write results.json, results.md and the plots (ingest.svg, queries.svg) here.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// The store the server under test runs on.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// With `--backend postgres`: a PostgreSQL server and role that may create
    /// databases; the run makes a fresh one and drops it at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
}

/// The store of the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded store in the data directory.
    Sqlite,
    /// A fresh database on `--postgres`'s server.
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// p50 and p99 of a set of request latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub runs: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The nearest-rank percentiles, as `baseline_common.summarise` takes them.
pub fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort_unstable();
    let at = |fraction: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    Latency {
        runs: samples.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

/// The queries measured at one data size.
#[derive(Debug, Clone, Serialize)]
pub struct QueriesAt {
    pub stored_events: usize,
    pub results: Vec<QueryResult>,
}

/// Rows of one output format of the whole largest tenant.
#[derive(Debug, Clone, Serialize)]
pub struct ExportResult {
    pub format: String,
    pub through: String,
    pub rows: usize,
    pub rows_per_s: f64,
    /// The server's peak RSS while it streamed the export.
    pub server_rss_bytes: u64,
    /// Its RSS as the export began.
    pub server_rss_before_bytes: u64,
    /// From sending the request to the first byte of the body, in ms.
    pub first_byte_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// The store Evident ran on.
    pub backend: Backend,
    pub events: usize,
    pub tenants: usize,
    pub largest_tenant: String,
    pub largest_tenant_rows: usize,
    pub partner: String,
    pub partner_family_rows: usize,
    pub ingest: Vec<IngestResult>,
    pub bulk_load: IngestResult,
    /// The store alone, in-process, on the first tenth of the events (the writer's bound).
    pub store_only_events_per_s: f64,
    pub queries: Vec<QueriesAt>,
    /// The audit log page in headless Chromium at the full size (empty when Chromium is not installed).
    pub page_loads: Vec<page::PageLoad>,
    pub exports: Vec<ExportResult>,
    pub verify_events_per_s: f64,
    /// `evident verify --bundle` on the largest tenant's unfiltered bundle.
    pub verify_bundle_events_per_s: f64,
    pub peak_rss_bytes: u64,
    pub peak_anonymous_rss_bytes: u64,
    /// The server's memory phase by phase.
    pub memory: Vec<server::PhaseMemory>,
    pub bytes_per_event: f64,
    /// Each table, index and file of the store, largest first.
    pub stored_parts: Vec<size::StoredPart>,
    pub machine: Value,
    pub baselines: Value,
}

/// Page loads per view in Chromium (each takes a tenth of a second or more).
const PAGE_RUNS: usize = 50;

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let scratch = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| scratch.path().join("data"));
    if data_dir.exists() {
        bail!(
            "{} exists: the harness measures a fresh data directory",
            data_dir.display()
        );
    }
    let cache_dir = args
        .cache_dir
        .clone()
        .unwrap_or_else(workload::default_cache_dir);
    let mut workload = workload::load(&args.shared, &cache_dir, args.events)?;
    let baselines = baselines::obtain(
        args.baselines,
        args.baselines_file.as_deref(),
        &args.shared,
        args.events,
        args.runs,
        &args.baseline_dsn,
        scratch.path(),
    )?;
    eprintln!(
        "{} events for {} tenants; the largest, {}, holds {}",
        workload.events.len(),
        workload.tenants.len(),
        workload.largest,
        workload.largest_count
    );

    // The databases of a PostgreSQL run, dropped when the run ends.
    let (store, store_only_place) = match args.backend {
        Backend::Sqlite => (None, None),
        Backend::Postgres => (
            Some(ScratchDatabase::create(&args.postgres, "evident_bench")?),
            Some(ScratchDatabase::create(
                &args.postgres,
                "evident_bench_store_only",
            )?),
        ),
    };
    let location = match &store {
        Some(database) => Location::Postgres(database.url().to_owned()),
        None => Location::Dir(data_dir.clone()),
    };
    let store_only_location = match &store_only_place {
        Some(database) => Location::Postgres(database.url().to_owned()),
        None => Location::Dir(scratch.path().join("store-only")),
    };
    let store_only_events_per_s = ingest::store_only(
        &store_only_location,
        &workload.tenants,
        &workload.events[..workload.events.len() / 10],
    )?;
    drop(store_only_place);
    eprintln!("store append in-process: {store_only_events_per_s:.0} events/s");
    let server = ServerProcess::start(&data_dir, &location)?;
    create_tenants(&server, &workload)?;
    // The server's own CPU and writes are its cost only where the store is
    // inside its process: PostgreSQL's work is in processes of its own.
    let usage = || match &location {
        Location::Dir(_) => server.usage(),
        Location::Postgres(_) => None,
    };
    let total = workload.events.len();
    let first_tenth = total / 10;
    let mut offset = 0;
    let mut take = |count: usize| {
        let slice = &workload.events[offset..(offset + count).min(total)];
        offset += slice.len();
        slice
    };
    let mut bulk_parts = Vec::new();
    let mut queries = Vec::new();
    let mut memory = Vec::new();
    bulk_parts.push(ingest::run(
        &server.url,
        &server.key,
        &workload.tenants,
        &ingest::BULK,
        take(first_tenth),
        &usage,
    )?);
    memory.push(server.end_phase("first tenth loaded"));
    queries.push(QueriesAt {
        stored_events: first_tenth,
        results: queries::run(&server.url, &server.key, &workload, args.runs)?,
    });
    memory.push(server.end_phase("queries at a tenth"));
    let mut scenarios = Vec::new();
    for scenario in &ingest::SCENARIOS {
        let count = ((total as f64 * scenario.share) as usize).clamp(1, scenario.cap);
        let result = ingest::run(
            &server.url,
            &server.key,
            &workload.tenants,
            scenario,
            take(count),
            &usage,
        )
        .with_context(|| format!("scenario {}", scenario.name()))?;
        eprintln!("{}: {:.0} events/s", result.scenario, result.events_per_s);
        memory.push(server.end_phase(&result.scenario));
        scenarios.push(result);
    }
    let rest = take(total);
    if !rest.is_empty() {
        bulk_parts.push(ingest::run(
            &server.url,
            &server.key,
            &workload.tenants,
            &ingest::BULK,
            rest,
            &usage,
        )?);
        memory.push(server.end_phase("bulk load"));
    }
    // Every event is sent: their text (6 GB at ten million events) is not
    // needed for the rest of the run, and memory is left to the page cache.
    workload.events = Vec::new();
    if let Location::Postgres(url) = &location {
        // The baseline's table is vacuumed and analysed after its COPY,
        // before its queries: the state autovacuum brings a store to once a
        // load is over (index-only scans need its visibility map).
        evident_store::PostgresStore::vacuum_analyze(url)?;
    }
    queries.push(QueriesAt {
        stored_events: total,
        results: queries::run(&server.url, &server.key, &workload, args.runs)?,
    });
    memory.push(server.end_phase("queries at the full size"));
    let page_loads = if crate::browser::available() {
        let loads = page::run(
            &server.url,
            &server.key,
            &workload,
            args.runs.min(PAGE_RUNS),
        )?;
        eprintln!("the audit log page, timed in headless Chromium");
        memory.push(server.end_phase("the audit log page in Chromium"));
        loads
    } else {
        eprintln!(
            "{} is not installed: the audit log page is timed over HTTP only",
            crate::browser::CHROMIUM
        );
        Vec::new()
    };
    let exports_dir = tempfile::tempdir()?;
    let mut exports = Vec::new();
    for format in ["csv", "ndjson", "bundle"] {
        exports.push(export(&server, &workload, format, exports_dir.path())?);
        memory.push(server.end_phase(&format!("{format} export")));
    }
    let verify_bundle_events_per_s = verify_bundle(
        &server,
        &exports_dir.path().join("export.bundle"),
        workload.largest_count,
    )?;
    let peak_rss_bytes = server.peak_rss_bytes();
    let peak_anonymous_rss_bytes = server.peak_anonymous_bytes();
    let verifier = server.verifier_key()?;
    server.stop()?;
    let stored_bytes = match &location {
        Location::Dir(dir) => server::directory_bytes(dir)?,
        // Every table of the store with its indexes and TOAST, after a VACUUM
        // has settled what autovacuum would (the DIY baseline is measured so too).
        Location::Postgres(url) => {
            let mut client = postgres::Client::connect(url, postgres::NoTls)?;
            client.batch_execute("VACUUM ANALYZE")?;
            location.open_read_only()?.stats()?.bytes_on_disk
        }
    };
    let bytes_per_event = stored_bytes as f64 / total.max(1) as f64;
    let stored_parts = size::stored_parts(&location)?;
    let verify_events_per_s = verify(&location, &verifier, total)?;

    let results = Results {
        backend: args.backend,
        events: total,
        tenants: workload.tenants.len(),
        largest_tenant: workload.largest.clone(),
        largest_tenant_rows: workload.largest_count,
        partner: workload.partner.clone(),
        partner_family_rows: workload.partner_rows,
        ingest: scenarios,
        bulk_load: combine(&bulk_parts),
        store_only_events_per_s,
        queries,
        page_loads,
        exports,
        verify_events_per_s,
        verify_bundle_events_per_s,
        peak_rss_bytes,
        peak_anonymous_rss_bytes,
        memory,
        bytes_per_event,
        stored_parts,
        machine: machine(),
        baselines,
    };
    let text = report::text(&results);
    print!("{text}");
    if let Some(out_dir) = &args.out_dir {
        std::fs::create_dir_all(out_dir)?;
        std::fs::write(
            out_dir.join("results.json"),
            serde_json::to_string_pretty(&results)?,
        )?;
        std::fs::write(out_dir.join("results.md"), report::markdown(&results))?;
        std::fs::write(out_dir.join("ingest.svg"), report::ingest_plot(&results))?;
        std::fs::write(out_dir.join("queries.svg"), report::queries_plot(&results))?;
        eprintln!(
            "wrote results.json, results.md, ingest.svg and queries.svg to {}",
            out_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn create_tenants(server: &ServerProcess, workload: &Workload) -> anyhow::Result<()> {
    let http = reqwest::blocking::Client::new();
    // Parents first: the generator lists partners before their sub-accounts, but do not rely on it.
    let mut created = std::collections::HashSet::new();
    while created.len() < workload.tenants.len() {
        let before = created.len();
        for tenant in &workload.tenants {
            if created.contains(&tenant.id)
                || tenant
                    .parent
                    .as_ref()
                    .is_some_and(|parent| !created.contains(parent))
            {
                continue;
            }
            let response = http
                .post(format!("{}/v1/tenants", server.url))
                .bearer_auth(&server.key)
                .json(&json!({"id": tenant.id, "name": tenant.name, "parent": tenant.parent}))
                .send()?;
            if !response.status().is_success() {
                bail!("creating tenant {}: {}", tenant.id, response.text()?);
            }
            created.insert(tenant.id.clone());
        }
        if created.len() == before {
            bail!("the tenant list names a parent that is not in it");
        }
    }
    Ok(())
}

/// How often the CSV and NDJSON exports are timed (their median is kept: a
/// single run measured 370k rows/s where five on the same store measured
/// 592–667k, its first read partly from disk). A bundle, ten times slower,
/// is timed once.
const EXPORT_RUNS: usize = 3;

/// The whole largest tenant through `evident export --format FORMAT` (the
/// streaming endpoint) into a file in `dir`, with the server's RSS meanwhile:
/// the median of [`EXPORT_RUNS`] runs (one for a bundle).
fn export(
    server: &ServerProcess,
    workload: &Workload,
    format: &str,
    dir: &std::path::Path,
) -> anyhow::Result<ExportResult> {
    let out = dir.join(format!("export.{format}"));
    let first_byte_ms = first_byte(server, &workload.largest, format)?;
    let server_rss_before_bytes = server.start_window();
    let runs = if format == "bundle" { 1 } else { EXPORT_RUNS };
    let mut elapsed = Vec::with_capacity(runs);
    for _ in 0..runs {
        elapsed.push(export_once(server, workload, format, &out)?);
    }
    let server_rss_bytes = server.window_peak_bytes();
    elapsed.sort_by(f64::total_cmp);
    let elapsed = elapsed[elapsed.len() / 2];
    let records = workload.largest_count;
    Ok(ExportResult {
        format: match format {
            "csv" => "CSV",
            "ndjson" => "NDJSON",
            _ => "Bundle",
        }
        .to_owned(),
        through: format!("evident export --format {format} (GET /v1/tenants/{{t}}/events/export)"),
        rows: records,
        rows_per_s: records as f64 / elapsed,
        server_rss_bytes,
        server_rss_before_bytes,
        first_byte_ms,
    })
}

/// One export into `out`, checked to hold every row of the tenant: seconds taken.
fn export_once(
    server: &ServerProcess,
    workload: &Workload,
    format: &str,
    out: &std::path::Path,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new(std::env::current_exe()?)
        .args([
            "export",
            "--quiet",
            "--format",
            format,
            "--tenant",
            &workload.largest,
            "--url",
            &server.url,
        ])
        .arg("--out")
        .arg(out)
        .env("EVIDENT_KEY", &server.key)
        .stderr(Stdio::null())
        .status()?;
    let elapsed = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("evident export --format {format} failed: {status}");
    }
    let file = std::io::BufReader::new(std::fs::File::open(out)?);
    let records = match format {
        // Count records, not lines: a CSV cell may hold a newline.
        "csv" => csv::Reader::from_reader(file).records().count(),
        // A bundle's first line describes it.
        "bundle" => std::io::BufRead::lines(file).count().saturating_sub(1),
        _ => std::io::BufRead::lines(file).count(),
    };
    if records != workload.largest_count {
        bail!(
            "the {format} export held {records} rows; the tenant has {}",
            workload.largest_count
        );
    }
    Ok(elapsed)
}

/// How long an export takes to send its first byte; the rest is not read (the
/// server stops when the client goes away).
fn first_byte(server: &ServerProcess, tenant: &str, format: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut response = reqwest::blocking::Client::new()
        .get(format!(
            "{}/v1/tenants/{tenant}/events/export?format={format}",
            server.url
        ))
        .bearer_auth(&server.key)
        .send()?
        .error_for_status()?;
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut response, &mut first)?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// `evident verify --bundle` on an unfiltered bundle: events per second.
fn verify_bundle(
    server: &ServerProcess,
    bundle: &std::path::Path,
    events: usize,
) -> anyhow::Result<f64> {
    let key = server.verifier_key()?;
    let started = Instant::now();
    let output = Command::new(std::env::current_exe()?)
        .args(["verify", "--key", &key, "--bundle"])
        .arg(bundle)
        .output()?;
    let elapsed = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "evident verify --bundle failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    Ok(events as f64 / elapsed)
}

/// How often `evident verify --store` is timed (the median is kept, as for
/// the exports: single runs on one stopped 1M store measured 1.97–2.24 s).
const VERIFY_RUNS: usize = 3;

/// `evident verify --store` on the stopped server's store: events per second,
/// the median of [`VERIFY_RUNS`] runs. A store directory is synced first, so
/// that the kernel's writing back of what the server left dirty (hundreds of
/// MB at 1M) does not share the two cores with the first run.
fn verify(location: &Location, key: &str, events: usize) -> anyhow::Result<f64> {
    let place = match location {
        Location::Dir(dir) => {
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_file() {
                    std::fs::File::open(&path)?.sync_all()?;
                }
            }
            dir.as_os_str().to_owned()
        }
        Location::Postgres(url) => url.into(),
    };
    let mut elapsed = Vec::with_capacity(VERIFY_RUNS);
    for _ in 0..VERIFY_RUNS {
        let started = Instant::now();
        let output = Command::new(std::env::current_exe()?)
            .args(["verify", "--key", key, "--store"])
            .arg(&place)
            .output()?;
        elapsed.push(started.elapsed().as_secs_f64());
        if !output.status.success() {
            bail!(
                "evident verify --store failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    elapsed.sort_by(f64::total_cmp);
    Ok(events as f64 / elapsed[elapsed.len() / 2])
}

/// One result for the bulk load's parts (before and after the scenarios).
fn combine(parts: &[IngestResult]) -> IngestResult {
    let events: usize = parts.iter().map(|part| part.events).sum();
    let seconds: f64 = parts
        .iter()
        .map(|part| part.events as f64 / part.events_per_s)
        .sum();
    let mut combined = parts[0].clone();
    combined.scenario = format!("bulk load, {}", ingest::BULK.name());
    combined.events = events;
    combined.requests = parts.iter().map(|part| part.requests).sum();
    combined.events_per_s = events as f64 / seconds;
    combined.latency.runs = parts.iter().map(|part| part.latency.runs).sum();
    combined.latency.p99_ms = parts
        .iter()
        .map(|part| part.latency.p99_ms)
        .fold(0.0, f64::max);
    combined.server = parts
        .iter()
        .map(|part| part.server)
        .reduce(|sum, part| sum.zip(part).map(|(sum, part)| sum.plus(part)))
        .flatten();
    combined
}

fn machine() -> Value {
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| info.lines().next().map(str::to_owned))
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    json!({"cores": cores, "cpu": cpu, "memory": memory, "sqlite": evident_store::sqlite::version(), "postgresql": postgres_version()})
}

/// The local PostgreSQL server's version, when one answers.
fn postgres_version() -> Option<String> {
    let output = Command::new("psql").arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
