//! `evident serve --store postgres://…`: several servers on one database,
//! migrations, and `evident verify --store` on PostgreSQL. Each test makes a
//! database of its own on the local server (`EVIDENT_TEST_POSTGRES` names
//! another) and drops it.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::{ADMIN_KEY, TestServer, binary, event};
use evident_store::postgres::ScratchDatabase;
use serde_json::{Value, json};

fn scratch() -> ScratchDatabase {
    ScratchDatabase::for_tests("evident_serve")
        .expect("a scratch database (is PostgreSQL running?)")
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .env("EVIDENT_LOG", "error")
        .output()
        .expect("running evident")
}

#[test]
fn two_servers_on_one_database_keep_each_log_contiguous_and_verifiable() {
    let database = scratch();
    let first = TestServer::start_with(
        &[
            "--store",
            database.url(),
            "--checkpoint-interval-seconds",
            "1",
        ],
        &[],
    );
    // The second server signs with the same key: checkpoints from either verify alike.
    let key_file = first.data_dir.join("signing.key");
    let second = TestServer::start_with(
        &[
            "--store",
            database.url(),
            "--signing-key",
            key_file.to_str().unwrap(),
            "--checkpoint-interval-seconds",
            "1",
        ],
        &[],
    );
    first.create_tenant("acme", None);
    // The second server sees the tenant the first created, through the database.
    second.create_tenant("acme-eu", Some("acme"));

    // Four clients, two per server, append to the same tenants at once.
    let servers = [&first, &second];
    let sent: Vec<Vec<Value>> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4)
            .map(|client| {
                let server = servers[client % 2];
                scope.spawn(move || {
                    let mut receipts = Vec::new();
                    for round in 0..15 {
                        let tenant = if round % 3 == 0 { "acme-eu" } else { "acme" };
                        let events: Vec<Value> = (0..20)
                            .map(|n| event(client * 1000 + round * 20 + n))
                            .collect();
                        receipts.extend(
                            server
                                .ingest(tenant, &events)
                                .into_iter()
                                .map(|receipt| json!({"tenant": tenant, "receipt": receipt})),
                        );
                    }
                    receipts
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|client| client.join().unwrap())
            .collect()
    });
    let receipts: Vec<&Value> = sent.iter().flatten().collect();
    assert_eq!(receipts.len(), 4 * 15 * 20);
    for tenant in ["acme", "acme-eu"] {
        let mine: Vec<&&Value> = receipts
            .iter()
            .filter(|sent| sent["tenant"] == tenant)
            .collect();
        // Every acknowledged event is stored once, and seq runs 0, 1, 2, … without a gap.
        let mut seqs: Vec<u64> = mine
            .iter()
            .map(|sent| sent["receipt"]["seq"].as_u64().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..mine.len() as u64).collect::<Vec<_>>(), "{tenant}");
        for server in servers {
            let stored = server.all_events(tenant);
            assert_eq!(stored.len(), mine.len());
            let ids: HashSet<&str> = stored
                .iter()
                .map(|event| event["id"].as_str().unwrap())
                .collect();
            assert!(
                mine.iter()
                    .all(|sent| ids.contains(sent["receipt"]["id"].as_str().unwrap()))
            );
        }
    }
    // Both servers' checkpointers have signed the grown logs; the tree verifies offline.
    let verifier = first
        .get("/v1/log/key", ADMIN_KEY)
        .send()
        .unwrap()
        .text()
        .unwrap()
        .trim()
        .to_owned();
    common::wait_for(30, "a checkpoint of acme's whole log", || {
        let note = first
            .get("/v1/tenants/acme/log/checkpoint", ADMIN_KEY)
            .send()
            .unwrap()
            .text()
            .unwrap();
        (note.lines().nth(1) == Some("800")).then_some(())
    });
    let verified = run(&["verify", "--store", database.url(), "--key", &verifier]);
    let text = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        text.contains("ok acme 800 ") && text.contains("ok acme-eu 400 "),
        "{text}"
    );
    // Another key of the same name does not verify the servers' checkpoints.
    let origin = verifier.split('+').next().unwrap();
    let other = evident_core::log::note::Signer::from_seed(origin, [7; 32])
        .unwrap()
        .verifier()
        .encode();
    let wrong = run(&["verify", "--store", database.url(), "--key", &other]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stdout).contains("FAILED acme "));
    // Without --key there is nothing to check against: the key is never in the database.
    let keyless = run(&["verify", "--store", database.url()]);
    assert!(!keyless.status.success());
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("give --key"));
}

#[test]
fn migrate_creates_and_refuses_a_newer_schema_on_postgres() {
    let database = scratch();
    let migrate = || run(&["migrate", "--store", database.url()]);
    let created = String::from_utf8(migrate().stdout).unwrap();
    assert!(
        created.starts_with("created the store at postgres"),
        "{created}"
    );
    let version: i64 = created.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let again = String::from_utf8(migrate().stdout).unwrap();
    assert!(
        again.ends_with(&format!("at schema version {version}: nothing to do\n")),
        "{again}"
    );

    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    client
        .execute("UPDATE evident_schema SET version = $1", &[&(version + 1)])
        .unwrap();
    // A database written by a newer build is refused, by migrate and by serve alike.
    let data_dir = tempfile::tempdir().unwrap();
    common::assert_newer_schema_refused(
        &[
            "--store".as_ref(),
            database.url().as_ref(),
            "--data-dir".as_ref(),
            data_dir.path().as_os_str(),
        ],
        version + 1,
    );
}

