//! A store copied to the other backend and back holds the same tenants,
//! keys, settings, links, sessions, checkpoints and events, with the same
//! tree heads; a copy goes only into an empty store.

use evident_core::access::Scope;
use evident_core::{Actor, ActorType, NewEvent, Outcome, Target};
use evident_store::copy::copy;
use evident_store::postgres::ScratchDatabase;
use evident_store::{
    AppendBatch, NewApiKey, NewTenant, NewViewerLink, PostgresStore, SqliteStore, Store,
    StoreError, TenantScope,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

fn event(n: usize, key: Option<&str>) -> NewEvent {
    NewEvent {
        action: ["user.login", "license.revoked"][n % 2].into(),
        category: "uncategorized".into(),
        occurred_at: Timestamp::from_second(1_780_000_000 + n as i64 * 61).unwrap(),
        actor: Actor {
            actor_type: ActorType::User,
            id: Some(format!("usr_{}", n % 3)),
            name: Some("Zoë Ångström".into()),
            email: Some(format!("Person{}@Acme.example", n % 3)),
        },
        targets: vec![Target {
            target_type: "license".into(),
            id: format!("lic_{n}"),
            name: None,
            email: Some("owner@acme.example".into()),
        }],
        context: Default::default(),
        channel: Some("portal".into()),
        outcome: Outcome::Success,
        description: Some(format!("seat {n} moved")),
        metadata: json!({"n": n, "big": 9_007_199_254_740_993u64, "nested": {"a": [1, "two"]}})
            .as_object()
            .unwrap()
            .clone(),
        idempotency_key: key.map(Into::into),
    }
}

fn fill(store: &dyn Store) {
    for (id, parent) in [("acme", None), ("acme-eu", Some("acme")), ("globex", None)] {
        store
            .create_tenant(&NewTenant {
                id: id.into(),
                name: format!("{id} Inc."),
                parent: parent.map(Into::into),
            })
            .unwrap();
    }
    store
        .create_key(&NewApiKey {
            id: "key_admin".into(),
            name: "admin".into(),
            tenant: None,
            scopes: Scope::ALL.to_vec(),
            hash: [1; 32],
        })
        .unwrap();
    store
        .create_key(&NewApiKey {
            id: "key_acme".into(),
            name: "acme reader".into(),
            tenant: Some("acme".into()),
            scopes: vec![Scope::Read],
            hash: [2; 32],
        })
        .unwrap();
    store.revoke_key("key_acme").unwrap();
    store
        .put_tenant_catalog("acme", r#"{"event_types":[]}"#)
        .unwrap();
    store
        .put_tenant_ui("acme", r##"{"accent_color":"#0a7"}"##)
        .unwrap();
    store
        .create_viewer_link(&NewViewerLink {
            id: "vl_1".into(),
            tenant: "acme-eu".into(),
            token_hash: [3; 32],
            include_descendants: false,
            query: Some("action:user.login".into()),
            title: Some("Logins".into()),
            created_by: "key_admin".into(),
            expires_at: Timestamp::now() + SignedDuration::from_hours(2),
        })
        .unwrap();
    store
        .end_session(&[4; 32], Timestamp::now() + SignedDuration::from_hours(1))
        .unwrap();
    for round in 0..3 {
        let batches = ["acme", "acme-eu", "globex"]
            .iter()
            .enumerate()
            .map(|(t, tenant)| AppendBatch {
                tenant: (*tenant).into(),
                events: (0..700)
                    .map(|n| {
                        let n = round * 2100 + t * 700 + n;
                        event(
                            n,
                            n.is_multiple_of(10).then(|| format!("idem-{n}")).as_deref(),
                        )
                    })
                    .collect(),
            })
            .collect::<Vec<_>>();
        store.append(&batches, Timestamp::now()).unwrap();
        store
            .add_checkpoint("acme", 700 * (round as u64 + 1), &format!("note {round}"))
            .unwrap();
    }
}

/// Everything a store holds, comparable across backends.
fn contents(store: &dyn Store) -> (String, Vec<String>) {
    let metadata = format!("{:?}", store.metadata().unwrap());
    let mut events = Vec::new();
    for tenant in ["acme", "acme-eu", "globex"] {
        let head = store.tree_head(tenant).unwrap().unwrap();
        events.push(format!("{tenant} {head:?}"));
        for stored in store.stored_events(tenant, 0, 10_000).unwrap() {
            events.push(format!(
                "{:?} {:?} {:?}",
                stored.event, stored.salt, stored.idempotency_key
            ));
        }
    }
    (metadata, events)
}

#[test]
fn a_store_copied_to_postgresql_and_back_is_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("first")).unwrap();
    fill(&sqlite);
    let database = ScratchDatabase::for_tests("evident_copy").unwrap();
    let postgres = PostgresStore::open(database.url()).unwrap();
    let mut heard = Vec::new();
    let logs = copy(&sqlite, &postgres, &mut |tenant, done| {
        heard.push((tenant.to_owned(), done))
    })
    .unwrap();
    assert_eq!(logs.len(), 3);
    assert!(logs.iter().all(|log| log.head.tree_size == 2100));
    assert!(heard.contains(&("acme-eu".to_owned(), 2100)));
    let back = SqliteStore::open(&dir.path().join("back")).unwrap();
    copy(&postgres, &back, &mut |_, _| {}).unwrap();
    let original = contents(&sqlite);
    assert_eq!(contents(&postgres), original);
    assert_eq!(contents(&back), original);

    for store in [&postgres as &dyn Store, &back] {
        // Keys still sign in by their hash; idempotency keys still answer with the first receipt.
        assert_eq!(
            store.active_key_by_hash(&[1; 32]).unwrap().unwrap().0.id,
            "key_admin"
        );
        assert!(store.active_key_by_hash(&[2; 32]).unwrap().is_none());
        assert!(store.session_ended(&[4; 32]).unwrap());
        let again = store
            .append(
                &[AppendBatch {
                    tenant: "acme".into(),
                    events: vec![event(0, Some("idem-0")), event(9, None)],
                }],
                Timestamp::now(),
            )
            .unwrap()
            .remove(0)
            .unwrap();
        let first = sqlite.stored_events("acme", 0, 1).unwrap().remove(0);
        assert_eq!((again[0].id, again[0].seq), (first.event.id, 0));
        assert_eq!(again[1].seq, 2100);
        // The link is single-use in the copy as in the source.
        assert_eq!(
            store
                .redeem_viewer_link(&[3; 32], Timestamp::now())
                .unwrap()
                .unwrap()
                .id,
            "vl_1"
        );
        assert!(
            store
                .get(&TenantScope::single("acme"), first.event.id)
                .unwrap()
                .is_some()
        );
    }
    // A copy goes into an empty store only, and leaves a full one as it was.
    let refused = copy(&sqlite, &postgres, &mut |_, _| {});
    assert!(
        matches!(refused, Err(StoreError::OutOfRange(_))),
        "{refused:?}"
    );
    assert_eq!(postgres.tree_head("acme").unwrap().unwrap().tree_size, 2101);
}
