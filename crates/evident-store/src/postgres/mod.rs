//! The PostgreSQL backend, for deployments that outgrow one machine: the same
//! contract as SQLite, so several `evident serve` processes can share one
//! database.
//!
//! An append group is split by tenant over two write connections; each part
//! is one transaction (`synchronous_commit = on`) that locks its tenants'
//! rows (`SELECT … FOR UPDATE`, in tenant order, so two servers never
//! deadlock), reads their `next_seq` and tree frontiers, and writes the
//! events (their documents compressed, [`crate::compress`]), their targets,
//! their counts by action and their Merkle leaves and nodes with one
//! multi-row `INSERT … SELECT FROM unnest` each. Up to sixteen pooled
//! connections serve reads; a read waits for a free one rather than opening
//! another.

mod filter_sql;
mod schema;

use crate::compress::{Dictionaries, PackedDocs, Packing, Sampler, Trained, dictionary_id};
use crate::days::RangeTotal;
use crate::leaf_packs::{LEAVES_PER_PACK, PACKED_LEVELS, leaves_of, node_in_pack, pack_of};
use crate::pool::Pool;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use evident_core::log::leaf::leaf_hash_of;
use evident_core::log::merkle::{Frontier, Hash, Node, Nodes};
use evident_core::search::searchable_text;
use evident_core::{Event, Filter};
use jiff::Timestamp;
use postgres::error::SqlState;
use postgres::{Client, GenericClient, IsolationLevel, NoTls, Row, Statement};
use uuid::Uuid;

use crate::record::{
    CheckpointRow, DocRef, EventRow, KEY_COLUMNS, KeyRow, MAX_SEQ, MAX_TENANT_NO, PageBuilder,
    RawPage, Resolved, ScopeTenants, StoredRow, TENANT_COLUMNS, TenantRow, VIEWER_LINK_COLUMNS,
    ViewerLinkRow, action_branches, check_consistency, check_inclusion, email_column, hash32,
    ip_bytes, position, scopes_text, timestamp,
};
use crate::{
    ApiKey, AppendBatch, BatchError, Cursor, EventPage, EventQuery, NewApiKey, NewTenant,
    NewViewerLink, PageStart, Receipt, Result, SortOrder, Store, StoreError, StoreMetadata,
    StoreStats, StoredCheckpoint, StoredEvent, Tenant, TenantScope, TreeHead, ViewerLink,
};
use filter_sql::Params;

pub use schema::SCHEMA_VERSION;

/// Most read connections one store opens; a read waits for a free one
/// rather than opening (and then closing) one more, which costs a
/// connection's start-up on every request under load.
const POOL_SIZE: usize = 16;
/// Prepared statements a connection keeps before it starts over.
const STATEMENT_CACHE: usize = 256;

/// Write connections an append group is spread over, by tenant: each commits
/// its tenants' batches in a transaction of its own, so that more than one of
/// PostgreSQL's backends does the writing.
const WRITERS: usize = 2;
/// Most single-tenant queries one page unites (tenants × actions); past it,
/// the actions of a filter are not split.
const MAX_BRANCHES: usize = 64;

/// Whether `text` names a PostgreSQL store (`postgres://…` or `postgresql://…`).
pub fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A PostgreSQL error with its causes, each once: "error connecting to
/// server: Connection refused", "db error: FATAL: database \"x\" does not exist".
pub(crate) fn describe(error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    text
}

/// `url` naming the database `database` instead of its own.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |scheme| scheme + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |slash| authority_start + slash);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A database made for one run (a test, a benchmark), dropped with this value.
pub struct ScratchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates an empty database through `admin_url` (a role that may create
    /// databases), named `prefix` with this process's id and a counter.
    pub fn create(admin_url: &str, prefix: &str) -> Result<ScratchDatabase> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(admin_url, NoTls)?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        Ok(ScratchDatabase {
            admin: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    /// Creates an empty database on the server tests use: the one
    /// `EVIDENT_TEST_POSTGRES` names, else the local one as `postgres`
    /// (`scripts/check` starts it when it is stopped).
    pub fn for_tests(prefix: &str) -> Result<ScratchDatabase> {
        let admin = std::env::var("EVIDENT_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        ScratchDatabase::create(&admin, prefix)
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let dropped = postgres::Client::connect(&self.admin, NoTls).and_then(|mut admin| {
            admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        });
        if let Err(error) = dropped {
            tracing::warn!(database = %self.name, %error, "dropping a scratch database failed");
        }
    }
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Writes,
    Reads,
    /// Reads of a store opened read-only: writes are refused.
    Verification,
}

/// A connection with its prepared statements.
struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
    /// The store's document dictionaries, for the rows it reads.
    dictionaries: Arc<Dictionaries>,
}

impl Connection {
    /// A connection for `use_`: queries plan each execution for its tenant's
    /// own numbers rather than with a generic plan; the writer's statements,
    /// the same shape whatever the tenant, keep theirs.
    fn open(
        config: &postgres::Config,
        use_: Use,
        dictionaries: &Arc<Dictionaries>,
    ) -> Result<Connection> {
        let mut client = config.connect(NoTls)?;
        // Acknowledged means on disk: the server's default, stated so that a
        // database configured otherwise does not weaken it.
        client.batch_execute("SET synchronous_commit = on")?;
        if use_ != Use::Writes {
            client.batch_execute("SET plan_cache_mode = force_custom_plan")?;
        }
        if use_ == Use::Verification {
            client.batch_execute("SET default_transaction_read_only = on")?;
        }
        Ok(Connection {
            client,
            statements: HashMap::new(),
            dictionaries: dictionaries.clone(),
        })
    }

    /// The connection's client and statement cache, as a [`Db`].
    fn db(&mut self) -> Db<'_, Client> {
        Db {
            client: &mut self.client,
            statements: &mut self.statements,
            dictionaries: &self.dictionaries,
        }
    }
}

/// A client (connection or transaction) with its connection's prepared statements.
struct Db<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
    dictionaries: &'a Dictionaries,
}

impl<C: GenericClient> Db<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    /// Each row of `sql` as it arrives, so that the rows read so far are
    /// decoded while PostgreSQL still produces the rest; false from `each`
    /// stops reading (the rest are discarded).
    fn for_each_row(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
        mut each: impl FnMut(&Row, &Dictionaries) -> Result<bool>,
    ) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator as _;
        let statement = self.statement(sql)?;
        let dictionaries = self.dictionaries;
        let mut rows = self.client.query_raw(&statement, params.iter().copied())?;
        while let Some(row) = rows.next()? {
            if !each(&row, dictionaries)? {
                break;
            }
        }
        Ok(())
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.client.query_opt(&statement, params)?)
    }

    fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Row> {
        let statement = self.statement(sql)?;
        Ok(self.client.query_one(&statement, params)?)
    }

    fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64> {
        let statement = self.statement(sql)?;
        Ok(self.client.execute(&statement, params)?)
    }
}

/// Runs `work` in a transaction of `connection`, committing when it returns Ok.
fn in_transaction<T>(
    connection: &mut Connection,
    isolation: IsolationLevel,
    read_only: bool,
    work: impl FnOnce(&mut Db<'_, postgres::Transaction<'_>>) -> Result<T>,
) -> Result<T> {
    let Connection {
        client,
        statements,
        dictionaries,
    } = connection;
    let mut transaction = client
        .build_transaction()
        .isolation_level(isolation)
        .read_only(read_only)
        .start()?;
    let value = work(&mut Db {
        client: &mut transaction,
        statements,
        dictionaries,
    })?;
    transaction.commit()?;
    Ok(value)
}

pub struct PostgresStore {
    config: postgres::Config,
    /// Opened for verification: every connection refuses writes.
    read_only: bool,
    /// The write connections: the first takes every write but appends, and
    /// an append group's tenants are spread over all of them.
    writers: Vec<Mutex<Option<Connection>>>,
    readers: Pool<Connection>,
    /// (tenant number, category, action) pairs known to be in
    /// `action_categories`: added once a transaction that wrote them (or
    /// found them there) commits, so that appends send only new ones.
    categorised: Mutex<KnownPairs>,
    /// The documents' dictionaries and what compresses new documents.
    docs: DocShelf,
}

/// The dictionaries of the store at `config`: one trained after this process
/// loaded the others (by another server) is read when a document first names it.
fn stored_dictionaries(config: &postgres::Config) -> Arc<Dictionaries> {
    let config = config.clone();
    Dictionaries::new(Box::new(move |id| {
        let mut client = config.connect(NoTls)?;
        let row = client.query_opt(
            "SELECT dictionary FROM doc_dictionaries WHERE id = $1",
            &[&i16::from(id)],
        )?;
        Ok(row.map(|row| row.get(0)))
    }))
}

/// Compression of the documents a store appends ([`crate::compress`]): the
/// latest dictionary, a context on it for each write connection, and the
/// samples the next one is trained from.
struct DocShelf {
    dictionaries: Arc<Dictionaries>,
    latest: Mutex<Option<Arc<Trained>>>,
    /// By write connection: a context on the latest dictionary, once one is used.
    contexts: Vec<Mutex<Option<Packing>>>,
    sampler: Mutex<Sampler>,
}

impl DocShelf {
    /// Loads every stored dictionary; the latest compresses what is appended.
    fn open(
        client: &mut Client,
        dictionaries: Arc<Dictionaries>,
        writers: usize,
    ) -> Result<DocShelf> {
        let mut latest = None;
        for row in client.query(
            "SELECT id, dictionary, events FROM doc_dictionaries ORDER BY id",
            &[],
        )? {
            let id = dictionary_id(i64::from(row.try_get::<_, i16>(0)?))?;
            let bytes: &[u8] = row.try_get(1)?;
            dictionaries.insert(id, bytes)?;
            latest = Some((id, bytes.to_vec(), row.try_get::<_, i64>(2)?));
        }
        let events: i64 = client
            .query_one(
                "SELECT coalesce(sum(next_seq), 0)::bigint FROM tenants",
                &[],
            )?
            .try_get(0)?;
        let (latest, sampler) = match latest {
            Some((id, bytes, trained_at)) => (
                Some(Trained::new(id, &bytes)?),
                Sampler::new(events.max(0) as u64, Some((id, trained_at.max(0) as u64))),
            ),
            None => (None, Sampler::new(events.max(0) as u64, None)),
        };
        Ok(DocShelf {
            dictionaries,
            latest: Mutex::new(latest),
            contexts: (0..writers).map(|_| Mutex::new(None)).collect(),
            sampler: Mutex::new(sampler),
        })
    }

