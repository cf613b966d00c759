//! The catalogs in force: the deployment's (from `--catalog`), and each
//! tenant's additions (from the store), combined per tenant on demand.
//!
//! **Invariant:** a request works with one [`CatalogSet`] from start to end;
//! a reload builds a whole new set and swaps it in at once, or changes nothing.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use evident_core::catalog::{Catalog, CatalogError, CatalogFile};
use evident_core::redact::Redactor;
use evident_core::view::EventView;
use evident_core::{Event, NewEvent, Violation};
use evident_store::{RawPage, Store, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// Why catalogs could not be (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogLoadError {
    #[error("reading the catalog file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("catalog file {path}: {error}")]
    Invalid { path: PathBuf, error: CatalogError },
    #[error("catalog of tenant {tenant}: {error}")]
    Tenant { tenant: String, error: CatalogError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One consistent view of every catalog.
pub struct CatalogSet {
    deployment: Catalog,
    additions: HashMap<String, CatalogFile>,
    /// The additions as the store keeps them (to notice another server's change).
    bodies: HashMap<String, String>,
    /// Effective catalogs per tenant, computed on first use.
    effective: Mutex<HashMap<String, Arc<Catalog>>>,
}

impl CatalogSet {
    pub fn deployment(&self) -> &Catalog {
        &self.deployment
    }

    /// The catalog in force for `tenant` if [`CatalogSet::effective`] has
    /// computed it already (no store access).
    pub fn computed(&self, tenant: &str) -> Option<Arc<Catalog>> {
        self.effective
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(tenant)
            .cloned()
    }

    /// The catalog in force for `tenant`: the deployment's, extended by the
    /// additions of the tenant's ancestors (from the root down) and its own.
    pub fn effective(
        &self,
        store: &dyn Store,
        tenant: &str,
    ) -> Result<Arc<Catalog>, CatalogLoadError> {
        if let Some(found) = self.computed(tenant) {
            return Ok(found);
        }
        let mut chain = Vec::new();
        let mut next = Some(tenant.to_owned());
        while let Some(id) = next {
            next = store.tenant(&id)?.and_then(|found| found.parent);
            chain.push(id);
        }
        let mut catalog = self.deployment.clone();
        for id in chain.iter().rev() {
            if let Some(addition) = self.additions.get(id) {
                catalog = catalog
                    .extend(addition)
                    .map_err(|error| CatalogLoadError::Tenant {
                        tenant: id.clone(),
                        error,
                    })?;
            }
        }
        let catalog = Arc::new(catalog);
        self.effective
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(tenant.to_owned(), catalog.clone());
        Ok(catalog)
    }
}

/// The catalogs in force, swappable as a whole.
pub struct Catalogs {
    file: Option<PathBuf>,
    redactor: Redactor,
    current: RwLock<Arc<CatalogSet>>,
}

fn read_file(path: &Path) -> Result<Catalog, CatalogLoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| CatalogLoadError::Read {
        path: path.to_owned(),
        error,
    })?;
    Catalog::from_toml(&text).map_err(|error| CatalogLoadError::Invalid {
        path: path.to_owned(),
        error,
    })
}

fn build(file: Option<&Path>, store: &dyn Store) -> Result<CatalogSet, CatalogLoadError> {
    let deployment = match file {
        Some(path) => read_file(path)?,
        None => Catalog::default(),
    };
    with_additions(deployment, store.tenant_catalogs()?.into_iter().collect())
}

/// The set of `deployment` with the tenants' stored additions `bodies`.
fn with_additions(
    deployment: Catalog,
    bodies: HashMap<String, String>,
) -> Result<CatalogSet, CatalogLoadError> {
    let mut additions = HashMap::new();
    for (tenant, body) in &bodies {
        let addition: CatalogFile =
            serde_json::from_str(body).map_err(|error| CatalogLoadError::Tenant {
                tenant: tenant.clone(),
                error: CatalogError {
                    problems: vec![error.to_string()],
                },
            })?;
        additions.insert(tenant.clone(), addition);
    }
    Ok(CatalogSet {
        deployment,
        additions,
        bodies,
        effective: Mutex::new(HashMap::new()),
    })
}

/// What a load produced, for answers and logs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogSummary {
    pub name: Option<String>,
    pub mode: String,
    pub event_types: usize,
    pub categories: usize,
}

pub fn summary(catalog: &Catalog) -> CatalogSummary {
    let categories: std::collections::BTreeSet<&str> = catalog
        .event_types()
        .map(|event_type| event_type.spec.category.as_str())
        .collect();
    CatalogSummary {
        name: catalog.name.clone(),
        mode: match catalog.mode {
            evident_core::catalog::Mode::Strict => "strict".to_owned(),
            evident_core::catalog::Mode::Open => "open".to_owned(),
        },
        event_types: catalog.event_types().count(),
        categories: categories.len(),
    }
}

