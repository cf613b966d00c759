//! Ingest through the HTTP API: every validation rule refuses precisely and
//! stores nothing; batches are atomic; idempotency keys store once.

mod common;

use common::{ADMIN_KEY, TestServer, event, expect_json, expect_problem};
use serde_json::{Value, json};

fn count(server: &TestServer, tenant: &str) -> u64 {
    server.get_json(&format!("/v1/tenants/{tenant}/events?page=1&per_page=1"))["total"]
        .as_u64()
        .expect("total")
}

/// The seqs of receipts, in order.
fn sorted_seqs(receipts: &[Value]) -> Vec<u64> {
    let mut seqs: Vec<u64> = receipts
        .iter()
        .map(|receipt| receipt["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs
}

fn post_raw(
    server: &TestServer,
    tenant: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::blocking::Response {
    server
        .post(&format!("/v1/tenants/{tenant}/events"), ADMIN_KEY)
        .header("content-type", content_type)
        .body(body)
        .send()
        .expect("request")
}

#[test]
fn a_single_event_gets_a_receipt_and_is_stored_as_sent() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let sent = event(3);
    let receipt = expect_json(
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&sent)
            .send()
            .unwrap(),
        201,
    );
    let receipt = &receipt["events"][0];
    assert_eq!(receipt["seq"], 0);
    let id = receipt["id"].as_str().unwrap();
    let stored = server.get_json(&format!("/v1/tenants/acme/events/{id}"));
    for field in [
        "action",
        "occurred_at",
        "actor",
        "targets",
        "context",
        "channel",
        "description",
        "metadata",
    ] {
        assert_eq!(stored[field], sent[field], "{field}");
    }
    assert_eq!(stored["outcome"], "success");
    assert_eq!(stored["category"], "uncategorized");
    assert_eq!(stored["tenant"], "acme");
    assert_eq!(stored["recorded_at"], receipt["recorded_at"]);
}

#[test]
fn each_validation_rule_is_a_precise_422_and_stores_nothing() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, &str, &str)> = vec![
        (
            "missing action",
            Box::new(|e| {
                e.as_object_mut().unwrap().remove("action");
            }),
            "action",
            "required",
        ),
        (
            "bad action characters",
            Box::new(|e| e["action"] = json!("user login")),
            "action",
            "pattern",
        ),
        (
            "bad time",
            Box::new(|e| e["occurred_at"] = json!("02/05/2026 10:11")),
            "occurred_at",
            "format",
        ),
        (
            "future time",
            Box::new(|e| e["occurred_at"] = json!("2999-01-01T00:00:00Z")),
            "occurred_at",
            "max_future",
        ),
        (
            "metadata not an object",
            Box::new(|e| e["metadata"] = json!("pool=enterprise")),
            "metadata",
            "type",
        ),
        (
            "oversize metadata",
            Box::new(|e| e["metadata"] = json!({"blob": "x".repeat(40 * 1024)})),
            "metadata",
            "max_size",
        ),
        (
            "bad ip",
            Box::new(|e| e["context"]["ip"] = json!("203.0.113.300")),
            "context.ip",
            "ip_address",
        ),
        (
            "unknown actor type",
            Box::new(|e| e["actor"]["type"] = json!("robot")),
            "actor.type",
            "one_of",
        ),
        (
            "missing actor",
            Box::new(|e| {
                e.as_object_mut().unwrap().remove("actor");
            }),
            "actor",
            "required",
        ),
        (
            "user without id",
            Box::new(|e| {
                e["actor"].as_object_mut().unwrap().remove("id");
            }),
            "actor.id",
            "required",
        ),
        (
            "too many targets",
            Box::new(|e| e["targets"] = json!(vec![json!({"type": "t", "id": "i"}); 33])),
            "targets",
            "max_items",
        ),
        (
            "target without type",
            Box::new(|e| e["targets"] = json!([{"id": "lic_1"}])),
            "targets[0].type",
            "required",
        ),
        (
            "long description",
            Box::new(|e| e["description"] = json!("d".repeat(2049))),
            "description",
            "max_length",
        ),
        (
            "bad outcome",
            Box::new(|e| e["outcome"] = json!("partial")),
            "outcome",
            "one_of",
        ),
        (
            "unknown field",
            Box::new(|e| e["ocurred_at"] = json!("2026-05-01T00:00:00Z")),
            "ocurred_at",
            "unknown_field",
        ),
    ];
    for (name, change, field, rule) in cases {
        // Alone, and as the third event of an otherwise valid batch.
        let mut bad = event(1);
        change(&mut bad);
        let problem = expect_problem(
            server
                .post("/v1/tenants/acme/events", ADMIN_KEY)
                .json(&bad)
                .send()
                .unwrap(),
            422,
        );
        let errors = problem["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{name}: {problem}");
        assert_eq!(errors[0]["field"], field, "{name}");
        assert_eq!(errors[0]["rule"], rule, "{name}");
        assert!(
            errors[0].get("index").is_none(),
            "{name}: a single event has no index"
        );

        let batch = json!({"events": [event(1), event(2), bad, event(4)]});
        let problem = expect_problem(
            server
                .post("/v1/tenants/acme/events", ADMIN_KEY)
                .json(&batch)
                .send()
                .unwrap(),
            422,
        );
        assert_eq!(problem["errors"][0]["index"], 2, "{name}");
        assert_eq!(problem["errors"][0]["field"], field, "{name}");
        assert_eq!(count(&server, "acme"), 0, "{name}: nothing stored");
    }
}