    /// Trains the next dictionary once the store has grown to it, and keeps
    /// it in a statement of its own, committed before any document names it.
    /// When another server kept one under that number first, goes on with
    /// that one: a number names one dictionary for good.
    fn train_if_due(&self, connection: &mut Connection) -> Result<()> {
        let trained = lock(&self.sampler).train();
        let Some((id, bytes, events)) = trained else {
            return Ok(());
        };
        let number = i16::from(id);
        let kept = connection.client.execute(
            "INSERT INTO doc_dictionaries (id, dictionary, events, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            &[
                &number,
                &bytes,
                &(events as i64),
                &Timestamp::now().as_microsecond(),
            ],
        )?;
        let (bytes, events) = if kept == 1 {
            (bytes, events)
        } else {
            let row = connection.client.query_one(
                "SELECT dictionary, events FROM doc_dictionaries WHERE id = $1",
                &[&number],
            )?;
            let stored: (Vec<u8>, i64) = (row.try_get(0)?, row.try_get(1)?);
            lock(&self.sampler).adopt(id, stored.1.max(0) as u64);
            (stored.0, stored.1.max(0) as u64)
        };
        tracing::info!(
            id,
            events,
            kept_here = kept == 1,
            "compressing documents with a new dictionary"
        );
        self.dictionaries.insert(id, &bytes)?;
        *lock(&self.latest) = Some(Trained::new(id, &bytes)?);
        Ok(())
    }

    /// How each of `docs`, appended on write connection `writer`, is stored:
    /// compressed with the latest dictionary, or as text while there is none
    /// (or where compressing does not make it smaller).
    fn pack(&self, writer: usize, docs: &[String]) -> Result<PackedDocs> {
        {
            let mut sampler = lock(&self.sampler);
            for doc in docs {
                sampler.note(doc);
            }
        }
        let mut packed = PackedDocs::default();
        let latest = lock(&self.latest).clone();
        let Some(latest) = latest else {
            docs.iter().for_each(|_| packed.push(None));
            return Ok(packed);
        };
        let mut context = lock(&self.contexts[writer]);
        if context
            .as_ref()
            .is_none_or(|packing| packing.id() != latest.id)
        {
            *context = Some(Packing::new(latest)?);
        }
        let Some(packing) = context.as_mut() else {
            unreachable!("the context was just made")
        };
        let mut blob = Vec::new();
        for doc in docs {
            let smaller = packing.pack(doc, &mut blob)?;
            packed.push(smaller.then_some(blob.as_slice()));
        }
        Ok(packed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// (tenant number, category, action) pairs known to be in `action_categories`.
type KnownPairs = std::collections::HashSet<(i64, String, String)>;

/// Whether a pooled connection still works (the server may have restarted).
fn is_open(connection: &Connection) -> bool {
    !connection.client.is_closed()
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`)
    /// and brings its schema to this build's, refusing a newer one.
    pub fn open(url: &str) -> Result<PostgresStore> {
        let config: postgres::Config = url.parse()?;
        let dictionaries = stored_dictionaries(&config);
        let mut writer = Connection::open(&config, Use::Writes, &dictionaries)?;
        schema::migrate(&mut writer.client)?;
        let docs = DocShelf::open(&mut writer.client, dictionaries, WRITERS)?;
        Ok(PostgresStore {
            config,
            read_only: false,
            writers: std::iter::once(Mutex::new(Some(writer)))
                .chain((1..WRITERS).map(|_| Mutex::new(None)))
                .collect(),
            readers: Pool::new(POOL_SIZE, Vec::new(), is_open),
            categorised: Mutex::default(),
            docs,
        })
    }

    /// Pairs a committed transaction wrote to `action_categories` (or found there).
    fn remember_categorised(&self, pairs: Vec<(i64, String, String)>) {
        if !pairs.is_empty() {
            self.categorised
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend(pairs);
        }
    }

    /// Connects to an existing store without changing anything in it (for
    /// verification): no migrations, and every connection refuses writes.
    pub fn open_read_only(url: &str) -> Result<PostgresStore> {
        let config: postgres::Config = url.parse()?;
        let dictionaries = stored_dictionaries(&config);
        let mut connection = Connection::open(&config, Use::Verification, &dictionaries)?;
        let known = SCHEMA_VERSION;
        match schema::version(&mut connection.client)?.unwrap_or(0) {
            SCHEMA_VERSION => {}
            found if found > known => return Err(StoreError::SchemaTooNew { found, known }),
            found => return Err(StoreError::SchemaTooOld { found, known }),
        }
        let docs = DocShelf::open(&mut connection.client, dictionaries, 1)?;
        Ok(PostgresStore {
            config,
            read_only: true,
            writers: vec![Mutex::new(None)],
            readers: Pool::new(POOL_SIZE, vec![connection], is_open),
            categorised: Mutex::default(),
            docs,
        })
    }

    /// The schema version of the database at `url`, read without changing it;
    /// None when it holds no store.
    pub fn schema_version(url: &str) -> Result<Option<i64>> {
        let config: postgres::Config = url.parse()?;
        let mut client = config.connect(NoTls)?;
        schema::version(&mut client)
    }

    /// Vacuums and analyses the store at `url`: for a store filled in one go
    /// (`evident store copy`), so that its first queries plan with its
    /// statistics and its visibility map (index-only scans) instead of
    /// waiting for autovacuum.
    pub fn vacuum_analyze(url: &str) -> Result<()> {
        let config: postgres::Config = url.parse()?;
        config.connect(NoTls)?.batch_execute("VACUUM ANALYZE")?;
        Ok(())
    }

    fn writer_use(&self) -> Use {
        if self.read_only {
            Use::Verification
        } else {
            Use::Writes
        }
    }

    fn reader_use(&self) -> Use {
        if self.read_only {
            Use::Verification
        } else {
            Use::Reads
        }
    }

    fn write<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.write_on(0, work)
    }

    /// Runs `work` on write connection `number`, opening it when it is not open.
    fn write_on<T>(
        &self,
        number: usize,
        work: impl FnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut slot = self.writers[number]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot
            .as_ref()
            .is_none_or(|connection| connection.client.is_closed())
        {
            *slot = Some(Connection::open(
                &self.config,
                self.writer_use(),
                &self.docs.dictionaries,
            )?);
        }
        let Some(connection) = slot.as_mut() else {
            unreachable!("the writer connection was just opened")
        };
        let result = work(connection);
        if connection.client.is_closed() {
            *slot = None;
        }
        result
    }

    fn read<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut lease = self.readers.lease();
        work(lease.connection(|| {
            Connection::open(&self.config, self.reader_use(), &self.docs.dictionaries)
        })?)
    }

    /// Reads in one snapshot (repeatable read), for answers made of several statements.
    fn read_snapshot<T>(
        &self,
        work: impl FnOnce(&mut Db<'_, postgres::Transaction<'_>>) -> Result<T>,
    ) -> Result<T> {
        self.read(|connection| {
            in_transaction(connection, IsolationLevel::RepeatableRead, true, work)
        })
    }

    /// PostgreSQL's plans for a page of `query` and for its exact total
    /// (`EXPLAIN`, as text), for checking which indexes serve a filter.
    pub fn explain(&self, query: &EventQuery) -> Result<(String, String)> {
        self.read(|connection| {
            let mut db = connection.db();
            let tenants = resolve_scope(&mut db, &query.scope)?;
            if tenants.numbers.is_empty() {
                return Err(StoreError::TenantNotFound(query.scope.tenants[0].clone()));
            }
            // The page as it would run: with common free text walking the time index.
            let walking = common_text_tenants(&mut db, &tenants, query)?;
            let mut plan = |(sql, params): (String, Params)| -> Result<String> {
                let lines = db.query(&format!("EXPLAIN {sql}"), &params.refs())?;
                let lines: Vec<String> = lines
                    .iter()
                    .map(|row| row.try_get(0))
                    .collect::<Result<_, _>>()?;
                Ok(lines.join("\n"))
            };
            let page = plan(page_sql(&tenants, query, &walking))?;
            let count = plan(count_sql(&tenants, &query.filter, query.now))?;
            Ok((page, count))
        })
    }

    /// `each` of at most `limit` of a tenant's rows from `from_seq`, in seq order, with their salts.
    fn tenant_rows<T>(
        &self,
        tenant: &str,
        from_seq: u64,
        limit: u32,
        mut each: impl FnMut(&StoredRow, &ScopeTenants) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.read(|connection| {
            let mut db = connection.db();
            let tenants = resolve_scope(&mut db, &TenantScope::single(tenant))?;
            let Some(tenant_no) = tenants.numbers.first().copied() else { return Ok(Vec::new()) };
            let mut out = Vec::new();
            db.for_each_row(
                &format!("SELECT {EVENT_COLUMNS}, salt, idempotency_key FROM events WHERE tenant_no = $1 AND seq >= $2 ORDER BY seq LIMIT $3"),
                &[&tenant_no, &(from_seq as i64), &i64::from(limit)],
                |row, dictionaries| {
                    let stored = StoredRow {
                        row: event_row(row, dictionaries)?,
                        salt: row.try_get(EVENT_COLUMN_COUNT)?,
                        idempotency_key: row.try_get(EVENT_COLUMN_COUNT + 1)?,
                    };
                    out.push(each(&stored, &tenants)?);
                    Ok(true)
                },
            )?;
            Ok(out)
        })
    }
}

/// A client closes its connection by blocking on its own runtime, which
/// panics on a thread that drives async tasks, where a server may drop its
/// last handle to the store: the connections are closed on a thread of their own.
impl Drop for PostgresStore {
    fn drop(&mut self) {
        let writers: Vec<Option<Connection>> = self
            .writers
            .iter_mut()
            .map(|slot| slot.get_mut().map(Option::take).unwrap_or_default())
            .collect();
        let readers = self.readers.take_idle();
        let closing = std::thread::spawn(move || drop((writers, readers)));
        let _ = closing.join();
    }
}

/// Writes every event's `words` again from its text (a migration: identifier
/// lexemes were added), a tenant's events a batch at a time in `seq` order.
pub(super) fn reindex_words(transaction: &mut postgres::Transaction<'_>) -> Result<()> {
    const BATCH: i64 = 10_000;
    let mut by_no = HashMap::new();
    for row in transaction.query("SELECT no, id, name FROM tenants", &[])? {
        by_no.insert(
            row.try_get::<_, i64>(0)?,
            (row.try_get(1)?, row.try_get(2)?),
        );
    }
    let tenants = ScopeTenants {
        numbers: by_no.keys().copied().collect(),
        by_no,
    };
    let select = transaction.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE (tenant_no, seq) > ($1, $2)
         ORDER BY tenant_no, seq LIMIT {BATCH}"
    ))?;
    let update = transaction.prepare(
        "UPDATE events SET words = w.words::tsvector
         FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS w (tenant_no, seq, words)
         WHERE events.tenant_no = w.tenant_no AND events.seq = w.seq",
    )?;
    // Only a store of a version before compressed documents is reindexed:
    // none of its documents names a dictionary.
    let dictionaries = Dictionaries::new(Box::new(|_| Ok(None)));
    let mut after = (i64::MIN, i64::MIN);
    loop {
        let rows = transaction.query(&select, &[&after.0, &after.1])?;
        let (mut numbers, mut seqs, mut words) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let row = event_row(row, &dictionaries)?;
            let (event, _) = row.to_event(&tenants, false)?;
            words.push(filter_sql::tsvector(
                row.tenant_no,
                &evident_core::search::stored_searchable_text(&event),
            ));
            numbers.push(row.tenant_no);
            seqs.push(row.seq);
            after = (row.tenant_no, row.seq);
        }
        if !numbers.is_empty() {
            transaction.execute(&update, &[&numbers, &seqs, &words])?;
        }
        if (rows.len() as i64) < BATCH {
            return Ok(());
        }
    }
}

const EVENT_COLUMNS: &str = "tenant_no, seq, id, occurred_at, recorded_at, action, category, actor_type, ip, channel, outcome, doc, actor_id, actor_email, packed";
/// How many columns [`EVENT_COLUMNS`] lists: a statement's own columns follow them.
const EVENT_COLUMN_COUNT: usize = 15;

fn event_from_row(
    row: &Row,
    dictionaries: &Dictionaries,
    tenants: &ScopeTenants,
    with_tenant_name: bool,
) -> Result<(Event, Cursor)> {
    event_row(row, dictionaries)?.to_event(tenants, with_tenant_name)
}

/// The columns of [`EVENT_COLUMNS`], borrowed from the row; a compressed
/// document decompressed.
fn event_row<'r>(row: &'r Row, dictionaries: &Dictionaries) -> Result<EventRow<'r>> {
    let doc = match (
        row.try_get::<_, Option<&str>>(11)?,
        row.try_get::<_, Option<&[u8]>>(14)?,
    ) {
        (Some(text), _) => std::borrow::Cow::Borrowed(text),
        (None, Some(packed)) => std::borrow::Cow::Owned(dictionaries.unpack(packed)?),
        (None, None) => {
            return Err(StoreError::Corrupt(
                "an event without its document".to_owned(),
            ));
        }
    };
    let tenant_no: i64 = row.try_get(0)?;
    let seq: i64 = row.try_get(1)?;
    Ok(EventRow {
        position: position(tenant_no, seq.max(0) as u64),
        tenant_no,
        seq,
        id: row.try_get(2)?,
        occurred_at: row.try_get(3)?,
        recorded_at: row.try_get(4)?,
        action: row.try_get(5)?,
        category: row.try_get(6)?,
        actor_type: row.try_get(7)?,
        ip: row.try_get(8)?,
        channel: row.try_get(9)?,
        outcome: row.try_get(10)?,
        doc,
        actor_id: row.try_get(12)?,
        actor_email: row.try_get(13)?,
    })
}

fn tenant_row(row: &Row) -> Result<TenantRow> {
    Ok(TenantRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        parent: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

fn key_row(row: &Row) -> Result<KeyRow> {
    Ok(KeyRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        tenant: row.try_get(2)?,
        scopes: row.try_get(3)?,
        created_at: row.try_get(4)?,
        revoked_at: row.try_get(5)?,
    })
}

fn viewer_link_row(row: &Row) -> Result<ViewerLink> {
    ViewerLinkRow {
        id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        include_descendants: row.try_get(2)?,
        query: row.try_get(3)?,
        title: row.try_get(4)?,
        created_by: row.try_get(5)?,
        created_at: row.try_get(6)?,
        expires_at: row.try_get(7)?,
        used_at: row.try_get(8)?,
        revoked_at: row.try_get(9)?,
    }
    .into_link()
}

fn checkpoint_row(row: &Row) -> Result<StoredCheckpoint> {
    CheckpointRow(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?).into_checkpoint()
}

fn viewer_link_where(
    db: &mut Db<'_, impl GenericClient>,
    condition: &str,
    value: &(dyn postgres::types::ToSql + Sync),
) -> Result<Option<ViewerLink>> {
    db.query_opt(
        &format!("SELECT {VIEWER_LINK_COLUMNS} FROM viewer_links WHERE {condition}"),
        &[value],
    )?
    .as_ref()
    .map(viewer_link_row)
    .transpose()
}

fn require_tenant(db: &mut Db<'_, impl GenericClient>, tenant: &str) -> Result<()> {
    let exists: bool = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)",
            &[&tenant],
        )?
        .try_get(0)?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::TenantNotFound(tenant.to_owned()))
    }
}

fn resolve_scope(db: &mut Db<'_, impl GenericClient>, scope: &TenantScope) -> Result<ScopeTenants> {
    let rows = db.query(
        "SELECT no, id, name FROM tenants WHERE id = ANY($1)",
        &[&scope.tenants],
    )?;
    let mut by_id: HashMap<String, (i64, String)> = HashMap::new();
    for row in &rows {
        by_id.insert(row.try_get(1)?, (row.try_get(0)?, row.try_get(2)?));
    }
    let mut by_no = HashMap::new();
    let mut numbers = Vec::new();
    // In the scope's order: the tenant asked for first.
    for tenant in &scope.tenants {
        if let Some((no, name)) = by_id.remove(tenant) {
            by_no.insert(no, (tenant.clone(), name));
            numbers.push(no);
        }
    }
    Ok(ScopeTenants { by_no, numbers })
}

/// A tenant's number and log size.
fn tenant_log(db: &mut Db<'_, impl GenericClient>, tenant: &str) -> Result<Option<(i64, u64)>> {
    db.query_opt("SELECT no, next_seq FROM tenants WHERE id = $1", &[&tenant])?
        .map(|row| Ok((row.try_get(0)?, row.try_get::<_, i64>(1)? as u64)))
        .transpose()
}

/// The right edge of a tenant's tree of `size` leaves, from its stored nodes.
fn load_frontier(
    db: &mut Db<'_, impl GenericClient>,
    tenant_no: i64,
    size: u64,
) -> Result<Frontier> {
    load_frontiers(db, &[(tenant_no, size)])?
        .remove(&tenant_no)
        .ok_or_else(|| StoreError::Corrupt("Merkle frontier".to_owned()))
}

/// The right edges of several tenants' trees (tenant number, size), their
/// nodes read in one statement ([`fetch_nodes`]).
fn load_frontiers(
    db: &mut Db<'_, impl GenericClient>,
    trees: &[(i64, u64)],
) -> Result<HashMap<i64, Frontier>> {
    let wanted: Vec<(i64, u32, u64)> = trees
        .iter()
        .flat_map(|(tenant_no, size)| {
            Frontier::node_addresses(*size)
                .into_iter()
                .map(|(level, index)| (*tenant_no, level, index))
        })
        .collect();
    let found = fetch_nodes(db, &wanted)?;
    let mut frontiers = HashMap::with_capacity(trees.len());
    for (tenant_no, size) in trees {
        let hashes = Frontier::node_addresses(*size)
            .into_iter()
            .map(|(level, index)| {
                found
                    .get(&(*tenant_no, level, index))
                    .copied()
                    .ok_or_else(|| missing_node(*tenant_no, level, index))
            })
            .collect::<Result<Vec<Hash>>>()?;
        let frontier = Frontier::from_hashes(*size, &hashes)
            .ok_or_else(|| StoreError::Corrupt("Merkle frontier".to_owned()))?;
        frontiers.insert(*tenant_no, frontier);
    }
    Ok(frontiers)
}

fn missing_node(tenant_no: i64, level: u32, index: u64) -> StoreError {
    StoreError::Corrupt(format!(
        "tenant {tenant_no}: Merkle node ({level}, {index}) is missing"
    ))
}

/// The nodes (tenant number, level, index) that are stored, read in one
/// statement: those of levels 0 to [`PACKED_LEVELS`] computed from the packs
/// of leaves that hold them, the others from `merkle_nodes`.
fn fetch_nodes(
    db: &mut Db<'_, impl GenericClient>,
    wanted: &[(i64, u32, u64)],
) -> Result<HashMap<(i64, u32, u64), Hash>> {
    let mut packs = std::collections::BTreeSet::new();
    let (mut tenants, mut levels, mut indexes) = (Vec::new(), Vec::new(), Vec::new());
    for (tenant_no, level, index) in wanted {
        if *level <= PACKED_LEVELS {
            packs.insert((*tenant_no, pack_of(*level, *index) as i64));
        } else {
            tenants.push(*tenant_no);
            levels.push(i64::from(*level));
            indexes.push(*index as i64);
        }
    }
    let mut found = HashMap::with_capacity(wanted.len());
    if wanted.is_empty() {
        return Ok(found);
    }
    let (pack_tenants, numbers): (Vec<i64>, Vec<i64>) = packs.into_iter().unzip();
    // A pack comes back as level -1, its number as the index.
    let rows = db.query(
        "SELECT tenant_no, level, idx, hash FROM merkle_nodes
         WHERE (tenant_no, level, idx) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]))
         UNION ALL
         SELECT tenant_no, -1, pack, hashes FROM merkle_leaves
         WHERE (tenant_no, pack) IN (SELECT * FROM unnest($4::bigint[], $5::bigint[]))",
        &[&tenants, &levels, &indexes, &pack_tenants, &numbers],
    )?;
    let mut read: HashMap<(i64, u64), &[u8]> = HashMap::new();
    for row in &rows {
        let (tenant_no, level, index): (i64, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if level < 0 {
            read.insert((tenant_no, index as u64), row.try_get(3)?);
        } else {
            found.insert(
                (tenant_no, level as u32, index as u64),
                hash32(row.try_get::<_, &[u8]>(3)?, "Merkle node")?,
            );
        }
    }
    for (tenant_no, level, index) in wanted {
        if *level <= PACKED_LEVELS
            && let Some(hash) = read
                .get(&(*tenant_no, pack_of(*level, *index)))
                .and_then(|hashes| node_in_pack(hashes, *level, *index))
        {
            found.insert((*tenant_no, *level, *index), hash);
        }
    }
    Ok(found)
}

/// The Merkle nodes of a proof computation. Which nodes a proof reads
/// depends on its indexes and sizes, never on the hashes, so it runs once on
/// placeholder hashes to learn them, and again on those nodes fetched in one
/// statement ([`with_proof_nodes`]).
enum ProofNodes {
    Needed(RefCell<std::collections::BTreeSet<(u32, u64)>>),
    Fetched {
        tenant_no: i64,
        hashes: HashMap<(u32, u64), Hash>,
    },
}

impl Nodes for ProofNodes {
    type Error = StoreError;

    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        match self {
            ProofNodes::Needed(needed) => {
                needed.borrow_mut().insert((level, index));
                Ok([0; 32])
            }
            ProofNodes::Fetched { tenant_no, hashes } => hashes
                .get(&(level, index))
                .copied()
                .ok_or_else(|| missing_node(*tenant_no, level, index)),
        }
    }
}

/// `compute` on the tenant's stored nodes, read in one statement.
fn with_proof_nodes<T>(
    db: &mut Db<'_, impl GenericClient>,
    tenant_no: i64,
    compute: impl Fn(&ProofNodes) -> Result<T>,
) -> Result<T> {
    let needed = ProofNodes::Needed(RefCell::default());
    compute(&needed)?;
    let ProofNodes::Needed(needed) = needed else {
        unreachable!("built as Needed above")
    };
    let wanted: Vec<(i64, u32, u64)> = needed
        .into_inner()
        .into_iter()
        .map(|(level, index)| (tenant_no, level, index))
        .collect();
    let hashes = fetch_nodes(db, &wanted)?
        .into_iter()
        .map(|((_, level, index), hash)| ((level, index), hash))
        .collect();
    compute(&ProofNodes::Fetched { tenant_no, hashes })
}

/// The rows of one append, gathered column by column for `INSERT … SELECT FROM unnest`.
#[derive(Default)]
struct EventColumns {
    tenant_no: Vec<i64>,
    seq: Vec<i64>,
    occurred_at: Vec<i64>,
    recorded_at: Vec<i64>,
    id: Vec<Uuid>,
    action: Vec<String>,
    category: Vec<String>,
    actor_type: Vec<&'static str>,
    actor_id: Vec<Option<String>>,
    actor_email: Vec<Option<String>>,
    ip: Vec<Option<Vec<u8>>>,
    channel: Vec<Option<String>>,
    outcome: Vec<&'static str>,
    idempotency_key: Vec<Option<String>>,
    salt: Vec<Vec<u8>>,
    doc: Vec<String>,
    words: Vec<String>,
}

#[derive(Default)]
struct TargetColumns {
    tenant_no: Vec<i64>,
    target_id: Vec<String>,
    target_type: Vec<String>,
    occurred_at: Vec<i64>,
    seq: Vec<i64>,
}

/// The Merkle nodes an append completed: leaf hashes by pack (tenant
/// number, pack) with the place of the first in its pack, and the nodes
/// above [`PACKED_LEVELS`] column by column.
#[derive(Default)]
struct NodeColumns {
    packs: std::collections::BTreeMap<(i64, u64), (u64, Vec<u8>)>,
    tenant_no: Vec<i64>,
    level: Vec<i64>,
    index: Vec<i64>,
    hash: Vec<Vec<u8>>,
}

impl NodeColumns {
    fn extend(&mut self, tenant_no: i64, nodes: &[Node]) {
        for node in nodes {
            match node.level {
                0 => {
                    let (_, hashes) = self
                        .packs
                        .entry((tenant_no, pack_of(0, node.index)))
                        .or_insert_with(|| (node.index % LEAVES_PER_PACK, Vec::new()));
                    hashes.extend_from_slice(&node.hash);
                }
                1..=PACKED_LEVELS => {}
                _ => {
                    self.tenant_no.push(tenant_no);
                    self.level.push(i64::from(node.level));
                    self.index.push(node.index as i64);
                    self.hash.push(node.hash.to_vec());
                }
            }
        }
    }

    /// Writes the nodes in one statement: each pack's leaves appended to
    /// those it holds (a pack begun by an earlier append is extended),
    /// checked to follow them, and the nodes above the packs.
    fn insert(&self, db: &mut Db<'_, impl GenericClient>) -> Result<()> {
        let mut tenants = Vec::with_capacity(self.packs.len());
        let mut numbers = Vec::with_capacity(self.packs.len());
        let mut hashes = Vec::with_capacity(self.packs.len());
        for ((tenant_no, pack), (_, bytes)) in &self.packs {
            tenants.push(*tenant_no);
            numbers.push(*pack as i64);
            hashes.push(bytes.as_slice());
        }
        let rows = db.query(
            "WITH nodes AS (
                 INSERT INTO merkle_nodes (tenant_no, level, idx, hash)
                 SELECT * FROM unnest($4::bigint[], $5::bigint[], $6::bigint[], $7::bytea[])
             )
             INSERT INTO merkle_leaves (tenant_no, pack, hashes)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])
             ON CONFLICT (tenant_no, pack) DO UPDATE SET hashes = merkle_leaves.hashes || excluded.hashes
             RETURNING tenant_no, pack, length(hashes)",
            &[
                &tenants,
                &numbers,
                &hashes,
                &self.tenant_no,
                &self.level,
                &self.index,
                &self.hash,
            ],
        )?;
        for row in &rows {
            let (tenant_no, pack): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            let length = row.try_get::<_, i32>(2)? as u64;
            let (first, bytes) = &self.packs[&(tenant_no, pack as u64)];
            if length != first * 32 + bytes.len() as u64 {
                return Err(StoreError::Corrupt(format!(
                    "tenant {tenant_no}: the leaves from {} do not follow the {} of their pack",
                    pack as u64 * LEAVES_PER_PACK + first,
                    (length - bytes.len() as u64) / 32
                )));
            }
        }
        Ok(())
    }
}

/// A tenant of an append group, locked: where its log stands as the group goes on.
struct Appending {
    no: i64,
    next_seq: u64,
    frontier: Frontier,
    /// Idempotency keys seen so far (stored before, or earlier in the group).
    seen: HashMap<String, Receipt>,
}

/// One page of events for `query`.
fn query_page(db: &mut Db<'_, impl GenericClient>, query: &EventQuery) -> Result<EventPage> {
    let page = raw_page(db, query)?;
    Ok(EventPage {
        events: page.events()?,
        next_cursor: page.next_cursor,
    })
}

/// `scope` and `filter` resolved; None when no tenant of the scope exists.
fn resolve<'f>(
    db: &mut Db<'_, impl GenericClient>,
    scope: &TenantScope,
    filter: &'f Filter,
) -> Result<Option<Resolved<'f>>> {
    let tenants = resolve_scope(db, scope)?;
    if tenants.numbers.is_empty() {
        return Ok(None);
    }
    let filter = categories_as_actions(db, &tenants.numbers, filter)?;
    Ok(Some(Resolved { tenants, filter }))
}

/// One page of events for `query`, as stored.
fn raw_page(db: &mut Db<'_, impl GenericClient>, query: &EventQuery) -> Result<RawPage> {
    match resolve(db, &query.scope, &query.filter)? {
        Some(resolved) => resolved_page(db, &resolved, query),
        None => Ok(RawPage::default()),
    }
}

/// One page of events for `query`, resolved, as stored.
fn resolved_page(
    db: &mut Db<'_, impl GenericClient>,
    resolved: &Resolved<'_>,
    query: &EventQuery,
) -> Result<RawPage> {
    let tenants = &resolved.tenants;
    let query = match &resolved.filter {
        std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Borrowed(query),
        // The query's own filter is not cloned only to be replaced.
        std::borrow::Cow::Owned(filter) => std::borrow::Cow::Owned(EventQuery {
            scope: query.scope.clone(),
            filter: filter.clone(),
            sort: query.sort,
            start: query.start.clone(),
            limit: query.limit,
            now: query.now,
        }),
    };
    let walking = common_text_tenants(db, tenants, &query)?;
    let (sql, params) = page_sql(tenants, &query, &walking);
    let mut page = PageBuilder::new(query.limit, tenants, query.scope.spans_several());
    db.for_each_row(&sql, &params.refs(), |row, dictionaries| {
        page.offer(&event_row(row, dictionaries)?)
    })?;
    Ok(page.finish())
}

/// Tenants this small are searched through the text index whatever the term.
const SMALL_TENANT: i64 = 5_000;

/// The tenants of the scope where the filter's one free-text word matches so many of
/// their events that walking the time index (checking each event) reads less
/// than fetching every match and sorting: walking costs about `size /
/// matches × page` cheap index steps, fetching `matches` row reads at some ten
/// times the cost each; they meet near `matches = sqrt(size × page / 10)`.
/// Matches are counted only up to that bound, through the text index.
fn common_text_tenants(
    db: &mut Db<'_, impl GenericClient>,
    tenants: &ScopeTenants,
    query: &EventQuery,
) -> Result<std::collections::HashSet<i64>> {
    let mut walking = std::collections::HashSet::new();
    if filter_sql::single_word_text(0, &query.filter).is_none() {
        return Ok(walking);
    }
    let offset = match &query.start {
        PageStart::Offset(skip) => *skip as i64,
        _ => 0,
    };
    let page = i64::from(query.limit) + 1 + offset;
    let sizes = db.query(
        "SELECT no, next_seq FROM tenants WHERE no = ANY($1)",
        &[&tenants.numbers],
    )?;
    for row in &sizes {
        let (tenant_no, size): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if size < SMALL_TENANT {
            continue;
        }
        let Some(text) = filter_sql::single_word_text(tenant_no, &query.filter) else {
            continue;
        };
        let bound = ((size as f64 * page as f64 / 10.0).sqrt() as i64).max(page);
        let matches: i64 = db
            .query_one(
                "SELECT count(*) FROM (SELECT 1 FROM events WHERE tenant_no = $1 AND words @@ $2::text::tsquery LIMIT $3) AS found",
                &[&tenant_no, &text, &(bound + 1)],
            )?
            .try_get(0)?;
        if matches > bound {
            walking.insert(tenant_no);
        }
    }
    Ok(walking)
}

/// One single-tenant part of a page's query: its filter, and the part of its
/// actor clause it reads, if split (see [`filter_sql::actor_split`]).
type Branch<'f> = (std::borrow::Cow<'f, Filter>, Option<(usize, usize)>);

/// The statement of one page (one more row than the page, to know whether
/// another follows): one query per tenant of the scope (and per exact action
/// of a filter that lists several), each read from an index in sort order,
/// merged.
fn page_sql(
    tenants: &ScopeTenants,
    query: &EventQuery,
    walking: &std::collections::HashSet<i64>,
) -> (String, Params) {
    let direction = match query.sort {
        SortOrder::Desc => "DESC",
        SortOrder::Asc => "ASC",
    };
    let offset = match &query.start {
        PageStart::Offset(skip) => *skip as i64,
        _ => 0,
    };
    let limit = i64::from(query.limit);
    // A multi-action filter is read one action at a time, else an actor
    // clause one part (id, email) at a time: each branch a range of an index in
    // sort order.
    let fits = |count: usize| count * tenants.numbers.len() <= MAX_BRANCHES;
    let branches: Vec<Branch<'_>> = match action_branches(&query.filter)
        .filter(|branches| fits(branches.len()))
    {
        Some(filters) => filters
            .into_iter()
            .map(|filter| (std::borrow::Cow::Owned(filter), None))
            .collect(),
        None => match filter_sql::actor_split(&query.filter).filter(|(_, parts)| fits(*parts)) {
            Some((position, parts)) => (0..parts)
                .map(|part| {
                    (
                        std::borrow::Cow::Borrowed(&query.filter),
                        Some((position, part)),
                    )
                })
                .collect(),
            None => vec![(std::borrow::Cow::Borrowed(&query.filter), None)],
        },
    };
    let mut params = Params::default();
    let mut selects = Vec::new();
    let sole_targets = filter_sql::sole_targets(&query.filter);
    for tenant_no in &tenants.numbers {
        let bound = match &query.start {
            PageStart::After(cursor) => {
                let (comparison, seq) = cursor_bound(cursor, *tenant_no, query.sort);
                Some((comparison, cursor.occurred_at_micros, seq))
            }
            _ => None,
        };
        if let Some(targets) = sole_targets {
            // A target alone: the tenant's page from the target index first.
            selects.push(filter_sql::target_window(
                *tenant_no,
                targets,
                bound,
                direction,
                limit + 1 + offset,
                &mut params,
            ));
            continue;
        }
        let (tenant_id, _) = &tenants.by_no[tenant_no];
        for (filter, actor_part) in &branches {
            let shape = filter_sql::Shape {
                actor_part: *actor_part,
                text_walks: walking.contains(tenant_no),
                ..Default::default()
            };
            let mut condition =
                filter_sql::build(*tenant_no, tenant_id, filter, query.now, shape, &mut params);
            if let Some((comparison, occurred_at, seq)) = bound {
                condition.push_str(&format!(
                    " AND (occurred_at, seq) {comparison} ({}, {})",
                    params.add(occurred_at),
                    params.add(seq)
                ));
            }
            selects.push(condition);
        }
    }
    let sql = if selects.len() == 1 {
        format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY occurred_at {direction}, seq {direction} LIMIT {} OFFSET {}",
            selects[0],
            params.add(limit + 1),
            params.add(offset)
        )
    } else {
        // Each part needs no more than the page and what it skips.
        let each = params.add(limit + 1 + offset);
        let united: Vec<String> = selects
            .iter()
            .map(|condition| format!(
                "(SELECT {EVENT_COLUMNS} FROM events WHERE {condition} ORDER BY occurred_at {direction}, seq {direction} LIMIT {each})"
            ))
            .collect();
        format!(
            "SELECT * FROM ({}) AS page ORDER BY occurred_at {direction}, tenant_no {direction}, seq {direction} LIMIT {} OFFSET {}",
            united.join(" UNION ALL "),
            params.add(limit + 1),
            params.add(offset)
        )
    };
    (sql, params)
}

/// The cursor as a bound on one tenant's `(occurred_at, seq)`: the sort's
/// tie-break is the position (tenant number, then seq), so at the cursor's
/// time a tenant numbered below the cursor's has all its events before it
/// and one numbered above has them all after.
fn cursor_bound(cursor: &Cursor, tenant_no: i64, sort: SortOrder) -> (&'static str, i64) {
    let cursor_tenant = cursor.position >> crate::record::SEQ_BITS;
    let cursor_seq = cursor.position & MAX_SEQ as i64;
    let past_all = MAX_SEQ as i64 + 1;
    match sort {
        SortOrder::Desc => (
            "<",
            match tenant_no.cmp(&cursor_tenant) {
                std::cmp::Ordering::Less => past_all,
                std::cmp::Ordering::Equal => cursor_seq,
                std::cmp::Ordering::Greater => 0,
            },
        ),
        SortOrder::Asc => (
            ">",
            match tenant_no.cmp(&cursor_tenant) {
                std::cmp::Ordering::Less => past_all,
                std::cmp::Ordering::Equal => cursor_seq,
                std::cmp::Ordering::Greater => -1,
            },
        ),
    }
}

/// The number of events in `scope` that match `filter`: one count per tenant, summed.
fn count_events(
    db: &mut Db<'_, impl GenericClient>,
    scope: &TenantScope,
    filter: &Filter,
    now: Timestamp,
) -> Result<u64> {
    match resolve(db, scope, filter)? {
        Some(resolved) => resolved_count(db, &resolved, now),
        None => Ok(0),
    }
}

/// The exact total of a resolved scope and filter.
fn resolved_count(
    db: &mut Db<'_, impl GenericClient>,
    resolved: &Resolved<'_>,
    now: Timestamp,
) -> Result<u64> {
    let (tenants, filter) = (&resolved.tenants, resolved.filter.as_ref());
    if filter.clauses.is_empty() {
        // Every event of the tenants: their logs' sizes (seq has no gaps, nothing is deleted).
        let size: i64 = db
            .query_one(
                "SELECT coalesce(sum(next_seq), 0)::bigint FROM tenants WHERE no = ANY($1)",
                &[&tenants.numbers],
            )?
            .try_get(0)?;
        return Ok(size as u64);
    }
    if let Some((sql, params)) = filter_sql::action_total(&tenants.numbers, filter) {
        // Actions (or categories, as their actions) alone: the events each
        // action holds, as the appends that stored them counted them.
        let total: i64 = db.query_one(&sql, &params.refs())?.try_get(0)?;
        return Ok(total as u64);
    }
    if let Some(targets) = filter_sql::sole_targets(filter) {
        // Targets alone: counted in the target index, no event read.
        let (sql, params) = filter_sql::target_total(&tenants.numbers, targets);
        let total: i64 = db.query_one(&sql, &params.refs())?.try_get(0)?;
        return Ok(total as u64);
    }
    if let Some((from, to)) = crate::days::time_range(filter, now)
        && let Some((sql, params)) = time_total_sql(&tenants.numbers, from, to)
    {
        // Time bounds alone: whole days from `day_counts`, the partial ends
        // counted in the time index.
        let total: i64 = db.query_one(&sql, &params.refs())?.try_get(0)?;
        return Ok(total as u64);
    }
    let (sql, params) = count_sql(tenants, filter, now);
    let count: i64 = db.query_one(&sql, &params.refs())?.try_get(0)?;
    Ok(count as u64)
}

/// The statement counting the events of `tenants` that occurred from `from`
/// to `to` (inclusive, microseconds; None: unbounded), when the range spans
/// a whole day: the whole days summed from `day_counts`, the partial days at
/// either end counted in the time index. None when no whole day lies within
/// the range (its count reads at most two days of the index).
fn time_total_sql(
    tenants: &[i64],
    from: Option<i64>,
    to: Option<i64>,
) -> Option<(String, filter_sql::Params)> {
    let mut params = filter_sql::Params::default();
    let (first, past, edges) = match crate::days::range_total(from, to) {
        RangeTotal::Empty => return Some(("SELECT 0::bigint".to_owned(), params)),
        RangeTotal::Partial => return None,
        RangeTotal::Days { first, past, edges } => (first, past, edges),
    };
    let scope = params.add(tenants.to_vec());
    let mut days =
        format!("SELECT coalesce(sum(events), 0) FROM day_counts WHERE tenant_no = ANY({scope})");
    if let Some(first) = first {
        days.push_str(&format!(" AND day >= {}", params.add(first)));
    }
    if let Some(past) = past {
        days.push_str(&format!(" AND day < {}", params.add(past)));
    }
    let mut parts = vec![format!("({days})")];
    for (low, high) in edges {
        parts.push(format!(
            "(SELECT count(*) FROM events WHERE tenant_no = ANY({scope}) AND occurred_at >= {} AND occurred_at < {})",
            params.add(low),
            params.add(high)
        ));
    }
    Some((filter_sql::sum_of(&parts), params))
}

/// `filter` with its first positive category clause read through the action
/// index ([`crate::categories::through_actions`]), from `action_categories`.
fn categories_as_actions<'f>(
    db: &mut Db<'_, impl GenericClient>,
    tenants: &[i64],
    filter: &'f Filter,
) -> Result<std::borrow::Cow<'f, Filter>> {
    crate::categories::through_actions(filter, || {
        db.query(
            "SELECT DISTINCT action, category FROM action_categories WHERE tenant_no = ANY($1)",
            &[&tenants],
        )?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
    })
}

