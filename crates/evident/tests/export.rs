//! Exports through the HTTP API and `evident export`: every view equals its
//! pages, CSV equals NDJSON field by field, one snapshot, verifiable bundles,
//! scopes and isolation.

mod common;

use std::io::Read as _;
use std::process::Command;

use common::{ADMIN_KEY, TestServer, binary, expect_problem, url_encode};
use serde_json::{Value, json};

/// A partner with a customer sub-account, and events whose text tests CSV:
/// quotes, commas, line breaks, non-ASCII and cells a spreadsheet would run.
fn seed(server: &TestServer) {
    server.create_tenant("northwind", None);
    server.create_tenant("contoso", Some("northwind"));
    let people = [
        (
            "usr_ada",
            Some("Ada Lovelace"),
            Some("ada@northwind.example"),
        ),
        ("usr_zoe", Some("Zoë \"Z\" Ångström"), None),
        ("usr_eve", None, Some("=cmd|' /C calc'!A0@evil.example")),
    ];
    let descriptions = [
        "rotated the secret key, then left",
        "line one\nline two",
        "+SUM(A1:A9)",
        "-2 seats",
        "@import",
        "\tindented",
        "plain",
    ];
    for (tenant, count) in [("northwind", 45), ("contoso", 25)] {
        let events: Vec<Value> = (0..count)
            .map(|n| {
                let (id, name, email) = people[n % people.len()];
                let action = ["user.login", "license.revoked", "user.role_changed"][n % 3];
                let channel = ["portal", "api"][n % 2];
                json!({
                    "action": action,
                    "occurred_at": format!("2026-03-{:02}T{:02}:{:02}:00Z", 25 + n % 5, n % 24, n % 60),
                    "actor": {"type": if n % 7 == 6 { "service" } else { "user" }, "id": id, "name": name, "email": email},
                    "targets": [{"type": "license", "id": format!("lic_{}", n % 4), "name": format!("Seat, \"{}\"", n % 4)}],
                    "context": {"ip": format!("203.0.113.{}", n % 9), "user_agent": "Mozilla/5.0"},
                    "channel": channel,
                    "outcome": if n % 5 == 0 { "failure" } else { "success" },
                    "description": descriptions[n % descriptions.len()],
                    "metadata": {"n": n, "note": "ünïcødé"}
                })
            })
            .collect();
        server.ingest(tenant, &events);
    }
}

/// The view's events, paging through the events endpoint 7 at a time.
fn paged(server: &TestServer, view: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/tenants/northwind/events?limit=7&{view}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = server.get_json(&path);
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return events,
        }
    }
}

/// An export's status, headers and body.
fn export(
    server: &TestServer,
    key: &str,
    params: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = server
        .get(
            &format!("/v1/tenants/northwind/events/export?{params}"),
            key,
        )
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().unwrap())
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// The CSV cell each default column should hold for an NDJSON event, before the formula defence.
fn expected_cells(event: &Value, company: &str) -> Vec<String> {
    let text = |value: &Value| value.as_str().unwrap_or("").to_owned();
    let actor = &event["actor"];
    let user = ["email", "name", "id"]
        .iter()
        .map(|key| text(&actor[key]))
        .find(|part| !part.is_empty())
        .unwrap();
    let targets: Vec<String> = event["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| {
            format!(
                "{}:{} ({})",
                text(&target["type"]),
                text(&target["id"]),
                text(&target["name"])
            )
        })
        .collect();
    let time: jiff::Timestamp = text(&event["occurred_at"]).parse().unwrap();
    vec![
        time.strftime("%Y-%m-%dT%H:%M:%S%.f+00:00").to_string(),
        text(&event["action"]),
        event["display"]
            .as_str()
            .map_or_else(|| text(&event["description"]), str::to_owned),
        text(&event["category"]),
        user,
        text(&actor["type"]),
        event["tenant_name"].as_str().unwrap_or(company).to_owned(),
        text(&event["tenant"]),
        targets.join("; "),
        text(&event["context"]["ip"]),
        text(&event["channel"]),
        text(&event["outcome"]),
        text(&event["id"]),
        event["seq"].to_string(),
    ]
}

