//! Persistence for Evident: the [`Store`] trait, its contract, and its
//! backends: SQLite (embedded, the default) and PostgreSQL (feature
//! `postgres`, on by default), which several servers may share.
//!
//! **Architecture Invariant:** the store never sees a signing key or a raw API
//! key (only SHA-256 hashes), and it never validates events: it receives
//! `NewEvent`s that evident-core has validated and redacted.
//!
//! # The contract
//!
//! Every backend passes the one suite in `tests/contract.rs`, and both give
//! the same answers to one table of queries (`tests/same_answers.rs`):
//!
//! - [`Store::append`] stores a group of batches durably: as one synced
//!   record of an ingest journal, applied to the database behind it (SQLite),
//!   or in one transaction per write connection with each tenant's batches in
//!   one (PostgreSQL). When it returns `Ok`, the events are on disk, and every
//!   later read sees them. Each batch is all or nothing on its own (a batch
//!   for an unknown tenant fails alone). Each tenant's events get `seq` 0, 1,
//!   2, … without gaps, assigned in that same write. An event whose `idempotency_key` the tenant has seen
//!   before is not stored again: its receipt is the first one. Receipts come
//!   in input order.
//! - Queries ([`Store::query`], [`Store::count`], [`Store::get`]) see only the
//!   tenants of their [`TenantScope`]; sorting is by `occurred_at`, ties by
//!   arrival order (which within a tenant is `seq` order); keyset cursors
//!   visit every event that existed when paging began exactly once.
//! - Tenants form a forest: a parent must exist when a child is created and
//!   neither ids nor parents change afterwards, so there are no cycles.
//! - Keys are stored as hashes; a revoked key is never returned as active.
//! - Each tenant's events are the leaves of a Merkle tree (RFC 9162) whose
//!   complete subtrees are written with the events: the tree head for a size
//!   is known as soon as the append returns.

mod categories;
mod compress;
pub mod copy;
mod days;
mod leaf_packs;
mod pool;
#[cfg(feature = "postgres")]
pub mod postgres;
mod record;
pub mod sqlite;
mod threads;

pub use record::RawPage;

use std::collections::HashMap;

use evident_core::access::Scope;
use evident_core::{Event, Filter, NewEvent};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tenant {0:?} already exists")]
    TenantExists(String),
    #[error("tenant {0:?} does not exist")]
    TenantNotFound(String),
    #[error("key {0:?} does not exist")]
    KeyNotFound(String),
    #[error("viewer link {0:?} does not exist")]
    ViewerLinkNotFound(String),
    #[error("the cursor is not one this server issued")]
    InvalidCursor,
    /// A proof asked for sizes or an index the log does not have.
    #[error("{0}")]
    OutOfRange(String),
    #[error(
        "the store was written by a newer Evident (schema version {found}; this build knows up to {known}); upgrade Evident"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error(
        "the store is at schema version {found}, older than this build's {known}: run `evident migrate` on it first"
    )]
    SchemaTooOld { found: i64, known: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The error with its causes in its message (a PostgreSQL error's own
    /// message is only its kind: "db error", "error connecting to server").
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL: {}", postgres::describe(.0))]
    Postgres(::postgres::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(feature = "postgres")]
impl From<::postgres::Error> for StoreError {
    fn from(error: ::postgres::Error) -> Self {
        StoreError::Postgres(error)
    }
}

/// A tenant as stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A tenant to create; the caller has validated id and name.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
}

/// An API key's record: never the key itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// None: operator-wide.
    pub tenant: Option<String>,
    pub scopes: Vec<Scope>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
}

/// A key to store: its SHA-256 hash, never the key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub tenant: Option<String>,
    pub scopes: Vec<Scope>,
    pub hash: [u8; 32],
}

/// A link that signs its holder in to one tenant's audit log page, read-only.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerLink {
    pub id: String,
    pub tenant: String,
    /// Whether the holder may also see the tenant's sub-accounts.
    pub include_descendants: bool,
    /// A filter (query language) ANDed with whatever the holder chooses.
    pub query: Option<String>,
    pub title: Option<String>,
    /// The key that made it.
    pub created_by: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    /// When it started a session; a link starts one session only.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub used_at: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
}

impl ViewerLink {
    /// Whether a session it started may still read: unrevoked and unexpired.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A viewer link to store: the SHA-256 of its token, never the token.
#[derive(Debug, Clone)]
pub struct NewViewerLink {
    pub id: String,
    pub tenant: String,
    pub token_hash: [u8; 32],
    pub include_descendants: bool,
    pub query: Option<String>,
    pub title: Option<String>,
    pub created_by: String,
    pub expires_at: Timestamp,
}

/// The events of one ingest request for one tenant.
#[derive(Debug, Clone)]
pub struct AppendBatch {
    pub tenant: String,
    pub events: Vec<NewEvent>,
}

/// What an acknowledged event got from the store.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: Uuid,
    pub seq: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: Timestamp,
}