#[test]
fn store_copy_moves_a_served_store_to_postgres_and_back() {
    let mut server = TestServer::start_with(&["--checkpoint-interval-seconds", "1"], &[]);
    server.create_tenant("acme", None);
    server.create_tenant("acme-eu", Some("acme"));
    server.ingest("acme", &(0..120).map(event).collect::<Vec<_>>());
    server.ingest("acme-eu", &(0..30).map(event).collect::<Vec<_>>());
    let before = server.all_events("acme");
    let verifier = server
        .get("/v1/log/key", ADMIN_KEY)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let verifier = verifier.trim().to_owned();
    common::wait_for(30, "a checkpoint of acme's log", || {
        let note = server
            .get("/v1/tenants/acme/log/checkpoint", ADMIN_KEY)
            .send()
            .unwrap()
            .text()
            .unwrap();
        (note.lines().nth(1) == Some("120")).then_some(())
    });
    assert!(server.terminate());
    let data_dir = server.data_dir.to_str().unwrap().to_owned();

    let database = scratch();
    let copied = run(&["store", "copy", "--from", &data_dir, "--to", database.url()]);
    let text = String::from_utf8_lossy(&copied.stdout);
    assert!(
        copied.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("ok acme 120 ") && lines[1].starts_with("ok acme-eu 30 "),
        "{text}"
    );
    // Vacuumed and analysed: its first queries plan with its statistics.
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    let settled = client
        .query_one(
            "SELECT reltuples::bigint, relallvisible > 0 AND relallvisible = relpages FROM pg_class WHERE relname = 'events'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (settled.get::<_, i64>(0), settled.get::<_, bool>(1)),
        (150, true)
    );
    // The same roots as `verify` computes over the source.
    let source = run(&["verify", "--store", &data_dir, "--key", &verifier]);
    assert!(source.status.success());
    assert_eq!(String::from_utf8_lossy(&source.stdout), text);

    // A server on the copy answers as the first did, and its log verifies with the same key.
    let key_file = format!("{data_dir}/signing.key");
    let moved = TestServer::start_with(
        &["--store", database.url(), "--signing-key", &key_file],
        &[],
    );
    assert_eq!(moved.all_events("acme"), before);
    let verified = run(&["verify", "--store", database.url(), "--key", &verifier]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&verified.stdout), text);

    // And back to a directory; a copy into a store that holds tenants is refused.
    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().join("data");
    let back_dir = back_dir.to_str().unwrap();
    let returned = run(&["store", "copy", "--from", database.url(), "--to", back_dir]);
    assert!(
        returned.status.success(),
        "{}",
        String::from_utf8_lossy(&returned.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&returned.stdout), text);
    let again = run(&["store", "copy", "--from", &data_dir, "--to", database.url()]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds 2 tenants"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_tenant_catalog_set_through_one_server_reaches_the_other() {
    let database = scratch();
    let first = TestServer::start_with(&["--store", database.url()], &[]);
    let second = TestServer::start_with(&["--store", database.url()], &[]);
    first.create_tenant("northwind", None);
    let addition = "mode = \"strict\"\n[[events]]\naction = \"user.token_created\"\ncategory = \"user\"\ndescription = \"Creates secondary token\"\ndisplay = \"{actor} created a token\"\n";
    let response = first
        .http
        .put(format!("{}/v1/tenants/northwind/catalog", first.url))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/toml")
        .body(addition)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    // Within a few seconds the second server validates and renders with it too.
    let token = json!({"action": "user.token_created", "actor": {"type": "user", "id": "usr_1", "name": "Ada"}});
    let unknown = json!({"action": "user.token_creatd", "actor": {"type": "user", "id": "usr_1"}});
    let post = |body: &Value| {
        second
            .post("/v1/tenants/northwind/events", ADMIN_KEY)
            .json(&json!({"events": [body]}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    common::wait_for(
        15,
        "the second server refusing an action outside the strict catalog",
        || (post(&unknown) == 422).then_some(()),
    );
    assert_eq!(post(&token), 201);
    let listed = second.get_json("/v1/tenants/northwind/events?query=action:user.token_created");
    assert_eq!(listed["events"][0]["display"], "Ada created a token");
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "postgres://evident:hunter2@127.0.0.1:1/audit",
        ])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("EVIDENT_LOG", "error")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("opening the store at postgres://evident:***@127.0.0.1:1/audit")
            && stderr.matches("error connecting to server").count() == 1,
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn the_nul_character_is_refused_before_it_reaches_the_database() {
    let database = scratch();
    let server = TestServer::start_with(&["--store", database.url()], &[]);
    server.create_tenant("acme", None);
    let with_nul = json!({"action": "user.login", "actor": {"type": "user", "id": "usr\u{0}1"},
                          "metadata": {"note": "a\u{0}b"}});
    let problem = common::expect_problem(
        server
            .post("/v1/tenants/acme/events", ADMIN_KEY)
            .json(&json!({"events": [event(1), with_nul]}))
            .send()
            .unwrap(),
        422,
    );
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap(),
                error["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(fields, [("actor.id", "nul"), ("metadata.note", "nul")]);
    // The batch is all or nothing; a query asking for it is a 400 that says where.
    assert!(server.all_events("acme").is_empty());
    let problem = common::expect_problem(
        server
            .get("/v1/tenants/acme/events?query=actor:usr%001", ADMIN_KEY)
            .send()
            .unwrap(),
        400,
    );
    assert_eq!(problem["position"], 9, "{problem}");
    // The server goes on taking events.
    assert_eq!(server.ingest("acme", &[event(2)]).len(), 1);
}
