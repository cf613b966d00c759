//! `evident migrate`: brings a store's schema to this build's version.
//! `evident serve` does the same at start; this runs it on its own, before
//! an upgrade is rolled out, and says what it did.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use evident_store::SqliteStore;

use crate::config::DEFAULT_DATA_DIR;
use crate::store::Location;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the store lives [default: ./evident-data].
    #[arg(long, env = "EVIDENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store, if not in the data directory: a PostgreSQL URL or a directory.
    #[arg(long, env = "EVIDENT_STORE", value_name = "URL|DIR")]
    pub store: Option<Location>,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let data_dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let location = Location::or_data_dir(args.store, &data_dir);
    let before = location.schema_version()?;
    // Only SQLite's store has a search index of its own to build.
    let rebuilt = match &location {
        Location::Dir(dir) => SqliteStore::open(dir)
            .map(|store| store.search_index_rebuilt())
            .map_err(anyhow::Error::from),
        Location::Postgres(_) => location.open().map(|_| false),
    }
    .with_context(|| format!("migrating {location}"))?;
    let known = location.known_schema_version();
    let search = if rebuilt {
        "; built its search index again from its events"
    } else {
        ""
    };
    match before {
        None | Some(0) => println!("created {location} at schema version {known}"),
        Some(found) if found == known && !rebuilt => {
            println!("{location} is at schema version {known}: nothing to do")
        }
        Some(found) if found == known => {
            println!("{location} is at schema version {known}{search}")
        }
        Some(found) => {
            println!("migrated {location} from schema version {found} to {known}{search}")
        }
    }
    Ok(ExitCode::SUCCESS)
}
