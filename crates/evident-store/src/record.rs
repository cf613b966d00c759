//! What the backends share: how an event is kept (columns plus a JSON
//! document), rows as read before they are checked, and the few rules of
//! layout that keep their answers the same.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use evident_core::access::Scope;
use evident_core::log::leaf::leaf_hash_of;
use evident_core::view::{ActorView, ContextView, EventView, Metadata, TargetView, optional_text};
use evident_core::{Actor, ActorType, Event, Filter, Outcome, Target};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    ApiKey, Cursor, Result, StoreError, StoredCheckpoint, StoredEvent, Tenant, ViewerLink,
};

/// Bits of an event's position that hold its seq; the tenant's number sits above them.
pub(crate) const SEQ_BITS: u32 = 40;
/// The most tenants the position layout leaves room for (a position is a positive i64).
pub(crate) const MAX_TENANT_NO: i64 = (1 << (63 - SEQ_BITS)) - 1;
/// The most events one tenant's log can hold.
pub(crate) const MAX_SEQ: u64 = (1 << SEQ_BITS) - 1;

/// An event's position, the tie-break of the sort order: `tenant_no << 40 | seq`
/// (in SQLite, its rowid). Within a tenant it follows seq.
pub(crate) fn position(tenant_no: i64, seq: u64) -> i64 {
    (tenant_no << SEQ_BITS) | seq as i64
}

/// The part of an event kept as JSON rather than in columns, as written
/// (borrowed from the event being stored); [`DocView`] reads it back.
#[derive(Serialize)]
pub(crate) struct DocRef<'a> {
    #[serde(skip_serializing_if = "ActorDoc::is_empty")]
    actor: ActorDoc<'a>,
    #[serde(skip_serializing_if = "<[Target]>::is_empty")]
    targets: &'a [Target],
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    metadata: &'a Map<String, Value>,
}

/// What the document keeps of the actor: its type, id and email are columns
/// (the email lowercased), so its name, and its email only when lowercasing
/// changed it. Documents written before kept the whole actor, its type
/// included; [`Checked::view`] reads both.
#[derive(Serialize)]
struct ActorDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

impl<'a> ActorDoc<'a> {
    fn of(actor: &'a Actor) -> Self {
        ActorDoc {
            name: actor.name.as_deref(),
            email: actor
                .email
                .as_deref()
                .filter(|email| lowercasing_changes(email)),
        }
    }

    fn is_empty(&self) -> bool {
        self.name.is_none() && self.email.is_none()
    }
}

fn lowercasing_changes(text: &str) -> bool {
    if text.is_ascii() {
        text.bytes().any(|byte| byte.is_ascii_uppercase())
    } else {
        text.to_lowercase() != text
    }
}

/// The email an actor's column holds: lowercased, so that a filter by email
/// ignores case.
pub(crate) fn email_column(actor: &Actor) -> Option<String> {
    actor.email.as_ref().map(|email| email.to_lowercase())
}

impl DocRef<'_> {
    /// The document of an event as it is appended.
    pub(crate) fn json(event: &evident_core::NewEvent) -> Result<String> {
        let doc = DocRef {
            actor: ActorDoc::of(&event.actor),
            targets: &event.targets,
            user_agent: event.context.user_agent.as_deref(),
            description: event.description.as_deref(),
            metadata: &event.metadata,
        };
        serde_json::to_string(&doc).map_err(|error| StoreError::Corrupt(error.to_string()))
    }
}

/// IPs are stored as 16 bytes (IPv4 as IPv4-mapped IPv6) so that a CIDR is
/// one byte range; SQLite keeps IPv4 addresses as their own 4 bytes
/// ([`compact_ip`]).
pub(crate) fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The first 12 bytes of an IPv4-mapped IPv6 address.
const V4_MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/// The form SQLite's rows keep: an IPv4 address (IPv4-mapped in the 16-byte
/// form) as its 4 bytes, 12 bytes less in the row and again in the IP
/// index; an IPv6 address as its 16.
pub(crate) fn compact_ip(bytes: &[u8; 16]) -> &[u8] {
    match bytes.split_at(12) {
        (head, v4) if head == V4_MAPPED => v4,
        _ => bytes,
    }
}