/// Why one batch of a group was refused (the others still commit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("tenant {0:?} does not exist")]
    TenantNotFound(String),
    /// The transaction that held this batch failed; nothing of it was stored.
    /// (A backend that commits one group in several transactions refuses only
    /// the batches of the one that failed.)
    #[error("storing failed: {0}")]
    Failed(String),
}

/// A batch's refusal where a single batch was asked for (a copy's import).
impl From<BatchError> for StoreError {
    fn from(error: BatchError) -> Self {
        match error {
            BatchError::TenantNotFound(tenant) => StoreError::TenantNotFound(tenant),
            BatchError::Failed(message) => StoreError::Io(std::io::Error::other(message)),
        }
    }
}

/// The tenants a query may see: one, or a tenant with its descendants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    /// Non-empty. The first is the tenant the request named.
    pub tenants: Vec<String>,
}

impl TenantScope {
    pub fn single(tenant: impl Into<String>) -> TenantScope {
        TenantScope {
            tenants: vec![tenant.into()],
        }
    }

    pub fn spans_several(&self) -> bool {
        self.tenants.len() > 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Newest first.
    #[default]
    Desc,
    Asc,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStart {
    First,
    /// Keyset: after the event the cursor names (in sort order).
    After(Cursor),
    /// Numbered pages: skip this many events.
    Offset(u64),
}

/// A position in a sorted event list: opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub occurred_at_micros: i64,
    /// Arrival order across tenants; within one tenant it follows `seq`.
    pub position: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        let text = format!("{}.{}", self.occurred_at_micros, self.position);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    pub fn decode(text: &str) -> Result<Cursor> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        let (occurred, position) = text.split_once('.').ok_or(StoreError::InvalidCursor)?;
        Ok(Cursor {
            occurred_at_micros: occurred.parse().map_err(|_| StoreError::InvalidCursor)?,
            position: position.parse().map_err(|_| StoreError::InvalidCursor)?,
        })
    }
}

/// One page request.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub scope: TenantScope,
    pub filter: Filter,
    pub sort: SortOrder,
    pub start: PageStart,
    pub limit: u32,
    /// What relative times (`from:7d`) are measured from.
    pub now: Timestamp,
}

/// One page of events.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Present when more events follow.
    pub next_cursor: Option<Cursor>,
}

/// A whole filtered view, read for an export.
#[derive(Debug, Clone)]
pub struct ExportView {
    pub scope: TenantScope,
    pub filter: Filter,
    pub sort: SortOrder,
    pub now: Timestamp,
    /// Each tenant's log size when the export began: its events from that seq
    /// on are left out, so that the export reads one snapshot however long it runs.
    pub sizes: HashMap<String, u64>,
}

/// Events an export reads per page.
pub const EXPORT_PAGE: u32 = 1000;

/// A tenant log's size and root hash (RFC 9162 tree head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub tree_size: u64,
    pub root_hash: [u8; 32],
}

/// A signed checkpoint as kept.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    /// The signed note (C2SP tlog-checkpoint body with signature lines).
    pub note: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub signed_at: Timestamp,
}

/// An event as a store keeps it, with what its leaf and its idempotency
/// need: what a copy to another store writes again unchanged.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event: Event,
    pub salt: [u8; 16],
    pub idempotency_key: Option<String>,
}

impl StoredEvent {
    /// Its id, salt and recorded time, once its seq is checked to be `next_seq`,
    /// where the copy's log of its tenant stands.
    pub(crate) fn fixed(&self, next_seq: u64) -> Result<(Uuid, [u8; 16], Timestamp)> {
        if self.event.seq != next_seq {
            return Err(StoreError::OutOfRange(format!(
                "a copied event has seq {} where tenant {}'s log continues at {next_seq}",
                self.event.seq, self.event.tenant
            )));
        }
        Ok((self.event.id, self.salt, self.event.recorded_at))
    }

