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
    r#"
-- Each event's rowid is its place in its tenant's log: tenant_no << 40 | seq
-- (see `event_rowid`). A tenant's events are then one rowid range: they sit
-- together in the table, a free-text search reads only that range of the
-- FTS index instead of every tenant's matches, and (tenant, seq) needs no
-- index of its own.
CREATE TABLE events_by_tenant (
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
    doc TEXT NOT NULL,
    salt BLOB
);
INSERT INTO events_by_tenant (rowid, tenant_no, seq, id, occurred_at, recorded_at, action, category,
                              actor_type, actor_id, actor_email, ip, channel, outcome, idempotency_key, doc, salt)
    SELECT (tenant_no << 40) | seq, tenant_no, seq, id, occurred_at, recorded_at, action, category,
           actor_type, actor_id, actor_email, ip, channel, outcome, idempotency_key, doc, salt
    FROM events ORDER BY tenant_no, seq;
UPDATE event_targets SET event_rowid =
    (SELECT (events.tenant_no << 40) | events.seq FROM events WHERE events.rowid = event_targets.event_rowid);
DROP TABLE events;
ALTER TABLE events_by_tenant RENAME TO events;
CREATE UNIQUE INDEX events_id ON events(id);
CREATE INDEX events_time ON events(tenant_no, occurred_at);
CREATE INDEX events_action ON events(tenant_no, action, occurred_at);
CREATE INDEX events_category ON events(tenant_no, category, occurred_at);
CREATE INDEX events_actor_id ON events(tenant_no, actor_id, occurred_at);
CREATE INDEX events_actor_email ON events(tenant_no, actor_email, occurred_at);
CREATE INDEX events_ip ON events(tenant_no, ip, occurred_at) WHERE ip IS NOT NULL;
CREATE UNIQUE INDEX events_idempotency ON events(tenant_no, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The search index is contentless: its rows cannot be renumbered, so it is
-- built anew from the events at the next open (`rebuild_search_index`).
DROP TABLE events_fts;
CREATE VIRTUAL TABLE events_fts USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Derived structures that the store rebuilds from the events at open.
CREATE TABLE pending_rebuilds (what TEXT PRIMARY KEY);
INSERT INTO pending_rebuilds SELECT 'events_fts' WHERE EXISTS (SELECT 1 FROM events);
"#,
    r#"
-- Links that sign their holder in to one tenant's audit log page, read-only.
-- Only the token's SHA-256 is kept; used_at makes a link single-use.
CREATE TABLE viewer_links (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants(id),
    token_hash BLOB NOT NULL UNIQUE,
    include_descendants INTEGER NOT NULL,
    query TEXT,
    title TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX viewer_links_tenant ON viewer_links(tenant);
-- A tenant's audit log page settings (accent colour, origins that may frame it), as JSON.
CREATE TABLE tenant_ui (
    tenant TEXT PRIMARY KEY REFERENCES tenants(id),
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    r#"
-- Page sessions ended by signing out: each cookie's SHA-256, kept until the
-- cookie would have expired anyway.
CREATE TABLE ended_sessions (
    token_hash BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    r#"
-- The last record of the ingest journal applied to this database; it moves
-- in the transaction that applies the record (sqlite/ingest.rs).
CREATE TABLE journal_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    applied INTEGER NOT NULL
);
INSERT INTO journal_state (id, applied) VALUES (0, 0);
"#,
    r#"
-- The actions each tenant has recorded under each category. A category is
-- read through the action index (the actions it holds) instead of an index
-- of its own: one index entry less for every event.
CREATE TABLE action_categories (
    tenant_no INTEGER NOT NULL,
    category TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (tenant_no, category, action)
) WITHOUT ROWID;
INSERT INTO action_categories (tenant_no, category, action)
    SELECT DISTINCT tenant_no, category, action FROM events;
DROP INDEX events_category;
"#,
    r#"
-- Each tenant's arrival order, kept by the applier: its latest occurred_at;
-- the seq of its latest event that occurred more than a day before an
-- earlier one (-1: none); and the most any event after that one occurred
-- before an earlier one, in microseconds. An event after the latest
-- day-late one sorts at most that long out of order, which tells a
-- free-text page read within a window of rowids that nothing outside the
-- window comes first (sqlite/mod.rs, `TextWindows`). Events stored before
-- count as a day late, so such pages check them as before.
ALTER TABLE tenants ADD COLUMN max_occurred_at INTEGER;
ALTER TABLE tenants ADD COLUMN late_seq INTEGER NOT NULL DEFAULT -1;
ALTER TABLE tenants ADD COLUMN lateness INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET
    max_occurred_at = (SELECT max(occurred_at) FROM events WHERE events.tenant_no = tenants.no),
    late_seq = next_seq - 1;
"#,
    r#"
-- The dictionaries event documents are compressed with (sqlite/compress.rs):
-- a document stored as a blob names its dictionary by id in its first byte.
-- `events` is how many events the store held when it was trained.
CREATE TABLE doc_dictionaries (
    id INTEGER PRIMARY KEY,
    dictionary BLOB NOT NULL,
    events INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
-- An IPv4 address is kept as its own 4 bytes rather than IPv4-mapped in 16
-- (record.rs, `compact_ip`): 24 bytes less an event, in the row and the index.
UPDATE events SET ip = substr(ip, 13)
    WHERE length(ip) = 16 AND substr(ip, 1, 12) = X'00000000000000000000FFFF';
"#,
    r#"
-- Each tenant's leaf hashes, 16 to a row: leaf pack·16 + i is bytes
-- 32·i .. 32·i + 32 of `hashes`. The subtrees of levels 1 to 3 are computed
-- from a pack when read (sqlite/log.rs); merkle_nodes keeps levels 4 and up.
CREATE TABLE merkle_leaves (
    tenant_no INTEGER NOT NULL,
    pack INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (tenant_no, pack)
) WITHOUT ROWID;
INSERT INTO merkle_leaves (tenant_no, pack, hashes)
    SELECT tenant_no, idx >> 4, unhex(group_concat(hex(hash), '' ORDER BY idx))
    FROM merkle_nodes WHERE level = 0 GROUP BY tenant_no, idx >> 4;
DELETE FROM merkle_nodes WHERE level <= 3;
"#,
    r#"
-- The search index moves to a file of its own, search.db (sqlite/search.rs),
-- which the store builds from the events when it finds none.
DROP TABLE events_fts;
DROP TABLE pending_rebuilds;
"#,
    r#"
-- The target index moves to the search index's file, search.db, written by
-- its own thread (sqlite/search.rs); the store builds it there from the
-- events' documents at the next open.
DROP TABLE event_targets;
"#,
    r#"
-- Each tenant's actors, numbered: an actor is its id and its email column
-- together (either may be absent, not both). An actor's events are found
-- through one index over its number instead of one over ids and one over
-- emails: an index entry less for every event, and a short one. The
-- applier numbers new actors as it writes their events (sqlite/ingest.rs).
CREATE TABLE actors (
    no INTEGER PRIMARY KEY,
    tenant_no INTEGER NOT NULL,
    id TEXT,
    email TEXT
);
INSERT INTO actors (tenant_no, id, email)
    SELECT DISTINCT tenant_no, actor_id, actor_email FROM events
    WHERE actor_id IS NOT NULL OR actor_email IS NOT NULL
    ORDER BY tenant_no, actor_id, actor_email;
CREATE INDEX actors_id ON actors(id, tenant_no);
CREATE INDEX actors_email ON actors(email, tenant_no);
ALTER TABLE events ADD COLUMN actor_no INTEGER;
UPDATE events SET actor_no = (
        SELECT no FROM actors
        WHERE actors.tenant_no = events.tenant_no
          AND actors.id IS events.actor_id AND actors.email IS events.actor_email)
    WHERE actor_id IS NOT NULL OR actor_email IS NOT NULL;
DROP INDEX events_actor_id;
DROP INDEX events_actor_email;
CREATE INDEX events_actor ON events(tenant_no, actor_no, occurred_at) WHERE actor_no IS NOT NULL;
"#,
    r#"
-- Each tenant's actions, numbered likewise: the action index holds the
-- number instead of the action's text (a short entry for every event).
-- The applier numbers an action in the transaction that stores its first
-- event; action_categories (which lists every tenant's actions) numbers
-- those stored before.
CREATE TABLE actions (
    no INTEGER PRIMARY KEY,
    tenant_no INTEGER NOT NULL,
    action TEXT NOT NULL
);
INSERT INTO actions (tenant_no, action)
    SELECT DISTINCT tenant_no, action FROM action_categories ORDER BY tenant_no, action;
CREATE UNIQUE INDEX actions_key ON actions(tenant_no, action);
ALTER TABLE events ADD COLUMN action_no INTEGER;
UPDATE events SET action_no = (
    SELECT no FROM actions WHERE actions.tenant_no = events.tenant_no AND actions.action = events.action);
DROP INDEX events_action;
CREATE INDEX events_action ON events(tenant_no, action_no, occurred_at);
"#,
    r#"
-- How many events each tenant holds of each action, kept by the applier in
-- the transaction that stores them: a total by action (or category) alone
-- is a sum of these instead of a count of the action index's entries.
ALTER TABLE actions ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
UPDATE actions SET events = (
    SELECT count(*) FROM events WHERE events.tenant_no = actions.tenant_no AND events.action_no = actions.no);
"#,
    r#"
-- How many events each tenant holds of each day (UTC) of their occurred_at,
-- the day numbered from 1970-01-01 (`event_day`), kept by the applier in the
-- transaction that stores them: a total of a time range alone sums the
-- whole days it spans and counts only the partial days at its ends.
CREATE TABLE event_days (
    tenant_no INTEGER NOT NULL,
    day INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, day)
) WITHOUT ROWID;
INSERT INTO event_days (tenant_no, day, events)
    SELECT tenant_no,
           (occurred_at - ((occurred_at % 86400000000) + 86400000000) % 86400000000) / 86400000000 AS day,
           count(*)
    FROM events GROUP BY tenant_no, day;
"#,
];

/// The rowid of a tenant's event: its position, `tenant_no << 40 | seq`.
pub fn event_rowid(tenant_no: i64, seq: u64) -> i64 {
    crate::record::position(tenant_no, seq)
}

/// The first and last rowid a tenant's events can have.
pub fn tenant_rowids(tenant_no: i64) -> (i64, i64) {
    (
        event_rowid(tenant_no, 0),
        event_rowid(tenant_no, crate::record::MAX_SEQ),
    )
}

/// Where the store keeps the planner's statistics, gathers them (bounded:
/// `analysis_limit`) for every index that has none, such as one a migration
/// just made in place of others: without, the planner takes it for the most
/// selective of all. A store that never gathered any is left so.
fn analyse_new_indexes(connection: &Connection) -> Result<()> {
    let kept: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1')",
        [],
        |row| row.get(0),
    )?;
    if !kept {
        return Ok(());
    }
    let unanalysed: Vec<String> = connection
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL
             AND name NOT IN (SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL)",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if unanalysed.is_empty() {
        return Ok(());
    }
    connection.execute_batch("PRAGMA analysis_limit = 1000;")?;
    for index in unanalysed {
        connection.execute_batch(&format!("ANALYZE \"{index}\";"))?;
    }
    Ok(())
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A database file's `user_version`: the schema version it records.
pub(super) fn user_version(connection: &Connection) -> Result<i64> {
    Ok(connection.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Brings the database to [`SCHEMA_VERSION`]; refuses one that is newer.
pub fn migrate(connection: &mut Connection) -> Result<()> {
    migrate_to(connection, SCHEMA_VERSION)
}

/// Runs the migrations up to `version` (tests build older databases with it).
pub(super) fn migrate_to(connection: &mut Connection, version: i64) -> Result<()> {
    let found = user_version(connection)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (number, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .take(version as usize)
        .skip(found as usize)
    {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        analyse_new_indexes(&transaction)?;
        transaction.pragma_update(None, "user_version", number as i64 + 1)?;
        transaction.commit()?;
    }
    Ok(())
}
