//! The command-line client against a real server.

mod common;

use std::process::{Command, Output};

use common::{ADMIN_KEY, TestServer, binary};
use serde_json::{Value, json};

fn evident(server: &TestServer, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("EVIDENT_URL", &server.url)
        .env("EVIDENT_KEY", ADMIN_KEY)
        .output()
        .expect("running evident")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn tenants_and_keys_commands() {
    let server = TestServer::start();
    stdout(&evident(
        &server,
        &[
            "tenants",
            "create",
            "northwind",
            "--name",
            "Northwind Partners",
        ],
    ));
    stdout(&evident(
        &server,
        &[
            "tenants",
            "create",
            "contoso",
            "--name",
            "Contoso",
            "--parent",
            "northwind",
        ],
    ));
    let listed = stdout(&evident(&server, &["tenants", "list"]));
    assert!(listed.contains("northwind") && listed.contains("Northwind Partners"));
    assert!(listed.contains("sub-account of northwind"));
    stdout(&evident(
        &server,
        &["tenants", "rename", "contoso", "--name", "Contoso Ltd"],
    ));
    let shown: Value =
        serde_json::from_str(&stdout(&evident(&server, &["tenants", "show", "contoso"]))).unwrap();
    assert_eq!(shown["parent"], "northwind");
    assert_eq!(shown["name"], "Contoso Ltd");
    let failed = evident(&server, &["tenants", "create", "Bad Id", "--name", "x"]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("422"));

    let created = stdout(&evident(
        &server,
        &[
            "keys",
            "create",
            "--name",
            "ci",
            "--tenant",
            "contoso",
            "--scopes",
            "ingest,read",
        ],
    ));
    let key = created
        .lines()
        .find_map(|line| line.strip_prefix("key:"))
        .unwrap()
        .trim()
        .to_owned();
    let id = created
        .lines()
        .find_map(|line| line.strip_prefix("id:"))
        .unwrap()
        .trim()
        .to_owned();
    let keys = stdout(&evident(&server, &["keys", "list"]));
    assert!(keys.contains(&id) && keys.contains("ingest,read") && !keys.contains(&key));
    let ok = server
        .get("/v1/tenants/contoso/events", &key)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    stdout(&evident(&server, &["keys", "revoke", &id]));
    let refused = server
        .get("/v1/tenants/contoso/events", &key)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
}

fn write_ndjson(dir: &std::path::Path, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join("events.ndjson");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn sample_lines() -> Vec<String> {
    let good = |n: usize| {
        json!({"action": "user.login", "actor": {"type": "user", "id": format!("usr_{n}")}, "metadata": {"n": n}}).to_string()
    };
    vec![
        good(1),
        good(2),
        "{not json".to_owned(),
        good(4),
        json!({"action": "user.login", "actor": {"type": "robot", "id": "r"}}).to_string(),
        good(6),
        String::new(),
        json!({"action": "x", "actor": {"type": "system"}, "context": {"ip": "999.1.1.1"}})
            .to_string(),
        good(9),
    ]
}

#[test]
fn ingest_skips_and_reports_rejected_lines() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let dir = tempfile::tempdir().unwrap();
    let file = write_ndjson(dir.path(), &sample_lines());
    let output = evident(
        &server,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--tenant",
            "acme",
            "--on-error",
            "skip",
            "--quiet",
            "--batch-size",
            "3",
        ],
    );
    let out = stdout(&output);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("line 3: not JSON"), "{errors}");
    assert!(errors.contains("line 5: actor.type"), "{errors}");
    assert!(errors.contains("line 8: context.ip"), "{errors}");
    assert!(out.contains("stored 5 events; rejected 3 lines"), "{out}");
    let stored: Vec<i64> = server
        .all_events("acme")
        .iter()
        .map(|event| event["metadata"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, vec![1, 2, 4, 6, 9], "file order is kept");
}

#[test]
fn ingest_stops_at_the_first_rejected_line() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let dir = tempfile::tempdir().unwrap();
    let file = write_ndjson(dir.path(), &sample_lines());
    let output = evident(
        &server,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--tenant",
            "acme",
            "--quiet",
            "--batch-size",
            "2",
        ],
    );
    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("line 3: not JSON"), "{errors}");
    assert!(errors.contains("stopped at line 3"), "{errors}");
    assert_eq!(
        server.all_events("acme").len(),
        2,
        "only the batch before the bad line"
    );
}

#[test]
fn ingest_routes_lines_by_their_tenant_field() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    server.create_tenant("globex", None);
    let lines: Vec<String> = (0..10)
        .map(|n| json!({"tenant": if n % 2 == 0 { "acme" } else { "globex" }, "action": "a", "actor": {"type": "system"}}).to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = write_ndjson(dir.path(), &lines);
    stdout(&evident(
        &server,
        &["ingest", file.to_str().unwrap(), "--quiet"],
    ));
    assert_eq!(server.all_events("acme").len(), 5);
    assert_eq!(server.all_events("globex").len(), 5);
}

