//! Appends on SQLite: acknowledged from the ingest journal, applied to the
//! database behind it.
//!
//! An append (the server's writer calls one per group commit) is sequenced
//! under one lock: each batch's tenant, seq, ids, salts, leaf hashes and the
//! Merkle nodes they complete come from the tenant's log state in memory;
//! the whole group becomes one journal record, written and synced; then the
//! receipts are returned. The applier thread writes the journaled records
//! into the database, as many as are waiting in one transaction, without a
//! sync of its own: the journal is what keeps them; a thread of its own
//! writes the same records' search entries ahead of it, and each of the
//! applier's transactions commits once the index holds its records. A small group commit
//! used to cost the database a transaction of its own: every index page its
//! events touched written to the WAL, the search index's segment flushed and
//! merged, and a sync. Now the applier's transactions grow with the load.
//!
//! **Invariant:** reads of events first wait until every append
//! acknowledged before they began is applied ([`Ingest::caught_up`]), so a
//! 201 is seen by the next read, as it always was.
//!
//! **Invariant:** a record is applied to each database file (`evident.db`,
//! and the search index's `search.db`) in one transaction that also records
//! its number in that file (`journal_state.applied`, `search_state.applied`):
//! after a crash the records past each file's mark are applied again to it
//! from the journal at open, each exactly once. A segment is removed only
//! after synced commits in both files have applied all of its records.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evident_core::log::leaf::leaf_hash_of;
use evident_core::log::merkle::{Frontier, Node};
use evident_core::search::searchable_text;
use foldhash::{HashMap, HashMapExt};
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::compress::{Dictionaries, DocPacker};
use super::journal::{
    self, ClosedSegment, JournalBatch, JournalEvent, JournalWriter, Record, RecordBuilder,
};
use super::schema::event_rowid;
use super::search;
use crate::record::{DocRef, MAX_SEQ, compact_ip, email_column, ip_bytes, timestamp};
use crate::{AppendBatch, BatchError, Receipt, Result, StoreError, StoredEvent};

/// Events journaled but not yet applied past which an append waits (so that
/// the applier keeps up, and a read never waits for more than this many).
const MOST_PENDING_EVENTS: usize = 16_384;
/// Past this many events waiting to be applied, appends are paced to the
/// applier's speed (see [`Shared::wait_for_room`]). One apply transaction's
/// worth ([`APPLY_EVENTS`]): since the applier runs below the threads that
/// acknowledge, a backlog of a few thousand events is its ordinary state
/// under load, not a sign that it falls behind (paced from 4,096, the bulk
/// load measured 10% slower and single events 13%: docs/PERFORMANCE.md).
const PACE_FROM_EVENTS: usize = APPLY_EVENTS;
/// The most events one apply transaction takes. Events of many tenants
/// interleaved dirty a page of each index nearly every one, so that a
/// transaction's cost per event falls as it grows (with 200 tenants
/// interleaved: 92 µs an event at 2,048 a transaction, 69 µs at 8,192).
const APPLY_EVENTS: usize = 8_192;
/// Below this many waiting events the search index's thread (which takes
/// records first) waits up to [`LINGER`] for more.
const LINGER_EVENTS: usize = 2_048;
const LINGER: Duration = Duration::from_millis(50);
/// At open, from this many events a transaction's search entries are
/// written on a thread of their own (fewer are not worth starting one; the
/// running store's applier always has one: [`apply_loop`]).
const APART_FROM: usize = 256;
/// The longest one append is paced.
const MOST_PACING: Duration = Duration::from_millis(100);
/// After this many applied events the planner's statistics are refreshed
/// where they are stale (fewer in tests, so that a test reaches it).
const EVENTS_BETWEEN_OPTIMIZE: u64 = if cfg!(test) { 200 } else { 50_000 };

/// A tenant's log as the next append continues it.
#[derive(Clone)]
struct TenantLog {
    no: i64,
    next_seq: u64,
    frontier: Frontier,
}

/// What the sequencer alone touches.
struct Sequencer {
    journal_dir: PathBuf,
    /// Opened at the first append.
    journal: Option<JournalWriter>,
    next_record: u64,
    /// Reads the tenants' log state and applied idempotency keys.
    reader: Connection,
    /// The log state of every tenant appended to since the store opened.
    /// A tenant not here has no record waiting to be applied.
    tenants: HashMap<String, TenantLog>,
}

/// What the sequencer, the applier and readers share.
struct Shared {
    progress: Mutex<Progress>,
    /// Signalled whenever `progress` changes.
    changed: Condvar,
    /// Idempotency keys journaled but not yet applied: (tenant number, key) → receipt.
    pending_keys: Mutex<HashMap<(i64, String), Receipt>>,
    /// The store's write connection (the applier's, and every other write's).
    writer: Arc<Mutex<Connection>>,
    /// The search index's write connection (`evident-search`'s).
    search: Mutex<Connection>,
    /// Counts the applier's refreshes of the planner's statistics (`SqliteStore::statistics`).
    statistics: Arc<AtomicU64>,
}

struct Progress {
    /// Records written to the journal, not yet synced, oldest first.
    unsynced: VecDeque<Journaled>,
    /// The last record written, the open segment it is in, and whether an
    /// append is syncing it now (the others wait for that sync, or the next).
    written: u64,
    segment: Option<Arc<std::fs::File>>,
    syncing: bool,
    /// Synced record payloads waiting to be applied, oldest first, with
    /// their event counts: the search index takes them first, then the rows'
    /// transaction takes them out.
    queue: VecDeque<(Arc<Vec<u8>>, usize)>,
    queued_events: usize,
    /// Events of the queue the search index has not taken yet.
    unindexed_events: usize,
    /// The last record the search index took, and the last it committed.
    index_taken: u64,
    indexed: u64,
    /// The last record synced (acknowledged), and the last applied.
    acked: u64,
    applied: u64,
    /// Readers waiting for the applier (it then applies what it has at once).
    waiting_readers: usize,
    /// What applying took of late, per event (a moving average).
    apply_cost: Duration,
    /// Segments to remove once their records are applied and synced.
    closed: Vec<ClosedSegment>,
    stopping: bool,
    /// Why writing the journal failed: the segment may end in part of a
    /// record, so no append is taken until the store is opened again.
    broken: Option<String>,
    /// Why applying stopped; appends and reads then fail.
    failed: Option<String>,
}

impl Progress {
    /// How long an append of `events` waits for the applier before it is
    /// taken: not at all while the applier is at most one transaction's
    /// worth behind; past that, its events' cost to apply scaled by how far
    /// behind the applier is, at most [`MOST_PACING`].
    fn pacing(&self, events: usize) -> Option<Duration> {
        if !self.paced() {
            return None;
        }
        let pace = self.apply_cost.saturating_mul(events as u32);
        Some(
            pace.mul_f64(self.queued_events as f64 / PACE_FROM_EVENTS as f64)
                .min(MOST_PACING),
        )
    }

    /// Whether the applier is more than one transaction's worth behind.
    fn paced(&self) -> bool {
        self.queued_events > PACE_FROM_EVENTS
    }

    /// Nothing waiting: every record through `last` written, synced and applied.
    fn after(last: u64) -> Progress {
        Progress {
            unsynced: VecDeque::new(),
            written: last,
            segment: None,
            syncing: false,
            queue: VecDeque::new(),
            queued_events: 0,
            unindexed_events: 0,
            index_taken: last,
            indexed: last,
            apply_cost: Duration::ZERO,
            acked: last,
            applied: last,
            waiting_readers: 0,
            closed: Vec::new(),
            stopping: false,
            broken: None,
            failed: None,
        }
    }
}

/// A record written to the journal, waiting for a sync.
struct Journaled {
    number: u64,
    payload: Vec<u8>,
    events: usize,
    closed: Option<ClosedSegment>,
}

pub(super) struct Ingest {
    sequencer: Mutex<Sequencer>,
    shared: Arc<Shared>,
    /// Answers whether it applied and synced everything before it stopped.
    applier: Option<JoinHandle<bool>>,
    /// Whether opening built the search index again from the stored events.
    pub(super) search_rebuilt: bool,
}

impl Ingest {
    /// Applies what the journal in `journal_dir` holds past the database's
    /// applied record (an earlier run's acknowledged appends that a crash
    /// left unapplied), removes the journal, and starts the applier.
    pub fn open(
        journal_dir: &Path,
        database: &Path,
        writer: Arc<Mutex<Connection>>,
        mut search: Connection,
        statistics: Arc<AtomicU64>,
        dictionaries: Arc<Dictionaries>,
    ) -> Result<Ingest> {
        let mut packer = DocPacker::open(&lock(&writer), dictionaries.clone())?;
        let (last, search_rebuilt) = recover(
            journal_dir,
            &mut lock(&writer),
            &mut search,
            &mut packer,
            &dictionaries,
        )?;
        let reader = Connection::open_with_flags(
            database,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress::after(last)),
            changed: Condvar::new(),
            pending_keys: Mutex::new(HashMap::new()),
            writer,
            search: Mutex::new(search),
            statistics,
        });
        let applier = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("evident-applier".to_owned())
                .spawn(move || apply_loop(&shared, packer))?
        };
        Ok(Ingest {
            sequencer: Mutex::new(Sequencer {
                journal_dir: journal_dir.to_owned(),
                journal: None,
                next_record: last + 1,
                reader,
                tenants: HashMap::new(),
            }),
            shared,
            applier: Some(applier),
            search_rebuilt,
        })
    }

    /// Journals a group of batches and returns their receipts once the
    /// journal is synced (see the module docs). With `copied` (one batch: the
    /// same events as another store keeps them), each event keeps its seq,
    /// id, recorded time and salt.
    ///
    /// Appends may run at once from several threads: each is sequenced and
    /// written in turn, and one sync covers every record written before it,
    /// so that one append prepares its record while another's is synced.
    pub fn append(
        &self,
        batches: &[AppendBatch],
        recorded_at: Timestamp,
        copied: Option<&[StoredEvent]>,
    ) -> Result<Vec<Result<Vec<Receipt>, BatchError>>> {
        let (results, number) = self.write(batches, recorded_at, copied)?;
        if let Some(number) = number {
            self.shared.sync_through(number)?;
        }
        Ok(results)
    }

    /// Sequences a group and writes it to the journal; the record's number,
    /// None when there was nothing new to write.
    #[allow(clippy::type_complexity)]
    fn write(
        &self,
        batches: &[AppendBatch],
        recorded_at: Timestamp,
        copied: Option<&[StoredEvent]>,
    ) -> Result<(Vec<Result<Vec<Receipt>, BatchError>>, Option<u64>)> {
        let mut sequencer = lock(&self.sequencer);
        self.shared
            .wait_for_room(batches.iter().map(|batch| batch.events.len()).sum())?;
        let number = sequencer.next_record;
        let mut group = Group {
            record: RecordBuilder::new(number),
            keys: HashMap::new(),
            before: HashMap::new(),
        };
        let mut results = Vec::with_capacity(batches.len());
        for batch in batches {
            match sequencer.prepare(batch, recorded_at, copied, &self.shared, &mut group) {
                Ok(result) => results.push(result),
                Err(error) => {
                    // Nothing of the group is journaled: the logs continue as they were.
                    sequencer.tenants.extend(group.before);
                    return Err(error);
                }
            }
        }
        let events = group.record.events();
        if events == 0 {
            // Nothing new (unknown tenants, repeats): nothing to journal.
            return Ok((results, None));
        }
        let payload = group.record.finish();
        let closed = match sequencer.journal_write(number, &payload) {
            Ok(closed) => closed,
            Err(error) => {
                // The segment may end in part of this record: no later one may follow it.
                lock(&self.shared.progress).broken = Some(error.to_string());
                self.shared.changed.notify_all();
                return Err(error);
            }
        };
        sequencer.next_record += 1;
        // The next group, prepared before this one is synced, must see its keys.
        lock(&self.shared.pending_keys).extend(group.keys);
        let mut progress = lock(&self.shared.progress);
        progress.unsynced.push_back(Journaled {
            number,
            payload,
            events,
            closed,
        });
        progress.written = number;
        progress.segment = sequencer.journal.as_ref().map(JournalWriter::file);
        Ok((results, Some(number)))
    }

    /// Waits until every append acknowledged so far is applied.
    pub fn caught_up(&self) -> Result<()> {
        let shared = &self.shared;
        let mut progress = lock(&shared.progress);
        let target = progress.acked;
        if progress.applied >= target {
            return Ok(());
        }
        progress.waiting_readers += 1;
        shared.changed.notify_all();
        let outcome = loop {
            if progress.applied >= target {
                break Ok(());
            }
            if let Some(why) = &progress.failed {
                break Err(unavailable(why.clone()));
            }
            progress = wait(&shared.changed, progress);
        };
        progress.waiting_readers -= 1;
        outcome
    }
}

