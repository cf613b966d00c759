//! The search index: FTS5 over each event's searchable text, and the index
//! of its targets, in a database file of its own, `search.db`, beside
//! `evident.db`.
//!
//! A file of its own has a writer of its own: the applier writes a
//! transaction's search and target entries into it on one thread while it
//! writes the events' rows, indexes and Merkle nodes into `evident.db` on
//! another (in one file, SQLite's single writer wrote them one after the
//! other: the search entries were a fifth of the applier's time, the
//! targets a tenth on a fresh store and a quarter by 800,000 events). Read
//! connections attach it as `search`, so that queries name `events_fts` and
//! `event_targets` as before.
//!
//! The index is derived from the events: it records the last journal record
//! it holds (`search_state.applied`), as `evident.db` does, and the applier
//! applies each record to both in two transactions, the index's committed
//! first (so that it always holds every event `evident.db` does). After a
//! crash between the two commits, the journal's records past each file's
//! mark are applied to that file at the next open. An index that
//! cannot be brought level with the events that way (missing, or from
//! another time: a restored backup; or of an earlier [`VERSION`]) is built
//! again from the events at open.

use std::borrow::Cow;
use std::path::Path;

use evident_core::search::identifier_terms;

use rusqlite::{Connection, OptionalExtension, params};

use super::journal::JournalEvent;
use super::schema::event_rowid;
use crate::Result;

/// The search index's file inside the data directory.
pub const SEARCH_FILE: &str = "search.db";
/// The name read connections attach it under.
pub(super) const SCHEMA: &str = "search";

/// What the index holds, in its `user_version`: 1 added the targets, 2 the
/// identifier terms ([`indexed_text`]). An index of an earlier version is
/// built again from the events at open; one of a later version (a newer
/// build's) is refused.
pub(super) const VERSION: i64 = 2;

/// The character that joins an identifier's words into one term of the
/// index, and starts the term: a private-use character, which FTS5's
/// `unicode61` tokenizer keeps inside a token and no typed word holds. Since
/// the term starts with it, no word's prefix query (`tok*`) reads it, and no
/// phrase of words matches it.
pub(super) const IDENTIFIER_JOINER: char = '\u{E000}';

/// The term of the index a free-text word is searched as (a prefix of),
/// when it is an identifier ([`evident_core::search::identifier_term`]):
/// `tok_f585b4b17` is `\u{E000}tok\u{E000}f585b4b17`.
pub(super) fn identifier_of_word(word: &str) -> Option<String> {
    evident_core::search::identifier_term(word, IDENTIFIER_JOINER)
        .map(|joined| format!("{IDENTIFIER_JOINER}{joined}"))
}

/// An event's searchable text as the index holds it: its words, then the
/// terms of its identifiers ([`evident_core::search::identifier_terms`]), so
/// that `tok_f585b4b17` is searched as one term instead of the phrase of
/// `tok` (in a third of a large tenant's events) and `f585b4b17`.
fn indexed_text(text: &str) -> Cow<'_, str> {
    let terms = identifier_terms(text, IDENTIFIER_JOINER);
    if terms.is_empty() {
        return Cow::Borrowed(text);
    }
    let extra: usize = terms
        .iter()
        .map(|term| term.len() + 2 * IDENTIFIER_JOINER.len_utf8())
        .sum();
    let mut indexed = String::with_capacity(text.len() + extra);
    indexed.push_str(text);
    for term in terms {
        indexed.push(' ');
        indexed.push(IDENTIFIER_JOINER);
        indexed.push_str(&term);
    }
    Cow::Owned(indexed)
}

/// The index and its mark, created when the file is new. `contentless_delete`
/// lets an event's entries be deleted by rowid.
const TABLES: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Each event's targets, in time order within a target: its pages read them
-- in order, its totals count them without reading the events.
CREATE TABLE IF NOT EXISTS event_targets (
    tenant_no INTEGER NOT NULL,
    target_id TEXT NOT NULL,
    target_type TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    event_rowid INTEGER NOT NULL,
    PRIMARY KEY (tenant_no, target_id, target_type, occurred_at, event_rowid)
) WITHOUT ROWID;
-- The last ingest journal record whose events the index holds (NULL: not built).
CREATE TABLE IF NOT EXISTS search_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    applied INTEGER
);
INSERT OR IGNORE INTO search_state (id, applied) VALUES (0, NULL);
";