/// The statement counting a filter's events: one count per tenant, summed.
/// An actor clause of several parts (an id and an email) is counted as the
/// `UNION` of each part's events, each read from its actor index alone
/// (`actor_id = … OR actor_email = …` reads every matching row instead).
fn count_sql(tenants: &ScopeTenants, filter: &Filter, now: Timestamp) -> (String, Params) {
    let mut params = Params::default();
    let split = filter_sql::actor_split(filter);
    let counts: Vec<String> = tenants
        .numbers
        .iter()
        .map(|tenant_no| {
            let (tenant_id, _) = &tenants.by_no[tenant_no];
            let mut condition =
                |shape| filter_sql::build(*tenant_no, tenant_id, filter, now, shape, &mut params);
            match split {
                Some((position, parts)) => {
                    let selects: Vec<String> = (0..parts)
                        .map(|part| {
                            let shape = filter_sql::Shape {
                                actor_part: Some((position, part)),
                                parts_overlap: true,
                                ..Default::default()
                            };
                            format!("SELECT seq FROM events WHERE {}", condition(shape))
                        })
                        .collect();
                    format!(
                        "(SELECT count(*) FROM ({}) AS matched)",
                        selects.join(" UNION ")
                    )
                }
                None => format!(
                    "(SELECT count(*) FROM events WHERE {})",
                    condition(Default::default())
                ),
            }
        })
        .collect();
    (filter_sql::sum_of(&counts), params)
}