impl Drop for Ingest {
    /// Applies what is waiting, syncs it and removes the journal.
    fn drop(&mut self) {
        lock(&self.shared.progress).stopping = true;
        self.shared.changed.notify_all();
        let synced = match self.applier.take().map(JoinHandle::join) {
            Some(Ok(synced)) => synced,
            Some(Err(_)) => {
                tracing::error!(
                    "the journal applier panicked; the journal is kept for the next open"
                );
                false
            }
            None => false,
        };
        if !synced {
            return;
        }
        let sequencer = lock(&self.sequencer);
        if let Some(journal) = &sequencer.journal
            && let Err(error) = journal::remove(journal.path())
        {
            tracing::warn!(%error, "the applied ingest journal could not be removed");
        }
        // An empty journal leaves no directory behind (one with anything else in it stays).
        let _ = std::fs::remove_dir(&sequencer.journal_dir);
    }
}

/// One append's record as it is prepared.
struct Group {
    record: RecordBuilder,
    /// The idempotency keys of its new events: (tenant number, key) → receipt.
    keys: HashMap<(i64, String), Receipt>,
    /// Each tenant's log as it was before the group, to restore if it fails.
    before: HashMap<String, TenantLog>,
}

impl Sequencer {
    /// Prepares one batch into the group's record; its one failure of its
    /// own, an unknown tenant, comes back before anything of it is written.
    fn prepare(
        &mut self,
        batch: &AppendBatch,
        recorded_at: Timestamp,
        copied: Option<&[StoredEvent]>,
        shared: &Shared,
        group: &mut Group,
    ) -> Result<Result<Vec<Receipt>, BatchError>> {
        let full = |tenant: &str| {
            StoreError::OutOfRange(format!(
                "tenant {tenant} holds the most events one log can ({})",
                MAX_SEQ + 1
            ))
        };
        let room = |next_seq: u64| next_seq + batch.events.len() as u64 <= MAX_SEQ + 1;
        if !self.tenants.contains_key(&batch.tenant) {
            match load_tenant(&self.reader, &batch.tenant, room)? {
                Loaded::Log(log) => {
                    self.tenants.insert(batch.tenant.clone(), log);
                }
                Loaded::Full => return Err(full(&batch.tenant)),
                Loaded::Unknown => {
                    return Ok(Err(BatchError::TenantNotFound(batch.tenant.clone())));
                }
            }
        }
        let Some(log) = self.tenants.get_mut(&batch.tenant) else {
            unreachable!("the tenant's log state was just loaded")
        };
        if !room(log.next_seq) {
            return Err(full(&batch.tenant));
        }
        group
            .before
            .entry(batch.tenant.clone())
            .or_insert_with(|| log.clone());
        let mut find_repeat = self.reader.prepare_cached(
            "SELECT id, seq, recorded_at FROM events WHERE tenant_no = ?1 AND idempotency_key = ?2",
        )?;
        let mut seen: HashMap<&str, Receipt> = HashMap::new();
        let mut receipts = Vec::with_capacity(batch.events.len());
        let mut nodes = Vec::new();
        let record = &mut group.record;
        record.begin_batch(log.no);
        for (number, event) in batch.events.iter().enumerate() {
            let copy = copied.and_then(|copied| copied.get(number));
            if let (Some(key), None) = (event.idempotency_key.as_deref(), copy) {
                let repeat = match seen.get(key) {
                    Some(receipt) => Some(*receipt),
                    None => {
                        let pending_key = (log.no, key.to_owned());
                        let pending = group
                            .keys
                            .get(&pending_key)
                            .copied()
                            .or_else(|| lock(&shared.pending_keys).get(&pending_key).copied());
                        match pending {
                            Some(receipt) => Some(receipt),
                            None => find_repeat
                                .query_row(params![log.no, key], |row| {
                                    Ok((
                                        row.get::<_, Vec<u8>>(0)?,
                                        row.get::<_, i64>(1)?,
                                        row.get::<_, i64>(2)?,
                                    ))
                                })
                                .optional()?
                                .map(|(id, seq, first)| -> Result<Receipt> {
                                    Ok(Receipt {
                                        id: Uuid::from_slice(&id).map_err(|error| {
                                            StoreError::Corrupt(error.to_string())
                                        })?,
                                        seq: seq as u64,
                                        recorded_at: timestamp(first)?,
                                    })
                                })
                                .transpose()?,
                        }
                    }
                };
                if let Some(receipt) = repeat {
                    seen.insert(key, receipt);
                    receipts.push(receipt);
                    continue;
                }
            }
            let seq = log.next_seq;
            let (id, salt, recorded_at) = match copy {
                Some(copy) => copy.fixed(seq)?,
                None => (Uuid::now_v7(), super::log::new_salt(), recorded_at),
            };
            let doc = DocRef::json(event)?;
            let text = searchable_text(event);
            let email = email_column(&event.actor);
            record.event(&JournalEvent {
                seq,
                id: *id.as_bytes(),
                occurred_at: event.occurred_at.as_microsecond(),
                recorded_at: recorded_at.as_microsecond(),
                action: &event.action,
                category: &event.category,
                actor_type: event.actor.actor_type.as_str(),
                actor_id: event.actor.id.as_deref(),
                actor_email: email.as_deref(),
                ip: event.context.ip.map(ip_bytes),
                channel: event.channel.as_deref(),
                outcome: event.outcome.as_str(),
                idempotency_key: event.idempotency_key.as_deref(),
                doc: &doc,
                salt,
                text: &text,
                targets: event
                    .targets
                    .iter()
                    .map(|target| (target.id.as_str(), target.target_type.as_str()))
                    .collect(),
            });
            let leaf = event.view_as(id, &batch.tenant, seq, recorded_at);
            log.frontier.push(leaf_hash_of(&leaf, salt), &mut nodes);
            let receipt = Receipt {
                id,
                seq,
                recorded_at,
            };
            if let Some(key) = event.idempotency_key.as_deref() {
                seen.insert(key, receipt);
                group.keys.insert((log.no, key.to_owned()), receipt);
            }
            receipts.push(receipt);
            log.next_seq += 1;
        }
        record.end_batch(log.next_seq, &nodes);
        Ok(Ok(receipts))
    }

    fn journal_write(&mut self, number: u64, payload: &[u8]) -> Result<Option<ClosedSegment>> {
        let journal = match &mut self.journal {
            Some(journal) => journal,
            None => self
                .journal
                .insert(JournalWriter::create(&self.journal_dir, number)?),
        };
        journal.write(number, payload)
    }
}

/// A tenant's log as the database holds it.
enum Loaded {
    Log(TenantLog),
    Unknown,
    /// Its log has no room for the batch (its nodes are not read).
    Full,
}

