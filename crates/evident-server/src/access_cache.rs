//! What the access checks of a request need, kept between requests, so that
//! the busiest path (ingest) reaches the store only in the writer.
//!
//! - **Keys by their hash.** An entry is read from the store again once it is
//!   [`KEY_RECHECK`] old, and dropped at once when this server revokes its
//!   key: a revoked key stops working at the next request here, and within
//!   [`KEY_RECHECK`] on other servers sharing a PostgreSQL store. Unknown
//!   hashes are never kept, so a new key works at once everywhere.
//! - **Each tenant's ancestry** (the tenant, its parent, …, its root). It
//!   never changes: a tenant's parent is fixed when it is created and tenants
//!   are never deleted. Whether a key may see a tenant is whether the key's
//!   tenant is in that ancestry. Unknown tenants are never kept, so a tenant
//!   created through another server is found at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use evident_store::{ApiKey, Store, StoreError};

/// How long a key found in the store is taken as it was before it is read again.
pub const KEY_RECHECK: Duration = Duration::from_secs(2);
/// Entries kept of each kind; past it the cache starts again empty.
const MOST_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct AccessCache {
    keys: Mutex<HashMap<[u8; 32], (ApiKey, Instant)>>,
    ancestry: Mutex<HashMap<String, Arc<[String]>>>,
}

impl AccessCache {
    /// The active key with this hash, if it was read from the store within [`KEY_RECHECK`].
    pub fn key(&self, hash: &[u8; 32], now: Instant) -> Option<ApiKey> {
        let keys = lock(&self.keys);
        let (key, read_at) = keys.get(hash)?;
        (now.saturating_duration_since(*read_at) < KEY_RECHECK).then(|| key.clone())
    }

    /// Keeps an active key just read from the store.
    pub fn remember_key(&self, hash: [u8; 32], key: ApiKey, read_at: Instant) {
        let mut keys = lock(&self.keys);
        if keys.len() >= MOST_ENTRIES {
            keys.clear();
        }
        keys.insert(hash, (key, read_at));
    }

    /// Forgets a key this server revoked.
    pub fn forget_key(&self, id: &str) {
        lock(&self.keys).retain(|_, (key, _)| key.id != id);
    }

    /// The tenant and its ancestors, nearest first; None when it does not
    /// exist. Reads the store only for a tenant not seen before (a blocking call).
    pub fn ancestry(
        &self,
        store: &dyn Store,
        tenant: &str,
    ) -> Result<Option<Arc<[String]>>, StoreError> {
        if let Some(known) = self.known_ancestry(tenant) {
            return Ok(Some(known));
        }
        let mut chain = Vec::new();
        let mut next = Some(tenant.to_owned());
        while let Some(id) = next {
            let Some(found) = store.tenant(&id)? else {
                // Only the first lookup can miss: a parent exists before its children.
                return Ok(None);
            };
            chain.push(id);
            next = found.parent;
        }
        let chain: Arc<[String]> = chain.into();
        let mut ancestry = lock(&self.ancestry);
        if ancestry.len() >= MOST_ENTRIES {
            ancestry.clear();
        }
        ancestry.insert(tenant.to_owned(), chain.clone());
        Ok(Some(chain))
    }

    /// The tenant's ancestry if it has been read before (no store access).
    pub fn known_ancestry(&self, tenant: &str) -> Option<Arc<[String]>> {
        lock(&self.ancestry).get(tenant).cloned()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps hold no invariant a panic could break halfway.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::access::Scope;
    use evident_store::{NewTenant, sqlite::SqliteStore};

    fn key(id: &str) -> ApiKey {
        ApiKey {
            id: id.to_owned(),
            name: "test".to_owned(),
            tenant: None,
            scopes: vec![Scope::Ingest],
            created_at: jiff::Timestamp::UNIX_EPOCH,
            revoked_at: None,
        }
    }

    #[test]
    fn a_key_is_taken_from_memory_only_until_it_must_be_read_again() {
        let cache = AccessCache::default();
        let read_at = Instant::now();
        cache.remember_key([1; 32], key("key_a"), read_at);
        assert_eq!(
            cache.key(&[1; 32], read_at).map(|key| key.id),
            Some("key_a".to_owned())
        );
        assert!(
            cache.key(&[2; 32], read_at).is_none(),
            "another hash is not this key"
        );
        assert!(
            cache.key(&[1; 32], read_at + KEY_RECHECK).is_none(),
            "past the recheck interval the store is asked again"
        );
    }

    #[test]
    fn a_revoked_key_is_forgotten_at_once() {
        let cache = AccessCache::default();
        let read_at = Instant::now();
        cache.remember_key([1; 32], key("key_a"), read_at);
        cache.remember_key([2; 32], key("key_b"), read_at);
        cache.forget_key("key_a");
        assert!(cache.key(&[1; 32], read_at).is_none());
        assert!(cache.key(&[2; 32], read_at).is_some(), "other keys stay");
    }

    #[test]
    fn ancestry_is_read_once_and_unknown_tenants_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let cache = AccessCache::default();
        assert!(cache.ancestry(&store, "child").unwrap().is_none());
        assert!(
            cache.known_ancestry("child").is_none(),
            "a miss is not kept"
        );
        for (id, parent) in [("root", None), ("child", Some("root"))] {
            store
                .create_tenant(&NewTenant {
                    id: id.to_owned(),
                    name: id.to_owned(),
                    parent: parent.map(str::to_owned),
                })
                .unwrap();
        }
        let chain = cache.ancestry(&store, "child").unwrap().unwrap();
        assert_eq!(&chain[..], ["child".to_owned(), "root".to_owned()]);
        assert_eq!(cache.known_ancestry("child").as_deref(), Some(&chain[..]));
    }
}
