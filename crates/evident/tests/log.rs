//! The verifiable log over HTTP: proofs verify against the tree the store keeps.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{ADMIN_KEY, TestServer, event, expect_problem};
use evident_core::log::merkle::{MemoryTree, verify_consistency, verify_inclusion};
use evident_store::{SqliteStore, Store};
use serde_json::Value;

fn hashes(answer: &Value) -> Vec<[u8; 32]> {
    answer["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hash| {
            BASE64
                .decode(hash.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

#[test]
fn proofs_over_http_verify_against_the_stored_tree() {
    let mut server = TestServer::start();
    server.create_tenant("acme", None);
    server.create_tenant("globex", None);
    server.ingest("acme", &(0..5).map(event).collect::<Vec<_>>());
    server.ingest("acme", &(5..13).map(event).collect::<Vec<_>>());
    server.ingest("globex", &[event(1)]);

    let inclusion: Vec<Value> = (0..13)
        .map(|seq| {
            server.get_json(&format!(
                "/v1/tenants/acme/log/proof/inclusion?seq={seq}&size=13"
            ))
        })
        .collect();
    let consistency = server.get_json("/v1/tenants/acme/log/proof/consistency?from=5&to=13");
    assert_eq!(
        (consistency["from"].as_u64(), consistency["to"].as_u64()),
        (Some(5), Some(13))
    );

    expect_problem(
        server
            .get(
                "/v1/tenants/acme/log/proof/inclusion?seq=13&size=13",
                ADMIN_KEY,
            )
            .send()
            .unwrap(),
        400,
    );
    expect_problem(
        server
            .get(
                "/v1/tenants/acme/log/proof/inclusion?seq=0&size=14",
                ADMIN_KEY,
            )
            .send()
            .unwrap(),
        400,
    );
    expect_problem(
        server
            .get(
                "/v1/tenants/acme/log/proof/consistency?from=0&to=13",
                ADMIN_KEY,
            )
            .send()
            .unwrap(),
        400,
    );
    let other = server.create_key(Some("globex"), &["read"]);
    expect_problem(
        server
            .get("/v1/tenants/acme/log/proof/inclusion?seq=0&size=1", &other)
            .send()
            .unwrap(),
        404,
    );
    let ingest_only = server.create_key(Some("acme"), &["ingest"]);
    expect_problem(
        server
            .get(
                "/v1/tenants/acme/log/proof/inclusion?seq=0&size=1",
                &ingest_only,
            )
            .send()
            .unwrap(),
        403,
    );
    assert!(server.terminate());

    let store = SqliteStore::open(&server.data_dir).unwrap();
    let head = store.tree_head("acme").unwrap().unwrap();
    assert_eq!(head.tree_size, 13);
    let leaves: Vec<[u8; 32]> = store
        .leaves("acme", 0, 100)
        .unwrap()
        .iter()
        .map(|leaf| leaf.hash())
        .collect();
    for (seq, answer) in inclusion.iter().enumerate() {
        assert_eq!(answer["leaf_index"], seq);
        verify_inclusion(
            seq as u64,
            13,
            &leaves[seq],
            &hashes(answer),
            &head.root_hash,
        )
        .unwrap();
    }
    let old_root = MemoryTree::new(&leaves).root(5);
    verify_consistency(5, 13, &old_root, &head.root_hash, &hashes(&consistency)).unwrap();
}