fn load_tenant(reader: &Connection, tenant: &str, room: impl Fn(u64) -> bool) -> Result<Loaded> {
    // One read transaction: the size and the nodes of the same log.
    reader.execute_batch("BEGIN")?;
    let loaded = (|| {
        let Some((no, next_seq)) = reader
            .prepare_cached("SELECT no, next_seq FROM tenants WHERE id = ?1")?
            .query_row([tenant], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()?
        else {
            return Ok(Loaded::Unknown);
        };
        let next_seq = next_seq as u64;
        if !room(next_seq) {
            return Ok(Loaded::Full);
        }
        let frontier = super::log::load_frontier(reader, no, next_seq)?;
        Ok(Loaded::Log(TenantLog {
            no,
            next_seq,
            frontier,
        }))
    })();
    reader.execute_batch("COMMIT")?;
    loaded
}

impl Shared {
    /// Waits until record `number` is synced: syncs the open segment itself
    /// when no other append is syncing it, else waits for that sync (and, if
    /// it did not cover the record, takes the next). A synced record is
    /// acknowledged and handed to the applier.
    fn sync_through(&self, number: u64) -> Result<()> {
        let mut progress = lock(&self.progress);
        loop {
            if progress.acked >= number {
                return Ok(());
            }
            if let Some(why) = &progress.broken {
                return Err(broken(why));
            }
            if progress.syncing {
                progress = wait(&self.changed, progress);
                continue;
            }
            progress.syncing = true;
            let target = progress.written;
            let segment = progress.segment.clone();
            drop(progress);
            let synced = segment.map_or(Ok(()), |file| file.sync_data());
            progress = lock(&self.progress);
            progress.syncing = false;
            match synced {
                Ok(()) => {
                    while progress
                        .unsynced
                        .front()
                        .is_some_and(|journaled| journaled.number <= target)
                    {
                        let Some(journaled) = progress.unsynced.pop_front() else {
                            break;
                        };
                        progress
                            .queue
                            .push_back((Arc::new(journaled.payload), journaled.events));
                        progress.queued_events += journaled.events;
                        progress.unindexed_events += journaled.events;
                        progress.closed.extend(journaled.closed);
                    }
                    progress.acked = progress.acked.max(target);
                }
                Err(error) => progress.broken = Some(error.to_string()),
            }
            self.changed.notify_all();
        }
    }

    /// Waits while the applier is too far behind. Past [`PACE_FROM_EVENTS`]
    /// waiting, an append of `events` first waits what applying them takes,
    /// more the further behind the applier is: appends (taken one at a time)
    /// then come no faster than they are applied, each a little late, instead
    /// of all of them at full speed until [`MOST_PENDING_EVENTS`] and then
    /// none until a whole apply transaction ends.
    fn wait_for_room(&self, events: usize) -> Result<()> {
        let mut progress = lock(&self.progress);
        if let Some(delay) = progress.pacing(events) {
            progress = wait_while(
                &self.changed,
                progress,
                Instant::now() + delay,
                |progress| {
                    progress.paced() && progress.failed.is_none() && progress.broken.is_none()
                },
            );
        }
        loop {
            if let Some(why) = &progress.broken {
                return Err(broken(why));
            }
            if let Some(why) = &progress.failed {
                return Err(unavailable(why.clone()));
            }
            if progress.queued_events < MOST_PENDING_EVENTS {
                return Ok(());
            }
            progress = wait(&self.changed, progress);
        }
    }
}

/// The applier thread: applies what is queued until the store closes, the
/// search entries on a thread of its own ([`index_loop`]) ahead of the rows
/// ([`rows_loop`]); then syncs both files and removes the closed segments.
/// Answers whether everything was applied and synced.
///
/// The two run side by side, each taking as much as waits: the index takes
/// the records first, the rows' transaction takes only records the index has
/// taken and commits once the index has committed them. Neither waits for
/// the other's commit to start its next transaction (in lockstep, the rows
/// waited for the slower index in every transaction, and the index for the
/// rows' commit).
fn apply_loop(shared: &Shared, mut packer: DocPacker) -> bool {
    // The index's thread, started here, runs as low.
    crate::threads::lower_this_thread(crate::threads::Background::Applying);
    let applied = std::thread::scope(|scope| {
        let indexer = std::thread::Builder::new()
            .name("evident-search".to_owned())
            .spawn_scoped(scope, || index_loop(shared));
        let indexer = match indexer {
            Ok(indexer) => indexer,
            Err(error) => {
                fail(shared, &StoreError::from(error));
                return false;
            }
        };
        let rows = rows_loop(shared, &mut packer);
        // The index stops once the rows have (stopping, or failed).
        let indexed = indexer.join().unwrap_or(false);
        rows && indexed
    });
    if !applied {
        return false;
    }
    // Everything is applied: sync it, then the journal can go.
    if let Err(error) = touch_durably(&mut lock(&shared.writer))
        .and_then(|()| search::touch_durably(&lock(&shared.search)))
    {
        tracing::error!(%error, "the applied events could not be synced; the journal is kept for the next open");
        return false;
    }
    for segment in std::mem::take(&mut lock(&shared.progress).closed) {
        if let Err(error) = journal::remove(&segment.path) {
            tracing::warn!(%error, "an applied journal segment could not be removed");
        }
    }
    true
}

/// Marks applying as failed when the thread it guards panics, so that the
/// other one stops and appends and reads fail instead of waiting.
struct FailOnPanic<'s>(&'s Shared);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            fail(self.0, &unavailable("the applier panicked".to_owned()));
        }
    }
}

/// Records why applying stopped; appends and reads then fail.
fn fail(shared: &Shared, error: &StoreError) {
    tracing::error!(%error, "applying the ingest journal failed; its records are kept for the next open");
    let mut progress = lock(&shared.progress);
    if progress.failed.is_none() {
        progress.failed = Some(format!(
            "applying acknowledged events failed ({error}); they are kept in the ingest journal, applied when the store is opened again"
        ));
    }
    drop(progress);
    shared.changed.notify_all();
}

/// The search index's writer: takes the queued records past those it has
/// taken, up to [`APPLY_EVENTS`] events, and writes their search and target
/// entries in one transaction, synced when it completes a closed segment.
/// Answers whether it stopped without failing.
fn index_loop(shared: &Shared) -> bool {
    let _guard = FailOnPanic(shared);
    loop {
        let (payloads, last, durable) = {
            let mut progress = lock(&shared.progress);
            while progress.unindexed_events == 0 && !progress.stopping && progress.failed.is_none()
            {
                progress = wait(&shared.changed, progress);
            }
            if progress.unindexed_events == 0 || progress.failed.is_some() {
                return progress.failed.is_none();
            }
            // A few events are cheaper applied with the next ones (a transaction
            // costs about the same for one event as for hundreds): wait a little
            // for more, unless a reader waits for them.
            progress = wait_while(
                &shared.changed,
                progress,
                Instant::now() + LINGER,
                |progress| {
                    progress.unindexed_events < LINGER_EVENTS
                        && progress.waiting_readers == 0
                        && !progress.stopping
                        && progress.failed.is_none()
                },
            );
            let first = progress.index_taken;
            let mut payloads = Vec::new();
            let mut events = 0;
            for (payload, size) in &progress.queue {
                if record_number(payload) <= first {
                    continue;
                }
                if !payloads.is_empty() && events + size > APPLY_EVENTS {
                    break;
                }
                events += size;
                payloads.push(payload.clone());
            }
            let last = payloads
                .last()
                .map_or(first, |payload| record_number(payload));
            // Before the rows' transaction may take them (and the segments they complete).
            let durable = progress
                .closed
                .iter()
                .any(|segment| segment.last > first && segment.last <= last);
            progress.index_taken = last;
            progress.unindexed_events -= events;
            drop(progress);
            shared.changed.notify_all();
            (payloads, last, durable)
        };
        let indexed = payloads
            .iter()
            .map(|payload| Record::decode(payload))
            .collect::<Result<Vec<_>>>()
            .and_then(|records| {
                let records = records.iter().collect::<Vec<_>>();
                apply_search(&mut lock(&shared.search), &records, last, durable)
            });
        match indexed {
            Ok(()) => {
                lock(&shared.progress).indexed = last;
                shared.changed.notify_all();
            }
            Err(error) => {
                fail(shared, &error);
                return false;
            }
        }
    }
}

/// The rows' writer: takes the queued records the index has taken, up to
/// [`APPLY_EVENTS`] events, writes their rows, Merkle nodes and log sizes in
/// one transaction and commits it once the index holds them, synced when it
/// completes a closed segment (whose file then goes). Answers whether it
/// stopped without failing.
fn rows_loop(shared: &Shared, packer: &mut DocPacker) -> bool {
    let _guard = FailOnPanic(shared);
    let mut since_optimize = 0;
    loop {
        let (payloads, closed) = {
            // What the index has taken (it waited for more), or the end.
            let taken = |progress: &Progress| {
                progress
                    .queue
                    .front()
                    .is_some_and(|(payload, _)| record_number(payload) <= progress.index_taken)
            };
            let ended = |progress: &Progress| {
                (progress.stopping && progress.queue.is_empty()) || progress.failed.is_some()
            };
            let mut progress = lock(&shared.progress);
            while !(taken(&progress) || ended(&progress)) {
                progress = wait(&shared.changed, progress);
            }
            if !taken(&progress) || progress.failed.is_some() {
                return progress.failed.is_none();
            }
            let mut payloads = Vec::new();
            let mut events = 0;
            while let Some((payload, size)) = progress.queue.front() {
                if record_number(payload) > progress.index_taken
                    || (!payloads.is_empty() && events + size > APPLY_EVENTS)
                {
                    break;
                }
                events += size;
                if let Some((payload, _)) = progress.queue.pop_front() {
                    payloads.push(payload);
                }
            }
            let last = payloads.last().map_or(0, |payload| record_number(payload));
            // Segments whose every record this transaction completes: it syncs, then they go.
            let (done, kept) = std::mem::take(&mut progress.closed)
                .into_iter()
                .partition(|segment| segment.last <= last);
            progress.closed = kept;
            (payloads, done)
        };
        let durable = !closed.is_empty();
        let started = Instant::now();
        let applied = decode(payloads.iter().map(|payload| payload.as_slice())).and_then(
            |(records, applied)| {
                let last = applied.last;
                apply_events(
                    &mut lock(&shared.writer),
                    packer,
                    &records.iter().collect::<Vec<_>>(),
                    last,
                    durable,
                    || index_holds(shared, last),
                )?;
                Ok(applied)
            },
        );
        if applied.is_ok() {
            // Before readers hear of the events: a reader that saw them sees the journal without them.
            for segment in closed {
                if let Err(error) = journal::remove(&segment.path) {
                    tracing::warn!(%error, segment = %segment.path.display(), "an applied journal segment could not be removed");
                }
            }
        }
        let applied = match applied {
            Ok(applied) => applied,
            Err(error) => {
                fail(shared, &error);
                return false;
            }
        };
        let mut progress = lock(&shared.progress);
        if applied.events > 0 {
            let cost = started.elapsed() / applied.events as u32;
            progress.apply_cost = (progress.apply_cost * 3 + cost) / 4;
        }
        progress.applied = applied.last;
        progress.queued_events -= applied.events;
        drop(progress);
        shared.changed.notify_all();
        let mut pending = lock(&shared.pending_keys);
        for key in applied.keys {
            pending.remove(&key);
        }
        drop(pending);
        since_optimize += applied.events as u64;
        if since_optimize >= EVENTS_BETWEEN_OPTIMIZE {
            since_optimize = 0;
            // Statistics are an optimisation: the events are applied whatever this returns.
            match super::optimize(&lock(&shared.writer)) {
                // Read connections load statistics with the schema: they open again.
                Ok(true) => {
                    shared.statistics.fetch_add(1, Ordering::Release);
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "refreshing query statistics failed"),
            }
        }
    }
}

/// Waits until the search index has committed record `last` (its entries
/// come first: see [`apply`]).
fn index_holds(shared: &Shared, last: u64) -> Result<()> {
    let mut progress = lock(&shared.progress);
    loop {
        if progress.indexed >= last {
            return Ok(());
        }
        if let Some(why) = &progress.failed {
            return Err(unavailable(why.clone()));
        }
        progress = wait(&shared.changed, progress);
    }
}