impl Catalogs {
    /// Loads the deployment catalog from `file` (if any) and every tenant's additions.
    pub fn load(
        file: Option<PathBuf>,
        redactor: Redactor,
        store: &dyn Store,
    ) -> Result<Catalogs, CatalogLoadError> {
        let set = build(file.as_deref(), store)?;
        Ok(Catalogs {
            file,
            redactor,
            current: RwLock::new(Arc::new(set)),
        })
    }

    pub fn snapshot(&self) -> Arc<CatalogSet> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Re-reads the file and the tenants' additions; on any error the catalogs in force stay.
    pub fn reload(&self, store: &dyn Store) -> Result<CatalogSummary, CatalogLoadError> {
        let set = build(self.file.as_deref(), store)?;
        let summary = summary(&set.deployment);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
        Ok(summary)
    }

    /// Takes in the tenants' additions as the store now holds them, when another
    /// server sharing the store changed one; returns whether anything changed.
    /// The deployment's file is not re-read (that is [`Catalogs::reload`]).
    pub fn refresh_tenants(&self, store: &dyn Store) -> Result<bool, CatalogLoadError> {
        let stored: HashMap<String, String> = store.tenant_catalogs()?.into_iter().collect();
        let set = self.snapshot();
        if stored == set.bodies {
            return Ok(false);
        }
        let fresh = with_additions(set.deployment.clone(), stored)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(fresh);
        Ok(true)
    }

    /// Checks `addition` against the tenant's parent chain, stores it and
    /// swaps in catalogs that include it.
    pub fn set_tenant(
        &self,
        store: &dyn Store,
        tenant: &str,
        addition: CatalogFile,
    ) -> Result<CatalogSummary, CatalogLoadError> {
        let set = self.snapshot();
        let parent = store.tenant(tenant)?.and_then(|found| found.parent);
        let base = match &parent {
            Some(parent) => set.effective(store, parent)?,
            None => Arc::new(set.deployment.clone()),
        };
        let merged = base
            .extend(&addition)
            .map_err(|error| CatalogLoadError::Tenant {
                tenant: tenant.to_owned(),
                error,
            })?;
        let body = serde_json::to_string(&addition).map_err(|error| CatalogLoadError::Tenant {
            tenant: tenant.to_owned(),
            error: CatalogError {
                problems: vec![error.to_string()],
            },
        })?;
        // Descendants' own additions must still fit on top of this one.
        let mut additions = set.additions.clone();
        additions.insert(tenant.to_owned(), addition);
        let mut bodies = set.bodies.clone();
        bodies.insert(tenant.to_owned(), body.clone());
        let candidate = CatalogSet {
            deployment: set.deployment.clone(),
            additions,
            bodies,
            effective: Mutex::new(HashMap::new()),
        };
        for descendant in store.subtree(tenant)? {
            candidate.effective(store, &descendant)?;
        }
        store.put_tenant_catalog(tenant, &body)?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(candidate);
        Ok(summary(&merged))
    }
}

/// Checks and categorises one event with `catalog`, then redacts its metadata.
pub fn prepare(
    catalog: &Catalog,
    redactor: &Redactor,
    event: &mut NewEvent,
    index: Option<usize>,
) -> Result<(), Vec<Violation>> {
    catalog.apply(event, index)?;
    redactor.redact(&mut event.metadata, catalog.redact_pointers(&event.action));
    Ok(())
}

/// Fills in each event's display text from its tenant's catalog.
pub fn render_all(
    set: &CatalogSet,
    store: &dyn Store,
    events: &mut [Event],
) -> Result<(), CatalogLoadError> {
    let mut catalogs = TenantCatalogs::default();
    for event in events {
        event.display = catalogs
            .get(set, store, &event.tenant)?
            .render(&event.view());
    }
    Ok(())
}

/// Each tenant's catalog in force, looked up once per request or export.
#[derive(Default)]
pub struct TenantCatalogs(HashMap<String, Arc<Catalog>>);

impl TenantCatalogs {
    pub fn get(
        &mut self,
        set: &CatalogSet,
        store: &dyn Store,
        tenant: &str,
    ) -> Result<&Catalog, CatalogLoadError> {
        if !self.0.contains_key(tenant) {
            self.0
                .insert(tenant.to_owned(), set.effective(store, tenant)?);
        }
        Ok(&self.0[tenant])
    }

    /// Event `index` of `page`, viewed as stored, with its catalog's display text.
    pub fn displayed<'p>(
        &mut self,
        set: &CatalogSet,
        store: &dyn Store,
        page: &'p RawPage,
        index: usize,
    ) -> Result<EventView<'p>, CatalogLoadError> {
        let mut event = page.event(index)?;
        event.display = self
            .get(set, store, event.tenant)?
            .render(&event)
            .map(Cow::Owned);
        Ok(event)
    }
}
