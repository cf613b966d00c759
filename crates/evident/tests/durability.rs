//! A 201 means on disk: acknowledged events survive SIGKILL and SIGTERM.

mod common;

use std::collections::HashMap;
use std::sync::Mutex;

use common::{ADMIN_KEY, TestServer, event, wait_for};
use serde_json::{Value, json};

/// Clients ingest until the server goes away; returns every receipt acknowledged with a 201.
fn ingest_until_stopped(server: &TestServer, stop_server: impl FnOnce()) -> Vec<Value> {
    let acknowledged = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..6 {
            let acknowledged = &acknowledged;
            let client = reqwest::blocking::Client::new();
            let url = format!("{}/v1/tenants/acme/events", server.url);
            scope.spawn(move || {
                for round in 0.. {
                    let events: Vec<Value> = (0..1 + round % 20)
                        .map(|n| event(worker * 100_000 + round * 20 + n))
                        .collect();
                    let Ok(response) = client
                        .post(&url)
                        .bearer_auth(ADMIN_KEY)
                        .json(&json!({"events": events}))
                        .send()
                    else {
                        return;
                    };
                    if response.status() != 201 {
                        return;
                    }
                    let Ok(body) = response.json::<Value>() else {
                        return;
                    };
                    acknowledged
                        .lock()
                        .unwrap()
                        .extend(body["events"].as_array().unwrap().iter().cloned());
                }
            });
        }
        wait_for(30, "acknowledged writes", || {
            (acknowledged.lock().unwrap().len() > 300).then_some(())
        });
        stop_server();
    });
    acknowledged.into_inner().unwrap()
}

fn assert_all_present_once(server: &TestServer, acknowledged: &[Value]) {
    let stored = server.all_events("acme");
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for event in &stored {
        *by_id.entry(event["id"].as_str().unwrap()).or_default() += 1;
    }
    for receipt in acknowledged {
        let id = receipt["id"].as_str().unwrap();
        assert_eq!(
            by_id.get(id),
            Some(&1),
            "acknowledged event {id} (seq {}) must be stored exactly once",
            receipt["seq"]
        );
    }
    let mut seqs: Vec<u64> = stored
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..stored.len() as u64).collect::<Vec<_>>(),
        "seq has no gaps"
    );
}

#[test]
fn sigkill_loses_no_acknowledged_event() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut server = TestServer::start_in(&data_dir, &[], &[]);
    server.create_tenant("acme", None);
    // SIGKILL while six clients have requests in flight.
    let acknowledged = ingest_until_stopped(&server, || server.signal("KILL"));
    server.kill();
    assert!(acknowledged.len() > 300);
    let reopened = TestServer::start_in(&data_dir, &[], &[]);
    assert_all_present_once(&reopened, &acknowledged);
    // The log goes on where it stopped.
    let next = reopened.ingest("acme", &[event(1)]);
    assert_eq!(
        next[0]["seq"].as_u64().unwrap() as usize,
        reopened.all_events("acme").len() - 1
    );
}

#[test]
fn sigterm_finishes_in_flight_writes_and_exits_cleanly() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut server = TestServer::start_in(&data_dir, &[], &[]);
    server.create_tenant("acme", None);
    let acknowledged = ingest_until_stopped(&server, || server.signal("TERM"));
    let exited_cleanly = server.terminate();
    assert!(exited_cleanly, "exit status 0 after SIGTERM");
    let reopened = TestServer::start_in(&data_dir, &[], &[]);
    assert_all_present_once(&reopened, &acknowledged);
}

#[test]
fn sigkill_loses_no_acknowledged_event_on_postgres() {
    let database = evident_store::postgres::ScratchDatabase::for_tests("evident_durability")
        .expect("a scratch database (is PostgreSQL running?)");
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let args = ["--store", database.url()];
    let mut server = TestServer::start_in(&data_dir, &args, &[]);
    server.create_tenant("acme", None);
    let acknowledged = ingest_until_stopped(&server, || server.signal("KILL"));
    server.kill();
    assert!(acknowledged.len() > 300);
    let reopened = TestServer::start_in(&data_dir, &args, &[]);
    assert_all_present_once(&reopened, &acknowledged);
    let next = reopened.ingest("acme", &[event(1)]);
    assert_eq!(
        next[0]["seq"].as_u64().unwrap() as usize,
        reopened.all_events("acme").len() - 1
    );
}