/// A record's number, from the head of its payload.
fn record_number(payload: &[u8]) -> u64 {
    payload
        .get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// A record's event count, for the queue's bookkeeping (0 if it cannot be read).
fn record_events(payload: &[u8]) -> usize {
    Record::decode(payload).map_or(0, |record| record.events())
}

/// What one apply transaction did.
struct Applied {
    last: u64,
    events: usize,
    keys: Vec<(i64, String)>,
}

/// The last journal record each database file holds: a record at or
/// below a file's mark is not applied to it again (after a crash between
/// the two files' commits, one holds records the other does not).
#[derive(Clone, Copy)]
struct Marks {
    events: u64,
    search: u64,
}

#[cfg(test)]
impl Marks {
    /// Records in the applier's queue: past both marks.
    const QUEUED: Marks = Marks {
        events: 0,
        search: 0,
    };
}

/// Applies records to `evident.db` in one transaction and to the search
/// index in another, each synced when `durable` (else the journal keeps
/// them until a later synced commit), as opening applies what a crash left
/// in the journal (the running store's applier does the same in two
/// threads that do not wait for each other's transactions: [`apply_loop`]).
/// From [`APART_FROM`] events the search entries are written on a thread of
/// their own while the events are.
///
/// The search index commits first, and `evident.db` only once it has: at
/// any moment the index holds every event the events' table does, so that a
/// read which takes its snapshot of `evident.db` first (every statement
/// does, and `query_with_total` pins it) finds the search entries of every
/// event it reads, and a negated word never lists an event that holds it.
fn apply(
    connection: &mut Connection,
    search: &mut Connection,
    packer: &mut DocPacker,
    payloads: &[Vec<u8>],
    durable: bool,
    marks: Marks,
) -> Result<Applied> {
    let (records, applied) = decode(payloads.iter().map(Vec::as_slice))?;
    let past = |mark: u64| -> Vec<&Record<'_>> {
        records
            .iter()
            .filter(|record| record.number > mark)
            .collect()
    };
    let (to_events, to_search) = (past(marks.events), past(marks.search));
    let last = applied.last;
    if applied.events < APART_FROM {
        apply_search(search, &to_search, last, durable)?;
        apply_events(connection, packer, &to_events, last, durable, || Ok(()))?;
    } else {
        std::thread::scope(|scope| -> Result<()> {
            let searching = std::thread::Builder::new()
                .name("evident-search".to_owned())
                .spawn_scoped(scope, || apply_search(search, &to_search, last, durable))?;
            let searched = || {
                searching
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            if to_events.is_empty() {
                return searched();
            }
            apply_events(connection, packer, &to_events, last, durable, searched)
        })?;
    }
    Ok(applied)
}

/// Decodes records, with what applying them does: their last number, their
/// events, and the idempotency keys they take out of the pending ones.
fn decode<'p>(payloads: impl Iterator<Item = &'p [u8]>) -> Result<(Vec<Record<'p>>, Applied)> {
    let records = payloads.map(Record::decode).collect::<Result<Vec<_>>>()?;
    let mut applied = Applied {
        last: 0,
        events: 0,
        keys: Vec::new(),
    };
    for record in &records {
        applied.last = record.number;
        applied.events += record.events();
        for batch in &record.batches {
            for event in &batch.events {
                if let Some(key) = event.idempotency_key {
                    applied.keys.push((batch.tenant_no, key.to_owned()));
                }
            }
        }
    }
    Ok((records, applied))
}

/// Sets a connection's `synchronous` for one transaction; every other
/// commit of the store is synced.
fn synced_when<T>(
    connection: &mut Connection,
    durable: bool,
    work: impl FnOnce(&mut Connection) -> Result<T>,
) -> Result<T> {
    connection.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
    let result = work(connection);
    connection.pragma_update(None, "synchronous", "FULL")?;
    result
}

/// Writes `records` into `evident.db` in one transaction, with `last` as its
/// applied record, and commits it once `before_commit` has succeeded (else
/// rolls it back).
fn apply_events(
    connection: &mut Connection,
    packer: &mut DocPacker,
    records: &[&Record<'_>],
    last: u64,
    durable: bool,
    before_commit: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if records.is_empty() {
        return before_commit();
    }
    synced_when(connection, durable, |connection| {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let written = write_batches(&transaction, packer, records).and_then(|()| {
            transaction
                .prepare_cached("UPDATE journal_state SET applied = ?1")?
                .execute([last as i64])?;
            Ok(())
        });
        // The index commits first: these rows only once it has (its outcome is
        // known before an error of either is returned).
        before_commit()?;
        written?;
        transaction.commit()?;
        Ok(())
    })
}

/// Writes the search and target entries of `records` in one transaction, with `last` as the index's mark.
fn apply_search(
    connection: &mut Connection,
    records: &[&Record<'_>],
    last: u64,
    durable: bool,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    synced_when(connection, durable, |connection| {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        search::insert(&transaction, events_of(&in_rowid_order(records)), last)?;
        transaction.commit()?;
        Ok(())
    })
}

/// The records' batches with every event in rowid order: a tenant's batches
/// are in seq order across the records, so a stable sort by tenant does it.
fn in_rowid_order<'r>(records: &[&'r Record<'r>]) -> Vec<&'r JournalBatch<'r>> {
    let mut batches: Vec<&JournalBatch> =
        records.iter().flat_map(|record| &record.batches).collect();
    batches.sort_by_key(|batch| batch.tenant_no);
    batches
}

/// Each event of `batches` with its tenant's number.
fn events_of<'b>(
    batches: &'b [&'b JournalBatch<'b>],
) -> impl Iterator<Item = (i64, &'b JournalEvent<'b>)> + 'b {
    batches
        .iter()
        .flat_map(|batch| batch.events.iter().map(|event| (batch.tenant_no, event)))
}

/// Writes the records' events, categories, Merkle nodes and log sizes, each
/// table's rows in the order of its key. In the order the events came,
/// tenants interleaved, each row would land somewhere else in its table and
/// indexes than the one before; in key order a tenant's rows follow each
/// other (and FTS5, which writes its pending terms out as a new segment
/// whenever a rowid is not above the last one it took, writes one for the
/// transaction: `apply_search`, which writes the search and target
/// entries, takes the same order).
fn write_batches(
    connection: &Connection,
    packer: &mut DocPacker,
    records: &[&Record<'_>],
) -> Result<()> {
    let batches = in_rowid_order(records);
    let events = || events_of(&batches);
    let packed = packer.pack_all(events().map(|(_, event)| event.doc))?;
    let actors = actor_numbers(connection, events())?;
    let actions = action_numbers(connection, events())?;
    let mut insert_event = connection.prepare_cached(
        "INSERT INTO events (rowid, tenant_no, seq, id, occurred_at, recorded_at, action, category, actor_type, actor_id,
                             actor_email, ip, channel, outcome, idempotency_key, doc, salt, actor_no, action_no)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?;
    let mut categories = std::collections::BTreeSet::new();
    // Each action's events in this transaction, by its number; each
    // tenant's, by the day they occurred.
    let mut action_events = std::collections::BTreeMap::<i64, i64>::new();
    let mut day_events = std::collections::BTreeMap::<(i64, i64), i64>::new();
    for (index, (tenant_no, event)) in events().enumerate() {
        let rowid = event_rowid(tenant_no, event.seq);
        let action_no = actions[&(tenant_no, event.action)];
        categories.insert((tenant_no, event.category, event.action));
        *action_events.entry(action_no).or_default() += 1;
        *day_events
            .entry((tenant_no, crate::days::event_day(event.occurred_at)))
            .or_default() += 1;
        insert_event.execute(params![
            rowid,
            tenant_no,
            event.seq as i64,
            event.id.as_slice(),
            event.occurred_at,
            event.recorded_at,
            event.action,
            event.category,
            event.actor_type,
            event.actor_id,
            event.actor_email,
            event.ip.as_ref().map(compact_ip),
            event.channel,
            event.outcome,
            event.idempotency_key,
            super::compress::value(&packed, index, event.doc),
            event.salt.as_slice(),
            actors.get(&(tenant_no, event.actor_id, event.actor_email)),
            action_no,
        ])?;
    }
    drop(insert_event);
    let mut count_action =
        connection.prepare_cached("UPDATE actions SET events = events + ?1 WHERE no = ?2")?;
    for (action_no, events) in action_events {
        count_action.execute([events, action_no])?;
    }
    drop(count_action);
    let mut count_day = connection.prepare_cached(
        "INSERT INTO event_days (tenant_no, day, events) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_no, day) DO UPDATE SET events = events + excluded.events",
    )?;
    for ((tenant_no, day), events) in day_events {
        count_day.execute([tenant_no, day, events])?;
    }
    drop(count_day);
    let latest_recorded = events().map(|(_, event)| event.recorded_at).max();
    packer.train_if_due(connection, latest_recorded.unwrap_or_default())?;
    let mut insert_category = connection.prepare_cached(
        "INSERT OR IGNORE INTO action_categories (tenant_no, category, action) VALUES (?1, ?2, ?3)",
    )?;
    for (tenant_no, category, action) in categories {
        insert_category.execute(params![tenant_no, category, action])?;
    }
    drop(insert_category);
    let mut read_order = connection
        .prepare_cached("SELECT max_occurred_at, late_seq, lateness FROM tenants WHERE no = ?1")?;
    let mut set_size = connection.prepare_cached(
        "UPDATE tenants SET next_seq = ?1, max_occurred_at = ?2, late_seq = ?3, lateness = ?4 WHERE no = ?5",
    )?;
    for tenant in batches.chunk_by(|one, next| one.tenant_no == next.tenant_no) {
        let mut nodes: Vec<&Node> = tenant.iter().flat_map(|batch| &batch.nodes).collect();
        nodes.sort_unstable_by_key(|node| (node.level, node.index));
        let tenant_no = tenant[0].tenant_no;
        super::log::insert_nodes(connection, tenant_no, nodes)?;
        let next_seq = tenant.iter().map(|batch| batch.next_seq).max().unwrap_or(0);
        let order = read_order
            .query_row(params![tenant_no], |row| {
                Ok(ArrivalOrder {
                    latest: row.get(0)?,
                    late_seq: row.get(1)?,
                    lateness: row.get(2)?,
                })
            })?
            .after(
                tenant
                    .iter()
                    .flat_map(|batch| &batch.events)
                    .map(|event| (event.seq, event.occurred_at)),
            );
        set_size.execute(params![
            next_seq as i64,
            order.latest,
            order.late_seq,
            order.lateness,
            tenant_no
        ])?;
    }
    Ok(())
}

/// An actor: its tenant's number, its id and its email column.
type ActorKey<'e> = (i64, Option<&'e str>, Option<&'e str>);

/// The number of each actor (`actors`) of `events`, an actor seen for the
/// first time numbered now. An event with neither an id nor an email has no
/// actor number.
fn actor_numbers<'e>(
    connection: &Connection,
    events: impl Iterator<Item = (i64, &'e JournalEvent<'e>)>,
) -> Result<HashMap<ActorKey<'e>, i64>> {
    let mut by_id = connection
        .prepare_cached("SELECT no FROM actors WHERE id = ?2 AND tenant_no = ?1 AND email IS ?3")?;
    let mut by_email = connection.prepare_cached(
        "SELECT no FROM actors WHERE email = ?2 AND tenant_no = ?1 AND id IS NULL",
    )?;
    let mut insert = connection
        .prepare_cached("INSERT INTO actors (tenant_no, id, email) VALUES (?1, ?2, ?3)")?;
    numbered(
        events,
        |tenant_no, event| {
            (event.actor_id.is_some() || event.actor_email.is_some()).then_some((
                tenant_no,
                event.actor_id,
                event.actor_email,
            ))
        },
        |&(tenant_no, id, email)| {
            let found = match id {
                Some(id) => by_id.query_row(params![tenant_no, id, email], |row| row.get(0)),
                None => by_email.query_row(params![tenant_no, email], |row| row.get(0)),
            };
            match found.optional()? {
                Some(number) => Ok(number),
                None => Ok(insert.insert(params![tenant_no, id, email])?),
            }
        },
    )
}

