//! The embedded backend: one SQLite file in the data directory, WAL with
//! `synchronous=FULL`, one writer connection behind a mutex, a small pool of
//! read-only connections, and appends acknowledged from an ingest journal and
//! applied behind it (`ingest.rs`).

mod compress;
mod filter_sql;
mod ingest;
mod journal;
mod log;
mod schema;
mod search;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use evident_core::search::stored_searchable_text;
use evident_core::{Event, Filter};
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use crate::days::RangeTotal;
use crate::pool::Pool;
use crate::{
    ApiKey, AppendBatch, BatchError, Cursor, EventPage, EventQuery, NewApiKey, NewTenant,
    NewViewerLink, PageStart, Receipt, Result, SortOrder, Store, StoreError, StoreMetadata,
    StoreStats, StoredCheckpoint, StoredEvent, Tenant, TenantScope, TreeHead, ViewerLink,
};

use crate::record::{
    CheckpointRow, EventRow, KEY_COLUMNS, KeyRow, MAX_TENANT_NO, PageBuilder, RawPage, Resolved,
    ScopeTenants, StoredRow, TENANT_COLUMNS, TenantRow, VIEWER_LINK_COLUMNS, ViewerLinkRow,
    action_branches, check_consistency, check_inclusion, hash32, scopes_text, timestamp,
};
pub use schema::SCHEMA_VERSION;
use schema::tenant_rowids;
pub use search::SEARCH_FILE;

/// The version of the SQLite library built in.
pub fn version() -> &'static str {
    rusqlite::version()
}

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "evident.db";
/// The file a store open for writing keeps locked in the data directory:
/// a second process cannot open it for writing (and apply its journal) too.
pub const LOCK_FILE: &str = "evident.lock";

/// Read connections kept open for reuse.
const POOL_SIZE: usize = 8;
/// Page cache of the writer connection, in KiB: the hot pages of the
/// indexes appends touch (64 MiB appended no faster in-process and held the
/// server's memory 50 MB higher).
const WRITER_CACHE_KIB: i64 = 16 * 1024;
/// Page cache of each read connection, in KiB: the pages a query walks are
/// read again from the operating system's cache, which all connections
/// share; eight connections of 8 MiB each held 64 MiB of copies.
const READER_CACHE_KIB: i64 = 2 * 1024;
/// How much of the database file connections map into memory instead of
/// reading it: none in a server, whose RSS would grow with every page read.
const MMAP_BYTES: i64 = 0;
/// The same for a store opened read-only by a command (`verify --store`,
/// `store copy`), which reads the file end to end and then exits: a mapped
/// page is read without a copy and a system call (SQLite maps at most 2 GiB).
const READ_ONLY_MMAP_BYTES: i64 = 1 << 31;

/// Merkle nodes a run of inclusion proofs keeps at hand (about 64 bytes each).
const PROOF_NODE_CACHE: usize = 16_384;

pub struct SqliteStore {
    /// Appends: journaled, then applied (None when opened read-only).
    /// Dropped first, so that what it holds is applied while the rest is open.
    ingest: Option<ingest::Ingest>,
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Pool<Reader>,
    /// `mmap_size` of the read connections.
    reader_mmap_bytes: i64,
    /// How often the applier has refreshed the planner's statistics: a read
    /// connection opened before the latest refresh is opened again, since
    /// SQLite loads statistics only with the schema (a server whose store
    /// grew from empty otherwise planned with an empty store's statistics
    /// until it restarted).
    statistics: Arc<AtomicU64>,
    /// The dictionaries its documents are compressed with (`compress.rs`).
    dictionaries: Arc<compress::Dictionaries>,
    /// The search index's file (`search.rs`), attached by read connections.
    search_path: PathBuf,
    /// Stop (and join) the WAL checkpointers of both files when the store is dropped.
    _checkpointers: Vec<WalCheckpointer>,
    /// Held while the store is open for writing; released last.
    _lock: Option<std::fs::File>,
}

/// How often the WAL is copied into the database file while it grows: soon
/// after each commit, so that the commit that crosses [`WAL_BACKSTOP_PAGES`]
/// finds little left to copy (at 250 ms the applier did twice the copying
/// the checkpointer did, on its own thread, under batch ingest).
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);
/// How often the WAL is looked at while it does not change.
const IDLE_CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
/// WAL pages past which a commit checkpoints the WAL itself (about 64 MiB).
const WAL_BACKSTOP_PAGES: i64 = 16_384;
/// The size an emptied WAL file is truncated back to, in bytes.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// Copies committed WAL frames into the database file from a connection of
/// its own, a few times a second, so that no commit waits for a checkpoint
/// (SQLite would otherwise run one inside every commit that crosses 1,000
/// pages). A passive checkpoint never blocks the writer or readers.
struct WalCheckpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalCheckpointer {
    fn start(path: &Path) -> Result<WalCheckpointer> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(1))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("evident-wal-checkpoint".to_owned())
            .spawn(move || {
                crate::threads::lower_this_thread(crate::threads::Background::Copying);
                let mut interval = IDLE_CHECKPOINT_INTERVAL;
                let mut last = None;
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(interval)
                {
                    // A checkpoint that cannot finish now finishes on a later turn.
                    let checkpoint =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                            // The WAL's frames, and how many of them are copied.
                            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                        });
                    match checkpoint {
                        Ok(frames) => {
                            interval = if last == Some(frames) {
                                IDLE_CHECKPOINT_INTERVAL
                            } else {
                                CHECKPOINT_INTERVAL
                            };
                            last = Some(frames);
                        }
                        Err(error) => tracing::debug!(%error, "WAL checkpoint deferred"),
                    }
                }
            })?;
        Ok(WalCheckpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for WalCheckpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Locks the data directory for one process that writes it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Io(std::io::Error::other(format!(
                "the store in {} is open in another process (a running evident serve?); stop it first",
                data_dir.display()
            ))))
        }
        Err(std::fs::TryLockError::Error(error)) => Err(error.into()),
    }
}

/// Keeps the query planner's statistics current (bounded work: `analysis_limit`),
/// so that it picks the index that fits a filter's selectivity. SQLite
/// analyses a table again once its size has changed tenfold since the last
/// analysis (every table is checked: `0x10000`). Answers whether it did:
/// other connections keep the statistics they loaded with the schema.
fn optimize(connection: &Connection) -> Result<bool> {
    connection.execute_batch("PRAGMA analysis_limit = 1000;")?;
    // With 0x1 the pragma only lists the analyses it would run.
    let stale = connection
        .prepare("PRAGMA optimize = 0x10003")?
        .query_map([], |_| Ok(()))?
        .count();
    if stale == 0 {
        return Ok(false);
    }
    connection.execute_batch("PRAGMA optimize = 0x10002;")?;
    Ok(true)
}

/// Whether the search index at `path` holds exactly the events the store
/// `connection` reads has applied (a store open for writing makes it so).
fn search_is_current(path: &Path, connection: &Connection) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let search = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mark = search::applied(&search).unwrap_or(None);
    Ok(mark == Some(ingest::applied_record(connection)?))
}