/// What an append answers for each batch of its group.
type GroupResults = Vec<Result<Vec<Receipt>, BatchError>>;

/// The batches of a group split into at most `parts` lists (their indexes, in
/// input order), each tenant's batches in one list, the lists balanced by
/// events (largest tenant first). Never empty.
fn split_by_tenant(batches: &[AppendBatch], parts: usize) -> Vec<Vec<usize>> {
    let mut by_tenant: Vec<(&str, usize, Vec<usize>)> = Vec::new();
    for (index, batch) in batches.iter().enumerate() {
        match by_tenant
            .iter_mut()
            .find(|(tenant, _, _)| *tenant == batch.tenant)
        {
            Some((_, events, indexes)) => {
                *events += batch.events.len();
                indexes.push(index);
            }
            None => by_tenant.push((&batch.tenant, batch.events.len(), vec![index])),
        }
    }
    by_tenant.sort_by_key(|(_, events, _)| std::cmp::Reverse(*events));
    let mut lists: Vec<(usize, Vec<usize>)> =
        vec![(0, Vec::new()); parts.clamp(1, by_tenant.len().max(1))];
    for (_, events, indexes) in by_tenant {
        let lightest = lists
            .iter_mut()
            .min_by_key(|(load, _)| *load)
            .expect("at least one list");
        lightest.0 += events;
        lightest.1.extend(indexes);
    }
    let mut lists: Vec<Vec<usize>> = lists
        .into_iter()
        .map(|(_, mut indexes)| {
            indexes.sort_unstable();
            indexes
        })
        .collect();
    if lists.iter().all(Vec::is_empty) {
        return vec![Vec::new()];
    }
    lists.retain(|list| !list.is_empty());
    lists
}

