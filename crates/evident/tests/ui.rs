//! The audit log page in a real browser: headless Chromium against a real
//! server loaded with the demo's data, every answer checked against the API.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "../src/browser.rs"]
#[allow(dead_code)] // the harness uses what the tests do not
mod webdriver;

use std::path::PathBuf;
use std::process::Command;

use browser::{Browser, png_size};
use common::{TestServer, binary, expect_json, expect_problem, url_encode};
use serde_json::{Value, json};

/// A server on the demo's data, and the demo's operator key.
struct Demo {
    server: TestServer,
    key: String,
    _dir: tempfile::TempDir,
}

fn demo() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let output = Command::new(binary())
        .args(["demo", "--no-serve", "--events", "3000", "--data-dir"])
        .arg(&data_dir)
        .env("EVIDENT_LOG", "warn")
        .output()
        .expect("running evident demo");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let key = stdout
        .lines()
        .find_map(|line| line.strip_prefix("admin key: "))
        .expect("the demo prints its admin key")
        .trim()
        .to_owned();
    let server = TestServer::start_in(&data_dir, &[], &[]);
    Demo {
        server,
        key,
        _dir: dir,
    }
}

impl Demo {
    fn api(&self, path: &str) -> Value {
        expect_json(self.server.get(path, &self.key).send().unwrap(), 200)
    }

