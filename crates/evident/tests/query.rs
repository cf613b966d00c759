//! Queries through the HTTP API: every parameter, the query language, free
//! text, sorting, both paging modes and exact totals.

mod common;

use std::collections::HashSet;

use common::{ADMIN_KEY, TestServer, expect_json, expect_problem, url_encode};
use serde_json::{Value, json};

/// A small, varied log: 60 events over two months, two people, a service and the system.
fn seed(server: &TestServer) -> Vec<Value> {
    server.create_tenant("acme", None);
    let people = [
        (
            "user",
            Some("usr_ada"),
            Some("Ada Lovelace"),
            Some("ada@acme.example"),
        ),
        (
            "user",
            Some("usr_grace"),
            Some("Grace Hopper"),
            Some("Grace.Hopper@acme.example"),
        ),
        ("service", Some("svc_scim"), Some("SCIM sync"), None),
        ("system", None, None, None),
    ];
    let actions = [
        "user.login",
        "user.password_changed",
        "license.revoked",
        "KeysetConfigChanged",
        "SESSION_EXPIRED",
    ];
    let events: Vec<Value> = (0..60)
        .map(|n| {
            let (kind, id, name, email) = people[n % people.len()];
            let ip = if n % 5 == 0 { format!("2001:db8::{:x}", n) } else { format!("198.51.100.{}", n) };
            let channel = ["portal", "api", "mcp"][n % 3];
            let target_type = if n % 2 == 0 { "license" } else { "keyset" };
            json!({
                "action": actions[n % actions.len()],
                "occurred_at": format!("2026-{:02}-{:02}T{:02}:00:00Z", 3 + n / 30, 1 + n % 28, n % 24),
                "actor": {"type": kind, "id": id, "name": name, "email": email},
                "targets": [{"type": target_type, "id": format!("t_{}", n % 7), "name": format!("Item {}", n % 7)}],
                "context": {"ip": ip},
                "channel": channel,
                "outcome": if n % 11 == 0 { "failure" } else { "success" },
                "description": if n % 4 == 0 { "rotated the secret key after offboarding" } else { "routine change" },
                "metadata": {"pool": if n % 2 == 0 { "enterprise" } else { "trial" }, "n": n}
            })
        })
        .collect();
    let receipts = server.ingest("acme", &events);
    events
        .into_iter()
        .zip(receipts)
        .map(|(mut event, receipt)| {
            event["seq"] = receipt["seq"].clone();
            event
        })
        .collect()
}

fn seqs_of(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect()
}

/// All matching seqs in ascending seq order.
fn matching(server: &TestServer, params: &str) -> Vec<u64> {
    let mut seqs = in_time_order(server, params);
    seqs.sort_unstable();
    seqs
}

/// All matching seqs in the API's ascending time order, paging with the cursor.
fn in_time_order(server: &TestServer, params: &str) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server.get_json(&format!(
            "/v1/tenants/acme/events?sort=asc&limit=7&{params}{cursor}"
        ));
        seqs.extend(seqs_of(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return seqs,
        }
    }
}

