//! What the backends share: how an event is kept (columns plus a JSON
//! document), rows as read before they are checked, and the few rules of
//! layout that keep their answers the same.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use evident_core::access::Scope;
use evident_core::{Actor, ActorType, Context, Event, Filter, Outcome, Target};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{ApiKey, Cursor, Result, StoreError, StoredCheckpoint, Tenant, ViewerLink};

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

/// The part of an event kept as JSON rather than in columns (as read).
#[derive(Deserialize)]
pub(crate) struct Doc {
    actor: Actor,
    #[serde(default)]
    targets: Vec<Target>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
}

/// [`Doc`] as written, borrowed from the event being stored.
#[derive(Serialize)]
pub(crate) struct DocRef<'a> {
    actor: &'a Actor,
    #[serde(skip_serializing_if = "<[Target]>::is_empty")]
    targets: &'a [Target],
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    metadata: &'a Map<String, Value>,
}

impl DocRef<'_> {
    /// The document of an event as it is appended.
    pub(crate) fn json(event: &evident_core::NewEvent) -> Result<String> {
        let doc = DocRef {
            actor: &event.actor,
            targets: &event.targets,
            user_agent: event.context.user_agent.as_deref(),
            description: event.description.as_deref(),
            metadata: &event.metadata,
        };
        serde_json::to_string(&doc).map_err(|error| StoreError::Corrupt(error.to_string()))
    }
}

/// IPs are stored as 16 bytes (IPv4 as IPv4-mapped IPv6) so that a CIDR is one byte range.
pub(crate) fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
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
pub(crate) fn hash32(bytes: Vec<u8>, what: &str) -> Result<[u8; 32]> {
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

/// An `events` row as read, before it is checked and made an [`Event`].
pub(crate) struct EventRow {
    /// Its place in the sort order's tie-break: [`position`] of its tenant and seq.
    pub position: i64,
    pub tenant_no: i64,
    pub seq: i64,
    pub id: Vec<u8>,
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub action: String,
    pub category: String,
    pub actor_type: String,
    pub ip: Option<Vec<u8>>,
    pub channel: Option<String>,
    pub outcome: String,
    pub doc: String,
}

impl EventRow {
    /// The event, with its cursor; its tenant must be one of `tenants`.
    pub(crate) fn into_event(
        self,
        tenants: &ScopeTenants,
        with_tenant_name: bool,
    ) -> Result<(Event, Cursor)> {
        let place = format!("event {} of tenant {}", self.seq, self.tenant_no);
        let (tenant, tenant_name) = tenants
            .by_no
            .get(&self.tenant_no)
            .ok_or_else(|| StoreError::Corrupt(format!("{place}: unknown tenant")))?;
        let doc: Doc = serde_json::from_str(&self.doc)
            .map_err(|error| StoreError::Corrupt(format!("{place}: {error}")))?;
        if ActorType::parse(&self.actor_type) != Some(doc.actor.actor_type) {
            return Err(StoreError::Corrupt(format!(
                "{place}: actor type {}",
                self.actor_type
            )));
        }
        let seq = u64::try_from(self.seq)
            .map_err(|_| StoreError::Corrupt(format!("{place}: negative seq")))?;
        let event = Event {
            id: Uuid::from_slice(&self.id)
                .map_err(|error| StoreError::Corrupt(format!("{place} id: {error}")))?,
            tenant: tenant.clone(),
            tenant_name: with_tenant_name.then(|| tenant_name.clone()),
            seq,
            recorded_at: timestamp(self.recorded_at)?,
            occurred_at: timestamp(self.occurred_at)?,
            action: self.action,
            category: self.category,
            actor: doc.actor,
            targets: doc.targets,
            context: Context {
                ip: self.ip.as_deref().and_then(ip_from_bytes),
                user_agent: doc.user_agent,
            },
            channel: self.channel,
            outcome: Outcome::parse(&self.outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("{place}: outcome")))?,
            description: doc.description,
            metadata: doc.metadata,
            display: None,
        };
        Ok((
            event,
            Cursor {
                occurred_at_micros: self.occurred_at,
                position: self.position,
            },
        ))
    }
}

/// Most exact actions whose pages are read one action at a time.
const MAX_ACTION_BRANCHES: usize = 8;

/// A filter whose one positive action clause lists several exact actions,
/// split into one filter per action. Each branch then reads its own range of
/// the action index in sort order, so a page costs a page per action however
/// rare the actions are, where one `action IN (…)` walks the time index until
/// enough of them turn up (or fetches every one of them and sorts).
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
