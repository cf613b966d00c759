//! The event catalog through the API: modes, schemas, display text, reloads,
//! tenant additions, and the example catalogs of the seed products.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ADMIN_KEY, TestServer, binary, expect_json, expect_problem, wait_for};
use serde_json::{Value, json};

const RESELLER: &str = r#"
name = "Reseller console"
mode = "strict"

[channels]
portal = "Reseller portal"
api = "Provisioning API"

[categories.Licenses]
description = "License pool allocations"

[[events]]
action = "license.revoked"
category = "Licenses"
description = "A slot was reclaimed from a client and returned to the pool."
display = "{actor} revoked a license from {target}"
targets = ["client", "license"]
channels = ["portal", "api"]
redact = ["/reclaim_code"]
metadata = { type = "object", required = ["pool"], properties = { pool = { enum = ["enterprise", "standard"] } } }

[[events]]
action = "license.allocated"
category = "Licenses"
description = "A slot in a pool was assigned to a client."
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn revoked() -> Value {
    json!({
        "action": "license.revoked",
        "actor": {"type": "user", "id": "usr_1", "name": "Grace Hopper"},
        "targets": [{"type": "client", "id": "cli_9", "email": "it@globex.example"}],
        "channel": "portal",
        "metadata": {"pool": "enterprise", "reclaim_code": "RC-7781-XQ"}
    })
}

fn post(server: &TestServer, tenant: &str, body: &Value) -> reqwest::blocking::Response {
    server
        .post(&format!("/v1/tenants/{tenant}/events"), ADMIN_KEY)
        .json(body)
        .send()
        .unwrap()
}

#[test]
fn strict_catalog_categorises_validates_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "catalog.toml", RESELLER);
    let server = TestServer::start_with(&["--catalog", file.to_str().unwrap()], &[]);
    server.create_tenant("bluepeak", None);

    let receipt = expect_json(post(&server, "bluepeak", &revoked()), 201);
    let id = receipt["events"][0]["id"].as_str().unwrap();
    let stored = server.get_json(&format!("/v1/tenants/bluepeak/events/{id}"));
    assert_eq!(stored["category"], "Licenses");
    assert_eq!(
        stored["display"],
        "Grace Hopper revoked a license from it@globex.example"
    );
    assert_eq!(stored["metadata"]["reclaim_code"], "[REDACTED]");
    let listed = server.get_json("/v1/tenants/bluepeak/events?category=Licenses");
    assert_eq!(listed["events"][0]["display"], stored["display"]);

    let mut misspelt = revoked();
    misspelt["action"] = json!("license.revokd");
    let problem = expect_problem(post(&server, "bluepeak", &misspelt), 422);
    assert_eq!(problem["errors"][0]["field"], "action");
    assert_eq!(problem["errors"][0]["rule"], "unknown_action");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("did you mean \"license.revoked\"")
    );

    let mut bad = revoked();
    bad["metadata"]["pool"] = json!("gold");
    bad["channel"] = json!("mcp");
    bad["targets"][0]["type"] = json!("user");
    let problem = expect_problem(
        post(&server, "bluepeak", &json!({"events": [revoked(), bad]})),
        422,
    );
    let found: Vec<(u64, String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["index"].as_u64().unwrap(),
                error["field"].as_str().unwrap().to_owned(),
                error["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (1, "targets[0].type".into(), "target_type".into()),
            (1, "channel".into(), "channel".into()),
            (1, "metadata/pool".into(), "enum".into()),
        ]
    );
    assert_eq!(
        server.all_events("bluepeak").len(),
        1,
        "the refused batch stored nothing"
    );

    let catalog = server.get_json("/v1/catalog?tenant=bluepeak");
    assert_eq!(catalog["mode"], "strict");
    assert_eq!(catalog["channels"]["api"], "Provisioning API");
    assert_eq!(catalog["categories"][0]["name"], "Licenses");
    assert_eq!(
        catalog["categories"][0]["description"],
        "License pool allocations"
    );
    let actions: Vec<&str> = catalog["categories"][0]["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event_type| event_type["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["license.allocated", "license.revoked"]);
}