/// The number of each action (`actions`) of `events`, by tenant, an action
/// seen for the first time numbered now.
fn action_numbers<'e>(
    connection: &Connection,
    events: impl Iterator<Item = (i64, &'e JournalEvent<'e>)>,
) -> Result<HashMap<(i64, &'e str), i64>> {
    let mut find =
        connection.prepare_cached("SELECT no FROM actions WHERE tenant_no = ?1 AND action = ?2")?;
    let mut insert =
        connection.prepare_cached("INSERT INTO actions (tenant_no, action) VALUES (?1, ?2)")?;
    numbered(
        events,
        |tenant_no, event| Some((tenant_no, event.action)),
        |&(tenant_no, action)| match find
            .query_row(params![tenant_no, action], |row| row.get(0))
            .optional()?
        {
            Some(number) => Ok(number),
            None => Ok(insert.insert(params![tenant_no, action])?),
        },
    )
}

/// The number `number` gives each key of `events` (`key`: None for an
/// event without one), asked once per distinct key.
fn numbered<'e, K: std::hash::Hash + Eq>(
    events: impl Iterator<Item = (i64, &'e JournalEvent<'e>)>,
    key: impl Fn(i64, &'e JournalEvent<'e>) -> Option<K>,
    mut number: impl FnMut(&K) -> Result<i64>,
) -> Result<HashMap<K, i64>> {
    let mut numbers = HashMap::new();
    for (tenant_no, event) in events {
        let Some(key) = key(tenant_no, event) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = numbers.entry(key) {
            let assigned = number(slot.key())?;
            slot.insert(assigned);
        }
    }
    Ok(numbers)
}

/// How long before an earlier event of its tenant an event may have
/// occurred for pages still to read the tenant in arrival order, in
/// microseconds. Events arrive out of order all the time by seconds to
/// hours (the clocks and queues of a product's servers, concurrent batches:
/// the benchmark's clients put large tenants' events at 1M up to 33 minutes
/// out of order); an import of old events is later than this, and pages
/// then read only the events after it in arrival order (`TextWindows` in
/// mod.rs).
const LATE_MICROS: i64 = 24 * 3600 * 1_000_000;

/// A tenant's arrival order (`tenants`): its latest occurred_at; the seq of
/// its latest event that occurred more than [`LATE_MICROS`] before an
/// earlier one, or -1; the most any event after that one occurred before an
/// earlier one, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ArrivalOrder {
    latest: Option<i64>,
    late_seq: i64,
    lateness: i64,
}

impl ArrivalOrder {
    /// The order after `events` (seq, occurred_at), in seq order.
    fn after(mut self, events: impl Iterator<Item = (u64, i64)>) -> ArrivalOrder {
        for (seq, occurred_at) in events {
            let behind = self.latest.map_or(0, |latest| latest - occurred_at);
            if behind > LATE_MICROS {
                self.late_seq = seq as i64;
                self.lateness = 0;
            } else {
                self.lateness = self.lateness.max(behind);
            }
            self.latest = self.latest.max(Some(occurred_at));
        }
        self
    }
}

/// A synced commit: everything committed before it is on disk.
fn touch_durably(connection: &mut Connection) -> Result<()> {
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute("UPDATE journal_state SET applied = applied", [])?;
    Ok(())
}

/// At open: applies the journal's records past each file's applied one
/// (`evident.db`'s, the search index's), syncs, removes the journal;
/// returns the last record number known, and whether the search index was
/// built again: one the journal cannot bring level with the events is.
fn recover(
    journal_dir: &Path,
    connection: &mut Connection,
    search: &mut Connection,
    packer: &mut DocPacker,
    dictionaries: &Dictionaries,
) -> Result<(u64, bool)> {
    let applied = applied_record(connection)?;
    let search_applied = search::applied(search)?;
    let segments = journal::segments(journal_dir)?;
    if segments.is_empty() && search_applied == Some(applied) {
        return Ok((applied, false));
    }
    let payloads = if segments.is_empty() {
        Vec::new()
    } else {
        journal::read_payloads(journal_dir)?
    };
    let first = payloads.first().map(|payload| record_number(payload));
    let last = payloads
        .last()
        .map_or(applied, |payload| record_number(payload).max(applied));
    // The index can follow the journal from its mark when the journal holds
    // the record after it, or when it is at or past the events' mark and no
    // further than the journal reaches.
    let search_mark = search_applied.filter(|mark| {
        *mark <= last && (*mark >= applied || first.is_some_and(|first| first <= mark + 1))
    });
    let marks = Marks {
        events: applied,
        search: search_mark.unwrap_or(u64::MAX),
    };
    let payloads: Vec<Vec<u8>> = payloads
        .into_iter()
        .filter(|payload| record_number(payload) > marks.events.min(marks.search))
        .collect();
    if !payloads.is_empty() {
        tracing::info!(
            records = payloads.len(),
            "applying acknowledged events the ingest journal holds from the last run"
        );
        let mut start = 0;
        while start < payloads.len() {
            let mut end = start;
            let mut events = 0;
            while end < payloads.len() && (end == start || events < APPLY_EVENTS) {
                events += record_events(&payloads[end]);
                end += 1;
            }
            apply(
                connection,
                search,
                packer,
                &payloads[start..end],
                true,
                marks,
            )?;
            start = end;
        }
    }
    if search_mark.is_none() {
        super::build_search_index(connection, search, dictionaries, last)?;
    }
    touch_durably(connection)?;
    search::touch_durably(search)?;
    for segment in segments {
        journal::remove(&segment)?;
    }
    Ok((last, search_mark.is_none()))
}

/// The last record the database has applied.
pub(super) fn applied_record(connection: &Connection) -> Result<u64> {
    let applied: i64 =
        connection.query_row("SELECT applied FROM journal_state", [], |row| row.get(0))?;
    Ok(applied as u64)
}

/// How many journaled records past the database's applied one wait in `journal_dir`.
pub(super) fn unapplied_records(journal_dir: &Path, connection: &Connection) -> Result<usize> {
    let applied = applied_record(connection)?;
    Ok(journal::read_payloads(journal_dir)?
        .iter()
        .filter(|payload| record_number(payload) > applied)
        .count())
}

fn broken(why: &str) -> StoreError {
    unavailable(format!(
        "the ingest journal could not be written ({why}); restart the server to recover"
    ))
}

