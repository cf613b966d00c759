//! Ingest over loopback HTTP: the generator's events in batches of one
//! tenant each, from several concurrent clients; throughput and latency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde::Serialize;

use super::server::Usage;
use super::workload::{GeneratedEvent, TenantSpec};
use super::{Latency, latency};

/// Events per request and concurrent clients.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub batch: usize,
    pub clients: usize,
    /// The share of the workload's events this scenario sends.
    pub share: f64,
    /// At most this many events, whatever the share.
    pub cap: usize,
}

impl Scenario {
    pub fn name(&self) -> String {
        if self.batch == 1 {
            format!("single events, {} clients", self.clients)
        } else {
            let plural = if self.clients == 1 { "" } else { "s" };
            format!("batch {}, {} client{plural}", self.batch, self.clients)
        }
    }
}

/// The scenarios; what they leave of the workload is loaded by [`BULK`].
pub const SCENARIOS: [Scenario; 7] = [
    Scenario {
        batch: 100,
        clients: 1,
        share: 0.05,
        cap: 50_000,
    },
    Scenario {
        batch: 100,
        clients: 4,
        share: 0.05,
        cap: 50_000,
    },
    Scenario {
        batch: 100,
        clients: 16,
        share: 0.05,
        cap: 50_000,
    },
    Scenario {
        batch: 1000,
        clients: 1,
        share: 0.1,
        cap: 100_000,
    },
    Scenario {
        batch: 1000,
        clients: 4,
        share: 0.1,
        cap: 100_000,
    },
    Scenario {
        batch: 1000,
        clients: 16,
        share: 0.1,
        cap: 100_000,
    },
    Scenario {
        batch: 1,
        clients: 64,
        share: 0.02,
        cap: 20_000,
    },
];

/// Loads the rest of the workload (measured too).
pub const BULK: Scenario = Scenario {
    batch: 1000,
    clients: 4,
    share: 1.0,
    cap: usize::MAX,
};

#[derive(Debug, Clone, Serialize)]
pub struct IngestResult {
    pub scenario: String,
    pub batch: usize,
    pub clients: usize,
    pub events: usize,
    pub requests: usize,
    pub events_per_s: f64,
    #[serde(flatten)]
    pub latency: Latency,
    /// What the server spent on these events, applying them included: what
    /// bounds the throughput on the machine's cores, and what a change
    /// saves (None where the store runs outside the server's process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerCost>,
}

/// The server's CPU time for a scenario's events, and the bytes written to
/// its data directory's disk meanwhile (None on a disk without statistics).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerCost {
    pub cpu_s: f64,
    pub written_bytes: Option<u64>,
}

impl ServerCost {
    fn between(before: Usage, after: Usage) -> ServerCost {
        ServerCost {
            cpu_s: (after.cpu_s - before.cpu_s).max(0.0),
            written_bytes: before
                .written_bytes
                .zip(after.written_bytes)
                .map(|(before, after)| after.saturating_sub(before)),
        }
    }

    pub fn plus(self, other: ServerCost) -> ServerCost {
        ServerCost {
            cpu_s: self.cpu_s + other.cpu_s,
            written_bytes: self
                .written_bytes
                .zip(other.written_bytes)
                .map(|(one, other)| one + other),
        }
    }
}

/// The events of one request: one tenant's, by their place in the slice.
struct Request<'a> {
    tenant: usize,
    events: Vec<&'a str>,
}

impl Request<'_> {
    /// The body; built as a client sends it, so that a run of millions of
    /// events does not hold a second copy of them all.
    fn body(&self, batch: usize) -> String {
        if batch == 1 {
            self.events[0].to_owned()
        } else {
            format!("{{\"events\":[{}]}}", self.events.join(","))
        }
    }
}

/// Groups items into runs of at most `batch` of one tenant, in order of
/// arrival: a run leaves when it is full, the partial ones last, by tenant.
fn by_tenant<T>(items: impl IntoIterator<Item = (usize, T)>, batch: usize) -> Vec<(usize, Vec<T>)> {
    let mut pending: std::collections::HashMap<usize, Vec<T>> = Default::default();
    let mut out = Vec::new();
    for (tenant, item) in items {
        let run = pending.entry(tenant).or_default();
        run.push(item);
        if run.len() == batch {
            out.push((tenant, std::mem::take(run)));
        }
    }
    let mut rest: Vec<_> = pending
        .into_iter()
        .filter(|(_, run)| !run.is_empty())
        .collect();
    rest.sort_by_key(|(tenant, _)| *tenant);
    out.extend(rest);
    out
}