fn neutralised(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

#[test]
fn every_view_exports_exactly_its_pages_and_csv_matches_ndjson_field_by_field() {
    let server = TestServer::start();
    seed(&server);
    let views = [
        "",
        "action=user.login",
        "action=user.*,license.revoked",
        "actor=ada@northwind.example",
        "actor=ada@*",
        "target=license:lic_2",
        "channel=api",
        "outcome=failure",
        "ip=203.0.113.0/30",
        "from=2026-03-27&to=2026-03-28",
        "q=secret",
        "category=uncategorized",
        &format!(
            "query={}",
            url_encode("action:user.* -outcome:failure channel:portal")
        ),
        &format!("query={}&actor=usr_zoe", url_encode("\"line two\"")),
        "action=license.revoked&channel=portal&from=2026-03-26",
    ];
    let mut compared = 0;
    for view in views {
        for include in ["", "&include=descendants"] {
            for sort in ["", "&sort=asc"] {
                let view = format!("{view}{include}{sort}");
                let pages = paged(&server, &view);
                let (status, _, body) =
                    export(&server, ADMIN_KEY, &format!("format=ndjson&{view}"));
                assert_eq!(status, 200, "{view}: {body}");
                let exported = ndjson(&body);
                assert_eq!(exported, pages, "NDJSON of {view:?}");
                let (status, _, body) = export(&server, ADMIN_KEY, &format!("format=csv&{view}"));
                assert_eq!(status, 200, "{view}: {body}");
                let (header, rows) = csv_rows(&body);
                assert_eq!(header[0], "Time");
                assert_eq!(header.len(), 14);
                assert_eq!(rows.len(), pages.len(), "CSV rows of {view:?}");
                for (row, event) in rows.iter().zip(&pages) {
                    let want: Vec<String> = expected_cells(event, "northwind Inc")
                        .iter()
                        .map(|cell| neutralised(cell))
                        .collect();
                    assert_eq!(row, &want, "{view:?}");
                }
                compared += pages.len();
            }
        }
    }
    assert!(
        compared > 500,
        "the views matched too little to test: {compared}"
    );
}

#[test]
fn csv_defends_against_formulas_unless_raw_and_picks_columns_and_zones() {
    let server = TestServer::start();
    seed(&server);
    let columns = "columns=description,User,event_id";
    let (_, _, defended) = export(&server, ADMIN_KEY, columns);
    let (_, _, raw) = export(&server, ADMIN_KEY, &format!("{columns}&raw=true"));
    let (header, defended) = csv_rows(&defended);
    let (_, raw) = csv_rows(&raw);
    assert_eq!(header, ["Description", "User", "Event ID"]);
    let mut seen = std::collections::HashSet::new();
    for (safe, raw) in defended.iter().zip(&raw) {
        for (safe, raw) in safe.iter().zip(raw) {
            assert_eq!(safe, &neutralised(raw));
            seen.insert(raw.chars().next());
        }
    }
    for first in ['=', '+', '-', '@', '\t'] {
        assert!(
            seen.contains(&Some(first)),
            "no cell starting with {first:?} was tested"
        );
    }
    assert!(raw.iter().any(|row| row[0] == "line one\nline two"));
    assert!(raw.iter().any(|row| row[1] == "Zoë \"Z\" Ångström"));

    // Across the UK's change to summer time on 2026-03-29 at 01:00 UTC.
    let tenant = "dst";
    server.create_tenant(tenant, None);
    let times = [
        "2026-03-29T00:59:59Z",
        "2026-03-29T01:00:00Z",
        "2026-10-25T01:30:00Z",
    ];
    server.ingest(
        tenant,
        &times
            .iter()
            .map(|time| json!({"action": "user.login", "occurred_at": time, "actor": {"type": "system"}}))
            .collect::<Vec<_>>(),
    );
    let text = server
        .get(
            &format!("/v1/tenants/{tenant}/events/export?columns=time&sort=asc&tz=Europe/London"),
            ADMIN_KEY,
        )
        .send()
        .unwrap()
        .text()
        .unwrap();
    let (_, rows) = csv_rows(&text);
    let times: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(
        times,
        [
            "2026-03-29T00:59:59+00:00",
            "2026-03-29T02:00:00+01:00",
            "2026-10-25T01:30:00+00:00"
        ]
    );
}

#[test]
fn exports_answer_with_their_headers_and_refuse_bad_parameters_precisely() {
    let server = TestServer::start();
    seed(&server);
    let (status, headers, body) = export(&server, ADMIN_KEY, "from=2026-03-26&to=2026-03-28");
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"evident-northwind_2026-03-26_2026-03-28.csv\""
    );
    assert_eq!(headers["evident-tree-size"], "45");
    assert!(body.starts_with("Time,Event,Description,Area,User,"));
    let (_, headers, _) = export(&server, ADMIN_KEY, "format=ndjson&include=descendants");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(headers["evident-tree-size"], "northwind=45, contoso=25");
    for (params, parameter) in [
        ("format=xml", "format"),
        ("columns=time,colour", "columns"),
        ("columns=,", "columns"),
        ("tz=Mars/Olympus_Mons", "tz"),
        ("raw=yes", "raw"),
        ("page=2", "page"),
        ("cursor=abc", "cursor"),
        ("sort=sideways", "sort"),
        ("query=action%3A", "query"),
        ("include=children", "include"),
        ("format=bundle&include=descendants", "include"),
    ] {
        let response = server
            .get(
                &format!("/v1/tenants/northwind/events/export?{params}"),
                ADMIN_KEY,
            )
            .send()
            .unwrap();
        let problem = expect_problem(response, 400);
        assert_eq!(
            problem["errors"][0]["field"], parameter,
            "{params}: {problem}"
        );
    }
}