#[test]
fn request_level_problems_have_their_own_status() {
    let server = TestServer::start_with(
        &["--max-events-per-request", "10", "--max-body-bytes", "4096"],
        &[],
    );
    server.create_tenant("acme", None);

    let problem = expect_problem(
        post_raw(
            &server,
            "acme",
            "application/json",
            b"{\"action\": ".to_vec(),
        ),
        400,
    );
    assert_eq!(problem["type"], "urn:evident:problem:malformed-json");

    let problem = expect_problem(
        post_raw(
            &server,
            "acme",
            "text/plain",
            serde_json::to_vec(&event(1)).unwrap(),
        ),
        415,
    );
    assert!(problem["detail"].as_str().unwrap().contains("text/plain"));

    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"action": "a", "actor": {"type": "system"}}))
        .collect();
    let problem = expect_problem(
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&json!({"events": eleven}))
            .send()
            .unwrap(),
        413,
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("at most 10 events")
    );

    let mut large = event(1);
    large["description"] = json!("x".repeat(2000));
    let big: Vec<Value> = (0..3).map(|_| large.clone()).collect();
    let problem = expect_problem(
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&json!({"events": big}))
            .send()
            .unwrap(),
        413,
    );
    assert!(problem["detail"].as_str().unwrap().contains("4096 bytes"));

    let problem = expect_problem(
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&json!({"events": []}))
            .send()
            .unwrap(),
        422,
    );
    assert_eq!(problem["errors"][0]["field"], "events");

    assert_eq!(count(&server, "acme"), 0);
}

#[test]
fn the_default_limits_are_a_thousand_events_and_one_mebibyte() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let small = json!({"action": "a", "actor": {"type": "system"}});
    let too_many: Vec<Value> = (0..1001).map(|_| small.clone()).collect();
    expect_problem(
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&json!({"events": too_many}))
            .send()
            .unwrap(),
        413,
    );
    let body = format!(
        "{{\"action\":\"a\",\"actor\":{{\"type\":\"system\"}},\"description\":\"{}\"}}",
        "x".repeat(1024 * 1024)
    );
    expect_problem(
        post_raw(&server, "acme", "application/json", body.into_bytes()),
        413,
    );
    let thousand: Vec<Value> = (0..1000).map(|_| small.clone()).collect();
    assert_eq!(server.ingest("acme", &thousand).len(), 1000);
    assert_eq!(count(&server, "acme"), 1000);
}

#[test]
fn seq_is_contiguous_per_tenant_and_receipts_follow_request_order() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    server.create_tenant("globex", None);
    let first = server.ingest("acme", &(0..5).map(event).collect::<Vec<_>>());
    let other = server.ingest("globex", &(0..3).map(event).collect::<Vec<_>>());
    let second = server.ingest("acme", &(5..8).map(event).collect::<Vec<_>>());
    let seqs: Vec<u64> = first
        .iter()
        .chain(&second)
        .map(|receipt| receipt["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..8).collect::<Vec<u64>>());
    let other: Vec<u64> = other
        .iter()
        .map(|receipt| receipt["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(other, vec![0, 1, 2]);
    // Receipt i belongs to event i of the request.
    for (index, receipt) in first.iter().enumerate() {
        let stored = server.get_json(&format!(
            "/v1/tenants/acme/events/{}",
            receipt["id"].as_str().unwrap()
        ));
        assert_eq!(stored["metadata"]["n"], index);
    }
}

#[test]
fn idempotency_keys_store_once_and_return_the_first_receipt() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let mut keyed = event(1);
    keyed["idempotency_key"] = json!("op-1");
    let first = server.ingest("acme", std::slice::from_ref(&keyed));
    let again = server.ingest("acme", &[keyed.clone(), event(2)]);
    assert_eq!(
        again[0], first[0],
        "the repeat answers with the first receipt"
    );
    assert_eq!(again[1]["seq"], 1, "the new event continues the sequence");

    // The header, for a single event.
    let send = || {
        expect_json(
            server
                .post("/v1/tenants/acme/events", ADMIN_KEY)
                .header("Idempotency-Key", "op-2")
                .json(&event(3))
                .send()
                .unwrap(),
            201,
        )
    };
    let header_first = send();
    assert_eq!(send(), header_first);

    // Twice within one batch.
    let mut twin = event(4);
    twin["idempotency_key"] = json!("op-3");
    let twins = server.ingest("acme", &[twin.clone(), twin]);
    assert_eq!(twins[0], twins[1]);

    assert_eq!(count(&server, "acme"), 4);
    let seqs: Vec<u64> = server
        .all_events("acme")
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 3]);
}

