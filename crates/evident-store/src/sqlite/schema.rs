//! Numbered migrations, applied in order at open; `PRAGMA user_version`
//! records how many have run.

use rusqlite::Connection;

use crate::{Result, StoreError};

/// Each entry is one migration; never edit one that has shipped, add another.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    no INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    parent TEXT REFERENCES tenants(id),
    created_at INTEGER NOT NULL,
    next_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tenants_parent ON tenants(parent);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tenant TEXT REFERENCES tenants(id),
    scopes TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- One row per event. The rowid is the arrival order; within a tenant it
-- follows seq. Columns hold what filters use; `doc` holds the rest as JSON.
CREATE TABLE events (
    rowid INTEGER PRIMARY KEY,
    tenant_no INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    id BLOB NOT NULL,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    action TEXT NOT NULL,
    category TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    actor_email TEXT,
    ip BLOB,
    channel TEXT,
    outcome TEXT NOT NULL,
    idempotency_key TEXT,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX events_seq ON events(tenant_no, seq);
CREATE UNIQUE INDEX events_id ON events(id);
CREATE INDEX events_time ON events(tenant_no, occurred_at);
CREATE INDEX events_action ON events(tenant_no, action, occurred_at);
CREATE INDEX events_category ON events(tenant_no, category, occurred_at);
CREATE INDEX events_actor_id ON events(tenant_no, actor_id, occurred_at);
CREATE INDEX events_actor_email ON events(tenant_no, actor_email, occurred_at);
CREATE INDEX events_ip ON events(tenant_no, ip, occurred_at) WHERE ip IS NOT NULL;
CREATE UNIQUE INDEX events_idempotency ON events(tenant_no, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE event_targets (
    tenant_no INTEGER NOT NULL,
    target_id TEXT NOT NULL,
    target_type TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    event_rowid INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, target_id, target_type, occurred_at, event_rowid)
) WITHOUT ROWID;

-- Free text: contentless, rowid = events.rowid.
CREATE VIRTUAL TABLE events_fts USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
"#,
    r#"
-- A tenant's additions to the deployment's catalog (JSON), for it and its descendants.
CREATE TABLE tenant_catalogs (
    tenant TEXT PRIMARY KEY REFERENCES tenants(id),
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    r#"
-- Each tenant's Merkle log: complete subtrees (level, idx) cover leaves
-- idx·2^level .. (idx+1)·2^level; level 0 holds the leaf hashes.
CREATE TABLE merkle_nodes (
    tenant_no INTEGER NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (tenant_no, level, idx)
) WITHOUT ROWID;
-- The salt of each event's personal-data side-car (docs/integrity.md).
ALTER TABLE events ADD COLUMN salt BLOB;
"#,
    r#"
-- Every signed checkpoint (a C2SP signed note), kept.
CREATE TABLE checkpoints (
    tenant_no INTEGER NOT NULL,
    tree_size INTEGER NOT NULL,
    note TEXT NOT NULL,
    signed_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, tree_size)
) WITHOUT ROWID;
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`]; refuses one that is newer.
pub fn migrate(connection: &mut Connection) -> Result<()> {
    let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", number as i64 + 1)?;
        transaction.commit()?;
    }
    Ok(())
}