    /// The API's answer for a view: the page's event ids, and "Page X of Y (Z total)".
    fn api_page(&self, tenant: &str, params: &str, page: u64) -> (Vec<String>, String) {
        let answer = self.api(&format!(
            "/v1/tenants/{tenant}/events?{params}&page={page}&per_page=25"
        ));
        let ids = answer["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["id"].as_str().unwrap().to_owned())
            .collect();
        let summary = format!(
            "Page {page} of {} ({} total)",
            answer["pages"].as_u64().unwrap().max(1),
            answer["total"]
        );
        (ids, summary)
    }

    /// A key of `tenant` with these scopes.
    fn key_for(&self, tenant: Option<&str>, scopes: &[&str]) -> (String, String) {
        let mut body = json!({"name": "page test", "scopes": scopes});
        if let Some(tenant) = tenant {
            body["tenant"] = json!(tenant);
        }
        let created = expect_json(
            self.server
                .post("/v1/keys", &self.key)
                .json(&body)
                .send()
                .unwrap(),
            201,
        );
        (
            created["key"].as_str().unwrap().to_owned(),
            created["id"].as_str().unwrap().to_owned(),
        )
    }

    fn viewer_link(&self, tenant: &str, body: Value) -> Value {
        expect_json(
            self.server
                .post(&format!("/v1/tenants/{tenant}/viewer-links"), &self.key)
                .json(&body)
                .send()
                .unwrap(),
            201,
        )
    }
}

/// The rows the page shows and its "Page X of Y (Z total)".
fn shown(browser: &Browser) -> (Vec<String>, String) {
    let ids = browser.run(
        "return Array.from(document.querySelectorAll('tr.event')).map(row => row.dataset.id);",
        json!([]),
    );
    let ids = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    let summary = browser
        .text(".paging .summary")
        .unwrap_or_else(|| panic!("no paging summary on {}", browser.url()));
    (
        ids,
        summary.split_whitespace().collect::<Vec<_>>().join(" "),
    )
}

fn sign_in(browser: &Browser, server: &TestServer, key: &str) {
    browser.goto(&format!("{}/ui/", server.url));
    assert!(browser.url().ends_with("/ui/sign-in"), "{}", browser.url());
    browser.type_into("#key", key);
    browser.navigating(|| browser.click("form[action='/ui/sign-in'] button"));
}

fn submit_filters(browser: &Browser) {
    browser.navigating(|| browser.click("#filters button[type=submit]"));
}

#[test]
fn operators_sign_in_with_a_key_and_wrong_or_revoked_keys_are_refused() {
    let demo = demo();
    let server = &demo.server;
    let browser = Browser::desktop();

    // A wrong key: refused, still on the sign-in page, and no session.
    sign_in(&browser, server, "evk_not-a-key-at-all");
    assert!(browser.url().ends_with("/ui/sign-in"));
    assert!(
        browser
            .text("#sign-in-error")
            .unwrap()
            .contains("unknown or revoked")
    );
    browser.goto(&format!("{}/ui/t/northwind", server.url));
    assert!(browser.url().ends_with("/ui/sign-in"), "no session yet");

    // A key without the read scope is refused too.
    let (ingest_only, _) = demo.key_for(Some("northwind"), &["ingest"]);
    sign_in(&browser, server, &ingest_only);
    assert!(
        browser
            .text("#sign-in-error")
            .unwrap()
            .contains("read scope")
    );

    // A tenant's read key: straight to its log; the key is nowhere in the page or its address.
    let (key, key_id) = demo.key_for(Some("northwind"), &["read"]);
    sign_in(&browser, server, &key);
    assert!(
        browser.url().ends_with("/ui/t/northwind"),
        "{}",
        browser.url()
    );
    let html = browser.run("return document.documentElement.outerHTML;", json!([]));
    assert!(!html.as_str().unwrap().contains(&key));
    assert!(!browser.url().contains(&key));
    assert_eq!(
        browser.run("return document.cookie;", json!([])),
        json!(""),
        "the session cookie is HttpOnly"
    );
    assert_eq!(shown(&browser), demo.api_page("northwind", "", 1));

    // Revoking the key ends the session at its next page.
    expect_json(
        server
            .delete(&format!("/v1/keys/{key_id}"), &demo.key)
            .send()
            .unwrap(),
        200,
    );
    browser.goto(&format!("{}/ui/t/northwind", server.url));
    assert!(browser.url().ends_with("/ui/sign-in"), "{}", browser.url());
    sign_in(&browser, server, &key);
    assert!(
        browser
            .text("#sign-in-error")
            .unwrap()
            .contains("unknown or revoked")
    );

    // An operator key sees the accounts, then signs out.
    sign_in(&browser, server, &demo.key);
    assert!(browser.url().ends_with("/ui/"));
    assert!(
        browser
            .text("ul.accounts")
            .unwrap()
            .contains("Northwind Partners")
    );
    browser.navigating(|| browser.click("form.sign-out button"));
    browser.goto(&format!("{}/ui/t/northwind", server.url));
    assert!(browser.url().ends_with("/ui/sign-in"));
}

#[test]
fn filters_paging_and_sort_show_what_the_api_answers() {
    let demo = demo();
    let server = &demo.server;
    let browser = Browser::desktop();
    sign_in(&browser, server, &demo.key);
    let tenant = "northwind-contoso";
    let base = format!("{}/ui/t/{tenant}", server.url);
    browser.goto(&base);
    assert_eq!(shown(&browser), demo.api_page(tenant, "", 1));

    // Values to filter by, taken from the tenant's own events.
    let sample = demo.api(&format!("/v1/tenants/{tenant}/events?limit=200"));
    let events = sample["events"].as_array().unwrap();
    // Two event types of the catalog's multi-select that the log holds.
    let offered = browser.run(
        "return Array.from(document.getElementById('f-action').options).map(o => o.value);",
        json!([]),
    );
    let mut actions: Vec<&str> = events
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .filter(|action| {
            offered
                .as_array()
                .unwrap()
                .iter()
                .any(|option| option == action)
        })
        .collect();
    actions.sort();
    actions.dedup();
    assert!(actions.len() >= 2, "{actions:?}");
    let two_actions = [actions[0], actions[actions.len() - 1]];
    let email = events
        .iter()
        .find_map(|event| event["actor"]["email"].as_str())
        .unwrap();
    let from = events[events.len() - 1]["occurred_at"].as_str().unwrap()[..10].to_owned();
    let to = events[0]["occurred_at"].as_str().unwrap()[..10].to_owned();
    let word = events
        .iter()
        .find_map(|event| event["display"].as_str().or(event["description"].as_str()))
        .and_then(|text| {
            text.split_whitespace()
                .find(|word| word.len() > 4 && word.chars().all(char::is_alphabetic))
        })
        .unwrap()
        .to_owned();

    let set_types = |chosen: &[&str]| {
        browser.run(
            "const select = document.getElementById('f-action');
             for (const option of select.options) option.selected = arguments[0].includes(option.value);
             select.dispatchEvent(new Event('change'));",
            json!([chosen]),
        );
    };
    let set_value = |css: &str, value: &str| {
        browser.run(
            "document.querySelector(arguments[0]).value = arguments[1];",
            json!([css, value]),
        );
    };

    // Each filter alone.
    set_types(&two_actions);
    let total_types = browser.run(
        "return document.getElementById('f-action').options.length;",
        json!([]),
    );
    assert_eq!(
        browser.text("#types-count").unwrap(),
        format!("2/{total_types} filters used")
    );
    submit_filters(&browser);
    let actions_param = format!("action={}", url_encode(&two_actions.join(",")));
    assert_eq!(shown(&browser), demo.api_page(tenant, &actions_param, 1));
    assert!(browser.text("#types-count").unwrap().starts_with("2/"));

    let cases = [
        (
            "#f-actor",
            email.to_owned(),
            format!("actor={}", url_encode(email)),
        ),
        ("#f-from", from.clone(), format!("from={from}")),
        ("#f-to", to.clone(), format!("to={to}")),
        ("#f-q", word.clone(), format!("q={}", url_encode(&word))),
    ];
    for (css, value, params) in &cases {
        browser.goto(&base);
        set_value(css, value);
        submit_filters(&browser);
        assert_eq!(shown(&browser), demo.api_page(tenant, params, 1), "{css}");
    }

    // All together (the form keeps what the URL holds).
    browser.goto(&base);
    set_types(&two_actions);
    for (css, value, _) in &cases {
        set_value(css, value);
    }
    submit_filters(&browser);
    let together: Vec<String> = std::iter::once(actions_param.clone())
        .chain(cases.iter().map(|(_, _, params)| params.clone()))
        .collect();
    assert_eq!(
        shown(&browser),
        demo.api_page(tenant, &together.join("&"), 1)
    );
    assert_eq!(
        browser.run(
            "return document.getElementById('f-actor').value;",
            json!([])
        ),
        json!(email)
    );

    // Clear filters: the whole log again.
    browser.navigating(|| browser.click("#filters a.button"));
    assert_eq!(shown(&browser), demo.api_page(tenant, "", 1));

    // Page forward and back.
    browser.navigating(|| browser.click(".paging a[rel=next]"));
    assert_eq!(shown(&browser), demo.api_page(tenant, "", 2));
    browser.navigating(|| browser.click(".paging a[rel=next]"));
    assert_eq!(shown(&browser), demo.api_page(tenant, "", 3));
    browser.navigating(|| browser.click(".paging a[rel=prev]"));
    assert_eq!(shown(&browser), demo.api_page(tenant, "", 2));

    // Flip the sort from the Time header; Back restores the previous view.
    browser.navigating(|| browser.click("a.sort"));
    assert_eq!(shown(&browser), demo.api_page(tenant, "sort=asc", 1));
    browser.back();
    assert_eq!(shown(&browser), demo.api_page(tenant, "", 2));
    browser.back();
    assert_eq!(shown(&browser), demo.api_page(tenant, "", 3));

    // A page past the last opens the last.
    let (_, first) = demo.api_page(tenant, "", 1);
    let last: u64 = first.split(' ').nth(3).unwrap().parse().unwrap();
    browser.goto(&format!("{base}?page={}", last + 5));
    assert_eq!(shown(&browser), demo.api_page(tenant, "", last));

    // A link reproduces a view, here with a page size of 50.
    browser.goto(&format!("{base}?per_page=50&sort=asc&page=2"));
    let answer = demo.api(&format!(
        "/v1/tenants/{tenant}/events?sort=asc&page=2&per_page=50"
    ));
    let (ids, summary) = shown(&browser);
    assert_eq!(ids.len(), answer["events"].as_array().unwrap().len());
    assert_eq!(ids[0], answer["events"][0]["id"].as_str().unwrap());
    assert_eq!(
        summary,
        format!("Page 2 of {} ({} total)", answer["pages"], answer["total"])
    );

    // The query box shows the filters as a query, and shows a parse error at its position.
    browser.goto(&format!("{base}?outcome=failure&q={}", url_encode(&word)));
    assert_eq!(
        browser.run(
            "return document.getElementById('f-query').value;",
            json!([])
        ),
        json!(format!("outcome:failure {word}"))
    );
    browser.goto(&format!(
        "{base}?query={}",
        url_encode("action:user.login outcome:")
    ));
    let error = browser.text("#query-error").unwrap();
    // The message names what was expected, and the caret sits under the end of the query.
    assert!(error.contains("outcome: needs a value"), "{error}");
    assert!(
        browser
            .text("#query-error pre")
            .unwrap()
            .ends_with(&format!("{}^", " ".repeat(26)))
    );
}

#[test]
fn a_row_opens_to_its_json_with_a_proof_checked_in_the_browser_and_csv_downloads_match() {
    let demo = demo();
    let server = &demo.server;
    let browser = Browser::desktop();
    sign_in(&browser, server, &demo.key);
    browser.goto(&format!(
        "{}/ui/t/northwind?include=descendants&outcome=failure",
        server.url
    ));
    let (ids, _) = shown(&browser);
    assert!(!ids.is_empty());

    // Keyboard: focus the first row, press Enter.
    browser.run("document.querySelector('tr.event').focus();", json!([]));
    browser.press("\u{E007}");
    let detail = format!("d-{}", ids[0]);
    browser.wait_until(
        &format!("!document.getElementById('{detail}').hidden"),
        "the row to open",
    );
    browser.wait_until(
        &format!("!document.querySelector('#{detail} pre.json').hasAttribute('data-src')"),
        "the row's JSON",
    );
    let json_text = browser.text(&format!("#{detail} pre.json")).unwrap();
    let shown_event: Value = serde_json::from_str(&json_text).unwrap();
    let tenant = shown_event["tenant"].as_str().unwrap();
    let api_event = demo.api(&format!("/v1/tenants/{tenant}/events/{}", ids[0]));
    assert_eq!(shown_event, api_event);
    browser.wait_until(
        &format!("document.querySelector('#{detail} output.proof').classList.contains('ok')"),
        "the proof check",
    );
    let verdict = browser.text(&format!("#{detail} output.proof")).unwrap();
    assert!(
        verdict.contains("inclusion proof checks") && verdict.contains("signature verified"),
        "{verdict}"
    );

    // A click closes it again.
    browser.click(&format!("tr.event[data-id='{}'] td.time", ids[0]));
    browser.wait_until(
        &format!("document.getElementById('{detail}').hidden"),
        "the row to close",
    );

    // The CSV download of the filtered view is the export endpoint's CSV of the same view.
    let href = browser
        .run(
            "return document.querySelector('a.download').href;",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        href.contains("format=csv") && href.contains("outcome=failure"),
        "{href}"
    );
    let zone = href
        .split("tz=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let downloaded = browser.run_async(
        "const done = arguments[arguments.length - 1];
         fetch(arguments[0]).then(response => response.text()).then(done, error => done(String(error)));",
        json!([href]),
    );
    let exported = server
        .get(
            &format!("/v1/tenants/northwind/events/export?include=descendants&outcome=failure&format=csv&tz={zone}"),
            &demo.key,
        )
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(exported.lines().count() > 1);
    assert_eq!(downloaded.as_str().unwrap(), exported);

    // The page of one event shows the same JSON and checks its proof too.
    browser.goto(&format!("{}/ui/t/{tenant}/events/{}", server.url, ids[0]));
    let standalone: Value = serde_json::from_str(&browser.text("pre.json").unwrap()).unwrap();
    assert_eq!(standalone, api_event);
    browser.wait_until(
        "document.querySelector('output.proof').classList.contains('ok')",
        "the proof check",
    );
}

#[test]
fn viewer_links_show_one_tenant_keep_their_filter_and_work_once() {
    let demo = demo();
    let server = &demo.server;
    let child = "northwind-contoso";
    let sample = demo.api(&format!("/v1/tenants/{child}/events?limit=100"));
    let target = &sample["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| !event["targets"].as_array().unwrap().is_empty())
        .unwrap()["targets"][0];
    let fixed = format!(
        "target:{}:{}",
        target["type"].as_str().unwrap(),
        target["id"].as_str().unwrap()
    );
    let link = demo.viewer_link(
        child,
        json!({"expires_in": 600, "query": fixed, "title": "Contoso license history"}),
    );
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/ui/v/evv_", server.url))
    );

    let browser = Browser::desktop();
    browser.goto(link["url"].as_str().unwrap());
    assert!(
        browser
            .url()
            .ends_with(&format!("/ui/t/{child}?opened=link")),
        "{}",
        browser.url()
    );
    assert_eq!(browser.text("h1").unwrap(), "Contoso license history");
    let fixed_param = format!("query={}", url_encode(&fixed));
    assert_eq!(shown(&browser), demo.api_page(child, &fixed_param, 1));
    assert!(browser.text(".bar").unwrap().contains("read-only"));
    assert_eq!(
        browser.run(
            "return document.querySelectorAll('form.sign-out, a.download[href*=ndjson]').length;",
            json!([])
        ),
        json!(0)
    );

    // Editing the URL cannot remove or widen the fixed filter.
    for (edit, also) in [
        ("?query=", ""),
        ("?query=action%3A*", "action:*"),
        (
            &*format!("?query={}", url_encode(&format!("-{fixed}"))),
            &*format!("-{fixed}"),
        ),
        ("?include=descendants", ""),
    ] {
        browser.goto(&format!("{}/ui/t/{child}{edit}", server.url));
        let query = [fixed.as_str(), also].join(" ");
        assert_eq!(
            shown(&browser),
            demo.api_page(child, &format!("query={}", url_encode(query.trim())), 1),
            "{edit}"
        );
    }
    // Neither the parent nor a sibling is reachable, nor an event outside the filter.
    for other in ["northwind", "northwind-fabrikam", "lumen-software"] {
        browser.goto(&format!("{}/ui/t/{other}", server.url));
        assert!(
            browser.text("main").unwrap().contains("does not exist"),
            "{other}"
        );
    }
    let outside = demo.api(&format!(
        "/v1/tenants/{child}/events?limit=1&query={}",
        url_encode(&format!("-{fixed}"))
    ));
    let outside_id = outside["events"][0]["id"].as_str().unwrap();
    browser.goto(&format!("{}/ui/t/{child}/events/{outside_id}", server.url));
    assert!(browser.text("main").unwrap().contains("does not exist"));

    // The link started its one session: opening it again, here or elsewhere, starts none.
    browser.goto(link["url"].as_str().unwrap());
    assert!(browser.text("main").unwrap().contains("no longer valid"));
    let elsewhere = Browser::desktop();
    elsewhere.goto(link["url"].as_str().unwrap());
    assert!(elsewhere.text("main").unwrap().contains("no longer valid"));
    elsewhere.goto(&format!("{}/ui/t/{child}", server.url));
    assert!(elsewhere.url().ends_with("/ui/sign-in"));

    // The tenant's list shows the link used, and never its token.
    let listed = demo.api(&format!("/v1/tenants/{child}/viewer-links"));
    let listed = listed["links"].as_array().unwrap();
    let entry = listed
        .iter()
        .find(|entry| entry["id"] == link["id"])
        .unwrap();
    assert!(entry["used_at"].is_string() && entry["revoked_at"].is_null());
    assert_eq!(entry["query"], json!(fixed));
    assert!(!serde_json::to_string(listed).unwrap().contains("evv_"));

    // Revoking ends the session.
    expect_json(
        server
            .delete(
                &format!("/v1/viewer-links/{}", link["id"].as_str().unwrap()),
                &demo.key,
            )
            .send()
            .unwrap(),
        200,
    );
    browser.goto(&format!("{}/ui/t/{child}", server.url));
    assert!(browser.text("main").unwrap().contains("no longer valid"));

    // An expired link starts nothing.
    let short = demo.viewer_link(child, json!({"expires_in": 1}));
    std::thread::sleep(std::time::Duration::from_millis(1_100)); // the expiry is what is tested
    let late = Browser::desktop();
    late.goto(short["url"].as_str().unwrap());
    assert!(late.text("main").unwrap().contains("no longer valid"));

    // A partner's link with sub-accounts offers exactly its subtree.
    let partner = demo.viewer_link(
        "northwind",
        json!({"expires_in": 600, "include_descendants": true}),
    );
    let fresh = Browser::desktop();
    fresh.goto(partner["url"].as_str().unwrap());
    let offered = fresh.run(
        "return Array.from(document.querySelectorAll('#f-account option')).map(o => o.value);",
        json!([]),
    );
    let mut ids: Vec<String> = offered
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["northwind", "northwind-contoso", "northwind-fabrikam"]
    );
    fresh.goto(&format!("{}/ui/t/lumen-software", server.url));
    assert!(fresh.text("main").unwrap().contains("does not exist"));

