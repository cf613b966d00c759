//! No filter of the API makes PostgreSQL read the whole events table: on a
//! table large enough for the planner to weigh its choices (many tenants,
//! fresh statistics), every page and every exact total is served by an index.

use evident_core::{Actor, ActorType, Context, NewEvent, Outcome, Target};
use evident_store::postgres::ScratchDatabase;
use evident_store::{
    AppendBatch, EventQuery, NewTenant, PageStart, PostgresStore, SortOrder, Store, TenantScope,
};
use jiff::Timestamp;
use serde_json::json;

/// Every key of the query language, free text both ways, and combinations.
const FILTERS: &[&str] = &[
    "",
    "action:user.login",
    "action:user.login,license.revoked",
    "action:user.*",
    "category:security",
    "actor:usr_7",
    "actor:person7@acme.example",
    "actor:person1*",
    "target:t_42",
    "target:license:t_42",
    "ip:203.0.113.0/24",
    "channel:portal",
    "outcome:failure",
    "from:2026-05-01 to:2026-05-03",
    "offboarding",
    "rotated",
    "\"secret key\"",
    "-channel:portal",
    "action:user.login channel:api outcome:failure",
    "actor:usr_7 rotated",
];

fn now() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn event(n: usize) -> NewEvent {
    let actions = [
        "user.login",
        "user.deleted",
        "license.revoked",
        "role.granted",
        "license.created",
    ];
    NewEvent {
        category: if n.is_multiple_of(5) {
            "security"
        } else {
            "licensing"
        }
        .into(),
        action: actions[n % actions.len()].into(),
        occurred_at: Timestamp::from_second(
            now().as_second() - 86_400 * 60 + (n as i64 * 7919) % (86_400 * 60),
        )
        .unwrap(),
        actor: Actor {
            actor_type: ActorType::User,
            id: Some(format!("usr_{}", n % 50)),
            name: Some(format!("Person {}", n % 50)),
            email: Some(format!("person{}@acme.example", n % 50)),
        },
        targets: vec![Target {
            target_type: "license".into(),
            id: format!("t_{}", n % 400),
            name: None,
            email: None,
        }],
        context: Context {
            ip: Some(
                format!("{}.0.113.{}", [203, 198][n % 2], n % 250)
                    .parse()
                    .unwrap(),
            ),
            user_agent: None,
        },
        channel: Some(["portal", "api", "mcp"][n % 3].into()),
        outcome: if n.is_multiple_of(9) {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        description: Some(match n % 40 {
            0 => "offboarding of a contractor".into(),
            1..=12 => "rotated the secret key".into(),
            _ => format!("routine change {}", n % 1000),
        }),
        metadata: json!({"n": n}).as_object().unwrap().clone(),
        idempotency_key: None,
    }
}

#[test]
fn every_filter_is_served_by_an_index() {
    let database = ScratchDatabase::for_tests("evident_plans").unwrap();
    let store = PostgresStore::open(database.url()).unwrap();
    // Twelve tenants; the largest holds a fifth of the events, as in the benchmark's mix.
    let tenants: Vec<String> = (0..12).map(|t| format!("tenant-{t}")).collect();
    for (t, id) in tenants.iter().enumerate() {
        store
            .create_tenant(&NewTenant {
                id: id.clone(),
                name: id.clone(),
                parent: (t > 0 && t < 4).then(|| "tenant-0".to_owned()),
            })
            .unwrap();
    }
    let mut n = 0;
    for round in 0..12 {
        let batches: Vec<AppendBatch> = tenants
            .iter()
            .enumerate()
            .map(|(t, tenant)| {
                let count = if t == 0 { 500 } else { 180 };
                let events = (0..count).map(|i| event(n + i * 12 + t)).collect();
                AppendBatch {
                    tenant: tenant.clone(),
                    events,
                }
            })
            .collect();
        n += round * 7000;
        store.append(&batches, now()).unwrap();
    }
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    client.batch_execute("VACUUM ANALYZE").unwrap();
    let mut checked = 0;
    for scope in [vec!["tenant-0".to_owned()], tenants[..4].to_vec()] {
        for filter in FILTERS {
            for start in [PageStart::First, PageStart::Offset(100)] {
                let query = EventQuery {
                    scope: TenantScope {
                        tenants: scope.clone(),
                    },
                    filter: evident_core::query::parse(filter).unwrap(),
                    sort: SortOrder::Desc,
                    start,
                    limit: 50,
                    now: now(),
                };
                let (page, total) = store.explain(&query).unwrap();
                if ["actor:usr_7", "actor:person7@acme.example"].contains(filter) {
                    // An actor's id and email, each counted from its index alone.
                    assert!(
                        total.contains("Index Only Scan") && !total.contains("Heap Scan"),
                        "{filter:?} over {scope:?}:\n{total}"
                    );
                }
                for plan in [page, total] {
                    assert!(
                        !plan.contains("Seq Scan"),
                        "{filter:?} over {scope:?}:\n{plan}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 2 * FILTERS.len() * 2 * 2);

    // A term in three events of ten of the largest tenant: its pages walk the
    // time index instead of fetching every match, and hold the same events.
    let mut expected: Vec<(Timestamp, u64)> = store
        .stored_events("tenant-0", 0, 100_000)
        .unwrap()
        .into_iter()
        .filter(|stored| {
            stored
                .event
                .description
                .as_deref()
                .is_some_and(|text| text.starts_with("rotated"))
        })
        .map(|stored| (stored.event.occurred_at, stored.event.seq))
        .collect();
    expected.sort_by(|left, right| right.cmp(left));
    assert!(expected.len() > 1000, "{}", expected.len());
    for (start, skip) in [(PageStart::First, 0), (PageStart::Offset(100), 100)] {
        let page = store
            .query(&EventQuery {
                scope: TenantScope::single("tenant-0"),
                filter: evident_core::query::parse("rotated").unwrap(),
                sort: SortOrder::Desc,
                start,
                limit: 50,
                now: now(),
            })
            .unwrap();
        let found: Vec<(Timestamp, u64)> = page
            .events
            .iter()
            .map(|event| (event.occurred_at, event.seq))
            .collect();
        assert_eq!(found, expected[skip..skip + 50]);
    }
}
