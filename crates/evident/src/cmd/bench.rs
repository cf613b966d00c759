//! `evident bench`: the benchmark harness (docs/PERFORMANCE.md). It starts a
//! real server on a fresh data directory, loads events with the event
//! generator's shape (200 tenants, Zipf-sized, ~590-byte events) over
//! loopback HTTP, and reports throughput and latency next to the recorded
//! do-it-yourself baselines of ../shared/bench/baselines.json.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use evident_core::redact::Redactor;
use evident_server::catalogs::Catalogs;
use evident_server::checkpointer::Checkpointer;
use evident_server::{Limits, Server};
use evident_store::{NewTenant, SqliteStore, Store};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events each ingest scenario sends.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Where the data directory goes (a fresh temporary one by default).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The recorded baselines to print ratios against.
    #[arg(long, default_value = "../shared/bench/baselines.json")]
    pub baselines: PathBuf,
    /// Write the results as JSON here too.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

const TENANTS: usize = 200;

/// One ingest scenario: events per request and concurrent clients.
struct Scenario {
    name: &'static str,
    batch: usize,
    clients: usize,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "batch 100, 1 client",
        batch: 100,
        clients: 1,
    },
    Scenario {
        name: "batch 100, 4 clients",
        batch: 100,
        clients: 4,
    },
    Scenario {
        name: "batch 100, 16 clients",
        batch: 100,
        clients: 16,
    },
    Scenario {
        name: "batch 1000, 1 client",
        batch: 1000,
        clients: 1,
    },
    Scenario {
        name: "batch 1000, 4 clients",
        batch: 1000,
        clients: 4,
    },
    Scenario {
        name: "batch 1000, 16 clients",
        batch: 1000,
        clients: 16,
    },
    Scenario {
        name: "single events, 64 clients",
        batch: 1,
        clients: 64,
    },
];

/// Tenant index by a Zipf-like distribution (the largest holds about a fifth).
fn zipf_tenant(rng: &mut StdRng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    let ticket = rng.random_range(0.0..total);
    cumulative
        .partition_point(|bound| *bound < ticket)
        .min(cumulative.len() - 1)
}

const ACTIONS: &[&str] = &[
    "user.token_created",
    "user.token_deleted",
    "license_updated",
    "license_created",
    "order_created",
    "license.allocated",
    "USER_LOGIN",
    "SESSION_STARTED",
    "SESSION_EXPIRED",
    "KeysetConfigChanged",
];
const WORDS: &[&str] = &[
    "enterprise",
    "standard",
    "trial",
    "eu-west",
    "us-east",
    "offboarding",
    "onboarding",
    "renewal",
];
const NAMES: &[&str] = &[
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Radia Perlman",
];