/// The header names one event's key: a batch refuses it, and a single
/// event's own key must agree with it. Valid events and invalid ones are
/// read differently (straight into events, or through validation); both
/// answer alike.
#[test]
fn the_idempotency_key_header_names_a_single_events_key_only() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let post = |body: &Value| {
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .header("Idempotency-Key", "op-9")
            .json(body)
            .send()
            .unwrap()
    };
    let mut invalid = event(2);
    invalid["action"] = json!("user login");
    for batch in [
        json!({"events": [event(1), event(2)]}),
        json!({"events": [event(1), invalid.clone()]}),
    ] {
        let problem = expect_problem(post(&batch), 422);
        assert_eq!(problem["errors"][0]["field"], "Idempotency-Key", "{batch}");
        assert_eq!(problem["errors"][0]["rule"], "single_event_only", "{batch}");
    }
    let mut keyed = event(3);
    keyed["idempotency_key"] = json!("op-8");
    let problem = expect_problem(post(&keyed), 422);
    assert_eq!(problem["errors"][0]["field"], "idempotency_key");
    assert_eq!(problem["errors"][0]["rule"], "conflict");
    // An invalid event names its violation first.
    let problem = expect_problem(post(&invalid), 422);
    assert_eq!(problem["errors"][0]["field"], "action");
    assert_eq!(problem["errors"][0]["rule"], "pattern");
    assert_eq!(count(&server, "acme"), 0, "nothing stored");
    // The same key in the field and the header is one event, stored once.
    keyed["idempotency_key"] = json!("op-9");
    let first = expect_json(post(&keyed), 201);
    assert_eq!(expect_json(post(&keyed), 201), first);
    assert_eq!(count(&server, "acme"), 1);
}

#[test]
fn an_unknown_tenant_is_a_404_and_stores_nothing() {
    let server = TestServer::start();
    let problem = expect_problem(
        server
            .post("/v1/tenants/nobody/events", ADMIN_KEY)
            .json(&event(1))
            .send()
            .unwrap(),
        404,
    );
    assert!(problem["detail"].as_str().unwrap().contains("nobody"));
}

#[test]
fn concurrent_clients_get_contiguous_seqs() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let receipts: Vec<Value> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|worker| {
                let server = &server;
                scope.spawn(move || {
                    (0..10)
                        .flat_map(|round| server.ingest("acme", &[event(worker * 100 + round)]))
                        .collect::<Vec<Value>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    assert_eq!(sorted_seqs(&receipts), (0..80).collect::<Vec<u64>>());
}

#[test]
fn bodies_beyond_the_ingest_budget_wait_and_every_event_is_stored() {
    // Sixteen batches of about 900 KB at once: two fit the server's 2 MiB of
    // ingest bodies in flight, the rest wait to be parsed until those are stored.
    const CLIENTS: usize = 16;
    const EVENTS: usize = 1_000;
    let server = TestServer::start_with(&["--ingest-bytes-in-flight", "2097152"], &[]);
    server.create_tenant("acme", None);
    let padding = "p".repeat(500);
    let bodies: Vec<Vec<u8>> = (0..CLIENTS)
        .map(|client| {
            let events: Vec<Value> = (0..EVENTS)
                .map(|n| {
                    let mut event = event(client * EVENTS + n);
                    event["metadata"]["note"] = json!(padding);
                    event
                })
                .collect();
            serde_json::to_vec(&json!({ "events": events })).unwrap()
        })
        .collect();
    let sizes: Vec<usize> = bodies.iter().map(Vec::len).collect();
    assert!(
        sizes.iter().all(|size| (800_000..1_048_576).contains(size)),
        "{sizes:?}"
    );
    let start = std::sync::Barrier::new(CLIENTS);
    let receipts: Vec<Value> = std::thread::scope(|scope| {
        let clients: Vec<_> = bodies
            .iter()
            .map(|body| {
                let (server, start) = (&server, &start);
                scope.spawn(move || {
                    start.wait();
                    let answer = expect_json(
                        post_raw(server, "acme", "application/json", body.clone()),
                        201,
                    );
                    answer["events"].as_array().unwrap().clone()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().unwrap())
            .collect()
    });
    assert_eq!(
        sorted_seqs(&receipts),
        (0..(CLIENTS * EVENTS) as u64).collect::<Vec<u64>>()
    );
    assert_eq!(count(&server, "acme"), (CLIENTS * EVENTS) as u64);
    let metrics = server
        .get("/metrics", ADMIN_KEY)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let waits: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("evident_ingest_budget_waits_total "))
        .expect("the waits counter")
        .trim()
        .parse()
        .unwrap();
    assert!(waits >= 1.0, "no body waited: {waits}");
}