#[test]
fn without_a_catalog_every_action_is_open_and_uncategorized() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let mut event = revoked();
    event["action"] = json!("anything.goes");
    let receipt = expect_json(post(&server, "acme", &event), 201);
    let stored = server.get_json(&format!(
        "/v1/tenants/acme/events/{}",
        receipt["events"][0]["id"].as_str().unwrap()
    ));
    assert_eq!(stored["category"], "uncategorized");
    assert!(stored.get("display").is_none());
    assert_eq!(server.get_json("/v1/catalog")["mode"], "open");
}

#[test]
fn a_broken_file_is_refused_and_the_old_catalog_stays() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "catalog.toml", RESELLER);
    let mut server = TestServer::start_with(&["--catalog", file.to_str().unwrap()], &[]);
    server.create_tenant("bluepeak", None);

    std::fs::write(&file, "mode = \"strict\"\n[[events]]\naction = \"client.created\"\ncategory = \"Clients\"\ndisplay = \"{nobody}\"\n").unwrap();
    let problem = expect_problem(
        server.post("/v1/catalog/reload", ADMIN_KEY).send().unwrap(),
        422,
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("description"),
        "{problem}"
    );
    expect_json(post(&server, "bluepeak", &revoked()), 201);

    let mut extended = RESELLER.to_owned();
    extended.push_str("\n[[events]]\naction = \"client.created\"\ncategory = \"Clients\"\ndescription = \"A new client was onboarded.\"\n");
    std::fs::write(&file, &extended).unwrap();
    let summary = expect_json(
        server.post("/v1/catalog/reload", ADMIN_KEY).send().unwrap(),
        200,
    );
    assert_eq!(summary["event_types"], 3);
    let created = json!({"action": "client.created", "actor": {"type": "user", "id": "usr_1"}});
    expect_json(post(&server, "bluepeak", &created), 201);

    // SIGHUP reloads too; a broken file on SIGHUP also changes nothing.
    std::fs::write(&file, RESELLER).unwrap();
    server.signal("HUP");
    wait_for(20, "the SIGHUP reload", || {
        (post(&server, "bluepeak", &created).status() == 422).then_some(())
    });
    std::fs::write(&file, "not toml at all [").unwrap();
    server.signal("HUP");
    // Whether or not the SIGHUP has been handled yet, the catalog in force is the last good one.
    expect_json(post(&server, "bluepeak", &revoked()), 201);
    expect_problem(
        server.post("/v1/catalog/reload", ADMIN_KEY).send().unwrap(),
        422,
    );
    expect_json(post(&server, "bluepeak", &revoked()), 201);
    assert!(server.terminate(), "still a healthy server");
}

#[test]
fn only_operator_admins_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "catalog.toml", RESELLER);
    let server = TestServer::start_with(&["--catalog", file.to_str().unwrap()], &[]);
    server.create_tenant("bluepeak", None);
    let tenant_admin = server.create_key(Some("bluepeak"), &["admin"]);
    expect_problem(
        server
            .post("/v1/catalog/reload", &tenant_admin)
            .send()
            .unwrap(),
        403,
    );
    let reader = server.create_key(None, &["read"]);
    expect_problem(
        server.post("/v1/catalog/reload", &reader).send().unwrap(),
        403,
    );
}

#[test]
fn a_missing_catalog_file_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
        ])
        .env("EVIDENT_CATALOG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.toml"));
}