/// A pooled read connection and the statistics it plans with.
struct Reader {
    connection: Connection,
    /// [`SqliteStore::statistics`] when it was opened.
    statistics: u64,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`, running migrations.
    pub fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir)?;
        let lock = lock_data_dir(data_dir)?;
        let path = data_dir.join(DATABASE_FILE);
        let mut writer = Connection::open(&path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        // Appends touch every index: a page cache that holds their hot pages saves most reads.
        writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        writer.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        writer.busy_timeout(std::time::Duration::from_secs(10))?;
        writer.set_prepared_statement_cache_capacity(64);
        // Statement journals stay in memory instead of in a temporary file per transaction.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        // The WAL is copied into the database file by `WalCheckpointer`, outside the commits.
        // Under sustained writes its passive checkpoints never catch the last frames, and a
        // WAL that is never wholly copied is never restarted: it grows until the disk is full
        // (a ten-million-event load did). So a commit that finds the WAL past this size still
        // checkpoints it itself: little is left to copy by then, and the WAL restarts after.
        writer.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)?;
        writer.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        schema::migrate(&mut writer)?;
        let dictionaries = compress::dictionaries(&path);
        compress::load(&dictionaries, &writer)?;
        log::backfill(&mut writer, &dictionaries)?;
        optimize(&writer)?;
        let search_path = data_dir.join(SEARCH_FILE);
        let search = search::open_writer(&search_path)?;
        let writer = Arc::new(Mutex::new(writer));
        let statistics = Arc::new(AtomicU64::new(0));
        let ingest = ingest::Ingest::open(
            &data_dir.join(journal::JOURNAL_DIR),
            &path,
            writer.clone(),
            search,
            statistics.clone(),
            dictionaries.clone(),
        )?;
        let checkpointers = vec![
            WalCheckpointer::start(&path)?,
            WalCheckpointer::start(&search_path)?,
        ];
        Ok(SqliteStore {
            ingest: Some(ingest),
            path,
            writer,
            readers: Pool::new(POOL_SIZE, Vec::new(), |_| true),
            reader_mmap_bytes: MMAP_BYTES,
            statistics,
            dictionaries,
            search_path,
            _checkpointers: checkpointers,
            _lock: Some(lock),
        })
    }

    /// Whether opening the store built its search index again from the
    /// stored events (`search.db` missing, from another time, or of an
    /// earlier version: see `search.rs`); a new store's is built too.
    pub fn search_index_rebuilt(&self) -> bool {
        self.ingest
            .as_ref()
            .is_some_and(|ingest| ingest.search_rebuilt)
    }

    /// The schema version of the store in `data_dir`, read without changing
    /// it; None when the directory holds no store.
    pub fn schema_version(data_dir: &Path) -> Result<Option<i64>> {
        let path = data_dir.join(DATABASE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let connection = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        Ok(Some(schema::user_version(&connection)?))
    }

    /// Opens an existing store without changing anything in it (for verification):
    /// no migrations, no backfill; every write fails.
    pub fn open_read_only(data_dir: &Path) -> Result<SqliteStore> {
        let path = data_dir.join(DATABASE_FILE);
        if !path.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no store in {}", data_dir.display()),
            )));
        }
        let writer = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let found = schema::user_version(&writer)?;
        let known = SCHEMA_VERSION;
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        if found < known {
            return Err(StoreError::SchemaTooOld { found, known });
        }
        // A store a process has open for writing applies its own journal; one
        // that none has open, with records left unapplied, was stopped by a crash.
        let in_use = std::fs::File::open(data_dir.join(LOCK_FILE)).is_ok_and(|file| {
            matches!(
                file.try_lock_shared(),
                Err(std::fs::TryLockError::WouldBlock)
            )
        });
        let unapplied = if in_use {
            0
        } else {
            ingest::unapplied_records(&data_dir.join(journal::JOURNAL_DIR), &writer)?
        };
        if unapplied > 0 {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "the store's ingest journal holds {unapplied} acknowledged appends not yet in its database (the server stopped without applying them); run `evident migrate` on it first, which applies them"
            ))));
        }
        let search_path = data_dir.join(SEARCH_FILE);
        if !in_use && !search_is_current(&search_path, &writer)? {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "the store's search index ({SEARCH_FILE}) is missing, of an earlier version, or does not hold the events the store does; run `evident migrate` on it first, which builds it"
            ))));
        }
        let dictionaries = compress::dictionaries(&path);
        compress::load(&dictionaries, &writer)?;
        Ok(SqliteStore {
            ingest: None,
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Pool::new(POOL_SIZE, Vec::new(), |_| true),
            reader_mmap_bytes: READ_ONLY_MMAP_BYTES,
            statistics: Arc::default(),
            dictionaries,
            search_path,
            _checkpointers: Vec::new(),
            _lock: None,
        })
    }

    fn write<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        // A poisoned mutex means a panic mid-transaction; SQLite rolled it back, so the connection is usable.
        let mut connection = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut connection)
    }

    /// The append path; a store opened read-only has none.
    fn ingest(&self) -> Result<&ingest::Ingest> {
        self.ingest.as_ref().ok_or_else(|| {
            StoreError::Io(std::io::Error::other(
                "this store was opened read-only: it takes no events",
            ))
        })
    }

    /// Reads events (and their logs): first waits until every append
    /// acknowledged so far is applied (`ingest.rs`).
    fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if let Some(ingest) = &self.ingest {
            ingest.caught_up()?;
        }
        self.lookup(work)
    }

    /// Reads what appends never change (tenants, keys, links, settings):
    /// no waiting for the journal.
    fn lookup<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let statistics = self.statistics.load(Ordering::Acquire);
        let mut lease = self.readers.lease();
        let reader = lease.connection(|| self.open_reader(statistics))?;
        if reader.statistics != statistics {
            *reader = self.open_reader(statistics)?;
        }
        work(&reader.connection)
    }

    fn open_reader(&self, statistics: u64) -> Result<Reader> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.set_prepared_statement_cache_capacity(64);
        connection.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
        connection.pragma_update(None, "mmap_size", self.reader_mmap_bytes)?;
        search::attach(
            &connection,
            &self.search_path,
            READER_CACHE_KIB,
            self.reader_mmap_bytes,
        )?;
        filter_sql::add_vocabulary(&connection)?;
        Ok(Reader {
            connection,
            statistics,
        })
    }
}

impl SqliteStore {
    /// Reads the tenant's Merkle nodes, with its log's size, in one read
    /// transaction (None for an unknown tenant).
    fn in_tenant_log<T>(
        &self,
        tenant: &str,
        work: impl FnOnce(&log::StoredNodes<'_>, u64) -> Result<T>,
    ) -> Result<Option<T>> {
        self.read(|connection| {
            let transaction = connection.unchecked_transaction()?;
            let Some((tenant_no, tree_size)) = tenant_log(&transaction, tenant)? else {
                return Ok(None);
            };
            let nodes = log::StoredNodes::new(&transaction, tenant_no);
            let done = work(&nodes, tree_size)?;
            transaction.commit()?;
            Ok(Some(done))
        })
    }

    /// `each` of at most `limit` of a tenant's rows from `from_seq`, in seq
    /// order, with their salts; from 0, the rows naming the tenant outside
    /// its rowid range come first (the store never writes those: a verifier
    /// reports them).
    fn tenant_rows<T>(
        &self,
        tenant: &str,
        from_seq: u64,
        limit: u32,
        mut each: impl FnMut(&StoredRow, &ScopeTenants) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(limit as usize);
        self.read(|connection| {
            let tenants = resolve_scope(connection, &TenantScope::single(tenant))?;
            let Some(tenant_no) = tenants.numbers.first().copied() else {
                return Ok(());
            };
            let (first, last) = tenant_rowids(tenant_no);
            let mut read = |sql: &str, values: &[i64]| -> Result<i64> {
                let mut statement = connection.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(values))?;
                let mut seen = 0;
                while let Some(row) = rows.next()? {
                    let corrupt = |error: rusqlite::types::FromSqlError| {
                        StoreError::Corrupt(format!("events salt or idempotency key: {error}"))
                    };
                    let stored = StoredRow {
                        row: event_row(row, &self.dictionaries)?,
                        salt: row
                            .get_ref(EVENT_COLUMN_COUNT)?
                            .as_blob_or_null()
                            .map_err(corrupt)?
                            .unwrap_or_default(),
                        idempotency_key: row
                            .get_ref(EVENT_COLUMN_COUNT + 1)?
                            .as_str_or_null()
                            .map_err(corrupt)?,
                    };
                    out.push(each(&stored, &tenants)?);
                    seen += 1;
                }
                Ok(seen)
            };
            let mut seen = 0;
            if from_seq == 0 {
                // Found through the events_time index without reading the table; they come
                // first, so that the page still ends with its last event in seq order.
                seen = read(
                    &TENANT_ROWS_OUTSIDE_RANGE,
                    &[tenant_no, first, last, i64::from(limit.saturating_sub(1))],
                )?;
            }
            read(
                &TENANT_ROWS_IN_RANGE,
                &[
                    first.saturating_add(from_seq as i64),
                    last,
                    tenant_no,
                    i64::from(limit) - seen,
                ],
            )?;
            Ok(())
        })?;
        Ok(out)
    }
}

impl TenantRow {
    fn read(row: &Row) -> rusqlite::Result<TenantRow> {
        Ok(TenantRow {
            id: row.get(0)?,
            name: row.get(1)?,
            parent: row.get(2)?,
            created_at: row.get(3)?,
        })
    }
}

impl KeyRow {
    fn read(row: &Row) -> rusqlite::Result<KeyRow> {
        Ok(KeyRow {
            id: row.get(0)?,
            name: row.get(1)?,
            tenant: row.get(2)?,
            scopes: row.get(3)?,
            created_at: row.get(4)?,
            revoked_at: row.get(5)?,
        })
    }
}

impl ViewerLinkRow {
    fn read(row: &Row) -> rusqlite::Result<ViewerLinkRow> {
        Ok(ViewerLinkRow {
            id: row.get(0)?,
            tenant: row.get(1)?,
            include_descendants: row.get(2)?,
            query: row.get(3)?,
            title: row.get(4)?,
            created_by: row.get(5)?,
            created_at: row.get(6)?,
            expires_at: row.get(7)?,
            used_at: row.get(8)?,
            revoked_at: row.get(9)?,
        })
    }
}

fn viewer_link_where(
    connection: &Connection,
    condition: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<Option<ViewerLink>> {
    connection
        .prepare_cached(&format!(
            "SELECT {VIEWER_LINK_COLUMNS} FROM viewer_links WHERE {condition}"
        ))?
        .query_row([value], ViewerLinkRow::read)
        .optional()?
        .map(ViewerLinkRow::into_link)
        .transpose()
}

fn require_tenant(connection: &Connection, tenant: &str) -> Result<()> {
    let exists: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)",
        [tenant],
        |row| row.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::TenantNotFound(tenant.to_owned()))
    }
}

fn resolve_scope(connection: &Connection, scope: &TenantScope) -> Result<ScopeTenants> {
    let mut statement = connection.prepare_cached("SELECT no, name FROM tenants WHERE id = ?1")?;
    let mut by_no = HashMap::new();
    let mut numbers = Vec::new();
    for tenant in &scope.tenants {
        if let Some((no, name)) = statement
            .query_row([tenant], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?
        {
            by_no.insert(no, (tenant.clone(), name));
            numbers.push(no);
        }
    }
    Ok(ScopeTenants { by_no, numbers })
}

const EVENT_COLUMNS: &str = "rowid, tenant_no, seq, id, occurred_at, recorded_at, action, category, actor_type, ip, channel, outcome, doc, actor_id, actor_email";
/// How many columns [`EVENT_COLUMNS`] lists: a statement's own columns follow them.
const EVENT_COLUMN_COUNT: usize = 15;

/// A page of a tenant's rows in seq order, with their salts and idempotency
/// keys: `?1..=?2` its rowid range from the page's first seq, `?3` the
/// tenant's number, `?4` the most rows. The rowid range alone finds them, in
/// order; the tenant's number is checked on each row but kept from choosing
/// the index (`+tenant_no`): statistics gathered on a smaller store take
/// `tenant_no = ?` for the more selective term, and the planner would then
/// read and sort every event of the tenant through `events_time` for each
/// page (0.19 s a page of 10,000 in a tenant of 1.9M, against 0.024):
/// `verify --store` of a 10M store took 50–51 s instead of 26–29.
static TENANT_ROWS_IN_RANGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS}, salt, idempotency_key FROM events
         WHERE rowid BETWEEN ?1 AND ?2 AND +tenant_no = ?3 ORDER BY rowid LIMIT ?4"
    )
});

/// The same columns of the rows naming a tenant outside its rowid range
/// (`?2..=?3`; `?1` the tenant's number, `?4` the most rows), found through
/// the time index: the store never writes those, a verifier reports them.
static TENANT_ROWS_OUTSIDE_RANGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS}, salt, idempotency_key FROM events
         WHERE tenant_no = ?1 AND rowid NOT BETWEEN ?2 AND ?3 LIMIT ?4"
    )
});

fn event_from_row(
    row: &Row,
    dictionaries: &compress::Dictionaries,
    tenants: &ScopeTenants,
    with_tenant_name: bool,
) -> Result<(Event, Cursor)> {
    event_row(row, dictionaries)?.to_event(tenants, with_tenant_name)
}

/// The columns of [`EVENT_COLUMNS`], borrowed from the row.
fn event_row<'r>(row: &'r Row, dictionaries: &compress::Dictionaries) -> Result<EventRow<'r>> {
    let column =
        |index: usize| -> Result<rusqlite::types::ValueRef<'r>> { Ok(row.get_ref(index)?) };
    let failed = |index: usize| {
        move |error: rusqlite::types::FromSqlError| -> StoreError {
            StoreError::Corrupt(format!("events column {index}: {error}"))
        }
    };
    let text = |index: usize| -> Result<&'r str> { column(index)?.as_str().map_err(failed(index)) };
    let integer = |index: usize| -> Result<i64> { column(index)?.as_i64().map_err(failed(index)) };
    Ok(EventRow {
        position: integer(0)?,
        tenant_no: integer(1)?,
        seq: integer(2)?,
        id: Uuid::from_slice(column(3)?.as_blob().map_err(failed(3))?)
            .map_err(|error| StoreError::Corrupt(format!("events column 3: {error}")))?,
        occurred_at: integer(4)?,
        recorded_at: integer(5)?,
        action: text(6)?,
        category: text(7)?,
        actor_type: text(8)?,
        ip: column(9)?.as_blob_or_null().map_err(failed(9))?,
        channel: column(10)?.as_str_or_null().map_err(failed(10))?,
        outcome: text(11)?,
        doc: dictionaries.text(column(12)?)?,
        actor_id: column(13)?.as_str_or_null().map_err(failed(13))?,
        actor_email: column(14)?.as_str_or_null().map_err(failed(14))?,
    })
}

/// Builds the search index anew from the stored events, as holding the
/// journal's records through `applied` (`search.rs`).
fn build_search_index(
    connection: &Connection,
    search: &mut Connection,
    dictionaries: &compress::Dictionaries,
    applied: u64,
) -> Result<()> {
    tracing::info!("building the search index over the stored events");
    let mut by_no = HashMap::new();
    let mut numbers = Vec::new();
    {
        let mut statement = connection.prepare("SELECT no, id, name FROM tenants")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let no: i64 = row.get(0)?;
            by_no.insert(no, (row.get(1)?, row.get(2)?));
            numbers.push(no);
        }
    }
    let tenants = ScopeTenants { by_no, numbers };
    let mut read = connection.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM events ORDER BY rowid"
    ))?;
    search::rebuild(
        search,
        |insert| {
            let mut rows = read.query([])?;
            while let Some(row) = rows.next()? {
                let (event, cursor) = event_from_row(row, dictionaries, &tenants, false)?;
                insert(search::Stored {
                    tenant_no: row.get(1)?,
                    rowid: cursor.position,
                    occurred_at: event.occurred_at.as_microsecond(),
                    text: &stored_searchable_text(&event),
                    targets: event
                        .targets
                        .into_iter()
                        .map(|target| (target.id, target.target_type))
                        .collect(),
                })?;
            }
            Ok(())
        },
        applied,
    )
}

/// Every row `sql` reads, mapped (tests look at what the store keeps).
#[cfg(test)]
fn rows<T>(
    connection: &Connection,
    sql: &str,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    connection
        .prepare(sql)
        .unwrap()
        .query_map([], map)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// [`rows`] through the store's read path (after the applier has caught up).
#[cfg(test)]
impl SqliteStore {
    fn rows<T>(&self, sql: &str, map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>) -> Vec<T> {
        self.read(|connection| Ok(rows(connection, sql, map)))
            .unwrap()
    }
}

fn checkpoint_row(row: &Row) -> rusqlite::Result<CheckpointRow> {
    Ok(CheckpointRow(row.get(0)?, row.get(1)?, row.get(2)?))
}

/// A tenant's number and log size.
fn tenant_log(connection: &Connection, tenant: &str) -> Result<Option<(i64, u64)>> {
    Ok(connection
        .prepare_cached("SELECT no, next_seq FROM tenants WHERE id = ?1")?
        .query_row([tenant], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)? as u64))
        })
        .optional()?)
}

/// One page of events for `query`.
fn query_page(
    connection: &Connection,
    dictionaries: &compress::Dictionaries,
    query: &EventQuery,
) -> Result<EventPage> {
    let page = raw_page(connection, dictionaries, query)?;
    Ok(EventPage {
        events: page.events()?,
        next_cursor: page.next_cursor,
    })
}

/// `scope` and `filter` resolved; None when no tenant of the scope exists.
fn resolve<'f>(
    connection: &Connection,
    scope: &TenantScope,
    filter: &'f Filter,
) -> Result<Option<Resolved<'f>>> {
    let tenants = resolve_scope(connection, scope)?;
    if tenants.numbers.is_empty() {
        return Ok(None);
    }
    let filter = categories_as_actions(connection, &tenants.numbers, filter)?;
    Ok(Some(Resolved { tenants, filter }))
}

/// One page of events for `query`, as stored.
fn raw_page(
    connection: &Connection,
    dictionaries: &compress::Dictionaries,
    query: &EventQuery,
) -> Result<RawPage> {
    match resolve(connection, &query.scope, &query.filter)? {
        Some(resolved) => {
            let lookups = filter_sql::Lookups::of(connection, &query.filter)?;
            resolved_page(connection, dictionaries, &resolved, query, &lookups)
        }
        None => Ok(RawPage::default()),
    }
}

/// One page of events for `query`, resolved, as stored, its free-text words
/// and actors looked up as `lookups` says.
fn resolved_page(
    connection: &Connection,
    dictionaries: &compress::Dictionaries,
    resolved: &Resolved<'_>,
    query: &EventQuery,
    lookups: &filter_sql::Lookups,
) -> Result<RawPage> {
    let (tenants, filter) = (&resolved.tenants, resolved.filter.as_ref());
    let (direction, comparison) = match query.sort {
        SortOrder::Desc => ("DESC", "<"),
        SortOrder::Asc => ("ASC", ">"),
    };
    let offset = match &query.start {
        PageStart::Offset(skip) => *skip as i64,
        _ => 0,
    };
    let limit = i64::from(query.limit);
    let branches = action_branches(filter);
    let filters = branches.as_deref().unwrap_or(std::slice::from_ref(filter));
    // Each tenant on its own: an index range of one tenant is in time order,
    // one over several is not. Past MAX_ARMS, one arm spans the tenants and
    // SQLite sorts what it reads.
    let each_tenant: Vec<Vec<i64>> = tenants.numbers.iter().map(|no| vec![*no]).collect();
    let all_together = [tenants.numbers.clone()];
    // The words and actors of every branch are the query's.
    let mut arms = page_arms(&each_tenant, filters, tenants, lookups, query.now)?;
    if arms.len() > MAX_ARMS {
        arms = page_arms(&all_together, filters, tenants, lookups, query.now)?;
    }
    let mut selects = Vec::new();
    let mut params = Vec::new();
    let mut choices = DriverChoices::default();
    let ascending = query.sort == SortOrder::Asc;
    let cursor = match &query.start {
        PageStart::After(cursor) => Some(cursor),
        _ => None,
    };
    let page_rows = limit + 1 + offset;
    // Free text is searched first within a window of each tenant's newest
    // events (oldest, for oldest first), as `TextWindows` says: where in
    // `params` each tenant's range starts.
    let searched = arms.iter().any(|(_, arm)| arm.conditions.text.is_some());
    let mut windows = TextWindows::new(connection, if searched { &tenants.numbers } else { &[] })?;
    let mut window_ends: Vec<(i64, usize)> = Vec::new();
    for (group, mut arm) in arms {
        if let PageStart::After(cursor) = &query.start {
            arm.conditions.push_sql(&format!(
                "({}, {}) {comparison} (?, ?)",
                arm.time, arm.position
            ));
            arm.conditions.push_param(cursor.occurred_at_micros);
            arm.conditions.push_param(cursor.position);
        }
        let mut choice = choices.choose(connection, group, &arm.conditions, query.limit, offset)?;
        params.extend(arm.source_params);
        if let Some(text) = arm.conditions.text.as_ref() {
            let start = params.len();
            match (choice.window, text.firsts.as_slice()) {
                (Some(TextWindow::First), firsts) => {
                    for (tenant, first) in firsts {
                        windows.open(*tenant);
                        window_ends.push((*tenant, start + first));
                    }
                }
                // A search of one tenant reads only as far back as its
                // page's last match, counted in the search index alone, and
                // then drives: a page of matches is fetched and sorted, however
                // many the tenant holds. Where the tenant's arrival order
                // allows no such window, the choice stands.
                (Some(TextWindow::ThroughPage), [(tenant, first)]) => {
                    let expression = &arm.conditions.params()[first - 1];
                    if windows.open_through(
                        connection, *tenant, expression, page_rows, cursor, ascending,
                    )? {
                        window_ends.push((*tenant, start + first));
                        #[cfg(test)]
                        if choice.driver.is_none() {
                            text_window_tests::DROVE_THROUGH_PAGE.with(|n| n.set(n.get() + 1));
                        }
                        choice.driver = Some(text.driver);
                    }
                }
                _ => {}
            }
        }
        selects.push(format!(
            "SELECT {EVENT_COLUMNS}, {} AS sort_time, {} AS sort_position FROM {} WHERE {}",
            arm.time,
            arm.position,
            arm.source,
            arm.conditions.sql_driven_by(choice.driver)
        ));
        params.extend(arm.conditions.params().iter().cloned());
    }
    // The limit is written into the statement, not bound: SQLite plans with
    // a bound LIMIT's value, so every new binding of one would prepare the
    // statement again (a seventh of a page's CPU), where a written one keeps
    // the statement cached for every page of that size. SQLite merges the
    // arms (each read in the ORDER BY's order when an index gives it) and
    // stops reading once the page is full; UNION drops an event that two
    // arms both yield.
    let compound = if selects.len() > 1 { " UNION " } else { "" };
    let sql = format!(
        "{} ORDER BY sort_time {direction}, sort_position {direction} LIMIT {} OFFSET ?",
        selects.join(compound),
        limit + 1
    );
    params.push(rusqlite::types::Value::Integer(offset));
    loop {
        windows.apply(&window_ends, ascending, &mut params);
        let mut statement = connection.prepare_cached(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        let mut page = PageBuilder::new(query.limit, tenants, query.scope.spans_several());
        let (mut read, mut last) = (0, None);
        while let Some(row) = rows.next()? {
            let row = event_row(row, dictionaries)?;
            read += 1;
            last = Some((row.occurred_at, row.position));
            if !page.offer(&row)? {
                break;
            }
        }
        // A page read through windows is the page when it is full and no
        // event outside a window sorts before its last row.
        let full = read > limit;
        if !windows.widen(
            connection,
            full.then_some(last).flatten(),
            cursor,
            ascending,
        )? {
            return Ok(page.finish());
        }
    }
}

/// Each tenant's window of free-text search: how many of its newest (or
/// oldest) events a page searches first. Most pages of a common term fill
/// from the newest few thousand events, where a search of the whole tenant
/// reads every match; a term that drives its page and matches more events
/// than the page holds is searched back to its page's last match, so that
/// only a page of rows is read and sorted. A page that does not fill, or
/// that an event outside a window might precede, is read again with the
/// windows that fall short eight times as wide, up to the whole tenant.
struct TextWindows {
    /// The number of events of each tenant of the page's scope.
    sizes: HashMap<i64, i64>,
    /// Each windowed tenant's window, in events; a tenant whose window holds
    /// all its events is not listed.
    spans: HashMap<i64, i64>,
}

/// The first window of free-text search, in events.
const FIRST_TEXT_WINDOW: i64 = if cfg!(test) { 32 } else { 8192 };

/// How many matches past its page a driving search's window reaches.
const WINDOW_MARGIN: i64 = 4;

impl TextWindows {
    fn new(connection: &Connection, tenants: &[i64]) -> Result<TextWindows> {
        if tenants.is_empty() {
            return Ok(TextWindows {
                sizes: HashMap::new(),
                spans: HashMap::new(),
            });
        }
        let mut statement = connection.prepare_cached(&format!(
            "SELECT no, next_seq FROM tenants WHERE no IN ({})",
            filter_sql::placeholders(tenants.len())
        ))?;
        let sizes = statement
            .query_map(rusqlite::params_from_iter(tenants), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(TextWindows {
            sizes,
            spans: HashMap::new(),
        })
    }

    /// Starts a first window for `tenant`, if it holds more events than one.
    fn open(&mut self, tenant: i64) {
        self.open_span(tenant, FIRST_TEXT_WINDOW);
    }

    /// Starts a window of `span` events for `tenant` (the widest its arms
    /// ask for), if it holds more events than that.
    fn open_span(&mut self, tenant: i64, span: i64) {
        if self.sizes.get(&tenant).is_some_and(|size| *size > span) {
            let window = self.spans.entry(tenant).or_insert(span);
            *window = (*window).max(span);
        }
    }

    /// Starts a window of `tenant` that ends a few matches of `expression`
    /// past the page's `page_rows` (newest first, or oldest first; past the
    /// cursor when it is the tenant's), as the search index alone lists them,
    /// when the tenant's arrival order shows that no event beyond it sorts
    /// before the page's last match: false otherwise, or when the tenant
    /// holds fewer matches, which are then all read.
    fn open_through(
        &mut self,
        connection: &Connection,
        tenant: i64,
        expression: &rusqlite::types::Value,
        page_rows: i64,
        cursor: Option<&Cursor>,
        ascending: bool,
    ) -> Result<bool> {
        let (mut first, mut last) = schema::tenant_rowids(tenant);
        match cursor.map(|cursor| cursor.position) {
            Some(position) if (first..=last).contains(&position) && ascending => first = position,
            Some(position) if (first..=last).contains(&position) => last = position,
            _ => {}
        }
        // The page's last match and the window's end, a few matches past
        // it. The offset is written, not bound, as a page's LIMIT is.
        let sql = format!(
            "{} ORDER BY rowid {} LIMIT {} OFFSET {}",
            filter_sql::TENANT_TEXT_SEARCH,
            if ascending { "ASC" } else { "DESC" },
            WINDOW_MARGIN + 1,
            page_rows - 1
        );
        let rowids: Vec<i64> = connection
            .prepare_cached(&sql)?
            .query_map(
                params![
                    expression,
                    first,
                    last,
                    schema::tenant_rowids(tenant).0,
                    tenant
                ],
                |row| row.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        if rowids.len() <= WINDOW_MARGIN as usize {
            return Ok(false);
        }
        let (page_last, end) = (rowids[0], rowids[rowids.len() - 1]);
        // Only a window whose end the tenant's arrival order shows to be far
        // enough back: otherwise the page would walk the time index through
        // the window to find out, where fetching every match costs less.
        let Some(at_end) = arrival_at(connection, tenant, end)? else {
            return Ok(false);
        };
        let Some(page_time) = connection
            .prepare_cached("SELECT occurred_at FROM events WHERE rowid = ?1")?
            .query_row(params![page_last], |row| row.get::<_, i64>(0))
            .optional()?
        else {
            return Ok(false);
        };
        if !at_end.rules_out(end, (page_time, page_last), ascending) {
            return Ok(false);
        }
        let tenant_first = schema::tenant_rowids(tenant).0;
        let size = self.sizes.get(&tenant).copied().unwrap_or(0);
        let span = if ascending {
            end - tenant_first + 1
        } else {
            tenant_first + size - end
        };
        self.open_span(tenant, span);
        Ok(self.spans.contains_key(&tenant))
    }

    /// The rowid the window of `tenant` ends at (its first one, newest
    /// first; its last one, oldest first), or the tenant's own end.
    fn end(&self, tenant: i64, ascending: bool) -> i64 {
        let (first, last) = schema::tenant_rowids(tenant);
        let size = self.sizes.get(&tenant).copied().unwrap_or(0);
        match (self.spans.get(&tenant), ascending) {
            (None, false) => first,
            (None, true) => last,
            (Some(span), false) => first + size - span,
            (Some(span), true) => first + span - 1,
        }
    }

    /// Writes each window's end into the parameters at `ends` (tenant, index
    /// of the tenant's first rowid; oldest first, its last follows it).
    fn apply(&self, ends: &[(i64, usize)], ascending: bool, params: &mut [rusqlite::types::Value]) {
        for (tenant, index) in ends {
            params[*index + usize::from(ascending)] =
                rusqlite::types::Value::Integer(self.end(*tenant, ascending));
        }
    }

    /// Widens the windows that fall short of a page whose last row is `last`
    /// (None: the page did not fill); false when none does.
    fn widen(
        &mut self,
        connection: &Connection,
        last: Option<(i64, i64)>,
        cursor: Option<&Cursor>,
        ascending: bool,
    ) -> Result<bool> {
        let mut short = Vec::new();
        for tenant in self.spans.keys() {
            let end = self.end(*tenant, ascending);
            let precedes = match last {
                None => true,
                Some(last) => {
                    !in_time_order_beyond(connection, *tenant, end, last, ascending)?
                        && outside_precedes(connection, *tenant, end, last, cursor, ascending)?
                }
            };
            if precedes {
                short.push(*tenant);
            }
        }
        for tenant in &short {
            let size = self.sizes.get(tenant).copied().unwrap_or(0);
            let wider = self
                .spans
                .get(tenant)
                .copied()
                .unwrap_or(size)
                .saturating_mul(8);
            if wider >= size {
                self.spans.remove(tenant);
            } else {
                self.spans.insert(*tenant, wider);
            }
        }
        Ok(!short.is_empty())
    }
}

/// Whether every event of `tenant` beyond `end` (before it, newest first;
/// after it, oldest first) is known to sort after `last`, from the tenant's
/// arrival order (`ingest::ArrivalOrder`): an event after its latest day-late
/// one occurred at most `lateness` before any earlier event. Newest first,
/// when the event at `end` is such an event, every event before it occurred
/// at most that long after it; oldest first, when every event after it is,
/// each occurred at most that long before it. Only the tenant's row and one
/// event are read, where [`outside_precedes`] walks the time index through
/// the window.
fn in_time_order_beyond(
    connection: &Connection,
    tenant: i64,
    end: i64,
    last: (i64, i64),
    ascending: bool,
) -> Result<bool> {
    Ok(arrival_at(connection, tenant, end)?
        .is_some_and(|arrival| arrival.rules_out(end, last, ascending)))
}

/// A tenant's arrival order, with the time of its event at one rowid.
struct ArrivalAt {
    late_seq: i64,
    lateness: i64,
    /// The event's seq and when it occurred.
    seq: i64,
    occurred_at: i64,
}

/// The arrival order of `tenant` and its event at `rowid`, if there is one.
fn arrival_at(connection: &Connection, tenant: i64, rowid: i64) -> Result<Option<ArrivalAt>> {
    let (late_seq, lateness, occurred_at): (i64, i64, Option<i64>) = connection
        .prepare_cached(
            "SELECT late_seq, lateness, (SELECT occurred_at FROM events WHERE rowid = ?2) FROM tenants WHERE no = ?1",
        )?
        .query_row(params![tenant, rowid], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    Ok(occurred_at.map(|occurred_at| ArrivalAt {
        late_seq,
        lateness,
        seq: rowid - schema::tenant_rowids(tenant).0,
        occurred_at,
    }))
}

impl ArrivalAt {
    /// Whether no event beyond this one, at `rowid`, sorts before `last`.
    fn rules_out(&self, rowid: i64, last: (i64, i64), ascending: bool) -> bool {
        if ascending {
            self.late_seq <= self.seq && (self.occurred_at - self.lateness, rowid) >= last
        } else {
            self.late_seq < self.seq && (self.occurred_at + self.lateness, rowid) <= last
        }
    }
}

/// Whether an event of `tenant` beyond `end` (before it, newest first; after
/// it, oldest first) would sort before `last` and after the cursor. Any
/// event counts, matching or not: the answer errs only towards a wider window.
fn outside_precedes(
    connection: &Connection,
    tenant: i64,
    end: i64,
    (time, position): (i64, i64),
    cursor: Option<&Cursor>,
    ascending: bool,
) -> Result<bool> {
    let bound = cursor.map(|cursor| (cursor.occurred_at_micros, cursor.position));
    let sql = match (ascending, bound.is_some()) {
        (false, false) => {
            "SELECT EXISTS (SELECT 1 FROM events INDEXED BY events_time WHERE tenant_no = ?1 AND (occurred_at, rowid) > (?2, ?3) AND rowid < ?4)"
        }
        (false, true) => {
            "SELECT EXISTS (SELECT 1 FROM events INDEXED BY events_time WHERE tenant_no = ?1 AND (occurred_at, rowid) > (?2, ?3) AND rowid < ?4 AND (occurred_at, rowid) < (?5, ?6))"
        }
        (true, false) => {
            "SELECT EXISTS (SELECT 1 FROM events INDEXED BY events_time WHERE tenant_no = ?1 AND (occurred_at, rowid) < (?2, ?3) AND rowid > ?4)"
        }
        (true, true) => {
            "SELECT EXISTS (SELECT 1 FROM events INDEXED BY events_time WHERE tenant_no = ?1 AND (occurred_at, rowid) < (?2, ?3) AND rowid > ?4 AND (occurred_at, rowid) > (?5, ?6))"
        }
    };
    let mut statement = connection.prepare_cached(sql)?;
    let found: bool = match bound {
        None => statement.query_row(params![tenant, time, position, end], |row| row.get(0))?,
        Some((cursor_time, cursor_position)) => statement.query_row(
            params![tenant, time, position, end, cursor_time, cursor_position],
            |row| row.get(0),
        )?,
    };
    Ok(found)
}

/// How many events the tenants hold: the sum of their logs' sizes.
fn scope_size(connection: &Connection, tenants: &[i64]) -> Result<i64> {
    Ok(connection
        .prepare_cached(&format!(
            "SELECT coalesce(sum(next_seq), 0) FROM tenants WHERE no IN ({})",
            filter_sql::placeholders(tenants.len())
        ))?
        .query_row(rusqlite::params_from_iter(tenants), |row| row.get(0))?)
}

/// Most arms a page's statement unites, tenants times alternatives.
const MAX_ARMS: usize = 64;

/// The arms of a page over `groups` of tenants (each group read as one scope)
/// and the action `filters` it unites, each with the group it reads.
fn page_arms<'g>(
    groups: &'g [Vec<i64>],
    filters: &[Filter],
    tenants: &ScopeTenants,
    lookups: &filter_sql::Lookups,
    now: Timestamp,
) -> Result<Vec<(&'g [i64], filter_sql::Arm)>> {
    let mut arms = Vec::new();
    for filter in filters {
        for group in groups {
            for arm in filter_sql::arms(group, &tenants.by_no, filter, lookups, now)? {
                arms.push((group.as_slice(), arm));
            }
        }
    }
    Ok(arms)
}

/// What reading one matching row costs, in steps of an index walk. A walk
/// reads its index's entries a page after another; the matches of a driving
/// clause lie anywhere in the tenant's rows, nearly a page read each. In the
/// largest tenant at 1M events (190,289), a page of free text fetched and
/// sorted 140 matches in 1.3 ms where a walk took 3.1, and 720 in 7.5 ms
/// where a walk took 1.6: one row read cost 100–250 index steps. (In tests,
/// 1: a rare term of a few hundred events drives its page.)
const ROW_READ_STEPS: f64 = if cfg!(test) { 1.0 } else { 100.0 };

/// Which clause should drive each arm of a page, remembering what it counted:
/// the arms of one tenant share their free-text clause, and its matches are
/// counted once.
#[derive(Default)]
struct DriverChoices {
    matches: HashMap<String, i64>,
}

impl DriverChoices {
    /// The clause with the fewest matches, when they are few enough that
    /// fetching them all and sorting them costs less than walking the arm's
    /// index in order until the page is full. Walking costs about
    /// `scope / matches × page` cheap index steps, fetching about `matches`
    /// row reads at some [`ROW_READ_STEPS`] times the cost each: they meet
    /// near `matches = sqrt(scope × page / ROW_READ_STEPS)`.
    fn choose(
        &mut self,
        connection: &Connection,
        tenants: &[i64],
        conditions: &filter_sql::Conditions,
        limit: u32,
        offset: i64,
    ) -> Result<Choice> {
        if conditions.drivers.is_empty() {
            return Ok(Choice {
                driver: None,
                window: None,
            });
        }
        let scope = scope_size(connection, tenants)?;
        let page = i64::from(limit) + 1 + offset;
        let bound = ((scope as f64 * page as f64 / ROW_READ_STEPS).sqrt() as i64).max(page);
        // Free text searched within windows first pays only when the first
        // window is likely to fill the page; otherwise the walk of the time
        // index that checks each entry against the window's matches goes on
        // through the whole scope, and the page is read again.
        let window_fills = page.saturating_mul(scope) / FIRST_TEXT_WINDOW;
        let counted = bound.max(window_fills) + 1;
        let text_driver = conditions.text.as_ref().map(|text| text.driver);
        let mut best: Option<(usize, i64)> = None;
        let mut text_matches = 0;
        for (number, driver) in conditions.drivers.iter().enumerate() {
            let sql = driver.count_sql(counted);
            let key = format!("{sql}\n{:?}", driver.params);
            let matches = match self.matches.get(&key) {
                Some(matches) => *matches,
                None => {
                    let matches: i64 = connection
                        .prepare_cached(&sql)?
                        .query_row(rusqlite::params_from_iter(&driver.params), |row| row.get(0))?;
                    self.matches.insert(key, matches);
                    matches
                }
            };
            if text_driver == Some(number) {
                text_matches = matches;
            }
            if matches <= bound && best.is_none_or(|(_, fewest)| matches < fewest) {
                best = Some((number, matches));
            }
        }
        let driver = best.map(|(number, _)| number);
        let window = match text_driver {
            Some(_) if driver != text_driver && text_matches > window_fills => {
                Some(TextWindow::First)
            }
            // Fetching a page of the matches and finding where it ends in
            // the search index pays once there are a few pages of them: when
            // the text drives, and when nothing does but the matches are too
            // few for a first window to fill the page (the walk of the arm's
            // index would check thousands of entries for each match it finds).
            Some(_) if (driver == text_driver || driver.is_none()) && text_matches > 2 * page => {
                Some(TextWindow::ThroughPage)
            }
            _ => None,
        };
        Ok(Choice { driver, window })
    }
}

/// How an arm of a page is read.
struct Choice {
    /// The driving clause, if one has few enough matches; `raw_page` makes
    /// the free text drive once a window through its page opens.
    driver: Option<usize>,
    /// Whether its free text is searched within a window first, and which.
    window: Option<TextWindow>,
}

/// The first window of an arm's free-text search.
#[derive(Clone, Copy)]
enum TextWindow {
    /// Free text that does not drive: the newest (oldest) [`FIRST_TEXT_WINDOW`] events.
    First,
    /// Free text of one tenant with a few pages of matches, which drives or
    /// which nothing else does: a few matches past its page's last, if the
    /// tenant's arrival order shows that nothing before that comes first
    /// (the text then drives).
    ThroughPage,
}

/// `filter` with its first positive category clause read through the action
/// index ([`crate::categories::through_actions`]), from `action_categories`.
fn categories_as_actions<'f>(
    connection: &Connection,
    tenants: &[i64],
    filter: &'f Filter,
) -> Result<std::borrow::Cow<'f, Filter>> {
    crate::categories::through_actions(filter, || {
        let mut statement = connection.prepare_cached(&format!(
            "SELECT DISTINCT action, category FROM action_categories WHERE tenant_no IN ({})",
            filter_sql::placeholders(tenants.len())
        ))?;
        let pairs = statement
            .query_map(rusqlite::params_from_iter(tenants), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(pairs)
    })
}

/// The number of events of a resolved scope that match its filter, its
/// free-text words and actors looked up as `lookups` says.
fn count_events(
    connection: &Connection,
    resolved: &Resolved<'_>,
    lookups: &filter_sql::Lookups,
    now: Timestamp,
) -> Result<u64> {
    let (tenants, filter) = (&resolved.tenants, resolved.filter.as_ref());
    if filter.clauses.is_empty() {
        // Every event of the tenants: their logs' sizes (seq has no gaps, nothing is deleted).
        return Ok(scope_size(connection, &tenants.numbers)? as u64);
    }
    if let Some((sql, params)) = filter_sql::action_total(&tenants.numbers, filter) {
        // Actions (or categories, as their actions) alone: the events each
        // action holds, kept as they are stored, summed.
        let count: i64 = connection
            .prepare_cached(&sql)?
            .query_row(rusqlite::params_from_iter(&params), |row| row.get(0))?;
        return Ok(count as u64);
    }
    if let Some((from, to)) = crate::days::time_range(filter, now)
        && let Some(count) = time_total(connection, &tenants.numbers, from, to)?
    {
        return Ok(count);
    }
    let conditions = filter_sql::build(&tenants.numbers, &tenants.by_no, filter, lookups, now)?;
    if let Some(driver) = conditions.sole_driver() {
        // Free text, actors or targets alone: counted from the search index,
        // the actor index or the target index, without reading the events.
        let count: i64 = connection
            .prepare_cached(&driver.total_sql)?
            .query_row(rusqlite::params_from_iter(&driver.params), |row| row.get(0))?;
        return Ok(count as u64);
    }
    let sql = format!("SELECT count(*) FROM events WHERE {}", conditions.sql());
    let count: i64 = connection
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(conditions.params()), |row| {
            row.get(0)
        })?;
    Ok(count as u64)
}

/// The events of `tenants` that occurred from `from` to `to` (inclusive,
/// microseconds; None: unbounded), when the range spans a whole day: the
/// whole days' counts (`event_days`, kept by the applier in the transaction
/// that stores the events, so exact in every snapshot; no event is ever
/// removed), and the partial days at either end counted in the time index.
/// None when no whole day lies within the range (its count reads at most
/// two days of the index).
fn time_total(
    connection: &Connection,
    tenants: &[i64],
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Option<u64>> {
    let (first, past, edges) = match crate::days::range_total(from, to) {
        RangeTotal::Empty => return Ok(Some(0)),
        RangeTotal::Partial => return Ok(None),
        RangeTotal::Days { first, past, edges } => (first, past, edges),
    };
    let scope = filter_sql::placeholders(tenants.len());
    let tenant_params = tenants
        .iter()
        .map(|tenant| rusqlite::types::Value::Integer(*tenant));
    let days: i64 = connection
        .prepare_cached(&format!(
            "SELECT coalesce(sum(events), 0) FROM event_days WHERE tenant_no IN ({scope})
             AND day >= coalesce(?, day) AND day < coalesce(?, day + 1)"
        ))?
        .query_row(
            rusqlite::params_from_iter(tenant_params.clone().chain([first.into(), past.into()])),
            |row| row.get(0),
        )?;
    let mut count_edge = connection.prepare_cached(&format!(
        "SELECT count(*) FROM events WHERE tenant_no IN ({scope}) AND occurred_at >= ? AND occurred_at < ?"
    ))?;
    let mut total = days;
    for (low, high) in edges {
        total += count_edge.query_row(
            rusqlite::params_from_iter(tenant_params.clone().chain([low.into(), high.into()])),
            |row| row.get::<_, i64>(0),
        )?;
    }
    Ok(Some(total as u64))
}

impl Store for SqliteStore {
    fn create_tenant(&self, tenant: &NewTenant) -> Result<Tenant> {
        self.write(|connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = transaction.query_row(
                "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)",
                [&tenant.id],
                |row| row.get(0),
            )?;
            if exists {
                return Err(StoreError::TenantExists(tenant.id.clone()));
            }
            if let Some(parent) = &tenant.parent {
                let parent_exists: bool = transaction.query_row(
                    "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)",
                    [parent],
                    |row| row.get(0),
                )?;
                if !parent_exists {
                    return Err(StoreError::TenantNotFound(parent.clone()));
                }
            }
            let created_at = Timestamp::now();
            transaction.execute(
                "INSERT INTO tenants (id, name, parent, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    tenant.id,
                    tenant.name,
                    tenant.parent,
                    created_at.as_microsecond()
                ],
            )?;
            if transaction.last_insert_rowid() > MAX_TENANT_NO {
                // Dropping the transaction rolls the insert back.
                return Err(StoreError::OutOfRange(format!(
                    "this store holds the most tenants it can ({MAX_TENANT_NO})"
                )));
            }
            transaction.commit()?;
            Ok(Tenant {
                id: tenant.id.clone(),
                name: tenant.name.clone(),
                parent: tenant.parent.clone(),
                created_at: evident_core::event::truncate_to_micros(created_at),
            })
        })
    }

    fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        self.lookup(|connection| {
            connection
                .prepare_cached(&format!(
                    "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"
                ))?
                .query_row([id], TenantRow::read)
                .optional()?
                .map(TenantRow::into_tenant)
                .transpose()
        })
    }

    fn tenants(&self) -> Result<Vec<Tenant>> {
        self.lookup(|connection| {
            let mut statement = connection
                .prepare_cached(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"))?;
            let rows = statement.query_map([], TenantRow::read)?;
            rows.map(|row| row?.into_tenant()).collect()
        })
    }

    fn rename_tenant(&self, id: &str, name: &str) -> Result<Tenant> {
        self.write(|connection| {
            let changed = connection.execute(
                "UPDATE tenants SET name = ?1 WHERE id = ?2",
                params![name, id],
            )?;
            if changed == 0 {
                return Err(StoreError::TenantNotFound(id.to_owned()));
            }
            let row = connection.query_row(
                &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?1"),
                [id],
                TenantRow::read,
            )?;
            row.into_tenant()
        })
    }

    fn subtree(&self, id: &str) -> Result<Vec<String>> {
        self.lookup(|connection| {
            let mut statement = connection.prepare_cached(
                "WITH RECURSIVE subtree(id, depth) AS (
                     SELECT id, 0 FROM tenants WHERE id = ?1
                     UNION ALL
                     SELECT tenants.id, subtree.depth + 1 FROM tenants JOIN subtree ON tenants.parent = subtree.id
                 )
                 SELECT id FROM subtree ORDER BY depth, id",
            )?;
            let rows = statement.query_map([id], |row| row.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    fn create_key(&self, key: &NewApiKey) -> Result<ApiKey> {
        self.write(|connection| {
            if let Some(tenant) = &key.tenant {
                require_tenant(connection, tenant)?;
            }
            let created_at = evident_core::event::truncate_to_micros(Timestamp::now());
            connection.execute(
                "INSERT INTO api_keys (id, name, tenant, scopes, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![key.id, key.name, key.tenant, scopes_text(&key.scopes), key.hash.as_slice(), created_at.as_microsecond()],
            )?;
            Ok(ApiKey {
                id: key.id.clone(),
                name: key.name.clone(),
                tenant: key.tenant.clone(),
                scopes: key.scopes.clone(),
                created_at,
                revoked_at: None,
            })
        })
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        self.lookup(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))?;
            let rows = statement.query_map([], KeyRow::read)?;
            rows.map(|row| row?.into_key()).collect()
        })
    }

    fn active_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<(ApiKey, [u8; 32])>> {
        self.lookup(|connection| {
            let found = connection
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS}, hash FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL"
                ))?
                .query_row([hash.as_slice()], |row| Ok((KeyRow::read(row)?, row.get::<_, Vec<u8>>(6)?)))
                .optional()?;
            let Some((row, stored)) = found else { return Ok(None) };
            Ok(Some((row.into_key()?, hash32(&stored, "key hash")?)))
        })
    }

    fn revoke_key(&self, id: &str) -> Result<ApiKey> {
        self.write(|connection| {
            let now = Timestamp::now().as_microsecond();
            connection.execute(
                "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                params![now, id],
            )?;
            let row = connection
                .query_row(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                    [id],
                    KeyRow::read,
                )
                .optional()?
                .ok_or_else(|| StoreError::KeyNotFound(id.to_owned()))?;
            row.into_key()
        })
    }

    fn key(&self, id: &str) -> Result<Option<ApiKey>> {
        self.lookup(|connection| {
            connection
                .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], KeyRow::read)
                .optional()?
                .map(KeyRow::into_key)
                .transpose()
        })
    }

    fn create_viewer_link(&self, link: &NewViewerLink) -> Result<ViewerLink> {
        self.write(|connection| {
            require_tenant(connection, &link.tenant)?;
            let created_at = evident_core::event::truncate_to_micros(Timestamp::now());
            connection.execute(
                "INSERT INTO viewer_links (id, tenant, token_hash, include_descendants, query, title, created_by, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    link.id,
                    link.tenant,
                    link.token_hash.as_slice(),
                    link.include_descendants,
                    link.query,
                    link.title,
                    link.created_by,
                    created_at.as_microsecond(),
                    link.expires_at.as_microsecond()
                ],
            )?;
            viewer_link_where(connection, "id = ?1", &link.id)?
                .ok_or_else(|| StoreError::ViewerLinkNotFound(link.id.clone()))
        })
    }

    fn viewer_link(&self, id: &str) -> Result<Option<ViewerLink>> {
        self.lookup(|connection| viewer_link_where(connection, "id = ?1", &id))
    }

    fn viewer_links(&self, tenant: &str) -> Result<Vec<ViewerLink>> {
        self.lookup(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {VIEWER_LINK_COLUMNS} FROM viewer_links WHERE tenant = ?1 ORDER BY created_at DESC, id"
            ))?;
            let rows = statement.query_map([tenant], ViewerLinkRow::read)?;
            rows.map(|row| row?.into_link()).collect()
        })
    }

    fn redeem_viewer_link(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ViewerLink>> {
        self.write(|connection| {
            // One statement decides: two redemptions racing cannot both see used_at empty.
            let used = connection.execute(
                "UPDATE viewer_links SET used_at = ?1
                 WHERE token_hash = ?2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1",
                params![now.as_microsecond(), token_hash.as_slice()],
            )?;
            if used == 0 {
                return Ok(None);
            }
            viewer_link_where(connection, "token_hash = ?1", &token_hash.as_slice())
        })
    }

    fn revoke_viewer_link(&self, id: &str) -> Result<ViewerLink> {
        self.write(|connection| {
            connection.execute(
                "UPDATE viewer_links SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
                params![Timestamp::now().as_microsecond(), id],
            )?;
            viewer_link_where(connection, "id = ?1", &id)?
                .ok_or_else(|| StoreError::ViewerLinkNotFound(id.to_owned()))
        })
    }

    /// One append sequences and writes its record while another's is synced.
    fn concurrent_appends(&self) -> usize {
        2
    }

    fn append(
        &self,
        batches: &[AppendBatch],
        recorded_at: Timestamp,
    ) -> Result<Vec<Result<Vec<Receipt>, BatchError>>> {
        let recorded_at = evident_core::event::truncate_to_micros(recorded_at);
        self.ingest()?.append(batches, recorded_at, None)
    }

    fn query(&self, query: &EventQuery) -> Result<EventPage> {
        self.read(|connection| query_page(connection, &self.dictionaries, query))
    }

    fn raw_page(&self, query: &EventQuery) -> Result<RawPage> {
        self.read(|connection| raw_page(connection, &self.dictionaries, query))
    }

    fn count(&self, scope: &TenantScope, filter: &Filter, now: Timestamp) -> Result<u64> {
        self.read(|connection| match resolve(connection, scope, filter)? {
            Some(resolved) => {
                let lookups = filter_sql::Lookups::of(connection, filter)?;
                count_events(connection, &resolved, &lookups, now)
            }
            None => Ok(0),
        })
    }

    fn query_with_total(&self, query: &EventQuery) -> Result<(RawPage, u64)> {
        self.read(|connection| {
            // One read transaction: the total and the page see the same snapshot.
            let transaction = connection.unchecked_transaction()?;
            // Of evident.db first: the search index, which commits before it,
            // then holds every event the transaction reads (`ingest::apply`).
            transaction.query_row("SELECT applied FROM main.journal_state", [], |_| Ok(()))?;
            // The total and the page share the scope, the category clause
            // read as actions, and the words and actors looked up, once.
            let answer = match resolve(&transaction, &query.scope, &query.filter)? {
                Some(resolved) => {
                    let lookups = filter_sql::Lookups::of(&transaction, &query.filter)?;
                    let total = count_events(&transaction, &resolved, &lookups, query.now)?;
                    let page = resolved_page(
                        &transaction,
                        &self.dictionaries,
                        &resolved,
                        query,
                        &lookups,
                    )?;
                    (page, total)
                }
                None => (RawPage::default(), 0),
            };
            transaction.commit()?;
            Ok(answer)
        })
    }

    fn get(&self, scope: &TenantScope, id: Uuid) -> Result<Option<Event>> {
        self.read(|connection| {
            let tenants = resolve_scope(connection, scope)?;
            let found = connection
                .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))?
                .query_row([id.as_bytes().as_slice()], |row| {
                    let tenant_no: i64 = row.get(1)?;
                    if !tenants.by_no.contains_key(&tenant_no) {
                        return Ok(None);
                    }
                    Ok(Some(event_from_row(
                        row,
                        &self.dictionaries,
                        &tenants,
                        true,
                    )))
                })
                .optional()?
                .flatten();
            found.transpose().map(|event| event.map(|(event, _)| event))
        })
    }

    fn tree_head(&self, tenant: &str) -> Result<Option<TreeHead>> {
        self.read(|connection| {
            let transaction = connection.unchecked_transaction()?;
            let found: Option<(i64, i64)> = transaction
                .prepare_cached("SELECT no, next_seq FROM tenants WHERE id = ?1")?
                .query_row([tenant], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let head = match found {
                Some((tenant_no, size)) => {
                    Some(log::tree_head(&transaction, tenant_no, size as u64)?)
                }
                None => None,
            };
            transaction.commit()?;
            Ok(head)
        })
    }

    fn inclusion_proofs(
        &self,
        tenant: &str,
        indexes: &[u64],
        size: u64,
    ) -> Result<Option<Vec<Vec<[u8; 32]>>>> {
        self.in_tenant_log(tenant, |stored, tree_size| {
            check_inclusion(indexes, size, tree_size)?;
            let nodes = evident_core::log::merkle::CachedNodes::new(stored, PROOF_NODE_CACHE);
            indexes
                .iter()
                .map(|index| evident_core::log::merkle::inclusion_proof(&nodes, *index, size))
                .collect::<Result<Vec<_>>>()
        })
    }

    fn consistency_proof(&self, tenant: &str, from: u64, to: u64) -> Result<Option<Vec<[u8; 32]>>> {
        self.in_tenant_log(tenant, |nodes, tree_size| {
            check_consistency(from, to, tree_size)?;
            evident_core::log::merkle::consistency_proof(nodes, from, to)
        })
    }

    fn leaf_hashes(&self, tenant: &str) -> Result<Vec<(u64, [u8; 32])>> {
        self.read(|connection| {
            let Some((tenant_no, _)) = tenant_log(connection, tenant)? else {
                return Ok(Vec::new());
            };
            log::leaf_hashes(connection, tenant_no)
        })
    }

    fn add_checkpoint(&self, tenant: &str, tree_size: u64, note: &str) -> Result<()> {
        self.write(|connection| {
            let Some((tenant_no, _)) = tenant_log(connection, tenant)? else {
                return Err(StoreError::TenantNotFound(tenant.to_owned()));
            };
            connection.execute(
                "INSERT OR IGNORE INTO checkpoints (tenant_no, tree_size, note, signed_at) VALUES (?1, ?2, ?3, ?4)",
                params![tenant_no, tree_size as i64, note, Timestamp::now().as_microsecond()],
            )?;
            Ok(())
        })
    }

    fn checkpoints(&self, tenant: &str, from_size: u64) -> Result<Vec<StoredCheckpoint>> {
        self.lookup(|connection| {
            let Some((tenant_no, _)) = tenant_log(connection, tenant)? else { return Ok(Vec::new()) };
            let mut statement = connection.prepare_cached(
                "SELECT tree_size, note, signed_at FROM checkpoints WHERE tenant_no = ?1 AND tree_size >= ?2 ORDER BY tree_size",
            )?;
            let rows = statement.query_map(params![tenant_no, from_size as i64], checkpoint_row)?;
            rows.map(|row| row?.into_checkpoint()).collect()
        })
    }

    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<StoredCheckpoint>> {
        self.lookup(|connection| {
            let Some((tenant_no, _)) = tenant_log(connection, tenant)? else { return Ok(None) };
            connection
                .prepare_cached(
                    "SELECT tree_size, note, signed_at FROM checkpoints WHERE tenant_no = ?1 ORDER BY tree_size DESC LIMIT 1",
                )?
                .query_row([tenant_no], checkpoint_row)
                .optional()?
                .map(CheckpointRow::into_checkpoint)
                .transpose()
        })
    }

    fn put_tenant_catalog(&self, tenant: &str, body: &str) -> Result<()> {
        self.write(|connection| {
            require_tenant(connection, tenant)?;
            connection.execute(
                "INSERT INTO tenant_catalogs (tenant, body, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                params![tenant, body, Timestamp::now().as_microsecond()],
            )?;
            Ok(())
        })
    }

    fn end_session(&self, token_hash: &[u8; 32], expires_at: Timestamp) -> Result<()> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            transaction.execute(
                "DELETE FROM ended_sessions WHERE expires_at < ?1",
                [Timestamp::now().as_microsecond()],
            )?;
            transaction.execute(
                "INSERT OR IGNORE INTO ended_sessions (token_hash, expires_at) VALUES (?1, ?2)",
                params![token_hash.as_slice(), expires_at.as_microsecond()],
            )?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn session_ended(&self, token_hash: &[u8; 32]) -> Result<bool> {
        self.lookup(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM ended_sessions WHERE token_hash = ?1)",
                )?
                .query_row([token_hash.as_slice()], |row| row.get(0))?)
        })
    }

    fn metadata(&self) -> Result<StoreMetadata> {
        self.lookup(|connection| {
            let transaction = connection.unchecked_transaction()?;
            let mut metadata = StoreMetadata::default();
            let mut statement = transaction.prepare(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY no"))?;
            for row in statement.query_map([], TenantRow::read)? {
                metadata.tenants.push(row?.into_tenant()?);
            }
            for (sql, into) in [
                ("SELECT tenant, body FROM tenant_catalogs ORDER BY tenant", &mut metadata.catalogs),
                ("SELECT tenant, body FROM tenant_ui ORDER BY tenant", &mut metadata.ui_settings),
            ] {
                let mut statement = transaction.prepare(sql)?;
                for row in statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))? {
                    into.push(row?);
                }
            }
            let mut statement = transaction.prepare("SELECT token_hash, expires_at FROM ended_sessions")?;
            for row in statement.query_map([], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?)))? {
                let (hash, expires_at) = row?;
                metadata.ended_sessions.push((hash32(&hash, "session hash")?, timestamp(expires_at)?));
            }
            let mut statement = transaction.prepare(
                "SELECT tenants.id, tree_size, note, signed_at FROM checkpoints JOIN tenants ON tenants.no = checkpoints.tenant_no
                 ORDER BY tenants.no, tree_size",
            )?;
            for row in statement.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, CheckpointRow(row.get(1)?, row.get(2)?, row.get(3)?)))
            })? {
                let (tenant, checkpoint) = row?;
                metadata.checkpoints.push((tenant, checkpoint.into_checkpoint()?));
            }
            let mut keys = transaction.prepare(&format!("SELECT {KEY_COLUMNS}, hash FROM api_keys ORDER BY created_at, id"))?;
            let keys = keys.query_map([], |row| Ok((KeyRow::read(row)?, row.get::<_, Vec<u8>>(6)?)))?;
            for key in keys {
                let (row, hash) = key?;
                metadata.keys.push((row.into_key()?, hash32(&hash, "key hash")?));
            }
            let mut links = transaction.prepare(&format!(
                "SELECT {VIEWER_LINK_COLUMNS}, token_hash FROM viewer_links ORDER BY created_at, id"
            ))?;
            let links = links.query_map([], |row| Ok((ViewerLinkRow::read(row)?, row.get::<_, Vec<u8>>(10)?)))?;
            for link in links {
                let (row, hash) = link?;
                metadata.viewer_links.push((row.into_link()?, hash32(&hash, "token hash")?));
            }
            Ok(metadata)
        })
    }

    fn import_metadata(&self, metadata: &StoreMetadata) -> Result<()> {
        self.write(|connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held: i64 = transaction.query_row("SELECT count(*) FROM tenants", [], |row| row.get(0))?;
            if held > 0 {
                return Err(StoreError::OutOfRange(format!(
                    "the destination already holds {held} tenants: a copy goes into an empty store"
                )));
            }
            for tenant in &metadata.tenants {
                transaction.execute(
                    "INSERT INTO tenants (id, name, parent, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![tenant.id, tenant.name, tenant.parent, tenant.created_at.as_microsecond()],
                )?;
            }
            for (key, hash) in &metadata.keys {
                transaction.execute(
                    "INSERT INTO api_keys (id, name, tenant, scopes, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        key.id,
                        key.name,
                        key.tenant,
                        scopes_text(&key.scopes),
                        hash.as_slice(),
                        key.created_at.as_microsecond(),
                        key.revoked_at.map(|at| at.as_microsecond())
                    ],
                )?;
            }
            let now = Timestamp::now().as_microsecond();
            for (tenant, body) in &metadata.catalogs {
                transaction.execute(
                    "INSERT INTO tenant_catalogs (tenant, body, updated_at) VALUES (?1, ?2, ?3)",
                    params![tenant, body, now],
                )?;
            }
            for (tenant, body) in &metadata.ui_settings {
                transaction.execute(
                    "INSERT INTO tenant_ui (tenant, body, updated_at) VALUES (?1, ?2, ?3)",
                    params![tenant, body, now],
                )?;
            }
            for (link, hash) in &metadata.viewer_links {
                transaction.execute(
                    &format!("INSERT INTO viewer_links ({VIEWER_LINK_COLUMNS}, token_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                    params![
                        link.id,
                        link.tenant,
                        link.include_descendants,
                        link.query,
                        link.title,
                        link.created_by,
                        link.created_at.as_microsecond(),
                        link.expires_at.as_microsecond(),
                        link.used_at.map(|at| at.as_microsecond()),
                        link.revoked_at.map(|at| at.as_microsecond()),
                        hash.as_slice()
                    ],
                )?;
            }
            for (hash, expires_at) in &metadata.ended_sessions {
                transaction.execute(
                    "INSERT INTO ended_sessions (token_hash, expires_at) VALUES (?1, ?2)",
                    params![hash.as_slice(), expires_at.as_microsecond()],
                )?;
            }
            for (tenant, checkpoint) in &metadata.checkpoints {
                transaction.execute(
                    "INSERT INTO checkpoints (tenant_no, tree_size, note, signed_at)
                     SELECT no, ?2, ?3, ?4 FROM tenants WHERE id = ?1",
                    params![tenant, checkpoint.tree_size as i64, checkpoint.note, checkpoint.signed_at.as_microsecond()],
                )?;
            }
            transaction.commit()?;
            Ok(())
        })
    }

    fn stored_events(&self, tenant: &str, from_seq: u64, limit: u32) -> Result<Vec<StoredEvent>> {
        self.tenant_rows(tenant, from_seq, limit, |row, tenants| {
            row.to_stored(tenants)
        })
    }

    fn event_leaf_hashes(
        &self,
        tenant: &str,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, [u8; 32])>> {
        self.tenant_rows(tenant, from_seq, limit, |row, tenants| {
            row.leaf_hash(tenants)
        })
    }

    fn import_events(&self, tenant: &str, events: &[StoredEvent]) -> Result<()> {
        let batch = AppendBatch {
            tenant: tenant.to_owned(),
            events: events.iter().map(StoredEvent::as_new).collect(),
        };
        let ingest = self.ingest()?;
        for result in ingest.append(&[batch], Timestamp::now(), Some(events))? {
            result?;
        }
        ingest.caught_up()
    }

    fn put_tenant_ui(&self, tenant: &str, body: &str) -> Result<()> {
        self.write(|connection| {
            require_tenant(connection, tenant)?;
            connection.execute(
                "INSERT INTO tenant_ui (tenant, body, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                params![tenant, body, Timestamp::now().as_microsecond()],
            )?;
            Ok(())
        })
    }

    fn tenant_ui(&self, tenant: &str) -> Result<Option<String>> {
        self.lookup(|connection| {
            Ok(connection
                .prepare_cached("SELECT body FROM tenant_ui WHERE tenant = ?1")?
                .query_row([tenant], |row| row.get(0))
                .optional()?)
        })
    }

    fn tenant_catalogs(&self) -> Result<Vec<(String, String)>> {
        self.lookup(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT tenant, body FROM tenant_catalogs ORDER BY tenant")?;
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<(String, String)>>>()?)
        })
    }

    fn stats(&self) -> Result<StoreStats> {
        let events: i64 = self.read(|connection| {
            Ok(connection.query_row(
                "SELECT coalesce(sum(next_seq), 0) FROM tenants",
                [],
                |row| row.get(0),
            )?)
        })?;
        let mut files: Vec<PathBuf> = [&self.path, &self.search_path]
            .into_iter()
            .flat_map(|path| {
                ["", "-wal", "-shm"].map(|suffix| {
                    let mut name = path.clone().into_os_string();
                    name.push(suffix);
                    PathBuf::from(name)
                })
            })
            .collect();
        if let Some(dir) = self.path.parent() {
            files.extend(journal::segments(&dir.join(journal::JOURNAL_DIR))?);
        }
        let bytes_on_disk = files
            .iter()
            .filter_map(|file| std::fs::metadata(file).ok())
            .map(|metadata| metadata.len())
            .sum();
        Ok(StoreStats {
            events: events as u64,
            bytes_on_disk,
        })
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;
    use crate::TenantScope;

    /// A store as schema version 4 wrote it: rowids in arrival order across
    /// tenants, the search index keyed by them, no Merkle nodes yet.
    fn version_4_store(dir: &Path) {
        let mut connection = Connection::open(dir.join(DATABASE_FILE)).unwrap();
        schema::migrate_to(&mut connection, 4).unwrap();
        connection
            .execute_batch(
                "INSERT INTO tenants (no, id, name, parent, created_at, next_seq) VALUES
                     (1, 'acme', 'Acme', NULL, 0, 2), (2, 'globex', 'Globex', NULL, 0, 1);",
            )
            .unwrap();
        // Interleaved arrivals: acme 0, globex 0, acme 1.
        for (rowid, tenant_no, seq, action, word, target) in [
            (1, 1, 0, "license.revoked", "offboarding", "lic_1"),
            (2, 2, 0, "user.login", "onboarding", "usr_9"),
            (3, 1, 1, "license.created", "renewal", "lic_2"),
        ] {
            let doc = serde_json::json!({
                "actor": {"type": "user", "id": "usr_1", "email": "ada@acme.example"},
                "targets": [{"type": "license", "id": target}],
                "description": format!("Ada {word}"),
            })
            .to_string();
            connection
                .execute(
                    "INSERT INTO events (rowid, tenant_no, seq, id, occurred_at, recorded_at, action, category,
                                         actor_type, actor_id, actor_email, outcome, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, 'uncategorized', 'user', 'usr_1', 'ada@acme.example', 'success', ?7)",
                    params![rowid, tenant_no, seq, Uuid::now_v7().as_bytes().as_slice(), 1_700_000_000_000_000i64 + rowid, action, doc],
                )
                .unwrap();
            connection
                .execute(
                    "INSERT INTO event_targets VALUES (?1, ?2, 'license', ?3, ?4)",
                    params![tenant_no, target, 1_700_000_000_000_000i64 + rowid, rowid],
                )
                .unwrap();
            connection
                .execute(
                    "INSERT INTO events_fts (rowid, body) VALUES (?1, ?2)",
                    params![rowid, format!("{action} Ada {word} {target}")],
                )
                .unwrap();
        }
    }

    /// The event of an ingest body, validated now.
    fn new_event(body: &serde_json::Value) -> evident_core::NewEvent {
        evident_core::event::validate_event(body, None, Timestamp::now(), &Default::default())
            .unwrap()
    }

    fn system_event(action: &str) -> evident_core::NewEvent {
        new_event(&serde_json::json!({"action": action, "actor": {"type": "system"}}))
    }

    /// The first page of 50 of `tenant`'s events matching `query`, oldest first.
    fn oldest_first(tenant: &str, query: &str) -> EventQuery {
        EventQuery {
            scope: TenantScope::single(tenant),
            filter: evident_core::query::parse(query).unwrap(),
            sort: SortOrder::Asc,
            start: PageStart::First,
            limit: 50,
            now: Timestamp::now(),
        }
    }

    /// A fresh store holding the tenant acme.
    fn acme_store(dir: &Path) -> SqliteStore {
        let store = SqliteStore::open(dir).unwrap();
        store
            .create_tenant(&crate::NewTenant {
                id: "acme".into(),
                name: "Acme".into(),
                parent: None,
            })
            .unwrap();
        store
    }

    fn append_to_acme(store: &SqliteStore, events: Vec<evident_core::NewEvent>) {
        append_to(store, "acme", events);
    }

    fn append_to(store: &SqliteStore, tenant: &str, events: Vec<evident_core::NewEvent>) {
        store
            .append(
                &[AppendBatch {
                    tenant: tenant.into(),
                    events,
                }],
                Timestamp::now(),
            )
            .unwrap();
    }

    /// A fresh store holding acme and its sub-account acme-eu.
    fn acme_and_eu_store(dir: &Path) -> SqliteStore {
        let store = acme_store(dir);
        store
            .create_tenant(&crate::NewTenant {
                id: "acme-eu".into(),
                name: "Acme EU".into(),
                parent: Some("acme".into()),
            })
            .unwrap();
        store
    }

    /// The scope of these tenants.
    fn scope_of(tenants: &[&str]) -> TenantScope {
        TenantScope {
            tenants: tenants.iter().map(|tenant| tenant.to_string()).collect(),
        }
    }

    fn search(store: &SqliteStore, tenant: &str, query: &str) -> Vec<(String, u64)> {
        store
            .query(&oldest_first(tenant, query))
            .unwrap()
            .events
            .into_iter()
            .map(|event| (event.action, event.seq))
            .collect()
    }

    #[test]
    fn a_version_4_store_moves_to_the_tenant_rowid_layout_with_its_search_index_and_log() {
        let dir = tempfile::tempdir().unwrap();
        version_4_store(dir.path());
        let store = SqliteStore::open(dir.path()).unwrap();
        // Rows renumbered by tenant and seq.
        let reader = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        let rowids: Vec<(i64, i64, i64)> = reader
            .prepare("SELECT rowid, tenant_no, seq FROM events ORDER BY rowid")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rowids,
            [(1 << 40, 1, 0), ((1 << 40) + 1, 1, 1), (2 << 40, 2, 0)]
        );
        // Free text, targets and actors find the same events as before, each in its tenant only.
        assert_eq!(
            search(&store, "acme", "offboarding"),
            [("license.revoked".to_owned(), 0)]
        );
        assert_eq!(search(&store, "acme", "onboarding"), []);
        assert_eq!(
            search(&store, "globex", "onboarding"),
            [("user.login".to_owned(), 0)]
        );
        assert_eq!(
            search(&store, "acme", "target:license:lic_2"),
            [("license.created".to_owned(), 1)]
        );
        assert_eq!(search(&store, "acme", "lic").len(), 2);
        // Documents written before keep the whole actor, read as written.
        let first = store.query(&oldest_first("acme", "")).unwrap().events[0].id;
        let old = store
            .get(&TenantScope::single("acme"), first)
            .unwrap()
            .unwrap();
        assert_eq!(
            old.actor,
            evident_core::Actor {
                actor_type: evident_core::ActorType::User,
                id: Some("usr_1".into()),
                name: None,
                email: Some("ada@acme.example".into()),
            }
        );
        // Categories are read through the actions the migration listed for them.
        assert_eq!(search(&store, "acme", "category:uncategorized").len(), 2);
        assert_eq!(search(&store, "globex", "category:uncategorized").len(), 1);
        assert_eq!(search(&store, "acme", "category:security"), []);
        // The log was built over the moved events: every leaf matches its stored node.
        let leaves = store.leaves("acme", 0, 100).unwrap();
        let hashes = store.leaf_hashes("acme").unwrap();
        assert_eq!(leaves.len(), 2);
        for (leaf, (index, hash)) in leaves.iter().zip(&hashes) {
            assert_eq!(leaf.object["seq"], *index);
            assert_eq!(leaf.hash(), *hash);
        }
        // The search index, with the targets, is a file of its own, level
        // with the events, and a new event lands in acme's range.
        drop(store);
        let store = SqliteStore::open(dir.path()).unwrap();
        let left_in_main: i64 = reader
            .query_row(
                "SELECT count(*) FROM sqlite_schema
                 WHERE name LIKE 'events_fts%' OR name IN ('pending_rebuilds', 'event_targets')",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(left_in_main, 0);
        assert!(search_is_current(&dir.path().join(SEARCH_FILE), &reader).unwrap());
        let event = system_event("license.renewed");
        let receipts = store
            .append(
                &[AppendBatch {
                    tenant: "acme".into(),
                    events: vec![event],
                }],
                Timestamp::now(),
            )
            .unwrap();
        assert_eq!(receipts[0].as_ref().unwrap()[0].seq, 2);
        assert_eq!(
            search(&store, "acme", "renewed"),
            [("license.renewed".to_owned(), 2)]
        );
        assert_eq!(search(&store, "acme", "category:uncategorized").len(), 3);
        // Events stored before count as late; the applier keeps the order of new ones.
        let time_order = |tenant: &str| -> (Option<i64>, i64) {
            reader
                .query_row(
                    "SELECT max_occurred_at, late_seq FROM tenants WHERE id = ?1",
                    [tenant],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .unwrap()
        };
        let renewed = store.query(&oldest_first("acme", "")).unwrap().events[2]
            .occurred_at
            .as_microsecond();
        assert_eq!(time_order("acme"), (Some(renewed), 1));
        assert_eq!(time_order("globex"), (Some(1_700_000_000_000_002), 0));
        let mut late = system_event("license.revoked");
        late.occurred_at = Timestamp::from_microsecond(1_700_000_000_000_002).unwrap();
        append_to_acme(&store, vec![late]);
        store.ingest().unwrap().caught_up().unwrap();
        assert_eq!(time_order("acme"), (Some(renewed), 3));
    }

    #[test]
    fn categories_are_read_through_their_actions_before_and_after_a_catalog_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = acme_store(dir.path());
        let append = |pairs: &[(&str, &str)]| {
            let events = pairs
                .iter()
                .map(|(action, category)| {
                    let mut event = system_event(action);
                    event.category = (*category).into();
                    event
                })
                .collect();
            append_to_acme(&store, events);
        };
        // Answers a query's page and total, and checks them against the events filtered in memory.
        type Keep<'k> = &'k dyn Fn(&evident_core::Event) -> bool;
        let check = |text: &str, keep: Keep| {
            let query = EventQuery {
                start: PageStart::Offset(0),
                ..oldest_first("acme", text)
            };
            let (page, total) = store.query_with_total(&query).unwrap();
            let every = store
                .query(&EventQuery {
                    filter: Filter::default(),
                    ..query.clone()
                })
                .unwrap()
                .events;
            let expected: Vec<u64> = every
                .iter()
                .filter(|event| keep(event))
                .map(|event| event.seq)
                .collect();
            let got: Vec<u64> = page
                .events()
                .unwrap()
                .iter()
                .map(|event| event.seq)
                .collect();
            assert_eq!(got, expected, "{text}");
            assert_eq!(total, expected.len() as u64, "{text}");
            expected.len()
        };
        let queries: [(&str, Keep); 6] = [
            ("category:security", &|event| event.category == "security"),
            ("category:security,billing", &|_| true),
            (
                "category:security action:user.login,invoice.paid",
                &|event| {
                    event.category == "security"
                        && ["user.login", "invoice.paid"].contains(&event.action.as_str())
                },
            ),
            ("category:security action:user.*", &|event| {
                event.category == "security" && event.action.starts_with("user.")
            }),
            ("-category:security", &|event| event.category != "security"),
            ("category:audit", &|_| false),
        ];
        append(&[
            ("user.login", "security"),
            ("invoice.paid", "billing"),
            ("user.mfa_enabled", "security"),
            ("user.login", "security"),
        ]);
        let before: Vec<usize> = queries
            .iter()
            .map(|(text, keep)| check(text, keep))
            .collect();
        assert_eq!(before, [3, 4, 2, 3, 1, 0]);
        // A changed catalog: invoice.paid now in security, user.login in billing.
        append(&[("invoice.paid", "security"), ("user.login", "billing")]);
        let after: Vec<usize> = queries
            .iter()
            .map(|(text, keep)| check(text, keep))
            .collect();
        assert_eq!(after, [4, 6, 3, 3, 2, 0]);
    }

    #[test]
    fn documents_keep_of_the_actor_only_what_its_columns_cannot_give_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = acme_store(dir.path());
        let actors = [
            serde_json::json!({"type": "user", "id": "usr_ada", "name": "Ada Lovelace", "email": "Ada@Acme.example"}),
            serde_json::json!({"type": "user", "id": "usr_grace", "name": "Grace Hopper", "email": "grace@acme.example"}),
            serde_json::json!({"type": "service", "id": "svc_scim", "email": "İnci@acme.example"}),
            serde_json::json!({"type": "system"}),
        ];
        let events: Vec<_> = actors.iter().map(login_by).collect();
        append_to_acme(&store, events.clone());
        drop(store);
        let reader = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        let docs: Vec<String> = rows(&reader, "SELECT doc FROM events ORDER BY rowid", |row| {
            row.get(0)
        });
        // The name, and the email only where its lowercased column would not give it back.
        assert_eq!(
            docs[0],
            r#"{"actor":{"name":"Ada Lovelace","email":"Ada@Acme.example"}}"#
        );
        assert_eq!(docs[1], r#"{"actor":{"name":"Grace Hopper"}}"#);
        assert_eq!(docs[2], r#"{"actor":{"email":"İnci@acme.example"}}"#);
        assert_eq!(docs[3], "{}");
        // Every actor reads back as sent, in pages, by id and in the log's leaves.
        let store = SqliteStore::open(dir.path()).unwrap();
        let page = store.query(&oldest_first("acme", "")).unwrap();
        let sent: Vec<&evident_core::Actor> = events.iter().map(|event| &event.actor).collect();
        let read: Vec<&evident_core::Actor> =
            page.events.iter().map(|event| &event.actor).collect();
        assert_eq!(read, sent);
        let raw = store.raw_page(&oldest_first("acme", "")).unwrap();
        for (index, event) in page.events.iter().enumerate() {
            assert_eq!(raw.event(index).unwrap().to_event(), *event);
            let got = store
                .get(&TenantScope::single("acme"), event.id)
                .unwrap()
                .unwrap();
            assert_eq!(got.actor, event.actor);
        }
        let leaves = store.leaves("acme", 0, 100).unwrap();
        let hashes = store.event_leaf_hashes("acme", 0, 100).unwrap();
        assert_eq!(leaves.len(), 4);
        for (leaf, (seq, hash)) in leaves.iter().zip(&hashes) {
            assert_eq!(leaf.object["seq"], *seq);
            // (its name and email are in the leaf's personal-data side-car)
            assert_eq!(leaf.object["actor"]["id"], actors[*seq as usize]["id"]);
            assert_eq!(leaf.hash(), *hash);
        }
        assert_eq!(hashes, store.leaf_hashes("acme").unwrap());
        // Filters by email still ignore its case.
        assert_eq!(search(&store, "acme", "actor:ada@acme.example").len(), 1);
        assert_eq!(search(&store, "acme", "actor:inci@acme.example").len(), 0);
        assert_eq!(search(&store, "acme", "actor:İnci@acme.example").len(), 1);
    }

    /// Actors of every shape: an id with two emails over time, an email
    /// alone, an id that is another actor's email, none at all.
    fn actor_events() -> Vec<evident_core::NewEvent> {
        [
            serde_json::json!({"type": "user", "id": "usr_ada", "email": "Ada@Acme.example"}),
            serde_json::json!({"type": "user", "id": "usr_ada", "email": "ada.lovelace@acme.example"}),
            serde_json::json!({"type": "system", "email": "ops@acme.example"}),
            serde_json::json!({"type": "system"}),
            serde_json::json!({"type": "service", "id": "grace@acme.example"}),
            serde_json::json!({"type": "user", "id": "usr_grace", "email": "grace@acme.example"}),
        ]
        .iter()
        .cycle()
        .take(12)
        .map(login_by)
        .collect()
    }

    /// A sign-in by `actor` (its JSON), now.
    fn login_by(actor: &serde_json::Value) -> evident_core::NewEvent {
        new_event(&serde_json::json!({"action": "user.login", "actor": actor}))
    }

    const ACTOR_QUERIES: [&str; 10] = [
        "actor:usr_ada",
        "actor:ADA@acme.example",
        "actor:ada.lovelace@acme.example",
        "actor:ops@acme.example",
        "actor:grace@acme.example",
        "actor:grace@*",
        "actor:usr_grace,ops@acme.example",
        "-actor:usr_ada",
        "actor:usr_ada -actor:ada@acme.example",
        "actor:nobody@acme.example",
    ];

    /// Each of `queries` in acme: the seqs of its page, newest first, and its total.
    fn answers(store: &SqliteStore, queries: &[&str]) -> Vec<(Vec<u64>, u64)> {
        queries
            .iter()
            .map(|text| {
                let query = EventQuery {
                    sort: SortOrder::Desc,
                    ..oldest_first("acme", text)
                };
                let (page, total) = store.query_with_total(&query).unwrap();
                let seqs = (0..page.len()).map(|index| page.place(index).1).collect();
                (seqs, total)
            })
            .collect()
    }

    #[test]
    fn an_actor_is_numbered_once_and_found_by_its_id_or_email() {
        let dir = tempfile::tempdir().unwrap();
        let store = acme_store(dir.path());
        // In two appends: the second finds the numbers the first gave.
        let events = actor_events();
        append_to_acme(&store, events[..6].to_vec());
        append_to_acme(&store, events[6..].to_vec());
        let numbered: Vec<(Option<String>, Option<String>)> = store
            .rows("SELECT id, email FROM actors ORDER BY no", |row| {
                Ok((row.get(0)?, row.get(1)?))
            });
        let actor = |id: Option<&str>, email: Option<&str>| {
            (id.map(str::to_owned), email.map(str::to_owned))
        };
        assert_eq!(
            numbered,
            [
                actor(Some("usr_ada"), Some("ada@acme.example")),
                actor(Some("usr_ada"), Some("ada.lovelace@acme.example")),
                actor(None, Some("ops@acme.example")),
                actor(Some("grace@acme.example"), None),
                actor(Some("usr_grace"), Some("grace@acme.example")),
            ]
        );
        let unnumbered: Vec<u64> = store
            .rows("SELECT seq FROM events WHERE actor_no IS NULL", |row| {
                row.get(0)
            });
        assert_eq!(unnumbered, [3, 9], "the system actor without an id");
        let answers = answers(&store, &ACTOR_QUERIES);
        let expected: [(&[u64], u64); 10] = [
            (&[7, 6, 1, 0], 4),
            (&[6, 0], 2),
            (&[7, 1], 2),
            (&[8, 2], 2),
            // The service whose id it is and the user whose email it is.
            (&[11, 10, 5, 4], 4),
            // An email's beginning: emails only.
            (&[11, 5], 2),
            (&[11, 8, 5, 2], 4),
            (&[11, 10, 9, 8, 5, 4, 3, 2], 8),
            (&[7, 1], 2),
            (&[], 0),
        ];
        for ((query, (seqs, total)), (want, want_total)) in
            ACTOR_QUERIES.iter().zip(&answers).zip(expected)
        {
            assert_eq!((seqs.as_slice(), *total), (want, want_total), "{query}");
        }
    }

    /// Takes the store in `dir` back to schema `version` (14 or 15), its
    /// statistics gathered: what the migrations after it made is dropped,
    /// what they replaced made again.
    fn downgrade(dir: &Path, version: i64) {
        let undo = [
            (
                15,
                "DROP INDEX events_actor;
                 ALTER TABLE events DROP COLUMN actor_no;
                 DROP TABLE actors;
                 CREATE INDEX events_actor_id ON events(tenant_no, actor_id, occurred_at);
                 CREATE INDEX events_actor_email ON events(tenant_no, actor_email, occurred_at);",
            ),
            (
                16,
                "DROP INDEX events_action;
                 ALTER TABLE events DROP COLUMN action_no;
                 DROP TABLE actions;
                 CREATE INDEX events_action ON events(tenant_no, action, occurred_at);",
            ),
            (17, "ALTER TABLE actions DROP COLUMN events;"),
            (18, "DROP TABLE event_days;"),
        ];
        let connection = Connection::open(dir.join(DATABASE_FILE)).unwrap();
        connection.execute_batch("ANALYZE;").unwrap();
        for (made_by, sql) in undo.iter().rev() {
            if *made_by > version {
                connection.execute_batch(sql).unwrap();
            }
        }
        connection
            .pragma_update(None, "user_version", version)
            .unwrap();
    }

    /// Whether `index` is the only index named like it, with statistics of
    /// its own, as the store's other indexes have.
    fn has_index_with_statistics(store: &SqliteStore, index: &str) -> bool {
        let named: Vec<String> = store.rows(
            &format!(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE '{index}%'"
            ),
            |row| row.get(0),
        );
        let statistics: i64 = store.rows(
            &format!("SELECT count(*) FROM sqlite_stat1 WHERE idx = '{index}'"),
            |row| row.get(0),
        )[0];
        named == [index] && statistics == 1
    }

    /// A store from before actor numbers is migrated at open: its actors
    /// numbered from its events, the id and email indexes replaced by the
    /// number's, and every actor filter answering as before.
    #[test]
    fn a_store_from_before_actor_numbers_finds_the_same_actors_once_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let store = acme_store(dir.path());
        append_to_acme(&store, actor_events());
        let before = answers(&store, &ACTOR_QUERIES);
        drop(store);
        downgrade(dir.path(), 14);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(answers(&store, &ACTOR_QUERIES), before);
        let actors: i64 = store.rows("SELECT count(*) FROM actors", |row| row.get(0))[0];
        assert_eq!(actors, 5);
        assert!(has_index_with_statistics(&store, "events_actor"));
        // New events of a migrated actor take its number.
        append_to_acme(&store, actor_events()[..1].to_vec());
        assert_eq!(search(&store, "acme", "actor:ADA@acme.example").len(), 3);
        let actors: i64 = store.rows("SELECT count(*) FROM actors", |row| row.get(0))[0];
        assert_eq!(actors, 5);
    }

    /// A tenant's pages of rows (`verify --store`, `store copy`) are read by
    /// their rowid range, in order, whatever the statistics say: with those
    /// of a store analysed at 1.2M events and grown to 10M, the planner took
    /// the time index for the tenant's number and sorted the whole tenant for
    /// every page.
    #[test]
    fn a_tenants_pages_of_rows_read_their_rowid_range_whatever_the_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let store = acme_store(dir.path());
        append_to_acme(&store, actor_events());
        let ids = |events: Vec<StoredEvent>| -> Vec<(u64, uuid::Uuid)> {
            events
                .iter()
                .map(|stored| (stored.event.seq, stored.event.id))
                .collect()
        };
        let before = ids(store.stored_events("acme", 0, 100).unwrap());
        assert_eq!(before.len(), 12);
        drop(store);
        let path = dir.path().join(DATABASE_FILE);
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "ANALYZE;
                 UPDATE sqlite_stat1 SET stat = '1203000 1001 1' WHERE idx = 'events_time';
                 UPDATE sqlite_stat1 SET stat = '1203000 1' WHERE idx = 'events_id';
                 UPDATE sqlite_stat1 SET stat = '1203000 1001 667 1' WHERE idx IN ('events_action', 'events_ip');
                 UPDATE sqlite_stat1 SET stat = '1191516 1001 1001 1' WHERE idx = 'events_actor';",
            )
            .unwrap();
        drop(connection);
        // A new connection reads the statistics as it opens.
        let connection = Connection::open(&path).unwrap();
        let plan = |sql: &str| -> String {
            let mut statement = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let details = statement
                .query_map([1, 2, 3, 4], |row| row.get::<_, String>(3))
                .unwrap();
            details.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        // The premise: with these statistics the tenant's number would choose the index.
        let unhinted = plan(&TENANT_ROWS_IN_RANGE.replace("+tenant_no", "tenant_no"));
        assert!(unhinted.contains("events_time"), "{unhinted}");
        let chosen = plan(&TENANT_ROWS_IN_RANGE);
        assert!(chosen.contains("INTEGER PRIMARY KEY"), "{chosen}");
        assert!(!chosen.contains("TEMP B-TREE"), "{chosen}");
        drop(connection);
        let store = SqliteStore::open(dir.path()).unwrap();
        let mut paged = ids(store.stored_events("acme", 0, 5).unwrap());
        paged.extend(ids(store.stored_events("acme", 5, 100).unwrap()));
        assert_eq!(paged, before);
    }

    /// Likewise for actions: numbered from the actions each tenant recorded,
    /// the action index over the number, every action filter answering as
    /// before (names, patterns, negations, categories).
    #[test]
    fn a_store_from_before_action_numbers_finds_the_same_actions_once_migrated() {
        let queries = [
            "action:user.login",
            "action:user.login,license.revoked",
            "action:user.*",
            "-action:user.*",
            "action:user.* -action:user.login",
            "category:uncategorized",
            "action:nothing.here",
        ];
        let actions = [
            "user.login",
            "user.deleted",
            "license.revoked",
            "user.login",
        ];
        let events = || -> Vec<_> {
            actions
                .iter()
                .cycle()
                .take(10)
                .map(|action| system_event(action))
                .collect()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = acme_store(dir.path());
        append_to_acme(&store, events());
        let numbered = |store: &SqliteStore| -> Vec<(i64, String)> {
            store.rows("SELECT no, action FROM actions ORDER BY no", |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
        };
        // Numbered in order of first appearance, each once.
        assert_eq!(
            numbered(&store)
                .into_iter()
                .map(|(_, action)| action)
                .collect::<Vec<_>>(),
            ["user.login", "user.deleted", "license.revoked"]
        );
        let before = answers(&store, &queries);
        assert_eq!(
            before.iter().map(|(_, total)| *total).collect::<Vec<_>>(),
            [5, 7, 8, 2, 3, 10, 0]
        );
        drop(store);
        downgrade(dir.path(), 15);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(answers(&store, &queries), before);
        assert!(has_index_with_statistics(&store, "events_action"));
        let migrated = numbered(&store);
        assert_eq!(migrated.len(), 3);
        // New events of a migrated action take its number.
        append_to_acme(&store, events());
        assert_eq!(numbered(&store), migrated);
        assert_eq!(search(&store, "acme", "action:user.login").len(), 10);
    }

    #[test]
    fn ipv4_addresses_take_4_bytes_and_networks_of_either_family_find_what_they_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = acme_store(dir.path());
        let ips = [
            Some("203.0.113.7"),
            Some("2001:db8::1"),
            Some("::ffff:198.51.100.9"),
            None,
        ];
        let events = ips
            .iter()
            .map(|ip| {
                let mut body =
                    serde_json::json!({"action": "user.login", "actor": {"type": "system"}});
                if let Some(ip) = ip {
                    body["context"] = serde_json::json!({ "ip": ip });
                }
                new_event(&body)
            })
            .collect();
        append_to_acme(&store, events);
        let lengths: Vec<Option<i64>> = store
            .rows("SELECT length(ip) FROM events ORDER BY rowid", |row| {
                row.get(0)
            });
        assert_eq!(lengths, [Some(4), Some(16), Some(4), None]);
        let page = store.query(&oldest_first("acme", "")).unwrap();
        let read: Vec<Option<String>> = page
            .events
            .iter()
            .map(|event| event.context.ip.map(|ip| ip.to_string()))
            .collect();
        assert_eq!(
            read,
            [
                Some("203.0.113.7"),
                Some("2001:db8::1"),
                Some("198.51.100.9"),
                None
            ]
            .map(|ip| ip.map(str::to_owned))
        );
        let seqs = |query: &str| -> Vec<u64> {
            search(&store, "acme", query)
                .into_iter()
                .map(|(_, seq)| seq)
                .collect()
        };
        assert_eq!(seqs("ip:203.0.113.0/24"), [0]);
        assert_eq!(seqs("ip:203.0.113.7"), [0]);
        assert_eq!(seqs("ip:2001:db8::/32"), [1]);
        // IPv4-mapped networks hold IPv4 addresses; ::/0 holds every address.
        assert_eq!(seqs("ip:::ffff:203.0.113.0/120"), [0]);
        assert_eq!(seqs("ip:::ffff:0:0/96"), [0, 2]);
        assert_eq!(seqs("ip:::/0"), [0, 1, 2]);
        assert_eq!(seqs("ip:0.0.0.0/0"), [0, 2]);
        // 32.1.0.0/16 begins with the bytes 2001:db8::1 begins with: still not a match.
        assert_eq!(seqs("ip:32.1.0.0/16"), Vec::<u64>::new());
        assert_eq!(seqs("-ip:203.0.113.0/24"), [1, 2, 3]);
    }

    /// A total by actions alone is the sum of the events each action holds,
    /// kept by the applier over transactions and tenants (a parent and its
    /// sub-account), equal to the count of the rows; a store made before
    /// the counts has them counted at open.
    #[test]
    fn totals_by_actions_alone_are_the_events_each_action_holds() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let total = |store: &SqliteStore, tenants: &[&str], query: &str| {
            let filter = evident_core::query::parse(query).unwrap();
            store.count(&scope_of(tenants), &filter, now).unwrap()
        };
        // Each total, and the rows' count of the same events (a time bound
        // that every event meets makes the filter more than actions alone).
        let totals = |store: &SqliteStore| -> Vec<(u64, u64)> {
            [
                (&["acme"][..], "action:user.login"),
                (&["acme"][..], "action:license.revoked"),
                (&["acme"][..], "action:user.login,license.revoked"),
                (&["acme"][..], "action:user.*"),
                (&["acme-eu"][..], "action:user.login"),
                (&["acme", "acme-eu"][..], "action:user.login"),
                (&["acme", "acme-eu"][..], "action:user.*,license.*"),
                (&["acme"][..], "action:nothing.here"),
            ]
            .into_iter()
            .map(|(tenants, query)| {
                let counted = total(store, tenants, &format!("{query} from:2000-01-01"));
                (total(store, tenants, query), counted)
            })
            .collect()
        };
        let expected = [
            (9, 9),
            (3, 3),
            (12, 12),
            (9, 9),
            (3, 3),
            (12, 12),
            (15, 15),
            (0, 0),
        ];
        {
            let store = acme_and_eu_store(dir.path());
            for round in 0..3 {
                append_to_acme(
                    &store,
                    (0..round + 2)
                        .map(|_| system_event("user.login"))
                        .chain([system_event("license.revoked")])
                        .collect(),
                );
                append_to(&store, "acme-eu", vec![system_event("user.login")]);
            }
            assert_eq!(totals(&store), expected);
            // The totals are read from the counts: changed by hand, they change.
            store
                .write(|connection| {
                    connection.execute_batch(
                        "UPDATE actions SET events = events + 100 WHERE action = 'license.revoked'",
                    )?;
                    Ok(())
                })
                .unwrap();
            assert_eq!(total(&store, &["acme"], "action:license.revoked"), 103);
        }
        // A store of the version before, without the counts.
        downgrade(dir.path(), 16);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(totals(&store), expected);
    }

    /// A total of a time range alone sums the whole days it spans from the
    /// counts the applier keeps and counts the partial days at its ends:
    /// equal to the rows' count for ranges that start and end at, just
    /// before and just after midnight or within a day, open on either side,
    /// over a parent and its sub-account; a store made before the counts
    /// has them counted at open.
    #[test]
    fn totals_of_a_time_range_alone_are_whole_days_counted_and_partial_ends() {
        use evident_core::{Condition, TimeBound};
        const DAY: i64 = 86_400_000_000;
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let midnight = now.as_microsecond().div_euclid(DAY) * DAY - 8 * DAY;
        let instant = |micros: i64| Timestamp::from_microsecond(micros).unwrap();
        let at = |micros: i64, action: &str| {
            new_event(&serde_json::json!({
                "action": action,
                "actor": {"type": "system"},
                "occurred_at": instant(micros).to_string(),
            }))
        };
        // Every 7 hours 13 minutes over seven days, and some at midnight and a
        // microsecond either side of it.
        let times: Vec<i64> = (0..24)
            .map(|n| midnight + n * 26_000_000_000)
            .chain([2, 3, 5].iter().flat_map(|day| {
                let edge = midnight + day * DAY;
                [edge - 1, edge, edge + 1]
            }))
            .collect();
        let bounds: Vec<Option<i64>> = [0, 1, 2, 3, 5, 7]
            .iter()
            .flat_map(|day| {
                let edge = midnight + day * DAY;
                [edge - 1, edge, edge + 1, edge + DAY / 2]
            })
            .map(Some)
            .chain([None])
            .collect();
        // Each range's total, and the rows' count of it (a clause that no
        // event fails makes the filter more than a time range).
        let totals = |store: &SqliteStore, tenants: &[&str]| -> Vec<(u64, u64)> {
            let mut totals = Vec::new();
            for from in &bounds {
                for to in &bounds {
                    let mut filter = Filter::default();
                    if let Some(from) = from {
                        filter =
                            filter.with(false, Condition::From(TimeBound::Instant(instant(*from))));
                    }
                    if let Some(to) = to {
                        filter =
                            filter.with(false, Condition::To(TimeBound::Instant(instant(*to))));
                    }
                    let counted = filter
                        .clone()
                        .with(true, Condition::Action(vec!["nothing.here".into()]));
                    totals.push((
                        store.count(&scope_of(tenants), &filter, now).unwrap(),
                        store.count(&scope_of(tenants), &counted, now).unwrap(),
                    ));
                }
            }
            totals
        };
        let check = |store: &SqliteStore| {
            for tenants in [&["acme"][..], &["acme-eu"][..], &["acme", "acme-eu"][..]] {
                let totals = totals(store, tenants);
                assert!(totals.iter().any(|(total, _)| *total > 0));
                for (index, (total, counted)) in totals.iter().enumerate() {
                    assert_eq!(total, counted, "{tenants:?}, range {index}");
                }
            }
        };
        {
            let store = acme_and_eu_store(dir.path());
            // In several transactions, out of time order.
            for chunk in times.chunks(5).rev() {
                append_to_acme(
                    &store,
                    chunk
                        .iter()
                        .map(|micros| at(*micros, "user.login"))
                        .collect(),
                );
                append_to(
                    &store,
                    "acme-eu",
                    chunk
                        .iter()
                        .step_by(2)
                        .map(|micros| at(*micros, "key.changed"))
                        .collect(),
                );
            }
            check(&store);
            // The whole days are read from the counts: changed by hand, the total changes.
            let day = |filter: Filter| store.count(&scope_of(&["acme"]), &filter, now).unwrap();
            let third_day = Filter::default()
                .with(
                    false,
                    Condition::From(TimeBound::Instant(instant(midnight + 2 * DAY))),
                )
                .with(
                    false,
                    Condition::To(TimeBound::Instant(instant(midnight + 3 * DAY - 1))),
                );
            let before = day(third_day.clone());
            store
                .write(|connection| {
                    connection.execute_batch("UPDATE event_days SET events = events + 1000")?;
                    Ok(())
                })
                .unwrap();
            assert_eq!(day(third_day), before + 1000);
        }
        // A store of the version before, without the counts.
        downgrade(dir.path(), 17);
        check(&SqliteStore::open(dir.path()).unwrap());
    }

    #[test]
    fn ipv4_addresses_a_store_kept_in_16_bytes_take_4_once_migrated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut connection = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            // The last version that kept IPv4 addresses in 16 bytes.
            schema::migrate_to(&mut connection, 10).unwrap();
            connection
                .execute_batch(
                    "INSERT INTO tenants (no, id, name, parent, created_at, next_seq) VALUES (1, 'acme', 'Acme', NULL, 0, 2);",
                )
                .unwrap();
            for (seq, ip) in [
                (0, "203.0.113.7".parse::<std::net::IpAddr>().unwrap()),
                (1, "2001:db8::1".parse().unwrap()),
            ] {
                connection
                    .execute(
                        "INSERT INTO events (rowid, tenant_no, seq, id, occurred_at, recorded_at, action, category,
                                             actor_type, outcome, ip, doc)
                         VALUES (?1, 1, ?2, ?3, ?4, ?4, 'user.login', 'uncategorized', 'system', 'success', ?5, '{}')",
                        params![
                            schema::event_rowid(1, seq),
                            seq as i64,
                            Uuid::now_v7().as_bytes().as_slice(),
                            1_700_000_000_000_000i64 + seq as i64,
                            crate::record::ip_bytes(ip).as_slice()
                        ],
                    )
                    .unwrap();
            }
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let lengths: Vec<i64> = store.rows("SELECT length(ip) FROM events ORDER BY rowid", |row| {
            row.get(0)
        });
        assert_eq!(lengths, [4, 16]);
        assert_eq!(
            search(&store, "acme", "ip:203.0.113.0/24"),
            [("user.login".to_owned(), 0)]
        );
        assert_eq!(
            search(&store, "acme", "ip:2001:db8::/32"),
            [("user.login".to_owned(), 1)]
        );
    }

    #[test]
    fn merkle_nodes_a_store_kept_one_to_a_row_move_into_packs_with_the_same_tree() {
        use evident_core::log::merkle::{MemoryTree, Nodes};
        let dir = tempfile::tempdir().unwrap();
        // Two whole packs and part of a third.
        let size = 45u64;
        let leaves: Vec<[u8; 32]> = (0..size).map(|n| [n as u8; 32]).collect();
        let tree = MemoryTree::new(&leaves);
        {
            let mut connection = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            // The last version that kept a Merkle node to a row.
            schema::migrate_to(&mut connection, 11).unwrap();
            connection
                .execute(
                    "INSERT INTO tenants (no, id, name, parent, created_at, next_seq) VALUES (1, 'acme', 'Acme', NULL, 0, ?1)",
                    [size as i64],
                )
                .unwrap();
            // Every complete subtree, as the store kept them.
            for level in 0..6u32 {
                for index in (0..).take_while(|index| (index + 1) << level <= size) {
                    let Ok(hash) = tree.node(level, index);
                    connection
                        .execute(
                            "INSERT INTO merkle_nodes (tenant_no, level, idx, hash) VALUES (1, ?1, ?2, ?3)",
                            params![level, index as i64, hash.as_slice()],
                        )
                        .unwrap();
                }
            }
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let packs: Vec<(i64, i64)> = store.rows(
            "SELECT pack, length(hashes) FROM merkle_leaves ORDER BY pack",
            |row| Ok((row.get(0)?, row.get(1)?)),
        );
        assert_eq!(packs, [(0, 512), (1, 512), (2, 13 * 32)]);
        // Levels 4 and 5 stay rows of their own: two subtrees of 16 leaves, one of 32.
        let nodes: Vec<(u32, i64)> = store.rows(
            "SELECT level, idx FROM merkle_nodes ORDER BY level, idx",
            |row| Ok((row.get(0)?, row.get(1)?)),
        );
        assert_eq!(nodes, [(4, 0), (4, 1), (5, 0)]);
        assert_eq!(
            store.leaf_hashes("acme").unwrap(),
            leaves
                .iter()
                .copied()
                .enumerate()
                .map(|(index, hash)| (index as u64, hash))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            store.tree_head("acme").unwrap().unwrap().root_hash,
            tree.root(size)
        );
        for index in [0, 7, 15, 16, 31, 40, 44] {
            assert_eq!(
                store.inclusion_proof("acme", index, size).unwrap().unwrap(),
                tree.inclusion_proof(index, size),
                "leaf {index}"
            );
        }
        for from in [1, 8, 13, 16, 33] {
            assert_eq!(
                store
                    .consistency_proof("acme", from, size)
                    .unwrap()
                    .unwrap(),
                tree.consistency_proof(from, size),
                "from {from}"
            );
        }
    }

    #[test]
    fn a_store_of_another_schema_version_is_refused_for_reading_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        version_4_store(dir.path());
        let error = SqliteStore::open_read_only(dir.path()).err().unwrap();
        assert!(matches!(
            error,
            StoreError::SchemaTooOld {
                found: 4,
                known: SCHEMA_VERSION
            }
        ));
        assert!(
            error
                .to_string()
                .contains("run `evident migrate` on it first"),
            "{error}"
        );
        assert_eq!(SqliteStore::schema_version(dir.path()).unwrap(), Some(4));
        let connection = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let error = SqliteStore::open_read_only(dir.path()).err().unwrap();
        assert!(matches!(error, StoreError::SchemaTooNew { .. }), "{error}");
    }

    #[test]
    fn the_rowid_layout_refuses_what_it_has_no_room_for_and_stores_nothing() {
        use crate::record::MAX_SEQ;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let tenant = |id: &str| NewTenant {
            id: id.into(),
            name: id.into(),
            parent: None,
        };
        store.create_tenant(&tenant("acme")).unwrap();
        let writer = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        writer
            .execute(
                "UPDATE tenants SET next_seq = ?1 WHERE id = 'acme'",
                [MAX_SEQ as i64 + 1],
            )
            .unwrap();
        writer
            .execute(
                "INSERT INTO tenants (no, id, name, created_at) VALUES (?1, 'last', 'Last', 0)",
                [MAX_TENANT_NO],
            )
            .unwrap();
        let event = system_event("license.renewed");
        let full = store.append(
            &[AppendBatch {
                tenant: "acme".into(),
                events: vec![event],
            }],
            Timestamp::now(),
        );
        assert!(matches!(full, Err(StoreError::OutOfRange(_))), "{full:?}");
        assert!(matches!(
            store.create_tenant(&tenant("one-too-many")),
            Err(StoreError::OutOfRange(_))
        ));
        assert_eq!(store.tenant("one-too-many").unwrap(), None);
        let stored: i64 = writer
            .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, 0);
    }
}

#[cfg(test)]
mod text_window_tests {
    use super::*;
    use crate::TenantScope;
    use evident_core::{Event, Outcome};

    thread_local! {
        /// Arms whose free text came to drive through a window of its page
        /// when no clause drove it: the pages that take that path.
        pub(super) static DROVE_THROUGH_PAGE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// How events arrive: a minute apart, in time order but for these.
    #[derive(Clone, Copy)]
    enum Arrival {
        /// Throughout, some late (long after their time) and some early
        /// (timed days after the events that follow them).
        Disordered,
        /// Some late below event `late_below` (days late below half of it,
        /// minutes late above), and each up to four minutes off its place.
        Jittered { late_below: i64 },
        /// Each up to an hour off its place (as batches sent at once by
        /// several clients arrive), none a day late.
        Shuffled,
    }

    /// Event `n`, arriving as `arrival` says.
    fn event(n: i64, arrival: Arrival, now: Timestamp) -> evident_core::NewEvent {
        let mut at = now.as_second() - 100 * 86_400 + n * 60;
        match arrival {
            Arrival::Disordered => {
                if n % 17 == 0 {
                    at -= 10 * 86_400;
                }
                if n % 29 == 0 {
                    at += 5 * 86_400;
                }
            }
            Arrival::Jittered { late_below } => {
                if n % 17 == 0 && n < late_below / 2 {
                    at -= 10 * 86_400;
                }
                if n % 13 == 0 && n < late_below {
                    at -= 6 * 60;
                }
                at += (n * 7 % 9 - 4) * 60;
            }
            Arrival::Shuffled => at += (n * 37 % 121 - 60) * 60,
        }
        // Two in three match "rotated": enough that a first window is
        // likely to fill a page. One in eleven matches "audit": few enough
        // that it drives its page, more than a page. One in seven matches
        // "look": too many to drive, too few for a first window to fill a
        // page, so that it drives within a window through its page.
        let description = match (n % 3 != 2, n % 11 == 0) {
            (true, false) => "rotated the key",
            (true, true) => "rotated the key for the audit",
            (false, false) => "routine change",
            (false, true) => "routine audit",
        };
        evident_core::event::validate_event(
            &serde_json::json!({
                "action": if n % 2 == 0 { "key.changed" } else { "user.login" },
                "actor": {"type": "user", "id": format!("usr_{}", n % 4)},
                "occurred_at": Timestamp::from_second(at).unwrap().to_string(),
                "description": description,
                "outcome": if n % 5 == 0 { "failure" } else { "success" },
                "metadata": {"review": if n % 7 == 0 { "second look" } else { "none" }},
            }),
            None,
            now,
            &Default::default(),
        )
        .unwrap()
    }

    fn query(scope: &[&str], text: &str, sort: SortOrder, start: PageStart) -> EventQuery {
        EventQuery {
            scope: TenantScope {
                tenants: scope.iter().map(|tenant| tenant.to_string()).collect(),
            },
            filter: evident_core::query::parse(text).unwrap(),
            sort,
            start,
            limit: 5,
            now: Timestamp::now(),
        }
    }

    fn walk(store: &SqliteStore, scope: &[&str], text: &str, sort: SortOrder) -> Vec<Event> {
        let mut events = Vec::new();
        let mut start = PageStart::First;
        loop {
            let page = store.query(&query(scope, text, sort, start)).unwrap();
            events.extend(page.events);
            match page.next_cursor {
                Some(cursor) => start = PageStart::After(cursor),
                None => return events,
            }
        }
    }

    /// A word matches every word it starts, whether it is searched as the
    /// terms it prefixes (few of them) or as a prefix query (many), in pages,
    /// totals and exclusions alike; another tenant's terms change nothing.
    #[test]
    fn words_match_the_words_they_start_as_terms_or_as_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let now = Timestamp::now();
        // 20 words that start with "zed", more than a word is expanded to.
        let mut words: Vec<String> = ["rotate", "Rotated", "rotation", "rotatable", "ROTATING"]
            .into_iter()
            .map(str::to_owned)
            .chain((0..20).map(|n| format!("zed{n}")))
            .chain(["zed".to_owned(), "café".to_owned(), "routine".to_owned()])
            .collect();
        words.sort();
        for tenant in ["acme", "globex"] {
            store
                .create_tenant(&crate::NewTenant {
                    id: tenant.into(),
                    name: tenant.into(),
                    parent: None,
                })
                .unwrap();
        }
        let body = |n: usize, description: &str| {
            evident_core::event::validate_event(
                &serde_json::json!({
                    "action": "key.changed",
                    "actor": {"type": "user", "id": format!("usr_{n}")},
                    "description": description,
                }),
                None,
                now,
                &Default::default(),
            )
            .unwrap()
        };
        let events: Vec<_> = words
            .iter()
            .enumerate()
            .map(|(n, word)| body(n, &format!("the key was {word}")))
            .collect();
        let other = vec![body(0, "rotatex rotated zedd cafeteria")];
        for (tenant, events) in [("acme", events), ("globex", other)] {
            store
                .append(
                    &[AppendBatch {
                        tenant: tenant.into(),
                        events,
                    }],
                    now,
                )
                .unwrap()
                .remove(0)
                .unwrap();
        }
        let in_memory = |text: &str| -> usize {
            let prefix = text.to_lowercase();
            words
                .iter()
                .filter(|word| {
                    let word = word.to_lowercase().replace('é', "e");
                    word.starts_with(&prefix)
                })
                .count()
        };
        // Read through the store first: what the vocabulary lists is applied.
        assert_eq!(
            walk(&store, &["acme"], "", SortOrder::Desc).len(),
            words.len()
        );
        let reader = store.open_reader(0).unwrap();
        let as_terms = |text: &str| {
            let filter = evident_core::query::parse(text).unwrap();
            filter_sql::Lookups::of(&reader.connection, &filter)
                .unwrap()
                .has(text)
        };
        assert!(as_terms("rotat"), "few longer terms: searched as terms");
        assert!(as_terms("zed1"), "zed1 and zed10–zed19: as terms");
        assert!(as_terms("caf"), "cafe and cafeteria: as terms");
        assert!(!as_terms("zed"), "21 longer terms: a prefix query");
        drop(reader);
        for text in [
            "rotat", "rotate", "ROTATED", "rotation", "zed", "zed1", "zed19", "caf", "cafe",
            "rout", "nothing",
        ] {
            let want = in_memory(text);
            for scope in [&["acme"][..], &["acme", "globex"][..]] {
                let acme = |events: Vec<Event>| {
                    events.iter().filter(|event| event.tenant == "acme").count()
                };
                assert_eq!(
                    acme(walk(&store, scope, text, SortOrder::Desc)),
                    want,
                    "{text}: pages in {scope:?}"
                );
            }
            let count = |query: &str| {
                store
                    .count(
                        &TenantScope::single("acme"),
                        &evident_core::query::parse(query).unwrap(),
                        now,
                    )
                    .unwrap() as usize
            };
            assert_eq!(count(text), want, "{text}: total");
            assert_eq!(
                count(&format!("-{text}")),
                words.len() - want,
                "-{text}: total"
            );
        }
    }

    /// The tenant's order of arrival answers "does an event beyond the
    /// window sort before the page's last row?" only where a look at every
    /// event agrees: for each window end and each last row inside it, both
    /// ways, with events up to minutes out of order and some late.
    #[test]
    fn arrival_order_rules_out_only_what_no_event_beyond_a_window_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let now = Timestamp::now();
        store
            .create_tenant(&crate::NewTenant {
                id: "initech".into(),
                name: "Initech".into(),
                parent: None,
            })
            .unwrap();
        let events: Vec<_> = (0..160)
            .map(|n| event(n, Arrival::Jittered { late_below: 60 }, now))
            .collect();
        store
            .append(
                &[AppendBatch {
                    tenant: "initech".into(),
                    events,
                }],
                now,
            )
            .unwrap()
            .remove(0)
            .unwrap();
        let stored: Vec<(i64, i64)> = walk(&store, &["initech"], "", SortOrder::Asc)
            .iter()
            .map(|event| {
                (
                    event.occurred_at.as_microsecond(),
                    schema::event_rowid(1, event.seq),
                )
            })
            .collect();
        let connection = store.writer.lock().unwrap();
        let (mut claimed, mut true_answers) = (0, 0);
        for &(_, end) in &stored {
            for &last in &stored {
                for ascending in [false, true] {
                    let inside = if ascending {
                        last.1 <= end
                    } else {
                        last.1 >= end
                    };
                    if !inside {
                        continue;
                    }
                    let truth = !stored.iter().any(|event| {
                        if ascending {
                            event.1 > end && *event < last
                        } else {
                            event.1 < end && *event > last
                        }
                    });
                    let claim = in_time_order_beyond(&connection, 1, end, last, ascending).unwrap();
                    assert!(
                        truth || !claim,
                        "end {end}, last {last:?}, ascending {ascending}: an event beyond sorts first"
                    );
                    claimed += usize::from(claim);
                    true_answers += usize::from(truth);
                }
            }
        }
        // The look-up answers most of what is true past the late events.
        assert!(
            claimed * 2 > true_answers,
            "{claimed} of {true_answers} claimed"
        );
    }

    /// Free text searched within windows of the newest (or oldest) events
    /// gives the pages a search of every event gives, whatever order the
    /// events arrived in: out of order throughout (acme, acme-sub), within
    /// minutes but for some late ones in its oldest part (initech), or each
    /// up to an hour off, more than a few matches span (globex); for terms
    /// that fill a first window, that drive, and that do neither.
    #[test]
    fn windowed_free_text_pages_are_the_whole_search_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let now = Timestamp::now();
        for (tenant, parent) in [
            ("acme", None),
            ("acme-sub", Some("acme")),
            ("initech", None),
            ("globex", None),
        ] {
            store
                .create_tenant(&crate::NewTenant {
                    id: tenant.into(),
                    name: tenant.into(),
                    parent: parent.map(str::to_owned),
                })
                .unwrap();
        }
        for (tenant, range, arrival) in [
            ("acme", 0..400, Arrival::Disordered),
            ("acme-sub", 400..520, Arrival::Disordered),
            ("initech", 0..600, Arrival::Jittered { late_below: 200 }),
            ("globex", 0..600, Arrival::Shuffled),
        ] {
            let events: Vec<_> = range.map(|n| event(n, arrival, now)).collect();
            for chunk in events.chunks(50) {
                store
                    .append(
                        &[AppendBatch {
                            tenant: tenant.into(),
                            events: chunk.to_vec(),
                        }],
                        now,
                    )
                    .unwrap()
                    .remove(0)
                    .unwrap();
            }
        }
        let rotated = |event: &Event| {
            event
                .description
                .as_deref()
                .is_some_and(|text| text.starts_with("rotated"))
        };
        let audit = |event: &Event| {
            event
                .description
                .as_deref()
                .is_some_and(|text| text.ends_with("audit"))
        };
        let look =
            |event: &Event| event.metadata.get("review") == Some(&serde_json::json!("second look"));
        type Keep = Box<dyn Fn(&Event) -> bool>;
        let cases: [(&str, Keep); 7] = [
            ("rotated", Box::new(rotated)),
            (
                "rotated -outcome:failure",
                Box::new(move |event: &Event| rotated(event) && event.outcome == Outcome::Success),
            ),
            (
                "rotated actor:usr_2",
                Box::new(move |event: &Event| {
                    rotated(event) && event.actor.id.as_deref() == Some("usr_2")
                }),
            ),
            ("audit", Box::new(audit)),
            (
                "audit -outcome:failure",
                Box::new(move |event: &Event| audit(event) && event.outcome == Outcome::Success),
            ),
            ("look", Box::new(look)),
            (
                "look -outcome:failure",
                Box::new(move |event: &Event| look(event) && event.outcome == Outcome::Success),
            ),
        ];
        for scope in [
            &["acme"][..],
            &["acme", "acme-sub"][..],
            &["initech"][..],
            &["globex"][..],
        ] {
            for sort in [SortOrder::Desc, SortOrder::Asc] {
                let all = walk(&store, scope, "", sort);
                for (text, keep) in &cases {
                    let want: Vec<Uuid> = all
                        .iter()
                        .filter(|event| keep(event))
                        .map(|event| event.id)
                        .collect();
                    assert!(want.len() > 20, "{text}: too few matches to test");
                    let before = DROVE_THROUGH_PAGE.with(std::cell::Cell::get);
                    let got: Vec<Uuid> = walk(&store, scope, text, sort)
                        .iter()
                        .map(|event| event.id)
                        .collect();
                    assert_eq!(got, want, "{text} in {scope:?}, {sort:?}");
                    if text.starts_with("look") && scope == ["initech"] && sort == SortOrder::Desc {
                        assert!(
                            DROVE_THROUGH_PAGE.with(std::cell::Cell::get) > before,
                            "{text} in initech: its pages drive through a window"
                        );
                    }
                    for skip in [0, 5, want.len() as u64 / 2, want.len() as u64 - 3] {
                        let page = store
                            .query(&query(scope, text, sort, PageStart::Offset(skip)))
                            .unwrap();
                        let skip = skip as usize;
                        assert_eq!(
                            page.events.iter().map(|event| event.id).collect::<Vec<_>>(),
                            want[skip..(skip + 5).min(want.len())],
                            "{text} in {scope:?}, {sort:?}, from {skip}"
                        );
                    }
                }
            }
        }
    }
}