#[test]
fn query_prints_table_json_and_csv() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let events: Vec<Value> = (0..120)
        .map(|n| json!({
            "action": if n % 2 == 0 { "license.revoked" } else { "user.login" },
            "occurred_at": format!("2026-05-01T10:{:02}:{:02}Z", n / 60, n % 60),
            "actor": {"type": "user", "id": "usr_ada", "email": "ada@acme.example"},
            "targets": [{"type": "license", "id": format!("lic_{n}"), "name": format!("=HYPERLINK(\"x\") seat {n}")}],
            "context": {"ip": "203.0.113.7"},
            "description": "Ada, \"quoted\"\nmultiline"
        }))
        .collect();
    server.ingest("acme", &events);
    let json_lines = stdout(&evident(
        &server,
        &[
            "query",
            "action:license.revoked",
            "--tenant",
            "acme",
            "--format",
            "json",
            "--limit",
            "0",
        ],
    ));
    let parsed: Vec<Value> = json_lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(parsed.len(), 60);
    assert!(
        parsed
            .iter()
            .all(|event| event["action"] == "license.revoked")
    );

    let limited = stdout(&evident(
        &server,
        &[
            "query", "", "--tenant", "acme", "--format", "json", "--limit", "7",
        ],
    ));
    assert_eq!(limited.lines().count(), 7);

    let csv_text = stdout(&evident(
        &server,
        &[
            "query",
            "actor:ada@*",
            "--tenant",
            "acme",
            "--format",
            "csv",
            "--limit",
            "0",
            "--asc",
        ],
    ));
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[0], "Time");
    assert_eq!(header[1], "Event");
    assert!(header.contains(&"Account ID".to_owned()));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 120);
    assert_eq!(
        &rows[0][2], "Ada, \"quoted\"\nmultiline",
        "CSV quoting round-trips"
    );
    assert_eq!(&rows[0][7], "acme");

    let table = stdout(&evident(&server, &["query", "lic_77", "--tenant", "acme"]));
    assert!(table.lines().next().unwrap().contains("TIME"));
    assert_eq!(table.lines().count(), 2, "{table}");

    let bad = evident(&server, &["query", "from:", "--tenant", "acme"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("400"));
}

#[test]
fn demo_loads_realistic_tenants_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let output = Command::new(binary())
        .args([
            "demo",
            "--no-serve",
            "--events",
            "3000",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let out = stdout(&output);
    assert!(out.contains("loaded 3000 events"), "{out}");
    let key = out
        .lines()
        .find_map(|line| line.strip_prefix("admin key: "))
        .unwrap()
        .trim()
        .to_owned();
    // The demo's store verifies offline before it has ever served.
    let verified = Command::new(binary())
        .args(["verify", "--store", data_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");
    let verified = stdout(&verified);
    assert!(!verified.contains("FAILED"), "{verified}");
    let server = TestServer::start_in(&data_dir, &[], &[]);
    let tenants = common::expect_json(server.get("/v1/tenants", &key).send().unwrap(), 200);
    let tenants = tenants["tenants"].as_array().unwrap();
    assert_eq!(
        verified
            .lines()
            .filter(|line| line.starts_with("ok "))
            .count(),
        tenants.len(),
        "every tenant's log verified: {verified}"
    );
    let parents: Vec<&Value> = tenants
        .iter()
        .filter(|tenant| tenant["parent"].is_string())
        .collect();
    assert_eq!(parents.len(), 2, "a partner with two sub-accounts");
    let partner = parents[0]["parent"].as_str().unwrap();
    let page = common::expect_json(
        server
            .get(
                &format!("/v1/tenants/{partner}/events?include=descendants&page=1&per_page=10"),
                &key,
            )
            .send()
            .unwrap(),
        200,
    );
    assert!(page["total"].as_u64().unwrap() > 0);
    let ips: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["context"]["ip"].as_str())
        .collect();
    assert!(!ips.is_empty());
}

#[test]
fn checkpoint_prints_the_key_and_a_tenants_checkpoint() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    server.ingest(
        "acme",
        &[json!({"action": "a", "actor": {"type": "system"}})],
    );
    let key = stdout(&evident(&server, &["checkpoint", "--key"]));
    let verifier = evident_core::log::note::Verifier::parse(key.trim()).unwrap();
    let note = stdout(&evident(&server, &["checkpoint", "--tenant", "acme"]));
    let opened = evident_core::log::note::open(note.as_bytes(), &[verifier]).unwrap();
    assert!(opened.text.contains("/acme\n1\n"), "{}", opened.text);
    let neither = evident(&server, &["checkpoint"]);
    assert!(!neither.status.success());
}

#[test]
fn migrate_creates_upgrades_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let migrate = || {
        Command::new(binary())
            .arg("migrate")
            .arg("--data-dir")
            .arg(&data_dir)
            .output()
            .expect("running evident migrate")
    };
    let created = stdout(&migrate());
    assert!(created.starts_with("created the store in"), "{created}");
    let version: i64 = created.trim().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(stdout(&migrate()).ends_with(&format!("at schema version {version}: nothing to do\n")));
    // A search index that is gone is built again, and said so; once.
    for file in ["search.db", "search.db-wal", "search.db-shm"] {
        let _ = std::fs::remove_file(data_dir.join(file));
    }
    assert!(!data_dir.join("search.db").exists());
    let rebuilt = stdout(&migrate());
    assert!(
        rebuilt.ends_with(&format!(
            "at schema version {version}; built its search index again from its events\n"
        )),
        "{rebuilt}"
    );
    assert!(stdout(&migrate()).ends_with(&format!("at schema version {version}: nothing to do\n")));

    let database = data_dir.join("evident.db");
    let newer = rusqlite::Connection::open(&database).unwrap();
    newer
        .pragma_update(None, "user_version", version + 1)
        .unwrap();
    drop(newer);
    // A store written by a newer build is refused, by migrate and by serve alike.
    common::assert_newer_schema_refused(
        &["--data-dir".as_ref(), data_dir.as_os_str()],
        version + 1,
    );
}