    // The API side: bad bodies are precise, other tenants' links are 404.
    let create = |key: &str, body: Value, status: u16| {
        expect_problem(
            server
                .post(&format!("/v1/tenants/{child}/viewer-links"), key)
                .json(&body)
                .send()
                .unwrap(),
            status,
        )
    };
    let refused = create(&demo.key, json!({"expires_in": 86_401}), 422);
    assert_eq!(refused["errors"][0]["field"], "expires_in");
    let refused = create(
        &demo.key,
        json!({"expires_in": 60, "title": "a\u{7}b"}),
        422,
    );
    assert_eq!(refused["errors"][0]["field"], "title");
    create(
        &demo.key,
        json!({"expires_in": 60, "tenant": "northwind"}),
        422,
    );
    let unparsed = create(
        &demo.key,
        json!({"expires_in": 60, "query": "outcome:"}),
        400,
    );
    assert_eq!(unparsed["position"], 8);
    let (other_key, _) = demo.key_for(Some("lumen-software"), &["read", "admin"]);
    create(&other_key, json!({"expires_in": 60}), 404);
    let (ingest_key, _) = demo.key_for(Some(child), &["ingest"]);
    create(&ingest_key, json!({"expires_in": 60}), 403);
    expect_problem(
        server
            .delete(
                &format!("/v1/viewer-links/{}", partner["id"].as_str().unwrap()),
                &other_key,
            )
            .send()
            .unwrap(),
        404,
    );
}

