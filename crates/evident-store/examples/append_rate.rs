// Experiment: store append rate in-process (not committed).
use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

use evident_core::event::{EventLimits, validate_event};
use evident_store::{AppendBatch, NewTenant, SqliteStore, Store};
use jiff::Timestamp;

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let count: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    if let Ok(page) = std::env::var("PAGE") {
        let c = rusqlite::Connection::open(dir.path().join("evident.db")).unwrap();
        c.execute_batch(&format!("PRAGMA page_size = {page}; VACUUM;"))
            .unwrap();
    }
    {
        let _ = SqliteStore::open(dir.path()).unwrap();
    }
    if let Ok(drop) = std::env::var("DROP") {
        let c = rusqlite::Connection::open(dir.path().join("evident.db")).unwrap();
        for statement in drop.split(';').filter(|s| !s.is_empty()) {
            c.execute_batch(statement).unwrap();
        }
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let file = std::fs::File::open(path).unwrap();
    let now = Timestamp::now();
    let limits = EventLimits::default();
    let batch: usize = std::env::var("BATCH")
        .ok()
        .map(|g| g.parse().unwrap())
        .unwrap_or(1000);
    let mut by_tenant: std::collections::HashMap<String, Vec<_>> = Default::default();
    let mut order = Vec::new();
    for line in std::io::BufReader::new(file).lines().take(count) {
        let mut value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let tenant = value
            .as_object_mut()
            .unwrap()
            .remove("tenant")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let event = validate_event(&value, None, now, &limits).unwrap();
        if !by_tenant.contains_key(&tenant) {
            store
                .create_tenant(&NewTenant {
                    id: tenant.clone(),
                    name: tenant.clone(),
                    parent: None,
                })
                .unwrap();
        }
        let events = by_tenant.entry(tenant.clone()).or_default();
        events.push(event);
        if events.len() == batch {
            order.push(AppendBatch {
                tenant: tenant.clone(),
                events: std::mem::take(events),
            });
        }
    }
    for (tenant, events) in by_tenant {
        if !events.is_empty() {
            order.push(AppendBatch { tenant, events });
        }
    }
    let group: usize = std::env::var("GROUP")
        .ok()
        .map(|g| g.parse().unwrap())
        .unwrap_or(4);
    let started = Instant::now();
    let mut n = 0;
    for chunk in order.chunks(group) {
        let results = store.append(chunk, Timestamp::now()).unwrap();
        n += results
            .iter()
            .map(|r| r.as_ref().unwrap().len())
            .sum::<usize>();
    }
    let s = started.elapsed().as_secs_f64();
    println!("{n} events in {s:.2}s: {:.0} events/s", n as f64 / s);
}
