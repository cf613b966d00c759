//! Tenants, keys and scopes: who sees and does what.

mod common;

use common::{ADMIN_KEY, TestServer, event, expect_json, expect_problem};
use serde_json::json;

#[test]
fn tenants_are_created_listed_shown_and_renamed() {
    let server = TestServer::start();
    let created = expect_json(
        server
            .post("/v1/tenants", ADMIN_KEY)
            .json(&json!({"id": "northwind", "name": "Northwind Partners"}))
            .send()
            .unwrap(),
        201,
    );
    assert_eq!(created["id"], "northwind");
    assert_eq!(created["parent"], serde_json::Value::Null);
    server.create_tenant("contoso", Some("northwind"));
    server.create_tenant("contoso-eu", Some("contoso"));
    let listed = server.get_json("/v1/tenants");
    let ids: Vec<&str> = listed["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["contoso", "contoso-eu", "northwind"]);
    assert_eq!(
        server.get_json("/v1/tenants/contoso-eu")["parent"],
        "contoso"
    );
    let renamed = expect_json(
        server
            .patch("/v1/tenants/northwind", ADMIN_KEY)
            .json(&json!({"name": "Northwind Traders"}))
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(renamed["name"], "Northwind Traders");
    assert_eq!(
        server.get_json("/v1/tenants/northwind")["name"],
        "Northwind Traders"
    );
}

#[test]
fn bad_tenants_are_refused() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let cases = [
        (json!({"id": "Acme Corp", "name": "Acme"}), 422, "id"),
        (json!({"id": "a".repeat(65), "name": "Acme"}), 422, "id"),
        (json!({"id": "ok", "name": "   "}), 422, "name"),
        (
            json!({"id": "ok", "name": "Ok", "parent": "nobody"}),
            404,
            "",
        ),
        (json!({"id": "acme", "name": "Again"}), 409, ""),
        (json!({"id": "ok", "name": "Ok", "extra": 1}), 422, ""),
    ];
    for (body, status, field) in cases {
        let problem = expect_problem(
            server
                .post("/v1/tenants", ADMIN_KEY)
                .json(&body)
                .send()
                .unwrap(),
            status,
        );
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "{body}");
        }
    }
    let listed = server.get_json("/v1/tenants");
    assert_eq!(
        listed["tenants"].as_array().unwrap().len(),
        1,
        "nothing else was created"
    );
}

#[test]
fn a_tenant_key_sees_nothing_of_another_tenant() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    server.create_tenant("globex", None);
    let globex_event = server.ingest("globex", &[event(1)]);
    let globex_id = globex_event[0]["id"].as_str().unwrap();
    let acme_key = server.create_key(Some("acme"), &["ingest", "read", "export", "admin"]);
    for path in [
        "/v1/tenants/globex".to_owned(),
        "/v1/tenants/globex/events".to_owned(),
        format!("/v1/tenants/globex/events/{globex_id}"),
        "/v1/tenants/nonexistent/events".to_owned(),
    ] {
        expect_problem(server.get(&path, &acme_key).send().unwrap(), 404);
    }
    expect_problem(
        server
            .post("/v1/tenants/globex/events", &acme_key)
            .json(&event(2))
            .send()
            .unwrap(),
        404,
    );
    expect_problem(
        server
            .patch("/v1/tenants/globex", &acme_key)
            .json(&json!({"name": "Mine"}))
            .send()
            .unwrap(),
        404,
    );
    // Its own tenant cannot reach the other's event by id either.
    expect_problem(
        server
            .get(&format!("/v1/tenants/acme/events/{globex_id}"), &acme_key)
            .send()
            .unwrap(),
        404,
    );
    let visible = expect_json(server.get("/v1/tenants", &acme_key).send().unwrap(), 200);
    assert_eq!(visible["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(
        server.all_events("globex").len(),
        1,
        "nothing was written to globex"
    );
}

#[test]
fn an_ancestor_sees_descendants_only_when_asked() {
    let server = TestServer::start();
    server.create_tenant("northwind", None);
    server.create_tenant("contoso", Some("northwind"));
    server.create_tenant("fabrikam", Some("contoso"));
    server.ingest("northwind", &[event(1)]);
    server.ingest("contoso", &[event(2)]);
    server.ingest("fabrikam", &[event(3)]);
    let partner = server.create_key(Some("northwind"), &["read"]);
    let own = expect_json(
        server
            .get("/v1/tenants/northwind/events", &partner)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(own["events"].as_array().unwrap().len(), 1);
    let all = expect_json(
        server
            .get("/v1/tenants/northwind/events?include=descendants", &partner)
            .send()
            .unwrap(),
        200,
    );
    let mut tenants: Vec<(&str, &str)> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["tenant"].as_str().unwrap(),
                event["tenant_name"].as_str().unwrap(),
            )
        })
        .collect();
    tenants.sort();
    assert_eq!(
        tenants,
        vec![
            ("contoso", "contoso Inc"),
            ("fabrikam", "fabrikam Inc"),
            ("northwind", "northwind Inc")
        ]
    );
    // The partner may open a sub-account's log directly; the sub-account may not open its parent's.
    expect_json(
        server
            .get("/v1/tenants/fabrikam/events", &partner)
            .send()
            .unwrap(),
        200,
    );
    let child = server.create_key(Some("contoso"), &["read"]);
    expect_problem(
        server
            .get("/v1/tenants/northwind/events", &child)
            .send()
            .unwrap(),
        404,
    );
    let child_view = expect_json(
        server
            .get("/v1/tenants/contoso/events?include=descendants", &child)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(child_view["events"].as_array().unwrap().len(), 2);
}

