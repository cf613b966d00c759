//! The tenants' Merkle logs in SQLite, written in the same transaction as
//! the events: each tenant's leaf hashes in packs ([`crate::leaf_packs`],
//! `merkle_leaves`), the levels above [`PACKED_LEVELS`] kept by (tenant,
//! level, index) in `merkle_nodes`.

use std::cell::RefCell;

use evident_core::Event;
use evident_core::log::leaf::{Leaf, split};
use evident_core::log::merkle::{Frontier, Hash, Node, Nodes};
use rusqlite::{Connection, OptionalExtension, params};

use crate::leaf_packs::{LEAVES_PER_PACK, PACKED_LEVELS, leaves_of, node_in_pack, pack_of};
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
    let nodes = StoredNodes::new(connection, tenant_no);
    let hashes = Frontier::node_addresses(size)
        .into_iter()
        .map(|(level, index)| nodes.node(level, index))
        .collect::<Result<Vec<Hash>>>()?;
    Frontier::from_hashes(size, &hashes)
        .ok_or_else(|| StoreError::Corrupt("Merkle frontier".to_owned()))
}

/// The hashes of a tenant's pack of leaves (empty when it has none yet).
fn pack(connection: &Connection, tenant_no: i64, pack: u64) -> Result<Vec<u8>> {
    Ok(connection
        .prepare_cached("SELECT hashes FROM merkle_leaves WHERE tenant_no = ?1 AND pack = ?2")?
        .query_row(params![tenant_no, pack as i64], |row| row.get(0))
        .optional()?
        .unwrap_or_default())
}

/// Every leaf hash of a tenant by index, read pack by pack.
pub(super) fn leaf_hashes(connection: &Connection, tenant_no: i64) -> Result<Vec<(u64, Hash)>> {
    let mut statement = connection.prepare_cached(
        "SELECT pack, hashes FROM merkle_leaves WHERE tenant_no = ?1 ORDER BY pack",
    )?;
    let mut rows = statement.query([tenant_no])?;
    let mut hashes = Vec::new();
    while let Some(row) = rows.next()? {
        let bytes = row
            .get_ref(1)?
            .as_blob()
            .map_err(|error| StoreError::Corrupt(format!("a pack of leaf hashes: {error}")))?;
        hashes.extend(leaves_of(row.get::<_, i64>(0)? as u64, bytes)?);
    }
    Ok(hashes)
}

/// Stores the nodes a tenant's appended leaves completed: the leaves into
/// their packs (a pack begun in an earlier transaction is read and
/// extended), the levels above [`PACKED_LEVELS`] as rows of their own.
pub(super) fn insert_nodes<'n>(
    connection: &Connection,
    tenant_no: i64,
    nodes: impl IntoIterator<Item = &'n Node>,
) -> Result<()> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO merkle_nodes (tenant_no, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut leaves = Vec::new();
    for node in nodes {
        match node.level {
            0 => leaves.push(node),
            1..=PACKED_LEVELS => {}
            _ => {
                statement.execute(params![
                    tenant_no,
                    node.level,
                    node.index as i64,
                    node.hash.as_slice()
                ])?;
            }
        }
    }
    leaves.sort_unstable_by_key(|leaf| leaf.index);
    let mut write = connection.prepare_cached(
        "INSERT OR REPLACE INTO merkle_leaves (tenant_no, pack, hashes) VALUES (?1, ?2, ?3)",
    )?;
    for group in
        leaves.chunk_by(|one, next| one.index / LEAVES_PER_PACK == next.index / LEAVES_PER_PACK)
    {
        let first = group[0].index;
        let number = first / LEAVES_PER_PACK;
        let mut hashes = if first % LEAVES_PER_PACK == 0 {
            Vec::new()
        } else {
            pack(connection, tenant_no, number)?
        };
        for leaf in group {
            if (hashes.len() / 32) as u64 != leaf.index % LEAVES_PER_PACK {
                return Err(StoreError::Corrupt(format!(
                    "tenant {tenant_no}: leaf {} does not follow the {} leaves of its pack",
                    leaf.index,
                    hashes.len() / 32
                )));
            }
            hashes.extend_from_slice(&leaf.hash);
        }
        write.execute(params![tenant_no, number as i64, hashes])?;
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
pub(super) fn backfill(
    connection: &mut Connection,
    dictionaries: &super::compress::Dictionaries,
) -> Result<()> {
    let transaction = connection.transaction()?;
    let tenants: Vec<(i64, String, String, i64, i64)> = transaction
        .prepare(&format!(
            "SELECT no, id, name, next_seq,
                    coalesce((SELECT pack * {LEAVES_PER_PACK} + length(hashes) / 32 FROM merkle_leaves
                              WHERE merkle_leaves.tenant_no = tenants.no ORDER BY pack DESC LIMIT 1), 0)
             FROM tenants"
        ))?
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
                let (event, cursor) = super::event_from_row(row, dictionaries, &scope, false)?;
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
    connection: &'c Connection,
    tenant_no: i64,
    /// The pack read last, by number: a proof or a frontier asks for
    /// levels 0–3 of the same pack in turn.
    last_pack: RefCell<Option<(u64, Vec<u8>)>>,
}

impl<'c> StoredNodes<'c> {
    pub(super) fn new(connection: &'c Connection, tenant_no: i64) -> Self {
        StoredNodes {
            connection,
            tenant_no,
            last_pack: RefCell::new(None),
        }
    }
}

impl evident_core::log::merkle::Nodes for StoredNodes<'_> {
    type Error = StoreError;

    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        let missing = || {
            StoreError::Corrupt(format!(
                "tenant {}: Merkle node ({level}, {index}) is missing",
                self.tenant_no
            ))
        };
        if level <= PACKED_LEVELS {
            let number = pack_of(level, index);
            let mut last = self.last_pack.borrow_mut();
            if last.as_ref().is_none_or(|(read, _)| *read != number) {
                *last = Some((number, pack(self.connection, self.tenant_no, number)?));
            }
            return last
                .as_ref()
                .and_then(|(_, hashes)| node_in_pack(hashes, level, index))
                .ok_or_else(missing);
        }
        let bytes: Option<Vec<u8>> = self
            .connection
            .prepare_cached(
                "SELECT hash FROM merkle_nodes WHERE tenant_no = ?1 AND level = ?2 AND idx = ?3",
            )?
            .query_row(params![self.tenant_no, level, index as i64], |row| {
                row.get(0)
            })
            .optional()?;
        hash_of(bytes.ok_or_else(missing)?)
    }
}
