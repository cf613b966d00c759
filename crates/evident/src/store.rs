//! Where a store lives, as the commands name it: a data directory (the
//! embedded SQLite store, the default) or a PostgreSQL URL.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use evident_store::{PostgresStore, SqliteStore, Store, postgres, sqlite};

/// A store's place: `--store postgres://…` or a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Postgres(String),
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Location, Self::Err> {
        Ok(if postgres::is_url(text) {
            Location::Postgres(text.to_owned())
        } else {
            Location::Dir(PathBuf::from(text))
        })
    }
}

/// In the config file: `store = "postgres://…"` or a directory.
impl<'de> serde::Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Location, D::Error> {
        let text = String::deserialize(deserializer)?;
        let Ok(location) = text.parse();
        Ok(location)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(dir) => write!(formatter, "the store in {}", dir.display()),
            Location::Postgres(url) => {
                write!(formatter, "the store at {}", postgres::redacted(url))
            }
        }
    }
}

impl Location {
    /// `--store` if given, else SQLite in the data directory.
    pub fn or_data_dir(store: Option<Location>, data_dir: &std::path::Path) -> Location {
        store.unwrap_or_else(|| Location::Dir(data_dir.to_owned()))
    }

    /// Opens (creating or migrating) the store.
    pub fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        let store: Arc<dyn Store> = match self {
            Location::Dir(dir) => Arc::new(SqliteStore::open(dir)?),
            Location::Postgres(url) => Arc::new(PostgresStore::open(url)?),
        };
        Ok(store)
    }

    /// Opens an existing store without changing it (for verification).
    pub fn open_read_only(&self) -> anyhow::Result<Box<dyn Store>> {
        let store: Box<dyn Store> = match self {
            Location::Dir(dir) => Box::new(SqliteStore::open_read_only(dir)?),
            Location::Postgres(url) => Box::new(PostgresStore::open_read_only(url)?),
        };
        Ok(store)
    }

    /// The stored schema version, read without changing it (None: no store yet).
    pub fn schema_version(&self) -> anyhow::Result<Option<i64>> {
        match self {
            Location::Dir(dir) => SqliteStore::schema_version(dir),
            Location::Postgres(url) => PostgresStore::schema_version(url),
        }
        .with_context(|| format!("reading {self}"))
    }

    /// The schema version this build writes for this kind of store.
    pub fn known_schema_version(&self) -> i64 {
        match self {
            Location::Dir(_) => sqlite::SCHEMA_VERSION,
            Location::Postgres(_) => postgres::SCHEMA_VERSION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_postgres_and_anything_else_a_directory() {
        assert_eq!(
            "postgres://evident:pw@db/audit"
                .parse::<Location>()
                .unwrap(),
            Location::Postgres("postgres://evident:pw@db/audit".into())
        );
        let dir: Location = "./evident-data".parse().unwrap();
        assert_eq!(dir, Location::Dir("./evident-data".into()));
        assert_eq!(
            "postgresql://evident:pw@db/audit"
                .parse::<Location>()
                .unwrap()
                .to_string(),
            "the store at postgresql://evident:***@db/audit"
        );
    }
}