#[test]
fn reloads_under_concurrent_ingest_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = |category: &str| {
        format!(
            "mode = \"strict\"\n[[events]]\naction = \"a.one\"\ncategory = \"{category}\"\ndescription = \"one\"\n[[events]]\naction = \"a.two\"\ncategory = \"{category}\"\ndescription = \"two\"\n"
        )
    };
    let file = write(dir.path(), "catalog.toml", &catalog("alpha"));
    let server = TestServer::start_with(&["--catalog", file.to_str().unwrap()], &[]);
    server.create_tenant("acme", None);
    let batch = json!({"events": [
        {"action": "a.one", "actor": {"type": "system"}},
        {"action": "a.two", "actor": {"type": "system"}}
    ]});
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    expect_json(post(&server, "acme", &batch), 201);
                }
            });
        }
        for round in 0..40 {
            std::fs::write(
                &file,
                catalog(if round % 2 == 0 { "beta" } else { "alpha" }),
            )
            .unwrap();
            expect_json(
                server.post("/v1/catalog/reload", ADMIN_KEY).send().unwrap(),
                200,
            );
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let events = server.all_events("acme");
    assert!(events.len() >= 8);
    let categories: std::collections::HashSet<&str> = events
        .iter()
        .map(|event| event["category"].as_str().unwrap())
        .collect();
    assert_eq!(
        categories.len(),
        2,
        "both catalogs were in force at some point"
    );
    for pair in events.chunks(2) {
        assert_eq!(
            pair[0]["category"], pair[1]["category"],
            "one request saw one catalog: seq {}",
            pair[0]["seq"]
        );
    }
}