fn unavailable(message: String) -> StoreError {
    StoreError::Io(std::io::Error::other(message))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // What these mutexes guard is consistent between statements: a panic leaves nothing half done.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wait<'g, T>(condvar: &Condvar, guard: MutexGuard<'g, T>) -> MutexGuard<'g, T> {
    condvar
        .wait(guard)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `condvar` while `waiting` holds, until `deadline` at the latest.
fn wait_while<'g, T>(
    condvar: &Condvar,
    mut guard: MutexGuard<'g, T>,
    deadline: Instant,
    waiting: impl Fn(&T) -> bool,
) -> MutexGuard<'g, T> {
    while waiting(&guard) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        guard = condvar
            .wait_timeout(guard, left)
            .map_or_else(|poisoned| poisoned.into_inner().0, |(guard, _)| guard);
    }
    guard
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use super::*;
    use crate::{NewTenant, Store};
    use evident_core::NewEvent;

    fn event(n: usize, key: Option<&str>) -> NewEvent {
        let mut body = serde_json::json!({
            "action": "license.revoked",
            "actor": {"type": "user", "id": format!("usr_{}", n % 3), "email": format!("Ada{n}@Example.com")},
            "targets": [{"type": "license", "id": format!("lic_{n}")}],
            "context": {"ip": "203.0.113.7"},
            "description": format!("revoked licence number {n}"),
            "metadata": {"n": n},
        });
        if let Some(key) = key {
            body["idempotency_key"] = key.into();
        }
        evident_core::event::validate_event(&body, None, Timestamp::now(), &Default::default())
            .unwrap()
    }

    fn batch(tenant: &str, events: impl IntoIterator<Item = NewEvent>) -> AppendBatch {
        AppendBatch {
            tenant: tenant.to_owned(),
            events: events.into_iter().collect(),
        }
    }

    fn append(store: &SqliteStore, batch: AppendBatch) -> Vec<Receipt> {
        store
            .append(&[batch], Timestamp::now())
            .unwrap()
            .pop()
            .unwrap()
            .unwrap()
    }

    #[test]
    fn reads_plan_with_the_statistics_the_applier_refreshes_as_the_store_grows() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        // A read of the empty store: its pooled connection loads its statistics.
        assert_eq!(store.stats().unwrap().events, 0);
        let before = store.statistics.load(Ordering::Acquire);
        let stats_rows = |store: &SqliteStore| -> i64 {
            store
                .lookup(|connection| {
                    Ok(connection.query_row(
                        "SELECT coalesce(max(CAST(stat AS INTEGER)), 0) FROM sqlite_stat1 WHERE tbl = 'events'",
                        [],
                        |row| row.get(0),
                    )?)
                })
                .unwrap()
        };
        assert_eq!(stats_rows(&store), 0);
        for round in 0..5 {
            append(
                &store,
                batch("acme", (0..100).map(|n| event(round * 100 + n, None))),
            );
        }
        // The applier refreshes them after its transactions, behind the reads that wait for it.
        let waited = std::time::Instant::now();
        while store.statistics.load(Ordering::Acquire) == before {
            assert!(waited.elapsed() < Duration::from_secs(20), "no refresh");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(stats_rows(&store) >= 200, "the events table analysed again");
        // The connection that read the empty store was opened again, with the new statistics
        // (or with later ones: the applier may refresh them again after its last transactions).
        let refreshed = store.statistics.load(Ordering::Acquire);
        assert_eq!(store.stats().unwrap().events, 500);
        let mut lease = store.readers.lease();
        let reader = lease.connection(|| Err::<_, ()>(())).unwrap();
        assert!(
            reader.statistics >= refreshed && refreshed > before,
            "read with statistics {} (refreshed {refreshed}, before {before})",
            reader.statistics
        );
    }

    #[test]
    fn documents_past_the_first_dictionary_are_stored_compressed_and_read_back_as_appended() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        let appended: Vec<NewEvent> = (0..crate::compress::SAMPLES + 600)
            .map(|n| event(n, None))
            .collect();
        let (first, rest) = appended.split_at(crate::compress::SAMPLES);
        for chunk in first.chunks(400) {
            append(&store, batch("acme", chunk.iter().cloned()));
        }
        // Applied: the transaction that reached the first dictionary's size trained it.
        store.read(|_| Ok(())).unwrap();
        // 600 in one transaction: compressed on a thread of their own.
        append(&store, batch("acme", rest.iter().cloned()));
        let kinds = |store: &SqliteStore| -> Vec<(String, i64)> {
            store.rows(
                "SELECT typeof(doc), count(*) FROM events GROUP BY 1 ORDER BY 1",
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
        };
        // The documents it was trained on are text; those after are compressed.
        assert_eq!(
            kinds(&store),
            [("blob".to_owned(), 600), ("text".to_owned(), 2_048)]
        );
        let read_back = |store: &SqliteStore| {
            let (seqs, tree_matches) = stored(store);
            assert_eq!(seqs.len(), appended.len());
            assert!(tree_matches, "leaves recomputed from the documents as read");
            let events = store.stored_events("acme", 0, 10_000).unwrap();
            for (stored, sent) in events.iter().zip(&appended) {
                let event = &stored.event;
                assert_eq!(
                    (
                        &event.actor.email,
                        &event.targets,
                        &event.description,
                        &event.metadata
                    ),
                    (
                        &sent.actor.email,
                        &sent.targets,
                        &sent.description,
                        &sent.metadata
                    )
                );
            }
        };
        read_back(&store);
        drop(store);
        // Opened again, the store reads them and compresses new documents with the same dictionary.
        let store = SqliteStore::open(dir.path()).unwrap();
        read_back(&store);
        // Ten: compressed by the applier itself.
        append(&store, batch("acme", (0..10).map(|n| event(n, None))));
        assert_eq!(kinds(&store)[0], ("blob".to_owned(), 610));
        drop(store);
        let read_only = SqliteStore::open_read_only(dir.path()).unwrap();
        assert_eq!(
            read_only.stored_events("acme", 2_648, 100).unwrap().len(),
            10
        );
    }

    fn open_with_tenant(dir: &Path) -> SqliteStore {
        let store = SqliteStore::open(dir).unwrap();
        store
            .create_tenant(&NewTenant {
                id: "acme".to_owned(),
                name: "Acme".to_owned(),
                parent: None,
            })
            .unwrap();
        store
    }

    /// The `nice` of each of this process's threads named `name` (cut, as
    /// the kernel cuts a thread's name, to 15 bytes).
    #[cfg(target_os = "linux")]
    fn nice_of_threads(name: &str) -> Vec<i32> {
        let name = &name[..name.len().min(15)];
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| comm.trim_end() == name)
            })
            .filter_map(|task| {
                let tid = task.file_name().to_str()?.parse().ok()?;
                let tid = rustix::process::Pid::from_raw(tid)?;
                rustix::process::getpriority_process(Some(tid)).ok()
            })
            .collect()
    }

    /// A store's shared state with `behind` events waiting to be applied at
    /// `cost` an event, and no applier.
    fn behind_by(behind: usize, cost: Duration) -> Shared {
        let mut progress = Progress::after(0);
        progress.queued_events = behind;
        progress.apply_cost = cost;
        Shared {
            progress: Mutex::new(progress),
            changed: Condvar::new(),
            pending_keys: Mutex::new(HashMap::new()),
            writer: Arc::new(Mutex::new(Connection::open_in_memory().unwrap())),
            search: Mutex::new(Connection::open_in_memory().unwrap()),
            statistics: Arc::new(AtomicU64::new(0)),
        }
    }

    #[test]
    fn appends_are_paced_only_past_a_transactions_worth_behind_and_stop_at_the_limit() {
        let pacing = |behind, cost| lock(&behind_by(behind, cost).progress).pacing(1);
        assert_eq!(
            pacing(APPLY_EVENTS, Duration::from_secs(1)),
            None,
            "an applier one transaction behind does not pace appends"
        );
        // Further behind, an append waits its events' cost scaled by how
        // far behind, and at most its longest.
        let cost = Duration::from_micros(40);
        let twice_behind = pacing(2 * APPLY_EVENTS, cost).expect("paced");
        assert!(
            twice_behind.abs_diff(2 * cost) < Duration::from_nanos(10),
            "{twice_behind:?}"
        );
        assert_eq!(
            pacing(APPLY_EVENTS + 1, Duration::from_secs(1)),
            Some(MOST_PACING)
        );
        // At the limit an append waits until the applier has made room.
        let shared = behind_by(MOST_PENDING_EVENTS, Duration::ZERO);
        let made_room = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                made_room.store(true, Ordering::SeqCst);
                lock(&shared.progress).queued_events = APPLY_EVENTS;
                shared.changed.notify_all();
            });
            shared.wait_for_room(1).unwrap();
            assert!(
                made_room.load(Ordering::SeqCst),
                "an append at the limit went ahead before the applier made room"
            );
        });
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_applier_search_and_wal_threads_run_below_the_process() {
        use crate::threads::Background;
        let process =
            rustix::process::getpriority_process(Some(rustix::process::getpid())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        append(&store, batch("acme", (0..3).map(|n| event(n, None))));
        for (name, background) in [
            ("evident-applier", Background::Applying),
            ("evident-search", Background::Applying),
            ("evident-wal-checkpoint", Background::Copying),
        ] {
            // Other tests' stores have threads of these names too, each
            // lowering itself as it starts: one at the priority will do.
            let expected = (process + background.niceness()).min(19);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let found = nice_of_threads(name);
                if found.contains(&expected) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{name}: nice {found:?}, expected {expected}"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        drop(store);
    }

    fn segments(dir: &Path) -> Vec<PathBuf> {
        journal::segments(&dir.join(journal::JOURNAL_DIR)).unwrap()
    }

    /// Acme's events by seq, and whether its stored tree matches the leaves recomputed from them.
    fn stored(store: &SqliteStore) -> (Vec<(u64, Uuid)>, bool) {
        stored_of(store, "acme")
    }

    /// A tenant's events by seq, and whether its stored tree matches the leaves recomputed from them.
    fn stored_of(store: &SqliteStore, tenant: &str) -> (Vec<(u64, Uuid)>, bool) {
        let events = store.stored_events(tenant, 0, 10_000).unwrap();
        let mut frontier = Frontier::new();
        for (_, leaf) in store.event_leaf_hashes(tenant, 0, 10_000).unwrap() {
            frontier.push(leaf, &mut Vec::new());
        }
        let head = store.tree_head(tenant).unwrap().unwrap();
        let matches = head.tree_size == events.len() as u64 && head.root_hash == frontier.root();
        (
            events
                .iter()
                .map(|stored| (stored.event.seq, stored.event.id))
                .collect(),
            matches,
        )
    }

    /// Simulates a crash: the store's applier is held off its connection, so
    /// what is appended now is only in the journal, and the store is never
    /// closed (its threads stay blocked for the rest of the test process).
    fn crash_after(mut store: SqliteStore, appends: impl FnOnce(&SqliteStore)) {
        // A crashed process's lock goes with it.
        drop(store._lock.take());
        let writer = store.writer.clone();
        let held = writer.lock().unwrap();
        // The search index's writer too: it goes on alone while the rows are held.
        let shared = store.ingest().unwrap().shared.clone();
        let search_held = lock(&shared.search);
        appends(&store);
        std::mem::forget((held, search_held));
        std::mem::forget(store);
    }

    #[test]
    fn arrival_order_keeps_how_late_events_came_since_the_last_a_day_late() {
        let hour = 3_600_000_000;
        let at = |hours: i64| 1_700_000_000_000_000 + hours * hour;
        let none = ArrivalOrder {
            latest: None,
            late_seq: -1,
            lateness: 0,
        };
        let order = |events: &[(u64, i64)]| none.after(events.iter().copied());
        assert_eq!(
            order(&[(0, at(5)), (1, at(6))]),
            ArrivalOrder {
                latest: Some(at(6)),
                ..none
            }
        );
        assert_eq!(
            order(&[
                (0, at(5)),
                (1, at(8)),
                (2, at(6)),
                (3, at(9)),
                (4, at(8) + 1)
            ]),
            ArrivalOrder {
                latest: Some(at(9)),
                lateness: 2 * hour,
                ..none
            },
            "the most any event came late"
        );
        assert_eq!(
            order(&[(0, at(30)), (1, at(5)), (2, at(29)), (3, at(31))]),
            ArrivalOrder {
                latest: Some(at(31)),
                late_seq: 1,
                lateness: hour
            },
            "a day and more: the events after it start again"
        );
        assert_eq!(
            order(&[(0, at(30)), (1, at(5)), (2, at(31))]).after([(3, at(6))].into_iter()),
            ArrivalOrder {
                latest: Some(at(31)),
                late_seq: 3,
                lateness: 0
            },
            "late after the events of an earlier transaction"
        );
        assert_eq!(
            order(&[(0, at(30)), (1, at(5))]).after([(2, at(30) - LATE_MICROS)].into_iter()),
            ArrivalOrder {
                latest: Some(at(30)),
                late_seq: 1,
                lateness: LATE_MICROS
            },
            "exactly a day is not a day late"
        );
    }

    #[test]
    fn appends_a_crash_left_unapplied_are_applied_at_the_next_open_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        let first = append(&store, batch("acme", (0..5).map(|n| event(n, None))));
        assert_eq!(
            stored(&store).0.len(),
            5,
            "a read sees what was acknowledged before it"
        );
        let mut acknowledged = first;
        crash_after(store, |store| {
            for round in 0..30 {
                let events = (0..7).map(|n| event(100 + round * 7 + n, None));
                acknowledged.extend(append(store, batch("acme", events)));
            }
            acknowledged.extend(append(store, batch("acme", [event(999, Some("once"))])));
        });
        assert!(
            segments(dir.path()).len() > 1,
            "the test's records span several segments"
        );
        let refused = SqliteStore::open_read_only(dir.path()).err().unwrap();
        assert!(
            refused.to_string().contains("journal holds"),
            "verification refuses a store whose journal is not applied: {refused}"
        );

        let reopened = SqliteStore::open(dir.path()).unwrap();
        assert!(
            segments(dir.path()).is_empty(),
            "the applied journal is removed"
        );
        let (events, tree_matches) = stored(&reopened);
        let expected: Vec<(u64, Uuid)> = acknowledged
            .iter()
            .map(|receipt| (receipt.seq, receipt.id))
            .collect();
        assert_eq!(
            events, expected,
            "every acknowledged event, once, with its receipt"
        );
        assert!(
            tree_matches,
            "the tree head covers exactly the recomputed leaves"
        );
        let repeat = append(&reopened, batch("acme", [event(1000, Some("once"))]));
        assert_eq!(
            repeat[0],
            *acknowledged.last().unwrap(),
            "the key is still known"
        );
        let next = append(&reopened, batch("acme", [event(1001, None)]));
        assert_eq!(
            next[0].seq,
            acknowledged.len() as u64,
            "the log goes on without a gap"
        );
        drop(reopened);
        let again = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            stored(&again).0.len(),
            acknowledged.len() + 1,
            "nothing applied twice"
        );
    }

    /// The recovery applies the crash's records in one transaction, each
    /// table's rows in key order: every tenant's events, targets, search
    /// entries, tree and log size come out as if applied one by one.
    #[test]
    fn records_of_interleaved_tenants_are_applied_whole_for_each() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        let tenants = ["acme", "globex", "initech"];
        for tenant in &tenants[1..] {
            store
                .create_tenant(&NewTenant {
                    id: (*tenant).to_owned(),
                    name: tenant.to_uppercase(),
                    parent: None,
                })
                .unwrap();
        }
        let mut acknowledged: HashMap<&str, Vec<Receipt>> = HashMap::new();
        crash_after(store, |store| {
            for round in 0..12 {
                // One record with a batch of each tenant, another with two
                // batches of one tenant around another's.
                let group: Vec<AppendBatch> = tenants
                    .iter()
                    .rev()
                    .map(|tenant| batch(tenant, (0..3).map(|n| event(round * 10 + n, None))))
                    .collect();
                let mut results = store.append(&group, Timestamp::now()).unwrap();
                for tenant in tenants.iter().rev() {
                    acknowledged
                        .entry(tenant)
                        .or_default()
                        .extend(results.remove(0).unwrap());
                }
                let split = [
                    batch("initech", [event(round * 10 + 5, None)]),
                    batch("acme", [event(round * 10 + 6, None)]),
                    batch("initech", [event(round * 10 + 7, None)]),
                ];
                for (tenant, result) in ["initech", "acme", "initech"]
                    .into_iter()
                    .zip(store.append(&split, Timestamp::now()).unwrap())
                {
                    acknowledged
                        .entry(tenant)
                        .or_default()
                        .extend(result.unwrap());
                }
            }
        });
        let reopened = SqliteStore::open(dir.path()).unwrap();
        for tenant in tenants {
            let receipts = &acknowledged[tenant];
            let (events, tree_matches) = stored_of(&reopened, tenant);
            let expected: Vec<(u64, Uuid)> = receipts
                .iter()
                .map(|receipt| (receipt.seq, receipt.id))
                .collect();
            assert_eq!(events, expected, "{tenant}: every event, in seq order");
            assert!(tree_matches, "{tenant}: the tree covers exactly its leaves");
            let count = |query: &str| {
                reopened
                    .count(
                        &crate::TenantScope::single(tenant),
                        &evident_core::query::parse(query).unwrap(),
                        Timestamp::now(),
                    )
                    .unwrap()
            };
            assert_eq!(
                count("target:license:lic_12"),
                1,
                "{tenant}: its target rows"
            );
            assert_eq!(
                count("\"licence number 12\""),
                1,
                "{tenant}: its search entries"
            );
            let next = append(&reopened, batch(tenant, [event(999, None)]));
            assert_eq!(
                next[0].seq,
                receipts.len() as u64,
                "{tenant}: its log goes on without a gap"
            );
        }
        assert_eq!(acknowledged["initech"].len(), 12 * 5);
    }

    #[test]
    fn appends_from_several_threads_share_syncs_and_keep_the_log_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        let receipts: Vec<Receipt> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|thread| {
                    let store = &store;
                    scope.spawn(move || {
                        (0..40)
                            .flat_map(|round| {
                                let n = thread * 1_000 + round * 3;
                                append(store, batch("acme", (n..n + 3).map(|n| event(n, None))))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|thread| thread.join().unwrap())
                .collect()
        });
        let mut acknowledged: Vec<(u64, Uuid)> = receipts
            .iter()
            .map(|receipt| (receipt.seq, receipt.id))
            .collect();
        acknowledged.sort();
        let (events, tree_matches) = stored(&store);
        assert_eq!(
            events, acknowledged,
            "each acknowledged event once, under its receipt"
        );
        assert_eq!(
            events.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            (0..480).collect::<Vec<u64>>(),
            "seq without gaps"
        );
        assert!(tree_matches);
    }

    #[test]
    fn a_second_process_cannot_open_the_store_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        let refused = SqliteStore::open(dir.path()).err().unwrap();
        assert!(
            refused.to_string().contains("open in another process"),
            "{refused}"
        );
        SqliteStore::open_read_only(dir.path()).expect("reading it is fine");
        drop(store);
        SqliteStore::open(dir.path()).expect("once it is closed");
    }

    #[test]
    fn a_key_is_known_while_its_event_waits_in_the_journal_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        let held = store.writer.lock().unwrap();
        let first = append(&store, batch("acme", [event(1, Some("k"))]));
        let group = store
            .append(
                &[
                    batch("acme", [event(2, Some("k")), event(3, Some("j"))]),
                    batch("acme", [event(4, Some("j"))]),
                    batch("nobody", [event(5, Some("k"))]),
                ],
                Timestamp::now(),
            )
            .unwrap();
        assert_eq!(
            group[0].as_ref().unwrap()[0],
            first[0],
            "pending: the first receipt"
        );
        let j = group[0].as_ref().unwrap()[1];
        assert_eq!(
            group[1].as_ref().unwrap()[0],
            j,
            "a key from earlier in the same group"
        );
        assert!(matches!(group[2], Err(BatchError::TenantNotFound(_))));
        drop(held);
        let after = append(
            &store,
            batch("acme", [event(6, Some("k")), event(7, Some("j"))]),
        );
        assert_eq!(after, [first[0], j], "applied: the same receipts");
        assert_eq!(stored(&store).0.len(), 2);
    }

    /// A tenant's number.
    fn tenant_no(store: &SqliteStore, tenant: &str) -> i64 {
        store
            .lookup(|connection| {
                let no = connection.query_row(
                    "SELECT no FROM tenants WHERE id = ?1",
                    [tenant],
                    |row| row.get(0),
                )?;
                Ok(no)
            })
            .unwrap()
    }

    /// Acme's events that match `query`, counted (free text from the search index).
    fn count(store: &SqliteStore, query: &str) -> u64 {
        store
            .count(
                &crate::TenantScope::single("acme"),
                &evident_core::query::parse(query).unwrap(),
                Timestamp::now(),
            )
            .unwrap()
    }

    /// A crashed store's two database files, opened as its applier has them.
    fn open_files(dir: &Path) -> (Connection, Connection, DocPacker) {
        let path = dir.join(super::super::DATABASE_FILE);
        let connection = Connection::open(&path).unwrap();
        let search = search::open_writer(&dir.join(search::SEARCH_FILE)).unwrap();
        let dictionaries = super::super::compress::dictionaries(&path);
        super::super::compress::load(&dictionaries, &connection).unwrap();
        let packer = DocPacker::open(&connection, dictionaries).unwrap();
        (connection, search, packer)
    }

    /// The journal's records in `dir` past `applied`.
    fn unapplied(dir: &Path, applied: u64) -> Vec<Vec<u8>> {
        journal::read_payloads(&dir.join(journal::JOURNAL_DIR))
            .unwrap()
            .into_iter()
            .filter(|payload| record_number(payload) > applied)
            .collect()
    }

    /// Both files' marks, each read from a connection of its own.
    fn marks(dir: &Path) -> (u64, Option<u64>) {
        let events = Connection::open(dir.join(super::super::DATABASE_FILE)).unwrap();
        let search = Connection::open(dir.join(search::SEARCH_FILE)).unwrap();
        (
            applied_record(&events).unwrap(),
            search::applied(&search).unwrap(),
        )
    }

    /// While the store runs, the index's transaction and the rows' go side
    /// by side, the rows committing only once the index has: with the index
    /// held, acknowledged events wait unapplied in both files; with the rows
    /// held, the index takes them and commits ahead.
    #[test]
    fn the_running_store_commits_rows_only_after_their_search_entries_and_indexes_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        append(&store, batch("acme", (0..5).map(|n| event(n, None))));
        let ingest = store.ingest().unwrap();
        ingest.caught_up().unwrap();
        let before = marks(dir.path());
        assert_eq!(before.1, Some(before.0));

        // The index's file locked by another writer: nothing is applied.
        let blocker = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        append(
            &store,
            batch("acme", (0..300).map(|n| event(100 + n, None))),
        );
        std::thread::sleep(LINGER * 6);
        assert_eq!(marks(dir.path()), before);
        blocker.execute_batch("ROLLBACK").unwrap();
        ingest.caught_up().unwrap();
        let (events, search) = marks(dir.path());
        assert!(events > before.0);
        assert_eq!(search, Some(events));

        // The rows held (their connection taken): the index commits ahead.
        let held = store.writer.lock().unwrap();
        append(
            &store,
            batch("acme", (0..300).map(|n| event(1000 + n, None))),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while marks(dir.path()).1 == Some(events) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (held_events, held_search) = marks(dir.path());
        assert_eq!(held_events, events);
        assert!(held_search > Some(events), "{held_search:?}");
        drop(held);
        ingest.caught_up().unwrap();
        let (events, search) = marks(dir.path());
        assert_eq!(search, Some(events));
        assert_eq!(Some(events), held_search);
        assert_eq!(store.stats().unwrap().events, 605);
    }

    /// The search index commits before `evident.db`, which commits only
    /// once the index has: an index that cannot commit leaves the events
    /// unapplied too, each file at the mark it had. Transactions of a few
    /// events (written one file after the other) and of hundreds (written
    /// at once) alike.
    #[test]
    fn the_events_commit_only_once_their_search_entries_have() {
        for events_per_append in [7, 300] {
            let dir = tempfile::tempdir().unwrap();
            let store = open_with_tenant(dir.path());
            append(&store, batch("acme", (0..5).map(|n| event(n, None))));
            store.ingest().unwrap().caught_up().unwrap();
            crash_after(store, |store| {
                for round in 0..2 {
                    let events = (0..events_per_append).map(|n| event(1000 * round + n, None));
                    append(store, batch("acme", events));
                }
            });
            let (mut connection, mut search, mut packer) = open_files(dir.path());
            search
                .busy_timeout(std::time::Duration::from_millis(10))
                .unwrap();
            let applied = applied_record(&connection).unwrap();
            let payloads = unapplied(dir.path(), applied);
            let last = record_number(payloads.last().unwrap());
            // Another connection holds the index's write lock: its transaction fails.
            let blocker = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
            blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
            let refused = apply(
                &mut connection,
                &mut search,
                &mut packer,
                &payloads,
                true,
                Marks::QUEUED,
            );
            assert!(refused.is_err(), "{events_per_append} events an append");
            assert_eq!(applied_record(&connection).unwrap(), applied);
            assert_eq!(search::applied(&search).unwrap(), Some(applied));
            blocker.execute_batch("ROLLBACK").unwrap();
            apply(
                &mut connection,
                &mut search,
                &mut packer,
                &payloads,
                true,
                Marks::QUEUED,
            )
            .unwrap();
            assert_eq!(applied_record(&connection).unwrap(), last);
            assert_eq!(search::applied(&search).unwrap(), Some(last));
        }
    }

    /// A crash between the two files' commits leaves one holding records
    /// the other does not: the next open applies to each what it lacks, once.
    #[test]
    fn a_crash_between_the_two_files_commits_is_made_good_in_the_one_that_lacks_them() {
        for events_ahead in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let store = open_with_tenant(dir.path());
            let mut acknowledged = append(&store, batch("acme", (0..5).map(|n| event(n, None))));
            store.ingest().unwrap().caught_up().unwrap();
            crash_after(store, |store| {
                for round in 0..6 {
                    let events = (0..7).map(|n| event(100 + round * 7 + n, None));
                    acknowledged.extend(append(store, batch("acme", events)));
                }
            });
            // The journal's first three records applied to one file only, as
            // if the process had died between the two commits.
            let (mut connection, mut search, mut packer) = open_files(dir.path());
            let applied = applied_record(&connection).unwrap();
            assert_eq!(search::applied(&search).unwrap(), Some(applied));
            let payloads = unapplied(dir.path(), applied);
            assert_eq!(payloads.len(), 6);
            let marks = if events_ahead {
                Marks {
                    events: applied,
                    search: u64::MAX,
                }
            } else {
                Marks {
                    events: u64::MAX,
                    search: applied,
                }
            };
            apply(
                &mut connection,
                &mut search,
                &mut packer,
                &payloads[..3],
                true,
                marks,
            )
            .unwrap();
            assert_ne!(
                applied_record(&connection).unwrap(),
                search::applied(&search).unwrap().unwrap(),
                "the files' marks differ"
            );
            drop((connection, search, packer));

            let reopened = SqliteStore::open(dir.path()).unwrap();
            let (events, tree_matches) = stored(&reopened);
            let expected: Vec<(u64, Uuid)> = acknowledged
                .iter()
                .map(|receipt| (receipt.seq, receipt.id))
                .collect();
            assert_eq!(events, expected, "every acknowledged event, once");
            assert!(tree_matches);
            assert_eq!(
                count(&reopened, "revoked"),
                acknowledged.len() as u64,
                "every event's search entries, once (events ahead: {events_ahead})"
            );
            for n in [0, 100, 120, 141] {
                assert_eq!(count(&reopened, &format!("\"licence number {n}\"")), 1);
            }
        }
    }

    /// The search index commits apart from the events: a read whose search
    /// snapshot holds entries its events' snapshot does not (the index
    /// committed first) counts only the events of the tenant's log.
    #[test]
    fn search_entries_past_a_tenants_log_are_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        append(&store, batch("acme", (0..3).map(|n| event(n, None))));
        assert_eq!(count(&store, "revoked"), 3);
        let tenant_no = tenant_no(&store, "acme");
        let search = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
        search
            .execute(
                "INSERT INTO events_fts (rowid, body) VALUES (?1, 'revoked licence number 7')",
                [event_rowid(tenant_no, 3)],
            )
            .unwrap();
        assert_eq!(count(&store, "revoked"), 3);
        assert_eq!(count(&store, "\"licence number 7\""), 0);
        assert_eq!(count(&store, "\"licence number 2\""), 1);
    }

    /// Target entries are in the search index's file too, committed before
    /// the events: a total counted from them alone stops at each tenant's
    /// own log (two tenants of different sizes), typed or not, alone or with
    /// other targets, and a page with its total agrees with it.
    #[test]
    fn target_entries_past_a_tenants_log_are_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        store
            .create_tenant(&NewTenant {
                id: "globex".to_owned(),
                name: "Globex".to_owned(),
                parent: None,
            })
            .unwrap();
        append(&store, batch("acme", (0..3).map(|n| event(n, None))));
        append(&store, batch("globex", (0..6).map(|n| event(n, None))));
        let search = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
        // Past each log: acme's seq 3 (globex's log is longer), globex's seq 6.
        for (tenant, seq) in [("acme", 3), ("globex", 6)] {
            let tenant_no = tenant_no(&store, tenant);
            for target in ["lic_1", "lic_7"] {
                search
                    .execute(
                        "INSERT INTO event_targets VALUES (?1, ?2, 'license', 0, ?3)",
                        params![tenant_no, target, event_rowid(tenant_no, seq)],
                    )
                    .unwrap();
            }
        }
        let both = crate::TenantScope {
            tenants: vec!["acme".to_owned(), "globex".to_owned()],
        };
        for (query, events) in [
            ("target:license:lic_1", 2),
            ("target:lic_1", 2),
            ("target:license:lic_7", 0),
            ("target:lic_7", 0),
            ("target:license:lic_1,license:lic_7,license:lic_2", 4),
            ("target:license:lic_5", 1),
        ] {
            let filter = evident_core::query::parse(query).unwrap();
            let now = Timestamp::now();
            assert_eq!(store.count(&both, &filter, now).unwrap(), events, "{query}");
            let (page, total) = store
                .query_with_total(&crate::EventQuery {
                    scope: both.clone(),
                    filter,
                    sort: crate::SortOrder::Desc,
                    start: crate::PageStart::Offset(0),
                    limit: 50,
                    now,
                })
                .unwrap();
            assert_eq!((page.len() as u64, total), (events, events), "{query}");
        }
    }

    /// An index that an earlier build wrote, without the targets or without
    /// the identifier terms, is built again with them at the next open
    /// (verification refuses it until then), the targets entry for entry as
    /// they were written; a newer build's is refused.
    #[test]
    fn a_search_index_of_an_earlier_version_is_built_again_with_what_it_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        // One event names a target twice, and two others.
        let mut several = event(9, None);
        let target = |target_type: &str, id: &str| evident_core::Target {
            target_type: target_type.to_owned(),
            id: id.to_owned(),
            name: None,
            email: None,
        };
        several.targets = vec![
            target("license", "lic_9"),
            target("seat", "seat_1"),
            target("license", "lic_9"),
            target("license", "lic_2"),
        ];
        append(
            &store,
            batch("acme", (0..4).map(|n| event(n, None)).chain([several])),
        );
        drop(store);
        let search = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
        let entries = |search: &Connection| {
            super::super::rows(
                search,
                "SELECT * FROM event_targets ORDER BY 1, 2, 3, 4, 5",
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                    ))
                },
            )
        };
        let written = entries(&search);
        assert_eq!(written.len(), 7, "{written:?}");
        search
            .execute_batch("DROP TABLE event_targets; PRAGMA user_version = 0;")
            .unwrap();
        drop(search);
        let refused = SqliteStore::open_read_only(dir.path()).err().unwrap();
        assert!(refused.to_string().contains("search index"), "{refused}");
        let store = SqliteStore::open(dir.path()).unwrap();
        assert!(store.search_index_rebuilt());
        assert_eq!(count(&store, "target:license:lic_2"), 2);
        assert_eq!(count(&store, "target:seat:seat_1"), 1);
        assert_eq!(count(&store, "target:lic_3 revoked"), 1);
        assert_eq!(count(&store, "revoked"), 5);
        drop(store);
        let search = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
        assert_eq!(entries(&search), written, "built again as written");
        drop(search);
        assert!(SqliteStore::open_read_only(dir.path()).is_ok());
        let store = SqliteStore::open(dir.path()).unwrap();
        assert!(!store.search_index_rebuilt());
        drop(store);
        // One of the version before the identifier terms (here emptied, so
        // that nothing but a rebuild finds an event) is built again with them.
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(count(&store, "lic_2"), 2);
        drop(store);
        let search = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
        search
            .execute_batch(
                "INSERT INTO events_fts (events_fts) VALUES ('delete-all'); PRAGMA user_version = 1;",
            )
            .unwrap();
        drop(search);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert!(store.search_index_rebuilt());
        assert_eq!(count(&store, "lic_2"), 2);
        assert_eq!(count(&store, "seat_1 revoked"), 1);
        assert_eq!(count(&store, "revoked"), 5);
        drop(store);
        // A newer build's index is refused, not built again over.
        let search = Connection::open(dir.path().join(search::SEARCH_FILE)).unwrap();
        search
            .pragma_update(None, "user_version", search::VERSION + 1)
            .unwrap();
        drop(search);
        let refused = SqliteStore::open(dir.path()).err().unwrap();
        assert!(refused.to_string().contains("newer build"), "{refused}");
    }

    /// The search index is derived from the events: one that is missing,
    /// behind them with no journal to catch up from, or ahead of them (a
    /// restored copy of `evident.db`) is built again from them at open;
    /// verification refuses a store whose index does not hold its events.
    #[test]
    fn a_search_index_missing_or_from_another_time_is_built_again_from_the_events() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| dir.path().join(name);
        // A closed store's files are whole: SQLite removes a WAL it has copied in.
        let copy = |from: &str, to: &str| {
            assert!(!file(&format!("{from}-wal")).exists());
            std::fs::copy(file(from), file(to)).unwrap();
        };
        let store = open_with_tenant(dir.path());
        append(&store, batch("acme", (0..5).map(|n| event(n, None))));
        drop(store);
        copy(search::SEARCH_FILE, "search-5.db");
        copy(super::super::DATABASE_FILE, "evident-5.db");
        let store = SqliteStore::open(dir.path()).unwrap();
        append(&store, batch("acme", (5..12).map(|n| event(n, None))));
        drop(store);

        // Opens the store and counts what its index finds of every event.
        let reopened = |events: u64, why: &str| {
            let store = SqliteStore::open(dir.path()).unwrap();
            assert_eq!(count(&store, "revoked"), events, "{why}");
            store
        };

        copy("search-5.db", search::SEARCH_FILE);
        let refused = SqliteStore::open_read_only(dir.path()).err().unwrap();
        assert!(refused.to_string().contains("search index"), "{refused}");
        let store = reopened(12, "an index behind is built again");
        assert_eq!(count(&store, "\"licence number 11\""), 1);
        drop(store);
        assert!(SqliteStore::open_read_only(dir.path()).is_ok());

        std::fs::remove_file(file(search::SEARCH_FILE)).unwrap();
        drop(reopened(12, "a missing index is built"));

        copy("evident-5.db", super::super::DATABASE_FILE);
        let store = reopened(5, "an index ahead is built again");
        let receipt = append(&store, batch("acme", [event(99, None)]));
        assert_eq!(receipt[0].seq, 5);
        assert_eq!(count(&store, "\"licence number 5\""), 0);
        assert_eq!(count(&store, "\"licence number 99\""), 1);
        assert_eq!(count(&store, "revoked"), 6);
    }

    #[test]
    fn a_closed_store_leaves_no_journal_and_a_busy_one_keeps_only_what_is_unapplied() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_with_tenant(dir.path());
        for round in 0..40 {
            append(
                &store,
                batch("acme", (0..5).map(|n| event(round * 5 + n, None))),
            );
        }
        stored(&store);
        assert!(
            segments(dir.path()).len() <= 2,
            "applied segments are removed while the store runs: {:?}",
            segments(dir.path())
        );
        drop(store);
        assert!(segments(dir.path()).is_empty());
        assert!(
            !dir.path().join(journal::JOURNAL_DIR).exists(),
            "a clean close leaves no journal directory"
        );
        let reopened = SqliteStore::open(dir.path()).unwrap();
        let (events, tree_matches) = stored(&reopened);
        assert_eq!(events.len(), 200);
        assert!(tree_matches);
    }
}