/// The ranges of [`compact_ip`] forms the addresses of a network take, each
/// as its first and last value (of one length: 4 or 16 bytes). An IPv6
/// network that holds IPv4-mapped addresses also covers those IPv4 addresses.
pub(crate) fn compact_ip_ranges(network: &ipnet::IpNet) -> Vec<(Vec<u8>, Vec<u8>)> {
    let v4_range = |net: Ipv4Net| {
        (
            net.network().octets().to_vec(),
            net.broadcast().octets().to_vec(),
        )
    };
    match network {
        ipnet::IpNet::V4(net) => vec![v4_range(*net)],
        ipnet::IpNet::V6(net) => {
            let mapped = Ipv6Net::new(Ipv4Addr::UNSPECIFIED.to_ipv6_mapped(), 96)
                .expect("a prefix of 96 bits");
            let v4 = if net.prefix_len() <= 96 {
                net.contains(&mapped)
                    .then(|| Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).expect("no prefix"))
            } else {
                net.network()
                    .to_ipv4_mapped()
                    .and_then(|address| Ipv4Net::new(address, net.prefix_len() - 96).ok())
            };
            let mut ranges = vec![(
                net.network().octets().to_vec(),
                net.broadcast().octets().to_vec(),
            )];
            ranges.extend(v4.map(v4_range));
            ranges
        }
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::V4(v4.into()));
    }
    let octets: [u8; 16] = bytes.try_into().ok()?;
    let v6 = Ipv6Addr::from(octets);
    Some(match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    })
}

/// The first and last stored 16-byte forms of a network.
pub(crate) fn ip_range(network: &ipnet::IpNet) -> ([u8; 16], [u8; 16]) {
    (ip_bytes(network.network()), ip_bytes(network.broadcast()))
}

/// Timestamps are kept as microseconds since the epoch.
pub(crate) fn timestamp(micros: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(micros)
        .map_err(|error| StoreError::Corrupt(format!("timestamp {micros}: {error}")))
}

/// Refuses inclusion proofs the tenant's log of `tree_size` leaves cannot give.
pub(crate) fn check_inclusion(indexes: &[u64], size: u64, tree_size: u64) -> Result<()> {
    match indexes
        .iter()
        .find(|index| size > tree_size || **index >= size)
    {
        Some(index) => Err(StoreError::OutOfRange(format!(
            "leaf {index} in a tree of {size} needs index < size <= {tree_size}, the log's size"
        ))),
        None => Ok(()),
    }
}

/// Refuses a consistency proof the tenant's log of `tree_size` leaves cannot give.
pub(crate) fn check_consistency(from: u64, to: u64, tree_size: u64) -> Result<()> {
    if from == 0 || from > to || to > tree_size {
        return Err(StoreError::OutOfRange(format!(
            "a consistency proof needs 0 < from <= to <= {tree_size}, the log's size; got {from} and {to}"
        )));
    }
    Ok(())
}

/// An event's personal-data salt as read: 16 bytes.
pub(crate) fn salt16(bytes: &[u8], event: uuid::Uuid) -> Result<[u8; 16]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("event {event}: salt")))
}

/// A 32-byte hash as read.
pub(crate) fn hash32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a {what} is not 32 bytes")))
}

pub(crate) const TENANT_COLUMNS: &str = "id, name, parent, created_at";

/// A `tenants` row as read, before its timestamps are checked.
pub(crate) struct TenantRow {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub created_at: i64,
}

impl TenantRow {
    pub(crate) fn into_tenant(self) -> Result<Tenant> {
        Ok(Tenant {
            id: self.id,
            name: self.name,
            parent: self.parent,
            created_at: timestamp(self.created_at)?,
        })
    }
}

