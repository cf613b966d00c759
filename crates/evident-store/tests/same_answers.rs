//! One table of queries, run against both backends on the same events: every
//! filter, sort, paging mode, exact total and free-text query gives the same
//! answer on SQLite and on PostgreSQL.

use evident_core::{
    Actor, ActorType, Condition, Context, Filter, NewEvent, Outcome, Target, TimeBound,
};
use evident_store::postgres::ScratchDatabase;
use evident_store::{
    AppendBatch, EventQuery, NewTenant, PageStart, PostgresStore, SortOrder, SqliteStore, Store,
    TenantScope,
};
use jiff::Timestamp;
use serde_json::json;

/// Every query of the API's language, alone and combined.
const QUERIES: &[&str] = &[
    "",
    "action:user.login",
    "action:user.login,license.revoked",
    "action:user.*",
    "-action:user.*",
    "category:security",
    "category:security,uncategorized",
    "category:security -action:user.deleted",
    "category:security action:user.*",
    "category:nothing",
    "-category:security",
    "category:security secret",
    "actor:usr_ada",
    "actor:ADA@acme.example",
    "actor:grace@*",
    "-actor:usr_ada",
    "actor:usr_ada,ADA@acme.example",
    "actor:grace*,usr_ada,svc_scim",
    "actor:ada.lovelace@acme.example",
    "actor:ops@acme.example",
    "-actor:ops@acme.example",
    "actor:grace@acme.example",
    "actor:usr_ada -actor:ada@acme.example",
    "actor:usr_ada target:license:t_2",
    "target:t_3",
    "target:license:t_2",
    "target:keyset:t_2,license:t_4",
    "ip:203.0.113.0/24",
    "ip:2001:db8::/32",
    "-ip:203.0.113.0/24",
    "channel:portal",
    "-channel:portal",
    "outcome:failure",
    "tenant:acme-eu",
    "from:2026-05-01 to:2026-05-10",
    "from:20d",
    "secret",
    "sec",
    "\"secret key\"",
    "\"key secret\"",
    "-secret",
    "ada@acme.example",
    "lovelace",
    "config",
    "jose",
    "José",
    "MÜLLER",
    "trial",
    "t_3",
    "usr_ada",
    "USR_GR",
    "-usr_ada",
    "svc_scim routine",
    "action:user.login secret channel:portal",
    "action:KeysetConfigChanged,license.revoked -outcome:success actor:ada@*",
    "secret -trial",
    "tenant:acme,acme-us lovelace from:30d",
];

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn event(n: usize) -> NewEvent {
    // usr_ada changes her email; ops@ is a system actor known by its email
    // alone; one service's id is grace's email; the scheduler has neither.
    let actors = [
        (
            Some("usr_ada"),
            Some("Ada Lovelace"),
            Some("Ada@Acme.example"),
            ActorType::User,
        ),
        (
            Some("usr_grace"),
            Some("Grace Hopper"),
            Some("grace@acme.example"),
            ActorType::User,
        ),
        (Some("svc_scim"), Some("SCIM"), None, ActorType::Service),
        (
            Some("usr_ada"),
            Some("Ada Lovelace"),
            Some("ada.lovelace@acme.example"),
            ActorType::User,
        ),
        (
            None,
            Some("Ops desk"),
            Some("ops@acme.example"),
            ActorType::System,
        ),
        (Some("grace@acme.example"), None, None, ActorType::Service),
        (None, None, None, ActorType::System),
    ];
    let (id, name, email, actor_type) = actors[n % actors.len()];
    let actions = [
        "user.login",
        "user.deleted",
        "license.revoked",
        "KeysetConfigChanged",
    ];
    let ips = [
        "203.0.113.5",
        "203.0.113.200",
        "2001:db8::1",
        "198.51.100.9",
    ];
    // Every tenth event shares one instant with others, in several tenants: ties.
    let occurred = if n.is_multiple_of(10) {
        now().as_second() - 86_400 * 12
    } else {
        now().as_second() - 86_400 * 40 + (n as i64 * 7919) % (86_400 * 35)
    };
    NewEvent {
        // user.login is always in security, license.revoked never; the other
        // two actions in both (as when a catalog changed).
        category: if n.is_multiple_of(4) || n % 6 == 1 {
            "security"
        } else {
            "uncategorized"
        }
        .into(),
        action: actions[n % actions.len()].into(),
        occurred_at: Timestamp::from_second(occurred).unwrap(),
        actor: Actor {
            actor_type,
            id: id.map(Into::into),
            name: name.map(Into::into),
            email: email.map(Into::into),
        },
        targets: vec![Target {
            target_type: if n.is_multiple_of(2) {
                "license"
            } else {
                "keyset"
            }
            .into(),
            id: format!("t_{}", n % 5),
            name: Some(format!("Item {}", n % 5)),
            email: None,
        }]
        .into_iter()
        // Some events name two targets that one clause matches.
        .chain(n.is_multiple_of(9).then(|| Target {
            target_type: "license".into(),
            id: "t_4".into(),
            name: None,
            email: None,
        }))
        .collect(),
        context: Context {
            ip: (n % 5 != 4).then(|| ips[n % ips.len()].parse().unwrap()),
            user_agent: Some("curl/8".into()),
        },
        channel: (n % 6 != 5).then(|| ["portal", "api"][n % 2].into()),
        outcome: if n.is_multiple_of(7) {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        description: Some(match n % 3 {
            0 => "rotated the secret key".into(),
            1 => format!("José Müller changed item {n}"),
            _ => "routine change".into(),
        }),
        metadata: json!({"pool": (["enterprise", "trial"][n % 2]), "n": n})
            .as_object()
            .unwrap()
            .clone(),
        idempotency_key: None,
    }
}

/// The same tenants and events, in the same order.
fn fill(store: &dyn Store) {
    for (id, parent) in [
        ("acme", None),
        ("acme-eu", Some("acme")),
        ("acme-us", Some("acme")),
        ("globex", None),
    ] {
        store
            .create_tenant(&NewTenant {
                id: id.into(),
                name: format!("{id} name"),
                parent: parent.map(Into::into),
            })
            .unwrap();
    }
    let tenants = ["acme", "acme-eu", "acme-us", "globex"];
    for round in 0..6 {
        let batches: Vec<AppendBatch> = tenants
            .iter()
            .enumerate()
            .map(|(t, tenant)| AppendBatch {
                tenant: (*tenant).into(),
                events: (0..40).map(|n| event(round * 160 + t * 40 + n)).collect(),
            })
            .collect();
        store.append(&batches, now()).unwrap();
    }
}

/// Everything one backend answers for one query: every page both ways, by
/// cursor and by offset, with the totals.
fn answers(store: &dyn Store, scope: &[&str], text: &str) -> Vec<String> {
    let filter = evident_core::query::parse(text).unwrap();
    let scope = TenantScope {
        tenants: scope.iter().map(|tenant| tenant.to_string()).collect(),
    };
    let mut out = vec![format!(
        "count {}",
        store.count(&scope, &filter, now()).unwrap()
    )];
    for sort in [SortOrder::Desc, SortOrder::Asc] {
        let query = |start| EventQuery {
            scope: scope.clone(),
            filter: filter.clone(),
            sort,
            start,
            limit: 9,
            now: now(),
        };
        let mut start = PageStart::First;
        for pages in 1.. {
            let (page, total) = store.query_with_total(&query(start)).unwrap();
            // A cursor that does not move on fails here instead of paging forever.
            assert!(
                pages <= total / 9 + 1,
                "{text}: page {pages} of a walk over {total} events"
            );
            let rows: Vec<String> = (0..page.len())
                .map(|index| {
                    let (tenant, seq) = page.place(index);
                    format!("{tenant}/{seq}")
                })
                .collect();
            out.push(format!("{sort:?} total {total}: {}", rows.join(" ")));
            match page.next_cursor {
                Some(cursor) => start = PageStart::After(cursor),
                None => break,
            }
        }
        for skip in [0, 9, 30] {
            let page = store.query(&query(PageStart::Offset(skip))).unwrap();
            let rows: Vec<String> = page
                .events
                .iter()
                .map(|event| format!("{}/{}", event.tenant, event.seq))
                .collect();
            out.push(format!("{sort:?} offset {skip}: {}", rows.join(" ")));
        }
    }
    out
}

/// A scratch PostgreSQL database on `EVIDENT_TEST_POSTGRES`, else the local server.
fn scratch(name: &str) -> ScratchDatabase {
    ScratchDatabase::for_tests(name).unwrap()
}

/// The store in `database` taken back to schema `version` ([`take_back_to`])
/// and opened again, which migrates it; with a client of its own.
fn migrated_from(database: &ScratchDatabase, version: i64) -> (postgres::Client, PostgresStore) {
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    take_back_to(&mut client, version);
    (client, PostgresStore::open(database.url()).unwrap())
}

/// A SQLite store (in its directory) and a scratch PostgreSQL database (on
/// `EVIDENT_TEST_POSTGRES`, else the local server), each [`fill`]ed.
fn filled(database: &str) -> (tempfile::TempDir, SqliteStore, ScratchDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path()).unwrap();
    let database = scratch(database);
    fill(&sqlite);
    fill(&PostgresStore::open(database.url()).unwrap());
    (dir, sqlite, database)
}