/// How many segments of one level FTS5 merges into one of the next
/// (`automerge`; FTS5's default is 4). Each transaction's entries are a new
/// segment, and a term's entries are rewritten once per level they climb:
/// merging eight at a time climbs fewer levels. Under batch ingest, merging
/// took 28% of this index's thread at 4; at 8, four runs of the benchmark
/// taking turns at 1M measured batches of 1,000 6–14% faster and the bulk
/// load 11%, at about 8 bytes an event more (more segments are left
/// unmerged), free text no slower. Set at open where it differs, so that an index
/// made before takes it too.
pub(super) const AUTOMERGE: i64 = 8;

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
    let version = super::schema::user_version(&connection)?;
    if version > VERSION {
        // A newer build's index: built again here, it would be built again there.
        return Err(crate::StoreError::Io(std::io::Error::other(format!(
            "the search index ({SEARCH_FILE}) was written by a newer build (version {version}; this one knows {VERSION})"
        ))));
    }
    connection.execute_batch(TABLES)?;
    if automerge(&connection)? != Some(AUTOMERGE) {
        connection.execute(
            "INSERT INTO events_fts (events_fts, rank) VALUES ('automerge', ?1)",
            [AUTOMERGE],
        )?;
    }
    Ok(connection)
}

/// The index's FTS5 merge width, if set.
fn automerge(connection: &Connection) -> Result<Option<i64>> {
    Ok(connection
        .query_row(
            "SELECT v FROM events_fts_config WHERE k = 'automerge'",
            [],
            |row| row.get(0),
        )
        .optional()?)
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

/// The last journal record the index holds; None when it was never built,
/// or was built for another [`VERSION`] (an earlier one holds no targets,
/// or no identifier terms).
pub(super) fn applied(connection: &Connection) -> Result<Option<u64>> {
    let version = super::schema::user_version(connection)?;
    if version != VERSION {
        return Ok(None);
    }
    let applied: Option<Option<i64>> = connection
        .query_row("SELECT applied FROM search_state", [], |row| row.get(0))
        .optional()?;
    Ok(applied.flatten().map(|applied| applied as u64))
}

/// How many target entries [`Entries`] sorts at a time: a transaction's
/// are a few thousand; a rebuild's are written in sorted runs of this many.
const TARGETS_SORTED: usize = 1 << 16;

/// Writes events' entries in the connection's open transaction: each one's
/// text as it comes (a tenant's in rowid order: FTS5 starts a new segment
/// whenever a rowid is not above the last), its targets in the order of
/// their key, so that a tenant's entries for one target follow each other
/// instead of landing all over the table.
struct Entries<'c, S> {
    insert_text: rusqlite::CachedStatement<'c>,
    insert_target: rusqlite::CachedStatement<'c>,
    /// (tenant, id, type, occurred_at, rowid), the key's order.
    targets: Vec<(i64, S, S, i64, i64)>,
}