pub(crate) const KEY_COLUMNS: &str = "id, name, tenant, scopes, created_at, revoked_at";

/// An `api_keys` row as read, before its scopes and timestamps are checked.
pub(crate) struct KeyRow {
    pub id: String,
    pub name: String,
    pub tenant: Option<String>,
    pub scopes: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Scopes as a key row keeps them.
pub(crate) fn scopes_text(scopes: &[Scope]) -> String {
    let names: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
    names.join(",")
}

impl KeyRow {
    pub(crate) fn into_key(self) -> Result<ApiKey> {
        let scopes = self
            .scopes
            .split(',')
            .filter(|scope| !scope.is_empty())
            .map(|scope| {
                Scope::parse(scope)
                    .ok_or_else(|| StoreError::Corrupt(format!("key scope {scope:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ApiKey {
            id: self.id,
            name: self.name,
            tenant: self.tenant,
            scopes,
            created_at: timestamp(self.created_at)?,
            revoked_at: self.revoked_at.map(timestamp).transpose()?,
        })
    }
}

pub(crate) const VIEWER_LINK_COLUMNS: &str = "id, tenant, include_descendants, query, title, created_by, created_at, expires_at, used_at, revoked_at";

/// A `viewer_links` row as read.
pub(crate) struct ViewerLinkRow {
    pub id: String,
    pub tenant: String,
    pub include_descendants: bool,
    pub query: Option<String>,
    pub title: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ViewerLinkRow {
    pub(crate) fn into_link(self) -> Result<ViewerLink> {
        Ok(ViewerLink {
            id: self.id,
            tenant: self.tenant,
            include_descendants: self.include_descendants,
            query: self.query,
            title: self.title,
            created_by: self.created_by,
            created_at: timestamp(self.created_at)?,
            expires_at: timestamp(self.expires_at)?,
            used_at: self.used_at.map(timestamp).transpose()?,
            revoked_at: self.revoked_at.map(timestamp).transpose()?,
        })
    }
}

/// A `checkpoints` row as read: tree size, note, signed at.
pub(crate) struct CheckpointRow(pub i64, pub String, pub i64);

impl CheckpointRow {
    pub(crate) fn into_checkpoint(self) -> Result<StoredCheckpoint> {
        Ok(StoredCheckpoint {
            tree_size: self.0 as u64,
            note: self.1,
            signed_at: timestamp(self.2)?,
        })
    }
}

/// Tenant numbers (the compact key inside event tables) with their ids and names.
pub(crate) struct ScopeTenants {
    pub by_no: HashMap<i64, (String, String)>,
    pub numbers: Vec<i64>,
}

/// A scope resolved to its tenants and a filter with its category clause
/// read as actions: once for both a numbered page and its total.
pub(crate) struct Resolved<'f> {
    pub tenants: ScopeTenants,
    pub filter: std::borrow::Cow<'f, evident_core::Filter>,
}

/// An `events` row as read, borrowed from the driver's row, before it is checked.
pub(crate) struct EventRow<'r> {
    /// Its place in the sort order's tie-break: [`position`] of its tenant and seq.
    pub position: i64,
    pub tenant_no: i64,
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub action: &'r str,
    pub category: &'r str,
    pub actor_type: &'r str,
    pub ip: Option<&'r [u8]>,
    pub channel: Option<&'r str>,
    pub outcome: &'r str,
    /// Its document's JSON, decompressed if it is stored compressed.
    pub doc: Cow<'r, str>,
    pub actor_id: Option<&'r str>,
    pub actor_email: Option<&'r str>,
}

impl EventRow<'_> {
    /// The owned event, with its cursor; its tenant must be one of `tenants`.
    pub(crate) fn to_event(
        &self,
        tenants: &ScopeTenants,
        with_tenant_name: bool,
    ) -> Result<(Event, Cursor)> {
        let (tenant, name) = tenants
            .by_no
            .get(&self.tenant_no)
            .ok_or_else(|| self.corrupt("unknown tenant"))?;
        let view = self.check()?.view(
            tenant,
            with_tenant_name.then_some(name.as_str()),
            [self.action, self.category, &self.doc],
            [self.channel, self.actor_id, self.actor_email],
        )?;
        Ok((view.to_event(), self.cursor()))
    }

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "event {} of tenant {}: {what}",
            self.seq, self.tenant_no
        ))
    }

    fn cursor(&self) -> Cursor {
        Cursor {
            occurred_at_micros: self.occurred_at,
            position: self.position,
        }
    }

    /// The columns that are not text, checked.
    fn check(&self) -> Result<Checked> {
        Ok(Checked {
            seq: u64::try_from(self.seq).map_err(|_| self.corrupt("negative seq"))?,
            id: self.id,
            occurred_at: timestamp(self.occurred_at)?,
            recorded_at: timestamp(self.recorded_at)?,
            actor_type: ActorType::parse(self.actor_type)
                .ok_or_else(|| self.corrupt(&format!("actor type {}", self.actor_type)))?,
            ip: self.ip.and_then(ip_from_bytes),
            outcome: Outcome::parse(self.outcome).ok_or_else(|| self.corrupt("outcome"))?,
        })
    }
}

