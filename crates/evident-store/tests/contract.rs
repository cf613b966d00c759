//! The Store contract: one suite, instantiated for every backend.
//!
//! Each case is a function of `&dyn Store`; `contract_suite!` makes one test
//! per case per backend, each on a fresh, empty store.

use evident_store::Store;

macro_rules! contract_suite {
    ($backend:ident, $open:expr, [$($case:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $case() {
                    let fixture = $open;
                    super::cases::$case(fixture.store());
                }
            )*
        }
    };
}

/// A fresh PostgreSQL store in a database of its own, dropped after the case.
struct PostgresFixture {
    store: evident_store::PostgresStore,
    _database: evident_store::postgres::ScratchDatabase,
}

impl PostgresFixture {
    fn new() -> PostgresFixture {
        let database = evident_store::postgres::ScratchDatabase::for_tests("evident_contract")
            .expect("a scratch database (is PostgreSQL running?)");
        let store = evident_store::PostgresStore::open(database.url()).expect("open store");
        PostgresFixture {
            store,
            _database: database,
        }
    }

    fn store(&self) -> &dyn Store {
        &self.store
    }
}

/// A fresh SQLite store in a temporary directory.
struct SqliteFixture {
    _dir: tempfile::TempDir,
    store: evident_store::SqliteStore,
}

impl SqliteFixture {
    fn new() -> SqliteFixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = evident_store::SqliteStore::open(dir.path()).expect("open store");
        SqliteFixture { _dir: dir, store }
    }

    fn store(&self) -> &dyn Store {
        &self.store
    }
}

/// Every case, for one backend.
macro_rules! every_case {
    ($backend:ident, $open:expr) => {
        contract_suite!(
            $backend,
            $open,
            [
                tenants_are_created_read_listed_and_renamed,
                tenant_errors,
                subtree_holds_descendants_at_any_depth,
                keys_are_found_by_hash_until_revoked,
                seq_is_contiguous_per_tenant,
                a_failing_batch_leaves_the_others_committed,
                idempotency_keys_store_once,
                every_condition_selects_exactly_its_events,
                negation_includes_events_without_the_value,
                sort_orders_and_ties,
                cursor_and_offset_paging_agree,
                cursors_survive_concurrent_appends,
                scopes_isolate_tenants,
                stored_fields_round_trip,
                the_log_grows_with_every_append,
                checkpoints_are_kept_per_size,
                dense_and_sparse_matches_page_alike,
                events_matching_twice_are_listed_once,
                identifier_words_match_identifiers,
                exports_read_a_snapshot_of_the_view_in_page_order,
                viewer_links_start_one_session_until_expired_or_revoked,
                tenant_ui_settings_are_replaced_whole,
                ended_sessions_stay_ended_until_they_expire,
            ]
        );
    };
}

every_case!(sqlite, crate::SqliteFixture::new());
every_case!(postgres, crate::PostgresFixture::new());

/// What one store appended, read back by a store opened anew on the same data.
fn reopened_store_keeps_the_log(open: impl Fn() -> Box<dyn Store>) {
    let first = {
        let store = open();
        cases::tenant(store.as_ref(), "acme", None);
        cases::append(store.as_ref(), "acme", (0..5).map(cases::sample).collect())
    };
    let store = open();
    let page = cases::everything(store.as_ref(), &["acme"]);
    assert_eq!(page.len(), 5);
    assert_eq!(
        page.iter().map(|event| event.id).collect::<Vec<_>>(),
        first.iter().map(|receipt| receipt.id).collect::<Vec<_>>()
    );
    let next = cases::append(store.as_ref(), "acme", vec![cases::sample(9)]);
    assert_eq!(next[0].seq, 5);
    cases::assert_tree_matches_leaves(store.as_ref(), "acme", 6);
}

#[test]
fn appended_events_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    reopened_store_keeps_the_log(|| {
        Box::new(evident_store::SqliteStore::open(dir.path()).unwrap())
    });
}

#[test]
fn appended_events_survive_reconnecting() {
    let database = evident_store::postgres::ScratchDatabase::for_tests("evident_contract").unwrap();
    reopened_store_keeps_the_log(|| {
        Box::new(evident_store::PostgresStore::open(database.url()).unwrap())
    });
}

mod cases {
    use std::collections::HashSet;

    use evident_core::access::Scope;
    use evident_core::{
        Actor, ActorMatch, ActorType, AgeUnit, Condition, Context, Event, Filter, NewEvent,
        Outcome, Target, TargetMatch, TextTerm, TimeBound,
    };
    use evident_store::{
        AppendBatch, BatchError, Cursor, EventQuery, ExportView, NewApiKey, NewTenant,
        NewViewerLink, PageStart, Receipt, SortOrder, Store, StoreError, TenantScope,
    };
    use jiff::Timestamp;
    use serde_json::json;

