//! The verifiable log over HTTP: proofs verify against the tree the store keeps.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{ADMIN_KEY, TestServer, event, expect_problem};
use evident_core::log::checkpoint::Checkpoint;
use evident_core::log::merkle::{MemoryTree, verify_consistency, verify_inclusion};
use evident_core::log::note::{Verifier, open};
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

fn text(server: &TestServer, path: &str, key: Option<&str>) -> String {
    let mut request = server.http.get(format!("{}{path}", server.url));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().unwrap()
}

#[test]
fn checkpoints_are_signed_notes_of_the_stored_tree_head() {
    let mut server = TestServer::start_with(
        &[
            "--origin",
            "audit.example.com",
            "--checkpoint-interval-seconds",
            "1",
        ],
        &[],
    );
    server.create_tenant("acme", None);
    let key_text = text(&server, "/v1/log/key", None);
    let verifier = Verifier::parse(key_text.trim()).unwrap();
    assert_eq!(verifier.name, "audit.example.com");

    server.ingest("acme", &(0..7).map(event).collect::<Vec<_>>());
    let note = text(&server, "/v1/tenants/acme/log/checkpoint", Some(ADMIN_KEY));
    let opened = open(note.as_bytes(), std::slice::from_ref(&verifier)).unwrap();
    let checkpoint = Checkpoint::parse(&opened.text).unwrap();
    assert_eq!(
        (checkpoint.origin.as_str(), checkpoint.tree_size),
        ("audit.example.com/acme", 7)
    );
    // Asked again without growth: the same note.
    assert_eq!(
        text(&server, "/v1/tenants/acme/log/checkpoint", Some(ADMIN_KEY)),
        note
    );

    // The background checkpointer signs a grown log by itself.
    server.ingest("acme", &(7..9).map(event).collect::<Vec<_>>());
    let listed = common::wait_for(20, "a checkpoint of size 9", || {
        let list = server.get_json("/v1/tenants/acme/log/checkpoints?from_size=8");
        (list["checkpoints"].as_array().unwrap().len() == 1).then_some(list)
    });
    let later = listed["checkpoints"][0]["note"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = Checkpoint::parse(
        &open(later.as_bytes(), std::slice::from_ref(&verifier))
            .unwrap()
            .text,
    )
    .unwrap();
    assert_eq!(later.tree_size, 9);
    let all = server.get_json("/v1/tenants/acme/log/checkpoints");
    assert!(
        all["checkpoints"].as_array().unwrap().len() >= 2,
        "every checkpoint is kept"
    );
    let consistency = server.get_json("/v1/tenants/acme/log/proof/consistency?from=7&to=9");
    verify_consistency(
        7,
        9,
        &checkpoint.root_hash,
        &later.root_hash,
        &hashes(&consistency),
    )
    .unwrap();
    let other = server.create_key(None, &["ingest"]);
    expect_problem(
        server
            .get("/v1/tenants/acme/log/checkpoint", &other)
            .send()
            .unwrap(),
        403,
    );

    // The key lives in the data directory, readable by its owner only, and survives a restart.
    let key_file = server.data_dir.join("signing.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(server.terminate());
    let store = SqliteStore::open(&server.data_dir).unwrap();
    assert_eq!(
        store.tree_head("acme").unwrap().unwrap().root_hash,
        later.root_hash
    );
    for stored in store.checkpoints("acme", 0).unwrap() {
        assert!(
            !stored.note.contains("PRIVATE"),
            "the store holds notes, never the key"
        );
    }
    drop(store);
    let again = TestServer::start_in(&server.data_dir, &[], &[]);
    assert_eq!(text(&again, "/v1/log/key", None), key_text);
}

/// A signed-note check written from the C2SP text alone (not evident-core's):
/// key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]; signature line `— name base64(id ‖ sig)`.
fn spec_verify(note: &str, verifier_key: &str) -> bool {
    use ed25519_dalek::Verifier as _;
    use sha2::Digest;
    let parts: Vec<&str> = verifier_key.splitn(3, '+').collect();
    let (name, id_hex, key_b64) = (parts[0], parts[1], parts[2]);
    let key = BASE64.decode(key_b64).unwrap();
    assert_eq!(key[0], 0x01, "Ed25519");
    let public: [u8; 32] = key[1..].try_into().unwrap();
    let mut hasher = sha2::Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0x0a, 0x01]);
    hasher.update(public);
    let id: Vec<u8> = hasher.finalize()[..4].to_vec();
    let id_text: String = id.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(id_text, id_hex, "the key id follows the spec");
    let split = note.rfind("\n\n").unwrap();
    let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
    signatures.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some((signer, blob)) = rest.split_once(' ') else {
            return false;
        };
        let blob = BASE64.decode(blob).unwrap();
        signer == name
            && blob[..4] == id[..]
            && ed25519_dalek::VerifyingKey::from_bytes(&public)
                .unwrap()
                .verify(
                    text.as_bytes(),
                    &ed25519_dalek::Signature::from_slice(&blob[4..]).unwrap(),
                )
                .is_ok()
    })
}

#[test]
fn an_event_with_its_proof_verifies_offline() {
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let receipts = server.ingest("acme", &(0..11).map(event).collect::<Vec<_>>());
    let key = text(&server, "/v1/log/key", None);
    let id = receipts[6]["id"].as_str().unwrap();
    let answer = server.get_json(&format!("/v1/tenants/acme/events/{id}?proof=true"));
    assert!(
        spec_verify(answer["checkpoint"].as_str().unwrap(), key.trim()),
        "a note we sign verifies by the spec alone"
    );

    let opened = open(
        answer["checkpoint"].as_str().unwrap().as_bytes(),
        &[Verifier::parse(key.trim()).unwrap()],
    )
    .unwrap();
    let checkpoint = Checkpoint::parse(&opened.text).unwrap();
    let leaf_bytes = serde_json_canonicalizer::to_vec(&answer["leaf"]).unwrap();
    let leaf_hash = evident_core::log::merkle::leaf_hash(&leaf_bytes);
    assert_eq!(
        BASE64.encode(leaf_hash),
        answer["leaf_hash"].as_str().unwrap()
    );
    assert!(evident_core::log::leaf::pii_matches(
        &answer["leaf"],
        &answer["pii"]
    ));
    assert_eq!(answer["leaf"]["seq"], 6);
    assert_eq!(answer["pii"]["actor"]["email"], receipts_email(6));
    let proof = &answer["proof"];
    assert_eq!(proof["tree_size"].as_u64(), Some(checkpoint.tree_size));
    verify_inclusion(
        6,
        checkpoint.tree_size,
        &leaf_hash,
        &hashes(proof),
        &checkpoint.root_hash,
    )
    .unwrap();
    // The plain answer stays the merged event.
    let plain = server.get_json(&format!("/v1/tenants/acme/events/{id}"));
    assert_eq!(plain["actor"]["email"], answer["pii"]["actor"]["email"]);
}

fn receipts_email(n: usize) -> Value {
    event(n)["actor"]["email"].clone()
}