/// An `events` row with its salt and idempotency key, as a copy of the
/// store or a verifier reads it.
pub(crate) struct StoredRow<'r> {
    pub row: EventRow<'r>,
    pub salt: &'r [u8],
    pub idempotency_key: Option<&'r str>,
}

impl StoredRow<'_> {
    /// The owned event with its salt; its tenant must be one of `tenants`.
    pub(crate) fn to_stored(&self, tenants: &ScopeTenants) -> Result<StoredEvent> {
        let (event, _) = self.row.to_event(tenants, false)?;
        Ok(StoredEvent {
            salt: salt16(self.salt, event.id)?,
            event,
            idempotency_key: self.idempotency_key.map(str::to_owned),
        })
    }

    /// Its seq and its leaf hash, recomputed from a view of the row (the same
    /// hash as from [`StoredRow::to_stored`]'s event: the store contract checks it).
    pub(crate) fn leaf_hash(&self, tenants: &ScopeTenants) -> Result<(u64, [u8; 32])> {
        let row = &self.row;
        let (tenant, _) = tenants
            .by_no
            .get(&row.tenant_no)
            .ok_or_else(|| row.corrupt("unknown tenant"))?;
        let checked = row.check()?;
        let view = checked.view(
            tenant,
            None,
            [row.action, row.category, &row.doc],
            [row.channel, row.actor_id, row.actor_email],
        )?;
        Ok((checked.seq, leaf_hash_of(&view, salt16(self.salt, row.id)?)))
    }
}

/// An event's columns other than its text, checked.
#[derive(Debug, Clone, Copy)]
struct Checked {
    seq: u64,
    id: Uuid,
    occurred_at: Timestamp,
    recorded_at: Timestamp,
    actor_type: ActorType,
    ip: Option<IpAddr>,
    outcome: Outcome,
}