#[test]
fn event_fields_holding_markup_render_as_text_and_run_nothing() {
    let demo = demo();
    let server = &demo.server;
    let hostile = [
        "<script>window.__pwned = 1</script>",
        "<img src=x onerror=\"window.__pwned = 2\">",
        "javascript:window.__pwned = 3",
    ];
    // A tenant without a catalog takes any action and metadata.
    expect_json(
        server
            .post("/v1/tenants", &demo.key)
            .json(&json!({"id": "open-shop", "name": "Open Shop"}))
            .send()
            .unwrap(),
        201,
    );
    let stored = expect_json(
        server
            .post("/v1/tenants/open-shop/events", &demo.key)
            .json(&json!({
                "action": "license.revoked",
                "actor": {"type": "user", "id": "u_evil", "name": hostile[1], "email": "mallory@example.com"},
                "targets": [{"type": "license", "id": "lic_evil", "name": hostile[2]}],
                "description": hostile[0],
                // A number past 2^53 too: JCS and the browser both read it as a double.
                "metadata": {"note": hostile[0], "link": hostile[2], "img": hostile[1], "big": 1_152_921_504_606_846_977_u64, "ratio": 0.1},
            }))
            .send()
            .unwrap(),
        201,
    );
    let id = stored["events"][0]["id"].as_str().unwrap();
    let browser = Browser::desktop();
    sign_in(&browser, server, &demo.key);
    for path in [
        "/ui/t/open-shop?actor=u_evil".to_owned(),
        format!("/ui/t/open-shop/events/{id}"),
    ] {
        browser.goto(&format!("{}{path}", server.url));
        if path.contains("actor=") {
            assert_eq!(shown(&browser).1, "Page 1 of 1 (1 total)");
            browser.click("tr.event td.time");
            browser.wait_until(
                "document.querySelector('output.proof.ok, output.proof.bad') !== null",
                "the row's JSON and proof",
            );
            let verdict = browser.text("output.proof").unwrap();
            assert!(verdict.starts_with("✓"), "{verdict}");
        }
        let page = browser.run(
            "return {
                pwned: window.__pwned === undefined ? null : window.__pwned,
                scripts: Array.from(document.scripts).map(script => script.src),
                images: document.images.length,
                javascriptLinks: document.querySelectorAll('a[href^=\"javascript\"]').length,
                text: document.body.innerText,
            };",
            json!([]),
        );
        assert_eq!(page["pwned"], Value::Null, "{path}");
        // One script, ours (its URL carries the assets' digest).
        let scripts = page["scripts"].as_array().unwrap();
        assert_eq!(scripts.len(), 1, "{path}");
        assert!(
            scripts[0]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/ui/assets/evident.js?v=", server.url)),
            "{path}"
        );
        assert_eq!(
            (page["images"].clone(), page["javascriptLinks"].clone()),
            (json!(0), json!(0)),
            "{path}"
        );
        let text = page["text"].as_str().unwrap();
        // The JSON shows the fields JSON-escaped, so look for what needs no escaping.
        for markup in [
            "<script>window.__pwned = 1</script>",
            "<img src=x onerror=",
            "javascript:window.__pwned = 3",
        ] {
            assert!(text.contains(markup), "{path}: {markup} shown as text");
        }
    }
    // Every page answers with the strict policy.
    let response = server
        .http
        .get(format!("{}/ui/sign-in", server.url))
        .send()
        .unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline"));
}