impl<'c, S: AsRef<str> + Ord> Entries<'c, S> {
    fn new(connection: &'c Connection) -> Result<Self> {
        Ok(Entries {
            insert_text: connection
                .prepare_cached("INSERT INTO events_fts (rowid, body) VALUES (?1, ?2)")?,
            // An event naming one target twice has one entry for it.
            insert_target: connection.prepare_cached(
                "INSERT OR IGNORE INTO event_targets (tenant_no, target_id, target_type, occurred_at, event_rowid)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            targets: Vec::new(),
        })
    }

    /// One event's entries; its targets as (id, type).
    fn add(
        &mut self,
        tenant_no: i64,
        rowid: i64,
        occurred_at: i64,
        text: &str,
        targets: impl IntoIterator<Item = (S, S)>,
    ) -> Result<()> {
        self.insert_text
            .execute(params![rowid, indexed_text(text)])?;
        self.targets.extend(
            targets
                .into_iter()
                .map(|(id, target_type)| (tenant_no, id, target_type, occurred_at, rowid)),
        );
        if self.targets.len() >= TARGETS_SORTED {
            self.write_targets()?;
        }
        Ok(())
    }

    fn write_targets(&mut self) -> Result<()> {
        self.targets.sort_unstable();
        for (tenant_no, id, target_type, occurred_at, rowid) in self.targets.drain(..) {
            self.insert_target.execute(params![
                tenant_no,
                id.as_ref(),
                target_type.as_ref(),
                occurred_at,
                rowid
            ])?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.write_targets()
    }
}

/// Writes the search and target entries of `events` (each a tenant's, in
/// rowid order) and the index's mark, in the connection's open transaction.
pub(super) fn insert<'e>(
    connection: &Connection,
    events: impl Iterator<Item = (i64, &'e JournalEvent<'e>)>,
    applied: u64,
) -> Result<()> {
    let mut entries = Entries::new(connection)?;
    for (tenant_no, event) in events {
        entries.add(
            tenant_no,
            event_rowid(tenant_no, event.seq),
            event.occurred_at,
            event.text,
            event.targets.iter().copied(),
        )?;
    }
    entries.finish()?;
    set_applied(connection, applied)
}

/// Records the last journal record the index holds.
pub(super) fn set_applied(connection: &Connection, applied: u64) -> Result<()> {
    connection
        .prepare_cached("UPDATE search_state SET applied = ?1")?
        .execute([applied as i64])?;
    Ok(())
}

/// One stored event's entries, for [`rebuild`].
pub(super) struct Stored<'a> {
    pub tenant_no: i64,
    pub rowid: i64,
    pub occurred_at: i64,
    pub text: &'a str,
    /// (id, type) of each target.
    pub targets: Vec<(String, String)>,
}

/// Builds the index anew from `events` (every stored event, in rowid
/// order), holding the events through journal record `applied`, in one
/// transaction that also sets the index's [`VERSION`].
pub(super) fn rebuild(
    connection: &mut Connection,
    events: impl FnOnce(&mut dyn FnMut(Stored<'_>) -> Result<()>) -> Result<()>,
    applied: u64,
) -> Result<()> {
    let transaction = connection.transaction()?;
    transaction.execute(
        "INSERT INTO events_fts (events_fts) VALUES ('delete-all')",
        [],
    )?;
    transaction.execute("DELETE FROM event_targets", [])?;
    {
        let mut entries = Entries::new(&transaction)?;
        events(&mut |event| {
            entries.add(
                event.tenant_no,
                event.rowid,
                event.occurred_at,
                event.text,
                event.targets,
            )
        })?;
        entries.finish()?;
    }
    set_applied(&transaction, applied)?;
    transaction.pragma_update(None, "user_version", VERSION)?;
    transaction.commit()?;
    Ok(())
}

/// A synced commit: everything the index committed before is on disk.
pub(super) fn touch_durably(connection: &Connection) -> Result<()> {
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute("UPDATE search_state SET applied = applied", [])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_takes_its_merge_width_new_or_made_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SEARCH_FILE);
        assert_eq!(
            automerge(&open_writer(&path).unwrap()).unwrap(),
            Some(AUTOMERGE)
        );
        // An index made by a build that left FTS5's default.
        let made_before = open_writer(&path).unwrap();
        made_before
            .execute_batch("INSERT INTO events_fts (events_fts, rank) VALUES ('automerge', 4)")
            .unwrap();
        assert_eq!(automerge(&made_before).unwrap(), Some(4));
        drop(made_before);
        assert_eq!(
            automerge(&open_writer(&path).unwrap()).unwrap(),
            Some(AUTOMERGE)
        );
    }
}