#[test]
fn every_query_answers_alike_on_sqlite_and_postgresql() {
    let (_dir, sqlite, database) = filled("evident_same_answers");
    let postgres = PostgresStore::open(database.url()).unwrap();
    let mut empty = 0;
    for scope in [&["acme"][..], &["acme", "acme-eu", "acme-us"][..]] {
        for text in QUERIES {
            let expected = answers(&sqlite, scope, text);
            assert_eq!(
                answers(&postgres, scope, text),
                expected,
                "{scope:?} {text:?}"
            );
            if expected[0] == "count 0" {
                empty += 1;
            }
        }
    }
    // The table compares real answers: every query finds events but a phrase
    // out of order (twice), a sub-account outside a single-tenant scope and a
    // category no event has (twice).
    assert_eq!(empty, 5);
    // A single event by id, in and out of scope.
    let newest = |store: &dyn Store| {
        store
            .query(&EventQuery {
                scope: TenantScope::single("acme-eu"),
                filter: Default::default(),
                sort: SortOrder::Desc,
                start: PageStart::First,
                limit: 1,
                now: now(),
            })
            .unwrap()
            .events
            .remove(0)
    };
    for store in [&sqlite as &dyn Store, &postgres] {
        let event = newest(store);
        let parent_scope = TenantScope {
            tenants: vec!["acme".into(), "acme-eu".into()],
        };
        assert_eq!(
            store
                .get(&parent_scope, event.id)
                .unwrap()
                .map(|found| found.seq),
            Some(event.seq)
        );
        assert_eq!(
            store.get(&TenantScope::single("globex"), event.id).unwrap(),
            None
        );
    }
}