#[test]
fn the_page_fits_1280_and_375_pixels_and_screenshots_are_written() {
    let demo = demo();
    let server = &demo.server;
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    let docs = common::repo_root().join("docs/ui");
    let update = std::env::var_os("EVIDENT_UPDATE_SCREENSHOTS").is_some();
    for (name, browser, width) in [
        ("log-1280", Browser::desktop(), 1280),
        ("log-375", Browser::phone(), 375),
    ] {
        sign_in(&browser, server, &demo.key);
        browser.goto(&format!(
            "{}/ui/t/northwind?include=descendants",
            server.url
        ));
        browser.click("tr.event td.time");
        browser.wait_until(
            "document.querySelector('output.proof.ok, output.proof.bad') !== null",
            "the proof check",
        );
        let verdict = browser.text("output.proof").unwrap();
        assert!(verdict.contains("signature verified"), "{name}: {verdict}");
        let fits = browser.run(
            "return { inner: window.innerWidth, scroll: document.documentElement.scrollWidth };",
            json!([]),
        );
        assert_eq!(fits["inner"], json!(width), "{name}");
        assert!(
            fits["scroll"].as_u64() <= fits["inner"].as_u64(),
            "{name}: the page scrolls sideways: {fits}"
        );
        // The desktop shot shows the page down to the opened row; the phone's starts at the top.
        if width == 1280 {
            browser.resize(1280, 1500);
        }
        browser.run("window.scrollTo(0, 0);", json!([]));
        let png = browser.screenshot(&out.join(format!("{name}.png")));
        assert_eq!(png_size(&png).0, width, "{name}");
        if update {
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
    }
    assert!(
        docs.join("log-1280.png").exists() && docs.join("log-375.png").exists(),
        "docs/ui holds the screenshots"
    );
}

/// Serves one HTML page forever on a port of its own (the embedding product's site).
fn serve_page(html: String) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn an_embedded_viewer_keeps_its_session_where_third_party_cookies_are_blocked() {
    // Cookies follow the public URL's scheme: https, as a real embedding needs.
    let server = TestServer::start_with(&[], &[("EVIDENT_PUBLIC_URL", "https://audit.example")]);
    server.create_tenant("acme", None);
    server.ingest("acme", &(0..60).map(common::event).collect::<Vec<_>>());
    // A product's console on another site (localhost, where the server is
    // 127.0.0.1) that frames a fresh viewer link; the tenant lets it frame
    // the page, or not.
    let console = |allowed: bool| {
        let link = expect_json(
            server
                .post("/v1/tenants/acme/viewer-links", common::ADMIN_KEY)
                .json(&json!({"expires_in": 600}))
                .send()
                .unwrap(),
            201,
        );
        let token = link["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let port = serve_page(format!(
            "<!doctype html><title>Console</title><h1>Acme console</h1><iframe id=log src=\"{}/ui/v/{token}\" width=1200 height=700></iframe>",
            server.url
        ));
        let origin = format!("http://localhost:{port}");
        let allowed: Vec<&str> = if allowed {
            vec![origin.as_str()]
        } else {
            Vec::new()
        };
        expect_json(
            server
                .http
                .put(format!("{}/v1/tenants/acme/ui", server.url))
                .bearer_auth(common::ADMIN_KEY)
                .json(&json!({"frame_ancestors": allowed, "accent_color": "#0a7d55"}))
                .send()
                .unwrap(),
            200,
        );
        origin
    };

    // Framing is refused unless the tenant allows the console's origin.
    let browser = Browser::blocking_third_party_cookies();
    browser.goto(&format!("{}/", console(false)));
    browser.enter_frame("#log");
    assert_eq!(
        browser.run(
            "return document.querySelector('.paging') === null;",
            json!([])
        ),
        json!(true)
    );
    browser.leave_frame();
    // The frame did reach the server (its link is spent): the browser refused to show the answer.
    let links = server.get_json("/v1/tenants/acme/viewer-links");
    assert!(links["links"][0]["used_at"].is_string(), "{links}");
    browser.goto(&format!("{}/", console(true)));
    browser.enter_frame("#log");
    browser.wait_until(
        "document.querySelector('.paging .summary') !== null",
        "the framed page",
    );
    assert_eq!(shown(&browser).1, "Page 1 of 3 (60 total)");
    // Moving within the frame needs the session cookie on every request: it is sent.
    browser.navigating(|| browser.click(".paging a[rel=next]"));
    assert_eq!(shown(&browser).1, "Page 2 of 3 (60 total)");
    let accent = browser.run(
        "return getComputedStyle(document.documentElement).getPropertyValue('--accent').trim();",
        json!([]),
    );
    assert_eq!(accent, json!("#0a7d55"));
}

