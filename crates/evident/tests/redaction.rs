//! Secrets never reach the disk, the logs or the metrics: every ingest path,
//! with and without a catalog.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ADMIN_KEY, TestServer, binary, expect_json};
use serde_json::{Value, json};

const CATALOG: &str = r#"
mode = "strict"
[[events]]
action = "SecretKeyRotated"
category = "Secret key"
description = "A keyset's secret key was rotated. Secret key values are redacted in the payload."
redact = ["/rotated_key/old", "/rotated_key/new"]
[[events]]
action = "KeysetConfigChanged"
category = "Keyset management"
description = "A keyset configuration was updated."
"#;

fn event(action: &str, metadata: Value) -> Value {
    json!({"action": action, "actor": {"type": "user", "id": "usr_1", "email": "ada@acme.example"}, "metadata": metadata})
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn files_holding(dir: &Path, secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, secret));
        } else if contains(&std::fs::read(&path).unwrap(), secret) {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Sends `secrets` through a single request, a batch and the CLI; returns the secrets sent.
fn send_everywhere(
    server: &TestServer,
    tenant: &str,
    action: &str,
    tag: &str,
    make: impl Fn(&str) -> Value,
) -> Vec<String> {
    let secrets: Vec<String> = ["single", "batch", "cli"]
        .iter()
        .map(|path| format!("S3CR3T-{tag}-{path}-7f3a9c"))
        .collect();
    expect_json(
        server
            .post(&format!("/v1/tenants/{tenant}/events"), ADMIN_KEY)
            .json(&event(action, make(&secrets[0])))
            .send()
            .unwrap(),
        201,
    );
    let batch = json!({"events": [event(action, json!({"note": "harmless"})), event(action, make(&secrets[1]))]});
    expect_json(
        server
            .post(&format!("/v1/tenants/{tenant}/events"), ADMIN_KEY)
            .json(&batch)
            .send()
            .unwrap(),
        201,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, format!("{}\n", event(action, make(&secrets[2])))).unwrap();
    let output = Command::new(binary())
        .args([
            "ingest",
            file.to_str().unwrap(),
            "--tenant",
            tenant,
            "--quiet",
        ])
        .env("EVIDENT_URL", &server.url)
        .env("EVIDENT_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    secrets
}

fn assert_nowhere(server: &mut TestServer, log: &Path, secrets: &[String], tenant: &str) {
    let stored = server
        .all_events(tenant)
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        stored.matches("[REDACTED]").count() >= secrets.len(),
        "{stored}"
    );
    let metrics = server
        .http
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(server.terminate());
    let log_text = std::fs::read(log).unwrap();
    assert!(!log_text.is_empty(), "the server logged at debug level");
    // The search does find what is stored: the harmless note sent beside each secret.
    assert!(!files_holding(&server.data_dir, "harmless").is_empty());
    for secret in secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "{secret} in query results"
        );
        assert_eq!(
            files_holding(&server.data_dir, secret),
            Vec::<String>::new(),
            "{secret} on disk"
        );
        assert!(!contains(&log_text, secret), "{secret} in the log");
        assert!(!metrics.contains(secret.as_str()), "{secret} in /metrics");
    }
}

#[test]
fn secrets_are_redacted_by_key_name_without_a_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = TestServer::start_logging(&[], &[], &log);
    server.create_tenant("acme", None);
    let mut secrets = send_everywhere(
        &server,
        "acme",
        "user.password_changed",
        "pw",
        |secret| json!({"password": secret}),
    );
    secrets.extend(send_everywhere(
        &server,
        "acme",
        "integration.updated",
        "nested",
        |secret| json!({"auth": {"Client_Secret": secret}, "list": [{"api_key": secret}]}),
    ));
    assert_nowhere(&mut server, &log, &secrets, "acme");
}

#[test]
fn secrets_are_redacted_by_catalog_pointer_and_key_name() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.toml");
    std::fs::write(&catalog, CATALOG).unwrap();
    let log = dir.path().join("server.log");
    let mut server =
        TestServer::start_logging(&["--catalog", catalog.to_str().unwrap()], &[], &log);
    server.create_tenant("relay", None);
    // `rotated_key.old/new` are not secret-sounding names: only the catalog's pointers catch them.
    let mut secrets = send_everywhere(
        &server,
        "relay",
        "SecretKeyRotated",
        "rotation",
        |secret| json!({"rotated_key": {"old": secret, "new": format!("{secret}-next")}}),
    );
    secrets.extend(send_everywhere(
        &server,
        "relay",
        "KeysetConfigChanged",
        "token",
        |secret| json!({"changes": {"token": secret}}),
    ));
    assert_nowhere(&mut server, &log, &secrets, "relay");
}

#[test]
fn the_key_list_is_configurable() {
    let server = TestServer::start_with(&["--redact-keys", "ssn,tax_id"], &[]);
    server.create_tenant("acme", None);
    let receipt = expect_json(
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&event(
                "user.updated",
                json!({"SSN": "078-05-1120", "tax_id": "12-3456789", "reason": "onboarding"}),
            ))
            .send()
            .unwrap(),
        201,
    );
    let stored = server.get_json(&format!(
        "/v1/tenants/acme/events/{}",
        receipt["events"][0]["id"].as_str().unwrap()
    ));
    assert_eq!(
        stored["metadata"],
        json!({"SSN": "[REDACTED]", "tax_id": "[REDACTED]", "reason": "onboarding"})
    );
}