/// Undoes the PostgreSQL migrations after `version` (but for the data they
/// wrote into columns that stay) and marks the store as at `version`.
fn take_back_to(client: &mut postgres::Client, version: i64) {
    if version < 7 {
        client.batch_execute("DROP TABLE day_counts").unwrap();
    }
    if version < 6 {
        client.batch_execute("DROP TABLE action_counts").unwrap();
    }
    if version < 5 {
        // Only while every document is text (a store smaller than its first dictionary).
        client
            .batch_execute(
                "ALTER TABLE events DROP COLUMN packed, ALTER COLUMN doc SET NOT NULL;
                 DROP TABLE doc_dictionaries;",
            )
            .unwrap();
    }
    if version < 4 {
        // Every leaf and every node of levels 1–3 as a row of its own
        // (RFC 9162: a node is SHA-256 of 0x01, its left and its right).
        client
            .batch_execute(
                "INSERT INTO merkle_nodes (tenant_no, level, idx, hash)
                 SELECT tenant_no, 0, pack * 16 + i, substr(hashes, i * 32 + 1, 32)
                 FROM merkle_leaves, generate_series(0, length(hashes) / 32 - 1) AS i;
                 DROP TABLE merkle_leaves;",
            )
            .unwrap();
        for level in 1..=3_i64 {
            client
                .execute(
                    "INSERT INTO merkle_nodes (tenant_no, level, idx, hash)
                     SELECT l.tenant_no, $1::bigint, l.idx / 2, sha256('\\x01'::bytea || l.hash || r.hash)
                     FROM merkle_nodes l JOIN merkle_nodes r
                       ON r.tenant_no = l.tenant_no AND r.level = l.level AND r.idx = l.idx + 1
                     WHERE l.level = $1::bigint - 1 AND l.idx % 2 = 0",
                    &[&level],
                )
                .unwrap();
        }
    }
    if version < 3 {
        client
            .batch_execute(
                "DROP TABLE action_categories;
                 CREATE INDEX events_category ON events (tenant_no, category, occurred_at, seq);",
            )
            .unwrap();
    }
    client
        .execute("UPDATE evident_schema SET version = $1", &[&version])
        .unwrap();
}