#[test]
fn tenant_additions_extend_for_the_tenant_and_its_descendants() {
    let server = TestServer::start();
    server.create_tenant("northwind", None);
    server.create_tenant("northwind-contoso", Some("northwind"));
    server.create_tenant("globex", None);
    let addition = "mode = \"strict\"\n[[events]]\naction = \"user.token_created\"\ncategory = \"user\"\ndescription = \"Creates secondary token\"\ndisplay = \"{actor} created a token\"\n";
    let summary = expect_json(
        server
            .http
            .put(format!("{}/v1/tenants/northwind/catalog", server.url))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/toml")
            .body(addition)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(summary["event_types"], 1);
    let token = json!({"action": "user.token_created", "actor": {"type": "user", "id": "usr_1", "name": "Ada"}});
    let unknown = json!({"action": "user.token_creatd", "actor": {"type": "user", "id": "usr_1"}});
    for tenant in ["northwind", "northwind-contoso"] {
        let receipt = expect_json(post(&server, tenant, &token), 201);
        let stored = server.get_json(&format!(
            "/v1/tenants/{tenant}/events/{}",
            receipt["events"][0]["id"].as_str().unwrap()
        ));
        assert_eq!(
            (stored["category"].as_str(), stored["display"].as_str()),
            (Some("user"), Some("Ada created a token"))
        );
        expect_problem(post(&server, tenant, &unknown), 422);
    }
    expect_json(post(&server, "globex", &unknown), 201);
    // A child may add, not redefine.
    let clash =
        json!({"events": [{"action": "user.token_created", "category": "x", "description": "x"}]});
    expect_problem(
        server
            .http
            .put(format!(
                "{}/v1/tenants/northwind-contoso/catalog",
                server.url
            ))
            .bearer_auth(ADMIN_KEY)
            .json(&clash)
            .send()
            .unwrap(),
        422,
    );
    let child_addition = json!({"events": [{"action": "subaccount.created", "category": "subaccount", "description": "Creates new account"}]});
    expect_json(
        server
            .http
            .put(format!(
                "{}/v1/tenants/northwind-contoso/catalog",
                server.url
            ))
            .bearer_auth(ADMIN_KEY)
            .json(&child_addition)
            .send()
            .unwrap(),
        200,
    );
    let child = server.get_json("/v1/catalog?tenant=northwind-contoso");
    assert_eq!(child["categories"].as_array().unwrap().len(), 2);
    let parent = server.get_json("/v1/catalog?tenant=northwind");
    assert_eq!(parent["categories"].as_array().unwrap().len(), 1);
    // A tenant's key sees its own effective catalog by default, and no other tenant's.
    let key = server.create_key(Some("northwind-contoso"), &["read"]);
    let own = expect_json(server.get("/v1/catalog", &key).send().unwrap(), 200);
    assert_eq!(own, child);
    expect_problem(
        server
            .get("/v1/catalog?tenant=globex", &key)
            .send()
            .unwrap(),
        404,
    );
}

fn example_catalogs() -> Vec<PathBuf> {
    let dir = common::repo_root().join("examples/catalogs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_catalog_accepts_its_actions_and_refuses_misspellings() {
    let files = example_catalogs();
    assert_eq!(files.len(), 5);
    for file in files {
        let check = Command::new(binary())
            .args(["catalog", "check", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let server = TestServer::start_with(&["--catalog", file.to_str().unwrap()], &[]);
        server.create_tenant("product", None);
        let catalog = server.get_json("/v1/catalog");
        assert_eq!(catalog["mode"], "strict");
        let mut count = 0;
        for category in catalog["categories"].as_array().unwrap() {
            for event_type in category["event_types"].as_array().unwrap() {
                let action = event_type["action"].as_str().unwrap();
                let targets: Vec<Value> = event_type["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(
                        |kind| json!({"type": kind, "id": format!("{}_1", kind.as_str().unwrap())}),
                    )
                    .collect();
                let channel = event_type["channels"]
                    .as_array()
                    .unwrap()
                    .first()
                    .cloned()
                    .unwrap_or(json!("portal"));
                let actor = if action == "SESSION_EXPIRED" {
                    json!({"type": "system"})
                } else {
                    json!({"type": "user", "id": "usr_1"})
                };
                let event = json!({"action": action, "actor": actor, "targets": targets, "channel": channel});
                let receipt = expect_json(post(&server, "product", &event), 201);
                let stored = server.get_json(&format!(
                    "/v1/tenants/product/events/{}",
                    receipt["events"][0]["id"].as_str().unwrap()
                ));
                assert_eq!(stored["category"], category["name"], "{action}");
                assert!(stored["display"].is_string(), "{action} has display text");
                let mut misspelt = event.clone();
                misspelt["action"] = json!(format!("{action}x"));
                let problem = expect_problem(post(&server, "product", &misspelt), 422);
                assert!(
                    problem["errors"][0]["detail"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("did you mean \"{action}\"")),
                    "{problem}"
                );
                count += 1;
            }
        }
        let summary = String::from_utf8_lossy(&check.stdout).to_string();
        assert!(
            summary.contains(&format!("{count} event types")),
            "{summary}"
        );
    }
}

#[test]
fn catalog_check_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.toml",
        "[[events]]\naction = \"a b\"\ncategory = \"\"\ndescription = \"x\"\ndisplay = \"{who}\"\n",
    );
    let output = Command::new(binary())
        .args(["catalog", "check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains("action must be")
            && errors.contains("category must not be empty")
            && errors.contains("unknown placeholder {who}"),
        "{errors}"
    );
}

#[test]
fn catalog_show_prints_a_tenants_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "catalog.toml", RESELLER);
    let server = TestServer::start_with(&["--catalog", file.to_str().unwrap()], &[]);
    server.create_tenant("bluepeak", None);
    let output = Command::new(binary())
        .args(["catalog", "show", "--tenant", "bluepeak"])
        .env("EVIDENT_URL", &server.url)
        .env("EVIDENT_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        text.contains("Reseller console (strict mode)")
            && text.contains("Licenses")
            && text.contains("license.revoked"),
        "{text}"
    );
}

#[test]
fn example_catalogs_follow_the_documented_file_schema() {
    let root = common::repo_root();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/catalog.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    for file in example_catalogs() {
        let catalog: toml::Value =
            toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let catalog = serde_json::to_value(catalog).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&catalog)
            .map(|error| error.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
    let broken = json!({"events": [{"action": "a b", "category": "c"}], "extra": 1});
    assert!(validator.iter_errors(&broken).count() >= 3);
}