    /// The event as it was appended (for a backend's append path).
    pub(crate) fn as_new(&self) -> NewEvent {
        let event = &self.event;
        NewEvent {
            action: event.action.clone(),
            category: event.category.clone(),
            occurred_at: event.occurred_at,
            actor: event.actor.clone(),
            targets: event.targets.clone(),
            context: event.context.clone(),
            channel: event.channel.clone(),
            outcome: event.outcome,
            description: event.description.clone(),
            metadata: event.metadata.clone(),
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

/// A store's tables apart from the events and their logs, whole: what a
/// copy to another store writes first. Hashes are copied, never keys.
#[derive(Debug, Clone, Default)]
pub struct StoreMetadata {
    /// In creation order: a parent before its children.
    pub tenants: Vec<Tenant>,
    pub keys: Vec<(ApiKey, [u8; 32])>,
    /// (tenant, body) of catalog additions.
    pub catalogs: Vec<(String, String)>,
    /// (tenant, body) of page settings.
    pub ui_settings: Vec<(String, String)>,
    pub viewer_links: Vec<(ViewerLink, [u8; 32])>,
    /// Page sessions ended by signing out: (cookie hash, expiry).
    pub ended_sessions: Vec<([u8; 32], Timestamp)>,
    /// (tenant, checkpoint), each as signed.
    pub checkpoints: Vec<(String, StoredCheckpoint)>,
}

/// Size figures for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    pub events: u64,
    pub bytes_on_disk: u64,
}

/// The persistence contract (see the crate docs). Methods block: the server
/// calls them from its writer thread or from blocking tasks.
pub trait Store: Send + Sync + 'static {
    fn create_tenant(&self, tenant: &NewTenant) -> Result<Tenant>;
    fn tenant(&self, id: &str) -> Result<Option<Tenant>>;
    fn tenants(&self) -> Result<Vec<Tenant>>;
    fn rename_tenant(&self, id: &str, name: &str) -> Result<Tenant>;
    /// The tenant followed by all its descendants (any depth); empty if it does not exist.
    fn subtree(&self, id: &str) -> Result<Vec<String>>;

    fn create_key(&self, key: &NewApiKey) -> Result<ApiKey>;
    fn keys(&self) -> Result<Vec<ApiKey>>;
    /// The active (not revoked) key with this hash, and the stored hash for a constant-time check.
    fn active_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<(ApiKey, [u8; 32])>>;
    /// Revokes a key; revoking twice is fine. Errors if the key does not exist.
    fn revoke_key(&self, id: &str) -> Result<ApiKey>;
    /// The key with this id, revoked or not.
    fn key(&self, id: &str) -> Result<Option<ApiKey>>;

    fn create_viewer_link(&self, link: &NewViewerLink) -> Result<ViewerLink>;
    fn viewer_link(&self, id: &str) -> Result<Option<ViewerLink>>;
    /// A tenant's viewer links, newest first.
    fn viewer_links(&self, tenant: &str) -> Result<Vec<ViewerLink>>;
    /// Uses up the link with this token hash, if it is unused, unrevoked and
    /// not expired at `now`: at most one caller ever gets it back.
    fn redeem_viewer_link(
        &self,
        token_hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ViewerLink>>;
    /// Revokes a link and ends the session it started; twice is fine. Errors if it does not exist.
    fn revoke_viewer_link(&self, id: &str) -> Result<ViewerLink>;

    /// How many [`Store::append`] calls the writer may run at once (each
    /// still durable on its own return): more than one where one append can
    /// prepare its group while another's is being synced.
    fn concurrent_appends(&self) -> usize {
        1
    }

    /// Stores a group of batches durably, each batch all or nothing (see the crate docs).
    fn append(
        &self,
        batches: &[AppendBatch],
        recorded_at: Timestamp,
    ) -> Result<Vec<Result<Vec<Receipt>, BatchError>>>;
    fn query(&self, query: &EventQuery) -> Result<EventPage>;
    fn count(&self, scope: &TenantScope, filter: &Filter, now: Timestamp) -> Result<u64>;
    /// A page (as stored, like [`Store::raw_page`]) and the exact total of the
    /// same filter, read from one snapshot so that they agree even while
    /// events are being appended.
    fn query_with_total(&self, query: &EventQuery) -> Result<(RawPage, u64)>;
    fn get(&self, scope: &TenantScope, id: Uuid) -> Result<Option<Event>>;

    /// A page of [`Store::query`], its events as stored: read by exports,
    /// which parse each event's document only as they write it.
    fn raw_page(&self, query: &EventQuery) -> Result<RawPage>;

    /// Every event of the view in its sort order, as the pages of [`Store::query`]
    /// give them, handed to `each` a page at a time until it returns false.
    /// Each page is read on its own (no read transaction stays open for the
    /// whole export); the view's `sizes` keep later events out.
    fn export(&self, view: &ExportView, each: &mut dyn FnMut(RawPage) -> bool) -> Result<()> {
        let mut query = EventQuery {
            scope: view.scope.clone(),
            filter: view.filter.clone(),
            sort: view.sort,
            start: PageStart::First,
            limit: EXPORT_PAGE,
            now: view.now,
        };
        loop {
            let mut page = self.raw_page(&query)?;
            let next = page.next_cursor;
            page.retain(|tenant, seq| view.sizes.get(tenant).is_some_and(|size| seq < *size));
            if !page.is_empty() && !each(page) {
                return Ok(());
            }
            match next {
                Some(cursor) => query.start = PageStart::After(cursor),
                None => return Ok(()),
            }
        }
    }
    fn stats(&self) -> Result<StoreStats>;

    /// The tenant's tree head (size 0: the empty tree); None if the tenant does not exist.
    fn tree_head(&self, tenant: &str) -> Result<Option<TreeHead>>;
    /// The inclusion proof of leaf `index` in the tenant's tree of `size` leaves (RFC 9162 order);
    /// None if the tenant does not exist.
    fn inclusion_proof(
        &self,
        tenant: &str,
        index: u64,
        size: u64,
    ) -> Result<Option<Vec<[u8; 32]>>> {
        Ok(self
            .inclusion_proofs(tenant, &[index], size)?
            .and_then(|mut proofs| proofs.pop()))
    }
    /// The inclusion proofs of several leaves in the tree of `size` leaves, in
    /// the order given (as [`Store::inclusion_proof`] gives each), read in one
    /// snapshot; None if the tenant does not exist.
    fn inclusion_proofs(
        &self,
        tenant: &str,
        indexes: &[u64],
        size: u64,
    ) -> Result<Option<Vec<Vec<[u8; 32]>>>>;
    /// The consistency proof between the tenant's trees of `from` and `to` leaves.
    fn consistency_proof(&self, tenant: &str, from: u64, to: u64) -> Result<Option<Vec<[u8; 32]>>>;
    /// The stored leaf hashes (level-0 nodes) of the tenant's tree, by index.
    fn leaf_hashes(&self, tenant: &str) -> Result<Vec<(u64, [u8; 32])>>;
    /// At most `limit` leaves (leaf object and side-car) of the tenant's events
    /// from `from_seq`, in seq order: those of [`Store::stored_events`].
    fn leaves(
        &self,
        tenant: &str,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<evident_core::log::leaf::Leaf>> {
        Ok(self
            .stored_events(tenant, from_seq, limit)?
            .iter()
            .map(|stored| evident_core::log::leaf::split(&stored.event, stored.salt))
            .collect())
    }

    /// The leaf hash recomputed from each of the events [`Store::leaves`] returns
    /// (same rows, same order), with its seq: what a verifier compares with the
    /// tree. Each row is hashed from a view of it, without an owned event.
    fn event_leaf_hashes(
        &self,
        tenant: &str,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, [u8; 32])>>;

    /// Keeps a signed checkpoint of the tenant's log (one per tree size; a second for the same size is ignored).
    fn add_checkpoint(&self, tenant: &str, tree_size: u64, note: &str) -> Result<()>;
    /// The tenant's signed checkpoints with tree size ≥ `from_size`, smallest first.
    fn checkpoints(&self, tenant: &str, from_size: u64) -> Result<Vec<StoredCheckpoint>>;
    /// The tenant's checkpoint with the largest tree size.
    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<StoredCheckpoint>>;

    /// Sets (replaces) a tenant's catalog additions, stored as given (JSON).
    fn put_tenant_catalog(&self, tenant: &str, body: &str) -> Result<()>;
    /// Every tenant's catalog additions: (tenant, body).
    fn tenant_catalogs(&self) -> Result<Vec<(String, String)>>;

    /// Ends a page session before its cookie expires (sign-out): keeps the
    /// cookie's SHA-256 until `expires_at`, and forgets those past theirs.
    fn end_session(&self, token_hash: &[u8; 32], expires_at: Timestamp) -> Result<()>;
    /// Whether the page session with this cookie hash was ended.
    fn session_ended(&self, token_hash: &[u8; 32]) -> Result<bool>;

    /// Every table but the events and their logs (see [`StoreMetadata`]).
    fn metadata(&self) -> Result<StoreMetadata>;
    /// Writes another store's metadata into this one, which must hold no
    /// tenant yet, keeping every id, hash and time.
    fn import_metadata(&self, metadata: &StoreMetadata) -> Result<()>;
    /// At most `limit` of a tenant's events from `from_seq`, in seq order, as
    /// kept; from 0, also stored rows of the tenant that the store did not
    /// write where it writes events (a verifier reports them), first.
    fn stored_events(&self, tenant: &str, from_seq: u64, limit: u32) -> Result<Vec<StoredEvent>>;
    /// Appends events copied from another store with their own seq (which must
    /// continue this store's log of the tenant), id, times and salt, growing
    /// the tenant's tree as an append does.
    fn import_events(&self, tenant: &str, events: &[StoredEvent]) -> Result<()>;

    /// Sets (replaces) a tenant's audit log page settings, stored as given (JSON).
    fn put_tenant_ui(&self, tenant: &str, body: &str) -> Result<()>;
    /// A tenant's audit log page settings, if set.
    fn tenant_ui(&self, tenant: &str) -> Result<Option<String>>;
}