#[test]
fn scopes_limit_what_a_key_does() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let ingest_only = server.create_key(Some("acme"), &["ingest"]);
    let read_only = server.create_key(Some("acme"), &["read"]);
    expect_json(
        server
            .post("/v1/tenants/acme/events", &ingest_only)
            .json(&event(1))
            .send()
            .unwrap(),
        201,
    );
    expect_problem(
        server
            .get("/v1/tenants/acme/events", &ingest_only)
            .send()
            .unwrap(),
        403,
    );
    expect_problem(
        server
            .post("/v1/tenants/acme/events", &read_only)
            .json(&event(2))
            .send()
            .unwrap(),
        403,
    );
    expect_problem(
        server
            .patch("/v1/tenants/acme", &read_only)
            .json(&json!({"name": "x"}))
            .send()
            .unwrap(),
        403,
    );
    expect_problem(
        server
            .post("/v1/keys", &read_only)
            .json(&json!({"name": "escalate", "scopes": ["admin"]}))
            .send()
            .unwrap(),
        403,
    );
    expect_problem(server.get("/v1/keys", &read_only).send().unwrap(), 403);
    let events = expect_json(
        server
            .get("/v1/tenants/acme/events", &read_only)
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        1,
        "only the ingest key's event was stored"
    );
}

#[test]
fn keys_are_shown_once_stored_as_hashes_and_revocable() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let created = expect_json(
        server
            .post("/v1/keys", ADMIN_KEY)
            .json(&json!({"name": "backend", "tenant": "acme", "scopes": ["read", "ingest"]}))
            .send()
            .unwrap(),
        201,
    );
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("evk_") && key.len() >= 40);
    let listed = server.get_json("/v1/keys");
    let text = listed.to_string();
    assert!(!text.contains(&key), "a listing never holds a key");
    assert!(!text.contains(ADMIN_KEY));
    let record = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["id"] == created["id"])
        .unwrap()
        .clone();
    assert_eq!(record["scopes"], json!(["ingest", "read"]));
    assert_eq!(record["tenant"], "acme");

    expect_json(
        server.get("/v1/tenants/acme/events", &key).send().unwrap(),
        200,
    );
    let id = created["id"].as_str().unwrap();
    let revoked = expect_json(
        server
            .delete(&format!("/v1/keys/{id}"), ADMIN_KEY)
            .send()
            .unwrap(),
        200,
    );
    assert!(revoked["revoked_at"].is_string());
    expect_problem(
        server.get("/v1/tenants/acme/events", &key).send().unwrap(),
        401,
    );
    expect_problem(
        server
            .delete("/v1/keys/key_nonexistent", ADMIN_KEY)
            .send()
            .unwrap(),
        404,
    );

    // The key's bytes appear nowhere in the data directory.
    for entry in std::fs::read_dir(&server.data_dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(key.len())
                .any(|window| window == key.as_bytes())
        );
    }
}

#[test]
fn requests_without_a_valid_key_are_401() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let no_key = server
        .http
        .get(format!("{}/v1/tenants/acme/events", server.url))
        .send()
        .unwrap();
    expect_problem(no_key, 401);
    expect_problem(
        server
            .get("/v1/tenants/acme/events", "evk_not-a-real-key")
            .send()
            .unwrap(),
        401,
    );
    let basic = server
        .http
        .get(format!("{}/v1/tenants", server.url))
        .header("authorization", format!("Basic {ADMIN_KEY}"))
        .send()
        .unwrap();
    expect_problem(basic, 401);
}

#[test]
fn a_tenant_admin_manages_only_its_subtree() {
    let server = TestServer::start();
    server.create_tenant("northwind", None);
    server.create_tenant("globex", None);
    let admin = server.create_key(Some("northwind"), &["admin", "read"]);
    expect_json(
        server
            .post("/v1/tenants", &admin)
            .json(&json!({"id": "contoso", "name": "Contoso", "parent": "northwind"}))
            .send()
            .unwrap(),
        201,
    );
    expect_problem(
        server
            .post("/v1/tenants", &admin)
            .json(&json!({"id": "top", "name": "Top"}))
            .send()
            .unwrap(),
        403,
    );
    expect_problem(
        server
            .post("/v1/tenants", &admin)
            .json(&json!({"id": "x", "name": "X", "parent": "globex"}))
            .send()
            .unwrap(),
        404,
    );
    let child_key = expect_json(
        server
            .post("/v1/keys", &admin)
            .json(&json!({"name": "c", "tenant": "contoso", "scopes": ["read"]}))
            .send()
            .unwrap(),
        201,
    );
    assert_eq!(child_key["tenant"], "contoso");
    expect_problem(
        server
            .post("/v1/keys", &admin)
            .json(&json!({"name": "g", "tenant": "globex", "scopes": ["read"]}))
            .send()
            .unwrap(),
        404,
    );
    expect_problem(
        server
            .post("/v1/keys", &admin)
            .json(&json!({"name": "i", "scopes": ["ingest"]}))
            .send()
            .unwrap(),
        403,
    );
    let listed = expect_json(server.get("/v1/keys", &admin).send().unwrap(), 200);
    assert!(
        listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|key| key["tenant"] == "northwind" || key["tenant"] == "contoso")
    );
}