#[test]
fn exports_need_the_export_scope_and_see_only_the_keys_tenants() {
    let server = TestServer::start();
    seed(&server);
    server.create_tenant("globex", None);
    let reader = server.create_key(Some("northwind"), &["read"]);
    let exporter = server.create_key(Some("northwind"), &["export"]);
    let customer = server.create_key(Some("contoso"), &["export"]);
    let outsider = server.create_key(Some("globex"), &["export", "read", "admin"]);
    expect_problem(
        server
            .get("/v1/tenants/northwind/events/export", &reader)
            .send()
            .unwrap(),
        403,
    );
    expect_problem(
        server
            .get("/v1/tenants/northwind/events/export", &outsider)
            .send()
            .unwrap(),
        404,
    );
    expect_problem(
        server
            .get("/v1/tenants/northwind/events/export", &customer)
            .send()
            .unwrap(),
        404,
    );
    expect_problem(
        server
            .get("/v1/tenants/nobody/events/export", ADMIN_KEY)
            .send()
            .unwrap(),
        404,
    );
    let (status, _, body) = export(&server, &exporter, "format=ndjson&include=descendants");
    assert_eq!(status, 200);
    assert_eq!(ndjson(&body).len(), 70);
    // A sub-account's key exports its own events, and nothing of its parent's.
    let body = server
        .get(
            "/v1/tenants/contoso/events/export?format=ndjson&include=descendants",
            &customer,
        )
        .send()
        .unwrap()
        .text()
        .unwrap();
    let events = ndjson(&body);
    assert_eq!(events.len(), 25);
    assert!(events.iter().all(|event| event["tenant"] == "contoso"));
}

#[test]
fn an_export_reads_one_snapshot_while_events_keep_arriving() {
    let server = TestServer::start();
    server.create_tenant("busy", None);
    // Large enough (about 20 MB of NDJSON, more than the socket buffers hold) that
    // the export is still being read while more events arrive.
    let padding = "x".repeat(4000);
    for batch in 0..25 {
        let events: Vec<Value> = (0..200)
            .map(|n| json!({"action": "document.viewed", "occurred_at": format!("2026-01-01T00:00:{:02}Z", (batch * 200 + n) % 60),
                "actor": {"type": "user", "id": format!("usr_{n}")}, "metadata": {"padding": padding}}))
            .collect();
        server.ingest("busy", &events);
    }
    let mut response = server
        .get(
            "/v1/tenants/busy/events/export?format=ndjson&sort=asc",
            ADMIN_KEY,
        )
        .send()
        .unwrap();
    assert_eq!(response.headers()["evident-tree-size"], "5000");
    let mut first = vec![0u8; 64 * 1024];
    response.read_exact(&mut first).unwrap();
    // Later in time than every exported event: were they read, they would come last.
    let late: Vec<Value> = (0..200)
        .map(|n| json!({"action": "document.deleted", "occurred_at": "2026-06-01T00:00:00Z", "actor": {"type": "user", "id": format!("usr_{n}")}}))
        .collect();
    server.ingest("busy", &late);
    let mut rest = String::new();
    response.read_to_string(&mut rest).unwrap();
    let text = String::from_utf8(first).unwrap() + &rest;
    let events = ndjson(&text);
    assert_eq!(events.len(), 5000);
    assert!(
        events
            .iter()
            .all(|event| event["action"] == "document.viewed")
    );
    let after = server
        .get(
            "/v1/tenants/busy/events/export?format=ndjson&action=document.deleted",
            ADMIN_KEY,
        )
        .send()
        .unwrap();
    assert_eq!(after.headers()["evident-tree-size"], "5200");
    assert_eq!(ndjson(&after.text().unwrap()).len(), 200);
}

/// `evident verify --bundle FILE --key KEY`: success and its stdout.
fn verify(dir: &std::path::Path, key: &str, name: &str, text: &str) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let output = Command::new(binary())
        .args(["verify", "--bundle", path.to_str().unwrap(), "--key", key])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
    )
}

