//! API keys: minting, hashing, and the `Caller` extractor that checks them.

use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use evident_core::access::Scope;
use evident_store::{ApiKey, NewApiKey, Store, Tenant};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::blocking;
use crate::problem::Problem;

/// Prefix of every key Evident mints, so that leaked keys are recognisable.
pub const KEY_PREFIX: &str = "evk_";
/// Shortest key accepted from `EVIDENT_ADMIN_KEY`.
pub const MIN_KEY_LENGTH: usize = 32;

pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random secret: `prefix` and 32 random bytes, base64url.
pub fn mint_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A new random key.
pub fn mint_key() -> String {
    mint_secret(KEY_PREFIX)
}

/// A new random public id: `prefix` and 8 random bytes in hex.
pub fn mint_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{prefix}{hex}")
}

pub fn mint_key_id() -> String {
    mint_id("key_")
}

/// On first start (no keys at all), creates an operator key with every scope.
/// Returns the key to print, or None when keys already exist. `preset` (from
/// `EVIDENT_ADMIN_KEY`) is used instead of a random key when given.
pub fn bootstrap_admin_key(
    store: &dyn Store,
    preset: Option<&str>,
) -> Result<Option<String>, BootstrapError> {
    if !store.keys()?.is_empty() {
        return Ok(None);
    }
    let key = match preset {
        Some(preset) if preset.chars().count() < MIN_KEY_LENGTH => {
            return Err(BootstrapError::PresetTooShort);
        }
        Some(preset) => preset.to_owned(),
        None => mint_key(),
    };
    store.create_key(&NewApiKey {
        id: mint_key_id(),
        name: "admin (created at first start)".to_owned(),
        tenant: None,
        scopes: Scope::ALL.to_vec(),
        hash: hash_key(&key),
    })?;
    Ok(Some(key))
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("EVIDENT_ADMIN_KEY must be at least {MIN_KEY_LENGTH} characters")]
    PresetTooShort,
    #[error(transparent)]
    Store(#[from] evident_store::StoreError),
}

/// The authenticated key behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKey,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, Problem> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <key>"))?;
        let presented = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be Bearer <key>")
            })?;
        match authenticate(state, presented).await? {
            Some(key) => Ok(Caller { key }),
            None => Err(Problem::unauthorized("the key is unknown or revoked")),
        }
    }
}

/// The active key a presented secret belongs to, if any: from the access
/// cache when it was read lately (`access_cache`), else from the store.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<Option<ApiKey>, Problem> {
    let hash = hash_key(presented);
    let now = Instant::now();
    if let Some(key) = state.access.key(&hash, now) {
        return Ok(Some(key));
    }
    let store = state.store.clone();
    let found = blocking(move || store.active_key_by_hash(&hash)).await?;
    // The lookup is by hash; the constant-time comparison guards the final decision.
    let key = found
        .filter(|(_, stored)| bool::from(stored.ct_eq(&hash)))
        .map(|(key, _)| key);
    if let Some(key) = &key {
        state.access.remember_key(hash, key.clone(), now);
    }
    Ok(key)
}

impl Caller {
    pub fn is_operator(&self) -> bool {
        self.key.tenant.is_none()
    }

    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.key.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this key lacks the {} scope",
                scope.as_str()
            )))
        }
    }

    /// The tenants this key may act on; None means all (an operator key).
    pub async fn visible_tenants(&self, state: &AppState) -> Result<Option<Vec<String>>, Problem> {
        let Some(own) = self.key.tenant.clone() else {
            return Ok(None);
        };
        let store = state.store.clone();
        Ok(Some(blocking(move || store.subtree(&own)).await?))
    }

    /// Checks that the tenant named in a path exists and that this key may
    /// see it (it is the key's tenant or a descendant): 404 otherwise, so
    /// that another tenant's existence does not leak. Reads the store only
    /// for a tenant this server has not seen before.
    pub async fn reach(&self, state: &AppState, id: &str) -> Result<(), Problem> {
        let ancestry = match state.access.known_ancestry(id) {
            Some(known) => Some(known),
            None => {
                let (store, access, owned) =
                    (state.store.clone(), state.access.clone(), id.to_owned());
                blocking(move || access.ancestry(store.as_ref(), &owned)).await?
            }
        };
        let visible = ancestry.is_some_and(|ancestry| match &self.key.tenant {
            None => true,
            Some(own) => ancestry.contains(own),
        });
        if visible {
            Ok(())
        } else {
            Err(Problem::not_found(format!("tenant {id:?} does not exist")))
        }
    }

    /// [`Caller::reach`], and the tenant as stored now.
    pub async fn tenant(&self, state: &AppState, id: &str) -> Result<Tenant, Problem> {
        self.reach(state, id).await?;
        let store = state.store.clone();
        let owned = id.to_owned();
        blocking(move || store.tenant(&owned))
            .await?
            .ok_or_else(|| Problem::not_found(format!("tenant {id:?} does not exist")))
    }

    /// The tenant named in a path, visible to this key, which must hold `scope`.
    pub async fn tenant_with(
        &self,
        state: &AppState,
        id: &str,
        scope: Scope,
    ) -> Result<Tenant, Problem> {
        let tenant = self.tenant(state, id).await?;
        self.require(scope)?;
        Ok(tenant)
    }
}