/// A PostgreSQL store of the schema before identifier words is migrated at
/// open: each event's words are written again, and free text answers as on
/// SQLite (here the words were emptied first, so that nothing else could).
#[test]
fn a_postgresql_store_from_before_identifier_words_answers_alike_once_migrated() {
    let (_dir, sqlite, database) = filled("evident_words_migration");
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    client
        .batch_execute("UPDATE events SET words = ''::tsvector")
        .unwrap();
    take_back_to(&mut client, 1);
    let postgres = PostgresStore::open(database.url()).unwrap();
    let version: i64 = client
        .query_one("SELECT version FROM evident_schema", &[])
        .unwrap()
        .get(0);
    assert!(version > 1);
    for text in [
        "usr_ada",
        "t_3",
        "secret",
        "\"secret key\"",
        "ada@acme.example",
    ] {
        let expected = answers(&sqlite, &["acme"], text);
        assert_ne!(expected[0], "count 0", "{text}");
        assert_eq!(answers(&postgres, &["acme"], text), expected, "{text}");
    }
}

/// A PostgreSQL store from before categories were read through actions is
/// migrated at open: the actions of each category are listed from its
/// events, the category index is dropped, and every category query answers
/// as on SQLite.
#[test]
fn a_postgresql_store_with_a_category_index_answers_alike_once_migrated() {
    let (_dir, sqlite, database) = filled("evident_categories_migration");
    let (mut client, postgres) = migrated_from(&database, 2);
    let index: Option<String> = client
        .query_one("SELECT to_regclass('events_category')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(index, None);
    let pairs: i64 = client
        .query_one("SELECT count(*) FROM action_categories", &[])
        .unwrap()
        .get(0);
    let distinct: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT DISTINCT tenant_no, category, action FROM events) AS d",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(pairs > 0);
    assert_eq!(pairs, distinct);
    for text in QUERIES.iter().filter(|text| text.contains("category:")) {
        for scope in [&["acme"][..], &["acme", "acme-eu"]] {
            let expected = answers(&sqlite, scope, text);
            assert_eq!(
                answers(&postgres, scope, text),
                expected,
                "{scope:?} {text}"
            );
        }
    }
}

/// A PostgreSQL store whose Merkle nodes were rows of their own (each leaf,
/// each node of every level) is migrated at open to packs of 16 leaves and
/// the nodes of level 4 and up: every tree head and proof is unchanged, and
/// appends go on from the packs.
#[test]
fn a_postgresql_store_with_a_node_per_row_keeps_its_trees_once_migrated() {
    let (_dir, _sqlite, database) = filled("evident_leaves_migration");
    let tenants = ["acme", "acme-eu", "globex"];
    let logs = |store: &PostgresStore| {
        tenants
            .iter()
            .map(|tenant| {
                let head = store.tree_head(tenant).unwrap().unwrap();
                let size = head.tree_size;
                let indexes: Vec<u64> = (0..size).collect();
                let proofs = store.inclusion_proofs(tenant, &indexes, size).unwrap();
                let consistency: Vec<_> = (1..size)
                    .step_by(7)
                    .map(|from| store.consistency_proof(tenant, from, size).unwrap())
                    .collect();
                let leaves = store.leaf_hashes(tenant).unwrap();
                (head.root_hash, size, proofs, consistency, leaves)
            })
            .collect::<Vec<_>>()
    };
    let append = |store: &PostgresStore, events: std::ops::Range<usize>| {
        let batch = AppendBatch {
            tenant: "acme".into(),
            events: events.map(event).collect(),
        };
        store.append(&[batch], now()).unwrap().remove(0).unwrap();
    };
    // acme's last pack holds 5 leaves of 16.
    let store = PostgresStore::open(database.url()).unwrap();
    append(&store, 2000..2005);
    drop(store);
    let before = logs(&PostgresStore::open(database.url()).unwrap());
    assert_eq!(before[0].1 % 16, 5);
    assert!(before.iter().all(|(_, size, ..)| *size > 16));
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    take_back_to(&mut client, 3);
    let nodes = |client: &mut postgres::Client, level: i64| -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM merkle_nodes WHERE level = $1",
                &[&level],
            )
            .unwrap()
            .get(0)
    };
    let events: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(nodes(&mut client, 0), events);
    assert!(nodes(&mut client, 3) > 0);

    let postgres = PostgresStore::open(database.url()).unwrap();
    assert_eq!(logs(&postgres), before);
    for level in 0..=3 {
        assert_eq!(nodes(&mut client, level), 0, "level {level}");
    }
    let packs: i64 = client
        .query_one(
            "SELECT count(*) FROM merkle_leaves WHERE length(hashes) = 512",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(packs > 0);
    // Appends extend the last, partly filled pack, one event at a time.
    append(&postgres, 2005..2006);
    append(&postgres, 2006..2007);
    let head = postgres.tree_head("acme").unwrap().unwrap();
    assert_eq!(head.tree_size, before[0].1 + 2);
    let leaves = postgres.leaf_hashes("acme").unwrap();
    assert_eq!(leaves[..leaves.len() - 2], before[0].4[..]);
    let hashes: Vec<_> = leaves.iter().map(|(_, hash)| *hash).collect();
    let tree = evident_core::log::merkle::MemoryTree::new(&hashes);
    assert_eq!(tree.root(head.tree_size), head.root_hash);
    let last = head.tree_size - 1;
    assert_eq!(
        postgres
            .inclusion_proofs("acme", &[last], head.tree_size)
            .unwrap()
            .unwrap(),
        vec![tree.inclusion_proof(last, head.tree_size)]
    );
}