#[test]
fn bundles_verify_offline_and_every_tampering_is_named_by_its_line() {
    let temp = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    seed(&server);
    let key = server
        .http
        .get(format!("{}/v1/log/key", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let key = key.trim();
    let (status, headers, whole) = export(&server, ADMIN_KEY, "format=bundle&sort=desc");
    assert_eq!(status, 200);
    assert_eq!(headers["evident-tree-size"], "45");
    let lines: Vec<&str> = whole.lines().collect();
    assert_eq!(lines.len(), 46);
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["format"], "evident-bundle/1");
    assert_eq!(first["tenant"], "northwind");
    assert_eq!(first["tree_size"], 45);
    assert_eq!(first["filter"], "");
    // Log order, whatever the sort.
    let seqs: Vec<u64> = lines[1..]
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["leaf"]["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (0..45).collect::<Vec<_>>());
    let (ok, out) = verify(temp.path(), key, "whole", &whole);
    assert!(
        ok && out.contains("45 events against a checkpoint of size 45"),
        "{out}"
    );

    let join = |lines: &[&str]| lines.join("\n") + "\n";
    let mut flipped = lines.clone();
    let altered = lines[8].replacen("\"action\":\"", "\"action\":\"x", 1);
    assert_ne!(altered, lines[8]);
    flipped[8] = &altered;
    let (ok, out) = verify(temp.path(), key, "flipped", &join(&flipped));
    assert!(
        !ok && out.contains("line 9: leaf_hash is not the hash of the leaf"),
        "{out}"
    );

    let mut dropped = lines.clone();
    dropped.remove(5);
    let (ok, out) = verify(temp.path(), key, "dropped", &join(&dropped));
    assert!(
        !ok && out.contains("line 6: seq 5 where seq 4 was expected: missing [4]"),
        "{out}"
    );

    let mut duplicated = lines.clone();
    duplicated.insert(5, lines[5]);
    let (ok, out) = verify(temp.path(), key, "duplicated", &join(&duplicated));
    assert!(
        !ok && out.contains("line 7: seq 4 again (line 6 holds it)"),
        "{out}"
    );

    let mut swapped = lines.clone();
    swapped.swap(10, 11);
    let (ok, out) = verify(temp.path(), key, "swapped", &join(&swapped));
    assert!(
        !ok && out.contains("line 12: seq 9 after seq 10 on line 11"),
        "{out}"
    );

    // Another deployment's key: its own server, its own signing key.
    let other = TestServer::start();
    let wrong_key = other
        .http
        .get(format!("{}/v1/log/key", other.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let (ok, out) = verify(temp.path(), wrong_key.trim(), "whole-wrong-key", &whole);
    assert!(!ok && out.contains("line 1: the checkpoint:"), "{out}");

    // A filtered bundle: only its events, each proved; a sub-account's own log is its own bundle.
    let (_, _, filtered) = export(&server, ADMIN_KEY, "format=bundle&action=license.revoked");
    let (ok, out) = verify(temp.path(), key, "filtered", &filtered);
    assert!(
        ok && out.contains("15 events against a checkpoint of size 45"),
        "{out}"
    );
    assert!(
        filtered
            .lines()
            .next()
            .unwrap()
            .contains("\"filter\":\"action:license.revoked\"")
    );
    let contoso = server
        .get("/v1/tenants/contoso/events/export?format=bundle", ADMIN_KEY)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let (ok, out) = verify(temp.path(), key, "contoso", &contoso);
    assert!(
        ok && out.contains("25 events against a checkpoint of size 25"),
        "{out}"
    );
}

#[test]
fn evident_export_streams_to_a_file_as_the_endpoint_does() {
    let temp = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    seed(&server);
    let run = |args: &[&str]| {
        Command::new(binary())
            .arg("export")
            .args(args)
            .args(["--url", &server.url])
            .env("EVIDENT_KEY", ADMIN_KEY)
            .output()
            .unwrap()
    };
    let out = temp.path().join("licenses.csv");
    let output = run(&[
        "--tenant",
        "northwind",
        "--query",
        "action:license.revoked",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, _, endpoint) = export(&server, ADMIN_KEY, "action=license.revoked");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), endpoint);
    assert!(!temp.path().join("licenses.csv.partial").exists());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("wrote 15 events") && !said.contains("rows/s"),
        "{said}"
    );

    let output = run(&[
        "--tenant",
        "northwind",
        "--include-descendants",
        "--format",
        "ndjson",
        "--asc",
    ]);
    assert!(output.status.success());
    let (_, _, endpoint) = export(
        &server,
        ADMIN_KEY,
        "format=ndjson&include=descendants&sort=asc",
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), endpoint);

    let output = run(&["--tenant", "northwind", "--columns", "colour"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"colour\" is not a column"));
}