impl Checked {
    /// The event, its document parsed in place, from its text columns: its
    /// action, category and document, and its channel, actor id and actor email.
    fn view<'a>(
        &self,
        tenant: &'a str,
        tenant_name: Option<&'a str>,
        [action, category, doc]: [&'a str; 3],
        [channel, actor_id, actor_email]: [Option<&'a str>; 3],
    ) -> Result<EventView<'a>> {
        let place = || format!("event {} of tenant {tenant}", self.seq);
        let doc: DocView = serde_json::from_str(doc)
            .map_err(|error| StoreError::Corrupt(format!("{}: {error}", place())))?;
        let actor = match doc.actor.actor_type {
            // A document written before the actor's columns were read back
            // holds the whole actor.
            Some(actor_type) if actor_type != self.actor_type => {
                return Err(StoreError::Corrupt(format!(
                    "{}: actor type {} in its column, {} in its document",
                    place(),
                    self.actor_type.as_str(),
                    actor_type.as_str()
                )));
            }
            Some(actor_type) => ActorView {
                actor_type,
                id: doc.actor.id,
                name: doc.actor.name,
                email: doc.actor.email,
            },
            None => ActorView {
                actor_type: self.actor_type,
                id: actor_id.map(Cow::Borrowed),
                name: doc.actor.name,
                email: doc.actor.email.or(actor_email.map(Cow::Borrowed)),
            },
        };
        Ok(EventView {
            id: self.id,
            tenant,
            tenant_name,
            seq: self.seq,
            recorded_at: self.recorded_at,
            occurred_at: self.occurred_at,
            action,
            category,
            actor,
            targets: doc.targets,
            context: ContextView {
                ip: self.ip,
                user_agent: doc.user_agent,
            },
            channel,
            outcome: self.outcome,
            description: doc.description,
            metadata: Metadata::Stored(doc.metadata),
            display: None,
        })
    }
}

/// [`DocRef`] as read, borrowing from the stored JSON.
#[derive(Deserialize)]
struct DocView<'a> {
    #[serde(borrow, default)]
    actor: ActorDocView<'a>,
    #[serde(borrow, default)]
    targets: Vec<TargetView<'a>>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

/// [`ActorDoc`] as read; the type, id and email of documents written before it.
#[derive(Deserialize, Default)]
struct ActorDocView<'a> {
    #[serde(rename = "type", default)]
    actor_type: Option<ActorType>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    email: Option<Cow<'a, str>>,
}

/// A byte range of a [`RawPage`]'s text.
#[derive(Debug, Clone, Copy)]
struct Span(u32, u32);

/// One event of a [`RawPage`]: its checked columns, its text as spans.
#[derive(Debug, Clone, Copy)]
struct RawRow {
    /// Index into the page's tenants.
    tenant: usize,
    columns: Checked,
    action: Span,
    category: Span,
    /// Channel, actor id, actor email.
    optional: [Option<Span>; 3],
    doc: Span,
}

/// A page of events as stored: each event's columns, checked, and its JSON
/// document, kept as read in one buffer and parsed only as each event is
/// viewed ([`RawPage::event`]). An export writes millions of rows from these
/// with a few allocations per page rather than some thirty per event.
#[derive(Debug, Default)]
pub struct RawPage {
    text: String,
    rows: Vec<RawRow>,
    /// The tenants the rows belong to: id, and name when the view spans several.
    tenants: Vec<(String, Option<String>)>,
    tenant_index: HashMap<i64, usize>,
    /// Present when more events follow.
    pub next_cursor: Option<Cursor>,
}

impl RawPage {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The tenant and seq of event `index`.
    pub fn place(&self, index: usize) -> (&str, u64) {
        let row = &self.rows[index];
        (&self.tenants[row.tenant].0, row.columns.seq)
    }

    fn span(&self, span: Span) -> &str {
        &self.text[span.0 as usize..span.1 as usize]
    }