#[test]
fn page_settings_are_checked_and_name_who_may_frame_the_page() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let put = |key: &str, body: Value| {
        server
            .http
            .put(format!("{}/v1/tenants/acme/ui", server.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .unwrap()
    };
    let refused = expect_problem(
        put(
            common::ADMIN_KEY,
            json!({"accent_color": "red", "frame_ancestors": ["https://ok.example", "https://x.example/path", "'self'"]}),
        ),
        422,
    );
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["accent_color", "frame_ancestors/1", "frame_ancestors/2"]
    );
    expect_problem(put(common::ADMIN_KEY, json!({"colour": "#fff"})), 422);
    let read_only = server.create_key(Some("acme"), &["read"]);
    expect_problem(put(&read_only, json!({})), 403);
    assert_eq!(
        server.get_json("/v1/tenants/acme/ui"),
        json!({"frame_ancestors": []}),
        "nothing stored by the refused requests"
    );

    let settings = json!({"accent_color": "#123abc", "frame_ancestors": ["https://console.example", "https://*.partner.example"]});
    assert_eq!(
        expect_json(put(common::ADMIN_KEY, settings.clone()), 200),
        settings
    );
    assert_eq!(
        expect_json(
            server
                .get("/v1/tenants/acme/ui", &read_only)
                .send()
                .unwrap(),
            200
        ),
        settings
    );

    // A signed-in page names exactly those origins in its policy.
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = no_redirects
        .post(format!("{}/ui/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={read_only}"))
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = no_redirects
        .get(format!("{}/ui/t/acme", server.url))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.ends_with("frame-ancestors https://console.example https://*.partner.example"),
        "{policy}"
    );
    let theme = no_redirects
        .get(format!("{}/ui/t/acme/theme.css", server.url))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(theme.contains("--accent: #123abc"), "{theme}");

    // A read key's session downloads CSV; NDJSON and bundles need the export scope.
    let download = |format: &str| {
        no_redirects
            .get(format!("{}/ui/t/acme/export?format={format}", server.url))
            .header("cookie", &cookie)
            .send()
            .unwrap()
    };
    let csv = download("csv");
    assert_eq!(csv.status(), 200);
    assert!(csv.text().unwrap().starts_with("Time,Event,Description"));
    for format in ["ndjson", "bundle"] {
        assert_eq!(download(format).status(), 403, "{format}");
    }

    // Right after a viewer link, a missing cookie means the browser refused it
    // (in a frame): the page says so, where it may be framed, instead of asking to sign in.
    let refused = no_redirects
        .get(format!("{}/ui/t/acme?opened=link", server.url))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .ends_with("frame-ancestors *")
    );
    assert!(
        refused
            .text()
            .unwrap()
            .contains("This browser refused the page")
    );
    let plain = no_redirects
        .get(format!("{}/ui/t/acme", server.url))
        .send()
        .unwrap();
    assert_eq!(
        (
            plain.status().as_u16(),
            plain.headers()["location"].to_str().unwrap()
        ),
        (303, "/ui/sign-in")
    );

    // Signing out ends the session for good: the same cookie, replayed, is refused.
    let signed_out = no_redirects
        .post(format!("{}/ui/sign-out", server.url))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    assert!(
        signed_out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let replayed = no_redirects
        .get(format!("{}/ui/t/acme", server.url))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(
        (
            replayed.status().as_u16(),
            replayed.headers()["location"].to_str().unwrap()
        ),
        (303, "/ui/sign-in")
    );

    // Sign-in posted from another site is refused.
    let forged = no_redirects
        .post(format!("{}/ui/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .body(format!("key={read_only}"))
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("set-cookie").is_none());
}
