//! `evident verify --store` catches every kind of tampering with a real data
//! directory, and names the seq it concerns; an untouched store passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{ADMIN_KEY, TestServer, binary, event};

/// A data directory holding 20 events of acme and 3 of globex, and acme's checkpoint at 20 (also saved by an "auditor").
fn prepared() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let mut server = TestServer::start_in(&data_dir, &[], &[]);
    server.create_tenant("acme", None);
    server.create_tenant("globex", None);
    server.ingest("acme", &(0..12).map(event).collect::<Vec<_>>());
    server.ingest("acme", &(12..20).map(event).collect::<Vec<_>>());
    server.ingest("globex", &(0..3).map(event).collect::<Vec<_>>());
    let note = server
        .get("/v1/tenants/acme/log/checkpoint", ADMIN_KEY)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(server.terminate());
    let kept = temp.path().join("acme-20.checkpoint");
    std::fs::write(&kept, note).unwrap();
    (temp, data_dir, kept)
}

fn copy_of(data_dir: &Path, name: &str) -> PathBuf {
    let copy = data_dir.with_file_name(name);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(data_dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    copy
}

fn tamper(data_dir: &Path, sql: &str) {
    let connection = rusqlite::Connection::open(data_dir.join("evident.db")).unwrap();
    connection.execute_batch(sql).unwrap();
}

fn verify(data_dir: &Path, extra: &[&str]) -> (bool, String) {
    let output: Output = Command::new(binary())
        .args(["verify", "--store", data_dir.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
    )
}

const ACME: &str = "(SELECT no FROM tenants WHERE id = 'acme')";

#[test]
fn an_untouched_store_verifies() {
    let (_temp, data_dir, kept) = prepared();
    let (ok, out) = verify(&data_dir, &["--checkpoint", kept.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("ok acme 20 ") && out.contains("ok globex 3 "),
        "{out}"
    );
    // Verifying changed nothing.
    let (ok, _) = verify(&data_dir, &[]);
    assert!(ok);
}

#[test]
fn each_kind_of_tampering_is_named() {
    let (_temp, data_dir, kept) = prepared();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("altered", format!("UPDATE events SET action = 'user.logout' WHERE tenant_no = {ACME} AND seq = 5;"), vec!["seq 5: the event was altered"]),
        ("removed", format!("DELETE FROM events WHERE tenant_no = {ACME} AND seq = 7;"), vec!["seq 7: the event was removed"]),
        (
            "swapped",
            format!(
                "CREATE TEMP TABLE swap AS SELECT seq, doc FROM events WHERE tenant_no = {ACME} AND seq IN (3, 4);
                 UPDATE events SET doc = (SELECT doc FROM swap WHERE swap.seq = 7 - events.seq)
                 WHERE tenant_no = {ACME} AND seq IN (3, 4);"
            ),
            vec!["seq 3: the event was altered", "seq 4: the event was altered"],
        ),
        (
            "inserted",
            format!(
                "INSERT INTO events (tenant_no, seq, id, occurred_at, recorded_at, action, category, actor_type, actor_id,
                                     actor_email, ip, channel, outcome, idempotency_key, doc, salt)
                 SELECT tenant_no, 20, randomblob(16), occurred_at, recorded_at, 'license.revoked', category, actor_type,
                        actor_id, actor_email, ip, channel, outcome, NULL, doc, salt
                 FROM events WHERE tenant_no = {ACME} AND seq = 2;"
            ),
            vec!["seq 20: an event was inserted"],
        ),
        (
            "rolled back",
            format!(
                "DELETE FROM events WHERE tenant_no = {ACME} AND seq >= 15;
                 DELETE FROM merkle_nodes WHERE tenant_no = {ACME} AND ((idx + 1) << level) > 15;
                 DELETE FROM merkle_leaves WHERE tenant_no = {ACME} AND pack > 0;
                 UPDATE merkle_leaves SET hashes = substr(hashes, 1, 15 * 32) WHERE tenant_no = {ACME};
                 UPDATE tenants SET next_seq = 15 WHERE id = 'acme';"
            ),
            vec!["rolled back: a checkpoint of size 20 is signed, but the log has only 15 events"],
        ),
    ];
    for (name, sql, expected) in cases {
        let copy = copy_of(&data_dir, name);
        tamper(&copy, &sql);
        let (ok, out) = verify(&copy, &[]);
        assert!(!ok, "{name}: {out}");
        for line in expected {
            assert!(out.contains(line), "{name}: expected {line:?} in {out}");
        }
        assert!(
            out.contains("ok globex 3 "),
            "{name}: the other tenant still verifies: {out}"
        );
    }

    // A rollback that also removes the store's checkpoints is caught by the one an auditor kept.
    let copy = copy_of(&data_dir, "rolled-back-quietly");
    tamper(
        &copy,
        &format!(
            "DELETE FROM events WHERE tenant_no = {ACME} AND seq >= 15;
             DELETE FROM merkle_nodes WHERE tenant_no = {ACME} AND ((idx + 1) << level) > 15;
             DELETE FROM merkle_leaves WHERE tenant_no = {ACME} AND pack > 0;
             UPDATE merkle_leaves SET hashes = substr(hashes, 1, 15 * 32) WHERE tenant_no = {ACME};
             UPDATE tenants SET next_seq = 15 WHERE id = 'acme';
             DELETE FROM checkpoints;"
        ),
    );
    let (ok, out) = verify(&copy, &[]);
    assert!(
        ok,
        "without the kept checkpoint the shorter log is self-consistent: {out}"
    );
    let (ok, out) = verify(&copy, &["--checkpoint", kept.to_str().unwrap()]);
    assert!(
        !ok && out.contains("rolled back: a checkpoint of size 20"),
        "{out}"
    );
}

#[test]
fn two_checkpoints_of_one_log_are_checked_for_consistency() {
    let temp = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    server.create_tenant("acme", None);
    let key = server
        .http
        .get(format!("{}/v1/log/key", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let checkpoint = |name: &str| {
        let note = server
            .get("/v1/tenants/acme/log/checkpoint", ADMIN_KEY)
            .send()
            .unwrap()
            .text()
            .unwrap();
        let path = temp.path().join(name);
        std::fs::write(&path, note).unwrap();
        path
    };
    server.ingest("acme", &(0..5).map(event).collect::<Vec<_>>());
    let old = checkpoint("old");
    server.ingest("acme", &(5..9).map(event).collect::<Vec<_>>());
    let new = checkpoint("new");
    let run = |first: &Path, second: &Path, with_server: bool| {
        let mut command = Command::new(binary());
        command
            .args([
                "verify",
                "--consistency",
                first.to_str().unwrap(),
                second.to_str().unwrap(),
                "--key",
                key.trim(),
            ])
            .env("EVIDENT_KEY", ADMIN_KEY);
        if with_server {
            command.args(["--server", &server.url]);
        }
        let output = command.output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, out) = run(&old, &new, true);
    assert!(ok && out.contains("5 → 9"), "{out}");
    let (ok, out) = run(&new, &old, false);
    assert!(!ok && out.contains("rolled back"), "{out}");
    let (ok, out) = run(&old, &new, false);
    assert!(!ok && out.contains("--server"), "{out}");
    // A forged "new" checkpoint (another root, signed by someone else) is refused.
    let mut forged = std::fs::read_to_string(&new).unwrap();
    forged = forged.replacen("\n9\n", "\n10\n", 1);
    let forged_path = temp.path().join("forged");
    std::fs::write(&forged_path, forged).unwrap();
    let (ok, out) = run(&old, &forged_path, true);
    assert!(!ok && out.contains("does not verify"), "{out}");
}
