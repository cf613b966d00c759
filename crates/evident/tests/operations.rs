//! Operations: bootstrap, settings, health, metrics, OpenAPI, logs.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{ADMIN_KEY, TestServer, binary, event, expect_json, expect_problem};
use serde_json::{Value, json};

#[test]
fn first_start_prints_an_admin_key_once() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let run = |env_key: Option<&str>| {
        let mut command = Command::new(binary());
        command.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ]);
        command
            .env_remove("EVIDENT_ADMIN_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(key) = env_key {
            command.env("EVIDENT_ADMIN_KEY", key);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.starts_with("listening on");
            lines.push(line);
            if done {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        lines
    };
    let first = run(None);
    let key = first
        .iter()
        .find_map(|line| line.strip_prefix("admin key: "))
        .expect("a key on first start")
        .to_owned();
    assert!(key.starts_with("evk_"));
    let second = run(None);
    assert!(
        second.iter().all(|line| !line.contains("admin key")),
        "{second:?}"
    );

    // The printed key works.
    let server = TestServer::start_in(&data_dir, &[], &[]);
    expect_json(server.get("/v1/keys", &key).send().unwrap(), 200);
}

#[test]
fn a_preset_admin_key_must_be_long_enough() {
    let temp = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            temp.path().to_str().unwrap(),
        ])
        .env("EVIDENT_ADMIN_KEY", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 32 characters"));
}

#[test]
fn settings_come_from_flags_then_environment_then_file() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("evident.toml");
    std::fs::write(
        &config,
        "max_events_per_request = 2\nmax_future_seconds = 60\n",
    )
    .unwrap();
    let three: Vec<Value> = (0..3).map(event).collect();
    let batch = json!({ "events": three });

    let from_file = TestServer::start_with(&["--config", config.to_str().unwrap()], &[]);
    from_file.create_tenant("acme", None);
    expect_problem(
        from_file
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&batch)
            .send()
            .unwrap(),
        413,
    );
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(5);
    let future =
        json!({"action": "a", "actor": {"type": "system"}, "occurred_at": soon.to_string()});
    expect_problem(
        from_file
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&future)
            .send()
            .unwrap(),
        422,
    );

    let env_wins = TestServer::start_with(
        &["--config", config.to_str().unwrap()],
        &[("EVIDENT_MAX_EVENTS_PER_REQUEST", "3")],
    );
    env_wins.create_tenant("acme", None);
    expect_json(
        env_wins
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&batch)
            .send()
            .unwrap(),
        201,
    );

    let flag_wins = TestServer::start_with(
        &[
            "--config",
            config.to_str().unwrap(),
            "--max-events-per-request",
            "2",
        ],
        &[("EVIDENT_MAX_EVENTS_PER_REQUEST", "3")],
    );
    flag_wins.create_tenant("acme", None);
    expect_problem(
        flag_wins
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&batch)
            .send()
            .unwrap(),
        413,
    );

    let output = Command::new(binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            "/nonexistent/evident.toml",
        ])
        .env("EVIDENT_DATA_DIR", temp.path().join("unused"))
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "a missing config file is an error"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/evident.toml"));

    let output = Command::new(binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ingest-bytes-in-flight",
            "100",
        ])
        .env("EVIDENT_DATA_DIR", temp.path().join("unused"))
        .output()
        .unwrap();
    assert!(!output.status.success(), "a budget below 1 KiB is refused");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("ingest_bytes_in_flight must be at least 1024")
    );
}

#[test]
fn the_data_dir_comes_from_the_environment() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("env-data");
    let mut child = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("EVIDENT_DATA_DIR", &data_dir)
        .env("EVIDENT_ADMIN_KEY", ADMIN_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("listening on") {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(data_dir.join("evident.db").exists());
}

#[test]
fn health_readiness_and_metrics() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    server.ingest("acme", &(0..7).map(event).collect::<Vec<_>>());
    let health: Value = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready: Value = server
        .http
        .get(format!("{}/readyz", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let metrics = server
        .http
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let ingested = metrics
        .lines()
        .find(|line| line.starts_with("evident_events_ingested_total"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(ingested.ends_with(" 7"), "{ingested}");
    assert!(
        metrics.contains("evident_http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    assert!(metrics.contains("route=\"/v1/tenants/{tenant}/events\""));
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("evident_store_events") && line.ends_with(" 7")),
        "{metrics}"
    );
    assert!(metrics.contains("evident_store_bytes"));
}

#[test]
fn openapi_describes_every_endpoint_with_its_errors() {
    let server = TestServer::start();
    let api: Value = server
        .http
        .get(format!("{}/openapi.json", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(api["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = api["paths"].as_object().unwrap();
    let expected = [
        ("/v1/tenants", vec!["get", "post"]),
        ("/v1/tenants/{tenant}", vec!["get", "patch"]),
        ("/v1/keys", vec!["get", "post"]),
        ("/v1/keys/{id}", vec!["delete"]),
        ("/v1/tenants/{tenant}/events", vec!["get", "post"]),
        ("/v1/tenants/{tenant}/events/{id}", vec!["get"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
        ("/v1/catalog", vec!["get"]),
        ("/v1/catalog/reload", vec!["post"]),
        ("/v1/tenants/{tenant}/catalog", vec!["put"]),
        ("/v1/tenants/{tenant}/log/proof/inclusion", vec!["get"]),
        ("/v1/tenants/{tenant}/log/proof/consistency", vec!["get"]),
        ("/v1/tenants/{tenant}/log/checkpoint", vec!["get"]),
        ("/v1/tenants/{tenant}/log/checkpoints", vec!["get"]),
        ("/v1/log/key", vec!["get"]),
    ];
    for (path, methods) in expected {
        for method in methods {
            let operation = &paths[path][method];
            assert!(operation.is_object(), "{method} {path}");
            if path.starts_with("/v1/") && path != "/v1/log/key" {
                assert!(
                    operation["responses"]["401"].is_object(),
                    "{method} {path} documents 401"
                );
            }
        }
    }
    let list_params: Vec<&str> = paths["/v1/tenants/{tenant}/events"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    for name in [
        "action", "category", "actor", "target", "channel", "outcome", "ip", "from", "to", "q",
        "query", "sort", "include", "limit", "cursor", "page", "per_page",
    ] {
        assert!(list_params.contains(&name), "parameter {name}");
    }
    let ingest = &paths["/v1/tenants/{tenant}/events"]["post"]["responses"];
    for status in ["201", "400", "413", "415", "422"] {
        assert!(ingest[status].is_object(), "ingest documents {status}");
    }
    let schemas = api["components"]["schemas"].as_object().unwrap();
    for schema in [
        "Problem",
        "Event",
        "Violation",
        "Tenant",
        "ApiKey",
        "Receipt",
        "IngestEvent",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema}");
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let temp = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
            temp.path().to_str().unwrap(),
        ])
        .env("EVIDENT_ADMIN_KEY", ADMIN_KEY)
        .env("EVIDENT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let parsed: Value =
        serde_json::from_str(line.trim()).unwrap_or_else(|error| panic!("{error}: {line}"));
    assert!(
        parsed["level"].is_string() && parsed["fields"].is_object(),
        "{parsed}"
    );
}
