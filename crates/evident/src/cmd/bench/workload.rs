//! The benchmark's data: the events of `../shared/bench/gen_events.py` (the
//! same ones the do-it-yourself baselines load) and the query parameters
//! drawn from them, as `baseline_common.Workload` draws its own.

use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::Value;

/// A tenant as the generator lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantSpec {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
}

/// One event ready to send: its tenant (an index into `tenants`) and its ingest JSON.
pub struct GeneratedEvent {
    pub tenant: usize,
    pub body: String,
}

pub struct Workload {
    pub tenants: Vec<TenantSpec>,
    pub events: Vec<GeneratedEvent>,
    /// The tenant with the most events, and how many it holds.
    pub largest: String,
    pub largest_count: usize,
    /// The largest tenant's actions, actor emails and targets (type, id).
    pub actions: Vec<String>,
    pub emails: Vec<String>,
    pub targets: Vec<(String, String)>,
    /// The partner whose family (it and its sub-accounts) holds the most events.
    pub partner: String,
    pub partner_rows: usize,
}

/// Generates (once per count, cached in `cache_dir`) and reads the generator's events.
pub fn load(shared: &Path, cache_dir: &Path, count: usize) -> anyhow::Result<Workload> {
    std::fs::create_dir_all(cache_dir)?;
    let events_file = cache_dir.join(format!("events-{count}.ndjson"));
    let tenants_file = cache_dir.join("tenants.json");
    if !events_file.exists() || !tenants_file.exists() {
        generate(shared, count, &events_file, &tenants_file)?;
    }
    read(&events_file, &tenants_file)
}

fn generate(shared: &Path, count: usize, events: &Path, tenants: &Path) -> anyhow::Result<()> {
    let script = shared.join("bench/gen_events.py");
    eprintln!("generating {count} events with {}", script.display());
    let partial = events.with_extension("partial");
    let status = Command::new("python3")
        .arg(&script)
        .args(["--count", &count.to_string(), "--out"])
        .arg(&partial)
        .arg("--tenants-out")
        .arg(tenants)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed: {status}", script.display());
    }
    std::fs::rename(&partial, events)?;
    Ok(())
}

fn read(events_file: &Path, tenants_file: &Path) -> anyhow::Result<Workload> {
    let tenants: Vec<TenantSpec> = serde_json::from_str(
        &std::fs::read_to_string(tenants_file)
            .with_context(|| format!("reading {}", tenants_file.display()))?,
    )?;
    let index: HashMap<&str, usize> = tenants
        .iter()
        .enumerate()
        .map(|(number, tenant)| (tenant.id.as_str(), number))
        .collect();
    let file = std::fs::File::open(events_file)
        .with_context(|| format!("reading {}", events_file.display()))?;
    // Each event is kept as the text it is sent as: a parsed tree would take
    // several times the memory, too much for a run of ten million.
    let mut events = Vec::new();
    let mut sizes = vec![0usize; tenants.len()];
    for line in std::io::BufReader::new(file).lines() {
        let mut event: Value = serde_json::from_str(&line?)?;
        let tenant = event
            .as_object_mut()
            .and_then(|object| object.remove("tenant"))
            .and_then(|tenant| tenant.as_str().map(str::to_owned))
            .context("a generated event without its tenant")?;
        let tenant = *index
            .get(tenant.as_str())
            .with_context(|| format!("unknown tenant {tenant}"))?;
        sizes[tenant] += 1;
        events.push(GeneratedEvent {
            tenant,
            body: event.to_string(),
        });
    }
    let largest = (0..tenants.len())
        .max_by_key(|&tenant| sizes[tenant])
        .context("no tenants")?;
    let mut actions = BTreeSet::new();
    let mut emails = BTreeSet::new();
    let mut targets = BTreeSet::new();
    for generated in events
        .iter()
        .filter(|generated| generated.tenant == largest)
    {
        let event: Value = serde_json::from_str(&generated.body)?;
        actions.insert(event["action"].as_str().unwrap_or_default().to_owned());
        if let Some(email) = event["actor"]["email"].as_str() {
            emails.insert(email.to_owned());
        }
        for target in event["targets"].as_array().into_iter().flatten() {
            if let (Some(kind), Some(id)) = (target["type"].as_str(), target["id"].as_str()) {
                targets.insert((kind.to_owned(), id.to_owned()));
            }
        }
    }
    let family_rows = |partner: &str| -> usize {
        tenants
            .iter()
            .enumerate()
            .filter(|(_, tenant)| tenant.id == partner || tenant.parent.as_deref() == Some(partner))
            .map(|(number, _)| sizes[number])
            .sum()
    };
    let partner = tenants
        .iter()
        .filter_map(|tenant| tenant.parent.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .max_by_key(|partner| family_rows(partner))
        .context("no partner with sub-accounts")?;
    Ok(Workload {
        largest: tenants[largest].id.clone(),
        largest_count: sizes[largest],
        partner_rows: family_rows(&partner),
        partner,
        actions: actions.into_iter().collect(),
        emails: emails.into_iter().collect(),
        targets: targets.into_iter().collect(),
        events,
        tenants,
    })
}

/// `~/.cache/evident/bench`, or a temporary directory's when there is no home.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/evident/bench"))
        .unwrap_or_else(|| std::env::temp_dir().join("evident-bench"))
}
