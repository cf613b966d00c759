//! The free-text search index: FTS5 over each event's searchable text, in a
//! database file of its own, `search.db`, beside `evident.db`.
//!
//! A file of its own has a writer of its own: the applier writes a
//! transaction's search entries into it on one thread while it writes the
//! events' rows, indexes and Merkle nodes into `evident.db` on another (in
//! one file, SQLite's single writer wrote them one after the other, and the
//! search entries were a fifth of the applier's time). Read connections
//! attach it as `search`, so that queries name `events_fts` as before.
//!
//! The index is derived from the events: it records the last journal record
//! it holds (`search_state.applied`), as `evident.db` does, and the applier
//! applies each record to both in two transactions, the index's committed
//! first (so that it always holds every event `evident.db` does). After a
//! crash between the two commits, the journal's records past each file's
//! mark are applied to that file at the next open. An index that
//! cannot be brought level with the events that way (missing, or from
//! another time: a restored backup) is built again from the events at open.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::journal::JournalEvent;
use super::schema::event_rowid;
use crate::Result;

/// The search index's file inside the data directory.
pub const SEARCH_FILE: &str = "search.db";
/// The name read connections attach it under.
pub(super) const SCHEMA: &str = "search";

/// The index and its mark, created when the file is new. `contentless_delete`
/// lets an event's entries be deleted by rowid.
const TABLES: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- The last ingest journal record whose events the index holds (NULL: not built).
CREATE TABLE IF NOT EXISTS search_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    applied INTEGER
);
INSERT OR IGNORE INTO search_state (id, applied) VALUES (0, NULL);
";

/// The page cache of the index's writer, in KiB: FTS5 appends each
/// transaction's entries as a new segment and merges segments, so that only
/// the pages of the segments being merged are hot.
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// Opens the index's writer connection (creating the file and its tables).
pub(super) fn open_writer(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    connection.pragma_update(None, "mmap_size", super::MMAP_BYTES)?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.pragma_update(None, "wal_autocheckpoint", super::WAL_BACKSTOP_PAGES)?;
    connection.pragma_update(None, "journal_size_limit", super::WAL_SIZE_LIMIT)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    connection.execute_batch(TABLES)?;
    Ok(connection)
}

/// Attaches the index to a read connection as [`SCHEMA`], with the same
/// cache and mapping as the connection's own database.
pub(super) fn attach(
    connection: &Connection,
    path: &Path,
    cache_kib: i64,
    mmap_bytes: i64,
) -> Result<()> {
    let name = path.to_str().ok_or_else(|| {
        crate::StoreError::Io(std::io::Error::other(format!(
            "the search index's path is not UTF-8: {}",
            path.display()
        )))
    })?;
    connection.execute(&format!("ATTACH DATABASE ?1 AS {SCHEMA}"), [name])?;
    connection.pragma_update(Some(SCHEMA), "cache_size", -cache_kib)?;
    connection.pragma_update(Some(SCHEMA), "mmap_size", mmap_bytes)?;
    Ok(())
}

/// The last journal record the index holds; None when it was never built.
pub(super) fn applied(connection: &Connection) -> Result<Option<u64>> {
    let applied: Option<Option<i64>> = connection
        .query_row("SELECT applied FROM search_state", [], |row| row.get(0))
        .optional()?;
    Ok(applied.flatten().map(|applied| applied as u64))
}

/// Writes the search entries of `events` (each a tenant's, in rowid order)
/// and the index's mark, in the connection's open transaction.
pub(super) fn insert<'e>(
    connection: &Connection,
    events: impl Iterator<Item = (i64, &'e JournalEvent<'e>)>,
    applied: u64,
) -> Result<()> {
    let mut insert_text =
        connection.prepare_cached("INSERT INTO events_fts (rowid, body) VALUES (?1, ?2)")?;
    for (tenant_no, event) in events {
        insert_text.execute(params![event_rowid(tenant_no, event.seq), event.text])?;
    }
    set_applied(connection, applied)
}

/// Records the last journal record the index holds.
pub(super) fn set_applied(connection: &Connection, applied: u64) -> Result<()> {
    connection
        .prepare_cached("UPDATE search_state SET applied = ?1")?
        .execute([applied as i64])?;
    Ok(())
}

/// Builds the index anew from `texts` (rowid and searchable text of every
/// event), holding the events through journal record `applied`, in one
/// transaction.
pub(super) fn rebuild(
    connection: &mut Connection,
    texts: impl FnOnce(&mut dyn FnMut(i64, &str) -> Result<()>) -> Result<()>,
    applied: u64,
) -> Result<()> {
    let transaction = connection.transaction()?;
    transaction.execute(
        "INSERT INTO events_fts (events_fts) VALUES ('delete-all')",
        [],
    )?;
    {
        let mut insert =
            transaction.prepare("INSERT INTO events_fts (rowid, body) VALUES (?1, ?2)")?;
        texts(&mut |rowid, text| {
            insert.execute(params![rowid, text])?;
            Ok(())
        })?;
    }
    set_applied(&transaction, applied)?;
    transaction.commit()?;
    Ok(())
}

/// A synced commit: everything the index committed before is on disk.
pub(super) fn touch_durably(connection: &Connection) -> Result<()> {
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute("UPDATE search_state SET applied = applied", [])?;
    Ok(())
}