/// Appends a group of batches in the transaction `db` (see [`Store::append`]).
/// With `copied` (the one batch's events as another store keeps them), each
/// keeps its seq, id, recorded time and salt instead of getting new ones.
/// The (tenant, category, action) pairs it writes to `action_categories` (those
/// the store does not know yet) go into `categorised`, for the caller to add
/// to the known ones once the transaction commits. Documents are compressed
/// with the context of write connection `writer`.
fn append_group(
    db: &mut Db<'_, impl GenericClient>,
    store: &PostgresStore,
    writer: usize,
    batches: &[&AppendBatch],
    recorded_at: Timestamp,
    copied: Option<&[StoredEvent]>,
    categorised: &mut Vec<(i64, String, String)>,
) -> Result<Vec<Result<Vec<Receipt>, BatchError>>> {
    let mut names: Vec<&str> = batches.iter().map(|batch| batch.tenant.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    // Locked in one order by every writer: two servers appending to the same
    // tenants wait for each other instead of deadlocking.
    let locked = db.query(
        "SELECT id, no, next_seq FROM tenants WHERE id = ANY($1) ORDER BY no FOR UPDATE",
        &[&names],
    )?;
    let mut sizes = Vec::with_capacity(locked.len());
    let mut numbers = HashMap::with_capacity(locked.len());
    for row in &locked {
        let no: i64 = row.try_get(1)?;
        sizes.push((no, row.try_get::<_, i64>(2)? as u64));
        numbers.insert(row.try_get::<_, String>(0)?, no);
    }
    // Where every tenant's tree stands, and which of the group's idempotency
    // keys were stored before: one statement each, whatever the group holds.
    let mut frontiers = load_frontiers(db, &sizes)?;
    let mut key_tenants = Vec::new();
    let mut keys = Vec::new();
    for batch in batches {
        if let Some(no) = numbers.get(&batch.tenant) {
            for key in batch
                .events
                .iter()
                .filter_map(|event| event.idempotency_key.as_deref())
            {
                key_tenants.push(*no);
                keys.push(key);
            }
        }
    }
    let mut seen: HashMap<i64, HashMap<String, Receipt>> = HashMap::new();
    if !keys.is_empty() {
        let rows = db.query(
            "SELECT tenant_no, idempotency_key, id, seq, recorded_at FROM events
             WHERE (tenant_no, idempotency_key) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))",
            &[&key_tenants, &keys],
        )?;
        for row in &rows {
            seen.entry(row.try_get(0)?).or_default().insert(
                row.try_get(1)?,
                Receipt {
                    id: row.try_get(2)?,
                    seq: row.try_get::<_, i64>(3)? as u64,
                    recorded_at: timestamp(row.try_get(4)?)?,
                },
            );
        }
    }
    let mut tenants: HashMap<String, Appending> = HashMap::with_capacity(locked.len());
    for (id, no) in numbers {
        let next_seq = sizes
            .iter()
            .find(|(number, _)| *number == no)
            .map_or(0, |(_, size)| *size);
        let frontier = frontiers
            .remove(&no)
            .ok_or_else(|| StoreError::Corrupt("Merkle frontier".to_owned()))?;
        tenants.insert(
            id,
            Appending {
                no,
                next_seq,
                frontier,
                seen: seen.remove(&no).unwrap_or_default(),
            },
        );
    }
    let mut events = EventColumns::default();
    let mut targets = TargetColumns::default();
    let mut nodes = NodeColumns::default();
    let mut new_nodes = Vec::new();
    let mut results = Vec::with_capacity(batches.len());
    for batch in batches {
        let Some(appending) = tenants.get_mut(&batch.tenant) else {
            results.push(Err(BatchError::TenantNotFound(batch.tenant.clone())));
            continue;
        };
        if appending.next_seq + batch.events.len() as u64 > MAX_SEQ + 1 {
            return Err(StoreError::OutOfRange(format!(
                "tenant {} holds the most events one log can ({})",
                batch.tenant,
                MAX_SEQ + 1
            )));
        }
        let mut receipts = Vec::with_capacity(batch.events.len());
        for (number, event) in batch.events.iter().enumerate() {
            let copy = copied.and_then(|copied| copied.get(number));
            if let (Some(receipt), None) = (
                event
                    .idempotency_key
                    .as_ref()
                    .and_then(|key| appending.seen.get(key)),
                copy,
            ) {
                receipts.push(*receipt);
                continue;
            }
            let seq = appending.next_seq;
            let (id, salt, recorded_at) = match copy {
                Some(copy) => copy.fixed(seq)?,
                None => (Uuid::now_v7(), rand::random(), recorded_at),
            };
            let occurred = event.occurred_at.as_microsecond();
            let leaf = event.view_as(id, &batch.tenant, seq, recorded_at);
            new_nodes.clear();
            appending
                .frontier
                .push(leaf_hash_of(&leaf, salt), &mut new_nodes);
            nodes.extend(appending.no, &new_nodes);
            for target in &event.targets {
                targets.tenant_no.push(appending.no);
                targets.target_id.push(target.id.clone());
                targets.target_type.push(target.target_type.clone());
                targets.occurred_at.push(occurred);
                targets.seq.push(seq as i64);
            }
            events.tenant_no.push(appending.no);
            events.seq.push(seq as i64);
            events.occurred_at.push(occurred);
            events.recorded_at.push(recorded_at.as_microsecond());
            events.id.push(id);
            events.action.push(event.action.clone());
            events.category.push(event.category.clone());
            events.actor_type.push(event.actor.actor_type.as_str());
            events.actor_id.push(event.actor.id.clone());
            events.actor_email.push(email_column(&event.actor));
            events
                .ip
                .push(event.context.ip.map(|ip| ip_bytes(ip).to_vec()));
            events.channel.push(event.channel.clone());
            events.outcome.push(event.outcome.as_str());
            events.idempotency_key.push(event.idempotency_key.clone());
            events.salt.push(salt.to_vec());
            events.doc.push(DocRef::json(event)?);
            events
                .words
                .push(filter_sql::tsvector(appending.no, &searchable_text(event)));
            let receipt = Receipt {
                id,
                seq,
                recorded_at,
            };
            if let Some(key) = &event.idempotency_key {
                appending.seen.insert(key.clone(), receipt);
            }
            receipts.push(receipt);
            appending.next_seq += 1;
        }
        results.push(Ok(receipts));
    }
    if events.seq.is_empty() {
        return Ok(results);
    }
    let packed = store.docs.pack(writer, &events.doc)?;
    insert_events(db, &events, &packed)?;
    // The actions each tenant recorded under each category, once each: the
    // pairs this server has not yet seen stored.
    let mut pairs: Vec<(i64, &str, &str)> = (0..events.seq.len())
        .map(|row| {
            (
                events.tenant_no[row],
                events.category[row].as_str(),
                events.action[row].as_str(),
            )
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    {
        let known = store
            .categorised
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pairs.retain(|(tenant_no, category, action)| {
            !known.contains(&(*tenant_no, (*category).to_owned(), (*action).to_owned()))
        });
    }
    if !pairs.is_empty() {
        let (pair_tenants, (pair_categories, pair_actions)): (Vec<i64>, (Vec<&str>, Vec<&str>)) =
            pairs
                .iter()
                .map(|(tenant_no, category, action)| (*tenant_no, (*category, *action)))
                .unzip();
        db.execute(
            "INSERT INTO action_categories (tenant_no, category, action)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
             ON CONFLICT DO NOTHING",
            &[&pair_tenants, &pair_categories, &pair_actions],
        )?;
        categorised.extend(pairs.into_iter().map(|(tenant_no, category, action)| {
            (tenant_no, category.to_owned(), action.to_owned())
        }));
    }
    count_appended(db, &events, &sizes)?;
    if !targets.seq.is_empty() {
        // A target listed twice on one event is one row.
        db.execute(
            "INSERT INTO event_targets (tenant_no, target_id, target_type, occurred_at, seq)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
             ON CONFLICT DO NOTHING",
            &[
                &targets.tenant_no,
                &targets.target_id,
                &targets.target_type,
                &targets.occurred_at,
                &targets.seq,
            ],
        )?;
    }
    nodes.insert(db)?;
    let (numbers, sizes): (Vec<i64>, Vec<i64>) = tenants
        .values()
        .map(|appending| (appending.no, appending.next_seq as i64))
        .unzip();
    db.execute(
        "UPDATE tenants SET next_seq = grown.next_seq
         FROM unnest($1::bigint[], $2::bigint[]) AS grown (no, next_seq)
         WHERE tenants.no = grown.no",
        &[&numbers, &sizes],
    )?;
    Ok(results)
}

/// A tenant's rows of `action_counts` and `day_counts` are folded into one
/// per action and one per day each time its log passes a multiple of this.
const FOLD_COUNTS_EVERY: u64 = 4096;

/// Adds a row to `action_counts` for each (tenant, action) of the appended
/// `events` and one to `day_counts` for each (tenant, day), in one
/// statement; folds the rows of each tenant whose log passed a multiple of
/// [`FOLD_COUNTS_EVERY`] (`sizes`: each tenant's size before the append).
/// The tenants' rows are locked, so no other append folds them meanwhile.
fn count_appended(
    db: &mut Db<'_, impl GenericClient>,
    events: &EventColumns,
    sizes: &[(i64, u64)],
) -> Result<()> {
    let mut actions: std::collections::BTreeMap<(i64, &str), i64> = Default::default();
    let mut days: std::collections::BTreeMap<(i64, i64), i64> = Default::default();
    let mut last_seq: HashMap<i64, i64> = HashMap::new();
    for row in 0..events.seq.len() {
        let tenant_no = events.tenant_no[row];
        *actions
            .entry((tenant_no, events.action[row].as_str()))
            .or_default() += 1;
        *days
            .entry((tenant_no, crate::days::event_day(events.occurred_at[row])))
            .or_default() += 1;
        last_seq.insert(tenant_no, events.seq[row]);
    }
    let mut action_rows = (Vec::new(), Vec::new(), Vec::new());
    for ((tenant_no, action), count) in actions {
        action_rows.0.push(tenant_no);
        action_rows.1.push(action);
        action_rows.2.push(count);
    }
    let mut day_rows = (Vec::new(), Vec::new(), Vec::new());
    for ((tenant_no, day), count) in days {
        day_rows.0.push(tenant_no);
        day_rows.1.push(day);
        day_rows.2.push(count);
    }
    db.execute(
        "WITH days AS (
             INSERT INTO day_counts (tenant_no, day, events)
             SELECT * FROM unnest($4::bigint[], $5::bigint[], $6::bigint[])
         )
         INSERT INTO action_counts (tenant_no, action, events)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])",
        &[
            &action_rows.0,
            &action_rows.1,
            &action_rows.2,
            &day_rows.0,
            &day_rows.1,
            &day_rows.2,
        ],
    )?;
    let folding: Vec<i64> = sizes
        .iter()
        .filter(|(tenant_no, size)| {
            last_seq.get(tenant_no).is_some_and(|last| {
                *size / FOLD_COUNTS_EVERY != (*last as u64 + 1) / FOLD_COUNTS_EVERY
            })
        })
        .map(|(tenant_no, _)| *tenant_no)
        .collect();
    if !folding.is_empty() {
        db.execute(
            "WITH gone_actions AS (
                 DELETE FROM action_counts WHERE tenant_no = ANY($1) RETURNING tenant_no, action, events
             ), folded_actions AS (
                 INSERT INTO action_counts (tenant_no, action, events)
                 SELECT tenant_no, action, sum(events)::bigint FROM gone_actions GROUP BY tenant_no, action
             ), gone_days AS (
                 DELETE FROM day_counts WHERE tenant_no = ANY($1) RETURNING tenant_no, day, events
             )
             INSERT INTO day_counts (tenant_no, day, events)
             SELECT tenant_no, day, sum(events)::bigint FROM gone_days GROUP BY tenant_no, day",
            &[&folding],
        )?;
    }
    Ok(())
}

