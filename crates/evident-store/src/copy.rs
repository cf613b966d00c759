//! Copying a whole store to another (`evident store copy`), in either
//! direction between backends, checked by comparing every tenant's tree head.

use crate::{Result, Store, StoreError, TreeHead};

/// Events read and written per step of a copy.
const COPY_PAGE: u32 = 5_000;

/// One tenant's log after a copy: the same size and root in both stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedLog {
    pub tenant: String,
    pub head: TreeHead,
}

/// Copies everything in `from` into `to`, which must hold no tenant: first the
/// tenants, keys, catalogs, page settings, viewer links, ended sessions and
/// checkpoints, then each tenant's events with their ids, times and salts, up
/// to the log's size when the copy began (so that a store still being written
/// to copies one consistent state). Then every tenant's tree head at the
/// destination must equal the source's at that size. `progress` hears each
/// tenant and how many of its events are copied so far.
pub fn copy(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Vec<CopiedLog>> {
    let metadata = from.metadata()?;
    let mut heads = Vec::with_capacity(metadata.tenants.len());
    for tenant in &metadata.tenants {
        let head = from
            .tree_head(&tenant.id)?
            .ok_or_else(|| StoreError::TenantNotFound(tenant.id.clone()))?;
        heads.push((tenant.id.clone(), head));
    }
    to.import_metadata(&metadata)?;
    let mut copied = Vec::with_capacity(heads.len());
    for (tenant, head) in heads {
        let mut next = 0;
        progress(&tenant, 0);
        while next < head.tree_size {
            let want = (head.tree_size - next).min(u64::from(COPY_PAGE)) as u32;
            let events = from.stored_events(&tenant, next, want)?;
            if events.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "tenant {tenant}: the log holds {} events but none from seq {next}",
                    head.tree_size
                )));
            }
            to.import_events(&tenant, &events)?;
            next += events.len() as u64;
            progress(&tenant, next);
        }
        let copied_head = to
            .tree_head(&tenant)?
            .ok_or_else(|| StoreError::TenantNotFound(tenant.clone()))?;
        if copied_head != head {
            return Err(StoreError::Corrupt(format!(
                "tenant {tenant}: the copy's tree head (size {}) differs from the source's (size {})",
                copied_head.tree_size, head.tree_size
            )));
        }
        copied.push(CopiedLog { tenant, head });
    }
    Ok(copied)
}