fn expected(events: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<u64> {
    let mut seqs: Vec<u64> = events
        .iter()
        .filter(|event| keep(event))
        .map(|event| event["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs
}

fn total(server: &TestServer, params: &str) -> u64 {
    server.get_json(&format!(
        "/v1/tenants/acme/events?page=1&per_page=5&{params}"
    ))["total"]
        .as_u64()
        .unwrap()
}

#[test]
fn every_parameter_filters_alone_and_agrees_with_the_query_language() {
    let server = TestServer::start();
    let events = seed(&server);
    let email = |event: &Value| {
        event["actor"]["email"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
    };
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(&str, &str, Keep)> = vec![
        (
            "action=user.login,license.revoked",
            "action:user.login,license.revoked",
            Box::new(|e| e["action"] == "user.login" || e["action"] == "license.revoked"),
        ),
        (
            "action=user.*",
            "action:user.*",
            Box::new(|e| e["action"].as_str().unwrap().starts_with("user.")),
        ),
        (
            "category=uncategorized",
            "category:uncategorized",
            Box::new(|_| true),
        ),
        (
            "actor=usr_ada",
            "actor:usr_ada",
            Box::new(|e| e["actor"]["id"] == "usr_ada"),
        ),
        (
            "actor=grace.hopper@acme.example",
            "actor:GRACE.HOPPER@acme.example",
            Box::new(move |e| email(e) == "grace.hopper@acme.example"),
        ),
        (
            "actor=ada@*",
            "actor:ada@*",
            Box::new(|e| e["actor"]["id"] == "usr_ada"),
        ),
        (
            "target=license:t_3",
            "target:license:t_3",
            Box::new(|e| e["targets"][0]["type"] == "license" && e["targets"][0]["id"] == "t_3"),
        ),
        (
            "target=t_3",
            "target:t_3",
            Box::new(|e| e["targets"][0]["id"] == "t_3"),
        ),
        (
            "channel=mcp",
            "channel:mcp",
            Box::new(|e| e["channel"] == "mcp"),
        ),
        (
            "outcome=failure",
            "outcome:failure",
            Box::new(|e| e["outcome"] == "failure"),
        ),
        (
            "ip=198.51.100.7",
            "ip:198.51.100.7",
            Box::new(|e| e["context"]["ip"] == "198.51.100.7"),
        ),
        (
            "ip=198.51.100.0/28",
            "ip:198.51.100.0/28",
            Box::new(|e| {
                let ip = e["context"]["ip"].as_str().unwrap();
                ip.strip_prefix("198.51.100.")
                    .is_some_and(|last| last.parse::<u8>().unwrap() < 16)
            }),
        ),
        (
            "ip=2001:db8::/32",
            "ip:2001:db8::/32",
            Box::new(|e| {
                e["context"]["ip"]
                    .as_str()
                    .unwrap()
                    .starts_with("2001:db8::")
            }),
        ),
        (
            "from=2026-04-01",
            "from:2026-04-01",
            Box::new(|e| e["occurred_at"].as_str().unwrap() >= "2026-04-01"),
        ),
        (
            "to=2026-03-10",
            "to:2026-03-10",
            Box::new(|e| e["occurred_at"].as_str().unwrap() < "2026-03-11"),
        ),
        (
            "from=2026-03-05T00:00:00Z&to=2026-03-06T05:00:00Z",
            "from:2026-03-05T00:00:00Z to:2026-03-06T05:00:00Z",
            Box::new(|e| {
                let t = e["occurred_at"].as_str().unwrap();
                ("2026-03-05T00:00:00Z"..="2026-03-06T05:00:00Z").contains(&t)
            }),
        ),
        (
            "q=offboard",
            "offboard",
            Box::new(|e| e["description"].as_str().unwrap().contains("offboarding")),
        ),
        (
            "q=lic",
            "lic",
            Box::new(|e| e["action"] == "license.revoked" || e["targets"][0]["type"] == "license"),
        ),
        ("q=ada", "ada", Box::new(|e| e["actor"]["id"] == "usr_ada")),
        (
            "q=config",
            "config",
            Box::new(|e| e["action"] == "KeysetConfigChanged"),
        ),
        (
            "q=ENTERPRISE",
            "ENTERPRISE",
            Box::new(|e| e["metadata"]["pool"] == "enterprise"),
        ),
        (
            "q=%22secret%20key%22",
            "\"secret key\"",
            Box::new(|e| e["description"].as_str().unwrap().contains("secret key")),
        ),
        (
            "q=%22key%20secret%22",
            "\"key secret\"",
            Box::new(|_| false),
        ),
        (
            "q=-routine",
            "-routine",
            Box::new(|e| !e["description"].as_str().unwrap().contains("routine")),
        ),
    ];
    for (params, query, keep) in cases {
        let want = expected(&events, keep);
        assert_eq!(matching(&server, params), want, "parameters {params}");
        let encoded: String = url_encode(query);
        assert_eq!(
            matching(&server, &format!("query={encoded}")),
            want,
            "query {query}"
        );
        assert_eq!(
            total(&server, params),
            want.len() as u64,
            "total for {params}"
        );
    }
}

#[test]
fn filters_combine_and_negate() {
    let server = TestServer::start();
    let events = seed(&server);
    let query = url_encode(
        "action:user.*,license.revoked -outcome:success channel:portal,api from:2026-03-01 enterprise",
    );
    let want = expected(&events, |e| {
        let action = e["action"].as_str().unwrap();
        (action.starts_with("user.") || action == "license.revoked")
            && e["outcome"] == "failure"
            && (e["channel"] == "portal" || e["channel"] == "api")
            && e["metadata"]["pool"] == "enterprise"
    });
    assert!(!want.is_empty());
    assert_eq!(matching(&server, &format!("query={query}")), want);
    // Parameters and the query language AND together.
    let want = expected(&events, |e| {
        e["actor"]["id"] == "usr_ada" && e["channel"] == "portal"
    });
    assert_eq!(
        matching(
            &server,
            &format!("actor=usr_ada&query={}", url_encode("channel:portal"))
        ),
        want
    );
    // A negated actor keeps events that have no email at all.
    let want = expected(&events, |e| e["actor"]["email"] != "ada@acme.example");
    assert_eq!(
        matching(
            &server,
            &format!("query={}", url_encode("-actor:ada@acme.example"))
        ),
        want
    );
}

#[test]
fn sorting_is_by_time_then_seq_both_ways() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let same_time =
        json!({"action": "a", "occurred_at": "2026-05-01T00:00:00Z", "actor": {"type": "system"}});
    let earlier =
        json!({"action": "b", "occurred_at": "2026-04-01T00:00:00Z", "actor": {"type": "system"}});
    server.ingest("acme", &[same_time.clone(), earlier, same_time]);
    let desc = server.get_json("/v1/tenants/acme/events");
    assert_eq!(seqs_of(&desc), vec![2, 0, 1]);
    let asc = server.get_json("/v1/tenants/acme/events?sort=asc");
    assert_eq!(seqs_of(&asc), vec![1, 0, 2]);
}

#[test]
fn numbered_pages_cover_the_view_with_exact_totals() {
    let server = TestServer::start();
    let events = seed(&server);
    let want = expected(&events, |e| e["channel"] != "mcp");
    let mut seen = Vec::new();
    for page in 1..=6 {
        let answer = server.get_json(&format!(
            "/v1/tenants/acme/events?sort=asc&channel=portal,api&page={page}&per_page=9"
        ));
        assert_eq!(answer["total"], want.len());
        assert_eq!(answer["pages"], want.len().div_ceil(9));
        assert_eq!(answer["page"], page);
        assert_eq!(answer["per_page"], 9);
        seen.extend(seqs_of(&answer));
    }
    assert_eq!(
        seen,
        in_time_order(&server, "channel=portal,api"),
        "pages agree with cursor paging"
    );
    seen.sort_unstable();
    assert_eq!(seen, want);
    let beyond = server.get_json("/v1/tenants/acme/events?page=99&per_page=9");
    assert!(beyond["events"].as_array().unwrap().is_empty());
    assert_eq!(beyond["total"], 60);
}

#[test]
fn cursor_paging_visits_every_event_once_while_others_ingest() {
    let server = TestServer::start();
    let events = seed(&server);
    let before: HashSet<u64> = events
        .iter()
        .map(|event| event["seq"].as_u64().unwrap())
        .collect();
    for sort in ["desc", "asc"] {
        let mut seen: Vec<u64> = Vec::new();
        let mut cursor = String::new();
        let mut round = 0;
        loop {
            // Another client adds events, older and newer than the page, between page requests.
            let when = if round % 2 == 0 {
                "2026-01-01T00:00:00Z"
            } else {
                "2026-09-01T00:00:00Z"
            };
            server.ingest("acme", &[json!({"action": "concurrent.write", "occurred_at": when, "actor": {"type": "system"}})]);
            round += 1;
            let page = server.get_json(&format!(
                "/v1/tenants/acme/events?sort={sort}&limit=8{cursor}"
            ));
            seen.extend(seqs_of(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        let unique: HashSet<u64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: no event twice");
        assert!(
            before.is_subset(&unique),
            "{sort}: every event that existed is visited"
        );
    }
}

#[test]
fn bad_parameters_are_precise_400s() {
    let server = TestServer::start();
    seed(&server);
    let cases = [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("per_page=5000", "per_page"),
        ("page=0", "page"),
        ("sort=sideways", "sort"),
        ("include=everything", "include"),
        ("cursor=garbage!", "cursor"),
        ("ip=10.0.0.300", "ip"),
        ("from=yesterday-ish", "from"),
        ("outcome=maybe", "outcome"),
        ("page=1&cursor=abc", "page"),
    ];
    for (params, field) in cases {
        let problem = expect_problem(
            server
                .get(&format!("/v1/tenants/acme/events?{params}"), ADMIN_KEY)
                .send()
                .unwrap(),
            400,
        );
        assert_eq!(problem["errors"][0]["field"], field, "{params}: {problem}");
    }
    let problem = expect_problem(
        server
            .get(
                &format!(
                    "/v1/tenants/acme/events?query={}",
                    url_encode("action:user.* \"open")
                ),
                ADMIN_KEY,
            )
            .send()
            .unwrap(),
        400,
    );
    assert_eq!(problem["type"], "urn:evident:problem:query-syntax");
    assert!(problem["position"].as_u64().is_some());
    assert!(problem["expected"].as_str().is_some());
}

#[test]
fn an_event_is_fetched_by_id_only_in_its_tenant() {
    let server = TestServer::start();
    seed(&server);
    server.create_tenant("child", Some("acme"));
    let receipt = server.ingest(
        "child",
        &[json!({"action": "a", "actor": {"type": "system"}})],
    );
    let id = receipt[0]["id"].as_str().unwrap();
    expect_problem(
        server
            .get(&format!("/v1/tenants/acme/events/{id}"), ADMIN_KEY)
            .send()
            .unwrap(),
        404,
    );
    let found = expect_json(
        server
            .get(
                &format!("/v1/tenants/acme/events/{id}?include=descendants"),
                ADMIN_KEY,
            )
            .send()
            .unwrap(),
        200,
    );
    assert_eq!(found["tenant"], "child");
    expect_problem(
        server
            .get("/v1/tenants/acme/events/not-a-uuid", ADMIN_KEY)
            .send()
            .unwrap(),
        404,
    );
}