fn insert_events(
    db: &mut Db<'_, impl GenericClient>,
    events: &EventColumns,
    packed: &PackedDocs,
) -> Result<()> {
    // Each document as text or as its blob, the other NULL.
    let (docs, blobs): (Vec<Option<&str>>, Vec<Option<&[u8]>>) = events
        .doc
        .iter()
        .enumerate()
        .map(|(index, doc)| match packed.blob(index) {
            Some(blob) => (None, Some(blob)),
            None => (Some(doc.as_str()), None),
        })
        .unzip();
    db.execute(
        "INSERT INTO events (tenant_no, seq, occurred_at, recorded_at, id, action, category, actor_type,
                             actor_id, actor_email, ip, channel, outcome, idempotency_key, salt, doc, words, packed)
         SELECT tenant_no, seq, occurred_at, recorded_at, id, action, category, actor_type,
                actor_id, actor_email, ip, channel, outcome, idempotency_key, salt, doc, words::tsvector, packed
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::uuid[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::bytea[], $12::text[], $13::text[], $14::text[],
                     $15::bytea[], $16::text[], $17::text[], $18::bytea[])
              AS new (tenant_no, seq, occurred_at, recorded_at, id, action, category, actor_type, actor_id,
                      actor_email, ip, channel, outcome, idempotency_key, salt, doc, words, packed)",
        &[
            &events.tenant_no,
            &events.seq,
            &events.occurred_at,
            &events.recorded_at,
            &events.id,
            &events.action,
            &events.category,
            &events.actor_type,
            &events.actor_id,
            &events.actor_email,
            &events.ip,
            &events.channel,
            &events.outcome,
            &events.idempotency_key,
            &events.salt,
            &docs,
            &events.words,
            &blobs,
        ],
    )?;
    Ok(())
}

fn is_unique_violation(error: &StoreError) -> bool {
    matches!(error, StoreError::Postgres(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION))
}

impl Store for PostgresStore {
    fn create_tenant(&self, tenant: &NewTenant) -> Result<Tenant> {
        self.write(|connection| {
            let created = in_transaction(connection, IsolationLevel::ReadCommitted, false, |db| {
                let exists: bool = db
                    .query_one("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)", &[&tenant.id])?
                    .try_get(0)?;
                if exists {
                    return Err(StoreError::TenantExists(tenant.id.clone()));
                }
                if let Some(parent) = &tenant.parent {
                    require_tenant(db, parent)?;
                }
                let created_at = evident_core::event::truncate_to_micros(Timestamp::now());
                let no: i64 = db
                    .query_one(
                        "INSERT INTO tenants (id, name, parent, created_at) VALUES ($1, $2, $3, $4) RETURNING no",
                        &[&tenant.id, &tenant.name, &tenant.parent, &created_at.as_microsecond()],
                    )?
                    .try_get(0)?;
                if no > MAX_TENANT_NO {
                    // An error rolls the insert back.
                    return Err(StoreError::OutOfRange(format!(
                        "this store holds the most tenants it can ({MAX_TENANT_NO})"
                    )));
                }
                Ok(Tenant {
                    id: tenant.id.clone(),
                    name: tenant.name.clone(),
                    parent: tenant.parent.clone(),
                    created_at,
                })
            });
            match created {
                // Another server created it between the check and the insert.
                Err(error) if is_unique_violation(&error) => Err(StoreError::TenantExists(tenant.id.clone())),
                other => other,
            }
        })
    }

    fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        self.read(|connection| {
            connection
                .db()
                .query_opt(
                    &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"),
                    &[&id],
                )?
                .as_ref()
                .map(|row| tenant_row(row)?.into_tenant())
                .transpose()
        })
    }

    fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read(|connection| {
            connection
                .db()
                .query(
                    &format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"),
                    &[],
                )?
                .iter()
                .map(|row| tenant_row(row)?.into_tenant())
                .collect()
        })
    }

    fn rename_tenant(&self, id: &str, name: &str) -> Result<Tenant> {
        self.write(|connection| {
            connection
                .db()
                .query_opt(
                    &format!(
                        "UPDATE tenants SET name = $1 WHERE id = $2 RETURNING {TENANT_COLUMNS}"
                    ),
                    &[&name, &id],
                )?
                .ok_or_else(|| StoreError::TenantNotFound(id.to_owned()))
                .and_then(|row| tenant_row(&row)?.into_tenant())
        })
    }

    fn subtree(&self, id: &str) -> Result<Vec<String>> {
        self.read(|connection| {
            connection
                .db()
                .query(
                    "WITH RECURSIVE subtree (id, depth) AS (
                         SELECT id, 0 FROM tenants WHERE id = $1
                         UNION ALL
                         SELECT tenants.id, subtree.depth + 1 FROM tenants JOIN subtree ON tenants.parent = subtree.id
                     )
                     SELECT id FROM subtree ORDER BY depth, id",
                    &[&id],
                )?
                .iter()
                .map(|row| Ok(row.try_get(0)?))
                .collect()
        })
    }

    fn create_key(&self, key: &NewApiKey) -> Result<ApiKey> {
        self.write(|connection| {
            let mut db = connection.db();
            if let Some(tenant) = &key.tenant {
                require_tenant(&mut db, tenant)?;
            }
            let created_at = evident_core::event::truncate_to_micros(Timestamp::now());
            db.execute(
                "INSERT INTO api_keys (id, name, tenant, scopes, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&key.id, &key.name, &key.tenant, &scopes_text(&key.scopes), &key.hash.as_slice(), &created_at.as_microsecond()],
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
        self.read(|connection| {
            connection
                .db()
                .query(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"),
                    &[],
                )?
                .iter()
                .map(|row| key_row(row)?.into_key())
                .collect()
        })
    }

    fn active_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<(ApiKey, [u8; 32])>> {
        self.read(|connection| {
            let found = connection.db().query_opt(
                &format!("SELECT {KEY_COLUMNS}, hash FROM api_keys WHERE hash = $1 AND revoked_at IS NULL"),
                &[&hash.as_slice()],
            )?;
            let Some(row) = found else { return Ok(None) };
            Ok(Some((key_row(&row)?.into_key()?, hash32(row.try_get::<_, &[u8]>(6)?, "key hash")?)))
        })
    }

    fn revoke_key(&self, id: &str) -> Result<ApiKey> {
        self.write(|connection| {
            let mut db = connection.db();
            db.execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[&Timestamp::now().as_microsecond(), &id],
            )?;
            db.query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"),
                &[&id],
            )?
            .ok_or_else(|| StoreError::KeyNotFound(id.to_owned()))
            .and_then(|row| key_row(&row)?.into_key())
        })
    }

    fn key(&self, id: &str) -> Result<Option<ApiKey>> {
        self.read(|connection| {
            connection
                .db()
                .query_opt(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"),
                    &[&id],
                )?
                .as_ref()
                .map(|row| key_row(row)?.into_key())
                .transpose()
        })
    }

    fn create_viewer_link(&self, link: &NewViewerLink) -> Result<ViewerLink> {
        self.write(|connection| {
            let mut db = connection.db();
            require_tenant(&mut db, &link.tenant)?;
            let created_at = evident_core::event::truncate_to_micros(Timestamp::now());
            let row = db.query_one(
                &format!(
                    "INSERT INTO viewer_links (id, tenant, token_hash, include_descendants, query, title, created_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {VIEWER_LINK_COLUMNS}"
                ),
                &[
                    &link.id,
                    &link.tenant,
                    &link.token_hash.as_slice(),
                    &link.include_descendants,
                    &link.query,
                    &link.title,
                    &link.created_by,
                    &created_at.as_microsecond(),
                    &link.expires_at.as_microsecond(),
                ],
            )?;
            viewer_link_row(&row)
        })
    }

    fn viewer_link(&self, id: &str) -> Result<Option<ViewerLink>> {
        self.read(|connection| viewer_link_where(&mut connection.db(), "id = $1", &id))
    }

    fn viewer_links(&self, tenant: &str) -> Result<Vec<ViewerLink>> {
        self.read(|connection| {
            connection
                .db()
                .query(
                    &format!("SELECT {VIEWER_LINK_COLUMNS} FROM viewer_links WHERE tenant = $1 ORDER BY created_at DESC, id"),
                    &[&tenant],
                )?
                .iter()
                .map(viewer_link_row)
                .collect()
        })
    }

    fn redeem_viewer_link(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ViewerLink>> {
        self.write(|connection| {
            // One statement decides: two redemptions racing, on any server, cannot both see used_at empty.
            connection
                .db()
                .query_opt(
                    &format!(
                        "UPDATE viewer_links SET used_at = $1
                         WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1
                         RETURNING {VIEWER_LINK_COLUMNS}"
                    ),
                    &[&now.as_microsecond(), &token_hash.as_slice()],
                )?
                .as_ref()
                .map(viewer_link_row)
                .transpose()
        })
    }

    fn revoke_viewer_link(&self, id: &str) -> Result<ViewerLink> {
        self.write(|connection| {
            let mut db = connection.db();
            db.execute(
                "UPDATE viewer_links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[&Timestamp::now().as_microsecond(), &id],
            )?;
            viewer_link_where(&mut db, "id = $1", &id)?
                .ok_or_else(|| StoreError::ViewerLinkNotFound(id.to_owned()))
        })
    }

    fn append(
        &self,
        batches: &[AppendBatch],
        recorded_at: Timestamp,
    ) -> Result<Vec<Result<Vec<Receipt>, BatchError>>> {
        let recorded_at = evident_core::event::truncate_to_micros(recorded_at);
        let parts = split_by_tenant(batches, self.writers.len());
        let append_part = |number: usize, part: &[usize]| {
            let part: Vec<&AppendBatch> = part.iter().map(|index| &batches[*index]).collect();
            let mut categorised = Vec::new();
            let results = self.write_on(number, |connection| {
                self.docs.train_if_due(connection)?;
                in_transaction(connection, IsolationLevel::ReadCommitted, false, |db| {
                    append_group(db, self, number, &part, recorded_at, None, &mut categorised)
                })
            })?;
            self.remember_categorised(categorised);
            Ok(results)
        };
        if parts.len() == 1 {
            return append_part(0, &parts[0]);
        }
        let outcomes: Vec<Result<GroupResults>> = std::thread::scope(|scope| {
            let running: Vec<_> = parts
                .iter()
                .enumerate()
                .map(|(number, part)| scope.spawn(move || append_part(number, part)))
                .collect();
            running
                .into_iter()
                .map(|part| {
                    part.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        let mut results: Vec<Option<Result<Vec<Receipt>, BatchError>>> = vec![None; batches.len()];
        let mut failure = None;
        let mut stored_any = false;
        for (part, outcome) in parts.iter().zip(outcomes) {
            match outcome {
                Ok(part_results) => {
                    stored_any = true;
                    for (index, result) in part.iter().zip(part_results) {
                        results[*index] = Some(result);
                    }
                }
                Err(error) => {
                    // Only this part's transaction failed: its batches, and none other, are refused.
                    for index in part {
                        results[*index] = Some(Err(BatchError::Failed(error.to_string())));
                    }
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) if !stored_any => Err(error),
            _ => Ok(results
                .into_iter()
                .map(|result| {
                    result.unwrap_or_else(|| Err(BatchError::Failed("not appended".to_owned())))
                })
                .collect()),
        }
    }

    fn query(&self, query: &EventQuery) -> Result<EventPage> {
        self.read(|connection| query_page(&mut connection.db(), query))
    }

    fn raw_page(&self, query: &EventQuery) -> Result<RawPage> {
        self.read(|connection| raw_page(&mut connection.db(), query))
    }

    fn count(&self, scope: &TenantScope, filter: &Filter, now: Timestamp) -> Result<u64> {
        self.read(|connection| count_events(&mut connection.db(), scope, filter, now))
    }

    fn query_with_total(&self, query: &EventQuery) -> Result<(RawPage, u64)> {
        // One snapshot: the total and the page agree.
        self.read_snapshot(|db| {
            let Some(resolved) = resolve(db, &query.scope, &query.filter)? else {
                return Ok((RawPage::default(), 0));
            };
            let total = resolved_count(db, &resolved, query.now)?;
            Ok((resolved_page(db, &resolved, query)?, total))
        })
    }

    fn get(&self, scope: &TenantScope, id: Uuid) -> Result<Option<Event>> {
        self.read(|connection| {
            let mut db = connection.db();
            let tenants = resolve_scope(&mut db, scope)?;
            db.query_opt(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE tenant_no = ANY($1) AND id = $2"
                ),
                &[&tenants.numbers, &id],
            )?
            .as_ref()
            .map(|row| Ok(event_from_row(row, db.dictionaries, &tenants, true)?.0))
            .transpose()
        })
    }

    fn tree_head(&self, tenant: &str) -> Result<Option<TreeHead>> {
        self.read_snapshot(|db| {
            let Some((tenant_no, size)) = tenant_log(db, tenant)? else {
                return Ok(None);
            };
            let frontier = load_frontier(db, tenant_no, size)?;
            Ok(Some(TreeHead {
                tree_size: size,
                root_hash: frontier.root(),
            }))
        })
    }

    fn inclusion_proofs(
        &self,
        tenant: &str,
        indexes: &[u64],
        size: u64,
    ) -> Result<Option<Vec<Vec<[u8; 32]>>>> {
        self.read_snapshot(|db| {
            let Some((tenant_no, tree_size)) = tenant_log(db, tenant)? else {
                return Ok(None);
            };
            check_inclusion(indexes, size, tree_size)?;
            let proofs = with_proof_nodes(db, tenant_no, |nodes| {
                indexes
                    .iter()
                    .map(|index| evident_core::log::merkle::inclusion_proof(nodes, *index, size))
                    .collect::<Result<Vec<_>>>()
            })?;
            Ok(Some(proofs))
        })
    }

    fn consistency_proof(&self, tenant: &str, from: u64, to: u64) -> Result<Option<Vec<[u8; 32]>>> {
        self.read_snapshot(|db| {
            let Some((tenant_no, tree_size)) = tenant_log(db, tenant)? else {
                return Ok(None);
            };
            check_consistency(from, to, tree_size)?;
            let proof = with_proof_nodes(db, tenant_no, |nodes| {
                evident_core::log::merkle::consistency_proof(nodes, from, to)
            })?;
            Ok(Some(proof))
        })
    }

    fn leaf_hashes(&self, tenant: &str) -> Result<Vec<(u64, [u8; 32])>> {
        self.read(|connection| {
            let mut db = connection.db();
            let Some((tenant_no, _)) = tenant_log(&mut db, tenant)? else {
                return Ok(Vec::new());
            };
            let mut hashes = Vec::new();
            for row in db.query(
                "SELECT pack, hashes FROM merkle_leaves WHERE tenant_no = $1 ORDER BY pack",
                &[&tenant_no],
            )? {
                hashes.extend(leaves_of(
                    row.try_get::<_, i64>(0)? as u64,
                    row.try_get(1)?,
                )?);
            }
            Ok(hashes)
        })
    }

    fn add_checkpoint(&self, tenant: &str, tree_size: u64, note: &str) -> Result<()> {
        self.write(|connection| {
            let mut db = connection.db();
            let Some((tenant_no, _)) = tenant_log(&mut db, tenant)? else {
                return Err(StoreError::TenantNotFound(tenant.to_owned()));
            };
            db.execute(
                "INSERT INTO checkpoints (tenant_no, tree_size, note, signed_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&tenant_no, &(tree_size as i64), &note, &Timestamp::now().as_microsecond()],
            )?;
            Ok(())
        })
    }

    fn checkpoints(&self, tenant: &str, from_size: u64) -> Result<Vec<StoredCheckpoint>> {
        self.read(|connection| {
            let mut db = connection.db();
            let Some((tenant_no, _)) = tenant_log(&mut db, tenant)? else { return Ok(Vec::new()) };
            db.query(
                "SELECT tree_size, note, signed_at FROM checkpoints WHERE tenant_no = $1 AND tree_size >= $2 ORDER BY tree_size",
                &[&tenant_no, &(from_size as i64)],
            )?
            .iter()
            .map(checkpoint_row)
            .collect()
        })
    }

    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<StoredCheckpoint>> {
        self.read(|connection| {
            let mut db = connection.db();
            let Some((tenant_no, _)) = tenant_log(&mut db, tenant)? else { return Ok(None) };
            db.query_opt(
                "SELECT tree_size, note, signed_at FROM checkpoints WHERE tenant_no = $1 ORDER BY tree_size DESC LIMIT 1",
                &[&tenant_no],
            )?
            .as_ref()
            .map(checkpoint_row)
            .transpose()
        })
    }

    fn put_tenant_catalog(&self, tenant: &str, body: &str) -> Result<()> {
        self.write(|connection| {
            let mut db = connection.db();
            require_tenant(&mut db, tenant)?;
            db.execute(
                "INSERT INTO tenant_catalogs (tenant, body, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                &[&tenant, &body, &Timestamp::now().as_microsecond()],
            )?;
            Ok(())
        })
    }

    fn tenant_catalogs(&self) -> Result<Vec<(String, String)>> {
        self.read(|connection| {
            connection
                .db()
                .query(
                    "SELECT tenant, body FROM tenant_catalogs ORDER BY tenant",
                    &[],
                )?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn end_session(&self, token_hash: &[u8; 32], expires_at: Timestamp) -> Result<()> {
        self.write(|connection| {
            in_transaction(connection, IsolationLevel::ReadCommitted, false, |db| {
                db.execute(
                    "DELETE FROM ended_sessions WHERE expires_at < $1",
                    &[&Timestamp::now().as_microsecond()],
                )?;
                db.execute(
                    "INSERT INTO ended_sessions (token_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&token_hash.as_slice(), &expires_at.as_microsecond()],
                )?;
                Ok(())
            })
        })
    }

    fn session_ended(&self, token_hash: &[u8; 32]) -> Result<bool> {
        self.read(|connection| {
            Ok(connection
                .db()
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM ended_sessions WHERE token_hash = $1)",
                    &[&token_hash.as_slice()],
                )?
                .try_get(0)?)
        })
    }

    fn metadata(&self) -> Result<StoreMetadata> {
        self.read_snapshot(|db| {
            let mut metadata = StoreMetadata::default();
            for row in db.query(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY no"), &[])? {
                metadata.tenants.push(tenant_row(&row)?.into_tenant()?);
            }
            for row in db.query(&format!("SELECT {KEY_COLUMNS}, hash FROM api_keys ORDER BY created_at, id"), &[])? {
                metadata.keys.push((key_row(&row)?.into_key()?, hash32(row.try_get::<_, &[u8]>(6)?, "key hash")?));
            }
            for row in db.query("SELECT tenant, body FROM tenant_catalogs ORDER BY tenant", &[])? {
                metadata.catalogs.push((row.try_get(0)?, row.try_get(1)?));
            }
            for row in db.query("SELECT tenant, body FROM tenant_ui ORDER BY tenant", &[])? {
                metadata.ui_settings.push((row.try_get(0)?, row.try_get(1)?));
            }
            for row in db.query(
                &format!("SELECT {VIEWER_LINK_COLUMNS}, token_hash FROM viewer_links ORDER BY created_at, id"),
                &[],
            )? {
                metadata.viewer_links.push((viewer_link_row(&row)?, hash32(row.try_get::<_, &[u8]>(10)?, "token hash")?));
            }
            for row in db.query("SELECT token_hash, expires_at FROM ended_sessions", &[])? {
                metadata.ended_sessions.push((hash32(row.try_get::<_, &[u8]>(0)?, "session hash")?, timestamp(row.try_get(1)?)?));
            }
            for row in db.query(
                "SELECT tenants.id, tree_size, note, signed_at FROM checkpoints JOIN tenants ON tenants.no = checkpoints.tenant_no
                 ORDER BY tenants.no, tree_size",
                &[],
            )? {
                metadata.checkpoints.push((
                    row.try_get(0)?,
                    CheckpointRow(row.try_get(1)?, row.try_get(2)?, row.try_get(3)?).into_checkpoint()?,
                ));
            }
            Ok(metadata)
        })
    }

    fn import_metadata(&self, metadata: &StoreMetadata) -> Result<()> {
        self.write(|connection| {
            in_transaction(connection, IsolationLevel::ReadCommitted, false, |db| {
                // Taken by every import: two copies into one database cannot both find it empty.
                db.execute("LOCK TABLE tenants IN EXCLUSIVE MODE", &[])?;
                let held: i64 = db.query_one("SELECT count(*) FROM tenants", &[])?.try_get(0)?;
                if held > 0 {
                    return Err(StoreError::OutOfRange(format!(
                        "the destination already holds {held} tenants: a copy goes into an empty store"
                    )));
                }
                for tenant in &metadata.tenants {
                    db.execute(
                        "INSERT INTO tenants (id, name, parent, created_at) VALUES ($1, $2, $3, $4)",
                        &[&tenant.id, &tenant.name, &tenant.parent, &tenant.created_at.as_microsecond()],
                    )?;
                }
                for (key, hash) in &metadata.keys {
                    db.execute(
                        "INSERT INTO api_keys (id, name, tenant, scopes, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &key.id,
                            &key.name,
                            &key.tenant,
                            &scopes_text(&key.scopes),
                            &hash.as_slice(),
                            &key.created_at.as_microsecond(),
                            &key.revoked_at.map(|at| at.as_microsecond()),
                        ],
                    )?;
                }
                let now = Timestamp::now().as_microsecond();
                for (tenant, body) in &metadata.catalogs {
                    db.execute(
                        "INSERT INTO tenant_catalogs (tenant, body, updated_at) VALUES ($1, $2, $3)",
                        &[tenant, body, &now],
                    )?;
                }
                for (tenant, body) in &metadata.ui_settings {
                    db.execute("INSERT INTO tenant_ui (tenant, body, updated_at) VALUES ($1, $2, $3)", &[tenant, body, &now])?;
                }
                for (link, hash) in &metadata.viewer_links {
                    db.execute(
                        &format!(
                            "INSERT INTO viewer_links ({VIEWER_LINK_COLUMNS}, token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                        ),
                        &[
                            &link.id,
                            &link.tenant,
                            &link.include_descendants,
                            &link.query,
                            &link.title,
                            &link.created_by,
                            &link.created_at.as_microsecond(),
                            &link.expires_at.as_microsecond(),
                            &link.used_at.map(|at| at.as_microsecond()),
                            &link.revoked_at.map(|at| at.as_microsecond()),
                            &hash.as_slice(),
                        ],
                    )?;
                }
                for (hash, expires_at) in &metadata.ended_sessions {
                    db.execute(
                        "INSERT INTO ended_sessions (token_hash, expires_at) VALUES ($1, $2)",
                        &[&hash.as_slice(), &expires_at.as_microsecond()],
                    )?;
                }
                for (tenant, checkpoint) in &metadata.checkpoints {
                    db.execute(
                        "INSERT INTO checkpoints (tenant_no, tree_size, note, signed_at)
                         SELECT no, $2, $3, $4 FROM tenants WHERE id = $1",
                        &[tenant, &(checkpoint.tree_size as i64), &checkpoint.note, &checkpoint.signed_at.as_microsecond()],
                    )?;
                }
                Ok(())
            })
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
        let mut categorised = Vec::new();
        self.write(|connection| {
            self.docs.train_if_due(connection)?;
            in_transaction(connection, IsolationLevel::ReadCommitted, false, |db| {
                match append_group(
                    db,
                    self,
                    0,
                    &[&batch],
                    Timestamp::now(),
                    Some(events),
                    &mut categorised,
                )?
                .pop()
                {
                    Some(Err(error)) => Err(error.into()),
                    _ => Ok(()),
                }
            })
        })?;
        self.remember_categorised(categorised);
        Ok(())
    }

    fn put_tenant_ui(&self, tenant: &str, body: &str) -> Result<()> {
        self.write(|connection| {
            let mut db = connection.db();
            require_tenant(&mut db, tenant)?;
            db.execute(
                "INSERT INTO tenant_ui (tenant, body, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                &[&tenant, &body, &Timestamp::now().as_microsecond()],
            )?;
            Ok(())
        })
    }

    fn tenant_ui(&self, tenant: &str) -> Result<Option<String>> {
        self.read(|connection| {
            connection
                .db()
                .query_opt("SELECT body FROM tenant_ui WHERE tenant = $1", &[&tenant])?
                .map(|row| Ok(row.try_get(0)?))
                .transpose()
        })
    }

    fn stats(&self) -> Result<StoreStats> {
        self.read(|connection| {
            let row = connection.db().query_one(
                "SELECT (SELECT coalesce(sum(next_seq), 0)::bigint FROM tenants),
                        (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = current_schema() AND c.relkind = 'r')",
                &[],
            )?;
            Ok(StoreStats {
                events: row.try_get::<_, i64>(0)? as u64,
                bytes_on_disk: row.try_get::<_, i64>(1)? as u64,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(
            redacted("postgres://evident:s3cret@db.internal:5432/audit"),
            "postgres://evident:***@db.internal:5432/audit"
        );
        assert_eq!(
            redacted("postgres://evident@db/audit"),
            "postgres://evident@db/audit"
        );
        assert!(is_url("postgresql://db/audit") && !is_url("/var/lib/evident"));
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "t1"
            ),
            "postgres://postgres@127.0.0.1:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "t1"), "postgres://db/t1");
    }

    #[test]
    fn a_group_splits_by_tenant_into_balanced_parts_in_input_order() {
        let batch = |tenant: &str, events: usize| AppendBatch {
            tenant: tenant.into(),
            events: vec![
                evident_core::event::validate_event(
                    &serde_json::json!({"action": "a", "actor": {"type": "system"}}),
                    None,
                    Timestamp::now(),
                    &Default::default(),
                )
                .unwrap();
                events
            ],
        };
        let group = [
            batch("a", 1000),
            batch("b", 10),
            batch("a", 5),
            batch("c", 900),
            batch("d", 50),
        ];
        assert_eq!(split_by_tenant(&group, 2), [vec![0, 2], vec![1, 3, 4]]);
        assert_eq!(split_by_tenant(&group[..1], 2), [vec![0]]);
        assert_eq!(split_by_tenant(&group, 1), [vec![0, 1, 2, 3, 4]]);
        assert_eq!(split_by_tenant(&[], 2), [Vec::<usize>::new()]);
    }

    #[test]
    fn a_cursor_bounds_each_tenant_by_position() {
        let cursor = Cursor {
            occurred_at_micros: 10,
            position: position(5, 7),
        };
        assert_eq!(cursor_bound(&cursor, 5, SortOrder::Desc), ("<", 7));
        assert_eq!(
            cursor_bound(&cursor, 4, SortOrder::Desc),
            ("<", MAX_SEQ as i64 + 1)
        );
        assert_eq!(cursor_bound(&cursor, 6, SortOrder::Desc), ("<", 0));
        assert_eq!(
            cursor_bound(&cursor, 4, SortOrder::Asc),
            (">", MAX_SEQ as i64 + 1)
        );
        assert_eq!(cursor_bound(&cursor, 6, SortOrder::Asc), (">", -1));
    }
}
