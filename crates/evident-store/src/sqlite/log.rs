//! The tenants' Merkle logs in SQLite: complete-subtree nodes keyed by
//! (tenant, level, index), written in the same transaction as the events.

use evident_core::Event;
use evident_core::log::leaf::{Leaf, split};
use evident_core::log::merkle::{Frontier, Hash, Node};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Result, StoreError, TreeHead};

fn hash_of(bytes: Vec<u8>) -> Result<Hash> {
    crate::record::hash32(&bytes, "Merkle node")
}

/// The right edge of a tenant's tree of `size` leaves, from its stored nodes.
pub(super) fn load_frontier(
    connection: &Connection,
    tenant_no: i64,
    size: u64,
) -> Result<Frontier> {
    let mut statement = connection.prepare_cached(
        "SELECT hash FROM merkle_nodes WHERE tenant_no = ?1 AND level = ?2 AND idx = ?3",
    )?;
    let mut hashes = Vec::new();
    for (level, index) in Frontier::node_addresses(size) {
        let bytes: Option<Vec<u8>> = statement
            .query_row(params![tenant_no, level, index as i64], |row| row.get(0))
            .optional()?;
        let bytes = bytes.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tenant {tenant_no}: Merkle node ({level}, {index}) is missing"
            ))
        })?;
        hashes.push(hash_of(bytes)?);
    }
    Frontier::from_hashes(size, &hashes)
        .ok_or_else(|| StoreError::Corrupt("Merkle frontier".to_owned()))
}

pub(super) fn insert_nodes<'n>(
    connection: &Connection,
    tenant_no: i64,
    nodes: impl IntoIterator<Item = &'n Node>,
) -> Result<()> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO merkle_nodes (tenant_no, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for node in nodes {
        statement.execute(params![
            tenant_no,
            node.level,
            node.index as i64,
            node.hash.as_slice()
        ])?;
    }
    Ok(())
}

/// A fresh salt for an event's personal-data side-car.
pub(super) fn new_salt() -> [u8; 16] {
    rand::random()
}

/// The leaf of a stored event.
pub(super) fn leaf_of(event: &Event, salt: &[u8]) -> Result<Leaf> {
    Ok(split(event, crate::record::salt16(salt, event.id)?))
}

/// The size and root of a tenant's tree.
pub(super) fn tree_head(connection: &Connection, tenant_no: i64, size: u64) -> Result<TreeHead> {
    let frontier = load_frontier(connection, tenant_no, size)?;
    Ok(TreeHead {
        tree_size: size,
        root_hash: frontier.root(),
    })
}

/// Extends each tenant's tree over events stored before the log existed
/// (data written by an earlier schema): gives them salts and writes their nodes.
pub(super) fn backfill(connection: &mut Connection) -> Result<()> {
    let transaction = connection.transaction()?;
    let tenants: Vec<(i64, String, String, i64, i64)> = transaction
        .prepare(
            "SELECT no, id, name, next_seq,
                    (SELECT coalesce(max(idx) + 1, 0) FROM merkle_nodes WHERE merkle_nodes.tenant_no = tenants.no AND level = 0)
             FROM tenants",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (tenant_no, id, name, next_seq, logged) in tenants {
        if logged >= next_seq {
            continue;
        }
        tracing::info!(tenant = %id, from = logged, to = next_seq, "building the Merkle log over earlier events");
        let scope = super::ScopeTenants {
            by_no: std::collections::HashMap::from([(tenant_no, (id.clone(), name))]),
            numbers: vec![tenant_no],
        };
        let mut frontier = load_frontier(&transaction, tenant_no, logged as u64)?;
        let mut nodes = Vec::new();
        {
            let mut statement = transaction.prepare(&format!(
                "SELECT {}, salt FROM events WHERE rowid BETWEEN ?1 AND ?2 ORDER BY rowid",
                super::EVENT_COLUMNS
            ))?;
            let mut set_salt =
                transaction.prepare("UPDATE events SET salt = ?1 WHERE rowid = ?2")?;
            let (_, last) = super::schema::tenant_rowids(tenant_no);
            let first = super::schema::event_rowid(tenant_no, logged as u64);
            let mut rows = statement.query(params![first, last])?;
            while let Some(row) = rows.next()? {
                let (event, cursor) = super::event_from_row(row, &scope, false)?;
                let salt = match row.get::<_, Option<Vec<u8>>>(super::EVENT_COLUMN_COUNT)? {
                    Some(salt) => salt,
                    None => {
                        let salt = new_salt().to_vec();
                        set_salt.execute(params![salt, cursor.position])?;
                        salt
                    }
                };
                frontier.push(leaf_of(&event, &salt)?.hash(), &mut nodes);
            }
        }
        insert_nodes(&transaction, tenant_no, &nodes)?;
    }
    transaction.commit()?;
    Ok(())
}

/// A tenant's stored nodes, for the proof functions of evident-core.
pub(super) struct StoredNodes<'c> {
    pub connection: &'c Connection,
    pub tenant_no: i64,
}

impl evident_core::log::merkle::Nodes for StoredNodes<'_> {
    type Error = StoreError;

    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        let bytes: Option<Vec<u8>> = self
            .connection
            .prepare_cached(
                "SELECT hash FROM merkle_nodes WHERE tenant_no = ?1 AND level = ?2 AND idx = ?3",
            )?
            .query_row(params![self.tenant_no, level, index as i64], |row| {
                row.get(0)
            })
            .optional()?;
        hash_of(bytes.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tenant {}: Merkle node ({level}, {index}) is missing",
                self.tenant_no
            ))
        })?)
    }
}