/// The requests of a scenario: at most `batch` events of one tenant each.
fn requests(events: &[GeneratedEvent], batch: usize) -> Vec<Request<'_>> {
    by_tenant(
        events
            .iter()
            .map(|event| (event.tenant, event.body.as_str())),
        batch,
    )
    .into_iter()
    .map(|(tenant, events)| Request { tenant, events })
    .collect()
}

/// Sends `events` as `scenario` says and measures it; `usage` reads what the
/// server has used so far. The clients are tasks on one thread, each with a
/// connection of its own (as `wrk` drives its connections), so that the load
/// generator takes little of the two cores it shares with the server.
pub fn run(
    url: &str,
    key: &str,
    tenants: &[TenantSpec],
    scenario: &Scenario,
    events: &[GeneratedEvent],
    usage: &dyn Fn() -> Option<Usage>,
) -> anyhow::Result<IngestResult> {
    let requests = requests(events, scenario.batch);
    let next = AtomicUsize::new(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(scenario.clients)
        .build()?;
    // Each scenario starts on a settled store, and its cost is taken once
    // its own events are applied: a read waits until every event
    // acknowledged before it is applied, so that no scenario's figures
    // carry the applying of the one before.
    let settle = || {
        runtime.block_on(async {
            let response = http
                .get(format!("{url}/v1/tenants/{}/events?limit=1", tenants[0].id))
                .bearer_auth(key)
                .send()
                .await?;
            let status = response.status();
            let answer = response.text().await?;
            ensure!(
                status == 200,
                "a read to settle the store answered {status}: {answer}"
            );
            Ok::<_, anyhow::Error>(())
        })
    };
    settle()?;
    let before = usage();
    let started = Instant::now();
    let client = || async {
        let mut latencies = Vec::new();
        while let Some(request) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
            let body = request.body(scenario.batch);
            let sent = Instant::now();
            let response = http
                .post(format!(
                    "{url}/v1/tenants/{}/events",
                    tenants[request.tenant].id
                ))
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            let status = response.status();
            let answer = response.text().await?;
            ensure!(status == 201, "ingest answered {status}: {answer}");
            latencies.push(sent.elapsed());
        }
        Ok::<_, anyhow::Error>(latencies)
    };
    let latencies: Vec<Duration> = runtime
        .block_on(futures_util::future::try_join_all(
            (0..scenario.clients).map(|_| client()),
        ))?
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    settle()?;
    let server = before
        .zip(usage())
        .map(|(before, after)| ServerCost::between(before, after));
    Ok(IngestResult {
        scenario: scenario.name(),
        batch: scenario.batch,
        clients: scenario.clients,
        events: events.len(),
        requests: requests.len(),
        events_per_s: events.len() as f64 / elapsed,
        latency: latency(latencies),
        server,
    })
}

/// The store alone, as a bound for the HTTP figures: `events` validated
/// beforehand, appended in-process by one thread in batches of 1,000 of one
/// tenant, four batches a commit (what the writer does under load), into a
/// fresh store with the same durability and Merkle log, until they are all
/// readable.
pub fn store_only(
    location: &crate::store::Location,
    tenants: &[TenantSpec],
    events: &[GeneratedEvent],
) -> anyhow::Result<f64> {
    use evident_store::{AppendBatch, NewTenant};
    let store = location.open()?;
    for tenant in tenants {
        store.create_tenant(&NewTenant {
            id: tenant.id.clone(),
            name: tenant.name.clone(),
            parent: None,
        })?;
    }
    let now = jiff::Timestamp::now();
    let limits = evident_core::EventLimits::default();
    let mut validated = Vec::with_capacity(events.len());
    for event in events {
        let value: serde_json::Value = serde_json::from_str(&event.body)?;
        let new_event = evident_core::event::validate_event(&value, None, now, &limits).map_err(
            |violations| anyhow::anyhow!("a generated event is invalid: {violations:?}"),
        )?;
        validated.push((event.tenant, new_event));
    }
    let batches: Vec<AppendBatch> = by_tenant(validated, 1000)
        .into_iter()
        .map(|(tenant, events)| AppendBatch {
            tenant: tenants[tenant].id.clone(),
            events,
        })
        .collect();
    let started = Instant::now();
    for group in batches.chunks(4) {
        for result in store.append(group, jiff::Timestamp::now())? {
            result?;
        }
    }
    // Stored and readable: a read waits for whatever an append left to apply.
    let stored = store.stats()?.events;
    ensure!(
        stored == events.len() as u64,
        "the store holds {stored} of the {} events appended",
        events.len()
    );
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}