    /// Event `index`, its document parsed as a borrowing view.
    pub fn event(&self, index: usize) -> Result<EventView<'_>> {
        let row = &self.rows[index];
        let (tenant, tenant_name) = &self.tenants[row.tenant];
        row.columns.view(
            tenant,
            tenant_name.as_deref(),
            [row.action, row.category, row.doc].map(|span| self.span(span)),
            row.optional.map(|span| span.map(|span| self.span(span))),
        )
    }

    /// Every event of the page, owned.
    pub fn events(&self) -> Result<Vec<Event>> {
        (0..self.len())
            .map(|index| Ok(self.event(index)?.to_event()))
            .collect()
    }

    /// Keeps the events for which `keep(tenant, seq)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, u64) -> bool) {
        let tenants = &self.tenants;
        self.rows
            .retain(|row| keep(&tenants[row.tenant].0, row.columns.seq));
    }

    fn push_text(&mut self, text: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(text);
        Span(start, self.text.len() as u32)
    }

    /// Appends a row read from the store (its tenant one of `tenants`), and
    /// gives its cursor.
    pub(crate) fn push(
        &mut self,
        row: &EventRow<'_>,
        tenants: &ScopeTenants,
        with_tenant_name: bool,
    ) -> Result<Cursor> {
        let tenant = match self.tenant_index.get(&row.tenant_no) {
            Some(index) => *index,
            None => {
                let (id, name) = tenants
                    .by_no
                    .get(&row.tenant_no)
                    .ok_or_else(|| row.corrupt("unknown tenant"))?;
                self.tenants
                    .push((id.clone(), with_tenant_name.then(|| name.clone())));
                self.tenant_index
                    .insert(row.tenant_no, self.tenants.len() - 1);
                self.tenants.len() - 1
            }
        };
        let checked = RawRow {
            tenant,
            columns: row.check()?,
            action: self.push_text(row.action),
            category: self.push_text(row.category),
            optional: [row.channel, row.actor_id, row.actor_email]
                .map(|text| text.map(|text| self.push_text(text))),
            doc: self.push_text(&row.doc),
        };
        self.rows.push(checked);
        Ok(row.cursor())
    }
}

/// Fills a [`RawPage`] of up to `limit` events from rows read one past it, so
/// that the last row says whether more follow.
pub(crate) struct PageBuilder<'t> {
    page: RawPage,
    last: Option<Cursor>,
    limit: usize,
    tenants: &'t ScopeTenants,
    with_tenant_name: bool,
}

impl<'t> PageBuilder<'t> {
    pub(crate) fn new(limit: u32, tenants: &'t ScopeTenants, with_tenant_name: bool) -> Self {
        PageBuilder {
            page: RawPage::default(),
            last: None,
            limit: limit as usize,
            tenants,
            with_tenant_name,
        }
    }

    /// Takes the next row; false once the page is full (this row is past it).
    pub(crate) fn offer(&mut self, row: &EventRow<'_>) -> Result<bool> {
        if self.page.len() == self.limit {
            self.page.next_cursor = self.last;
            return Ok(false);
        }
        self.last = Some(self.page.push(row, self.tenants, self.with_tenant_name)?);
        Ok(true)
    }

    pub(crate) fn finish(self) -> RawPage {
        self.page
    }
}

/// Most exact actions whose pages are read one action at a time.
const MAX_ACTION_BRANCHES: usize = 8;

/// A filter whose one positive action clause lists several exact actions,
/// split into one filter per action. Each branch then reads its own range of
/// the action index in sort order and the branches are merged, so a page
/// costs about a page however rare the actions are, where one `action IN (…)`
/// walks the time index until enough of them turn up (or fetches every one
/// of them and sorts).
pub(crate) fn action_branches(filter: &Filter) -> Option<Vec<Filter>> {
    let mut actions = filter.clauses.iter().enumerate().filter(|(_, clause)| {
        !clause.negated && matches!(clause.condition, evident_core::Condition::Action(_))
    });
    let (position, clause) = actions.next()?;
    if actions.next().is_some() {
        return None;
    }
    let evident_core::Condition::Action(names) = &clause.condition else {
        return None;
    };
    let mut names: Vec<&String> = names.iter().collect();
    names.sort();
    names.dedup();
    if names.len() < 2
        || names.len() > MAX_ACTION_BRANCHES
        || names.iter().any(|name| name.contains('*'))
    {
        return None;
    }
    Some(
        names
            .into_iter()
            .map(|name| {
                let mut branch = filter.clone();
                branch.clauses[position].condition =
                    evident_core::Condition::Action(vec![name.clone()]);
                branch
            })
            .collect(),
    )
}
