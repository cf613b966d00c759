//! The checkpointer: signs each tenant's tree head as a C2SP checkpoint with
//! the server's Ed25519 key, on demand and every few seconds for tenants
//! whose log grew, and keeps every signed checkpoint in the store.
//!
//! **Invariant:** the signing key lives here and in its file, never in the store.

use std::sync::Arc;
use std::time::Duration;

use evident_core::log::checkpoint::Checkpoint;
use evident_core::log::note::Signer;
use evident_store::{Store, StoreError, StoredCheckpoint};

pub struct Checkpointer {
    signer: Signer,
    /// `<deployment origin>`; a tenant's log is `<origin>/<tenant id>`.
    origin: String,
}

impl Checkpointer {
    pub fn new(signer: Signer, origin: String) -> Checkpointer {
        Checkpointer { signer, origin }
    }

    /// The verifier key (`<name>+<hex key id>+<base64 key>`).
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().encode()
    }

    pub fn origin_of(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.origin)
    }

    /// The checkpoint of the tenant's current tree head, signing one if the log grew since the last.
    pub fn latest(&self, store: &dyn Store, tenant: &str) -> Result<StoredCheckpoint, StoreError> {
        let head = store
            .tree_head(tenant)?
            .ok_or_else(|| StoreError::TenantNotFound(tenant.to_owned()))?;
        if let Some(latest) = store.latest_checkpoint(tenant)?
            && latest.tree_size >= head.tree_size
        {
            return Ok(latest);
        }
        let body = Checkpoint {
            origin: self.origin_of(tenant),
            tree_size: head.tree_size,
            root_hash: head.root_hash,
            extensions: Vec::new(),
        }
        .to_text();
        let note = self
            .signer
            .sign(&body)
            .map_err(|error| StoreError::Corrupt(format!("signing: {error}")))?;
        store.add_checkpoint(tenant, head.tree_size, &note)?;
        store
            .latest_checkpoint(tenant)?
            .ok_or_else(|| StoreError::Corrupt("a checkpoint just kept is missing".to_owned()))
    }

    /// Signs the checkpoints of every tenant whose log grew.
    pub fn sign_grown(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let mut signed = 0;
        for tenant in store.tenants()? {
            let before = store
                .latest_checkpoint(&tenant.id)?
                .map(|checkpoint| checkpoint.tree_size);
            let now = self.latest(store, &tenant.id)?.tree_size;
            if before != Some(now) {
                signed += 1;
            }
        }
        Ok(signed)
    }
}

/// Runs [`Checkpointer::sign_grown`] every `interval` until the task is dropped.
pub async fn run(checkpointer: Arc<Checkpointer>, store: Arc<dyn Store>, interval: Duration) {
    crate::every(
        interval,
        move || checkpointer.sign_grown(store.as_ref()),
        |outcome| match outcome {
            Ok(Ok(0)) => {}
            Ok(Ok(signed)) => tracing::debug!(signed, "checkpoints signed"),
            Ok(Err(error)) => tracing::error!(%error, "signing checkpoints failed"),
            Err(error) => tracing::error!(%error, "the checkpointer task failed"),
        },
    )
    .await
}