    pub fn now() -> Timestamp {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    pub fn tenant(store: &dyn Store, id: &str, parent: Option<&str>) {
        store
            .create_tenant(&NewTenant {
                id: id.into(),
                name: format!("{id} name"),
                parent: parent.map(Into::into),
            })
            .unwrap();
    }

    /// A varied event: `n` picks the actor, action, target, channel, outcome and time.
    pub fn sample(n: usize) -> NewEvent {
        let actors = [
            Actor {
                actor_type: ActorType::User,
                id: Some("usr_ada".into()),
                name: Some("Ada Lovelace".into()),
                email: Some("Ada@Acme.example".into()),
            },
            Actor {
                actor_type: ActorType::User,
                id: Some("usr_grace".into()),
                name: Some("Grace Hopper".into()),
                email: Some("grace@acme.example".into()),
            },
            Actor {
                actor_type: ActorType::Service,
                id: Some("svc_scim".into()),
                name: Some("SCIM".into()),
                email: None,
            },
            Actor {
                actor_type: ActorType::System,
                id: None,
                name: None,
                email: None,
            },
        ];
        let actions = [
            "user.login",
            "user.deleted",
            "license.revoked",
            "KeysetConfigChanged",
        ];
        let pools = ["enterprise", "trial"];
        let ips = [
            "203.0.113.5",
            "203.0.113.200",
            "2001:db8::1",
            "198.51.100.9",
        ];
        NewEvent {
            category: "uncategorized".into(),
            action: actions[n % actions.len()].into(),
            occurred_at: Timestamp::from_second(
                now().as_second() - 86_400 * 40 + (n as i64 * 7919) % (86_400 * 30),
            )
            .unwrap(),
            actor: actors[n % actors.len()].clone(),
            targets: vec![Target {
                target_type: if n.is_multiple_of(2) {
                    "license".into()
                } else {
                    "keyset".into()
                },
                id: format!("t_{}", n % 5),
                name: Some(format!("Item {}", n % 5)),
                email: None,
            }],
            context: Context {
                ip: (n % 5 != 4).then(|| ips[n % ips.len()].parse().unwrap()),
                user_agent: Some("curl/8".into()),
            },
            channel: Some(["portal", "api"][n % 2].into()),
            outcome: if n.is_multiple_of(7) {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            description: Some(if n.is_multiple_of(3) {
                "rotated the secret key".into()
            } else {
                "routine change".into()
            }),
            metadata: json!({"pool": pools[n % 2], "n": n})
                .as_object()
                .unwrap()
                .clone(),
            idempotency_key: None,
        }
    }

    pub fn append(store: &dyn Store, tenant: &str, events: Vec<NewEvent>) -> Vec<Receipt> {
        let mut results = store
            .append(
                &[AppendBatch {
                    tenant: tenant.into(),
                    events,
                }],
                Timestamp::now(),
            )
            .unwrap();
        results.remove(0).unwrap()
    }

    fn query(
        scope: &[&str],
        filter: Filter,
        sort: SortOrder,
        start: PageStart,
        limit: u32,
    ) -> EventQuery {
        EventQuery {
            scope: TenantScope {
                tenants: scope.iter().map(|tenant| tenant.to_string()).collect(),
            },
            filter,
            sort,
            start,
            limit,
            now: now(),
        }
    }

    /// Every matching event, oldest first, paging 7 at a time.
    fn matching(store: &dyn Store, scope: &[&str], filter: &Filter) -> Vec<Event> {
        let mut events = Vec::new();
        let mut start = PageStart::First;
        loop {
            let page = store
                .query(&query(scope, filter.clone(), SortOrder::Asc, start, 7))
                .unwrap();
            events.extend(page.events);
            match page.next_cursor {
                Some(cursor) => start = PageStart::After(cursor),
                None => return events,
            }
        }
    }

    /// The events of a numbered page, oldest first: `limit` of them after the first `skip`.
    fn numbered(
        store: &dyn Store,
        scope: &[&str],
        filter: &Filter,
        skip: u64,
        limit: u32,
    ) -> Vec<Event> {
        store
            .query(&query(
                scope,
                filter.clone(),
                SortOrder::Asc,
                PageStart::Offset(skip),
                limit,
            ))
            .unwrap()
            .events
    }

    pub fn everything(store: &dyn Store, scope: &[&str]) -> Vec<Event> {
        matching(store, scope, &Filter::default())
    }

    fn seqs(events: &[Event]) -> Vec<u64> {
        let mut seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
        seqs.sort_unstable();
        seqs
    }

    pub fn tenants_are_created_read_listed_and_renamed(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "globex", None);
        let acme = store.tenant("acme").unwrap().unwrap();
        assert_eq!(
            (acme.id.as_str(), acme.name.as_str(), acme.parent.as_deref()),
            ("acme", "acme name", None)
        );
        assert_eq!(
            store
                .tenants()
                .unwrap()
                .iter()
                .map(|tenant| tenant.id.as_str())
                .collect::<Vec<_>>(),
            vec!["acme", "globex"]
        );
        let renamed = store.rename_tenant("acme", "Acme Corp").unwrap();
        assert_eq!(renamed.name, "Acme Corp");
        assert_eq!(store.tenant("acme").unwrap().unwrap().name, "Acme Corp");
        assert!(store.tenant("nobody").unwrap().is_none());
    }

    pub fn tenant_errors(store: &dyn Store) {
        tenant(store, "acme", None);
        let again = store.create_tenant(&NewTenant {
            id: "acme".into(),
            name: "x".into(),
            parent: None,
        });
        assert!(matches!(again, Err(StoreError::TenantExists(id)) if id == "acme"));
        let orphan = store.create_tenant(&NewTenant {
            id: "child".into(),
            name: "x".into(),
            parent: Some("nobody".into()),
        });
        assert!(matches!(orphan, Err(StoreError::TenantNotFound(id)) if id == "nobody"));
        assert!(matches!(
            store.rename_tenant("nobody", "x"),
            Err(StoreError::TenantNotFound(_))
        ));
        assert_eq!(
            store.tenants().unwrap().len(),
            1,
            "nothing else was created"
        );
    }

    pub fn subtree_holds_descendants_at_any_depth(store: &dyn Store) {
        tenant(store, "partner", None);
        tenant(store, "a", Some("partner"));
        tenant(store, "b", Some("partner"));
        tenant(store, "a-1", Some("a"));
        tenant(store, "other", None);
        let subtree = store.subtree("partner").unwrap();
        assert_eq!(subtree[0], "partner");
        let rest: HashSet<&str> = subtree[1..].iter().map(String::as_str).collect();
        assert_eq!(rest, HashSet::from(["a", "b", "a-1"]));
        assert_eq!(store.subtree("a").unwrap(), vec!["a", "a-1"]);
        assert!(store.subtree("nobody").unwrap().is_empty());
    }

    pub fn keys_are_found_by_hash_until_revoked(store: &dyn Store) {
        tenant(store, "acme", None);
        let key = NewApiKey {
            id: "key_1".into(),
            name: "ci".into(),
            tenant: Some("acme".into()),
            scopes: vec![Scope::Ingest, Scope::Read],
            hash: [7; 32],
        };
        let created = store.create_key(&key).unwrap();
        assert_eq!(created.scopes, vec![Scope::Ingest, Scope::Read]);
        let (found, hash) = store.active_key_by_hash(&[7; 32]).unwrap().unwrap();
        assert_eq!((found.id.as_str(), hash), ("key_1", [7; 32]));
        assert!(store.active_key_by_hash(&[8; 32]).unwrap().is_none());
        assert_eq!(store.key("key_1").unwrap(), Some(found));
        assert_eq!(store.key("key_x").unwrap(), None);
        let revoked = store.revoke_key("key_1").unwrap();
        assert!(revoked.revoked_at.is_some());
        assert_eq!(store.key("key_1").unwrap(), Some(revoked.clone()));
        assert!(store.active_key_by_hash(&[7; 32]).unwrap().is_none());
        assert!(store.keys().unwrap()[0].revoked_at.is_some());
        assert!(matches!(
            store.revoke_key("key_x"),
            Err(StoreError::KeyNotFound(_))
        ));
        let unbound = NewApiKey {
            id: "key_2".into(),
            name: "x".into(),
            tenant: Some("nobody".into()),
            scopes: vec![Scope::Read],
            hash: [9; 32],
        };
        assert!(matches!(
            store.create_key(&unbound),
            Err(StoreError::TenantNotFound(_))
        ));
    }

    pub fn viewer_links_start_one_session_until_expired_or_revoked(store: &dyn Store) {
        tenant(store, "acme", None);
        let start = now();
        let link = |id: &str, token: u8, expires_at: Timestamp| NewViewerLink {
            id: id.into(),
            tenant: "acme".into(),
            token_hash: [token; 32],
            include_descendants: true,
            query: Some("target:license:lic_93jd".into()),
            title: Some("License lic_93jd".into()),
            created_by: "key_1".into(),
            expires_at,
        };
        let expires_at = start + jiff::SignedDuration::from_secs(3600);
        let created = store
            .create_viewer_link(&link("vl_1", 1, expires_at))
            .unwrap();
        assert_eq!(
            (
                created.tenant.as_str(),
                created.query.as_deref(),
                created.expires_at
            ),
            ("acme", Some("target:license:lic_93jd"), expires_at)
        );
        assert_eq!((created.used_at, created.revoked_at), (None, None));
        assert!(created.is_live(start));
        assert_eq!(store.viewer_link("vl_1").unwrap(), Some(created.clone()));

        // Single use: the second redemption gets nothing.
        let redeemed = store.redeem_viewer_link(&[1; 32], start).unwrap().unwrap();
        assert_eq!(
            (redeemed.id.as_str(), redeemed.used_at),
            ("vl_1", Some(start))
        );
        assert_eq!(store.redeem_viewer_link(&[1; 32], start).unwrap(), None);
        assert_eq!(store.redeem_viewer_link(&[9; 32], start).unwrap(), None);

        // An expired link starts nothing, and its session is over.
        store.create_viewer_link(&link("vl_2", 2, start)).unwrap();
        assert_eq!(store.redeem_viewer_link(&[2; 32], start).unwrap(), None);
        assert!(!store.viewer_link("vl_2").unwrap().unwrap().is_live(start));

        // A revoked link starts nothing, and the session it started ends.
        store
            .create_viewer_link(&link("vl_3", 3, expires_at))
            .unwrap();
        let revoked = store.revoke_viewer_link("vl_3").unwrap();
        assert!(revoked.revoked_at.is_some() && !revoked.is_live(start));
        assert_eq!(store.redeem_viewer_link(&[3; 32], start).unwrap(), None);
        assert!(!store.revoke_viewer_link("vl_1").unwrap().is_live(start));
        assert_eq!(
            store.revoke_viewer_link("vl_1").unwrap().revoked_at,
            store.viewer_link("vl_1").unwrap().unwrap().revoked_at
        );
        assert!(matches!(
            store.revoke_viewer_link("vl_x"),
            Err(StoreError::ViewerLinkNotFound(_))
        ));
        let mut elsewhere = link("vl_4", 4, expires_at);
        elsewhere.tenant = "nobody".into();
        assert!(matches!(
            store.create_viewer_link(&elsewhere),
            Err(StoreError::TenantNotFound(_))
        ));
        assert_eq!(store.viewer_link("vl_4").unwrap(), None);
        let listed: Vec<String> = store
            .viewer_links("acme")
            .unwrap()
            .into_iter()
            .map(|link| link.id)
            .collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(sorted, ["vl_1", "vl_2", "vl_3"]);
        assert!(store.viewer_links("nobody").unwrap().is_empty());
    }

    pub fn ended_sessions_stay_ended_until_they_expire(store: &dyn Store) {
        // The store forgets by the real clock, so these times are real ones.
        let later = Timestamp::now() + jiff::SignedDuration::from_hours(1);
        assert!(!store.session_ended(&[1; 32]).unwrap());
        store.end_session(&[1; 32], later).unwrap();
        store.end_session(&[1; 32], later).unwrap();
        assert!(store.session_ended(&[1; 32]).unwrap());
        assert!(!store.session_ended(&[2; 32]).unwrap());
        // One already past its expiry is forgotten at the next sign-out.
        store
            .end_session(
                &[3; 32],
                Timestamp::now() - jiff::SignedDuration::from_hours(1),
            )
            .unwrap();
        store.end_session(&[4; 32], later).unwrap();
        assert!(!store.session_ended(&[3; 32]).unwrap());
        assert!(store.session_ended(&[1; 32]).unwrap() && store.session_ended(&[4; 32]).unwrap());
    }

    pub fn tenant_ui_settings_are_replaced_whole(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "globex", None);
        assert_eq!(store.tenant_ui("acme").unwrap(), None);
        store
            .put_tenant_ui("acme", r##"{"accent_color":"#0a7"}"##)
            .unwrap();
        store
            .put_tenant_ui("acme", r##"{"accent_color":"#123456"}"##)
            .unwrap();
        assert_eq!(
            store.tenant_ui("acme").unwrap().as_deref(),
            Some(r##"{"accent_color":"#123456"}"##)
        );
        assert_eq!(store.tenant_ui("globex").unwrap(), None);
        assert!(matches!(
            store.put_tenant_ui("nobody", "{}"),
            Err(StoreError::TenantNotFound(_))
        ));
    }

    pub fn seq_is_contiguous_per_tenant(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "globex", None);
        let first = append(store, "acme", (0..3).map(sample).collect());
        let other = append(store, "globex", (0..2).map(sample).collect());
        let group = store
            .append(
                &[
                    AppendBatch {
                        tenant: "acme".into(),
                        events: (3..5).map(sample).collect(),
                    },
                    AppendBatch {
                        tenant: "globex".into(),
                        events: vec![sample(9)],
                    },
                    AppendBatch {
                        tenant: "acme".into(),
                        events: vec![sample(5)],
                    },
                ],
                Timestamp::now(),
            )
            .unwrap();
        let acme: Vec<u64> = first
            .iter()
            .chain(group[0].as_ref().unwrap())
            .chain(group[2].as_ref().unwrap())
            .map(|receipt| receipt.seq)
            .collect();
        assert_eq!(acme, vec![0, 1, 2, 3, 4, 5]);
        let globex: Vec<u64> = other
            .iter()
            .chain(group[1].as_ref().unwrap())
            .map(|receipt| receipt.seq)
            .collect();
        assert_eq!(globex, vec![0, 1, 2]);
        let ids: HashSet<_> = first
            .iter()
            .chain(&other)
            .map(|receipt| receipt.id)
            .collect();
        assert_eq!(ids.len(), 5, "distinct ids");
        // Receipts follow input order.
        for receipt in &first {
            let event = store
                .get(&TenantScope::single("acme"), receipt.id)
                .unwrap()
                .unwrap();
            assert_eq!(event.seq, receipt.seq);
            assert_eq!(event.metadata["n"], receipt.seq);
        }
    }

    pub fn a_failing_batch_leaves_the_others_committed(store: &dyn Store) {
        tenant(store, "acme", None);
        let results = store
            .append(
                &[
                    AppendBatch {
                        tenant: "acme".into(),
                        events: vec![sample(1)],
                    },
                    AppendBatch {
                        tenant: "nobody".into(),
                        events: vec![sample(2), sample(3)],
                    },
                    AppendBatch {
                        tenant: "acme".into(),
                        events: vec![sample(4)],
                    },
                ],
                Timestamp::now(),
            )
            .unwrap();
        assert_eq!(results[1], Err(BatchError::TenantNotFound("nobody".into())));
        assert_eq!(results[0].as_ref().unwrap()[0].seq, 0);
        assert_eq!(results[2].as_ref().unwrap()[0].seq, 1);
        assert_eq!(everything(store, &["acme"]).len(), 2);
    }

    pub fn idempotency_keys_store_once(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "globex", None);
        let keyed = |n: usize, key: &str| NewEvent {
            idempotency_key: Some(key.into()),
            ..sample(n)
        };
        let first = append(store, "acme", vec![keyed(1, "k1")]);
        let again = append(
            store,
            "acme",
            vec![keyed(2, "k1"), keyed(3, "k2"), keyed(4, "k2")],
        );
        assert_eq!(again[0], first[0], "a repeat returns the first receipt");
        assert_eq!(again[1].seq, 1);
        assert_eq!(again[2], again[1], "twice in one batch: stored once");
        let other = append(store, "globex", vec![keyed(5, "k1")]);
        assert_ne!(other[0].id, first[0].id, "keys are per tenant");
        assert_eq!(seqs(&everything(store, &["acme"])), vec![0, 1]);
        let next = append(store, "acme", vec![sample(6)]);
        assert_eq!(next[0].seq, 2, "a repeat does not advance seq");
    }

    /// A condition's name, the condition, and which events it must select.
    type ConditionCase = (&'static str, Condition, Box<dyn Fn(&Event) -> bool>);

    fn condition_cases() -> Vec<ConditionCase> {
        let date = |text: &str| TimeBound::Date(text.parse().unwrap());
        let instant = |text: &str| TimeBound::Instant(text.parse().unwrap());
        let day = |event: &Event| event.occurred_at.to_string()[..10].to_owned();
        vec![
            (
                "action",
                Condition::Action(vec!["user.login".into(), "license.revoked".into()]),
                Box::new(|e| e.action == "user.login" || e.action == "license.revoked"),
            ),
            (
                "action glob",
                Condition::Action(vec!["user.*".into()]),
                Box::new(|e| e.action.starts_with("user.")),
            ),
            (
                "category",
                Condition::Category(vec!["uncategorized".into()]),
                Box::new(|_| true),
            ),
            (
                "actor id",
                Condition::Actor(vec![ActorMatch::Exact("svc_scim".into())]),
                Box::new(|e| e.actor.id.as_deref() == Some("svc_scim")),
            ),
            (
                "actor email, any case",
                Condition::Actor(vec![ActorMatch::Exact("ada@ACME.example".into())]),
                Box::new(|e| e.actor.id.as_deref() == Some("usr_ada")),
            ),
            (
                "actor email prefix",
                Condition::Actor(vec![ActorMatch::EmailPrefix("GRACE@".into())]),
                Box::new(|e| e.actor.id.as_deref() == Some("usr_grace")),
            ),
            (
                "target type:id",
                Condition::Target(vec![TargetMatch {
                    target_type: Some("license".into()),
                    id: "t_2".into(),
                }]),
                Box::new(|e| e.targets[0].target_type == "license" && e.targets[0].id == "t_2"),
            ),
            (
                "target id",
                Condition::Target(vec![TargetMatch {
                    target_type: None,
                    id: "t_3".into(),
                }]),
                Box::new(|e| e.targets[0].id == "t_3"),
            ),
            (
                "channel",
                Condition::Channel(vec!["api".into()]),
                Box::new(|e| e.channel.as_deref() == Some("api")),
            ),
            (
                "outcome",
                Condition::Outcome(vec![Outcome::Failure]),
                Box::new(|e| e.outcome == Outcome::Failure),
            ),
            (
                "ip v4",
                Condition::Ip(vec!["203.0.113.5/32".parse().unwrap()]),
                Box::new(|e| e.context.ip == Some("203.0.113.5".parse().unwrap())),
            ),
            (
                "ip v6",
                Condition::Ip(vec!["2001:db8::1/128".parse().unwrap()]),
                Box::new(|e| e.context.ip == Some("2001:db8::1".parse().unwrap())),
            ),
            (
                "cidr v4",
                Condition::Ip(vec!["203.0.113.0/24".parse().unwrap()]),
                Box::new(|e| {
                    e.context
                        .ip
                        .is_some_and(|ip| ip.to_string().starts_with("203.0.113."))
                }),
            ),
            (
                "cidr v6",
                Condition::Ip(vec!["2001:db8::/32".parse().unwrap()]),
                Box::new(|e| e.context.ip.is_some_and(|ip| ip.is_ipv6())),
            ),
            (
                "from date",
                Condition::From(date("2026-05-01")),
                Box::new(move |e| day(e).as_str() >= "2026-05-01"),
            ),
            (
                "to date, the whole day",
                Condition::To(date("2026-05-01")),
                Box::new(move |e| day(e).as_str() <= "2026-05-01"),
            ),
            (
                "from instant",
                Condition::From(instant("2026-05-10T12:00:00Z")),
                Box::new(|e| e.occurred_at >= "2026-05-10T12:00:00Z".parse().unwrap()),
            ),
            (
                "to instant",
                Condition::To(instant("2026-05-10T12:00:00Z")),
                Box::new(|e| e.occurred_at <= "2026-05-10T12:00:00Z".parse().unwrap()),
            ),
            (
                "ago, from now",
                Condition::From(TimeBound::Ago {
                    amount: 3,
                    unit: AgeUnit::Weeks,
                }),
                Box::new(|e| e.occurred_at >= now() - jiff::SignedDuration::from_hours(21 * 24)),
            ),
            (
                "word prefix in action",
                Condition::Text(TextTerm::Word("lic".into())),
                Box::new(|e| {
                    e.action == "license.revoked" || e.targets[0].target_type == "license"
                }),
            ),
            (
                "email word",
                Condition::Text(TextTerm::Word("ada".into())),
                Box::new(|e| e.actor.id.as_deref() == Some("usr_ada")),
            ),
            (
                "metadata value",
                Condition::Text(TextTerm::Word("ENTERPRISE".into())),
                Box::new(|e| e.metadata["pool"] == "enterprise"),
            ),
            (
                "description word",
                Condition::Text(TextTerm::Word("rotat".into())),
                Box::new(|e| e.description.as_deref() == Some("rotated the secret key")),
            ),
            (
                "camel case",
                Condition::Text(TextTerm::Word("config".into())),
                Box::new(|e| e.action == "KeysetConfigChanged"),
            ),
            (
                "phrase in order",
                Condition::Text(TextTerm::Phrase("secret key".into())),
                Box::new(|e| e.description.as_deref() == Some("rotated the secret key")),
            ),
            (
                "phrase out of order",
                Condition::Text(TextTerm::Phrase("key secret".into())),
                Box::new(|_| false),
            ),
        ]
    }

    fn seeded(store: &dyn Store) -> Vec<Event> {
        tenant(store, "acme", None);
        append(store, "acme", (0..60).map(sample).collect());
        everything(store, &["acme"])
    }

    pub fn every_condition_selects_exactly_its_events(store: &dyn Store) {
        let all = seeded(store);
        for (name, condition, keep) in condition_cases() {
            let filter = Filter::default().with(false, condition);
            let want: Vec<u64> = seqs(
                &all.iter()
                    .filter(|event| keep(event))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let got = matching(store, &["acme"], &filter);
            assert_eq!(seqs(&got), want, "{name}");
            assert_eq!(
                store
                    .count(&TenantScope::single("acme"), &filter, now())
                    .unwrap(),
                want.len() as u64,
                "count: {name}"
            );
        }
        // AND across clauses, OR within one.
        let filter = Filter::default()
            .with(
                false,
                Condition::Action(vec!["user.login".into(), "user.deleted".into()]),
            )
            .with(false, Condition::Channel(vec!["portal".into()]))
            .with(false, Condition::Text(TextTerm::Word("trial".into())));
        let want = seqs(
            &all.iter()
                .filter(|e| {
                    e.action.starts_with("user.")
                        && e.channel.as_deref() == Some("portal")
                        && e.metadata["pool"] == "trial"
                })
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert_eq!(seqs(&matching(store, &["acme"], &filter)), want);
    }

    pub fn negation_includes_events_without_the_value(store: &dyn Store) {
        let all = seeded(store);
        for (name, condition, keep) in condition_cases() {
            let filter = Filter::default().with(true, condition);
            let want = seqs(
                &all.iter()
                    .filter(|event| !keep(event))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            assert_eq!(
                seqs(&matching(store, &["acme"], &filter)),
                want,
                "not {name}"
            );
        }
    }

    pub fn sort_orders_and_ties(store: &dyn Store) {
        tenant(store, "acme", None);
        let at = |text: &str, n: usize| NewEvent {
            occurred_at: text.parse().unwrap(),
            ..sample(n)
        };
        append(
            store,
            "acme",
            vec![
                at("2026-05-02T00:00:00Z", 0),
                at("2026-05-01T00:00:00Z", 1),
                at("2026-05-02T00:00:00Z", 2),
            ],
        );
        let page = |sort| {
            store
                .query(&query(
                    &["acme"],
                    Filter::default(),
                    sort,
                    PageStart::First,
                    10,
                ))
                .unwrap()
        };
        let order = |sort| {
            page(sort)
                .events
                .iter()
                .map(|event| event.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(SortOrder::Desc), vec![2, 0, 1]);
        assert_eq!(order(SortOrder::Asc), vec![1, 0, 2]);
    }

    pub fn cursor_and_offset_paging_agree(store: &dyn Store) {
        let all = seeded(store);
        let filter = Filter::default().with(true, Condition::Outcome(vec![Outcome::Failure]));
        for sort in [SortOrder::Desc, SortOrder::Asc] {
            let mut by_cursor = Vec::new();
            let mut start = PageStart::First;
            let mut offset = 0;
            loop {
                let page = store
                    .query(&query(&["acme"], filter.clone(), sort, start, 7))
                    .unwrap();
                let numbered = store
                    .query(&query(
                        &["acme"],
                        filter.clone(),
                        sort,
                        PageStart::Offset(offset),
                        7,
                    ))
                    .unwrap();
                assert_eq!(
                    page.events.iter().map(|event| event.id).collect::<Vec<_>>(),
                    numbered
                        .events
                        .iter()
                        .map(|event| event.id)
                        .collect::<Vec<_>>()
                );
                offset += 7;
                by_cursor.extend(page.events);
                match page.next_cursor {
                    Some(cursor) => {
                        let decoded = Cursor::decode(&cursor.encode()).unwrap();
                        assert_eq!(decoded, cursor);
                        start = PageStart::After(decoded);
                    }
                    None => break,
                }
            }
            let want = all
                .iter()
                .filter(|event| event.outcome == Outcome::Success)
                .count();
            assert_eq!(by_cursor.len(), want);
            assert_eq!(
                by_cursor
                    .iter()
                    .map(|event| event.id)
                    .collect::<HashSet<_>>()
                    .len(),
                want,
                "each once"
            );
            let (_, total) = store
                .query_with_total(&query(&["acme"], filter.clone(), sort, PageStart::First, 7))
                .unwrap();
            assert_eq!(total, want as u64);
        }
        assert!(matches!(
            Cursor::decode("not a cursor"),
            Err(StoreError::InvalidCursor)
        ));
    }

    pub fn cursors_survive_concurrent_appends(store: &dyn Store) {
        let before: HashSet<_> = seeded(store).iter().map(|event| event.id).collect();
        let mut seen = Vec::new();
        let mut start = PageStart::First;
        let mut round = 0;
        loop {
            let when = if round % 2 == 0 {
                "2026-01-01T00:00:00Z"
            } else {
                "2026-05-31T00:00:00Z"
            };
            append(
                store,
                "acme",
                vec![NewEvent {
                    occurred_at: when.parse().unwrap(),
                    ..sample(round)
                }],
            );
            round += 1;
            let page = store
                .query(&query(
                    &["acme"],
                    Filter::default(),
                    SortOrder::Desc,
                    start,
                    9,
                ))
                .unwrap();
            seen.extend(page.events.iter().map(|event| event.id));
            match page.next_cursor {
                Some(cursor) => start = PageStart::After(cursor),
                None => break,
            }
        }
        let unique: HashSet<_> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "no event twice");
        assert!(before.is_subset(&unique), "every earlier event once");
    }

    /// Every event of an export, with the pages it came in.
    fn export_of(store: &dyn Store, view: &ExportView) -> (Vec<Event>, usize) {
        let (mut events, mut pages) = (Vec::new(), 0);
        store
            .export(view, &mut |page| {
                pages += 1;
                events.extend(page.events().unwrap());
                true
            })
            .unwrap();
        (events, pages)
    }

    pub fn exports_read_a_snapshot_of_the_view_in_page_order(store: &dyn Store) {
        tenant(store, "partner", None);
        tenant(store, "customer", Some("partner"));
        append(store, "partner", (0..1500).map(sample).collect());
        append(store, "customer", (0..700).map(sample).collect());
        let scope = ["partner", "customer"];
        let sizes = |partner: u64, customer: u64| {
            [
                ("partner".to_owned(), partner),
                ("customer".to_owned(), customer),
            ]
            .into_iter()
            .collect()
        };
        let failures = Filter::default().with(false, Condition::Outcome(vec![Outcome::Failure]));
        for (filter, sort) in [
            (Filter::default(), SortOrder::Desc),
            (Filter::default(), SortOrder::Asc),
            (failures.clone(), SortOrder::Desc),
        ] {
            let view = ExportView {
                scope: TenantScope {
                    tenants: scope.iter().map(|tenant| tenant.to_string()).collect(),
                },
                filter: filter.clone(),
                sort,
                now: now(),
                sizes: sizes(1500, 700),
            };
            let (exported, pages) = export_of(store, &view);
            let mut paged = matching(store, &scope, &filter);
            if sort == SortOrder::Desc {
                paged.reverse();
            }
            assert_eq!(
                exported.iter().map(|event| event.id).collect::<Vec<_>>(),
                paged.iter().map(|event| event.id).collect::<Vec<_>>(),
                "{sort:?} {filter:?}"
            );
            assert!(pages > 1 || exported.len() <= evident_store::EXPORT_PAGE as usize);
        }
        // Events appended after the sizes were taken stay out; so do those past a smaller size.
        append(store, "customer", (0..30).map(sample).collect());
        let view = ExportView {
            scope: TenantScope {
                tenants: scope.iter().map(|tenant| tenant.to_string()).collect(),
            },
            filter: Filter::default(),
            sort: SortOrder::Asc,
            now: now(),
            sizes: sizes(1200, 700),
        };
        let (exported, _) = export_of(store, &view);
        assert_eq!(exported.len(), 1900);
        assert!(exported.iter().all(|event| match event.tenant.as_str() {
            "partner" => event.seq < 1200,
            _ => event.seq < 700,
        }));
        // Returning false stops the export after that page.
        let mut pages = 0;
        store
            .export(&view, &mut |_| {
                pages += 1;
                false
            })
            .unwrap();
        assert_eq!(pages, 1);
    }

    pub fn scopes_isolate_tenants(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "globex", None);
        tenant(store, "acme-eu", Some("acme"));
        let acme = append(store, "acme", vec![sample(1)]);
        let globex = append(store, "globex", vec![sample(2)]);
        append(store, "acme-eu", vec![sample(3)]);
        assert!(
            everything(store, &["acme"])
                .iter()
                .all(|event| event.tenant == "acme")
        );
        assert!(
            store
                .get(&TenantScope::single("acme"), globex[0].id)
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get(&TenantScope::single("acme"), acme[0].id)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store
                .count(&TenantScope::single("acme"), &Filter::default(), now())
                .unwrap(),
            1
        );
        assert!(everything(store, &["nobody"]).is_empty());
        let family = everything(store, &["acme", "acme-eu"]);
        let mut names: Vec<(String, Option<String>)> = family
            .iter()
            .map(|event| (event.tenant.clone(), event.tenant_name.clone()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ("acme".into(), Some("acme name".into())),
                ("acme-eu".into(), Some("acme-eu name".into()))
            ]
        );
        let only_child = Filter::default().with(false, Condition::Tenant(vec!["acme-eu".into()]));
        assert_eq!(matching(store, &["acme", "acme-eu"], &only_child).len(), 1);
        let outside = Filter::default().with(false, Condition::Tenant(vec!["globex".into()]));
        assert!(
            matching(store, &["acme", "acme-eu"], &outside).is_empty(),
            "a tenant clause cannot widen the scope"
        );
    }

    /// The stored tree head equals the root rebuilt from the stored leaves, each of which commits to its side-car.
    pub fn assert_tree_matches_leaves(store: &dyn Store, tenant: &str, size: u64) {
        use evident_core::log::leaf::pii_matches;
        use evident_core::log::merkle::MemoryTree;
        let head = store.tree_head(tenant).unwrap().unwrap();
        assert_eq!(head.tree_size, size);
        let leaves = store.leaves(tenant, 0, 10_000).unwrap();
        assert_eq!(leaves.len() as u64, size);
        for (seq, leaf) in leaves.iter().enumerate() {
            assert_eq!(leaf.object["seq"], seq, "leaves come in seq order");
            assert!(
                pii_matches(&leaf.object, &leaf.pii),
                "side-car of seq {seq}"
            );
        }
        let hashes: Vec<_> = leaves.iter().map(|leaf| leaf.hash()).collect();
        let tree = MemoryTree::new(&hashes);
        assert_eq!(head.root_hash, tree.root(size));
        // Proofs of many leaves at once are each leaf's proof, in the order asked.
        let indexes: Vec<u64> = (0..size).rev().chain(0..size).collect();
        let proofs = store
            .inclusion_proofs(tenant, &indexes, size)
            .unwrap()
            .unwrap();
        assert_eq!(proofs.len(), indexes.len());
        for (index, proof) in indexes.iter().zip(&proofs) {
            assert_eq!(
                proof,
                &tree.inclusion_proof(*index, size),
                "leaf {index} of {size}"
            );
        }
        assert!(store.inclusion_proofs("nobody", &[0], 1).unwrap().is_none());
        if size > 0 {
            assert!(matches!(
                store.inclusion_proofs(tenant, &[0, size], size),
                Err(StoreError::OutOfRange(_))
            ));
        }
    }

    pub fn the_log_grows_with_every_append(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "globex", None);
        assert_eq!(store.tree_head("acme").unwrap().unwrap().tree_size, 0);
        assert!(store.tree_head("nobody").unwrap().is_none());
        let mut heads = Vec::new();
        for round in 0..6 {
            let keyed = NewEvent {
                idempotency_key: Some(format!("k{}", round % 3)),
                ..sample(round)
            };
            store
                .append(
                    &[
                        AppendBatch {
                            tenant: "acme".into(),
                            events: (0..round + 1).map(sample).chain([keyed]).collect(),
                        },
                        AppendBatch {
                            tenant: "nobody".into(),
                            events: vec![sample(1)],
                        },
                        AppendBatch {
                            tenant: "globex".into(),
                            events: vec![sample(round)],
                        },
                    ],
                    Timestamp::now(),
                )
                .unwrap();
            heads.push(store.tree_head("acme").unwrap().unwrap());
        }
        let size = heads.last().unwrap().tree_size;
        assert_eq!(
            size,
            (1..=6).sum::<u64>() + 3,
            "repeats of an idempotency key add no leaf"
        );
        assert_tree_matches_leaves(store, "acme", size);
        assert_tree_matches_leaves(store, "globex", 6);
        // Every earlier head is a prefix of the log: its root is the root of the first leaves.
        let hashes: Vec<_> = store
            .leaves("acme", 0, 10_000)
            .unwrap()
            .iter()
            .map(|leaf| leaf.hash())
            .collect();
        let tree = evident_core::log::merkle::MemoryTree::new(&hashes);
        for head in heads {
            assert_eq!(head.root_hash, tree.root(head.tree_size));
        }
        // Proofs from the stored nodes verify against the stored heads.
        use evident_core::log::merkle::{verify_consistency, verify_inclusion};
        let head = store.tree_head("acme").unwrap().unwrap();
        for (index, hash) in hashes.iter().enumerate() {
            let proof = store
                .inclusion_proof("acme", index as u64, size)
                .unwrap()
                .unwrap();
            verify_inclusion(index as u64, size, hash, &proof, &head.root_hash).unwrap();
        }
        for from in 1..=size {
            let proof = store
                .consistency_proof("acme", from, size)
                .unwrap()
                .unwrap();
            verify_consistency(from, size, &tree.root(from), &head.root_hash, &proof).unwrap();
        }
        assert!(matches!(
            store.inclusion_proof("acme", size, size),
            Err(StoreError::OutOfRange(_))
        ));
        assert!(matches!(
            store.consistency_proof("acme", 1, size + 1),
            Err(StoreError::OutOfRange(_))
        ));
        assert!(matches!(
            store.consistency_proof("acme", 0, size),
            Err(StoreError::OutOfRange(_))
        ));
        assert!(store.inclusion_proof("nobody", 0, 1).unwrap().is_none());
        // Personal data stays out of the leaf object.
        let leaf = &store.leaves("acme", 0, 1).unwrap()[0];
        assert!(!leaf.object.to_string().contains("Ada Lovelace"));
        assert_eq!(leaf.pii["actor"]["name"], "Ada Lovelace");
    }

    pub fn checkpoints_are_kept_per_size(store: &dyn Store) {
        tenant(store, "acme", None);
        assert!(store.latest_checkpoint("acme").unwrap().is_none());
        store.add_checkpoint("acme", 3, "note three\n").unwrap();
        store.add_checkpoint("acme", 10, "note ten\n").unwrap();
        store
            .add_checkpoint("acme", 3, "another note for three\n")
            .unwrap();
        let all: Vec<(u64, String)> = store
            .checkpoints("acme", 0)
            .unwrap()
            .into_iter()
            .map(|checkpoint| (checkpoint.tree_size, checkpoint.note))
            .collect();
        assert_eq!(
            all,
            vec![
                (3, "note three\n".to_owned()),
                (10, "note ten\n".to_owned())
            ],
            "the first note of a size stays"
        );
        assert_eq!(store.checkpoints("acme", 4).unwrap().len(), 1);
        assert_eq!(
            store.latest_checkpoint("acme").unwrap().unwrap().tree_size,
            10
        );
        assert!(matches!(
            store.add_checkpoint("nobody", 1, "x\n"),
            Err(StoreError::TenantNotFound(_))
        ));
    }

    pub fn stored_fields_round_trip(store: &dyn Store) {
        tenant(store, "acme", None);
        let mut sent = sample(1);
        sent.occurred_at = "2026-05-02T10:11:12.123456Z".parse().unwrap();
        let receipt = append(store, "acme", vec![sent.clone()]);
        let stored = store
            .get(&TenantScope::single("acme"), receipt[0].id)
            .unwrap()
            .unwrap();
        assert_eq!(stored.id, receipt[0].id);
        assert_eq!(stored.recorded_at, receipt[0].recorded_at);
        assert_eq!(stored.occurred_at, sent.occurred_at);
        assert_eq!(stored.action, sent.action);
        assert_eq!(stored.actor, sent.actor, "the email keeps its case");
        assert_eq!(stored.targets, sent.targets);
        assert_eq!(stored.context, sent.context);
        assert_eq!(stored.channel, sent.channel);
        assert_eq!(stored.outcome, sent.outcome);
        assert_eq!(stored.description, sent.description);
        assert_eq!(stored.metadata, sent.metadata);
        assert_eq!(stored.category, "uncategorized");

        // Awkward text, numbers and shapes survive too, and an export's view of
        // each event (its document parsed in place) serialises exactly as the
        // owned event does.
        let awkward = NewEvent {
            actor: Actor {
                actor_type: ActorType::User,
                id: Some("usr_\"quoted\"\\slash".into()),
                name: Some("Zoë Ñúñez 李雷 🚀".into()),
                email: None,
            },
            targets: vec![
                Target {
                    target_type: "invoice".into(),
                    id: "inv,1\n2".into(),
                    name: None,
                    email: Some("billing@globex.example".into()),
                },
                Target {
                    target_type: "user".into(),
                    id: "=cmd|' /C calc'!A0".into(),
                    name: Some("\t tabbed \u{7f}".into()),
                    email: None,
                },
            ],
            context: Context::default(),
            channel: None,
            description: Some("line one\r\nline \"two\"".into()),
            metadata: json!({
                "z": 1.5e300, "a": -0.25, "big": 18446744073709551615u64, "neg": -9007199254740993i64,
                "nested": {"list": [1, "two", null, true, {"deep": "é\u{0001}"}]}, "empty": {}
            })
            .as_object()
            .unwrap()
            .clone(),
            ..sample(2)
        };
        let bare = NewEvent {
            targets: Vec::new(),
            description: None,
            metadata: Default::default(),
            ..sample(3)
        };
        let receipts = append(store, "acme", vec![awkward.clone(), bare.clone()]);
        for (receipt, sent) in receipts.iter().zip([&awkward, &bare]) {
            let event = store
                .get(&TenantScope::single("acme"), receipt.id)
                .unwrap()
                .unwrap();
            assert_eq!(event.actor, sent.actor);
            assert_eq!(event.targets, sent.targets);
            assert_eq!(event.context, sent.context);
            assert_eq!(event.description, sent.description);
            assert_eq!(event.metadata, sent.metadata);
        }
        let view = ExportView {
            scope: TenantScope::single("acme"),
            filter: Filter::default(),
            sort: SortOrder::Asc,
            now: now(),
            sizes: [("acme".to_owned(), 3)].into_iter().collect(),
        };
        let mut viewed = Vec::new();
        store
            .export(&view, &mut |page| {
                for index in 0..page.len() {
                    let event = page.event(index).unwrap();
                    viewed.push((serde_json::to_string(&event).unwrap(), event.to_event()));
                }
                true
            })
            .unwrap();
        let events = everything(store, &["acme"]);
        assert_eq!(viewed.len(), events.len());
        for ((json, owned), event) in viewed.iter().zip(&events) {
            assert_eq!(json, &serde_json::to_string(event).unwrap());
            assert_eq!(owned, event);
        }

        // A verifier recomputes each leaf from a view of its row (the metadata
        // canonicalised from its stored text): the hash the tree holds, and the
        // one the owned event's leaf object gives.
        let recomputed = store.event_leaf_hashes("acme", 0, 100).unwrap();
        let owned: Vec<(u64, [u8; 32])> = store
            .stored_events("acme", 0, 100)
            .unwrap()
            .iter()
            .map(|stored| {
                let leaf = evident_core::log::leaf::split(&stored.event, stored.salt);
                (stored.event.seq, leaf.hash())
            })
            .collect();
        assert_eq!(recomputed.len(), 3);
        assert_eq!(recomputed, owned);
        assert_eq!(recomputed, store.leaf_hashes("acme").unwrap());
        assert_eq!(store.event_leaf_hashes("acme", 1, 1).unwrap(), owned[1..2]);
    }

    /// Free text and actors match many events or few; a backend may plan
    /// either differently (walk by time, or fetch the matches and sort), and
    /// every page and total must come out the same.
    pub fn dense_and_sparse_matches_page_alike(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "acme-sub", Some("acme"));
        for chunk in (0..3000).collect::<Vec<_>>().chunks(1000) {
            append(store, "acme", chunk.iter().copied().map(sample).collect());
        }
        append(store, "acme-sub", (3000..3200).map(sample).collect());
        let number = |event: &Event| event.metadata["n"].as_u64().unwrap_or(u64::MAX);
        type Predicate = Box<dyn Fn(&Event) -> bool>;
        let cases: Vec<(&str, Predicate)> = vec![
            (
                "rotated",
                Box::new(|event: &Event| {
                    event
                        .description
                        .as_deref()
                        .unwrap_or("")
                        .contains("rotated")
                }),
            ),
            ("1234", Box::new(move |event: &Event| number(event) == 1234)),
            ("3141", Box::new(move |event: &Event| number(event) == 3141)),
            (
                "rotated 12",
                Box::new(move |event: &Event| {
                    event
                        .description
                        .as_deref()
                        .unwrap_or("")
                        .contains("rotated")
                        && number(event).to_string().starts_with("12")
                }),
            ),
            (
                "actor:usr_grace",
                Box::new(|event: &Event| event.actor.id.as_deref() == Some("usr_grace")),
            ),
            (
                "actor:grace@acme.example 12",
                Box::new(move |event: &Event| {
                    event.actor.id.as_deref() == Some("usr_grace")
                        && number(event).to_string().starts_with("12")
                }),
            ),
            (
                "target:license:t_2",
                Box::new(|event: &Event| {
                    event.targets[0].target_type == "license" && event.targets[0].id == "t_2"
                }),
            ),
            (
                "target:license:t_2,keyset:t_3 -outcome:failure",
                Box::new(|event: &Event| {
                    let target = (
                        event.targets[0].target_type.as_str(),
                        event.targets[0].id.as_str(),
                    );
                    (target == ("license", "t_2") || target == ("keyset", "t_3"))
                        && event.outcome == Outcome::Success
                }),
            ),
            (
                "action:user.login,license.revoked actor:usr_ada,grace@acme.example",
                Box::new(|event: &Event| {
                    (event.action == "user.login" || event.action == "license.revoked")
                        && (event.actor.id.as_deref() == Some("usr_ada")
                            || event.actor.id.as_deref() == Some("usr_grace"))
                }),
            ),
            (
                // More alternatives than one statement unites arm by arm.
                "action:user.login,license.revoked actor:usr_ada,grace@acme.example,u1,u2,u3,u4,u5,u6,u7,u8",
                Box::new(|event: &Event| {
                    (event.action == "user.login" || event.action == "license.revoked")
                        && (event.actor.id.as_deref() == Some("usr_ada")
                            || event.actor.id.as_deref() == Some("usr_grace"))
                }),
            ),
            (
                "actor:ADA@acme.example target:license:t_0 rotated",
                Box::new(|event: &Event| {
                    event.actor.id.as_deref() == Some("usr_ada")
                        && event.targets[0].target_type == "license"
                        && event.targets[0].id == "t_0"
                        && event.description.as_deref() == Some("rotated the secret key")
                }),
            ),
            (
                "-rotated actor:usr_grace",
                Box::new(|event: &Event| {
                    event.actor.id.as_deref() == Some("usr_grace")
                        && !event
                            .description
                            .as_deref()
                            .unwrap_or("")
                            .contains("rotated")
                }),
            ),
        ];
        for scope in [&["acme"][..], &["acme", "acme-sub"][..]] {
            let all = everything(store, scope);
            for (text, predicate) in &cases {
                let filter = evident_core::query::parse(text).unwrap();
                let mut expected: Vec<&Event> =
                    all.iter().filter(|event| predicate(event)).collect();
                assert!(
                    !expected.is_empty() || *text == "3141" && scope.len() == 1,
                    "{text}: no sample matches"
                );
                // Newest first: by time, then by the tie-breaking order the oldest-first walk gave.
                expected.reverse();
                expected.sort_by_key(|event| std::cmp::Reverse(event.occurred_at));
                let page = store
                    .query(&query(
                        scope,
                        filter.clone(),
                        SortOrder::Desc,
                        PageStart::First,
                        50,
                    ))
                    .unwrap();
                let ids =
                    |events: &[&Event]| events.iter().map(|event| event.id).collect::<Vec<_>>();
                let got: Vec<&Event> = page.events.iter().collect();
                assert_eq!(
                    ids(&got),
                    ids(&expected[..expected.len().min(50)]),
                    "{text} in {scope:?}"
                );
                assert_eq!(
                    store
                        .count(
                            &TenantScope {
                                tenants: scope.iter().map(|t| t.to_string()).collect()
                            },
                            &filter,
                            now()
                        )
                        .unwrap(),
                    expected.len() as u64,
                    "{text} in {scope:?}: the total"
                );
                let walked = matching(store, scope, &filter);
                expected.reverse();
                assert_eq!(
                    ids(&walked.iter().collect::<Vec<_>>()),
                    ids(&expected),
                    "{text} in {scope:?}: paging 7 at a time, oldest first"
                );
                // A numbered page skips what the pages before it held.
                assert_eq!(
                    ids(&numbered(store, scope, &filter, 7, 7)
                        .iter()
                        .collect::<Vec<_>>()),
                    ids(&expected[expected.len().min(7)..expected.len().min(14)]),
                    "{text} in {scope:?}: the second numbered page"
                );
            }
        }
    }

    /// An event can match one clause twice: its actor id is also its email,
    /// it has two of the targets asked for, or a target id asked for without
    /// its type under two types. It is listed, paged and counted once, and
    /// left out once by the targets negated.
    pub fn events_matching_twice_are_listed_once(store: &dyn Store) {
        tenant(store, "acme", None);
        tenant(store, "acme-sub", Some("acme"));
        let twice = |n: usize| {
            let mut event = sample(n);
            event.actor.id = Some("ops@acme.example".into());
            event.actor.email = Some("ops@acme.example".into());
            event.targets = vec![
                Target {
                    target_type: "license".into(),
                    id: "lic_1".into(),
                    name: None,
                    email: None,
                },
                Target {
                    target_type: "keyset".into(),
                    id: "ks_1".into(),
                    name: None,
                    email: None,
                },
                Target {
                    target_type: "legacy_license".into(),
                    id: "lic_1".into(),
                    name: None,
                    email: None,
                },
            ];
            event
        };
        append(
            store,
            "acme",
            (0..15)
                .map(|n| if n % 3 == 0 { twice(n) } else { sample(n) })
                .collect(),
        );
        append(store, "acme-sub", (15..20).map(twice).collect());
        for scope in [&["acme"][..], &["acme", "acme-sub"][..]] {
            let all = everything(store, scope);
            let want: Vec<_> = all
                .iter()
                .filter(|event| event.actor.id.as_deref() == Some("ops@acme.example"))
                .map(|event| event.id)
                .collect();
            let scope_of = TenantScope {
                tenants: scope.iter().map(|t| t.to_string()).collect(),
            };
            // Walked page by page and counted, `text` finds exactly `expected`.
            let walks_and_counts = |text: &str, expected: &[uuid::Uuid]| {
                let filter = evident_core::query::parse(text).unwrap();
                let walked: Vec<_> = matching(store, scope, &filter)
                    .iter()
                    .map(|event| event.id)
                    .collect();
                assert_eq!(walked, expected, "{text} in {scope:?}");
                assert_eq!(
                    store.count(&scope_of, &filter, now()).unwrap(),
                    expected.len() as u64,
                    "{text} in {scope:?}: the total"
                );
                filter
            };
            for text in [
                "actor:ops@acme.example",
                "target:license:lic_1,keyset:ks_1",
                "target:lic_1",
                "target:lic_1,keyset:ks_1",
                "actor:ops@acme.example target:license:lic_1,keyset:ks_1",
                "target:lic_1 action:*",
            ] {
                let filter = walks_and_counts(text, &want);
                assert_eq!(
                    numbered(store, scope, &filter, 2, 3)
                        .iter()
                        .map(|event| event.id)
                        .collect::<Vec<_>>(),
                    want[2..5],
                    "{text} in {scope:?}: a numbered page"
                );
            }
            // Negated, the same targets leave every other event, each once.
            let rest: Vec<_> = all
                .iter()
                .map(|event| event.id)
                .filter(|id| !want.contains(id))
                .collect();
            for text in ["-target:lic_1", "-target:license:lic_1,keyset:ks_1"] {
                walks_and_counts(text, &rest);
            }
        }
    }

    /// A free-text word written as an identifier (`tok_f585b4b17`) finds that
    /// identifier and any run of words of a longer one, its last word a
    /// prefix; its
    /// words written apart (`tok f585b4b17`, `tok-f585b4b17`) are found by
    /// the phrase or by each word, not by the identifier. Paged and counted,
    /// with the search in the whole tenant and within its newest events.
    pub fn identifier_words_match_identifiers(store: &dyn Store) {
        tenant(store, "acme", None);
        let with = |n: usize, target: &str, description: &str| {
            let mut event = sample(n);
            event.targets[0].id = target.into();
            event.description = Some(description.into());
            event
        };
        let events = vec![
            with(0, "tok_f585b4b17", "revoked"),
            with(1, "t_1", "revoked tok f585b4b17 by hand"),
            with(2, "tok-f585b4b17", "revoked"),
            with(3, "t_3", "subaccount.user_password_changed"),
            with(4, "TOK_F585B4B17_old", "revoked"),
            with(5, "t_5", "naïve_tok_f585 x__tok__f585b4b17"),
            with(6, "t_6", "(tok_f585b4b17)."),
        ];
        let mut all = append(store, "acme", events.clone());
        // Enough other events that a search of the newest window falls short.
        append(store, "acme", (10..60).map(sample).collect());
        all.truncate(events.len());
        let ids =
            |numbers: &[usize]| -> Vec<uuid::Uuid> { numbers.iter().map(|n| all[*n].id).collect() };
        let scope = TenantScope {
            tenants: vec!["acme".into()],
        };
        for (text, expected) in [
            ("tok_f585b4b17", ids(&[0, 4, 6])),
            ("TOK_F585", ids(&[0, 4, 6])),
            ("(tok_f585b4b17),", ids(&[0, 4, 6])),
            ("f585b4b17_old", ids(&[4])),
            ("password_changed", ids(&[3])),
            ("user_password_changed", ids(&[3])),
            ("user_password", ids(&[3])),
            ("subaccount.user_password", ids(&[3])),
            ("ve_tok", vec![]),
            ("\"tok f585b4b17\"", ids(&[0, 1, 2, 4, 5, 6])),
            ("tok-f585b4b17", ids(&[0, 1, 2, 4, 5, 6])),
            ("tok", ids(&[0, 1, 2, 4, 5, 6])),
            ("-tok_f585b4b17 tok", ids(&[1, 2, 5])),
            ("tok_f585b4b17 action:user.login", ids(&[0, 4])),
        ] {
            let filter = evident_core::query::parse(text).unwrap();
            let found: Vec<_> = matching(store, &["acme"], &filter)
                .iter()
                .map(|event| event.id)
                .collect();
            assert_eq!(found, expected, "{text}");
            assert_eq!(
                store.count(&scope, &filter, now()).unwrap(),
                expected.len() as u64,
                "{text}: the total"
            );
        }
    }
}