/// An event of the generator's shape (~590 bytes).
fn generated_event(rng: &mut StdRng, sequence: usize) -> Value {
    let name = NAMES.choose(rng).copied().unwrap_or("Ada Lovelace");
    let email = format!("{}@acme.example", name.to_lowercase().replace(' ', "."));
    let action = ACTIONS.choose(rng).copied().unwrap_or("user.login");
    let word = WORDS.choose(rng).copied().unwrap_or("audit");
    json!({
        "action": action,
        "occurred_at": format!("2026-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", 1 + sequence % 10, 1 + sequence % 28, sequence % 24, sequence % 60, (sequence / 60) % 60, sequence % 1000),
        "actor": {"type": "user", "id": format!("usr_{:06x}", rng.random_range(0..5000)), "name": name, "email": email},
        "targets": [{"type": "license", "id": format!("lic_{:08x}", rng.random::<u32>()), "name": format!("Pro seat {}", rng.random_range(1..500))}],
        "context": {"ip": format!("203.0.113.{}", rng.random_range(1..255)), "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
        "channel": if rng.random_bool(0.8) { "portal" } else { "api" },
        "description": format!("{name} changed the license pool for {word} seats"),
        "metadata": {"pool": word, "reason": WORDS.choose(rng).copied().unwrap_or("audit"), "seats": rng.random_range(1..50)}
    })
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

struct Outcome {
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn run_scenario(
    url: &str,
    key: &str,
    scenario: &Scenario,
    events: usize,
    cumulative: &[f64],
    seed: u64,
) -> anyhow::Result<Outcome> {
    let requests = events.div_ceil(scenario.batch);
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..scenario.clients)
            .map(|client| {
                let next = &next;
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let http = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(120))
                        .build()?;
                    let mut rng = StdRng::seed_from_u64(seed * 1000 + client as u64);
                    let mut latencies = Vec::new();
                    loop {
                        let request = next.fetch_add(1, Ordering::Relaxed);
                        if request >= requests {
                            return Ok(latencies);
                        }
                        let tenant = format!("tenant-{:03}", zipf_tenant(&mut rng, cumulative));
                        let batch: Vec<Value> = (0..scenario.batch)
                            .map(|n| generated_event(&mut rng, request * scenario.batch + n))
                            .collect();
                        let body = if scenario.batch == 1 {
                            batch[0].clone()
                        } else {
                            json!({ "events": batch })
                        };
                        let sent = Instant::now();
                        let response = http
                            .post(format!("{url}/v1/tenants/{tenant}/events"))
                            .bearer_auth(key)
                            .json(&body)
                            .send()?;
                        anyhow::ensure!(
                            response.status() == 201,
                            "ingest answered {}",
                            response.status()
                        );
                        latencies.push(sent.elapsed());
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a bench client panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let mut sorted = latencies;
    sorted.sort_unstable();
    Ok(Outcome {
        events_per_s: (requests * scenario.batch) as f64 / elapsed,
        p50_ms: percentile(&sorted, 0.5),
        p99_ms: percentile(&sorted, 0.99),
    })
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data_dir)?);
    for index in 0..TENANTS {
        store.create_tenant(&NewTenant {
            id: format!("tenant-{index:03}"),
            name: format!("Tenant {index}"),
            parent: None,
        })?;
    }
    let admin = evident_server::auth::mint_key();
    store.create_key(&evident_store::NewApiKey {
        id: evident_server::auth::mint_key_id(),
        name: "bench".to_owned(),
        tenant: None,
        scopes: evident_core::access::Scope::ALL.to_vec(),
        hash: evident_server::auth::hash_key(&admin),
    })?;
    let catalogs = Arc::new(Catalogs::load(None, Redactor::default(), store.as_ref())?);
    let signer = evident_core::log::note::Signer::from_seed("bench", rand::random())
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let checkpointer = Arc::new(Checkpointer::new(signer, "bench".to_owned()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let server = runtime.block_on(Server::bind("127.0.0.1:0".parse()?))?;
    let url = format!("http://{}", server.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(
        store.clone(),
        catalogs,
        checkpointer,
        Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));

    let weights: Vec<f64> = (0..TENANTS).map(|rank| 1.0 / (rank as f64 + 1.0)).collect();
    let cumulative: Vec<f64> = weights
        .iter()
        .scan(0.0, |sum, weight| {
            *sum += weight;
            Some(*sum)
        })
        .collect();
    let baselines: Value = std::fs::read_to_string(&args.baselines)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let pg_insert =
        baselines["postgresql"]["ingest_events_per_s"]["insert_500_rows_1_client"].as_f64();
    let pg_copy = baselines["postgresql"]["ingest_events_per_s"]["copy"].as_f64();
    println!(
        "evident bench: {} events per scenario, {TENANTS} tenants, durable acknowledgements, Merkle log on",
        args.events
    );
    println!(
        "{:<28} {:>12} {:>10} {:>10} {:>16} {:>12}",
        "ingest over HTTP", "events/s", "p50 ms", "p99 ms", "vs PG INSERT", "vs PG COPY"
    );
    let mut results = Vec::new();
    for (index, scenario) in SCENARIOS.iter().enumerate() {
        let events = if scenario.batch == 1 {
            args.events / 5
        } else {
            args.events
        };
        let outcome = run_scenario(&url, &admin, scenario, events, &cumulative, index as u64)
            .with_context(|| format!("scenario {}", scenario.name))?;
        let ratio = |baseline: Option<f64>| {
            baseline.map_or("-".to_owned(), |baseline| {
                format!("{:.2}×", outcome.events_per_s / baseline)
            })
        };
        println!(
            "{:<28} {:>12.0} {:>10.2} {:>10.2} {:>16} {:>12}",
            scenario.name,
            outcome.events_per_s,
            outcome.p50_ms,
            outcome.p99_ms,
            ratio(pg_insert),
            ratio(pg_copy)
        );
        results.push(json!({"scenario": scenario.name, "events_per_s": outcome.events_per_s, "p50_ms": outcome.p50_ms, "p99_ms": outcome.p99_ms}));
    }
    let stats = store.stats()?;
    let per_event = stats.bytes_on_disk as f64 / stats.events.max(1) as f64;
    println!(
        "stored {} events, {:.0} bytes per event on disk (events, indexes, Merkle nodes, everything)",
        stats.events, per_event
    );
    let _ = stop.send(());
    runtime.block_on(serving)??;
    if let Some(out) = &args.out {
        std::fs::write(
            out,
            serde_json::to_string_pretty(
                &json!({"ingest": results, "bytes_per_event": per_event, "events": stats.events}),
            )?,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