/// Appends events `range` of [`event`] to `tenant`, `per_batch` at a time.
fn append_events(store: &dyn Store, tenant: &str, range: std::ops::Range<usize>, per_batch: usize) {
    let numbers: Vec<usize> = range.collect();
    for chunk in numbers.chunks(per_batch) {
        let batch = AppendBatch {
            tenant: tenant.into(),
            events: chunk.iter().copied().map(event).collect(),
        };
        store.append(&[batch], now()).unwrap().remove(0).unwrap();
    }
}

/// A tenant's events as stored, but for their ids (each store draws its own).
fn stored_without_ids(store: &dyn Store, tenant: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    loop {
        let page = store.stored_events(tenant, out.len() as u64, 500).unwrap();
        let done = page.len() < 500;
        for stored in page {
            let mut event = serde_json::to_value(&stored.event).unwrap();
            event.as_object_mut().unwrap().remove("id");
            out.push(event);
        }
        if done {
            return out;
        }
    }
}

/// How a PostgreSQL store holds its documents: (text, compressed) counts,
/// the average bytes of each, and the dictionaries it keeps.
fn stored_docs(client: &mut postgres::Client) -> (i64, i64, f64, f64, Vec<(i16, i64)>) {
    let row = client
        .query_one(
            "SELECT count(doc), count(packed),
                    coalesce(avg(octet_length(doc)), 0)::float8, coalesce(avg(octet_length(packed)), 0)::float8,
                    count(*) FILTER (WHERE (doc IS NULL) = (packed IS NULL))
             FROM events",
            &[],
        )
        .unwrap();
    let neither_or_both: i64 = row.get(4);
    assert_eq!(
        neither_or_both, 0,
        "each document is text or compressed, not both"
    );
    let dictionaries = client
        .query("SELECT id, events FROM doc_dictionaries ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    (row.get(0), row.get(1), row.get(2), row.get(3), dictionaries)
}

/// A PostgreSQL store from before compressed documents is migrated at open;
/// once it has grown past the samples a dictionary is trained from, later
/// documents are stored compressed, and every event reads back as on SQLite,
/// its leaf recomputed from what is read equal to the one its log holds.
#[test]
fn postgresql_documents_compress_once_a_dictionary_is_trained_and_read_back_whole() {
    let (_dir, sqlite, database) = filled("evident_doc_dictionaries");
    let (mut client, postgres) = migrated_from(&database, 4);
    let (text, packed, ..) = stored_docs(&mut client);
    assert_eq!((text, packed), (960, 0));
    // 960 events stored; 2,048 more sampled, then the dictionary, then 500 compressed.
    for store in [&sqlite as &dyn Store, &postgres] {
        append_events(store, "acme", 3000..5048, 256);
        append_events(store, "globex", 6000..6500, 100);
    }
    let (text, packed, text_bytes, packed_bytes, dictionaries) = stored_docs(&mut client);
    assert_eq!(dictionaries, [(1, 960 + 2048)]);
    assert_eq!((text, packed), (960 + 2048, 500));
    assert!(
        packed_bytes * 3.0 < text_bytes,
        "{packed_bytes} bytes compressed against {text_bytes} as text"
    );
    for tenant in ["acme", "acme-eu", "globex"] {
        assert_eq!(
            stored_without_ids(&postgres, tenant),
            stored_without_ids(&sqlite, tenant),
            "{tenant}"
        );
        assert_eq!(
            postgres.event_leaf_hashes(tenant, 0, 10_000).unwrap(),
            postgres.leaf_hashes(tenant).unwrap(),
            "{tenant}"
        );
    }
    // A store opened afresh (its dictionaries not loaded yet: read-only, as
    // `verify --store` opens it) reads them too.
    let reader = PostgresStore::open_read_only(database.url()).unwrap();
    assert_eq!(
        stored_without_ids(&reader, "globex"),
        stored_without_ids(&sqlite, "globex")
    );
    for text in ["secret", "action:license.revoked", "actor:ada@acme.example"] {
        for scope in [&["acme"][..], &["acme", "acme-eu"]] {
            assert_eq!(
                answers(&postgres, scope, text),
                answers(&sqlite, scope, text),
                "{scope:?} {text}"
            );
        }
    }
}

/// Two servers on one database, both sampling toward the first dictionary:
/// the first to keep it numbers it; the other, finding the number taken,
/// compresses with that one. Each reads what the other wrote.
#[test]
fn two_postgresql_servers_share_the_dictionary_kept_first() {
    let database = scratch("evident_doc_dictionary_race");
    let first = PostgresStore::open(database.url()).unwrap();
    fill(&first);
    let second = PostgresStore::open(database.url()).unwrap();
    // Each samples 2,048 documents (the first its 960 and 1,088 more) before
    // either trains; each trains as it next appends.
    append_events(&first, "acme", 3000..4088, 512);
    append_events(&second, "globex", 6000..8048, 512);
    append_events(&first, "acme", 4088..4188, 100);
    append_events(&second, "globex", 8048..8148, 100);
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    let (_, packed, .., dictionaries) = stored_docs(&mut client);
    assert_eq!(dictionaries, [(1, 2048)]);
    assert_eq!(packed, 200);
    let numbers: Vec<i32> = client
        .query(
            "SELECT DISTINCT get_byte(packed, 0) FROM events WHERE packed IS NOT NULL",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(numbers, [1]);
    for tenant in ["acme", "globex"] {
        let expected = first.leaf_hashes(tenant).unwrap();
        assert_eq!(
            first.event_leaf_hashes(tenant, 0, 10_000).unwrap(),
            expected
        );
        assert_eq!(
            second.event_leaf_hashes(tenant, 0, 10_000).unwrap(),
            expected
        );
    }
}

/// Totals of actions alone (and of categories, read as their actions) are
/// summed from the rows each append adds to `action_counts`, folded into one
/// row per action as a tenant's log passes each multiple of 4,096: every
/// total answers as SQLite's, before and after a fold, and a store taken
/// back to before the counts is counted at migration.
#[test]
fn postgresql_totals_of_actions_sum_counts_folded_as_logs_grow() {
    let (_dir, sqlite, database) = filled("evident_action_counts");
    let (mut client, postgres) = migrated_from(&database, 5);
    let rows = |client: &mut postgres::Client, tenant: &str| -> (i64, i64) {
        let row = client
            .query_one(
                "SELECT count(*), count(DISTINCT action) FROM action_counts
                 WHERE tenant_no = (SELECT no FROM tenants WHERE id = $1)",
                &[&tenant],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let totals = [
        "action:user.login",
        "action:user.login,license.revoked",
        "action:user.*",
        "category:security",
        "category:security,uncategorized",
    ];
    let same_totals = |label: &str| {
        for text in totals {
            let filter = evident_core::query::parse(text).unwrap();
            let scope = TenantScope {
                tenants: vec!["acme".into(), "acme-eu".into()],
            };
            assert_eq!(
                postgres.count(&scope, &filter, now()).unwrap(),
                sqlite.count(&scope, &filter, now()).unwrap(),
                "{label}: {text}"
            );
        }
    };
    // Counted at migration: one row per action.
    let (counted, actions) = rows(&mut client, "acme");
    assert_eq!(counted, actions);
    same_totals("migrated");
    // Appends of a few events each add rows; 4,096 passed, they are folded.
    for store in [&sqlite as &dyn Store, &postgres] {
        append_events(store, "acme", 10_000..13_800, 40);
    }
    let (before, actions) = rows(&mut client, "acme");
    assert_eq!(before, actions * (1 + 95));
    same_totals("before the fold");
    // 4,040 events, then 4,080; the next append passes 4,096 and folds; three more follow.
    for store in [&sqlite as &dyn Store, &postgres] {
        append_events(store, "acme", 13_800..14_000, 40);
    }
    let (after, _) = rows(&mut client, "acme");
    assert_eq!(after, actions * (1 + 3));
    same_totals("after the fold");
}

/// Totals of time bounds alone sum the whole days from the rows each append
/// adds to `day_counts` (folded as `action_counts` are) and count the
/// partial days at the ends: every pair of bounds at, just before and just
/// after midnight, at noon, or open, answers as SQLite's, after migration,
/// before a fold and after it; a count changed by hand is what the total
/// reads.
#[test]
fn postgresql_totals_of_time_ranges_sum_day_counts_and_count_the_ends() {
    let (_dir, sqlite, database) = filled("evident_day_counts");
    let (mut client, postgres) = migrated_from(&database, 6);
    let rows = |client: &mut postgres::Client| -> (i64, i64) {
        let row = client
            .query_one(
                "SELECT count(*), count(DISTINCT day) FROM day_counts
                 WHERE tenant_no = (SELECT no FROM tenants WHERE id = 'acme')",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    // Bounds around days the events occurred on (they span 40 days before now).
    let midnight = now().as_second() - 86_400 * 20;
    let mut bounds = vec![None];
    for second in [midnight - 86_400 * 30, midnight, midnight + 86_400 * 3] {
        let micros = second * 1_000_000;
        bounds.extend(
            [micros - 1, micros, micros + 1, micros + 43_200_000_000]
                .map(|micros| Some(Timestamp::from_microsecond(micros).unwrap())),
        );
    }
    let same_totals = |label: &str| {
        let mut counted = 0;
        for tenants in [
            vec!["acme".to_owned()],
            vec!["acme".to_owned(), "acme-eu".to_owned()],
        ] {
            let scope = TenantScope { tenants };
            for from in &bounds {
                for to in &bounds {
                    let mut filter = Filter::default();
                    if let Some(from) = from {
                        filter = filter.with(false, Condition::From(TimeBound::Instant(*from)));
                    }
                    if let Some(to) = to {
                        filter = filter.with(false, Condition::To(TimeBound::Instant(*to)));
                    }
                    let expected = sqlite.count(&scope, &filter, now()).unwrap();
                    assert_eq!(
                        postgres.count(&scope, &filter, now()).unwrap(),
                        expected,
                        "{label}: from {from:?} to {to:?}"
                    );
                    counted += u64::from(expected > 0);
                }
            }
        }
        assert!(counted > 50, "{label}: {counted} totals above 0");
    };
    let (counted, days) = rows(&mut client);
    assert_eq!(counted, days);
    same_totals("migrated");
    for store in [&sqlite as &dyn Store, &postgres] {
        append_events(store, "acme", 10_000..13_800, 40);
    }
    let (before, _) = rows(&mut client);
    assert!(before > 2 * counted, "{before} rows before the fold");
    same_totals("before the fold");
    for store in [&sqlite as &dyn Store, &postgres] {
        append_events(store, "acme", 13_800..14_000, 40);
    }
    let (after, days) = rows(&mut client);
    assert!(
        after < before,
        "{after} rows after the fold, {before} before"
    );
    assert!(
        after <= days * 4,
        "{after} rows of {days} days after the fold"
    );
    same_totals("after the fold");
    // The total of whole days is read from the counts.
    let filter = Filter::default()
        .with(
            false,
            Condition::From(TimeBound::Instant(
                Timestamp::from_second(midnight).unwrap(),
            )),
        )
        .with(
            false,
            Condition::To(TimeBound::Instant(
                Timestamp::from_second(midnight + 86_400 * 3 - 1).unwrap(),
            )),
        );
    let scope = TenantScope {
        tenants: vec!["acme".into()],
    };
    let before = postgres.count(&scope, &filter, now()).unwrap();
    client
        .execute(
            "INSERT INTO day_counts (tenant_no, day, events)
             SELECT no, $1::bigint, 1000 FROM tenants WHERE id = 'acme'",
            &[&(midnight / 86_400 + 1)],
        )
        .unwrap();
    assert_eq!(
        postgres.count(&scope, &filter, now()).unwrap(),
        before + 1000
    );
}
